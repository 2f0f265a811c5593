//! Planning a Server-Sent Events stream: `GET /sessions/{id}/log` asked
//! for as `text/event-stream` (or `?follow=sse`), and `GET
//! /sessions/events`. Everything that can be refused is refused here,
//! before the stream's `200` head: an unknown session (404), a bad query
//! or `Last-Event-ID`, a cursor beyond the log (400).
//!
//! Where a stream starts: `Last-Event-ID` when the client sends one, else
//! `cursor=` (default 0), else `tail=N`. An `EventSource` reconnects to
//! the URL it was made with, so its `cursor=` is where the first stream
//! started; the header is where the last one stopped, and the spec means
//! it to resume there. A list stream's `Last-Event-ID` is the `seq` of the
//! last list or changes event it got: the server decides when the stream
//! starts whether that is still the current list (`event_streams.rs`).

use super::{session_error, App};
use crate::http::head::{Method, RequestHead};
use crate::http::query::Query;
use crate::http::response::Response;
use crate::limits::*;
use crate::sessions::{SessionError, SessionId};
use crate::sse::{self, Framing};

/// What a stream sends, once planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamTopic {
    /// A session's log from `cursor`, in pages of at most `limit` entries.
    Log {
        session: SessionId,
        cursor: u64,
        limit: usize,
    },
    /// The session list, then its changes. `last_event_id`: the `seq` a
    /// reconnecting client holds the list at.
    Sessions { last_event_id: Option<u64> },
}

/// A stream about to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamStart {
    pub topic: StreamTopic,
    pub framing: Framing,
    /// HEAD: the head of the stream only; the connection stays.
    pub head_only: bool,
}

/// Whether a log read asks for a stream.
pub fn wants_log_stream(head: &RequestHead, query: &str) -> bool {
    sse::wants_event_stream(head.accept.as_deref())
        || query.split('&').any(|pair| pair == "follow=sse")
}

fn bad(message: String) -> Response {
    Response::error(400, &message)
}

/// Plans a log stream for `session`.
pub(super) fn plan_log_stream(
    app: &App,
    head: &RequestHead,
    session: SessionId,
    query: &str,
) -> Result<StreamStart, Response> {
    let query = Query::parse(query, &["cursor", "tail", "limit", "follow"])
        .map_err(|error| bad(error.message()))?;
    match query.get("follow") {
        None | Some("sse") => {}
        Some(_) => return Err(bad("follow must be sse".into())),
    }
    let number = |name| query.number(name).map_err(|error| bad(error.message()));
    let limit = number("limit")?.map_or(LOG_READ_LIMIT_DEFAULT, |limit| limit as usize);
    if limit == 0 {
        return Err(bad("limit must be at least 1 for a stream".into()));
    }
    let (cursor, tail) = (number("cursor")?, number("tail")?);
    if cursor.is_some() && tail.is_some() {
        return Err(bad("use only one of cursor and tail".into()));
    }
    let last_event_id = sse::parse_last_event_id(head.last_event_id.as_deref()).map_err(bad)?;
    let Some(found) = app.sessions.get(&session) else {
        return Err(session_error(&SessionError::NotFound(session)));
    };
    let log = &found.log;
    let (first, next) = (log.first_cursor(), log.next_cursor());
    let cursor = match (last_event_id, cursor, tail) {
        (Some(cursor), _, _) | (None, Some(cursor), _) => cursor,
        (None, None, Some(tail)) => next - tail.min(next - first),
        (None, None, None) => 0,
    };
    if cursor > next {
        return Err(bad(format!(
            "cursor {cursor} is beyond the log's next cursor {next}"
        )));
    }
    Ok(StreamStart {
        topic: StreamTopic::Log {
            session,
            cursor,
            limit: limit.min(app.config.log_capacity),
        },
        framing: Framing::for_version(head.version_minor),
        head_only: head.method == Method::Head,
    })
}

/// Plans `GET /sessions/events`.
pub(super) fn plan_list_stream(head: &RequestHead, query: &str) -> Result<StreamStart, Response> {
    Query::parse(query, &[]).map_err(|error| bad(error.message()))?;
    let last_event_id = sse::parse_last_event_id(head.last_event_id.as_deref()).map_err(bad)?;
    Ok(StreamStart {
        topic: StreamTopic::Sessions { last_event_id },
        framing: Framing::for_version(head.version_minor),
        head_only: head.method == Method::Head,
    })
}
