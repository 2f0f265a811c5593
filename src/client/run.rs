//! `sessions-lite run [OPTIONS] -- CMD [ARGS...]`: runs a build step with
//! its output in a session. The command's stdout and stderr are pipes, each
//! read by a thread of its own (this is a separate process from the server,
//! so threads cost nothing there): every byte goes to the wrapper's own
//! stdout/stderr at once and unchanged, and each line, with the time it was
//! read, to the outbox (stdout at `info`, stderr at `warn`), in read order.
//! `log_sender.rs` delivers it. When the command ends, the session ends
//! with the outcome and the wrapper exits with the command's status.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::args::{unknown, ArgReader, Token};
use super::http_client::{Endpoint, HttpClient};
use super::line_splitter::LineSplitter;
use super::log_sender::{Ending, Sender, Shared, Target};
use super::outbox::EncodedLines;
use super::signals::{self, Forwarder};
use super::ServerOptions;
use crate::http::response::write_json_string;
use crate::level::Level;
use crate::limits::{RUN_PIPE_DRAIN_TIMEOUT_MS, RUN_READ_CHUNK_BYTES, SESSION_FIELD_BYTES_MAX};
use crate::time::rfc3339_ms_bytes;

pub const USAGE: &str = "\
usage: sessions-lite run [OPTIONS] -- CMD [ARGS...]

Runs CMD with its output logged to a new session; exits with CMD's status.

  --app NAME       appname (default: CMD's file name)
  --mode MODE      mode (default: run)
  --job ID         jobid (default: $SESSIONS_LITE_JOB when set)
  --meta KEY=VALUE metadata, repeatable (values are strings)
  --id OID         log into this existing session; it is not ended
  --server URL     default $SESSIONS_LITE_URL, then http://127.0.0.1:8558
  --strict         exit 1 when the log service failed and CMD exited 0
  --quiet          do not print the session id
  --help
";

/// What `run` was asked to do.
#[derive(Debug, PartialEq)]
pub struct RunOptions {
    pub server: ServerOptions,
    pub app: Option<String>,
    pub mode: String,
    pub job: Option<String>,
    /// `--meta` pairs in order; a repeated key: the last wins (the server
    /// merges them in order).
    pub meta: Vec<(String, String)>,
    pub id: Option<String>,
    pub strict: bool,
    pub quiet: bool,
    pub command: Vec<String>,
}

/// `Ok(None)`: `--help`.
pub fn parse(args: Vec<String>, env_job: Option<String>) -> Result<Option<RunOptions>, String> {
    let mut options = RunOptions {
        server: ServerOptions::default(),
        app: None,
        mode: "run".into(),
        job: env_job.filter(|job| !job.is_empty()),
        meta: Vec::new(),
        id: None,
        strict: false,
        quiet: false,
        command: Vec::new(),
    };
    let mut reader = ArgReader::new(args);
    while let Some(token) = reader.next_token()? {
        match token {
            Token::EndOfFlags => break,
            Token::Word(word) => {
                options.command.push(word);
                break;
            }
            Token::Flag(flag) => match flag.as_str() {
                "--help" | "-h" => return Ok(None),
                "--app" => options.app = Some(field("--app", reader.value()?)?),
                "--mode" => options.mode = field("--mode", reader.value()?)?,
                "--job" => options.job = Some(field("--job", reader.value()?)?),
                "--meta" => {
                    let pair = reader.value()?;
                    let (key, value) = pair
                        .split_once('=')
                        .filter(|(key, _)| !key.is_empty())
                        .ok_or_else(|| format!("--meta {pair:?} is not KEY=VALUE"))?;
                    options.meta.push((key.into(), value.into()));
                }
                "--id" => {
                    let id = reader.value()?.to_ascii_lowercase();
                    if crate::sessions::parse_id(&id).is_none() {
                        return Err(format!("--id {id:?} is not 24 hex digits"));
                    }
                    options.id = Some(id);
                }
                "--strict" => options.strict = true,
                "--quiet" | "-q" => options.quiet = true,
                _ if options.server.take_flag(&flag, &mut reader)? => {}
                _ => return Err(unknown(&flag)),
            },
        }
    }
    options.command.extend(reader.rest());
    if options.command.is_empty() {
        return Err("run needs a command: sessions-lite run [OPTIONS] -- CMD [ARGS...]".into());
    }
    Ok(Some(options))
}

fn field(flag: &str, value: String) -> Result<String, String> {
    if value.is_empty() || value.len() > SESSION_FIELD_BYTES_MAX {
        return Err(format!(
            "{flag} must be 1 to {SESSION_FIELD_BYTES_MAX} bytes"
        ));
    }
    Ok(value)
}

/// The appname when `--app` is not given: the command's file name.
fn default_app(command: &str) -> String {
    let name = std::path::Path::new(command)
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|name| !name.is_empty())
        .unwrap_or("run");
    name.chars().take(SESSION_FIELD_BYTES_MAX / 4).collect()
}

/// How the command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exit(u8),
    Signal(i32),
}

impl Outcome {
    fn of(status: ExitStatus) -> Outcome {
        match (status.code(), status.signal()) {
            (Some(code), _) => Outcome::Exit(code as u8),
            (None, Some(signal)) => Outcome::Signal(signal),
            (None, None) => Outcome::Exit(1),
        }
    }

    /// The wrapper's own exit status: the command's, or 128 + the signal.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Exit(code) => code,
            Outcome::Signal(signal) => (128 + signal.clamp(0, 127)) as u8,
        }
    }

    /// The DELETE body: `end_reason` and the metadata that go with it.
    pub fn ending(self, duration_ms: u64) -> Ending {
        let (reason, outcome) = match self {
            Outcome::Exit(code) => (format!("exit {code}"), format!("\"exit_code\":{code}")),
            Outcome::Signal(signal) => {
                let name = signals::name(signal);
                (format!("signal {name}"), format!("\"signal\":\"{name}\""))
            }
        };
        let body = format!(
            "{{\"end_reason\":\"{reason}\",\"metadata\":{{{outcome},\"duration_ms\":{duration_ms}}}}}"
        );
        Ending {
            body: body.into_bytes(),
        }
    }
}

/// Runs the subcommand; returns the exit status.
pub fn main(args: Vec<String>) -> u8 {
    let (options, endpoint) = match super::start(
        parse(args, std::env::var("SESSIONS_LITE_JOB").ok()),
        USAGE,
        |options| &mut options.server,
    ) {
        Ok(started) => started,
        Err(status) => return status,
    };
    run(options, endpoint)
}

fn run(options: RunOptions, endpoint: Endpoint) -> u8 {
    let id = match options.id.clone().map_or_else(new_id, Ok) {
        Ok(id) => id,
        Err(message) => {
            eprintln!("sessions-lite: {message}");
            return 1;
        }
    };
    announce(&id, options.quiet);
    let target = Target {
        id,
        create_body: options.id.is_none().then(|| create_body(&options)),
    };
    let mut forwarder = Forwarder::install().ok();
    if forwarder.is_none() {
        eprintln!("sessions-lite: cannot catch signals; they reach only the wrapper");
    }
    let shared = Arc::new(Shared::new());
    let client = HttpClient::new(endpoint, options.server.token.clone());
    let sender_shared = Arc::clone(&shared);
    let sender = std::thread::Builder::new()
        .name("sender".into())
        .spawn(move || Sender::new(&sender_shared, client, target).run());
    let started = Instant::now();
    let outcome = run_command(&options.command, forwarder.as_mut(), &shared);
    shared.close(outcome.ending(started.elapsed().as_millis() as u64));
    let report = match sender.map(|handle| handle.join()) {
        Ok(Ok(report)) => report,
        _ => {
            eprintln!("sessions-lite: the log sender failed");
            return outcome.exit_code().max(u8::from(options.strict));
        }
    };
    if report.undelivered > 0 {
        eprintln!(
            "sessions-lite: {} lines could not be delivered to the log service",
            report.undelivered
        );
    }
    let failed = report.service_failed || report.undelivered > 0;
    match outcome.exit_code() {
        0 if failed && options.strict => 1,
        code => code,
    }
}

fn new_id() -> Result<String, String> {
    crate::api::random_id().map(|id| crate::sessions::format_id(&id))
}

/// Prints the id (unless quiet) and writes `$SESSIONS_LITE_SESSION_FILE`.
fn announce(id: &str, quiet: bool) {
    if !quiet {
        eprintln!("sessions-lite: session {id}");
    }
    if let Some(path) = std::env::var_os("SESSIONS_LITE_SESSION_FILE").filter(|p| !p.is_empty()) {
        if let Err(error) = std::fs::write(&path, format!("{id}\n")) {
            let path = std::path::Path::new(&path).display();
            eprintln!("sessions-lite: cannot write {path}: {error}");
        }
    }
}

fn create_body(options: &RunOptions) -> Vec<u8> {
    let app = options
        .app
        .clone()
        .unwrap_or_else(|| default_app(&options.command[0]));
    let mut body = b"{\"appname\":".to_vec();
    write_json_string(&mut body, &app);
    body.extend_from_slice(b",\"mode\":");
    write_json_string(&mut body, &options.mode);
    if let Some(job) = &options.job {
        body.extend_from_slice(b",\"jobid\":");
        write_json_string(&mut body, job);
    }
    body.extend_from_slice(b",\"metadata\":{");
    for (index, (key, value)) in options.meta.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        write_json_string(&mut body, key);
        body.push(b':');
        write_json_string(&mut body, value);
    }
    body.extend_from_slice(b"}}");
    body
}

/// Starts the command, copies and logs its output, waits for it.
fn run_command(
    command: &[String],
    forwarder: Option<&mut Forwarder>,
    shared: &Arc<Shared>,
) -> Outcome {
    let spawned = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => return not_started(&command[0], &error, shared),
    };
    let pid = child.id();
    let mut forwarder = forwarder;
    if let Some(forwarder) = forwarder.as_deref_mut() {
        if let Err(error) = forwarder.forward_to(pid) {
            eprintln!("sessions-lite: cannot forward signals: {error}");
        }
    }
    let terminals = [
        own(std::io::stdout().as_fd()),
        own(std::io::stderr().as_fd()),
    ];
    let pipes = [
        child.stdout.take().map(OwnedFd::from),
        child.stderr.take().map(OwnedFd::from),
    ];
    for ((pipe, terminal), level) in pipes
        .into_iter()
        .zip(terminals)
        .zip([Level::Info, Level::Warn])
    {
        if let Some(pipe) = pipe {
            spawn_reader(File::from(pipe), terminal, level, shared);
        }
    }
    if let Some(forwarder) = forwarder.as_deref() {
        forwarder.wait_exited(pid);
    }
    let status = child.wait();
    // A background grandchild may hold the pipes open: wait a while only.
    if !shared.wait_readers(Duration::from_millis(RUN_PIPE_DRAIN_TIMEOUT_MS)) {
        eprintln!("sessions-lite: the command's output is still open after it exited; not reading it further");
    }
    match status {
        Ok(status) => Outcome::of(status),
        Err(error) => {
            eprintln!("sessions-lite: cannot wait for the command: {error}");
            Outcome::Exit(1)
        }
    }
}

/// A command that could not start: 127 when not found, 126 otherwise, as
/// a shell says; the message goes to stderr and to the log.
fn not_started(program: &str, error: &std::io::Error, shared: &Shared) -> Outcome {
    let (code, what) = match error.kind() {
        std::io::ErrorKind::NotFound => (127, "not found".to_owned()),
        std::io::ErrorKind::PermissionDenied => (126, "permission denied".to_owned()),
        _ => (126, error.to_string()),
    };
    let message = format!("sessions-lite: {program}: {what}");
    eprintln!("{message}");
    let mut lines = EncodedLines::default();
    lines.push(
        Level::Error,
        &rfc3339_ms_bytes(now_ms()),
        message.as_bytes(),
    );
    shared.deliver(&lines);
    Outcome::Exit(code)
}

/// An unbuffered handle of our own on the same descriptor: Rust's stdout
/// holds back a line without its newline.
fn own(terminal: BorrowedFd<'_>) -> Option<File> {
    terminal.try_clone_to_owned().map(File::from).ok()
}

/// Starts a thread that copies `pipe` to `terminal` and logs its lines.
fn spawn_reader(pipe: File, terminal: Option<File>, level: Level, shared: &Arc<Shared>) {
    let reader_shared = Arc::clone(shared);
    shared.reader_started();
    let started = std::thread::Builder::new()
        .name("pipe".into())
        .spawn(move || {
            copy_and_log(pipe, terminal, level, &reader_shared);
            reader_shared.reader_done();
        });
    if started.is_err() {
        shared.reader_done();
    }
}

fn copy_and_log(mut pipe: File, mut terminal: Option<File>, level: Level, shared: &Shared) {
    let mut chunk = vec![0u8; RUN_READ_CHUNK_BYTES];
    let mut splitter = LineSplitter::new();
    let mut lines = EncodedLines::default();
    loop {
        let read = match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let mut reader_gone = false;
        if let Some(out) = terminal.as_mut() {
            match out.write_all(&chunk[..read]) {
                Ok(()) => {}
                // Whoever read our output has gone (`run -- yes | head`):
                // stop reading too, so the command gets its SIGPIPE as it
                // would without the wrapper. What was read is still logged.
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => reader_gone = true,
                // Another failure of our own output: keep logging regardless.
                Err(_) => terminal = None,
            }
        }
        let timestamp = rfc3339_ms_bytes(now_ms());
        splitter.feed(&chunk[..read], &mut |line| {
            lines.push(level, &timestamp, line)
        });
        if lines.line_count() > 0 {
            shared.deliver(&lines);
            lines.clear();
        }
        if reader_gone {
            break;
        }
    }
    let timestamp = rfc3339_ms_bytes(now_ms());
    splitter.finish(&mut |line| lines.push(level, &timestamp, line));
    if lines.line_count() > 0 {
        shared.deliver(&lines);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse_args(args: &[&str]) -> Result<Option<RunOptions>, String> {
        parse(args.iter().map(|arg| arg.to_string()).collect(), None)
    }

    #[test]
    fn defaults_and_flags() {
        let options = parse_args(&["--", "./cook.sh", "-v"])
            .expect("valid")
            .expect("run");
        assert_eq!(options.command, vec!["./cook.sh".to_string(), "-v".into()]);
        assert_eq!(
            (options.mode.as_str(), options.app.as_deref()),
            ("run", None)
        );
        assert_eq!(default_app(&options.command[0]), "cook.sh");
        let options = parse_args(&[
            "--app=cook",
            "--mode",
            "ci",
            "--job",
            "j1",
            "--meta",
            "a=b=c",
            "--strict",
            "-q",
            "--id",
            "5F0A1B2C3D4E5F60718293A4",
            "--server",
            "http://localhost:1",
            "make",
            "--",
            "x",
        ])
        .expect("valid")
        .expect("run");
        assert_eq!(options.app.as_deref(), Some("cook"));
        assert_eq!(
            (options.mode.as_str(), options.job.as_deref()),
            ("ci", Some("j1"))
        );
        assert_eq!(options.meta, vec![("a".to_string(), "b=c".to_string())]);
        assert_eq!(options.id.as_deref(), Some("5f0a1b2c3d4e5f60718293a4"));
        assert!(options.strict && options.quiet);
        // Everything after the command's first word is the command's.
        assert_eq!(
            options.command,
            vec!["make".to_string(), "--".into(), "x".into()]
        );
        let from_env = parse(vec!["true".into()], Some("job-7".into()))
            .expect("ok")
            .expect("run");
        assert_eq!(from_env.job.as_deref(), Some("job-7"));
    }

    #[test]
    fn usage_errors() {
        for args in [
            &[][..],
            &["--"],
            &["--app"],
            &["--app", "", "x"],
            &["--meta", "novalue", "x"],
            &["--meta", "=v", "x"],
            &["--id", "xyz", "x"],
            &["--bogus", "x"],
            &["--quiet=1", "x"],
        ] {
            assert!(parse_args(args).is_err(), "{args:?}");
        }
        assert_eq!(parse_args(&["--help"]), Ok(None));
    }

    #[test]
    fn outcomes() {
        assert_eq!(Outcome::Exit(3).exit_code(), 3);
        assert_eq!(Outcome::Signal(9).exit_code(), 137);
        let body = |outcome: Outcome, ms| {
            let body = outcome.ending(ms).body;
            let parsed = crate::sessions::parse_end_body(&body).expect("a valid end body");
            (
                parsed.reason.expect("a reason"),
                Value::Object(parsed.metadata.expect("metadata")),
            )
        };
        let exit = (
            String::from("exit 0"),
            json!({"exit_code": 0, "duration_ms": 12}),
        );
        assert_eq!(body(Outcome::Exit(0), 12), exit);
        let killed = (
            String::from("signal SIGKILL"),
            json!({"signal": "SIGKILL", "duration_ms": 5}),
        );
        assert_eq!(body(Outcome::Signal(9), 5), killed);
    }
}
