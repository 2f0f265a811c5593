//! WebSocket connections (stub: being written).

use crate::api::App;
use crate::conn::Conn;
use crate::sessions::SessionId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsVerdict {
    Keep,
    Close,
}

pub struct WsConn {
    pub echo: bool,
    deadline_ms: u64,
}

impl WsConn {
    pub fn new(echo: bool, now_ms: u64) -> WsConn {
        WsConn {
            echo,
            deadline_ms: now_ms + crate::limits::WS_PING_INTERVAL_MS,
        }
    }
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }
    pub fn on_input(&mut self, input: &mut Vec<u8>, app: &mut App, now_ms: u64) -> WsVerdict {
        let _ = (app, now_ms);
        input.clear();
        WsVerdict::Keep
    }
    pub fn on_deadline(&mut self, now_ms: u64) -> WsVerdict {
        let _ = now_ms;
        WsVerdict::Close
    }
    pub fn on_closed(&self, app: &mut App, now_ms: u64) {
        let _ = (app, now_ms);
    }
    pub fn fill_output(&mut self, output: &mut Vec<u8>, output_sent: &mut usize) {
        let _ = (output, output_sent);
    }
}

pub struct WsHub {}

impl WsHub {
    pub fn new() -> WsHub {
        WsHub {}
    }
    pub fn note(&mut self, slot: usize, serial: u64, ws: &WsConn) {
        let _ = (slot, serial, ws);
    }
    pub fn join(&mut self, slot: usize, serial: u64, ws: &WsConn, app: &mut App, now_ms: u64) {
        let _ = (slot, serial, ws, app, now_ms);
    }
}

impl Default for WsHub {
    fn default() -> Self {
        Self::new()
    }
}

pub fn on_sessions_changed(
    changed: &[SessionId],
    hub: &mut WsHub,
    conns: &mut [Option<Conn>],
    app: &App,
    revisit: &mut Vec<usize>,
) {
    let _ = (changed, hub, conns, app, revisit);
}

pub fn on_push_tick(
    hub: &mut WsHub,
    conns: &mut [Option<Conn>],
    app: &App,
    now_ms: u64,
    revisit: &mut Vec<usize>,
) {
    let _ = (hub, conns, app, now_ms, revisit);
}
