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
    /// The OpenAPI document of this binary, `docs/openapi.json`.
    OpenApi,
    /// Prometheus metrics (`src/metrics/`).
    Metrics,
    SessionList,
    Session(SessionId),
    SessionLog(SessionId),
    /// `GET /sessions/events`: the session list as Server-Sent Events.
    SessionEvents,
    WebSocket,
    WsEcho,
}

impl Route {
    /// The methods each route answers: the one place they are said (the
    /// check before a 405, its `Allow` header and the OpenAPI test all
    /// read it).
    pub fn methods(self) -> &'static [Method] {
        use Method::{Delete, Get, Head, Post, Put};
        match self {
            Route::Asset(_)
            | Route::Health
            | Route::OpenApi
            | Route::Metrics
            | Route::SessionEvents => &[Get, Head],
            Route::SessionList => &[Get, Head, Post],
            Route::Session(_) => &[Get, Head, Post, Put, Delete],
            Route::SessionLog(_) => &[Get, Head, Post, Put],
            Route::WebSocket | Route::WsEcho => &[Get],
        }
    }

    pub fn allows(self, method: Method) -> bool {
        self.methods().contains(&method)
    }

    /// The `Allow` header's value (only a 405 needs it).
    pub fn allowed_methods(self) -> String {
        let names: Vec<&str> = self.methods().iter().map(|method| method.name()).collect();
        names.join(", ")
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
    if let Some(&(_, fixed)) = FIXED_PATHS.iter().find(|(name, _)| *name == path) {
        if fixed != Route::WsEcho || ws_echo {
            return Ok(fixed);
        }
    }
    let Some(rest) = path.strip_prefix(SESSION_PREFIX) else {
        return Err(not_found(path));
    };
    let (id_text, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(&(_, route_of)) = ID_TAILS.iter().find(|(name, _)| *name == tail) else {
        return Err(not_found(path));
    };
    match parse_id(id_text) {
        Some(id) => Ok(route_of(id)),
        None => Err(session_error(&SessionError::InvalidId)),
    }
}

/// Paths without an id, as `route` matches them (after the dashboard's,
/// `assets::PATHS`). `/ws-echo` only with `--ws-echo`.
pub(super) const FIXED_PATHS: [(&str, Route); 8] = [
    ("/health", Route::Health),
    ("/metrics", Route::Metrics),
    ("/openapi.json", Route::OpenApi),
    ("/sessions", Route::SessionList),
    ("/sessions/", Route::SessionList),
    ("/sessions/ws", Route::WebSocket),
    ("/sessions/events", Route::SessionEvents),
    ("/ws-echo", Route::WsEcho),
];

/// Paths with an id are `SESSION_PREFIX`, the id, then one of `ID_TAILS`
/// (`""`: nothing more; `"log"`: `/log`).
const SESSION_PREFIX: &str = "/sessions/";
type IdRoute = fn(SessionId) -> Route;
const ID_TAILS: [(&str, IdRoute); 2] = [("", Route::Session), ("log", Route::SessionLog)];

pub(super) fn not_found(path: &str) -> Response {
    let shown: String = path.chars().take(200).collect();
    Response::error(404, &format!("no route for {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_header_lists_exactly_the_allowed_methods() {
        let id = [1; 12];
        let expected = [
            (Route::Asset(Asset::Index), "GET, HEAD"),
            (Route::Health, "GET, HEAD"),
            (Route::OpenApi, "GET, HEAD"),
            (Route::Metrics, "GET, HEAD"),
            (Route::SessionList, "GET, HEAD, POST"),
            (Route::Session(id), "GET, HEAD, POST, PUT, DELETE"),
            (Route::SessionLog(id), "GET, HEAD, POST, PUT"),
            (Route::SessionEvents, "GET, HEAD"),
            (Route::WebSocket, "GET"),
            (Route::WsEcho, "GET"),
        ];
        let methods = [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Delete,
        ];
        for (route, allow) in expected {
            assert_eq!(route.allowed_methods(), allow, "{route:?}");
            let listed: Vec<&str> = allow.split(", ").collect();
            for method in methods {
                assert_eq!(route.allows(method), listed.contains(&method.name()));
            }
            assert!(!route.allows(Method::Other));
        }
    }

    /// Every route the router has, by the path templates that reach it.
    /// No wildcard: a new `Route` does not compile until it is here, and
    /// so in `docs/openapi.json` (`router_paths_and_the_openapi_document_agree`).
    fn openapi_paths(route: Route) -> Vec<&'static str> {
        let fixed = |wanted: Route| -> Vec<&'static str> {
            FIXED_PATHS
                .iter()
                .filter(|(_, fixed)| *fixed == wanted)
                .map(|&(path, _)| path)
                .collect()
        };
        match route {
            Route::Asset(asset) => assets::PATHS
                .iter()
                .filter(|(_, named)| *named == asset)
                .map(|&(path, _)| path)
                .collect(),
            Route::Health
            | Route::OpenApi
            | Route::Metrics
            | Route::SessionEvents
            | Route::SessionList
            | Route::WebSocket
            | Route::WsEcho => fixed(route),
            Route::Session(_) => vec!["/sessions/{id}"],
            Route::SessionLog(_) => vec!["/sessions/{id}/log"],
        }
    }

    const OPENAPI_METHODS: [&str; 8] = [
        "get", "head", "post", "put", "delete", "patch", "options", "trace",
    ];

    /// The router's paths (the dashboard's, the fixed ones, and one per
    /// id tail) and the document's `paths` are the same set, and each
    /// path's operations are exactly the methods its route allows.
    #[test]
    fn router_paths_and_the_openapi_document_agree() {
        let document_path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
        let text = std::fs::read_to_string(document_path).expect("docs/openapi.json");
        let document: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let documented = document["paths"].as_object().expect("paths");
        let sample_id = "5f0a1b2c3d4e5f60718293a4";
        let id_paths = ID_TAILS.iter().map(|(tail, _)| match *tail {
            "" => "/sessions/{id}".to_owned(),
            tail => format!("/sessions/{{id}}/{tail}"),
        });
        let router_paths: Vec<String> = assets::PATHS
            .iter()
            .map(|(path, _)| path.to_string())
            .chain(FIXED_PATHS.iter().map(|(path, _)| path.to_string()))
            .chain(id_paths)
            .collect();
        for template in &router_paths {
            let concrete = template.replace("{id}", sample_id);
            let routed = route(&concrete, true).unwrap_or_else(|_| panic!("{concrete} routes"));
            assert!(
                openapi_paths(routed).contains(&template.as_str()),
                "{template} → {routed:?}"
            );
            let item = documented
                .get(template.as_str())
                .unwrap_or_else(|| panic!("docs/openapi.json has no path {template}"));
            let mut described: Vec<String> = OPENAPI_METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(|method| method.to_uppercase())
                .collect();
            let mut allowed: Vec<String> = routed
                .allowed_methods()
                .split(", ")
                .map(str::to_owned)
                .collect();
            described.sort();
            allowed.sort();
            assert_eq!(described, allowed, "methods of {template}");
        }
        for template in documented.keys() {
            assert!(
                router_paths.contains(template),
                "docs/openapi.json describes {template}, which no route answers"
            );
        }
    }

    #[test]
    fn openapi_document_names_this_version() {
        let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"));
        let document: serde_json::Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn routes() {
        assert!(matches!(route("/health", false), Ok(Route::Health)));
        assert!(matches!(route("/metrics", false), Ok(Route::Metrics)));
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
