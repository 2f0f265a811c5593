//! `sessions-lite ls [--status active|ended|all] [--json]`: the sessions as
//! a table for a person (id, app, mode, job, status, age, entries), or the
//! server's JSON answer unchanged for a script. Strings that came from
//! clients are shown with control characters replaced, so a name cannot
//! move the cursor or recolour the terminal.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::args::{unknown, ArgReader, Token};
use super::http_client::HttpClient;
use super::ServerOptions;
use crate::time::parse_rfc3339;

pub const USAGE: &str = "\
usage: sessions-lite ls [--status active|ended|all] [--json] [--server URL]

Lists sessions (default: active), oldest first.

  --status S    active, ended or all
  --json        the server's JSON answer, for scripts
  --server URL  default $SESSIONS_LITE_URL, then http://127.0.0.1:8558
  --help
";

/// A table cell is cut to this many characters.
const CELL_CHARS_MAX: usize = 32;

#[derive(Debug, PartialEq)]
pub struct LsOptions {
    pub server: ServerOptions,
    pub status: String,
    pub json: bool,
}

/// `Ok(None)`: `--help`.
pub fn parse(args: Vec<String>) -> Result<Option<LsOptions>, String> {
    let mut options = LsOptions {
        server: ServerOptions::default(),
        status: "active".into(),
        json: false,
    };
    let mut reader = ArgReader::new(args);
    while let Some(token) = reader.next_token()? {
        let flag = match token {
            Token::Flag(flag) => flag,
            Token::Word(word) => return Err(format!("unexpected argument {word:?}")),
            Token::EndOfFlags => return Err("ls takes no arguments after --".into()),
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--json" => options.json = true,
            "--status" => {
                options.status = reader.value()?;
                if !matches!(options.status.as_str(), "active" | "ended" | "all") {
                    return Err(format!(
                        "--status {:?} is not active, ended or all",
                        options.status
                    ));
                }
            }
            _ if options.server.take_flag(&flag, &mut reader)? => {}
            _ => return Err(unknown(&flag)),
        }
    }
    Ok(Some(options))
}

pub fn main(args: Vec<String>) -> u8 {
    let (options, endpoint) = match super::start(parse(args), USAGE, |options| &mut options.server)
    {
        Ok(started) => started,
        Err(status) => return status,
    };
    let mut client = HttpClient::new(endpoint, None);
    let path = format!("/sessions/?status={}", options.status);
    let response = match client.request("GET", &path, None, b"", 0) {
        Ok(response) if response.status == 200 => response,
        Ok(response) => return fail(&response.error_text()),
        Err(error) => return fail(&format!("{}: {error}", client.endpoint().authority)),
    };
    if options.json {
        print!("{}", String::from_utf8_lossy(&response.body));
        return 0;
    }
    let Ok(list) = serde_json::from_slice::<Value>(&response.body) else {
        return fail("the session list is not json");
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    print!("{}", table(&list, now_ms));
    0
}

fn fail(message: &str) -> u8 {
    eprintln!("sessions-lite: {message}");
    1
}

/// The list as aligned columns, a header first.
fn table(list: &Value, now_ms: u64) -> String {
    const KEYS: [&str; 5] = ["id", "appname", "mode", "jobid", "status"];
    const HEADER: [&str; COLUMNS] = ["ID", "APP", "MODE", "JOB", "STATUS", "AGE", "ENTRIES"];
    let mut cells: Vec<String> = HEADER.map(String::from).to_vec();
    for session in list["sessions"].as_array().into_iter().flatten() {
        for key in KEYS {
            cells.push(cell(session[key].as_str().unwrap_or("-")));
        }
        let created = session["created_at"].as_str().and_then(parse_rfc3339);
        cells.push(created.map_or_else(|| "-".into(), |ms| age(now_ms.saturating_sub(ms))));
        cells.push(session["log"]["count"].as_u64().unwrap_or(0).to_string());
    }
    let mut widths = [0usize; COLUMNS];
    for (index, value) in cells.iter().enumerate() {
        widths[index % COLUMNS] = widths[index % COLUMNS].max(value.chars().count());
    }
    let mut out = String::new();
    for (index, value) in cells.iter().enumerate() {
        let width = widths[index % COLUMNS];
        // Writing to a String cannot fail.
        let _ = match index % COLUMNS {
            6 => writeln!(out, "{value:>width$}"),
            _ => write!(out, "{value:<width$}  "),
        };
    }
    out
}

/// Columns of the table.
const COLUMNS: usize = 7;

/// A client's string, safe for a terminal and cut to `CELL_CHARS_MAX`.
fn cell(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(CELL_CHARS_MAX)
        .collect();
    if text.chars().count() > CELL_CHARS_MAX {
        out.pop();
        out.push('…');
    }
    out
}

/// `45s`, `12m`, `3h`, `9d`.
fn age(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let parse_args = |args: &[&str]| parse(args.iter().map(|a| a.to_string()).collect());
        let options = parse_args(&["--status", "all", "--json"])
            .expect("ok")
            .expect("ls");
        assert_eq!((options.status.as_str(), options.json), ("all", true));
        assert!(parse_args(&["--status", "gone"]).is_err());
        assert!(parse_args(&["extra"]).is_err());
        assert_eq!(parse_args(&["-h"]), Ok(None));
    }

    #[test]
    fn a_table_for_people() {
        let list = serde_json::json!({"sessions": [{
            "id": "5f0a1b2c3d4e5f60718293a4", "appname": "cook\u{1b}[31m", "mode": "run",
            "jobid": null, "status": "active", "created_at": "2026-12-03T10:00:00.000Z",
            "log": {"count": 12}
        }]});
        let now = parse_rfc3339("2026-12-03T10:02:05.000Z").expect("time");
        let text = table(&list, now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ID                        APP        MODE  JOB  STATUS  AGE  ENTRIES"
        );
        assert_eq!(
            lines[1],
            "5f0a1b2c3d4e5f60718293a4  cook?[31m  run   -    active  2m        12"
        );
        assert_eq!(
            (age(59_999), age(3_600_000), age(90_000_000)),
            ("59s".into(), "1h".into(), "1d".into())
        );
        assert_eq!(cell(&"x".repeat(40)).chars().count(), CELL_CHARS_MAX);
    }
}
