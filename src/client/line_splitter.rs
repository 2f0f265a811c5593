//! Splits a command's output, read in chunks of any size, into log lines:
//! LF ends a line and one CR before it is dropped (CRLF), empty lines add
//! no entry (as in a text body), a last line without a newline comes out
//! at `finish`, and a line longer than `RUN_LINE_BYTES_MAX` is kept cut to
//! it. Bytes are passed on as they are; the caller decides about UTF-8.
//! Pure: the terminal copy of the output never goes through here.

use crate::limits::RUN_LINE_BYTES_MAX;

#[derive(Default)]
pub struct LineSplitter {
    /// The start of a line whose end has not been read yet.
    partial: Vec<u8>,
    /// `partial` is full: the rest of this line is not kept.
    cut: bool,
}

impl LineSplitter {
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Emits every line that `bytes` completes.
    pub fn feed(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(&[u8])) {
        while let Some(newline) = bytes.iter().position(|&byte| byte == b'\n') {
            let (line, rest) = (&bytes[..newline], &bytes[newline + 1..]);
            if self.partial.is_empty() && !self.cut {
                emit_line(line, emit);
            } else {
                self.keep(line);
                let line = std::mem::take(&mut self.partial);
                emit_line(&line, emit);
                self.partial = line;
                self.partial.clear();
                self.cut = false;
            }
            bytes = rest;
        }
        self.keep(bytes);
    }

    /// Emits the last line if it had no newline.
    pub fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        let line = std::mem::take(&mut self.partial);
        emit_line(&line, emit);
        self.cut = false;
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = RUN_LINE_BYTES_MAX - self.partial.len();
        if bytes.len() > room {
            self.cut = true;
        }
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

fn emit_line(line: &[u8], emit: &mut impl FnMut(&[u8])) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = &line[..line.len().min(RUN_LINE_BYTES_MAX)];
    if !line.is_empty() {
        emit(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one by one and returns the lines.
    fn check(chunks: &[&[u8]], expected: &[&[u8]]) {
        let mut splitter = LineSplitter::new();
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, &mut |line| lines.push(line.to_vec()));
        }
        splitter.finish(&mut |line| lines.push(line.to_vec()));
        let expected: Vec<Vec<u8>> = expected.iter().map(|line| line.to_vec()).collect();
        assert_eq!(lines, expected, "{chunks:?}");
    }

    #[test]
    fn lines_in_any_chunking() {
        check(&[b"a\nb\n"], &[b"a", b"b"]);
        check(&[b"a", b"b\nc", b"\n"], &[b"ab", b"c"]);
        check(&[b"no newline"], &[b"no newline"]);
        check(&[b"x\n", b"last"], &[b"x", b"last"]);
        check(&[], &[]);
    }

    #[test]
    fn crlf_empty_lines_and_binary() {
        check(&[b"dos\r\n", b"line\r", b"\n"], &[b"dos", b"line"]);
        check(&[b"\n\n\r\n"], &[]);
        check(&[b"mid\rcr\n"], &[b"mid\rcr"]);
        check(&[b"\xff\x00\xfe\n"], &[b"\xff\x00\xfe"]);
        check(&[b"trailing cr\r"], &[b"trailing cr"]);
    }

    #[test]
    fn long_lines_are_cut_at_the_limit() {
        for size in [
            RUN_LINE_BYTES_MAX - 1,
            RUN_LINE_BYTES_MAX,
            RUN_LINE_BYTES_MAX + 1,
        ] {
            let line = vec![b'x'; size];
            let kept = size.min(RUN_LINE_BYTES_MAX);
            // Whole, and in two pieces.
            let mut whole = line.clone();
            whole.push(b'\n');
            check(&[&whole, b"next\n"], &[&line[..kept], b"next"]);
            let (first, second) = whole.split_at(size / 2);
            check(&[first, second, b"next"], &[&line[..kept], b"next"]);
            check(&[&line], &[&line[..kept]]);
        }
    }
}
