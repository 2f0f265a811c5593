//! A URI over its limit is 414 however the head arrives: in one write
//! (the whole head over its own limit too), in two, or one byte at a time.
//! A long header instead stays 431; a URI exactly at its limit is no 414.

use crate::support::{read_reply, TestServer};
use sessions_lite::limits::{HEAD_BYTES_MAX, URI_BYTES_MAX};
use std::io::Write;

/// Writes `raw` in writes of the given sizes (the rest in one), stopping
/// when the server has closed, and returns the status it answered.
fn status_in_writes(server: &TestServer, raw: &[u8], sizes: &[usize]) -> u16 {
    let mut stream = server.connect();
    stream.set_nodelay(true).expect("nodelay");
    let mut at = 0;
    for &size in sizes.iter().chain(std::iter::once(&raw.len())) {
        let end = (at + size).min(raw.len());
        if stream.write_all(&raw[at..end]).is_err() {
            break;
        }
        at = end;
        if at == raw.len() {
            break;
        }
    }
    read_reply(&mut stream).expect("an answer").status
}

/// The status for `raw` in one write, in two (cut at `cut`) and byte by
/// byte up to `bytewise` bytes (past the point where the answer comes).
fn status_every_way(server: &TestServer, raw: &str, cut: usize, bytewise: usize) -> u16 {
    let raw = raw.as_bytes();
    let whole = status_in_writes(server, raw, &[]);
    assert_eq!(status_in_writes(server, raw, &[cut]), whole, "two writes");
    let ones = vec![1; bytewise.min(raw.len())];
    assert_eq!(status_in_writes(server, raw, &ones), whole, "byte by byte");
    whole
}

/// Regression (issue 15): a 20 KiB URI in one write got 431.
#[test]
fn a_20_kib_uri_is_414_in_one_write_two_writes_or_bytewise() {
    let server = TestServer::start(&[]);
    let raw = format!(
        "GET /sessions/{} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    assert!(raw.len() > HEAD_BYTES_MAX);
    // Byte by byte until just past the URI limit: the answer comes there.
    let status = status_every_way(&server, &raw, raw.len() / 2, URI_BYTES_MAX + 32);
    assert_eq!(status, 414);
}

#[test]
fn a_long_header_is_431_and_a_uri_at_its_limit_is_not_414() {
    let server = TestServer::start(&[]);
    let long_header = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let status = status_every_way(&server, &long_header, 9000, 600);
    assert_eq!(status, 431);
    // A target of exactly URI_BYTES_MAX in a head over its limit: 431.
    let target = format!("/{}", "a".repeat(URI_BYTES_MAX - 1));
    let over_head = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(HEAD_BYTES_MAX)
    );
    let status = status_every_way(&server, &over_head, URI_BYTES_MAX + 1, URI_BYTES_MAX + 32);
    assert_eq!(status, 431);
    // The same target in a head within its limit: read and routed (404).
    let fits = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let status = status_every_way(&server, &fits, URI_BYTES_MAX, 64);
    assert_eq!(status, 404);
}
