//! Compressed request bodies (`Content-Encoding: gzip` / `deflate`): real
//! curl with a gzipped file and from a pipe, raw sockets for odd splits,
//! and refusals (broken streams, bombs, unknown codings) that leave the log
//! exactly as it was.

use crate::support::{has_curl, read_one, read_reply, Reply, TestServer};
use miniz_oxide::deflate::{compress_to_vec, compress_to_vec_zlib};
use serde_json::{json, Value};
use sessions_lite::http::checksum::Crc32;
use sessions_lite::limits::{INFLATED_TEXT_BODY_BYTES_MAX, JSON_BODY_BYTES_MAX};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn log_path(id: &str) -> String {
    format!("/sessions/{id}/log")
}

/// Every message in a session's log, oldest first.
fn log_messages(server: &TestServer, id: &str) -> Vec<String> {
    let reply = server.get(&format!("/sessions/{id}/log?cursor=0&limit=10000"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["message"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// One gzip member (no optional header fields) of `data`.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut member = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    member.extend(compress_to_vec(data, 6));
    let mut crc = Crc32::new();
    crc.update(data);
    member.extend(crc.value().to_le_bytes());
    member.extend((data.len() as u32).to_le_bytes());
    member
}

fn lines(count: usize) -> (String, Vec<String>) {
    let lines: Vec<String> = (0..count)
        .map(|index| format!("step {index}: compiling module_{}.rs", index * 7 % 13))
        .collect();
    (lines.join("\n") + "\n", lines)
}

/// Sends a request with these headers and body, framed by Content-Length,
/// on a new connection; writes what the server takes (it may close early)
/// and reads its answer.
fn send(server: &TestServer, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Reply {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for header in headers {
        raw.push_str(header);
        raw.push_str("\r\n");
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut stream = server.connect();
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    // A refusal before the end closes the connection: the rest may not go.
    let _ = stream.write_all(&bytes);
    read_reply(&mut stream).expect("an answer")
}

/// The same, framed as chunks of `chunk_size` bytes.
fn send_chunked(
    server: &TestServer,
    path: &str,
    headers: &[&str],
    body: &[u8],
    chunk_size: usize,
) -> Reply {
    let mut raw = format!("PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for header in headers {
        raw.push_str(header);
        raw.push_str("\r\n");
    }
    raw.push_str("Transfer-Encoding: chunked\r\n\r\n");
    let mut bytes = raw.into_bytes();
    for chunk in body.chunks(chunk_size) {
        bytes.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
        bytes.extend_from_slice(chunk);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    let mut stream = server.connect();
    let _ = stream.write_all(&bytes);
    read_reply(&mut stream).expect("an answer")
}

#[test]
fn curl_data_binary_of_a_gzipped_build_log() {
    if !has_curl() {
        eprintln!("skipped: no curl");
        return;
    }
    let server = TestServer::start(&[]);
    let id = server.create_session("gzip-file");
    let (text, expected) = lines(3000);
    let dir = std::env::temp_dir().join(format!("sessions-lite-gzip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let log = dir.join("build.log");
    std::fs::write(&log, &text).expect("write log");
    // The real gzip, with the file name in its header (FNAME).
    let status = Command::new("gzip").arg("-kf").arg(&log).status();
    if !status.is_ok_and(|status| status.success()) {
        eprintln!("skipped: no gzip");
        return;
    }
    let gz = dir.join("build.log.gz");
    let output = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-H",
            "Content-Encoding: gzip",
            "--data-binary",
        ])
        .arg(format!("@{}", gz.display()))
        .arg(server.url(&log_path(&id)))
        .output()
        .expect("curl");
    let _ = std::fs::remove_dir_all(&dir);
    let answer: Value = serde_json::from_slice(&output.stdout).expect("json answer");
    assert_eq!(answer, json!({"appended": 3000, "cursor": 3000}));
    assert_eq!(log_messages(&server, &id), expected);
}

#[test]
fn curl_streams_a_gzip_body_from_a_pipe_chunked() {
    if !has_curl() {
        eprintln!("skipped: no curl");
        return;
    }
    let server = TestServer::start(&[]);
    let id = server.create_session("gzip-pipe");
    let (text, expected) = lines(500);
    let body = gzip(text.as_bytes());
    let mut curl = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-H",
            "Content-Encoding: gzip",
            "-T",
            "-",
        ])
        .arg(server.url(&log_path(&id)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let mut stdin = curl.stdin.take().expect("stdin");
    // In pieces, as a compressor in a pipe would write them.
    for piece in body.chunks(body.len() / 3 + 1) {
        stdin.write_all(piece).expect("write");
        stdin.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(30));
    }
    drop(stdin);
    let output = curl.wait_with_output().expect("curl ends");
    let answer: Value = serde_json::from_slice(&output.stdout).expect("json answer");
    assert_eq!(answer, json!({"appended": 500, "cursor": 500}));
    assert_eq!(log_messages(&server, &id), expected);
}

#[test]
fn odd_splits_over_a_raw_socket() {
    let server = TestServer::start(&[]);
    let id = server.create_session("gzip-splits");
    let (text, expected) = lines(200);
    let body = gzip(text.as_bytes());
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: gzip\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        log_path(&id)
    )
    .into_bytes();
    // Chunks cut inside the gzip header, inside the data and inside the
    // trailer, each chunk written one byte per write around the cuts.
    let cuts = [
        0,
        1,
        3,
        10,
        11,
        body.len() / 2,
        body.len() - 5,
        body.len() - 1,
        body.len(),
    ];
    let mut framed = Vec::new();
    for pair in cuts.windows(2) {
        let chunk = &body[pair[0]..pair[1]];
        framed.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
    }
    framed.extend_from_slice(b"0\r\n\r\n");
    let mut stream = server.connect();
    stream.set_nodelay(true).expect("nodelay");
    stream.write_all(&head).expect("head");
    // One byte per write for the first and last 64 bytes, 97 between.
    let mut at = 0;
    while at < framed.len() {
        let near_an_end = at < 64 || at + 64 >= framed.len();
        let size = if near_an_end {
            1
        } else {
            97.min(framed.len() - 64 - at)
        };
        stream.write_all(&framed[at..at + size]).expect("a piece");
        at += size;
    }
    let reply = read_reply(&mut stream).expect("answer");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({"appended": 200, "cursor": 200}));
    assert_eq!(log_messages(&server, &id), expected);
}

/// Refused bodies, each sent with Content-Length and chunked: the answer,
/// and the log exactly as it was.
#[test]
fn refused_compressed_bodies_leave_the_log_as_it_was() {
    let server = TestServer::start(&[]);
    let id = server.create_session("gzip-refused");
    assert_eq!(server.append_text(&id, "before 1\nbefore 2\n").status, 200);
    let before = log_messages(&server, &id);
    let (text, _) = lines(300);
    let good = gzip(text.as_bytes());
    let mut crc = good.clone();
    let trailer = crc.len() - 8;
    crc[trailer] ^= 1;
    let mut garbage = good.clone();
    garbage.extend_from_slice(b"junk");
    let bomb = gzip(&vec![b'x'; INFLATED_TEXT_BODY_BYTES_MAX * 4]);
    assert!(bomb.len() < INFLATED_TEXT_BODY_BYTES_MAX / 100);
    let cases: [(&str, &[u8], u16, &str); 5] = [
        (
            "truncated",
            &good[..good.len() - 3],
            400,
            "gzip body is truncated",
        ),
        ("crc", &crc, 400, "CRC-32 does not match"),
        ("garbage", &garbage, 400, "bytes after its end"),
        (
            "plain text",
            text.as_bytes(),
            400,
            "does not start with the gzip magic",
        ),
        ("bomb", &bomb, 413, "exceeds 8388608 bytes once inflated"),
    ];
    for (name, body, status, words) in cases {
        for chunked in [false, true] {
            let headers = ["Content-Encoding: gzip", "Content-Type: text/plain"];
            let reply = if chunked {
                send_chunked(&server, &log_path(&id), &headers, body, 1000)
            } else {
                send(&server, "POST", &log_path(&id), &headers, body)
            };
            assert_eq!(
                reply.status,
                status,
                "{name} chunked={chunked}: {}",
                reply.text()
            );
            assert!(reply.error().contains(words), "{name}: {}", reply.error());
            assert_eq!(
                log_messages(&server, &id),
                before,
                "{name} chunked={chunked}"
            );
        }
    }
    // JSON and NDJSON batches too: all or nothing, even compressed.
    let ndjson = b"{\"message\":\"one\"}\n{\"message\":\"two\"}\n";
    let cut = gzip(ndjson);
    for content_type in ["application/x-ndjson", "application/json"] {
        let headers = [
            "Content-Encoding: gzip",
            &format!("Content-Type: {content_type}"),
        ];
        let reply = send(
            &server,
            "POST",
            &log_path(&id),
            &headers,
            &cut[..cut.len() - 1],
        );
        assert_eq!(reply.status, 400, "{}", reply.text());
    }
    assert_eq!(log_messages(&server, &id), before);
}

#[test]
fn a_json_bomb_is_413_and_creates_nothing() {
    let server = TestServer::start(&[]);
    let session_ids = || -> Vec<Value> {
        let list = server.get("/sessions/?status=all").json();
        let sessions = list["sessions"].as_array().expect("sessions").clone();
        sessions
            .iter()
            .map(|session| session["id"].clone())
            .collect()
    };
    let sessions_before = session_ids();
    let mut bomb_json = b"{\"appname\":\"a\",\"mode\":\"m\",\"jobid\":\"".to_vec();
    bomb_json.extend(vec![b' '; JSON_BODY_BYTES_MAX]);
    bomb_json.extend_from_slice(b"\"}");
    let bomb = gzip(&bomb_json);
    let reply = send(
        &server,
        "POST",
        "/sessions/",
        &["Content-Type: application/json", "Content-Encoding: gzip"],
        &bomb,
    );
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(session_ids(), sessions_before);
}

#[test]
fn session_bodies_may_come_compressed() {
    let server = TestServer::start(&[]);
    let create = gzip(br#"{"appname":"zipped","mode":"ci","metadata":{"host":"agent-7"}}"#);
    let reply = send(
        &server,
        "POST",
        "/sessions/",
        &["Content-Type: application/json", "Content-Encoding: gzip"],
        &create,
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let id = reply.json()["id"].as_str().expect("id").to_owned();
    let update = compress_to_vec_zlib(br#"{"jobid":"build-9","metadata":{"host":null}}"#, 6);
    let reply = send(
        &server,
        "PUT",
        &format!("/sessions/{id}"),
        &["Content-Encoding: deflate"],
        &update,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["jobid"], "build-9");
    assert_eq!(reply.json()["metadata"], json!({}));
    let raw = compress_to_vec(br#"{"mode":"raw"}"#, 6);
    let reply = send(
        &server,
        "POST",
        &format!("/sessions/{id}"),
        &["Content-Encoding: deflate"],
        &raw,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["mode"], "raw");
}

#[test]
fn deflate_log_bodies_zlib_and_raw() {
    let server = TestServer::start(&[]);
    let id = server.create_session("deflate");
    let reply = send(
        &server,
        "POST",
        &log_path(&id),
        &["Content-Encoding: deflate"],
        &compress_to_vec_zlib(b"z1\nz2\n", 6),
    );
    assert_eq!(reply.json(), json!({"appended": 2, "cursor": 2}));
    let reply = send(
        &server,
        "POST",
        &log_path(&id),
        &["Content-Encoding: deflate"],
        &compress_to_vec(b"r1\n", 1),
    );
    assert_eq!(reply.json(), json!({"appended": 1, "cursor": 3}));
    let batch = br#"{"entries":[{"message":"j1","level":"warn"}]}"#;
    let reply = send(
        &server,
        "POST",
        &log_path(&id),
        &["Content-Encoding: x-gzip", "Content-Type: application/json"],
        &gzip(batch),
    );
    assert_eq!(reply.json(), json!({"appended": 1, "cursor": 4}));
    let reply = send(
        &server,
        "POST",
        &log_path(&id),
        &["Content-Encoding: identity"],
        b"plain\n",
    );
    assert_eq!(reply.json(), json!({"appended": 1, "cursor": 5}));
    assert_eq!(
        log_messages(&server, &id),
        ["z1", "z2", "r1", "j1", "plain"]
    );
}

#[test]
fn an_unknown_coding_is_415_with_the_codings_we_take() {
    let server = TestServer::start(&[]);
    let id = server.create_session("br");
    for (value, words) in [
        ("br", "\"br\" is not supported"),
        ("gzip, br", "\"br\" is not supported"),
        ("gzip, gzip", "only one Content-Encoding"),
        ("compress", "\"compress\" is not supported"),
    ] {
        let header = format!("Content-Encoding: {value}");
        for path in [log_path(&id), "/sessions/".to_owned()] {
            let reply = send(&server, "POST", &path, &[&header], &gzip(b"{}"));
            assert_eq!(reply.status, 415, "{value} on {path}");
            assert_eq!(reply.header("Accept-Encoding"), Some("gzip, deflate"));
            assert!(reply.error().contains(words), "{}", reply.error());
        }
    }
    assert!(log_messages(&server, &id).is_empty());
}

#[test]
fn inflated_text_body_at_its_limit() {
    let server = TestServer::start(&[]);
    let id = server.create_session("gzip-limit");
    // 8,192 lines of 1,024 bytes with their newlines: exactly the limit.
    let line = format!("{}\n", "l".repeat(1023));
    let at_limit = line.repeat(INFLATED_TEXT_BODY_BYTES_MAX / 1024);
    assert_eq!(at_limit.len(), INFLATED_TEXT_BODY_BYTES_MAX);
    let mut over = at_limit.clone();
    over.push('x');
    let reply = send(
        &server,
        "POST",
        &log_path(&id),
        &["Content-Encoding: gzip"],
        &gzip(over.as_bytes()),
    );
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(
        server.get(&format!("/sessions/{id}")).json()["log"]["cursor"],
        0
    );
    let reply = send(
        &server,
        "POST",
        &log_path(&id),
        &["Content-Encoding: gzip"],
        &gzip(at_limit.as_bytes()),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["appended"], 8192);
}

#[test]
fn a_stream_refused_at_its_end_keeps_the_connection_one_refused_midway_closes_it() {
    let server = TestServer::start(&[]);
    let id = server.create_session("gzip-keepalive");
    let good = gzip(b"kept\n");
    let truncated = &good[..good.len() - 2];
    let pipelined = |body: &[u8]| {
        let mut raw = format!(
            "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            log_path(&id),
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        raw.extend_from_slice(
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
        let mut stream = server.connect();
        stream.write_all(&raw).expect("send");
        let mut buffered = Vec::new();
        let first = read_one(&mut stream, &mut buffered).expect("first answer");
        let second = read_one(&mut stream, &mut buffered).map(|reply| reply.status);
        (first, second)
    };
    // Read to its end, then found truncated: 400, and the next request is
    // answered.
    let (first, second) = pipelined(truncated);
    assert_eq!(first.status, 400, "{}", first.text());
    assert_eq!(second, Some(200));
    // Refused inside the body (not gzip at all): the rest is not read, so
    // the connection closes after the answer.
    let (first, second) = pipelined(b"not gzip at all");
    assert_eq!(first.status, 400);
    assert_eq!(first.header("Connection"), Some("close"));
    assert_eq!(second, None);
    assert!(log_messages(&server, &id).is_empty());
}
