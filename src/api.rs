//! Routes: a request head and body in, an answer (or a parked read) out.
//!
//! `App` is everything the routes act on: the session table, the config and
//! a few counters. No sockets here; the server calls `plan` when a head is
//! complete (to refuse early, before a body is read) and `finish` when the
//! body is in. Checks run in one fixed order: Host (403), route (404/400),
//! method (405), token (401), Origin (403), content type (415), content
//! coding (415), length (411/413).

use crate::assets::{self, Asset};
use crate::config::Config;
use crate::http::content_coding::{self, ContentCoding, ACCEPTED_CODINGS};
use crate::http::head::{trim_ows, BodyFraming, Method, RequestHead};
use crate::http::query::Query;
use crate::http::response::{Response, CONTENT_TYPE_TEXT};
use crate::ingest::{self, IngestedEntry};
use crate::level::Level;
use crate::limits::*;
use crate::sessions::{
    format_id, parse_end_body, parse_id, parse_session_body, EndReason, ListFilter, SessionError,
    SessionId, SessionTable, TableConfig, Upsert,
};
use crate::views::{self, PageEnd};
use crate::ws_deflate::{self, Deflate};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a request path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Asset(Asset),
    Health,
    SessionList,
    Session(SessionId),
    SessionLog(SessionId),
    WebSocket,
    WsEcho,
}

impl Route {
    fn allowed_methods(self) -> &'static str {
        match self {
            Route::Asset(_) | Route::Health => "GET, HEAD",
            Route::SessionList => "GET, HEAD, POST",
            Route::Session(_) => "GET, HEAD, POST, PUT, DELETE",
            Route::SessionLog(_) => "GET, HEAD, POST, PUT",
            Route::WebSocket | Route::WsEcho => "GET",
        }
    }

    /// The same answer as a look-up in `allowed_methods` (a test checks
    /// that), without splitting a string on every request.
    fn allows(self, method: Method) -> bool {
        match method {
            Method::Get => true,
            Method::Head => !matches!(self, Route::WebSocket | Route::WsEcho),
            Method::Post => matches!(
                self,
                Route::SessionList | Route::Session(_) | Route::SessionLog(_)
            ),
            Method::Put => matches!(self, Route::Session(_) | Route::SessionLog(_)),
            Method::Delete => matches!(self, Route::Session(_)),
            Method::Other => false,
        }
    }
}

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
}

/// What `finish` produced.
#[derive(Debug)]
pub enum Outcome {
    Answer(Response),
    /// A log read that waits for entries (`wait=S`).
    Park(ParkedRead),
}

/// A `GET /sessions/{id}/log?cursor=N&wait=S` waiting for entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedRead {
    pub session_id: SessionId,
    pub query: LogQuery,
    pub head_only: bool,
    pub deadline_ms: u64,
    /// The request asked to close the connection after its answer.
    pub close_after: bool,
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
            host_names,
        }
    }

    /// Appends a line to the server's own session log.
    pub fn server_log(&mut self, level: Level, message: &str, now_ms: u64) {
        let server_id = self.sessions.server_id();
        if let Ok(session) = self.sessions.active_mut(&server_id, now_ms) {
            session.log.push(now_ms, level, false, message, None);
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

    fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            // Only HTTP/1.0 gets here without a Host: nothing to rebind.
            return true;
        };
        // The allowed names are lowercase; compare without a lowercase copy.
        let name = strip_port(host);
        self.host_names
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
    }

    /// No `Origin`, the server's own origin, or an `--allow-origin`.
    fn origin_allowed(&self, head: &RequestHead) -> bool {
        let Some(origin) = &head.origin else {
            return true;
        };
        let origin = origin.trim_end_matches('/');
        if self
            .config
            .allow_origins
            .iter()
            .any(|allowed| allowed == origin)
        {
            return true;
        }
        let Some(host) = &head.host else {
            return false;
        };
        let own = ["http://", "https://"].map(|scheme| format!("{scheme}{host}"));
        own.iter().any(|own| own.eq_ignore_ascii_case(origin))
    }

    fn token_ok(&self, head: &RequestHead) -> bool {
        let Some(token) = &self.config.token else {
            return true;
        };
        let given = head
            .authorization
            .as_deref()
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .unwrap_or("");
        constant_time_eq(given.as_bytes(), token.as_bytes())
    }
}

/// The name part of a `Host` value (`name`, `name:port`, `[v6]`,
/// `[v6]:port`). Anything after the name but a `:` and digits makes the
/// whole value the "name", which then matches no allowed host.
fn strip_port(host: &str) -> &str {
    let name_end = if host.starts_with('[') {
        host.find(']').map_or(host.len(), |end| end + 1)
    } else {
        host.rfind(':').unwrap_or(host.len())
    };
    let rest = &host[name_end..];
    let port_ok = rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|port| port.len() <= 5 && port.bytes().all(|byte| byte.is_ascii_digit()));
    if port_ok {
        &host[..name_end]
    } else {
        host
    }
}

/// Compares without an early exit, so the time taken says nothing about
/// how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for (index, &byte) in b.iter().enumerate() {
        difference |= usize::from(a.get(index).copied().unwrap_or(0) ^ byte);
    }
    difference == 0
}

/// Splits the target into path and query.
pub fn split_target(target: &str) -> (&str, &str) {
    // A byte search: `?` is ASCII, and this runs twice per request.
    match target.bytes().position(|byte| byte == b'?') {
        Some(index) => (&target[..index], &target[index + 1..]),
        None => (target, ""),
    }
}

/// Maps a path to its route; `Err` is the answer (404, or 400 for a bad id).
pub fn route(path: &str, ws_echo: bool) -> Result<Route, Response> {
    if let Some(asset) = assets::lookup(path) {
        return Ok(Route::Asset(asset));
    }
    match path {
        "/health" => return Ok(Route::Health),
        "/sessions" | "/sessions/" => return Ok(Route::SessionList),
        "/sessions/ws" => return Ok(Route::WebSocket),
        "/ws-echo" if ws_echo => return Ok(Route::WsEcho),
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/sessions/") else {
        return Err(not_found(path));
    };
    let (id_text, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let route_of = |id| match tail {
        "" => Ok(Route::Session(id)),
        "log" => Ok(Route::SessionLog(id)),
        _ => Err(not_found(path)),
    };
    match parse_id(id_text) {
        Some(id) => route_of(id),
        None if matches!(tail, "" | "log") => Err(session_error(&SessionError::InvalidId)),
        None => Err(not_found(path)),
    }
}

fn not_found(path: &str) -> Response {
    let shown: String = path.chars().take(200).collect();
    Response::error(404, &format!("no route for {shown}"))
}

fn session_error(error: &SessionError) -> Response {
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
    let (path, _) = split_target(&head.target);
    let route = route(path, app.config.ws_echo)?;
    if !route.allows(head.method) {
        return Err(Response::error(405, "method not allowed on this route")
            .with_header("Allow", route.allowed_methods().to_owned()));
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
        _ if head.method.is_write() => plan_json_body(head, route),
        _ => Ok(Plan::Buffer {
            route,
            body_bytes_max: JSON_BODY_BYTES_MAX as u64,
            coding: ContentCoding::Identity,
        }),
    }
}

/// The kind of a log body, from `Content-Type` (parameters ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogBodyKind {
    Text,
    Json,
    Ndjson,
}

/// Media types of log bodies, compared without regard to ASCII case (and
/// without a lowercase copy: this runs for every POST of log lines).
const LOG_BODY_KINDS: [(&str, LogBodyKind); 7] = [
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

fn log_body_kind(content_type: Option<&str>) -> Option<LogBodyKind> {
    let Some(content_type) = content_type else {
        return Some(LogBodyKind::Text);
    };
    let media = trim_ows(content_type.split(';').next().unwrap_or(""));
    LOG_BODY_KINDS
        .iter()
        .find(|(name, _)| media.eq_ignore_ascii_case(name))
        .map(|&(_, kind)| kind)
}

fn plan_log_append(app: &App, head: &RequestHead, id: SessionId) -> Result<Plan, Response> {
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

fn check_session_open(app: &App, id: &SessionId) -> Result<(), Response> {
    match app.sessions.get(id) {
        None => Err(session_error(&SessionError::NotFound(*id))),
        Some(session) if !session.is_active() => Err(session_error(&SessionError::Ended(*id))),
        Some(_) => Ok(()),
    }
}

fn check_length(head: &RequestHead, max: usize) -> Result<(), Response> {
    match head.framing {
        BodyFraming::Length(length) if length > max as u64 => Err(Response::error(
            413,
            &format!("request body exceeds {max} bytes"),
        )),
        _ => Ok(()),
    }
}

fn plan_json_body(head: &RequestHead, route: Route) -> Result<Plan, Response> {
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

fn plan_upgrade(app: &App, head: &RequestHead, route: Route) -> Result<Plan, Response> {
    if !head.websocket_upgrade || head.version_minor == 0 {
        return Err(Response::error(
            400,
            "this route needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)",
        ));
    }
    if head.websocket_version.as_deref() != Some("13") {
        return Err(
            Response::error(426, "only WebSocket version 13 is supported")
                .with_header("Sec-WebSocket-Version", "13".into()),
        );
    }
    let key = head.websocket_key.as_deref().unwrap_or("");
    if !valid_websocket_key(key) {
        return Err(Response::error(
            400,
            "Sec-WebSocket-Key must be 16 bytes in base64",
        ));
    }
    if head.framing != BodyFraming::None && head.framing != BodyFraming::Length(0) {
        return Err(Response::error(400, "a WebSocket upgrade has no body"));
    }
    if !app.origin_allowed(head) {
        return Err(Response::error(
            403,
            "Origin is not allowed to open a WebSocket (add it with --allow-origin)",
        ));
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let deflate = head
        .websocket_extensions
        .as_deref()
        .and_then(ws_deflate::negotiate);
    let extensions = deflate.map_or(String::new(), |deflate| {
        format!(
            "Sec-WebSocket-Extensions: {}\r\n",
            deflate.response_header()
        )
    });
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n{extensions}\r\n"
    );
    Ok(Plan::Upgrade {
        response: response.into_bytes(),
        echo: route == Route::WsEcho,
        deflate,
    })
}

/// 16 bytes in base64 is 22 characters of the alphabet and `==`.
fn valid_websocket_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes.ends_with(b"==")
        && bytes[..22]
            .iter()
            .all(|&byte| byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/')
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

fn list_sessions(app: &App, query: &str) -> Result<Response, Response> {
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

fn get_session(app: &App, id: &SessionId) -> Result<Response, Response> {
    let session = app
        .sessions
        .get(id)
        .ok_or_else(|| session_error(&SessionError::NotFound(*id)))?;
    Ok(Response::json(200, views::session_body(session)))
}

fn session_answer(app: &App, id: &SessionId, status: u16) -> Response {
    match app.sessions.get(id) {
        Some(session) => Response::json(status, views::session_body(session)),
        None => session_error(&SessionError::NotFound(*id)),
    }
}

fn upsert_session(
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

fn log_session_event(app: &mut App, id: &SessionId, event: &str, now_ms: u64) {
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

fn create_session(app: &mut App, body: &[u8], now_ms: u64) -> Result<Response, Response> {
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

fn update_session(
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

fn end_session(
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

fn append_json(
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

fn append_entries(
    app: &mut App,
    id: SessionId,
    entries: Vec<IngestedEntry>,
    now_ms: u64,
) -> Result<u64, Response> {
    let session = app
        .sessions
        .active_mut(&id, now_ms)
        .map_err(|error| session_error(&error))?;
    for entry in &entries {
        let timestamp_ms = entry.timestamp_ms.unwrap_or(now_ms);
        session.log.push(
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
            session.log.push(now_ms, Level::Info, truncated, line, None);
            count += 1;
        }),
        Err(error) => {
            produce(&mut |_, _| count += 1);
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

fn read_log_or_park(
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
            });
        }
    }
    Outcome::Answer(read_log(app, &id, &query))
}

/// `Accept: text/plain` without JSON asks for the text format.
fn wants_text(accept: Option<&str>) -> bool {
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
const ENTRY_JSON_EXTRA_BYTES: usize = 112;

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
    let entries = log.iter_from(start).take(count);
    // Sized from the records held, so that the buffer of a page does not
    // grow (copying it) while it is written.
    let record_bytes_mean = log.record_bytes() / log.len().max(1);
    let capacity = 64 + count * (record_bytes_mean + ENTRY_JSON_EXTRA_BYTES);
    let mut response = Response::json_written(200, capacity, |body| {
        if query.text {
            entries.for_each(|entry| views::write_entry_text(body, &entry));
        } else {
            body.extend_from_slice(b"{\"entries\":");
            views::write_entries(body, entries);
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
    fn appended_answer_is_json() {
        for (appended, cursor) in [(0, 0), (50, 9_999), (1, u64::MAX), (u64::MAX, u64::MAX)] {
            let answer = appended_answer(appended, cursor);
            let expected = format!("{{\"appended\":{appended},\"cursor\":{cursor}}}\n");
            assert_eq!(answer.body(), expected.as_bytes());
        }
    }

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

    #[test]
    fn allows_agrees_with_allowed_methods() {
        let id = [1; 12];
        let routes = [
            Route::Asset(Asset::Index),
            Route::Health,
            Route::SessionList,
            Route::Session(id),
            Route::SessionLog(id),
            Route::WebSocket,
            Route::WsEcho,
        ];
        let methods = [
            (Method::Get, "GET"),
            (Method::Head, "HEAD"),
            (Method::Post, "POST"),
            (Method::Put, "PUT"),
            (Method::Delete, "DELETE"),
        ];
        for route in routes {
            let listed: Vec<&str> = route.allowed_methods().split(", ").collect();
            for (method, name) in methods {
                assert_eq!(
                    route.allows(method),
                    listed.contains(&name),
                    "{route:?} {name}"
                );
            }
            assert!(!route.allows(Method::Other));
        }
    }

    #[test]
    fn host_names_are_case_insensitive() {
        let config = crate::config::Config::default();
        let app = App::new(config, "127.0.0.1:1".parse().expect("addr"), [0; 12], 0);
        assert!(app.host_allowed(Some("LocalHost:80")));
        assert!(app.host_allowed(Some("127.0.0.1")));
        assert!(!app.host_allowed(Some("evil.example")));
    }

    #[test]
    fn host_port_is_stripped() {
        assert_eq!(strip_port("localhost:8558"), "localhost");
        assert_eq!(strip_port("[::1]:8558"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("127.0.0.1"), "127.0.0.1");
    }

    /// Found by fuzzing (seeds `host-port-junk`, `host-bracket-junk`): the
    /// port was cut off without looking at it, so `localhost:evil` and
    /// `[::1]evil.example` passed the DNS-rebinding check.
    #[test]
    fn junk_after_an_allowed_host_name_is_not_that_name() {
        assert_eq!(strip_port("localhost:evil"), "localhost:evil");
        assert_eq!(strip_port("[::1]evil.example"), "[::1]evil.example");
        assert_eq!(strip_port("localhost:"), "localhost");
        assert_eq!(strip_port("localhost:123456"), "localhost:123456");
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"secretx", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
    }

    #[test]
    fn websocket_keys() {
        assert!(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!valid_websocket_key(""));
        assert!(!valid_websocket_key("dGhlIHNhbXBsZSBub25j!Q=="));
    }

    #[test]
    fn accept_header_choice() {
        assert!(wants_text(Some("text/plain")));
        assert!(!wants_text(Some("application/json, text/plain")));
        assert!(!wants_text(Some("*/*")));
        assert!(!wants_text(None));
    }

    #[test]
    fn routes() {
        assert!(matches!(route("/health", false), Ok(Route::Health)));
        assert!(matches!(route("/sessions/", false), Ok(Route::SessionList)));
        assert!(matches!(route("/sessions/ws", false), Ok(Route::WebSocket)));
        assert!(route("/ws-echo", false).is_err());
        assert!(matches!(
            route("/sessions/5F0A1B2C3D4E5F60718293A4/log", false),
            Ok(Route::SessionLog(_))
        ));
        let bad_id = route("/sessions/xyz", false)
            .err()
            .map(|response| response.status);
        assert_eq!(bad_id, Some(400));
        let deeper = route("/sessions/5f0a1b2c3d4e5f60718293a4/other", false)
            .err()
            .map(|response| response.status);
        assert_eq!(deeper, Some(404));
    }
}
