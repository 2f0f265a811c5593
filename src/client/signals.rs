//! Signals for `run`: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to the
//! wrapper go to the child, and a child killed by a signal is named.
//!
//! The one module of the library allowed `unsafe` (see `lib.rs`): `kill(2)`
//! and `waitid(2)` through `libc`, which mio already brings in. Handlers
//! come from `signal-hook` (its self-pipe; no code of ours runs in a
//! handler). A signal is forwarded only while the child is not yet reaped:
//! `wait_exited` waits for the child's exit without reaping it, so its pid
//! cannot be reused by another process while the forwarder may still send.

use std::sync::{Arc, Mutex};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

/// The signals the wrapper passes on.
pub const FORWARDED: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Catches the forwarded signals from now on; `forward_to` starts passing
/// them on (the ones caught before it are passed on then).
pub struct Forwarder {
    /// Taken by the forwarding thread.
    signals: Option<Signals>,
    /// The child's pid while it may be signalled; `None` once it exited.
    target: Arc<Mutex<Option<i32>>>,
}

impl Forwarder {
    pub fn install() -> std::io::Result<Forwarder> {
        Ok(Forwarder {
            signals: Some(Signals::new(FORWARDED)?),
            target: Arc::new(Mutex::new(None)),
        })
    }

    /// Passes every caught signal to `pid` on a thread of its own, until
    /// `stop`.
    pub fn forward_to(&mut self, pid: u32) -> std::io::Result<()> {
        let pid = i32::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
        *lock(&self.target) = Some(pid);
        let target = Arc::clone(&self.target);
        // What arrived before the child existed waits in its pipe.
        let Some(mut signals) = self.signals.take() else {
            return Ok(());
        };
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    if let Some(pid) = *lock(&target) {
                        send(pid, signal);
                    }
                }
            })?;
        Ok(())
    }

    /// Waits for `pid` to exit, without reaping it, then stops forwarding,
    /// so that the caller's `wait` reaps a pid nobody signals any more.
    pub fn wait_exited(&self, pid: u32) {
        wait_exited_unreaped(libc::id_t::from(pid));
        *lock(&self.target) = None;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn send(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers; a failure (the child already
    // gone) is harmless and ignored.
    unsafe {
        libc::kill(pid, signal);
    }
}

fn wait_exited_unreaped(pid: libc::id_t) {
    loop {
        // SAFETY: siginfo_t is plain data, zeroed is a valid value, and the
        // pointer is to a local that outlives the call.
        let result = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        let interrupted = result == -1
            && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted;
        if !interrupted {
            return;
        }
    }
}

/// `SIGKILL` for 9, and so on; `SIG<n>` for numbers without a name here.
pub fn name(signal: i32) -> String {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    usize::try_from(signal)
        .ok()
        .and_then(|number| number.checked_sub(1))
        .and_then(|index| NAMES.get(index))
        .map_or_else(|| format!("SIG{signal}"), |name| (*name).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_on_linux() {
        assert_eq!(name(libc::SIGKILL), "SIGKILL");
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGHUP), "SIGHUP");
        assert_eq!(name(libc::SIGSYS), "SIGSYS");
        assert_eq!(name(40), "SIG40");
        assert_eq!(name(0), "SIG0");
    }
}
