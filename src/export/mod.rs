//! The OTLP/HTTP logs exporter: every session log entry, and each session's
//! start and end, forwarded to an OpenTelemetry collector.
//!
//! - `settings`: where and how to send, from the `--otlp-*` flags and the
//!   `OTEL_*` environment, resolved once at start;
//! - `exporter`: its place on the loop: a cursor per session, batches, one
//!   request in flight over `outbound.rs`, retries, loss counting.
//!
//! The rest is pure (no I/O, no clock; time comes in as `now_ms`), so it
//! is unit-tested and fuzzed on its own:
//!
//! - `protobuf`: the protobuf wire format, a writer and a bounded reader;
//! - `otlp_request`: `RequestWriter`, an `ExportLogsServiceRequest` as
//!   protobuf or OTLP/JSON, and the mapping of sessions and entries to log
//!   records and attributes;
//! - `otlp_answer`: a collector's answer (status, body, `Retry-After`) to
//!   accepted, retry or refused;
//! - `otlp_fields`, `plain_record`: the field numbers; the common record
//!   (a plain log line) written straight, its size known before it starts;
//! - `backoff`: the delay before a retry (exponential, full jitter).

pub mod backoff;
pub mod exporter;
pub mod otlp_answer;
pub mod otlp_fields;
pub mod otlp_request;
pub mod plain_record;
pub mod protobuf;
pub mod settings;
