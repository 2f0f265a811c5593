//! WebSocket: `/sessions/ws` pushes and follows, handshakes, limits, the
//! echo route, and the server's own log of clients joining and leaving.
//! Clients are tungstenite's over std sockets with read deadlines, or raw
//! bytes where the point is a request tungstenite would not send.

use crate::support::{eventually, read_one, Reply, TestServer};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::{Error, Message, WebSocket};

pub type Client = WebSocket<TcpStream>;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const MESSAGE_BYTES_MAX: usize = 64 * 1024;
const UNSENT_BYTES_MAX: usize = 4 * 1024 * 1024;

pub fn ws_connect(server: &TestServer, path: &str) -> Client {
    let url = format!("ws://{}{}", server.addr, path);
    let (client, response) =
        tungstenite::client(url.as_str(), server.connect()).expect("handshake");
    assert_eq!(response.status(), 101);
    client
}

/// The next message, pings and pongs included; panics at the read deadline.
pub fn next_any(client: &mut Client) -> Message {
    client
        .read()
        .unwrap_or_else(|error| panic!("no message: {error}"))
}

/// The next text message as JSON, skipping control frames.
pub fn next_json(client: &mut Client) -> Value {
    loop {
        match next_any(client) {
            Message::Text(text) => {
                return serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// The next message of `kind`, skipping the others (list pushes interleave).
fn next_of_type(client: &mut Client, kind: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let message = next_json(client);
        if message["type"] == kind {
            return message;
        }
    }
    panic!("no {kind} message within 10 s");
}

/// Every message other than a list push until `pushes` pushes arrived.
fn others_during_pushes(client: &mut Client, pushes: usize) -> Vec<Value> {
    let mut others = Vec::new();
    let mut seen = 0;
    while seen < pushes {
        let message = next_json(client);
        if message["type"] == "sessions" {
            seen += 1;
        } else {
            others.push(message);
        }
    }
    others
}

/// Waits until the server handled everything sent before (it answers in
/// order); returns the text messages that arrived meanwhile.
fn sync(client: &mut Client) -> Vec<Value> {
    client
        .send(Message::Ping(b"sync".to_vec().into()))
        .expect("ping");
    let mut arrived = Vec::new();
    loop {
        match next_any(client) {
            Message::Pong(payload) if &payload[..] == b"sync" => return arrived,
            Message::Text(text) => arrived.push(serde_json::from_str(&text).expect("JSON")),
            _ => continue,
        }
    }
}

pub fn send_json(client: &mut Client, message: Value) {
    client
        .send(Message::text(message.to_string()))
        .expect("send");
}

fn follow(client: &mut Client, session: &str, cursor: u64) {
    send_json(
        client,
        json!({"type": "follow", "session": session, "cursor": cursor}),
    );
}

/// The close frame that ends the conversation, skipping what came before.
fn close_code(client: &mut Client) -> CloseCode {
    loop {
        match client.read() {
            Ok(Message::Close(frame)) => return frame.expect("a close code").code,
            Ok(_) => continue,
            Err(error) => panic!("no close frame: {error}"),
        }
    }
}

fn server_id(server: &TestServer) -> String {
    let reply = server.get("/sessions/");
    reply.json()["server_session"]
        .as_str()
        .expect("server_session")
        .to_owned()
}

/// The messages of the server's own log.
fn server_log(server: &TestServer) -> Vec<String> {
    let reply = server.get(&format!("/sessions/{}/log?tail=1000", server_id(server)));
    let entries = reply.json()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    entries
        .iter()
        .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
        .collect()
}

fn server_log_has(server: &TestServer, needles: &[&str]) -> bool {
    eventually(Duration::from_secs(5), || {
        server_log(server)
            .iter()
            .any(|line| needles.iter().all(|needle| line.contains(needle)))
    })
}

fn messages(log: &Value) -> Vec<&str> {
    let entries = log["entries"].as_array().expect("entries");
    entries
        .iter()
        .map(|entry| entry["message"].as_str().expect("message"))
        .collect()
}

/// Sends an upgrade request with `extra` header lines; the one answer.
fn handshake(server: &TestServer, path: &str, extra: &str) -> Reply {
    let mut stream = server.connect();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\n{extra}\r\n",
        server.addr.port()
    );
    stream.write_all(request.as_bytes()).expect("send");
    read_one(&mut stream, &mut Vec::new()).expect("an answer")
}

fn good_headers() -> String {
    format!("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n")
}

#[test]
fn pushes_follow_the_interval() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let mut client = ws_connect(&server, "/sessions/ws");
    let first = next_json(&mut client);
    assert_eq!(
        first["type"], "sessions",
        "a client gets the list when it joins"
    );
    assert_eq!(first["server_session"], server_id(&server).as_str());
    let own = &first["sessions"][0];
    assert_eq!(
        (own["appname"].as_str(), own["mode"].as_str()),
        (Some("sessions-lite"), Some("server"))
    );
    assert!(first["time"]
        .as_str()
        .is_some_and(|time| time.ends_with('Z')));
    let started = Instant::now();
    let mut pushes = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        if next_json(&mut client)["type"] == "sessions" {
            pushes += 1;
        }
    }
    // 15 intervals; loose bounds, not a stopwatch.
    assert!(
        (7..=20).contains(&pushes),
        "{pushes} pushes in 1.5 s at 100 ms"
    );
}

#[test]
fn new_session_appears_within_two_pushes() {
    let server = TestServer::start(&["--ws-interval-ms", "200"]);
    let mut client = ws_connect(&server, "/sessions/ws");
    assert_eq!(next_json(&mut client)["type"], "sessions");
    let id = server.create_session("late-comer");
    let created = Instant::now();
    // One push may have been built before the create; the next has it.
    for _ in 0..2 {
        let push = next_of_type(&mut client, "sessions");
        let sessions = push["sessions"].as_array().expect("sessions");
        if sessions.iter().any(|session| session["id"] == id.as_str()) {
            assert!(created.elapsed() < Duration::from_secs(3));
            return;
        }
    }
    panic!("session {id} not in the two pushes after its creation");
}

#[test]
fn list_pushes_include_ended_sessions() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let id = server.create_session("short-lived");
    assert_eq!(
        server
            .request("DELETE", &format!("/sessions/{id}"), &[], b"")
            .status,
        200
    );
    let mut client = ws_connect(&server, "/sessions/ws");
    let push = next_of_type(&mut client, "sessions");
    let sessions = push["sessions"].as_array().expect("sessions");
    let ended = sessions
        .iter()
        .find(|session| session["id"] == id.as_str())
        .expect("listed");
    assert_eq!(ended["status"], "ended");
}

#[test]
fn follow_sends_from_the_cursor_then_each_batch_in_one_message() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let id = server.create_session("builder");
    server.append_text(&id, "a\nb\nc\n");
    let mut client = ws_connect(&server, "/sessions/ws");
    follow(&mut client, &id, 1);
    let log = next_of_type(&mut client, "log");
    assert_eq!(log["session"], id.as_str());
    assert_eq!(messages(&log), ["b", "c"]);
    assert_eq!(
        (log["cursor"].as_u64(), log["dropped"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(log["entries"][0]["cursor"], 1);
    assert_eq!(log["entries"][0]["level"], "info");
    // Three lines appended in one request arrive as one message.
    server.append_text(&id, "d\ne\nf\n");
    let log = next_of_type(&mut client, "log");
    assert_eq!(messages(&log), ["d", "e", "f"]);
    assert_eq!(log["cursor"], 6);
}

#[test]
fn follow_without_cursor_starts_at_the_oldest_entry() {
    let server = TestServer::start(&[]);
    let id = server.create_session("builder");
    server.append_text(&id, "one\ntwo\n");
    let mut client = ws_connect(&server, "/sessions/ws");
    send_json(&mut client, json!({"type": "follow", "session": id}));
    assert_eq!(messages(&next_of_type(&mut client, "log")), ["one", "two"]);
}

#[test]
fn follow_reports_evicted_entries_as_dropped() {
    let server = TestServer::start(&["--log-capacity", "5", "--ws-interval-ms", "100"]);
    let id = server.create_session("chatty");
    server.append_text(&id, "0\n1\n2\n3\n4\n5\n6\n7\n");
    let mut client = ws_connect(&server, "/sessions/ws");
    follow(&mut client, &id, 1);
    let log = next_of_type(&mut client, "log");
    // Cursors 0-2 were evicted; 1 and 2 were at or after the cursor.
    assert_eq!(log["dropped"], 2);
    assert_eq!(messages(&log), ["3", "4", "5", "6", "7"]);
    assert_eq!(log["cursor"], 8);
    follow(&mut client, &id, 0);
    assert_eq!(next_of_type(&mut client, "log")["dropped"], 3);
    follow(&mut client, &id, 8);
    let answers = sync(&mut client);
    assert!(
        answers.iter().all(|answer| answer["type"] == "sessions"),
        "caught up: {answers:?}"
    );
    server.append_text(&id, "8\n");
    let log = next_of_type(&mut client, "log");
    assert_eq!(
        (messages(&log), log["dropped"].as_u64()),
        (vec!["8"], Some(0))
    );
}

#[test]
fn a_new_follow_replaces_the_old_and_unfollow_stops() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let first = server.create_session("first");
    let second = server.create_session("second");
    let mut client = ws_connect(&server, "/sessions/ws");
    follow(&mut client, &first, 0);
    follow(&mut client, &second, 0);
    // Both follows answer with what the (empty) logs hold: nothing.
    let answers = sync(&mut client);
    assert!(
        answers.iter().all(|answer| answer["type"] == "sessions"),
        "{answers:?}"
    );
    server.append_text(&first, "not followed\n");
    server.append_text(&second, "followed\n");
    let log = next_of_type(&mut client, "log");
    assert_eq!(
        (log["session"].as_str(), messages(&log)),
        (Some(second.as_str()), vec!["followed"])
    );
    send_json(&mut client, json!({"type": "unfollow"}));
    sync(&mut client);
    server.append_text(&second, "after unfollow\n");
    let others = others_during_pushes(&mut client, 3);
    assert!(
        others.is_empty(),
        "nothing but pushes after unfollow: {others:?}"
    );
}

#[test]
fn bad_messages_get_an_error_and_the_connection_stays() {
    let server = TestServer::start(&["--ws-interval-ms", "60000"]);
    let id = server.create_session("known");
    let mut client = ws_connect(&server, "/sessions/ws");
    let unknown = "0123456789abcdef01234567";
    let cases: [(Message, &str); 7] = [
        (Message::text("not json"), "not JSON"),
        (Message::text("[1]"), "JSON object"),
        (
            Message::text(r#"{"type":"subscribe"}"#),
            "unknown message type",
        ),
        (
            Message::text(r#"{"type":"follow","session":"xyz"}"#),
            "session id",
        ),
        (
            Message::text(json!({"type": "follow", "session": unknown}).to_string()),
            "unknown session",
        ),
        (
            Message::text(json!({"type": "follow", "session": id, "cursor": 5}).to_string()),
            "beyond",
        ),
        (Message::binary(vec![1, 2, 3]), "binary"),
    ];
    for (message, expected) in cases {
        let sent = format!("{message:?}");
        client.send(message).expect("send");
        let answer = next_of_type(&mut client, "error");
        let error = answer["error"].as_str().expect("error text");
        assert!(
            error.contains(expected),
            "{sent}: {error:?} lacks {expected:?}"
        );
    }
    // Still open and still answering.
    server.append_text(&id, "still here\n");
    follow(&mut client, &id, 0);
    assert_eq!(messages(&next_of_type(&mut client, "log")), ["still here"]);
}

#[test]
fn ping_is_answered_with_the_same_payload() {
    let server = TestServer::start(&["--ws-interval-ms", "60000"]);
    let mut client = ws_connect(&server, "/sessions/ws");
    client
        .send(Message::Ping(b"are you there".to_vec().into()))
        .expect("ping");
    loop {
        match next_any(&mut client) {
            Message::Pong(payload) => break assert_eq!(&payload[..], b"are you there"),
            Message::Text(_) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    }
}

#[test]
fn close_handshake_is_answered_then_the_server_closes_tcp() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let mut client = ws_connect(&server, "/sessions/ws");
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    client.close(Some(frame)).expect("close");
    assert_eq!(close_code(&mut client), CloseCode::Normal);
    // The server closes the TCP connection (the client sees the end).
    match client.read() {
        Err(Error::ConnectionClosed) => {}
        other => panic!("expected the connection closed, got {other:?}"),
    }
    assert!(server_log_has(
        &server,
        &["left after", "closed by the client (1000)"]
    ));
}

#[test]
fn foreign_origin_is_refused_and_own_or_allowed_origins_pass() {
    let server = TestServer::start(&["--allow-origin", "https://dash.example"]);
    let port = server.addr.port();
    let foreign = handshake(
        &server,
        "/sessions/ws",
        &format!("{}Origin: http://evil.example\r\n", good_headers()),
    );
    assert_eq!(foreign.status, 403);
    assert!(foreign.error().contains("Origin"), "{}", foreign.text());
    let own = format!("{}Origin: http://127.0.0.1:{port}\r\n", good_headers());
    assert_eq!(handshake(&server, "/sessions/ws", &own).status, 101);
    let allowed = format!("{}Origin: https://dash.example\r\n", good_headers());
    let reply = handshake(&server, "/sessions/ws", &allowed);
    assert_eq!(reply.status, 101);
    // RFC 6455: the accept key for the RFC's sample key.
    assert_eq!(
        reply.header("Sec-WebSocket-Accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
}

#[test]
fn bad_handshakes_get_400_or_426_never_a_silent_drop() {
    let server = TestServer::start(&[]);
    let plain = server.get("/sessions/ws");
    assert_eq!(plain.status, 400, "{}", plain.text());
    let old = handshake(
        &server,
        "/sessions/ws",
        &format!("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: {KEY}\r\n"),
    );
    assert_eq!(old.status, 426);
    assert_eq!(old.header("Sec-WebSocket-Version"), Some("13"));
    let no_version = handshake(
        &server,
        "/sessions/ws",
        &format!("Sec-WebSocket-Key: {KEY}\r\n"),
    );
    assert_eq!(no_version.status, 426);
    let short_key = handshake(
        &server,
        "/sessions/ws",
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n",
    );
    assert_eq!(short_key.status, 400);
    let no_key = handshake(&server, "/sessions/ws", "Sec-WebSocket-Version: 13\r\n");
    assert_eq!(no_key.status, 400);
    for reply in [&plain, &old, &short_key, &no_key] {
        assert!(!reply.error().is_empty(), "a JSON error: {}", reply.text());
    }
}

#[test]
fn messages_up_to_64_kib_are_echoed_and_larger_ones_close_1009() {
    let server = TestServer::start(&["--ws-echo"]);
    let mut client = ws_connect(&server, "/ws-echo");
    for size in [MESSAGE_BYTES_MAX - 1, MESSAGE_BYTES_MAX] {
        let text = "e".repeat(size);
        client.send(Message::text(text.clone())).expect("send");
        assert_eq!(
            next_any(&mut client),
            Message::text(text),
            "{size} bytes echoed"
        );
    }
    client
        .send(Message::binary(vec![7u8; MESSAGE_BYTES_MAX]))
        .expect("send");
    assert_eq!(
        next_any(&mut client),
        Message::binary(vec![7u8; MESSAGE_BYTES_MAX])
    );
    client
        .send(Message::text("e".repeat(MESSAGE_BYTES_MAX + 1)))
        .expect("send");
    assert_eq!(close_code(&mut client), CloseCode::Size);
}

#[test]
fn a_fragmented_message_over_64_kib_closes_1009() {
    let server = TestServer::start(&["--ws-interval-ms", "60000"]);
    let mut client = ws_connect(&server, "/sessions/ws");
    let half = vec![b'x'; MESSAGE_BYTES_MAX / 2 + 1];
    let first = Frame::message(half.clone(), OpCode::Data(Data::Text), false);
    let last = Frame::message(half, OpCode::Data(Data::Continue), true);
    client.send(Message::Frame(first)).expect("send");
    client.send(Message::Frame(last)).expect("send");
    assert_eq!(close_code(&mut client), CloseCode::Size);
    assert!(server_log_has(
        &server,
        &["message exceeds 65536 bytes (close 1009)"]
    ));
}

#[test]
fn an_oversized_message_on_the_sessions_route_closes_1009() {
    let server = TestServer::start(&["--ws-interval-ms", "60000"]);
    let mut client = ws_connect(&server, "/sessions/ws");
    // At the limit: read, answered as a bad message, connection kept.
    client
        .send(Message::text("x".repeat(MESSAGE_BYTES_MAX)))
        .expect("send");
    assert!(next_of_type(&mut client, "error")["error"]
        .as_str()
        .is_some());
    client
        .send(Message::text("x".repeat(MESSAGE_BYTES_MAX + 1)))
        .expect("send");
    assert_eq!(close_code(&mut client), CloseCode::Size);
}

#[test]
fn echo_route_exists_only_with_its_flag_and_gets_no_pushes() {
    {
        // One server at a time: each holds the tests' shared socket gate.
        let plain = TestServer::start(&[]);
        assert_eq!(handshake(&plain, "/ws-echo", &good_headers()).status, 404);
    }
    let server = TestServer::start(&["--ws-echo", "--ws-interval-ms", "50"]);
    let mut client = ws_connect(&server, "/ws-echo");
    client.send(Message::text("hello")).expect("send");
    assert_eq!(next_any(&mut client), Message::text("hello"));
    client
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(400)))
        .expect("timeout");
    match client.read() {
        Err(Error::Io(error))
            if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the echo route pushes nothing, got {other:?}"),
    }
}

#[test]
fn server_log_notes_clients_joining_and_leaving() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let own = server_id(&server);
    let mut watcher = ws_connect(&server, "/sessions/ws");
    follow(&mut watcher, &own, 0);
    let backlog = next_of_type(&mut watcher, "log");
    assert!(messages(&backlog)
        .iter()
        .any(|line| line.contains("joined /sessions/ws")));
    // Another client joins, then drops without a close frame.
    let other = ws_connect(&server, "/sessions/ws");
    let joined = next_of_type(&mut watcher, "log");
    assert!(
        messages(&joined)
            .iter()
            .any(|line| line.contains("joined /sessions/ws")),
        "{joined}"
    );
    drop(other);
    let left = next_of_type(&mut watcher, "log");
    assert!(
        messages(&left)
            .iter()
            .any(|line| line.contains("s: connection lost")),
        "{left}"
    );
}

#[test]
fn a_client_that_never_reads_is_cut_off_while_another_gets_pushes_on_time() {
    // Intervals long enough for a debug build to make and send each list.
    let server = TestServer::start(&["--ws-interval-ms", "2000"]);
    // About 10 MB per list push. The kernel takes about 4 MB for a client
    // that never reads; the rest of the push (over the 4 MiB cap) is still
    // unsent an interval later, which cuts the client off.
    let metadata = json!({"blob": "m".repeat(65_000)});
    for index in 0..160 {
        let body = json!({"appname": format!("big-{index}"), "mode": "test", "metadata": metadata});
        assert_eq!(
            server.post_json("/sessions/", &body.to_string()).status,
            201
        );
    }
    let mut stuck = ws_connect(&server, "/sessions/ws");
    let mut reader = ws_connect(&server, "/sessions/ws");
    let started = Instant::now();
    let mut pushes = 0;
    while started.elapsed() < Duration::from_secs(6) {
        if let Message::Text(text) = next_any(&mut reader) {
            assert!(text.starts_with(r#"{"type":"sessions""#));
            assert!(text.len() > 10_000_000, "{} bytes", text.len());
            pushes += 1;
        }
    }
    // The join push and 3 intervals; loose: the reader is not starved.
    assert!(pushes >= 3, "{pushes} pushes in 6 s at 2000 ms");
    let cap = format!("unsent bytes over {UNSENT_BYTES_MAX} (close 1008)");
    assert!(
        server_log_has(&server, &[&cap]),
        "{:?}",
        server_log(&server)
    );
    // The stuck client's connection is closed: it reads what was in flight,
    // then the end (never a read that hangs).
    let stream = stuck.get_mut();
    let mut chunk = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "the stuck client's connection stays open"
        );
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the stuck client's connection stays open")
            }
            Err(_) => break,
        }
    }
    let health = server.get("/health").json();
    assert_eq!(
        health["connections"], 2,
        "the reader and this request: {health}"
    );
}

#[test]
fn a_stalled_follower_resumes_from_its_cursor_with_evicted_entries_counted() {
    let server = TestServer::start(&["--log-capacity", "2000"]);
    let id = server.create_session("firehose");
    let mut follower = ws_connect(&server, "/sessions/ws");
    follow(&mut follower, &id, 0);
    sync(&mut follower);
    let rss_before = server.rss_kib();
    // 20,000 lines of 1,000 bytes while the follower reads nothing: far more
    // than the socket buffers and the ring (2,000 entries) hold.
    let batch = format!("{}\n", "z".repeat(1000)).repeat(1000);
    for _ in 0..20 {
        assert_eq!(server.append_text(&id, &batch).status, 200);
    }
    let rss_during = server.rss_kib();
    println!("stalled follower: RSS {rss_before} -> {rss_during} KiB");
    // The ring is the buffer: 20 MB of entries are not queued for the client.
    assert!(
        rss_during < rss_before + 12 * 1024,
        "{rss_before} -> {rss_during} KiB"
    );
    let (mut received, mut dropped, mut cursor) = (0, 0, 0);
    while cursor < 20_000 {
        let log = next_of_type(&mut follower, "log");
        let entries = log["entries"].as_array().expect("entries");
        let message_dropped = log["dropped"].as_u64().expect("dropped");
        if let Some(first) = entries.first() {
            assert_eq!(
                first["cursor"].as_u64(),
                Some(cursor + message_dropped),
                "no gap"
            );
        }
        assert!(
            entries.len() <= 1000,
            "{} entries in one message",
            entries.len()
        );
        received += entries.len() as u64;
        dropped += message_dropped;
        cursor = log["cursor"].as_u64().expect("cursor");
    }
    assert_eq!(received + dropped, 20_000);
    assert!(
        dropped > 0,
        "the ring evicted entries the follower had not read"
    );
}

/// A follower catching up on a full 10,000-entry log of 80-byte lines gets
/// it in ten messages of 1,000 entries (`WS_LOG_ENTRIES_PER_MESSAGE_MAX`;
/// 1,000 such entries fit the 256 KiB read-ahead), each entry once and in
/// order. Sized by a worst-case estimate of their JSON, the same backlog
/// used to arrive in 140 messages that shrank from 409 entries to 1.
#[test]
fn a_follower_catching_up_on_10000_entries_gets_ten_full_messages() {
    let server = TestServer::start(&["--ws-interval-ms", "60000"]);
    let id = server.create_session("backlog");
    let lines: String = (0..10_000)
        .map(|index| format!("line {index:<75}\n"))
        .collect();
    assert_eq!(server.append_text(&id, &lines).status, 200);
    let mut client = ws_connect(&server, "/sessions/ws");
    follow(&mut client, &id, 0);
    let mut sizes = Vec::new();
    let mut next_cursor = 0;
    while next_cursor < 10_000 {
        let log = next_of_type(&mut client, "log");
        assert_eq!(log["dropped"], 0);
        for entry in log["entries"].as_array().expect("entries") {
            assert_eq!(entry["cursor"], next_cursor, "each entry once, in order");
            assert_eq!(entry["message"], format!("line {next_cursor:<75}"));
            next_cursor += 1;
        }
        assert_eq!(log["cursor"], next_cursor);
        sizes.push(log["entries"].as_array().map_or(0, Vec::len));
    }
    assert_eq!(sizes, [1000; 10]);
}
