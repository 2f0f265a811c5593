//! `export::otlp_answer::read_answer`: a collector's answer (status,
//! Content-Type, body, Retry-After) to accepted, retry or refused.
//!
//! The input's first bytes choose the status (a known one or any), the
//! Content-Type and the Retry-After (one of a few, or bytes of the input),
//! and `now_ms`; the rest is the body. Asserts:
//! - classification is exactly the spec's: 2xx accepted, 429/502/503/504
//!   retry, anything else refused, with the status carried along;
//! - every message is within `OTLP_ANSWER_MESSAGE_BYTES_MAX`, valid UTF-8
//!   (it is a `String`) and free of control characters;
//! - a retry delay is within `OTLP_RETRY_AFTER_MS_MAX`; delay-seconds
//!   always give one; a date does not depend on which format wrote it;
//! - the same answer read twice is the same;
//! - round trip: a partial success written with our own protobuf writer
//!   from the input's values reads back with the count clamped at 0 and a
//!   plain message unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::export::otlp_answer::{is_retryable, read_answer, retry_after_ms, Answer};
use sessions_lite::export::protobuf::{
    begin_message, end_message, put_bytes_field, put_int64_field,
};
use sessions_lite::http::date::{format_asctime_date, format_rfc850_date};
use sessions_lite::limits::{OTLP_ANSWER_MESSAGE_BYTES_MAX, OTLP_RETRY_AFTER_MS_MAX};
use sessions_lite::time::{format_http_date, TIMESTAMP_MS_MAX};
use sessions_lite_fuzz::reads::{seed_of, Rng};

const STATUSES: [u16; 16] = [
    200, 201, 204, 299, 300, 304, 400, 404, 413, 429, 500, 501, 502, 503, 504, 505,
];
const CONTENT_TYPES: [&[u8]; 8] = [
    b"application/x-protobuf",
    b"application/json",
    b"Application/JSON; charset=utf-8",
    b"text/html",
    b"application/grpc",
    b"",
    b"application/x-protobuf;",
    b" application/x-protobuf ",
];

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(seed_of(data));
    let (head, body) = data.split_at(data.len().min(4));
    let mut head = head.iter().copied().chain(std::iter::repeat(0));
    let mut next = || head.next().unwrap_or(0);
    let status = match next() {
        choice if choice < 200 => STATUSES[usize::from(choice) % STATUSES.len()],
        _ => u16::from_le_bytes([next(), next()]) % 1000,
    };
    let content_type_choice = next();
    let content_type = match content_type_choice % 10 {
        8 => None,
        9 => Some(&body[..rng.below(body.len() + 1).min(64)]),
        choice => Some(CONTENT_TYPES[usize::from(choice)]),
    };
    let now_ms = rng.next_u64() % (TIMESTAMP_MS_MAX + 1);
    let retry_after_text = match rng.below(4) {
        0 => None,
        1 => Some(body[..rng.below(body.len() + 1).min(40)].to_vec()),
        2 => Some((rng.next_u64() % 1000).to_string().into_bytes()),
        _ => {
            let mut text = String::new();
            format_http_date(now_ms + rng.next_u64() % 1_000_000, &mut text);
            Some(text.into_bytes())
        }
    };
    let retry_after = retry_after_text.as_deref();

    let answer = read_answer(status, content_type, body, retry_after, now_ms);
    assert_eq!(
        answer,
        read_answer(status, content_type, body, retry_after, now_ms)
    );
    check_answer(&answer, status, body.len());
    if let Answer::Retry { after_ms, .. } = &answer {
        assert_eq!(
            *after_ms,
            retry_after.and_then(|value| retry_after_ms(value, now_ms))
        );
    }

    if let Some(value) = retry_after {
        let delay = retry_after_ms(value, now_ms);
        assert!(delay.is_none_or(|delay| delay <= OTLP_RETRY_AFTER_MS_MAX));
        let digits = value.trim_ascii();
        if !digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && value
                .iter()
                .all(|b| b.is_ascii_digit() || *b == b' ' || *b == b'\t')
        {
            assert!(delay.is_some(), "delay-seconds {value:?} not read");
        }
    }
    same_delay_in_every_date_format(&mut rng, now_ms);
    partial_success_round_trip(&mut rng, body);
});

fn check_answer(answer: &Answer, status: u16, body_size: usize) {
    let message = match answer {
        Answer::Accepted { error_message, .. } => {
            assert!((200..300).contains(&status), "{status} accepted");
            error_message
        }
        Answer::Retry {
            status: seen,
            after_ms,
            message,
        } => {
            assert_eq!(*seen, status);
            assert!(is_retryable(status) && matches!(status, 429 | 502 | 503 | 504));
            assert!(after_ms.is_none_or(|after| after <= OTLP_RETRY_AFTER_MS_MAX));
            message
        }
        Answer::Refused {
            status: seen,
            message,
        } => {
            assert_eq!(*seen, status);
            let oversize = body_size > sessions_lite::limits::OTLP_ANSWER_BODY_BYTES_MAX;
            assert!(oversize || !((200..300).contains(&status) || is_retryable(status)));
            assert!(!message.is_empty());
            message
        }
    };
    assert!(
        message.len() <= OTLP_ANSWER_MESSAGE_BYTES_MAX,
        "{} bytes",
        message.len()
    );
    assert!(!message.chars().any(char::is_control), "{message:?}");
}

/// A date in the future reads as the same delay in all three formats.
fn same_delay_in_every_date_format(rng: &mut Rng, now_ms: u64) {
    let date_ms = (now_ms + rng.next_u64() % 400_000_000) / 1000 * 1000;
    let date_ms = date_ms.min(TIMESTAMP_MS_MAX / 1000 * 1000);
    let mut texts = [String::new(), String::new(), String::new()];
    format_http_date(date_ms, &mut texts[0]);
    format_rfc850_date(date_ms, &mut texts[1]);
    format_asctime_date(date_ms, &mut texts[2]);
    let expected = date_ms.saturating_sub(now_ms).min(OTLP_RETRY_AFTER_MS_MAX);
    for text in &texts {
        assert_eq!(
            retry_after_ms(text.as_bytes(), now_ms),
            Some(expected),
            "{text}"
        );
    }
}

fn partial_success_round_trip(rng: &mut Rng, body: &[u8]) {
    let rejected = rng.next_u64() as i64;
    let message: String = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    let mut response = Vec::new();
    let mark = begin_message(&mut response, 1);
    put_int64_field(&mut response, 1, rejected);
    put_bytes_field(&mut response, 2, message.as_bytes());
    end_message(&mut response, mark);
    let answer = read_answer(200, Some(b"application/x-protobuf"), &response, None, 0);
    let Answer::Accepted {
        rejected_log_records,
        error_message,
    } = answer
    else {
        panic!("a 200 not accepted: {answer:?}");
    };
    assert_eq!(rejected_log_records, rejected.max(0) as u64);
    let plain = message.len() <= OTLP_ANSWER_MESSAGE_BYTES_MAX
        && message.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        && message.trim() == message;
    if plain {
        assert_eq!(error_message, message);
    }
}
