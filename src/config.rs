//! Runtime configuration from flags and the environment, validated once at
//! start. Every default comes from `limits.rs`; nothing below `Config`
//! hides a default of its own.

use crate::export::settings::{self, ExportFlags, ExportSettings};
use crate::limits::*;
use std::net::SocketAddr;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: sessions-lite [--listen ADDR] [--log-capacity N] [--max-sessions N]
                     [--max-ended N] [--ws-interval-ms MS] [--session-ttl SECS]
                     [--token TOKEN] [--allow-origin ORIGIN]... [--allow-host HOST]...
                     [--www DIR] [--max-connections N] [--ws-echo]
                     [--otlp-endpoint URL] [--otlp-header KEY=VALUE]... [--otlp-protocol P]
                     [--otlp-batch-entries N] [--otlp-batch-ms MS] [--otlp-flush-ms MS]
                     [--otlp-timeout-ms MS] [--sse-heartbeat-ms MS] [--sse-lifetime-ms MS]

  --listen ADDR          address to listen on (default 127.0.0.1:8558; port 0 picks one)
  --log-capacity N       log entries kept per session (default 10000)
  --max-sessions N       active sessions (default 4096); more get 503
  --max-ended N          ended sessions kept, oldest evicted with its log (default 1024)
  --ws-interval-ms MS    WebSocket session-list push interval (default 1000)
  --session-ttl SECS     end sessions idle this long; 0 = never (default 0)
  --token TOKEN          require 'Authorization: Bearer TOKEN' on POST/PUT/DELETE
                         (also from the environment variable SESSIONS_LITE_TOKEN)
  --allow-origin ORIGIN  also accept this Origin on writes and WebSocket upgrades
  --allow-host HOST      also accept this Host name (DNS-rebinding allow-list)
  --www DIR              serve the dashboard from DIR instead of the built-in copy
  --max-connections N    open connections (default 10000); more are closed at once
  --ws-echo              add /ws-echo, a WebSocket echo route (conformance tests only)
  --sse-heartbeat-ms MS  a quiet event stream gets a comment line this often (default 15000)
  --sse-lifetime-ms MS   end each event stream after MS; clients resume with
                         Last-Event-ID (default 0: never)
  --otlp-endpoint URL    export every log entry over OTLP/HTTP to URL/v1/logs (http:// only;
                         also OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT)
  --otlp-header K=V      send this header with every export (repeatable; also
                         OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_LOGS_HEADERS)
  --otlp-protocol P      http/protobuf (default) or http/json (also OTEL_EXPORTER_OTLP_PROTOCOL)
  --otlp-batch-entries N a batch closes at N entries (default 1000)
  --otlp-batch-ms MS     ... or MS after its first entry (default 1000)
  --otlp-flush-ms MS     on SIGTERM/SIGINT, export for at most MS before exiting (default 2000)
  --otlp-timeout-ms MS   one export request's time limit (default 10000; also
                         OTEL_EXPORTER_OTLP_TIMEOUT)
  --help, --version

Also: sessions-lite serve [FLAGS] (the same), and the clients
sessions-lite run|tail|ls --help
";

/// Everything the server needs to know at start.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub log_capacity: usize,
    pub sessions_max: usize,
    pub ended_max: usize,
    pub ws_push_interval_ms: u64,
    pub session_ttl_secs: u64,
    pub token: Option<String>,
    pub allow_origins: Vec<String>,
    pub allow_hosts: Vec<String>,
    pub www_dir: Option<PathBuf>,
    pub connections_max: usize,
    pub ws_echo: bool,
    pub sse_heartbeat_ms: u64,
    /// 0: streams are never ended by the clock.
    pub sse_lifetime_ms: u64,
    /// The `--otlp-*` flags as given; `resolve_export` reads them.
    pub export_flags: ExportFlags,
    /// The exporter's settings once resolved with the environment; `None`:
    /// export off.
    pub export: Option<ExportSettings>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8558)),
            log_capacity: LOG_CAPACITY_DEFAULT,
            sessions_max: SESSIONS_MAX_DEFAULT,
            ended_max: ENDED_SESSIONS_MAX_DEFAULT,
            ws_push_interval_ms: WS_PUSH_INTERVAL_MS_DEFAULT,
            session_ttl_secs: SESSION_TTL_SECS_DEFAULT,
            token: None,
            allow_origins: Vec::new(),
            allow_hosts: Vec::new(),
            www_dir: None,
            connections_max: CONNECTIONS_MAX,
            ws_echo: false,
            sse_heartbeat_ms: SSE_HEARTBEAT_MS_DEFAULT,
            sse_lifetime_ms: SSE_LIFETIME_MS_DEFAULT,
            export_flags: ExportFlags::default(),
            export: None,
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Config>),
    Help,
    Version,
}

/// Parses `args` (without the program name). `env_token` is the value of
/// `SESSIONS_LITE_TOKEN`; a `--token` flag wins over it.
pub fn parse_args(
    args: impl IntoIterator<Item = String>,
    env_token: Option<String>,
) -> Result<Command, String> {
    let mut config = Config {
        token: env_token.filter(|token| !token.is_empty()),
        ..Config::default()
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            "--ws-echo" => config.ws_echo = true,
            _ => {
                let value = match inline_value {
                    Some(value) => value,
                    None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
                };
                apply_flag(&mut config, &flag, value)?;
            }
        }
    }
    Ok(Command::Run(Box::new(config)))
}

impl Config {
    /// Resolves the export settings from the flags and the environment
    /// (`env` reads one variable). An error is a start-up error (exit 2).
    pub fn resolve_export(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        self.export = settings::resolve(&self.export_flags, env)?;
        Ok(())
    }
}

fn apply_flag(config: &mut Config, flag: &str, value: String) -> Result<(), String> {
    let export = &mut config.export_flags;
    match flag {
        "--otlp-endpoint" => export.endpoint = Some(value),
        "--otlp-header" => export.headers.push(value),
        "--otlp-protocol" => export.protocol = Some(value),
        "--otlp-batch-entries" => {
            export.batch_entries = Some(number(flag, &value, 1, OTLP_BATCH_ENTRIES_MAX)?)
        }
        "--otlp-batch-ms" => {
            export.batch_ms = Some(number(flag, &value, 1, OTLP_BATCH_MS_MAX as usize)? as u64)
        }
        "--otlp-flush-ms" => {
            export.flush_ms = Some(number(flag, &value, 0, OTLP_FLUSH_MS_MAX as usize)? as u64)
        }
        "--otlp-timeout-ms" => {
            export.timeout_ms = Some(number(flag, &value, 1, OTLP_TIMEOUT_MS_MAX as usize)? as u64)
        }
        "--listen" => {
            config.listen = value
                .parse()
                .map_err(|_| format!("--listen: {value:?} is not an IP:PORT address"))?
        }
        "--log-capacity" => config.log_capacity = number(flag, &value, 1, LOG_CAPACITY_MAX)?,
        "--max-sessions" => config.sessions_max = number(flag, &value, 1, SESSIONS_FLAG_MAX)?,
        "--max-ended" => config.ended_max = number(flag, &value, 0, ENDED_SESSIONS_FLAG_MAX)?,
        "--max-connections" => {
            config.connections_max = number(flag, &value, 1, CONNECTIONS_FLAG_MAX)?
        }
        "--ws-interval-ms" => {
            config.ws_push_interval_ms = number(
                flag,
                &value,
                WS_PUSH_INTERVAL_MS_MIN as usize,
                WS_PUSH_INTERVAL_MS_MAX as usize,
            )? as u64
        }
        "--sse-heartbeat-ms" => {
            config.sse_heartbeat_ms = number(
                flag,
                &value,
                SSE_HEARTBEAT_MS_MIN as usize,
                SSE_HEARTBEAT_MS_MAX as usize,
            )? as u64
        }
        "--sse-lifetime-ms" => {
            config.sse_lifetime_ms = number(flag, &value, 0, SSE_LIFETIME_MS_MAX as usize)? as u64
        }
        "--session-ttl" => {
            config.session_ttl_secs = number(flag, &value, 0, SESSION_TTL_SECS_MAX as usize)? as u64
        }
        "--token" if value.is_empty() => return Err("--token must not be empty".into()),
        "--token" => config.token = Some(value),
        "--allow-origin" => config
            .allow_origins
            .push(value.trim_end_matches('/').to_owned()),
        "--allow-host" => config.allow_hosts.push(value.to_ascii_lowercase()),
        "--www" => config.www_dir = Some(PathBuf::from(value)),
        _ => return Err(format!("unknown flag {flag}")),
    }
    Ok(())
}

fn number(flag: &str, value: &str, min: usize, max: usize) -> Result<usize, String> {
    let digits_only = !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit());
    match value.parse::<usize>() {
        Ok(number) if digits_only && (min..=max).contains(&number) => Ok(number),
        _ => Err(format!(
            "{flag}: {value:?} is not a whole number from {min} to {max}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse_args(args.iter().map(|arg| arg.to_string()), None)? {
            Command::Run(config) => Ok(*config),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = run(&[]).expect("no flags");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8558");
        assert_eq!(config.log_capacity, 10_000);
        assert_eq!(config.sessions_max, 4_096);
        assert_eq!(config.ended_max, 1_024);
        assert_eq!(config.ws_push_interval_ms, 1_000);
        assert_eq!(config.session_ttl_secs, 0);
    }

    #[test]
    fn flags_in_both_spellings() {
        let config = run(&[
            "--listen=[::1]:0",
            "--log-capacity",
            "5",
            "--allow-host",
            "Build.Local",
        ])
        .expect("valid");
        assert_eq!(config.listen.to_string(), "[::1]:0");
        assert_eq!(config.log_capacity, 5);
        assert_eq!(config.allow_hosts, vec!["build.local".to_string()]);
    }

    #[test]
    fn bad_flags_are_errors() {
        for args in [
            &["--log-capacity", "0"][..],
            &["--log-capacity", "-1"],
            &["--listen", "nowhere"],
            &["--bogus"],
            &["--token"],
            &["--ws-interval-ms", "1"],
        ] {
            assert!(run(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn sse_flags_at_their_bounds() {
        let config = run(&[]).expect("no flags");
        assert_eq!(config.sse_heartbeat_ms, 15_000);
        assert_eq!(config.sse_lifetime_ms, 0);
        let (min, max) = (SSE_HEARTBEAT_MS_MIN, SSE_HEARTBEAT_MS_MAX);
        for (value, ok) in [(min - 1, false), (min, true), (max, true), (max + 1, false)] {
            let config = run(&["--sse-heartbeat-ms", &value.to_string()]);
            assert_eq!(
                config.map(|config| config.sse_heartbeat_ms).ok(),
                ok.then_some(value)
            );
        }
        let max = SSE_LIFETIME_MS_MAX;
        for (value, ok) in [(0, true), (max, true), (max + 1, false)] {
            let config = run(&["--sse-lifetime-ms", &value.to_string()]);
            assert_eq!(
                config.map(|config| config.sse_lifetime_ms).ok(),
                ok.then_some(value)
            );
        }
    }

    #[test]
    fn token_from_env_and_flag() {
        let from_env = parse_args(Vec::<String>::new(), Some("env".into())).expect("ok");
        let Command::Run(config) = from_env else {
            panic!("run")
        };
        assert_eq!(config.token.as_deref(), Some("env"));
        let flag = parse_args(["--token".to_string(), "flag".into()], Some("env".into()));
        let Ok(Command::Run(config)) = flag else {
            panic!("run")
        };
        assert_eq!(config.token.as_deref(), Some("flag"));
    }
}
