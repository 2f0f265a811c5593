//! The only module that writes JSON (and text) for clients.
//!
//! Written by hand into byte buffers rather than through `Serialize` structs:
//! the session object is the hottest answer of the server, and this keeps it
//! one pass with no intermediate tree. serde_json still escapes every string.
//! A session keeps its rendered object between changes (`Session::rendered`).

mod entry_run;

use crate::http::response::{decimal_len, write_decimal, write_json_string};
#[cfg(test)]
use crate::log_ring::Entry;
use crate::log_ring::{LogRing, RawEntry};
use crate::sessions::{id_hex, Session, SessionId};
use crate::time::rfc3339_ms_bytes;
use entry_run::EntryRun;
use std::io::Write;

/// Appends one session object: the part that changes only on create,
/// update and end from the session's cache, then the log figures, which
/// change with every append.
pub fn write_session(out: &mut Vec<u8>, session: &Session) {
    let fields = session.rendered(render_session_fields);
    // A stale cache would show here in every debug-build test.
    debug_assert_eq!(fields, &render_session_fields(session)[..]);
    out.extend_from_slice(fields);
    let log = &session.log;
    out.extend_from_slice(b",\"log\":{\"count\":");
    write_decimal(out, log.len() as u64);
    out.extend_from_slice(b",\"cursor\":");
    write_decimal(out, log.next_cursor());
    out.extend_from_slice(b",\"dropped\":");
    write_decimal(out, log.dropped());
    out.extend_from_slice(b"}}");
}

/// The session object from `{` up to (not including) `,"log":`.
fn render_session_fields(session: &Session) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    write_session_fields(&mut out, session);
    out
}

fn write_session_fields(out: &mut Vec<u8>, session: &Session) {
    out.extend_from_slice(b"{\"id\":\"");
    out.extend_from_slice(&id_hex(&session.id));
    out.extend_from_slice(b"\",\"appname\":");
    write_json_string(out, &session.appname);
    out.extend_from_slice(b",\"mode\":");
    write_json_string(out, &session.mode);
    out.extend_from_slice(b",\"jobid\":");
    match &session.jobid {
        Some(jobid) => write_json_string(out, jobid),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"metadata\":");
    // Writing a map of JSON values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &session.metadata);
    out.extend_from_slice(b",\"status\":\"");
    out.extend_from_slice(session.status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"created_at\":");
    write_time(out, Some(session.created_ms));
    out.extend_from_slice(b",\"updated_at\":");
    write_time(out, Some(session.updated_ms));
    out.extend_from_slice(b",\"ended_at\":");
    write_time(out, session.ended_ms);
    out.extend_from_slice(b",\"end_reason\":");
    match &session.end_reason {
        // A client's reason since DELETE takes one: escaped like any string.
        Some(reason) => write_json_string(out, reason.as_str()),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_time(out: &mut Vec<u8>, ms: Option<u64>) {
    match ms {
        Some(ms) => {
            out.push(b'"');
            out.extend_from_slice(&rfc3339_ms_bytes(ms));
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// `{"id": ...}` for one session, newline-terminated.
pub fn session_body(session: &Session) -> Vec<u8> {
    let mut out = Vec::with_capacity(384);
    write_session(&mut out, session);
    out.push(b'\n');
    out
}

/// Appends `"server_session":"<id>","sessions":[...]` (no braces).
pub fn write_session_list_fields(out: &mut Vec<u8>, server_id: &SessionId, sessions: &[&Session]) {
    out.extend_from_slice(b"\"server_session\":\"");
    out.extend_from_slice(&id_hex(server_id));
    out.extend_from_slice(b"\",\"sessions\":[");
    for (index, session) in sessions.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_session(out, session);
    }
    out.push(b']');
}

/// The body of `GET /sessions/`.
pub fn session_list_body(server_id: &SessionId, sessions: &[&Session]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + sessions.len() * 384);
    out.push(b'{');
    write_session_list_fields(&mut out, server_id, sessions);
    out.extend_from_slice(b"}\n");
    out
}

/// The WebSocket push `{"type":"sessions","time":...,...}`.
pub fn sessions_message(now_ms: u64, server_id: &SessionId, sessions: &[&Session]) -> Vec<u8> {
    write_sessions_message(None, now_ms, server_id, sessions)
}

/// The list a subscriber to changes gets: `sessions_message` with the
/// `seq` of the last changes message it already holds,
/// `{"type":"sessions","seq":N,"time":...,...}`.
pub fn sessions_message_at_seq(
    seq: u64,
    now_ms: u64,
    server_id: &SessionId,
    sessions: &[&Session],
) -> Vec<u8> {
    write_sessions_message(Some(seq), now_ms, server_id, sessions)
}

fn write_sessions_message(
    seq: Option<u64>,
    now_ms: u64,
    server_id: &SessionId,
    sessions: &[&Session],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + sessions.len() * 384);
    out.extend_from_slice(b"{\"type\":\"sessions\",");
    if let Some(seq) = seq {
        out.extend_from_slice(b"\"seq\":");
        write_decimal(&mut out, seq);
        out.push(b',');
    }
    out.extend_from_slice(b"\"time\":");
    write_time(&mut out, Some(now_ms));
    out.push(b',');
    write_session_list_fields(&mut out, server_id, sessions);
    out.push(b'}');
    out
}

/// `{"type":"changes","seq":N,"upserts":[<session>,...],"removed":["<id>",...]}`:
/// the sessions as `sessions_message` writes them.
pub fn changes_message(seq: u64, upserts: &[&Session], removed: &[SessionId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + upserts.len() * 384 + removed.len() * 27);
    out.extend_from_slice(b"{\"type\":\"changes\",\"seq\":");
    write_decimal(&mut out, seq);
    out.extend_from_slice(b",\"upserts\":[");
    for (index, session) in upserts.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_session(&mut out, session);
    }
    out.extend_from_slice(b"],\"removed\":[");
    for (index, id) in removed.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(&id_hex(id));
        out.push(b'"');
    }
    out.extend_from_slice(b"]}");
    out
}

/// `{"type":"keepalive","seq":N}`: nothing changed after changes message N.
pub fn keepalive_message(seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(b"{\"type\":\"keepalive\",\"seq\":");
    write_decimal(&mut out, seq);
    out.push(b'}');
    out
}

/// Appends one log entry object.
pub fn write_entry(out: &mut Vec<u8>, entry: &RawEntry) {
    EntryRun::default().write(out, entry);
}

/// Appends `[entry, ...]`.
pub fn write_entries<'a>(out: &mut Vec<u8>, entries: impl Iterator<Item = RawEntry<'a>>) {
    let mut run = EntryRun::default();
    out.push(b'[');
    for entry in entries {
        run.write(out, &entry);
    }
    out.push(b']');
}

/// `write_entries` of `count` entries of `log` from `start`, walked from
/// inside the ring (`LogRing::for_each_raw`): a log page's path.
pub fn write_entries_of(out: &mut Vec<u8>, log: &LogRing, start: u64, count: usize) {
    let mut run = EntryRun::default();
    out.push(b'[');
    log.for_each_raw(start, count, |entry| run.write(out, &entry));
    out.push(b']');
}

/// Appends one entry as a text line: `TIMESTAMP LEVEL MESSAGE`. Line breaks
/// inside a message are written as `\n` / `\r` so that one line stays one
/// entry.
pub fn write_entry_text(out: &mut Vec<u8>, entry: &RawEntry) {
    out.extend_from_slice(&rfc3339_ms_bytes(entry.timestamp_ms));
    out.push(b' ');
    out.extend_from_slice(entry.level.as_str().as_bytes());
    out.push(b' ');
    for &byte in entry.message {
        match byte {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(byte),
        }
    }
    out.push(b'\n');
}

/// The position fields that close a log page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageEnd {
    pub cursor: u64,
    pub dropped: u64,
    pub more: bool,
    pub total: usize,
}

/// Appends `,"cursor":N,"dropped":D,"more":B,"total":T}` after the entries.
pub fn write_page_end(out: &mut Vec<u8>, end: &PageEnd) {
    out.extend_from_slice(b",\"cursor\":");
    write_decimal(out, end.cursor);
    out.extend_from_slice(b",\"dropped\":");
    write_decimal(out, end.dropped);
    out.extend_from_slice(if end.more {
        b",\"more\":true"
    } else {
        b",\"more\":false"
    });
    out.extend_from_slice(b",\"total\":");
    write_decimal(out, end.total as u64);
    out.extend_from_slice(b"}\n");
}

/// Appends the WebSocket push `{"type":"log","session":ID,"entries":[...],
/// "cursor":C,"dropped":D}` with the entries that fit in `bytes_max`
/// bytes, and at least one (a larger entry goes alone). Returns how many
/// went in; `C` is `start` plus that count.
///
/// Each entry is measured by rendering it: one that would take the message
/// past `bytes_max` is taken back out (`truncate`) and waits for the next
/// message. So the message is exactly as full as the budget allows, with no
/// second copy of the escaping rules to keep in step with `write_entry`,
/// for the price of rendering at most one entry twice per message.
pub fn write_log_message<'a>(
    out: &mut Vec<u8>,
    session_id: &SessionId,
    start: u64,
    entries: impl Iterator<Item = RawEntry<'a>>,
    dropped: u64,
    bytes_max: usize,
) -> usize {
    let end_max = out.len().saturating_add(bytes_max);
    // `],"cursor":C,"dropped":D}` after `count` entries.
    let closing_bytes = |count: usize| {
        b"],\"cursor\":,\"dropped\":}".len()
            + decimal_len(start + count as u64)
            + decimal_len(dropped)
    };
    out.extend_from_slice(b"{\"type\":\"log\",\"session\":\"");
    out.extend_from_slice(&id_hex(session_id));
    out.extend_from_slice(b"\",\"entries\":[");
    let count = write_entries_within(out, entries, end_max, closing_bytes);
    out.extend_from_slice(b"],\"cursor\":");
    write_decimal(out, start + count as u64);
    out.extend_from_slice(b",\"dropped\":");
    write_decimal(out, dropped);
    out.push(b'}');
    count
}

/// Appends a log page, `{"entries":[...],"cursor":C,"dropped":D,"more":M,
/// "total":T}` (the body of `GET /sessions/{id}/log`, without its
/// newline), with the entries from `start` on that fit in `bytes_max`
/// bytes, and at least one: measured by rendering, as `write_log_message`
/// does. `next` is the log's next cursor (for `more`). Returns how many
/// went in.
pub fn write_log_page_within<'a>(
    out: &mut Vec<u8>,
    start: u64,
    entries: impl Iterator<Item = RawEntry<'a>>,
    end: &PageEnd,
    next: u64,
    bytes_max: usize,
) -> usize {
    let end_max = out.len().saturating_add(bytes_max);
    // `],"cursor":C,"dropped":D,"more":false,"total":T}` after `count`.
    let closing_bytes = |count: usize| {
        b"],\"cursor\":,\"dropped\":,\"more\":false,\"total\":}".len()
            + decimal_len(start + count as u64)
            + decimal_len(end.dropped)
            + decimal_len(end.total as u64)
    };
    out.extend_from_slice(b"{\"entries\":[");
    let count = write_entries_within(out, entries, end_max, closing_bytes);
    out.push(b']');
    let cursor = start + count as u64;
    let page_end = PageEnd {
        cursor,
        more: cursor < next,
        ..*end
    };
    write_page_end(out, &page_end);
    // `write_page_end` closes a body with a newline; a page here is a
    // field value, one line.
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    count
}

/// Appends entries, comma-separated, while they and `closing_bytes(count)`
/// after them stay within `end_max` (an absolute length of `out`), and at
/// least one. Returns how many went in.
fn write_entries_within<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = RawEntry<'a>>,
    end_max: usize,
    closing_bytes: impl Fn(usize) -> usize,
) -> usize {
    let mut run = EntryRun::default();
    let mut count = 0;
    for entry in entries {
        let entry_start = out.len();
        run.write(out, &entry);
        if count > 0 && out.len() + closing_bytes(count + 1) > end_max {
            out.truncate(entry_start);
            break;
        }
        count += 1;
    }
    count
}

/// `{"type":"error","error":...}` for a bad WebSocket message.
pub fn ws_error_message(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 32);
    out.extend_from_slice(b"{\"type\":\"error\",\"error\":");
    write_json_string(&mut out, message);
    out.push(b'}');
    out
}

/// Figures for `GET /health`.
pub struct Health<'a> {
    pub version: &'static str,
    pub uptime_s: u64,
    pub active: usize,
    pub ended: usize,
    pub connections: usize,
    /// The OTLP exporter's figures, when export is on.
    pub export: Option<&'a ExportHealth>,
}

/// The exporter as `/health` shows it (`export`): where it sends, what it
/// is doing, and its counts of log entries (start and end records are not
/// counted). `sent` entries reached the collector (`rejected` of them it
/// then refused in a partial success); `dropped` never will (refused
/// batches, and entries evicted from a ring or with their session before
/// they were sent); `retried` counts requests sent again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportHealth {
    pub endpoint: String,
    pub state: &'static str,
    pub sent: u64,
    pub retried: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub last_error: Option<String>,
}

/// `{"appended":N,"cursor":C}`: the answer to a successful append.
/// Written by hand, not `format!`: one answer per POST of log lines.
pub fn appended_body(appended: u64, cursor: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(APPENDED_BODY_BYTES_MAX);
    body.extend_from_slice(b"{\"appended\":");
    write_decimal(&mut body, appended);
    body.extend_from_slice(b",\"cursor\":");
    write_decimal(&mut body, cursor);
    body.extend_from_slice(b"}\n");
    debug_assert!(body.len() <= APPENDED_BODY_BYTES_MAX);
    body
}

/// The longest answer to an append: two 20-digit numbers.
const APPENDED_BODY_BYTES_MAX: usize = r#"{"appended":,"cursor":}"#.len() + 1 + 2 * 20;

pub fn health_body(health: &Health) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    let _ = write!(
        out,
        "{{\"status\":\"ok\",\"version\":\"{}\",\"uptime_s\":{},\
         \"sessions\":{{\"active\":{},\"ended\":{}}},\"connections\":{}}}",
        health.version, health.uptime_s, health.active, health.ended, health.connections
    );
    if let Some(export) = health.export {
        out.pop();
        out.extend_from_slice(b",\"export\":{\"endpoint\":");
        write_json_string(&mut out, &export.endpoint);
        let _ = write!(
            out,
            ",\"state\":\"{}\",\"sent\":{},\"retried\":{},\"rejected\":{},\"dropped\":{},\
             \"last_error\":",
            export.state, export.sent, export.retried, export.rejected, export.dropped
        );
        match &export.last_error {
            Some(error) => write_json_string(&mut out, error),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}}");
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::{parse_session_body, EndReason, SessionTable, TableConfig};

    fn entry_json(entry: &Entry) -> serde_json::Value {
        let mut out = Vec::new();
        write_entry(&mut out, &RawEntry::from(*entry));
        serde_json::from_slice(&out).expect("an entry is JSON")
    }

    /// Entries whose JSON is longer than their text in every way there is:
    /// control characters (short and `\u00XX` escapes), quotes, backslashes,
    /// non-ASCII, data, the truncated flag, cursors of growing length.
    fn varied_entries() -> Vec<Entry<'static>> {
        const MESSAGES: [&str; 6] = [
            "plain",
            "quote \" and back\\slash",
            "tab\tline\ncr\r\u{1}\u{1f}\u{7f} end",
            "ünïcødé ✓ 😀",
            "",
            "\u{8}\u{c}\"\\",
        ];
        const DATA: [Option<&str>; 3] = [None, Some(r#"{"a":[1,2],"b":"\"x\""}"#), Some("{}")];
        (0..24)
            .map(|index| Entry {
                cursor: 95 + index as u64,
                timestamp_ms: 1_764_000_000_000 + index as u64 * 777,
                level: crate::level::Level::from_code(index as u8 % 4).expect("a level"),
                truncated: index % 5 == 0,
                message: MESSAGES[index % MESSAGES.len()],
                data: DATA[index % DATA.len()],
            })
            .collect()
    }

    /// `write_log_message` measures each entry by its real rendering: for
    /// every budget, the message fits it (unless it holds one entry) and
    /// one more entry would not have.
    #[test]
    fn a_log_message_holds_exactly_the_entries_its_budget_fits() {
        let entries = varied_entries();
        let id = [3; 12];
        let render = |count: usize, bytes_max: usize| {
            let mut out = b"before".to_vec();
            let iter = entries.iter().copied().map(RawEntry::from).take(count);
            let written = write_log_message(&mut out, &id, 95, iter, 7, bytes_max);
            (out.split_off(6), written)
        };
        let (whole, all) = render(entries.len(), usize::MAX);
        assert_eq!(all, entries.len());
        let value: serde_json::Value = serde_json::from_slice(&whole).expect("JSON");
        assert_eq!(value["type"], "log");
        assert_eq!(value["session"], "030303030303030303030303");
        assert_eq!(
            (value["cursor"].as_u64(), value["dropped"].as_u64()),
            (Some(119), Some(7))
        );
        let expected: Vec<_> = entries.iter().map(entry_json).collect();
        assert_eq!(value["entries"].as_array(), Some(&expected));
        for bytes_max in 0..whole.len() + 8 {
            let (message, count) = render(entries.len(), bytes_max);
            assert!(count >= 1);
            assert_eq!(message, render(count, usize::MAX).0, "the same entries");
            if count > 1 {
                assert!(message.len() <= bytes_max, "{bytes_max}: {}", message.len());
            }
            if count < entries.len() {
                let one_more = render(count + 1, usize::MAX).0;
                assert!(one_more.len() > bytes_max, "{bytes_max}: room for one more");
            }
        }
    }

    /// The bound the WebSocket read-ahead counts on for an entry that goes
    /// alone, checked against the largest entry there is.
    #[test]
    fn the_largest_entry_fits_its_named_bounds() {
        use crate::limits::*;
        let message = "\u{1}".repeat(MESSAGE_BYTES_MAX);
        let data = format!(r#"{{"d":"{}"}}"#, "d".repeat(ENTRY_DATA_BYTES_MAX - 8));
        assert_eq!(data.len(), ENTRY_DATA_BYTES_MAX);
        let entry = Entry {
            cursor: u64::MAX - 1,
            timestamp_ms: u64::MAX,
            level: crate::level::Level::Error,
            truncated: true,
            message: &message,
            data: Some(&data),
        };
        let mut out = Vec::new();
        write_entry(&mut out, &entry.into());
        assert!(out.len() < LOG_ENTRY_JSON_BYTES_MAX, "{}", out.len());
        out.clear();
        let alone = std::iter::once(entry.into());
        assert_eq!(
            write_log_message(&mut out, &[0xff; 12], u64::MAX - 1, alone, u64::MAX, 0),
            1
        );
        // The frame header adds at most 10 bytes.
        assert!(out.len() + 10 < WS_LOG_READ_AHEAD_OVERSHOOT_BYTES_MAX);
    }

    fn session_json(table: &SessionTable, id: &SessionId) -> serde_json::Value {
        let session = table.get(id).expect("session");
        let mut out = Vec::new();
        write_session(&mut out, session);
        serde_json::from_slice(&out).expect("valid JSON")
    }

    /// The cached object must follow every change: update, log append, end.
    #[test]
    fn rendered_session_follows_changes() {
        let config = TableConfig {
            sessions_max: 4,
            ended_max: 4,
            log_capacity: 4,
            export: false,
        };
        let mut table = SessionTable::new(config, [0; 12], 1_000);
        let id = [7; 12];
        let body = |text: &str| parse_session_body(text.as_bytes()).expect("body");
        table
            .upsert(id, body(r#"{"appname":"a","mode":"m"}"#), 2_000)
            .expect("created");
        assert_eq!(session_json(&table, &id)["appname"], "a");
        table
            .update(id, body(r#"{"appname":"b","metadata":{"k":1}}"#), 3_000)
            .expect("updated");
        let value = session_json(&table, &id);
        assert_eq!(value["appname"], "b");
        assert_eq!(value["metadata"]["k"], 1);
        assert_eq!(value["updated_at"], "1970-01-01T00:00:03.000Z");
        let session = table.active_mut(&id, 4_000).expect("active");
        session
            .log
            .push(4_000, crate::level::Level::Info, false, "line", None);
        assert_eq!(session_json(&table, &id)["log"]["count"], 1);
        table.end(id, EndReason::Deleted, 5_000).expect("ended");
        let value = session_json(&table, &id);
        assert_eq!(value["status"], "ended");
        assert_eq!(value["ended_at"], "1970-01-01T00:00:05.000Z");
    }
}
