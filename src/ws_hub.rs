//! Who gets session-list pushes: the clients of `/sessions/ws` by (slot,
//! serial), and those that joined since the last push (they get a list at
//! once). The hub walks the connection slab, so `ws.rs` (one client) never
//! sees it. Follows are not here: a follower is a watcher of its session
//! in the one registry (`watchers.rs`), woken by the server's wake path.
//!
//! Connections that closed are dropped lazily: a slot that no longer holds
//! a WebSocket with that serial is skipped and forgotten.

use crate::api::App;
use crate::conn::{Conn, ConnState};
use crate::level::Level;
use crate::ws::{ListPush, WsConn};

#[derive(Default)]
pub struct WsHub {
    /// Clients of `/sessions/ws` (echo clients get no pushes).
    clients: Vec<(usize, u64)>,
    /// Clients that joined since the last push: they get a list at once.
    joined: Vec<(usize, u64)>,
    joined_ms: u64,
}

impl WsHub {
    pub fn new() -> WsHub {
        WsHub::default()
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
            self.clients.push((slot, serial));
            self.joined.push((slot, serial));
            self.joined_ms = now_ms;
        }
    }

    /// Once per loop turn: clients that just joined get the list without
    /// waiting for the next push. Returns the pushes it made stale.
    pub fn on_turn_end(
        &mut self,
        conns: &mut [Option<Conn>],
        app: &App,
        revisit: &mut Vec<usize>,
    ) -> u64 {
        if self.joined.is_empty() {
            return 0;
        }
        let mut push = ListPush::new(app, self.joined_ms);
        let stale = hand_out(&self.joined, &mut push, self.joined_ms, app, conns, revisit);
        self.joined.clear();
        stale
    }

    /// Every `--ws-interval-ms`: the list is built and framed once and
    /// handed to every client (none: nothing is built). `push` is the
    /// tick's list, shared with SSE list streams: built here if not yet.
    /// Returns the older pushes it replaced before they started (stale).
    pub fn on_push_tick(
        &mut self,
        conns: &mut [Option<Conn>],
        app: &App,
        push: &mut Option<ListPush>,
        now_ms: u64,
        revisit: &mut Vec<usize>,
    ) -> u64 {
        self.clients
            .retain(|&(slot, serial)| client_mut(conns, slot, serial).is_some());
        self.joined.clear();
        if self.clients.is_empty() {
            return 0;
        }
        let push = push.get_or_insert_with(|| ListPush::new(app, now_ms));
        hand_out(&self.clients, push, now_ms, app, conns, revisit)
    }
}

/// Gives one list push, made at `now_ms`, to everyone in `targets` that is
/// still there; the count of older pushes it replaced.
fn hand_out(
    targets: &[(usize, u64)],
    push: &mut ListPush,
    now_ms: u64,
    app: &App,
    conns: &mut [Option<Conn>],
    revisit: &mut Vec<usize>,
) -> u64 {
    let interval_ms = app.config.ws_push_interval_ms;
    let mut stale = 0;
    for &(slot, serial) in targets {
        let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
            continue;
        };
        let output_unsent = conn.unsent();
        if let Some(ws) = client_of(conn, serial) {
            stale += u64::from(ws.offer_push(push, output_unsent, interval_ms, now_ms));
            revisit.push(slot);
        }
    }
    stale
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
