//! `parse_ndjson_body`: an NDJSON log batch, one entry object per line.
//!
//! Asserts, for the input and for a copy that opens with a message grown to
//! straddle `MESSAGE_BYTES_MAX` (the input then continues that string):
//! - every entry passes `entries::check_entry`; a refusal is 400 or 413 with
//!   a short message; the entries written back as NDJSON read back the same;
//!
//! and for the input itself (each extra read of the long copy costs):
//! - line by line: an accepted body has one entry per non-blank line, and
//!   each such line read alone gives that entry; a refused entry or syntax
//!   error names a line (and entry index) such that the lines before it are
//!   accepted with exactly that many entries (all or nothing, right index);
//! - LF and CRLF line ends read the same (for bodies without CR);
//! - the lines joined as a JSON array give the same entries (or are refused
//!   as too deep, as the array nests one level more).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::ingest::{parse_json_body, parse_ndjson_body, IngestError, IngestedEntry};
use sessions_lite::limits::MESSAGE_BYTES_MAX;
use sessions_lite_fuzz::entries::{assert_same_entries, check_entry, check_error, filler, to_json};
use sessions_lite_fuzz::reads::{seed_of, Rng};

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(seed_of(data));
    check(data, true);
    let unit = ["a", "é", "€", "😀", "\\u00e9", "\\\""][rng.below(6)];
    let length = MESSAGE_BYTES_MAX - 8 + rng.below(16);
    let mut long = format!("{{\"message\": \"{}", filler(unit, length)).into_bytes();
    long.extend_from_slice(data);
    // Each read of 64 KiB costs: the entry checks and round trip only.
    check(&long, false);
});

fn is_blank(line: &[u8]) -> bool {
    line.iter()
        .all(|&byte| matches!(byte, b' ' | b'\t' | b'\r'))
}

fn check(body: &[u8], line_by_line: bool) {
    let result = parse_ndjson_body(body);
    match &result {
        Ok(entries) => entries.iter().for_each(check_entry),
        Err(error) => check_error(error),
    }
    if !line_by_line {
        if let Ok(entries) = &result {
            round_trip(entries);
        }
        return;
    }
    if !body.contains(&b'\r') {
        let crlf: Vec<u8> = body
            .iter()
            .flat_map(|&byte| match byte {
                b'\n' => vec![b'\r', b'\n'],
                other => vec![other],
            })
            .collect();
        assert_eq!(
            parse_ndjson_body(&crlf),
            result,
            "CRLF reads differently from LF"
        );
    }
    let lines: Vec<&[u8]> = body.split(|&byte| byte == b'\n').collect();
    match result {
        Ok(entries) => check_accepted(&lines, &entries),
        Err(error) => check_refused(&lines, &error),
    }
}

fn check_accepted(lines: &[&[u8]], entries: &[IngestedEntry]) {
    let filled: Vec<&[u8]> = lines
        .iter()
        .copied()
        .filter(|line| !is_blank(line))
        .collect();
    assert_eq!(filled.len(), entries.len(), "one entry per non-blank line");
    for (line, entry) in filled.iter().zip(entries) {
        assert_eq!(
            parse_ndjson_body(line).as_deref(),
            Ok(std::slice::from_ref(entry)),
            "line alone"
        );
    }
    round_trip(entries);
    let mut array = b"[".to_vec();
    for (index, line) in filled.iter().enumerate() {
        if index > 0 {
            array.push(b',');
        }
        array.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
    }
    array.push(b']');
    match parse_json_body(&array) {
        Ok(from_array) => assert_eq!(from_array, entries, "lines as a JSON array"),
        Err(IngestError::TooDeep { .. }) => {}
        Err(error) => panic!("lines as a JSON array refused: {error:?}"),
    }
}

/// The entries written back as NDJSON read back the same.
fn round_trip(entries: &[IngestedEntry]) {
    let mut ndjson = Vec::new();
    for entry in entries {
        serde_json::to_writer(&mut ndjson, &to_json(entry)).expect("serializes");
        ndjson.push(b'\n');
    }
    let read_back = parse_ndjson_body(&ndjson).expect("NDJSON round trip");
    assert_same_entries(&read_back, entries, "NDJSON round trip");
}

/// The lines before the one named are accepted, with `index` entries.
fn check_refused(lines: &[&[u8]], error: &IngestError) {
    let (line, index) = match error {
        IngestError::Entry { index, line, .. } => {
            (line.expect("NDJSON names the line"), Some(*index))
        }
        IngestError::Syntax { line, .. } => (*line, None),
        IngestError::TooDeep { line } => (line.expect("NDJSON names the line"), None),
        IngestError::BodyTooLarge { .. } => return,
        other => panic!("not an NDJSON refusal: {other:?}"),
    };
    assert!(
        line >= 1 && line <= lines.len(),
        "line {line} of {}",
        lines.len()
    );
    assert!(
        !is_blank(
            lines[line - 1]
                .strip_suffix(b"\r")
                .unwrap_or(lines[line - 1])
        ),
        "refused a blank line"
    );
    let before = lines[..line - 1].join(&b'\n');
    let accepted = parse_ndjson_body(&before).expect("the lines before the refused one");
    if let Some(index) = index {
        assert_eq!(accepted.len(), index, "entry index");
    }
    let alone = parse_ndjson_body(lines[line - 1]);
    assert!(alone.is_err(), "the refused line alone is accepted");
}
