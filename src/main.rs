//! The `sessions-lite` binary: flags → `Config`, bind, print the address,
//! run the loop; or, with `run`, `tail` or `ls` first, a client subcommand
//! (`serve` or anything else: the server). Everything else lives in the
//! library.

#[cfg(target_os = "linux")]
mod file_pages;

use sessions_lite::client;
use sessions_lite::config::{parse_args, Command, USAGE};
use sessions_lite::server::{no_token_warning, Server};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        // `run`, `tail`, `ls`: a client of a server (src/client/).
        Some(command) if client::is_client_command(command) => {
            let command = args.remove(0);
            return ExitCode::from(client::main(&command, args));
        }
        Some("serve") => drop(args.remove(0)),
        _ => {}
    }
    let env_token = std::env::var("SESSIONS_LITE_TOKEN").ok();
    let mut config = match parse_args(args, env_token) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("sessions-lite {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("sessions-lite: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(message) = config.resolve_export(&|name| std::env::var(name).ok()) {
        eprintln!("sessions-lite: {message}");
        return ExitCode::from(2);
    }
    let has_token = config.token.is_some();
    let mut server = match Server::bind(*config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("sessions-lite: cannot listen: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = server.handle_stop_signals() {
        eprintln!("sessions-lite: cannot handle SIGTERM/SIGINT: {error}");
        return ExitCode::FAILURE;
    }
    let addr = server.local_addr();
    // Tests and scripts read this line to learn the port.
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    if !has_token && !addr.ip().is_loopback() {
        eprintln!("sessions-lite: warning: {}", no_token_warning(addr));
    }
    // Start-up is over: its pages need not stay mapped (see file_pages.rs).
    #[cfg(target_os = "linux")]
    file_pages::release_startup_pages();
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sessions-lite: event loop failed: {error}");
            ExitCode::FAILURE
        }
    }
}
