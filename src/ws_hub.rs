//! Who gets session-list pushes: the clients of `/sessions/ws` by (slot,
//! serial), in two lists by feed: those that get the whole list every
//! interval, and subscribers to changes. Those that joined or subscribed
//! since the last push get their first list at the end of the turn. The
//! hub walks the connection slab, so `ws.rs` (one client) never sees it.
//! It owns the changes stream (`list_changes.rs`): the ids the wake path
//! saw change go into its dirty set while anyone subscribes (here, or an
//! SSE list stream: `set_list_streams_open`), and the tick's changes
//! message goes back to the server for those streams. Follows are
//! not here: a follower is a watcher of its session in the one registry
//! (`watchers.rs`), woken by the server's wake path.
//!
//! At rest (nothing changed, no keep-alive due) a tick walks no
//! subscriber and builds nothing for them. Connections that closed are
//! dropped lazily: a slot that no longer holds a WebSocket with that
//! serial is skipped, and forgotten at the next walk of its list.

use crate::api::App;
use crate::conn::{Conn, ConnState};
use crate::level::Level;
use crate::list_changes::ListChanges;
use crate::sessions::SessionId;
use crate::ws::WsConn;
use crate::ws_feed::{ListFeed, Moment, MomentMessages};
use crate::ws_frame::SharedMessage;

#[derive(Default)]
pub struct WsHub {
    /// Clients that get the whole list every interval (echo clients get
    /// no pushes).
    list_clients: Vec<(usize, u64)>,
    /// Clients subscribed to changes.
    subscribers: Vec<(usize, u64)>,
    /// Clients that joined or subscribed since the last push: they get a
    /// list at the end of the turn.
    joined: Vec<(usize, u64)>,
    joined_ms: u64,
    changes: ListChanges,
    /// Whether SSE list streams are open: they take changes too.
    list_streams_open: bool,
}

impl WsHub {
    /// A hub whose changes `seq` starts at `seq_start` (`list_changes.rs`).
    pub fn new(seq_start: u64) -> WsHub {
        WsHub {
            changes: ListChanges::starting_at(seq_start),
            ..WsHub::default()
        }
    }

    /// The `seq` of the last changes message: what a list built now covers.
    pub fn seq(&self) -> u64 {
        self.changes.seq()
    }

    /// Whether SSE list streams are open (they need the changes too).
    pub fn set_list_streams_open(&mut self, open: bool, now_ms: u64) {
        self.list_streams_open = open;
        self.update_tracking(now_ms);
    }

    fn update_tracking(&mut self, now_ms: u64) {
        let tracking = !self.subscribers.is_empty() || self.list_streams_open;
        self.changes.set_tracking(tracking, now_ms);
    }

    /// A connection was upgraded.
    pub fn join(&mut self, slot: usize, serial: u64, ws: &mut WsConn, app: &mut App, now_ms: u64) {
        ws.on_joined(serial);
        let route = if ws.echo { "/ws-echo" } else { "/sessions/ws" };
        app.server_log(
            Level::Info,
            &format!("websocket client #{serial} joined {route}"),
            now_ms,
        );
        if !ws.echo {
            self.list_clients.push((slot, serial));
            self.joined.push((slot, serial));
            self.joined_ms = now_ms;
        }
    }

    /// A client sent `subscribe`: it moves to the list of its feed and
    /// gets the list it starts from at the end of the turn.
    pub fn on_feed_changed(&mut self, slot: usize, serial: u64, feed: ListFeed, now_ms: u64) {
        let client = (slot, serial);
        self.list_clients.retain(|&other| other != client);
        self.subscribers.retain(|&other| other != client);
        match feed {
            ListFeed::Lists => self.list_clients.push(client),
            ListFeed::Changes { .. } => self.subscribers.push(client),
        }
        self.update_tracking(now_ms);
        self.joined.push(client);
        self.joined_ms = now_ms;
    }

    /// Sessions that changed this turn (the wake path's list).
    pub fn note_changed(&mut self, sessions: &[SessionId]) {
        self.changes.note_changed(sessions);
    }

    /// Once per loop turn: clients that just joined or subscribed get the
    /// list without waiting for the next push. Returns the pushes it made
    /// stale (replaced before they started).
    pub fn on_turn_end(
        &mut self,
        conns: &mut [Option<Conn>],
        app: &App,
        push_due: &mut Vec<usize>,
    ) -> u64 {
        if self.joined.is_empty() {
            return 0;
        }
        let mut messages = MomentMessages::turn_end(app, self.joined_ms, self.changes.seq());
        let stale = hand_out(
            &self.joined,
            &mut messages,
            self.joined_ms,
            app,
            conns,
            push_due,
        );
        self.joined.clear();
        stale
    }

    /// Every `--ws-interval-ms`: the list is built and framed once and
    /// handed to every list client (none: nothing is built); subscribers
    /// get the tick's changes (or a keep-alive, or a fresh list if they
    /// fell behind), built once for all of them. `changes` gets the tick's
    /// changes message, if there is one, for SSE list streams. Returns the
    /// pushes it made stale.
    pub fn on_push_tick(
        &mut self,
        conns: &mut [Option<Conn>],
        app: &App,
        changes: &mut Option<SharedMessage>,
        now_ms: u64,
        push_due: &mut Vec<usize>,
    ) -> u64 {
        self.list_clients
            .retain(|&(slot, serial)| is_feed(conns, slot, serial, false));
        let tick = self.changes.on_tick(&app.sessions, now_ms);
        let seq = self.changes.seq();
        let mut messages = MomentMessages::tick(app, now_ms, seq, tick, None);
        let mut stale = hand_out(
            &self.list_clients,
            &mut messages,
            now_ms,
            app,
            conns,
            push_due,
        );
        let quiet = messages.moment() == Moment::QuietTick;
        // At a quiet tick only subscribers still waiting for their first
        // list; otherwise all of them.
        let mut targets = std::mem::take(match quiet {
            true => &mut self.joined,
            false => &mut self.subscribers,
        });
        targets.retain(|&(slot, serial)| is_feed(conns, slot, serial, true));
        stale += hand_out(&targets, &mut messages, now_ms, app, conns, push_due);
        if !quiet {
            self.subscribers = targets;
            self.update_tracking(now_ms);
        }
        *changes = messages.into_changes();
        self.joined.clear();
        stale
    }
}

/// Offers what `messages` has to everyone in `targets` that is still
/// there, each by its feed; those offered something go on `push_due`, to
/// be written to without a read. The count of pushes replaced (stale).
fn hand_out(
    targets: &[(usize, u64)],
    messages: &mut MomentMessages,
    now_ms: u64,
    app: &App,
    conns: &mut [Option<Conn>],
    push_due: &mut Vec<usize>,
) -> u64 {
    let interval_ms = app.config.ws_push_interval_ms;
    let mut stale = 0;
    for &(slot, serial) in targets {
        let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
            continue;
        };
        let output_unsent = conn.unsent();
        if let Some(ws) = client_of(conn, serial) {
            if let Some(replaced) = ws.offer(messages, output_unsent, interval_ms, now_ms) {
                stale += u64::from(replaced);
                push_due.push(slot);
            }
        }
    }
    stale
}

/// Whether the slot still holds the client `serial`, on the feed of that
/// list (`subscribed`).
fn is_feed(conns: &mut [Option<Conn>], slot: usize, serial: u64, subscribed: bool) -> bool {
    client_mut(conns, slot, serial).is_some_and(|ws| {
        let feed_subscribed = matches!(ws.list_feed(), ListFeed::Changes { .. });
        feed_subscribed == subscribed
    })
}

/// A WebSocket connection in a slot, if it is still the one with `serial`.
pub fn client_mut(conns: &mut [Option<Conn>], slot: usize, serial: u64) -> Option<&mut WsConn> {
    client_of(conns.get_mut(slot)?.as_mut()?, serial)
}

fn client_of(conn: &mut Conn, serial: u64) -> Option<&mut WsConn> {
    match &mut conn.state {
        ConnState::WebSocket(ws) if conn.serial == serial => Some(&mut **ws),
        _ => None,
    }
}
