//! The event loop: one mio `Poll`, the listener, connections in a slab, the
//! timer wheel, and `App` (the session table and routes).
//!
//! mio is edge-triggered: a readiness event comes once per change, so every
//! handler reads and writes until `WouldBlock`, or, when it stops early (a
//! per-event byte cap, a full buffer, a parked request), puts the connection
//! on `visits` and comes back on a later turn without waiting for an event.
//!
//! One turn does a bounded amount of work: at most `EVENTS_PER_POLL` events,
//! `ACCEPTS_PER_TURN_MAX` accepts, `DEFERRED_VISITS_PER_TURN_MAX` visits
//! without an event and `TIMERS_PER_TURN_MAX` expired timers. What is left
//! is carried, in order, to the next turn, which then polls without waiting.

mod clock;
mod deadlines;
mod event_streams;
mod exporting;
mod request;
mod socket_io;
mod stop;
#[cfg(test)]
mod turn_budget_tests;
mod visit_queue;
mod wake;

use crate::api::{self, App};
use crate::config::Config;
use crate::conn::{Conn, ConnState};
use crate::export::exporter::Exporter;
use crate::level::Level;
use crate::limits::*;
use crate::sessions::{Expiry, SessionId};
use crate::timer_wheel::TimerWheel;
use crate::verdict::Verdict;
use crate::watchers::{Watcher, WatcherKind, Watchers};
use crate::ws_hub::WsHub;
use clock::Clock;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use request::keep_partial_line;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use visit_queue::{Visit, VisitQueue};

/// What a poll token names. Accepted connections are their slab slot;
/// connections the server opens itself (`outbound.rs`) have a range of
/// their own from `OUTBOUND_TOKEN_BASE`, far above any slot; the listener
/// and the signal pipe sit at the top of the token space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Accepted(usize),
    /// An outbound connection by its index (0: the exporter's).
    Outbound(usize),
    Listener,
    /// SIGTERM or SIGINT arrived (`stop.rs`).
    Signal,
}

const LISTENER: Token = Token(usize::MAX - 1);
const SIGNAL: Token = Token(usize::MAX - 2);
const OUTBOUND_TOKEN_BASE: usize = usize::MAX / 2;
/// The exporter's connection to its collector.
const EXPORT_TOKEN: Token = Token(OUTBOUND_TOKEN_BASE);
const _: () = assert!(CONNECTIONS_FLAG_MAX < OUTBOUND_TOKEN_BASE);

impl Source {
    fn of(token: Token) -> Source {
        match token {
            LISTENER => Source::Listener,
            SIGNAL => Source::Signal,
            Token(index) if index >= OUTBOUND_TOKEN_BASE => {
                Source::Outbound(index - OUTBOUND_TOKEN_BASE)
            }
            Token(slot) => Source::Accepted(slot),
        }
    }
}

/// Everything the wheel can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKey {
    /// A connection's deadline as armed at `at_ms`.
    Conn {
        slot: usize,
        serial: u64,
        at_ms: u64,
    },
    /// The periodic WebSocket list push.
    WsPush { due_ms: u64 },
    /// Check whether a session has been idle past the TTL.
    SessionExpiry(SessionId),
    /// The exporter's deadline as armed at `at_ms` (batch close, retry,
    /// its connection's deadline).
    Export { at_ms: u64 },
    /// The end of a stop's flush time: only a turn of the loop, which then
    /// ends (`stop_due`).
    Stop,
}

/// What an event says about a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Readiness {
    /// Bytes (or EOF) may be waiting to be read.
    readable: bool,
    /// The peer shut its side or the socket failed.
    hang_up: bool,
}

impl Readiness {
    /// A connection the loop comes back to without an event (`visits`).
    fn of(visit: Visit) -> Readiness {
        Readiness {
            readable: visit == Visit::Read,
            hang_up: false,
        }
    }
}

pub struct Server {
    poll: Poll,
    listener: TcpListener,
    local_addr: SocketAddr,
    conns: Vec<Option<Conn>>,
    free_slots: Vec<usize>,
    next_serial: u64,
    pub app: App,
    wheel: TimerWheel<TimerKey>,
    /// Timers that expired and wait to be handled, oldest first (at most
    /// `TIMERS_PER_TURN_MAX` a turn).
    timers_due: VecDeque<TimerKey>,
    /// What `wheel.advance` hands over, before it joins `timers_due`.
    timers_fired: Vec<TimerKey>,
    /// Connections to come back to without an event, in order (at most
    /// `DEFERRED_VISITS_PER_TURN_MAX` a turn).
    visits: VisitQueue,
    /// WebSocket clients the hub handed a push; they join `visits` (as
    /// writes) as soon as the hub is done (`queue_pushes`), so between
    /// turns this is empty.
    push_due: Vec<usize>,
    /// Accepts left this turn (`ACCEPTS_PER_TURN_MAX` at its start).
    accepts_left: usize,
    /// The listener stopped at `accepts_left` before `WouldBlock`: edge
    /// triggered, it must be come back to without an event.
    accept_pending: bool,
    /// Everything that waits on a session: long-polls, WebSocket follows,
    /// SSE log streams, the exporter.
    watchers: Watchers,
    ws_hub: WsHub,
    /// `/sessions/events` streams, which get the list pushes.
    list_streams: event_streams::ListStreams,
    /// The OTLP exporter, when `--otlp-endpoint` (or the environment) is set.
    exporter: Option<Exporter>,
    /// The end of the self-pipe that SIGTERM and SIGINT write to.
    signals: Option<mio::net::UnixStream>,
    /// Set once a stop was asked for: the loop ends when the exporter has
    /// sent everything or at this time, whichever comes first.
    stop_deadline_ms: Option<u64>,
    clock: Clock,
    read_scratch: Vec<u8>,
}

impl Server {
    /// Binds the listener and creates the server's own session.
    pub fn bind(config: Config) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = bind_listener(config.listen)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let local_addr = listener.local_addr()?;
        let clock = Clock::new();
        let now_ms = clock.now_ms();
        let server_id = api::random_id().map_err(io::Error::other)?;
        let ws_interval_ms = config.ws_push_interval_ms;
        let mut app = App::new(config, local_addr, server_id, now_ms);
        let start_line = start_line(&app.config, local_addr);
        app.server_log(Level::Info, &start_line, now_ms);
        if app.config.token.is_none() && !local_addr.ip().is_loopback() {
            app.server_log(Level::Warn, &no_token_warning(local_addr), now_ms);
        }
        let mut wheel = TimerWheel::new(TIMER_SLOT_MS, TIMER_SLOTS, now_ms);
        let due_ms = now_ms + ws_interval_ms;
        wheel.schedule(due_ms, TimerKey::WsPush { due_ms });
        let mut watchers = Watchers::new();
        let exporter = app.config.export.clone().map(|settings| {
            watchers.watch_every_session(Watcher::new(WatcherKind::Export, 0, 0));
            Exporter::new(settings, EXPORT_TOKEN, &server_id, &mut app, now_ms)
        });
        Ok(Server {
            poll,
            listener,
            local_addr,
            conns: Vec::new(),
            free_slots: Vec::new(),
            next_serial: 0,
            app,
            wheel,
            timers_due: VecDeque::new(),
            timers_fired: Vec::new(),
            visits: VisitQueue::default(),
            push_due: Vec::new(),
            accepts_left: ACCEPTS_PER_TURN_MAX,
            accept_pending: false,
            watchers,
            ws_hub: WsHub::new(now_ms),
            list_streams: event_streams::ListStreams::default(),
            exporter,
            signals: None,
            stop_deadline_ms: None,
            clock,
            read_scratch: vec![0; READ_CHUNK_BYTES],
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Runs the loop until a stop (SIGTERM/SIGINT, once the exporter has
    /// flushed) or an unrecoverable poll error.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            let now_ms = self.clock.now_ms();
            if self.stop_due(now_ms) {
                return Ok(());
            }
            let timeout_ms = if self.work_carried() {
                Some(0)
            } else {
                self.wheel.next_wait_ms(now_ms)
            };
            let timeout = timeout_ms.map(std::time::Duration::from_millis);
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            let now_ms = self.clock.now_ms();
            self.on_tick(&events, now_ms);
        }
    }

    /// Work a turn left for the next (past a budget): then `poll` must not
    /// wait, and new events interleave with it.
    fn work_carried(&self) -> bool {
        debug_assert!(self.push_due.is_empty(), "pushes not queued as visits");
        !self.visits.is_empty() || !self.timers_due.is_empty() || self.accept_pending
    }

    /// The rest of a loop turn after `poll`: events, visits, wake-ups,
    /// timers, each within its budget. Time is `now_ms` only, so tests
    /// drive it with a fake clock.
    fn on_tick(&mut self, events: &Events, now_ms: u64) {
        self.accepts_left = ACCEPTS_PER_TURN_MAX;
        for event in events.iter() {
            match Source::of(event.token()) {
                Source::Listener => self.on_acceptable(now_ms),
                Source::Signal => self.on_signal(now_ms),
                Source::Outbound(_) => self.on_export_ready(now_ms),
                Source::Accepted(slot) => {
                    let readiness = Readiness {
                        readable: event.is_readable() || event.is_read_closed(),
                        hang_up: event.is_read_closed() || event.is_error(),
                    };
                    self.on_ready(slot, readiness, now_ms)
                }
            }
        }
        if self.accept_pending {
            self.on_acceptable(now_ms);
        }
        self.on_visits(now_ms);
        self.wake_changed_sessions(now_ms);
        self.arm_session_expiry(now_ms);
        self.on_timers(now_ms);
        // Timers can change sessions too (expiry, pushes).
        self.wake_changed_sessions(now_ms);
        self.on_export_turn(now_ms);
    }

    /// Visits queued before this point (by events, earlier turns' wakes,
    /// pushes and timers), oldest first, at most
    /// `DEFERRED_VISITS_PER_TURN_MAX`; visits they queue go behind.
    fn on_visits(&mut self, now_ms: u64) {
        let mut visits_left = DEFERRED_VISITS_PER_TURN_MAX;
        for _ in 0..self.visits.len() {
            if visits_left == 0 {
                return;
            }
            let Some((slot, visit)) = self.visits.pop() else {
                return;
            };
            if self.conns.get(slot).is_some_and(Option::is_some) {
                visits_left -= 1;
                self.on_ready(slot, Readiness::of(visit), now_ms);
            }
        }
    }

    /// Clients the hub handed a push join the visits, as writes.
    pub(super) fn queue_pushes(&mut self) {
        for slot in self.push_due.drain(..) {
            self.visits.push(slot, Visit::Write);
        }
    }

    /// Expired timers, oldest first, at most `TIMERS_PER_TURN_MAX`; the
    /// rest stay in `timers_due` for the next turn.
    fn on_timers(&mut self, now_ms: u64) {
        self.wheel.advance(now_ms, &mut self.timers_fired);
        self.timers_due.extend(self.timers_fired.drain(..));
        for _ in 0..TIMERS_PER_TURN_MAX {
            let Some(key) = self.timers_due.pop_front() else {
                return;
            };
            self.on_timer(key, now_ms);
        }
    }

    /// Accepts until `WouldBlock` or `accepts_left` runs out (then the
    /// listener is come back to next turn).
    fn on_acceptable(&mut self, now_ms: u64) {
        self.accept_pending = false;
        loop {
            if self.accepts_left == 0 {
                self.accept_pending = true;
                return;
            }
            match self.listener.accept() {
                Ok((stream, _)) => {
                    self.accepts_left -= 1;
                    self.on_accepted(stream, now_ms);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    // Out of file descriptors and the like: the listener
                    // stays; the next event retries.
                    let line = format!("accept failed: {error}");
                    self.app.server_log(Level::Error, &line, now_ms);
                    return;
                }
            }
        }
    }

    fn on_accepted(&mut self, mut stream: TcpStream, now_ms: u64) {
        if self.app.connection_count >= self.app.config.connections_max {
            // Accepted and closed at once: the client learns at once, and
            // the kernel's backlog does not fill with connections we won't
            // serve.
            self.app.counters.connections_refused_max += 1;
            drop(stream);
            return;
        }
        let _ = stream.set_nodelay(true);
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self
            .poll
            .registry()
            .register(&mut stream, Token(slot), interest)
            .is_err()
        {
            self.free_slots.push(slot);
            return;
        }
        self.next_serial += 1;
        self.conns[slot] = Some(Conn::new(stream, self.next_serial, now_ms));
        self.app.connection_count += 1;
        self.arm_timer(slot, now_ms);
    }

    /// A readiness event (or a revisit): read, process, write.
    fn on_ready(&mut self, slot: usize, readiness: Readiness, now_ms: u64) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        conn.hang_up_seen |= readiness.hang_up;
        let verdict = self.drive(slot, &mut conn, readiness, now_ms);
        self.settle(slot, conn, verdict, now_ms);
    }

    /// Puts a connection back in its slot, or closes it.
    fn settle(&mut self, slot: usize, mut conn: Conn, verdict: Verdict, now_ms: u64) {
        let finished = matches!(conn.state, ConnState::Closing) && conn.unsent() == 0;
        if verdict == Verdict::Close || finished {
            self.close(slot, conn, now_ms);
            return;
        }
        conn.compact_input();
        let deadline_ms = conn.deadline_ms();
        let needs_timer = conn
            .timer_armed_ms
            .is_none_or(|armed_ms| deadline_ms < armed_ms);
        if needs_timer {
            conn.timer_armed_ms = Some(deadline_ms);
            self.wheel.schedule(
                deadline_ms,
                TimerKey::Conn {
                    slot,
                    serial: conn.serial,
                    at_ms: deadline_ms,
                },
            );
        }
        self.conns[slot] = Some(conn);
    }

    fn arm_timer(&mut self, slot: usize, now_ms: u64) {
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::take) {
            self.settle(slot, conn, Verdict::Keep, now_ms);
        }
    }

    fn close(&mut self, slot: usize, mut conn: Conn, now_ms: u64) {
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if let ConnState::ReadingBody(body) = &mut conn.state {
            // The client went away mid-body.
            keep_partial_line(&mut self.app, &mut body.sink, now_ms);
        }
        if let ConnState::WebSocket(ws) = &conn.state {
            ws.on_closed(&mut self.app, now_ms);
            self.app.counters.websocket_clients -= 1;
        }
        self.on_event_stream_closed(slot, &conn, now_ms);
        if let ConnState::LongPoll(parked) = &conn.state {
            self.app.counters.long_polls_parked -= 1;
            let watcher = Watcher::new(WatcherKind::LongPoll, slot, conn.serial);
            self.watchers.unwatch(&parked.session_id, watcher);
        }
        self.app.connection_count -= 1;
        self.free_slots.push(slot);
        // Dropping the stream closes the socket.
    }

    fn on_timer(&mut self, key: TimerKey, now_ms: u64) {
        match key {
            TimerKey::Conn {
                slot,
                serial,
                at_ms,
            } => self.on_conn_timer(slot, serial, at_ms, now_ms),
            TimerKey::WsPush { due_ms } => {
                self.prune_watchers();
                // One changes message per tick for WebSocket subscribers
                // and list streams.
                self.forget_closed_list_streams(now_ms);
                let mut changes = None;
                self.app.counters.list_pushes_stale += self.ws_hub.on_push_tick(
                    &mut self.conns,
                    &self.app,
                    &mut changes,
                    now_ms,
                    &mut self.push_due,
                );
                self.queue_pushes();
                if let Some(changes) = changes {
                    self.hand_out_changes(changes.payload(), now_ms);
                }
                // The next push is due one interval after this one was due,
                // not after it ran, so lateness does not add up; a push
                // missed altogether (a long stall) is skipped, not doubled.
                let interval_ms = self.app.config.ws_push_interval_ms;
                let mut next_ms = due_ms + interval_ms;
                if next_ms <= now_ms {
                    next_ms = now_ms + interval_ms;
                }
                self.wheel
                    .schedule(next_ms, TimerKey::WsPush { due_ms: next_ms });
            }
            TimerKey::SessionExpiry(id) => self.on_expiry_timer(id, now_ms),
            TimerKey::Export { at_ms } => self.on_export_timer(at_ms, now_ms),
            TimerKey::Stop => {}
        }
    }

    /// Sessions created since the last turn get their TTL timer.
    fn arm_session_expiry(&mut self, now_ms: u64) {
        let ttl_ms = self.app.config.session_ttl_secs * 1000;
        for id in std::mem::take(&mut self.app.created_sessions) {
            if ttl_ms > 0 {
                self.wheel
                    .schedule(now_ms + ttl_ms, TimerKey::SessionExpiry(id));
            }
        }
    }

    fn on_expiry_timer(&mut self, id: SessionId, now_ms: u64) {
        let ttl_ms = self.app.config.session_ttl_secs * 1000;
        match self.app.sessions.expire_if_idle(&id, ttl_ms, now_ms) {
            Expiry::Expired => {
                self.app.mark_changed(id);
                let line = format!(
                    "session {} ended (expired after {} s idle)",
                    crate::sessions::format_id(&id),
                    ttl_ms / 1000
                );
                self.app.server_log(Level::Info, &line, now_ms);
                for evicted in self.app.sessions.take_evicted() {
                    self.app.mark_changed(evicted);
                }
            }
            Expiry::NotYet { due_ms } => self.wheel.schedule(due_ms, TimerKey::SessionExpiry(id)),
            Expiry::Gone => {}
        }
    }
}

/// Binds the listening socket with a backlog of `LISTEN_BACKLOG` (std and
/// mio fix it at 128: a reconnect storm of a build farm would overflow it
/// and cost each dropped client a one-second SYN retry).
fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// The server's first log line: version, address, limits.
fn start_line(config: &Config, addr: SocketAddr) -> String {
    format!(
        "sessions-lite {} listening on http://{addr} (log capacity {}, max sessions {}, \
         max ended {}, ws interval {} ms, session ttl {} s, max connections {}, token {})",
        api::VERSION,
        config.log_capacity,
        config.sessions_max,
        config.ended_max,
        config.ws_push_interval_ms,
        config.session_ttl_secs,
        config.connections_max,
        if config.token.is_some() {
            "required for writes"
        } else {
            "off"
        },
    )
}

/// Said on stderr and in the server's log when bound beyond loopback.
pub fn no_token_warning(addr: SocketAddr) -> String {
    format!(
        "listening on {addr}, beyond loopback, without --token: anyone who can reach \
         this port can create sessions and write logs"
    )
}

#[cfg(test)]
mod tests {
    //! The loop driven by a fake clock: sockets are real (loopback), time is
    //! what the test says, so a timeout too long to wait for is checked at
    //! its edge, to the millisecond.

    use super::*;
    use crate::sessions::parse_id;
    use std::io::{ErrorKind, Read, Write};
    use std::net::TcpStream as ClientStream;
    use std::time::Duration;

    /// Turns one step may take before the test gives up.
    const TURNS_MAX: usize = 500;
    /// Real time a turn waits for socket events (never the server's clock).
    const POLL_WAIT: Duration = Duration::from_millis(10);

    pub(super) struct Driven {
        pub(super) server: Server,
        events: Events,
    }

    impl Driven {
        pub(super) fn start() -> Driven {
            let config = Config {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..Config::default()
            };
            Driven {
                server: Server::bind(config).expect("bind"),
                events: Events::with_capacity(EVENTS_PER_POLL),
            }
        }

        /// One loop turn at `now_ms`: what `run` does, with the clock given.
        pub(super) fn turn(&mut self, now_ms: u64) {
            self.server
                .poll
                .poll(&mut self.events, Some(POLL_WAIT))
                .expect("poll");
            self.server.on_tick(&self.events, now_ms);
        }

        /// Turns at `now_ms` until `done` holds; false if it never does.
        pub(super) fn turn_until(&mut self, now_ms: u64, done: impl Fn(&Server) -> bool) -> bool {
            (0..TURNS_MAX).any(|_| {
                self.turn(now_ms);
                done(&self.server)
            })
        }

        /// A client connection; reads never block (the test turns the loop).
        pub(super) fn connect(&self) -> ClientStream {
            let stream = ClientStream::connect(self.server.local_addr()).expect("connect");
            stream.set_nonblocking(true).expect("nonblocking");
            stream
        }

        /// Turns at `now_ms` until the server closes `client`; what it sent.
        pub(super) fn read_to_close(&mut self, client: &mut ClientStream, now_ms: u64) -> String {
            let mut received = Vec::new();
            let mut buffer = [0u8; 4096];
            for _ in 0..TURNS_MAX {
                self.turn(now_ms);
                loop {
                    match client.read(&mut buffer) {
                        Ok(0) => return String::from_utf8_lossy(&received).into_owned(),
                        Ok(count) => received.extend_from_slice(&buffer[..count]),
                        Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                        Err(error) => panic!("read: {error}"),
                    }
                }
            }
            panic!("not closed: {:?}", String::from_utf8_lossy(&received));
        }

        /// One request with `Connection: close` at `now_ms`; the answer's body.
        pub(super) fn request(&mut self, head: &str, body: &str, now_ms: u64) -> String {
            let mut client = self.connect();
            let raw = format!(
                "{head} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            client.write_all(raw.as_bytes()).expect("send");
            let answer = self.read_to_close(&mut client, now_ms);
            let (_, body) = answer.split_once("\r\n\r\n").expect("a head");
            body.to_owned()
        }

        /// Creates a session at `now_ms`: its id as text and parsed.
        pub(super) fn create_session(&mut self, appname: &str, now_ms: u64) -> (String, SessionId) {
            let body = format!(r#"{{"appname":"{appname}","mode":"test"}}"#);
            let created = self.request("POST /sessions/", &body, now_ms);
            let created: serde_json::Value = serde_json::from_str(&created).expect("json");
            let id_text = created["id"].as_str().expect("id").to_owned();
            let id = parse_id(&id_text).expect("a session id");
            (id_text, id)
        }

        /// True while a request body is being read (the test's stream).
        fn streaming(&self) -> bool {
            let mut states = self.server.conns.iter().flatten().map(|conn| &conn.state);
            states.any(|state| matches!(state, ConnState::ReadingBody(_)))
        }
    }

    pub(super) fn entry_count(server: &Server, id: &SessionId) -> u64 {
        api::next_cursor(&server.app, id).expect("the session")
    }

    #[test]
    fn streamed_text_log_is_kept_until_its_idle_limit_and_closed_at_it() {
        let mut driven = Driven::start();
        let start_ms = driven.server.clock.now_ms();
        let (id_text, id) = driven.create_session("stream", start_ms);
        // What `tail -f build.log | curl -T - URL` sends, one chunk per line.
        let mut stream = driven.connect();
        let head = format!(
            "PUT /sessions/{id_text}/log HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Transfer-Encoding: chunked\r\n\r\n9\r\nline one\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("send");
        let first_ms = start_ms + 1;
        assert!(driven.turn_until(first_ms, |server| entry_count(server, &id) == 1));

        // Quiet one millisecond less than the limit: the stream stays.
        let quiet_ms = first_ms + LOG_STREAM_IDLE_TIMEOUT_MS - 1;
        driven.turn(quiet_ms);
        assert!(driven.streaming(), "closed before the limit");
        let mut buffer = [0u8; 256];
        let early = stream.read(&mut buffer);
        assert!(
            early
                .as_ref()
                .is_err_and(|error| error.kind() == ErrorKind::WouldBlock),
            "nothing is sent to a stream within its limit: {early:?}"
        );
        // A line then restarts the quiet time.
        stream.write_all(b"9\r\nline two\n\r\n").expect("send");
        let second_ms = quiet_ms;
        assert!(driven.turn_until(second_ms, |server| entry_count(server, &id) == 2));
        driven.turn(first_ms + LOG_STREAM_IDLE_TIMEOUT_MS);
        assert!(driven.streaming(), "the limit counts from the last byte");
        driven.turn(second_ms + LOG_STREAM_IDLE_TIMEOUT_MS - 1);
        assert!(driven.streaming(), "closed before the limit");

        // Half a line, then quiet for the limit: 408 and closed.
        stream.write_all(b"4\r\nhalf\r\n").expect("send");
        assert!(driven.turn_until(second_ms, |server| server
            .conns
            .iter()
            .flatten()
            .all(|conn| conn.input.is_empty())));
        let closed_ms = second_ms + LOG_STREAM_IDLE_TIMEOUT_MS;
        driven.turn(closed_ms);
        assert!(!driven.streaming(), "still open at the limit");
        let answer = driven.read_to_close(&mut stream, closed_ms);
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
        assert!(answer.contains("Connection: close\r\n"), "{answer}");
        let limit = format!("no byte for {LOG_STREAM_IDLE_TIMEOUT_MS} ms");
        assert!(answer.contains(&limit), "{answer}");

        // Nothing accepted is lost, not even the unfinished last line.
        let page = driven.request(&format!("GET /sessions/{id_text}/log"), "", closed_ms);
        let page: serde_json::Value = serde_json::from_str(&page).expect("json");
        let messages: Vec<&str> = page["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|entry| entry["message"].as_str().expect("message"))
            .collect();
        assert_eq!(messages, ["line one", "line two", "half"]);
    }
}
