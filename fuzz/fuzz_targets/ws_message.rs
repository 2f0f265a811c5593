//! `ws::parse_client_message`: a text message from a `/sessions/ws` client
//! (`{"type": "follow", "session": ID, "cursor": N}` or `{"type":
//! "unfollow"}`).
//!
//! Asserts:
//! - an accepted message is a JSON object whose `type` is `follow` (with a
//!   `session` of 24 hex digits naming the id, and a `cursor` that is a u64,
//!   null or absent, 0 then) or `unfollow`;
//! - a refusal is a short text (it goes back to the client: no echo of an
//!   unbounded part of the message);
//! - round trip: the accepted message written back (lowercase id, keys in
//!   any order) parses to the same message;
//! - the session id's text reads back to the same id with `parse_id`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use sessions_lite::sessions::{format_id, parse_id};
use sessions_lite::ws_client_message::{parse_client_message, ClientMessage};

/// Bytes of a refusal sent back to the client.
const ERROR_TEXT_BYTES_MAX: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let message = match parse_client_message(text) {
        Ok(message) => message,
        Err(error) => {
            assert!(!error.is_empty());
            assert!(
                error.len() <= ERROR_TEXT_BYTES_MAX,
                "error is {} bytes: {error:.300}",
                error.len()
            );
            return;
        }
    };
    let value: Value = serde_json::from_str(text).expect("an accepted message is JSON");
    let object = value.as_object().expect("an accepted message is an object");
    let written = match message {
        ClientMessage::Follow { session, cursor } => {
            assert_eq!(object.get("type"), Some(&json!("follow")));
            let id_text = object["session"].as_str().expect("session is a string");
            assert_eq!(id_text.to_ascii_lowercase(), format_id(&session));
            assert_eq!(parse_id(&format_id(&session)), Some(session));
            match object.get("cursor") {
                None | Some(Value::Null) => assert_eq!(cursor, 0),
                Some(given) => assert_eq!(given.as_u64(), Some(cursor)),
            }
            json!({ "cursor": cursor, "session": format_id(&session), "type": "follow" })
        }
        ClientMessage::Unfollow => {
            assert_eq!(object.get("type"), Some(&json!("unfollow")));
            json!({ "type": "unfollow" })
        }
        ClientMessage::Subscribe { changes } => {
            assert_eq!(object.get("type"), Some(&json!("subscribe")));
            assert_eq!(object.get("changes"), Some(&json!(changes)));
            json!({ "changes": changes, "type": "subscribe" })
        }
    };
    assert_eq!(
        parse_client_message(&written.to_string()),
        Ok(message),
        "round trip"
    );
});
