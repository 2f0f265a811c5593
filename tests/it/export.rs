//! The OTLP exporter against the test collector (`tests/otlp_collector.py`,
//! which checks every request against the official schema and our
//! mapping): what arrives, in which order, and what happens when the
//! collector refuses, fails, hangs, trickles, is down or restarts. The
//! local API must keep answering throughout: each case asks it something
//! while the collector misbehaves (answers are asserted, never timed).

use crate::otlp_codec::Collector;
use crate::support::{eventually, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

/// Long enough for a few backoff rounds (they start at 500 ms and double,
/// with jitter).
const DELIVERY_WAIT: Duration = Duration::from_secs(60);

fn endpoint(collector: &Collector) -> String {
    format!("http://{}", collector.addr)
}

/// A server exporting to `url` with short batches, plus `extra` flags.
fn exporting_server(url: &str, extra: &[&str]) -> TestServer {
    let mut args = vec!["--otlp-endpoint", url, "--otlp-batch-ms", "50"];
    args.extend_from_slice(extra);
    TestServer::start(&args)
}

fn script(collector: &Collector, script: Value) {
    let body = script.to_string();
    let reply = collector.post("/_script", "application/json", body.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// The collector's records of session `id`.
fn records_of(collector: &Collector, id: &str) -> Vec<Value> {
    let state = collector.state();
    let invalid = state["invalid"].as_array().expect("invalid");
    assert!(
        invalid.is_empty(),
        "the collector refused requests: {invalid:?}"
    );
    state["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|record| record["session"] == id)
        .cloned()
        .collect()
}

/// The cursors of a session's entries as they arrived.
fn cursors(records: &[Value]) -> Vec<u64> {
    records
        .iter()
        .filter_map(|record| record["cursor"].as_u64())
        .collect()
}

/// The cursors without the repeats a retried batch may bring (at least
/// once: a batch the collector took but whose answer was lost is sent
/// again), checking that repeats only go back to a batch already seen.
fn distinct_in_order(records: &[Value]) -> Vec<u64> {
    let mut seen = Vec::new();
    for cursor in cursors(records) {
        if !seen.contains(&cursor) {
            seen.push(cursor);
        }
    }
    seen
}

/// Waits until the collector holds session `id`'s end record.
fn wait_for_end(collector: &Collector, id: &str) -> Vec<Value> {
    let mut records = Vec::new();
    let ended = eventually(DELIVERY_WAIT, || {
        records = records_of(collector, id);
        records
            .iter()
            .any(|record| record["event"] == "sessions_lite.session.end")
    });
    assert!(ended, "no end record for {id}: {records:#?}");
    records
}

fn export_health(server: &TestServer) -> Value {
    let health = server.get("/health");
    assert_eq!(health.status, 200);
    health.json()["export"].clone()
}

/// The server's own log as text.
fn server_log(server: &TestServer) -> String {
    let list = server.get("/sessions/");
    let id = list.json()["server_session"]
        .as_str()
        .expect("id")
        .to_owned();
    server
        .get(&format!("/sessions/{id}/log?format=text&limit=10000"))
        .text()
}

/// Ends session `id` (DELETE).
fn end_session(server: &TestServer, id: &str) {
    let ended = server.request("DELETE", &format!("/sessions/{id}"), &[], b"");
    assert_eq!(ended.status, 200, "{}", ended.text());
}

/// Creates a session, appends `lines` text lines and ends it.
fn write_session(server: &TestServer, appname: &str, lines: usize) -> String {
    let id = server.create_session(appname);
    let text: String = (0..lines).map(|index| format!("line {index}\n")).collect();
    assert_eq!(server.append_text(&id, &text).status, 200);
    end_session(server, &id);
    id
}

/// A port nothing listens on (bound, then let go).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The records of one run, without what differs between runs (ids,
/// times, the host), for comparing two encodings.
fn normalized(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .map(|record| {
            let mut attributes: BTreeMap<String, Value> =
                serde_json::from_value(record["attributes"].clone()).expect("attributes");
            attributes.remove("sessions_lite.session.id");
            json!({
                "event": record["event"],
                "cursor": record["cursor"],
                "body": record["body"],
                "severity_number": record["severity_number"],
                "severity_text": record["severity_text"],
                "attributes": attributes,
            })
        })
        .collect()
}

/// One session's life, exported in `protocol`; its records.
fn one_session_run(protocol: &str) -> Option<Vec<Value>> {
    let collector = Collector::start()?;
    let url = endpoint(&collector);
    let server = exporting_server(&url, &["--otlp-protocol", protocol]);
    let created = server.post_json(
        "/sessions/",
        r#"{"appname":"cook","mode":"batch","jobid":"build-7","metadata":{"host":"agent-7","cl":41235}}"#,
    );
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(
        server
            .append_text(&id, "compiling\r\nlinking \u{2028} \"quoted\"\n")
            .status,
        200
    );
    let batch = json!({"entries": [
        {"level": "warn", "message": "slow disk", "data": {"ms": 812, "nested": {"list": [1, 2.5, null, true, "x"]}, "big": 18446744073709551615u64}},
        {"level": "error", "message": "failed", "data": {"sessions_lite.session.id": "spoof"}},
        {"level": "debug", "message": "details"}
    ]})
    .to_string();
    let appended = server.post_json(&format!("/sessions/{id}/log"), &batch);
    assert_eq!(appended.status, 200, "{}", appended.text());
    end_session(&server, &id);
    let records = wait_for_end(&collector, &id);
    let state = collector.state();
    let resource = &state["resource"];
    assert_eq!(resource["service.name"], "sessions-lite");
    assert_eq!(
        resource["service.instance.id"],
        server.get("/sessions/").json()["server_session"]
    );
    assert!(resource["host.name"]
        .as_str()
        .is_some_and(|name| !name.is_empty()));
    let content_type = if protocol == "http/json" {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    let headers = state["headers_seen"].as_array().expect("headers");
    assert!(
        headers
            .iter()
            .all(|seen| seen["content-type"] == content_type),
        "{headers:?}"
    );
    Some(records)
}

#[test]
fn a_session_s_life_arrives_mapped_field_by_field_in_both_encodings() {
    let Some(protobuf) = one_session_run("http/protobuf") else {
        return;
    };
    let Some(json_run) = one_session_run("http/json") else {
        return;
    };
    // Start, five entries in order, end.
    let events: Vec<&Value> = protobuf.iter().map(|record| &record["event"]).collect();
    assert_eq!(
        events.first().copied(),
        Some(&json!("sessions_lite.session.start"))
    );
    assert_eq!(
        events.last().copied(),
        Some(&json!("sessions_lite.session.end"))
    );
    assert_eq!(cursors(&protobuf), [0, 1, 2, 3, 4]);
    let entry = |cursor: u64| {
        protobuf
            .iter()
            .find(|record| record["cursor"] == cursor)
            .expect("the entry")
            .clone()
    };
    let first = entry(0);
    assert_eq!(
        (first["body"].clone(), first["severity_number"].clone()),
        (json!("compiling"), json!(9))
    );
    assert_eq!(first["severity_text"], "info");
    let attributes = &first["attributes"];
    assert_eq!(attributes["sessions_lite.session.appname"], "cook");
    assert_eq!(attributes["sessions_lite.session.mode"], "batch");
    assert_eq!(attributes["sessions_lite.session.jobid"], "build-7");
    assert_eq!(entry(1)["body"], "linking \u{2028} \"quoted\"");
    let slow = entry(2);
    assert_eq!(
        (
            slow["severity_number"].clone(),
            slow["severity_text"].clone()
        ),
        (json!(13), json!("warn"))
    );
    // Data as attributes, nested values as kvlists and arrays.
    assert_eq!(slow["attributes"]["ms"], 812);
    assert_eq!(
        slow["attributes"]["nested"],
        json!({"list": [1, 2.5, null, true, "x"]})
    );
    assert_eq!(slow["attributes"]["big"], "18446744073709551615");
    // A data key in our namespace can't pass for ours.
    let failed = entry(3);
    assert_eq!(failed["severity_number"], 17);
    assert_eq!(
        failed["attributes"]["data.sessions_lite.session.id"],
        "spoof"
    );
    assert_ne!(failed["attributes"]["sessions_lite.session.id"], "spoof");
    assert_eq!(entry(4)["severity_number"], 5);
    let end = protobuf.last().expect("end");
    assert_eq!(
        end["attributes"]["sessions_lite.session.end_reason"],
        "deleted"
    );
    assert_eq!(
        end["attributes"]["sessions_lite.session.metadata"],
        json!({"host": "agent-7", "cl": 41235})
    );
    let start = &protobuf[0];
    assert_eq!(
        start["attributes"]["sessions_lite.session.metadata"]["host"],
        "agent-7"
    );
    // Times: the entry's own, in nanoseconds, and when it was exported.
    let time = first["time_unix_nano"].as_u64().expect("time");
    assert_eq!(time % 1_000_000, 0, "entry times are whole milliseconds");
    assert!(first["observed_time_unix_nano"].as_u64().expect("observed") >= time);
    // Both encodings decode to the same records.
    assert_eq!(normalized(&protobuf), normalized(&json_run));
}

#[test]
fn the_server_s_own_log_is_exported_like_any_session() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let server = exporting_server(&endpoint(&collector), &[]);
    let id = write_session(&server, "noted", 1);
    let server_id = server.get("/sessions/").json()["server_session"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut records = Vec::new();
    let noted = eventually(DELIVERY_WAIT, || {
        records = records_of(&collector, &server_id);
        records.iter().any(|record| {
            record["body"]
                .as_str()
                .is_some_and(|body| body.contains(&format!("session {id} ended")))
        })
    });
    assert!(noted, "{records:#?}");
    assert_eq!(records[0]["event"], "sessions_lite.session.start");
    assert_eq!(
        records[0]["attributes"]["sessions_lite.session.mode"],
        "server"
    );
    let cursors = cursors(&records);
    assert_eq!(cursors, (0..cursors.len() as u64).collect::<Vec<_>>());
}

/// A collector that answers `answers` first: every entry still arrives,
/// in order, once, and the outage is one line in the server's log.
fn check_retried(answers: Value) {
    let Some(collector) = Collector::start() else {
        return;
    };
    let failures = answers.as_array().expect("answers").len() as u64;
    script(&collector, json!({ "answers": answers }));
    let server = exporting_server(&endpoint(&collector), &[]);
    let id = write_session(&server, "retried", 20);
    let records = wait_for_end(&collector, &id);
    assert_eq!(
        cursors(&records),
        (0..20).collect::<Vec<_>>(),
        "in order, once each"
    );
    let health = export_health(&server);
    assert!(
        health["retried"].as_u64().expect("retried") >= failures,
        "{health}"
    );
    assert_eq!(health["dropped"], 0, "{health}");
    assert!(
        collector.state()["failed_requests"]
            .as_u64()
            .expect("failed")
            >= failures
    );
    let log = server_log(&server);
    let outage_lines = log.matches("retrying with backoff").count();
    assert_eq!(outage_lines, 1, "one line per outage:\n{log}");
    assert!(log.contains("the collector answers again"), "{log}");
}

#[test]
fn retryable_statuses_are_retried_honouring_retry_after() {
    let date = "Thu, 01 Jan 1970 00:00:00 GMT"; // in the past: retry at once
    check_retried(json!([
        {"status": 503, "headers": {"Retry-After": "1"}},
        {"status": 429},
        {"status": 502, "headers": {"Retry-After": date}}
    ]));
}

#[test]
fn broken_answers_are_retried() {
    check_retried(json!([
        {"status": 504},
        {"close_mid_answer": true},
        {"garbage": true}
    ]));
}

#[test]
fn refused_batches_are_dropped_with_one_warn_line_each() {
    let Some(collector) = Collector::start() else {
        return;
    };
    script(
        &collector,
        json!({"answers": [{"status": 400, "rpc_message": "bad records here"}, {"status": 500}]}),
    );
    let server = exporting_server(&endpoint(&collector), &[]);
    let first = server.create_session("refused");
    assert_eq!(server.append_text(&first, "a\nb\nc\n").status, 200);
    let second = write_session(&server, "also refused", 2);
    assert!(eventually(DELIVERY_WAIT, || {
        server_log(&server).matches("dropped, not retried").count() == 2
    }));
    let log = server_log(&server);
    assert!(log.contains("HTTP 400: bad records here"), "{log}");
    assert!(log.contains("HTTP 500"), "{log}");
    // Later batches go through; the dropped ones are not sent again.
    let third = write_session(&server, "taken", 2);
    let records = wait_for_end(&collector, &third);
    assert_eq!(cursors(&records), [0, 1]);
    let health = export_health(&server);
    assert_eq!(health["retried"], 0, "{health}");
    assert_eq!(collector.state()["failed_requests"], 2);
    // Whichever of them the refused batches held is not sent again.
    let arrived = |id: &str| records_of(&collector, id).len();
    assert!(arrived(&first) == 0 || arrived(&second) == 0);
}

#[test]
fn a_partial_success_counts_the_rejected_and_logs_the_message() {
    let Some(collector) = Collector::start() else {
        return;
    };
    for as_string in [true, false] {
        collector.reset();
        script(
            &collector,
            json!({"answers": [{"status": 200, "partial": {"rejected": 2, "message": "too old", "as_string": as_string}}]}),
        );
        let server = exporting_server(&endpoint(&collector), &["--otlp-protocol", "http/json"]);
        let id = write_session(&server, "partial", 3);
        wait_for_end(&collector, &id);
        assert!(eventually(DELIVERY_WAIT, || export_health(&server)
            ["rejected"]
            == 2));
        assert!(server_log(&server).contains("rejected 2 record(s): too old"));
        assert_eq!(export_health(&server)["retried"], 0);
    }
}

#[test]
fn an_answer_over_the_cap_drops_the_batch_without_a_retry() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let over = sessions_lite::limits::OTLP_ANSWER_BODY_BYTES_MAX + 1;
    script(&collector, json!({"answers": [{"oversize": over}]}));
    let server = exporting_server(&endpoint(&collector), &[]);
    let id = server.create_session("oversize");
    assert_eq!(server.append_text(&id, "x\n").status, 200);
    assert!(eventually(DELIVERY_WAIT, || export_health(&server)
        ["dropped"]
        != 0));
    let health = export_health(&server);
    assert_eq!(health["retried"], 0, "{health}");
    assert!(
        health["last_error"]
            .as_str()
            .expect("error")
            .contains("answer body over"),
        "{health}"
    );
    // At the cap exactly, the answer is read and the batch taken.
    let at_cap = sessions_lite::limits::OTLP_ANSWER_BODY_BYTES_MAX;
    script(&collector, json!({"answers": [{"oversize": at_cap}]}));
    let next = write_session(&server, "at cap", 1);
    wait_for_end(&collector, &next);
}

#[test]
fn a_hanging_or_trickling_collector_times_out_and_never_holds_up_the_api() {
    let Some(collector) = Collector::start() else {
        return;
    };
    script(
        &collector,
        json!({"answers": [{"hang_s": 30}, {"trickle_ms": 300}]}),
    );
    let server = exporting_server(&endpoint(&collector), &["--otlp-timeout-ms", "1000"]);
    let id = server.create_session("patient");
    assert_eq!(server.append_text(&id, "one\n").status, 200);
    // While the collector hangs, the local API answers as usual.
    assert!(eventually(DELIVERY_WAIT, || export_health(&server)
        ["state"]
        == "sending"));
    for _ in 0..20 {
        assert_eq!(server.get("/health").status, 200);
        assert_eq!(server.get(&format!("/sessions/{id}/log")).status, 200);
    }
    assert_eq!(server.append_text(&id, "two\n").status, 200);
    end_session(&server, &id);
    let records = wait_for_end(&collector, &id);
    // The trickled answer was a 200 the collector counts as delivered,
    // though it came too late for us: that batch may arrive twice.
    assert_eq!(distinct_in_order(&records), [0, 1]);
    let health = export_health(&server);
    assert!(
        health["retried"].as_u64().expect("retried") >= 2,
        "{health}"
    );
    assert!(
        health["last_error"]
            .as_str()
            .expect("error")
            .contains("no answer within 1000 ms"),
        "{health}"
    );
    collector.reset(); // ends the hang at once
}

#[test]
fn a_collector_down_at_start_gets_everything_once_it_comes_up() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = exporting_server(&url, &[]);
    let id = write_session(&server, "early", 5);
    assert!(eventually(DELIVERY_WAIT, || export_health(&server)
        ["retried"]
        != 0));
    assert_eq!(server.get("/health").status, 200);
    let Some(collector) = Collector::start_on(port) else {
        return;
    };
    let records = wait_for_end(&collector, &id);
    assert_eq!(cursors(&records), [0, 1, 2, 3, 4]);
    assert!(
        server_log(&server).contains("connect"),
        "the failure is named"
    );
}

#[test]
fn a_collector_restarted_mid_run_misses_nothing_the_ring_held() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let port = collector.addr.port();
    let server = exporting_server(&endpoint(&collector), &[]);
    let id = server.create_session("restarted");
    assert_eq!(server.append_text(&id, "before\n").status, 200);
    assert!(eventually(DELIVERY_WAIT, || cursors(&records_of(
        &collector, &id
    )) == [0]));
    drop(collector);
    assert_eq!(
        server
            .append_text(&id, "while down 1\nwhile down 2\n")
            .status,
        200
    );
    assert!(eventually(DELIVERY_WAIT, || export_health(&server)
        ["retried"]
        != 0));
    let Some(collector) = Collector::start_on(port) else {
        return;
    };
    assert_eq!(server.append_text(&id, "after\n").status, 200);
    end_session(&server, &id);
    let records = wait_for_end(&collector, &id);
    assert_eq!(cursors(&records), [1, 2, 3]);
    assert_eq!(export_health(&server)["dropped"], 0);
}

#[test]
fn entries_evicted_while_the_collector_is_down_are_counted_exactly() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = exporting_server(&url, &["--log-capacity", "10"]);
    let id = server.create_session("evicted");
    let text: String = (0..25).map(|index| format!("line {index}\n")).collect();
    assert_eq!(server.append_text(&id, &text).status, 200);
    end_session(&server, &id);
    let Some(collector) = Collector::start_on(port) else {
        return;
    };
    let records = wait_for_end(&collector, &id);
    // The first batch may have been taken (and then held) before the
    // appends: whatever the ring evicted before it was taken is counted.
    let delivered = cursors(&records);
    let reported: u64 = records
        .iter()
        .filter_map(|record| record["attributes"]["sessions_lite.log.dropped_before"].as_u64())
        .sum();
    assert_eq!(
        delivered.len() as u64 + reported,
        25,
        "{delivered:?} + {reported}"
    );
    assert_eq!(
        delivered,
        (25 - delivered.len() as u64..25).collect::<Vec<_>>()
    );
    // The server's own log (as small) may have lost lines too.
    let health = export_health(&server);
    assert!(
        health["dropped"].as_u64().expect("dropped") >= reported,
        "{health}"
    );
    assert!(server_log(&server).contains("were evicted from their rings before they were exported"));
}

#[test]
fn sigterm_flushes_what_is_left_before_exiting() {
    let Some(collector) = Collector::start() else {
        return;
    };
    // Batches would close only after a minute: the flush sends them.
    let mut server = TestServer::start(&[
        "--otlp-endpoint",
        &endpoint(&collector),
        "--otlp-batch-ms",
        "60000",
    ]);
    let id = write_session(&server, "flushed", 7);
    server.signal("TERM");
    assert!(
        eventually(DELIVERY_WAIT, || !server.is_running()),
        "still running"
    );
    let records = records_of(&collector, &id);
    assert_eq!(cursors(&records), (0..7).collect::<Vec<_>>());
    assert_eq!(
        records.last().map(|record| record["event"].clone()),
        Some(json!("sessions_lite.session.end"))
    );
}

#[test]
fn sigterm_without_export_stops_at_once() {
    let mut server = TestServer::start(&[]);
    server.signal("TERM");
    assert!(eventually(DELIVERY_WAIT, || !server.is_running()));
}

#[test]
fn headers_from_flags_and_the_environment_reach_the_collector() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let url = endpoint(&collector);
    let server = TestServer::start_with_env(
        &[
            "--otlp-header",
            "X-Api-Key=from-flag",
            "--otlp-batch-ms",
            "50",
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=generic,x-team=build%20farm",
            ),
            ("OTEL_SERVICE_NAME", "agent-7-cook"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci"),
        ],
    );
    let id = write_session(&server, "headers", 1);
    wait_for_end(&collector, &id);
    let state = collector.state();
    let seen = &state["headers_seen"][0];
    assert_eq!(seen["x-api-key"], "from-flag");
    assert_eq!(seen["x-team"], "build farm");
    assert_eq!(state["resource"]["service.name"], "agent-7-cook");
    assert_eq!(state["resource"]["deployment.environment"], "ci");
}

#[test]
fn tls_grpc_and_bad_endpoints_are_start_up_errors() {
    let binary = env!("CARGO_BIN_EXE_sessions-lite");
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (
            &["--otlp-endpoint", "https://127.0.0.1:4318"],
            &[],
            "https is not supported",
        ),
        (
            &[
                "--otlp-endpoint",
                "http://127.0.0.1:4317",
                "--otlp-protocol",
                "grpc",
            ],
            &[],
            "4318",
        ),
        (
            &[],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
            "grpc",
        ),
        (
            &["--otlp-endpoint", "collector:4318"],
            &[],
            "must start with http://",
        ),
    ];
    for (args, env, expected) in cases {
        let output = std::process::Command::new(binary)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "it never started listening");
    }
}

#[test]
fn health_shows_export_only_when_it_is_on() {
    let server = TestServer::start(&[]);
    assert!(server.get("/health").json().get("export").is_none());
    let exporting = exporting_server("http://127.0.0.1:9", &[]);
    let export = export_health(&exporting);
    assert_eq!(export["endpoint"], "http://127.0.0.1:9/v1/logs");
    for key in ["sent", "retried", "rejected", "dropped"] {
        assert!(export[key].is_u64(), "{key}: {export}");
    }
}

#[test]
fn a_stop_with_the_collector_away_ends_at_the_flush_limit_and_says_what_was_left() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    /// Killed (by its own PID) if the test fails before it exits.
    struct Started(std::process::Child);
    impl Drop for Started {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let url = format!("http://127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_sessions-lite"))
        .args(["--listen", "127.0.0.1:0", "--otlp-endpoint", &url])
        .args(["--otlp-flush-ms", "300", "--otlp-batch-ms", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let mut started = Started(child);
    let child = &mut started.0;
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut line).expect("first line");
    assert!(line.starts_with("listening on http://"), "{line}");
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-s", "TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut exited = None;
    assert!(eventually(DELIVERY_WAIT, || {
        exited = child.try_wait().expect("wait");
        exited.is_some()
    }));
    assert_eq!(exited.and_then(|status| status.code()), Some(0));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert!(stderr.contains("log entries not exported"), "{stderr}");
}
