//! Which bytes go into a JSON string as they are, tested a word at a time.
//!
//! Every log message is tested once, when it is pushed into its ring (the
//! ring keeps the answer in the record's flags), so that a page of entries
//! is copies; names and other strings are tested as they are written.

/// Whether `bytes` go into a JSON string as they are: no control
/// character, quote or backslash. Tested eight bytes at a time (word-wide
/// arithmetic in safe code): log pages are mostly plain messages, and a
/// byte-by-byte test was half of the work of rendering one. The words'
/// marks are gathered and tested once (no branch per word), and the last
/// bytes are tested as the last whole word, overlapping the one before
/// (no copy of a variable length): this halved the test's instructions.
pub fn json_plain(bytes: &[u8]) -> bool {
    if bytes.len() < 8 {
        return bytes
            .iter()
            .all(|&byte| byte >= 0x20 && byte != b'"' && byte != b'\\');
    }
    let word_at = |at: usize| {
        let mut word = [0; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(word)
    };
    let mut marks = escape_marks(word_at(bytes.len() - 8));
    let mut at = 0;
    while at + 8 <= bytes.len() {
        marks |= escape_marks(word_at(at));
        at += 8;
    }
    marks == 0
}

const ONE_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = ONE_BITS * 0x80;

/// The high bit of every byte of `word` below 0x20, `"` or `\`: below 0x20
/// as it is, or below 1 after an XOR with `"` or `\`. `x - n` sets the
/// high bit of a byte below `n`, and `& !word` drops bytes of 0x80 and up
/// (the XORs keep the high bits, so one mask serves all three). A borrow
/// can mark a later byte falsely, but only after a true one, so "any" is
/// exact.
fn escape_marks(word: u64) -> u64 {
    let controls = word.wrapping_sub(ONE_BITS * 0x20);
    let quotes = (word ^ (ONE_BITS * u64::from(b'"'))).wrapping_sub(ONE_BITS);
    let backslashes = (word ^ (ONE_BITS * u64::from(b'\\'))).wrapping_sub(ONE_BITS);
    (controls | quotes | backslashes) & !word & HIGH_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_plain_agrees_with_a_byte_by_byte_test() {
        let plain_byte = |byte: u8| byte >= 0x20 && byte != b'"' && byte != b'\\';
        // Every byte value at every position of strings up to 19 bytes,
        // among plain ASCII and non-ASCII neighbours.
        for len in 1..20 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut bytes: Vec<u8> = (0..len).map(|i| [b'a', 0xc3, 0xa9][i % 3]).collect();
                    bytes[at] = byte;
                    let expected = bytes.iter().all(|&b| plain_byte(b));
                    assert_eq!(json_plain(&bytes), expected, "{bytes:?}");
                }
            }
        }
        assert!(json_plain(b""));
        assert!(json_plain("ünïcødé ✓ 😀 \u{7f}".as_bytes()));
    }
}
