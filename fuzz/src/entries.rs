//! Checks every log entry and refusal from the JSON / NDJSON readers must
//! pass, and a way to write entries back as JSON for round trips.

use serde_json::{Map, Value};
use sessions_lite::ingest::{IngestError, IngestedEntry};
use sessions_lite::limits::{ENTRY_DATA_BYTES_MAX, MESSAGE_BYTES_MAX};
use sessions_lite::time::{rfc3339_ms, TIMESTAMP_MS_MAX};

/// Bytes of a refusal's message: it names limits and echoes at most a cut
/// piece of the client's text, so it stays short whatever the body.
pub const ERROR_MESSAGE_BYTES_MAX: usize = 512;

/// What a stored entry must be: a UTF-8 message of at most
/// `MESSAGE_BYTES_MAX` bytes, flagged truncated only when it was cut at the
/// limit; `data` JSON of one object without whitespace, under its limit; a
/// timestamp in range.
pub fn check_entry(entry: &IngestedEntry) {
    let message = entry.message.as_bytes();
    assert!(std::str::from_utf8(message).is_ok());
    assert!(
        message.len() <= MESSAGE_BYTES_MAX,
        "message is {} bytes",
        message.len()
    );
    if entry.truncated {
        // Cut on a char boundary: at most 3 bytes short of the limit.
        assert!(
            message.len() + 3 >= MESSAGE_BYTES_MAX,
            "truncated at {} bytes",
            message.len()
        );
    }
    if let Some(data) = &entry.data {
        assert!(
            data.len() <= ENTRY_DATA_BYTES_MAX,
            "data is {} bytes",
            data.len()
        );
        let value: Value = serde_json::from_str(data).expect("data is JSON");
        assert!(value.is_object(), "data is not an object: {data}");
        // Not compared with `value.to_string()`: without serde_json's
        // `float_roundtrip` a float may read back one ulp off.
        assert!(same_json(
            &value,
            &serde_json::from_str(&value.to_string()).expect("JSON")
        ));
    }
    if let Some(ms) = entry.timestamp_ms {
        assert!(ms <= TIMESTAMP_MS_MAX, "timestamp {ms} out of range");
    }
}

/// What a refusal must be: 400 or 413 with a short message and no period
/// at its end.
pub fn check_error(error: &IngestError) {
    assert!(
        matches!(error.status(), 400 | 413),
        "status {}",
        error.status()
    );
    let message = error.message();
    assert!(!message.is_empty());
    assert!(
        message.len() <= ERROR_MESSAGE_BYTES_MAX,
        "message is {} bytes: {message:.200}",
        message.len()
    );
    // `...` marks an echo cut short; a sentence ends without a period.
    let sentence_end = message.strip_suffix("...").unwrap_or(&message);
    assert!(
        !sentence_end.ends_with('.'),
        "message ends with a period: {message}"
    );
}

/// The entry as a client would send it.
pub fn to_json(entry: &IngestedEntry) -> Value {
    let mut object = Map::new();
    object.insert("message".into(), Value::String(entry.message.clone()));
    object.insert("level".into(), Value::String(entry.level.as_str().into()));
    if let Some(data) = &entry.data {
        object.insert(
            "data".into(),
            serde_json::from_str(data).expect("data is JSON"),
        );
    }
    if let Some(ms) = entry.timestamp_ms {
        object.insert("timestamp".into(), Value::String(rfc3339_ms(ms)));
    }
    Value::Object(object)
}

/// Sent again, an entry comes back the same, except that a message already
/// cut is no longer over the limit, so it is not flagged again.
pub fn resent(entry: &IngestedEntry) -> IngestedEntry {
    IngestedEntry {
        truncated: false,
        ..entry.clone()
    }
}

/// A JSON string literal of `length` bytes of text (no quotes), built from
/// `unit` repeated and cut, to put a message right at its limit.
pub fn filler(unit: &str, length: usize) -> String {
    let mut text = unit.repeat(length / unit.len() + 1);
    let mut end = length;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// Two JSON values are the same, floats within a relative 1e-15 (serde_json
/// parses floats to within one ulp unless `float_roundtrip` is on).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_json(vx, vy))
        }
        _ => a == b,
    }
}

/// Entries read back after a round trip are the ones sent (see `resent`),
/// `data` compared with `same_json`.
pub fn assert_same_entries(got: &[IngestedEntry], sent: &[IngestedEntry], what: &str) {
    assert_eq!(got.len(), sent.len(), "{what}: entry count");
    for (index, (got, sent)) in got.iter().zip(sent).enumerate() {
        let expected = resent(sent);
        assert_eq!(
            (&got.level, &got.message, got.truncated, got.timestamp_ms),
            (
                &expected.level,
                &expected.message,
                expected.truncated,
                expected.timestamp_ms
            ),
            "{what}: entry {index}"
        );
        let data = |entry: &IngestedEntry| {
            entry
                .data
                .as_deref()
                .map(|data| serde_json::from_str::<Value>(data).expect("JSON"))
        };
        let same = match (data(got), data(&expected)) {
            (Some(a), Some(b)) => same_json(&a, &b),
            (a, b) => a == b,
        };
        assert!(
            same,
            "{what}: entry {index} data {:?} != {:?}",
            got.data, expected.data
        );
    }
}
