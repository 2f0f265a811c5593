//! One loop turn does a bounded amount of work (`DEFERRED_VISITS_PER_TURN_MAX`
//! and friends in `src/limits.rs`); these check, on the real binary, that
//! the work carried from turn to turn all gets done, in order, none lost
//! and none twice. The unit tests in `src/server/turn_budget_tests.rs`
//! count the turns; here the real loop runs them.

use crate::support::{eventually, read_one, TestServer, READ_TIMEOUT};
use std::io::Write;
use std::net::TcpStream;

/// Far more than one turn answers (64 visits a turn).
const READERS: usize = 300;

/// The `sessions_lite_long_polls_parked` gauge.
fn parked(server: &TestServer) -> usize {
    let text = server.get("/metrics").text();
    let line = text
        .lines()
        .find(|line| line.starts_with("sessions_lite_long_polls_parked "));
    line.and_then(|line| line.split(' ').nth(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Each reader parks a long-poll at `cursor`.
fn park(readers: &mut [TcpStream], id: &str, cursor: u64) {
    let request = format!(
        "GET /sessions/{id}/log?cursor={cursor}&wait=30 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    );
    for reader in readers {
        reader.write_all(request.as_bytes()).expect("send");
    }
}

/// Each reader's answer: exactly the `expected` message, the next cursor.
fn check_answers(readers: &mut [TcpStream], buffers: &mut [Vec<u8>], expected: &str, cursor: u64) {
    for (reader, buffered) in readers.iter_mut().zip(buffers.iter_mut()) {
        let reply = read_one(reader, buffered).expect("woken");
        assert_eq!(reply.status, 200);
        let page = reply.json();
        let entries = page["entries"].as_array().expect("entries");
        let messages: Vec<&str> = entries
            .iter()
            .map(|entry| entry["message"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(messages, [expected], "{page}");
        assert_eq!(page["cursor"], cursor);
        assert!(buffered.is_empty(), "more than one answer");
    }
}

#[test]
fn long_polls_on_one_session_past_a_turns_budget_each_get_every_entry_once() {
    // No push tick to turn the loop: only carrying the work on with a
    // poll that does not wait answers the readers past the first turn's.
    let server = TestServer::start(&["--ws-interval-ms", "3600000"]);
    let id = server.create_session("many-polls");
    let mut readers: Vec<TcpStream> = (0..READERS).map(|_| server.connect()).collect();
    for reader in &readers {
        reader
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
    }
    let mut buffers = vec![Vec::new(); READERS];
    let all_parked = |server: &TestServer| parked(server) == READERS;

    park(&mut readers, &id, 0);
    assert!(eventually(READ_TIMEOUT, || all_parked(&server)));
    assert_eq!(server.append_text(&id, "first\n").status, 200);
    check_answers(&mut readers, &mut buffers, "first", 1);

    // The same connections again: nothing of the first answer comes twice.
    park(&mut readers, &id, 1);
    assert!(eventually(READ_TIMEOUT, || all_parked(&server)));
    assert_eq!(server.append_text(&id, "second\n").status, 200);
    check_answers(&mut readers, &mut buffers, "second", 2);
    assert_eq!(parked(&server), 0);
}
