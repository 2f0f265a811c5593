//! Stopping on SIGTERM or SIGINT. The signals write to a self-pipe
//! (`signal-hook`), whose other end is one more source on the loop, so a
//! signal is an event like any other and nothing runs in a handler. On the
//! first one the exporter sends what it holds for at most `--otlp-flush-ms`
//! (without export the loop ends at once); a second signal ends it then.

use super::{Server, TimerKey, SIGNAL};
use crate::level::Level;
use mio::Interest;
use std::io::{self, Read};

impl Server {
    /// Routes SIGTERM and SIGINT into the loop. Until this is called they
    /// keep their default action (the unit tests never call it).
    pub fn handle_stop_signals(&mut self) -> io::Result<()> {
        let (reader, writer) = std::os::unix::net::UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let mut reader = mio::net::UnixStream::from_std(reader);
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::low_level::pipe::register(signal, writer.try_clone()?)?;
        }
        self.poll
            .registry()
            .register(&mut reader, SIGNAL, Interest::READABLE)?;
        self.signals = Some(reader);
        Ok(())
    }

    pub(super) fn on_signal(&mut self, now_ms: u64) {
        let mut buffer = [0u8; 64];
        if let Some(reader) = &mut self.signals {
            while matches!(reader.read(&mut buffer), Ok(count) if count > 0) {}
        }
        if self.stop_deadline_ms.is_some() {
            // Asked twice: stop now.
            self.stop_deadline_ms = Some(now_ms);
            return;
        }
        let flush_ms = self
            .app
            .config
            .export
            .as_ref()
            .map_or(0, |export| export.flush_ms);
        self.stop_deadline_ms = Some(now_ms + flush_ms);
        // A turn comes at the deadline even if nothing else happens.
        self.wheel.schedule(now_ms + flush_ms, TimerKey::Stop);
        let line = match &self.exporter {
            Some(_) => format!("stopping: exporting what is left for at most {flush_ms} ms"),
            None => "stopping".to_owned(),
        };
        self.app.server_log(Level::Info, &line, now_ms);
        if let Some(exporter) = &mut self.exporter {
            exporter.flush();
        }
    }

    /// Whether the loop should end now: stopping, and the exporter has sent
    /// everything (or its time is up). Says on stderr what was left.
    pub(super) fn stop_due(&mut self, now_ms: u64) -> bool {
        let Some(deadline_ms) = self.stop_deadline_ms else {
            return false;
        };
        let Some(exporter) = &self.exporter else {
            return true;
        };
        if exporter.is_drained(&self.app) {
            return true;
        }
        if now_ms < deadline_ms {
            return false;
        }
        let left = exporter.untaken_entries(&self.app);
        eprintln!("sessions-lite: stopped with {left} log entries not exported");
        true
    }
}
