//! What a step on a connection decided. Every handler that drives a
//! socket (HTTP, WebSocket, an outbound exporter connection) returns one,
//! and only the caller that owns the socket acts on it (deregisters,
//! frees the slot), as mio's examples do.

/// Keep the connection, or close it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Close,
}
