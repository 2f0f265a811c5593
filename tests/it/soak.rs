//! Soak: writers append to many sessions over keep-alive connections while
//! readers follow every log by cursor and long-poll and over the WebSocket. At the end every
//! reader has seen every entry, in order, with gaps only where `dropped`
//! said so, and RSS has stayed on its plateau. `SOAK_SECS` sets the length
//! (`make soak` runs it long; `make test` runs the short default).

use crate::support::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SESSIONS: usize = 8;
const BATCH: usize = 50;

fn soak_duration() -> Duration {
    let secs = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(5u64);
    Duration::from_secs(secs.clamp(1, 3_600))
}

/// Appends numbered batches until `stop`; returns how many entries got a 200.
fn write_until(addr: SocketAddr, id: &str, stop: &AtomicBool) -> u64 {
    let mut client = KeepAlive::to(addr);
    let path = format!("/sessions/{id}/log");
    let mut next = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let body: String = (next..next + BATCH as u64)
            .map(|seq| format!("{{\"message\":\"{seq}\"}}\n"))
            .collect();
        let reply = client
            .send("POST", &path, Some("application/x-ndjson"), body.as_bytes())
            .expect("append");
        assert_eq!(reply.status, 200, "{}", reply.text());
        next += BATCH as u64;
        assert_eq!(reply.json()["cursor"], next);
    }
    next
}

/// What one reader saw.
struct Followed {
    seen: u64,
    dropped: u64,
}

/// Follows a log over the WebSocket until its cursor reaches the final
/// one; checks order and that every gap was reported.
fn follow_ws(addr: SocketAddr, id: &str, final_cursor: &AtomicU64) -> Followed {
    let stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    let url = format!("ws://{addr}/sessions/ws");
    let (mut client, _) = tungstenite::client(url.as_str(), stream).expect("handshake");
    let follow = format!("{{\"type\":\"follow\",\"session\":\"{id}\",\"cursor\":0}}");
    client
        .send(tungstenite::Message::text(follow))
        .expect("follow");
    let (mut cursor, mut seen, mut dropped) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + soak_duration() + Duration::from_secs(120);
    loop {
        let target = final_cursor.load(Ordering::Acquire);
        if target != u64::MAX && cursor >= target {
            let _ = client.close(None);
            return Followed { seen, dropped };
        }
        assert!(
            Instant::now() < deadline,
            "WebSocket follower of {id} stuck at {cursor}"
        );
        let text = match client.read() {
            Ok(tungstenite::Message::Text(text)) => text,
            Ok(_) => continue,
            // A quiet moment (the writer finished): look at the target again.
            Err(tungstenite::Error::Io(error))
                if error.kind() == std::io::ErrorKind::WouldBlock =>
            {
                continue
            }
            Err(error) => panic!("WebSocket follower of {id}: {error}"),
        };
        let message: serde_json::Value = serde_json::from_str(&text).expect("json");
        if message["type"] != "log" {
            continue;
        }
        let gap = message["dropped"].as_u64().expect("dropped");
        dropped += gap;
        let mut expected = cursor + gap;
        for entry in message["entries"].as_array().expect("entries") {
            assert_eq!(entry["cursor"], expected, "WebSocket cursor order in {id}");
            assert_eq!(
                entry["message"],
                expected.to_string(),
                "WebSocket content in {id}"
            );
            expected += 1;
            seen += 1;
        }
        cursor = message["cursor"].as_u64().expect("cursor");
        assert_eq!(cursor, expected, "next cursor follows the last entry");
    }
}

/// Follows a log by cursor until it has reached `final_cursor` (known once
/// the writer stops); checks order and that every gap was reported.
fn follow(addr: SocketAddr, id: &str, final_cursor: &AtomicU64) -> Followed {
    let mut client = KeepAlive::to(addr);
    let (mut cursor, mut seen, mut dropped) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + soak_duration() + Duration::from_secs(120);
    loop {
        let target = final_cursor.load(Ordering::Acquire);
        if target != u64::MAX && cursor >= target {
            return Followed { seen, dropped };
        }
        assert!(
            Instant::now() < deadline,
            "reader of {id} stuck at {cursor}"
        );
        let path = format!("/sessions/{id}/log?cursor={cursor}&wait=1&limit=5000");
        let page = client.send("GET", &path, None, b"").expect("read").json();
        let gap = page["dropped"].as_u64().expect("dropped");
        dropped += gap;
        let mut expected = cursor + gap;
        for entry in page["entries"].as_array().expect("entries") {
            assert_eq!(entry["cursor"], expected, "cursor order in {id}");
            assert_eq!(entry["message"], expected.to_string(), "content in {id}");
            expected += 1;
            seen += 1;
        }
        cursor = page["cursor"].as_u64().expect("cursor");
        assert_eq!(cursor, expected, "next cursor follows the last entry");
    }
}

#[test]
fn writers_and_followers_lose_nothing() {
    let server = TestServer::start(&["--log-capacity", "2000"]);
    let addr = server.addr;
    let ids: Vec<String> = (0..SESSIONS)
        .map(|index| server.create_session(&format!("soak-{index}")))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let finals: Arc<Vec<AtomicU64>> =
        Arc::new((0..SESSIONS).map(|_| AtomicU64::new(u64::MAX)).collect());
    let rss_start = server.rss_kib();
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    let mut ws_readers = Vec::new();
    for (index, id) in ids.iter().enumerate() {
        let (writer_id, writer_stop, writer_finals) = (id.clone(), stop.clone(), finals.clone());
        writers.push(std::thread::spawn(move || {
            let written = write_until(addr, &writer_id, &writer_stop);
            writer_finals[index].store(written, Ordering::Release);
            written
        }));
        let (reader_id, reader_finals) = (id.clone(), finals.clone());
        readers.push(std::thread::spawn(move || {
            follow(addr, &reader_id, &reader_finals[index])
        }));
        let (ws_id, ws_finals) = (id.clone(), finals.clone());
        ws_readers.push(std::thread::spawn(move || {
            follow_ws(addr, &ws_id, &ws_finals[index])
        }));
    }
    let duration = soak_duration();
    std::thread::sleep(duration / 2);
    let rss_mid = server.rss_kib();
    std::thread::sleep(duration - duration / 2);
    stop.store(true, Ordering::Relaxed);
    let written: Vec<u64> = writers
        .into_iter()
        .map(|writer| writer.join().expect("writer"))
        .collect();
    let followed: Vec<Followed> = readers
        .into_iter()
        .map(|reader| reader.join().expect("reader"))
        .collect();
    let followed_ws: Vec<Followed> = ws_readers
        .into_iter()
        .map(|reader| reader.join().expect("WebSocket reader"))
        .collect();
    let rss_end = server.rss_kib();
    for (index, (written, followed)) in written.iter().zip(&followed).enumerate() {
        let over_ws = &followed_ws[index];
        assert_eq!(
            over_ws.seen + over_ws.dropped,
            *written,
            "session {index}: every entry over the WebSocket"
        );
        assert_eq!(
            followed.seen + followed.dropped,
            *written,
            "session {index}: every entry seen or reported dropped"
        );
        let session = server.get(&format!("/sessions/{}", ids[index])).json();
        assert_eq!(session["log"]["cursor"], *written);
    }
    let total_written: u64 = written.iter().sum();
    let total_seen: u64 = followed.iter().map(|followed| followed.seen).sum();
    let total_dropped: u64 = followed.iter().map(|followed| followed.dropped).sum();
    let ws_seen: u64 = followed_ws.iter().map(|followed| followed.seen).sum();
    let ws_dropped: u64 = followed_ws.iter().map(|followed| followed.dropped).sum();
    println!(
        "soak {duration:?}: {total_written} entries written to {SESSIONS} sessions, {total_seen} seen by readers \
         in order, {total_dropped} reported dropped; over WebSocket {ws_seen} seen, {ws_dropped} dropped; RSS {rss_start} -> {rss_mid} (mid) -> {rss_end} KiB (end)"
    );
    assert!(total_written > 0);
    // Rings are full by the middle of the run; from then on memory is flat.
    assert!(
        rss_end <= rss_mid + rss_mid / 4 + 2048,
        "RSS plateau: mid {rss_mid} KiB, end {rss_end} KiB"
    );
}

/// The exporter leg: writers append while a collector fails every 10th
/// request (503, retried). At the end every session's entries are either
/// at the collector or counted as dropped in its records, exactly.
#[test]
fn the_exporter_accounts_for_every_entry_through_failures() {
    use crate::otlp_codec::Collector;
    let Some(collector) = Collector::start() else {
        return;
    };
    let script = r#"{"answers": [], "then": {"fail_every": 10}}"#;
    let reply = collector.post("/_script", "application/json", script.as_bytes());
    assert_eq!(reply.status, 200);
    let endpoint = format!("http://{}", collector.addr);
    let server = TestServer::start(&[
        "--log-capacity",
        "500",
        "--otlp-endpoint",
        &endpoint,
        "--otlp-batch-ms",
        "20",
    ]);
    let addr = server.addr;
    const EXPORT_SESSIONS: usize = 4;
    let ids: Vec<String> = (0..EXPORT_SESSIONS)
        .map(|index| server.create_session(&format!("export-soak-{index}")))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = ids
        .iter()
        .map(|id| {
            let (id, stop) = (id.clone(), stop.clone());
            std::thread::spawn(move || {
                // Paced, so the collector (Python) keeps its records small.
                let mut client = KeepAlive::to(addr);
                let path = format!("/sessions/{id}/log");
                let mut next = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let body: String = (next..next + BATCH as u64)
                        .map(|seq| format!("{seq}\n"))
                        .collect();
                    let reply = client
                        .send("POST", &path, Some("text/plain"), body.as_bytes())
                        .expect("append");
                    assert_eq!(reply.status, 200, "{}", reply.text());
                    next += BATCH as u64;
                    std::thread::sleep(Duration::from_millis(40));
                }
                next
            })
        })
        .collect();
    std::thread::sleep(soak_duration());
    stop.store(true, Ordering::Relaxed);
    let written: Vec<u64> = writers
        .into_iter()
        .map(|writer| writer.join().expect("writer"))
        .collect();
    for id in &ids {
        let ended = server.request("DELETE", &format!("/sessions/{id}"), &[], b"");
        assert_eq!(ended.status, 200);
    }
    let mut state = serde_json::Value::Null;
    let all_ended = eventually(Duration::from_secs(120), || {
        state = collector.state();
        let records = state["records"].as_array().expect("records");
        ids.iter().all(|id| {
            records.iter().any(|record| {
                record["session"] == id.as_str() && record["event"] == "sessions_lite.session.end"
            })
        })
    });
    assert!(all_ended, "not every session's end arrived");
    let records = state["records"].as_array().expect("records");
    let mut total_sent = 0;
    for (id, written) in ids.iter().zip(&written) {
        let mine: Vec<&serde_json::Value> = records
            .iter()
            .filter(|record| record["session"] == id.as_str())
            .collect();
        let mut cursors: Vec<u64> = mine
            .iter()
            .filter_map(|record| record["cursor"].as_u64())
            .collect();
        // 503s are not deliveries: no batch arrives twice here.
        let in_order = cursors.windows(2).all(|pair| pair[0] < pair[1]);
        assert!(in_order, "session {id}: entries in order, once each");
        let dropped: u64 = mine
            .iter()
            .filter_map(|record| record["attributes"]["sessions_lite.log.dropped_before"].as_u64())
            .sum();
        cursors.dedup();
        assert_eq!(
            cursors.len() as u64 + dropped,
            *written,
            "session {id}: sent + dropped"
        );
        total_sent += cursors.len() as u64;
    }
    assert!(
        state["failed_requests"].as_u64().expect("failed") > 0,
        "the collector failed some"
    );
    let health = server.get("/health").json();
    println!(
        "export soak {:?}: {} entries written, {total_sent} exported through {} failed requests; health {}",
        soak_duration(),
        written.iter().sum::<u64>(),
        state["failed_requests"],
        health["export"]
    );
}
