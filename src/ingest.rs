//! Log request bodies to entries: plain text, JSON and NDJSON.
//!
//! Pure (no I/O, no clock) and fuzzed: no input makes it panic or grow
//! without bound. Plain text streams through [`TextLines`], which keeps at
//! most one message's worth of the current line. A JSON body is one entry
//! object, a bare array of them, or `{"entries": [...]}`; an NDJSON body is one
//! entry object per line. Both are checked for nesting depth with a byte scan
//! before serde sees them, and read one entry at a time, so a batch is never
//! held twice (as a JSON tree and as entries). Entries are strict: an unknown
//! field is an error, so a typo (`"mesage"`) is refused rather than silently
//! dropped; `null` for `level`, `data` or `timestamp` means "absent"; a field
//! given twice keeps its last value (serde_json's map). A batch is all or
//! nothing: the first bad entry is named by its 0-based index (and, for
//! NDJSON, its 1-based line) and no entry is returned. `data` is stored as
//! compact JSON with its keys sorted. Messages longer than
//! `MESSAGE_BYTES_MAX` are cut on a char boundary and flagged `truncated`.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::level::Level;
use crate::limits::{ENTRY_DATA_BYTES_MAX, JSON_BODY_BYTES_MAX, JSON_DEPTH_MAX, MESSAGE_BYTES_MAX};
use crate::time::parse_rfc3339;

/// One log entry read from a request body, before it gets a cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestedEntry {
    pub level: Level,
    /// At most `MESSAGE_BYTES_MAX` bytes.
    pub message: String,
    /// The message was cut to `MESSAGE_BYTES_MAX` bytes.
    pub truncated: bool,
    /// The entry's `data` object as compact JSON, at most
    /// `ENTRY_DATA_BYTES_MAX` bytes.
    pub data: Option<String>,
    /// The entry's own `timestamp`; None means "when received".
    pub timestamp_ms: Option<u64>,
}

/// Why a JSON or NDJSON body was refused. Nothing of it is appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngestError {
    /// Over `JSON_BODY_BYTES_MAX` (the framing layer should refuse it first).
    BodyTooLarge { size: usize },
    /// Not JSON: serde's description at a line (1-based; 0 = unknown) and
    /// column of the body.
    Syntax {
        line: usize,
        column: usize,
        detail: String,
    },
    /// Arrays and objects nest deeper than `JSON_DEPTH_MAX` (NDJSON: on `line`).
    TooDeep { line: Option<usize> },
    /// The top level is not an object or an array.
    NotEntries { found: &'static str },
    /// `{"entries": ...}` whose value is not an array.
    EntriesNotArray { found: &'static str },
    /// `{"entries": [...]}` with another field beside it.
    EntriesNotAlone { field: String },
    /// Entry `index` (0-based; NDJSON: on 1-based `line`) is wrong.
    Entry {
        index: usize,
        line: Option<usize>,
        fault: EntryFault,
    },
}

/// What is wrong with one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryFault {
    NotObject {
        found: &'static str,
    },
    MessageMissing,
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    LevelUnknown {
        name: String,
    },
    TimestampInvalid {
        text: String,
    },
    /// Serialized `data` is over `ENTRY_DATA_BYTES_MAX`: 413.
    DataTooLarge {
        size: usize,
    },
    FieldUnknown {
        field: String,
    },
}

impl IngestError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            IngestError::BodyTooLarge { .. } => 413,
            IngestError::Entry {
                fault: EntryFault::DataTooLarge { .. },
                ..
            } => 413,
            _ => 400,
        }
    }

    /// Lowercase, no trailing period; names the entry and any limit hit.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestError::BodyTooLarge { size } => write!(
                f,
                "body is {size} bytes, over the limit of {JSON_BODY_BYTES_MAX}"
            ),
            IngestError::Syntax {
                line: 0, detail, ..
            } => write!(f, "invalid JSON: {detail}"),
            IngestError::Syntax {
                line,
                column,
                detail,
            } => {
                write!(f, "invalid JSON at line {line} column {column}: {detail}")
            }
            IngestError::TooDeep { line } => {
                if let Some(line) = line {
                    write!(f, "line {line}: ")?;
                }
                write!(
                    f,
                    "arrays and objects nest deeper than {JSON_DEPTH_MAX} levels"
                )
            }
            IngestError::NotEntries { found } => write!(
                f,
                "body must be an entry object, an array of entries or \
                 {{\"entries\": [...]}}, found {found}"
            ),
            IngestError::EntriesNotArray { found } => {
                write!(f, "\"entries\" must be an array, found {found}")
            }
            IngestError::EntriesNotAlone { field } if field == "entries" => {
                write!(f, "\"entries\" appears twice in the body")
            }
            IngestError::EntriesNotAlone { field } => write!(
                f,
                "a body with \"entries\" must have no other field, found {}",
                Quoted(field)
            ),
            IngestError::Entry {
                index,
                line: None,
                fault,
            } => write!(f, "entry {index}: {fault}"),
            IngestError::Entry {
                index,
                line: Some(line),
                fault,
            } => {
                write!(f, "entry {index} (line {line}): {fault}")
            }
        }
    }
}

impl fmt::Display for EntryFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryFault::NotObject { found } => write!(f, "expected an object, found {found}"),
            EntryFault::MessageMissing => write!(f, "message is required"),
            EntryFault::WrongType {
                field,
                expected,
                found,
            } => {
                write!(f, "{field} must be {expected}, found {found}")
            }
            EntryFault::LevelUnknown { name } => write!(
                f,
                "level {} is not one of debug, info, warn, error",
                Quoted(name)
            ),
            EntryFault::TimestampInvalid { text } => write!(
                f,
                "timestamp {} is not an RFC 3339 date-time from 1970 to 9999",
                Quoted(text)
            ),
            EntryFault::DataTooLarge { size } => write!(
                f,
                "data is {size} bytes serialized, over the limit of {ENTRY_DATA_BYTES_MAX}"
            ),
            EntryFault::FieldUnknown { field } => write!(
                f,
                "unknown field {} (an entry has message, level, data, timestamp)",
                Quoted(field)
            ),
        }
    }
}

/// Bytes of a client's string repeated in an error message; the rest is cut,
/// so an 8 MiB level name does not come back as an 8 MiB error.
const ECHO_BYTES_MAX: usize = 64;

/// A client's string in an error message: quoted, escaped, cut.
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kept, cut) = cut_to(self.0, ECHO_BYTES_MAX);
        write!(f, "{kept:?}")?;
        if cut {
            // Not "...": an error message never ends with a period.
            f.write_str(" (cut)")?;
        }
        Ok(())
    }
}

/// Cuts `s` to at most `MESSAGE_BYTES_MAX` bytes on a char boundary; true when
/// something was cut.
pub fn truncate_message(s: &str) -> (&str, bool) {
    cut_to(s, MESSAGE_BYTES_MAX)
}

fn cut_to(s: &str, bytes_max: usize) -> (&str, bool) {
    if s.len() <= bytes_max {
        return (s, false);
    }
    let mut end = bytes_max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// True when arrays and objects in `body` nest deeper than `max` (the
/// outermost bracket counts as 1). A byte scan that skips strings (with their
/// escapes), run before serde so a hostile body cannot make it recurse.
pub fn json_depth_exceeds(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Reads an `application/json` log body: one entry, an array of entries, or
/// `{"entries": [...]}`. All or nothing.
pub fn parse_json_body(body: &[u8]) -> Result<Vec<IngestedEntry>, IngestError> {
    if body.len() > JSON_BODY_BYTES_MAX {
        return Err(IngestError::BodyTooLarge { size: body.len() });
    }
    if json_depth_exceeds(body, JSON_DEPTH_MAX) {
        return Err(IngestError::TooDeep { line: None });
    }
    let mut batch = Batch::default();
    let mut reader = serde_json::Deserializer::from_slice(body);
    let visitor = BatchVisitor {
        batch: &mut batch,
        mode: Mode::Body,
    };
    let read = (&mut reader)
        .deserialize_any(visitor)
        .and_then(|()| reader.end());
    // A refusal of ours travels through serde as an opaque error; the real
    // reason waits in `batch.refusal`.
    match (batch.refusal, read) {
        (Some(error), _) => Err(error),
        (None, Err(error)) => Err(syntax_error(&error, None)),
        (None, Ok(())) => Ok(batch.entries),
    }
}

/// Reads an `application/x-ndjson` log body: one entry object per line (LF
/// or CRLF), blank lines skipped. All or nothing.
pub fn parse_ndjson_body(body: &[u8]) -> Result<Vec<IngestedEntry>, IngestError> {
    if body.len() > JSON_BODY_BYTES_MAX {
        return Err(IngestError::BodyTooLarge { size: body.len() });
    }
    let mut entries = Vec::new();
    for (line_index, line) in body.split(|&byte| byte == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line
            .iter()
            .all(|&byte| matches!(byte, b' ' | b'\t' | b'\r'))
        {
            continue;
        }
        let entry = ndjson_entry(line, line_index + 1, entries.len())?;
        entries.push(entry);
    }
    Ok(entries)
}

fn ndjson_entry(text: &[u8], line: usize, index: usize) -> Result<IngestedEntry, IngestError> {
    if let Some(entry) = plain_entry(text) {
        return Ok(entry);
    }
    if json_depth_exceeds(text, JSON_DEPTH_MAX) {
        return Err(IngestError::TooDeep { line: Some(line) });
    }
    let value: Value =
        serde_json::from_slice(text).map_err(|error| syntax_error(&error, Some(line)))?;
    entry_from_value(value).map_err(|fault| IngestError::Entry {
        index,
        line: Some(line),
        fault,
    })
}

/// The shape `sessions-lite run` sends, read without serde:
/// `{"level":"L","timestamp":"T","message":"M"}` in that order, with no
/// space, and no escape or control character in any string. Anything else
/// (or a level or time that does not parse) is `None`, and the general
/// path reads it, with its errors: the result is always the one serde's
/// path gives. Two thirds of the server's time went into serde's `Value`
/// for such lines (`bench/run.sh`, "run wrapper").
fn plain_entry(text: &[u8]) -> Option<IngestedEntry> {
    let rest = text.strip_prefix(b"{\"level\":")?;
    let (level, rest) = plain_string(rest)?;
    let rest = rest.strip_prefix(b",\"timestamp\":")?;
    let (timestamp, rest) = plain_string(rest)?;
    let rest = rest.strip_prefix(b",\"message\":")?;
    let (message, rest) = plain_string(rest)?;
    if rest != b"}" {
        return None;
    }
    let (kept, truncated) = truncate_message(message);
    Some(IngestedEntry {
        level: Level::parse(level)?,
        message: kept.to_owned(),
        truncated,
        data: None,
        timestamp_ms: Some(parse_rfc3339(timestamp)?),
    })
}

/// A JSON string at the start of `bytes` that needs no unescaping, and
/// what follows it.
fn plain_string(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let body = bytes.strip_prefix(b"\"")?;
    let end = body
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
    if body[end] != b'"' {
        return None;
    }
    let text = std::str::from_utf8(&body[..end]).ok()?;
    Some((text, &body[end + 1..]))
}

/// serde's error without its " at line L column C" suffix, which we store
/// apart (for NDJSON, `line` replaces serde's, which is always 1).
fn syntax_error(error: &serde_json::Error, line: Option<usize>) -> IngestError {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let detail = text.strip_suffix(&position).unwrap_or(&text).to_string();
    IngestError::Syntax {
        line: line.unwrap_or(error.line()),
        column: error.column(),
        detail,
    }
}

/// Entries read so far, and the refusal that stopped the read, if any.
#[derive(Default)]
struct Batch {
    entries: Vec<IngestedEntry>,
    refusal: Option<IngestError>,
}

impl Batch {
    fn push<E: de::Error>(&mut self, value: Value) -> Result<(), E> {
        let index = self.entries.len();
        match entry_from_value(value) {
            Ok(entry) => {
                self.entries.push(entry);
                Ok(())
            }
            Err(fault) => self.refuse(IngestError::Entry {
                index,
                line: None,
                fault,
            }),
        }
    }

    fn refuse<E: de::Error>(&mut self, error: IngestError) -> Result<(), E> {
        self.refusal = Some(error);
        Err(E::custom("refused"))
    }

    /// A top-level object: `{"entries": [...]}` when its first field is
    /// `entries`, else one entry.
    fn read_object<'de, A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return self.push(Value::Object(Map::new()));
        };
        if first == "entries" {
            map.next_value_seed(BatchVisitor {
                batch: self,
                mode: Mode::Entries,
            })?;
            return match map.next_key::<String>()? {
                Some(field) => self.refuse(IngestError::EntriesNotAlone { field }),
                None => Ok(()),
            };
        }
        let mut object = Map::new();
        object.insert(first.clone(), map.next_value()?);
        while let Some(field) = map.next_key::<String>()? {
            if field == "entries" {
                return self.refuse(IngestError::EntriesNotAlone { field: first });
            }
            let value = map.next_value()?;
            object.insert(field, value);
        }
        self.push(Value::Object(object))
    }
}

/// Where the visitor stands: at the top of the body, or at the value of
/// `"entries"`.
#[derive(Clone, Copy)]
enum Mode {
    Body,
    Entries,
}

/// Streams a batch: each array element becomes an entry as soon as it is read.
struct BatchVisitor<'a> {
    batch: &'a mut Batch,
    mode: Mode,
}

impl BatchVisitor<'_> {
    fn refuse_type<E: de::Error>(self, found: &'static str) -> Result<(), E> {
        let error = match self.mode {
            Mode::Body => IngestError::NotEntries { found },
            Mode::Entries => IngestError::EntriesNotArray { found },
        };
        self.batch.refuse(error)
    }
}

impl<'de> DeserializeSeed<'de> for BatchVisitor<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BatchVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a log entry or an array of log entries")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.refuse_type("a boolean")
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.refuse_type("a number")
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.refuse_type("a number")
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.refuse_type("a number")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.refuse_type("a string")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.refuse_type("null")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            self.batch.push(value)?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        match self.mode {
            Mode::Body => self.batch.read_object(map),
            Mode::Entries => self.refuse_type("an object"),
        }
    }
}

fn entry_from_value(value: Value) -> Result<IngestedEntry, EntryFault> {
    let Value::Object(object) = value else {
        return Err(EntryFault::NotObject {
            found: json_kind(&value),
        });
    };
    let mut message = None;
    let mut entry = IngestedEntry {
        level: Level::Info,
        message: String::new(),
        truncated: false,
        data: None,
        timestamp_ms: None,
    };
    for (field, value) in object {
        match field.as_str() {
            "message" => message = Some(message_from(value)?),
            "level" => entry.level = level_from(value)?,
            "data" => entry.data = data_from(value)?,
            "timestamp" => entry.timestamp_ms = timestamp_from(value)?,
            _ => return Err(EntryFault::FieldUnknown { field }),
        }
    }
    (entry.message, entry.truncated) = message.ok_or(EntryFault::MessageMissing)?;
    Ok(entry)
}

fn message_from(value: Value) -> Result<(String, bool), EntryFault> {
    let Value::String(mut message) = value else {
        return Err(wrong_type("message", "a string", &value));
    };
    let (kept, truncated) = truncate_message(&message);
    if truncated {
        message.truncate(kept.len());
        message.shrink_to_fit();
    }
    Ok((message, truncated))
}

fn level_from(value: Value) -> Result<Level, EntryFault> {
    match value {
        Value::Null => Ok(Level::Info),
        Value::String(name) => Level::parse(&name).ok_or(EntryFault::LevelUnknown { name }),
        other => Err(wrong_type("level", "a string", &other)),
    }
}

fn data_from(value: Value) -> Result<Option<String>, EntryFault> {
    match value {
        Value::Null => Ok(None),
        Value::Object(_) => {
            let data = value.to_string();
            if data.len() > ENTRY_DATA_BYTES_MAX {
                return Err(EntryFault::DataTooLarge { size: data.len() });
            }
            Ok(Some(data))
        }
        other => Err(wrong_type("data", "an object", &other)),
    }
}

fn timestamp_from(value: Value) -> Result<Option<u64>, EntryFault> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => match parse_rfc3339(&text) {
            Some(ms) => Ok(Some(ms)),
            None => Err(EntryFault::TimestampInvalid { text }),
        },
        other => Err(wrong_type("timestamp", "an RFC 3339 string", &other)),
    }
}

fn wrong_type(field: &'static str, expected: &'static str, value: &Value) -> EntryFault {
    EntryFault::WrongType {
        field,
        expected,
        found: json_kind(value),
    }
}

/// A JSON value's type, as an error message names it.
/// What a JSON value is, for messages: "a string", "null", ...
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Raw bytes kept past the message limit: enough for the lossy UTF-8 decoder
/// to decide every character that can still fit (a sequence is at most 4
/// bytes), so a cut line reads the same however its bytes arrived.
const LOOKAHEAD_BYTES: usize = 4;

/// Splits a plain-text body into lines as its bytes arrive, in bounded
/// memory. A line ends at LF (one `\r` before it is dropped); empty lines
/// make no entry; invalid UTF-8 becomes U+FFFD as in
/// `String::from_utf8_lossy`; a line over `MESSAGE_BYTES_MAX` (after that
/// conversion) is cut on a char boundary and flagged truncated.
///
/// **Invariant:** the emitted `(message, truncated)` sequence does not depend
/// on how the input is split into `feed` calls.
pub struct TextLines {
    /// The current line's first bytes: at most `bytes_max + LOOKAHEAD_BYTES`.
    line: Vec<u8>,
    /// Bytes of the current line were dropped: it is over the limit.
    overflowed: bool,
    /// `MESSAGE_BYTES_MAX`, smaller in tests.
    bytes_max: usize,
}

impl Default for TextLines {
    fn default() -> Self {
        Self::new()
    }
}

impl TextLines {
    pub fn new() -> Self {
        Self::with_bytes_max(MESSAGE_BYTES_MAX)
    }

    fn with_bytes_max(bytes_max: usize) -> Self {
        TextLines {
            line: Vec::new(),
            overflowed: false,
            bytes_max,
        }
    }

    /// Takes the next bytes of the body; emits every line they complete.
    pub fn feed(&mut self, bytes: &[u8], emit: &mut dyn FnMut(&str, bool)) {
        let valid = valid_prefix(bytes);
        let mut start = 0;
        while let Some(newline) = find_newline(&bytes[start..]) {
            let end = start + newline;
            if self.line.is_empty() && newline <= self.bytes_max {
                // The whole line is in this piece: emit it from where it
                // lies instead of copying it into `line` first, without a
                // second UTF-8 check when it lies in the valid prefix (a
                // line starts and ends beside a `\n`, so on char boundaries).
                match valid.get(start..end) {
                    Some(text) => emit_text(text, true, self.bytes_max, emit),
                    None => emit_line(&bytes[start..end], true, false, self.bytes_max, emit),
                }
            } else {
                self.keep(&bytes[start..end]);
                self.end_line(true, emit);
            }
            start = end + 1;
        }
        self.keep(&bytes[start..]);
    }

    /// Bytes of a line without its newline are held: `finish` would emit
    /// it. (Its caller can skip the session look-up when not.)
    pub fn has_partial_line(&self) -> bool {
        !self.line.is_empty()
    }

    /// The body is complete: emits its last line if it had no newline.
    pub fn finish(&mut self, emit: &mut dyn FnMut(&str, bool)) {
        self.end_line(false, emit);
    }

    /// Appends to the current line what fits under the cap; drops the rest.
    fn keep(&mut self, bytes: &[u8]) {
        let cap = self.bytes_max + LOOKAHEAD_BYTES;
        let take = bytes.len().min(cap - self.line.len());
        if take < bytes.len() {
            self.overflowed = true;
        }
        // Grow as Vec would (doubling), but never past the cap.
        let wanted = (self.line.len() + take)
            .max(self.line.capacity() * 2)
            .min(cap);
        self.line.reserve_exact(wanted - self.line.len());
        self.line.extend_from_slice(&bytes[..take]);
        debug_assert!(self.line.len() <= cap);
    }

    fn end_line(&mut self, newline: bool, emit: &mut dyn FnMut(&str, bool)) {
        emit_line(&self.line, newline, self.overflowed, self.bytes_max, emit);
        self.line.clear();
        self.overflowed = false;
    }
}

/// The longest valid UTF-8 start of `bytes`: all of a piece in the common
/// case, checked once for the piece rather than once per line (`from_utf8`
/// over 4 KiB costs a fraction of fifty calls over its lines).
fn valid_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        // Rare: the decoder finds the same prefix again, one byte at a time.
        Err(error) => bytes[..error.valid_up_to()]
            .utf8_chunks()
            .next()
            .map_or("", |chunk| chunk.valid()),
    }
}

/// Emits one line's bytes (without its `\n`) as an entry, unless empty.
fn emit_line(
    raw: &[u8],
    newline: bool,
    overflowed: bool,
    bytes_max: usize,
    emit: &mut dyn FnMut(&str, bool),
) {
    // Valid UTF-8 is the common case, and `from_utf8` checks it much faster
    // than the lossy decoder walks it. (A `\r` decodes to itself, so
    // dropping it after decoding drops the same byte.)
    let text = match std::str::from_utf8(raw) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(raw),
    };
    if overflowed {
        // When bytes were dropped the `\r` before the newline was among
        // them, and the line is not empty.
        let (message, _) = cut_to(&text, bytes_max);
        emit(message, true);
    } else {
        emit_text(&text, newline, bytes_max, emit);
    }
}

/// Emits one whole line of text (without its `\n`, and without a `\r`
/// before it when `newline`) as an entry, unless empty.
fn emit_text(text: &str, newline: bool, bytes_max: usize, emit: &mut dyn FnMut(&str, bool)) {
    let text = if newline {
        text.strip_suffix('\r').unwrap_or(text)
    } else {
        text
    };
    if text.is_empty() {
        return;
    }
    let (message, truncated) = cut_to(text, bytes_max);
    emit(message, truncated);
}

/// The index of the first `\n` (this search is most of ingest's work).
/// Skips 32 bytes at a time: with no early exit inside a chunk, the
/// compiler compares all of it at once (SSE2), about ten instructions per
/// chunk in safe code; then finds the byte eight at a time.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const SKIP_BYTES: usize = 32;
    let mut skipped = 0;
    for chunk in bytes.chunks_exact(SKIP_BYTES) {
        if chunk
            .iter()
            .fold(false, |found, &byte| found | (byte == b'\n'))
        {
            break;
        }
        skipped += SKIP_BYTES;
    }
    find_newline_in_words(&bytes[skipped..]).map(|index| skipped + index)
}

/// The index of the first `\n`, eight bytes at a time (a word-wide
/// compare: the lowest flagged byte of a word is exact, as a borrow only
/// runs upwards from a byte that matched).
fn find_newline_in_words(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let diff = u64::from_le_bytes(word) ^ NEWLINES;
        let found = diff.wrapping_sub(ONES) & !diff & HIGHS;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&byte| byte == b'\n')
        .map(|index| offset + index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::rfc3339_ms;

    /// Found by fuzzing (json_ingest): a long client string cut with "..."
    /// at the end of an error made the message end with a period.
    #[test]
    fn an_error_quoting_a_cut_string_does_not_end_with_a_period() {
        let body = format!("{{\"entries\": [], \"{}\": 1}}", "r".repeat(200));
        let Err(error) = parse_json_body(body.as_bytes()) else {
            panic!("a body with a field beside entries is refused");
        };
        assert!(!error.message().ends_with('.'), "{}", error.message());
    }

    #[test]
    fn find_newline_agrees_with_a_plain_search() {
        let mut input = vec![b'a'; 100];
        assert_eq!(find_newline(&input), None);
        for at in 0..input.len() {
            input[at] = b'\n';
            for start in 0..=at {
                let want = input[start..].iter().position(|&byte| byte == b'\n');
                assert_eq!(find_newline(&input[start..]), want, "at {at} start {start}");
            }
            // Bytes that a word-wide compare might mistake for a newline
            // just after it.
            if at + 1 < input.len() {
                input[at + 1] = b'\n' + 1;
                assert_eq!(find_newline(&input[at..]), Some(0), "at {at} then 0x0b");
                input[at + 1] = b'\n';
                assert_eq!(find_newline(&input[at..]), Some(0), "at {at} twice");
                input[at + 1] = b'a';
            }
            input[at] = 0x8a; // a high byte that is not a newline
        }
        assert_eq!(find_newline(&input), None);
    }

    fn render(result: Result<Vec<IngestedEntry>, IngestError>) -> String {
        match result {
            Ok(entries) => entries
                .iter()
                .map(render_entry)
                .collect::<Vec<_>>()
                .join("\n"),
            Err(error) => format!("{} {}", error.status(), error.message()),
        }
    }

    fn render_entry(entry: &IngestedEntry) -> String {
        let mut out = format!("{} {:?}", entry.level.as_str(), entry.message);
        if entry.truncated {
            out.push_str(" truncated");
        }
        if let Some(data) = &entry.data {
            out.push_str(&format!(" data={data}"));
        }
        if let Some(ms) = entry.timestamp_ms {
            out.push_str(&format!(" at={}", rfc3339_ms(ms)));
        }
        out
    }

    fn check(input: &str, expected: &str) {
        assert_eq!(
            render(parse_json_body(input.as_bytes())),
            expected,
            "body {input}"
        );
    }

    fn check_ndjson(input: &str, expected: &str) {
        assert_eq!(
            render(parse_ndjson_body(input.as_bytes())),
            expected,
            "body {input:?}"
        );
    }

    fn run_text(chunks: &[&[u8]], bytes_max: usize) -> Vec<(String, bool)> {
        let mut lines = TextLines::with_bytes_max(bytes_max);
        let mut out = Vec::new();
        let mut emit = |message: &str, truncated: bool| out.push((message.to_string(), truncated));
        for chunk in chunks {
            lines.feed(chunk, &mut emit);
        }
        lines.finish(&mut emit);
        out
    }

    fn check_text(input: &[u8], expected: &str) {
        let rendered: Vec<String> = run_text(&[input], MESSAGE_BYTES_MAX)
            .iter()
            .map(|(message, truncated)| match truncated {
                true => format!("{message:?} truncated"),
                false => format!("{message:?}"),
            })
            .collect();
        assert_eq!(rendered.join("\n"), expected, "input {input:?}");
    }

    /// What TextLines must emit, from the whole input at once.
    fn text_model(input: &[u8], bytes_max: usize) -> Vec<(String, bool)> {
        let text = String::from_utf8_lossy(input);
        let segments: Vec<&str> = text.split('\n').collect();
        let last = segments.len() - 1;
        segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i < last {
                    s.strip_suffix('\r').unwrap_or(s)
                } else {
                    s
                }
            })
            .filter(|line| !line.is_empty())
            .map(|line| {
                let (kept, truncated) = cut_to(line, bytes_max);
                (kept.to_string(), truncated)
            })
            .collect()
    }

    fn nested(open: &str, close: &str, levels: usize, inner: &str) -> String {
        format!("{}{inner}{}", open.repeat(levels), close.repeat(levels))
    }

    #[test]
    fn json_shapes() {
        check(r#"{"message": "hi"}"#, r#"info "hi""#);
        check(
            r#"[{"message": "a"}, {"message": "b"}]"#,
            "info \"a\"\ninfo \"b\"",
        );
        check(
            r#"{"entries": [{"message": "a"}, {"message": "b"}]}"#,
            "info \"a\"\ninfo \"b\"",
        );
        check("[]", "");
        check(r#"{"entries": []}"#, "");
        check(" \r\n\t[ ] \n", "");
        check(
            "\"text\"",
            r#"400 body must be an entry object, an array of entries or {"entries": [...]}, found a string"#,
        );
        check(
            "12",
            r#"400 body must be an entry object, an array of entries or {"entries": [...]}, found a number"#,
        );
        check(
            "null",
            r#"400 body must be an entry object, an array of entries or {"entries": [...]}, found null"#,
        );
        check(
            r#"{"entries": {}}"#,
            r#"400 "entries" must be an array, found an object"#,
        );
        check(
            r#"{"entries": "a"}"#,
            r#"400 "entries" must be an array, found a string"#,
        );
        check(
            r#"{"entries": [], "level": "warn"}"#,
            r#"400 a body with "entries" must have no other field, found "level""#,
        );
        check(
            r#"{"message": "a", "entries": []}"#,
            r#"400 a body with "entries" must have no other field, found "message""#,
        );
        check(
            r#"{"entries": [], "entries": []}"#,
            r#"400 "entries" appears twice in the body"#,
        );
        check("{}", "400 entry 0: message is required");
        check(
            r#"[{"message": "a"}, 7]"#,
            "400 entry 1: expected an object, found a number",
        );
        check(
            r#"[[{"message": "a"}]]"#,
            "400 entry 0: expected an object, found an array",
        );
    }

    #[test]
    fn json_syntax_errors_carry_serde_positions() {
        check(
            "",
            "400 invalid JSON at line 1 column 0: EOF while parsing a value",
        );
        check(
            "{\"message\": \"a\"",
            "400 invalid JSON at line 1 column 15: EOF while parsing an object",
        );
        check(
            "[{\"message\": \"a\"},\n {\"message\": x}]",
            "400 invalid JSON at line 2 column 14: expected value",
        );
        check(
            r#"{"message": "a"} {}"#,
            "400 invalid JSON at line 1 column 18: trailing characters",
        );
        check(
            "[{\"message\": \"\\ud800\"}]",
            "400 invalid JSON at line 1 column 21: unexpected end of hex escape",
        );
        assert_eq!(
            render(parse_json_body(b"{\"message\": \"\xff\"}")),
            "400 invalid JSON at line 1 column 14: invalid unicode code point"
        );
    }

    #[test]
    fn json_entry_errors_name_the_index() {
        let ok = r#"{"message": "ok"}"#;
        check(
            &format!(r#"[{ok}, {ok}, {ok}, {{"message": "x", "level": "loud"}}]"#),
            r#"400 entry 3: level "loud" is not one of debug, info, warn, error"#,
        );
        check(
            &format!(r#"{{"entries": [{ok}, {{"level": "warn"}}]}}"#),
            "400 entry 1: message is required",
        );
        check(
            r#"[{"message": 5}]"#,
            "400 entry 0: message must be a string, found a number",
        );
        check(
            r#"[{"message": null}]"#,
            "400 entry 0: message must be a string, found null",
        );
        check(
            r#"[{"message": "a", "level": 3}]"#,
            "400 entry 0: level must be a string, found a number",
        );
        check(
            r#"[{"message": "a", "data": [1]}]"#,
            "400 entry 0: data must be an object, found an array",
        );
        check(
            r#"[{"message": "a", "data": "x"}]"#,
            "400 entry 0: data must be an object, found a string",
        );
        check(
            r#"[{"message": "a", "timestamp": 17}]"#,
            "400 entry 0: timestamp must be an RFC 3339 string, found a number",
        );
        check(
            r#"[{"message": "a", "timestamp": "yesterday"}]"#,
            r#"400 entry 0: timestamp "yesterday" is not an RFC 3339 date-time from 1970 to 9999"#,
        );
        check(
            r#"[{"message": "a", "timestamp": "1969-12-31T23:59:59Z"}]"#,
            r#"400 entry 0: timestamp "1969-12-31T23:59:59Z" is not an RFC 3339 date-time from 1970 to 9999"#,
        );
        // The batch is all or nothing: a bad entry after good ones refuses all.
        check(
            &format!(r#"[{ok}, {ok}, true]"#),
            "400 entry 2: expected an object, found a boolean",
        );
        let long_name = "x".repeat(100);
        check(
            &format!(r#"{{"message": "a", "level": "{long_name}"}}"#),
            &format!(
                "400 entry 0: level \"{}\" (cut) is not one of debug, info, warn, error",
                "x".repeat(64)
            ),
        );
    }

    #[test]
    fn json_unknown_fields_are_refused() {
        check(
            r#"{"mesage": "typo"}"#,
            r#"400 entry 0: unknown field "mesage" (an entry has message, level, data, timestamp)"#,
        );
        check(
            r#"[{"message": "a"}, {"message": "b", "cursor": 4}]"#,
            r#"400 entry 1: unknown field "cursor" (an entry has message, level, data, timestamp)"#,
        );
        check(
            r#"{"message": "a", "Level": "warn"}"#,
            r#"400 entry 0: unknown field "Level" (an entry has message, level, data, timestamp)"#,
        );
        check(
            r#"[{"message": "a", "entries": []}]"#,
            r#"400 entry 0: unknown field "entries" (an entry has message, level, data, timestamp)"#,
        );
    }

    #[test]
    fn json_levels_and_aliases() {
        let cases = [
            ("debug", "debug"),
            ("TRACE", "debug"),
            ("Info", "info"),
            ("warn", "warn"),
            ("Warning", "warn"),
            ("error", "error"),
            ("ERR", "error"),
            ("fatal", "error"),
            ("critical", "error"),
        ];
        for (name, level) in cases {
            check(
                &format!(r#"{{"message": "m", "level": "{name}"}}"#),
                &format!(r#"{level} "m""#),
            );
        }
        check(r#"{"message": "m", "level": null}"#, r#"info "m""#);
        check(
            r#"{"message": "m", "level": ""}"#,
            r#"400 entry 0: level "" is not one of debug, info, warn, error"#,
        );
    }

    #[test]
    fn json_timestamps_and_data() {
        check(
            r#"{"message": "m", "timestamp": "2026-11-24T12:05:12.3456+02:00"}"#,
            r#"info "m" at=2026-11-24T10:05:12.345Z"#,
        );
        check(
            r#"{"message": "m", "timestamp": null, "data": null}"#,
            r#"info "m""#,
        );
        check(
            r#"{"message": "m", "data": {"z": [1, {"b": null}], "a": "x\"y"}}"#,
            r#"info "m" data={"a":"x\"y","z":[1,{"b":null}]}"#,
        );
        check(r#"{"message": "m", "data": {}}"#, r#"info "m" data={}"#);
        check(r#"{"message": "a", "message": "b"}"#, r#"info "b""#);
        check(r#"{"message": "\u00e9\n\t\u0000"}"#, r#"info "é\n\t\0""#);
    }

    #[test]
    fn json_data_at_its_limit() {
        // {"k":"xxx..."} serializes to 8 bytes plus the string.
        let body = |size: usize| {
            let value = "x".repeat(size - 8);
            format!(r#"[{{"message": "ok"}}, {{"message": "m", "data": {{"k": "{value}"}}}}]"#)
        };
        for size in [ENTRY_DATA_BYTES_MAX - 1, ENTRY_DATA_BYTES_MAX] {
            let entries = parse_json_body(body(size).as_bytes()).expect("data at the limit");
            assert_eq!(entries[1].data.as_ref().map(String::len), Some(size));
        }
        check(
            &body(ENTRY_DATA_BYTES_MAX + 1),
            "413 entry 1: data is 65537 bytes serialized, over the limit of 65536",
        );
    }

    #[test]
    fn json_messages_are_truncated_on_char_boundaries() {
        let message_body = |message: &str| format!(r#"{{"message": "{message}"}}"#);
        for size in [
            MESSAGE_BYTES_MAX - 1,
            MESSAGE_BYTES_MAX,
            MESSAGE_BYTES_MAX + 1,
        ] {
            let entries =
                parse_json_body(message_body(&"a".repeat(size)).as_bytes()).expect("json");
            assert_eq!(entries[0].message.len(), size.min(MESSAGE_BYTES_MAX));
            assert_eq!(entries[0].truncated, size > MESSAGE_BYTES_MAX);
        }
        let straddling = format!("{}é", "a".repeat(MESSAGE_BYTES_MAX - 1));
        let entries = parse_json_body(message_body(&straddling).as_bytes()).expect("json");
        assert_eq!(entries[0].message, "a".repeat(MESSAGE_BYTES_MAX - 1));
        assert!(entries[0].truncated);
    }

    #[test]
    fn json_depth_limit() {
        // Body, entries array and entry are 3 levels; data adds the rest.
        let batch = |data_levels: usize| {
            let data = nested(r#"{"a": "#, "}", data_levels, "1");
            format!(r#"{{"entries": [{{"message": "m", "data": {data}}}]}}"#)
        };
        assert!(parse_json_body(batch(JSON_DEPTH_MAX - 3).as_bytes()).is_ok());
        check(
            &batch(JSON_DEPTH_MAX - 2),
            "400 arrays and objects nest deeper than 32 levels",
        );
        let entry = |data_levels: usize| {
            format!(
                r#"{{"message": "m", "data": {}}}"#,
                nested(r#"{"a": "#, "}", data_levels, "[]")
            )
        };
        // The entry is level 1 and the empty array the innermost level.
        assert!(parse_json_body(entry(JSON_DEPTH_MAX - 2).as_bytes()).is_ok());
        check(
            &entry(JSON_DEPTH_MAX - 1),
            "400 arrays and objects nest deeper than 32 levels",
        );
        let arrays = |levels: usize| nested("[", "]", levels, "");
        check(
            &arrays(JSON_DEPTH_MAX),
            "400 entry 0: expected an object, found an array",
        );
        check(
            &arrays(JSON_DEPTH_MAX + 1),
            "400 arrays and objects nest deeper than 32 levels",
        );
        check(
            &arrays(100_000),
            "400 arrays and objects nest deeper than 32 levels",
        );
    }

    #[test]
    fn depth_scan_skips_strings() {
        let cases: [(&str, usize, bool); 9] = [
            ("[]", 1, false),
            ("[[]]", 1, true),
            (r#"{"a": "[[[[["}"#, 1, false),
            (r#"{"a": "\"[[["}"#, 1, false),
            (r#"{"a": "\\", "b": [[]]}"#, 2, true),
            (r#"{"a": "\\\"[", "b": []}"#, 2, false),
            ("]]]]][[", 2, false),
            ("]]]]][[[", 2, true),
            ("\"[[[[", 0, false),
        ];
        for (body, max, exceeds) in cases {
            assert_eq!(
                json_depth_exceeds(body.as_bytes(), max),
                exceeds,
                "{body} max {max}"
            );
        }
    }

    #[test]
    fn json_body_over_its_limit() {
        let body = vec![b' '; JSON_BODY_BYTES_MAX + 1];
        assert_eq!(
            render(parse_json_body(&body)),
            "413 body is 8388609 bytes, over the limit of 8388608"
        );
        assert_eq!(parse_ndjson_body(&body).map_err(|e| e.status()), Err(413));
    }

    #[test]
    fn ndjson_lines() {
        check_ndjson(
            "{\"message\": \"a\"}\n{\"message\": \"b\", \"level\": \"warn\"}\n",
            "info \"a\"\nwarn \"b\"",
        );
        check_ndjson(
            "{\"message\": \"a\"}\r\n\r\n  \n{\"message\": \"b\"}",
            "info \"a\"\ninfo \"b\"",
        );
        check_ndjson("", "");
        check_ndjson("\n\r\n \t\n", "");
        check_ndjson("{\"message\": \"a\\r\"}\r\n", "info \"a\\r\"");
        check_ndjson("{\"message\": \"a\"}\n\n{\"message\": \"b\"}\n{\"level\": \"loud\", \"message\": \"c\"}\n",
            "400 entry 2 (line 4): level \"loud\" is not one of debug, info, warn, error");
        check_ndjson(
            "{\"message\": \"a\"}\n\n{\"message\": x}\n",
            "400 invalid JSON at line 3 column 13: expected value",
        );
        check_ndjson(
            "{\"message\": \"a\"}\n{\"message\": \"b\",\n\"level\": \"warn\"}\n",
            "400 invalid JSON at line 2 column 16: EOF while parsing a value",
        );
        check_ndjson(
            "{\"message\": \"a\"} {\"message\": \"b\"}\n",
            "400 invalid JSON at line 1 column 18: trailing characters",
        );
        check_ndjson(
            "[{\"message\": \"a\"}]\n",
            "400 entry 0 (line 1): expected an object, found an array",
        );
        check_ndjson(
            "\n\"text\"\n",
            "400 entry 0 (line 2): expected an object, found a string",
        );
        check_ndjson(
            "{\"message\": \"a\", \"data\": 1}",
            "400 entry 0 (line 1): data must be an object, found a number",
        );
        check_ndjson("{\"entries\": []}", "400 entry 0 (line 1): unknown field \"entries\" (an entry has message, level, data, timestamp)");
        let deep = format!(
            "{{\"message\": \"a\"}}\n{{\"message\": \"b\", \"data\": {}}}\n",
            nested("[", "]", 32, "")
        );
        check_ndjson(
            &deep,
            "400 line 2: arrays and objects nest deeper than 32 levels",
        );
        let deepest_ok = format!(
            "{{\"message\": \"b\", \"data\": {{\"a\": {}}}}}",
            nested("[", "]", 30, "")
        );
        check_ndjson(
            &deepest_ok,
            "info \"b\" data={\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
        );
        let big = format!(
            "{{\"message\": \"a\", \"data\": {{\"k\": \"{}\"}}}}",
            "x".repeat(ENTRY_DATA_BYTES_MAX)
        );
        check_ndjson(
            &big,
            "413 entry 0 (line 1): data is 65544 bytes serialized, over the limit of 65536",
        );
    }

    #[test]
    fn text_lines() {
        check_text(b"one\ntwo\n", "\"one\"\n\"two\"");
        check_text(b"one\r\ntwo\r\n", "\"one\"\n\"two\"");
        check_text(b"one\r\n\r\n\n\ntwo", "\"one\"\n\"two\"");
        check_text(b"", "");
        check_text(b"\n\r\n", "");
        check_text(b"a\r\r\nb\rc\n", "\"a\\r\"\n\"b\\rc\"");
        check_text(b"last\r", "\"last\\r\"");
        check_text(b" \t \n", "\" \\t \"");
        check_text(
            b"bad \xff byte\n\xe2\x82\n\xf0\x9f\x98\x80 ok\n",
            "\"bad \u{fffd} byte\"\n\"\u{fffd}\"\n\"😀 ok\"",
        );
        check_text(
            b"\xc0\xaf\xed\xa0\x80\n",
            "\"\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\"",
        );
    }

    #[test]
    fn valid_prefix_stops_at_the_first_invalid_or_unfinished_char() {
        assert_eq!(valid_prefix(b"one\ntwo\n"), "one\ntwo\n");
        assert_eq!(valid_prefix("é\n😀".as_bytes()), "é\n😀");
        assert_eq!(valid_prefix(b"ok\n\xffok\n"), "ok\n");
        assert_eq!(valid_prefix(b"ok\n\xf0\x9f\x98"), "ok\n");
        assert_eq!(valid_prefix(b"\xc3"), "");
        assert_eq!(valid_prefix(b""), "");
    }

    #[test]
    fn text_lines_after_an_invalid_byte_in_the_same_piece() {
        check_text(
            b"before\n\xffbad\nafter\r\n\xe2\x82\xac\n",
            "\"before\"\n\"\u{fffd}bad\"\n\"after\"\n\"\u{20ac}\"",
        );
    }

    #[test]
    fn text_final_line_waits_for_finish() {
        let mut lines = TextLines::new();
        let mut out = Vec::new();
        lines.feed(b"done\n", &mut |m, t| out.push((m.to_string(), t)));
        assert!(!lines.has_partial_line());
        lines.feed(b"partial", &mut |m, t| out.push((m.to_string(), t)));
        assert!(lines.has_partial_line());
        assert_eq!(out, [("done".to_string(), false)]);
        lines.finish(&mut |m, t| out.push((m.to_string(), t)));
        assert!(!lines.has_partial_line());
        assert_eq!(out[1], ("partial".to_string(), false));
        lines.finish(&mut |m, t| out.push((m.to_string(), t)));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn text_long_lines_at_the_limit() {
        let max = MESSAGE_BYTES_MAX;
        // Around the limit, and around the raw bytes kept (limit + 4).
        let sizes = [max - 1, max, max + 1, max + 3, max + 4, max + 5];
        for size in sizes {
            for ending in ["\n", "\r\n", "\r\r\n", ""] {
                let input = format!("{}{ending}", "a".repeat(size));
                let whole = run_text(&[input.as_bytes()], max);
                assert_eq!(
                    whole,
                    text_model(input.as_bytes(), max),
                    "size {size} {ending:?}"
                );
                let kept = size + usize::from(ending == "\r\r\n");
                assert_eq!(whole.len(), 1);
                assert_eq!(whole[0].0.len(), kept.min(max), "size {size} {ending:?}");
                assert_eq!(whole[0].1, kept > max, "size {size} {ending:?}");
                let bytes: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
                assert_eq!(
                    run_text(&bytes, max),
                    whole,
                    "size {size} {ending:?} byte by byte"
                );
            }
        }
        // A line whose raw bytes fit but whose U+FFFD replacements do not.
        let invalid = vec![0xffu8; max / 3 + 1];
        let lines = run_text(&[&invalid], max);
        assert_eq!(lines, [("\u{fffd}".repeat(max / 3), true)]);
        // A 4-byte char across the limit is dropped whole.
        let input = format!("{}😀\n", "a".repeat(max - 2));
        assert_eq!(
            run_text(&[input.as_bytes()], max),
            [("a".repeat(max - 2), true)]
        );
    }

    #[test]
    fn text_huge_line_is_not_buffered() {
        let mut lines = TextLines::new();
        let chunk = vec![b'x'; 1024 * 1024];
        let mut out = Vec::new();
        for _ in 0..64 {
            lines.feed(&chunk, &mut |m, t| out.push((m.len(), t)));
            assert!(lines.line.capacity() <= MESSAGE_BYTES_MAX + LOOKAHEAD_BYTES);
        }
        lines.feed(b"\nsmall\n", &mut |m, t| out.push((m.len(), t)));
        assert_eq!(out, [(MESSAGE_BYTES_MAX, true), (5, false)]);
    }

    #[test]
    fn text_split_at_every_position() {
        let inputs: [&[u8]; 6] = [
            b"one\r\ntwo\n\nthree",
            b"\xf0\x9f\x98\x80\xe2\x82\xac\xff\xc3\n\r\r\n",
            b"ab\rcd\r\n\xe2\x82\r\n\xf0\x9f\x98",
            b"0123456789\r\n012345678\r\n0123456789a\r\n",
            b"0123456\xf0\x9f\x98\x80\n01234567\xe2\x82\xac\r\n\xff\xff\xff\xff\n",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\r\r\r\r\r\r\r\r\r\r\n",
        ];
        for input in inputs {
            for bytes_max in [4, 8, 9, 10, MESSAGE_BYTES_MAX] {
                let whole = run_text(&[input], bytes_max);
                assert_eq!(
                    whole,
                    text_model(input, bytes_max),
                    "{input:?} max {bytes_max}"
                );
                for i in 0..=input.len() {
                    for j in i..=input.len() {
                        let split = run_text(&[&input[..i], &input[i..j], &input[j..]], bytes_max);
                        assert_eq!(split, whole, "{input:?} split at {i}, {j}, max {bytes_max}");
                    }
                }
            }
        }
    }

    #[test]
    fn text_random_inputs_match_the_model() {
        let pieces: [&[u8]; 10] = [
            b"a",
            b"bc",
            b"\n",
            b"\r",
            b"\r\n",
            b"\xff",
            b"\xe2\x82",
            b"\xac",
            b"\xf0\x9f\x98\x80",
            b"\xc3\xa9",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for _ in 0..3_000 {
            let input: Vec<u8> = (0..next(60))
                .flat_map(|_| pieces[next(pieces.len())].iter().copied())
                .collect();
            // 4 bytes hold any char, so no message is cut to nothing.
            let bytes_max = 4 + next(10);
            let mut chunks = Vec::new();
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(next(rest.len() + 1));
                chunks.push(chunk);
                rest = tail;
            }
            let lines = run_text(&chunks, bytes_max);
            assert_eq!(
                lines,
                text_model(&input, bytes_max),
                "{input:?} max {bytes_max}"
            );
            assert!(lines
                .iter()
                .all(|(m, _)| !m.is_empty() && m.len() <= bytes_max));
        }
    }

    #[test]
    fn truncate_message_cuts_on_char_boundaries() {
        let max = MESSAGE_BYTES_MAX;
        let short = "a".repeat(max);
        assert_eq!(truncate_message(&short), (short.as_str(), false));
        let long = "é".repeat(max / 2 + 1);
        let (kept, truncated) = truncate_message(&long);
        assert!(truncated);
        assert_eq!(kept.len(), max);
        let odd = format!("a{}", "é".repeat(max / 2));
        assert_eq!(truncate_message(&odd).0.len(), max - 1);
        assert_eq!(truncate_message(""), ("", false));
    }

    #[test]
    fn the_plain_ndjson_path_reads_what_serde_reads() {
        let long = format!(
            "{{\"level\":\"info\",\"timestamp\":\"2026-12-03T10:00:00.000Z\",\"message\":\"{}\"}}",
            "\u{e9}".repeat(MESSAGE_BYTES_MAX)
        );
        let lines: [&[u8]; 10] = [
            br#"{"level":"info","timestamp":"2026-12-03T10:00:00.000Z","message":"y"}"#,
            br#"{"level":"WARNING","timestamp":"2026-12-03T10:00:00.123Z","message":""}"#,
            long.as_bytes(),
            // These take the general path.
            br#"{"level":"warn","timestamp":"2026-12-03T10:00:00.000Z","message":"a\"b"}"#,
            br#"{"level":"loud","timestamp":"2026-12-03T10:00:00.000Z","message":"x"}"#,
            br#"{"level":"info","timestamp":"yesterday","message":"x"}"#,
            br#"{"level":"info","timestamp":"2026-12-03T10:00:00.000Z","message":"x","data":{}}"#,
            br#"{"level":"info","timestamp":"2026-12-03T10:00:00.000Z","message":"x"} "#,
            b"{\"level\":\"info\",\"timestamp\":\"2026-12-03T10:00:00.000Z\",\"message\":\"\xff\"}",
            b"{\"level\":\"info\",\"timestamp\":\"2026-12-03T10:00:00.000Z\",\"message\":\"tab\there\"}",
        ];
        for (index, line) in lines.iter().enumerate() {
            let general = serde_json::from_slice::<Value>(line)
                .map_err(|_| ())
                .and_then(|value| entry_from_value(value).map_err(|_| ()));
            match plain_entry(line) {
                Some(entry) => {
                    assert!(index < 3, "line {index} should take the general path");
                    assert_eq!(Ok(entry), general, "line {index}");
                }
                None => assert!(index >= 3, "line {index} should take the plain path"),
            }
        }
        let cut = plain_entry(long.as_bytes()).expect("plain");
        assert!(cut.truncated && cut.message.len() == MESSAGE_BYTES_MAX);
    }
}
