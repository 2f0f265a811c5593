//! `GET /metrics`: the server's figures in the Prometheus text format
//! (0.0.4). Every family is written every time, each sample from a
//! counter, a gauge kept by the loop, or one of the process figures; the
//! label sets are fixed, so the answer is a few KiB whatever the traffic,
//! written into one buffer sized up front.

pub mod counters;
mod exposition;

use crate::http::response::Response;
use crate::level::Level;
use crate::limits::METRICS_BODY_BYTES_MAX;
use crate::log_ring::LEVEL_COUNT;
use crate::process_stats::ProcessStats;
use crate::views::ExportHealth;
use counters::{Counters, CODE_LABELS, METHOD_LABELS};
use exposition::{Exposition, Kind};

pub const CONTENT_TYPE_PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything one answer shows, gathered by the route.
pub struct Readings<'a> {
    pub version: &'a str,
    pub counters: &'a Counters,
    pub sessions_active: usize,
    pub sessions_ended: usize,
    pub log_bytes_held: u64,
    pub connections_open: usize,
    pub export: Option<&'a ExportHealth>,
    pub process: ProcessStats,
}

const LEVELS: [Level; LEVEL_COUNT] = [Level::Debug, Level::Info, Level::Warn, Level::Error];

pub fn answer(readings: &Readings) -> Response {
    let mut response = Response::json_written(200, METRICS_BODY_BYTES_MAX, |out| {
        write_body(&mut Exposition::new(out), readings);
    });
    response.content_type = CONTENT_TYPE_PROMETHEUS;
    response
}

fn write_body(out: &mut Exposition, readings: &Readings) {
    write_sessions(out, readings);
    write_log(out, readings.counters, readings.log_bytes_held);
    write_http(out, readings);
    write_clients(out, readings.counters);
    write_export(out, readings.export);
    write_process(out, &readings.process);
}

fn write_sessions(out: &mut Exposition, readings: &Readings) {
    out.family(
        "sessions_lite_build_info",
        Kind::Gauge,
        "Always 1; the version of the running binary is its label.",
    );
    out.sample(
        "sessions_lite_build_info",
        &[("version", readings.version)],
        1,
    );
    let name = "sessions_lite_sessions";
    out.family(
        name,
        Kind::Gauge,
        "Sessions held, by status (active counts the server's own session).",
    );
    out.sample(
        name,
        &[("status", "active")],
        readings.sessions_active as u64,
    );
    out.sample(name, &[("status", "ended")], readings.sessions_ended as u64);
}

fn write_log(out: &mut Exposition, counters: &Counters, log_bytes_held: u64) {
    let by_level = [
        (
            "sessions_lite_log_entries_appended_total",
            "Log entries appended, by level (the server's own log included).",
            &counters.log.appended,
        ),
        (
            "sessions_lite_log_entries_evicted_total",
            "Log entries evicted from a session's ring to make room (entry capacity or byte cap), by level.",
            &counters.log.evicted,
        ),
        (
            "sessions_lite_log_entries_refused_total",
            "Log entries read from a body but not appended because their session had ended or gone, by level.",
            &counters.entries_refused,
        ),
    ];
    for (name, help, counts) in by_level {
        out.family(name, Kind::Counter, help);
        for (level, count) in LEVELS.iter().zip(counts) {
            out.sample(name, &[("level", level.as_str())], *count);
        }
    }
    let name = "sessions_lite_log_bytes";
    out.family(
        name,
        Kind::Gauge,
        "Encoded bytes of the log entries held in every session's ring (messages, data and a few header bytes each).",
    );
    out.sample(name, &[], log_bytes_held);
}

fn write_http(out: &mut Exposition, readings: &Readings) {
    let name = "sessions_lite_http_requests_total";
    out.family(
        name,
        Kind::Counter,
        "HTTP answers sent, by request method (OTHER: any other, or a head that could not be read) and status class.",
    );
    for (method, by_class) in METHOD_LABELS.iter().zip(&readings.counters.http_answers) {
        for (code, count) in CODE_LABELS.iter().zip(by_class) {
            out.sample(name, &[("method", method), ("code", code)], *count);
        }
    }
    let name = "sessions_lite_connections_open";
    out.family(name, Kind::Gauge, "Client connections open.");
    out.sample(name, &[], readings.connections_open as u64);
    let name = "sessions_lite_connections_refused_total";
    out.family(
        name,
        Kind::Counter,
        "Client connections accepted and closed at once, by the limit they met.",
    );
    let refused = readings.counters.connections_refused_max;
    out.sample(name, &[("limit", "max_connections")], refused);
}

fn write_clients(out: &mut Exposition, counters: &Counters) {
    let gauges = [
        (
            "sessions_lite_websocket_clients",
            "WebSocket connections open.",
            counters.websocket_clients,
        ),
        (
            "sessions_lite_sse_clients",
            "Server-Sent Events streams open (log follows and session-list streams).",
            counters.sse_clients,
        ),
        (
            "sessions_lite_long_polls_parked",
            "Log reads waiting for entries (wait=).",
            counters.long_polls_parked,
        ),
    ];
    for (name, help, value) in gauges {
        out.family(name, Kind::Gauge, help);
        out.sample(name, &[], value);
    }
    let counts = [
        (
            "sessions_lite_list_pushes_sent_total",
            "Session-list pushes written in full to a WebSocket client.",
            counters.list_pushes_sent,
        ),
        (
            "sessions_lite_list_pushes_stale_total",
            "Session-list pushes dropped unsent because a newer list replaced them.",
            counters.list_pushes_stale,
        ),
    ];
    for (name, help, value) in counts {
        out.family(name, Kind::Counter, help);
        out.sample(name, &[], value);
    }
}

/// Always written, 0 without export, so that a dashboard and its alerts
/// need no "absent" cases; `sessions_lite_export_enabled` tells which.
fn write_export(out: &mut Exposition, export: Option<&ExportHealth>) {
    let name = "sessions_lite_export_enabled";
    out.family(name, Kind::Gauge, "1 when OTLP export is on, else 0.");
    out.sample(name, &[], u64::from(export.is_some()));
    let figure = |pick: fn(&ExportHealth) -> u64| export.map_or(0, pick);
    let counts = [
        (
            "sessions_lite_export_log_entries_sent_total",
            "Log entries that reached the OTLP collector (rejected ones included).",
            figure(|export| export.sent),
        ),
        (
            "sessions_lite_export_requests_retried_total",
            "OTLP export requests sent again after a failure.",
            figure(|export| export.retried),
        ),
        (
            "sessions_lite_export_log_entries_rejected_total",
            "Log entries the collector refused in a partial success.",
            figure(|export| export.rejected),
        ),
        (
            "sessions_lite_export_log_entries_dropped_total",
            "Log entries that will never be exported (refused batches, evicted before sent).",
            figure(|export| export.dropped),
        ),
    ];
    for (name, help, value) in counts {
        out.family(name, Kind::Counter, help);
        out.sample(name, &[], value);
    }
}

fn write_process(out: &mut Exposition, process: &ProcessStats) {
    let integers = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            process.resident_bytes,
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            process.virtual_bytes,
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            process.open_fds,
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            process.max_fds,
        ),
    ];
    for (name, help, value) in integers {
        if let Some(value) = value {
            out.family(name, Kind::Gauge, help);
            out.sample(name, &[], value);
        }
    }
    let reals = [
        (
            "process_cpu_seconds_total",
            Kind::Counter,
            "Total user and system CPU time spent in seconds.",
            process.cpu_seconds,
        ),
        (
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since unix epoch in seconds.",
            process.start_time_s,
        ),
    ];
    for (name, kind, help, value) in reals {
        if let Some(value) = value {
            out.family(name, kind, help);
            out.sample_real(name, &[], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family the answer has, with its kind.
    const FAMILIES: [(&str, &str); 25] = [
        ("sessions_lite_build_info", "gauge"),
        ("sessions_lite_sessions", "gauge"),
        ("sessions_lite_log_entries_appended_total", "counter"),
        ("sessions_lite_log_entries_evicted_total", "counter"),
        ("sessions_lite_log_entries_refused_total", "counter"),
        ("sessions_lite_log_bytes", "gauge"),
        ("sessions_lite_http_requests_total", "counter"),
        ("sessions_lite_connections_open", "gauge"),
        ("sessions_lite_connections_refused_total", "counter"),
        ("sessions_lite_websocket_clients", "gauge"),
        ("sessions_lite_sse_clients", "gauge"),
        ("sessions_lite_long_polls_parked", "gauge"),
        ("sessions_lite_list_pushes_sent_total", "counter"),
        ("sessions_lite_list_pushes_stale_total", "counter"),
        ("sessions_lite_export_enabled", "gauge"),
        ("sessions_lite_export_log_entries_sent_total", "counter"),
        ("sessions_lite_export_requests_retried_total", "counter"),
        ("sessions_lite_export_log_entries_rejected_total", "counter"),
        ("sessions_lite_export_log_entries_dropped_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("process_start_time_seconds", "gauge"),
    ];

    fn readings<'a>(counters: &'a Counters, export: Option<&'a ExportHealth>) -> Readings<'a> {
        Readings {
            version: "0.1.0",
            counters,
            sessions_active: 3,
            sessions_ended: 1,
            log_bytes_held: 0,
            connections_open: 2,
            export,
            process: ProcessStats {
                cpu_seconds: Some(0.25),
                resident_bytes: Some(1 << 20),
                virtual_bytes: Some(1 << 24),
                open_fds: Some(9),
                max_fds: Some(1024),
                start_time_s: Some(1_764_700_000.5),
            },
        }
    }

    fn body_of(readings: &Readings) -> String {
        let response = answer(readings);
        assert_eq!(response.content_type, CONTENT_TYPE_PROMETHEUS);
        String::from_utf8(response.body().to_vec()).expect("UTF-8")
    }

    #[test]
    fn every_family_once_with_help_and_type_before_its_samples() {
        let counters = Counters::default();
        let text = body_of(&readings(&counters, None));
        assert!(text.ends_with('\n'));
        for (name, kind) in FAMILIES.iter() {
            let help = format!("# HELP {name} ");
            let type_line = format!("# TYPE {name} {kind}\n");
            assert_eq!(text.matches(&help).count(), 1, "{name}");
            assert_eq!(text.matches(&type_line).count(), 1, "{name}");
            let type_at = text.find(&type_line).expect("type");
            let first_sample = text
                .lines()
                .position(|line| {
                    line.starts_with(&format!("{name} ")) || line.starts_with(&format!("{name}{{"))
                })
                .expect("a sample");
            let type_line_index = text[..type_at].lines().count();
            assert!(first_sample > type_line_index, "{name}");
        }
        let families = text.matches("# TYPE ").count();
        assert_eq!(families, FAMILIES.len());
        // The label sets are fixed: 4 levels x 3, 6 methods x 5 classes.
        let samples = text.lines().filter(|line| !line.starts_with('#')).count();
        assert_eq!(samples, 1 + 2 + 12 + 1 + 30 + 1 + 1 + 3 + 2 + 1 + 4 + 6);
    }

    #[test]
    fn counters_show_under_their_labels() {
        let mut counters = Counters::default();
        counters.log.appended[Level::Warn as usize] = 5;
        counters.count_answer(Some(crate::http::head::Method::Get), 404);
        counters.refuse(Level::Info, 2);
        let export = ExportHealth {
            sent: 11,
            ..ExportHealth::default()
        };
        let text = body_of(&readings(&counters, Some(&export)));
        for line in [
            "sessions_lite_log_entries_appended_total{level=\"warn\"} 5\n",
            "sessions_lite_http_requests_total{method=\"GET\",code=\"4xx\"} 1\n",
            "sessions_lite_log_entries_refused_total{level=\"info\"} 2\n",
            "sessions_lite_sessions{status=\"active\"} 3\n",
            "sessions_lite_export_enabled 1\n",
            "sessions_lite_export_log_entries_sent_total 11\n",
            "process_start_time_seconds 1764700000.5\n",
            "process_cpu_seconds_total 0.25\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn the_longest_answer_fits_the_buffer_sized_up_front() {
        let mut counters = Counters {
            entries_refused: [u64::MAX; LEVEL_COUNT],
            http_answers: [[u64::MAX; CODE_LABELS.len()]; METHOD_LABELS.len()],
            connections_refused_max: u64::MAX,
            websocket_clients: u64::MAX,
            sse_clients: u64::MAX,
            long_polls_parked: u64::MAX,
            list_pushes_sent: u64::MAX,
            list_pushes_stale: u64::MAX,
            ..Counters::default()
        };
        counters.log.appended = [u64::MAX; LEVEL_COUNT];
        counters.log.evicted = [u64::MAX; LEVEL_COUNT];
        counters.log.bytes_added = u64::MAX;
        let export = ExportHealth {
            sent: u64::MAX,
            retried: u64::MAX,
            rejected: u64::MAX,
            dropped: u64::MAX,
            ..ExportHealth::default()
        };
        let mut readings = readings(&counters, Some(&export));
        readings.version = "999.999.999-rc.999";
        readings.sessions_active = usize::MAX;
        readings.sessions_ended = usize::MAX;
        readings.log_bytes_held = u64::MAX;
        readings.connections_open = usize::MAX;
        readings.process = ProcessStats {
            cpu_seconds: Some(f64::MAX),
            resident_bytes: Some(u64::MAX),
            virtual_bytes: Some(u64::MAX),
            open_fds: Some(u64::MAX),
            max_fds: Some(u64::MAX),
            start_time_s: Some(f64::MAX),
        };
        let length = body_of(&readings).len();
        assert!(length <= METRICS_BODY_BYTES_MAX, "{length}");
    }

    #[test]
    fn a_figure_that_cannot_be_read_leaves_its_family_out() {
        let counters = Counters::default();
        let mut readings = readings(&counters, None);
        readings.process = ProcessStats::default();
        let text = body_of(&readings);
        assert!(!text.contains("process_"), "{text}");
        assert!(text.contains("sessions_lite_export_log_entries_sent_total 0\n"));
    }
}
