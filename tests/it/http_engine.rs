//! The HTTP engine: framing, limits, keep-alive, pipelining, deadlines,
//! Host/Origin checks.

use crate::support::*;
use sessions_lite::limits::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const HOST: &str = "Host: 127.0.0.1\r\n";

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|reply| reply.status).collect()
}

#[test]
fn health_answers_with_the_contract_fields() {
    let server = TestServer::start(&[]);
    let reply = server.get("/health");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
    let date = reply.header("Date").expect("Date header");
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    let json = reply.json();
    assert_eq!(json["status"], "ok");
    assert!(json["version"].is_string());
    assert!(json["uptime_s"].is_u64());
    assert_eq!(
        json["sessions"]["active"], 1,
        "the server's own session is active"
    );
    assert_eq!(json["sessions"]["ended"], 0);
    assert_eq!(json["connections"], 1);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    let mut buffered = Vec::new();
    for _ in 0..5 {
        stream
            .write_all(format!("GET /health HTTP/1.1\r\n{HOST}\r\n").as_bytes())
            .expect("send");
        let reply = read_one(&mut stream, &mut buffered).expect("reply");
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("Connection"), None);
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(&[]);
    let mut raw = String::new();
    for path in ["/health", "/nope", "/sessions/", "/health"] {
        raw.push_str(&format!("GET {path} HTTP/1.1\r\n{HOST}\r\n"));
    }
    raw.push_str(&format!(
        "GET /health HTTP/1.1\r\n{HOST}Connection: close\r\n\r\n"
    ));
    let (replies, closed) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(statuses(&replies), vec![200, 404, 200, 200, 200]);
    assert!(closed);
    assert_eq!(replies[4].header("Connection"), Some("close"));
}

#[test]
fn http10_closes_unless_keep_alive() {
    let server = TestServer::start(&[]);
    let (replies, closed) = exchange_raw(&server, b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(statuses(&replies), vec![200]);
    assert!(closed);
    let raw = b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /health HTTP/1.0\r\n\r\n";
    let (replies, _) = exchange_raw(&server, raw);
    assert_eq!(statuses(&replies), vec![200, 200]);
}

/// Each framing error: answered once with the status, `Connection: close`,
/// and nothing after it (the smuggled request is never answered).
#[test]
fn framing_errors_answer_once_and_close() {
    let server = TestServer::start(&[]);
    let smuggled = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let cases: &[(&str, u16)] = &[
        ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400),
        ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400),
        ("Content-Length: 5\r\nContent-Length: 5\r\n", 400),
        ("Content-Length: 5\r\nContent-Length: 6\r\n", 400),
        ("Content-Length: -5\r\n", 400),
        ("Content-Length: 5a\r\n", 400),
        ("Transfer-Encoding: gzip\r\n", 501),
        ("Transfer-Encoding: gzip, chunked\r\n", 501),
        ("Transfer-Encoding: chunked, chunked\r\n", 400),
        ("X-Folded: a\r\n  b\r\n", 400),
        ("X-Bare: a\rb\r\n", 400),
        ("Expect: teapot\r\n", 417),
    ];
    for (headers, status) in cases {
        let raw = format!("POST /sessions/ HTTP/1.1\r\n{HOST}{headers}\r\n{smuggled}");
        let (replies, closed) = exchange_raw(&server, raw.as_bytes());
        assert_eq!(statuses(&replies), vec![*status], "headers {headers:?}");
        assert_eq!(
            replies[0].header("Connection"),
            Some("close"),
            "{headers:?}"
        );
        assert!(closed, "{headers:?}");
        assert!(!replies[0].error().is_empty());
    }
}

#[test]
fn missing_or_duplicate_host_is_400() {
    let server = TestServer::start(&[]);
    let (replies, _) = exchange_raw(&server, b"GET /health HTTP/1.1\r\n\r\n");
    assert_eq!(statuses(&replies), vec![400]);
    let (replies, _) = exchange_raw(
        &server,
        b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    );
    assert_eq!(statuses(&replies), vec![400]);
}

#[test]
fn smuggling_cl_te_never_answers_twice() {
    let server = TestServer::start(&[]);
    // CL.TE: the body holds what would be a second request.
    let inner = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let raw = format!(
        "POST /sessions/ HTTP/1.1\r\n{HOST}Content-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{inner}",
        inner.len() + 5
    );
    let (replies, closed) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(statuses(&replies), vec![400]);
    assert!(closed);
}

#[test]
fn request_in_a_body_is_not_a_request() {
    let server = TestServer::start(&[]);
    let id = server.create_session("body-test");
    let inner = "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let raw = format!(
        "POST /sessions/{id}/log HTTP/1.1\r\n{HOST}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{inner}\
         GET /health HTTP/1.1\r\n{HOST}Connection: close\r\n\r\n",
        inner.len()
    );
    let (replies, _) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(statuses(&replies), vec![200, 200]);
    assert_eq!(replies[0].json()["appended"], 2);
}

#[test]
fn chunked_bodies_are_decoded() {
    let server = TestServer::start(&[]);
    let id = server.create_session("chunked");
    let raw = format!(
        "POST /sessions/{id}/log HTTP/1.1\r\n{HOST}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\n{{\"mes\r\n11;ext=1\r\nsage\":\"hello\"}}   \r\n0\r\nX-Trailer: ok\r\n\r\n\
         GET /sessions/{id}/log HTTP/1.1\r\n{HOST}Connection: close\r\n\r\n"
    );
    let (replies, _) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(statuses(&replies), vec![200, 200]);
    assert_eq!(replies[1].json()["entries"][0]["message"], "hello");
}

#[test]
fn chunk_size_line_and_body_limits() {
    let server = TestServer::start(&[]);
    let id = server.create_session("chunk-limits");
    let long_ext = format!("1;{}\r\n", "e".repeat(CHUNK_LINE_BYTES_MAX));
    let raw = format!(
        "POST /sessions/{id}/log HTTP/1.1\r\n{HOST}Transfer-Encoding: chunked\r\n\r\n{long_ext}"
    );
    let (replies, closed) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(statuses(&replies), vec![400]);
    assert!(closed);
    // A JSON chunk that says it is larger than the JSON body limit: 413
    // before any of it is read.
    let raw = format!(
        "POST /sessions/{id}/log HTTP/1.1\r\n{HOST}Content-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        JSON_BODY_BYTES_MAX + 1
    );
    let (replies, _) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(statuses(&replies), vec![413]);
}

#[test]
fn json_body_length_at_the_limit() {
    let server = TestServer::start(&[]);
    let id = server.create_session("json-limit");
    let path = format!("/sessions/{id}/log");
    let body_of = |size: usize| {
        let start = "{\"message\":\"";
        let end = "\"}";
        format!("{start}{}{end}", "m".repeat(size - start.len() - end.len()))
    };
    for size in [JSON_BODY_BYTES_MAX - 1, JSON_BODY_BYTES_MAX] {
        let reply = server.request(
            "POST",
            &path,
            &[("Content-Type", "application/json")],
            body_of(size).as_bytes(),
        );
        assert_eq!(reply.status, 200, "size {size}: {}", reply.text());
    }
    // Over the limit: refused from the Content-Length alone.
    let mut stream = server.connect();
    let head = format!(
        "POST {path} HTTP/1.1\r\n{HOST}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        JSON_BODY_BYTES_MAX + 1
    );
    stream.write_all(head.as_bytes()).expect("send");
    let reply = read_reply(&mut stream).expect("reply");
    assert_eq!(reply.status, 413);
}

#[test]
fn expect_100_continue_is_answered_at_once() {
    let server = TestServer::start(&[]);
    let id = server.create_session("continue");
    let mut stream = server.connect();
    let body = "x".repeat(2000);
    let head = format!(
        "POST /sessions/{id}/log HTTP/1.1\r\n{HOST}Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send");
    let mut buffered = Vec::new();
    let interim = read_one(&mut stream, &mut buffered).expect("100");
    assert_eq!(interim.status, 100);
    stream.write_all(body.as_bytes()).expect("body");
    let reply = read_one(&mut stream, &mut buffered).expect("200");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["appended"], 1);
}

#[test]
fn refused_expect_gets_no_100() {
    let server = TestServer::start(&[]);
    let mut stream = server.connect();
    let head = format!(
        "POST /sessions/{}/log HTTP/1.1\r\n{HOST}Content-Length: 10\r\nExpect: 100-continue\r\n\r\n",
        "0".repeat(24)
    );
    stream.write_all(head.as_bytes()).expect("send");
    let mut buffered = Vec::new();
    let reply = read_one(&mut stream, &mut buffered).expect("reply");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("Connection"), Some("close"));
}

#[test]
fn curl_large_body_does_not_stall() {
    if !has_curl() {
        panic!("curl is required for the black-box tests (make test installs it)");
    }
    let server = TestServer::start(&[]);
    let id = server.create_session("curl");
    let body: String = (0..200)
        .map(|index| format!("line {index} {}\n", "x".repeat(20)))
        .collect();
    let started = Instant::now();
    let output = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-H",
            "Content-Type: text/plain",
            "--data-binary",
            &body,
        ])
        .arg(server.url(&format!("/sessions/{id}/log")))
        .output()
        .expect("curl");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["appended"], 200);
    // curl waits a whole second for a 100 that never comes; one came.
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn head_size_limit_edges() {
    let server = TestServer::start(&[]);
    let head_of_size = |size: usize| {
        let start = format!("GET /health HTTP/1.1\r\n{HOST}X-Pad: ");
        format!("{start}{}\r\n\r\n", "a".repeat(size - start.len() - 4))
    };
    for size in [HEAD_BYTES_MAX - 1, HEAD_BYTES_MAX] {
        let (replies, _) = exchange_raw(&server, head_of_size(size).as_bytes());
        assert_eq!(statuses(&replies), vec![200], "size {size}");
    }
    let (replies, closed) = exchange_raw(&server, head_of_size(HEAD_BYTES_MAX + 1).as_bytes());
    assert_eq!(statuses(&replies), vec![431]);
    assert!(closed);
}

#[test]
fn uri_limit_is_414() {
    let server = TestServer::start(&[]);
    let raw = format!("GET /{} HTTP/1.1\r\n{HOST}\r\n", "a".repeat(URI_BYTES_MAX));
    let (replies, _) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(statuses(&replies), vec![414]);
    let raw = format!(
        "GET /{} HTTP/1.1\r\n{HOST}\r\n",
        "a".repeat(URI_BYTES_MAX - 1)
    );
    let (replies, _) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(statuses(&replies), vec![404]);
}

#[test]
fn header_count_limit_edges() {
    let server = TestServer::start(&[]);
    let with_headers = |count: usize| {
        let mut raw = format!("GET /health HTTP/1.1\r\n{HOST}");
        for index in 1..count {
            raw.push_str(&format!("X-{index}: v\r\n"));
        }
        raw + "Connection: close\r\n\r\n"
    };
    // Host + Connection are two of the count.
    for (count, status) in [
        (HEADERS_MAX - 2, 200),
        (HEADERS_MAX - 1, 200),
        (HEADERS_MAX, 431),
    ] {
        let (replies, _) = exchange_raw(&server, with_headers(count).as_bytes());
        assert_eq!(
            statuses(&replies),
            vec![status],
            "{count} headers + Connection"
        );
    }
}

#[test]
fn unknown_path_404_and_wrong_method_405_with_allow() {
    let server = TestServer::start(&[]);
    let reply = server.get("/nope");
    assert_eq!(reply.status, 404);
    assert!(!reply.error().is_empty());
    let reply = server.request("DELETE", "/health", &[], b"");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("Allow"), Some("GET, HEAD"));
    let reply = server.request("PATCH", "/sessions/", &[], b"");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("Allow"), Some("GET, HEAD, POST"));
}

#[test]
fn head_requests_get_headers_only() {
    let server = TestServer::start(&[]);
    let raw = format!("HEAD /health HTTP/1.1\r\n{HOST}\r\nGET /health HTTP/1.1\r\n{HOST}Connection: close\r\n\r\n");
    let mut stream = server.connect();
    stream.write_all(raw.as_bytes()).expect("send");
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2);
    // The HEAD answer is followed directly by the second status line.
    let first_end = text.find("\r\n\r\n").expect("head") + 4;
    assert!(text[first_end..].starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn foreign_host_is_403_on_every_route() {
    let server = TestServer::start(&["--allow-host", "build.example"]);
    for path in ["/health", "/", "/sessions/", "/nope"] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
        let (replies, _) = exchange_raw(&server, raw.as_bytes());
        assert_eq!(statuses(&replies), vec![403], "{path}");
    }
    let raw = "GET /health HTTP/1.1\r\nHost: build.example:8558\r\nConnection: close\r\n\r\n";
    let (replies, _) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(statuses(&replies), vec![200]);
    for host in ["localhost", "localhost:1", "[::1]:8558", "127.0.0.1"] {
        let raw = format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let (replies, _) = exchange_raw(&server, raw.as_bytes());
        assert_eq!(statuses(&replies), vec![200], "{host}");
    }
}

#[test]
fn foreign_origin_cannot_write() {
    let server = TestServer::start(&["--allow-origin", "http://dash.example"]);
    let body = br#"{"appname":"a","mode":"b"}"#;
    let json = ("Content-Type", "application/json");
    let reply = server.request(
        "POST",
        "/sessions/",
        &[json, ("Origin", "http://evil.example")],
        body,
    );
    assert_eq!(reply.status, 403);
    let reply = server.request(
        "POST",
        "/sessions/",
        &[("Content-Type", "text/plain"), ("Origin", "null")],
        body,
    );
    assert_eq!(reply.status, 403);
    // Reads stay open to any origin; own origin and allowed origins write.
    let reply = server.request(
        "GET",
        "/sessions/",
        &[("Origin", "http://evil.example")],
        b"",
    );
    assert_eq!(reply.status, 200);
    let reply = server.request(
        "POST",
        "/sessions/",
        &[json, ("Origin", "http://127.0.0.1")],
        body,
    );
    assert_eq!(reply.status, 201);
    let reply = server.request(
        "POST",
        "/sessions/",
        &[json, ("Origin", "http://dash.example")],
        body,
    );
    assert_eq!(reply.status, 201);
    assert_eq!(
        server.get("/sessions/").json()["sessions"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    // Two Origin headers, an allowed one last: refused whole (400), not
    // judged by whichever one a parser happens to keep.
    let (replies, closed) = exchange_raw(
        &server,
        format!(
            "POST /sessions/ HTTP/1.1\r\n{HOST}Origin: http://evil.example\r\n\
             Origin: http://dash.example\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{}",
            body.len(),
            String::from_utf8_lossy(body)
        )
        .as_bytes(),
    );
    assert_eq!(statuses(&replies), vec![400]);
    assert!(replies[0].error().contains("more than one Origin header"));
    assert!(closed);
}

#[test]
fn slowloris_head_is_cut_at_the_deadline_while_others_are_served() {
    let server = TestServer::start(&[]);
    let mut slow = server.connect();
    slow.write_all(b"GET /health HTTP/1.1\r\n").expect("start");
    let started = Instant::now();
    let mut answered_during = 0;
    // Trickle a byte every half second; meanwhile others are served.
    let mut closed_after = None;
    while started.elapsed() < Duration::from_millis(HEAD_TIMEOUT_MS + 5_000) {
        if slow.write_all(b"X").is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        if server.get("/health").status == 200 {
            answered_during += 1;
        }
        std::thread::sleep(Duration::from_millis(500));
        slow.set_read_timeout(Some(Duration::from_millis(1)))
            .expect("timeout");
        let mut buffer = [0u8; 512];
        if let Ok(count) = slow.read(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..count]).into_owned();
            if count > 0 {
                assert!(text.starts_with("HTTP/1.1 408"), "{text}");
            }
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the slow head was closed");
    assert!(
        closed_after >= Duration::from_millis(HEAD_TIMEOUT_MS - 1_000),
        "{closed_after:?}"
    );
    assert!(answered_during >= 10);
}

#[test]
fn connections_beyond_the_limit_are_closed_at_once() {
    let server = TestServer::start(&["--max-connections", "4"]);
    let held: Vec<_> = (0..4).map(|_| server.connect()).collect();
    // Make sure all four are accepted before the fifth.
    assert!(eventually(Duration::from_secs(5), || {
        let mut stream = server.connect();
        let mut buffer = [0u8; 1];
        matches!(stream.read(&mut buffer), Ok(0))
    }));
    drop(held);
    assert!(eventually(Duration::from_secs(5), || {
        server
            .try_request("GET", "/health", &[], b"")
            .is_some_and(|reply| reply.status == 200)
    }));
}

#[test]
fn listen_backlog_is_the_limit() {
    let server = TestServer::start(&[]);
    let (backlog, note) = expected_backlog();
    let listen = listen_queue(server.addr);
    assert_eq!(listen.backlog, backlog, "{note}; ss: {listen:?}");
}

#[test]
fn dashboard_is_served_from_memory_with_etag_and_csp() {
    let server = TestServer::start(&[]);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("Content-Security-Policy").expect("CSP");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(page.text().contains("app.js"));
    for (path, content_type) in [("/app.js", "text/javascript"), ("/style.css", "text/css")] {
        let reply = server.get(path);
        assert_eq!(reply.status, 200, "{path}");
        assert!(
            reply
                .header("Content-Type")
                .unwrap_or("")
                .starts_with(content_type),
            "{path}"
        );
        let etag = reply.header("ETag").expect("ETag").to_owned();
        let again = server.request("GET", path, &[("If-None-Match", &etag)], b"");
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        // RFC 9110 8.6: no Content-Length unless it is the 200's.
        assert_eq!(again.header("Content-Length"), None, "{path}");
        assert_eq!(again.header("ETag"), Some(etag.as_str()), "{path}");
        // A list of tags, compared weakly (RFC 9110 13.1.2).
        let listed = format!("\"stale\", W/{etag}");
        let again = server.request("GET", path, &[("If-None-Match", &listed)], b"");
        assert_eq!(again.status, 304, "{path} {listed}");
        let stale = server.request("GET", path, &[("If-None-Match", "\"stale\"")], b"");
        assert_eq!(stale.status, 200, "{path}");
    }
}

/// One exchange through `curl -i` with `args`: status, headers as sent,
/// and the body as curl hands it on (decoded when `--compressed`).
fn curl(server: &TestServer, path: &str, args: &[&str]) -> Reply {
    let output = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "-i"])
        .args(args)
        .arg(server.url(path))
        .output()
        .expect("curl");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "curl {args:?} {path}: {stderr}");
    let head_end = find(&output.stdout, b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&output.stdout[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok());
    Reply {
        status: status.unwrap_or_else(|| panic!("status line {status_line:?}")),
        headers: lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect(),
        body: output.stdout[head_end..].to_vec(),
    }
}

fn content_length(reply: &Reply) -> usize {
    let value = reply.header("Content-Length").expect("Content-Length");
    value.parse().expect("decimal Content-Length")
}

/// What a client gets for `path` with and without gzip: the same bytes as
/// `www/file_name`, each representation with its own ETag that revalidates.
fn check_dashboard_file_over_curl(server: &TestServer, path: &str, file_name: &str) {
    let www = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let on_disk = std::fs::read(www.join(file_name)).expect("www file");
    let plain = curl(server, path, &[]);
    assert_eq!(plain.status, 200, "{path}");
    assert_eq!(plain.header("Content-Encoding"), None, "{path}");
    assert_eq!(plain.header("Vary"), Some("Accept-Encoding"), "{path}");
    assert!(
        plain.body == on_disk,
        "{path}: not the bytes of www/{file_name}"
    );
    let gzipped = curl(server, path, &["--compressed"]);
    assert_eq!(gzipped.status, 200, "{path}");
    assert_eq!(gzipped.header("Content-Encoding"), Some("gzip"), "{path}");
    assert_eq!(gzipped.header("Vary"), Some("Accept-Encoding"), "{path}");
    assert_eq!(gzipped.header("X-Content-Type-Options"), Some("nosniff"));
    assert!(
        gzipped.header("Content-Security-Policy").is_some(),
        "{path}"
    );
    assert!(
        gzipped.body == on_disk,
        "{path}: gzip does not decode to www/{file_name}"
    );
    let gzip_size = content_length(&gzipped);
    assert!(
        gzip_size < on_disk.len() / 2,
        "{path}: {gzip_size} bytes gzipped"
    );

    let etag = plain.header("ETag").expect("ETag");
    let gzip_etag = gzipped.header("ETag").expect("ETag");
    assert_ne!(etag, gzip_etag, "{path}: two representations, one ETag");
    for (args, wanted) in [(&[][..], etag), (&["--compressed"][..], gzip_etag)] {
        let if_none_match = format!("If-None-Match: {wanted}");
        let again = curl(server, path, &[args, &["-H", &if_none_match]].concat());
        assert_eq!(again.status, 304, "{path} {args:?}");
        assert_eq!(again.header("ETag"), Some(wanted), "{path}");
        assert_eq!(again.header("Vary"), Some("Accept-Encoding"), "{path}");
        assert!(again.body.is_empty());
    }
    // The gzip ETag names other bytes than a client without gzip would get.
    let crossed = curl(
        server,
        path,
        &["-H", &format!("If-None-Match: {gzip_etag}")],
    );
    assert_eq!(crossed.status, 200, "{path}");
    assert!(crossed.body == on_disk);

    let refused = curl(server, path, &["-H", "Accept-Encoding: gzip;q=0"]);
    assert_eq!(refused.header("Content-Encoding"), None, "{path}");
    assert_eq!(refused.header("ETag"), Some(etag), "{path}");
    assert!(refused.body == on_disk, "{path}");

    // HEAD announces the length GET sends, for either representation.
    assert_eq!(content_length(&curl(server, path, &["-I"])), on_disk.len());
    let head_gzipped = curl(server, path, &["-I", "--compressed"]);
    assert_eq!(head_gzipped.header("Content-Encoding"), Some("gzip"));
    assert_eq!(content_length(&head_gzipped), gzip_size, "{path}");
}

#[test]
fn curl_gets_the_dashboard_gzipped_only_when_it_asks() {
    if !has_curl() {
        panic!("curl is required for the black-box tests (make test installs it)");
    }
    let server = TestServer::start(&[]);
    for (path, file_name) in [
        ("/", "index.html"),
        ("/index.html", "index.html"),
        ("/app.js", "app.js"),
        ("/style.css", "style.css"),
    ] {
        check_dashboard_file_over_curl(&server, path, file_name);
    }
}

#[test]
fn gzip_is_negotiated_from_every_accept_encoding_line() {
    let server = TestServer::start(&[]);
    let gzip_magic: &[u8] = &[0x1f, 0x8b];
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[("Accept-Encoding", "br, GZIP;q=0.5")], true),
        (
            &[("Accept-Encoding", "br"), ("Accept-Encoding", "x-gzip")],
            true,
        ),
        (&[("Accept-Encoding", "*")], true),
        (&[("Accept-Encoding", "gzip;q=0.000")], false),
        (&[("Accept-Encoding", "*, gzip;q=0")], false),
        (&[("Accept-Encoding", "identity")], false),
        (&[("Accept-Encoding", "")], false),
        (&[], false),
    ];
    for (headers, gzipped) in cases {
        let reply = server.request("GET", "/app.js", headers, b"");
        assert_eq!(reply.status, 200, "{headers:?}");
        let encoding = reply.header("Content-Encoding");
        assert_eq!(encoding == Some("gzip"), *gzipped, "{headers:?}");
        assert_eq!(reply.body.starts_with(gzip_magic), *gzipped, "{headers:?}");
    }
}

#[test]
fn www_flag_serves_the_dashboard_from_disk() {
    let dir = std::env::temp_dir().join(format!("sessions-lite-www-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>from disk</title>",
    )
    .expect("write");
    let server = TestServer::start(&["--www", dir.to_str().expect("utf-8 path")]);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("from disk"));
    let asked_for_gzip = server.request("GET", "/", &[("Accept-Encoding", "gzip")], b"");
    assert_eq!(
        asked_for_gzip.header("Content-Encoding"),
        None,
        "--www is never gzipped"
    );
    assert_eq!(asked_for_gzip.body, page.body);
    assert_eq!(
        server.get("/app.js").status,
        404,
        "a file missing from --www is a 404"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
