//! `sessions-lite tail ID [-f] [-n N] [--level LEVEL] [--since-cursor C]`:
//! prints a session's log as text (`TIMESTAMP LEVEL MESSAGE`, the server's
//! `format=text`) in pages of `TAIL_PAGE_ENTRIES_MAX`, and `-- N entries
//! dropped --` where eviction made a gap (the server's `X-Dropped`). Without
//! `-f` it prints what the log held when it started and exits 0; with `-f`
//! it long-polls until the session ends (exit 0) or Ctrl-C. `--level`
//! keeps entries at that level or above, filtered here (after `-n`, which
//! counts entries in the log).

use std::io::Write;

use serde_json::Value;

use super::args::{unknown, ArgReader, Token};
use super::http_client::{HttpClient, Response};
use super::session_ref::SessionRef;
use super::ServerOptions;
use crate::level::Level;
use crate::limits::{LOG_CAPACITY_MAX, TAIL_PAGE_ENTRIES_MAX, TAIL_WAIT_SECS};

pub const USAGE: &str = "\
usage: sessions-lite tail ID [-f] [-n N] [--level LEVEL] [--since-cursor C] [--server URL]

Prints a session's log. ID is a session id, a unique prefix of one, or \"server\".

  -f, --follow        keep printing new entries until the session ends
  -n N                start with the newest N entries
  --level LEVEL       only entries at LEVEL or above (debug, info, warn, error)
  --since-cursor C    start at cursor C
  --server URL        default $SESSIONS_LITE_URL, then http://127.0.0.1:8558
  --help
";

#[derive(Debug, PartialEq)]
pub struct TailOptions {
    pub server: ServerOptions,
    pub session: SessionRef,
    pub follow: bool,
    pub newest: Option<u64>,
    pub level: Option<Level>,
    pub since_cursor: Option<u64>,
}

/// `Ok(None)`: `--help`.
pub fn parse(args: Vec<String>) -> Result<Option<TailOptions>, String> {
    let mut server = ServerOptions::default();
    let mut session = None;
    let (mut follow, mut newest, mut level, mut since_cursor) = (false, None, None, None);
    let mut reader = ArgReader::new(args);
    while let Some(token) = reader.next_token()? {
        match token {
            Token::Word(word) if session.is_none() => session = Some(SessionRef::parse(&word)?),
            Token::Word(word) => return Err(format!("unexpected argument {word:?}")),
            Token::EndOfFlags => return Err("tail takes no arguments after --".into()),
            Token::Flag(flag) => match flag.as_str() {
                "--help" | "-h" => return Ok(None),
                "-f" | "--follow" => follow = true,
                "-n" => newest = Some(reader.number(0, LOG_CAPACITY_MAX as u64)?),
                "--since-cursor" => since_cursor = Some(reader.number(0, u64::MAX)?),
                "--level" => {
                    let name = reader.value()?;
                    level = Some(Level::parse(&name).ok_or_else(|| {
                        format!("--level {name:?} is not debug, info, warn or error")
                    })?);
                }
                _ if server.take_flag(&flag, &mut reader)? => {}
                _ => return Err(unknown(&flag)),
            },
        }
    }
    if newest.is_some() && since_cursor.is_some() {
        return Err("give -n or --since-cursor, not both".into());
    }
    let session = session.ok_or("tail needs a session id")?;
    Ok(Some(TailOptions {
        server,
        session,
        follow,
        newest,
        level,
        since_cursor,
    }))
}

pub fn main(args: Vec<String>) -> u8 {
    let (options, endpoint) = match super::start(parse(args), USAGE, |options| &mut options.server)
    {
        Ok(started) => started,
        Err(status) => return status,
    };
    let mut client = HttpClient::new(endpoint, None);
    match tail(&options, &mut client) {
        Ok(()) => 0,
        Err((message, code)) => {
            eprintln!("sessions-lite: {message}");
            code
        }
    }
}

type Failure = (String, u8);

fn tail(options: &TailOptions, client: &mut HttpClient) -> Result<(), Failure> {
    let id = options
        .session
        .resolve(client)
        .map_err(|error| (error.message, error.exit_code))?;
    let session = get_session(client, &id)?;
    let log_cursor = session["log"]["cursor"].as_u64().unwrap_or(0);
    let held = session["log"]["count"].as_u64().unwrap_or(0);
    let mut cursor = match (options.since_cursor, options.newest) {
        (Some(cursor), _) => cursor,
        (None, Some(newest)) => log_cursor.saturating_sub(newest.min(held)),
        (None, None) => 0,
    };
    let mut out = std::io::stdout().lock();
    let mut ended = session["status"] == "ended";
    loop {
        let wait = options.follow && !ended;
        let page = read_page(client, &id, cursor, wait)?;
        print_page(&mut out, &page, options.level).map_err(|error| (error.to_string(), 1))?;
        let empty = page.next_cursor == cursor;
        cursor = page.next_cursor;
        if !options.follow && (empty || cursor >= log_cursor) {
            return Ok(());
        }
        if options.follow && empty {
            if ended {
                return Ok(());
            }
            // The long-poll came back empty: the session ended, or the wait
            // ran out. Ended: read what is left, then stop.
            ended = get_session(client, &id)?["status"] == "ended";
        }
    }
}

fn get_session(client: &mut HttpClient, id: &str) -> Result<Value, Failure> {
    let response = get(client, &format!("/sessions/{id}"), 0)?;
    serde_json::from_slice(&response.body).map_err(|_| ("the session is not json".into(), 1))
}

fn get(client: &mut HttpClient, path: &str, wait_ms: u64) -> Result<Response, Failure> {
    let response = client
        .request("GET", path, None, b"", wait_ms)
        .map_err(|error| (format!("{}: {error}", client.endpoint().authority), 1))?;
    if response.status != 200 {
        return Err((response.error_text(), 1));
    }
    Ok(response)
}

/// One page of the log as text.
struct Page {
    text: Vec<u8>,
    next_cursor: u64,
    dropped: u64,
}

fn read_page(client: &mut HttpClient, id: &str, cursor: u64, wait: bool) -> Result<Page, Failure> {
    let mut path =
        format!("/sessions/{id}/log?cursor={cursor}&limit={TAIL_PAGE_ENTRIES_MAX}&format=text");
    let mut wait_ms = 0;
    if wait {
        path.push_str(&format!("&wait={TAIL_WAIT_SECS}"));
        wait_ms = TAIL_WAIT_SECS * 1000;
    }
    let response = get(client, &path, wait_ms)?;
    let number = |name| {
        response
            .header(name)
            .and_then(|value| value.parse::<u64>().ok())
    };
    let next_cursor = number("x-cursor").ok_or(("the answer has no X-Cursor".to_owned(), 1))?;
    let dropped = number("x-dropped").unwrap_or(0);
    Ok(Page {
        next_cursor,
        dropped,
        text: response.body,
    })
}

fn print_page(out: &mut impl Write, page: &Page, level: Option<Level>) -> std::io::Result<()> {
    if page.dropped > 0 {
        writeln!(out, "-- {} entries dropped --", page.dropped)?;
    }
    match level {
        None => out.write_all(&page.text)?,
        Some(level) => {
            for line in page.text.split_inclusive(|&byte| byte == b'\n') {
                if line_level(line).is_some_and(|found| found >= level) {
                    out.write_all(line)?;
                }
            }
        }
    }
    out.flush()
}

/// The level of a `TIMESTAMP LEVEL MESSAGE` line.
fn line_level(line: &[u8]) -> Option<Level> {
    let mut fields = line.splitn(3, |&byte| byte == b' ');
    fields.next()?;
    let name = std::str::from_utf8(fields.next()?).ok()?;
    Level::parse(name.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Option<TailOptions>, String> {
        parse(args.iter().map(|arg| arg.to_string()).collect())
    }

    #[test]
    fn flags() {
        let options = parse_args(&["ab12", "-f", "-n", "5", "--level=warn"])
            .expect("ok")
            .expect("tail");
        assert_eq!(options.session, SessionRef::Prefix("ab12".into()));
        assert!(options.follow);
        assert_eq!(
            (options.newest, options.level),
            (Some(5), Some(Level::Warn))
        );
        let options = parse_args(&["server", "--since-cursor", "7"])
            .expect("ok")
            .expect("tail");
        assert_eq!(
            (options.session, options.since_cursor),
            (SessionRef::Server, Some(7))
        );
        for bad in [
            &[][..],
            &["-f"],
            &["ab", "cd"],
            &["ab", "-n"],
            &["ab", "-n", "x"],
            &["ab", "--level", "loud"],
            &["ab", "-n", "1", "--since-cursor", "2"],
            &["zz"],
            &["ab", "--bogus"],
        ] {
            assert!(parse_args(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_args(&["--help"]), Ok(None));
    }

    #[test]
    fn level_filter_and_gaps() {
        let page = Page {
            text: b"T1 info a\nT2 warn b\nT3 error c d\n".to_vec(),
            next_cursor: 3,
            dropped: 2,
        };
        let mut out = Vec::new();
        print_page(&mut out, &page, Some(Level::Warn)).expect("written");
        assert_eq!(out, b"-- 2 entries dropped --\nT2 warn b\nT3 error c d\n");
        let mut out = Vec::new();
        print_page(&mut out, &Page { dropped: 0, ..page }, None).expect("written");
        assert_eq!(out, b"T1 info a\nT2 warn b\nT3 error c d\n");
    }
}
