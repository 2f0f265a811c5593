// End-to-end tests of the dashboard: the real sessions-lite binary on a free
// port, Debian's Chromium through playwright-core, node's built-in runner.
//
//   cargo build && cd tests/browser && npm ci && node --test dashboard.test.mjs
//
// SESSIONS_LITE_BIN picks another binary (default target/debug/sessions-lite
// from the repo root); CHROMIUM_BIN another browser (default /usr/bin/chromium);
// SESSIONS_LITE_WWW=www serves the dashboard from disk (--www) instead of the
// copy built into the binary.
// No test sleeps for a fixed time: each waits for what it expects, with a deadline.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { api, eventually, launchBrowser, newOid, startServer } from './harness.mjs';

const TEST_TIMEOUT_MS = 60000;

let server;
let http;
let browser;

before(async () => {
  server = await startServer();
  http = api(server.url);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

/**
 * Opens the dashboard (optionally at #session=ID) and waits for the socket to
 * be live. Console errors, uncaught page errors and dialogs are recorded.
 */
async function openDashboard({ session, baseUrl = server.url, waitLive = true } = {}) {
  const page = await browser.context.newPage();
  const consoleErrors = [];
  const pageErrors = [];
  const dialogs = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  const response = await page.goto(baseUrl + '/' + (session ? `#session=${session}` : ''));
  if (waitLive) await waitConn(page, 'live');
  return { page, response, consoleErrors, pageErrors, dialogs };
}

async function closePage(view) {
  assert.deepEqual(view.pageErrors, [], 'uncaught errors in the page');
  await view.page.close();
}

async function waitConn(page, state, timeout = 5000) {
  await eventually(async () => assert.equal(await page.getAttribute('#conn-state', 'data-state'), state), {
    timeout,
    message: `connection state ${state}`,
  });
}

/** Text of the log rows in the DOM, top to bottom. */
function logRows(page) {
  return page.$$eval('#log-rows .log-row:not([hidden])', (rows) =>
    rows.map((row) => ({
      cursor: Number(row.dataset.cursor),
      level: row.dataset.level,
      text: row.textContent,
      marks: Array.from(row.querySelectorAll('mark'), (m) => m.textContent),
    })),
  );
}

/** Cursor of the topmost log row that is (at least partly) inside the viewport. */
function firstVisibleCursor(page) {
  return page.evaluate(() => {
    const top = document.getElementById('log-viewport').getBoundingClientRect().top;
    for (const row of document.querySelectorAll('#log-rows .log-row:not([hidden])')) {
      if (row.getBoundingClientRect().bottom > top + 1) return Number(row.dataset.cursor);
    }
    return null;
  });
}

/** Rows whose text contains `needle`. */
async function rowsWith(page, needle) {
  return (await logRows(page)).filter((r) => r.text.includes(needle));
}

/** Ids of the sessions table rows on the current page, top to bottom. */
function tableIds(page) {
  return page.$$eval('#sessions-body tr[data-id]', (rows) => rows.map((r) => r.dataset.id));
}

async function createSession(fields = {}) {
  const id = newOid();
  await http.create(id, { appname: 'ui-test', mode: 'batch', ...fields });
  return id;
}

/** Opens the dashboard on a session and waits until its log shows `marker`. */
async function openOnSession(id, marker) {
  const view = await openDashboard({ session: id });
  await http.appendText(id, marker + '\n');
  await eventually(async () => assert.equal((await rowsWith(view.page, marker)).length, 1), {
    message: `marker ${marker} in the log`,
  });
  return view;
}

describe('dashboard', { timeout: TEST_TIMEOUT_MS * 20 }, () => {
  test('page loads with no console errors and is served with a CSP', { timeout: TEST_TIMEOUT_MS }, async () => {
    const view = await openDashboard();
    const csp = view.response.headers()['content-security-policy'] || '';
    assert.match(csp, /script-src 'self'/, 'dashboard CSP');
    assert.equal(view.response.headers()['x-content-type-options'], 'nosniff');
    await eventually(async () => assert.ok((await tableIds(view.page)).length >= 1), { message: 'table rows' });
    // Let a few pushes and the first log batch land before judging the console.
    await eventually(async () => assert.ok((await logRows(view.page)).length >= 1), { message: 'log rows' });
    assert.deepEqual(view.consoleErrors, [], 'console errors');
    await closePage(view);
  });

  test('Chromium agrees permessage-deflate: compressed lists and commands both work', { timeout: TEST_TIMEOUT_MS }, async () => {
    const id = await createSession();
    await http.appendText(id, 'deflate-one\ndeflate-two\n');
    const view = await openDashboard();
    // A socket of the page's own, to read what Chromium agreed.
    const seen = await view.page.evaluate(
      (session) =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`ws://${location.host}/sessions/ws`);
          const result = { extensions: null, lists: 0, log: null };
          const timer = setTimeout(() => reject(new Error(JSON.stringify(result))), 10000);
          ws.onopen = () => {
            result.extensions = ws.extensions;
            // Chromium compresses what it sends once the extension is agreed.
            ws.send(JSON.stringify({ type: 'follow', session, cursor: 0 }));
          };
          ws.onmessage = (event) => {
            const message = JSON.parse(event.data);
            if (message.type === 'sessions' && message.sessions.some((s) => s.id === session)) result.lists += 1;
            if (message.type === 'log') result.log = message.entries.map((e) => e.message);
            if (result.lists > 0 && result.log) {
              clearTimeout(timer);
              ws.close();
              resolve(result);
            }
          };
          ws.onerror = () => reject(new Error('socket error'));
        }),
      id,
    );
    assert.match(seen.extensions, /^permessage-deflate/, 'extension agreed');
    assert.match(seen.extensions, /client_no_context_takeover/);
    assert.ok(seen.lists >= 1, 'a compressed list was read');
    assert.deepEqual(seen.log, ['deflate-one', 'deflate-two']);
    await closePage(view);
  });

  test("server's own session is selected on load and its log shows the start line", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { server_session: serverId } = await http.list('active');
    assert.match(serverId, /^[0-9a-f]{24}$/);
    const view = await openDashboard();
    const { page } = view;
    await eventually(async () => assert.equal(new URL(page.url()).hash, `#session=${serverId}`), { message: 'hash' });
    await eventually(async () => assert.equal(await page.textContent('#detail [data-field="id"]'), serverId), {
      message: 'detail shows the server session',
    });
    assert.equal(await page.textContent('#detail [data-field="appname"]'), 'sessions-lite');
    assert.equal(await page.textContent('#detail [data-field="mode"]'), 'server');
    const row = page.locator(`#sessions-body tr[data-id="${serverId}"]`);
    await eventually(async () => assert.equal(await row.getAttribute('aria-selected'), 'true'), { message: 'row selected' });
    // The start line is the server log's first entry (cursor 0).
    await page.$eval('#log-viewport', (vp) => {
      vp.scrollTop = 0;
    });
    await eventually(async () => {
      const rows = await logRows(page);
      assert.ok(rows.length > 0, 'no rows');
      assert.ok(rows.some((r) => r.cursor === 0 && r.text.includes('listening on')), JSON.stringify(rows.slice(0, 3)));
    }, { message: 'start line in the server log' });
    await closePage(view);
  });

  test('a session created over HTTP appears in the table within 2 s', { timeout: TEST_TIMEOUT_MS }, async () => {
    const view = await openDashboard();
    const { page } = view;
    await eventually(async () => assert.ok((await tableIds(page)).length >= 1), { message: 'first push' });
    const id = newOid();
    const started = Date.now();
    await http.create(id, { appname: 'ui-test', mode: 'batch', jobid: 'job-42', metadata: { host: 'agent-07', n: { deep: [1, 2] } } });
    await eventually(async () => assert.ok((await tableIds(page)).includes(id)), { timeout: 2000, message: 'new row' });
    const elapsed = Date.now() - started;
    assert.ok(elapsed <= 2000, `appeared after ${elapsed} ms`);
    const cells = await page.$$eval(`#sessions-body tr[data-id="${id}"] td`, (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(cells.slice(0, 4), ['ui-test', 'batch', 'job-42', 'active']);

    // Clicking it selects it: detail with metadata, hash follows.
    await page.click(`#sessions-body tr[data-id="${id}"]`);
    await eventually(async () => assert.equal(await page.textContent('#detail [data-field="id"]'), id), { message: 'detail' });
    assert.equal(new URL(page.url()).hash, `#session=${id}`);
    assert.equal(await page.textContent('#metadata tr[data-key="host"] td:last-child'), 'agent-07');
    assert.equal(await page.textContent('#metadata tr[data-key="n"] td:last-child'), '{"deep":[1,2]}');
    assert.equal(await page.textContent('#detail [data-field="jobid"]'), 'job-42');
    assert.equal(await page.textContent('#detail [data-field="status"]'), 'active');
    await closePage(view);
  });

  test('follow shows appended lines within 1 s', { timeout: TEST_TIMEOUT_MS }, async () => {
    const id = await createSession();
    const view = await openOnSession(id, 'follow-ready');
    const { page } = view;
    for (let round = 0; round < 3; round += 1) {
      const started = Date.now();
      await http.appendText(id, `follow line ${round} a\nfollow line ${round} b\n`);
      await eventually(async () => assert.equal((await rowsWith(page, `follow line ${round} `)).length, 2), {
        timeout: 1000,
        message: `round ${round} shown`,
      });
      assert.ok(Date.now() - started <= 1000);
    }
    // Shown in cursor order, oldest first, with levels and timestamps.
    const rows = await logRows(page);
    assert.deepEqual(rows.map((r) => r.cursor), [0, 1, 2, 3, 4, 5, 6]);
    assert.ok(rows.every((r) => r.level === 'info'));
    assert.match(rows[1].text, /\d{2}:\d{2}:\d{2}\.\d{3}/);
    // Reload resumes on the same session (hash), from cursor 0.
    await page.reload();
    await waitConn(page, 'live');
    await eventually(async () => assert.equal((await logRows(page)).length, 7), { message: 'after reload' });
    await closePage(view);
  });

  test('an over-long line is kept, marked truncated, and shown in full on click', { timeout: TEST_TIMEOUT_MS }, async () => {
    const id = await createSession();
    const long = 'long-line ' + 'x'.repeat(70 * 1024);
    await http.appendText(id, long + '\nshort-line\n');
    const view = await openOnSession(id, 'long-ready');
    const { page } = view;
    const [longRow] = await rowsWith(page, 'long-line');
    assert.ok(longRow, 'long row shown');
    assert.equal(await page.textContent(`#log-rows .log-row[data-cursor="${longRow.cursor}"] .badge`), 'truncated');
    const [shortRow] = await rowsWith(page, 'short-line');
    assert.equal(await page.textContent(`#log-rows .log-row[data-cursor="${shortRow.cursor}"] .badge`), '');
    await page.click(`#log-rows .log-row[data-cursor="${longRow.cursor}"]`);
    await eventually(async () => assert.equal(await page.isVisible('#log-entry'), true), { message: 'entry panel' });
    const full = await page.textContent('#log-entry-text');
    assert.ok(full.startsWith('long-line xxx') && full.length > 60000 && full.length < 70 * 1024, `entry panel: ${full.length} chars`);
    await closePage(view);
  });

  test('switching sessions quickly keeps each log whole', { timeout: TEST_TIMEOUT_MS }, async () => {
    const big = await createSession({ appname: 'ui-switch-big' });
    const small = await createSession({ appname: 'ui-switch-small' });
    for (let from = 0; from < 6000; from += 2000) {
      await http.appendText(big, Array.from({ length: 2000 }, (_, i) => `big ${from + i}`).join('\n') + '\n');
    }
    await http.appendText(small, 'small 0\nsmall 1\n');
    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // Keep a handle on the page's socket, to act right between two messages.
    await page.addInitScript(() => {
      const Native = window.WebSocket;
      window.WebSocket = class extends Native {
        constructor(...args) {
          super(...args);
          window.testSocket = this;
        }
      };
    });
    await page.goto(server.url + '/');
    const view = { page, pageErrors };
    await waitConn(page, 'live');
    await eventually(async () => {
      const ids = await tableIds(page);
      assert.ok(ids.includes(big) && ids.includes(small));
    }, { message: 'both listed' });
    // Follow big; on the first part of its log, switch to small and back to
    // big at once: the rest of the first stream is still on its way.
    const switched = await page.evaluate(({ big, small }) => new Promise((resolve) => {
      const row = (id) => document.querySelector(`#sessions-body tr[data-id="${id}"]`);
      window.testSocket.addEventListener('message', function onMessage(event) {
        const msg = JSON.parse(event.data);
        if (msg.type !== 'log' || msg.session !== big) return;
        window.testSocket.removeEventListener('message', onMessage);
        row(small).click();
        row(big).click();
        resolve(msg.entries.length);
      });
      row(big).click();
    }), { big, small });
    assert.ok(switched > 0);
    await eventually(async () => assert.match(await page.textContent('#log-count'), /^6,000 entries/), { message: 'all held' });
    assert.equal(await page.isVisible('#dropped-notice'), false, 'nothing was dropped');
    await page.$eval('#log-viewport', (vp) => {
      vp.scrollTop = 0;
    });
    await eventually(async () => assert.equal((await logRows(page))[0].text.endsWith('big 0'), true), { message: 'starts at 0' });
    assert.equal((await rowsWith(page, 'small ')).length, 0);
    await page.click(`#sessions-body tr[data-id="${small}"]`);
    await eventually(async () => assert.deepEqual((await logRows(page)).map((r) => r.cursor), [0, 1]), { message: 'small log' });
    await closePage(view);
  });

  test('text filter narrows the rows and highlights matches', { timeout: TEST_TIMEOUT_MS }, async () => {
    const id = await createSession();
    await http.appendText(id, 'alpha one\nbeta two\nsome ALPHA three\ngamma\n');
    const view = await openOnSession(id, 'filter-ready');
    const { page } = view;
    await page.fill('#filter', 'alpha');
    await eventually(async () => {
      const rows = await logRows(page);
      assert.deepEqual(rows.map((r) => r.cursor), [0, 2]);
      assert.deepEqual(rows.map((r) => r.marks), [['alpha'], ['ALPHA']]);
    }, { message: 'filtered rows' });
    // New entries are filtered as they arrive.
    await http.appendText(id, 'delta\nalpha four\n');
    await eventually(async () => assert.deepEqual((await logRows(page)).map((r) => r.cursor), [0, 2, 6]), {
      message: 'live filtered',
    });
    // Text that looks like a regular expression is matched literally.
    await page.fill('#filter', 'a.p');
    await eventually(async () => assert.equal((await logRows(page)).length, 0), { message: 'literal match' });
    await page.fill('#filter', '');
    await eventually(async () => {
      const rows = await logRows(page);
      assert.equal(rows.length, 7);
      assert.ok(rows.every((r) => r.marks.length === 0));
    }, { message: 'filter cleared' });
    await closePage(view);
  });

  test('level chips filter by level', { timeout: TEST_TIMEOUT_MS }, async () => {
    const id = await createSession();
    await http.appendEntries(id, [
      { level: 'debug', message: 'lvl d' },
      { level: 'info', message: 'lvl i' },
      { level: 'warn', message: 'lvl w' },
      { level: 'error', message: 'lvl e' },
    ]);
    const view = await openOnSession(id, 'lvl-ready');
    const { page } = view;
    const levels = async () => (await rowsWith(page, 'lvl ')).map((r) => r.level);
    await eventually(async () => assert.deepEqual(await levels(), ['debug', 'info', 'warn', 'error']));
    await page.click('.level-chip[data-level="warn"]');
    assert.equal(await page.getAttribute('.level-chip[data-level="warn"]', 'aria-pressed'), 'false');
    await eventually(async () => assert.deepEqual(await levels(), ['debug', 'info', 'error']), { message: 'warn hidden' });
    await page.click('.level-chip[data-level="debug"]');
    await eventually(async () => assert.deepEqual(await levels(), ['info', 'error']), { message: 'debug hidden' });
    // A warn arriving now stays hidden; an error shows.
    await http.appendEntries(id, [{ level: 'warn', message: 'lvl w2' }, { level: 'error', message: 'lvl e2' }]);
    await eventually(async () => assert.deepEqual(await levels(), ['info', 'error', 'error']), { message: 'live levels' });
    await page.click('.level-chip[data-level="warn"]');
    await page.click('.level-chip[data-level="debug"]');
    await eventually(async () => assert.deepEqual(await levels(), ['debug', 'info', 'warn', 'error', 'warn', 'error']), {
      message: 'all levels back',
    });
    await closePage(view);
  });

  test('newest-first puts the latest entry on top', { timeout: TEST_TIMEOUT_MS }, async () => {
    const id = await createSession();
    await http.appendText(id, 'order 1\norder 2\norder 3\n');
    const view = await openOnSession(id, 'order 4');
    const { page } = view;
    const cursors = async () => (await logRows(page)).map((r) => r.cursor);
    assert.deepEqual(await cursors(), [0, 1, 2, 3]);
    await page.click('#newest-first');
    assert.equal(await page.getAttribute('#newest-first', 'aria-pressed'), 'true');
    await eventually(async () => assert.deepEqual(await cursors(), [3, 2, 1, 0]), { message: 'reversed' });
    await http.appendText(id, 'order 5\n');
    await eventually(async () => assert.deepEqual(await cursors(), [4, 3, 2, 1, 0]), { message: 'new entry on top' });
    await page.click('#newest-first');
    await eventually(async () => assert.deepEqual(await cursors(), [0, 1, 2, 3, 4]), { message: 'oldest first again' });
    await closePage(view);
  });

  test('pause holds new entries with a pending count; resume shows them', { timeout: TEST_TIMEOUT_MS }, async () => {
    const id = await createSession();
    const view = await openOnSession(id, 'pause-ready');
    const { page } = view;
    assert.equal(await page.isVisible('#pending-count'), false);
    await page.click('#pause');
    assert.equal(await page.getAttribute('#pause', 'aria-pressed'), 'true');
    await http.appendText(id, 'held 1\nheld 2\nheld 3\n');
    await eventually(async () => assert.equal((await page.textContent('#pending-count')).trim(), '3 new'), {
      message: 'pending count',
    });
    assert.equal(await page.isVisible('#pending-count'), true);
    assert.equal((await rowsWith(page, 'held ')).length, 0, 'paused rows rendered');
    await page.click('#pause');
    await eventually(async () => assert.equal((await rowsWith(page, 'held ')).length, 3), { message: 'resumed' });
    assert.equal(await page.isVisible('#pending-count'), false);
    // Following goes on after resume.
    await http.appendText(id, 'after resume\n');
    await eventually(async () => assert.equal((await rowsWith(page, 'after resume')).length, 1), { message: 'live again' });
    await closePage(view);
  });

  test('status selector: an ended session shows only under ended and all', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ended = await createSession({ appname: 'ui-ended' });
    const active = await createSession({ appname: 'ui-active' });
    const view = await openDashboard();
    const { page } = view;
    await eventually(async () => assert.ok((await tableIds(page)).includes(ended)), { message: 'listed while active' });
    await http.end(ended);
    await eventually(async () => assert.ok(!(await tableIds(page)).includes(ended)), { message: 'gone from active' });
    assert.ok((await tableIds(page)).includes(active));

    await page.selectOption('#status-select', 'ended');
    await eventually(async () => {
      const ids = await tableIds(page);
      assert.ok(ids.includes(ended), 'ended one missing');
      assert.ok(!ids.includes(active), 'active one listed under ended');
    }, { message: 'ended view' });
    assert.equal(await page.textContent(`#sessions-body tr[data-id="${ended}"] td.col-status`), 'ended');

    await page.selectOption('#status-select', 'all');
    await eventually(async () => {
      const ids = await tableIds(page);
      assert.ok(ids.includes(ended) && ids.includes(active));
    }, { message: 'all view' });

    // The detail of an ended session shows why and when it ended.
    await page.click(`#sessions-body tr[data-id="${ended}"]`);
    await eventually(async () => assert.equal(await page.textContent('#detail [data-field="end_reason"]'), 'deleted'));
    assert.equal(await page.textContent('#detail [data-field="status"]'), 'ended');
    assert.match(await page.textContent('#detail [data-field="ended_at"]'), /^\d{4}-\d{2}-\d{2}T/);

    await page.selectOption('#status-select', 'active');
    await eventually(async () => assert.ok(!(await tableIds(page)).includes(ended)), { message: 'active view again' });
    await closePage(view);
  });

  test('client strings are shown as text, never as HTML', { timeout: TEST_TIMEOUT_MS }, async () => {
    const attack = '<img src=x onerror=alert(1)>';
    const id = await createSession({
      appname: attack,
      mode: '<b>bold</b>',
      jobid: '<script>alert(2)</script>',
      metadata: { [attack]: attack, nested: { html: '<svg onload=alert(3)>' } },
    });
    await http.appendText(id, attack + '\n');
    await http.appendEntries(id, [{ level: 'error', message: '<iframe src=javascript:alert(4)>', data: { x: attack } }]);
    const view = await openOnSession(id, 'xss-ready');
    const { page } = view;
    await eventually(async () => assert.equal((await rowsWith(page, attack)).length, 2), { message: 'attack text shown' });
    assert.equal((await rowsWith(page, '<iframe src=javascript:alert(4)>')).length, 1);
    await eventually(async () => assert.equal(await page.textContent('#detail [data-field="appname"]'), attack));
    assert.equal(await page.textContent(`#metadata tr[data-key="${attack}"] td:last-child`), attack);
    assert.equal(await page.textContent(`#sessions-body tr[data-id="${id}"] td.col-app`), attack);
    // The filter's highlighting must not turn the text into markup either.
    await page.fill('#filter', 'img');
    await eventually(async () => assert.equal((await page.$$('#log-rows mark')).length >= 2, true), { message: 'marks' });
    const counts = await page.evaluate(() => ({
      img: document.querySelectorAll('img').length,
      iframe: document.querySelectorAll('iframe').length,
      svg: document.querySelectorAll('svg').length,
      b: document.querySelectorAll('b').length,
      scripts: document.querySelectorAll('script').length,
    }));
    assert.deepEqual(counts, { img: 0, iframe: 0, svg: 0, b: 0, scripts: 1 });
    // A round trip through the page after rendering: any onerror would have run by now.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))));
    assert.deepEqual(view.dialogs, [], 'a dialog opened');
    await closePage(view);
  });

  test('download saves the shown lines as a .log file', { timeout: TEST_TIMEOUT_MS }, async () => {
    const id = await createSession();
    await http.appendEntries(id, [
      { level: 'info', message: 'dl keep 1', timestamp: '2026-11-24T10:00:00.000Z' },
      { level: 'warn', message: 'dl drop', timestamp: '2026-11-24T10:00:01.000Z' },
      { level: 'error', message: 'dl keep 2', timestamp: '2026-11-24T10:00:02.000Z' },
    ]);
    const view = await openOnSession(id, 'dl-ready');
    const { page } = view;
    await page.fill('#filter', 'dl keep');
    await eventually(async () => assert.equal((await logRows(page)).length, 2));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    assert.match(download.suggestedFilename(), /\.log$/);
    const text = readFileSync(await download.path(), 'utf8');
    assert.equal(text, '2026-11-24T10:00:00.000Z info dl keep 1\n2026-11-24T10:00:02.000Z error dl keep 2\n');
    await closePage(view);
  });

  test('sessions table sorts by a clicked column and pages 50 rows at a time', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ids = [];
    for (let i = 0; i < 55; i += 1) ids.push(await createSession({ appname: `page-${String(i).padStart(2, '0')}` }));
    for (let i = 0; i < 5; i += 1) await http.appendText(ids[i], 'x\n'.repeat(i + 1));
    const view = await openDashboard();
    const { page } = view;
    await eventually(async () => assert.match(await page.textContent('#page-info'), /^page 1 of [2-9]\d*$/), { message: 'pages' });
    assert.equal((await tableIds(page)).length, 50);
    const first = await tableIds(page);
    await page.click('#page-next');
    await eventually(async () => assert.match(await page.textContent('#page-info'), /^page 2 of /));
    const second = await tableIds(page);
    assert.ok(second.length >= 1);
    assert.ok(second.every((id) => !first.includes(id)), 'pages overlap');
    await page.click('#page-prev');

    const entries = () => page.$$eval('#sessions-body td.col-entries', (tds) => tds.map((td) => Number(td.textContent.replace(/,/g, ''))));
    await page.click('th[data-sort="entries"] button');
    assert.equal(await page.getAttribute('th[data-sort="entries"]', 'aria-sort'), 'ascending');
    await eventually(async () => {
      const values = await entries();
      assert.deepEqual(values, values.slice().sort((a, b) => a - b));
    }, { message: 'ascending' });
    await page.click('th[data-sort="entries"] button');
    assert.equal(await page.getAttribute('th[data-sort="entries"]', 'aria-sort'), 'descending');
    await eventually(async () => {
      const values = await entries();
      assert.deepEqual(values, values.slice().sort((a, b) => b - a));
      assert.ok(values[0] >= 5, 'largest first');
    }, { message: 'descending' });

    await page.click('th[data-sort="appname"] button');
    await eventually(async () => {
      const apps = await page.$$eval('#sessions-body td.col-app', (tds) => tds.map((td) => td.textContent));
      const pages = apps.filter((a) => a.startsWith('page-'));
      assert.deepEqual(pages, pages.slice().sort());
    }, { message: 'app ascending' });
    for (const id of ids) await http.end(id);
    await closePage(view);
  });

  test('10,000 entries render and the page stays responsive', { timeout: TEST_TIMEOUT_MS * 2 }, async () => {
    const id = await createSession({ appname: 'ui-bulk' });
    const LEVELS = ['debug', 'info', 'info', 'warn', 'error'];
    const entries = (from, count) =>
      Array.from({ length: count }, (_, i) => ({ level: LEVELS[(from + i) % LEVELS.length], message: `bulk entry ${from + i}` }));
    // 12,000 before the page follows: the ring keeps the newest 10,000, 2,000 are missed.
    for (let from = 0; from < 12000; from += 3000) await http.appendEntries(id, entries(from, 3000));
    const view = await openDashboard({ session: id });
    const { page } = view;
    await eventually(async () => assert.match(await page.textContent('#log-count'), /^10,000 entries/), {
      timeout: 10000,
      message: '10,000 held',
    });
    await eventually(async () => assert.match(await page.textContent('#dropped-notice'), /^2,000 entries dropped/), {
      message: 'dropped notice',
    });
    assert.equal(await page.isVisible('#dropped-notice'), true);
    const rows = await logRows(page);
    assert.ok(rows.length > 0 && rows.length < 200, `${rows.length} rows in the DOM`);
    assert.equal(rows[rows.length - 1].cursor, 11999, 'follows the newest entry');

    // Hundreds of entries per second while the page is measured.
    let slowest = 0;
    for (let from = 12000; from < 14000; from += 100) {
      await http.appendEntries(id, entries(from, 100));
      const started = Date.now();
      await page.evaluate(() => document.querySelectorAll('#log-rows .log-row').length);
      slowest = Math.max(slowest, Date.now() - started);
    }
    assert.ok(slowest < 1000, `page round trip took ${slowest} ms`);
    await eventually(async () => {
      const last = (await logRows(page)).pop();
      assert.equal(last && last.cursor, 13999);
    }, { message: 'newest shown' });
    assert.match(await page.textContent('#log-count'), /^10,000 entries/);
    assert.ok((await page.$$('#log-rows .log-row')).length < 200, 'DOM rows stay bounded');

    // Scrolling: to the top (oldest held), then with the wheel.
    await page.$eval('#log-viewport', (vp) => {
      vp.scrollTop = 0;
    });
    await eventually(async () => assert.equal((await logRows(page))[0].cursor, 4000), { message: 'oldest held at top' });
    await page.hover('#log-viewport');
    await page.mouse.wheel(0, 4000);
    await eventually(async () => {
      const top = await page.$eval('#log-viewport', (vp) => vp.scrollTop);
      assert.ok(top > 0);
      const visible = await logRows(page);
      assert.ok(visible.some((r) => r.cursor > 4100), 'rows moved with the wheel');
    }, { message: 'wheel scroll' });
    // Reading older rows while the oldest are evicted: the rows in view stay put
    // (the scroll position moves up by the evicted rows' height).
    const rowHeight = await page.$eval('#log-rows .log-row', (row) => row.offsetHeight);
    assert.ok(rowHeight > 0);
    await page.$eval('#log-viewport', (vp) => {
      vp.scrollTop = 4000;
    });
    await eventually(async () => assert.equal(await page.$eval('#log-viewport', (vp) => vp.scrollTop), 4000));
    const firstBefore = 4000 + 4000 / rowHeight;
    await eventually(async () => assert.equal(await firstVisibleCursor(page), firstBefore), { message: 'window at 4000px' });
    await http.appendEntries(id, entries(14000, 50));
    await eventually(async () => assert.equal(await page.$eval('#log-viewport', (vp) => vp.scrollTop), 4000 - 50 * rowHeight), {
      message: 'scroll position follows the eviction',
    });
    await eventually(async () => assert.equal(await firstVisibleCursor(page), firstBefore), { message: 'same rows in view' });
    await closePage(view);
  });

  test('reconnect: a restarted server on the same port brings the page back to live', { timeout: TEST_TIMEOUT_MS }, async () => {
    let own = await startServer();
    const port = own.port;
    try {
      const view = await openDashboard({ baseUrl: own.url });
      const { page } = view;
      await eventually(async () => assert.ok((await tableIds(page)).length >= 1), { message: 'first push' });
      const oldServer = (await api(own.url).list()).server_session;
      await own.stop();
      await waitConn(page, 'reconnecting');
      assert.match(await page.textContent('#conn-state'), /^reconnecting in \d+s$/);
      own = await eventually(() => startServer({ port }), { timeout: 10000, interval: 200, message: 'restart on the same port' });
      assert.equal(own.port, port);
      await waitConn(page, 'live', 15000);
      // The new server's list arrives, and its own session is shown.
      const newServer = (await api(own.url).list()).server_session;
      assert.notEqual(newServer, oldServer);
      await eventually(async () => assert.ok((await tableIds(page)).includes(newServer)), { message: 'new list' });
      await eventually(async () => assert.equal(await page.textContent('#detail [data-field="id"]'), newServer), {
        message: 'new server session selected',
      });
      await closePage(view);
    } finally {
      await own.stop();
    }
  });

  test('the table follows 1,000 sessions changing through list changes and equals GET /sessions/', { timeout: TEST_TIMEOUT_MS * 3 }, async () => {
    // A server of its own: 1,000 sessions, and an ended list of 200 so
    // that ending 400 evicts some (removed in the changes).
    const own = await startServer({ args: ['--max-ended', '200'] });
    const ownHttp = api(own.url);
    try {
      const page = await browser.context.newPage();
      const pageErrors = [];
      page.on('pageerror', (err) => pageErrors.push(err.message));
      const received = { sessions: 0, changes: 0, upserts: 0 };
      page.on('websocket', (ws) =>
        ws.on('framereceived', (frame) => {
          let message;
          try {
            message = JSON.parse(frame.payload);
          } catch (_) {
            return;
          }
          if (message.type === 'sessions') received.sessions += 1;
          if (message.type === 'changes') {
            received.changes += 1;
            received.upserts += message.upserts.length;
          }
        }),
      );
      await page.goto(own.url + '/');
      await waitConn(page, 'live');
      await page.selectOption('#status-select', 'all');
      const ids = Array.from({ length: 1000 }, () => newOid());
      const inBatches = async (items, work) => {
        for (let i = 0; i < items.length; i += 50) await Promise.all(items.slice(i, i + 50).map(work));
      };
      await inBatches(ids, (id, i) => ownHttp.create(id, { appname: `many-${i}`, mode: 'batch' }));
      await inBatches(ids, (id, i) => ownHttp.appendText(id, 'line\n'.repeat((i % 7) + 1)));
      await inBatches(ids.slice(0, 500), (id) =>
        ownHttp.call('PUT', `/sessions/${id}`, { body: JSON.stringify({ jobid: 'job-' + id.slice(0, 6) }), type: 'application/json' }),
      );
      await inBatches(ids.slice(0, 400), (id) => ownHttp.end(id));

      // After the dust settles, every page of the table together equals the list.
      const expected = new Map((await ownHttp.list('all')).sessions.map((s) => [s.id, `${s.status} ${s.log.count} ${s.jobid ?? ''}`]));
      assert.equal(expected.size, 1 + 1000 - 200, 'evicted ones are gone from the list');
      const active = Array.from(expected.values()).filter((v) => v.startsWith('active')).length;
      const countText = `${active} active · ${expected.size - active} ended`;
      await eventually(async () => assert.equal(await page.textContent('#session-count'), countText), {
        timeout: 15000,
        message: 'session counts',
      });
      const shown = new Map();
      await page.click('#page-prev').catch(() => {});
      for (let pageIndex = 0; pageIndex < 100; pageIndex += 1) {
        const rows = await page.$$eval('#sessions-body tr[data-id]', (trs) =>
          trs.map((tr) => [
            tr.dataset.id,
            tr.querySelector('td.col-status').textContent,
            tr.querySelector('td.col-entries').textContent.replace(/,/g, ''),
            tr.querySelector('td.col-job').textContent,
          ]),
        );
        for (const [id, status, entries, jobid] of rows) shown.set(id, `${status} ${entries} ${jobid}`);
        if (await page.isDisabled('#page-next')) break;
        const info = await page.textContent('#page-info');
        await page.click('#page-next');
        await eventually(async () => assert.notEqual(await page.textContent('#page-info'), info), { message: 'next page' });
      }
      assert.deepEqual(new Map([...shown].sort()), new Map([...expected].sort()));
      // Fed by changes: a few whole lists (the join and the subscription's),
      // not one per push, and the upserts of every create, append, update and end.
      assert.ok(received.changes >= 1, JSON.stringify(received));
      assert.ok(received.sessions <= 4, JSON.stringify(received));
      assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
      await page.close();
    } finally {
      await own.stop();
    }
  });
});
