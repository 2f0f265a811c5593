//! A request whose head was accepted and whose body is being read: how
//! much is left (`BodyProgress`) and where the bytes go (`BodySink`). Data
//! only; `server/request.rs` drives it.

use crate::api::Route;
use crate::http::chunked::ChunkedDecoder;
use crate::http::content_coding::BodyInflater;
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
    /// Inflated as it arrives (`Content-Encoding: gzip` or `deflate`) and
    /// kept whole; handed to `api::finish` only once the stream ended and
    /// its checksums matched, so nothing of a refused body is appended.
    Inflate {
        route: Route,
        inflater: Box<BodyInflater>,
        body: Vec<u8>,
    },
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
            BodySink::Buffer { .. } | BodySink::Inflate { .. } => BODY_IDLE_TIMEOUT_MS,
        }
    }
}

impl BodySink {
    /// The most body bytes that may be sent (and, inflated, held).
    pub fn body_bytes_max(&self) -> u64 {
        match self {
            BodySink::Buffer { .. } => JSON_BODY_BYTES_MAX as u64,
            // The sent bytes are capped like the inflated ones: compressed
            // data that does not shrink is at most a few bytes larger.
            BodySink::Inflate { inflater, .. } => inflater.inflated_bytes_max(),
            BodySink::TextLog { .. } => u64::MAX,
        }
    }
}
