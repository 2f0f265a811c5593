//! `run`'s side of the service: one thread that creates the session, sends
//! the outbox's batches over one keep-alive connection as NDJSON, retries
//! while the service fails, and ends the session with the command's
//! outcome. The pipe readers hand it lines through `Shared::deliver`.
//!
//! The build never waits on a failing service: while the last request
//! succeeded, a reader that finds the outbox full waits for room (the
//! service is merely behind, and every line should arrive); once a request
//! fails, or room has not come within `RUN_BACKPRESSURE_WAIT_MS`, readers
//! stop waiting and lines beyond the bounds are counted as undelivered.
//! A problem is reported once on stderr, not once per retry.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::http_client::{ClientError, HttpClient, Response};
use super::outbox::{EncodedLines, Outbox, Take};
use crate::limits::{
    CLIENT_IO_TIMEOUT_MS, RUN_BACKPRESSURE_WAIT_MS, RUN_FINISH_TIMEOUT_MS,
    RUN_RETRY_BACKOFF_MS_MAX, RUN_RETRY_BACKOFF_MS_MIN, RUN_UNSENT_LINES_MAX,
};

/// How the session ends, once the command has: the DELETE body
/// (`{"end_reason": .., "metadata": {..}}`).
pub struct Ending {
    pub body: Vec<u8>,
}

/// What readers, the sender and `run` share.
pub struct Shared {
    /// The outbox's clock starts here.
    started: Instant,
    state: Mutex<State>,
    /// The sender waits here for lines or the end.
    lines_ready: Condvar,
    /// Readers wait here for room.
    room_ready: Condvar,
}

struct State {
    outbox: Outbox,
    /// The last request succeeded (or none was made): readers may wait.
    service_ok: bool,
    /// A reader waited in vain: no more waiting until a batch is delivered.
    overflowing: bool,
    ending: Option<Ending>,
    /// Pipe readers still reading.
    readers_running: usize,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            started: Instant::now(),
            state: Mutex::new(State {
                outbox: Outbox::new(),
                service_ok: true,
                overflowing: false,
                ending: None,
                readers_running: 0,
            }),
            lines_ready: Condvar::new(),
            room_ready: Condvar::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands over lines read from the command (see the module doc).
    pub fn deliver(&self, lines: &EncodedLines) {
        let mut state = self.lock();
        let deadline = Instant::now() + Duration::from_millis(RUN_BACKPRESSURE_WAIT_MS);
        while state.service_ok && !state.overflowing && !state.outbox.fits(lines) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.overflowing = true;
                break;
            }
            state = match self.room_ready.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        let now_ms = self.now_ms();
        state.outbox.push(lines, now_ms);
        drop(state);
        self.lines_ready.notify_one();
    }

    pub fn reader_started(&self) {
        self.lock().readers_running += 1;
    }

    pub fn reader_done(&self) {
        self.lock().readers_running -= 1;
        self.room_ready.notify_all();
    }

    /// Waits until every pipe reader is done, at most `timeout`; false if
    /// one is still reading.
    pub fn wait_readers(&self, timeout: Duration) -> bool {
        let state = self.lock();
        match self
            .room_ready
            .wait_timeout_while(state, timeout, |state| state.readers_running > 0)
        {
            Ok((state, _)) => state.readers_running == 0,
            Err(poisoned) => poisoned.into_inner().0.readers_running == 0,
        }
    }

    /// No more lines: end the session this way once they are delivered.
    pub fn close(&self, ending: Ending) {
        let mut state = self.lock();
        state.outbox.closed = true;
        state.ending = Some(ending);
        drop(state);
        self.lines_ready.notify_one();
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::new()
    }
}

/// The session the sender logs into.
pub struct Target {
    /// 24 hex digits.
    pub id: String,
    /// The create body; `None` for `--id` (a session we neither create nor end).
    pub create_body: Option<Vec<u8>>,
}

/// What the sender reports when it is done.
#[derive(Debug, Default)]
pub struct Report {
    pub undelivered: u64,
    /// Something went wrong with the service (already said on stderr).
    pub service_failed: bool,
}

/// One request's outcome, as the sender acts on it.
enum Verdict {
    Done,
    /// Worth trying again after a pause: the service is away or busy.
    Retry(String),
    /// The session was lost (the server restarted): create it again.
    Recreate,
    /// Only this batch is refused; go on with the next.
    DropBatch(String),
    /// Nothing more will get through (wrong token, session ended by others).
    GiveUp(String),
}

pub struct Sender<'a> {
    shared: &'a Shared,
    client: HttpClient,
    target: Target,
    created: bool,
    gave_up: bool,
    backoff_ms: u64,
    finish_deadline: Option<Instant>,
    report: Report,
}

impl<'a> Sender<'a> {
    pub fn new(shared: &'a Shared, client: HttpClient, target: Target) -> Sender<'a> {
        let created = target.create_body.is_none();
        Sender {
            shared,
            client,
            target,
            created,
            gave_up: false,
            backoff_ms: RUN_RETRY_BACKOFF_MS_MIN,
            finish_deadline: None,
            report: Report::default(),
        }
    }

    /// Runs until the outbox is closed and empty (or time is up), then ends
    /// the session.
    pub fn run(mut self) -> Report {
        loop {
            if !self.created && !self.gave_up {
                match self.create() {
                    Verdict::Done => self.created = true,
                    verdict => {
                        // Given up: go on taking lines, to count them.
                        if self.handle_failure(verdict) && !self.gave_up {
                            break;
                        }
                        continue;
                    }
                }
            }
            let Some((bytes, line_count)) = self.next_batch() else {
                break;
            };
            if self.gave_up || self.out_of_time() {
                self.settle(line_count, bytes.len(), false);
                continue;
            }
            self.send_batch(bytes, line_count);
        }
        self.give_up_held();
        self.end_session();
        let mut state = self.shared.lock();
        self.report.undelivered = state.outbox.undelivered;
        state.service_ok = false;
        drop(state);
        self.shared.room_ready.notify_all();
        self.report
    }

    /// Sends one batch until it is delivered, refused or time is up.
    fn send_batch(&mut self, bytes: Vec<u8>, line_count: usize) {
        loop {
            let path = format!("/sessions/{}/log", self.target.id);
            let answer = self.request("POST", &path, Some("application/x-ndjson"), &bytes);
            let verdict = self.verdict(answer);
            match verdict {
                Verdict::Done => {
                    self.settle(line_count, bytes.len(), true);
                    return;
                }
                Verdict::DropBatch(problem) => {
                    self.say_once(&problem);
                    self.settle(line_count, bytes.len(), false);
                    return;
                }
                Verdict::Recreate if self.target.create_body.is_some() => {
                    self.created = false;
                    match self.create() {
                        Verdict::Done => self.created = true,
                        other => {
                            if self.handle_failure(other) {
                                self.settle(line_count, bytes.len(), false);
                                return;
                            }
                        }
                    }
                }
                other => {
                    if self.handle_failure(other) {
                        self.settle(line_count, bytes.len(), false);
                        return;
                    }
                }
            }
        }
    }

    /// Says what went wrong (once), pauses before a retry; true when there
    /// is nothing more to try (given up, or out of time).
    fn handle_failure(&mut self, verdict: Verdict) -> bool {
        let problem = match verdict {
            Verdict::Done => return false,
            Verdict::Retry(problem) | Verdict::DropBatch(problem) => problem,
            Verdict::Recreate => format!("session {} is gone", self.target.id),
            Verdict::GiveUp(problem) => {
                self.say_once(&format!("{problem}; the command goes on without its log"));
                self.gave_up = true;
                self.set_service_ok(false);
                return true;
            }
        };
        self.say_once(&format!(
            "{problem}; the command goes on, up to {RUN_UNSENT_LINES_MAX} lines are kept and retried"
        ));
        self.set_service_ok(false);
        self.pause();
        self.out_of_time()
    }

    fn create(&mut self) -> Verdict {
        let body = self.target.create_body.clone().unwrap_or_default();
        let path = format!("/sessions/{}", self.target.id);
        let answer = self.request("POST", &path, Some("application/json"), &body);
        match answer {
            Ok(response) if response.status == 404 => Verdict::GiveUp(format!(
                "log service: cannot create the session: {}",
                response.error_text()
            )),
            other => self.verdict(other),
        }
    }

    fn end_session(&mut self) {
        let Some(ending) = self.shared.lock().ending.take() else {
            return;
        };
        if self.target.create_body.is_none() || !self.created || self.gave_up {
            return;
        }
        let body = ending.body;
        let path = format!("/sessions/{}", self.target.id);
        loop {
            if self.out_of_time() {
                self.say_once("log service: no time left to end the session");
                return;
            }
            let answer = self.request("DELETE", &path, Some("application/json"), &body);
            match self.verdict(answer) {
                Verdict::Done => return,
                Verdict::Retry(problem) => {
                    self.say_once(&format!("log service: cannot end the session: {problem}"));
                    self.pause();
                }
                Verdict::Recreate | Verdict::DropBatch(_) | Verdict::GiveUp(_) => {
                    self.say_once("log service: cannot end the session");
                    return;
                }
            }
        }
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Response, ClientError> {
        let timeout_ms = match self.finish_deadline {
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
            None => CLIENT_IO_TIMEOUT_MS,
        };
        self.client.set_io_timeout_ms(timeout_ms);
        self.client.request(method, path, content_type, body, 0)
    }

    fn verdict(&self, answer: Result<Response, ClientError>) -> Verdict {
        let where_ = format!("log service at http://{}", self.client.endpoint().authority);
        let response = match answer {
            Ok(response) => response,
            Err(error) => return Verdict::Retry(format!("{where_}: {error}")),
        };
        let problem = format!("{where_}: {}", response.error_text());
        match response.status {
            200..=299 => Verdict::Done,
            404 => Verdict::Recreate,
            401 => Verdict::GiveUp(format!(
                "{where_} refused the token: {}",
                response.error_text()
            )),
            403 | 409 => Verdict::GiveUp(problem),
            400 | 411 | 413 | 415 => Verdict::DropBatch(problem),
            _ => Verdict::Retry(problem),
        }
    }

    /// The next batch to send, waiting for one; `None` when closed and empty.
    fn next_batch(&mut self) -> Option<(Vec<u8>, usize)> {
        let mut state = self.shared.lock();
        loop {
            if state.outbox.closed && self.finish_deadline.is_none() {
                self.finish_deadline =
                    Some(Instant::now() + Duration::from_millis(RUN_FINISH_TIMEOUT_MS));
            }
            let now_ms = self.shared.now_ms();
            let wait = match state.outbox.take(now_ms) {
                Take::Send(batch) => return Some((batch.bytes, batch.line_count)),
                Take::Empty if state.outbox.closed => return None,
                Take::Empty => None,
                Take::WaitUntil(ready_ms) => Some(Duration::from_millis(ready_ms - now_ms)),
            };
            state = match wait {
                Some(wait) => match self.shared.lines_ready.wait_timeout(state, wait) {
                    Ok((state, _)) => state,
                    Err(poisoned) => poisoned.into_inner().0,
                },
                None => match self.shared.lines_ready.wait(state) {
                    Ok(state) => state,
                    Err(poisoned) => poisoned.into_inner(),
                },
            };
        }
    }

    fn settle(&mut self, line_count: usize, byte_count: usize, delivered: bool) {
        let mut state = self.shared.lock();
        state.outbox.settle(line_count, byte_count, delivered);
        if delivered {
            state.service_ok = true;
            state.overflowing = false;
            self.backoff_ms = RUN_RETRY_BACKOFF_MS_MIN;
        }
        drop(state);
        self.shared.room_ready.notify_all();
    }

    fn give_up_held(&mut self) {
        self.shared.lock().outbox.drop_held();
    }

    fn set_service_ok(&mut self, ok: bool) {
        self.shared.lock().service_ok = ok;
        self.shared.room_ready.notify_all();
    }

    /// Waits `backoff_ms` (less when closing, never past the deadline),
    /// then doubles it.
    fn pause(&mut self) {
        let mut pause = Duration::from_millis(self.backoff_ms);
        if let Some(deadline) = self.finish_deadline {
            pause = pause.min(deadline.saturating_duration_since(Instant::now()));
        }
        let state = self.shared.lock();
        let closed_before = state.outbox.closed;
        let state = match self
            .shared
            .lines_ready
            .wait_timeout_while(state, pause, |state| state.outbox.closed == closed_before)
        {
            Ok((state, _)) => state,
            Err(poisoned) => poisoned.into_inner().0,
        };
        if state.outbox.closed && self.finish_deadline.is_none() {
            self.finish_deadline =
                Some(Instant::now() + Duration::from_millis(RUN_FINISH_TIMEOUT_MS));
        }
        self.backoff_ms = (self.backoff_ms * 2).min(RUN_RETRY_BACKOFF_MS_MAX);
    }

    fn out_of_time(&self) -> bool {
        self.finish_deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    fn say_once(&mut self, problem: &str) {
        if !self.report.service_failed {
            eprintln!("sessions-lite: {problem}");
        }
        self.report.service_failed = true;
    }
}
