//! Routes: a request head and body in, an answer (or a parked read) out.
//!
//! `App` is everything the routes act on: the session table, the config and
//! a few counters. No sockets here; the server calls `plan` when a head is
//! complete (to refuse early, before a body is read) and `finish` when the
//! body is in. Checks run in one fixed order: Host (403), route (404/400),
//! method (405), token (401), Origin (403), content type (415), content
//! coding (415), length (411/413).

mod body_plan;
mod event_stream;
mod guards;
mod log_read;
mod log_write;
mod routes;
mod session_routes;
mod upgrade;

pub use event_stream::{StreamStart, StreamTopic};
pub use log_read::{
    parked_read_ready, parse_log_query, read_log, LogPosition, LogQuery, ParkedRead,
};
pub use log_write::{append_text_lines, appended_answer, next_cursor};
pub use routes::{route, split_target, Route};
pub use session_routes::random_id;

use body_plan::{plan_json_body, plan_log_append};
use event_stream::{plan_list_stream, plan_log_stream, wants_log_stream};
use log_read::read_log_or_park;
use log_write::append_json;
use session_routes::{
    create_session, end_session, get_session, list_sessions, update_session, upsert_session,
};
use upgrade::plan_upgrade;

use crate::assets;
use crate::config::Config;
use crate::http::content_coding::ContentCoding;
use crate::http::head::{Method, RequestHead};
use crate::http::response::Response;
use crate::level::Level;
use crate::limits::*;
use crate::metrics::{self, counters::Counters};
use crate::process_stats::ProcessClock;
use crate::sessions::{SessionError, SessionId, SessionTable, TableConfig};
use crate::views;
use crate::ws_deflate::Deflate;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The server's decision once a head is complete.
#[derive(Debug)]
pub enum Plan {
    /// Answer now. When a body was announced it is not read: the
    /// connection closes after the answer.
    Answer(Response),
    /// Read a body of at most `body_bytes_max` (sent and, when `coding`
    /// is not identity, inflated), then `finish`.
    Buffer {
        route: Route,
        body_bytes_max: u64,
        coding: ContentCoding,
    },
    /// Append a plain-text body to this session's log as its lines arrive.
    TextLog(SessionId),
    /// Send `response` (101) and switch the connection to WebSocket.
    Upgrade {
        response: Vec<u8>,
        echo: bool,
        /// permessage-deflate, when the client offered it acceptably.
        deflate: Option<Deflate>,
    },
    /// Send the head of a Server-Sent Events stream and start it.
    EventStream(StreamStart),
}

/// What `finish` produced.
#[derive(Debug)]
pub enum Outcome {
    Answer(Response),
    /// A log read that waits for entries (`wait=S`).
    Park(ParkedRead),
}

/// Everything the routes act on.
pub struct App {
    pub config: Config,
    pub sessions: SessionTable,
    pub started_ms: u64,
    pub connection_count: usize,
    /// Sessions whose log or state changed since the server last looked:
    /// their parked readers and WebSocket followers are woken.
    pub changed_sessions: Vec<SessionId>,
    /// Sessions created since the server last looked: they get a TTL timer.
    pub created_sessions: Vec<SessionId>,
    /// The OTLP exporter's figures for `/health`, kept by the exporter.
    pub export: Option<views::ExportHealth>,
    /// What `/metrics` counts, bumped where each event happens.
    pub counters: Counters,
    /// The kernel's tick and page sizes and the process start, read once.
    process_clock: ProcessClock,
    /// The `Host` names this server answers to (lowercase, no port).
    host_names: Vec<String>,
}

impl App {
    pub fn new(
        config: Config,
        listen_addr: std::net::SocketAddr,
        server_id: SessionId,
        now_ms: u64,
    ) -> App {
        let table_config = TableConfig {
            sessions_max: config.sessions_max,
            ended_max: config.ended_max,
            log_capacity: config.log_capacity,
            export: config.export.is_some(),
        };
        let mut host_names: Vec<String> =
            vec!["127.0.0.1".into(), "localhost".into(), "[::1]".into()];
        host_names.push(match listen_addr {
            std::net::SocketAddr::V4(addr) => addr.ip().to_string(),
            std::net::SocketAddr::V6(addr) => format!("[{}]", addr.ip()),
        });
        host_names.extend(config.allow_hosts.iter().cloned());
        App {
            sessions: SessionTable::new(table_config, server_id, now_ms),
            config,
            started_ms: now_ms,
            connection_count: 0,
            changed_sessions: Vec::new(),
            created_sessions: Vec::new(),
            export: None,
            counters: Counters::default(),
            process_clock: ProcessClock::read(),
            host_names,
        }
    }

    /// Appends a line to the server's own session log.
    pub fn server_log(&mut self, level: Level, message: &str, now_ms: u64) {
        let server_id = self.sessions.server_id();
        if let Ok(session) = self.sessions.active_mut(&server_id, now_ms) {
            let tally = &mut self.counters.log;
            session
                .log
                .push_tallied(tally, now_ms, level, false, message, None);
            self.mark_changed(server_id);
        }
    }

    pub fn mark_changed(&mut self, id: SessionId) {
        if self.changed_sessions.last() != Some(&id) {
            self.changed_sessions.push(id);
        }
    }

    /// Ended sessions evicted by the table get their readers woken (→ 404).
    fn collect_evicted(&mut self) {
        for id in self.sessions.take_evicted() {
            self.mark_changed(id);
        }
    }
}

pub(super) fn session_error(error: &SessionError) -> Response {
    Response::error(error.status(), &error.message())
}

/// Decides what to do with a complete head, before any body is read.
pub fn plan(app: &App, head: &RequestHead) -> Plan {
    match plan_checked(app, head) {
        Ok(plan) => plan,
        Err(response) => Plan::Answer(response),
    }
}

fn plan_checked(app: &App, head: &RequestHead) -> Result<Plan, Response> {
    if !app.host_allowed(head.host.as_deref()) {
        return Err(Response::error(
            403,
            "Host is not a name of this server (add it with --allow-host)",
        ));
    }
    let (path, query) = split_target(&head.target);
    let route = route(path, app.config.ws_echo)?;
    if !route.allows(head.method) {
        return Err(Response::error(405, "method not allowed on this route")
            .with_header("Allow", route.allowed_methods()));
    }
    if head.method.is_write() {
        if !app.token_ok(head) {
            return Err(Response::error(
                401,
                "missing or wrong token: send Authorization: Bearer TOKEN",
            )
            .with_header("WWW-Authenticate", "Bearer".into()));
        }
        if !app.origin_allowed(head) {
            return Err(Response::error(
                403,
                "Origin is not allowed to write (add it with --allow-origin)",
            ));
        }
    }
    match route {
        Route::WebSocket | Route::WsEcho => plan_upgrade(app, head, route),
        Route::SessionLog(id) if head.method.is_write() => plan_log_append(app, head, id),
        Route::SessionLog(id) if wants_log_stream(head, query) => {
            plan_log_stream(app, head, id, query).map(Plan::EventStream)
        }
        Route::SessionEvents => plan_list_stream(head, query).map(Plan::EventStream),
        _ if head.method.is_write() => plan_json_body(head, route),
        _ => Ok(Plan::Buffer {
            route,
            body_bytes_max: JSON_BODY_BYTES_MAX as u64,
            coding: ContentCoding::Identity,
        }),
    }
}

/// Answers a request whose body (if any) has been read in full.
pub fn finish(
    app: &mut App,
    head: &RequestHead,
    route: Route,
    body: &[u8],
    now_ms: u64,
) -> Outcome {
    let (_, query) = split_target(&head.target);
    let result = match (route, head.method) {
        (Route::Asset(asset), _) => Ok(assets::respond(asset, app.config.www_dir.as_deref(), head)),
        (Route::Health, _) => Ok(health(app, now_ms)),
        (Route::OpenApi, _) => Ok(assets::respond(assets::Asset::OpenApi, None, head)),
        (Route::Metrics, _) => Ok(metrics_answer(app)),
        (Route::SessionList, Method::Post) => create_session(app, body, now_ms),
        (Route::SessionList, _) => list_sessions(app, query),
        (Route::Session(id), Method::Post) => upsert_session(app, id, body, now_ms),
        (Route::Session(id), Method::Put) => update_session(app, id, body, now_ms),
        (Route::Session(id), Method::Delete) => end_session(app, id, body, now_ms),
        (Route::Session(id), _) => get_session(app, &id),
        (Route::SessionLog(id), Method::Post | Method::Put) => {
            append_json(app, head, id, body, now_ms)
        }
        (Route::SessionLog(id), _) => return read_log_or_park(app, head, id, query, now_ms),
        (Route::WebSocket | Route::WsEcho, _) => {
            Err(Response::error(400, "this route needs a WebSocket upgrade"))
        }
        // Planned as a stream, never read as a body.
        (Route::SessionEvents, _) => Err(Response::error(400, "this route is a stream")),
    };
    Outcome::Answer(result.unwrap_or_else(|response| response))
}

fn health(app: &App, now_ms: u64) -> Response {
    let body = views::health_body(&views::Health {
        version: VERSION,
        uptime_s: now_ms.saturating_sub(app.started_ms) / 1000,
        active: app.sessions.active_count(),
        ended: app.sessions.ended_count(),
        connections: app.connection_count,
        export: app.export.as_ref(),
    });
    Response::json(200, body)
}

fn metrics_answer(app: &App) -> Response {
    let held = app.counters.log.bytes_added - app.counters.log.bytes_evicted;
    metrics::answer(&metrics::Readings {
        version: VERSION,
        counters: &app.counters,
        sessions_active: app.sessions.active_count(),
        sessions_ended: app.sessions.ended_count(),
        log_bytes_held: held.saturating_sub(app.sessions.log_bytes_released()),
        connections_open: app.connection_count,
        export: app.export.as_ref(),
        process: app.process_clock.stats(),
    })
}

/// Logs the answer to the server's own session when it refuses something.
pub fn log_refusal_if_error(app: &mut App, head: &RequestHead, response: &Response, now_ms: u64) {
    if response.status >= 400 {
        log_refusal(app, Some(head), response, now_ms);
    }
}

/// Logs a refused request to the server's own session at warn.
pub fn log_refusal(app: &mut App, head: Option<&RequestHead>, response: &Response, now_ms: u64) {
    let reason = serde_json::from_slice::<serde_json::Value>(response.body())
        .ok()
        .and_then(|value| {
            value
                .get("error")
                .and_then(|error| error.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let what = match head {
        Some(head) => {
            let target: String = head.target.chars().take(200).collect();
            format!("{:?} {target}", head.method).to_uppercase()
        }
        None => "request".to_owned(),
    };
    let line = format!("refused {what}: {} {reason}", response.status);
    app.server_log(Level::Warn, &line, now_ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_case_insensitive() {
        let config = crate::config::Config::default();
        let app = App::new(config, "127.0.0.1:1".parse().expect("addr"), [0; 12], 0);
        assert!(app.host_allowed(Some("LocalHost:80")));
        assert!(app.host_allowed(Some("127.0.0.1")));
        assert!(!app.host_allowed(Some("evil.example")));
    }
}
