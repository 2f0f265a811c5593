//! Seeded simulation of the session core: the `SessionTable` (with one
//! `LogRing` per session), the log read path (`api::parse_log_query` and
//! `api::read_log`), and a `TimerWheel` driving TTL expiry exactly as the
//! server does (`arm_session_expiry`, `on_expiry_timer`), all on a fake
//! clock. Thousands of random steps per seed; after every step the real
//! state is compared with a naive model: a `Vec` of sessions in creation
//! order, a `VecDeque` of ended ids, a `Vec` of every entry ever appended
//! per session, and a `Vec` of armed timers. A lone `LogRing` built with
//! `with_bytes_max` runs alongside, because the table's rings never reach
//! their `LOG_RING_BYTES_MAX`.
//!
//! The list's changes stream (`ListChanges`) runs alongside: each step
//! notes the sessions it changed, as the server's wake path does, and at
//! random ticks (coalescing what several steps changed) a model client (`ListModel`, which refuses a `seq` gap)
//! applies the changes message and must then equal the full list; now and
//! then it takes a fresh list instead, as a slow or resubscribing one does.
//!
//! `SIM_SEED=N` replays one seed, `SIM_STEPS=N` runs N steps per seed. A
//! failure prints the seed, the step, the configuration and the last steps.

use std::collections::{BTreeMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use serde_json::{json, Map, Value};
use sessions_lite::api::{self, App, LogPosition};
use sessions_lite::config::Config;
use sessions_lite::http::response::Response;
use sessions_lite::level::Level;
use sessions_lite::limits::{
    LOG_RING_BYTES_MAX, MESSAGE_BYTES_MAX, METADATA_BYTES_MAX, SESSION_FIELD_BYTES_MAX,
    TIMER_SLOTS, TIMER_SLOT_MS,
};
use sessions_lite::list_changes::{ListChanges, ListTick};
use sessions_lite::log_ring::LogRing;
use sessions_lite::sessions::{
    EndReason, Expiry, ListFilter, Session, SessionError, SessionFields, SessionId, Status, Upsert,
};
use sessions_lite::time::rfc3339_ms;
use sessions_lite::timer_wheel::TimerWheel;
use sessions_lite::views;

use crate::ws_changes::{by_id, Applied, ListModel};

const SEEDS_DEFAULT: u64 = 20;
const STEPS_DEFAULT: usize = 5_000;
const SERVER_ID: SessionId = [0xee; 12];
/// The fake clock starts at a realistic time (late 2025).
const START_MS: u64 = 1_764_000_000_000;
/// Client timestamps stay within RFC 3339's four-digit years.
const TIMESTAMP_MS_END: u64 = 253_402_300_800_000;
/// `limit` when a log read gives none (API.md).
const READ_LIMIT_DEFAULT: usize = 1_000;
/// Every log is read back in full this often (in steps), and at the end.
const FULL_CHECK_STEPS: usize = 50;
/// Steps shown when a seed fails.
const TRACE_STEPS: usize = 30;

#[test]
fn sessions_logs_and_timers_match_a_naive_model() {
    let steps = env_number("SIM_STEPS").map_or(STEPS_DEFAULT, |steps| steps as usize);
    let seeds: Vec<u64> = match env_number("SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..SEEDS_DEFAULT).map(|index| 20_261_124 + index).collect(),
    };
    let replay = seeds.len() == 1;
    let mut seen: BTreeMap<&'static str, u64> = BTreeMap::new();
    let started = Instant::now();
    for &seed in &seeds {
        for (event, count) in run_seed(seed, steps) {
            *seen.entry(event).or_default() += count;
        }
    }
    println!(
        "simulation: {} seeds x {steps} steps in {:?}; events: {seen:?}",
        seeds.len(),
        started.elapsed()
    );
    // A simulation that stops reaching its edges passes without testing
    // them; a replay of one seed is exempt.
    let missed: Vec<&str> = EDGES
        .iter()
        .copied()
        .filter(|e| !seen.contains_key(e))
        .collect();
    assert!(
        replay || missed.is_empty(),
        "edges never reached: {missed:?}"
    );
}

/// Events every default run must reach at least once.
const EDGES: [&str; 27] = [
    "created",
    "updated",
    "refused: table full",
    "refused: ended",
    "refused: not found",
    "refused: server session",
    "refused: exists",
    "refused: missing field",
    "refused: empty field",
    "refused: field too long",
    "refused: metadata too large",
    "ended",
    "ended again",
    "evicted",
    "expired",
    "expiry not yet",
    "expiry gone",
    "read 404",
    "read 400",
    "read with dropped",
    "read cut by limit",
    "message cut",
    "side ring byte cap",
    "changes: applied",
    "changes: quiet tick",
    "changes: keep-alive",
    "changes: fresh list",
];

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    match text.parse() {
        Ok(number) => Some(number),
        Err(_) => panic!("{name} must be a whole number, not {text:?}"),
    }
}

/// Runs one seed; returns how often each event happened.
fn run_seed(seed: u64, steps: usize) -> BTreeMap<&'static str, u64> {
    let mut sim = Sim::new(seed);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        for _ in 0..steps {
            sim.step();
        }
        sim.check_table(true);
    }));
    if let Err(panic) = outcome {
        eprintln!(
            "simulation failed at step {} of seed {seed}; replay with \
             SIM_SEED={seed} SIM_STEPS={steps}",
            sim.step_index
        );
        eprintln!("config: {:?}", sim.cfg);
        eprintln!("last steps (clock at {} ms):", sim.now_ms);
        for line in &sim.trace {
            eprintln!("  {line}");
        }
        panic::resume_unwind(panic);
    }
    sim.seen
}

/// xorshift64, seeded through splitmix64 so that neighbouring seeds differ.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut mixed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((mixed ^ (mixed >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Clone, Copy, Debug)]
struct SimConfig {
    sessions_max: usize,
    ended_max: usize,
    log_capacity: usize,
    /// 0: TTL off. The server's TTL is whole seconds; the table takes any
    /// number of milliseconds, so some seeds use an odd one.
    ttl_ms: u64,
    slot_ms: u64,
    slot_count: usize,
    /// Client ids are `[n; 12]` for n in 1..=id_count: more than fit, so
    /// the table fills up and evicted ids come back.
    id_count: u8,
    side_capacity: usize,
    side_bytes_max: usize,
    /// The fake clock's start: not on a slot boundary.
    start_ms: u64,
}

impl SimConfig {
    fn random(rng: &mut Rng) -> SimConfig {
        let (sessions_max, ended_max, log_capacity) = if rng.chance(50) {
            (8, 4, 16)
        } else {
            (
                1 + rng.below(8) as usize,
                rng.below(6) as usize,
                1 + rng.below(20) as usize,
            )
        };
        let (slot_ms, slot_count) = if rng.chance(50) {
            (TIMER_SLOT_MS, TIMER_SLOTS)
        } else {
            (rng.pick(&[1, 7, 100, 1_000]), rng.pick(&[1, 2, 8, 64]))
        };
        // Either a few short records in one block, or many records over
        // several 16 KiB blocks, some bigger than a block.
        let (side_capacity, side_bytes_max) = if rng.chance(50) {
            (1 + rng.below(24) as usize, 32 + rng.below(2_000) as usize)
        } else {
            (
                50 + rng.below(350) as usize,
                20_000 + rng.below(200_000) as usize,
            )
        };
        SimConfig {
            sessions_max,
            ended_max,
            log_capacity,
            ttl_ms: rng.pick(&[0, 1_000, 1_000, 3_000, 10_000, 60_000, 1_234]),
            slot_ms,
            slot_count,
            id_count: (sessions_max + ended_max + 3) as u8,
            side_capacity,
            side_bytes_max,
            start_ms: START_MS + rng.below(10_000),
        }
    }
}

/// One log entry as pushed, and (after `stored`) as it should read back.
#[derive(Clone, Debug, PartialEq)]
struct ModelEntry {
    timestamp_ms: u64,
    level: Level,
    truncated: bool,
    message: String,
    data: Option<String>,
}

impl ModelEntry {
    /// A message over `MESSAGE_BYTES_MAX` is cut to the longest prefix of
    /// whole characters that fits, and flagged truncated.
    fn stored(&self) -> ModelEntry {
        let mut stored = self.clone();
        if stored.message.len() > MESSAGE_BYTES_MAX {
            let end = (0..=MESSAGE_BYTES_MAX)
                .rev()
                .find(|&end| stored.message.is_char_boundary(end))
                .unwrap_or(0);
            stored.message.truncate(end);
            stored.truncated = true;
        }
        stored
    }

    fn json(&self, cursor: u64) -> Value {
        let mut object = json!({
            "cursor": cursor,
            "timestamp": rfc3339_ms(self.timestamp_ms),
            "level": self.level.as_str(),
            "message": self.message,
        });
        if let Some(data) = &self.data {
            object["data"] = serde_json::from_str(data).expect("model data is json");
        }
        if self.truncated {
            object["truncated"] = json!(true);
        }
        object
    }

    fn text_line(&self) -> String {
        let message = self.message.replace('\n', "\\n").replace('\r', "\\r");
        let time = rfc3339_ms(self.timestamp_ms);
        format!("{time} {} {message}\n", self.level.as_str())
    }

    fn push_to(&self, ring: &mut LogRing) -> u64 {
        let data = self.data.as_deref();
        ring.push(
            self.timestamp_ms,
            self.level,
            self.truncated,
            &self.message,
            data,
        )
    }
}

struct ModelSession {
    id: SessionId,
    appname: String,
    mode: String,
    jobid: Option<String>,
    metadata: Value,
    created_ms: u64,
    updated_ms: u64,
    last_activity_ms: u64,
    /// `(ended_ms, reason)` once ended.
    ended: Option<(u64, EndReason)>,
    /// Every entry ever appended; an entry's cursor is its index.
    log: Vec<ModelEntry>,
    /// Where a client that follows this log (tail, then cursor) reads next.
    follow_cursor: u64,
}

impl ModelSession {
    fn is_active(&self) -> bool {
        self.ended.is_none()
    }

    fn next_cursor(&self) -> u64 {
        self.log.len() as u64
    }

    /// The log holds the newest `capacity` entries.
    fn first_cursor(&self, capacity: usize) -> u64 {
        self.log.len().saturating_sub(capacity) as u64
    }
}

/// What the contract promises for one log read.
struct Page<'a> {
    entries: Vec<(u64, &'a ModelEntry)>,
    cursor: u64,
    dropped: u64,
    more: bool,
    total: usize,
}

struct Model {
    cfg: SimConfig,
    /// Oldest created first; the server's own session is the first.
    sessions: Vec<ModelSession>,
    /// Ended ids, oldest ended first.
    ended: VecDeque<SessionId>,
    /// Evicted since the last `take_evicted`, in eviction order.
    evicted: Vec<SessionId>,
    /// Armed timers: `(deadline_ms, id)`.
    timers: Vec<(u64, SessionId)>,
}

impl Model {
    fn new(cfg: SimConfig, now_ms: u64) -> Model {
        let server = ModelSession {
            id: SERVER_ID,
            appname: "sessions-lite".into(),
            mode: "server".into(),
            jobid: None,
            metadata: json!({}),
            created_ms: now_ms,
            updated_ms: now_ms,
            last_activity_ms: now_ms,
            ended: None,
            log: Vec::new(),
            follow_cursor: 0,
        };
        Model {
            cfg,
            sessions: vec![server],
            ended: VecDeque::new(),
            evicted: Vec::new(),
            timers: Vec::new(),
        }
    }

    fn find(&self, id: SessionId) -> Option<&ModelSession> {
        self.sessions.iter().find(|session| session.id == id)
    }

    fn find_mut(&mut self, id: SessionId) -> Option<&mut ModelSession> {
        self.sessions.iter_mut().find(|session| session.id == id)
    }

    fn client_active_count(&self) -> usize {
        let active = self.sessions.iter().filter(|s| s.is_active()).count();
        active - 1
    }

    fn upsert(
        &mut self,
        id: SessionId,
        fields: &SessionFields,
        now_ms: u64,
    ) -> Result<Upsert, SessionError> {
        check_fields(fields)?;
        if self.find(id).is_some() {
            self.update_known(id, fields, now_ms)?;
            Ok(Upsert::Updated)
        } else {
            self.insert(id, fields, now_ms)?;
            Ok(Upsert::Created)
        }
    }

    fn create(
        &mut self,
        id: SessionId,
        fields: &SessionFields,
        now_ms: u64,
    ) -> Result<(), SessionError> {
        check_fields(fields)?;
        if self.find(id).is_some() {
            return Err(SessionError::Exists(id));
        }
        self.insert(id, fields, now_ms)
    }

    fn update(
        &mut self,
        id: SessionId,
        fields: &SessionFields,
        now_ms: u64,
    ) -> Result<(), SessionError> {
        check_fields(fields)?;
        self.update_known(id, fields, now_ms)
    }

    /// Refusals in this order: appname, mode, metadata size, table full.
    fn insert(
        &mut self,
        id: SessionId,
        fields: &SessionFields,
        now_ms: u64,
    ) -> Result<(), SessionError> {
        let appname = fields.appname.clone();
        let appname = appname.ok_or(SessionError::MissingField("appname"))?;
        let mode = fields
            .mode
            .clone()
            .ok_or(SessionError::MissingField("mode"))?;
        let metadata = merged_metadata(json!({}), fields.metadata.as_ref())?;
        if self.client_active_count() >= self.cfg.sessions_max {
            let sessions_max = self.cfg.sessions_max;
            return Err(SessionError::TableFull { sessions_max });
        }
        self.sessions.push(ModelSession {
            id,
            appname,
            mode,
            jobid: fields.jobid.clone().flatten(),
            metadata,
            created_ms: now_ms,
            updated_ms: now_ms,
            last_activity_ms: now_ms,
            ended: None,
            log: Vec::new(),
            follow_cursor: 0,
        });
        Ok(())
    }

    /// Refusals in this order: the server's own, unknown, ended, metadata.
    fn update_known(
        &mut self,
        id: SessionId,
        fields: &SessionFields,
        now_ms: u64,
    ) -> Result<(), SessionError> {
        if id == SERVER_ID {
            return Err(SessionError::ServerSession { action: "updated" });
        }
        let session = self.find_mut(id).ok_or(SessionError::NotFound(id))?;
        if !session.is_active() {
            return Err(SessionError::Ended(id));
        }
        session.metadata = merged_metadata(session.metadata.clone(), fields.metadata.as_ref())?;
        if let Some(appname) = &fields.appname {
            session.appname = appname.clone();
        }
        if let Some(mode) = &fields.mode {
            session.mode = mode.clone();
        }
        if let Some(jobid) = &fields.jobid {
            session.jobid = jobid.clone();
        }
        session.updated_ms = now_ms;
        session.last_activity_ms = now_ms;
        Ok(())
    }

    fn end(&mut self, id: SessionId, reason: EndReason, now_ms: u64) -> Result<bool, SessionError> {
        if id == SERVER_ID {
            return Err(SessionError::ServerSession { action: "ended" });
        }
        let session = self.find_mut(id).ok_or(SessionError::NotFound(id))?;
        if !session.is_active() {
            return Ok(false);
        }
        session.ended = Some((now_ms, reason));
        session.updated_ms = now_ms;
        self.ended.push_back(id);
        while self.ended.len() > self.cfg.ended_max {
            let oldest = self.ended.pop_front().expect("over the max, so not empty");
            self.sessions.retain(|session| session.id != oldest);
            self.evicted.push(oldest);
        }
        Ok(true)
    }

    /// Returns the cursors the entries get.
    fn append(
        &mut self,
        id: SessionId,
        entries: &[ModelEntry],
        now_ms: u64,
    ) -> Result<Vec<u64>, SessionError> {
        let session = self.find_mut(id).ok_or(SessionError::NotFound(id))?;
        if !session.is_active() {
            return Err(SessionError::Ended(id));
        }
        session.last_activity_ms = now_ms;
        let first = session.next_cursor();
        session.log.extend(entries.iter().map(ModelEntry::stored));
        Ok((first..session.next_cursor()).collect())
    }

    fn expire_if_idle(&mut self, id: SessionId, now_ms: u64) -> Expiry {
        let ttl_ms = self.cfg.ttl_ms;
        let due_ms = match self.find(id) {
            _ if ttl_ms == 0 || id == SERVER_ID => return Expiry::Gone,
            Some(session) if session.is_active() => session.last_activity_ms + ttl_ms,
            _ => return Expiry::Gone,
        };
        if now_ms < due_ms {
            return Expiry::NotYet { due_ms };
        }
        self.end(id, EndReason::Expired, now_ms)
            .expect("an active client session can be ended");
        Expiry::Expired
    }

    /// The page API.md promises for `GET /sessions/{id}/log`, or the
    /// status of the refusal.
    fn page(&self, id: SessionId, position: LogPosition, limit: usize) -> Result<Page<'_>, u16> {
        let session = self.find(id).ok_or(404_u16)?;
        let next = session.next_cursor();
        let first = session.first_cursor(self.cfg.log_capacity);
        let held: Vec<(u64, &ModelEntry)> = (first..next)
            .map(|cursor| (cursor, &session.log[cursor as usize]))
            .collect();
        let (selected, dropped) = match position {
            LogPosition::Cursor(cursor) if cursor > next => return Err(400),
            LogPosition::Cursor(cursor) => {
                let at_or_after: Vec<_> = held.iter().filter(|e| e.0 >= cursor).copied().collect();
                let evicted_at_or_after = (cursor..first).count() as u64;
                (at_or_after, evicted_at_or_after)
            }
            LogPosition::Offset(offset) => {
                let skip = usize::try_from(offset).unwrap_or(usize::MAX);
                (held.iter().skip(skip).copied().collect(), 0)
            }
            LogPosition::Tail(tail) => {
                let keep = usize::try_from(tail).unwrap_or(usize::MAX).min(held.len());
                (held[held.len() - keep..].to_vec(), 0)
            }
        };
        let entries: Vec<_> = selected.iter().take(limit).copied().collect();
        Ok(Page {
            more: selected.len() > entries.len(),
            // What to pass next time: the first entry not returned.
            cursor: selected.get(entries.len()).map_or(next, |e| e.0),
            entries,
            dropped,
            total: held.len(),
        })
    }
}

/// `appname`, `mode` and `jobid`, in this order: not empty, at most
/// `SESSION_FIELD_BYTES_MAX` bytes.
fn check_fields(fields: &SessionFields) -> Result<(), SessionError> {
    let jobid = fields.jobid.clone().flatten();
    let named = [
        ("appname", fields.appname.as_deref()),
        ("mode", fields.mode.as_deref()),
        ("jobid", jobid.as_deref()),
    ];
    for (field, text) in named {
        match text {
            Some("") => return Err(SessionError::EmptyField(field)),
            Some(text) if text.len() > SESSION_FIELD_BYTES_MAX => {
                let size = text.len();
                return Err(SessionError::FieldTooLong { field, size });
            }
            _ => {}
        }
    }
    Ok(())
}

fn merged_metadata(
    mut metadata: Value,
    patch: Option<&Map<String, Value>>,
) -> Result<Value, SessionError> {
    let Some(patch) = patch else {
        return Ok(metadata);
    };
    merge_patch(&mut metadata, &Value::Object(patch.clone()));
    let size = serde_json::to_vec(&metadata).expect("json").len();
    if size > METADATA_BYTES_MAX {
        return Err(SessionError::MetadataTooLarge { size });
    }
    Ok(metadata)
}

/// RFC 7396, section 2, as written there.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(target) = target else {
        unreachable!("made an object above")
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(name);
        } else {
            merge_patch(target.entry(name.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Encoded size of one record, as the ring counts it against its byte cap.
fn record_bytes(entry: &ModelEntry) -> usize {
    let mut ring = LogRing::with_bytes_max(1, LOG_RING_BYTES_MAX);
    entry.push_to(&mut ring);
    ring.record_bytes()
}

fn name(id: SessionId) -> String {
    if id == SERVER_ID {
        "server".into()
    } else {
        format!("#{}", id[0])
    }
}

fn short(text: String) -> String {
    if text.len() <= 160 {
        return text;
    }
    let cut: String = text.chars().take(160).collect();
    format!("{cut}...")
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    let mut found = response.headers.iter().filter(|h| h.0 == name);
    found.next().map(|h| h.1.as_str())
}

fn names(sessions: Vec<&Session>) -> Vec<String> {
    sessions.iter().map(|session| name(session.id)).collect()
}

struct Sim {
    cfg: SimConfig,
    rng: Rng,
    now_ms: u64,
    app: App,
    wheel: TimerWheel<SessionId>,
    model: Model,
    /// A ring with a small byte cap, and every entry pushed to it with its
    /// record size.
    side: LogRing,
    side_log: Vec<(ModelEntry, usize)>,
    step_index: usize,
    /// The session whose log the step appended to: its entries are read
    /// back at once (every log is read back every `FULL_CHECK_STEPS`).
    appended_to: Option<SessionId>,
    trace: VecDeque<String>,
    /// How often each event (see `EDGES`) happened.
    seen: BTreeMap<&'static str, u64>,
    /// The list's changes stream, and a client applying it.
    changes: ListChanges,
    list_client: ListModel,
    /// Sessions the step changed (what the server's `mark_changed` gets).
    changed: Vec<SessionId>,
    /// How many of `model.evicted` were noted as changed already.
    evicted_noted: usize,
    /// The stream's own choices (ticks, fresh lists), apart from `rng` so
    /// that every seed plays the table's steps as before.
    stream_rng: Rng,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng::new(seed);
        let cfg = SimConfig::random(&mut rng);
        let config = Config {
            log_capacity: cfg.log_capacity,
            sessions_max: cfg.sessions_max,
            ended_max: cfg.ended_max,
            session_ttl_secs: cfg.ttl_ms / 1000,
            ..Config::default()
        };
        let listen = config.listen;
        Sim {
            cfg,
            rng,
            now_ms: cfg.start_ms,
            app: App::new(config, listen, SERVER_ID, cfg.start_ms),
            wheel: TimerWheel::new(cfg.slot_ms, cfg.slot_count, cfg.start_ms),
            model: Model::new(cfg, cfg.start_ms),
            side: LogRing::with_bytes_max(cfg.side_capacity, cfg.side_bytes_max),
            side_log: Vec::new(),
            step_index: 0,
            appended_to: None,
            trace: VecDeque::new(),
            seen: BTreeMap::new(),
            changes: ListChanges::new(),
            list_client: ListModel::default(),
            changed: Vec::new(),
            evicted_noted: 0,
            stream_rng: Rng::new(seed ^ 0x005e_edc4_a9e5),
        }
    }

    /// The list as a subscriber gets it, with the stream's current `seq`.
    fn list_message(&self) -> Value {
        let sessions = self.app.sessions.list(ListFilter::All);
        let server_id = self.app.sessions.server_id();
        let seq = self.changes.seq();
        let payload = views::sessions_message_at_seq(seq, self.now_ms, &server_id, &sessions);
        serde_json::from_slice(&payload).expect("a list is JSON")
    }

    /// Notes what the step changed; at most ticks (coalescing what several
    /// steps changed), the client applies the tick and equals the list.
    fn step_changes(&mut self) {
        if !self.changes.is_tracking() {
            self.changes.set_tracking(true, self.now_ms);
            let list = self.list_message();
            assert_eq!(self.list_client.apply(&list), Ok(Applied::List));
        }
        let evicted = &self.model.evicted[self.evicted_noted.min(self.model.evicted.len())..];
        self.changed.extend_from_slice(evicted);
        self.evicted_noted = self.model.evicted.len();
        self.changes.note_changed(&self.changed);
        self.changed.clear();
        if !self.stream_rng.chance(40) {
            return;
        }
        let tick = self.changes.on_tick(&self.app.sessions, self.now_ms);
        let applied = match tick {
            ListTick::Quiet => None,
            ListTick::KeepAlive(payload) | ListTick::Changes(payload) => {
                let message = serde_json::from_slice(&payload).expect("JSON");
                Some(self.list_client.apply(&message))
            }
        };
        if self.stream_rng.chance(5) {
            // Behind, or subscribing again: a fresh list instead.
            let list = self.list_message();
            assert_eq!(self.list_client.apply(&list), Ok(Applied::List));
            self.saw("changes: fresh list");
        }
        match applied {
            Some(Ok(Applied::Changes)) => self.saw("changes: applied"),
            Some(Ok(_)) => self.saw("changes: keep-alive"),
            Some(Err(error)) => panic!("changes stream: {error}"),
            None => self.saw("changes: quiet tick"),
        }
        // A quiet tick changes nothing on either side: compared only now
        // and then, since rendering and parsing the list is most of the cost.
        if applied.is_none() && !self.step_index.is_multiple_of(FULL_CHECK_STEPS) {
            return;
        }
        let listed = by_id(&self.list_message()["sessions"]);
        assert_eq!(
            self.list_client.sessions, listed,
            "the client applying changes differs from the list"
        );
    }

    fn step(&mut self) {
        self.step_index += 1;
        self.appended_to = None;
        match self.rng.below(100) {
            0..=19 => self.step_upsert(),
            20..=24 => self.step_create(),
            25..=31 => self.step_update(),
            32..=38 => self.step_end(),
            39..=61 => self.step_append(),
            62..=79 => self.step_read(),
            80..=89 => self.step_advance(),
            90..=93 => self.step_take_evicted(),
            94..=96 => self.step_side_push(),
            _ => self.step_side_read(),
        }
        self.check_table(self.step_index.is_multiple_of(FULL_CHECK_STEPS));
        self.check_side();
        self.step_changes();
    }

    fn saw(&mut self, event: &'static str) {
        *self.seen.entry(event).or_default() += 1;
    }

    fn saw_result<T>(&mut self, result: &Result<T, SessionError>, ok: &'static str) {
        let event = match result {
            Ok(_) => ok,
            Err(SessionError::TableFull { .. }) => "refused: table full",
            Err(SessionError::Ended(_)) => "refused: ended",
            Err(SessionError::NotFound(_)) => "refused: not found",
            Err(SessionError::ServerSession { .. }) => "refused: server session",
            Err(SessionError::Exists(_)) => "refused: exists",
            Err(SessionError::MissingField(_)) => "refused: missing field",
            Err(SessionError::EmptyField(_)) => "refused: empty field",
            Err(SessionError::FieldTooLong { .. }) => "refused: field too long",
            Err(SessionError::MetadataTooLarge { .. }) => "refused: metadata too large",
            Err(_) => "refused: other",
        };
        self.saw(event);
    }

    fn note(&mut self, line: String) {
        if self.trace.len() == TRACE_STEPS {
            self.trace.pop_front();
        }
        let step = self.step_index;
        self.trace.push_back(format!("{step}: {line}"));
    }

    // ---- choices ----

    fn pick_id(&mut self) -> SessionId {
        if self.rng.chance(3) {
            return SERVER_ID;
        }
        [1 + self.rng.below(u64::from(self.cfg.id_count)) as u8; 12]
    }

    /// Mostly a session the model holds, else any id.
    fn pick_target(&mut self) -> SessionId {
        if self.rng.chance(80) {
            let index = self.rng.below(self.model.sessions.len() as u64) as usize;
            return self.model.sessions[index].id;
        }
        self.pick_id()
    }

    fn random_text_field(&mut self) -> String {
        match self.rng.below(50) {
            0 => String::new(),
            1 => "n".repeat(SESSION_FIELD_BYTES_MAX),
            2 => "n".repeat(SESSION_FIELD_BYTES_MAX + 1),
            _ => self
                .rng
                .pick(&["ue", "cook", "agent-07", "é名", "a\"b\\c"])
                .to_string(),
        }
    }

    fn random_fields(&mut self, absent_percent: u64) -> SessionFields {
        let mut fields = SessionFields::default();
        if !self.rng.chance(absent_percent) {
            fields.appname = Some(self.random_text_field());
        }
        if !self.rng.chance(absent_percent) {
            fields.mode = Some(self.random_text_field());
        }
        fields.jobid = match self.rng.below(10) {
            0..=3 => None,
            4..=5 => Some(None),
            _ => Some(Some(self.random_text_field())),
        };
        if self.rng.chance(60) {
            fields.metadata = Some(self.random_object(0));
        }
        fields
    }

    /// A merge patch: few keys, so that patches meet; nulls remove keys.
    fn random_object(&mut self, depth: u32) -> Map<String, Value> {
        let mut object = Map::new();
        for _ in 0..self.rng.below(4) {
            let key = self.rng.pick(&["host", "cl", "tags", "nested"]);
            let value = self.random_value(depth);
            object.insert(key.to_string(), value);
        }
        object
    }

    fn random_value(&mut self, depth: u32) -> Value {
        match self.rng.below(24) {
            0..=5 => Value::Null,
            6..=7 => json!(self.rng.below(100_000)),
            8 => json!(true),
            9..=10 => json!("agent-07"),
            11 => json!([1, "two", null, {"three": null}]),
            12..=18 if depth < 3 => Value::Object(self.random_object(depth + 1)),
            // Near METADATA_BYTES_MAX: some patches fit, some are refused.
            // Only at the top level, so entry data (depth 1 and more) stays
            // under ENTRY_DATA_BYTES_MAX as the ingest layer ensures.
            19 if depth == 0 && self.rng.chance(15) => {
                let size = METADATA_BYTES_MAX - 60 + self.rng.below(80) as usize;
                json!("v".repeat(size))
            }
            _ => json!("x"),
        }
    }

    fn random_message(&mut self, length_max: u64) -> String {
        if self.rng.below(400) == 0 {
            // Around MESSAGE_BYTES_MAX (rare: every read of one costs); a leading "a" puts the cut mid-char.
            let lead = if self.rng.chance(50) { "a" } else { "" };
            let pairs = MESSAGE_BYTES_MAX / 2 - 1 + self.rng.below(4) as usize;
            return format!("{lead}{}", "é".repeat(pairs));
        }
        const CHARS: [char; 14] = [
            'a', 'b', ' ', '"', '\\', '\n', '\r', '\t', '\0', 'é', '名', '🦀', '\u{2028}', '<',
        ];
        let length = self.rng.below(length_max + 1);
        (0..length).map(|_| self.rng.pick(&CHARS)).collect()
    }

    fn random_entry(&mut self, length_max: u64) -> ModelEntry {
        let timestamp_ms = if self.rng.chance(80) {
            self.now_ms
        } else {
            self.rng.below(TIMESTAMP_MS_END)
        };
        let data = self.rng.chance(30).then(|| {
            let object = Value::Object(self.random_object(1));
            serde_json::to_string(&object).expect("json")
        });
        ModelEntry {
            timestamp_ms,
            level: Level::from_code(self.rng.below(4) as u8).expect("codes 0-3 are levels"),
            truncated: self.rng.chance(5),
            message: self.random_message(length_max),
            data,
        }
    }

    /// A query string, the position it means, and its `limit` if given.
    fn random_log_query(&mut self, id: SessionId) -> (String, LogPosition, Option<u64>) {
        let (next, first, follow) = match self.model.find(id) {
            Some(s) => (
                s.next_cursor(),
                s.first_cursor(self.cfg.log_capacity),
                s.follow_cursor,
            ),
            None => (0, 0, 0),
        };
        let held = next - first;
        let near = |rng: &mut Rng, top: u64| match rng.below(20) {
            0 => u64::MAX,
            _ => rng.below(top + 3),
        };
        let (start, position) = match self.rng.below(8) {
            0 => (String::new(), LogPosition::Cursor(0)),
            1 | 2 => {
                let cursor = near(&mut self.rng, next);
                (format!("cursor={cursor}"), LogPosition::Cursor(cursor))
            }
            3 => (format!("cursor={follow}"), LogPosition::Cursor(follow)),
            4 | 5 => {
                let offset = near(&mut self.rng, held);
                (format!("offset={offset}"), LogPosition::Offset(offset))
            }
            _ => {
                let tail = near(&mut self.rng, held);
                (format!("tail={tail}"), LogPosition::Tail(tail))
            }
        };
        let limit = self.rng.chance(50).then(|| match self.rng.below(20) {
            0 => u64::MAX,
            _ => self.rng.below(2 * self.cfg.log_capacity as u64 + 2),
        });
        let mut params = vec![start];
        params.extend(limit.map(|limit| format!("limit={limit}")));
        if self.rng.chance(15) {
            params.push("format=text".into());
        }
        params.retain(|param| !param.is_empty());
        (params.join("&"), position, limit)
    }

    // ---- steps ----

    /// As the server's `arm_session_expiry`: a new session's first timer.
    fn arm_expiry(&mut self, id: SessionId) {
        if self.cfg.ttl_ms > 0 {
            let deadline_ms = self.now_ms + self.cfg.ttl_ms;
            self.wheel.schedule(deadline_ms, id);
            self.model.timers.push((deadline_ms, id));
            self.check_timers();
        }
    }

    fn step_upsert(&mut self) {
        let id = self.pick_id();
        let fields = self.random_fields(10);
        self.note(short(format!("upsert {} {fields:?}", name(id))));
        let expected = self.model.upsert(id, &fields, self.now_ms);
        let actual = self.app.sessions.upsert(id, fields, self.now_ms);
        assert_eq!(actual, expected, "upsert {}", name(id));
        let ok = if actual == Ok(Upsert::Created) {
            "created"
        } else {
            "updated"
        };
        self.saw_result(&actual, ok);
        if actual.is_ok() {
            self.changed.push(id);
        }
        if actual == Ok(Upsert::Created) {
            self.arm_expiry(id);
        }
    }

    fn step_create(&mut self) {
        let id = self.pick_id();
        let fields = self.random_fields(10);
        self.note(short(format!("create {} {fields:?}", name(id))));
        let expected = self.model.create(id, &fields, self.now_ms);
        let actual = self.app.sessions.create(id, fields, self.now_ms);
        assert_eq!(actual, expected, "create {}", name(id));
        self.saw_result(&actual, "created");
        if actual.is_ok() {
            self.changed.push(id);
            self.arm_expiry(id);
        }
    }

    fn step_update(&mut self) {
        let id = self.pick_target();
        let fields = self.random_fields(60);
        self.note(short(format!("update {} {fields:?}", name(id))));
        let expected = self.model.update(id, &fields, self.now_ms);
        let actual = self.app.sessions.update(id, fields, self.now_ms);
        assert_eq!(actual, expected, "update {}", name(id));
        self.saw_result(&actual, "updated");
        if actual.is_ok() {
            self.changed.push(id);
        }
    }

    fn step_end(&mut self) {
        let id = self.pick_target();
        self.note(format!("end {}", name(id)));
        let expected = self.model.end(id, EndReason::Deleted, self.now_ms);
        let actual = self.app.sessions.end(id, EndReason::Deleted, self.now_ms);
        assert_eq!(actual, expected, "end {}", name(id));
        let ok = if actual == Ok(true) {
            "ended"
        } else {
            "ended again"
        };
        self.saw_result(&actual, ok);
        if actual == Ok(true) {
            self.changed.push(id);
        }
    }

    fn step_append(&mut self) {
        let id = self.pick_target();
        let capacity = self.cfg.log_capacity as u64;
        let count = match self.rng.below(10) {
            0 => 0,
            1..=6 => 1 + self.rng.below(3),
            _ => 1 + self.rng.below(2 * capacity + 2),
        };
        let entries: Vec<ModelEntry> = (0..count).map(|_| self.random_entry(24)).collect();
        self.note(format!("append {count} to {}", name(id)));
        self.appended_to = Some(id);
        let expected = self.model.append(id, &entries, self.now_ms);
        // As the server's `append_entries`: mark activity, then push.
        let actual = self
            .app
            .sessions
            .active_mut(&id, self.now_ms)
            .map(|session| {
                entries
                    .iter()
                    .map(|e| e.push_to(&mut session.log))
                    .collect()
            });
        assert_eq!(actual, expected, "append to {}: cursors", name(id));
        self.saw_result(&actual, "appended");
        if actual.is_ok() && count > 0 {
            self.changed.push(id);
        }
        if entries.iter().any(|e| e.message.len() > MESSAGE_BYTES_MAX) {
            self.saw("message cut");
        }
    }

    fn step_read(&mut self) {
        let id = self.pick_target();
        let (query_text, position, limit) = self.random_log_query(id);
        self.note(format!("read {} ?{query_text}", name(id)));
        let query = api::parse_log_query(&self.app, &query_text)
            .unwrap_or_else(|refusal| panic!("query {query_text:?} refused: {refusal:?}"));
        assert_eq!(query.position, position, "query {query_text:?}");
        let limit = limit.map_or(READ_LIMIT_DEFAULT, |l| {
            usize::try_from(l).unwrap_or(usize::MAX)
        });
        let limit = limit.min(self.cfg.log_capacity);
        let response = api::read_log(&self.app, &id, &query);
        let page = match self.model.page(id, position, limit) {
            Err(status) => {
                assert_eq!(response.status, status, "read {query_text:?}");
                self.saw(if status == 404 {
                    "read 404"
                } else {
                    "read 400"
                });
                return;
            }
            Ok(page) => page,
        };
        check_page(&response, &page, query.text, &query_text);
        let (cursor, dropped, count) = (page.cursor, page.dropped, page.entries.len() as u64);
        let more = page.more;
        self.saw("read");
        if dropped > 0 {
            self.saw("read with dropped");
        }
        if more {
            self.saw("read cut by limit");
        }
        // A client that follows gets every entry once, or counts it dropped.
        let session = self.model.find_mut(id).expect("the page came from it");
        match position {
            LogPosition::Cursor(from) if from == session.follow_cursor => {
                assert_eq!(cursor - from, count + dropped, "follow {query_text:?}");
                session.follow_cursor = cursor;
            }
            LogPosition::Tail(_) => session.follow_cursor = cursor,
            _ => {}
        }
    }

    /// Moves the fake clock and fires the wheel as the server's loop does.
    fn step_advance(&mut self) {
        let ttl_base = self.cfg.ttl_ms.max(1_000);
        let rotation_ms = self.cfg.slot_ms * self.cfg.slot_count as u64;
        let index = self.rng.below(self.model.sessions.len() as u64) as usize;
        let due_ms = self.model.sessions[index].last_activity_ms + self.cfg.ttl_ms;
        let now_ms = match self.rng.below(16) {
            // Just before, at, or just after some session's due time.
            0..=3 if self.cfg.ttl_ms > 0 => (due_ms + self.rng.below(3) - 1).max(self.now_ms),
            4 => self.now_ms,
            5..=7 => self.now_ms + 1 + self.rng.below(3 * self.cfg.slot_ms),
            8..=12 => self.now_ms + 1 + self.rng.below(ttl_base / 3),
            13..=14 => self.now_ms + 1 + self.rng.below(2 * ttl_base),
            _ => self.now_ms + 1 + self.rng.below(3 * rotation_ms.max(ttl_base)),
        };
        self.note(format!("advance to +{} ms", now_ms - self.cfg.start_ms));
        self.now_ms = now_ms;
        self.fire_timers();
        self.check_timers();
    }

    fn fire_timers(&mut self) {
        let now_ms = self.now_ms;
        let ttl_ms = self.cfg.ttl_ms;
        // Whoever is idle for the TTL now must be ended by this fire.
        let idle: Vec<SessionId> = self
            .model
            .sessions
            .iter()
            .filter(|s| s.is_active() && s.id != SERVER_ID && ttl_ms > 0)
            .filter(|s| s.last_activity_ms + ttl_ms <= now_ms)
            .map(|s| s.id)
            .collect();
        let mut fired = Vec::new();
        self.wheel.advance(now_ms, &mut fired);
        let (mut due, kept): (Vec<_>, Vec<_>) = self
            .model
            .timers
            .iter()
            .partition(|timer| timer.0 <= now_ms);
        self.model.timers = kept;
        let mut fired_sorted = fired.clone();
        fired_sorted.sort_unstable();
        due.sort_unstable_by_key(|timer| timer.1);
        let due_ids: Vec<SessionId> = due.iter().map(|timer| timer.1).collect();
        assert_eq!(fired_sorted, due_ids, "timers fired at {now_ms}");
        // As the server's `on_expiry_timer`, in the order the wheel gave.
        for id in fired {
            let expected = self.model.expire_if_idle(id, now_ms);
            let actual = self.app.sessions.expire_if_idle(&id, ttl_ms, now_ms);
            assert_eq!(actual, expected, "expiry of {} at {now_ms}", name(id));
            if actual == Expiry::Expired {
                self.changed.push(id);
            }
            self.saw(match actual {
                Expiry::Expired => "expired",
                Expiry::NotYet { .. } => "expiry not yet",
                Expiry::Gone => "expiry gone",
            });
            if let Expiry::NotYet { due_ms } = actual {
                assert!(due_ms > now_ms);
                self.wheel.schedule(due_ms, id);
                self.model.timers.push((due_ms, id));
            }
        }
        for id in idle {
            // Ended now for being idle, or already evicted after that.
            let Some(session) = self.app.sessions.get(&id) else {
                assert!(self.model.evicted.contains(&id), "{} lost", name(id));
                continue;
            };
            let end = (session.status, session.end_reason.clone(), session.ended_ms);
            let want = (Status::Ended, Some(EndReason::Expired), Some(now_ms));
            assert_eq!(
                end,
                want,
                "{} idle since {}",
                name(id),
                session.last_activity_ms
            );
        }
    }

    fn step_take_evicted(&mut self) {
        self.note("take_evicted".into());
        let expected = std::mem::take(&mut self.model.evicted);
        self.evicted_noted = 0;
        *self.seen.entry("evicted").or_default() += expected.len() as u64;
        assert_eq!(self.app.sessions.take_evicted(), expected);
    }

    fn step_side_push(&mut self) {
        let mut entry = self.random_entry(24);
        if self.rng.chance(30) {
            // Up to a third of the byte cap, in repeats (cheap to make).
            let unit_bytes = entry.message.len().max(1) as u64;
            let repeats = 1 + self
                .rng
                .below(self.cfg.side_bytes_max as u64 / 3 / unit_bytes + 1);
            entry.message = entry.message.repeat(repeats as usize);
        }
        let entry = entry.stored();
        self.note(format!("side push {} bytes", entry.message.len()));
        let cursor = entry.push_to(&mut self.side);
        assert_eq!(cursor, self.side_log.len() as u64, "side ring cursor");
        let size = record_bytes(&entry);
        self.side_log.push((entry, size));
        let held = self.side_held();
        if held < self.cfg.side_capacity && held < self.side_log.len() {
            self.saw("side ring byte cap");
        }
    }

    fn step_side_read(&mut self) {
        let next = self.side_log.len() as u64;
        let cursor = self.rng.below(next + 2);
        let limit = self.rng.below(self.cfg.side_capacity as u64 + 2) as usize;
        self.note(format!("side read cursor {cursor} limit {limit}"));
        let actual: Vec<(u64, ModelEntry)> = self
            .side
            .iter_from(cursor)
            .take(limit)
            .map(|e| {
                let entry = ModelEntry {
                    timestamp_ms: e.timestamp_ms,
                    level: e.level,
                    truncated: e.truncated,
                    message: e.message.to_owned(),
                    data: e.data.map(str::to_owned),
                };
                (e.cursor, entry)
            })
            .collect();
        let first = next - self.side_held() as u64;
        let expected: Vec<(u64, ModelEntry)> = (cursor.max(first)..next)
            .take(limit)
            .map(|c| (c, self.side_log[c as usize].0.clone()))
            .collect();
        assert_eq!(actual, expected, "side read from {cursor}");
    }

    /// How many entries the side ring must hold: the longest run of newest
    /// entries within the entry capacity and the byte cap (one always fits).
    fn side_held(&self) -> usize {
        let (mut count, mut bytes) = (0, 0);
        for (_, size) in self.side_log.iter().rev() {
            let full = count == self.cfg.side_capacity;
            if full || (count >= 1 && bytes + size > self.cfg.side_bytes_max) {
                break;
            }
            count += 1;
            bytes += size;
        }
        count
    }

    // ---- invariants ----

    /// `read_logs`: read back every log, not only the one appended to.
    fn check_table(&self, read_logs: bool) {
        let table = &self.app.sessions;
        let model = &self.model;
        let active = model.sessions.iter().filter(|s| s.is_active()).count();
        assert_eq!(table.active_count(), active, "active count");
        assert_eq!(table.ended_count(), model.ended.len(), "ended count");
        assert!(model.ended.len() <= self.cfg.ended_max);
        assert!(model.client_active_count() <= self.cfg.sessions_max);
        for (filter, wanted) in [
            (ListFilter::All, None),
            (ListFilter::Active, Some(true)),
            (ListFilter::Ended, Some(false)),
        ] {
            let expected: Vec<String> = model
                .sessions
                .iter()
                .filter(|s| wanted.is_none_or(|active| s.is_active() == active))
                .map(|s| name(s.id))
                .collect();
            assert_eq!(names(table.list(filter)), expected, "list {filter:?}");
        }
        for session in &model.sessions {
            let appended_to = self.appended_to == Some(session.id);
            self.check_session(session, read_logs || appended_to);
        }
        for n in 1..=self.cfg.id_count {
            if model.find([n; 12]).is_none() {
                assert!(table.get(&[n; 12]).is_none(), "#{n} should be gone");
            }
        }
        if self.cfg.ttl_ms > 0 {
            for s in model.sessions.iter().filter(|s| s.is_active()) {
                let idle_ms = self.now_ms - s.last_activity_ms;
                let overdue = s.id != SERVER_ID && idle_ms >= self.cfg.ttl_ms;
                assert!(
                    !overdue,
                    "{} idle for {idle_ms} ms, still active",
                    name(s.id)
                );
            }
        }
    }

    fn check_session(&self, expected: &ModelSession, read_entries: bool) {
        let who = name(expected.id);
        let actual = self.app.sessions.get(&expected.id);
        let actual = actual.unwrap_or_else(|| panic!("{who} missing"));
        let fields = (&actual.appname, &actual.mode, &actual.jobid);
        let want = (&expected.appname, &expected.mode, &expected.jobid);
        assert_eq!(fields, want, "{who} fields");
        assert!(
            expected.metadata.as_object() == Some(&actual.metadata),
            "{who} metadata: {} != {}",
            short(Value::Object(actual.metadata.clone()).to_string()),
            short(expected.metadata.to_string()),
        );
        let status = if expected.is_active() {
            Status::Active
        } else {
            Status::Ended
        };
        let state = (
            actual.status,
            actual.ended_ms,
            actual.end_reason.clone(),
            actual.created_ms,
            actual.updated_ms,
            actual.last_activity_ms,
        );
        let want = (
            status,
            expected.ended.as_ref().map(|end| end.0),
            expected.ended.as_ref().map(|end| end.1.clone()),
            expected.created_ms,
            expected.updated_ms,
            expected.last_activity_ms,
        );
        assert_eq!(state, want, "{who} status and times");
        let log = &actual.log;
        let appended = expected.next_cursor();
        let first = expected.first_cursor(self.cfg.log_capacity);
        let held = (appended - first) as usize;
        let counts = (
            log.len(),
            log.first_cursor(),
            log.next_cursor(),
            log.dropped(),
        );
        let want = (held, first, appended, appended - held as u64);
        assert_eq!(counts, want, "{who} log (len, first, next, dropped)");
        if !read_entries {
            return;
        }
        for (entry, cursor) in log.iter_from(0).zip(first..) {
            let model = &expected.log[cursor as usize];
            assert_eq!(entry.cursor, cursor, "{who} log cursors");
            let read = (entry.timestamp_ms, entry.level, entry.truncated);
            let want = (model.timestamp_ms, model.level, model.truncated);
            assert_eq!(read, want, "{who} entry {cursor}");
            let (message, want) = (entry.message, model.message.as_str());
            assert!(
                message == want,
                "{who} entry {cursor}: message of {} bytes {:?}, want {} bytes {:?}",
                message.len(),
                short(message.to_owned()),
                want.len(),
                short(want.to_owned()),
            );
            assert_eq!(entry.data, model.data.as_deref(), "{who} entry {cursor}");
        }
        assert_eq!(log.iter_from(0).count(), held, "{who} entries read");
    }

    fn check_timers(&self) {
        let timers = &self.model.timers;
        assert_eq!(self.wheel.len(), timers.len(), "timers armed");
        let earliest = timers.iter().map(|timer| timer.0).min();
        let wait = self.wheel.next_wait_ms(self.now_ms);
        match (earliest, wait) {
            (None, None) => {}
            (Some(deadline_ms), Some(wait)) => {
                let due_in = deadline_ms.saturating_sub(self.now_ms);
                assert!(
                    wait <= due_in,
                    "next wait {wait} ms, a timer is due in {due_in}"
                );
            }
            _ => panic!("next wait {wait:?} with earliest deadline {earliest:?}"),
        }
    }

    fn check_side(&self) {
        let held = self.side_held();
        let next = self.side_log.len() as u64;
        let side = &self.side;
        let counts = (
            side.len(),
            side.first_cursor(),
            side.next_cursor(),
            side.dropped(),
        );
        let want = (held, next - held as u64, next, next - held as u64);
        assert_eq!(counts, want, "side ring (len, first, next, dropped)");
        let held_bytes: usize = self.side_log.iter().rev().take(held).map(|e| e.1).sum();
        assert_eq!(side.record_bytes(), held_bytes, "side ring bytes");
    }
}

/// Checks a read against the page the model promises.
fn check_page(response: &Response, page: &Page, text: bool, query: &str) {
    assert_eq!(response.status, 200, "read ?{query}");
    let cursor = page.cursor.to_string();
    let dropped = page.dropped.to_string();
    assert_eq!(
        header(response, "X-Cursor"),
        Some(cursor.as_str()),
        "?{query}"
    );
    assert_eq!(
        header(response, "X-Dropped"),
        Some(dropped.as_str()),
        "?{query}"
    );
    if text {
        let more = page.more.to_string();
        assert_eq!(header(response, "X-More"), Some(more.as_str()), "?{query}");
        let lines: String = page.entries.iter().map(|e| e.1.text_line()).collect();
        let body = String::from_utf8_lossy(response.body());
        assert_eq!(body, lines, "text read ?{query}");
        return;
    }
    let entries: Vec<Value> = page.entries.iter().map(|e| e.1.json(e.0)).collect();
    let want = json!({
        "entries": entries,
        "cursor": page.cursor,
        "dropped": page.dropped,
        "more": page.more,
        "total": page.total,
    });
    let body: Value = serde_json::from_slice(response.body()).expect("a read answers json");
    assert_eq!(body, want, "read ?{query}");
}
