//! Reading a session's log: one page by cursor, offset or tail, as JSON
//! or text, or a long-poll that parks until entries come.

use super::{session_error, App, Outcome};
use crate::http::head::{trim_ows, Method, RequestHead};
use crate::http::query::Query;
use crate::http::response::{Response, CONTENT_TYPE_TEXT};
use crate::limits::*;
use crate::sessions::{SessionError, SessionId};
use crate::views::{self, PageEnd};

/// A `GET /sessions/{id}/log?cursor=N&wait=S` waiting for entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedRead {
    pub session_id: SessionId,
    pub query: LogQuery,
    pub head_only: bool,
    pub deadline_ms: u64,
    /// The request asked to close the connection after its answer.
    pub close_after: bool,
    /// The wake path found it ready: it is answered on its connection's
    /// next visit, within the loop's per-turn budget.
    pub answer_due: bool,
}

/// Where a log read starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogPosition {
    Cursor(u64),
    Offset(u64),
    Tail(u64),
}

/// A parsed log read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogQuery {
    pub position: LogPosition,
    pub limit: usize,
    pub wait_secs: u64,
    pub text: bool,
}

/// Parses the query of a log read.
pub fn parse_log_query(app: &App, query: &str) -> Result<LogQuery, Response> {
    let bad = |message: String| Response::error(400, &message);
    let query = Query::parse(
        query,
        &["cursor", "offset", "limit", "tail", "wait", "format"],
    )
    .map_err(|error| bad(error.message()))?;
    let number = |name| query.number(name).map_err(|error| bad(error.message()));
    let position = match (number("cursor")?, number("offset")?, number("tail")?) {
        (cursor, None, None) => LogPosition::Cursor(cursor.unwrap_or(0)),
        (None, Some(offset), None) => LogPosition::Offset(offset),
        (None, None, Some(tail)) => LogPosition::Tail(tail),
        _ => return Err(bad("use only one of cursor, offset and tail".into())),
    };
    let limit = number("limit")?.map_or(LOG_READ_LIMIT_DEFAULT, |limit| limit as usize);
    let wait_secs = number("wait")?.unwrap_or(0);
    if wait_secs > LONG_POLL_SECS_MAX {
        return Err(bad(format!("wait is at most {LONG_POLL_SECS_MAX} seconds")));
    }
    if wait_secs > 0 && !matches!(position, LogPosition::Cursor(_)) {
        return Err(bad("wait goes with cursor".into()));
    }
    let text = match query.get("format") {
        None => false,
        Some("text") => true,
        Some("json") => false,
        Some(_) => return Err(bad("format must be json or text".into())),
    };
    Ok(LogQuery {
        position,
        limit: limit.min(app.config.log_capacity),
        wait_secs,
        text,
    })
}

pub(super) fn read_log_or_park(
    app: &App,
    head: &RequestHead,
    id: SessionId,
    query: &str,
    now_ms: u64,
) -> Outcome {
    let mut query = match parse_log_query(app, query) {
        Ok(query) => query,
        Err(response) => return Outcome::Answer(response),
    };
    query.text |= wants_text(head.accept.as_deref());
    if let (LogPosition::Cursor(cursor), true) = (query.position, query.wait_secs > 0) {
        let waiting = app
            .sessions
            .get(&id)
            .is_some_and(|session| cursor >= session.log.next_cursor() && session.is_active());
        if waiting {
            let deadline_ms = now_ms + query.wait_secs * 1000;
            let head_only = head.method == Method::Head;
            return Outcome::Park(ParkedRead {
                session_id: id,
                query,
                head_only,
                deadline_ms,
                close_after: false,
                answer_due: false,
            });
        }
    }
    Outcome::Answer(read_log(app, &id, &query))
}

/// `Accept: text/plain` without JSON asks for the text format.
pub(super) fn wants_text(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let mut text = false;
    for media in accept.split(',') {
        let media = trim_ows(media.split(';').next().unwrap_or(""));
        if media.eq_ignore_ascii_case("application/json") {
            return false;
        }
        text |= media.eq_ignore_ascii_case("text/plain");
    }
    text
}

/// Whether a parked read on this session has something to say now.
pub fn parked_read_ready(app: &App, parked: &ParkedRead) -> bool {
    let LogPosition::Cursor(cursor) = parked.query.position else {
        return true;
    };
    match app.sessions.get(&parked.session_id) {
        Some(session) => cursor < session.log.next_cursor() || !session.is_active(),
        None => true,
    }
}

/// What an entry's JSON adds to its record in the ring when nothing needs
/// escaping (keys, cursor, time, level, quotes less the record's header),
/// rounded up: it sizes the buffer of a log page.
pub(super) const ENTRY_JSON_EXTRA_BYTES: usize = 112;

/// One page of a session's log.
pub fn read_log(app: &App, id: &SessionId, query: &LogQuery) -> Response {
    let Some(session) = app.sessions.get(id) else {
        return session_error(&SessionError::NotFound(*id));
    };
    let log = &session.log;
    let (first, next) = (log.first_cursor(), log.next_cursor());
    let (start, dropped) = match query.position {
        LogPosition::Cursor(cursor) if cursor > next => {
            return Response::error(
                400,
                &format!("cursor {cursor} is beyond the log's next cursor {next}"),
            );
        }
        LogPosition::Cursor(cursor) => (cursor.max(first), first.saturating_sub(cursor)),
        LogPosition::Offset(offset) => (first.saturating_add(offset).min(next), 0),
        LogPosition::Tail(tail) => (next - tail.min(next - first), 0),
    };
    let count = ((next - start) as usize).min(query.limit);
    let end = PageEnd {
        cursor: start + count as u64,
        dropped,
        more: start + (count as u64) < next,
        total: log.len(),
    };
    let entries = log.raw_iter_from(start).take(count);
    // Sized from the records held, so that the buffer of a page does not
    // grow (copying it) while it is written.
    let record_bytes_mean = log.record_bytes() / log.len().max(1);
    let capacity = 64 + count * (record_bytes_mean + ENTRY_JSON_EXTRA_BYTES);
    let mut response = Response::json_written(200, capacity, |body| {
        if query.text {
            entries.for_each(|entry| views::write_entry_text(body, &entry));
        } else {
            body.extend_from_slice(b"{\"entries\":");
            views::write_entries_of(body, log, start, count);
            views::write_page_end(body, &end);
        }
    })
    .with_header("X-Cursor", end.cursor.to_string())
    .with_header("X-Dropped", end.dropped.to_string());
    if query.text {
        response.content_type = CONTENT_TYPE_TEXT;
        response = response.with_header("X-More", end.more.to_string());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_choice() {
        assert!(wants_text(Some("text/plain")));
        assert!(!wants_text(Some("application/json, text/plain")));
        assert!(!wants_text(Some("*/*")));
        assert!(!wants_text(None));
    }
}
