//! The delay before an export is retried: exponential backoff with full
//! jitter, or the collector's `Retry-After` when it sent one.
//!
//! Retry `attempt` (0 for the first retry) waits a uniformly random time
//! between `OTLP_RETRY_BASE_MS` and `OTLP_RETRY_BASE_MS * 2^(attempt + 1)`,
//! the upper end capped at `OTLP_RETRY_MAX_MS`. Jitter over the whole range
//! (not around a point) spreads out the build machines that lost the same
//! collector at the same moment; the floor keeps even an unlucky draw from
//! retrying at once. The randomness comes in as `random`, so this is pure.

use crate::limits::{OTLP_RETRY_AFTER_MS_MAX, OTLP_RETRY_BASE_MS, OTLP_RETRY_MAX_MS};

/// Milliseconds to wait before retry `attempt`. `retry_after_ms` (from the
/// collector) wins when given, raised to the base and capped at
/// `OTLP_RETRY_AFTER_MS_MAX`; `random` is any u64 from a uniform source.
pub fn retry_delay_ms(attempt: u32, random: u64, retry_after_ms: Option<u64>) -> u64 {
    if let Some(after_ms) = retry_after_ms {
        return after_ms.clamp(OTLP_RETRY_BASE_MS, OTLP_RETRY_AFTER_MS_MAX);
    }
    let ceiling_ms = 1u64
        .checked_shl(attempt.saturating_add(1))
        .and_then(|factor| OTLP_RETRY_BASE_MS.checked_mul(factor))
        .map_or(OTLP_RETRY_MAX_MS, |ceiling| ceiling.min(OTLP_RETRY_MAX_MS));
    let span_ms = ceiling_ms - OTLP_RETRY_BASE_MS;
    OTLP_RETRY_BASE_MS + random % (span_ms + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(attempt: u32, random: u64, retry_after_ms: Option<u64>, expected: u64) {
        assert_eq!(
            retry_delay_ms(attempt, random, retry_after_ms),
            expected,
            "attempt {attempt}, random {random}, retry-after {retry_after_ms:?}"
        );
    }

    #[test]
    fn ranges_double_up_to_the_ceiling() {
        check(0, 0, None, OTLP_RETRY_BASE_MS);
        check(0, OTLP_RETRY_BASE_MS, None, 2 * OTLP_RETRY_BASE_MS);
        check(0, OTLP_RETRY_BASE_MS + 1, None, OTLP_RETRY_BASE_MS);
        check(1, 3 * OTLP_RETRY_BASE_MS, None, 4 * OTLP_RETRY_BASE_MS);
        check(2, 7 * OTLP_RETRY_BASE_MS, None, 8 * OTLP_RETRY_BASE_MS);
        check(
            5,
            u64::MAX,
            None,
            OTLP_RETRY_BASE_MS + u64::MAX % (OTLP_RETRY_MAX_MS - OTLP_RETRY_BASE_MS + 1),
        );
        for attempt in [0, 1, 5, 6, 30, 62, 63, 64, 1_000, u32::MAX - 1, u32::MAX] {
            for random in [0, 1, 499, 500, 29_500, 29_501, u64::MAX / 2, u64::MAX] {
                let delay = retry_delay_ms(attempt, random, None);
                assert!(
                    (OTLP_RETRY_BASE_MS..=OTLP_RETRY_MAX_MS).contains(&delay),
                    "{attempt} {random}: {delay}"
                );
            }
            // The top of the range is reached.
            let top = retry_delay_ms(attempt, u64::MAX, None).max(retry_delay_ms(
                attempt,
                OTLP_RETRY_MAX_MS - OTLP_RETRY_BASE_MS,
                None,
            ));
            if attempt >= 6 {
                assert_eq!(top, OTLP_RETRY_MAX_MS, "{attempt}");
            }
        }
    }

    #[test]
    fn retry_after_wins_within_bounds() {
        check(0, 12_345, Some(2_000), 2_000);
        check(u32::MAX, 0, Some(60_000), 60_000);
        check(3, 0, Some(0), OTLP_RETRY_BASE_MS);
        check(3, 0, Some(OTLP_RETRY_BASE_MS - 1), OTLP_RETRY_BASE_MS);
        check(3, 0, Some(OTLP_RETRY_AFTER_MS_MAX), OTLP_RETRY_AFTER_MS_MAX);
        check(
            3,
            0,
            Some(OTLP_RETRY_AFTER_MS_MAX + 1),
            OTLP_RETRY_AFTER_MS_MAX,
        );
        check(3, 0, Some(u64::MAX), OTLP_RETRY_AFTER_MS_MAX);
    }
}
