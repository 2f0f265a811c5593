//! The only module that writes JSON (and text) for clients.
//!
//! Written by hand into byte buffers rather than through `Serialize` structs:
//! the session object is the hottest answer of the server, and this keeps it
//! one pass with no intermediate tree. serde_json still escapes every string.
//! A session keeps its rendered object between changes (`Session::rendered`).

use crate::http::response::{write_decimal, write_json_string};
use crate::log_ring::Entry;
use crate::sessions::{id_hex, Session, SessionId};
use crate::time::rfc3339_ms_bytes;
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
    match session.end_reason {
        Some(reason) => {
            out.push(b'"');
            out.extend_from_slice(reason.as_str().as_bytes());
            out.push(b'"');
        }
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
    let mut out = Vec::with_capacity(96 + sessions.len() * 384);
    out.extend_from_slice(b"{\"type\":\"sessions\",\"time\":");
    write_time(&mut out, Some(now_ms));
    out.push(b',');
    write_session_list_fields(&mut out, server_id, sessions);
    out.push(b'}');
    out
}

/// Appends one log entry object.
pub fn write_entry(out: &mut Vec<u8>, entry: &Entry) {
    out.extend_from_slice(b"{\"cursor\":");
    write_decimal(out, entry.cursor);
    out.extend_from_slice(b",\"timestamp\":");
    write_time(out, Some(entry.timestamp_ms));
    out.extend_from_slice(b",\"level\":\"");
    out.extend_from_slice(entry.level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    write_json_string(out, entry.message);
    if let Some(data) = entry.data {
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data.as_bytes());
    }
    if entry.truncated {
        out.extend_from_slice(b",\"truncated\":true");
    }
    out.push(b'}');
}

/// Appends `[entry, ...]`.
pub fn write_entries<'a>(out: &mut Vec<u8>, entries: impl Iterator<Item = Entry<'a>>) {
    out.push(b'[');
    for (index, entry) in entries.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_entry(out, &entry);
    }
    out.push(b']');
}

/// Appends one entry as a text line: `TIMESTAMP LEVEL MESSAGE`. Line breaks
/// inside a message are written as `\n` / `\r` so that one line stays one
/// entry.
pub fn write_entry_text(out: &mut Vec<u8>, entry: &Entry) {
    out.extend_from_slice(&rfc3339_ms_bytes(entry.timestamp_ms));
    out.push(b' ');
    out.extend_from_slice(entry.level.as_str().as_bytes());
    out.push(b' ');
    for byte in entry.message.bytes() {
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

/// The WebSocket push `{"type":"log","session":ID,"entries":[...],...}`.
pub fn log_message<'a>(
    session_id: &SessionId,
    entries: impl Iterator<Item = Entry<'a>>,
    cursor: u64,
    dropped: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"type\":\"log\",\"session\":\"");
    out.extend_from_slice(&id_hex(session_id));
    out.extend_from_slice(b"\",\"entries\":");
    write_entries(&mut out, entries);
    out.extend_from_slice(b",\"cursor\":");
    write_decimal(&mut out, cursor);
    out.extend_from_slice(b",\"dropped\":");
    write_decimal(&mut out, dropped);
    out.push(b'}');
    out
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
pub struct Health {
    pub version: &'static str,
    pub uptime_s: u64,
    pub active: usize,
    pub ended: usize,
    pub connections: usize,
}

pub fn health_body(health: &Health) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    let _ = write!(
        out,
        "{{\"status\":\"ok\",\"version\":\"{}\",\"uptime_s\":{},\
         \"sessions\":{{\"active\":{},\"ended\":{}}},\"connections\":{}}}",
        health.version, health.uptime_s, health.active, health.ended, health.connections
    );
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::{parse_session_body, EndReason, SessionTable, TableConfig};

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
