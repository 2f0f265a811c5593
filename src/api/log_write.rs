//! Appending to a session's log: JSON and NDJSON bodies whole, text bodies
//! piece by piece as they arrive (or whole, once a compressed one has
//! checked out).

use super::body_plan::{log_body_kind, LogBodyKind};
use super::{session_error, App};
use crate::http::head::RequestHead;
use crate::http::response::Response;
use crate::ingest::{self, IngestedEntry};
use crate::level::Level;
use crate::sessions::SessionId;
use crate::views;

pub(super) fn append_json(
    app: &mut App,
    head: &RequestHead,
    id: SessionId,
    body: &[u8],
    now_ms: u64,
) -> Result<Response, Response> {
    let kind = log_body_kind(head.content_type.as_deref()).unwrap_or(LogBodyKind::Json);
    let parsed = match kind {
        LogBodyKind::Ndjson => ingest::parse_ndjson_body(body),
        LogBodyKind::Text => return append_text_body(app, id, body, now_ms),
        LogBodyKind::Json => ingest::parse_json_body(body),
    };
    let entries = parsed.map_err(|error| Response::error(error.status(), &error.message()))?;
    let appended = entries.len() as u64;
    let cursor = append_entries(app, id, entries, now_ms)?;
    Ok(appended_answer(appended, cursor))
}

/// Appends a whole plain-text body (one that came compressed and was held
/// until it checked out), line by line as a streamed one would be.
fn append_text_body(
    app: &mut App,
    id: SessionId,
    body: &[u8],
    now_ms: u64,
) -> Result<Response, Response> {
    let mut lines = ingest::TextLines::new();
    let appended = append_text_lines(app, id, now_ms, |emit| {
        lines.feed(body, emit);
        lines.finish(emit);
    })?;
    let cursor = next_cursor(app, &id).unwrap_or(0);
    Ok(appended_answer(appended, cursor))
}

/// The answer to a successful append.
pub fn appended_answer(appended: u64, cursor: u64) -> Response {
    Response::json(200, views::appended_body(appended, cursor))
}

pub(super) fn append_entries(
    app: &mut App,
    id: SessionId,
    entries: Vec<IngestedEntry>,
    now_ms: u64,
) -> Result<u64, Response> {
    let session = match app.sessions.active_mut(&id, now_ms) {
        Ok(session) => session,
        Err(error) => {
            let counters = &mut app.counters;
            entries
                .iter()
                .for_each(|entry| counters.refuse(entry.level, 1));
            return Err(session_error(&error));
        }
    };
    for entry in &entries {
        let timestamp_ms = entry.timestamp_ms.unwrap_or(now_ms);
        session.log.push_tallied(
            &mut app.counters.log,
            timestamp_ms,
            entry.level,
            entry.truncated,
            &entry.message,
            entry.data.as_deref(),
        );
    }
    let cursor = session.log.next_cursor();
    if !entries.is_empty() {
        app.mark_changed(id);
    }
    Ok(cursor)
}

/// Appends the plain-text lines that `produce` emits (one decoded piece of
/// a streamed body) to a session's log, looking the session up once per
/// piece rather than per line. `Err` when lines came but the session has
/// ended or gone meanwhile.
pub fn append_text_lines(
    app: &mut App,
    id: SessionId,
    now_ms: u64,
    produce: impl FnOnce(&mut dyn FnMut(&str, bool)),
) -> Result<u64, Response> {
    let mut count = 0u64;
    match app.sessions.active_mut(&id, now_ms) {
        Ok(session) => produce(&mut |line, truncated| {
            let tally = &mut app.counters.log;
            session
                .log
                .push_tallied(tally, now_ms, Level::Info, truncated, line, None);
            count += 1;
        }),
        Err(error) => {
            produce(&mut |_, _| count += 1);
            app.counters.refuse(Level::Info, count);
            if count > 0 {
                return Err(session_error(&error));
            }
        }
    }
    if count > 0 {
        app.mark_changed(id);
    }
    Ok(count)
}

/// The next cursor of a session's log (for the answer to an empty append).
pub fn next_cursor(app: &App, id: &SessionId) -> Option<u64> {
    app.sessions
        .get(id)
        .map(|session| session.log.next_cursor())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_answer_is_json() {
        for (appended, cursor) in [(0, 0), (50, 9_999), (1, u64::MAX), (u64::MAX, u64::MAX)] {
            let answer = appended_answer(appended, cursor);
            let expected = format!("{{\"appended\":{appended},\"cursor\":{cursor}}}\n");
            assert_eq!(answer.body(), expected.as_bytes());
        }
    }
}
