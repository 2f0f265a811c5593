//! Every capacity, size and timeout of the server, in one place.
//!
//! Names put the qualifier last (`HEAD_BYTES_MAX`, `IDLE_TIMEOUT_MS`). The
//! defaults that a flag can change live here too (`*_DEFAULT`); `config.rs`
//! reads the flags and nothing else hides a default. Relations between limits
//! are checked at compile time at the bottom of this file.

/// Request line plus headers, in bytes. Over it: 431 (414 for the URI alone).
pub const HEAD_BYTES_MAX: usize = 16 * 1024;
/// Header fields in one request. Over it: 431.
pub const HEADERS_MAX: usize = 64;
/// Request target (path and query), in bytes. Over it: 414.
pub const URI_BYTES_MAX: usize = 8 * 1024;
/// A JSON or NDJSON body (log batch or session body). Over it: 413.
pub const JSON_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// One log line or message, in bytes of UTF-8. Longer: truncated, kept,
/// flagged `"truncated": true`.
pub const MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// One entry's `data` object, serialized. Over it: 413 for the batch.
pub const ENTRY_DATA_BYTES_MAX: usize = 64 * 1024;
/// A session's metadata, serialized. Over it: 413.
pub const METADATA_BYTES_MAX: usize = 64 * 1024;
/// `appname`, `mode` and `jobid`, in bytes. Over it: 400.
pub const SESSION_FIELD_BYTES_MAX: usize = 256;
/// JSON nesting depth of any body. Over it: 400.
pub const JSON_DEPTH_MAX: usize = 32;
/// A chunk-size line (size, extensions, CRLF). Over it: 400 and close.
pub const CHUNK_LINE_BYTES_MAX: usize = 1024;
/// Trailer section after the last chunk, in bytes. Over it: 431 and close.
pub const TRAILER_BYTES_MAX: usize = 4 * 1024;
/// A plain-text log body sent compressed (`Content-Encoding: gzip` or
/// `deflate`), inflated: it is held until its trailer checks out, then
/// appended. Over it: 413, nothing appended.
pub const INFLATED_TEXT_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Output of one inflate step of a compressed body: however small the
/// input, one step never grows the held body by more than this before the
/// body limit is checked again.
pub const INFLATE_STEP_BYTES_MAX: usize = 64 * 1024;
/// The first inflate step for a small piece of input (the output is zeroed
/// before it is written: a step is sized by what the input may give).
pub const INFLATE_STEP_BYTES_MIN: usize = 4 * 1024;
/// A gzip member's file name (FNAME) or comment (FCOMMENT), each, in bytes
/// before its terminating zero. Longer: 400. (FEXTRA is at most 65,535
/// bytes by its format; all three are skipped, never held.)
pub const GZIP_HEADER_FIELD_BYTES_MAX: usize = 4 * 1024;
/// A dashboard file built into the binary, uncompressed: the most a request
/// without gzip makes the server inflate. A larger file fails the build.
pub const ASSET_BYTES_MAX: usize = 256 * 1024;

/// Open client connections (`--max-connections`). Beyond it new ones are
/// accepted and closed.
pub const CONNECTIONS_MAX: usize = 10_000;
/// Upper bound for `--max-connections`.
pub const CONNECTIONS_FLAG_MAX: usize = 1_000_000;
/// Connections the kernel may queue before the loop accepts them.
pub const LISTEN_BACKLOG: i32 = 4096;
/// A keep-alive connection with no request in progress is closed after this.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;
/// A request head must be complete this long after its first byte: else 408.
pub const HEAD_TIMEOUT_MS: u64 = 10_000;
/// A request body must make progress: no byte for this long → 408 and close.
pub const BODY_IDLE_TIMEOUT_MS: u64 = 30_000;
/// A response that the peer does not read for this long → close.
pub const WRITE_STALL_TIMEOUT_MS: u64 = 30_000;
/// Bytes read from one socket per readiness event before yielding to others.
pub const READ_BYTES_PER_EVENT_MAX: usize = 256 * 1024;
/// Bytes written to one socket per readiness event before yielding to others.
pub const WRITE_BYTES_PER_EVENT_MAX: usize = 256 * 1024;
/// Size of the shared read scratch buffer (one per server, not per conn).
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Unsent response bytes per connection before the server stops reading
/// pipelined requests from it (back-pressure, not an error).
pub const CONN_OUTPUT_BYTES_HIGH: usize = 1024 * 1024;
/// Events taken from the poll per turn.
pub const EVENTS_PER_POLL: usize = 1024;
/// Visits without an event per loop turn: revisits (a connection that
/// stopped at a per-event cap or back pressure), list pushes to write
/// (a push tick hands one to every WebSocket and SSE list client), woken
/// log followers and long-poll answers due. The rest wait, in order, for
/// the next turn, which polls with a zero timeout, so a request arriving
/// meanwhile waits for at most this many, not for every client of a tick:
/// 64 list writes at about 6 us each are about 0.4 ms, under a GET's
/// p99 on nginx here (1.1 ms), where 1,000 list clients took 6 ms.
pub const DEFERRED_VISITS_PER_TURN_MAX: usize = 64;
/// Expired timers handled per loop turn (an idle close, a 408, a ping, a
/// long-poll's empty page: a few us each); the rest stay queued, in
/// order, for the next turn. 10,000 idle connections timing out at once
/// are 79 turns of about 0.6 ms instead of one of 50 ms or more.
pub const TIMERS_PER_TURN_MAX: usize = 128;
/// Connections accepted per loop turn (accept, TCP_NODELAY, register:
/// about 4 us each); the listener is come back to next turn, so a
/// reconnect storm filling the backlog is taken 64 a turn between the
/// requests of connections already open.
pub const ACCEPTS_PER_TURN_MAX: usize = 64;

/// `wait=S` on a log read: at most this many seconds.
pub const LONG_POLL_SECS_MAX: u64 = 60;
/// `limit` on a log read when none is given.
pub const LOG_READ_LIMIT_DEFAULT: usize = 1_000;

/// Log entries held per session (`--log-capacity`).
pub const LOG_CAPACITY_DEFAULT: usize = 10_000;
/// Upper bound for `--log-capacity`.
pub const LOG_CAPACITY_MAX: usize = 1_000_000;
/// Bytes held per session log, whatever the entry count: beyond it the
/// oldest entries are evicted like over the entry capacity (`dropped`).
pub const LOG_RING_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Active sessions (`--max-sessions`). Full: 503.
pub const SESSIONS_MAX_DEFAULT: usize = 4_096;
/// Upper bound for `--max-sessions`.
pub const SESSIONS_FLAG_MAX: usize = 1_000_000;
/// Ended sessions kept (`--max-ended`); the oldest is evicted with its log.
pub const ENDED_SESSIONS_MAX_DEFAULT: usize = 1_024;
/// Upper bound for `--max-ended`.
pub const ENDED_SESSIONS_FLAG_MAX: usize = 1_000_000;
/// Session inactivity before the server ends it; 0 = off (`--session-ttl`).
pub const SESSION_TTL_SECS_DEFAULT: u64 = 0;
/// Upper bound for `--session-ttl`: a year.
pub const SESSION_TTL_SECS_MAX: u64 = 365 * 24 * 3600;

/// WebSocket list push interval (`--ws-interval-ms`).
pub const WS_PUSH_INTERVAL_MS_DEFAULT: u64 = 1_000;
/// Smallest `--ws-interval-ms` accepted.
pub const WS_PUSH_INTERVAL_MS_MIN: u64 = 10;
/// Largest `--ws-interval-ms` accepted: an hour.
pub const WS_PUSH_INTERVAL_MS_MAX: u64 = 3_600_000;
/// One WebSocket message from a client. Over it: close 1009.
pub const WS_MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// Unsent bytes queued for one WebSocket client. Over it: close 1008.
pub const WS_UNSENT_BYTES_MAX: usize = 4 * 1024 * 1024;
/// tungstenite's read buffer per WebSocket connection.
pub const WS_READ_BUFFER_BYTES: usize = 4 * 1024;
/// tungstenite's write buffer before it flushes to the socket.
pub const WS_WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// Compressed bytes of one permessage-deflate message from a client: the
/// message limit plus the worst case of stored blocks (5 bytes per 64 KiB)
/// and then some. Over it: close 1009 without inflating.
pub const WS_COMPRESSED_MESSAGE_BYTES_MAX: usize = WS_MESSAGE_BYTES_MAX + WS_MESSAGE_BYTES_MAX / 64;
/// DEFLATE level of compressed session lists (1 = fastest; a 1,000-session
/// list shrinks about 20:1 at level 1 and 28:1 at level 6, for 2.5x the time).
pub const WS_DEFLATE_LEVEL: u8 = 1;
/// A quiet WebSocket client gets a ping after this long.
pub const WS_PING_INTERVAL_MS: u64 = 30_000;
/// A WebSocket client that has not answered a ping for this long is closed.
pub const WS_PONG_TIMEOUT_MS: u64 = 60_000;
/// Log entries sent in one WebSocket `log` message.
pub const WS_LOG_ENTRIES_PER_MESSAGE_MAX: usize = 1_000;
/// A subscriber to list changes hears at least this often: a keep-alive
/// at the first push tick this long after the last changes message.
pub const LIST_KEEPALIVE_INTERVAL_MS: u64 = 15_000;

/// Timer wheel: width of one slot.
pub const TIMER_SLOT_MS: u64 = 10;
/// Timer wheel: number of slots (a power of two).
pub const TIMER_SLOTS: usize = 1024;

// Relations between limits, checked when the crate compiles.
const _: () = assert!(URI_BYTES_MAX < HEAD_BYTES_MAX);
const _: () = assert!(MESSAGE_BYTES_MAX <= WS_MESSAGE_BYTES_MAX);
const _: () = assert!(METADATA_BYTES_MAX < JSON_BODY_BYTES_MAX);
const _: () = assert!(WS_PONG_TIMEOUT_MS > WS_PING_INTERVAL_MS);
// At the default interval a keep-alive is not more often than changes.
const _: () = assert!(LIST_KEEPALIVE_INTERVAL_MS >= WS_PUSH_INTERVAL_MS_DEFAULT);
const _: () = assert!(TIMER_SLOTS.is_power_of_two());
// A turn's work without an event never outweighs what one poll hands
// over, and every budget lets a turn make progress.
const _: () = assert!(0 < DEFERRED_VISITS_PER_TURN_MAX);
const _: () = assert!(DEFERRED_VISITS_PER_TURN_MAX <= EVENTS_PER_POLL);
const _: () = assert!(0 < TIMERS_PER_TURN_MAX && TIMERS_PER_TURN_MAX <= EVENTS_PER_POLL);
const _: () = assert!(0 < ACCEPTS_PER_TURN_MAX && ACCEPTS_PER_TURN_MAX <= EVENTS_PER_POLL);
// A full backlog drains in a bounded number of turns.
const _: () = assert!(ACCEPTS_PER_TURN_MAX <= LISTEN_BACKLOG as usize);
const _: () = assert!(LOG_CAPACITY_DEFAULT <= LOG_CAPACITY_MAX);
const _: () = assert!(CONNECTIONS_MAX <= CONNECTIONS_FLAG_MAX);
const _: () = assert!(SESSIONS_MAX_DEFAULT <= SESSIONS_FLAG_MAX);
const _: () = assert!(ENDED_SESSIONS_MAX_DEFAULT <= ENDED_SESSIONS_FLAG_MAX);
const _: () = assert!(WS_PUSH_INTERVAL_MS_MIN <= WS_PUSH_INTERVAL_MS_DEFAULT);
const _: () = assert!(WS_PUSH_INTERVAL_MS_DEFAULT <= WS_PUSH_INTERVAL_MS_MAX);
const _: () = assert!(MESSAGE_BYTES_MAX < LOG_RING_BYTES_MAX);
const _: () = assert!(WS_MESSAGE_BYTES_MAX < WS_UNSENT_BYTES_MAX);
// A compressed body is held inflated: within the most a log ring holds,
// and one inflate step is a small part of any body limit.
const _: () = assert!(INFLATED_TEXT_BODY_BYTES_MAX <= LOG_RING_BYTES_MAX);
const _: () = assert!(INFLATE_STEP_BYTES_MAX < INFLATED_TEXT_BODY_BYTES_MAX);
const _: () = assert!(INFLATE_STEP_BYTES_MAX < JSON_BODY_BYTES_MAX);
const _: () = assert!(INFLATE_STEP_BYTES_MIN <= INFLATE_STEP_BYTES_MAX);
const _: () = assert!(GZIP_HEADER_FIELD_BYTES_MAX < INFLATE_STEP_BYTES_MAX);

/// A streamed plain-text log body (`tail -f | curl -T -`) may be quiet this
/// long between bytes before it is closed; a build can be silent a while.
pub const LOG_STREAM_IDLE_TIMEOUT_MS: u64 = 10 * 60_000;
/// Input bytes buffered per connection before reading pauses (one head
/// plus one read).
pub const INPUT_BYTES_MAX: usize = HEAD_BYTES_MAX + READ_CHUNK_BYTES;
/// Bytes left free in front of a log page for the response head, which is
/// written there so that the page is not copied behind it (a head that does
/// not fit is written the usual way, and the page copied).
pub const RESPONSE_HEAD_ROOM_BYTES: usize = 512;
/// A `/metrics` answer's body, every value at its longest (a test in
/// `metrics/` renders that): its buffer is allocated at this size once.
pub const METRICS_BODY_BYTES_MAX: usize = 12 * 1024;
/// An idle connection keeps at most this much output buffer capacity.
pub const OUTPUT_BUFFER_KEEP_BYTES: usize = 16 * 1024;
/// An idle connection keeps at most this much input buffer capacity.
pub const INPUT_BUFFER_KEEP_BYTES: usize = 4 * 1024;
/// Log bytes read ahead from the ring for one WebSocket follower (its
/// framed `log` messages, counted exactly); past it the ring is the buffer.
pub const WS_LOG_READ_AHEAD_BYTES_MAX: usize = 256 * 1024;
/// The most bytes one log entry takes as JSON: its message with every byte
/// escaped as `\u00XX`, its data as stored, and under 160 bytes of keys,
/// cursor, timestamp, level and `"truncated":true`.
pub const LOG_ENTRY_JSON_BYTES_MAX: usize = 6 * MESSAGE_BYTES_MAX + ENTRY_DATA_BYTES_MAX + 160;
/// How far a follower's queued bytes may pass `WS_LOG_READ_AHEAD_BYTES_MAX`:
/// a `log` message carries at least one entry, so an entry larger than what
/// is left of the read-ahead goes alone, with under 256 bytes of message
/// around it and its frame header.
pub const WS_LOG_READ_AHEAD_OVERSHOOT_BYTES_MAX: usize = LOG_ENTRY_JSON_BYTES_MAX + 256;
// Both together stay under `CONN_OUTPUT_BYTES_HIGH`, so a follower's
// backlog never stops the server reading that client (its pongs and
// messages), and under the unsent cap, so it never cuts the client off.
const _: () = assert!(
    WS_LOG_READ_AHEAD_BYTES_MAX + WS_LOG_READ_AHEAD_OVERSHOOT_BYTES_MAX < CONN_OUTPUT_BYTES_HIGH
);
const _: () = assert!(
    WS_LOG_READ_AHEAD_BYTES_MAX + WS_LOG_READ_AHEAD_OVERSHOOT_BYTES_MAX < WS_UNSENT_BYTES_MAX
);

// Server-Sent Events (`sse.rs`, `sse_stream.rs`).

/// A stream that sent nothing for this long gets a comment line, so that
/// proxies and clients see it alive (`--sse-heartbeat-ms`).
pub const SSE_HEARTBEAT_MS_DEFAULT: u64 = 15_000;
/// Smallest `--sse-heartbeat-ms` (tests shorten it; no lower).
pub const SSE_HEARTBEAT_MS_MIN: u64 = 100;
/// Largest `--sse-heartbeat-ms`.
pub const SSE_HEARTBEAT_MS_MAX: u64 = 60_000;
/// `retry:` sent once at the start of every stream: how long a browser's
/// `EventSource` waits before it reconnects.
pub const SSE_RETRY_MS: u64 = 1_000;
/// The server ends a stream this long after it started, without `event:
/// end`, and the client resumes with `Last-Event-ID`
/// (`--sse-lifetime-ms`; 0 = never).
pub const SSE_LIFETIME_MS_DEFAULT: u64 = 0;
/// Largest `--sse-lifetime-ms`: a day.
pub const SSE_LIFETIME_MS_MAX: u64 = 24 * 3600 * 1000;
/// Log bytes read ahead from the ring for one SSE log stream (its framed
/// events, counted exactly); past it the ring is the buffer and what it
/// evicts meanwhile is counted as `dropped` in the next page.
pub const SSE_READ_AHEAD_BYTES_MAX: usize = WS_LOG_READ_AHEAD_BYTES_MAX;
/// How far a log stream's unsent bytes may pass the read-ahead: a page
/// carries at least one entry, so an entry larger than what is left goes
/// alone, with under 512 bytes of event, page fields and chunk framing.
pub const SSE_READ_AHEAD_OVERSHOOT_BYTES_MAX: usize = LOG_ENTRY_JSON_BYTES_MAX + 512;
/// Unsent bytes one `/sessions/events` stream may still hold of older
/// lists when a new one is due, an interval later. Over it: closed.
pub const SSE_UNSENT_BYTES_MAX: usize = WS_UNSENT_BYTES_MAX;
const _: () = assert!(SSE_HEARTBEAT_MS_MIN <= SSE_HEARTBEAT_MS_DEFAULT);
const _: () = assert!(SSE_HEARTBEAT_MS_DEFAULT <= SSE_HEARTBEAT_MS_MAX);
// A log stream's backlog never stops the server at its output high-water
// mark, and stays under the list streams' cap.
const _: () =
    assert!(SSE_READ_AHEAD_BYTES_MAX + SSE_READ_AHEAD_OVERSHOOT_BYTES_MAX < CONN_OUTPUT_BYTES_HIGH);
const _: () =
    assert!(SSE_READ_AHEAD_BYTES_MAX + SSE_READ_AHEAD_OVERSHOOT_BYTES_MAX < SSE_UNSENT_BYTES_MAX);

// The OTLP/HTTP exporter (`export/`).

/// `service.name` when neither `OTEL_SERVICE_NAME` nor
/// `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const OTLP_SERVICE_NAME_DEFAULT: &str = "sessions-lite";
/// A batch closes at this many log entries (`--otlp-batch-entries`).
pub const OTLP_BATCH_ENTRIES_DEFAULT: usize = 1_000;
/// Upper bound for `--otlp-batch-entries`.
pub const OTLP_BATCH_ENTRIES_MAX: usize = 100_000;
/// A batch closes this long after its first entry (`--otlp-batch-ms`).
pub const OTLP_BATCH_MS_DEFAULT: u64 = 1_000;
/// Upper bound for `--otlp-batch-ms`.
pub const OTLP_BATCH_MS_MAX: u64 = 60_000;
/// A batch also closes once its encoded request reaches this many bytes
/// (it may pass it by one record: at most `LOG_ENTRY_JSON_BYTES_MAX` and
/// its attributes). Collectors refuse far larger bodies (the Collector's
/// default `max_request_body_size` is 20 MiB).
pub const OTLP_BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;
/// On SIGTERM/SIGINT the server goes on exporting this long, then exits
/// (`--otlp-flush-ms`).
pub const OTLP_FLUSH_MS_DEFAULT: u64 = 2_000;
/// Upper bound for `--otlp-flush-ms`.
pub const OTLP_FLUSH_MS_MAX: u64 = 60_000;
/// One export request, from connecting to the end of the answer
/// (`--otlp-timeout-ms`, `OTEL_EXPORTER_OTLP_TIMEOUT`: the spec's 10 s).
/// Past it the request counts as failed and is retried.
pub const OTLP_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Upper bound for `--otlp-timeout-ms`.
pub const OTLP_TIMEOUT_MS_MAX: u64 = 120_000;
/// A kept-alive connection to the collector idle this long is closed
/// (before a collector's own idle timeout races our next request).
pub const OTLP_IDLE_KEEPALIVE_MS: u64 = 30_000;
/// The head of a collector's answer. Longer: the answer is garbage.
pub const OTLP_ANSWER_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Header fields in a collector's answer.
pub const OTLP_ANSWER_HEADERS_MAX: usize = 64;

const _: () = assert!(OTLP_BATCH_ENTRIES_DEFAULT <= OTLP_BATCH_ENTRIES_MAX);
const _: () = assert!(OTLP_BATCH_MS_DEFAULT <= OTLP_BATCH_MS_MAX);
const _: () = assert!(OTLP_FLUSH_MS_DEFAULT <= OTLP_FLUSH_MS_MAX);
const _: () = assert!(OTLP_TIMEOUT_MS_DEFAULT <= OTLP_TIMEOUT_MS_MAX);
const _: () = assert!(LOG_ENTRY_JSON_BYTES_MAX < OTLP_BATCH_BYTES_MAX);
/// A collector's answer body, in bytes: more is a non-retryable error (the
/// OTLP spec's recommended client limit; the reader stops one byte past it).
pub const OTLP_ANSWER_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// A message taken from a collector's answer (a `google.rpc.Status` message,
/// a partial success's `error_message` or the start of the body), in bytes
/// of UTF-8 after escaping control characters: it goes into our own logs.
pub const OTLP_ANSWER_MESSAGE_BYTES_MAX: usize = 256;
/// A collector's `Retry-After` is honoured up to this delay: a collector
/// must not stall a build machine's log export for hours.
pub const OTLP_RETRY_AFTER_MS_MAX: u64 = 300_000;
/// The first retry of an export waits between this and twice this, and no
/// retry (not even one a `Retry-After` asks for) waits less.
pub const OTLP_RETRY_BASE_MS: u64 = 500;
/// The exponential backoff's ceiling: a retry without `Retry-After` waits at
/// most this long.
pub const OTLP_RETRY_MAX_MS: u64 = 30_000;
const _: () = assert!(OTLP_RETRY_BASE_MS > 0);
const _: () = assert!(OTLP_RETRY_BASE_MS * 2 <= OTLP_RETRY_MAX_MS);
const _: () = assert!(OTLP_RETRY_MAX_MS <= OTLP_RETRY_AFTER_MS_MAX);
const _: () = assert!(OTLP_ANSWER_MESSAGE_BYTES_MAX < OTLP_ANSWER_BODY_BYTES_MAX);

// The client subcommands (`run`, `tail`, `ls`): a separate process from the
// server, blocking std::net, never on the loop.

/// Connecting to the server from a client subcommand.
pub const CLIENT_CONNECT_TIMEOUT_MS: u64 = 2_000;
/// One read or write on a client's connection (a long-poll adds its wait).
pub const CLIENT_IO_TIMEOUT_MS: u64 = 10_000;
/// Response head a client reads, in bytes; longer: the answer is refused.
pub const CLIENT_RESPONSE_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Response body a client reads, in bytes; longer: the answer is refused.
pub const CLIENT_RESPONSE_BODY_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Lines `run` holds unsent while the service fails; later ones are counted
/// as undelivered (the terminal still gets every byte).
pub const RUN_UNSENT_LINES_MAX: usize = 100_000;
/// Encoded bytes `run` holds unsent, whatever the line count (same rule).
pub const RUN_UNSENT_BYTES_MAX: usize = 64 * 1024 * 1024;
/// `run` sends what arrived within this long of a batch's first line.
pub const RUN_BATCH_WINDOW_MS: u64 = 5;
/// One batch `run` sends (encoded NDJSON), in bytes; at it, sent at once.
pub const RUN_BATCH_BYTES_MAX: usize = 1024 * 1024;
/// A line longer than this is logged cut to it (the server cuts further, to
/// `MESSAGE_BYTES_MAX`, and flags it); the terminal gets the whole line.
pub const RUN_LINE_BYTES_MAX: usize = 1024 * 1024;
/// The most bytes one line takes as NDJSON: every byte escaped as `\u00XX`,
/// the replacement of a bad byte included, plus keys, level and timestamp.
pub const RUN_LINE_JSON_BYTES_MAX: usize = 6 * RUN_LINE_BYTES_MAX + 96;
/// While the service keeps up, a pipe reader of `run` waits at most this
/// long for room in a full outbox before it drops lines instead.
pub const RUN_BACKPRESSURE_WAIT_MS: u64 = 1_000;
/// First pause before `run` retries a failed send; doubled up to the max.
pub const RUN_RETRY_BACKOFF_MS_MIN: u64 = 100;
/// Longest pause between two of `run`'s retries.
pub const RUN_RETRY_BACKOFF_MS_MAX: u64 = 2_000;
/// After the command ends, how long `run` keeps trying to deliver what is
/// left and to end the session before it gives up and exits.
pub const RUN_FINISH_TIMEOUT_MS: u64 = 3_000;
/// After the command ends, how long `run` waits for its pipes to close (a
/// background grandchild may hold them open) before it stops reading.
pub const RUN_PIPE_DRAIN_TIMEOUT_MS: u64 = 2_000;
/// Bytes read from the command's pipe at once.
pub const RUN_READ_CHUNK_BYTES: usize = 64 * 1024;
/// `tail -f` long-polls this many seconds per request.
pub const TAIL_WAIT_SECS: u64 = 30;
/// Entries `tail` asks for per page (with `CLIENT_RESPONSE_BODY_BYTES_MAX`
/// above the text of as many lines at `MESSAGE_BYTES_MAX`, escaped).
pub const TAIL_PAGE_ENTRIES_MAX: usize = 100;

const _: () = assert!(RUN_RETRY_BACKOFF_MS_MIN <= RUN_RETRY_BACKOFF_MS_MAX);
const _: () = assert!(RUN_BATCH_BYTES_MAX <= RUN_UNSENT_BYTES_MAX);
const _: () = assert!(RUN_LINE_BYTES_MAX >= MESSAGE_BYTES_MAX);
// A batch may pass RUN_BATCH_BYTES_MAX by one line; it must still be a
// body the server takes.
const _: () = assert!(RUN_BATCH_BYTES_MAX + RUN_LINE_JSON_BYTES_MAX <= JSON_BODY_BYTES_MAX);
const _: () = assert!(RUN_LINE_JSON_BYTES_MAX <= RUN_UNSENT_BYTES_MAX);
const _: () =
    assert!(TAIL_PAGE_ENTRIES_MAX * (2 * MESSAGE_BYTES_MAX + 64) < CLIENT_RESPONSE_BODY_BYTES_MAX);
const _: () = assert!(TAIL_PAGE_ENTRIES_MAX <= LOG_CAPACITY_MAX);
