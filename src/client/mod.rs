//! The client subcommands of the same binary: `run` (a build step's output
//! into a session), `tail` (print or follow a log) and `ls` (list
//! sessions). They are a separate process from the server: blocking
//! `std::net`, a few threads in `run`, never the server's loop or state.
//! This file dispatches and holds what the three share: `--server URL`
//! (else `$SESSIONS_LITE_URL`, else `http://127.0.0.1:8558`) and the token
//! from `$SESSIONS_LITE_TOKEN`.

pub mod args;
pub mod http_client;
pub mod line_splitter;
pub mod log_sender;
pub mod ls;
pub mod outbox;
pub mod run;
pub mod session_ref;
#[allow(unsafe_code)]
pub mod signals;
pub mod tail;

use args::ArgReader;
use http_client::Endpoint;

/// The server's address when neither `--server` nor the environment says.
pub const SERVER_URL_DEFAULT: &str = "http://127.0.0.1:8558";

/// The subcommands that are clients; anything else starts the server.
pub fn is_client_command(word: &str) -> bool {
    matches!(word, "run" | "tail" | "ls")
}

/// Runs a client subcommand with the arguments after its name; returns
/// the process's exit status.
pub fn main(command: &str, args: Vec<String>) -> u8 {
    match command {
        "run" => run::main(args),
        "tail" => tail::main(args),
        "ls" => ls::main(args),
        _ => usage_error(&format!("unknown subcommand {command}"), ""),
    }
}

/// What each subcommand's `main` does first: its parse result, `--help`
/// (`Ok(None)`), then the endpoint. `Err(status)`: nothing more to do
/// (the usage printed: 0; a usage error said: 2).
pub fn start<T>(
    parsed: Result<Option<T>, String>,
    usage: &str,
    server: fn(&mut T) -> &mut ServerOptions,
) -> Result<(T, Endpoint), u8> {
    let mut options = match parsed {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{usage}");
            return Err(0);
        }
        Err(message) => return Err(usage_error(&message, usage)),
    };
    match server(&mut options).endpoint() {
        Ok(endpoint) => Ok((options, endpoint)),
        Err(message) => Err(usage_error(&message, usage)),
    }
}

/// Prints a usage error and its usage; the exit status 2.
pub fn usage_error(message: &str, usage: &str) -> u8 {
    eprintln!("sessions-lite: {message}\n{usage}");
    2
}

/// `--server` and the token, shared by every subcommand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// `--server`, when given.
    pub url: Option<String>,
    /// From `$SESSIONS_LITE_TOKEN` (never a flag: argv is visible to all).
    pub token: Option<String>,
}

impl ServerOptions {
    /// Reads `--server` if `flag` is it; false for another flag.
    pub fn take_flag(&mut self, flag: &str, reader: &mut ArgReader) -> Result<bool, String> {
        if flag != "--server" {
            return Ok(false);
        }
        self.url = Some(reader.value()?);
        Ok(true)
    }

    /// The endpoint from `--server`, `$SESSIONS_LITE_URL` or the default;
    /// also reads the token from the environment.
    pub fn endpoint(&mut self) -> Result<Endpoint, String> {
        let env_url = std::env::var("SESSIONS_LITE_URL")
            .ok()
            .filter(|url| !url.is_empty());
        self.token = std::env::var("SESSIONS_LITE_TOKEN")
            .ok()
            .filter(|token| !token.is_empty());
        let url = self.url.clone().or(env_url);
        Endpoint::parse(url.as_deref().unwrap_or(SERVER_URL_DEFAULT))
    }
}
