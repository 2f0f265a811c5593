//! The exporter's place on the loop: its connection's events, its turn
//! after the wake path, and its one timer (armed like a connection's: the
//! wheel holds the soonest deadline, a later one is noted when it fires).

use super::{Server, TimerKey};

impl Server {
    /// An event on the exporter's connection to its collector.
    pub(super) fn on_export_ready(&mut self, now_ms: u64) {
        if let Some(exporter) = &mut self.exporter {
            exporter.on_ready(&mut self.app, self.poll.registry(), now_ms);
        }
        self.arm_export_timer();
    }

    /// Once per turn, after the wake path: a batch that is due goes out.
    pub(super) fn on_export_turn(&mut self, now_ms: u64) {
        if let Some(exporter) = &mut self.exporter {
            exporter.on_turn(&mut self.app, self.poll.registry(), now_ms);
        }
        self.arm_export_timer();
    }

    pub(super) fn on_export_timer(&mut self, at_ms: u64, now_ms: u64) {
        let Some(exporter) = &mut self.exporter else {
            return;
        };
        if exporter.timer_armed_ms != Some(at_ms) {
            return; // a sooner timer replaced it
        }
        exporter.timer_armed_ms = None;
        exporter.on_timer(&mut self.app, self.poll.registry(), now_ms);
        self.arm_export_timer();
    }

    fn arm_export_timer(&mut self) {
        let Some(exporter) = &mut self.exporter else {
            return;
        };
        let Some(deadline_ms) = exporter.deadline_ms() else {
            return;
        };
        if exporter
            .timer_armed_ms
            .is_none_or(|armed_ms| deadline_ms < armed_ms)
        {
            exporter.timer_armed_ms = Some(deadline_ms);
            self.wheel
                .schedule(deadline_ms, TimerKey::Export { at_ms: deadline_ms });
        }
    }
}
