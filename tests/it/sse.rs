//! Server-Sent Events: log streams (`GET /sessions/{id}/log` with
//! `Accept: text/event-stream` or `?follow=sse`) and `GET /sessions/events`,
//! read over raw sockets (chunked decoding and event parsing here) and
//! with real curl.

use crate::support::*;
use crate::ws_changes::{by_id, Applied, ListModel};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One event as the spec's parser would collect it (comments kept).
#[derive(Debug, Default, Clone)]
struct Event {
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    retry: Option<String>,
    comments: Vec<String>,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().expect("data")).expect("JSON data")
    }
}

/// A stream being read: chunks decoded into `body`, events taken from it.
struct SseClient {
    stream: TcpStream,
    head: String,
    raw: Vec<u8>,
    body: String,
    /// The last chunk arrived.
    ended: bool,
    /// The server closed the connection.
    closed: bool,
}

/// Sends a GET for `path` with `headers`; the status and the client.
fn open_stream(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> (u16, SseClient) {
    open_on(server.connect(), path, headers)
}

fn open_on(mut stream: TcpStream, path: &str, headers: &[(&str, &str)]) -> (u16, SseClient) {
    let mut raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    stream.write_all(raw.as_bytes()).expect("send");
    let mut client = SseClient {
        stream,
        head: String::new(),
        raw: Vec::new(),
        body: String::new(),
        ended: false,
        closed: false,
    };
    let head_end = loop {
        if let Some(index) = find(&client.raw, b"\r\n\r\n") {
            break index + 4;
        }
        assert!(
            client.fill(),
            "no head: {:?}",
            String::from_utf8_lossy(&client.raw)
        );
    };
    client.head = String::from_utf8_lossy(&client.raw[..head_end]).into_owned();
    client.raw.drain(..head_end);
    let status = client
        .head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status");
    (status, client)
}

const ACCEPT_SSE: (&str, &str) = ("Accept", "text/event-stream");

impl SseClient {
    /// One read; false at EOF, an error or the read deadline.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => {
                self.closed = true;
                false
            }
            Ok(count) => {
                self.raw.extend_from_slice(&chunk[..count]);
                true
            }
        }
    }

    /// Moves whole chunks from `raw` into `body`.
    fn decode(&mut self) {
        while let Some(line_end) = find(&self.raw, b"\r\n") {
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]).into_owned();
            let size = usize::from_str_radix(&size_text, 16).expect("a chunk size");
            if size == 0 {
                assert!(self.raw.len() >= line_end + 4 || !self.raw.is_empty());
                self.ended = true;
                self.raw.clear();
                return;
            }
            let chunk_end = line_end + 2 + size + 2;
            if self.raw.len() < chunk_end {
                return;
            }
            let data = &self.raw[line_end + 2..line_end + 2 + size];
            self.body
                .push_str(std::str::from_utf8(data).expect("UTF-8"));
            assert_eq!(&self.raw[chunk_end - 2..chunk_end], b"\r\n");
            self.raw.drain(..chunk_end);
        }
    }

    /// The next event (or comment block); `None` once the stream ended.
    fn next_block(&mut self) -> Option<Event> {
        loop {
            self.decode();
            if let Some(index) = self.body.find("\n\n") {
                let block: String = self.body.drain(..index + 2).collect();
                return Some(parse_block(&block));
            }
            if self.ended || !self.fill() {
                return None;
            }
        }
    }

    /// The next block with data (skipping `retry:` and comments).
    fn next_event(&mut self) -> Event {
        loop {
            let block = self.next_block().expect("an event before the stream ended");
            if block.data.is_some() {
                return block;
            }
        }
    }

    /// Reads until the server closes the connection; false on a read
    /// deadline first.
    fn wait_closed(&mut self) -> bool {
        while !self.closed {
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(_) => {}
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return false
                }
                Err(_) => self.closed = true,
            }
        }
        true
    }
}

fn parse_block(block: &str) -> Event {
    let mut event = Event::default();
    for line in block.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix(':') {
            event.comments.push(comment.trim().to_owned());
            continue;
        }
        let (name, value) = line.split_once(": ").unwrap_or((line, ""));
        let slot = match name {
            "event" => &mut event.event,
            "data" => &mut event.data,
            "id" => &mut event.id,
            "retry" => &mut event.retry,
            other => panic!("unknown field {other:?} in {block:?}"),
        };
        assert!(slot.is_none(), "one {name} per event: {block:?}");
        *slot = Some(value.to_owned());
    }
    event
}

fn append_lines(server: &TestServer, id: &str, from: usize, count: usize) {
    let lines: String = (from..from + count)
        .map(|index| format!("line {index}\n"))
        .collect();
    assert_eq!(server.append_text(id, &lines).status, 200);
}

/// The cursors of a page's entries, after checking `id:` is its cursor.
fn page_cursors(event: &Event) -> Vec<u64> {
    let page = event.json();
    assert_eq!(
        event.id.as_deref(),
        Some(page["cursor"].to_string().as_str()),
        "{page}"
    );
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["cursor"].as_u64().expect("cursor"))
        .collect()
}

#[test]
fn pages_arrive_as_entries_are_appended_with_the_cursor_as_id() {
    let server = TestServer::start(&[]);
    let id = server.create_session("sse");
    append_lines(&server, &id, 0, 3);
    let (status, mut client) = open_stream(&server, &format!("/sessions/{id}/log"), &[ACCEPT_SSE]);
    assert_eq!(status, 200, "{}", client.head);
    for field in [
        "Content-Type: text/event-stream\r\n",
        "Cache-Control: no-cache\r\n",
        "Transfer-Encoding: chunked\r\n",
    ] {
        assert!(client.head.contains(field), "{}", client.head);
    }
    assert!(!client.head.contains("Content-Length"), "{}", client.head);
    let first = client.next_block().expect("retry");
    assert_eq!(first.retry.as_deref(), Some("1000"));
    let page = client.next_event();
    assert_eq!(page_cursors(&page), [0, 1, 2]);
    let json = page.json();
    assert_eq!(json["entries"][0]["message"], "line 0");
    assert_eq!(
        (json["dropped"].clone(), json["more"].clone()),
        (0.into(), false.into())
    );
    assert_eq!(page.event, None, "pages are plain messages");
    append_lines(&server, &id, 3, 2);
    assert_eq!(page_cursors(&client.next_event()), [3, 4]);
}

#[test]
fn follow_sse_in_the_query_works_without_the_header_and_head_gets_only_the_head() {
    let server = TestServer::start(&[]);
    let id = server.create_session("query");
    append_lines(&server, &id, 0, 2);
    let (status, mut client) = open_stream(
        &server,
        &format!("/sessions/{id}/log?follow=sse&cursor=1"),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(page_cursors(&client.next_event()), [1]);
    let mut keep_alive = KeepAlive::new(&server);
    let head = keep_alive
        .send("HEAD", &format!("/sessions/{id}/log?follow=sse"), None, b"")
        .expect("a HEAD answer");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Type"), Some("text/event-stream"));
    assert_eq!(head.header("Content-Length"), None);
    // No stream followed: the connection takes another request.
    let health = keep_alive
        .send("GET", "/health", None, b"")
        .expect("health");
    assert_eq!(health.status, 200);
}

#[test]
fn refusals_come_before_the_stream() {
    let server = TestServer::start(&[]);
    let id = server.create_session("refused");
    let unknown = "5f0a1b2c3d4e5f60718293a4";
    let reply = server.request(
        "GET",
        &format!("/sessions/{unknown}/log"),
        &[ACCEPT_SSE],
        b"",
    );
    assert_eq!(reply.status, 404, "{}", reply.text());
    for (path, header, needle) in [
        (format!("/sessions/{id}/log?cursor=5"), "", "beyond"),
        (
            format!("/sessions/{id}/log?wait=5"),
            "",
            "unknown query parameter",
        ),
        (format!("/sessions/{id}/log?limit=0"), "", "limit"),
        (format!("/sessions/{id}/log"), "x", "Last-Event-ID"),
        (
            format!("/sessions/{id}/log?follow=ws"),
            "",
            "follow must be sse",
        ),
    ] {
        let mut headers = vec![ACCEPT_SSE];
        if !header.is_empty() {
            headers.push(("Last-Event-ID", header));
        }
        let reply = server.request("GET", &path, &headers, b"");
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert!(reply.error().contains(needle), "{path}: {}", reply.error());
    }
    let reply = server.request("POST", "/sessions/events", &[], b"");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("Allow"), Some("GET, HEAD"));
}

#[test]
fn last_event_id_resumes_exactly_where_a_dropped_stream_stopped() {
    let server = TestServer::start(&[]);
    let id = server.create_session("resume");
    let path = format!("/sessions/{id}/log?cursor=0&limit=7");
    let mut seen = Vec::new();
    let mut last_id = None::<String>;
    let mut appended = 0;
    for round in 0..4 {
        append_lines(&server, &id, appended, 10 + round);
        appended += 10 + round;
        let mut headers = vec![ACCEPT_SSE];
        let last = last_id.clone().unwrap_or_default();
        if last_id.is_some() {
            headers.push(("Last-Event-ID", &last));
        }
        let (status, mut client) = open_stream(&server, &path, &headers);
        assert_eq!(status, 200);
        // Read one or two pages, then drop the connection mid-stream.
        for _ in 0..=round % 2 {
            let event = client.next_event();
            let cursors = page_cursors(&event);
            assert!(cursors.len() <= 7, "{cursors:?}");
            seen.extend(cursors);
            last_id = event.id.clone();
        }
        drop(client);
    }
    // The rest, from the last id, to the end.
    server.request("DELETE", &format!("/sessions/{id}"), &[], b"");
    let last = last_id.unwrap_or_default();
    let (_, mut client) = open_stream(&server, &path, &[ACCEPT_SSE, ("Last-Event-ID", &last)]);
    loop {
        let event = client.next_event();
        if event.event.as_deref() == Some("end") {
            break;
        }
        seen.extend(page_cursors(&event));
    }
    let expected: Vec<u64> = (0..appended as u64).collect();
    assert_eq!(seen, expected, "every entry exactly once, in order");
}

#[test]
fn entries_evicted_before_the_stream_reached_them_are_counted_as_dropped() {
    let server = TestServer::start(&["--log-capacity", "10"]);
    let id = server.create_session("evicted");
    append_lines(&server, &id, 0, 30);
    let (_, mut client) = open_stream(
        &server,
        &format!("/sessions/{id}/log?cursor=5"),
        &[ACCEPT_SSE],
    );
    let page = client.next_event();
    assert_eq!(page.json()["dropped"], 15);
    assert_eq!(page_cursors(&page), (20..30).collect::<Vec<u64>>());
}

#[test]
fn the_end_event_follows_the_last_entries_then_the_stream_closes() {
    let server = TestServer::start(&[]);
    let id = server.create_session("ending");
    let (_, mut client) = open_stream(&server, &format!("/sessions/{id}/log"), &[ACCEPT_SSE]);
    append_lines(&server, &id, 0, 2);
    assert_eq!(page_cursors(&client.next_event()), [0, 1]);
    append_lines(&server, &id, 2, 1);
    assert_eq!(
        server
            .request("DELETE", &format!("/sessions/{id}"), &[], b"")
            .status,
        200
    );
    let mut cursors = Vec::new();
    let end = loop {
        let event = client.next_event();
        if event.event.is_some() {
            break event;
        }
        cursors.extend(page_cursors(&event));
    };
    assert_eq!(cursors, [2]);
    assert_eq!(end.event.as_deref(), Some("end"));
    assert_eq!(end.id.as_deref(), Some("3"));
    assert_eq!(end.json()["status"], "ended");
    assert!(client.next_block().is_none(), "nothing after the end");
    assert!(client.ended, "the last chunk ends the response");
    assert!(client.wait_closed(), "the server closes the connection");
}

#[test]
fn a_quiet_stream_gets_heartbeat_comments_and_retry_only_once() {
    let server = TestServer::start(&["--sse-heartbeat-ms", "100"]);
    let id = server.create_session("quiet");
    let (_, mut client) = open_stream(&server, &format!("/sessions/{id}/log"), &[ACCEPT_SSE]);
    let mut blocks = Vec::new();
    while blocks
        .iter()
        .filter(|block: &&Event| !block.comments.is_empty())
        .count()
        < 3
    {
        blocks.push(client.next_block().expect("a heartbeat"));
        assert!(blocks.len() < 20, "{blocks:?}");
    }
    let retries = blocks.iter().filter(|block| block.retry.is_some()).count();
    assert_eq!(retries, 1, "{blocks:?}");
    assert!(blocks[0].retry.is_some(), "retry comes first");
    assert!(blocks[1..]
        .iter()
        .all(|block| block.comments == ["keep-alive"] && block.data.is_none()));
}

#[test]
fn open_streams_count_against_the_connection_limit() {
    let server = TestServer::start(&["--max-connections", "3"]);
    let id = server.create_session("limit");
    let path = format!("/sessions/{id}/log");
    let mut streams: Vec<SseClient> = (0..3)
        .map(|_| {
            let (status, mut client) = open_stream(&server, &path, &[ACCEPT_SSE]);
            assert_eq!(status, 200);
            client.next_block().expect("retry");
            client
        })
        .collect();
    // A fourth connection is accepted and closed at once.
    let mut refused = server.connect();
    let _ = refused.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut buffer = [0u8; 64];
    assert!(
        matches!(refused.read(&mut buffer), Ok(0) | Err(_)),
        "a fourth connection is served"
    );
    // Once a stream ends, its place is free.
    drop(streams.pop());
    assert!(eventually(Duration::from_secs(5), || server
        .try_request("GET", "/health", &[], b"")
        .is_some_and(|reply| reply.status == 200)));
    append_lines(&server, &id, 0, 1);
    for client in &mut streams {
        assert_eq!(page_cursors(&client.next_event()), [0]);
    }
}

#[test]
fn curl_n_follows_a_log_to_its_end() {
    if !has_curl() {
        eprintln!("curl missing: skipped");
        return;
    }
    let server = TestServer::start(&[]);
    let id = server.create_session("curl");
    append_lines(&server, &id, 0, 3);
    let curl = Command::new("curl")
        .args([
            "-N",
            "-sS",
            "--max-time",
            "20",
            "-H",
            "Accept: text/event-stream",
        ])
        .arg(server.url(&format!("/sessions/{id}/log")))
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    // curl is connected once the server counts it (the server's own
    // connections: this check's only).
    assert!(eventually(Duration::from_secs(10), || server
        .get("/health")
        .json()["connections"]
        == 2));
    append_lines(&server, &id, 3, 2);
    assert_eq!(
        server
            .request("DELETE", &format!("/sessions/{id}"), &[], b"")
            .status,
        200
    );
    let output = curl.wait_with_output().expect("curl output");
    assert!(output.status.success(), "curl: {:?}", output.status);
    let text = String::from_utf8_lossy(&output.stdout);
    let blocks: Vec<Event> = text
        .split("\n\n")
        .filter(|block| !block.is_empty())
        .map(parse_block)
        .collect();
    let cursors: Vec<u64> = blocks
        .iter()
        .filter(|block| block.data.is_some() && block.event.is_none())
        .flat_map(page_cursors)
        .collect();
    assert_eq!(cursors, [0, 1, 2, 3, 4], "{text}");
    assert_eq!(
        blocks.last().and_then(|block| block.event.as_deref()),
        Some("end"),
        "{text}"
    );
}

/// What `GET /sessions/?status=all` says now.
fn listed(server: &TestServer) -> BTreeMap<String, Value> {
    by_id(&server.get("/sessions/?status=all").json()["sessions"])
}

/// The next list event, applied to `model` after checking its `event:`
/// names its JSON's type and its `id:` is its `seq`.
fn apply_list_event(client: &mut SseClient, model: &mut ListModel) -> (Applied, Value) {
    let event = client.next_event();
    let json = event.json();
    assert_eq!(event.event.as_deref(), json["type"].as_str(), "{json}");
    assert_eq!(event.id, Some(json["seq"].to_string()), "{json}");
    let applied = model.apply(&json).unwrap_or_else(|error| panic!("{error}"));
    assert_ne!(applied, Applied::KeepAlive, "the heartbeat is a comment");
    (applied, json)
}

/// Applies list events until the model equals the list the server
/// answers (10 s at most); the changes applied on the way.
fn converge_on(server: &TestServer, client: &mut SseClient, model: &mut ListModel) -> Vec<Value> {
    let expected = listed(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut changes = Vec::new();
    while model.sessions != expected {
        assert!(
            Instant::now() < deadline,
            "not converged; seq {:?}",
            model.seq
        );
        let (applied, json) = apply_list_event(client, model);
        assert_eq!(
            applied,
            Applied::Changes,
            "a list for a reader that keeps up"
        );
        changes.push(json);
    }
    changes
}

fn upserts_of(changes: &[Value], id: &str) -> usize {
    let upserts = changes
        .iter()
        .flat_map(|c| c["upserts"].as_array().cloned().unwrap_or_default());
    upserts.filter(|session| session["id"] == id).count()
}

fn is_removed(changes: &[Value], id: &str) -> bool {
    let mut ids = changes
        .iter()
        .flat_map(|c| c["removed"].as_array().cloned().unwrap_or_default());
    ids.any(|removed| removed == id)
}

/// A list stream, its first event applied (the whole list).
fn list_stream(server: &TestServer, headers: &[(&str, &str)]) -> (SseClient, ListModel) {
    let (status, mut client) = open_stream(server, "/sessions/events", headers);
    assert_eq!(status, 200);
    let mut model = ListModel::default();
    let (applied, _) = apply_list_event(&mut client, &mut model);
    assert_eq!(applied, Applied::List);
    (client, model)
}

fn put_metadata(server: &TestServer, id: &str, metadata: Value) {
    let body = serde_json::json!({ "metadata": metadata }).to_string();
    let headers = [("Content-Type", "application/json")];
    let path = format!("/sessions/{id}");
    assert_eq!(
        server
            .request("PUT", &path, &headers, body.as_bytes())
            .status,
        200
    );
}

#[test]
fn sessions_events_send_the_list_once_then_changes_without_a_gap() {
    let server = TestServer::start(&["--ws-interval-ms", "100", "--max-ended", "1"]);
    let (mut client, mut model) = list_stream(&server, &[]);
    assert_eq!(model.sessions, listed(&server), "the whole list first");

    let first = server.create_session("first");
    let changes = converge_on(&server, &mut client, &mut model);
    assert_eq!(upserts_of(&changes, &first), 1, "created: {changes:?}");

    put_metadata(&server, &first, serde_json::json!({"step": "updated"}));
    let changes = converge_on(&server, &mut client, &mut model);
    assert_eq!(upserts_of(&changes, &first), 1);
    assert_eq!(model.sessions[&first]["metadata"]["step"], "updated");

    append_lines(&server, &first, 0, 2);
    let changes = converge_on(&server, &mut client, &mut model);
    assert_eq!(upserts_of(&changes, &first), 1, "the entry count changed");
    assert_eq!(model.sessions[&first]["log"]["count"], 2);

    let path = format!("/sessions/{first}");
    assert_eq!(server.request("DELETE", &path, &[], b"").status, 200);
    converge_on(&server, &mut client, &mut model);
    assert_eq!(model.sessions[&first]["status"], "ended");

    // A second ended session pushes the first out of the ended list.
    let second = server.create_session("second");
    let second_path = format!("/sessions/{second}");
    assert_eq!(server.request("DELETE", &second_path, &[], b"").status, 200);
    let changes = converge_on(&server, &mut client, &mut model);
    assert!(is_removed(&changes, &first), "evicted: {changes:?}");
    assert_eq!(model.sessions[&second]["status"], "ended");
    // `ListModel` refused any gap in `seq` on the way; the model client
    // ends equal to the list.
    assert_eq!(model.sessions, listed(&server));
}

#[test]
fn many_updates_in_a_tick_are_one_upsert_and_quiet_ticks_send_nothing() {
    let interval_ms = 1_000;
    let server = TestServer::start(&["--ws-interval-ms", &interval_ms.to_string()]);
    let id = server.create_session("busy");
    let (mut client, mut model) = list_stream(&server, &[]);
    let started = Instant::now();
    for index in 0..50 {
        put_metadata(&server, &id, serde_json::json!({ "n": index }));
    }
    let ticks_spanned = started.elapsed().as_millis() as usize / interval_ms + 2;
    let changes = converge_on(&server, &mut client, &mut model);
    assert_eq!(model.sessions[&id]["metadata"]["n"], 49);
    let sent = upserts_of(&changes, &id);
    assert!(
        sent <= ticks_spanned.min(49),
        "{sent} upserts for 50 updates in {ticks_spanned} ticks"
    );
    // Nothing changes now: the next block is the heartbeat comment (the
    // default 15 s would outlast the read timeout, so a short one).
    let server = TestServer::start(&["--ws-interval-ms", "100", "--sse-heartbeat-ms", "1000"]);
    let (mut client, _) = list_stream(&server, &[]);
    let block = client.next_block().expect("a block");
    assert!(block.data.is_none(), "no event at quiet ticks: {block:?}");
    assert_eq!(block.comments, ["keep-alive"]);
}

#[test]
fn last_event_id_at_the_current_seq_resumes_with_changes_and_an_old_one_gets_a_list() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let (mut keeper, mut kept) = list_stream(&server, &[]);
    let (dropped, mut model) = list_stream(&server, &[]);
    let seq = model.seq.expect("seq").to_string();
    drop(dropped);
    // Nothing changed since: the seq is current, and the resumed stream
    // gets changes only, applied to the list it held.
    let (status, mut resumed) =
        open_stream(&server, "/sessions/events", &[("Last-Event-ID", &seq)]);
    assert_eq!(status, 200);
    let id = server.create_session("after-resume");
    let (applied, json) = apply_list_event(&mut resumed, &mut model);
    assert_eq!(applied, Applied::Changes, "{json}");
    converge_on(&server, &mut resumed, &mut model);
    assert!(model.sessions.contains_key(&id));
    converge_on(&server, &mut keeper, &mut kept);
    // A seq that is no longer the current one: a fresh list first.
    for old in [seq.as_str(), "0"] {
        let (status, mut stale) =
            open_stream(&server, "/sessions/events", &[("Last-Event-ID", old)]);
        assert_eq!(status, 200);
        let mut model = ListModel::default();
        let (applied, json) = apply_list_event(&mut stale, &mut model);
        assert_eq!(applied, Applied::List, "{json}");
        assert_eq!(model.sessions, listed(&server));
    }
    let (status, _) = open_stream(&server, "/sessions/events", &[("Last-Event-ID", "x")]);
    assert_eq!(status, 400);
}

#[test]
fn curl_n_gets_the_list_then_changes() {
    if !has_curl() {
        eprintln!("skipped: no curl");
        return;
    }
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let url = format!("http://{}/sessions/events", server.addr);
    let mut curl = Command::new("curl")
        .args(["-sN", "--max-time", "10", &url])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let stdout = curl.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut next_event_line = || loop {
        let line = lines.next().expect("a line").expect("text");
        if line.starts_with("event: ") {
            return line;
        }
    };
    assert_eq!(next_event_line(), "event: sessions");
    server.create_session("for-curl");
    assert_eq!(next_event_line(), "event: changes");
    curl.kill().expect("kill curl");
    curl.wait().expect("curl ended");
}

/// A socket with a small receive buffer, connected to the server.
fn small_buffer_connection(server: &TestServer) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&server.addr.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    stream
}

#[test]
fn a_list_stream_that_stops_reading_is_cut_off_while_others_are_served() {
    // Alone: building 10 MB lists beside the WebSocket test's own (a debug
    // build on two cores) starved both of their intervals.
    let _alone = exclusive();
    let server = TestServer::start_ungated(&["--ws-interval-ms", "2000"], &[]);
    // About 10 MB per list: a reader that takes nothing still holds more
    // than the cap of an older list when the next is due (the kernel's
    // buffers take about 4 MB).
    let metadata = serde_json::json!({"blob": "m".repeat(65_000)});
    for index in 0..160 {
        let body = serde_json::json!({"appname": format!("big-{index}"), "mode": "test", "metadata": metadata});
        assert_eq!(
            server.post_json("/sessions/", &body.to_string()).status,
            201
        );
    }
    let (status, mut stuck) = open_on(small_buffer_connection(&server), "/sessions/events", &[]);
    assert_eq!(status, 200);
    // Only changes bring a new event: a session changes at every look.
    let busy = server.create_session("busy");
    let mut round = 0;
    let started = Instant::now();
    let cap = format!(
        "cut off: unsent bytes over {}",
        sessions_lite::limits::SSE_UNSENT_BYTES_MAX
    );
    let log_has_cap = || {
        round += 1;
        put_metadata(&server, &busy, serde_json::json!({ "round": round }));
        let log = server
            .get(&format!("/sessions/{}/log", server_session(&server)))
            .json();
        log["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|entry| {
                entry["message"]
                    .as_str()
                    .is_some_and(|message| message.contains(&cap))
            })
    };
    assert!(
        eventually(Duration::from_secs(20), log_has_cap),
        "never cut off"
    );
    println!("cut off after {:?}", started.elapsed());
    // The server stayed responsive; the stuck stream's connection is gone.
    assert_eq!(server.get("/health").status, 200);
    stuck
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    assert!(stuck.wait_closed(), "the stuck stream stays open");
}

#[test]
fn a_slow_list_reader_gets_a_fresh_list_not_a_backlog() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    // 30 sessions of 60 KB: changes with all of them are 1.8 MB, under
    // the 4 MiB cap, so the reader is not cut off; the 20 rounds below
    // would be a backlog of tens of MB, far more than the kernel's buffers
    // hold (about 4 MB).
    let metadata = serde_json::json!({"blob": "b".repeat(60_000)});
    let ids: Vec<String> = (0..30)
        .map(|index| {
            let body = serde_json::json!({"appname": format!("big-{index}"), "mode": "t", "metadata": metadata});
            server.post_json("/sessions/", &body.to_string()).json()["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    let (status, mut slow) = open_on(small_buffer_connection(&server), "/sessions/events", &[]);
    assert_eq!(status, 200);
    let mut model = ListModel::default();
    assert_eq!(apply_list_event(&mut slow, &mut model).0, Applied::List);
    let seq_before = model.seq.expect("a seq");
    // The reader stops reading while every session changes, round by round.
    for round in 0..20 {
        for id in &ids {
            put_metadata(&server, id, serde_json::json!({ "round": round }));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Reading again: what was in flight, then a fresh list, then changes.
    // While this reader drains a 1.8 MB list through its small buffer,
    // the last rounds' changes may come due and get it another fresh
    // list: more than one list is right, a backlog of every tick is not.
    let expected = listed(&server);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut lists, mut changes_read, mut bytes_read) = (0u64, 0u64, 0usize);
    while model.sessions != expected || lists == 0 {
        assert!(
            Instant::now() < deadline,
            "not converged; seq {:?}",
            model.seq
        );
        let (applied, json) = apply_list_event(&mut slow, &mut model);
        lists += u64::from(applied == Applied::List);
        changes_read += u64::from(applied == Applied::Changes);
        bytes_read += json.to_string().len();
    }
    let ticks = model.seq.expect("a seq") - seq_before;
    assert!(
        ticks >= 10,
        "only {ticks} ticks of changes during the stall"
    );
    assert!(
        changes_read + lists < ticks && bytes_read < 16 << 20,
        "{changes_read} changes and {lists} lists of {ticks} ticks ({bytes_read} bytes)"
    );
    assert_eq!(model.sessions[&ids[0]]["metadata"]["round"], 19);
    // That a reader that keeps up gets only changes is the next test's.
}

#[test]
fn a_list_reader_that_keeps_up_sees_seq_grow_by_one_per_changes_event() {
    let server = TestServer::start(&["--ws-interval-ms", "20"]);
    let (mut client, mut model) = list_stream(&server, &[]);
    let ids: Vec<String> = (0..5)
        .map(|index| server.create_session(&format!("s{index}")))
        .collect();
    let seq_start = model.seq.expect("a seq");
    for round in 0..100 {
        server.append_text(&ids[round % ids.len()], "line\n");
        if round % 10 == 0 {
            let path = format!("/sessions/{}", ids[round % ids.len()]);
            assert_eq!(server.request("DELETE", &path, &[], b"").status, 200);
        }
    }
    // `ListModel` refuses a gap; every event after the first list is a
    // changes event (a list in between fails `converge_on`).
    let changes = converge_on(&server, &mut client, &mut model);
    let seq_end = model.seq.expect("a seq");
    assert_eq!(seq_end - seq_start, changes.len() as u64);
    assert!(!changes.is_empty());
}

#[test]
fn a_log_stream_that_stops_reading_holds_its_read_ahead_and_resumes_with_drops_counted() {
    let server = TestServer::start(&["--log-capacity", "2000"]);
    let id = server.create_session("firehose");
    let (_, mut slow) = open_on(
        small_buffer_connection(&server),
        &format!("/sessions/{id}/log"),
        &[ACCEPT_SSE],
    );
    slow.next_block().expect("retry");
    let rss_before = server.rss_kib();
    let batch = format!("{}\n", "z".repeat(1000)).repeat(1000);
    for _ in 0..20 {
        assert_eq!(server.append_text(&id, &batch).status, 200);
        // The server answers others while the reader reads nothing.
        assert_eq!(server.get("/health").status, 200);
    }
    let rss_during = server.rss_kib();
    assert!(
        rss_during < rss_before + 12 * 1024,
        "{rss_before} -> {rss_during} KiB"
    );
    let (mut received, mut dropped, mut cursor) = (0, 0, 0);
    while cursor < 20_000 {
        let event = slow.next_event();
        let page = event.json();
        let page_dropped = page["dropped"].as_u64().expect("dropped");
        let cursors = page_cursors(&event);
        if let Some(first) = cursors.first() {
            assert_eq!(*first, cursor + page_dropped, "no gap");
        }
        received += cursors.len() as u64;
        dropped += page_dropped;
        cursor = page["cursor"].as_u64().expect("cursor");
    }
    assert_eq!(received + dropped, 20_000);
    assert!(
        dropped > 0,
        "the ring evicted entries the reader had not read"
    );
}

fn server_session(server: &TestServer) -> String {
    server.get("/sessions/").json()["server_session"]
        .as_str()
        .expect("id")
        .to_owned()
}
