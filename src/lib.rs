//! sessions-lite: a one-thread session-and-log service for build machines.
//!
//! The binary (`src/main.rs`) is a thin shell around [`server::Server`]. The
//! library exposes the pure parts (framing, ingest, log ring, session table,
//! timer wheel) so that tests in `tests/` and targets in `fuzz/` reach them.

// `deny`, not `forbid`: `client::signals` allows it, for kill(2) and
// waitid(2) (the wrapper forwards signals to its child), and one function
// each of `process_stats`, for sysconf(3) and getrlimit(2).
#![deny(unsafe_code)]

pub mod api;
pub mod assets;
pub mod client;
pub mod config;
pub mod conn;
pub mod export;
pub mod http;
pub mod ingest;
pub mod json_plain;
pub mod level;
pub mod limits;
pub mod list_changes;
pub mod log_ring;
pub mod metrics;
pub mod outbound;
pub mod process_stats;
pub mod request_body;
pub mod server;
pub mod sessions;
pub mod sse;
pub mod sse_stream;
pub mod time;
pub mod timer_wheel;
pub mod verdict;
pub mod views;
pub mod watchers;
pub mod ws;
pub mod ws_client_message;
pub mod ws_deflate;
pub mod ws_feed;
pub mod ws_frame;
pub mod ws_hub;
