//! Black-box tests: the real binary on port 0, real sockets, real curl.
//! One test binary (faster to link), one module per area.

#[allow(dead_code)] // shared helpers; not every module uses every one
mod support;

mod abuse;
mod api;
mod cli;
mod content_coding;
mod export;
mod http_engine;
mod metrics;
mod openapi;
mod otlp_codec;
mod simulation;
mod soak;
mod sse;
mod turn_budget;
mod uri_limit;
mod ws;
mod ws_changes;
mod ws_deflate;
