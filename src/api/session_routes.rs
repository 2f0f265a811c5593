//! The session routes: create, upsert, update, read, list, end.

use super::{session_error, App};
use crate::http::query::Query;
use crate::http::response::Response;
use crate::level::Level;
use crate::sessions::{
    format_id, parse_end_body, parse_session_body, EndReason, ListFilter, SessionError, SessionId,
    Upsert,
};
use crate::views;

pub(super) fn list_sessions(app: &App, query: &str) -> Result<Response, Response> {
    let query =
        Query::parse(query, &["status"]).map_err(|error| Response::error(400, &error.message()))?;
    let filter = match query.get("status") {
        None | Some("active") => ListFilter::Active,
        Some("ended") => ListFilter::Ended,
        Some("all") => ListFilter::All,
        Some(_) => return Err(Response::error(400, "status must be active, ended or all")),
    };
    let sessions = app.sessions.list(filter);
    Ok(Response::json(
        200,
        views::session_list_body(&app.sessions.server_id(), &sessions),
    ))
}

pub(super) fn get_session(app: &App, id: &SessionId) -> Result<Response, Response> {
    let session = app
        .sessions
        .get(id)
        .ok_or_else(|| session_error(&SessionError::NotFound(*id)))?;
    Ok(Response::json(200, views::session_body(session)))
}

pub(super) fn session_answer(app: &App, id: &SessionId, status: u16) -> Response {
    match app.sessions.get(id) {
        Some(session) => Response::json(status, views::session_body(session)),
        None => session_error(&SessionError::NotFound(*id)),
    }
}

pub(super) fn upsert_session(
    app: &mut App,
    id: SessionId,
    body: &[u8],
    now_ms: u64,
) -> Result<Response, Response> {
    let fields = parse_session_body(body).map_err(|error| session_error(&error))?;
    let upsert = app
        .sessions
        .upsert(id, fields, now_ms)
        .map_err(|error| session_error(&error))?;
    app.mark_changed(id);
    let status = match upsert {
        Upsert::Created => {
            app.created_sessions.push(id);
            log_session_event(app, &id, "created", now_ms);
            201
        }
        Upsert::Updated => 200,
    };
    Ok(session_answer(app, &id, status))
}

pub(super) fn log_session_event(app: &mut App, id: &SessionId, event: &str, now_ms: u64) {
    let Some(session) = app.sessions.get(id) else {
        return;
    };
    let line = format!(
        "session {} {event} (appname {:?}, mode {:?})",
        format_id(id),
        session.appname,
        session.mode
    );
    app.server_log(Level::Info, &line, now_ms);
}

pub(super) fn create_session(
    app: &mut App,
    body: &[u8],
    now_ms: u64,
) -> Result<Response, Response> {
    let fields = parse_session_body(body).map_err(|error| session_error(&error))?;
    // A collision of 96 random bits is not expected; a few tries make it
    // a non-event even with a weak random source.
    for _ in 0..4 {
        let id = random_id().map_err(|error| Response::error(503, &error))?;
        match app.sessions.create(id, fields.clone(), now_ms) {
            Ok(()) => {
                app.mark_changed(id);
                app.created_sessions.push(id);
                log_session_event(app, &id, "created", now_ms);
                let location = format!("/sessions/{}", format_id(&id));
                return Ok(session_answer(app, &id, 201).with_header("Location", location));
            }
            Err(SessionError::Exists(_)) => continue,
            Err(error) => return Err(session_error(&error)),
        }
    }
    Err(Response::error(503, "could not pick a free session id"))
}

/// A fresh random OID from the operating system.
pub fn random_id() -> Result<SessionId, String> {
    let mut id = [0u8; 12];
    getrandom::fill(&mut id).map_err(|error| format!("no random source: {error}"))?;
    Ok(id)
}

pub(super) fn update_session(
    app: &mut App,
    id: SessionId,
    body: &[u8],
    now_ms: u64,
) -> Result<Response, Response> {
    let fields = parse_session_body(body).map_err(|error| session_error(&error))?;
    app.sessions
        .update(id, fields, now_ms)
        .map_err(|error| session_error(&error))?;
    app.mark_changed(id);
    Ok(session_answer(app, &id, 200))
}

pub(super) fn end_session(
    app: &mut App,
    id: SessionId,
    body: &[u8],
    now_ms: u64,
) -> Result<Response, Response> {
    let fields = parse_end_body(body).map_err(|error| session_error(&error))?;
    let changed = app
        .sessions
        .end_with(id, fields, now_ms)
        .map_err(|error| session_error(&error))?;
    if changed {
        app.mark_changed(id);
        // A reported reason is the client's string: quoted, like appname.
        let event = match app.sessions.get(&id).and_then(|s| s.end_reason.as_ref()) {
            Some(EndReason::Reported(reason)) => format!("ended (reason {reason:?})"),
            _ => "ended (deleted)".to_owned(),
        };
        log_session_event(app, &id, &event, now_ms);
    }
    let response = session_answer(app, &id, 200);
    app.collect_evicted();
    Ok(response)
}
