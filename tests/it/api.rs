//! Sessions and logs: every endpoint, parameter and error of the contract
//! (outside WebSocket and dashboard) against the real binary.

use crate::support::*;
use serde_json::{json, Value};
use sessions_lite::limits::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ID: &str = "5f0a1b2c3d4e5f60718293a4";
const JSON: (&str, &str) = ("Content-Type", "application/json");
const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");

fn is_rfc3339_ms(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let bytes = text.as_bytes();
    text.len() == 24
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[19] == b'.'
        && text.ends_with('Z')
}

fn log_path(id: &str, query: &str) -> String {
    format!("/sessions/{id}/log{query}")
}

fn messages(reply: &Reply) -> Vec<String> {
    reply.json()["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|entry| entry["message"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn server_log(server: &TestServer) -> Vec<String> {
    let list = server.get("/sessions/").json();
    let server_id = list["server_session"]
        .as_str()
        .expect("server id")
        .to_owned();
    messages(&server.get(&log_path(&server_id, "?limit=10000")))
}

#[test]
fn create_with_id_returns_the_session_object() {
    let server = TestServer::start(&[]);
    let body = r#"{"appname":"UnrealEditor","mode":"interactive","jobid":"build-1234","metadata":{"host":"agent-07","changelist":41235}}"#;
    let reply = server.post_json(&format!("/sessions/{}", ID.to_uppercase()), body);
    assert_eq!(reply.status, 201, "{}", reply.text());
    let session = reply.json();
    assert_eq!(session["id"], ID, "ids are lowercase on output");
    assert_eq!(session["appname"], "UnrealEditor");
    assert_eq!(session["mode"], "interactive");
    assert_eq!(session["jobid"], "build-1234");
    assert_eq!(
        session["metadata"],
        json!({"host": "agent-07", "changelist": 41235})
    );
    assert_eq!(session["status"], "active");
    assert!(
        is_rfc3339_ms(&session["created_at"]),
        "{}",
        session["created_at"]
    );
    assert!(is_rfc3339_ms(&session["updated_at"]));
    assert_eq!(session["ended_at"], Value::Null);
    assert_eq!(session["end_reason"], Value::Null);
    assert_eq!(
        session["log"],
        json!({"count": 0, "cursor": 0, "dropped": 0})
    );
    assert_eq!(server.get(&format!("/sessions/{ID}")).json(), session);
}

#[test]
fn post_without_id_picks_one_and_sets_location() {
    let server = TestServer::start(&[]);
    let reply = server.post_json("/sessions/", r#"{"appname":"zen","mode":"cli"}"#);
    assert_eq!(reply.status, 201);
    let id = reply.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 24);
    assert!(id
        .bytes()
        .all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase()));
    assert_eq!(
        reply.header("Location"),
        Some(format!("/sessions/{id}").as_str())
    );
    assert_eq!(server.get(&format!("/sessions/{id}")).status, 200);
    let reply = server.post_json("/sessions", r#"{"appname":"zen","mode":"cli"}"#);
    assert_eq!(reply.status, 201, "/sessions without a slash works too");
}

#[test]
fn update_merges_metadata_key_by_key() {
    let server = TestServer::start(&[]);
    let path = format!("/sessions/{ID}");
    let created = server.post_json(&path, r#"{"appname":"a","mode":"m","jobid":"j","metadata":{"keep":1,"drop":2,"nested":{"x":1,"y":2}}}"#);
    assert_eq!(created.status, 201);
    let reply = server.post_json(
        &path,
        r#"{"mode":"m2","metadata":{"drop":null,"new":"n","nested":{"y":null}}}"#,
    );
    assert_eq!(reply.status, 200);
    let session = reply.json();
    assert_eq!(session["appname"], "a", "fields not given stay");
    assert_eq!(session["mode"], "m2");
    assert_eq!(session["jobid"], "j");
    assert_eq!(
        session["metadata"],
        json!({"keep": 1, "new": "n", "nested": {"x": 1}})
    );
    let reply = server.request("PUT", &path, &[JSON], br#"{"jobid":null}"#);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["jobid"], Value::Null);
    assert!(reply.json()["updated_at"].as_str() >= created.json()["updated_at"].as_str());
}

#[test]
fn session_body_errors() {
    let server = TestServer::start(&[]);
    let path = format!("/sessions/{ID}");
    let cases: &[(&str, u16, &str)] = &[
        (r#"{"mode":"m"}"#, 400, "appname"),
        (r#"{"appname":"a"}"#, 400, "mode"),
        (r#"{"appname":"a","mode":"m","color":"red"}"#, 400, "color"),
        (r#"{"appname":5,"mode":"m"}"#, 400, "appname"),
        (
            r#"{"appname":"a","mode":"m","metadata":[1]}"#,
            400,
            "metadata",
        ),
        (r#"{"appname":"a","mode":"m""#, 400, "json"),
        ("[1,2]", 400, "object"),
    ];
    for (body, status, mentions) in cases {
        let reply = server.post_json(&path, body);
        assert_eq!(reply.status, *status, "{body}: {}", reply.text());
        assert!(
            reply.error().to_lowercase().contains(mentions),
            "{body}: {}",
            reply.error()
        );
    }
    let deep = format!(
        "{{\"appname\":\"a\",\"mode\":\"m\",\"metadata\":{}1{}}}",
        "[".repeat(40),
        "]".repeat(40)
    );
    assert_eq!(server.post_json(&path, &deep).status, 400);
    assert_eq!(
        server.get(&path).status,
        404,
        "nothing was created by a refused request"
    );
    let reply = server.request("POST", &path, &[("Content-Type", "text/plain")], b"{}");
    assert_eq!(reply.status, 415);
}

#[test]
fn field_and_metadata_size_edges() {
    let server = TestServer::start(&[]);
    let path = format!("/sessions/{ID}");
    let at = "a".repeat(SESSION_FIELD_BYTES_MAX);
    let over = "a".repeat(SESSION_FIELD_BYTES_MAX + 1);
    assert_eq!(
        server
            .post_json(&path, &format!(r#"{{"appname":"{over}","mode":"m"}}"#))
            .status,
        400
    );
    assert_eq!(
        server
            .post_json(&path, &format!(r#"{{"appname":"{at}","mode":"m"}}"#))
            .status,
        201
    );
    // {"k":"vvv..."} serialized is 8 bytes more than the value.
    let metadata_of = |size: usize| format!(r#"{{"metadata":{{"k":"{}"}}}}"#, "v".repeat(size - 8));
    assert_eq!(
        server
            .post_json(&path, &metadata_of(METADATA_BYTES_MAX - 1))
            .status,
        200
    );
    assert_eq!(
        server
            .post_json(&path, &metadata_of(METADATA_BYTES_MAX))
            .status,
        200
    );
    let reply = server.post_json(&path, &metadata_of(METADATA_BYTES_MAX + 1));
    assert_eq!(reply.status, 413, "{}", reply.text());
    let stored = server.get(&path).json();
    assert_eq!(
        stored["metadata"]["k"].as_str().map(str::len),
        Some(METADATA_BYTES_MAX - 8),
        "refusal changed nothing"
    );
}

#[test]
fn ids_must_be_24_hex_digits() {
    let server = TestServer::start(&[]);
    for bad in [
        "xyz",
        "5f0a1b2c3d4e5f60718293a",
        "5f0a1b2c3d4e5f60718293a4b",
        "5f0a1b2c3d4e5f60718293ag",
    ] {
        assert_eq!(server.get(&format!("/sessions/{bad}")).status, 400, "{bad}");
        assert_eq!(
            server.get(&format!("/sessions/{bad}/log")).status,
            400,
            "{bad}"
        );
    }
    assert_eq!(server.get(&format!("/sessions/{ID}")).status, 404);
    assert_eq!(server.get(&format!("/sessions/{ID}/other")).status, 404);
}

#[test]
fn put_and_delete_rules() {
    let server = TestServer::start(&[]);
    let path = format!("/sessions/{ID}");
    assert_eq!(
        server
            .request("PUT", &path, &[JSON], br#"{"mode":"x"}"#)
            .status,
        404
    );
    assert_eq!(server.request("DELETE", &path, &[], b"").status, 404);
    assert_eq!(
        server
            .post_json(&path, r#"{"appname":"a","mode":"m"}"#)
            .status,
        201
    );
    let ended = server.request("DELETE", &path, &[], b"");
    assert_eq!(ended.status, 200);
    let session = ended.json();
    assert_eq!(session["status"], "ended");
    assert_eq!(session["end_reason"], "deleted");
    assert!(is_rfc3339_ms(&session["ended_at"]));
    let again = server.request("DELETE", &path, &[], b"");
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), session, "ending twice changes nothing");
    assert_eq!(
        server
            .request("PUT", &path, &[JSON], br#"{"mode":"x"}"#)
            .status,
        409
    );
    assert_eq!(server.post_json(&path, r#"{"mode":"x"}"#).status, 409);
    assert_eq!(server.append_text(ID, "late\n").status, 409);
    let server_id = server.get("/sessions/").json()["server_session"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        server
            .request("DELETE", &format!("/sessions/{server_id}"), &[], b"")
            .status,
        409
    );
    // Its log is the server's own record: no client lines, text or JSON.
    let refused = server.append_text(&server_id, "forged\n");
    assert_eq!(refused.status, 409);
    assert!(refused.error().contains("cannot be written to by clients"));
    let log_path = format!("/sessions/{server_id}/log");
    assert_eq!(
        server
            .post_json(&log_path, r#"{"message":"forged"}"#)
            .status,
        409
    );
    let log = server.get(&log_path).json();
    let entries = log["entries"].as_array().expect("entries");
    assert!(entries.iter().all(|entry| entry["message"] != "forged"));
}

#[test]
fn list_filters_and_order() {
    let server = TestServer::start(&[]);
    let first = server.create_session("first");
    let second = server.create_session("second");
    let third = server.create_session("third");
    assert_eq!(
        server
            .request("DELETE", &format!("/sessions/{second}"), &[], b"")
            .status,
        200
    );
    let ids = |query: &str| -> Vec<String> {
        let reply = server.get(&format!("/sessions/{query}"));
        assert_eq!(reply.status, 200, "{query}");
        reply.json()["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .map(|session| session["id"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let list = server.get("/sessions/").json();
    let server_id = list["server_session"]
        .as_str()
        .expect("server id")
        .to_owned();
    assert_eq!(
        ids(""),
        vec![server_id.clone(), first.clone(), third.clone()]
    );
    assert_eq!(ids("?status=active"), ids(""));
    assert_eq!(ids("?status=ended"), vec![second.clone()]);
    assert_eq!(
        ids("?status=all"),
        vec![server_id.clone(), first, second, third]
    );
    assert_eq!(server.get("/sessions/?status=bogus").status, 400);
    assert_eq!(
        server.get("/sessions/?state=all").status,
        400,
        "unknown parameters are errors"
    );
    let own = &list["sessions"][0];
    assert_eq!(own["appname"], "sessions-lite");
    assert_eq!(own["mode"], "server");
}

#[test]
fn session_table_full_is_503() {
    let server = TestServer::start(&["--max-sessions", "3"]);
    for index in 0..3 {
        server.create_session(&format!("s{index}"));
    }
    let reply = server.post_json("/sessions/", r#"{"appname":"one-too-many","mode":"m"}"#);
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(
        reply.error().contains('3'),
        "names the limit: {}",
        reply.error()
    );
    assert_eq!(
        server.get("/sessions/").json()["sessions"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    // Ending one makes room.
    let id = server.get("/sessions/").json()["sessions"][1]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    server.request("DELETE", &format!("/sessions/{id}"), &[], b"");
    assert_eq!(
        server
            .post_json("/sessions/", r#"{"appname":"fits","mode":"m"}"#)
            .status,
        201
    );
}

#[test]
fn oldest_ended_session_is_evicted_with_its_log() {
    let server = TestServer::start(&["--max-ended", "2"]);
    let ids: Vec<String> = (0..3)
        .map(|index| server.create_session(&format!("e{index}")))
        .collect();
    server.append_text(&ids[0], "in the first log\n");
    for id in &ids {
        assert_eq!(
            server
                .request("DELETE", &format!("/sessions/{id}"), &[], b"")
                .status,
            200
        );
    }
    assert_eq!(server.get(&format!("/sessions/{}", ids[0])).status, 404);
    assert_eq!(server.get(&log_path(&ids[0], "")).status, 404);
    assert_eq!(server.get(&format!("/sessions/{}", ids[1])).status, 200);
    assert_eq!(
        server.get("/sessions/?status=ended").json()["sessions"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(server.get("/health").json()["sessions"]["ended"], 2);
}

#[test]
fn idle_sessions_expire_after_the_ttl() {
    let server = TestServer::start(&["--session-ttl", "1"]);
    let idle = server.create_session("idle");
    let busy = server.create_session("busy");
    let started = Instant::now();
    // Keep one busy with log appends for a while.
    while started.elapsed() < Duration::from_millis(1_600) {
        assert_eq!(server.append_text(&busy, "tick\n").status, 200);
        std::thread::sleep(Duration::from_millis(200));
    }
    let idle_session = server.get(&format!("/sessions/{idle}")).json();
    assert_eq!(idle_session["status"], "ended");
    assert_eq!(idle_session["end_reason"], "expired");
    assert_eq!(
        server.get(&format!("/sessions/{busy}")).json()["status"],
        "active"
    );
    assert!(eventually(Duration::from_secs(5), || server
        .get(&format!("/sessions/{busy}"))
        .json()["status"]
        == "ended"));
    assert!(server_log(&server)
        .iter()
        .any(|line| line.contains(&idle) && line.contains("expired")));
}

#[test]
fn plain_text_lines() {
    let server = TestServer::start(&[]);
    let id = server.create_session("text");
    let mut body = b"first\r\nsecond\n\n\r\nthird with \xff bad byte\nlast".to_vec();
    body.extend_from_slice(b"\n");
    let reply = server.request("POST", &log_path(&id, ""), &[], &body);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"appended": 4, "cursor": 4}));
    let read = server.get(&log_path(&id, ""));
    assert_eq!(
        messages(&read),
        vec!["first", "second", "third with \u{fffd} bad byte", "last"]
    );
    let entry = &read.json()["entries"][0];
    assert_eq!(entry["cursor"], 0);
    assert_eq!(entry["level"], "info");
    assert!(is_rfc3339_ms(&entry["timestamp"]));
    assert!(
        entry.get("data").is_none(),
        "data is absent when the entry has none"
    );
}

#[test]
fn long_lines_are_truncated_and_kept() {
    let server = TestServer::start(&[]);
    let id = server.create_session("long");
    let body = format!(
        "{}\n{}\n{}\n",
        "a".repeat(MESSAGE_BYTES_MAX - 1),
        "b".repeat(MESSAGE_BYTES_MAX),
        "c".repeat(MESSAGE_BYTES_MAX + 1)
    );
    assert_eq!(server.append_text(&id, &body).json()["appended"], 3);
    let read = server.get(&log_path(&id, "")).json();
    let entries = read["entries"].as_array().expect("entries");
    let lengths: Vec<usize> = entries
        .iter()
        .map(|entry| entry["message"].as_str().map_or(0, str::len))
        .collect();
    assert_eq!(
        lengths,
        vec![MESSAGE_BYTES_MAX - 1, MESSAGE_BYTES_MAX, MESSAGE_BYTES_MAX]
    );
    let truncated: Vec<bool> = entries
        .iter()
        .map(|entry| entry["truncated"] == true)
        .collect();
    assert_eq!(truncated, vec![false, false, true]);
}

#[test]
fn json_entry_shapes_and_levels() {
    let server = TestServer::start(&[]);
    let id = server.create_session("json");
    let path = log_path(&id, "");
    let one = r#"{"level":"WARNING","message":"one","data":{"k":1}}"#;
    assert_eq!(
        server
            .request("POST", &path, &[JSON], one.as_bytes())
            .json()["appended"],
        1
    );
    let batch = r#"{"entries":[{"message":"two","level":"trace"},{"message":"three","level":"fatal","timestamp":"2026-01-02T03:04:05.678+01:00"}]}"#;
    assert_eq!(
        server
            .request("POST", &path, &[JSON], batch.as_bytes())
            .json(),
        json!({"appended": 2, "cursor": 3})
    );
    let bare = r#"[{"message":"four","level":"err"},{"message":"five","level":"critical"}]"#;
    assert_eq!(
        server
            .request("PUT", &path, &[JSON], bare.as_bytes())
            .json()["appended"],
        2
    );
    let ndjson = "{\"message\":\"six\"}\r\n\n{\"message\":\"seven\",\"level\":\"Debug\"}\n";
    assert_eq!(
        server
            .request("POST", &path, &[NDJSON], ndjson.as_bytes())
            .json()["appended"],
        2
    );
    let read = server.get(&path).json();
    let entries = read["entries"].as_array().expect("entries");
    let levels: Vec<&str> = entries
        .iter()
        .map(|entry| entry["level"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        levels,
        vec!["warn", "debug", "error", "error", "error", "info", "debug"]
    );
    assert_eq!(entries[0]["data"], json!({"k": 1}));
    assert_eq!(entries[2]["timestamp"], "2026-01-02T02:04:05.678Z");
}

#[test]
fn bad_batches_name_the_entry_and_append_nothing() {
    let server = TestServer::start(&[]);
    let id = server.create_session("bad-batch");
    let path = log_path(&id, "");
    let cases: &[((&str, &str), &str, &str)] = &[
        (
            JSON,
            r#"[{"message":"ok"},{"message":"bad","level":"loud"}]"#,
            "1",
        ),
        (
            JSON,
            r#"{"entries":[{"message":"ok"},{"message":"ok"},{"level":"info"}]}"#,
            "2",
        ),
        (
            JSON,
            r#"[{"message":"ok"},{"message":"bad","timestamp":"yesterday"}]"#,
            "1",
        ),
        (
            JSON,
            r#"[{"message":"ok"},{"message":"bad","data":[1]}]"#,
            "1",
        ),
        (NDJSON, "{\"message\":\"ok\"}\n{\"message\":\n", "1"),
        (JSON, "{\"message\":", "json"),
    ];
    for (content_type, body, mentions) in cases {
        let reply = server.request("POST", &path, &[*content_type], body.as_bytes());
        assert_eq!(reply.status, 400, "{body}");
        assert!(
            reply.error().to_lowercase().contains(mentions),
            "{body}: {}",
            reply.error()
        );
    }
    assert_eq!(server.get(&path).json()["total"], 0, "no partial batch");
    let reply = server.request("POST", &path, &[("Content-Type", "image/png")], b"x");
    assert_eq!(reply.status, 415);
    let data = format!(
        r#"{{"message":"m","data":{{"k":"{}"}}}}"#,
        "d".repeat(ENTRY_DATA_BYTES_MAX)
    );
    assert_eq!(
        server
            .request("POST", &path, &[JSON], data.as_bytes())
            .status,
        413
    );
}

#[test]
fn append_needs_a_live_session_and_a_framed_body() {
    let server = TestServer::start(&[]);
    assert_eq!(server.append_text(ID, "x\n").status, 404);
    let id = server.create_session("framing");
    let raw =
        format!("POST /sessions/{id}/log HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let (replies, _) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(
        replies.iter().map(|reply| reply.status).collect::<Vec<_>>(),
        vec![411]
    );
}

#[test]
fn reads_by_cursor_offset_and_tail() {
    let server = TestServer::start(&["--log-capacity", "10"]);
    let id = server.create_session("reads");
    let lines: String = (0..15).map(|index| format!("line {index}\n")).collect();
    server.append_text(&id, &lines);
    // Held: cursors 5..=14.
    let read = server.get(&log_path(&id, "?cursor=2&limit=3"));
    let page = read.json();
    assert_eq!(messages(&read), vec!["line 5", "line 6", "line 7"]);
    assert_eq!(page["cursor"], 8);
    assert_eq!(page["dropped"], 3, "cursors 2, 3, 4 were evicted");
    assert_eq!(page["more"], true);
    assert_eq!(page["total"], 10);
    assert_eq!(read.header("X-Cursor"), Some("8"));
    assert_eq!(read.header("X-Dropped"), Some("3"));
    let read = server.get(&log_path(&id, "?cursor=8"));
    assert_eq!(messages(&read).len(), 7);
    assert_eq!(read.json()["more"], false);
    assert_eq!(read.json()["dropped"], 0);
    assert_eq!(read.json()["cursor"], 15);
    let read = server.get(&log_path(&id, "?offset=2&limit=2"));
    assert_eq!(messages(&read), vec!["line 7", "line 8"]);
    let read = server.get(&log_path(&id, "?tail=3"));
    assert_eq!(messages(&read), vec!["line 12", "line 13", "line 14"]);
    assert_eq!(read.json()["cursor"], 15, "follow from here: no gap");
    let read = server.get(&log_path(&id, "?tail=100"));
    assert_eq!(messages(&read).len(), 10);
    let read = server.get(&log_path(&id, ""));
    assert_eq!(messages(&read).len(), 10, "no parameters: from cursor 0");
    assert_eq!(read.json()["dropped"], 5);
    let read = server.get(&log_path(&id, "?cursor=15"));
    assert_eq!(read.json()["entries"], json!([]));
    assert_eq!(read.json()["cursor"], 15);
    let read = server.get(&log_path(&id, "?limit=1000000"));
    assert_eq!(
        messages(&read).len(),
        10,
        "limit is clamped to the capacity"
    );
}

/// A log page is written into its own buffer behind room for its head and
/// sent from there when nothing waits before it, and copied behind what
/// waits otherwise: pipelined pages, HEAD and text pages all arrive whole.
#[test]
fn pipelined_and_head_log_pages_arrive_whole() {
    let server = TestServer::start(&[]);
    let id = server.create_session("pages");
    let lines: String = (0..3_000)
        .map(|index| format!("line {index} \"quoted\" \u{1}\n"))
        .collect();
    server.append_text(&id, &lines);
    let host = "Host: 127.0.0.1\r\n";
    let mut raw = String::new();
    for query in [
        "?cursor=0",
        "?cursor=1000&limit=1000",
        "?cursor=2990&format=text",
    ] {
        raw.push_str(&format!(
            "GET {} HTTP/1.1\r\n{host}\r\n",
            log_path(&id, query)
        ));
    }
    raw.push_str(&format!(
        "GET /health HTTP/1.1\r\n{host}Connection: close\r\n\r\n"
    ));
    let (replies, closed) = exchange_raw(&server, raw.as_bytes());
    assert!(closed);
    assert_eq!(replies.len(), 4);
    for (page, first) in replies[..2].iter().zip([0, 1000]) {
        let entries = page.json()["entries"].as_array().cloned().expect("entries");
        assert_eq!(entries.len(), 1000);
        assert_eq!(
            entries[0]["message"],
            format!("line {first} \"quoted\" \u{1}")
        );
        assert_eq!(entries[999]["cursor"], first + 999);
    }
    let text = replies[2].text();
    assert_eq!(text.lines().count(), 10);
    assert!(
        text.ends_with("info line 2999 \"quoted\" \u{1}\n"),
        "{text}"
    );
    assert_eq!(replies[3].json()["status"], "ok");
    // HEAD: the length of the GET's body, and no body.
    let path = log_path(&id, "?cursor=5");
    let get_length = server.get(&path).body.len();
    let mut stream = server.connect();
    let head = format!("HEAD {path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("send");
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.contains(&format!("\r\nContent-Length: {get_length}\r\n")),
        "{answer}"
    );
    assert!(answer.ends_with("\r\n\r\n"), "no body: {answer}");
}

#[test]
fn limit_defaults_to_1000() {
    let server = TestServer::start(&[]);
    let id = server.create_session("default-limit");
    let lines: String = (0..LOG_READ_LIMIT_DEFAULT + 5)
        .map(|index| format!("{index}\n"))
        .collect();
    server.append_text(&id, &lines);
    let page = server.get(&log_path(&id, "")).json();
    assert_eq!(
        page["entries"].as_array().map(Vec::len),
        Some(LOG_READ_LIMIT_DEFAULT)
    );
    assert_eq!(page["more"], true);
    assert_eq!(page["total"], LOG_READ_LIMIT_DEFAULT + 5);
}

#[test]
fn read_parameter_errors() {
    let server = TestServer::start(&[]);
    let id = server.create_session("params");
    for query in [
        "?cursor=abc",
        "?cursor=-1",
        "?limit=1.5",
        "?offset=-2",
        "?tail=x",
        "?cursor=1&offset=1",
        "?wait=61&cursor=0",
        "?wait=5&tail=1",
        "?format=xml",
        "?cursor=999",
        "?bogus=1",
        "?cursor=1&cursor=2",
    ] {
        let reply = server.get(&log_path(&id, query));
        assert_eq!(reply.status, 400, "{query}");
        assert!(!reply.error().is_empty());
    }
    assert_eq!(server.get(&log_path(ID, "")).status, 404);
}

#[test]
fn text_format_by_accept_or_parameter() {
    let server = TestServer::start(&[]);
    let id = server.create_session("text-format");
    let body = r#"[{"message":"hello","level":"warn"},{"message":"two\nlines"}]"#;
    server.request("POST", &log_path(&id, ""), &[JSON], body.as_bytes());
    let by_accept = server.request("GET", &log_path(&id, ""), &[("Accept", "text/plain")], b"");
    let by_param = server.get(&log_path(&id, "?format=text"));
    for reply in [&by_accept, &by_param] {
        assert_eq!(reply.status, 200);
        assert!(reply
            .header("Content-Type")
            .unwrap_or("")
            .starts_with("text/plain"));
        assert_eq!(reply.header("X-Cursor"), Some("2"));
        assert_eq!(reply.header("X-Dropped"), Some("0"));
        let text = reply.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with(" warn hello"), "{}", lines[0]);
        assert!(lines[1].ends_with(" info two\\nlines"), "{}", lines[1]);
        assert_eq!(lines[0].len(), 24 + " warn hello".len());
    }
}

#[test]
fn long_poll_wakes_every_parked_reader_on_append() {
    let server = TestServer::start(&[]);
    let id = server.create_session("long-poll");
    let readers: Vec<_> = (0..5)
        .map(|_| {
            let mut stream = server.connect();
            let raw = format!(
                "GET /sessions/{id}/log?cursor=0&wait=30 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            );
            stream.write_all(raw.as_bytes()).expect("send");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(server.append_text(&id, "wake up\n").status, 200);
    for mut stream in readers {
        let reply = read_reply(&mut stream).expect("woken");
        assert_eq!(reply.status, 200);
        assert_eq!(messages(&reply), vec!["wake up"]);
        assert_eq!(reply.json()["cursor"], 1);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn long_poll_times_out_with_an_empty_page_and_keeps_the_connection() {
    let server = TestServer::start(&[]);
    let id = server.create_session("poll-timeout");
    server.append_text(&id, "zero\n");
    let mut stream = server.connect();
    let raw = format!(
        "GET /sessions/{id}/log?cursor=1&wait=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    );
    let started = Instant::now();
    stream.write_all(raw.as_bytes()).expect("send");
    let mut buffered = Vec::new();
    let reply = read_one(&mut stream, &mut buffered).expect("page");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(reply.json()["entries"], json!([]));
    assert_eq!(reply.json()["cursor"], 1);
    let health = read_one(&mut stream, &mut buffered).expect("pipelined answer after the poll");
    assert_eq!(health.status, 200);
    // An entry already there: no waiting at all.
    let reply = server.get(&log_path(&id, "?cursor=0&wait=30"));
    assert_eq!(messages(&reply), vec!["zero"]);
}

#[test]
fn shell_loop_follows_a_log_with_cursor_and_wait() {
    let server = TestServer::start(&[]);
    let id = server.create_session("follow");
    let writer = {
        let url = server.url(&log_path(&id, ""));
        std::thread::spawn(move || {
            for index in 0..20 {
                let body = format!("entry {index}\n");
                let _ = Command::new("curl")
                    .args(["-sS", "--max-time", "10", "--data-binary", &body, &url])
                    .output();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut cursor = 0u64;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 20 && Instant::now() < deadline {
        let reply = server.get(&log_path(&id, &format!("?cursor={cursor}&wait=5")));
        assert_eq!(reply.json()["dropped"], 0);
        seen.extend(messages(&reply));
        cursor = reply.json()["cursor"].as_u64().expect("cursor");
    }
    writer.join().expect("writer");
    let expected: Vec<String> = (0..20).map(|index| format!("entry {index}")).collect();
    assert_eq!(seen, expected, "every entry, in order, once");
}

#[test]
fn tail_f_into_curl_streams_lines_live() {
    let server = TestServer::start(&[]);
    let id = server.create_session("stream");
    let mut curl = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-T", "-"])
        .arg(server.url(&log_path(&id, "")))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let mut stdin = curl.stdin.take().expect("stdin");
    stdin.write_all(b"compiling a\r\n").expect("write");
    stdin.flush().expect("flush");
    // The reader sees the first line while curl is still sending.
    let reply = server.get(&log_path(&id, "?cursor=0&wait=10"));
    assert_eq!(messages(&reply), vec!["compiling a"]);
    stdin.write_all(b"compiling b\nlinking").expect("write");
    stdin.flush().expect("flush");
    let reply = server.get(&log_path(&id, "?cursor=1&wait=10"));
    assert_eq!(messages(&reply), vec!["compiling b"]);
    drop(stdin);
    let output = curl.wait_with_output().expect("curl ends");
    let answer: Value = serde_json::from_slice(&output.stdout).expect("json answer");
    assert_eq!(answer, json!({"appended": 3, "cursor": 3}));
    assert_eq!(
        messages(&server.get(&log_path(&id, "?cursor=2"))),
        vec!["linking"]
    );
}

#[test]
fn a_text_body_that_breaks_off_keeps_its_partial_last_line() {
    let server = TestServer::start(&[]);
    // The client goes away mid-line (Content-Length and chunked), or breaks
    // the chunked framing after half a line: every byte of text received
    // stays, the unfinished line as an entry of its own.
    let cases: [(&str, &[u8], Option<u16>); 3] = [
        ("Content-Length: 100", b"first\nhalf a li", None),
        (
            "Transfer-Encoding: chunked",
            b"f\r\nfirst\nhalf a li\r\n",
            None,
        ),
        (
            "Transfer-Encoding: chunked",
            b"f\r\nfirst\nhalf a li\r\nzz\r\n",
            Some(400),
        ),
    ];
    for (framing, body, answer) in cases {
        let id = server.create_session("broken");
        let mut stream = server.connect();
        let head = format!(
            "PUT {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n{framing}\r\n\r\n",
            log_path(&id, "")
        );
        stream.write_all(head.as_bytes()).expect("head");
        stream.write_all(body).expect("body");
        match answer {
            Some(status) => {
                let reply = read_reply(&mut stream).expect("an answer");
                assert_eq!(reply.status, status, "{framing}");
            }
            None => stream.shutdown(std::net::Shutdown::Both).expect("shutdown"),
        }
        drop(stream);
        let kept = || messages(&server.get(&log_path(&id, "?cursor=0")));
        assert!(
            eventually(Duration::from_secs(5), || kept().len() == 2),
            "{framing}: {:?}",
            kept()
        );
        assert_eq!(kept(), vec!["first", "half a li"], "{framing} {answer:?}");
    }
}

#[test]
fn nothing_accepted_is_lost_except_by_eviction() {
    let server = TestServer::start(&["--log-capacity", "100"]);
    let id = server.create_session("no-loss");
    let mut accepted = 0u64;
    for batch in 0..30 {
        let lines: String = (0..7).map(|index| format!("b{batch} l{index}\n")).collect();
        let reply = server.append_text(&id, &lines);
        assert_eq!(reply.status, 200);
        accepted += reply.json()["appended"].as_u64().expect("appended");
    }
    let page = server.get(&log_path(&id, "?cursor=0")).json();
    assert_eq!(page["total"], 100);
    assert_eq!(page["dropped"].as_u64(), Some(accepted - 100));
    let session = server.get(&format!("/sessions/{id}")).json();
    assert_eq!(
        session["log"],
        json!({"count": 100, "cursor": accepted, "dropped": accepted - 100})
    );
    assert_eq!(
        page["entries"][0]["message"], "b15 l5",
        "the newest 100 of 210 are held"
    );
}

#[test]
fn log_capacity_edges() {
    let server = TestServer::start(&["--log-capacity", "3"]);
    let id = server.create_session("edges");
    for (count, dropped) in [(2, 0), (3, 0), (4, 1)] {
        let id = if count == 2 {
            id.clone()
        } else {
            server.create_session("edges")
        };
        let lines: String = (0..count).map(|index| format!("{index}\n")).collect();
        server.append_text(&id, &lines);
        let session = server.get(&format!("/sessions/{id}")).json();
        assert_eq!(session["log"]["count"], count.min(3));
        assert_eq!(session["log"]["dropped"], dropped);
    }
}

#[test]
fn server_session_logs_start_sessions_and_refusals() {
    let server = TestServer::start(&[]);
    let id = server.create_session("noted");
    server.request("DELETE", &format!("/sessions/{id}"), &[], b"");
    server.get("/sessions/nope-not-an-id");
    let lines = server_log(&server);
    assert!(lines[0].contains("listening on http://"), "{}", lines[0]);
    assert!(lines[0].contains("log capacity 10000"), "{}", lines[0]);
    assert!(lines
        .iter()
        .any(|line| line.contains(&id) && line.contains("created")));
    assert!(lines
        .iter()
        .any(|line| line.contains(&id) && line.contains("ended")));
    let list = server.get("/sessions/").json();
    let server_id = list["server_session"].as_str().expect("id").to_owned();
    let entries = server.get(&log_path(&server_id, "")).json()["entries"].clone();
    let refusal = entries.as_array().expect("entries").iter().find(|entry| {
        entry["message"]
            .as_str()
            .is_some_and(|message| message.contains("refused") && message.contains("400"))
    });
    assert_eq!(refusal.expect("refusal logged")["level"], "warn");
}

#[test]
fn token_guards_writes_only() {
    let server = TestServer::start(&["--token", "s3cret"]);
    let body = br#"{"appname":"a","mode":"m"}"#;
    let reply = server.request("POST", "/sessions/", &[JSON], body);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("WWW-Authenticate"), Some("Bearer"));
    let wrong = server.request(
        "POST",
        "/sessions/",
        &[JSON, ("Authorization", "Bearer nope")],
        body,
    );
    assert_eq!(wrong.status, 401);
    let right = server.request(
        "POST",
        "/sessions/",
        &[JSON, ("Authorization", "Bearer s3cret")],
        body,
    );
    assert_eq!(right.status, 201);
    let id = right.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(server.append_text(&id, "x\n").status, 401);
    assert_eq!(
        server
            .request("DELETE", &format!("/sessions/{id}"), &[], b"")
            .status,
        401
    );
    assert_eq!(server.get("/sessions/").status, 200, "reads stay open");
    assert_eq!(server.get(&log_path(&id, "")).status, 200);
    let from_env = TestServer::start_with_env(&[], &[("SESSIONS_LITE_TOKEN", "env-token")]);
    assert_eq!(
        from_env.request("POST", "/sessions/", &[JSON], body).status,
        401
    );
    let ok = from_env.request(
        "POST",
        "/sessions/",
        &[JSON, ("Authorization", "Bearer env-token")],
        body,
    );
    assert_eq!(ok.status, 201);
}

#[test]
fn binding_beyond_loopback_without_token_warns() {
    let server = TestServer::start(&["--listen", "0.0.0.0:0"]);
    let lines = server_log(&server);
    assert!(
        lines.iter().any(|line| line.contains("without --token")),
        "{lines:?}"
    );
    let quiet = TestServer::start(&[]);
    assert!(!server_log(&quiet)
        .iter()
        .any(|line| line.contains("without --token")));
}

#[test]
fn health_counts_sessions() {
    let server = TestServer::start(&[]);
    let id = server.create_session("h");
    server.create_session("h2");
    server.request("DELETE", &format!("/sessions/{id}"), &[], b"");
    let health = server.get("/health").json();
    assert_eq!(health["sessions"], json!({"active": 2, "ended": 1}));
}

#[test]
fn bad_flags_print_usage_and_exit_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_sessions-lite"))
        .args(["--log-capacity", "zero"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: sessions-lite"));
}

/// DELETE with a body (our extension for `run`): a reason of our own and
/// metadata merged in the same step; validated before anything changes.
#[test]
fn delete_with_a_reason_and_metadata() {
    let server = TestServer::start(&[]);
    let id = server.create_session("cook");
    let path = format!("/sessions/{id}");
    assert_eq!(
        server
            .request(
                "PUT",
                &path,
                &[JSON],
                br#"{"metadata":{"host":"a","gone":1}}"#
            )
            .status,
        200
    );
    let refused: [(&[u8], u16, &str); 6] = [
        (br#"{"end_reason":""}"#, 400, "end_reason must not be empty"),
        (
            br#"{"end_reason":3}"#,
            400,
            "end_reason must be a string or null",
        ),
        (
            br#"{"reason":"x"}"#,
            400,
            "unknown key \"reason\" in end body",
        ),
        (br#"{"metadata":[]}"#, 400, "metadata must be an object"),
        (b"[1]", 400, "must be a json object"),
        (b"{", 400, "invalid json"),
    ];
    for (body, status, message) in refused {
        let reply = server.request("DELETE", &path, &[JSON], body);
        assert_eq!(reply.status, status, "{}", reply.text());
        assert!(reply.error().contains(message), "{}", reply.error());
    }
    // A reason at the field limit passes; one byte over does not.
    let over = format!(
        "{{\"end_reason\":\"{}\"}}",
        "x".repeat(SESSION_FIELD_BYTES_MAX + 1)
    );
    assert_eq!(
        server
            .request("DELETE", &path, &[JSON], over.as_bytes())
            .status,
        400
    );
    let big = format!(
        "{{\"metadata\":{{\"big\":\"{}\"}}}}",
        "x".repeat(METADATA_BYTES_MAX)
    );
    assert_eq!(
        server
            .request("DELETE", &path, &[JSON], big.as_bytes())
            .status,
        413
    );
    // Nothing changed so far.
    let session = server.get(&path).json();
    assert_eq!(
        (
            session["status"].as_str(),
            session["metadata"]["gone"].as_i64()
        ),
        (Some("active"), Some(1))
    );
    let body = json!({"end_reason": "x".repeat(SESSION_FIELD_BYTES_MAX), "metadata": {"gone": null, "exit_code": 3}});
    let ended = server.request("DELETE", &path, &[JSON], body.to_string().as_bytes());
    assert_eq!(ended.status, 200, "{}", ended.text());
    let session = ended.json();
    assert_eq!(session["status"], "ended");
    assert_eq!(session["end_reason"], "x".repeat(SESSION_FIELD_BYTES_MAX));
    assert_eq!(session["metadata"], json!({"host": "a", "exit_code": 3}));
    // Ending again: 200, unchanged, whatever the body says.
    let again = server.request("DELETE", &path, &[JSON], br#"{"end_reason":"exit 0"}"#);
    assert_eq!((again.status, again.json()), (200, session.clone()));

    // A reason that needs escaping comes back as the same string; no body
    // is `deleted`, as before.
    let other = server.create_session("quote");
    let other_path = format!("/sessions/{other}");
    let odd = json!({"end_reason": "signal \"SIGKILL\"\n\\"});
    let reply = server.request("DELETE", &other_path, &[JSON], odd.to_string().as_bytes());
    assert_eq!(reply.json()["end_reason"], "signal \"SIGKILL\"\n\\");
    assert_eq!(
        server.get(&other_path).json()["end_reason"],
        "signal \"SIGKILL\"\n\\"
    );
    let plain = server.create_session("plain");
    let reply = server.request("DELETE", &format!("/sessions/{plain}"), &[], b"");
    assert_eq!(reply.json()["end_reason"], "deleted");
    let null_reason = server.create_session("null");
    let reply = server.request(
        "DELETE",
        &format!("/sessions/{null_reason}"),
        &[JSON],
        br#"{"end_reason":null}"#,
    );
    assert_eq!(reply.json()["end_reason"], "deleted");
}
