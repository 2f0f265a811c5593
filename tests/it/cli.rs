//! The client subcommands (`run`, `tail`, `ls`) as a build step uses them:
//! the real binary, real `sh -c` children, a real server. Every wait has a
//! deadline; outcomes are asserted, never durations.

use crate::support::*;
use serde_json::{json, Value};
use sessions_lite::limits::{MESSAGE_BYTES_MAX, RUN_LINE_BYTES_MAX};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long any one client process may take in these tests.
const DEADLINE: Duration = Duration::from_secs(30);

/// Bytes a child process wrote, shared with the thread that reads them.
#[derive(Clone, Default)]
struct Captured(Arc<(Mutex<Vec<u8>>, Condvar)>);

impl Captured {
    fn reading(mut pipe: impl Read + Send + 'static) -> Captured {
        let captured = Captured::default();
        let writer = captured.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 65536];
            while let Ok(read) = pipe.read(&mut chunk) {
                if read == 0 {
                    break;
                }
                let (bytes, grew) = &*writer.0;
                bytes
                    .lock()
                    .expect("lock")
                    .extend_from_slice(&chunk[..read]);
                grew.notify_all();
            }
        });
        captured
    }

    fn bytes(&self) -> Vec<u8> {
        self.0 .0.lock().expect("lock").clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// Waits until the bytes contain `needle`; panics at the deadline.
    fn wait_for(&self, needle: &str) {
        let (bytes, grew) = &*self.0;
        let deadline = Instant::now() + DEADLINE;
        let mut held = bytes.lock().expect("lock");
        while find(&held, needle.as_bytes()).is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {needle:?} in {:?}",
                String::from_utf8_lossy(&held)
            );
            held = grew.wait_timeout(held, left).expect("lock").0;
        }
    }
}

/// A running `sessions-lite` client; killed by its PID if dropped early.
struct Client {
    child: Child,
    stdout: Captured,
    stderr: Captured,
}

/// What a finished client did.
struct Finished {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Finished {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The id `run` printed on stderr.
    fn session_id(&self) -> String {
        session_id_in(&self.stderr)
    }
}

fn session_id_in(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|line| line.strip_prefix("sessions-lite: session "))
        .unwrap_or_else(|| panic!("no session id in {stderr:?}"))
        .trim()
        .to_owned()
}

impl Client {
    /// `sessions-lite ARGS` with `url` in `SESSIONS_LITE_URL` and `env` set.
    fn start(url: &str, args: &[&str], env: &[(&str, &str)]) -> Client {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sessions-lite"));
        command.args(args).env("SESSIONS_LITE_URL", url);
        for name in [
            "SESSIONS_LITE_TOKEN",
            "SESSIONS_LITE_JOB",
            "SESSIONS_LITE_SESSION_FILE",
        ] {
            command.env_remove(name);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the client");
        let stdout = Captured::reading(child.stdout.take().expect("stdout"));
        let stderr = Captured::reading(child.stderr.take().expect("stderr"));
        Client {
            child,
            stdout,
            stderr,
        }
    }

    /// The id `run` prints on stderr, once its line is complete.
    fn session_id(&self) -> String {
        Client::session_id_from(&self.stderr)
    }

    fn session_id_from(stderr: &Captured) -> String {
        let (bytes, grew) = &*stderr.0;
        let deadline = Instant::now() + DEADLINE;
        let mut held = bytes.lock().expect("lock");
        loop {
            let text = String::from_utf8_lossy(&held).into_owned();
            if let Some(start) = text.find("sessions-lite: session ") {
                if text[start..].contains('\n') {
                    return session_id_in(&text);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no session id in {text:?}");
            held = grew.wait_timeout(held, left).expect("lock").0;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit (and the end of its output) within the deadline.
    fn finish(mut self) -> Finished {
        let exited = eventually(DEADLINE, || matches!(self.child.try_wait(), Ok(Some(_))));
        assert!(
            exited,
            "client still running; stderr {:?}",
            self.stderr.text()
        );
        let status = self.child.wait().expect("status");
        // The pipes close with the process (its children are gone too).
        let closed = eventually(DEADLINE, || {
            Arc::strong_count(&self.stdout.0) == 1 && Arc::strong_count(&self.stderr.0) == 1
        });
        assert!(closed, "output still open");
        Finished {
            code: status.code(),
            stdout: self.stdout.bytes(),
            stderr: self.stderr.text(),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a client to its end.
fn cli(url: &str, args: &[&str], env: &[(&str, &str)]) -> Finished {
    Client::start(url, args, env).finish()
}

fn base_url(server: &TestServer) -> String {
    format!("http://{}", server.addr)
}

/// `sessions-lite run --quiet`-less run of `sh -c SCRIPT`.
fn run_sh(server: &TestServer, script: &str) -> Finished {
    cli(
        &base_url(server),
        &["run", "--app", "test", "--", "sh", "-c", script],
        &[],
    )
}

fn session(server: &TestServer, id: &str) -> Value {
    let reply = server.get(&format!("/sessions/{id}"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// Every entry the log holds, read in pages of 500 (each answer small
/// enough to come well within the read deadline on a busy machine).
fn entries(server: &TestServer, id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = 0;
    for _ in 0..1_000 {
        let reply = server.get(&format!("/sessions/{id}/log?cursor={cursor}&limit=500"));
        assert_eq!(reply.status, 200, "{}", reply.text());
        let page = reply.json();
        all.extend(page["entries"].as_array().expect("entries").iter().cloned());
        cursor = page["cursor"].as_u64().expect("cursor");
        if page["more"] != true {
            return all;
        }
    }
    panic!("more than 500,000 entries")
}

fn messages(entries: &[Value]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|entry| {
            let level = entry["level"].as_str().unwrap_or("").to_owned();
            (level, entry["message"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

/// A port on 127.0.0.1 with nothing listening (bound, then let go).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A fresh file path under the system's temporary directory.
fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sessions-lite-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

#[test]
fn exit_codes_become_the_wrappers_status_and_the_end_reason() {
    let server = TestServer::start(&[]);
    for code in [0, 3, 255] {
        let done = run_sh(&server, &format!("echo code {code}; exit {code}"));
        assert_eq!(done.code, Some(code), "{}", done.stderr);
        assert_eq!(done.stdout_text(), format!("code {code}\n"));
        let session = session(&server, &done.session_id());
        assert_eq!(session["status"], "ended");
        assert_eq!(session["end_reason"], format!("exit {code}"));
        assert_eq!(session["metadata"]["exit_code"], code);
        assert!(session["metadata"]["duration_ms"].is_u64(), "{session}");
        assert_eq!(
            (session["appname"].as_str(), session["mode"].as_str()),
            (Some("test"), Some("run"))
        );
    }
}

#[test]
fn a_child_killed_by_a_signal() {
    let server = TestServer::start(&[]);
    let done = run_sh(&server, "echo dying; kill -KILL $$");
    assert_eq!(done.code, Some(128 + 9), "{}", done.stderr);
    let session = session(&server, &done.session_id());
    assert_eq!(session["end_reason"], "signal SIGKILL");
    assert_eq!(session["metadata"]["signal"], "SIGKILL");
    assert!(session["metadata"].get("exit_code").is_none());
    assert_eq!(
        messages(&entries(&server, &done.session_id())),
        [("info".into(), "dying".into())]
    );
}

#[test]
fn signals_sent_to_the_wrapper_reach_the_child() {
    let server = TestServer::start(&[]);
    let url = base_url(&server);
    // TERM: the child traps it and exits 7 on its own terms.
    let script = "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.02; done";
    let client = Client::start(&url, &["run", "--", "sh", "-c", script], &[]);
    client.stdout.wait_for("ready\n");
    signal(client.pid(), "TERM");
    let done = client.finish();
    assert_eq!(done.code, Some(7), "{}", done.stderr);
    assert_eq!(done.stdout_text(), "ready\ngot TERM\n");
    assert_eq!(session(&server, &done.session_id())["end_reason"], "exit 7");
    // HUP, INT and QUIT, not trapped: the child dies of each, the wrapper
    // waits for it and says so.
    for (name, number) in [("HUP", 1), ("INT", 2), ("QUIT", 3)] {
        let client = Client::start(
            &url,
            &["run", "--", "sh", "-c", "echo ready; exec sleep 30"],
            &[],
        );
        client.stdout.wait_for("ready\n");
        signal(client.pid(), name);
        let done = client.finish();
        assert_eq!(done.code, Some(128 + number), "{name}: {}", done.stderr);
        let session = session(&server, &done.session_id());
        assert_eq!(session["end_reason"], format!("signal SIG{name}"));
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn a_closed_output_stops_the_command_as_without_the_wrapper() {
    let server = TestServer::start(&[]);
    // `sessions-lite run -- yes | head -c 0`: nobody reads the wrapper's
    // stdout, so `yes` must get its SIGPIPE rather than run forever.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessions-lite"))
        .args(["run", "--server", &base_url(&server), "--", "yes"])
        .env_remove("SESSIONS_LITE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    drop(child.stdout.take());
    let stderr = Captured::reading(child.stderr.take().expect("stderr"));
    let exited = eventually(DEADLINE, || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
    }
    assert!(exited, "yes still running");
    let status = child.wait().expect("status");
    assert_eq!(status.code(), Some(128 + 13));
    let id = Client::session_id_from(&stderr);
    assert_eq!(session(&server, &id)["end_reason"], "signal SIGPIPE");
}

#[test]
fn both_streams_reach_the_terminal_and_the_log_in_order() {
    let server = TestServer::start(&[]);
    let script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done";
    let done = cli(
        &base_url(&server),
        &["run", "--quiet", "--", "sh", "-c", script],
        &[(
            "SESSIONS_LITE_SESSION_FILE",
            temp_path("both.id").to_str().expect("utf-8"),
        )],
    );
    assert_eq!(done.code, Some(0));
    assert_eq!(done.stdout_text(), "out1\nout2\nout3\nout4\nout5\n");
    assert_eq!(
        done.stderr, "err1\nerr2\nerr3\nerr4\nerr5\n",
        "--quiet prints no id"
    );
    let id = std::fs::read_to_string(temp_path("both.id")).expect("session file");
    let logged = messages(&entries(&server, id.trim()));
    assert_eq!(logged.len(), 10);
    let of = |level: &str| -> Vec<String> {
        logged
            .iter()
            .filter(|(l, _)| l == level)
            .map(|(_, m)| m.clone())
            .collect()
    };
    assert_eq!(of("info"), ["out1", "out2", "out3", "out4", "out5"]);
    assert_eq!(of("warn"), ["err1", "err2", "err3", "err4", "err5"]);
}

#[test]
fn every_byte_reaches_the_terminal_and_every_line_the_log() {
    let server = TestServer::start(&[]);
    // 1 MB of every byte value (so CR, CRLF, NUL and invalid UTF-8), a line
    // over the server's line limit, a 1 MiB line, and no final newline.
    let mut output = Vec::new();
    for index in 0..1_000_000u32 {
        output.push((index.wrapping_mul(2_654_435_761) >> 24) as u8);
    }
    output.extend_from_slice(b"\nwindows\r\n");
    output.extend(std::iter::repeat_n(b'l', MESSAGE_BYTES_MAX + 10));
    output.push(b'\n');
    output.extend(std::iter::repeat_n(b'm', RUN_LINE_BYTES_MAX));
    output.extend_from_slice(b"\nlast line, no newline");
    let path = temp_path("binary.out");
    std::fs::write(&path, &output).expect("write");
    let done = cli(
        &base_url(&server),
        &["run", "--", "cat", path.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stdout == output,
        "the terminal got other bytes ({} of {})",
        done.stdout.len(),
        output.len()
    );
    let expected: Vec<&[u8]> = output
        .split(|&byte| byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .collect();
    let id = done.session_id();
    let logged = entries(&server, &id);
    assert_eq!(logged.len(), expected.len());
    assert_eq!(session(&server, &id)["log"]["count"], expected.len());
    let tail: Vec<&Value> = logged.iter().rev().take(4).collect();
    assert_eq!(tail[0]["message"], "last line, no newline");
    assert_eq!(
        tail[1]["message"].as_str().map(str::len),
        Some(MESSAGE_BYTES_MAX)
    );
    assert_eq!(tail[1]["truncated"], true);
    assert_eq!(
        tail[2]["message"].as_str().map(str::len),
        Some(MESSAGE_BYTES_MAX)
    );
    assert_eq!(tail[2]["truncated"], true);
    assert_eq!(tail[3]["message"], "windows");
    // Every line is logged, bad UTF-8 lossily (the terminal had the bytes).
    for (index, (entry, line)) in logged
        .iter()
        .zip(&expected)
        .enumerate()
        .take(expected.len() - 4)
    {
        let lossy = String::from_utf8_lossy(line);
        assert_eq!(entry["message"].as_str(), Some(&*lossy), "line {index}");
    }
}

#[test]
fn a_command_that_cannot_start_exits_like_a_shell() {
    let server = TestServer::start(&[]);
    let url = base_url(&server);
    let done = cli(&url, &["run", "--", "/nonexistent/cook.sh", "x"], &[]);
    assert_eq!(done.code, Some(127));
    assert!(
        done.stderr
            .contains("sessions-lite: /nonexistent/cook.sh: not found"),
        "{}",
        done.stderr
    );
    let session = session(&server, &done.session_id());
    assert_eq!(
        (session["end_reason"].as_str(), session["appname"].as_str()),
        (Some("exit 127"), Some("cook.sh"))
    );
    let path = temp_path("not-executable.sh");
    std::fs::write(&path, "#!/bin/sh\necho no\n").expect("write");
    let done = cli(&url, &["run", "--", path.to_str().expect("utf-8")], &[]);
    assert_eq!(done.code, Some(126), "{}", done.stderr);
    assert_eq!(session_of(&server, &done)["end_reason"], "exit 126");
}

fn session_of(server: &TestServer, done: &Finished) -> Value {
    session(server, &done.session_id())
}

/// The wrapper's lines about the service, on stderr.
fn service_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.contains("log service") && !line.contains("could not be delivered"))
        .collect()
}

#[test]
fn the_build_runs_when_the_service_is_down_at_start() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let done = cli(
        &url,
        &["run", "--", "sh", "-c", "echo one; echo two >&2; exit 4"],
        &[],
    );
    assert_eq!(done.code, Some(4), "{}", done.stderr);
    assert_eq!(done.stdout_text(), "one\n");
    assert_eq!(service_lines(&done.stderr).len(), 1, "{}", done.stderr);
    assert!(
        done.stderr
            .contains("sessions-lite: 2 lines could not be delivered"),
        "{}",
        done.stderr
    );
    // --strict: a command that succeeded fails the step instead.
    let done = cli(&url, &["run", "--strict", "--", "true"], &[]);
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    let done = cli(&url, &["run", "--strict", "--", "sh", "-c", "exit 6"], &[]);
    assert_eq!(done.code, Some(6));
}

/// A script that prints `before`, waits for `gate` to exist, prints `after`.
fn gated_script(gate: &std::path::Path) -> String {
    format!(
        "echo before; while [ ! -e '{}' ]; do sleep 0.02; done; echo after; exit 5",
        gate.display()
    )
}

fn wait_for_entries(server: &TestServer, id: &str, count: usize) {
    let arrived = eventually(DEADLINE, || {
        server.get(&format!("/sessions/{id}")).json()["log"]["count"] == count
    });
    assert!(arrived, "{count} entries never arrived");
}

#[test]
fn the_build_finishes_when_the_service_dies_mid_run() {
    let server = TestServer::start(&[]);
    let gate = temp_path("dies.gate");
    let client = Client::start(
        &base_url(&server),
        &["run", "--", "sh", "-c", &gated_script(&gate)],
        &[],
    );
    let id = client.session_id();
    wait_for_entries(&server, &id, 1);
    drop(server);
    std::fs::write(&gate, "").expect("gate");
    let done = client.finish();
    assert_eq!(done.code, Some(5), "{}", done.stderr);
    assert_eq!(done.stdout_text(), "before\nafter\n");
    assert_eq!(
        service_lines(&done.stderr).len(),
        1,
        "said once: {}",
        done.stderr
    );
    assert!(
        done.stderr
            .contains("sessions-lite: 1 lines could not be delivered"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_restarted_service_gets_the_rest_of_the_log() {
    let server = TestServer::start(&[]);
    let port = server.addr.port();
    let gate = temp_path("restart.gate");
    let client = Client::start(
        &base_url(&server),
        &[
            "run",
            "--app",
            "cook",
            "--",
            "sh",
            "-c",
            &gated_script(&gate),
        ],
        &[],
    );
    let id = client.session_id();
    wait_for_entries(&server, &id, 1);
    drop(server);
    let listen = format!("127.0.0.1:{port}");
    let server = TestServer::start(&["--listen", &listen]);
    std::fs::write(&gate, "").expect("gate");
    let done = client.finish();
    assert_eq!(done.code, Some(5), "{}", done.stderr);
    // The session is made again with the same id; what came after is there.
    let session = session(&server, &id);
    assert_eq!(
        (session["appname"].as_str(), session["end_reason"].as_str()),
        (Some("cook"), Some("exit 5"))
    );
    assert_eq!(
        messages(&entries(&server, &id)),
        [("info".into(), "after".into())]
    );
    assert!(
        !done.stderr.contains("could not be delivered"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_wrong_token_is_said_once_and_the_command_still_runs() {
    let server = TestServer::start(&["--token", "right"]);
    let url = base_url(&server);
    let script = "for i in 1 2 3; do echo line$i; done; exit 2";
    let done = cli(
        &url,
        &["run", "--", "sh", "-c", script],
        &[("SESSIONS_LITE_TOKEN", "wrong")],
    );
    assert_eq!(done.code, Some(2));
    assert_eq!(done.stdout_text(), "line1\nline2\nline3\n");
    let said = service_lines(&done.stderr);
    assert_eq!(said.len(), 1, "{}", done.stderr);
    assert!(said[0].contains("refused the token"), "{}", said[0]);
    assert!(
        done.stderr.contains("3 lines could not be delivered"),
        "{}",
        done.stderr
    );
    // The right token works.
    let done = cli(
        &url,
        &["run", "--", "sh", "-c", script],
        &[("SESSIONS_LITE_TOKEN", "right")],
    );
    assert_eq!(session_of(&server, &done)["log"]["count"], 3);
}

#[test]
fn run_options_reach_the_session() {
    let server = TestServer::start(&[]);
    let url = base_url(&server);
    let args = [
        "run",
        "--app",
        "cook",
        "--mode",
        "ci",
        "--meta",
        "host=agent-7",
        "--meta",
        "cl=41",
        "--",
        "true",
    ];
    let done = cli(&url, &args, &[("SESSIONS_LITE_JOB", "job-9")]);
    let made = session_of(&server, &done);
    assert_eq!(made["jobid"], "job-9");
    assert_eq!(made["mode"], "ci");
    let duration_ms = made["metadata"]["duration_ms"].clone();
    let metadata =
        json!({"host": "agent-7", "cl": "41", "exit_code": 0, "duration_ms": duration_ms});
    assert_eq!(made["metadata"], metadata);
    // --id: into an existing session, which is left active.
    let id = server.create_session("outer");
    let done = cli(
        &url,
        &["run", "--id", &id, "--", "sh", "-c", "echo inner"],
        &[],
    );
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let outer = session(&server, &id);
    assert_eq!(
        (outer["status"].as_str(), outer["log"]["count"].as_u64()),
        (Some("active"), Some(1))
    );
}

#[test]
fn tail_prints_follows_and_reports_gaps_exactly() {
    let server = TestServer::start(&["--log-capacity", "5"]);
    let url = base_url(&server);
    let id = server.create_session("tailed");
    server.append_text(&id, "one\ntwo\nthree\n");
    let client = Client::start(&url, &["tail", &id, "-f"], &[]);
    client.stdout.wait_for(" info three\n");
    // 20 more in one request: 15 evicted before anyone read them.
    let lines: String = (1..=20).map(|n| format!("n{n}\n")).collect();
    server.append_text(&id, &lines);
    client.stdout.wait_for(" info n20\n");
    server.request("DELETE", &format!("/sessions/{id}"), &[], b"");
    let done = client.finish();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let printed: Vec<String> = done
        .stdout_text()
        .lines()
        .map(|line| {
            line.split_once(' ')
                .map_or(line, |(_, rest)| rest)
                .to_owned()
        })
        .collect();
    let mut expected = vec![
        "info one".to_string(),
        "info two".into(),
        "info three".into(),
    ];
    expected.push("15 entries dropped --".into());
    expected.extend((16..=20).map(|n| format!("info n{n}")));
    assert_eq!(printed, expected, "{}", done.stdout_text());
    assert!(done.stdout_text().contains("-- 15 entries dropped --\n"));
}

#[test]
fn tail_picks_entries_by_count_level_and_cursor() {
    let server = TestServer::start(&[]);
    let url = base_url(&server);
    let id = server.create_session("picked");
    let body = r#"{"entries":[{"message":"a"},{"level":"warn","message":"b"},{"level":"error","message":"c"},{"message":"d"}]}"#;
    assert_eq!(
        server
            .request(
                "POST",
                &format!("/sessions/{id}/log"),
                &[("Content-Type", "application/json")],
                body.as_bytes()
            )
            .status,
        200
    );
    let shown = |args: &[&str]| -> Vec<String> {
        let done = cli(&url, args, &[]);
        assert_eq!(done.code, Some(0), "{args:?}: {}", done.stderr);
        done.stdout_text()
            .lines()
            .map(|line| line[25..].to_owned())
            .collect()
    };
    assert_eq!(
        shown(&["tail", &id]),
        ["info a", "warn b", "error c", "info d"]
    );
    assert_eq!(shown(&["tail", &id, "-n", "2"]), ["error c", "info d"]);
    assert_eq!(shown(&["tail", &id, "-n", "0"]), Vec::<String>::new());
    assert_eq!(
        shown(&["tail", &id, "--level", "warn"]),
        ["warn b", "error c"]
    );
    assert_eq!(shown(&["tail", &id, "--since-cursor", "3"]), ["info d"]);
    assert_eq!(shown(&["tail", &id[..6]]).len(), 4, "a unique prefix");
    // The format is the server's format=text.
    let text = server
        .get(&format!("/sessions/{id}/log?format=text"))
        .text();
    assert_eq!(cli(&url, &["tail", &id], &[]).stdout_text(), text);
    let server_log = cli(&url, &["tail", "server"], &[]);
    assert!(
        server_log.stdout_text().contains("listening on"),
        "{}",
        server_log.stdout_text()
    );
}

#[test]
fn tail_refuses_unknown_and_ambiguous_ids() {
    let server = TestServer::start(&[]);
    let url = base_url(&server);
    for id in ["abcdef000000000000000001", "abcdef000000000000000002"] {
        assert_eq!(
            server
                .post_json(&format!("/sessions/{id}"), r#"{"appname":"a","mode":"m"}"#)
                .status,
            201
        );
    }
    let ambiguous = cli(&url, &["tail", "abcdef"], &[]);
    assert_eq!(ambiguous.code, Some(2));
    assert!(
        ambiguous
            .stderr
            .contains("abcdef is ambiguous: 2 sessions match"),
        "{}",
        ambiguous.stderr
    );
    let unique = cli(&url, &["tail", "abcdef000000000000000002"], &[]);
    assert_eq!(unique.code, Some(0));
    let unknown = cli(&url, &["tail", "0123"], &[]);
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown.stderr.contains("no session id starts with 0123"),
        "{}",
        unknown.stderr
    );
    let missing = cli(&url, &["tail", "0123456789abcdef01234567"], &[]);
    assert_eq!(missing.code, Some(1));
    let down = cli(&format!("http://127.0.0.1:{}", free_port()), &["ls"], &[]);
    assert_eq!(down.code, Some(1));
    assert!(down.stderr.contains("cannot connect"), "{}", down.stderr);
}

#[test]
fn ls_shows_a_table_and_json() {
    let server = TestServer::start(&[]);
    let url = base_url(&server);
    let active = server.create_session("cook");
    let ended = server.create_session("bake");
    server.request("DELETE", &format!("/sessions/{ended}"), &[], b"");
    let table = cli(&url, &["ls"], &[]);
    assert_eq!(table.code, Some(0));
    let text = table.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("ID ") && lines[0].ends_with("ENTRIES"),
        "{text}"
    );
    assert!(text.contains(&active) && !text.contains(&ended), "{text}");
    let all = cli(&url, &["ls", "--status", "all"], &[]).stdout_text();
    assert!(all.contains(&ended) && all.contains("ended"), "{all}");
    let ended_only = cli(&url, &["ls", "--status=ended", "--json"], &[]);
    let list: Value = serde_json::from_slice(&ended_only.stdout).expect("json");
    let ids: Vec<&str> = list["sessions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, [ended.as_str()]);
    // --server wins over the environment.
    let flagged = cli(
        "http://127.0.0.1:1",
        &["ls", "--server", &url, "--json"],
        &[],
    );
    assert_eq!(flagged.code, Some(0), "{}", flagged.stderr);
}

#[test]
fn help_and_usage_errors() {
    let url = "http://127.0.0.1:1";
    for command in ["run", "tail", "ls"] {
        let help = cli(url, &[command, "--help"], &[]);
        assert_eq!(help.code, Some(0));
        assert!(
            help.stdout_text()
                .starts_with(&format!("usage: sessions-lite {command}")),
            "{}",
            help.stdout_text()
        );
    }
    for args in [
        &["run"][..],
        &["run", "--app"],
        &["run", "--bogus", "--", "true"],
        &["tail"],
        &["tail", "not-an-id"],
        &["tail", "abc", "-n", "many"],
        &["ls", "--status", "gone"],
        &["ls", "--server", "ftp://x"],
    ] {
        let done = cli(url, args, &[]);
        assert_eq!(done.code, Some(2), "{args:?}");
        assert!(
            done.stderr.starts_with("sessions-lite: "),
            "{args:?}: {}",
            done.stderr
        );
        assert!(done.stdout.is_empty());
    }
    // Bare and `serve`: the server, flags unchanged.
    let bare = cli(url, &["--help"], &[]).stdout_text();
    assert!(
        bare.starts_with("usage: sessions-lite [--listen ADDR]"),
        "{bare}"
    );
    assert_eq!(cli(url, &["serve", "--help"], &[]).stdout_text(), bare);
    assert_eq!(cli(url, &["serve", "--bogus"], &[]).code, Some(2));
}

#[test]
fn serve_starts_the_server() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessions-lite"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut first = [0u8; 32];
    let mut stdout = child.stdout.take().expect("stdout");
    let read = stdout.read(&mut first).expect("read");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        first[..read].starts_with(b"listening on http://"),
        "{:?}",
        &first[..read]
    );
    let _ = std::io::stdout().flush();
}
