//! The WebSocket upgrade handshake, answered by our own HTTP code (see
//! TOOLS.md: tungstenite's `accept` checks neither `Origin` nor `Host`).

use super::{App, Plan, Route};
use crate::http::head::{BodyFraming, RequestHead};
use crate::http::response::Response;
use crate::ws_deflate::{self};

pub(super) fn plan_upgrade(app: &App, head: &RequestHead, route: Route) -> Result<Plan, Response> {
    if !head.websocket_upgrade || head.version_minor == 0 {
        return Err(Response::error(
            400,
            "this route needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)",
        ));
    }
    if head.websocket_version.as_deref() != Some("13") {
        return Err(
            Response::error(426, "only WebSocket version 13 is supported")
                .with_header("Sec-WebSocket-Version", "13".into()),
        );
    }
    let key = head.websocket_key.as_deref().unwrap_or("");
    if !valid_websocket_key(key) {
        return Err(Response::error(
            400,
            "Sec-WebSocket-Key must be 16 bytes in base64",
        ));
    }
    if head.framing != BodyFraming::None && head.framing != BodyFraming::Length(0) {
        return Err(Response::error(400, "a WebSocket upgrade has no body"));
    }
    if !app.origin_allowed(head) {
        return Err(Response::error(
            403,
            "Origin is not allowed to open a WebSocket (add it with --allow-origin)",
        ));
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let deflate = head
        .websocket_extensions
        .as_deref()
        .and_then(ws_deflate::negotiate);
    let extensions = deflate.map_or(String::new(), |deflate| {
        format!(
            "Sec-WebSocket-Extensions: {}\r\n",
            deflate.response_header()
        )
    });
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n{extensions}\r\n"
    );
    Ok(Plan::Upgrade {
        response: response.into_bytes(),
        echo: route == Route::WsEcho,
        deflate,
    })
}

/// 16 bytes in base64 is 22 characters of the alphabet and `==`.
pub(super) fn valid_websocket_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes.ends_with(b"==")
        && bytes[..22]
            .iter()
            .all(|&byte| byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_keys() {
        assert!(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!valid_websocket_key(""));
        assert!(!valid_websocket_key("dGhlIHNhbXBsZSBub25j!Q=="));
    }
}
