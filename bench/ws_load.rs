//! `ws_load`: many receive-only WebSocket clients on one thread (mio), so
//! that 1,000 clients fit on one core. `bench/run.sh` runs it against
//! `/sessions/ws`.
//!
//! Each client sends a valid RFC 6455 opening handshake, checks for `101`,
//! then reads frame headers and skips payloads, counting complete data
//! messages; nothing is parsed beyond the frame header, so the client costs
//! little more than the `read` calls. A ping is answered with a masked pong;
//! a close frame ends that client. After every client is open (or the
//! connect deadline passes) and a warm-up, it counts messages over a fixed
//! window and prints one `key=value` line per figure, including the
//! server's CPU time and RSS over the window (from `/proc/PID`).
//!
//! `--deflate` offers permessage-deflate as Chromium does
//! (`permessage-deflate; client_max_window_bits`) and needs the server to
//! accept it. The first `--verify-clients` clients (default 5) keep every
//! data message whole, inflate it when it is compressed, and check that it
//! is a `sessions` message listing at least `--expect-sessions` sessions:
//! proof that pushes arrive in full, not just frame headers.
//!
//! `--subscribe` sends `{"type":"subscribe","changes":true}` once open:
//! the clients get list changes. Each client then reads the first bytes
//! of every message (plain clients only) for its `seq`: a gap, or a fresh
//! list during the window (a client that fell behind), means it did not
//! get every change. `--updates-per-sec R` with `--update-prefix P` and
//! `--update-sessions N` runs an updater thread beside the clients: one
//! keep-alive HTTP connection that PUTs new metadata to session P+index
//! (cycling through N) R times a second; the verifying clients count the
//! upserts they get against the updates made in the window.
//!
//! Without `--addr` (as under `cargo test --all-targets` or `cargo bench`)
//! it prints its usage and exits 0.

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: ws_load --addr IP:PORT [--path /sessions/ws] [--clients N] [--secs S]
               [--warmup-secs S] [--connect-timeout-secs S] [--expect-per-sec R]
               [--server-pid PID] [--clk-tck HZ] [--deflate]
               [--verify-clients N] [--expect-sessions N] [--subscribe]
               [--updates-per-sec R --update-prefix HEX16 --update-sessions N]";

/// Bytes read per `read` call; one buffer shared by every client.
const READ_BUFFER_BYTES: usize = 256 * 1024;
/// A response head longer than this is not a WebSocket handshake answer.
const HANDSHAKE_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Control frame payloads are at most 125 bytes (RFC 6455, 5.5).
const CONTROL_PAYLOAD_BYTES_MAX: usize = 125;
/// A client below this share of the expected rate did not get "~R/s".
const AT_RATE_SHARE_MIN: f64 = 0.9;
/// A client at or above this share got every push (a window of W seconds
/// holds W*R pushes, give or take one at each edge).
const FULL_RATE_SHARE_MIN: f64 = 0.98;
const EVENTS_PER_POLL: usize = 1024;
/// Bytes of each message a seq-tracking client keeps: enough for
/// `{"type":"sessions","seq":18446744073709551615,`.
const MESSAGE_PREFIX_BYTES: usize = 64;
/// What a subscribing client sends once open.
const SUBSCRIBE: &[u8] = br#"{"type":"subscribe","changes":true}"#;
const POLL_TIMEOUT_MAX: Duration = Duration::from_millis(50);

struct Options {
    addr: SocketAddr,
    path: String,
    clients: usize,
    window: Duration,
    warmup: Duration,
    connect_timeout: Duration,
    expect_per_sec: f64,
    server_pid: Option<u32>,
    clk_tck: f64,
    deflate: bool,
    verify_clients: usize,
    expect_sessions: usize,
    subscribe: bool,
    updates_per_sec: f64,
    update_prefix: String,
    update_sessions: usize,
}

fn parsed<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: bad value {value:?}"))
}

fn parse_options(args: &[String]) -> Result<Option<Options>, String> {
    let mut addr = None;
    let mut options = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        path: "/sessions/ws".into(),
        clients: 1000,
        window: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(20),
        expect_per_sec: 10.0,
        server_pid: None,
        clk_tck: 100.0,
        deflate: false,
        verify_clients: 5,
        expect_sessions: 0,
        subscribe: false,
        updates_per_sec: 0.0,
        update_prefix: String::new(),
        update_sessions: 0,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if !flag.starts_with("--") || flag == "--bench" {
            continue; // what cargo passes to bench targets
        }
        if flag == "--deflate" {
            options.deflate = true;
            continue;
        }
        if flag == "--subscribe" {
            options.subscribe = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = Some(parsed(flag, value)?),
            "--path" => options.path = value.clone(),
            "--clients" => options.clients = parsed(flag, value)?,
            "--secs" => options.window = Duration::from_secs_f64(parsed(flag, value)?),
            "--warmup-secs" => options.warmup = Duration::from_secs_f64(parsed(flag, value)?),
            "--connect-timeout-secs" => {
                options.connect_timeout = Duration::from_secs_f64(parsed(flag, value)?)
            }
            "--expect-per-sec" => options.expect_per_sec = parsed(flag, value)?,
            "--server-pid" => options.server_pid = Some(parsed(flag, value)?),
            "--clk-tck" => options.clk_tck = parsed(flag, value)?,
            "--verify-clients" => options.verify_clients = parsed(flag, value)?,
            "--expect-sessions" => options.expect_sessions = parsed(flag, value)?,
            "--updates-per-sec" => options.updates_per_sec = parsed(flag, value)?,
            "--update-prefix" => options.update_prefix = value.clone(),
            "--update-sessions" => options.update_sessions = parsed(flag, value)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(addr.map(|addr| Options { addr, ..options }))
}

/// What one `FrameReader::feed` completed.
#[derive(Default)]
struct Fed {
    messages: u64,
    close_code: Option<u16>,
    ping_payload: Option<Vec<u8>>,
    /// Whole data messages, kept only by a verifying reader: (RSV1 of the
    /// first frame, payload).
    kept: Vec<(bool, Vec<u8>)>,
    /// The first `MESSAGE_PREFIX_BYTES` of each data message (seq tracking).
    prefixes: Vec<Vec<u8>>,
}

/// Incremental reader of server frames: headers are parsed, payloads
/// skipped (except control frames, kept for pong and close).
#[derive(Default)]
struct FrameReader {
    header: [u8; 14],
    header_len: usize,
    in_payload: bool,
    payload_left: u64,
    opcode: u8,
    fin: bool,
    control: Vec<u8>,
    /// permessage-deflate was agreed: RSV1 may be set on a first frame.
    deflate: bool,
    /// Keep data payloads (for `--verify-clients`).
    keep: bool,
    message: Vec<u8>,
    message_rsv1: bool,
    /// Keep the first bytes of each data message (for seq tracking).
    keep_prefix: bool,
    prefix: Vec<u8>,
}

fn header_size(byte1: u8) -> usize {
    let length_size = match byte1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask_size = if byte1 & 0x80 != 0 { 4 } else { 0 };
    2 + length_size + mask_size
}

impl FrameReader {
    fn feed(&mut self, mut data: &[u8], fed: &mut Fed) -> Result<(), String> {
        while !data.is_empty() {
            if self.in_payload {
                let take = (self.payload_left.min(data.len() as u64)) as usize;
                if self.opcode >= 8 && self.control.len() + take <= CONTROL_PAYLOAD_BYTES_MAX {
                    self.control.extend_from_slice(&data[..take]);
                } else if self.keep && self.opcode < 8 {
                    self.message.extend_from_slice(&data[..take]);
                }
                if self.keep_prefix && self.opcode < 8 {
                    let room = MESSAGE_PREFIX_BYTES.saturating_sub(self.prefix.len());
                    self.prefix.extend_from_slice(&data[..take.min(room)]);
                }
                data = &data[take..];
                self.payload_left -= take as u64;
                if self.payload_left == 0 {
                    self.on_frame_end(fed);
                }
                continue;
            }
            let need = if self.header_len < 2 {
                2
            } else {
                header_size(self.header[1])
            };
            let take = (need - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len >= 2 && self.header_len == header_size(self.header[1]) {
                self.on_header()?;
                if self.payload_left == 0 {
                    self.on_frame_end(fed);
                }
            }
        }
        Ok(())
    }

    fn on_header(&mut self) -> Result<(), String> {
        let header = &self.header[..self.header_len];
        if header[1] & 0x80 != 0 {
            return Err("the server sent a masked frame".into());
        }
        let rsv1 = header[0] & 0x40 != 0;
        let opcode = header[0] & 0x0f;
        let rsv1_allowed = self.deflate && (opcode == 1 || opcode == 2);
        if header[0] & 0x30 != 0 || rsv1 && !rsv1_allowed {
            return Err("the server set reserved bits".into());
        }
        if opcode == 1 || opcode == 2 {
            self.message_rsv1 = rsv1;
        }
        self.fin = header[0] & 0x80 != 0;
        self.opcode = opcode;
        self.payload_left = match header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            127 => u64::from_be_bytes(header[2..10].try_into().expect("8 length bytes")),
            length => u64::from(length),
        };
        if self.opcode >= 8 && self.payload_left > CONTROL_PAYLOAD_BYTES_MAX as u64 {
            return Err("control frame over 125 bytes".into());
        }
        self.header_len = 0;
        self.in_payload = true;
        self.control.clear();
        Ok(())
    }

    fn on_frame_end(&mut self, fed: &mut Fed) {
        self.in_payload = false;
        match self.opcode {
            0..=2 if self.fin => {
                fed.messages += 1;
                if self.keep {
                    let message = std::mem::take(&mut self.message);
                    fed.kept.push((self.message_rsv1, message));
                }
                if self.keep_prefix {
                    fed.prefixes.push(std::mem::take(&mut self.prefix));
                }
            }
            8 => {
                let code = match self.control.get(..2) {
                    Some(code) => u16::from_be_bytes([code[0], code[1]]),
                    None => 1005,
                };
                fed.close_code = Some(code);
            }
            9 => fed.ping_payload = Some(self.control.clone()),
            _ => {}
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Handshake,
    Open,
    Failed,
    Closed,
}

struct Client {
    stream: TcpStream,
    phase: Phase,
    /// Bytes to send (the handshake, then pongs) and how many are sent.
    output: Vec<u8>,
    output_sent: usize,
    head: Vec<u8>,
    frames: FrameReader,
    /// Data messages completed while the window is open.
    messages: u64,
    /// Messages this client checked whole (only verifying clients).
    verified: u64,
    seq: SeqTrack,
}

/// A subscriber's view of the changes stream (plain clients only).
#[derive(Default)]
struct SeqTrack {
    /// The seq of the last list or changes message.
    last: Option<u64>,
    /// In the window: changes messages, keep-alives, lists (a fresh list
    /// means the client fell behind), and seqs that did not follow.
    changes: u64,
    keepalives: u64,
    lists: u64,
    gaps: u64,
    /// Upserts in the changes a verifying client parsed, in the window.
    upserts: u64,
}

/// What kind of message a prefix starts, and its seq.
fn message_seq(prefix: &[u8]) -> Option<(&'static str, u64)> {
    for kind in ["changes", "sessions", "keepalive"] {
        let head = format!(r#"{{"type":"{kind}","seq":"#);
        if let Some(rest) = prefix.strip_prefix(head.as_bytes()) {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let seq = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
            return Some((kind, seq));
        }
    }
    None
}

impl SeqTrack {
    fn on_message(&mut self, prefix: &[u8], counting: bool) {
        let Some((kind, seq)) = message_seq(prefix) else {
            return; // the join list, before the subscription took
        };
        let follows = match kind {
            "changes" => self.last.is_none_or(|last| seq == last + 1),
            "keepalive" => self.last.is_none_or(|last| seq == last),
            _ => true,
        };
        if counting {
            match kind {
                "changes" => self.changes += 1,
                "keepalive" => self.keepalives += 1,
                _ => self.lists += 1,
            }
            self.gaps += u64::from(!follows);
        }
        self.last = Some(seq);
    }
}

/// A base64 `Sec-WebSocket-Key`: 16 bytes that differ per client.
fn websocket_key(seed: u64) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xd1b5_4a32_d192_ed03;
    let mut bytes = [0u8; 16];
    for byte in bytes.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let mut key = String::with_capacity(24);
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let bits = u32::from_be_bytes([0, group[0], group[1], group[2]]);
        for index in 0..4 {
            if index <= chunk.len() {
                key.push(ALPHABET[(bits >> (18 - 6 * index) & 63) as usize] as char);
            } else {
                key.push('=');
            }
        }
    }
    key
}

/// What Chromium offers.
const DEFLATE_OFFER: &str = "permessage-deflate; client_max_window_bits";

fn handshake_request(options: &Options, seed: u64) -> Vec<u8> {
    let extensions = if options.deflate {
        format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n")
    } else {
        String::new()
    };
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n",
        options.path,
        options.addr,
        websocket_key(seed)
    )
    .into_bytes()
}

/// Checks one whole data message of a verifying client: inflated if
/// compressed, a `sessions` message with at least `expect_sessions`, or
/// (a subscriber's) a `changes` or `keepalive` message. Returns the
/// number of upserts.
fn verify_message(rsv1: bool, payload: &[u8], expect_sessions: usize) -> Result<u64, String> {
    let inflated;
    let text = if rsv1 {
        let mut input = payload.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let flags = miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_HAS_MORE_INPUT
            | miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
        // Start at 1 MiB (a 1,000-session list is 364 KB) and retry bigger:
        // zeroing a huge buffer per message would slow the load generator.
        let mut room = 1 << 20;
        let (mut output, produced) = loop {
            let mut decompressor = miniz_oxide::inflate::core::DecompressorOxide::new();
            let mut output = vec![0; room];
            let (status, _, produced) = miniz_oxide::inflate::core::decompress(
                &mut decompressor,
                &input,
                &mut output,
                0,
                flags,
            );
            match status {
                miniz_oxide::inflate::TINFLStatus::HasMoreOutput if room < 1 << 30 => room *= 4,
                status if (status as i8) < 0 => {
                    return Err(format!(
                        "a compressed message does not inflate ({status:?})"
                    ))
                }
                _ => break (output, produced),
            }
        };
        output.truncate(produced);
        inflated = output;
        &inflated[..]
    } else {
        payload
    };
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|error| format!("a message is not JSON: {error}"))?;
    if value["type"] == "changes" {
        let upserts = value["upserts"]
            .as_array()
            .ok_or("changes without upserts")?;
        if upserts.iter().any(|session| !session["id"].is_string()) {
            return Err("an upsert is not a session".into());
        }
        return Ok(upserts.len() as u64);
    }
    if value["type"] == "keepalive" {
        return Ok(0);
    }
    let listed = value["sessions"].as_array().map_or(0, Vec::len);
    if value["type"] != "sessions" || listed < expect_sessions {
        return Err(format!(
            "a message is not a list of {expect_sessions} sessions (type {}, {listed} listed)",
            value["type"]
        ));
    }
    Ok(0)
}

/// A masked text frame of under 126 bytes (a zero key is valid).
fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// A masked pong frame (client frames must be masked; a zero key is valid).
fn pong_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

struct Totals {
    open: usize,
    failed: usize,
    closed: usize,
    first_error: Option<String>,
    bytes_in_window: u64,
    expect_sessions: usize,
    subscribe: bool,
}

impl Totals {
    fn fail(&mut self, client: &mut Client, error: String) {
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
        self.leave(client, Phase::Failed);
    }

    fn leave(&mut self, client: &mut Client, phase: Phase) {
        if client.phase == Phase::Open {
            self.open -= 1;
        }
        if phase == Phase::Failed {
            self.failed += 1;
        } else {
            self.closed += 1;
        }
        client.phase = phase;
    }
}

fn flush(client: &mut Client) -> io::Result<()> {
    while client.output_sent < client.output.len() {
        match client.stream.write(&client.output[client.output_sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(count) => client.output_sent += count,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    client.output.clear();
    client.output_sent = 0;
    Ok(())
}

/// Handles bytes read from an open or handshaking client.
fn on_data(client: &mut Client, data: &[u8], totals: &mut Totals, counting: bool) {
    let rest;
    let mut data = data;
    if client.phase == Phase::Handshake {
        client.head.extend_from_slice(data);
        let Some(end) = client.head.windows(4).position(|w| w == b"\r\n\r\n") else {
            if client.head.len() > HANDSHAKE_HEAD_BYTES_MAX {
                totals.fail(client, "handshake answer head too long".into());
            }
            return;
        };
        let status_line = client
            .head
            .split(|&b| b == b'\r')
            .next()
            .unwrap_or_default();
        if !status_line.starts_with(b"HTTP/1.1 101") {
            let line = String::from_utf8_lossy(status_line).into_owned();
            totals.fail(client, format!("handshake answered {line:?}"));
            return;
        }
        if client.frames.deflate {
            let head = String::from_utf8_lossy(&client.head[..end]).to_ascii_lowercase();
            if !head.contains("\r\nsec-websocket-extensions: permessage-deflate") {
                totals.fail(
                    client,
                    "the server did not accept permessage-deflate".into(),
                );
                return;
            }
        }
        rest = client.head.split_off(end + 4);
        client.head = Vec::new();
        client.phase = Phase::Open;
        totals.open += 1;
        data = &rest;
        if totals.subscribe {
            client
                .output
                .extend_from_slice(&masked_text_frame(SUBSCRIBE));
        }
    }
    let mut fed = Fed::default();
    if let Err(error) = client.frames.feed(data, &mut fed) {
        totals.fail(client, error);
        return;
    }
    if counting {
        client.messages += fed.messages;
        totals.bytes_in_window += data.len() as u64;
    }
    for (rsv1, message) in &fed.kept {
        match verify_message(*rsv1, message, totals.expect_sessions) {
            Ok(upserts) if counting => client.seq.upserts += upserts,
            Ok(_) => {}
            Err(error) => return totals.fail(client, error),
        }
        client.verified += 1;
    }
    for prefix in &fed.prefixes {
        client.seq.on_message(prefix, counting);
    }
    if let Some(payload) = fed.ping_payload {
        client.output.extend_from_slice(&pong_frame(&payload));
    }
    if let Some(code) = fed.close_code {
        if totals.first_error.is_none() {
            totals.first_error = Some(format!("the server closed a client with code {code}"));
        }
        totals.leave(client, Phase::Closed);
    }
}

fn on_event(client: &mut Client, buffer: &mut [u8], totals: &mut Totals, counting: bool) {
    if client.phase == Phase::Connecting {
        if let Ok(Some(error)) | Err(error) = client.stream.take_error() {
            totals.fail(client, format!("connect: {error}"));
            return;
        }
        match client.stream.peer_addr() {
            Ok(_) => client.phase = Phase::Handshake,
            Err(error) if error.kind() == io::ErrorKind::NotConnected => return,
            Err(error) => return totals.fail(client, format!("connect: {error}")),
        }
    }
    if let Err(error) = flush(client) {
        return totals.fail(client, format!("write: {error}"));
    }
    while matches!(client.phase, Phase::Handshake | Phase::Open) {
        match client.stream.read(buffer) {
            Ok(0) if client.phase == Phase::Handshake => {
                return totals.fail(client, "closed during the handshake".into());
            }
            Ok(0) => return totals.leave(client, Phase::Closed),
            Ok(count) => on_data(client, &buffer[..count], totals, counting),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return totals.fail(client, format!("read: {error}")),
        }
    }
    if !client.output.is_empty() {
        if let Err(error) = flush(client) {
            totals.fail(client, format!("write: {error}"));
        }
    }
}

/// utime + stime of a process in seconds, and its RSS in KiB.
fn process_usage(pid: &str, clk_tck: f64) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((ticks / clk_tck, rss_kib))
}

fn run(options: &Options) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(EVENTS_PER_POLL);
    let mut clients = Vec::with_capacity(options.clients);
    let mut totals = Totals {
        open: 0,
        failed: 0,
        closed: 0,
        first_error: None,
        bytes_in_window: 0,
        expect_sessions: options.expect_sessions,
        subscribe: options.subscribe,
    };
    let started = Instant::now();
    for index in 0..options.clients {
        let mut stream = TcpStream::connect(options.addr)?;
        poll.registry().register(
            &mut stream,
            Token(index),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        clients.push(Client {
            stream,
            phase: Phase::Connecting,
            output: handshake_request(options, index as u64),
            output_sent: 0,
            head: Vec::new(),
            frames: FrameReader {
                deflate: options.deflate,
                keep: index < options.verify_clients,
                keep_prefix: options.subscribe && !options.deflate,
                ..FrameReader::default()
            },
            messages: 0,
            verified: 0,
            seq: SeqTrack::default(),
        });
    }
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    let connect_deadline = started + options.connect_timeout;
    let mut connected_at = None;
    let mut window: Option<(Instant, Instant)> = None;
    let (server_pid, self_pid) = (options.server_pid.map(|p| p.to_string()), "self");
    let mut usage_at_start = (None, None);
    let mut window_started = false;
    let updater = (options.updates_per_sec > 0.0).then(|| Updater::start(options));
    let mut updates_at_start = 0;
    loop {
        let now = Instant::now();
        let settled = totals.open + totals.failed + totals.closed == options.clients;
        if connected_at.is_none() && (settled || now >= connect_deadline) {
            connected_at = Some(now);
            let start = now + options.warmup;
            window = Some((start, start + options.window));
        }
        let counting = match window {
            Some((_, end)) if now >= end => break,
            Some((start, _)) if now >= start => {
                if !window_started {
                    window_started = true;
                    usage_at_start = (
                        server_pid
                            .as_deref()
                            .and_then(|p| process_usage(p, options.clk_tck)),
                        process_usage(self_pid, options.clk_tck),
                    );
                    for client in clients.iter_mut() {
                        client.messages = 0;
                    }
                    totals.bytes_in_window = 0;
                    updates_at_start = updater.as_ref().map_or(0, Updater::count);
                }
                true
            }
            _ => false,
        };
        let next = match window {
            Some((start, end)) => {
                if counting {
                    end
                } else {
                    start
                }
            }
            None => connect_deadline,
        };
        let timeout = next.saturating_duration_since(now).min(POLL_TIMEOUT_MAX);
        match poll.poll(&mut events, Some(timeout)) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            result => result?,
        }
        for event in events.iter() {
            let client = &mut clients[event.token().0];
            if matches!(client.phase, Phase::Failed | Phase::Closed) {
                continue;
            }
            on_event(client, &mut buffer, &mut totals, counting);
        }
    }
    let updates_in_window = updater.as_ref().map_or(0, Updater::count) - updates_at_start;
    let update_error = updater.and_then(Updater::stop);
    let (start, end) = window.expect("the window was set before it ended");
    let window_s = (Instant::now().min(end + POLL_TIMEOUT_MAX) - start).as_secs_f64();
    let server_end = server_pid
        .as_deref()
        .and_then(|p| process_usage(p, options.clk_tck));
    let self_end = process_usage(self_pid, options.clk_tck);
    let mut per_client: Vec<u64> = clients.iter().map(|client| client.messages).collect();
    per_client.sort_unstable();
    let messages: u64 = per_client.iter().sum();
    let rate = |count: u64| count as f64 / window_s;
    let clients_over = |share: f64| {
        per_client
            .iter()
            .filter(|&&count| rate(count) >= options.expect_per_sec * share)
            .count()
    };
    let connect_s = (connected_at.expect("set with the window") - started).as_secs_f64();
    println!("clients={}", options.clients);
    println!("open={}", totals.open);
    println!("failed={}", totals.failed);
    println!("closed={}", totals.closed);
    println!("connect_s={connect_s:.3}");
    println!("window_s={window_s:.3}");
    println!("messages={messages}");
    println!("messages_per_s={:.1}", rate(messages));
    println!("bytes_per_s={:.0}", rate(totals.bytes_in_window));
    println!("per_client_min_per_s={:.2}", rate(per_client[0]));
    println!(
        "per_client_p50_per_s={:.2}",
        rate(per_client[per_client.len() / 2])
    );
    println!(
        "per_client_max_per_s={:.2}",
        rate(*per_client.last().unwrap_or(&0))
    );
    println!("clients_at_rate={}", clients_over(AT_RATE_SHARE_MIN));
    println!("clients_full={}", clients_over(FULL_RATE_SHARE_MIN));
    println!("expect_per_client_per_s={}", options.expect_per_sec);
    println!("deflate={}", options.deflate);
    let verifying = options.verify_clients.min(options.clients);
    println!("verified_clients={verifying}");
    println!(
        "verified_messages={}",
        clients.iter().map(|client| client.verified).sum::<u64>()
    );
    if let (Some((cpu_start, _)), Some((cpu_end, rss_kib))) = (usage_at_start.0, server_end) {
        println!("server_cpu_s={:.2}", cpu_end - cpu_start);
        println!("server_cpu_share={:.3}", (cpu_end - cpu_start) / window_s);
        println!("server_rss_kib={rss_kib}");
    }
    if let (Some((cpu_start, _)), Some((cpu_end, _))) = (usage_at_start.1, self_end) {
        println!("client_cpu_share={:.3}", (cpu_end - cpu_start) / window_s);
    }
    if options.subscribe {
        print_changes(options, &clients, updates_in_window);
    }
    if let Some(error) = totals.first_error.or(update_error) {
        println!("first_error={error}");
    }
    Ok(())
}

/// The changes figures: whether every client got every change.
fn print_changes(options: &Options, clients: &[Client], updates_in_window: u64) {
    let open = || clients.iter().filter(|client| client.phase == Phase::Open);
    let changes_max = open().map(|client| client.seq.changes).max().unwrap_or(0);
    let sum = |field: fn(&SeqTrack) -> u64| open().map(|client| field(&client.seq)).sum::<u64>();
    // Every change: no gap, no fresh list (it never fell behind), and as
    // many changes messages as the best client, give or take the window's
    // edge.
    let every = open().filter(|client| {
        let seq = &client.seq;
        seq.gaps == 0 && seq.lists == 0 && seq.changes + 1 >= changes_max
    });
    println!("changes_tracked={}", !options.deflate);
    println!("clients_every_change={}", every.count());
    println!("changes_messages_max={changes_max}");
    println!("changes_seq_gaps={}", sum(|seq| seq.gaps));
    println!("changes_fresh_lists={}", sum(|seq| seq.lists));
    println!("changes_keepalives={}", sum(|seq| seq.keepalives));
    println!("updates_in_window={updates_in_window}");
    let verifying = open().take_while(|client| client.frames.keep);
    let upserts_min = verifying.map(|client| client.seq.upserts).min();
    println!("verified_upserts_min={}", upserts_min.unwrap_or(0));
}

/// PUTs new metadata to one session after another, `--updates-per-sec`
/// times a second, over one keep-alive connection, on its own thread.
struct Updater {
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Option<String>>,
}

impl Updater {
    fn start(options: &Options) -> Updater {
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (addr, prefix) = (options.addr, options.update_prefix.clone());
        let (sessions, period) = (
            options.update_sessions.max(1),
            Duration::from_secs_f64(1.0 / options.updates_per_sec),
        );
        let (thread_count, thread_stop) = (Arc::clone(&count), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let result = update_loop(addr, &prefix, sessions, period, &thread_count, &thread_stop);
            result.err().map(|error| format!("updater: {error}"))
        });
        Updater {
            count,
            stop,
            thread,
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Stops the thread; its error, if it had one.
    fn stop(self) -> Option<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .unwrap_or(Some("updater panicked".into()))
    }
}

fn update_loop(
    addr: SocketAddr,
    prefix: &str,
    sessions: usize,
    period: Duration,
    count: &AtomicU64,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut next = Instant::now();
    let mut answer = vec![0u8; 4096];
    for round in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let body = format!(r#"{{"metadata":{{"bench_update":{round}}}}}"#);
        let index = round as usize % sessions;
        let request = format!(
            "PUT /sessions/{prefix}{index:08x} HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        // One small answer: read until its head and Content-Length body.
        let mut read = 0;
        loop {
            let count_read = stream.read(&mut answer[read..])?;
            if count_read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            read += count_read;
            if answer_complete(&answer[..read]) || read == answer.len() {
                break;
            }
        }
        if !answer.starts_with(b"HTTP/1.1 200") {
            let line = String::from_utf8_lossy(&answer[..read.min(60)]).into_owned();
            return Err(io::Error::other(format!("PUT answered {line:?}")));
        }
        count.fetch_add(1, Ordering::Relaxed);
        next += period;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(())
}

/// Whether `answer` holds a whole head and the body its Content-Length says.
fn answer_complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    answer.len() >= end + 4 + length
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_options(&args) {
        Ok(Some(options)) if options.clients > 0 => options,
        Ok(_) => {
            // `cargo test --all-targets` and `cargo bench` land here.
            self_check();
            eprintln!("{USAGE}\n(self-check passed; bench/run.sh runs the load)");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("ws_load: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ws_load: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Checks of the pure parts, run when there is nothing else to do (this
/// target has no libtest harness, so `#[test]` would never run).
fn self_check() {
    for seed in 0..100 {
        let key = websocket_key(seed);
        assert_eq!(key.len(), 24, "{key}");
        assert!(key.ends_with("=="), "{key}");
    }
    assert_ne!(websocket_key(1), websocket_key(2));
    // text "hi", a 300-byte binary frame, a ping "p", then a close 1000,
    // split at every byte.
    let mut stream = vec![0x81, 2, b'h', b'i', 0x82, 126, 1, 44];
    stream.extend([7u8; 300]);
    stream.extend([0x89, 1, b'p', 0x88, 2, 0x03, 0xe8]);
    for split in 0..stream.len() {
        let mut reader = FrameReader::default();
        let mut fed = Fed::default();
        assert!(reader.feed(&stream[..split], &mut fed).is_ok());
        assert!(reader.feed(&stream[split..], &mut fed).is_ok());
        assert_eq!(fed.messages, 2, "split at {split}");
        assert_eq!(fed.ping_payload.as_deref(), Some(&b"p"[..]));
        assert_eq!(fed.close_code, Some(1000));
    }
    // RSV1 only after permessage-deflate was agreed, and only on data.
    let mut fed = Fed::default();
    assert!(FrameReader::default().feed(&[0xc1, 0], &mut fed).is_err());
    let mut deflating = FrameReader {
        deflate: true,
        keep: true,
        ..FrameReader::default()
    };
    let list = br#"{"type":"sessions","sessions":[{"id":"a"},{"id":"b"}]}"#;
    let compressed = miniz_oxide::deflate::compress_to_vec(list, 6);
    let mut frame = vec![0xc1, compressed.len() as u8];
    frame.extend_from_slice(&compressed);
    assert!(deflating.feed(&frame, &mut fed).is_ok());
    let (rsv1, kept) = &fed.kept[0];
    assert!(*rsv1);
    assert_eq!(verify_message(*rsv1, kept, 2), Ok(0));
    assert!(verify_message(*rsv1, kept, 3).is_err());
    assert!(verify_message(false, b"[]", 0).is_err());
    assert!(
        deflating.feed(&[0xc9, 0], &mut fed).is_err(),
        "RSV1 on a ping"
    );
    let changes = br#"{"type":"changes","seq":8,"upserts":[{"id":"a"}],"removed":[]}"#;
    assert_eq!(verify_message(false, changes, 1000), Ok(1));
    // A subscriber's seq: a gap and a fresh list are seen.
    assert_eq!(message_seq(changes), Some(("changes", 8)));
    assert_eq!(message_seq(br#"{"type":"sessions","time":"x"}"#), None);
    let mut track = SeqTrack::default();
    for prefix in [
        &br#"{"type":"sessions","seq":7,"time""#[..],
        &changes[..MESSAGE_PREFIX_BYTES.min(changes.len())],
        br#"{"type":"keepalive","seq":8}"#,
        br#"{"type":"changes","seq":10,"#,
    ] {
        track.on_message(prefix, true);
    }
    assert_eq!(
        (track.lists, track.changes, track.keepalives, track.gaps),
        (1, 2, 1, 1)
    );
    assert!(answer_complete(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    ));
    assert!(!answer_complete(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}"
    ));
    let mut fed = Fed::default();
    assert!(FrameReader::default().feed(&[0x81, 0x82], &mut fed).is_ok());
    assert!(FrameReader::default()
        .feed(&[0x81, 0x82, 0, 0, 0, 0], &mut fed)
        .is_err());
}
