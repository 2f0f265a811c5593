//! The OTLP/HTTP exporter: one more participant on the loop. It watches
//! every session (a watcher in `watchers.rs`), reads each session's ring by
//! cursor (`Session::export`, an `ExportMark`) and never copies the log:
//! what a batch in flight holds is its encoded request and nothing else.
//!
//! ```text
//! Idle ──entry──▶ Collecting ──full, or batch_ms──▶ Sending ──2xx──▶ Idle / Collecting
//!                                                     │  └─4xx/5xx (not retryable): drop, warn
//!                                                     └─429/502/503/504, no answer──▶ Backoff ──▶ Sending
//! ```
//!
//! One request in flight, in order per session, at least once: a batch is
//! sent again, whole, until the collector takes it or refuses it for good.
//! While it waits the rings fill; what they evict before it was taken is
//! counted as dropped, reported in `/health`, in the server's log once per
//! outage, and in the next record of that session (`dropped_before`).
//!
//! The loop never waits for the collector: the connection is `outbound.rs`
//! (non-blocking, every state with a deadline), and the exporter's memory
//! is one batch (`OTLP_BATCH_BYTES_MAX` plus one record) and an answer
//! (`OTLP_ANSWER_BODY_BYTES_MAX`), whatever the collector does.

use super::backoff::retry_delay_ms;
use super::otlp_answer::{read_answer, Answer};
use super::otlp_request::{Event, Record, RequestWriter, Resource, SessionAttrs};
use super::settings::ExportSettings;
use crate::api::{App, VERSION};
use crate::level::Level;
use crate::limits::*;
use crate::log_ring::RawEntry;
use crate::outbound::{Outbound, OutboundState, Progress, Request};
use crate::sessions::{format_id, Session, SessionId};
use crate::views::ExportHealth;
use mio::{Registry, Token};
use std::collections::{HashSet, VecDeque};

/// What the exporter is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing waits to be sent.
    Idle,
    /// Entries wait; the batch closes when full or at `closes_ms`.
    Collecting { closes_ms: u64 },
    /// A request is in flight.
    Sending,
    /// The last attempt failed; the same batch goes again at `retry_ms`.
    Backoff { retry_ms: u64 },
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Collecting { .. } => "collecting",
            Phase::Sending => "sending",
            Phase::Backoff { .. } => "retrying",
        }
    }
}

/// A batch taken from the rings: its whole request, and how many log
/// entries it carries (start and end records are not counted).
struct Batch {
    request: Request,
    entries: u64,
}

/// Since when the collector has been failing, and what was lost meanwhile.
struct Outage {
    since_ms: u64,
}

pub struct Exporter {
    settings: ExportSettings,
    writer: RequestWriter,
    outbound: Outbound,
    phase: Phase,
    batch: Option<Batch>,
    attempt: u32,
    /// Sessions that may hold something not yet taken, oldest first.
    pending: VecDeque<SessionId>,
    pending_set: HashSet<SessionId>,
    outage: Option<Outage>,
    /// Entries lost since the last loss line in the server's log was
    /// written; `None`: no loss since then.
    losing: Option<u64>,
    /// When the oldest record not yet taken was noted: a batch closes
    /// `batch_ms` after it (0: left over from a full batch, due at once).
    pending_since_ms: Option<u64>,
    /// Stop requested: batches close at once.
    flushing: bool,
    random: u64,
    /// The deadline the wheel holds a timer for, if any.
    pub timer_armed_ms: Option<u64>,
}

impl Exporter {
    pub fn new(
        settings: ExportSettings,
        token: Token,
        server_id: &SessionId,
        app: &mut App,
        now_ms: u64,
    ) -> Exporter {
        let mut attributes = settings.resource.clone();
        attributes.insert(1, ("service.instance.id".to_owned(), format_id(server_id)));
        let resource = Resource { attributes };
        let writer = RequestWriter::new(settings.encoding, &resource, VERSION);
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        app.export = Some(ExportHealth {
            endpoint: settings.url.clone(),
            state: Phase::Idle.name(),
            ..ExportHealth::default()
        });
        let mut exporter = Exporter {
            outbound: Outbound::new(token, settings.addr),
            settings,
            writer,
            phase: Phase::Idle,
            batch: None,
            attempt: 0,
            pending: VecDeque::new(),
            pending_set: HashSet::new(),
            outage: None,
            losing: None,
            pending_since_ms: None,
            flushing: false,
            random: u64::from_le_bytes(seed) | 1,
            timer_armed_ms: None,
        };
        exporter.note_changed(*server_id, now_ms);
        exporter
    }

    /// A session changed (its watcher was woken): it may have records to
    /// take.
    pub fn note_changed(&mut self, session: SessionId, now_ms: u64) {
        if self.pending_set.insert(session) {
            self.pending.push_back(session);
        }
        let since_ms = *self.pending_since_ms.get_or_insert(now_ms);
        if self.phase == Phase::Idle {
            self.phase = Phase::Collecting {
                closes_ms: since_ms + self.settings.batch_ms,
            };
        }
    }

    /// When the exporter next needs a turn without an event.
    pub fn deadline_ms(&self) -> Option<u64> {
        let phase = match self.phase {
            Phase::Collecting { closes_ms } => Some(closes_ms),
            Phase::Backoff { retry_ms } => Some(retry_ms),
            Phase::Idle | Phase::Sending => None,
        };
        match (phase, self.outbound.deadline_ms()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Once per loop turn: counts losses the table saw, and sends a batch
    /// that is due.
    pub fn on_turn(&mut self, app: &mut App, registry: &Registry, now_ms: u64) {
        let lost = app.sessions.take_export_lost();
        if lost > 0 {
            self.note_loss(
                app,
                lost,
                "with ended sessions evicted (--max-ended)",
                now_ms,
            );
        }
        if self.phase == Phase::Sending && self.outbound.state() == OutboundState::Receiving {
            // The collector's answer often comes while the loop serves a
            // turn of requests, and its readiness would be seen only at
            // the next poll: looking for it here (a read that finds
            // nothing is one syscall) sends the next batch a turn sooner.
            // Under saturated ingest that was one batch per turn instead
            // of one per two (make bench: 861 → see BENCHMARKS.md).
            let progress = self.outbound.on_ready(registry, now_ms);
            self.on_progress(progress, app, now_ms);
        }
        let due = match self.phase {
            Phase::Collecting { closes_ms } => {
                closes_ms <= now_ms
                    || self.flushing
                    || self.waiting_at_least(app, self.settings.batch_entries)
            }
            Phase::Backoff { retry_ms } => retry_ms <= now_ms,
            Phase::Idle | Phase::Sending => false,
        };
        if due {
            self.send(app, registry, now_ms);
        }
        self.publish(app);
    }

    /// A readiness event on the collector connection.
    pub fn on_ready(&mut self, app: &mut App, registry: &Registry, now_ms: u64) {
        let progress = self.outbound.on_ready(registry, now_ms);
        self.on_progress(progress, app, now_ms);
        self.publish(app);
    }

    /// The exporter's timer fired.
    pub fn on_timer(&mut self, app: &mut App, registry: &Registry, now_ms: u64) {
        let progress = self.outbound.on_deadline(registry, now_ms);
        self.on_progress(progress, app, now_ms);
        self.on_turn(app, registry, now_ms);
    }

    /// Stop requested (SIGTERM/SIGINT): send what is left at once.
    pub fn flush(&mut self) {
        self.flushing = true;
    }

    /// Nothing taken is unsent and nothing is left to take.
    pub fn is_drained(&self, app: &App) -> bool {
        self.batch.is_none() && !self.waiting_at_least(app, 1)
    }

    /// Entries not yet taken (for the last word at exit).
    pub fn untaken_entries(&self, app: &App) -> u64 {
        let in_batch = self.batch.as_ref().map_or(0, |batch| batch.entries);
        let waiting: u64 = self
            .pending
            .iter()
            .filter_map(|id| app.sessions.get(id))
            .map(|session| {
                session
                    .log
                    .next_cursor()
                    .saturating_sub(session.export.get().cursor)
            })
            .sum();
        in_batch + waiting
    }

    /// Whether at least `count` records wait (entries, or a session's
    /// start or end): a scan of the pending sessions that stops there.
    fn waiting_at_least(&self, app: &App, count: usize) -> bool {
        let mut waiting = 0u64;
        for id in &self.pending {
            let Some(session) = app.sessions.get(id) else {
                continue;
            };
            let mark = session.export.get();
            waiting += session.log.next_cursor().saturating_sub(mark.cursor);
            waiting += u64::from(!mark.start_taken);
            waiting += u64::from(!session.is_active() && !mark.end_taken);
            if waiting >= count as u64 {
                return true;
            }
        }
        false
    }

    /// Sends the batch waiting to be retried, or takes a new one.
    fn send(&mut self, app: &mut App, registry: &Registry, now_ms: u64) {
        if self.batch.is_none() {
            self.batch = self.take_batch(app, now_ms);
        }
        let Some(batch) = &mut self.batch else {
            self.phase = Phase::Idle;
            return;
        };
        self.phase = Phase::Sending;
        let request = std::mem::take(&mut batch.request);
        let progress = self
            .outbound
            .start(registry, request, self.settings.timeout_ms, now_ms);
        self.on_progress(progress, app, now_ms);
    }

    /// Takes records from the pending sessions' rings into one request,
    /// until it is full or they are caught up.
    fn take_batch(&mut self, app: &mut App, now_ms: u64) -> Option<Batch> {
        self.writer.clear();
        let mut entries = 0u64;
        let mut lost = 0u64;
        while let Some(&id) = self.pending.front() {
            let Some(session) = app.sessions.get(&id) else {
                self.pop_pending();
                continue;
            };
            let full = self.take_records(session, &mut entries, &mut lost, now_ms);
            if full {
                break;
            }
            self.pop_pending();
        }
        if lost > 0 {
            self.note_loss(
                app,
                lost,
                "from their rings before they were exported",
                now_ms,
            );
        }
        if self.writer.record_count() == 0 {
            return None;
        }
        let (body, body_start) = self.writer.take_finished();
        let mut head = Vec::with_capacity(512);
        write_request_head(&self.settings, &mut head, body.len() - body_start);
        let request = Request {
            head,
            body,
            body_start,
        };
        Some(Batch { request, entries })
    }

    fn pop_pending(&mut self) {
        if let Some(id) = self.pending.pop_front() {
            self.pending_set.remove(&id);
        }
    }

    fn batch_full(&self, entries: u64) -> bool {
        entries >= self.settings.batch_entries as u64
            || self.writer.encoded_size() >= OTLP_BATCH_BYTES_MAX
    }

    /// Takes one session's records: its start, its entries from its mark,
    /// its end once ended and caught up. True when the batch filled first.
    fn take_records(
        &mut self,
        session: &Session,
        entries: &mut u64,
        lost: &mut u64,
        now_ms: u64,
    ) -> bool {
        let mut mark = session.export.get();
        let id = format_id(&session.id);
        let attrs = SessionAttrs {
            id: &id,
            appname: &session.appname,
            mode: &session.mode,
            jobid: session.jobid.as_deref(),
        };
        let observed = now_ms.saturating_mul(1_000_000);
        self.writer.start_session(&attrs);
        let mut full = false;
        if !mark.start_taken {
            if self.batch_full(*entries) {
                return true;
            }
            let record = Record {
                time_unix_nano: session.created_ms.saturating_mul(1_000_000),
                observed_time_unix_nano: observed,
                level: Level::Info,
                body: b"session started",
                session: attrs,
                event: Event::SessionStart {
                    metadata: &session.metadata,
                },
                dropped_before: 0,
            };
            self.writer.push_of_session(&record);
            mark.start_taken = true;
        }
        let first = session.log.first_cursor();
        if first > mark.cursor {
            let gap = first - mark.cursor;
            *lost += gap;
            mark.dropped_unreported += gap;
            mark.cursor = first;
        }
        for entry in session.log.raw_iter_from(mark.cursor) {
            if self.batch_full(*entries) {
                full = true;
                break;
            }
            self.writer.push_of_session(&entry_record(
                &entry,
                attrs,
                observed,
                mark.dropped_unreported,
            ));
            mark.dropped_unreported = 0;
            mark.cursor = entry.cursor + 1;
            *entries += 1;
        }
        let caught_up = mark.cursor >= session.log.next_cursor();
        if !full && caught_up && !session.is_active() && !mark.end_taken {
            if self.batch_full(*entries) {
                full = true;
            } else {
                let reason = session
                    .end_reason
                    .as_ref()
                    .map_or("ended", |reason| reason.as_str());
                let body = format!("session ended: {reason}");
                let record = Record {
                    time_unix_nano: session.ended_ms.unwrap_or(now_ms).saturating_mul(1_000_000),
                    observed_time_unix_nano: observed,
                    level: Level::Info,
                    body: body.as_bytes(),
                    session: attrs,
                    event: Event::SessionEnd {
                        metadata: &session.metadata,
                        end_reason: reason,
                    },
                    dropped_before: mark.dropped_unreported,
                };
                self.writer.push_of_session(&record);
                mark.dropped_unreported = 0;
                mark.end_taken = true;
            }
        }
        session.export.set(mark);
        full
    }
}

/// `POST /v1/logs` with the collector's `Host`, the encoding's type, the
/// body's length and the configured headers.
fn write_request_head(settings: &ExportSettings, out: &mut Vec<u8>, body_size: usize) {
    {
        out.extend_from_slice(b"POST ");
        out.extend_from_slice(settings.path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(settings.host.as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(settings.encoding.content_type().as_bytes());
        out.extend_from_slice(b"\r\nUser-Agent: sessions-lite/");
        out.extend_from_slice(VERSION.as_bytes());
        out.extend_from_slice(b"\r\nContent-Length: ");
        out.extend_from_slice(body_size.to_string().as_bytes());
        for (name, value) in &settings.headers {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
        }
        out.extend_from_slice(b"\r\n\r\n");
    }
}

impl Exporter {
    fn on_progress(&mut self, progress: Progress, app: &mut App, now_ms: u64) {
        if progress == Progress::Pending {
            return;
        }
        if let Some(batch) = &mut self.batch {
            // Back from the connection, for a retry.
            batch.request = self.outbound.take_request();
        }
        match progress {
            Progress::Pending => {}
            Progress::Answered(answer) => {
                let answer = read_answer(
                    answer.status,
                    answer.content_type.as_deref(),
                    &answer.body,
                    answer.retry_after.as_deref(),
                    now_ms,
                );
                match answer {
                    Answer::Accepted {
                        rejected_log_records,
                        error_message,
                    } => self.on_delivered(app, rejected_log_records, &error_message, now_ms),
                    Answer::Retry {
                        status,
                        after_ms,
                        message,
                    } => self.retry_later(
                        app,
                        after_ms,
                        &format!("HTTP {status}: {message}"),
                        now_ms,
                    ),
                    Answer::Refused { status, message } => {
                        self.drop_batch(app, &format!("HTTP {status}: {message}"), now_ms)
                    }
                }
            }
            Progress::Failed(failure) if failure.is_retryable() => {
                self.retry_later(app, None, &failure.message(), now_ms)
            }
            Progress::Failed(failure) => self.drop_batch(app, &failure.message(), now_ms),
        }
    }

    /// The batch in flight is done with (taken or dropped): its buffer goes
    /// back to the writer for the next one. How many entries it held.
    fn finish_batch(&mut self) -> u64 {
        let Some(batch) = self.batch.take() else {
            return 0;
        };
        self.writer.reuse_buffer(batch.request.body);
        batch.entries
    }

    fn on_delivered(&mut self, app: &mut App, rejected: u64, message: &str, now_ms: u64) {
        let entries = self.finish_batch();
        if let Some(health) = &mut app.export {
            health.sent += entries;
            health.rejected += rejected;
        }
        if rejected > 0 || !message.is_empty() {
            let line = format!(
                "export: the collector took the batch but rejected {rejected} record(s): {message}"
            );
            app.server_log(Level::Warn, &line, now_ms);
        }
        if let Some(outage) = self.outage.take() {
            let seconds = now_ms.saturating_sub(outage.since_ms) / 1000;
            let line = format!("export: the collector answers again, after {seconds} s");
            app.server_log(Level::Info, &line, now_ms);
        }
        if let Some(lost) = self.losing.take() {
            if lost > 0 {
                let line = format!(
                    "export: {lost} more entries were lost before export since the last report"
                );
                app.server_log(Level::Warn, &line, now_ms);
            }
        }
        self.attempt = 0;
        self.next_phase(now_ms);
    }

    fn drop_batch(&mut self, app: &mut App, why: &str, now_ms: u64) {
        let entries = self.finish_batch();
        if let Some(health) = &mut app.export {
            health.dropped += entries;
            health.last_error = Some(why.to_owned());
        }
        let line = format!("export: a batch of {entries} entries was dropped, not retried: {why}");
        app.server_log(Level::Warn, &line, now_ms);
        self.outage = None;
        self.attempt = 0;
        self.next_phase(now_ms);
    }

    fn retry_later(&mut self, app: &mut App, after_ms: Option<u64>, why: &str, now_ms: u64) {
        if let Some(health) = &mut app.export {
            health.retried += 1;
            health.last_error = Some(why.to_owned());
        }
        if self.outage.is_none() {
            self.outage = Some(Outage { since_ms: now_ms });
            let line = format!(
                "export to {} failed: {why}; retrying with backoff (entries wait in their rings)",
                self.settings.url
            );
            app.server_log(Level::Warn, &line, now_ms);
        }
        // xorshift64: jitter needs no more.
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        // Attempt 0 is the first retry.
        let delay_ms = retry_delay_ms(self.attempt, self.random, after_ms);
        self.attempt = self.attempt.saturating_add(1);
        self.phase = Phase::Backoff {
            retry_ms: now_ms + delay_ms,
        };
    }

    /// After an answer: collect again if anything waits, the batch
    /// closing `batch_ms` after the oldest of it was noted.
    fn next_phase(&mut self, now_ms: u64) {
        if self.pending.is_empty() {
            // Quiet: a burst's buffers are not kept for the quiet after it.
            self.writer.release_memory();
        }
        self.phase = match self.pending_since_ms {
            _ if self.pending.is_empty() => Phase::Idle,
            Some(since_ms) => Phase::Collecting {
                closes_ms: since_ms + self.settings.batch_ms,
            },
            None => Phase::Collecting {
                closes_ms: now_ms + self.settings.batch_ms,
            },
        };
    }

    /// Counts entries lost before export; the first loss of an outage (or
    /// since the last report) goes to the server's log.
    fn note_loss(&mut self, app: &mut App, lost: u64, how: &str, now_ms: u64) {
        if let Some(health) = &mut app.export {
            health.dropped += lost;
        }
        match &mut self.losing {
            Some(count) => *count += lost,
            None => {
                self.losing = Some(0);
                let line = format!(
                    "export: {lost} entries were evicted {how}; further losses are counted in \
                     /health (export.dropped) and reported once the collector keeps up"
                );
                app.server_log(Level::Warn, &line, now_ms);
            }
        }
    }

    fn publish(&self, app: &mut App) {
        if let Some(health) = &mut app.export {
            health.state = self.phase.name();
        }
    }
}

/// The record of one log entry.
fn entry_record<'a>(
    entry: &RawEntry<'a>,
    session: SessionAttrs<'a>,
    observed: u64,
    dropped_before: u64,
) -> Record<'a> {
    Record {
        time_unix_nano: entry.timestamp_ms.saturating_mul(1_000_000),
        observed_time_unix_nano: observed,
        level: entry.level,
        body: entry.message,
        session,
        event: Event::Entry {
            cursor: entry.cursor,
            data: entry.data,
            truncated: entry.truncated,
        },
        dropped_before,
    }
}
