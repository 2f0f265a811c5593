//! Who may ask: the `Host` names (DNS rebinding), the `Origin` of a
//! browser write, and the bearer token.

use super::App;
use crate::http::head::RequestHead;

impl App {
    pub(super) fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            // Only HTTP/1.0 gets here without a Host: nothing to rebind.
            return true;
        };
        // The allowed names are lowercase; compare without a lowercase copy.
        let name = strip_port(host);
        self.host_names
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
    }

    /// No `Origin`, the server's own origin, or an `--allow-origin`.
    pub(super) fn origin_allowed(&self, head: &RequestHead) -> bool {
        let Some(origin) = &head.origin else {
            return true;
        };
        let origin = origin.trim_end_matches('/');
        if self
            .config
            .allow_origins
            .iter()
            .any(|allowed| allowed == origin)
        {
            return true;
        }
        let Some(host) = &head.host else {
            return false;
        };
        let own = ["http://", "https://"].map(|scheme| format!("{scheme}{host}"));
        own.iter().any(|own| own.eq_ignore_ascii_case(origin))
    }

    pub(super) fn token_ok(&self, head: &RequestHead) -> bool {
        let Some(token) = &self.config.token else {
            return true;
        };
        let given = head
            .authorization
            .as_deref()
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .unwrap_or("");
        constant_time_eq(given.as_bytes(), token.as_bytes())
    }
}

/// The name part of a `Host` value (`name`, `name:port`, `[v6]`,
/// `[v6]:port`). Anything after the name but a `:` and digits makes the
/// whole value the "name", which then matches no allowed host.
pub(super) fn strip_port(host: &str) -> &str {
    let name_end = if host.starts_with('[') {
        host.find(']').map_or(host.len(), |end| end + 1)
    } else {
        host.rfind(':').unwrap_or(host.len())
    };
    let rest = &host[name_end..];
    let port_ok = rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|port| port.len() <= 5 && port.bytes().all(|byte| byte.is_ascii_digit()));
    if port_ok {
        &host[..name_end]
    } else {
        host
    }
}

/// Compares without an early exit, so the time taken says nothing about
/// how much of a guessed token was right.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for (index, &byte) in b.iter().enumerate() {
        difference |= usize::from(a.get(index).copied().unwrap_or(0) ^ byte);
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_is_stripped() {
        assert_eq!(strip_port("localhost:8558"), "localhost");
        assert_eq!(strip_port("[::1]:8558"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("127.0.0.1"), "127.0.0.1");
    }

    /// Found by fuzzing (seeds `host-port-junk`, `host-bracket-junk`): the
    /// port was cut off without looking at it, so `localhost:evil` and
    /// `[::1]evil.example` passed the DNS-rebinding check.
    #[test]
    fn junk_after_an_allowed_host_name_is_not_that_name() {
        assert_eq!(strip_port("localhost:evil"), "localhost:evil");
        assert_eq!(strip_port("[::1]evil.example"), "[::1]evil.example");
        assert_eq!(strip_port("localhost:"), "localhost");
        assert_eq!(strip_port("localhost:123456"), "localhost:123456");
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"secretx", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
