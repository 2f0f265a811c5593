//! List changes on `/sessions/ws`: a subscriber gets one list with a
//! `seq`, then `changes` messages only in ticks where something changed,
//! coalesced, with no gap while it keeps up; a keep-alive when quiet; a
//! fresh list instead of a backlog when it falls behind. A model client
//! (`ListModel`) applies every message and is compared with
//! `GET /sessions/?status=all`.

use crate::support::TestServer;
use crate::ws::{next_json, send_json, ws_connect, Client};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// What a client that applies the stream holds: sessions by id, and the
/// `seq` of the last changes message (or list) applied.
#[derive(Default)]
pub struct ListModel {
    pub seq: Option<u64>,
    pub sessions: BTreeMap<String, Value>,
}

/// What a message was, once applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    List,
    Changes,
    KeepAlive,
    Other,
}

impl ListModel {
    /// Applies one message from the server; `Err` names a broken rule (a
    /// gap in `seq`, a session twice in one message, changes before a list).
    pub fn apply(&mut self, message: &Value) -> Result<Applied, String> {
        let seq = message["seq"].as_u64();
        match message["type"].as_str() {
            Some("sessions") => {
                let seq = seq.ok_or("a subscriber's list without a seq")?;
                self.seq = Some(seq);
                self.sessions = by_id(&message["sessions"]);
                Ok(Applied::List)
            }
            Some("changes") => {
                let last = self.seq.ok_or("changes before any list")?;
                if seq != Some(last + 1) {
                    return Err(format!("gap: changes {seq:?} after {last}"));
                }
                self.seq = seq;
                let upserts = message["upserts"].as_array().ok_or("no upserts")?;
                let mut seen = std::collections::HashSet::new();
                for upsert in upserts {
                    let id = upsert["id"].as_str().ok_or("upsert without id")?;
                    if !seen.insert(id) {
                        return Err(format!("{id} twice in one message"));
                    }
                    self.sessions.insert(id.to_owned(), upsert.clone());
                }
                for id in message["removed"].as_array().ok_or("no removed")? {
                    self.sessions.remove(id.as_str().ok_or("removed id")?);
                }
                Ok(Applied::Changes)
            }
            Some("keepalive") => match seq == self.seq {
                true => Ok(Applied::KeepAlive),
                false => Err(format!("keep-alive {seq:?} after {:?}", self.seq)),
            },
            _ => Ok(Applied::Other),
        }
    }
}

/// A list's sessions by id.
pub fn by_id(sessions: &Value) -> BTreeMap<String, Value> {
    let sessions = sessions.as_array().map(Vec::as_slice).unwrap_or_default();
    sessions
        .iter()
        .map(|session| {
            (
                session["id"].as_str().unwrap_or("").to_owned(),
                session.clone(),
            )
        })
        .collect()
}

/// What `GET /sessions/?status=all` says now.
fn listed(server: &TestServer) -> BTreeMap<String, Value> {
    by_id(&server.get("/sessions/?status=all").json()["sessions"])
}

/// A subscriber: subscribes on a fresh connection and applies its list.
fn subscriber(server: &TestServer) -> (Client, ListModel) {
    let mut client = ws_connect(server, "/sessions/ws");
    subscribe(&mut client);
    let mut model = ListModel::default();
    // The join list (no seq) may come first; the subscriber's has one.
    read_until(&mut client, &mut model, |_, applied| {
        applied == Applied::List
    });
    (client, model)
}

fn subscribe(client: &mut Client) {
    send_json(client, json!({"type": "subscribe", "changes": true}));
}

/// Applies messages until `done` says so (10 s at most); the changes
/// messages applied on the way.
fn read_until(
    client: &mut Client,
    model: &mut ListModel,
    mut done: impl FnMut(&ListModel, Applied) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut changes = Vec::new();
    while Instant::now() < deadline {
        let message = next_json(client);
        if model.seq.is_none() && message["seq"].is_null() {
            continue; // the join list, before the subscription took
        }
        let applied = model
            .apply(&message)
            .unwrap_or_else(|error| panic!("{error}"));
        if applied == Applied::Changes {
            changes.push(message);
        }
        if done(model, applied) {
            return changes;
        }
    }
    panic!("not done within 10 s; seq {:?}", model.seq);
}

/// Applies changes until the model equals the list the server answers.
fn converge(server: &TestServer, client: &mut Client, model: &mut ListModel) -> Vec<Value> {
    let expected = listed(server);
    if model.sessions == expected {
        return Vec::new();
    }
    read_until(client, model, |model, _| model.sessions == expected)
}

fn upserted(changes: &[Value], id: &str) -> usize {
    let upserts = changes
        .iter()
        .flat_map(|c| c["upserts"].as_array().cloned().unwrap_or_default());
    upserts.filter(|session| session["id"] == id).count()
}

fn removed(changes: &[Value], id: &str) -> bool {
    let mut ids = changes
        .iter()
        .flat_map(|c| c["removed"].as_array().cloned().unwrap_or_default());
    ids.any(|removed| removed == id)
}

#[test]
fn changes_follow_create_update_append_end_and_eviction() {
    let server = TestServer::start(&["--ws-interval-ms", "100", "--max-ended", "1"]);
    let (mut client, mut model) = subscriber(&server);
    assert_eq!(
        model.sessions,
        listed(&server),
        "the first list is the whole list"
    );

    let first = server.create_session("first");
    let changes = converge(&server, &mut client, &mut model);
    assert_eq!(upserted(&changes, &first), 1, "created: {changes:?}");

    let path = format!("/sessions/{first}");
    let put = json!({"metadata": {"step": "updated"}}).to_string();
    let reply = server.request(
        "PUT",
        &path,
        &[("Content-Type", "application/json")],
        put.as_bytes(),
    );
    assert_eq!(reply.status, 200);
    let changes = converge(&server, &mut client, &mut model);
    assert_eq!(upserted(&changes, &first), 1);
    assert_eq!(model.sessions[&first]["metadata"]["step"], "updated");

    server.append_text(&first, "one\ntwo\n");
    let changes = converge(&server, &mut client, &mut model);
    assert_eq!(
        upserted(&changes, &first),
        1,
        "an append changes the entry count"
    );
    assert_eq!(model.sessions[&first]["log"]["count"], 2);

    assert_eq!(server.request("DELETE", &path, &[], b"").status, 200);
    converge(&server, &mut client, &mut model);
    assert_eq!(model.sessions[&first]["status"], "ended");

    // A second ended session pushes the first out of the ended list.
    let second = server.create_session("second");
    let second_path = format!("/sessions/{second}");
    assert_eq!(server.request("DELETE", &second_path, &[], b"").status, 200);
    let changes = converge(&server, &mut client, &mut model);
    assert!(removed(&changes, &first), "evicted: {changes:?}");
    assert!(!model.sessions.contains_key(&first));
    assert_eq!(model.sessions[&second]["status"], "ended");
}

#[test]
fn an_expired_session_is_a_change() {
    let server = TestServer::start(&["--ws-interval-ms", "100", "--session-ttl", "1"]);
    let (mut client, mut model) = subscriber(&server);
    let id = server.create_session("expiring");
    let changes = read_until(&mut client, &mut model, |model, _| {
        model
            .sessions
            .get(&id)
            .is_some_and(|s| s["status"] == "ended")
    });
    assert_eq!(model.sessions[&id]["end_reason"], "expired", "{changes:?}");
    converge(&server, &mut client, &mut model);
}

#[test]
fn fifty_updates_in_a_tick_are_sent_once() {
    let interval_ms = 1_000;
    let server = TestServer::start(&["--ws-interval-ms", &interval_ms.to_string()]);
    let id = server.create_session("busy");
    let (mut client, mut model) = subscriber(&server);
    let path = format!("/sessions/{id}");
    let started = Instant::now();
    for index in 0..50 {
        let body = json!({"metadata": {"n": index}}).to_string();
        let headers = [("Content-Type", "application/json")];
        assert_eq!(
            server
                .request("PUT", &path, &headers, body.as_bytes())
                .status,
            200
        );
    }
    let ticks_spanned = started.elapsed().as_millis() as usize / interval_ms + 2;
    let changes = converge(&server, &mut client, &mut model);
    assert_eq!(model.sessions[&id]["metadata"]["n"], 49);
    // Once per tick at most (`ListModel` refuses a session twice in one
    // message), however many updates the tick saw.
    let sent = upserted(&changes, &id);
    assert!(
        sent <= ticks_spanned.min(49),
        "{sent} upserts for 50 updates in {ticks_spanned} ticks"
    );
}

#[test]
fn a_quiet_stream_gets_a_keepalive_with_the_last_seq() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let (mut client, mut model) = subscriber(&server);
    server.create_session("once");
    converge(&server, &mut client, &mut model);
    let seq = model.seq;
    let timeout = Some(Duration::from_secs(25));
    client.get_mut().set_read_timeout(timeout).expect("timeout");
    // LIST_KEEPALIVE_INTERVAL_MS (15 s) of nothing, then the next message
    // (within the 25 s read deadline) is the keep-alive, nothing before it.
    let message = next_json(&mut client);
    let applied = model.apply(&message);
    assert_eq!(applied, Ok(Applied::KeepAlive), "{message}");
    assert_eq!(model.seq, seq);
    assert_eq!(model.sessions, listed(&server));
}

#[test]
fn clients_that_do_not_subscribe_get_whole_lists_beside_subscribers() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let mut plain = ws_connect(&server, "/sessions/ws");
    let (mut client, mut model) = subscriber(&server);
    let id = server.create_session("both");
    converge(&server, &mut client, &mut model);
    let mut lists = 0;
    while lists < 5 {
        let message = next_json(&mut plain);
        assert_eq!(message["type"], "sessions", "{message}");
        assert!(
            message.get("seq").is_none(),
            "no seq for old clients: {message}"
        );
        lists += 1;
    }
    let last = next_json(&mut plain);
    assert!(by_id(&last["sessions"]).contains_key(&id));
}

#[test]
fn subscribing_again_gets_a_fresh_list_and_changes_false_goes_back_to_lists() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    let (mut client, mut model) = subscriber(&server);
    server.create_session("before");
    converge(&server, &mut client, &mut model);
    // How a client recovers from a gap: subscribe again.
    subscribe(&mut client);
    let seq = model.seq;
    read_until(&mut client, &mut model, |_, applied| {
        applied == Applied::List
    });
    assert!(model.seq >= seq, "{:?} after {seq:?}", model.seq);
    assert_eq!(model.sessions, listed(&server));
    send_json(&mut client, json!({"type": "subscribe", "changes": false}));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut plain_lists = 0;
    while plain_lists < 3 {
        assert!(Instant::now() < deadline, "no lists after changes: false");
        let message = next_json(&mut client);
        if message["type"] == "sessions" && message.get("seq").is_none() {
            plain_lists += 1;
        } else {
            // Only what was sent before the switch was read.
            assert!(plain_lists == 0, "{message}");
        }
    }
}

/// A client whose socket takes a few KiB: it connects with a small
/// receive buffer, so the server's writes stall as soon as it stops reading.
fn small_buffer_client(server: &TestServer) -> Client {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&server.addr.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let url = format!("ws://{}/sessions/ws", server.addr);
    let (client, _) = tungstenite::client(url.as_str(), stream).expect("handshake");
    client
}

#[test]
fn a_slow_subscriber_gets_a_fresh_list_not_a_backlog() {
    let server = TestServer::start(&["--ws-interval-ms", "100"]);
    // 30 sessions of 60 KB: a changes message with all of them is 1.8 MB,
    // under the 4 MiB cap, so the client is not cut off; the 20 rounds
    // below would be a backlog of tens of MB, far more than the kernel's
    // buffers hold (about 4 MB).
    let metadata = json!({"blob": "b".repeat(60_000)});
    let ids: Vec<String> = (0..30)
        .map(|index| {
            let body =
                json!({"appname": format!("big-{index}"), "mode": "t", "metadata": metadata});
            server.post_json("/sessions/", &body.to_string()).json()["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    let mut client = small_buffer_client(&server);
    subscribe(&mut client);
    let mut model = ListModel::default();
    read_until(&mut client, &mut model, |_, applied| {
        applied == Applied::List
    });
    let seq_before = model.seq.expect("a seq");
    // The client stops reading while every session changes, round by round.
    let headers = [("Content-Type", "application/json")];
    for round in 0..20 {
        for id in &ids {
            let body = json!({"metadata": {"round": round}}).to_string();
            let path = format!("/sessions/{id}");
            let reply = server.request("PUT", &path, &headers, body.as_bytes());
            assert_eq!(reply.status, 200);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Reading again: what was in flight, then a fresh list, then changes.
    let (mut changes_before_list, mut bytes_before_list) = (0, 0);
    let messages_max = 200;
    for _ in 0..messages_max {
        let message = next_json(&mut client);
        let applied = model
            .apply(&message)
            .unwrap_or_else(|error| panic!("{error}"));
        if applied == Applied::List {
            break;
        }
        changes_before_list += u64::from(applied == Applied::Changes);
        bytes_before_list += message.to_string().len();
    }
    let ticks = model.seq.expect("a seq") - seq_before;
    assert!(
        ticks >= 10,
        "only {ticks} ticks of changes during the stall"
    );
    assert!(
        changes_before_list < ticks && bytes_before_list < 8 << 20,
        "{changes_before_list} of {ticks} changes ({bytes_before_list} bytes) before the list"
    );
    converge(&server, &mut client, &mut model);
    assert_eq!(model.sessions[&ids[0]]["metadata"]["round"], 19);
}

#[test]
fn a_subscriber_that_keeps_up_sees_no_gap_through_many_ticks() {
    let server = TestServer::start(&["--ws-interval-ms", "20"]);
    let (mut client, mut model) = subscriber(&server);
    let ids: Vec<String> = (0..5)
        .map(|index| server.create_session(&format!("s{index}")))
        .collect();
    let seq_start = model.seq.expect("a seq");
    for round in 0..100 {
        server.append_text(&ids[round % ids.len()], "line\n");
        // Read what arrived without waiting; `apply` refuses a gap.
        while let Ok(Some(message)) = try_next(&mut client) {
            model
                .apply(&message)
                .unwrap_or_else(|error| panic!("round {round}: {error}"));
        }
    }
    converge(&server, &mut client, &mut model);
    assert!(
        model.seq.expect("a seq") > seq_start + 5,
        "changes over the rounds"
    );
}

/// A text message if one is already there, without blocking long.
fn try_next(client: &mut Client) -> Result<Option<Value>, ()> {
    client
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(1)))
        .map_err(|_| ())?;
    let message = match client.read() {
        Ok(Message::Text(text)) => Ok(serde_json::from_str(&text).ok()),
        Ok(_) => Ok(None),
        Err(tungstenite::Error::Io(error))
            if matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(())
        }
        Err(error) => panic!("read: {error}"),
    };
    let _ = client
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)));
    message
}
