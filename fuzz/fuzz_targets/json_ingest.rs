//! `parse_json_body`: a JSON log batch (one entry, an array, or
//! `{"entries": [...]}`).
//!
//! Asserts, for the input and for a copy that opens with a message grown to
//! straddle `MESSAGE_BYTES_MAX` (the input then continues that string):
//! - every entry passes `entries::check_entry` (UTF-8 message within
//!   `MESSAGE_BYTES_MAX`, `truncated` only at the limit, `data` one JSON
//!   object within its limit, timestamp in range);
//! - a refusal is 400 or 413 with a short message;
//! - round trip: the entries written back as NDJSON, as a JSON array and as
//!   `{"entries": [...]}` read back as the same entries (the last two may be
//!   refused as too deep: they nest one and two levels more);
//! - an accepted array body wrapped as `{"entries": body}` gives the same
//!   entries (or is refused as too deep, as it nests one level more).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::ingest::{parse_json_body, parse_ndjson_body, IngestError};
use sessions_lite::limits::MESSAGE_BYTES_MAX;
use sessions_lite_fuzz::entries::{assert_same_entries, check_entry, check_error, filler, to_json};
use sessions_lite_fuzz::reads::{seed_of, Rng};

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(seed_of(data));
    check(data);
    let unit = ["a", "é", "€", "😀", "\\u00e9", "\\\""][rng.below(6)];
    let length = MESSAGE_BYTES_MAX - 8 + rng.below(16);
    let mut long = format!("{{\"message\": \"{}", filler(unit, length)).into_bytes();
    long.extend_from_slice(data);
    check(&long);
});

fn check(body: &[u8]) {
    let result = parse_json_body(body);
    match &result {
        Ok(entries) => entries.iter().for_each(check_entry),
        Err(error) => check_error(error),
    }
    let Ok(entries) = result else { return };
    let values: Vec<serde_json::Value> = entries.iter().map(to_json).collect();
    let array = serde_json::to_vec(&values).expect("serializes");
    // The array and `{"entries": [...]}` nest one and two levels deeper than
    // a lone entry object: within the depth limit they must read back.
    match parse_json_body(&array) {
        Ok(read_back) => assert_same_entries(&read_back, &entries, "array round trip"),
        Err(IngestError::TooDeep { .. }) => {}
        Err(error) => panic!("array round trip: {error:?}"),
    }
    let wrapped =
        serde_json::to_vec(&serde_json::json!({ "entries": values })).expect("serializes");
    match parse_json_body(&wrapped) {
        Ok(read_back) => assert_same_entries(&read_back, &entries, "entries round trip"),
        Err(IngestError::TooDeep { .. }) => {}
        Err(error) => panic!("entries round trip: {error:?}"),
    }
    let mut ndjson = Vec::new();
    for value in &values {
        serde_json::to_writer(&mut ndjson, value).expect("serializes");
        ndjson.push(b'\n');
    }
    let read_back = parse_ndjson_body(&ndjson).expect("NDJSON round trip");
    assert_same_entries(&read_back, &entries, "NDJSON round trip");
    if body.trim_ascii_start().starts_with(b"[") {
        let mut outer = b"{\"entries\": ".to_vec();
        outer.extend_from_slice(body);
        outer.push(b'}');
        match parse_json_body(&outer) {
            Ok(wrapped_entries) => assert_eq!(wrapped_entries, entries, "wrapped body"),
            Err(IngestError::TooDeep { .. }) => {}
            Err(error) => panic!("wrapped body refused: {error:?}"),
        }
    }
}
