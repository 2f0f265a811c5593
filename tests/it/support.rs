//! Test support: start the real binary on port 0 and talk to it over real
//! sockets. Every read has a deadline, so a hung server fails a test rather
//! than hanging it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// Deadline for one read from the server in tests.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The real `sessions-lite` binary, started with extra flags; killed (by
/// its own PID) when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    child: Child,
    _gate: Option<RwLockReadGuard<'static, ()>>,
}

/// Tests run in parallel threads of one process that shares one file
/// descriptor limit. Every server holds this gate shared; a test that opens
/// thousands of sockets holds it alone (`exclusive`).
static FD_GATE: RwLock<()> = RwLock::new(());

/// Held by a test that needs the machine's sockets to itself.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    FD_GATE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl TestServer {
    pub fn start(args: &[&str]) -> TestServer {
        TestServer::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let gate = FD_GATE
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut server = TestServer::start_ungated(args, env);
        server._gate = Some(gate);
        server
    }

    /// Starts a server without taking the gate (for a test that holds
    /// `exclusive()`).
    pub fn start_ungated(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sessions-lite"));
        command.arg("--listen").arg("127.0.0.1:0").args(args);
        command.env_remove("SESSIONS_LITE_TOKEN");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sessions-lite");
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
        TestServer {
            addr,
            child,
            _gate: None,
        }
    }

    /// A fresh connection with read/write deadlines.
    pub fn connect(&self) -> TcpStream {
        connect_with_deadlines(self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// One request on a new connection (`Connection: close`); the reply.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        self.try_request(method, path, headers, body)
            .expect("a reply")
    }

    /// Like `request`, but `None` when the connection fails or closes.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<Reply> {
        let mut stream = TcpStream::connect(self.addr).ok()?;
        stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
        let mut raw =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || matches!(method, "POST" | "PUT") {
            raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(body);
        stream.write_all(&bytes).ok()?;
        read_reply(&mut stream)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], b"")
    }

    pub fn post_json(&self, path: &str, json: &str) -> Reply {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            json.as_bytes(),
        )
    }

    /// Creates a session with a server-picked id; returns the id.
    pub fn create_session(&self, appname: &str) -> String {
        let body = format!("{{\"appname\":\"{appname}\",\"mode\":\"test\"}}");
        let reply = self.post_json("/sessions/", &body);
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["id"].as_str().expect("id").to_owned()
    }

    /// Appends plain-text lines to a session's log.
    pub fn append_text(&self, id: &str, text: &str) -> Reply {
        let path = format!("/sessions/{id}/log");
        self.request(
            "POST",
            &path,
            &[("Content-Type", "text/plain")],
            text.as_bytes(),
        )
    }

    /// Resident set size of the server process, in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the server a signal (`STOP`, `CONT`) by its own PID.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("sh")
            .args(["-c", "kill -s \"$1\" \"$2\"", "sh", name, &pid])
            .status()
            .expect("sh");
        assert!(status.success(), "kill -s {name} {pid}: {status}");
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }

    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_owned()
    }
}

/// Reads one response (head + Content-Length body) from `stream`; `None`
/// when the connection closed before a status line. Skips 1xx answers.
pub fn read_reply(stream: &mut TcpStream) -> Option<Reply> {
    let mut buffered = Vec::new();
    loop {
        let reply = read_one(stream, &mut buffered)?;
        if reply.status >= 200 {
            return Some(reply);
        }
    }
}

/// Reads one response including 1xx; leftover bytes stay in `buffered`.
pub fn read_one(stream: &mut TcpStream, buffered: &mut Vec<u8>) -> Option<Reply> {
    let deadline = Instant::now() + READ_TIMEOUT;
    let head_end = loop {
        if let Some(index) = find(buffered, b"\r\n\r\n") {
            break index + 4;
        }
        if !fill(stream, buffered, deadline) {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffered[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let length = if status < 200 || status == 101 {
        0
    } else {
        length
    };
    while buffered.len() < head_end + length {
        if !fill(stream, buffered, deadline) {
            return None;
        }
    }
    let body = buffered[head_end..head_end + length].to_vec();
    buffered.drain(..head_end + length);
    Some(Reply {
        status,
        headers,
        body,
    })
}

fn fill(stream: &mut TcpStream, buffered: &mut Vec<u8>, deadline: Instant) -> bool {
    if Instant::now() > deadline {
        return false;
    }
    let mut chunk = [0u8; 65536];
    match stream.read(&mut chunk) {
        Ok(0) | Err(_) => false,
        Ok(count) => {
            buffered.extend_from_slice(&chunk[..count]);
            true
        }
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Sends raw bytes on a new connection and reads every response until the
/// server closes (or the deadline).
pub fn exchange_raw(server: &TestServer, raw: &[u8]) -> (Vec<Reply>, bool) {
    let mut stream = server.connect();
    stream.write_all(raw).expect("send");
    let mut buffered = Vec::new();
    let mut replies = Vec::new();
    while let Some(reply) = read_one(&mut stream, &mut buffered) {
        replies.push(reply);
    }
    let closed = buffered.is_empty();
    (replies, closed)
}

/// Polls `check` until it returns true or `within` passes.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// True when `curl` is on the PATH.
pub fn has_curl() -> bool {
    Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok()
}

/// A listening socket as the kernel reports it (`ss -ltnm`).
#[derive(Debug)]
pub struct ListenQueue {
    /// Connections the kernel completed that wait for `accept` (Recv-Q).
    pub queued: u64,
    /// The backlog granted to `listen` (Send-Q).
    pub backlog: u64,
    /// SYNs the socket dropped, such as those beyond a full queue.
    pub drops: u64,
}

/// The listening socket bound to `addr`; `ss` (iproute2) must be there.
pub fn listen_queue(addr: SocketAddr) -> ListenQueue {
    let output = Command::new("ss")
        .args(["-ltnmH", "src", &addr.to_string()])
        .output()
        .expect("ss, from iproute2 (tests/deps.sh installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    // LISTEN 4097 4096 127.0.0.1:PORT 0.0.0.0:*  skmem:(r0,...,bl0,d3)
    let fields: Vec<&str> = text.split_whitespace().collect();
    let local = fields
        .iter()
        .position(|field| *field == addr.to_string())
        .filter(|&index| index >= 2)
        .unwrap_or_else(|| panic!("no listener {addr} in {text:?}"));
    let number = |field: &str| -> u64 {
        field
            .parse()
            .unwrap_or_else(|_| panic!("{field:?} in {text:?}"))
    };
    let drops = fields
        .iter()
        .filter_map(|field| field.strip_prefix("skmem:("))
        .flat_map(|skmem| skmem.trim_end_matches(')').split(','))
        .find_map(|item| item.strip_prefix('d'))
        .unwrap_or_else(|| panic!("no drop count in {text:?}"));
    ListenQueue {
        queued: number(fields[local - 2]),
        backlog: number(fields[local - 1]),
        drops: number(drops),
    }
}

/// The backlog the kernel grants `LISTEN_BACKLOG` (`listen` caps it at
/// `net.core.somaxconn`), and a note saying which one it is for messages.
pub fn expected_backlog() -> (u64, String) {
    let path = "/proc/sys/net/core/somaxconn";
    let somaxconn: u64 = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| panic!("{path} unreadable"));
    let wanted = sessions_lite::limits::LISTEN_BACKLOG as u64;
    let note = if somaxconn < wanted {
        format!("LISTEN_BACKLOG {wanted}, capped by net.core.somaxconn {somaxconn} on this machine")
    } else {
        format!("LISTEN_BACKLOG {wanted} (net.core.somaxconn {somaxconn})")
    };
    (wanted.min(somaxconn), note)
}

/// A keep-alive HTTP/1.1 client on one connection.
pub struct KeepAlive {
    stream: TcpStream,
    buffered: Vec<u8>,
}

impl KeepAlive {
    pub fn new(server: &TestServer) -> KeepAlive {
        KeepAlive::to(server.addr)
    }

    /// A keep-alive client for a server address (usable from any thread).
    pub fn to(addr: SocketAddr) -> KeepAlive {
        KeepAlive {
            stream: connect_with_deadlines(addr),
            buffered: Vec::new(),
        }
    }

    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<Reply> {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(content_type) = content_type {
            raw.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if matches!(method, "POST" | "PUT") || !body.is_empty() {
            raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes).ok()?;
        read_one(&mut self.stream, &mut self.buffered)
    }
}

/// Resident set size of a process, in KiB (from /proc).
pub fn rss_kib_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A connection to `addr` with read and write deadlines.
pub fn connect_with_deadlines(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    stream
        .set_write_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    stream
}
