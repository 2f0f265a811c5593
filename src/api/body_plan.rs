//! What a write's body may be (media type, content coding, framing,
//! length), decided from the head before any of the body is read.

use super::{session_error, App, Plan, Route};
use crate::http::content_coding::{self, ContentCoding, ACCEPTED_CODINGS};
use crate::http::head::{trim_ows, BodyFraming, Method, RequestHead};
use crate::http::response::Response;
use crate::limits::*;
use crate::sessions::{SessionError, SessionId};

/// The kind of a log body, from `Content-Type` (parameters ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LogBodyKind {
    Text,
    Json,
    Ndjson,
}

/// Media types of log bodies, compared without regard to ASCII case (and
/// without a lowercase copy: this runs for every POST of log lines).
pub(super) const LOG_BODY_KINDS: [(&str, LogBodyKind); 7] = [
    ("text/plain", LogBodyKind::Text),
    ("", LogBodyKind::Text),
    // curl -d / --data-binary label their bodies as form data: for a log
    // they are text, and a form is just as cross-site as text/plain (the
    // Origin check covers both).
    ("application/x-www-form-urlencoded", LogBodyKind::Text),
    ("application/json", LogBodyKind::Json),
    ("application/x-ndjson", LogBodyKind::Ndjson),
    ("application/ndjson", LogBodyKind::Ndjson),
    ("application/jsonl", LogBodyKind::Ndjson),
];

pub(super) fn log_body_kind(content_type: Option<&str>) -> Option<LogBodyKind> {
    let Some(content_type) = content_type else {
        return Some(LogBodyKind::Text);
    };
    let media = trim_ows(content_type.split(';').next().unwrap_or(""));
    LOG_BODY_KINDS
        .iter()
        .find(|(name, _)| media.eq_ignore_ascii_case(name))
        .map(|&(_, kind)| kind)
}

pub(super) fn plan_log_append(
    app: &App,
    head: &RequestHead,
    id: SessionId,
) -> Result<Plan, Response> {
    let kind = log_body_kind(head.content_type.as_deref()).ok_or_else(|| {
        Response::error(
            415,
            "log bodies are text/plain, application/json or application/x-ndjson",
        )
    })?;
    let coding = check_coding(head)?;
    check_session_open(app, &id)?;
    if id == app.sessions.server_id() {
        // Its log is the server's own record (starts, refusals, clients);
        // a client line in it could pass for the server's.
        return Err(session_error(&SessionError::ServerSession {
            action: "written to by clients",
        }));
    }
    if head.framing == BodyFraming::None {
        return Err(Response::error(
            411,
            "send the log body with Content-Length or Transfer-Encoding: chunked",
        ));
    }
    // A compressed text body is held until its trailer checks out (see
    // README, "Compressed bodies"): only a plain one streams.
    let body_bytes_max = match (kind, coding) {
        (LogBodyKind::Text, ContentCoding::Identity) => return Ok(Plan::TextLog(id)),
        (LogBodyKind::Text, _) => INFLATED_TEXT_BODY_BYTES_MAX,
        _ => JSON_BODY_BYTES_MAX,
    };
    check_length(head, body_bytes_max)?;
    Ok(Plan::Buffer {
        route: Route::SessionLog(id),
        body_bytes_max: body_bytes_max as u64,
        coding,
    })
}

/// The body's `Content-Encoding`: 415 with the codings we take
/// (`Accept-Encoding`, RFC 7694 3) for any other.
fn check_coding(head: &RequestHead) -> Result<ContentCoding, Response> {
    content_coding::parse_content_encoding(head.content_encoding.as_deref()).map_err(|refusal| {
        Response::error(415, &refusal.message())
            .with_header("Accept-Encoding", ACCEPTED_CODINGS.into())
    })
}

pub(super) fn check_session_open(app: &App, id: &SessionId) -> Result<(), Response> {
    match app.sessions.get(id) {
        None => Err(session_error(&SessionError::NotFound(*id))),
        Some(session) if !session.is_active() => Err(session_error(&SessionError::Ended(*id))),
        Some(_) => Ok(()),
    }
}

pub(super) fn check_length(head: &RequestHead, max: usize) -> Result<(), Response> {
    match head.framing {
        BodyFraming::Length(length) if length > max as u64 => Err(Response::error(
            413,
            &format!("request body exceeds {max} bytes"),
        )),
        _ => Ok(()),
    }
}

pub(super) fn plan_json_body(head: &RequestHead, route: Route) -> Result<Plan, Response> {
    if head.method != Method::Delete {
        let json = head.content_type.as_deref().is_none_or(|content_type| {
            let media = trim_ows(content_type.split(';').next().unwrap_or(""));
            // curl -d labels everything as a form; the body is still JSON.
            media.eq_ignore_ascii_case("application/json")
                || media.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
        if !json {
            return Err(Response::error(415, "session bodies are application/json"));
        }
    }
    let coding = check_coding(head)?;
    check_length(head, JSON_BODY_BYTES_MAX)?;
    Ok(Plan::Buffer {
        route,
        body_bytes_max: JSON_BODY_BYTES_MAX as u64,
        coding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_body_kind_ignores_case_parameters_and_spaces() {
        let cases = [
            (None, Some(LogBodyKind::Text)),
            (Some(""), Some(LogBodyKind::Text)),
            (Some("text/plain"), Some(LogBodyKind::Text)),
            (Some("Text/Plain; charset=utf-8"), Some(LogBodyKind::Text)),
            (Some(" ; charset=utf-8"), Some(LogBodyKind::Text)),
            (
                Some("application/x-www-form-urlencoded"),
                Some(LogBodyKind::Text),
            ),
            (Some("APPLICATION/JSON"), Some(LogBodyKind::Json)),
            (Some("application/json ;x=1"), Some(LogBodyKind::Json)),
            (Some("application/x-ndjson"), Some(LogBodyKind::Ndjson)),
            (Some("application/NDJSON"), Some(LogBodyKind::Ndjson)),
            (Some("application/jsonl"), Some(LogBodyKind::Ndjson)),
            (Some("text/html"), None),
            (Some("text/plainx"), None),
            (Some("application/jsonlines"), None),
        ];
        for (content_type, expected) in cases {
            assert_eq!(log_body_kind(content_type), expected, "{content_type:?}");
        }
    }
}
