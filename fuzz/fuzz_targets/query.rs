//! `Query::parse` and the log read's query (`api::parse_log_query`), with
//! `api::split_target` and `api::route` on the same text as a target.
//!
//! Asserts:
//! - an accepted query names only known parameters; `number` accepts only
//!   plain digits that fit a u64, and its value is what `get` holds;
//! - a refusal names an unknown parameter that is not known, or a repeated
//!   one that is;
//! - round trip: the accepted pairs percent-encoded again (in a shuffled
//!   order, `+` or `%20` for space) parse to the same values, and
//!   `percent_decode` undoes encoding of any text;
//! - a log read's query keeps `wait` within `LONG_POLL_SECS_MAX` and only
//!   with a cursor, and `limit` within the log capacity; refusals are 400;
//! - `split_target` gives back the text, and routing it does not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::api::{parse_log_query, route, split_target, App, LogPosition};
use sessions_lite::config::Config;
use sessions_lite::http::query::{percent_decode, Query, QueryError};
use sessions_lite::limits::LONG_POLL_SECS_MAX;
use sessions_lite_fuzz::reads::{seed_of, Rng};

const LOG_NAMES: &[&str] = &["cursor", "offset", "limit", "tail", "wait", "format"];
const LIST_NAMES: &[&str] = &["status"];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut rng = Rng::new(seed_of(data));
    assert_eq!(
        percent_decode(&encode(&text, &mut rng)).as_deref(),
        Ok(&*text),
        "percent round trip"
    );
    for known in [LOG_NAMES, LIST_NAMES] {
        check_query(&text, known, &mut rng);
    }
    let app = App::new(
        Config::default(),
        "127.0.0.1:8558".parse().expect("address"),
        [7; 12],
        0,
    );
    match parse_log_query(&app, &text) {
        Ok(query) => {
            assert!(query.wait_secs <= LONG_POLL_SECS_MAX);
            assert!(query.wait_secs == 0 || matches!(query.position, LogPosition::Cursor(_)));
            assert!(query.limit <= app.config.log_capacity);
        }
        Err(response) => assert_eq!(response.status, 400),
    }
    let (path, query) = split_target(&text);
    let rejoined = if text.contains('?') {
        format!("{path}?{query}")
    } else {
        path.to_owned()
    };
    assert_eq!(rejoined, text);
    let _ = route(path, data.first().is_some_and(|byte| byte & 1 == 1));
});

fn check_query(text: &str, known: &[&str], rng: &mut Rng) {
    let query = match Query::parse(text, known) {
        Ok(query) => query,
        Err(QueryError::Unknown(name)) => return assert!(!known.contains(&name.as_str())),
        Err(QueryError::Repeated(name)) => return assert!(known.contains(&name.as_str())),
        Err(QueryError::BadEncoding) => return,
        Err(error @ QueryError::NotANumber(_)) => panic!("parse refused with {error:?}"),
    };
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for &name in known {
        let Some(value) = query.get(name) else {
            assert_eq!(query.number(name), Ok(None));
            continue;
        };
        pairs.push((name, value));
        match query.number(name) {
            Ok(Some(number)) => {
                assert!(!value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()));
                assert_eq!(value.parse::<u64>(), Ok(number));
            }
            Ok(None) => panic!("{name} is given but number says it is not"),
            Err(_) => {
                assert!(value.parse::<u64>().is_err() || !value.bytes().all(|b| b.is_ascii_digit()))
            }
        }
    }
    for index in (1..pairs.len()).rev() {
        pairs.swap(index, rng.below(index + 1));
    }
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name, rng), encode(value, rng)))
        .collect();
    let again = Query::parse(&encoded.join("&"), known).expect("re-encoded query");
    for &name in known {
        assert_eq!(
            again.get(name),
            query.get(name),
            "{name} after a round trip"
        );
    }
}

/// Percent-encodes all but unreserved bytes; space as `+` or `%20`.
fn encode(text: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    for &byte in text.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b' ' if rng.below(2) == 0 => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
