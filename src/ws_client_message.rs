//! What a client of `/sessions/ws` may send: `follow`, `unfollow` and
//! `subscribe`, parsed from one text message. Pure; the error is the text
//! of the `{"type":"error"}` answer.

use crate::sessions::{parse_id, SessionId};
use serde_json::{Map, Value};

/// A message from a client of `/sessions/ws`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// Send the log of `session` from `cursor` on, then as it grows.
    Follow { session: SessionId, cursor: u64 },
    /// Stop sending log entries.
    Unfollow,
    /// `changes: true`: send a full list with a `seq` now, then only what
    /// changed (`list_changes.rs`); sent again, a fresh list (how a client
    /// recovers from a gap). `changes: false`: back to whole lists.
    Subscribe { changes: bool },
}

/// Parses one text message of a `/sessions/ws` client. The error is the
/// text of the `{"type":"error"}` answer.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("message is not JSON: {error}"))?;
    let Some(object) = value.as_object() else {
        return Err("message must be a JSON object".into());
    };
    match object.get("type").and_then(Value::as_str) {
        Some("follow") => parse_follow(object),
        Some("unfollow") => Ok(ClientMessage::Unfollow),
        Some("subscribe") => parse_subscribe(object),
        Some(other) if other.len() <= 32 => {
            Err(format!("unknown message type {other:?} (expected {TYPES})"))
        }
        Some(_) => Err(format!("unknown message type (expected {TYPES})")),
        None => Err(format!("message needs a \"type\": {TYPES}")),
    }
}

/// The message types a client may send, for error texts.
const TYPES: &str = "\"follow\", \"unfollow\" or \"subscribe\"";

/// `changes` is required: a bare `{"type":"subscribe"}` names no stream,
/// so it is answered as the unknown message it was before subscriptions.
fn parse_subscribe(object: &Map<String, Value>) -> Result<ClientMessage, String> {
    match object.get("changes") {
        Some(Value::Bool(changes)) => Ok(ClientMessage::Subscribe { changes: *changes }),
        Some(_) => Err("\"changes\" must be true or false".into()),
        None => Err(
            "unknown message type \"subscribe\" without \"changes\" (send \"changes\": true)"
                .into(),
        ),
    }
}

fn parse_follow(object: &Map<String, Value>) -> Result<ClientMessage, String> {
    let session = object
        .get("session")
        .and_then(Value::as_str)
        .and_then(parse_id)
        .ok_or("\"session\" must be a session id (24 hex digits)")?;
    // No cursor means the start of what the log holds, as for GET .../log.
    let cursor = match object.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(cursor) => cursor
            .as_u64()
            .ok_or("\"cursor\" must be a non-negative integer")?,
    };
    Ok(ClientMessage::Follow { session, cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5f0a1b2c3d4e5f60718293a4";

    fn check(text: &str, expected: Result<ClientMessage, &str>) {
        let actual = parse_client_message(text);
        match (&actual, &expected) {
            (Ok(actual), Ok(expected)) => assert_eq!(actual, expected, "{text}"),
            (Err(actual), Err(expected)) => {
                assert!(
                    actual.contains(expected),
                    "{text}: {actual:?} lacks {expected:?}"
                )
            }
            _ => panic!("{text}: got {actual:?}, expected {expected:?}"),
        }
    }

    fn follow(cursor: u64) -> Result<ClientMessage, &'static str> {
        let session = parse_id(ID).expect("test id");
        Ok(ClientMessage::Follow { session, cursor })
    }

    #[test]
    fn follow_messages() {
        check(
            &format!(r#"{{"type":"follow","session":"{ID}","cursor":7}}"#),
            follow(7),
        );
        check(
            &format!(r#"{{"type":"follow","session":"{ID}"}}"#),
            follow(0),
        );
        check(
            &format!(r#"{{"type":"follow","session":"{ID}","cursor":null}}"#),
            follow(0),
        );
        let upper = ID.to_ascii_uppercase();
        check(
            &format!(r#"{{"type":"follow","session":"{upper}","cursor":1}}"#),
            follow(1),
        );
        check(
            &format!(r#"{{"cursor":3,"session":"{ID}","type":"follow","x":1}}"#),
            follow(3),
        );
        let max = u64::MAX;
        check(
            &format!(r#"{{"type":"follow","session":"{ID}","cursor":{max}}}"#),
            follow(max),
        );
    }

    #[test]
    fn unfollow_message() {
        check(r#"{"type":"unfollow"}"#, Ok(ClientMessage::Unfollow));
        check(
            r#"{"type":"unfollow","session":"junk"}"#,
            Ok(ClientMessage::Unfollow),
        );
    }

    #[test]
    fn bad_messages() {
        check("", Err("not JSON"));
        check("follow", Err("not JSON"));
        check(r#"{"type":"follow""#, Err("not JSON"));
        check("[1,2]", Err("must be a JSON object"));
        check("42", Err("must be a JSON object"));
        check("{}", Err("needs a \"type\""));
        check(r#"{"type":7}"#, Err("needs a \"type\""));
        check(
            r#"{"type":"subscribe"}"#,
            Err("unknown message type \"subscribe\""),
        );
        check(r#"{"type":"nonsense"}"#, Err("or \"subscribe\")"));
        let long = "x".repeat(1000);
        let answer = parse_client_message(&format!(r#"{{"type":"{long}"}}"#));
        assert!(
            answer.is_err_and(|error| !error.contains(&long)),
            "a long type is not echoed"
        );
    }

    #[test]
    fn bad_follow_fields() {
        check(
            r#"{"type":"follow"}"#,
            Err("\"session\" must be a session id"),
        );
        check(
            r#"{"type":"follow","session":"abc","cursor":0}"#,
            Err("\"session\" must"),
        );
        check(
            r#"{"type":"follow","session":5,"cursor":0}"#,
            Err("\"session\" must"),
        );
        let short = &ID[..23];
        check(
            &format!(r#"{{"type":"follow","session":"{short}"}}"#),
            Err("\"session\" must"),
        );
        let bad = ["-1", "1.5", "\"3\"", "true", "18446744073709551616", "[]"];
        for cursor in bad {
            let text = format!(r#"{{"type":"follow","session":"{ID}","cursor":{cursor}}}"#);
            check(&text, Err("\"cursor\" must be a non-negative integer"));
        }
    }

    #[test]
    fn subscribe_messages() {
        let subscribe = |changes| Ok(ClientMessage::Subscribe { changes });
        check(r#"{"type":"subscribe","changes":true}"#, subscribe(true));
        check(r#"{"changes":false,"type":"subscribe"}"#, subscribe(false));
        for bad in ["1", "\"true\"", "null", "[]"] {
            let text = format!(r#"{{"type":"subscribe","changes":{bad}}}"#);
            check(&text, Err("\"changes\" must be true or false"));
        }
    }
}
