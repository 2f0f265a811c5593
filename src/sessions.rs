//! SessionTable: every session the server knows, active and ended, with
//! its metadata and its log. Pure: no I/O, no clock (time arrives as
//! `now_ms`), one owner, no locks. Sessions live in a `HashMap` keyed by
//! id (SipHash with random keys, so client-chosen ids cannot force
//! collisions), a `BTreeMap` from creation sequence to id gives the listing
//! order, and a `VecDeque` holds ended ids oldest-ended first so that
//! eviction is O(1). Every operation is O(1) or O(log n) except `list`.
//!
//! Strictness, where the contract is silent: a session body is a JSON
//! object whose keys are only `appname`, `mode`, `jobid` and `metadata`;
//! an unknown or repeated key is refused (400). An empty body (no bytes, or
//! only JSON whitespace) means `{}`, so an empty update is a heartbeat that
//! moves `updated_ms`. `appname` and `mode` are non-empty strings and never
//! null; `jobid` is a non-empty string or null (an empty string is refused
//! rather than guessed to mean null); all three are at most
//! `SESSION_FIELD_BYTES_MAX` bytes. `metadata` is an object or null, and
//! null means "no change", exactly like leaving it out. Metadata is an RFC
//! 7396 merge patch, on create applied to `{}` (so its null keys vanish);
//! inside it a repeated key keeps its last value (serde_json's rule).
//! The server's own session can be neither updated nor ended by a client
//! (409) and never expires. An ended session stays until evicted; its id
//! can only be used again after that. A refused request changes nothing.
//!
//! **Invariant:** every session is in `sessions` and `order`; exactly the
//! ended ones are in `ended`; the server's own session is always active.

use std::cell::{Cell, OnceCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::ingest::{json_depth_exceeds, json_kind};
use crate::limits::{
    JSON_BODY_BYTES_MAX, JSON_DEPTH_MAX, METADATA_BYTES_MAX, SESSION_FIELD_BYTES_MAX,
};
use crate::log_ring::LogRing;

/// A session id: an OID, 12 bytes, written as 24 hex digits.
pub type SessionId = [u8; 12];

/// Length of a session id in hex digits.
const ID_HEX_LEN: usize = 24;

/// An unknown key is echoed in the error message up to this many bytes.
const ECHOED_KEY_BYTES_MAX: usize = 64;

/// The keys a session body may carry, as named in error messages.
const BODY_KEYS: &str = "appname, mode, jobid, metadata";

/// Parses exactly 24 hex digits, in any case.
pub fn parse_id(text: &str) -> Option<SessionId> {
    let digits = text.as_bytes();
    if digits.len() != ID_HEX_LEN {
        return None;
    }
    let mut id = [0u8; 12];
    for (byte, pair) in id.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
    }
    Some(id)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The id as 24 lowercase hex digits.
pub fn format_id(id: &SessionId) -> String {
    let mut text = String::with_capacity(ID_HEX_LEN);
    write_id(id, &mut text);
    text
}

/// Appends the id as 24 lowercase hex digits.
/// `id` as 24 lowercase hex digits, without allocating.
pub fn id_hex(id: &SessionId) -> [u8; 24] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 24];
    for (index, &byte) in id.iter().enumerate() {
        out[2 * index] = HEX[usize::from(byte >> 4)];
        out[2 * index + 1] = HEX[usize::from(byte & 0x0f)];
    }
    out
}

pub fn write_id(id: &SessionId, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &byte in id {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Ended,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Ended => "ended",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// A client sent DELETE.
    Deleted,
    /// No create, update or log append for the session TTL.
    Expired,
    /// A client sent DELETE with its own reason (`"exit 3"`): non-empty, at
    /// most `SESSION_FIELD_BYTES_MAX` bytes.
    Reported(String),
}

impl EndReason {
    pub fn as_str(&self) -> &str {
        match self {
            EndReason::Deleted => "deleted",
            EndReason::Expired => "expired",
            EndReason::Reported(reason) => reason,
        }
    }
}

/// A DELETE body: `{"end_reason": "exit 3", "metadata": {...}}`, both
/// optional; no body is `{}`, which ends with `deleted`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndFields {
    /// `None`: `deleted`.
    pub reason: Option<String>,
    /// An RFC 7396 merge patch, applied with the end or not at all.
    pub metadata: Option<Map<String, Value>>,
}

/// The keys a DELETE body may carry, as named in error messages.
const END_BODY_KEYS: &str = "end_reason, metadata";

/// Parses a DELETE body with the limits and refusals of `parse_session_body`.
/// A repeated key keeps its last value (serde_json's rule, as in metadata).
pub fn parse_end_body(body: &[u8]) -> Result<EndFields, SessionError> {
    if body.len() > JSON_BODY_BYTES_MAX {
        return Err(SessionError::BodyTooLarge);
    }
    if body
        .iter()
        .all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Ok(EndFields::default());
    }
    if json_depth_exceeds(body, JSON_DEPTH_MAX) {
        return Err(SessionError::TooDeep);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| SessionError::InvalidJson(error.to_string()))?;
    let Value::Object(object) = value else {
        return Err(SessionError::NotAnObject(json_kind(&value)));
    };
    let mut fields = EndFields::default();
    for (key, value) in object {
        match key.as_str() {
            "end_reason" => fields.reason = end_reason_field(value)?,
            "metadata" => fields.metadata = metadata_field(value)?,
            _ => return Err(SessionError::UnknownEndKey(echoed_key(key))),
        }
    }
    Ok(fields)
}

fn end_reason_field(value: Value) -> Result<Option<String>, SessionError> {
    let field = "end_reason";
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.is_empty() => Err(SessionError::EmptyField(field)),
        Value::String(text) if text.len() > SESSION_FIELD_BYTES_MAX => {
            Err(SessionError::FieldTooLong {
                field,
                size: text.len(),
            })
        }
        Value::String(text) => Ok(Some(text)),
        _ => Err(SessionError::WrongType {
            field,
            expected: "a string or null",
        }),
    }
}

/// One session. Fields are public for the views; the table keeps the
/// ordering structures, so change a session only through the table (the
/// log through `SessionTable::active_mut`).
pub struct Session {
    pub id: SessionId,
    pub appname: String,
    pub mode: String,
    pub jobid: Option<String>,
    pub metadata: Map<String, Value>,
    pub status: Status,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub ended_ms: Option<u64>,
    pub end_reason: Option<EndReason>,
    /// Last create, update or log append; the TTL counts from here.
    pub last_activity_ms: u64,
    pub log: LogRing,
    /// How far the OTLP exporter has taken this session (a cursor, never a
    /// copy). A `Cell`: the exporter moves it while reading the ring.
    pub export: Cell<ExportMark>,
    /// Key of this session in `SessionTable::order`.
    created_seq: u64,
    /// The session object as `views` writes it, up to its log figures:
    /// filled by the first read after a change, emptied by the table on
    /// create, update and end (the only changes to the fields it holds).
    /// A GET or a WebSocket list push then copies it instead of rendering
    /// six strings and three timestamps again.
    rendered: OnceCell<Box<[u8]>>,
}

impl Session {
    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    /// The rendered session object up to its log figures, rendered by
    /// `render` when the session changed since the last read.
    pub fn rendered(&self, render: impl FnOnce(&Session) -> Vec<u8>) -> &[u8] {
        self.rendered
            .get_or_init(|| render(self).into_boxed_slice())
    }

    /// Forgets the rendered object: the next read renders it again.
    fn changed(&mut self) {
        self.rendered = OnceCell::new();
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &format_id(&self.id))
            .field("appname", &self.appname)
            .field("mode", &self.mode)
            .field("jobid", &self.jobid)
            .field("status", &self.status)
            .field("updated_ms", &self.updated_ms)
            .finish_non_exhaustive()
    }
}

/// How far the OTLP exporter has taken a session's records into its
/// batches: what a batch in flight holds is the exporter's from then on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportMark {
    /// The next log cursor not yet taken.
    pub cursor: u64,
    /// Entries the ring evicted before they were taken, already counted
    /// as dropped, still to be named in the next record (`dropped_before`).
    pub dropped_unreported: u64,
    /// The session-start record was taken.
    pub start_taken: bool,
    /// The session-end record was taken: nothing of it is left to export.
    pub end_taken: bool,
}

/// The fields of a create or update body; `None` means "not given".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionFields {
    pub appname: Option<String>,
    pub mode: Option<String>,
    /// `Some(None)`: set jobid to null.
    pub jobid: Option<Option<String>>,
    /// An RFC 7396 merge patch for the metadata.
    pub metadata: Option<Map<String, Value>>,
}

/// Why a session request was refused; one status code per variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// An id position that is not 24 hex digits.
    InvalidId,
    BodyTooLarge,
    TooDeep,
    /// serde_json's message.
    InvalidJson(String),
    /// The body is valid JSON but not an object: "an array", "null", ...
    NotAnObject(&'static str),
    UnknownKey(String),
    /// A key other than `end_reason` and `metadata` in a DELETE body.
    UnknownEndKey(String),
    DuplicateKey(String),
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    EmptyField(&'static str),
    FieldTooLong {
        field: &'static str,
        size: usize,
    },
    MissingField(&'static str),
    /// Serialized size the merged metadata would have had.
    MetadataTooLarge {
        size: usize,
    },
    TableFull {
        sessions_max: usize,
    },
    NotFound(SessionId),
    Ended(SessionId),
    /// `create` with an id already in the table; pick another one.
    Exists(SessionId),
    /// The server's own session cannot be `action` ("updated", "ended",
    /// "written to by clients").
    ServerSession {
        action: &'static str,
    },
}

impl SessionError {
    pub fn status(&self) -> u16 {
        match self {
            SessionError::BodyTooLarge | SessionError::MetadataTooLarge { .. } => 413,
            SessionError::TableFull { .. } => 503,
            SessionError::NotFound(_) => 404,
            SessionError::Ended(_)
            | SessionError::Exists(_)
            | SessionError::ServerSession { .. } => 409,
            _ => 400,
        }
    }

    /// Lowercase, no trailing period, naming the limit that was hit.
    pub fn message(&self) -> String {
        use SessionError as E;
        match self {
            E::InvalidId => format!("session id must be {ID_HEX_LEN} hex digits (12 bytes)"),
            E::BodyTooLarge => format!("session body exceeds {JSON_BODY_BYTES_MAX} bytes"),
            E::TooDeep => format!("json nesting exceeds the depth limit of {JSON_DEPTH_MAX}"),
            E::InvalidJson(reason) => format!("invalid json: {reason}"),
            E::NotAnObject(kind) => format!("session body must be a json object, not {kind}"),
            E::UnknownKey(key) => {
                format!("unknown key {key:?} in session body; allowed keys: {BODY_KEYS}")
            }
            E::UnknownEndKey(key) => {
                format!("unknown key {key:?} in end body; allowed keys: {END_BODY_KEYS}")
            }
            E::DuplicateKey(key) => format!("duplicate key {key:?} in session body"),
            E::WrongType { field, expected } => format!("{field} must be {expected}"),
            E::EmptyField("jobid") => "jobid must not be empty; send null for no job id".into(),
            E::EmptyField(field) => format!("{field} must not be empty"),
            E::FieldTooLong { field, size } => {
                format!("{field} is {size} bytes, over the limit of {SESSION_FIELD_BYTES_MAX}")
            }
            E::MissingField(field) => format!("{field} is required to create a session"),
            E::MetadataTooLarge { size } => format!(
                "metadata would be {size} bytes serialized, over the limit of \
                 {METADATA_BYTES_MAX}"
            ),
            E::TableFull { sessions_max } => format!(
                "session table is full ({sessions_max} active sessions); end a session first"
            ),
            E::NotFound(id) => format!("no session with id {}", format_id(id)),
            E::Ended(id) => format!("session {} has ended; create a new session", format_id(id)),
            E::Exists(id) => format!("session {} already exists", format_id(id)),
            E::ServerSession { action } => format!("the server's own session cannot be {action}"),
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for SessionError {}

/// Parses a create or update body. Refuses, in this order: over
/// `JSON_BODY_BYTES_MAX` (413), nesting over `JSON_DEPTH_MAX`, invalid
/// JSON, not an object, then unknown/duplicate keys and bad fields (400).
pub fn parse_session_body(body: &[u8]) -> Result<SessionFields, SessionError> {
    if body.len() > JSON_BODY_BYTES_MAX {
        return Err(SessionError::BodyTooLarge);
    }
    if body
        .iter()
        .all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Ok(SessionFields::default());
    }
    if json_depth_exceeds(body, JSON_DEPTH_MAX) {
        return Err(SessionError::TooDeep);
    }
    match serde_json::from_slice::<ParsedBody>(body) {
        Err(error) => Err(SessionError::InvalidJson(error.to_string())),
        Ok(ParsedBody::Other(kind)) => Err(SessionError::NotAnObject(kind)),
        Ok(ParsedBody::Object(raw)) => raw.into_fields(),
    }
}

/// The top-level value of a body, read in one pass so that repeated keys
/// are seen (a `serde_json::Map` would keep only the last).
enum ParsedBody {
    Object(RawBody),
    /// Not an object; what it is, for the message.
    Other(&'static str),
}

#[derive(Default)]
struct RawBody {
    appname: Option<Value>,
    mode: Option<Value>,
    jobid: Option<Value>,
    metadata: Option<Value>,
    /// The first unknown or repeated key; reported only if the JSON parses.
    problem: Option<SessionError>,
}

impl RawBody {
    fn slot(&mut self, key: &str) -> Option<&mut Option<Value>> {
        match key {
            "appname" => Some(&mut self.appname),
            "mode" => Some(&mut self.mode),
            "jobid" => Some(&mut self.jobid),
            "metadata" => Some(&mut self.metadata),
            _ => None,
        }
    }

    fn note(&mut self, problem: SessionError) {
        self.problem.get_or_insert(problem);
    }

    fn into_fields(self) -> Result<SessionFields, SessionError> {
        if let Some(problem) = self.problem {
            return Err(problem);
        }
        let fields = SessionFields {
            appname: self.appname.map(|v| name_field("appname", v)).transpose()?,
            mode: self.mode.map(|v| name_field("mode", v)).transpose()?,
            jobid: self.jobid.map(jobid_field).transpose()?,
            metadata: self.metadata.map(metadata_field).transpose()?.flatten(),
        };
        check_fields(&fields)?;
        Ok(fields)
    }
}

fn name_field(field: &'static str, value: Value) -> Result<String, SessionError> {
    match value {
        Value::String(text) => Ok(text),
        _ => Err(SessionError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

fn jobid_field(value: Value) -> Result<Option<String>, SessionError> {
    match value {
        Value::String(text) => Ok(Some(text)),
        Value::Null => Ok(None),
        _ => Err(SessionError::WrongType {
            field: "jobid",
            expected: "a string or null",
        }),
    }
}

/// `Ok(None)` for null: no change.
fn metadata_field(value: Value) -> Result<Option<Map<String, Value>>, SessionError> {
    match value {
        Value::Object(map) => Ok(Some(map)),
        Value::Null => Ok(None),
        _ => Err(SessionError::WrongType {
            field: "metadata",
            expected: "an object or null",
        }),
    }
}

/// Lengths and emptiness of the string fields. The table checks again, so
/// fields built in code keep the same invariants as parsed ones.
fn check_fields(fields: &SessionFields) -> Result<(), SessionError> {
    let named = [
        ("appname", fields.appname.as_deref()),
        ("mode", fields.mode.as_deref()),
        ("jobid", fields.jobid.as_ref().and_then(Option::as_deref)),
    ];
    for (field, text) in named {
        let Some(text) = text else { continue };
        if text.is_empty() {
            return Err(SessionError::EmptyField(field));
        }
        if text.len() > SESSION_FIELD_BYTES_MAX {
            return Err(SessionError::FieldTooLong {
                field,
                size: text.len(),
            });
        }
    }
    Ok(())
}

impl<'de> Deserialize<'de> for ParsedBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = ParsedBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json object")
    }
    fn visit_bool<E>(self, _: bool) -> Result<ParsedBody, E> {
        Ok(ParsedBody::Other("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<ParsedBody, E> {
        Ok(ParsedBody::Other("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<ParsedBody, E> {
        Ok(ParsedBody::Other("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<ParsedBody, E> {
        Ok(ParsedBody::Other("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<ParsedBody, E> {
        Ok(ParsedBody::Other("a string"))
    }
    fn visit_unit<E>(self) -> Result<ParsedBody, E> {
        Ok(ParsedBody::Other("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ParsedBody, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ParsedBody::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParsedBody, A::Error> {
        let mut raw = RawBody::default();
        while let Some(key) = map.next_key::<String>()? {
            match raw.slot(&key) {
                Some(slot) if slot.is_none() => *slot = Some(map.next_value::<Value>()?),
                Some(_) => {
                    raw.note(SessionError::DuplicateKey(key));
                    map.next_value::<IgnoredAny>()?;
                }
                None => {
                    raw.note(SessionError::UnknownKey(echoed_key(key)));
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ParsedBody::Object(raw))
    }
}

/// A client's key cut to `ECHOED_KEY_BYTES_MAX` at a char boundary.
fn echoed_key(mut key: String) -> String {
    if key.len() > ECHOED_KEY_BYTES_MAX {
        let mut end = ECHOED_KEY_BYTES_MAX;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
        key.push_str("...");
    }
    key
}

/// RFC 7396: a null removes the key, an object merges recursively (over a
/// non-object target it starts from `{}`), any other value replaces.
fn merge_patch(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(&key);
            }
            Value::Object(inner) => {
                let slot = target.entry(key).or_insert(Value::Null);
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(slot_map) = slot {
                    merge_patch(slot_map, inner);
                }
            }
            other => {
                target.insert(key, other);
            }
        }
    }
}

/// Serialized (compact) size of the metadata, counted without a buffer.
fn metadata_size(metadata: &Map<String, Value>) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(bytes.len());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, metadata) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

fn check_metadata(metadata: &Map<String, Value>) -> Result<(), SessionError> {
    let size = metadata_size(metadata);
    if size > METADATA_BYTES_MAX {
        return Err(SessionError::MetadataTooLarge { size });
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// Active client sessions (the server's own is not counted). Full: 503.
    pub sessions_max: usize,
    /// Ended sessions kept; beyond it the oldest-ended one is evicted.
    pub ended_max: usize,
    /// Log entries per session.
    pub log_capacity: usize,
    /// The OTLP exporter is on: ended sessions it has fully taken are
    /// evicted first, and the entries it had not taken from one evicted
    /// anyway are counted (`take_export_lost`).
    pub export: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upsert {
    Created,
    Updated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFilter {
    Active,
    Ended,
    All,
}

impl ListFilter {
    fn admits(self, session: &Session) -> bool {
        match self {
            ListFilter::Active => session.status == Status::Active,
            ListFilter::Ended => session.status == Status::Ended,
            ListFilter::All => true,
        }
    }
}

/// What `expire_if_idle` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Ended now with `EndReason::Expired`.
    Expired,
    /// Active since; call again at `due_ms`.
    NotYet { due_ms: u64 },
    /// Unknown, already ended, the server's own, or TTL off: no timer needed.
    Gone,
}

pub struct SessionTable {
    config: TableConfig,
    server_id: SessionId,
    sessions: HashMap<SessionId, Session>,
    /// Creation sequence -> id: the listing order.
    order: BTreeMap<u64, SessionId>,
    /// Ended ids, oldest-ended first.
    ended: VecDeque<SessionId>,
    /// Evicted since the last `take_evicted`. The server drains it after
    /// every call that can end a session, which keeps it short.
    evicted: Vec<SessionId>,
    /// Log entries of evicted sessions the exporter had not taken, since
    /// the last `take_export_lost`.
    export_lost: u64,
    /// Encoded log bytes of every session evicted so far (`/metrics`).
    log_bytes_released: u64,
    /// Active sessions, the server's own included.
    active_count: usize,
    seq_next: u64,
}

impl SessionTable {
    /// A table holding only the server's own session.
    pub fn new(config: TableConfig, server_id: SessionId, now_ms: u64) -> Self {
        let mut table = SessionTable {
            config,
            server_id,
            sessions: HashMap::new(),
            order: BTreeMap::new(),
            ended: VecDeque::new(),
            evicted: Vec::new(),
            export_lost: 0,
            log_bytes_released: 0,
            active_count: 0,
            seq_next: 0,
        };
        let fields = SessionFields {
            appname: Some("sessions-lite".to_string()),
            mode: Some("server".to_string()),
            jobid: Some(None),
            metadata: None,
        };
        let created = table.insert_new(server_id, fields, now_ms);
        assert!(created.is_ok(), "the server's own session is always valid");
        table
    }

    pub fn server_id(&self) -> SessionId {
        self.server_id
    }

    /// POST /sessions/{id}: create an unknown id, update an active one.
    pub fn upsert(
        &mut self,
        id: SessionId,
        fields: SessionFields,
        now_ms: u64,
    ) -> Result<Upsert, SessionError> {
        check_fields(&fields)?;
        if self.sessions.contains_key(&id) {
            self.update_checked(id, fields, now_ms)?;
            Ok(Upsert::Updated)
        } else {
            self.insert_new(id, fields, now_ms)?;
            Ok(Upsert::Created)
        }
    }

    /// POST /sessions/ with an id the caller made up; a known id is
    /// `Exists` and the caller retries with another.
    pub fn create(
        &mut self,
        id: SessionId,
        fields: SessionFields,
        now_ms: u64,
    ) -> Result<(), SessionError> {
        check_fields(&fields)?;
        if self.sessions.contains_key(&id) {
            return Err(SessionError::Exists(id));
        }
        self.insert_new(id, fields, now_ms)
    }

    /// PUT /sessions/{id}: unknown 404, ended or the server's own 409.
    pub fn update(
        &mut self,
        id: SessionId,
        fields: SessionFields,
        now_ms: u64,
    ) -> Result<(), SessionError> {
        check_fields(&fields)?;
        self.update_checked(id, fields, now_ms)
    }

    /// DELETE /sessions/{id}. `Ok(false)`: already ended, left unchanged.
    pub fn end(
        &mut self,
        id: SessionId,
        reason: EndReason,
        now_ms: u64,
    ) -> Result<bool, SessionError> {
        let Some(session) = self.endable_mut(id)? else {
            return Ok(false);
        };
        Self::mark_ended(session, reason, now_ms);
        self.active_count -= 1;
        self.ended.push_back(id);
        self.evict_over_max();
        self.debug_check();
        Ok(true)
    }

    /// DELETE /sessions/{id} with a body: the reason (default `deleted`)
    /// and the metadata patch apply together, after the merged metadata
    /// has passed its size check, or not at all. Already ended: `Ok(false)`,
    /// unchanged, as `end`.
    pub fn end_with(
        &mut self,
        id: SessionId,
        fields: EndFields,
        now_ms: u64,
    ) -> Result<bool, SessionError> {
        let Some(session) = self.endable_mut(id)? else {
            return Ok(false);
        };
        if let Some(patch) = fields.metadata {
            let mut merged = session.metadata.clone();
            merge_patch(&mut merged, patch);
            check_metadata(&merged)?;
            session.metadata = merged;
        }
        let reason = fields
            .reason
            .map_or(EndReason::Deleted, EndReason::Reported);
        self.end(id, reason, now_ms)
    }

    /// The session DELETE would end: the server's own 409, unknown 404,
    /// `None` when it has ended already.
    fn endable_mut(&mut self, id: SessionId) -> Result<Option<&mut Session>, SessionError> {
        if id == self.server_id {
            return Err(SessionError::ServerSession { action: "ended" });
        }
        let session = self
            .sessions
            .get_mut(&id)
            .ok_or(SessionError::NotFound(id))?;
        Ok(Some(session).filter(|session| session.is_active()))
    }

    fn mark_ended(session: &mut Session, reason: EndReason, now_ms: u64) {
        session.status = Status::Ended;
        session.ended_ms = Some(now_ms);
        session.end_reason = Some(reason);
        session.updated_ms = now_ms;
        session.changed();
    }

    pub fn get(&self, id: &SessionId) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// For log appends: unknown 404, ended 409. Marks activity (the TTL
    /// restarts) but leaves `updated_ms` alone. Does not refuse the
    /// server's own session: the server logs through it; whether clients
    /// may is the API layer's call.
    pub fn active_mut(
        &mut self,
        id: &SessionId,
        now_ms: u64,
    ) -> Result<&mut Session, SessionError> {
        let session = self
            .sessions
            .get_mut(id)
            .ok_or(SessionError::NotFound(*id))?;
        if !session.is_active() {
            return Err(SessionError::Ended(*id));
        }
        session.last_activity_ms = now_ms;
        Ok(session)
    }

    /// Oldest created first.
    pub fn list(&self, filter: ListFilter) -> Vec<&Session> {
        self.order
            .values()
            .filter_map(|id| self.sessions.get(id))
            .filter(|session| filter.admits(session))
            .collect()
    }

    /// Active sessions, the server's own included (as `list(Active)`).
    pub fn active_count(&self) -> usize {
        self.active_count
    }

    pub fn ended_count(&self) -> usize {
        self.ended.len()
    }

    /// Ended sessions evicted (with their logs) since the last call, so
    /// the server can wake readers waiting on them.
    pub fn take_evicted(&mut self) -> Vec<SessionId> {
        std::mem::take(&mut self.evicted)
    }

    /// Encoded log bytes that left with evicted sessions, ever.
    pub fn log_bytes_released(&self) -> u64 {
        self.log_bytes_released
    }

    /// Log entries lost with evicted sessions before the exporter took
    /// them, since the last call.
    pub fn take_export_lost(&mut self) -> u64 {
        std::mem::take(&mut self.export_lost)
    }

    /// Called by the timer at `last_activity_ms + ttl_ms`: ends the session
    /// with `Expired` if it has been idle that long. `ttl_ms == 0` is TTL
    /// off; the server's own session never expires.
    pub fn expire_if_idle(&mut self, id: &SessionId, ttl_ms: u64, now_ms: u64) -> Expiry {
        if ttl_ms == 0 || *id == self.server_id {
            return Expiry::Gone;
        }
        let Some(session) = self.sessions.get(id).filter(|s| s.is_active()) else {
            return Expiry::Gone;
        };
        let due_ms = session.last_activity_ms.saturating_add(ttl_ms);
        if now_ms < due_ms {
            return Expiry::NotYet { due_ms };
        }
        match self.end(*id, EndReason::Expired, now_ms) {
            Ok(true) => Expiry::Expired,
            _ => Expiry::Gone,
        }
    }

    /// Client sessions that are active: what `sessions_max` bounds.
    fn client_active_count(&self) -> usize {
        self.active_count.saturating_sub(1)
    }

    /// Creates `id` (known to be absent) after every check has passed.
    fn insert_new(
        &mut self,
        id: SessionId,
        fields: SessionFields,
        now_ms: u64,
    ) -> Result<(), SessionError> {
        debug_assert!(!self.sessions.contains_key(&id));
        let appname = fields
            .appname
            .ok_or(SessionError::MissingField("appname"))?;
        let mode = fields.mode.ok_or(SessionError::MissingField("mode"))?;
        let mut metadata = Map::new();
        if let Some(patch) = fields.metadata {
            merge_patch(&mut metadata, patch);
            check_metadata(&metadata)?;
        }
        let is_server = id == self.server_id;
        if !is_server && self.client_active_count() >= self.config.sessions_max {
            return Err(SessionError::TableFull {
                sessions_max: self.config.sessions_max,
            });
        }
        let session = Session {
            id,
            appname,
            mode,
            jobid: fields.jobid.flatten(),
            metadata,
            rendered: OnceCell::new(),
            status: Status::Active,
            created_ms: now_ms,
            updated_ms: now_ms,
            ended_ms: None,
            end_reason: None,
            last_activity_ms: now_ms,
            log: LogRing::new(self.config.log_capacity),
            export: Cell::default(),
            created_seq: self.seq_next,
        };
        self.order.insert(self.seq_next, id);
        self.seq_next += 1;
        self.sessions.insert(id, session);
        self.active_count += 1;
        self.debug_check();
        Ok(())
    }

    /// Updates an active client session; fields already checked. Nothing
    /// is written until the merged metadata has passed its size check.
    fn update_checked(
        &mut self,
        id: SessionId,
        fields: SessionFields,
        now_ms: u64,
    ) -> Result<(), SessionError> {
        if id == self.server_id {
            return Err(SessionError::ServerSession { action: "updated" });
        }
        let session = self
            .sessions
            .get_mut(&id)
            .ok_or(SessionError::NotFound(id))?;
        if !session.is_active() {
            return Err(SessionError::Ended(id));
        }
        let metadata = match fields.metadata {
            Some(patch) => {
                let mut merged = session.metadata.clone();
                merge_patch(&mut merged, patch);
                check_metadata(&merged)?;
                Some(merged)
            }
            None => None,
        };
        apply_update(session, fields.appname, fields.mode, fields.jobid, metadata);
        session.updated_ms = now_ms;
        session.last_activity_ms = now_ms;
        session.changed();
        Ok(())
    }

    /// Evicts the oldest-ended sessions while more than `ended_max` are
    /// kept. With export on, the oldest the exporter has finished goes
    /// first; only when none has does an unfinished one go, and what the
    /// exporter had not taken of it is counted as lost.
    fn evict_over_max(&mut self) {
        while self.ended.len() > self.config.ended_max {
            let exported = |id: &SessionId| {
                self.sessions
                    .get(id)
                    .is_none_or(|session| session.export.get().end_taken)
            };
            let index = match self.config.export {
                true => self.ended.iter().position(exported).unwrap_or(0),
                false => 0,
            };
            let Some(id) = self.ended.remove(index) else {
                break;
            };
            if let Some(session) = self.sessions.remove(&id) {
                debug_assert!(!session.is_active());
                self.order.remove(&session.created_seq);
                self.log_bytes_released += session.log.record_bytes() as u64;
                if self.config.export {
                    let taken = session.export.get().cursor;
                    self.export_lost += session.log.next_cursor().saturating_sub(taken);
                }
            }
            self.evicted.push(id);
        }
    }

    fn debug_check(&self) {
        debug_assert_eq!(self.sessions.len(), self.order.len());
        debug_assert_eq!(self.sessions.len(), self.active_count + self.ended.len());
        debug_assert!(self.ended.len() <= self.config.ended_max);
        debug_assert!(self.client_active_count() <= self.config.sessions_max);
    }
}

fn apply_update(
    session: &mut Session,
    appname: Option<String>,
    mode: Option<String>,
    jobid: Option<Option<String>>,
    metadata: Option<Map<String, Value>>,
) {
    if let Some(appname) = appname {
        session.appname = appname;
    }
    if let Some(mode) = mode {
        session.mode = mode;
    }
    if let Some(jobid) = jobid {
        session.jobid = jobid;
    }
    if let Some(metadata) = metadata {
        session.metadata = metadata;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Level;
    use serde_json::json;

    const SERVER: SessionId = [0xee; 12];

    fn id(n: u8) -> SessionId {
        [n; 12]
    }

    fn config(sessions_max: usize, ended_max: usize) -> TableConfig {
        TableConfig {
            sessions_max,
            ended_max,
            log_capacity: 4,
            export: false,
        }
    }

    fn table(sessions_max: usize, ended_max: usize) -> SessionTable {
        SessionTable::new(config(sessions_max, ended_max), SERVER, 1_000)
    }

    /// With export on, an ended session the exporter has finished is
    /// evicted before older unfinished ones; an unfinished one evicted
    /// anyway counts the entries it had not taken as lost.
    #[test]
    fn export_prefers_evicting_exported_sessions_and_counts_the_rest() {
        let mut table = SessionTable::new(
            TableConfig {
                export: true,
                ..config(8, 1)
            },
            SERVER,
            1_000,
        );
        let (older, newer, third) = (id(1), id(2), id(3));
        for session in [older, newer, third] {
            table.upsert(session, app("cook"), 1_000).expect("created");
        }
        for _ in 0..3 {
            let log = &mut table.active_mut(&older, 1_000).expect("active").log;
            log.push(1_000, Level::Info, false, "line", None);
        }
        table.end(older, EndReason::Deleted, 1_001).expect("ended");
        let finished = ExportMark {
            end_taken: true,
            ..ExportMark::default()
        };
        table.get(&newer).expect("newer").export.set(finished);
        table.end(newer, EndReason::Deleted, 1_002).expect("ended");
        // Over the one kept: the exported one goes, though it is newer.
        assert_eq!(table.take_evicted(), [newer]);
        assert!(table.get(&older).is_some());
        assert_eq!(table.take_export_lost(), 0);
        // Only unfinished ones left: the oldest goes, and of its 3 entries
        // the 2 the exporter had not taken are lost.
        let taken = ExportMark {
            cursor: 1,
            ..ExportMark::default()
        };
        table.get(&older).expect("older").export.set(taken);
        table.end(third, EndReason::Deleted, 1_003).expect("ended");
        assert_eq!(table.take_evicted(), [older]);
        assert_eq!(table.take_export_lost(), 2);
        assert_eq!(table.take_export_lost(), 0, "taken once");
    }

    #[test]
    fn without_export_the_oldest_ended_goes_and_nothing_is_counted() {
        let mut table = table(8, 1);
        for session in [id(1), id(2)] {
            table.upsert(session, app("cook"), 1_000).expect("created");
        }
        let finished = ExportMark {
            end_taken: true,
            ..ExportMark::default()
        };
        table.get(&id(2)).expect("second").export.set(finished);
        table.end(id(1), EndReason::Deleted, 1_001).expect("ended");
        table.end(id(2), EndReason::Deleted, 1_002).expect("ended");
        assert_eq!(table.take_evicted(), [id(1)]);
        assert_eq!(table.take_export_lost(), 0);
    }

    fn fields(body: serde_json::Value) -> SessionFields {
        match parse_session_body(body.to_string().as_bytes()) {
            Ok(fields) => fields,
            Err(error) => panic!("test body refused: {error}"),
        }
    }

    fn app(name: &str) -> SessionFields {
        fields(json!({"appname": name, "mode": "batch"}))
    }

    /// One check per boundary: the body's parse result, or the error's
    /// status and a fragment of its message.
    fn check_body(body: &[u8], expected: Result<SessionFields, (u16, &str)>) {
        let actual = parse_session_body(body);
        match (&actual, &expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(error), Err((status, fragment))) => {
                assert_eq!(error.status(), *status, "{error}");
                assert!(error.message().contains(fragment), "{error:?}: {error}");
            }
            _ => panic!("body {:?}: got {actual:?}", String::from_utf8_lossy(body)),
        }
    }

    fn ids(sessions: Vec<&Session>) -> Vec<SessionId> {
        sessions.iter().map(|session| session.id).collect()
    }

    #[test]
    fn id_parse_and_format() {
        let text = "5f0a1b2c3d4e5f60718293a4";
        let parsed = parse_id(text);
        assert_eq!(parsed.map(|id| format_id(&id)).as_deref(), Some(text));
        assert_eq!(parse_id("5F0A1B2C3D4E5F60718293A4"), parsed);
        assert_eq!(parse_id("5f0A1b2C3d4E5f60718293a4"), parsed);
        assert_eq!(parse_id(&text[..23]), None);
        assert_eq!(parse_id(&format!("{text}0")), None);
        assert_eq!(parse_id(""), None);
        assert_eq!(parse_id("5f0a1b2c3d4e5f60718293ag"), None);
        assert_eq!(parse_id("+f0a1b2c3d4e5f60718293a4"), None);
        assert_eq!(parse_id(" f0a1b2c3d4e5f60718293a4"), None);
        // 24 bytes, but not 24 digits.
        assert_eq!(parse_id("éé5f0a1b2c3d4e5f607182"), None);
        let mut out = String::from("id=");
        write_id(&[0xab; 12], &mut out);
        assert_eq!(out, format!("id={}", "ab".repeat(12)));
    }

    #[test]
    fn body_accepts() {
        check_body(b"", Ok(SessionFields::default()));
        check_body(b" \r\n\t", Ok(SessionFields::default()));
        check_body(b"{}", Ok(SessionFields::default()));
        let full = br#"{"appname":"ue","mode":"m","jobid":"j","metadata":{"a":1}}"#;
        let mut metadata = Map::new();
        metadata.insert("a".into(), json!(1));
        let want = SessionFields {
            appname: Some("ue".into()),
            mode: Some("m".into()),
            jobid: Some(Some("j".into())),
            metadata: Some(metadata),
        };
        check_body(full, Ok(want));
        let nulls = SessionFields {
            jobid: Some(None),
            ..SessionFields::default()
        };
        check_body(br#"{"jobid":null,"metadata":null}"#, Ok(nulls));
    }

    #[test]
    fn body_refuses() {
        let cases: &[(&[u8], u16, &str)] = &[
            (b"{", 400, "invalid json: EOF"),
            (b"{} x", 400, "invalid json: trailing characters"),
            (b"\xff", 400, "invalid json"),
            (b"[1, 2]", 400, "not an array"),
            (b"null", 400, "not null"),
            (b"\"x\"", 400, "not a string"),
            (b"7", 400, "not a number"),
            (b"true", 400, "not a boolean"),
            (
                br#"{"appname":"a","color":1}"#,
                400,
                r#"unknown key "color""#,
            ),
            (
                br#"{"mode":"a","mode":"b"}"#,
                400,
                r#"duplicate key "mode""#,
            ),
            (br#"{"appname":1}"#, 400, "appname must be a string"),
            (br#"{"appname":null}"#, 400, "appname must be a string"),
            (br#"{"mode":""}"#, 400, "mode must not be empty"),
            (br#"{"jobid":""}"#, 400, "send null"),
            (br#"{"jobid":5}"#, 400, "jobid must be a string or null"),
            (
                br#"{"metadata":[]}"#,
                400,
                "metadata must be an object or null",
            ),
            // Syntax errors win over key problems found before them.
            (br#"{"color":1,"#, 400, "invalid json"),
        ];
        for &(body, status, fragment) in cases {
            check_body(body, Err((status, fragment)));
        }
    }

    #[test]
    fn body_prefixes_never_panic() {
        let body = br#"{"appname":"a\"[{","mode":"m","jobid":null,"metadata":{"k":[1,{"x":null}],"e":"\u00e9"}}"#;
        for end in 0..=body.len() {
            let result = parse_session_body(&body[..end]);
            assert_eq!(
                result.is_ok(),
                end == 0 || end == body.len(),
                "prefix {end}"
            );
        }
    }

    #[test]
    fn body_unknown_key_is_cut_in_message() {
        let body = format!("{{\"{}\":1}}", "é".repeat(100));
        let error = parse_session_body(body.as_bytes()).err();
        let message = error.map(|e| e.message()).unwrap_or_default();
        assert!(
            message.contains(&format!("{}...", "é".repeat(32))),
            "{message}"
        );
        assert!(message.len() < 200);
    }

    #[test]
    fn body_depth_and_size_limits() {
        let nested = |depth: usize| {
            let inner = format!("{}{}", "[".repeat(depth - 2), "]".repeat(depth - 2));
            format!("{{\"metadata\":{{\"a\":{inner}}}}}")
        };
        let at_max = nested(JSON_DEPTH_MAX);
        assert!(parse_session_body(at_max.as_bytes()).is_ok());
        let over = nested(JSON_DEPTH_MAX + 1);
        check_body(over.as_bytes(), Err((400, "depth limit of 32")));
        // Brackets inside strings (and escaped quotes) are not nesting.
        let quoted = format!(r#"{{"appname":"\"{}"}}"#, "[".repeat(100));
        assert!(parse_session_body(quoted.as_bytes()).is_ok());
        let mut big = vec![b' '; JSON_BODY_BYTES_MAX];
        assert!(parse_session_body(&big).is_ok());
        big.push(b' ');
        check_body(&big, Err((413, "exceeds 8388608 bytes")));
    }

    #[test]
    fn body_field_length_limit() {
        let at_max = "x".repeat(SESSION_FIELD_BYTES_MAX);
        let over = "x".repeat(SESSION_FIELD_BYTES_MAX + 1);
        for key in ["appname", "mode", "jobid"] {
            let body = json!({ key: at_max }).to_string();
            assert!(parse_session_body(body.as_bytes()).is_ok(), "{key}");
            let body = json!({ key: over }).to_string();
            let want = format!("{key} is 257 bytes, over the limit of 256");
            check_body(body.as_bytes(), Err((400, &want)));
        }
        // The table checks fields built in code too.
        let mut table = table(4, 4);
        let long = SessionFields {
            appname: Some(over),
            ..app("a")
        };
        let error = table.upsert(id(1), long, 2_000).err();
        assert_eq!(error.map(|e| e.status()), Some(400));
        assert!(table.get(&id(1)).is_none());
    }

    #[test]
    fn server_session_at_start() {
        let table = table(4, 4);
        assert_eq!(table.server_id(), SERVER);
        let server = table.get(&SERVER).expect("server session");
        assert_eq!(
            (server.appname.as_str(), server.mode.as_str()),
            ("sessions-lite", "server")
        );
        assert_eq!(server.jobid, None);
        assert!(server.metadata.is_empty());
        assert_eq!((server.status, server.created_ms), (Status::Active, 1_000));
        assert_eq!((table.active_count(), table.ended_count()), (1, 0));
    }

    #[test]
    fn create_then_update_with_merge() {
        let mut table = table(4, 4);
        let body = json!({"appname": "ue", "mode": "batch", "jobid": "j1",
            "metadata": {"host": "a", "gone": null, "deep": {"x": 1, "drop": null}}});
        assert_eq!(
            table.upsert(id(1), fields(body), 2_000),
            Ok(Upsert::Created)
        );
        let session = table.get(&id(1)).expect("created");
        assert_eq!(
            Value::Object(session.metadata.clone()),
            json!({"host": "a", "deep": {"x": 1}})
        );
        assert_eq!(session.jobid.as_deref(), Some("j1"));
        assert_eq!((session.created_ms, session.updated_ms), (2_000, 2_000));

        let patch = json!({"mode": "interactive", "jobid": null,
            "metadata": {"host": null, "deep": {"y": 2}, "n": {"m": null}, "list": [1]}});
        assert_eq!(
            table.upsert(id(1), fields(patch), 3_000),
            Ok(Upsert::Updated)
        );
        let session = table.get(&id(1)).expect("updated");
        let want = json!({"deep": {"x": 1, "y": 2}, "n": {}, "list": [1]});
        assert_eq!(Value::Object(session.metadata.clone()), want);
        assert_eq!(
            (session.appname.as_str(), session.mode.as_str()),
            ("ue", "interactive")
        );
        assert_eq!(session.jobid, None);
        assert_eq!((session.created_ms, session.updated_ms), (2_000, 3_000));
        assert_eq!(session.last_activity_ms, 3_000);

        // A non-object value is replaced by an object patch, and back.
        table
            .update(
                id(1),
                fields(json!({"metadata": {"list": {"a": 1}}})),
                4_000,
            )
            .ok();
        table
            .update(id(1), fields(json!({"metadata": {"deep": 5}})), 4_000)
            .ok();
        let session = table.get(&id(1)).expect("updated");
        let want = json!({"deep": 5, "n": {}, "list": {"a": 1}});
        assert_eq!(Value::Object(session.metadata.clone()), want);
    }

    #[test]
    fn empty_update_is_a_heartbeat() {
        let mut table = table(4, 4);
        table.upsert(id(1), app("a"), 2_000).ok();
        assert_eq!(table.update(id(1), SessionFields::default(), 5_000), Ok(()));
        let session = table.get(&id(1)).expect("session");
        assert_eq!(
            (session.updated_ms, session.last_activity_ms),
            (5_000, 5_000)
        );
        assert_eq!(session.appname, "a");
    }

    #[test]
    fn create_needs_appname_and_mode() {
        let mut table = table(4, 4);
        let cases = [
            (json!({}), "appname is required"),
            (json!({"mode": "m"}), "appname is required"),
            (json!({"appname": "a"}), "mode is required"),
        ];
        for (body, fragment) in cases {
            let error = table.upsert(id(1), fields(body.clone()), 2_000).err();
            let message = error
                .as_ref()
                .map(SessionError::message)
                .unwrap_or_default();
            assert_eq!(error.map(|e| e.status()), Some(400));
            assert!(message.contains(fragment), "{message}");
            let error = table.create(id(1), fields(body), 2_000).err();
            assert_eq!(error.map(|e| e.status()), Some(400));
        }
        assert!(table.get(&id(1)).is_none());
        assert_eq!(table.active_count(), 1);
    }

    #[test]
    fn create_refuses_known_ids() {
        let mut table = table(4, 4);
        assert_eq!(table.create(id(1), app("a"), 2_000), Ok(()));
        assert_eq!(
            table.create(id(1), app("b"), 2_000),
            Err(SessionError::Exists(id(1)))
        );
        assert_eq!(
            table.create(SERVER, app("b"), 2_000),
            Err(SessionError::Exists(SERVER))
        );
        assert_eq!(table.get(&id(1)).map(|s| s.appname.as_str()), Some("a"));
        assert_eq!(SessionError::Exists(id(1)).status(), 409);
    }

    #[test]
    fn update_refusals() {
        let mut table = table(4, 4);
        assert_eq!(
            table.update(id(1), app("a"), 2_000),
            Err(SessionError::NotFound(id(1)))
        );
        table.upsert(id(1), app("a"), 2_000).ok();
        table.end(id(1), EndReason::Deleted, 3_000).ok();
        assert_eq!(
            table.update(id(1), app("b"), 4_000),
            Err(SessionError::Ended(id(1)))
        );
        assert_eq!(
            table.upsert(id(1), app("b"), 4_000),
            Err(SessionError::Ended(id(1)))
        );
        let refused = Err(SessionError::ServerSession { action: "updated" });
        assert_eq!(table.update(SERVER, app("b"), 4_000), refused);
        assert_eq!(table.upsert(SERVER, app("b"), 4_000).map(|_| ()), refused);
        assert_eq!(
            table.get(&SERVER).map(|s| s.appname.as_str()),
            Some("sessions-lite")
        );
        assert_eq!(table.get(&id(1)).map(|s| s.updated_ms), Some(3_000));
    }

    /// `{"k":"..."}` whose serialized size is exactly `size` bytes.
    fn metadata_of_size(size: usize) -> Value {
        json!({ "k": "v".repeat(size - 8) })
    }

    #[test]
    fn metadata_size_limit_on_create() {
        let mut table = table(4, 4);
        let at_max =
            json!({"appname": "a", "mode": "m", "metadata": metadata_of_size(METADATA_BYTES_MAX)});
        assert_eq!(
            table.upsert(id(1), fields(at_max), 2_000),
            Ok(Upsert::Created)
        );
        let over = json!({"appname": "a", "mode": "m",
            "metadata": metadata_of_size(METADATA_BYTES_MAX + 1)});
        let error = table.upsert(id(2), fields(over), 2_000).err();
        assert_eq!(
            error,
            Some(SessionError::MetadataTooLarge {
                size: METADATA_BYTES_MAX + 1
            })
        );
        assert_eq!(error.map(|e| e.status()), Some(413));
        assert!(table.get(&id(2)).is_none());
        assert_eq!(table.active_count(), 2);
    }

    #[test]
    fn metadata_size_limit_on_update_changes_nothing() {
        let mut table = table(4, 4);
        let start = json!({"appname": "a", "mode": "m", "metadata": {"k": "", "x": 1}});
        table.upsert(id(1), fields(start), 2_000).ok();
        // {"k":"vvv","x":1} is 14 bytes plus the string.
        let fill = METADATA_BYTES_MAX - 14;
        let patch = |n: usize| fields(json!({"appname": "b", "metadata": {"k": "v".repeat(n)}}));
        assert_eq!(table.update(id(1), patch(fill), 3_000), Ok(()));
        let error = table.update(id(1), patch(fill + 1), 4_000);
        let want = SessionError::MetadataTooLarge {
            size: METADATA_BYTES_MAX + 1,
        };
        assert_eq!(error, Err(want.clone()));
        assert!(want
            .message()
            .contains("65537 bytes serialized, over the limit of 65536"));
        let mut refused = patch(fill + 1);
        refused.appname = Some("c".into());
        assert_eq!(table.upsert(id(1), refused, 4_000), Err(want));
        let session = table.get(&id(1)).expect("session");
        assert_eq!((session.appname.as_str(), session.updated_ms), ("b", 3_000));
        assert_eq!(session.last_activity_ms, 3_000);
        assert_eq!(metadata_size(&session.metadata), METADATA_BYTES_MAX);
        // Removing a key brings it back under the limit.
        let shrink = fields(json!({"metadata": {"k": null}}));
        assert_eq!(table.update(id(1), shrink, 5_000), Ok(()));
    }

    #[test]
    fn table_full_at_sessions_max() {
        let mut table = table(3, 4);
        assert_eq!(table.upsert(id(1), app("a"), 2_000), Ok(Upsert::Created));
        assert_eq!(table.upsert(id(2), app("a"), 2_000), Ok(Upsert::Created)); // max - 1
        assert_eq!(table.create(id(3), app("a"), 2_000), Ok(())); // max
        let full = SessionError::TableFull { sessions_max: 3 };
        assert_eq!(table.upsert(id(4), app("a"), 2_000), Err(full.clone())); // max + 1
        assert_eq!(table.create(id(4), app("a"), 2_000), Err(full.clone()));
        assert_eq!(full.status(), 503);
        assert_eq!(
            full.message(),
            "session table is full (3 active sessions); end a session first"
        );
        assert!(table.get(&id(4)).is_none());
        // The server's own session is not counted; updates still work.
        assert_eq!(table.active_count(), 4);
        assert_eq!(table.upsert(id(1), app("b"), 2_000), Ok(Upsert::Updated));
        table.end(id(1), EndReason::Deleted, 3_000).ok();
        assert_eq!(table.upsert(id(4), app("a"), 3_000), Ok(Upsert::Created));
    }

    #[test]
    fn ended_eviction_at_ended_max() {
        let mut table = table(8, 2);
        for n in 1..=4 {
            table.upsert(id(n), app("a"), u64::from(n)).ok();
        }
        // End out of creation order: eviction follows end order.
        for (n, now) in [(3, 10), (1, 11)] {
            assert_eq!(table.end(id(n), EndReason::Deleted, now), Ok(true));
            assert!(table.take_evicted().is_empty()); // max - 1, max
        }
        table.active_mut(&id(3), 12).err(); // ended sessions stay readable
        assert_eq!(table.get(&id(3)).map(|s| s.status), Some(Status::Ended));
        assert_eq!(table.end(id(4), EndReason::Deleted, 13), Ok(true)); // max + 1
        assert_eq!(table.take_evicted(), vec![id(3)]);
        assert!(table.take_evicted().is_empty());
        assert!(table.get(&id(3)).is_none());
        assert_eq!(ids(table.list(ListFilter::Ended)), vec![id(1), id(4)]);
        assert_eq!((table.active_count(), table.ended_count()), (2, 2));
        // An evicted id is free again.
        assert_eq!(table.upsert(id(3), app("again"), 14), Ok(Upsert::Created));
        assert_eq!(ids(table.list(ListFilter::All)).last(), Some(&id(3)));
    }

    #[test]
    fn ended_max_zero_evicts_at_once() {
        let mut table = table(8, 0);
        table.upsert(id(1), app("a"), 2).ok();
        assert_eq!(table.end(id(1), EndReason::Deleted, 3), Ok(true));
        assert_eq!(table.take_evicted(), vec![id(1)]);
        assert_eq!((table.active_count(), table.ended_count()), (1, 0));
    }

    #[test]
    fn end_twice_and_refusals() {
        let mut table = table(8, 8);
        table.upsert(id(1), app("a"), 2_000).ok();
        assert_eq!(table.end(id(1), EndReason::Deleted, 3_000), Ok(true));
        assert_eq!(table.end(id(1), EndReason::Expired, 4_000), Ok(false));
        let session = table.get(&id(1)).expect("ended");
        assert_eq!(
            (session.status, session.ended_ms),
            (Status::Ended, Some(3_000))
        );
        assert_eq!(
            (session.end_reason.clone(), session.updated_ms),
            (Some(EndReason::Deleted), 3_000)
        );
        assert_eq!(table.ended_count(), 1);
        assert_eq!(
            table.end(id(2), EndReason::Deleted, 3_000),
            Err(SessionError::NotFound(id(2)))
        );
        let refused = table.end(SERVER, EndReason::Deleted, 3_000);
        assert_eq!(
            refused,
            Err(SessionError::ServerSession { action: "ended" })
        );
        assert_eq!(refused.err().map(|e| e.status()), Some(409));
        assert_eq!(table.get(&SERVER).map(|s| s.status), Some(Status::Active));
    }

    #[test]
    fn expiry() {
        let mut table = table(8, 8);
        table.upsert(id(1), app("a"), 1_000).ok();
        assert_eq!(
            table.expire_if_idle(&id(1), 500, 1_200),
            Expiry::NotYet { due_ms: 1_500 }
        );
        table.active_mut(&id(1), 1_400).map(|_| ()).ok();
        assert_eq!(
            table.expire_if_idle(&id(1), 500, 1_500),
            Expiry::NotYet { due_ms: 1_900 }
        );
        assert_eq!(table.expire_if_idle(&id(1), 0, 9_000), Expiry::Gone); // TTL off
        assert_eq!(table.expire_if_idle(&id(1), 500, 1_900), Expiry::Expired);
        let session = table.get(&id(1)).expect("ended");
        assert_eq!(session.end_reason, Some(EndReason::Expired));
        assert_eq!((session.ended_ms, session.updated_ms), (Some(1_900), 1_900));
        assert_eq!(table.expire_if_idle(&id(1), 500, 2_000), Expiry::Gone);
        assert_eq!(table.expire_if_idle(&id(2), 500, 2_000), Expiry::Gone);
        assert_eq!(table.expire_if_idle(&SERVER, 500, u64::MAX), Expiry::Gone);
        assert_eq!(table.get(&SERVER).map(|s| s.status), Some(Status::Active));
        // A TTL past the end of time never overflows.
        table.upsert(id(2), app("a"), 1_000).ok();
        let never = Expiry::NotYet { due_ms: u64::MAX };
        assert_eq!(table.expire_if_idle(&id(2), u64::MAX, 2_000), never);
    }

    #[test]
    fn list_order_and_filters() {
        let mut table = table(8, 8);
        // Ids in reverse byte order: listing follows creation, not id.
        for n in [9, 5, 1] {
            table.upsert(id(n), app("a"), u64::from(n)).ok();
        }
        table.upsert(id(9), app("b"), 100).ok(); // an update keeps the place
        table.end(id(5), EndReason::Deleted, 100).ok();
        assert_eq!(
            ids(table.list(ListFilter::Active)),
            vec![SERVER, id(9), id(1)]
        );
        assert_eq!(ids(table.list(ListFilter::Ended)), vec![id(5)]);
        assert_eq!(
            ids(table.list(ListFilter::All)),
            vec![SERVER, id(9), id(5), id(1)]
        );
        assert_eq!((table.active_count(), table.ended_count()), (3, 1));
    }

    #[test]
    fn log_append_marks_activity_not_update() {
        let mut table = table(8, 1);
        table.upsert(id(1), app("a"), 1_000).ok();
        let session = table.active_mut(&id(1), 2_000).expect("active");
        assert_eq!(session.log.push(2_000, Level::Info, false, "one", None), 0);
        assert_eq!(
            session
                .log
                .push(2_000, Level::Warn, false, "two", Some("{}")),
            1
        );
        let session = table.get(&id(1)).expect("session");
        assert_eq!(
            (session.updated_ms, session.last_activity_ms),
            (1_000, 2_000)
        );
        assert_eq!((session.log.len(), session.log.next_cursor()), (2, 2));
        assert_eq!(
            table.active_mut(&id(2), 3_000).err(),
            Some(SessionError::NotFound(id(2)))
        );
        table.end(id(1), EndReason::Deleted, 3_000).ok();
        assert_eq!(
            table.active_mut(&id(1), 3_000).err(),
            Some(SessionError::Ended(id(1)))
        );
        assert_eq!(table.get(&id(1)).map(|s| s.log.len()), Some(2)); // kept until evicted
        table.upsert(id(2), app("a"), 4_000).ok();
        table.end(id(2), EndReason::Deleted, 5_000).ok();
        assert_eq!(table.take_evicted(), vec![id(1)]);
    }

    #[test]
    fn error_messages_are_lowercase_without_period() {
        let errors = [
            SessionError::InvalidId,
            SessionError::BodyTooLarge,
            SessionError::TooDeep,
            SessionError::InvalidJson("expected value at line 1 column 1".into()),
            SessionError::NotAnObject("an array"),
            SessionError::UnknownKey("color".into()),
            SessionError::DuplicateKey("mode".into()),
            SessionError::WrongType {
                field: "mode",
                expected: "a string",
            },
            SessionError::EmptyField("appname"),
            SessionError::EmptyField("jobid"),
            SessionError::FieldTooLong {
                field: "mode",
                size: 300,
            },
            SessionError::MissingField("mode"),
            SessionError::MetadataTooLarge { size: 70_000 },
            SessionError::TableFull { sessions_max: 4096 },
            SessionError::NotFound(id(1)),
            SessionError::Ended(id(1)),
            SessionError::Exists(id(1)),
            SessionError::ServerSession { action: "ended" },
        ];
        for error in errors {
            let message = error.message();
            assert!(!message.is_empty() && !message.ends_with('.'), "{message}");
            assert!(
                message.starts_with(|c: char| !c.is_uppercase()),
                "{message}"
            );
            assert!([400, 404, 409, 413, 503].contains(&error.status()));
        }
        let id_text = "0101010101010101010101";
        assert!(SessionError::NotFound(id(1)).message().contains(id_text));
    }

    #[test]
    fn end_with_applies_reason_and_metadata_together_or_not_at_all() {
        let mut table = SessionTable::new(config(4, 4), SERVER, 0);
        table.upsert(id(1), app("a"), 1).ok();
        let body = br#"{"end_reason":"exit 3","metadata":{"exit_code":3}}"#;
        let fields = parse_end_body(body).expect("valid");
        let mut too_big = fields.clone();
        let mut patch = Map::new();
        patch.insert("big".into(), Value::String("x".repeat(METADATA_BYTES_MAX)));
        too_big.metadata = Some(patch);
        assert!(matches!(
            table.end_with(id(1), too_big, 2),
            Err(SessionError::MetadataTooLarge { .. })
        ));
        assert!(table
            .get(&id(1))
            .is_some_and(|s| s.is_active() && s.metadata.is_empty()));
        assert_eq!(table.end_with(id(1), fields.clone(), 3), Ok(true));
        let session = table.get(&id(1)).expect("kept");
        assert_eq!(
            session.end_reason,
            Some(EndReason::Reported("exit 3".into()))
        );
        assert_eq!(session.metadata["exit_code"], 3);
        assert_eq!(table.end_with(id(1), fields, 4), Ok(false));
        assert_eq!(parse_end_body(b" \n"), Ok(EndFields::default()));
        assert_eq!(
            parse_end_body(br#"{"x":1}"#),
            Err(SessionError::UnknownEndKey("x".into()))
        );
    }
}
