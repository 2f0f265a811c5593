//! Abuse: attacks on the real binary, each bounded in count and time, on
//! loopback only. After each, the server must still serve and must have
//! lost nothing it accepted. Figures are printed (run with --nocapture).

use crate::support::*;
use sessions_lite::limits::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn still_serves(server: &TestServer) {
    let reply = server.get("/health");
    assert_eq!(reply.status, 200, "the server still answers");
}

/// Reads until EOF or `within`; returns the bytes and whether EOF came.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + within;
    let mut all = Vec::new();
    let mut buffer = vec![0u8; 65536];
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return (all, true),
            Ok(count) => all.extend_from_slice(&buffer[..count]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (all, true),
        }
    }
    (all, false)
}

#[test]
fn slow_body_is_cut_at_its_deadline_while_others_are_served() {
    let server = TestServer::start(&[]);
    let id = server.create_session("slow-body");
    let mut slow = server.connect();
    let head = format!(
        "POST /sessions/{id}/log HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"mess"
    );
    slow.write_all(head.as_bytes()).expect("send");
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_millis(BODY_IDLE_TIMEOUT_MS - 2_000) {
        assert_eq!(server.get("/health").status, 200);
        served += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    let (bytes, closed) = read_until_closed(&mut slow, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(closed);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(BODY_IDLE_TIMEOUT_MS - 2_000));
    assert_eq!(
        server.get(&format!("/sessions/{id}/log")).json()["total"],
        0,
        "nothing half-appended"
    );
    println!("slow body: closed after {elapsed:?}, {served} other requests served meanwhile");
}

#[test]
fn idle_keep_alive_is_closed_after_its_timeout() {
    let server = TestServer::start(&[]);
    let mut idle = KeepAlive::new(&server);
    assert_eq!(
        idle.send("GET", "/health", None, b"")
            .map(|reply| reply.status),
        Some(200)
    );
    let mut never_sent = server.connect();
    std::thread::sleep(Duration::from_millis(IDLE_TIMEOUT_MS - 3_000));
    // Still open just before the timeout.
    assert_eq!(
        idle.send("GET", "/health", None, b"")
            .map(|reply| reply.status),
        Some(200)
    );
    let (_, closed) = read_until_closed(&mut never_sent, Duration::from_secs(8));
    assert!(
        closed,
        "a connection that never sent a byte is closed at the idle timeout"
    );
}

#[test]
fn client_that_never_reads_is_cut_off_and_others_are_served() {
    let server = TestServer::start(&[]);
    let id = server.create_session("big-log");
    let line = format!("{}\n", "y".repeat(1000));
    let lines: String = std::iter::repeat_n(line.as_str(), 10_000).collect();
    assert_eq!(server.append_text(&id, &lines).status, 200);
    let rss_before = server.rss_kib();
    // Ask for ~10 MB pages many times and never read an answer.
    let mut hog = server.connect();
    let request = format!("GET /sessions/{id}/log?limit=10000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let requests = request.repeat(50);
    hog.set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let _ = hog.write_all(requests.as_bytes());
    for _ in 0..20 {
        assert_eq!(server.get("/health").status, 200);
    }
    let rss_during = server.rss_kib();
    assert!(
        rss_during < rss_before + 64 * 1024,
        "output is bounded: {rss_before} -> {rss_during} KiB"
    );
    // The stalled writer is dropped at its deadline.
    std::thread::sleep(Duration::from_millis(WRITE_STALL_TIMEOUT_MS + 2_000));
    let (bytes, closed) = read_until_closed(&mut hog, Duration::from_secs(20));
    assert!(closed, "the connection was closed");
    assert!(
        bytes.len() < 50 * 10_000 * 1000,
        "not every answer was produced"
    );
    still_serves(&server);
    println!(
        "non-reader: RSS {rss_before} -> {rss_during} KiB, {} bytes before the cut",
        bytes.len()
    );
}

#[test]
fn ten_thousand_idle_connections() {
    let _alone = exclusive();
    let server = TestServer::start_ungated(&[], &[]);
    let rss_before = server.rss_kib();
    let started = Instant::now();
    let mut held = Vec::with_capacity(CONNECTIONS_MAX);
    while held.len() < CONNECTIONS_MAX && started.elapsed() < Duration::from_secs(180) {
        match TcpStream::connect(server.addr) {
            Ok(stream) => held.push(stream),
            Err(error) => panic!("connect {} failed: {error}", held.len()),
        }
    }
    assert_eq!(held.len(), CONNECTIONS_MAX);
    // One of the held connections is still served, and sees them all.
    let mut first = held.swap_remove(0);
    first.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let mut counted = 0;
    assert!(
        eventually(Duration::from_secs(20), || {
            let _ = first.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            let mut buffered = Vec::new();
            let reply = read_one(&mut first, &mut buffered).expect("health on a held connection");
            counted = reply.json()["connections"].as_u64().unwrap_or(0);
            counted == CONNECTIONS_MAX as u64
        }),
        "connections counted: {counted}"
    );
    // One more is accepted and closed at once.
    let mut extra = TcpStream::connect(server.addr).expect("connect");
    let (_, closed) = read_until_closed(&mut extra, Duration::from_secs(10));
    assert!(closed, "beyond the limit: closed at once");
    let rss_held = server.rss_kib();
    drop(held);
    drop(first);
    assert!(eventually(Duration::from_secs(10), || {
        server
            .try_request("GET", "/health", &[], b"")
            .is_some_and(|reply| reply.status == 200)
    }));
    let rss_after = server.rss_kib();
    println!("10,000 idle connections: RSS {rss_before} -> {rss_held} -> {rss_after} KiB");
    assert!(
        rss_held < rss_before + 32 * 1024,
        "RSS bounded: {rss_held} KiB"
    );
}

/// Clients that connect while the queue is full, in the backlog test.
const BEYOND_BACKLOG: usize = 4;

/// A farm reconnecting at once while the loop cannot accept: the kernel
/// queues the backlog (Linux admits a connection while no more than the
/// backlog wait, so backlog + 1 of them), drops the SYNs beyond it (those
/// clients retry), and once the loop runs every queued connection is
/// answered.
#[test]
fn a_stopped_server_queues_its_backlog_and_answers_every_queued_connection() {
    let _alone = exclusive();
    let server = TestServer::start_ungated(&[], &[]);
    let (backlog, note) = expected_backlog();
    let queue_max = backlog + 1;
    let request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    server.signal("STOP");
    let mut queued = Vec::new();
    for index in 0..queue_max {
        let mut stream = TcpStream::connect_timeout(&server.addr, READ_TIMEOUT)
            .unwrap_or_else(|error| panic!("connection {index} not queued ({note}): {error}"));
        stream.write_all(request).expect("request into the queue");
        queued.push(stream);
    }
    let beyond: Vec<_> = (0..BEYOND_BACKLOG)
        .map(|_| {
            let addr = server.addr;
            std::thread::spawn(move || {
                // SYN retries come 1, 3, 7 ... s apart; 60 s bounds them.
                let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(60)).ok()?;
                stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
                stream.write_all(request).ok()?;
                read_reply(&mut stream).map(|reply| reply.status)
            })
        })
        .collect();
    assert!(
        eventually(Duration::from_secs(10), || {
            listen_queue(server.addr).drops >= BEYOND_BACKLOG as u64
        }),
        "the connections beyond the queue were not refused ({note}): {:?}",
        listen_queue(server.addr)
    );
    let listen = listen_queue(server.addr);
    assert_eq!(listen.queued, queue_max, "{note}; ss: {listen:?}");
    server.signal("CONT");
    for (index, stream) in queued.iter_mut().enumerate() {
        let status = read_reply(stream).map(|reply| reply.status);
        assert_eq!(status, Some(200), "queued connection {index}");
    }
    for thread in beyond {
        let status = thread.join().expect("client thread");
        assert_eq!(status, Some(200), "a client that retried its SYN");
    }
    println!("backlog: {queue_max} queued while stopped and answered; {BEYOND_BACKLOG} retried");
}

#[test]
fn session_table_flood_gets_503_at_the_cap() {
    let server = TestServer::start(&["--max-sessions", "200"]);
    let mut client = KeepAlive::new(&server);
    let mut created = 0;
    let mut refused = 0;
    for index in 0..500 {
        let body = format!("{{\"appname\":\"flood-{index}\",\"mode\":\"m\"}}");
        match client
            .send(
                "POST",
                "/sessions/",
                Some("application/json"),
                body.as_bytes(),
            )
            .map(|reply| reply.status)
        {
            Some(201) => created += 1,
            Some(503) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((created, refused), (200, 300));
    assert_eq!(server.get("/health").json()["sessions"]["active"], 201);
    println!("session flood: {created} created, {refused} refused with 503");
}

#[test]
fn one_gib_log_flood_keeps_rss_bounded_by_the_ring() {
    let server = TestServer::start(&[]);
    let id = server.create_session("flood");
    let rss_before = server.rss_kib();
    let line = format!("{}\n", "f".repeat(1023));
    let chunk: Vec<u8> = line.repeat(1024).into_bytes(); // 1 MiB
    let chunks = 1024; // 1 GiB
    let mut stream = server.connect();
    stream
        .set_write_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let head = format!(
        "POST /sessions/{id}/log HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        chunk.len() * chunks
    );
    stream.write_all(head.as_bytes()).expect("head");
    let mut rss_peak = 0;
    let started = Instant::now();
    for index in 0..chunks {
        stream.write_all(&chunk).expect("flood");
        if index % 64 == 0 {
            rss_peak = rss_peak.max(server.rss_kib());
        }
    }
    let reply = read_reply(&mut stream).expect("answer");
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 200);
    let lines = (chunks * 1024) as u64;
    assert_eq!(reply.json()["appended"], lines);
    let session = server.get(&format!("/sessions/{id}")).json();
    assert_eq!(session["log"]["count"], LOG_CAPACITY_DEFAULT);
    assert_eq!(
        session["log"]["dropped"],
        lines - LOG_CAPACITY_DEFAULT as u64
    );
    // The ring holds 10,000 × ~1 KiB ≈ 10 MiB; the flood was 1 GiB.
    assert!(
        rss_peak < rss_before + 48 * 1024,
        "RSS {rss_before} -> peak {rss_peak} KiB"
    );
    println!("1 GiB flood in {elapsed:?}: RSS {rss_before} -> peak {rss_peak} KiB, {lines} lines, ring full");
}

#[test]
fn json_bombs_are_refused_cheaply() {
    let server = TestServer::start(&[]);
    let id = server.create_session("bombs");
    let path = format!("/sessions/{id}/log");
    let json = [("Content-Type", "application/json")];
    let deep = "[".repeat(JSON_BODY_BYTES_MAX - 16);
    let reply = server.request("POST", &path, &json, deep.as_bytes());
    assert_eq!(reply.status, 400);
    let deep_object = "{\"a\":".repeat(100_000);
    assert_eq!(
        server
            .request("POST", &path, &json, deep_object.as_bytes())
            .status,
        400
    );
    let session_bomb = format!(
        "{{\"appname\":\"a\",\"mode\":\"m\",\"metadata\":{}}}",
        "[".repeat(100_000)
    );
    assert_eq!(server.post_json("/sessions/", &session_bomb).status, 400);
    // Many tiny entries inside the size limit: accepted, the ring keeps the newest.
    let entry = "{\"message\":\"m\"},";
    let count = (JSON_BODY_BYTES_MAX - 64) / entry.len();
    let body = format!("[{}{{\"message\":\"last\"}}]", entry.repeat(count));
    let reply = server.request("POST", &path, &json, body.as_bytes());
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["appended"], count as u64 + 1);
    still_serves(&server);
}

#[test]
fn header_floods_are_431() {
    let server = TestServer::start(&[]);
    let mut raw = String::from("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for index in 0..10_000 {
        raw.push_str(&format!("X-{index}: v\r\n"));
    }
    raw.push_str("\r\n");
    let (replies, closed) = exchange_raw(&server, raw.as_bytes());
    assert_eq!(replies.first().map(|reply| reply.status), Some(431));
    assert!(closed);
    let endless = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: {}",
        "v".repeat(1 << 20)
    );
    let (replies, closed) = exchange_raw(&server, endless.as_bytes());
    assert_eq!(replies.first().map(|reply| reply.status), Some(431));
    assert!(closed);
    still_serves(&server);
}

#[test]
fn binary_garbage_is_refused_and_closed() {
    let server = TestServer::start(&[]);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..20 {
        let garbage: Vec<u8> = (0..(1 << 16))
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let (replies, closed) = exchange_raw(&server, &garbage);
        assert!(replies.len() <= 1, "round {round}: one answer at most");
        if let Some(reply) = replies.first() {
            assert!(reply.status >= 400, "round {round}: {}", reply.status);
        }
        assert!(closed, "round {round}");
    }
    still_serves(&server);
}

#[test]
fn smuggling_te_cl_and_duplicate_length_never_answer_twice() {
    let server = TestServer::start(&[]);
    let inner = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let attacks = [
        // TE.CL: chunked says one thing, the length another.
        format!("POST /sessions/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n{inner}\r\n0\r\n\r\n"),
        // Duplicate, differing lengths.
        format!("POST /sessions/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{inner}", inner.len()),
        // An obfuscated coding.
        format!("POST /sessions/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{inner}"),
        format!("POST /sessions/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n{inner}"),
    ];
    for attack in &attacks {
        let (replies, closed) = exchange_raw(&server, attack.as_bytes());
        assert_eq!(replies.len(), 1, "{attack:?}");
        assert!(replies[0].status >= 400);
        assert!(closed);
    }
    still_serves(&server);
}

#[test]
fn websocket_ping_flood_is_answered_and_pushes_go_on() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let stream = server.connect();
    let url = format!("ws://{}/sessions/ws", server.addr);
    let (mut client, _) = tungstenite::client(url.as_str(), stream).expect("handshake");
    let pings = 20_000;
    for index in 0..pings {
        let payload = format!("{index}").into_bytes();
        client
            .write(tungstenite::Message::Ping(payload.into()))
            .expect("ping");
        if index % 1000 == 0 {
            client.flush().expect("flush");
        }
    }
    client.flush().expect("flush");
    let (mut pongs, mut lists) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while (pongs < pings || lists < 2) && Instant::now() < deadline {
        match client.read().expect("message") {
            tungstenite::Message::Pong(_) => pongs += 1,
            tungstenite::Message::Text(_) => lists += 1,
            _ => {}
        }
    }
    assert_eq!(pongs, pings, "every ping answered");
    assert!(lists >= 2, "list pushes went on during the flood");
    still_serves(&server);
    println!("ping flood: {pings} pings, {pongs} pongs, {lists} list pushes meanwhile");
}
