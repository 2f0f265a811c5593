//! The OTLP request writer against an independent reader: the test
//! collector (`tests/otlp_collector.py`, the schema from PyPI's
//! opentelemetry-proto) parses what `RequestWriter` writes, in both
//! encodings, checks the mapping, and shows the records it got. Also that
//! the collector refuses what it must (so its checks can fail).
//!
//! Skips, saying so, when `.venv/bin/python` lacks opentelemetry-proto,
//! unless `SESSIONS_LITE_REQUIRE_OTLP` is set (`make test` sets it, so CI
//! cannot skip silently); `tests/deps.sh` installs it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Map, Value};
use sessions_lite::export::otlp_request::{
    Encoding, Event, Record, RequestWriter, Resource, SessionAttrs, EVENT_SESSION_END,
    EVENT_SESSION_START,
};
use sessions_lite::level::Level;

use crate::support::{connect_with_deadlines, read_reply, Reply};

/// The test collector, killed (by its own PID) when dropped.
pub struct Collector {
    pub addr: SocketAddr,
    child: Child,
}

fn venv_python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

impl Collector {
    /// Starts the collector on a free port; `None` (after printing why)
    /// when opentelemetry-proto is missing and not required.
    pub fn start() -> Option<Collector> {
        Collector::start_on(0)
    }

    /// Starts the collector on `port` (0: a free one), so a test can stop
    /// it and start it again where the server sends.
    pub fn start_on(port: u16) -> Option<Collector> {
        let python = venv_python();
        let has_schema = Command::new(&python)
            .args(["-c", "import opentelemetry.proto"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !has_schema {
            let why = format!(
                "{} cannot import opentelemetry.proto (run tests/deps.sh)",
                python.display()
            );
            if std::env::var_os("SESSIONS_LITE_REQUIRE_OTLP").is_some() {
                panic!("{why}; SESSIONS_LITE_REQUIRE_OTLP is set");
            }
            eprintln!("skipped: {why}");
            return None;
        }
        let mut child = Command::new(&python)
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/otlp_collector.py"))
            .args(["--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the collector");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("address");
        Some(Collector { addr, child })
    }

    /// One request on a new connection; the reply.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        let mut stream: TcpStream = connect_with_deadlines(self.addr);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("send head");
        stream.write_all(body).expect("send body");
        read_reply(&mut stream).expect("a reply from the collector")
    }

    pub fn state(&self) -> Value {
        let mut stream = connect_with_deadlines(self.addr);
        let head = format!(
            "GET /_state HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(head.as_bytes()).expect("send");
        read_reply(&mut stream).expect("state").json()
    }

    pub fn reset(&self) {
        let reply = self.post("/_reset", "application/json", b"");
        assert_eq!(reply.status, 200);
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SESSION_ID: &str = "00112233445566778899aabb";
const OTHER_SESSION_ID: &str = "ffeeddccbbaa998877665544";
const TIME_NS: u64 = 1_764_000_000_123_000_000;

fn resource() -> Resource {
    let pairs = [
        ("service.name", "sessions-lite"),
        ("service.instance.id", "build-7:8080"),
        ("host.name", "build-7"),
        ("deployment.environment", "ci \"farm\""),
    ];
    Resource {
        attributes: pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
    }
}

/// The records sent, and what the collector must show for each.
fn records_and_expected(metadata: &Map<String, Value>) -> (Vec<Record<'_>>, Vec<Value>) {
    let session = SessionAttrs {
        id: SESSION_ID,
        appname: "make",
        mode: "ci",
        jobid: None,
    };
    let with_job = SessionAttrs {
        id: OTHER_SESSION_ID,
        jobid: Some("job-42"),
        ..session
    };
    let entry = |cursor, data: Option<&'static str>, truncated| Event::Entry {
        cursor,
        data: data.map(str::as_bytes),
        truncated,
    };
    let base = Record {
        time_unix_nano: TIME_NS,
        observed_time_unix_nano: TIME_NS + 5_000_000,
        level: Level::Info,
        body: b"plain",
        session,
        event: entry(0, None, false),
        dropped_before: 0,
    };
    let records = vec![
        Record {
            event: Event::SessionStart { metadata },
            ..base
        },
        base,
        Record {
            level: Level::Warn,
            body: "quotes \" and \\ and \u{1}\u{1f}\t\r\n, U+2028 \u{2028}, \u{fffd}, é, 😀"
                .as_bytes(),
            event: entry(
                1,
                Some(
                    r#"{"nested":{"list":[1,-2,3.5,"s",null,true,{"k":[]}]},"big":18446744073709551615,"sessions_lite.log.cursor":"mine","ü":"ö"}"#,
                ),
                false,
            ),
            ..base
        },
        Record {
            level: Level::Error,
            body: b"cut sh",
            event: entry(2, None, true),
            dropped_before: 17,
            ..base
        },
        Record {
            level: Level::Debug,
            session: with_job,
            event: entry(0, Some("{}"), false),
            ..base
        },
        Record {
            event: Event::SessionEnd {
                metadata,
                end_reason: "ttl",
            },
            ..base
        },
    ];
    let session_attrs = json!({
        "sessions_lite.session.id": SESSION_ID,
        "sessions_lite.session.appname": "make",
        "sessions_lite.session.mode": "ci",
    });
    let expect = |event: Value, cursor: Value, body: &str, level: (u64, &str), extra: Value| {
        let mut attributes = session_attrs.clone();
        for (key, value) in extra.as_object().expect("extra attributes") {
            attributes[key] = value.clone();
        }
        json!({
            "request": 1,
            "session": attributes["sessions_lite.session.id"],
            "event": event,
            "cursor": cursor,
            "body": body,
            "severity_number": level.0,
            "severity_text": level.1,
            "time_unix_nano": TIME_NS,
            "observed_time_unix_nano": TIME_NS + 5_000_000,
            "attributes": attributes,
        })
    };
    let metadata_value = Value::Object(metadata.clone());
    let expected = vec![
        expect(
            json!(EVENT_SESSION_START),
            Value::Null,
            "plain",
            (9, "info"),
            json!({ "sessions_lite.session.metadata": metadata_value }),
        ),
        expect(
            Value::Null,
            json!(0),
            "plain",
            (9, "info"),
            json!({ "sessions_lite.log.cursor": 0 }),
        ),
        expect(
            Value::Null,
            json!(1),
            std::str::from_utf8(records[2].body).expect("UTF-8"),
            (13, "warn"),
            json!({
                "sessions_lite.log.cursor": 1,
                "nested": {"list": [1, -2, 3.5, "s", null, true, {"k": []}]},
                "big": "18446744073709551615",
                "data.sessions_lite.log.cursor": "mine",
                "ü": "ö",
            }),
        ),
        expect(
            Value::Null,
            json!(2),
            "cut sh",
            (17, "error"),
            json!({
                "sessions_lite.log.cursor": 2,
                "sessions_lite.log.truncated": true,
                "sessions_lite.log.dropped_before": 17,
            }),
        ),
        expect(
            Value::Null,
            json!(0),
            "plain",
            (5, "debug"),
            json!({
                "sessions_lite.session.id": OTHER_SESSION_ID,
                "sessions_lite.session.jobid": "job-42",
                "sessions_lite.log.cursor": 0,
            }),
        ),
        expect(
            json!(EVENT_SESSION_END),
            Value::Null,
            "plain",
            (9, "info"),
            json!({
                "sessions_lite.session.metadata": metadata_value,
                "sessions_lite.session.end_reason": "ttl",
            }),
        ),
    ];
    (records, expected)
}

fn encode(encoding: Encoding, records: &[Record]) -> Vec<u8> {
    let mut writer = RequestWriter::new(encoding, &resource(), "0.1.0");
    for record in records {
        writer.push(record);
    }
    writer.finish().to_vec()
}

#[test]
fn collector_reads_both_encodings_as_the_same_records() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let metadata: Map<String, Value> = serde_json::from_str(
        r#"{"branch":"main","commit":{"sha":"abc","n":3},"tags":["a"],"none":null,"f":0.25}"#,
    )
    .expect("metadata");
    let (records, expected) = records_and_expected(&metadata);
    let mut seen = Vec::new();
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        collector.reset();
        let body = encode(encoding, &records);
        let reply = collector.post("/v1/logs", encoding.content_type(), &body);
        assert_eq!(reply.status, 200, "{encoding:?}: {}", reply.text());
        let state = collector.state();
        assert_eq!(state["invalid"], json!([]), "{encoding:?}");
        assert_eq!(state["requests"], 1);
        assert_eq!(state["failed_requests"], 0);
        let name = match encoding {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "json",
        };
        assert_eq!(state["encodings"][name], 1);
        assert_eq!(
            state["headers_seen"][0]["content-type"],
            encoding.content_type()
        );
        let resource_seen = &state["resource"];
        assert_eq!(resource_seen["service.name"], "sessions-lite");
        assert_eq!(resource_seen["deployment.environment"], "ci \"farm\"");
        let got = state["records"].as_array().expect("records");
        assert_eq!(got.len(), expected.len(), "{encoding:?}");
        for (index, (got, want)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(got, want, "{encoding:?} record {index}");
        }
        seen.push(state["records"].clone());
    }
    assert_eq!(seen[0], seen[1], "protobuf and JSON runs differ");
}

#[test]
fn collector_refuses_what_otlp_forbids() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let metadata = Map::new();
    let (records, _) = records_and_expected(&metadata);
    let good = String::from_utf8(encode(Encoding::Json, &records[1..2])).expect("UTF-8");
    let bad_cases = [
        (
            good.replacen("\"timeUnixNano\"", "\"time_unix_nano\"", 1),
            "snake_case field name",
        ),
        (
            good.replacen(
                "\"severityNumber\":9",
                "\"severityNumber\":\"SEVERITY_NUMBER_INFO\"",
                1,
            ),
            "is not an integer",
        ),
        (
            good.replacen(
                &format!("\"timeUnixNano\":\"{TIME_NS}\""),
                &format!("\"timeUnixNano\":{TIME_NS}"),
                1,
            ),
            "is not a decimal string",
        ),
        (
            good.replacen(SESSION_ID, "00112233445566778899AABB", 1),
            "24 lowercase hex",
        ),
        (
            good.replacen("\"severityText\":\"info\"", "\"severityText\":\"INFO\"", 1),
            "severityText",
        ),
        (
            good.replacen(
                "sessions_lite.session.mode",
                "sessions_lite.session.appname",
                1,
            ),
            "repeats",
        ),
        (
            good.replacen("\"logRecords\"", "\"logRecordz\"", 1),
            "not an ExportLogsServiceRequest",
        ),
    ];
    for (body, reason) in &bad_cases {
        assert_ne!(body, &good, "the case for {reason:?} changed nothing");
        collector.reset();
        let reply = collector.post("/v1/logs", "application/json", body.as_bytes());
        assert_eq!(reply.status, 400, "{reason}: {}", reply.text());
        let state = collector.state();
        let invalid = state["invalid"][0].as_str().unwrap_or("");
        assert!(invalid.contains(reason), "{reason:?} not in {invalid:?}");
        assert_eq!(state["records"], json!([]));
        // The answer is a google.rpc.Status with the reason.
        assert_eq!(reply.json()["message"].as_str(), Some(invalid));
    }
    collector.reset();
    let reply = collector.post("/v1/logs", "application/x-protobuf", b"\x0a\x05\x01");
    assert_eq!(reply.status, 400);
    let reply = collector.post("/v1/logs", "text/plain", good.as_bytes());
    assert_eq!(reply.status, 400);
    let state = collector.state();
    assert_eq!(
        state["invalid"].as_array().map(Vec::len),
        Some(2),
        "{state}"
    );
    // And the good one passes, so the cases above failed for their reason.
    let reply = collector.post("/v1/logs", "application/json", good.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[test]
fn collector_scripts_answers() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let metadata = Map::new();
    let (records, _) = records_and_expected(&metadata);
    let body = encode(Encoding::Protobuf, &records[1..3]);
    let script = json!({"answers": [
        {"status": 503, "headers": {"Retry-After": "7"}},
        {"status": 200, "partial": {"rejected": 1, "message": "one bad"}},
        {"status": 400, "rpc_message": "no thanks"},
    ]});
    let reply = collector.post(
        "/_script",
        "application/json",
        script.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200);
    let answers: Vec<Reply> = (0..4)
        .map(|_| collector.post("/v1/logs", "application/x-protobuf", &body))
        .collect();
    let read = |reply: &Reply| {
        sessions_lite::export::otlp_answer::read_answer(
            reply.status,
            reply.header("content-type").map(str::as_bytes),
            &reply.body,
            reply.header("retry-after").map(str::as_bytes),
            0,
        )
    };
    use sessions_lite::export::otlp_answer::Answer;
    assert_eq!(
        read(&answers[0]),
        Answer::Retry {
            status: 503,
            after_ms: Some(7_000),
            message: "scripted 503".into()
        }
    );
    assert_eq!(
        read(&answers[1]),
        Answer::Accepted {
            rejected_log_records: 1,
            error_message: "one bad".into()
        }
    );
    assert_eq!(
        read(&answers[2]),
        Answer::Refused {
            status: 400,
            message: "no thanks".into()
        }
    );
    assert_eq!(
        read(&answers[3]),
        Answer::Accepted {
            rejected_log_records: 0,
            error_message: String::new()
        }
    );
    let state = collector.state();
    assert_eq!(state["failed_requests"], 2);
    assert_eq!(state["rejected"], 1);
    let requests: Vec<&Value> = state["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|record| &record["request"])
        .collect();
    assert_eq!(requests, [2, 2, 4, 4]);
}

/// Sends one valid request on a new connection; the bytes the collector
/// sent until it closed (or the read deadline), and how long that took.
fn raw_exchange(collector: &Collector, body: &[u8]) -> (Vec<u8>, std::time::Duration) {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut stream = connect_with_deadlines(collector.addr);
    let head = format!(
        "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    (received, started.elapsed())
}

#[test]
fn collector_breaks_answers_on_request() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let metadata = Map::new();
    let (records, _) = records_and_expected(&metadata);
    let body = encode(Encoding::Protobuf, &records[1..2]);
    let script = json!({
        "answers": [
            {"close_mid_answer": true},
            {"garbage": true},
            {"hang_s": 1},
            {"trickle_ms": 2},
            {"oversize": 5000},
        ],
        "then": {"fail_every": 3},
    });
    let reply = collector.post(
        "/_script",
        "application/json",
        script.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200);

    let (received, _) = raw_exchange(&collector, &body);
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(text.contains("Content-Length: 1000\r\n"), "{text:?}");
    let head_end = crate::support::find(&received, b"\r\n\r\n").expect("a head") + 4;
    assert!(received.len() - head_end < 1000, "the body was cut short");

    let (received, _) = raw_exchange(&collector, &body);
    assert!(!received.starts_with(b"HTTP/"), "{received:?}");
    assert!(!received.is_empty());

    let (received, elapsed) = raw_exchange(&collector, &body);
    assert!(received.is_empty(), "{received:?}");
    assert!(
        elapsed >= std::time::Duration::from_millis(900),
        "{elapsed:?}"
    );
    assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");

    let reply = collector.post("/v1/logs", "application/x-protobuf", &body);
    assert_eq!(reply.status, 200, "trickled");
    let reply = collector.post("/v1/logs", "application/x-protobuf", &body);
    assert_eq!((reply.status, reply.body.len()), (200, 5000), "oversize");

    // fail_every 3 counts all /v1/logs requests: 6 and 9 fail.
    let statuses: Vec<u16> = (6..=9)
        .map(|_| {
            collector
                .post("/v1/logs", "application/x-protobuf", &body)
                .status
        })
        .collect();
    assert_eq!(statuses, [503, 200, 200, 503]);

    let state = collector.state();
    assert_eq!(state["requests"], 9);
    assert_eq!(state["failed_requests"], 5, "{state}");
    let delivered: Vec<&Value> = state["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|record| &record["request"])
        .collect();
    assert_eq!(delivered, [4, 5, 7, 8]);
}
