//! What changed in the session list since the last push tick, as one
//! message for every subscriber of any transport: the WebSocket's
//! `{"type":"changes"}` and the list's SSE stream (`event: changes`). Each
//! tick the payload is built once (`ListTick`); each transport frames it
//! once.
//!
//! The change set is exact and cheap: the ids the server's wake path saw
//! change (`App::mark_changed`: create, update, append, end, expiry,
//! eviction) go into a dirty set, coalesced by id, so a session updated 50
//! times in a tick is one upsert. At the tick each is looked up once:
//! present, an upsert (the session object as in the list); gone, removed.
//! Nothing is diffed and no list is built. While nobody subscribes the set
//! is not kept (a subscriber starts from a full list).
//!
//! `seq` counts changes messages, one up each; a list for a subscriber
//! carries the `seq` of the last one it covers, so a client sees a gap.
//! It starts at the server's start time in ms, not 0, and moves one up
//! when tracking stops (changes are not counted while nobody
//! subscribes): so a `seq` a client kept from before either (an SSE
//! `Last-Event-ID` after a restart or a quiet spell) never names the
//! current list by accident. Ticks come at most one per ms, so a seq of
//! an earlier run stays below a later run's start.
//! A change noted before a list was built and sent again in the next
//! changes message is harmless: upserts and removals apply idempotently.
//! Pure: no I/O, no clock (time comes in as `now_ms`).

use crate::limits::LIST_KEEPALIVE_INTERVAL_MS;
use crate::sessions::{Session, SessionId, SessionTable};
use crate::views;
use std::collections::HashSet;

/// What a push tick has for subscribers.
#[derive(Debug, PartialEq, Eq)]
pub enum ListTick {
    /// Nothing changed and a keep-alive is not due: nothing is sent.
    Quiet,
    /// Nothing changed for `LIST_KEEPALIVE_INTERVAL_MS`: the payload of
    /// `{"type":"keepalive","seq":N}`, N the last changes message.
    KeepAlive(Vec<u8>),
    /// The payload of `{"type":"changes","seq":N,...}`.
    Changes(Vec<u8>),
}

/// The dirty set, the sequence and the keep-alive clock.
#[derive(Default)]
pub struct ListChanges {
    dirty: HashSet<SessionId>,
    /// Whether anyone subscribes: only then are changes noted.
    tracking: bool,
    /// The `seq` of the last changes message (0: none yet).
    seq: u64,
    /// When the last changes message or keep-alive was made.
    last_message_ms: u64,
}

impl ListChanges {
    pub fn new() -> ListChanges {
        ListChanges::default()
    }

    /// A stream whose `seq` starts at `seq` (the server's start time).
    pub fn starting_at(seq: u64) -> ListChanges {
        ListChanges {
            seq,
            ..ListChanges::default()
        }
    }

    /// The `seq` of the last changes message: what a list built now covers.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn is_tracking(&self) -> bool {
        self.tracking
    }

    /// Starts or stops keeping the dirty set (someone subscribes, or the
    /// last subscriber left). Started, the keep-alive clock starts too;
    /// stopped, `seq` moves one up: the list it named is no longer followed.
    pub fn set_tracking(&mut self, tracking: bool, now_ms: u64) {
        if tracking && !self.tracking {
            self.last_message_ms = now_ms;
        }
        if !tracking && self.tracking {
            self.dirty = HashSet::new();
            self.seq += 1;
        }
        self.tracking = tracking;
    }

    /// Sessions that changed (the wake path's list for this turn).
    pub fn note_changed(&mut self, ids: &[SessionId]) {
        if self.tracking {
            self.dirty.extend(ids.iter().copied());
        }
    }

    /// The push tick: the changes since the last one, a keep-alive, or
    /// nothing. Upserts in list order, removals by id.
    pub fn on_tick(&mut self, sessions: &SessionTable, now_ms: u64) -> ListTick {
        if !self.tracking {
            return ListTick::Quiet;
        }
        if self.dirty.is_empty() {
            if now_ms < self.last_message_ms + LIST_KEEPALIVE_INTERVAL_MS {
                return ListTick::Quiet;
            }
            self.last_message_ms = now_ms;
            return ListTick::KeepAlive(views::keepalive_message(self.seq));
        }
        let mut upserts: Vec<&Session> = Vec::with_capacity(self.dirty.len());
        let mut removed: Vec<SessionId> = Vec::new();
        for id in self.dirty.drain() {
            match sessions.get(&id) {
                Some(session) => upserts.push(session),
                None => removed.push(id),
            }
        }
        upserts.sort_unstable_by_key(|session| session.created_seq());
        removed.sort_unstable();
        self.seq += 1;
        self.last_message_ms = now_ms;
        ListTick::Changes(views::changes_message(self.seq, &upserts, &removed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::{parse_session_body, EndReason, TableConfig};
    use serde_json::Value;

    fn table() -> SessionTable {
        let config = TableConfig {
            sessions_max: 100,
            ended_max: 1,
            log_capacity: 10,
            export: false,
        };
        SessionTable::new(config, [0; 12], 0)
    }

    fn create(table: &mut SessionTable, byte: u8) -> SessionId {
        let fields = parse_session_body(br#"{"appname":"a","mode":"m"}"#).expect("fields");
        table.create([byte; 12], fields, 0).expect("created");
        [byte; 12]
    }

    fn changes(tick: ListTick) -> Value {
        match tick {
            ListTick::Changes(payload) => serde_json::from_slice(&payload).expect("json"),
            other => panic!("expected changes, got {other:?}"),
        }
    }

    fn upsert_ids(message: &Value) -> Vec<String> {
        let upserts = message["upserts"].as_array().expect("upserts");
        upserts
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_owned())
            .collect()
    }

    #[test]
    fn fifty_updates_in_a_tick_are_one_upsert() {
        let mut table = table();
        let mut changes_of = ListChanges::new();
        changes_of.set_tracking(true, 0);
        let id = create(&mut table, 1);
        for index in 0..50 {
            let body = format!(r#"{{"metadata":{{"n":{index}}}}}"#);
            let fields = parse_session_body(body.as_bytes()).expect("fields");
            table.update(id, fields, 1).expect("updated");
            changes_of.note_changed(&[id]);
        }
        let message = changes(changes_of.on_tick(&table, 100));
        assert_eq!(message["seq"], 1);
        assert_eq!(upsert_ids(&message), [crate::sessions::format_id(&id)]);
        assert_eq!(message["upserts"][0]["metadata"]["n"], 49, "the last state");
        assert_eq!(message["removed"], Value::Array(vec![]));
        // Nothing since: no message, and seq does not move.
        assert_eq!(changes_of.on_tick(&table, 200), ListTick::Quiet);
        assert_eq!(changes_of.seq(), 1);
    }

    #[test]
    fn upserts_come_in_list_order_and_evicted_sessions_are_removed() {
        let mut table = table();
        let mut changes_of = ListChanges::new();
        changes_of.set_tracking(true, 0);
        let ids: Vec<SessionId> = (1..=3).map(|byte| create(&mut table, byte)).collect();
        changes_of.note_changed(&[ids[2], ids[0], ids[1]]);
        let message = changes(changes_of.on_tick(&table, 10));
        let expected: Vec<String> = ids.iter().map(crate::sessions::format_id).collect();
        assert_eq!(upsert_ids(&message), expected);
        // Ending two with room for one ended session evicts the first.
        for id in &ids[..2] {
            table.end(*id, EndReason::Deleted, 20).expect("ended");
            changes_of.note_changed(&[*id]);
        }
        changes_of.note_changed(&table.take_evicted());
        let message = changes(changes_of.on_tick(&table, 30));
        assert_eq!(message["seq"], 2);
        assert_eq!(upsert_ids(&message), [expected[1].clone()]);
        assert_eq!(message["upserts"][0]["status"], "ended");
        assert_eq!(message["removed"], serde_json::json!([expected[0]]));
    }

    #[test]
    fn a_keepalive_comes_once_the_interval_passed_quietly() {
        let table = table();
        let mut changes_of = ListChanges::new();
        changes_of.set_tracking(true, 1_000);
        let due_ms = 1_000 + LIST_KEEPALIVE_INTERVAL_MS;
        assert_eq!(changes_of.on_tick(&table, due_ms - 1), ListTick::Quiet);
        let expected = br#"{"type":"keepalive","seq":0}"#.to_vec();
        assert_eq!(
            changes_of.on_tick(&table, due_ms),
            ListTick::KeepAlive(expected)
        );
        // The next one an interval later, not at every tick.
        assert_eq!(changes_of.on_tick(&table, due_ms + 1), ListTick::Quiet);
        let next = changes_of.on_tick(&table, due_ms + LIST_KEEPALIVE_INTERVAL_MS);
        assert!(matches!(next, ListTick::KeepAlive(_)));
    }

    #[test]
    fn changes_are_not_kept_while_nobody_subscribes() {
        let mut table = table();
        let mut changes_of = ListChanges::new();
        let id = create(&mut table, 1);
        changes_of.note_changed(&[id]);
        assert_eq!(changes_of.on_tick(&table, 10), ListTick::Quiet);
        changes_of.set_tracking(true, 10);
        assert_eq!(
            changes_of.on_tick(&table, 20),
            ListTick::Quiet,
            "none noted"
        );
        changes_of.note_changed(&[id]);
        changes_of.set_tracking(false, 30);
        changes_of.set_tracking(true, 30);
        assert_eq!(changes_of.on_tick(&table, 40), ListTick::Quiet, "dropped");
    }

    #[test]
    fn a_pause_in_tracking_moves_seq_so_an_old_seq_never_names_the_list() {
        let mut changes_of = ListChanges::starting_at(1_000);
        assert_eq!(changes_of.seq(), 1_000);
        changes_of.set_tracking(true, 0);
        changes_of.set_tracking(true, 1);
        assert_eq!(changes_of.seq(), 1_000, "already tracking");
        changes_of.set_tracking(false, 2);
        assert_eq!(changes_of.seq(), 1_001);
        changes_of.set_tracking(false, 3);
        assert_eq!(changes_of.seq(), 1_001, "already stopped");
    }
}
