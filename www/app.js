// sessions-lite dashboard: the sessions table, the detail panel and the live
// log viewer, all fed by one WebSocket to /sessions/ws. The table comes as
// one list, then as changes (it subscribes: {"type":"subscribe",
// "changes":true}); a gap in their seq asks for a fresh list.
//
// Everything shown that came from a client (app names, metadata, log
// messages) goes into the page through textContent / createTextNode only:
// this file never uses innerHTML, insertAdjacentHTML or document.write.
//
// The log viewer is a virtual list: rows have one fixed height and only the
// rows in (or near) the visible window exist in the DOM. Entries that arrive
// are buffered and merged once per animation frame.
'use strict';

(function dashboard() {
  /** The server's default log ring capacity: the viewer keeps no more. */
  const LOG_ENTRIES_MAX = 10000;
  /** Sessions per table page. */
  const PAGE_ROWS_MAX = 50;
  /** Reconnect backoff: first delay, doubled after each failure up to the max. */
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  /** Rows rendered above and below the visible window. */
  const OVERSCAN_ROWS = 10;
  /** Longest tooltip put on a log row. */
  const TITLE_CHARS_MAX = 1000;
  /** How long after a follow messages that do not fit its cursor are skipped. */
  const FOLLOW_SETTLE_MS = 3000;
  const LEVELS = ['debug', 'info', 'warn', 'error'];
  const ID_RE = /^[0-9a-f]{24}$/;
  const HASH_RE = /^#session=([0-9a-fA-F]{24})$/;

  const $ = (id) => document.getElementById(id);

  function h(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** Any JSON value as one line of text. */
  function str(value) {
    if (typeof value === 'string') return value;
    if (value === null || value === undefined) return '';
    try {
      return JSON.stringify(value);
    } catch (_) {
      return String(value);
    }
  }

  function formatCount(n) {
    return Number(n).toLocaleString('en-US');
  }

  // ---------------------------------------------------------------------
  // DOM

  const dom = {
    connState: $('conn-state'),
    serverTime: $('server-time'),
    statusSelect: $('status-select'),
    sessionCount: $('session-count'),
    sessionsTable: $('sessions-table'),
    sessionsBody: $('sessions-body'),
    sessionsEmpty: $('sessions-empty'),
    pagePrev: $('page-prev'),
    pageNext: $('page-next'),
    pageInfo: $('page-info'),
    detail: $('detail'),
    logTitle: $('log-title'),
    logCount: $('log-count'),
    filter: $('filter'),
    chips: Array.from(document.querySelectorAll('.level-chip')),
    pause: $('pause'),
    pendingCount: $('pending-count'),
    newestFirst: $('newest-first'),
    download: $('download'),
    droppedNotice: $('dropped-notice'),
    logStatus: $('log-status'),
    viewport: $('log-viewport'),
    spacer: $('log-spacer'),
    rows: $('log-rows'),
    logEmpty: $('log-empty'),
    entryPanel: $('log-entry'),
    entryTitle: $('log-entry-title'),
    entryText: $('log-entry-text'),
    entryClose: $('log-entry-close'),
  };

  // ---------------------------------------------------------------------
  // Sessions table

  const sessions = {
    list: [],
    byId: new Map(),
    server: null,
    time: null,
    /** The server's clock less this one's, from the last list. */
    clockOffsetMs: null,
    received: false,
    status: 'active',
    sortKey: 'created_at',
    sortDir: -1,
    page: 0,
    selected: null,
    /** True while the selection is the server's session chosen by default. */
    selectedIsDefault: false,
  };

  const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

  const COLUMNS = [
    { key: 'appname', cls: 'col-app', get: (s) => str(s.appname) },
    { key: 'mode', cls: 'col-mode', get: (s) => str(s.mode) },
    { key: 'jobid', cls: 'col-job', get: (s) => str(s.jobid) },
    { key: 'status', cls: 'col-status', get: (s) => str(s.status) },
    { key: 'created_at', cls: 'col-created', get: (s) => str(s.created_at), time: true },
    { key: 'updated_at', cls: 'col-updated', get: (s) => str(s.updated_at), time: true },
    { key: 'entries', cls: 'col-entries num', get: (s) => logField(s, 'count'), numeric: true },
  ];
  const COLUMN_BY_KEY = new Map(COLUMNS.map((c) => [c.key, c]));

  function logField(s, name) {
    const n = s && s.log ? Number(s.log[name]) : 0;
    return Number.isFinite(n) ? n : 0;
  }

  /** "10:05:12" for today (by server time), "11-23 10:05:12" otherwise. */
  function shortTime(iso) {
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(iso);
    if (!m) return iso;
    const today = typeof sessions.time === 'string' ? sessions.time.slice(0, 10) : '';
    return m[1] === today ? m[2] : m[1].slice(5) + ' ' + m[2];
  }

  function compareSessions(a, b) {
    const col = COLUMN_BY_KEY.get(sessions.sortKey);
    const x = col.get(a);
    const y = col.get(b);
    let order;
    if (col.numeric) order = x - y;
    else if (col.time) order = x < y ? -1 : x > y ? 1 : 0;
    else order = collator.compare(x, y);
    if (order === 0) order = a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    return order * sessions.sortDir;
  }

  function shownSessions() {
    const status = sessions.status;
    const rows = status === 'all' ? sessions.list.slice() : sessions.list.filter((s) => s.status === status);
    rows.sort(compareSessions);
    return rows;
  }

  function makeSessionRow(id) {
    const tr = document.createElement('tr');
    tr.dataset.id = id;
    tr.tabIndex = 0;
    tr.cells_ = COLUMNS.map((col) => {
      const td = h('td', col.cls);
      tr.appendChild(td);
      return td;
    });
    return tr;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function fillSessionRow(tr, s) {
    COLUMNS.forEach((col, i) => {
      const td = tr.cells_[i];
      const value = col.get(s);
      if (col.numeric) {
        setText(td, formatCount(value));
      } else if (col.time) {
        setText(td, shortTime(value));
        if (td.title !== value) td.title = value;
      } else {
        setText(td, value);
        if (td.title !== value) td.title = value;
      }
    });
    const statusText = str(s.status);
    if (tr.dataset.status !== statusText) tr.dataset.status = statusText;
    tr.classList.toggle('server-row', s.id === sessions.server);
    const selected = s.id === sessions.selected;
    tr.classList.toggle('selected', selected);
    tr.setAttribute('aria-selected', selected ? 'true' : 'false');
  }

  const sessionRowCache = new Map();

  function renderSessions() {
    const rows = shownSessions();
    const pageCount = Math.max(1, Math.ceil(rows.length / PAGE_ROWS_MAX));
    sessions.page = Math.min(Math.max(0, sessions.page), pageCount - 1);
    const first = sessions.page * PAGE_ROWS_MAX;
    const slice = rows.slice(first, first + PAGE_ROWS_MAX);

    // Reuse row elements by id and move them into place: no rebuild per push.
    const keep = new Set();
    const body = dom.sessionsBody;
    let next = body.firstChild;
    for (const s of slice) {
      let tr = sessionRowCache.get(s.id);
      if (!tr) {
        tr = makeSessionRow(s.id);
        sessionRowCache.set(s.id, tr);
      }
      fillSessionRow(tr, s);
      keep.add(s.id);
      if (tr === next) next = next.nextSibling;
      else body.insertBefore(tr, next);
    }
    while (next) {
      const after = next.nextSibling;
      next.remove();
      next = after;
    }
    for (const id of Array.from(sessionRowCache.keys())) {
      if (!keep.has(id)) sessionRowCache.delete(id);
    }

    dom.sessionsEmpty.hidden = slice.length > 0;
    dom.sessionsEmpty.textContent = sessions.received ? 'No ' + (sessions.status === 'all' ? '' : sessions.status + ' ') + 'sessions.' : 'Waiting for the server…';
    setText(dom.pageInfo, 'page ' + (sessions.page + 1) + ' of ' + pageCount);
    dom.pagePrev.disabled = sessions.page === 0;
    dom.pageNext.disabled = sessions.page >= pageCount - 1;

    let active = 0;
    for (const s of sessions.list) if (s.status === 'active') active += 1;
    setText(dom.sessionCount, formatCount(active) + ' active · ' + formatCount(sessions.list.length - active) + ' ended');

    for (const th of dom.sessionsTable.tHead.rows[0].cells) {
      const sort = th.dataset.sort === sessions.sortKey ? (sessions.sortDir > 0 ? 'ascending' : 'descending') : 'none';
      if (th.getAttribute('aria-sort') !== sort) th.setAttribute('aria-sort', sort);
    }
  }

  let sessionsFrame = 0;
  function scheduleSessions() {
    if (sessionsFrame) return;
    sessionsFrame = requestAnimationFrame(() => {
      sessionsFrame = 0;
      renderSessions();
      renderDetail();
      renderLogControls();
    });
  }

  function onSessionsMessage(msg) {
    const list = Array.isArray(msg.sessions) ? msg.sessions.filter((s) => s && typeof s.id === 'string') : [];
    const previousServer = sessions.server;
    // A list with a seq starts the changes after it; one without (sent
    // before the subscription took) is shown, and changes wait for theirs.
    if (typeof msg.seq === 'number') conn.seq = msg.seq;
    sessions.list = list;
    sessions.byId = new Map(list.map((s) => [s.id, s]));
    sessions.server = typeof msg.server_session === 'string' ? msg.server_session : null;
    sessions.time = typeof msg.time === 'string' ? msg.time : null;
    sessions.received = true;
    const serverMs = sessions.time ? Date.parse(sessions.time) : NaN;
    sessions.clockOffsetMs = Number.isFinite(serverMs) ? serverMs - Date.now() : null;
    renderServerTime();

    // No explicit choice (hash or click): show the server's own session, and
    // keep showing it when a restarted server brings a new one.
    if (sessions.server && (!sessions.selected || (sessions.selectedIsDefault && sessions.server !== previousServer))) {
      select(sessions.server, true);
    }
    scheduleSessions();
  }

  // A subscriber gets the server's time with lists only: between them the
  // clock shown runs on from the last one.
  function renderServerTime() {
    const offset = sessions.clockOffsetMs;
    const text = offset === null ? '' : new Date(Date.now() + offset).toISOString();
    setText(dom.serverTime, text ? 'server time ' + text.replace('T', ' ').replace('Z', ' UTC') : '');
    if (sessions.time && text) sessions.time = text;
  }
  setInterval(renderServerTime, 1000);

  /** True when `seq` follows the last one applied; otherwise asks for a
   * fresh list (sending subscribe again) and drops what it cannot apply. */
  function inSequence(seq, expected) {
    if (conn.seq === null) return false; // a list is on its way
    if (seq === expected) return true;
    conn.seq = null;
    send({ type: 'subscribe', changes: true });
    return false;
  }

  function onChangesMessage(msg) {
    if (!inSequence(msg.seq, conn.seq === null ? null : conn.seq + 1)) return;
    conn.seq = msg.seq;
    const byId = sessions.byId;
    // A Map keeps insertion order: a known session keeps its place, a new
    // one goes last, as in the server's list (oldest created first).
    for (const s of Array.isArray(msg.upserts) ? msg.upserts : []) {
      if (s && typeof s.id === 'string') byId.set(s.id, s);
    }
    for (const id of Array.isArray(msg.removed) ? msg.removed : []) byId.delete(id);
    sessions.list = Array.from(byId.values());
    scheduleSessions();
  }

  function onKeepaliveMessage(msg) {
    inSequence(msg.seq, conn.seq);
  }

  // ---------------------------------------------------------------------
  // Detail panel

  let detailSignature = null;

  function renderDetail() {
    const id = sessions.selected;
    const s = id ? sessions.byId.get(id) : undefined;
    const signature = String(id) + '|' + sessions.server + '|' + sessions.received + '|' + (s ? JSON.stringify(s) : '');
    if (signature === detailSignature) return;
    detailSignature = signature;

    const root = dom.detail;
    root.replaceChildren();
    if (!id) {
      root.appendChild(h('p', 'empty', 'No session selected.'));
      return;
    }
    if (!s) {
      root.appendChild(h('p', 'empty', sessions.received ? 'Session ' + id + ' is not in the server\u2019s list.' : 'Waiting for the server…'));
      if (sessions.received && sessions.server && sessions.server !== id) {
        const button = h('button', 'link', 'show the server\u2019s session');
        button.type = 'button';
        button.addEventListener('click', () => select(sessions.server, true));
        root.appendChild(button);
      }
      return;
    }

    const fields = [
      ['id', str(s.id)],
      ['appname', str(s.appname)],
      ['mode', str(s.mode)],
      ['jobid', s.jobid === null || s.jobid === undefined ? 'null' : str(s.jobid)],
      ['status', str(s.status)],
      ['created_at', str(s.created_at)],
      ['updated_at', str(s.updated_at)],
      ['ended_at', s.ended_at === null || s.ended_at === undefined ? 'null' : str(s.ended_at)],
      ['end_reason', s.end_reason === null || s.end_reason === undefined ? 'null' : str(s.end_reason)],
      ['log.count', formatCount(logField(s, 'count'))],
      ['log.cursor', formatCount(logField(s, 'cursor'))],
      ['log.dropped', formatCount(logField(s, 'dropped'))],
    ];
    const dl = h('dl', 'fields');
    for (const [name, value] of fields) {
      const dt = h('dt', null, name);
      const dd = h('dd', null, value);
      dd.dataset.field = name;
      if (value === 'null') dd.classList.add('muted');
      if (name === 'status') dd.classList.add('status-' + value);
      dl.append(dt, dd);
    }
    if (s.id === sessions.server) {
      dl.append(h('dt', null, 'role'), h('dd', null, 'this server\u2019s own session'));
    }
    root.appendChild(dl);

    root.appendChild(h('h3', null, 'metadata'));
    const metadata = s.metadata && typeof s.metadata === 'object' && !Array.isArray(s.metadata) ? s.metadata : {};
    const keys = Object.keys(metadata);
    if (keys.length === 0) {
      root.appendChild(h('p', 'empty', 'No metadata.'));
      return;
    }
    const table = h('table', 'metadata');
    table.id = 'metadata';
    const head = table.createTHead().insertRow();
    head.append(h('th', null, 'key'), h('th', null, 'value'));
    const body = table.createTBody();
    for (const key of keys) {
      const tr = body.insertRow();
      tr.dataset.key = key;
      const value = metadata[key];
      const valueCell = h('td', typeof value === 'string' ? 'meta-string' : 'meta-json', str(value));
      tr.append(h('td', 'meta-key', key), valueCell);
    }
    root.appendChild(table);
  }

  // ---------------------------------------------------------------------
  // Selection and the URL hash

  function select(id, isDefault) {
    if (!ID_RE.test(id)) return;
    sessions.selectedIsDefault = Boolean(isDefault);
    if (location.hash !== '#session=' + id) history.replaceState(null, '', '#session=' + id);
    if (id === sessions.selected) return;
    sessions.selected = id;
    logReset(id);
    follow();
    scheduleSessions();
  }

  function hashSession() {
    const m = HASH_RE.exec(location.hash);
    return m ? m[1].toLowerCase() : null;
  }

  // ---------------------------------------------------------------------
  // Log viewer

  const log = {
    session: null,
    /** Held entries, oldest first, at most LOG_ENTRIES_MAX. */
    entries: [],
    /** Received, not merged yet (merged once per animation frame). */
    incoming: [],
    /** Merged while paused; shown on resume. */
    pending: [],
    /** The cursor to resume from: one past the newest entry received. */
    cursor: 0,
    dropped: 0,
    /** Entries that pass the filters, oldest first. */
    view: [],
    paused: false,
    newestFirst: false,
    filterText: '',
    filterTest: null,
    filterSplit: null,
    levels: new Set(LEVELS),
    counts: { debug: 0, info: 0, warn: 0, error: 0 },
    /** Whether the viewport sits at the live edge (bottom, or top when newest first). */
    atEdge: true,
    /** Bumped whenever row contents must be redrawn (filters, order). */
    generation: 0,
    rowHeight: 20,
    error: null,
    /** A follow was sent and its first answer has not come yet. */
    awaitingFollow: false,
    followSentAt: 0,
  };

  function logReset(id) {
    log.session = id;
    log.entries = [];
    log.incoming = [];
    log.pending = [];
    log.cursor = 0;
    log.dropped = 0;
    log.view = [];
    log.paused = false;
    log.counts = { debug: 0, info: 0, warn: 0, error: 0 };
    log.atEdge = true;
    log.generation += 1;
    log.error = null;
    log.awaitingFollow = false;
    hideEntry();
    dom.viewport.scrollTop = 0;
    renderLogControls();
    scheduleLog({ full: true });
  }

  function normalizeEntry(raw) {
    if (!raw || typeof raw !== 'object') return null;
    const cursor = Number(raw.cursor);
    if (!Number.isFinite(cursor)) return null;
    const level = LEVELS.includes(raw.level) ? raw.level : 'info';
    const message = str(raw.message);
    const hasData = raw.data !== undefined && raw.data !== null;
    return {
      cursor,
      timestamp: str(raw.timestamp),
      level,
      message,
      data: hasData ? str(raw.data) : '',
      truncated: raw.truncated === true,
    };
  }

  function onLogMessage(msg) {
    if (msg.session !== log.session) return;
    const raw = Array.isArray(msg.entries) ? msg.entries : [];
    const serverDropped = Number(msg.dropped) > 0 ? Number(msg.dropped) : 0;
    // The first answer to a follow starts at the cursor asked for (later only
    // by what was dropped). Messages of an earlier follow of this session on
    // the same socket (A, then B, then A again) may still be in flight: skip
    // those, for a while; after that, take what comes.
    if (log.awaitingFollow) {
      const start = raw.length > 0 && raw[0] ? Number(raw[0].cursor) : Number(msg.cursor);
      const stale = Number.isFinite(start) && start - serverDropped > log.cursor;
      if (stale && Date.now() - log.followSentAt < FOLLOW_SETTLE_MS) return;
      log.awaitingFollow = false;
    }
    const batch = [];
    for (const item of raw) {
      const entry = normalizeEntry(item);
      if (entry && entry.cursor >= log.cursor) batch.push(entry);
    }
    // Entries missed between our cursor and what came: the server's count, or
    // the gap in cursors if that is larger.
    const firstCursor = batch.length > 0 ? batch[0].cursor : Number(msg.cursor);
    const gap = Number.isFinite(firstCursor) ? Math.max(0, firstCursor - log.cursor) : 0;
    const missed = Math.max(gap, serverDropped);
    if (missed > 0) log.dropped += missed;
    if (batch.length > 0) log.cursor = batch[batch.length - 1].cursor + 1;
    const next = Number(msg.cursor);
    if (Number.isFinite(next) && next > log.cursor) log.cursor = next;
    log.error = null;

    for (const entry of batch) log.incoming.push(entry);
    // A hidden tab gets no animation frames: bound what waits for one.
    if (log.incoming.length > LOG_ENTRIES_MAX) log.incoming.splice(0, log.incoming.length - LOG_ENTRIES_MAX);
    scheduleLog({});
  }

  function matches(entry) {
    if (!log.levels.has(entry.level)) return false;
    if (!log.filterTest) return true;
    log.filterTest.lastIndex = 0;
    if (log.filterTest.test(entry.message)) return true;
    log.filterTest.lastIndex = 0;
    return entry.data !== '' && log.filterTest.test(entry.data);
  }

  function rebuildView() {
    log.view = log.entries.filter(matches);
    log.generation += 1;
  }

  /** Moves a batch into the held entries; returns rows added to / removed from the view. */
  function mergeEntries(batch) {
    let added = 0;
    let removed = 0;
    if (batch.length > LOG_ENTRIES_MAX) batch = batch.slice(batch.length - LOG_ENTRIES_MAX);
    for (const entry of batch) {
      log.entries.push(entry);
      log.counts[entry.level] += 1;
      if (matches(entry)) {
        log.view.push(entry);
        added += 1;
      }
    }
    const excess = log.entries.length - LOG_ENTRIES_MAX;
    if (excess > 0) {
      const evicted = log.entries.splice(0, excess);
      for (const entry of evicted) log.counts[entry.level] -= 1;
      const oldest = log.entries[0].cursor;
      let cut = 0;
      while (cut < log.view.length && log.view[cut].cursor < oldest) cut += 1;
      if (cut > 0) log.view.splice(0, cut);
      removed = cut;
    }
    return { added, removed };
  }

  let logFrame = 0;
  let logNeedsFull = false;

  function scheduleLog(opts) {
    if (opts.full) logNeedsFull = true;
    if (logFrame) return;
    logFrame = requestAnimationFrame(flushLog);
  }

  function flushLog() {
    logFrame = 0;
    let added = 0;
    let removed = 0;
    if (log.incoming.length > 0) {
      const batch = log.incoming;
      log.incoming = [];
      if (log.paused) {
        for (const entry of batch) log.pending.push(entry);
        if (log.pending.length > LOG_ENTRIES_MAX) log.pending.splice(0, log.pending.length - LOG_ENTRIES_MAX);
      } else {
        ({ added, removed } = mergeEntries(batch));
      }
    }
    const full = logNeedsFull;
    logNeedsFull = false;
    // Controls first: a notice that appears changes the viewport's height,
    // and the scroll position below is computed from that height.
    renderLogControls();
    renderLog(full, added, removed);
  }

  function edgeScrollTop() {
    const vp = dom.viewport;
    return log.newestFirst ? 0 : Math.max(0, vp.scrollHeight - vp.clientHeight);
  }

  function computeAtEdge() {
    const vp = dom.viewport;
    const slack = log.rowHeight / 2;
    if (log.newestFirst) return vp.scrollTop <= slack;
    return vp.scrollTop + vp.clientHeight >= vp.scrollHeight - slack;
  }

  function renderLog(full, added, removed) {
    const vp = dom.viewport;
    const total = log.view.length;
    const height = total * log.rowHeight;
    if (dom.spacer.style.height !== height + 'px') dom.spacer.style.height = height + 'px';
    if (log.atEdge) {
      const top = edgeScrollTop();
      if (vp.scrollTop !== top) vp.scrollTop = top;
    } else if (log.newestFirst && added > 0) {
      // New rows went in above what the reader is looking at: keep it still.
      vp.scrollTop += added * log.rowHeight;
    } else if (!log.newestFirst && removed > 0) {
      vp.scrollTop = Math.max(0, vp.scrollTop - removed * log.rowHeight);
    }
    renderWindow(full);
  }

  function makeLogRow() {
    // Spaces between the parts are text, so a copied row reads as a log line.
    const row = h('div', 'log-row');
    const ts = h('span', 'ts');
    const level = h('span', 'lvl');
    const badge = h('span', 'badge');
    const badgeGap = document.createTextNode('');
    const message = h('span', 'msg');
    const dataGap = document.createTextNode('');
    const data = h('span', 'data');
    row.append(ts, ' ', level, ' ', badge, badgeGap, message, dataGap, data);
    row.parts_ = { ts, level, badge, badgeGap, message, dataGap, data };
    row.entry_ = null;
    row.generation_ = -1;
    return row;
  }

  const rowPool = [];

  function renderWindow(force) {
    const vp = dom.viewport;
    const total = log.view.length;
    const rowHeight = log.rowHeight;
    const first = Math.max(0, Math.floor(vp.scrollTop / rowHeight) - OVERSCAN_ROWS);
    const last = Math.min(total, Math.ceil((vp.scrollTop + vp.clientHeight) / rowHeight) + OVERSCAN_ROWS);
    const count = Math.max(0, last - first);
    const transform = 'translateY(' + first * rowHeight + 'px)';
    if (dom.rows.style.transform !== transform) dom.rows.style.transform = transform;

    while (rowPool.length < count) {
      const row = makeLogRow();
      rowPool.push(row);
      dom.rows.appendChild(row);
    }
    for (let i = 0; i < rowPool.length; i += 1) {
      const row = rowPool[i];
      if (i >= count) {
        if (!row.hidden) {
          row.hidden = true;
          row.entry_ = null;
        }
        continue;
      }
      const index = first + i;
      const entry = log.newestFirst ? log.view[total - 1 - index] : log.view[index];
      if (row.hidden) row.hidden = false;
      if (force || row.entry_ !== entry || row.generation_ !== log.generation) {
        fillLogRow(row, entry);
        row.generation_ = log.generation;
      }
    }
    dom.logEmpty.hidden = total > 0;
    if (total === 0) {
      dom.logEmpty.textContent = !log.session ? 'No session selected.' : log.entries.length > 0 ? 'No entries match the filters.' : 'No entries.';
    }
  }

  function fillLogRow(row, entry) {
    const p = row.parts_;
    row.entry_ = entry;
    row.dataset.cursor = String(entry.cursor);
    row.dataset.level = entry.level;
    row.className = 'log-row lvl-' + entry.level;
    p.ts.textContent = shortTimestamp(entry.timestamp);
    p.level.textContent = entry.level;
    highlightInto(p.message, entry.message);
    if (entry.data !== '') {
      highlightInto(p.data, entry.data);
      p.dataGap.data = ' ';
    } else {
      p.data.textContent = '';
      p.dataGap.data = '';
    }
    p.badge.textContent = entry.truncated ? 'truncated' : '';
    p.badgeGap.data = entry.truncated ? ' ' : '';
    let title = entry.timestamp + ' ' + entry.level + ' ' + entry.message;
    if (title.length > TITLE_CHARS_MAX) title = title.slice(0, TITLE_CHARS_MAX) + '…';
    row.title = title;
  }

  /** "10:05:12.345" out of an RFC 3339 time; anything else as it is. */
  function shortTimestamp(iso) {
    const m = /T(\d{2}:\d{2}:\d{2}(?:\.\d+)?)/.exec(iso);
    return m ? m[1] : iso;
  }

  /** Puts text into node with the filter's matches wrapped in <mark>: text nodes only. */
  function highlightInto(node, text) {
    const split = log.filterSplit;
    if (!split) {
      if (node.childNodes.length !== 1 || node.firstChild.nodeType !== Node.TEXT_NODE || node.textContent !== text) {
        node.textContent = text;
      }
      return;
    }
    const fragment = document.createDocumentFragment();
    split.lastIndex = 0;
    let at = 0;
    let m;
    while ((m = split.exec(text)) !== null) {
      if (m[0].length === 0) {
        split.lastIndex += 1;
        continue;
      }
      if (m.index > at) fragment.appendChild(document.createTextNode(text.slice(at, m.index)));
      const mark = document.createElement('mark');
      mark.appendChild(document.createTextNode(m[0]));
      fragment.appendChild(mark);
      at = m.index + m[0].length;
    }
    if (at < text.length) fragment.appendChild(document.createTextNode(text.slice(at)));
    node.replaceChildren(fragment);
  }

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }

  function setFilter(text) {
    if (text === log.filterText) return;
    log.filterText = text;
    if (text === '') {
      log.filterTest = null;
      log.filterSplit = null;
    } else {
      log.filterTest = new RegExp(escapeRegExp(text), 'i');
      log.filterSplit = new RegExp(escapeRegExp(text), 'gi');
    }
    rebuildView();
    scheduleLog({ full: true });
  }

  function toggleLevel(level) {
    if (log.levels.has(level)) log.levels.delete(level);
    else log.levels.add(level);
    rebuildView();
    renderLogControls();
    scheduleLog({ full: true });
  }

  function setPaused(paused) {
    if (paused === log.paused) return;
    log.paused = paused;
    if (!paused && log.pending.length > 0) {
      log.incoming = log.pending.concat(log.incoming);
      log.pending = [];
    }
    renderLogControls();
    scheduleLog({});
  }

  function setNewestFirst(newestFirst) {
    if (newestFirst === log.newestFirst) return;
    log.newestFirst = newestFirst;
    log.generation += 1;
    log.atEdge = true;
    renderLogControls();
    scheduleLog({ full: true });
  }

  function renderLogControls() {
    const s = log.session ? sessions.byId.get(log.session) : null;
    setText(dom.logTitle, log.session ? (s ? str(s.appname) + ' · ' : '') + log.session : '');
    const held = log.entries.length;
    const shown = log.view.length;
    setText(dom.logCount, formatCount(held) + (held === 1 ? ' entry' : ' entries') + (shown !== held ? ' · ' + formatCount(shown) + ' shown' : ''));

    setText(dom.pause, log.paused ? 'resume' : 'pause');
    dom.pause.setAttribute('aria-pressed', String(log.paused));
    dom.pause.classList.toggle('on', log.paused);
    dom.pendingCount.hidden = !log.paused;
    setText(dom.pendingCount, formatCount(log.pending.length + log.incoming.length) + ' new');

    dom.newestFirst.setAttribute('aria-pressed', String(log.newestFirst));
    dom.newestFirst.classList.toggle('on', log.newestFirst);

    for (const chip of dom.chips) {
      const level = chip.dataset.level;
      const on = log.levels.has(level);
      chip.setAttribute('aria-pressed', String(on));
      chip.classList.toggle('on', on);
      setText(chip.querySelector('.chip-count'), formatCount(log.counts[level] || 0));
    }

    dom.droppedNotice.hidden = log.dropped === 0;
    setText(dom.droppedNotice, formatCount(log.dropped) + (log.dropped === 1 ? ' entry' : ' entries') + ' dropped: the server evicted them before they could be shown');
    dom.logStatus.hidden = !log.error;
    setText(dom.logStatus, log.error || '');
  }

  function showEntry(entry) {
    dom.entryPanel.hidden = false;
    setText(dom.entryTitle, 'cursor ' + entry.cursor + ' · ' + entry.timestamp + ' · ' + entry.level + (entry.truncated ? ' · truncated' : ''));
    let text = entry.message;
    if (entry.data !== '') {
      let pretty = entry.data;
      try {
        pretty = JSON.stringify(JSON.parse(entry.data), null, 2);
      } catch (_) {
        // keep the compact text
      }
      text += '\n\ndata ' + pretty;
    }
    dom.entryText.textContent = text;
  }

  function hideEntry() {
    dom.entryPanel.hidden = true;
    dom.entryText.textContent = '';
  }

  function downloadShown() {
    const ordered = log.newestFirst ? log.view.slice().reverse() : log.view;
    const lines = ordered.map((e) => e.timestamp + ' ' + e.level + ' ' + e.message + '\n');
    const blob = new Blob(lines, { type: 'text/plain;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = 'session-' + (log.session || 'none') + '.log';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---------------------------------------------------------------------
  // WebSocket

  const conn = {
    socket: null,
    backoffMs: BACKOFF_MIN_MS,
    retryAt: 0,
    retryTimer: 0,
    countdownTimer: 0,
    /** The session followed on this socket, if any. */
    following: null,
    /** The seq of the last list or changes applied on this socket; null
     * while a list with a seq is awaited. */
    seq: null,
  };

  function setConnState(state, text) {
    if (dom.connState.dataset.state !== state) dom.connState.dataset.state = state;
    setText(dom.connState, text);
  }

  function socketUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + location.host + '/sessions/ws';
  }

  function connect() {
    conn.retryTimer = 0;
    setConnState('connecting', 'connecting');
    let socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (_) {
      scheduleReconnect();
      return;
    }
    conn.socket = socket;
    conn.following = null;
    conn.seq = null;
    socket.onopen = () => {
      conn.backoffMs = BACKOFF_MIN_MS;
      setConnState('live', 'live');
      send({ type: 'subscribe', changes: true });
      follow();
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'sessions') onSessionsMessage(msg);
      else if (msg.type === 'changes') onChangesMessage(msg);
      else if (msg.type === 'keepalive') onKeepaliveMessage(msg);
      else if (msg.type === 'log') onLogMessage(msg);
      else if (msg.type === 'error') onErrorMessage(msg);
    };
    socket.onclose = () => {
      if (conn.socket !== socket) return;
      conn.socket = null;
      scheduleReconnect();
    };
    socket.onerror = () => {
      // A close event follows; reconnecting is handled there.
    };
  }

  function scheduleReconnect() {
    const delay = conn.backoffMs;
    conn.backoffMs = Math.min(BACKOFF_MAX_MS, conn.backoffMs * 2);
    conn.retryAt = Date.now() + delay;
    clearTimeout(conn.retryTimer);
    conn.retryTimer = setTimeout(connect, delay);
    updateCountdown();
  }

  function updateCountdown() {
    clearTimeout(conn.countdownTimer);
    conn.countdownTimer = 0;
    if (!conn.retryTimer) return;
    const left = Math.max(0, conn.retryAt - Date.now());
    setConnState('reconnecting', 'reconnecting in ' + Math.max(1, Math.ceil(left / 1000)) + 's');
    conn.countdownTimer = setTimeout(updateCountdown, Math.min(250, left + 10));
  }

  function send(message) {
    const socket = conn.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  /** (Re)starts following the selected session from the last cursor received. */
  function follow() {
    if (!sessions.selected) return;
    if (conn.following) send({ type: 'unfollow' });
    if (send({ type: 'follow', session: sessions.selected, cursor: log.cursor })) {
      conn.following = sessions.selected;
      log.awaitingFollow = true;
      log.followSentAt = Date.now();
    }
  }

  function onErrorMessage(msg) {
    log.error = 'server: ' + str(msg.error);
    renderLogControls();
  }

  // ---------------------------------------------------------------------
  // Events

  dom.statusSelect.addEventListener('change', () => {
    sessions.status = dom.statusSelect.value;
    sessions.page = 0;
    renderSessions();
  });

  for (const th of dom.sessionsTable.tHead.rows[0].cells) {
    th.querySelector('button').addEventListener('click', () => {
      const key = th.dataset.sort;
      if (sessions.sortKey === key) sessions.sortDir = -sessions.sortDir;
      else {
        sessions.sortKey = key;
        sessions.sortDir = 1;
      }
      renderSessions();
    });
  }

  dom.pagePrev.addEventListener('click', () => {
    sessions.page -= 1;
    renderSessions();
  });
  dom.pageNext.addEventListener('click', () => {
    sessions.page += 1;
    renderSessions();
  });

  function rowSelect(event) {
    const tr = event.target.closest('tr[data-id]');
    if (tr) select(tr.dataset.id, false);
  }
  dom.sessionsBody.addEventListener('click', rowSelect);
  dom.sessionsBody.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      rowSelect(event);
    }
  });

  window.addEventListener('hashchange', () => {
    const id = hashSession();
    if (id) select(id, false);
  });

  dom.filter.addEventListener('input', () => setFilter(dom.filter.value));
  for (const chip of dom.chips) chip.addEventListener('click', () => toggleLevel(chip.dataset.level));
  dom.pause.addEventListener('click', () => setPaused(!log.paused));
  dom.newestFirst.addEventListener('click', () => setNewestFirst(!log.newestFirst));
  dom.download.addEventListener('click', downloadShown);
  dom.entryClose.addEventListener('click', hideEntry);

  dom.viewport.addEventListener('scroll', () => {
    log.atEdge = computeAtEdge();
    scheduleLog({});
  }, { passive: true });

  dom.rows.addEventListener('click', (event) => {
    const row = event.target.closest('.log-row');
    if (row && row.entry_) showEntry(row.entry_);
  });

  // The viewport changes size with the window and when notices come and go:
  // a reader at the live edge stays there.
  new ResizeObserver(() => {
    if (log.atEdge) {
      const top = edgeScrollTop();
      if (dom.viewport.scrollTop !== top) dom.viewport.scrollTop = top;
    }
    scheduleLog({});
  }).observe(dom.viewport);

  // ---------------------------------------------------------------------
  // Start

  const cssRow = parseFloat(getComputedStyle(dom.viewport).getPropertyValue('--row-h'));
  if (cssRow > 0) log.rowHeight = cssRow;

  const initial = hashSession();
  if (initial) select(initial, false);
  renderSessions();
  renderDetail();
  renderLogControls();
  scheduleLog({ full: true });
  connect();
})();
