//! The dashboard files of `www/`, built into the binary.
//!
//! Served from memory with an `ETag` (a hash of the content computed at
//! compile time) and `Cache-Control: no-cache`, so browsers keep a copy and
//! revalidate it with a cheap 304. `--www DIR` serves the same names from
//! disk instead, for working on the dashboard without rebuilding.

use crate::http::head::RequestHead;
use crate::http::response::Response;
use std::path::Path;

/// One dashboard file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asset {
    Index,
    Script,
    Style,
}

struct AssetFile {
    file_name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    etag: &'static str,
}

const INDEX_HTML: &[u8] = include_bytes!("../www/index.html");
const APP_JS: &[u8] = include_bytes!("../www/app.js");
const STYLE_CSS: &[u8] = include_bytes!("../www/style.css");

/// FNV-1a, evaluated by the compiler: the ETag costs nothing at run time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < bytes.len() {
        hash ^= bytes[index] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        index += 1;
    }
    hash
}

const fn hex_etag(hash: u64) -> [u8; 18] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'"'; 18];
    let mut index = 0;
    while index < 16 {
        out[1 + index] = DIGITS[((hash >> (60 - 4 * index)) & 0xf) as usize];
        index += 1;
    }
    out
}

const INDEX_ETAG: [u8; 18] = hex_etag(fnv1a(INDEX_HTML));
const APP_ETAG: [u8; 18] = hex_etag(fnv1a(APP_JS));
const STYLE_ETAG: [u8; 18] = hex_etag(fnv1a(STYLE_CSS));

fn etag_text(bytes: &'static [u8; 18]) -> &'static str {
    // Built from ASCII hex digits and quotes above.
    std::str::from_utf8(bytes).unwrap_or("\"0\"")
}

fn file(asset: Asset) -> AssetFile {
    match asset {
        Asset::Index => AssetFile {
            file_name: "index.html",
            content_type: "text/html; charset=utf-8",
            bytes: INDEX_HTML,
            etag: etag_text(&INDEX_ETAG),
        },
        Asset::Script => AssetFile {
            file_name: "app.js",
            content_type: "text/javascript; charset=utf-8",
            bytes: APP_JS,
            etag: etag_text(&APP_ETAG),
        },
        Asset::Style => AssetFile {
            file_name: "style.css",
            content_type: "text/css; charset=utf-8",
            bytes: STYLE_CSS,
            etag: etag_text(&STYLE_ETAG),
        },
    }
}

/// The dashboard's only policy: its own scripts, styles and WebSocket.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The asset a path names, if any.
pub fn lookup(path: &str) -> Option<Asset> {
    match path {
        "/" | "/index.html" => Some(Asset::Index),
        "/app.js" => Some(Asset::Script),
        "/style.css" => Some(Asset::Style),
        _ => None,
    }
}

/// The answer for `asset`: from memory, or from `www_dir` when given.
pub fn respond(asset: Asset, www_dir: Option<&Path>, head: &RequestHead) -> Response {
    let file = file(asset);
    let mut response = match www_dir {
        Some(dir) => match std::fs::read(dir.join(file.file_name)) {
            Ok(bytes) => Response::json(200, bytes).with_header("Cache-Control", "no-store".into()),
            Err(error) => {
                return Response::error(
                    404,
                    &format!("cannot read {} from --www: {error}", file.file_name),
                )
            }
        },
        None if head.if_none_match.as_deref() == Some(file.etag) => {
            let mut response = Response::json(304, Vec::new());
            response.headers.push(("ETag", file.etag.to_owned()));
            response
        }
        None => Response::json(200, file.bytes.to_vec())
            .with_header("ETag", file.etag.to_owned())
            .with_header("Cache-Control", "no-cache".into()),
    };
    response.content_type = file.content_type;
    response
        .with_header("Content-Security-Policy", CONTENT_SECURITY_POLICY.into())
        .with_header("Referrer-Policy", "no-referrer".into())
        .with_header("X-Frame-Options", "DENY".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_per_file_and_are_quoted() {
        let etags = [Asset::Index, Asset::Script, Asset::Style].map(|asset| file(asset).etag);
        assert!(etags
            .iter()
            .all(|etag| etag.len() == 18 && etag.starts_with('"')));
        assert_ne!(etags[0], etags[1]);
    }
}
