//! `parse_session_body`: the JSON body of a session create or update.
//!
//! Asserts:
//! - accepted `appname`, `mode` and `jobid` are non-empty and at most
//!   `SESSION_FIELD_BYTES_MAX` bytes; a blank body is "no fields";
//! - a refusal is 400 or 413 with a message (the message is not asserted
//!   short: a refusal may echo a key, and the body limit bounds it);
//! - round trip: the accepted fields written back as JSON parse to the same
//!   fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use sessions_lite::limits::SESSION_FIELD_BYTES_MAX;
use sessions_lite::sessions::{parse_session_body, SessionFields};

fuzz_target!(|data: &[u8]| {
    let fields = match parse_session_body(data) {
        Ok(fields) => fields,
        Err(error) => {
            assert!(matches!(error.status(), 400 | 413), "{error:?}");
            assert!(!error.message().is_empty());
            return;
        }
    };
    let named = [
        &fields.appname,
        &fields.mode,
        &fields.jobid.clone().flatten(),
    ];
    for text in named.into_iter().flatten() {
        assert!(
            !text.is_empty() && text.len() <= SESSION_FIELD_BYTES_MAX,
            "field {text:?}"
        );
    }
    if data
        .iter()
        .all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
    {
        assert_eq!(fields, SessionFields::default());
    }
    let again = parse_session_body(&to_json(&fields)).expect("round trip");
    assert_eq!(again.appname, fields.appname);
    assert_eq!(again.mode, fields.mode);
    assert_eq!(again.jobid, fields.jobid);
    assert_eq!(again.metadata.is_some(), fields.metadata.is_some());
});

fn to_json(fields: &SessionFields) -> Vec<u8> {
    let mut object = Map::new();
    if let Some(appname) = &fields.appname {
        object.insert("appname".into(), Value::String(appname.clone()));
    }
    if let Some(mode) = &fields.mode {
        object.insert("mode".into(), Value::String(mode.clone()));
    }
    if let Some(jobid) = &fields.jobid {
        object.insert(
            "jobid".into(),
            jobid.clone().map_or(Value::Null, Value::String),
        );
    }
    if let Some(metadata) = &fields.metadata {
        object.insert("metadata".into(), Value::Object(metadata.clone()));
    }
    serde_json::to_vec(&Value::Object(object)).expect("serializes")
}
