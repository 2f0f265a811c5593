//! permessage-deflate on `/sessions/ws`, seen from the wire: a hand-made
//! client (tungstenite's knows no extensions) offers it, reads frames with
//! their RSV1 bit, and sends compressed messages. Interoperability with an
//! independent implementation is `tests/deflate_interop.py` (Python
//! `websockets`, run by `make conformance`); the browser tests use
//! Chromium's.

use crate::support::{read_one, TestServer};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::OpCode;
use tungstenite::protocol::frame::FrameHeader;

const MESSAGE_BYTES_MAX: usize = 64 * 1024;
const CHROMIUM_OFFER: &str = "permessage-deflate; client_max_window_bits";
const AGREED: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// A client that speaks frames by hand.
struct RawClient {
    stream: TcpStream,
    buffered: Vec<u8>,
    /// The answer's `Sec-WebSocket-Extensions`, if any.
    extensions: Option<String>,
}

/// One frame from the server: FIN/RSV/opcode byte and payload.
struct ServerFrame {
    first: u8,
    payload: Vec<u8>,
}

impl ServerFrame {
    fn rsv1(&self) -> bool {
        self.first & 0x40 != 0
    }

    fn opcode(&self) -> u8 {
        self.first & 0x0f
    }

    /// The message text, inflated when RSV1 says it is compressed.
    fn json(&self) -> Value {
        let bytes = if self.rsv1() {
            inflate(&self.payload)
        } else {
            self.payload.clone()
        };
        serde_json::from_slice(&bytes).expect("a JSON message")
    }
}

impl RawClient {
    fn open(server: &TestServer, offer: &str) -> RawClient {
        let mut stream = server.connect();
        let request = format!(
            "GET /sessions/ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Extensions: {offer}\r\n\r\n",
            server.addr
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut buffered = Vec::new();
        let reply = read_one(&mut stream, &mut buffered).expect("an answer");
        assert_eq!(reply.status, 101, "{}", reply.text());
        RawClient {
            stream,
            buffered,
            extensions: reply.header("Sec-WebSocket-Extensions").map(str::to_owned),
        }
    }

    fn need(&mut self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut chunk = vec![0; 1 << 16];
        while self.buffered.len() < count {
            assert!(Instant::now() < deadline, "no whole frame within 10 s");
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the server closed before a whole frame"),
                Ok(read) => self.buffered.extend_from_slice(&chunk[..read]),
                Err(error) => panic!("read: {error}"),
            }
        }
    }

    fn next_frame(&mut self) -> ServerFrame {
        self.need(2);
        let (length, start) = match self.buffered[1] & 0x7f {
            126 => {
                self.need(4);
                (
                    u16::from_be_bytes([self.buffered[2], self.buffered[3]]) as usize,
                    4,
                )
            }
            127 => {
                self.need(10);
                let bytes: [u8; 8] = self.buffered[2..10].try_into().expect("8 bytes");
                (u64::from_be_bytes(bytes) as usize, 10)
            }
            length => (length as usize, 2),
        };
        self.need(start + length);
        let first = self.buffered[0];
        let payload = self.buffered[start..start + length].to_vec();
        self.buffered.drain(..start + length);
        ServerFrame { first, payload }
    }

    /// The next text message whose `type` is `kind`.
    fn next_of_type(&mut self, kind: &str) -> (ServerFrame, Value) {
        for _ in 0..100 {
            let frame = self.next_frame();
            if frame.opcode() == 1 {
                let message = frame.json();
                if message["type"] == kind {
                    return (frame, message);
                }
            }
        }
        panic!("no {kind} message in 100 frames");
    }

    /// The close code the server sent, skipping other frames.
    fn close_code(&mut self) -> u16 {
        for _ in 0..100 {
            let frame = self.next_frame();
            if frame.opcode() == 8 {
                return u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
            }
        }
        panic!("no close frame in 100 frames");
    }

    /// Sends one masked frame.
    fn send_frame(&mut self, first: u8, payload: &[u8]) {
        let mask = [0x5a, 0x13, 0xc4, 0x7e];
        let header = FrameHeader {
            is_final: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            rsv2: false,
            rsv3: false,
            opcode: OpCode::from(first & 0x0f),
            mask: Some(mask),
        };
        let mut frame = Vec::new();
        header
            .format(payload.len() as u64, &mut frame)
            .expect("a header");
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).expect("send");
    }

    /// Sends `text` as one compressed message (FIN, RSV1, text).
    fn send_compressed(&mut self, text: &[u8]) {
        self.send_frame(0xc1, &deflate(text));
    }
}

/// Raw DEFLATE, closed with a final block (RFC 7692 7.2.3.4 allows it).
fn deflate(bytes: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(bytes, 6)
}

fn inflate(compressed: &[u8]) -> Vec<u8> {
    let mut input = compressed.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut decompressor = miniz_oxide::inflate::core::DecompressorOxide::new();
    let mut output = vec![0; 16 << 20];
    let flags = miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_HAS_MORE_INPUT
        | miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, _, produced) =
        miniz_oxide::inflate::core::decompress(&mut decompressor, &input, &mut output, 0, flags);
    assert!((status as i8) >= 0, "inflate: {status:?}");
    output.truncate(produced);
    output
}

/// A server whose only list push to a client is the one on joining.
fn quiet_server() -> TestServer {
    TestServer::start(&["--ws-interval-ms", "60000"])
}

fn session_with_metadata(server: &TestServer, index: usize) {
    let body = format!(
        r#"{{"appname":"BuildAgent","mode":"batch","jobid":"build-{index}",
            "metadata":{{"platform":"Win64","config":"Development","host":"agent-{index:02}"}}}}"#
    );
    assert_eq!(server.post_json("/sessions", &body).status, 201);
}

#[test]
fn a_browser_offer_gets_lists_compressed_once_that_match_the_plain_list() {
    let server = TestServer::start(&["--ws-interval-ms", "200"]);
    for index in 0..50 {
        session_with_metadata(&server, index);
    }
    let mut compressed = RawClient::open(&server, CHROMIUM_OFFER);
    assert_eq!(compressed.extensions.as_deref(), Some(AGREED));
    let mut plain = RawClient::open(&server, "x-webkit-deflate-frame");
    assert_eq!(plain.extensions, None, "an unknown extension is declined");
    // The next regular push reaches both from the same tick.
    compressed.next_of_type("sessions");
    plain.next_of_type("sessions");
    let (frame, list) = compressed.next_of_type("sessions");
    assert!(frame.rsv1(), "a list to a client that agreed is compressed");
    assert_eq!(list["sessions"].as_array().map(Vec::len), Some(51));
    let (plain_frame, plain_list) = plain.next_of_type("sessions");
    assert!(!plain_frame.rsv1());
    assert!(
        frame.payload.len() * 5 < plain_frame.payload.len(),
        "{} compressed bytes for {} plain",
        frame.payload.len(),
        plain_frame.payload.len()
    );
    // Pushes of one tick carry the same time; the lists are the same.
    if list["time"] == plain_list["time"] {
        assert_eq!(list, plain_list);
    }
}

#[test]
fn a_compressed_follow_is_understood_and_log_messages_stay_plain() {
    let server = quiet_server();
    let id = server.create_session("BuildAgent");
    assert_eq!(server.append_text(&id, "one\ntwo\n").status, 200);
    let mut client = RawClient::open(&server, CHROMIUM_OFFER);
    client.next_of_type("sessions");
    let follow = format!(r#"{{"type":"follow","session":"{id}","cursor":0}}"#);
    client.send_compressed(follow.as_bytes());
    let (frame, log) = client.next_of_type("log");
    assert!(!frame.rsv1(), "only lists are compressed");
    let messages: Vec<&str> = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|entry| entry["message"].as_str())
        .collect();
    assert_eq!(messages, ["one", "two"]);
    // A compressed message that is not a command gets the usual error.
    client.send_compressed(br#"{"type":"nonsense"}"#);
    let (_, error) = client.next_of_type("error");
    assert!(error["error"]
        .as_str()
        .is_some_and(|text| text.contains("unknown message type")));
}

#[test]
fn compressed_messages_inflate_to_at_most_64_kib_then_close_1009() {
    let server = quiet_server();
    let mut client = RawClient::open(&server, "permessage-deflate");
    client.next_of_type("sessions");
    // At the limit: inflated, read, answered as a bad message.
    client.send_compressed(&vec![b' '; MESSAGE_BYTES_MAX]);
    client.next_of_type("error");
    // One byte more, though it compresses to a few hundred bytes.
    client.send_compressed(&vec![b' '; MESSAGE_BYTES_MAX + 1]);
    assert_eq!(client.close_code(), 1009);
}

#[test]
fn compressed_data_that_does_not_inflate_closes_1007() {
    let server = quiet_server();
    let mut client = RawClient::open(&server, "permessage-deflate");
    client.next_of_type("sessions");
    // Block type 3 does not exist.
    client.send_frame(0xc1, &[0xff, 0xff, 0xff]);
    assert_eq!(client.close_code(), 1007);
}

#[test]
fn rsv1_without_the_extension_closes_1002() {
    let server = quiet_server();
    let mut client = RawClient::open(&server, "permessage-deflate; unknown_parameter");
    assert_eq!(
        client.extensions, None,
        "an offer with unknown parameters is declined"
    );
    client.next_of_type("sessions");
    client.send_compressed(br#"{"type":"unfollow"}"#);
    assert_eq!(client.close_code(), 1002);
}

#[test]
fn a_client_limiting_the_server_window_gets_lists_plain() {
    let server = quiet_server();
    let mut client = RawClient::open(&server, "permessage-deflate; server_max_window_bits=10");
    assert_eq!(
        client.extensions.as_deref(),
        Some(format!("{AGREED}; server_max_window_bits=10").as_str())
    );
    let (frame, list) = client.next_of_type("sessions");
    assert!(
        !frame.rsv1(),
        "the shared list is compressed with a 32 KiB window"
    );
    assert_eq!(list["type"], "sessions");
    // Its own compressed messages are still understood.
    client.send_compressed(br#"{"type":"nonsense"}"#);
    client.next_of_type("error");
}
