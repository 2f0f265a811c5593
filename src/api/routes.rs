//! What a request path names, and the methods each route allows.

use super::session_error;
use crate::assets::{self, Asset};
use crate::http::head::Method;
use crate::http::response::Response;
use crate::sessions::{parse_id, SessionError, SessionId};

/// What a request path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Asset(Asset),
    Health,
    SessionList,
    Session(SessionId),
    SessionLog(SessionId),
    /// `GET /sessions/events`: the session list as Server-Sent Events.
    SessionEvents,
    WebSocket,
    WsEcho,
}

impl Route {
    pub(super) fn allowed_methods(self) -> &'static str {
        match self {
            Route::Asset(_) | Route::Health | Route::SessionEvents => "GET, HEAD",
            Route::SessionList => "GET, HEAD, POST",
            Route::Session(_) => "GET, HEAD, POST, PUT, DELETE",
            Route::SessionLog(_) => "GET, HEAD, POST, PUT",
            Route::WebSocket | Route::WsEcho => "GET",
        }
    }

    /// The same answer as a look-up in `allowed_methods` (a test checks
    /// that), without splitting a string on every request.
    pub(super) fn allows(self, method: Method) -> bool {
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
        "/sessions/events" => return Ok(Route::SessionEvents),
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

pub(super) fn not_found(path: &str) -> Response {
    let shown: String = path.chars().take(200).collect();
    Response::error(404, &format!("no route for {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_agrees_with_allowed_methods() {
        let id = [1; 12];
        let routes = [
            Route::Asset(Asset::Index),
            Route::Health,
            Route::SessionList,
            Route::Session(id),
            Route::SessionLog(id),
            Route::SessionEvents,
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
    fn routes() {
        assert!(matches!(route("/health", false), Ok(Route::Health)));
        assert!(matches!(route("/sessions/", false), Ok(Route::SessionList)));
        assert!(matches!(route("/sessions/ws", false), Ok(Route::WebSocket)));
        assert!(matches!(
            route("/sessions/events", false),
            Ok(Route::SessionEvents)
        ));
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
