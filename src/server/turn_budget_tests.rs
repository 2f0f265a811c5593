//! What one loop turn may do, at its edges: more list pushes, expired
//! timers, accepts and long-poll answers than a turn's budget are spread over
//! turns, in order, none lost, and a request arriving meanwhile is
//! answered before the carried work is done. The loop is turned by hand
//! with a fake clock (`tests::Driven`), so "one turn" is exact.

use super::tests::{entry_count, Driven};
use crate::conn::ConnState;
use crate::limits::*;
use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream as ClientStream;

/// Bytes waiting on a client socket, read until it would block.
fn drain(client: &mut ClientStream) -> usize {
    let mut buffer = [0u8; 16 * 1024];
    let mut total = 0;
    loop {
        match client.read(&mut buffer) {
            Ok(0) => return total,
            Ok(count) => total += count,
            Err(error) if error.kind() == ErrorKind::WouldBlock => return total,
            Err(error) => panic!("read: {error}"),
        }
    }
}

/// Serials of the open connections that `keep` picks.
fn serials(driven: &Driven, keep: impl Fn(&ConnState) -> bool) -> BTreeSet<u64> {
    let conns = driven.server.conns.iter().flatten();
    conns
        .filter(|conn| keep(&conn.state))
        .map(|conn| conn.serial)
        .collect()
}

/// True when every serial of `gone` is below every serial of `left`:
/// the oldest went first.
fn oldest_first(gone: &BTreeSet<u64>, left: &BTreeSet<u64>) -> bool {
    match (gone.last(), left.first()) {
        (Some(newest_gone), Some(oldest_left)) => newest_gone < oldest_left,
        _ => true,
    }
}

#[test]
fn a_push_tick_writes_to_at_most_the_budget_per_turn_and_a_get_goes_between() {
    let mut driven = Driven::start();
    let start_ms = driven.server.clock.now_ms();
    let client_count = 2 * DEFERRED_VISITS_PER_TURN_MAX + 5;
    let upgrade = "GET /sessions/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n\
                   Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let mut clients: Vec<ClientStream> = (0..client_count)
        .map(|_| {
            let mut client = driven.connect();
            client.write_all(upgrade.as_bytes()).expect("send");
            client
        })
        .collect();
    // The GET's connection is open before the tick; its request comes after.
    let mut getter = driven.connect();
    let joined = client_count as u64;
    assert!(driven.turn_until(start_ms, |server| {
        server.app.counters.websocket_clients == joined && server.visits.is_empty()
    }));
    // Each got its 101 and its first list.
    for client in &mut clients {
        assert!(drain(client) > 0, "a client got no first list");
    }

    // The tick hands every list client a push; no write happens in it.
    let tick_ms = start_ms + driven.server.app.config.ws_push_interval_ms;
    driven.turn(tick_ms);
    assert_eq!(driven.server.visits.len(), client_count);
    let received = |clients: &mut Vec<ClientStream>| -> usize {
        clients
            .iter_mut()
            .map(drain)
            .filter(|&bytes| bytes > 0)
            .count()
    };
    assert_eq!(received(&mut clients), 0, "a push was written in the tick");

    // A GET arrives: answered in the next turn, beside one budget of pushes.
    getter
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    driven.turn(tick_ms);
    let mut answer = [0u8; 64];
    let answered = getter.read(&mut answer).expect("the GET is answered");
    assert!(answer[..answered].starts_with(b"HTTP/1.1 200 "));
    assert_eq!(received(&mut clients), DEFERRED_VISITS_PER_TURN_MAX);
    assert_eq!(
        driven.server.visits.len(),
        client_count - DEFERRED_VISITS_PER_TURN_MAX,
        "the rest are carried"
    );
    driven.turn(tick_ms);
    assert_eq!(received(&mut clients), DEFERRED_VISITS_PER_TURN_MAX);
    driven.turn(tick_ms);
    assert_eq!(received(&mut clients), 5, "the last of them");
    assert!(driven.server.visits.is_empty());
}

#[test]
fn a_backlog_of_connections_is_accepted_a_budget_a_turn() {
    let mut driven = Driven::start();
    let start_ms = driven.server.clock.now_ms();
    // All in the kernel's backlog before the loop turns.
    let clients: Vec<ClientStream> = (0..ACCEPTS_PER_TURN_MAX + 3)
        .map(|_| driven.connect())
        .collect();
    driven.turn(start_ms);
    assert_eq!(driven.server.app.connection_count, ACCEPTS_PER_TURN_MAX);
    assert!(
        driven.server.accept_pending,
        "the rest wait for the next turn"
    );
    // No new event comes for them (edge-triggered): the turn comes back.
    driven.turn(start_ms);
    assert_eq!(driven.server.app.connection_count, clients.len());
    assert!(!driven.server.accept_pending);
}

#[test]
fn timers_due_at_one_moment_are_handled_a_budget_a_turn_oldest_first() {
    let mut driven = Driven::start();
    let start_ms = driven.server.clock.now_ms();
    let idle_count = 2 * TIMERS_PER_TURN_MAX + 7;
    let mut clients: Vec<ClientStream> = (0..idle_count).map(|_| driven.connect()).collect();
    // Accepted a budget a turn, all at the same (fake) time.
    assert!(driven.turn_until(start_ms, |server| server.app.connection_count == idle_count));
    assert!(!driven.server.accept_pending);
    // Everything else due before the idle deadline fires first.
    let deadline_ms = start_ms + IDLE_TIMEOUT_MS;
    driven.turn(deadline_ms - 1);
    assert!(driven.server.timers_due.is_empty());
    assert_eq!(driven.server.app.connection_count, idle_count);

    let all = serials(&driven, |_| true);
    let mut open = idle_count;
    for closed_this_turn in [TIMERS_PER_TURN_MAX, TIMERS_PER_TURN_MAX, 7] {
        driven.turn(deadline_ms);
        open -= closed_this_turn;
        assert_eq!(driven.server.app.connection_count, open);
        assert_eq!(driven.server.timers_due.len(), open, "none lost");
        let left = serials(&driven, |_| true);
        let gone: BTreeSet<u64> = all.difference(&left).copied().collect();
        assert!(oldest_first(&gone, &left), "out of order: {left:?}");
    }
    // Every client sees its close.
    for client in &mut clients {
        let mut byte = [0u8; 1];
        assert_eq!(client.read(&mut byte).expect("closed"), 0);
    }
}

#[test]
fn long_polls_past_the_budget_are_each_answered_once_with_their_entry() {
    let mut driven = Driven::start();
    let start_ms = driven.server.clock.now_ms();
    let (id_text, id) = driven.create_session("polled", start_ms);
    let poll_count = 2 * DEFERRED_VISITS_PER_TURN_MAX + 3;
    let poll = format!(
        "GET /sessions/{id_text}/log?cursor=0&wait=30 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Connection: close\r\n\r\n"
    );
    let mut pollers: Vec<ClientStream> = (0..poll_count)
        .map(|_| {
            let mut client = driven.connect();
            client.write_all(poll.as_bytes()).expect("send");
            client
        })
        .collect();
    let mut appender = driven.connect();
    let parked = poll_count as u64;
    assert!(driven.turn_until(start_ms, |server| {
        server.app.counters.long_polls_parked == parked
            && server.app.connection_count == poll_count + 1
    }));

    let body = "wake up\n";
    let append = format!(
        "POST /sessions/{id_text}/log HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    appender.write_all(append.as_bytes()).expect("send");
    assert!(driven.turn_until(start_ms, |server| entry_count(server, &id) == 1));
    // The wake rendered nothing: every poll waits for its visit.
    assert_eq!(driven.server.app.counters.long_polls_parked, parked);
    assert_eq!(driven.server.visits.len(), poll_count);

    let is_parked = |state: &ConnState| matches!(state, ConnState::LongPoll(_));
    let all = serials(&driven, is_parked);
    let mut waiting = poll_count;
    for answered_this_turn in [
        DEFERRED_VISITS_PER_TURN_MAX,
        DEFERRED_VISITS_PER_TURN_MAX,
        3,
    ] {
        driven.turn(start_ms);
        waiting -= answered_this_turn;
        assert_eq!(driven.server.app.counters.long_polls_parked, waiting as u64);
        let left = serials(&driven, is_parked);
        let gone: BTreeSet<u64> = all.difference(&left).copied().collect();
        assert!(oldest_first(&gone, &left), "out of order: {left:?}");
    }

    for poller in &mut pollers {
        let answer = driven.read_to_close(poller, start_ms);
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
        let (head, page) = answer.split_once("\r\n\r\n").expect("a head");
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        let page: serde_json::Value = serde_json::from_str(page).expect("json");
        let entries = page["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 1, "{page}");
        assert_eq!(entries[0]["message"], "wake up");
        assert_eq!(page["cursor"], 1);
    }
}
