//! A request whose head was accepted and whose body is being read: how
//! much is left (`BodyProgress`) and where the bytes go (`BodySink`). Data
//! only; `server/request.rs` drives it.

use crate::api::Route;
use crate::http::chunked::ChunkedDecoder;
use crate::http::head::RequestHead;
use crate::http::response::Response;
use crate::ingest::TextLines;
use crate::limits::*;
use crate::sessions::SessionId;

/// How much body is left to read.
pub enum BodyProgress {
    Length { remaining: u64 },
    Chunked(Box<ChunkedDecoder>),
}

/// Where body bytes go.
pub enum BodySink {
    /// Kept whole, then handed to `api::finish`.
    Buffer { route: Route, body: Vec<u8> },
    /// Split into lines and appended to a session log as they arrive.
    TextLog {
        session_id: SessionId,
        lines: Box<TextLines>,
        appended: u64,
        /// Set when the session ended mid-body: the rest is read and dropped.
        failure: Option<Response>,
    },
}

/// A request whose body is being read.
pub struct BodyRead {
    pub head: RequestHead<'static>,
    pub progress: BodyProgress,
    pub sink: BodySink,
}

impl BodyRead {
    /// How long the body may be quiet between bytes: a streamed text log
    /// (`tail -f | curl -T -`) may wait on a silent build.
    pub fn idle_timeout_ms(&self) -> u64 {
        match self.sink {
            BodySink::TextLog { .. } => LOG_STREAM_IDLE_TIMEOUT_MS,
            BodySink::Buffer { .. } => BODY_IDLE_TIMEOUT_MS,
        }
    }
}
