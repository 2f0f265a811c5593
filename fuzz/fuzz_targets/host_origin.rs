//! The Host and Origin checks (`App::host_allowed`, `origin_allowed`), reached
//! through `api::plan` on heads from `parse_head`: the input read as a raw
//! request head, and as `HOST\nORIGIN` put into a session create (POST), a
//! WebSocket upgrade, a text log append (PUT, chunked) and a health read.
//!
//! Asserts against a plain reading of the rules (DNS-rebinding and CSRF
//! defences), for a server on 127.0.0.1 with `--allow-host` and
//! `--allow-origin`, and one on an IPv6 address with neither:
//! - a Host is refused (403, before anything else) exactly when it is not
//!   an allowed name, alone or followed by `:` and a port (up to 5 digits);
//!   no Host passes only on HTTP/1.0;
//! - a write or upgrade is never let through with an `Origin` that is not
//!   `http://HOST` or `https://HOST` (case-insensitive, trailing `/` aside)
//!   for the request's own Host, nor an `--allow-origin`; an Origin refusal
//!   only happens on writes and upgrades, and only for such an Origin;
//! - the built requests with an allowed Host and a matching (or no) Origin
//!   are accepted, and a read is never refused for its Origin.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::api::{plan, App, Plan};
use sessions_lite::config::Config;
use sessions_lite::http::head::{parse_head, HeadParse, RequestHead};
use sessions_lite::sessions::{format_id, parse_session_body};

const SERVER_ID: [u8; 12] = [7; 12];
/// A client's session, for the log append (the server's own log takes no
/// client lines: 409).
const CLIENT_ID: [u8; 12] = [9; 12];

/// One server: its App, and the names and origins it must accept.
struct Server {
    app: App,
    host_names: Vec<String>,
    allow_origins: Vec<String>,
}

fn server(listen: &str, allow_hosts: &[&str], allow_origins: &[&str]) -> Server {
    let listen = listen.parse().expect("address");
    let config = Config {
        allow_hosts: allow_hosts.iter().map(|host| host.to_string()).collect(),
        allow_origins: allow_origins
            .iter()
            .map(|origin| origin.to_string())
            .collect(),
        ..Config::default()
    };
    let own = match listen {
        std::net::SocketAddr::V4(addr) => addr.ip().to_string(),
        std::net::SocketAddr::V6(addr) => format!("[{}]", addr.ip()),
    };
    let mut host_names: Vec<String> = ["127.0.0.1", "localhost", "[::1]"].map(String::from).into();
    host_names.push(own);
    host_names.extend(config.allow_hosts.iter().cloned());
    let allow_origins = config.allow_origins.clone();
    let mut app = App::new(config, listen, SERVER_ID, 0);
    let fields = parse_session_body(br#"{"appname":"agent","mode":"batch"}"#).expect("a body");
    app.sessions
        .create(CLIENT_ID, fields, 0)
        .expect("a client session");
    Server {
        allow_origins,
        app,
        host_names,
    }
}

/// Which request a head is, for what the target may expect of it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Built {
    Raw,
    Create,
    Upgrade,
    Append,
    Health,
}

fuzz_target!(|data: &[u8]| {
    let servers = [
        server(
            "127.0.0.1:8558",
            &["build.example"],
            &["https://dash.example"],
        ),
        server("[2001:db8::5]:8558", &[], &[]),
    ];
    let mut heads = Vec::new();
    if let Ok(HeadParse::Complete(head)) = parse_head(data) {
        heads.push((Built::Raw, head));
    }
    let text = String::from_utf8_lossy(data);
    let (host, origin) = match text.split_once('\n') {
        Some((host, origin)) => (host, Some(origin)),
        None => (&*text, None),
    };
    let clean = |field: &str| field.replace(['\r', '\n'], "");
    let origin_line = origin.map_or(String::new(), |origin| {
        format!("Origin: {}\r\n", clean(origin))
    });
    let start =
        |request_line: &str| format!("{request_line}\r\nHost: {}\r\n{origin_line}", clean(host));
    let id = format_id(&CLIENT_ID);
    let built = [
        (Built::Create, start("POST /sessions HTTP/1.1") + "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n"),
        (Built::Upgrade, start("GET /sessions/ws HTTP/1.1") + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
        (Built::Append, start(&format!("PUT /sessions/{id}/log HTTP/1.1")) + "Transfer-Encoding: chunked\r\n\r\n"),
        (Built::Health, start("GET /health HTTP/1.1") + "\r\n"),
    ];
    for (kind, request) in &built {
        if let Ok(HeadParse::Complete(head)) = parse_head(request.as_bytes()) {
            heads.push((*kind, head));
        }
    }
    for server in &servers {
        for (kind, head) in &heads {
            check(server, *kind, head);
        }
    }
});

fn check(server: &Server, kind: Built, head: &RequestHead) {
    let decision = plan(&server.app, head);
    let refused_for = |what: &str| match &decision {
        Plan::Answer(response) if response.status == 403 => {
            String::from_utf8_lossy(response.body()).contains(&format!("{what} is not"))
        }
        _ => false,
    };
    let accepted = !matches!(decision, Plan::Answer(_));
    let host_ok = host_allowed(server, head);
    assert_eq!(
        refused_for("Host"),
        !host_ok,
        "Host {:?}: {decision:?}",
        head.host
    );
    if head.host.is_none() {
        assert_eq!(head.version_minor, 0, "no Host on HTTP/1.1");
    }
    let checks_origin = head.method.is_write() || matches!(decision, Plan::Upgrade { .. });
    let origin_ok = origin_allowed(server, head);
    if accepted && checks_origin {
        assert!(
            origin_ok,
            "Origin {:?} for Host {:?} let through: {decision:?}",
            head.origin, head.host
        );
    }
    if refused_for("Origin") {
        assert!(
            !origin_ok,
            "Origin {:?} for Host {:?} refused",
            head.origin, head.host
        );
        assert!(head.method.is_write() || head.target.starts_with("/sessions/ws"));
    }
    if kind == Built::Health {
        assert!(!refused_for("Origin"), "a read refused for its Origin");
    }
    if kind != Built::Raw && host_ok && (origin_ok || kind == Built::Health) {
        assert!(
            accepted,
            "{:?} / {:?} not accepted: {decision:?}",
            head.host, head.origin
        );
    }
}

/// No Host (HTTP/1.0 only), or an allowed name, alone or with a port
/// (`host [ ":" port ]`, the port at most 5 digits: it is 16 bits).
fn host_allowed(server: &Server, head: &RequestHead) -> bool {
    let Some(host) = &head.host else { return true };
    let host = host.to_ascii_lowercase();
    let port_ok = |port: &str| port.len() <= 5 && port.bytes().all(|byte| byte.is_ascii_digit());
    server
        .host_names
        .iter()
        .any(|name| match host.strip_prefix(name.as_str()) {
            Some("") => true,
            Some(rest) => rest.strip_prefix(':').is_some_and(port_ok),
            None => false,
        })
}

/// No Origin, an `--allow-origin`, or `http(s)://` and the request's Host.
fn origin_allowed(server: &Server, head: &RequestHead) -> bool {
    let Some(origin) = &head.origin else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    if server.allow_origins.iter().any(|allowed| allowed == origin) {
        return true;
    }
    let Some(host) = &head.host else { return false };
    let origin = origin.to_ascii_lowercase();
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority == Some(&host.to_ascii_lowercase())
}
