//! The dashboard files of `www/` and the OpenAPI document
//! (`docs/openapi.json`, served at `/openapi.json`), built into the binary
//! gzipped.
//!
//! `build.rs` stores each file as one gzip member (14 KB for the three
//! instead of 50: issue #7 caps the binary at 800 KB) with the ETag of its
//! content. A client whose `Accept-Encoding` takes gzip gets those bytes as
//! they are; any other gets them inflated at request time. The two are
//! different representations, so each has its own strong ETag (the gzip
//! one ends in `-gz`), and both say `Vary: Accept-Encoding` so that no
//! cache hands the gzip bytes to a client that did not ask for them.
//! `Cache-Control: no-cache` makes browsers keep a copy and revalidate it
//! with a cheap 304. `--www DIR` serves the dashboard's names from disk
//! instead, uncompressed, for working on it without rebuilding; the OpenAPI
//! document is always the built-in one (it describes this binary).

use crate::http::head::{trim_ows, RequestHead};
use crate::http::response::Response;
use crate::limits::ASSET_BYTES_MAX;
use crate::ws_deflate;
use std::path::Path;

/// One file built into the binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asset {
    Index,
    Script,
    Style,
    /// `docs/openapi.json`: not a dashboard file, never read from `--www`.
    OpenApi,
}

struct AssetFile {
    file_name: &'static str,
    content_type: &'static str,
    /// The file as one gzip member, as `build.rs` wrote it.
    gzip: &'static [u8],
    /// ETag of the uncompressed content.
    etag: &'static str,
    /// ETag of the gzip bytes: the same hash, another representation.
    gzip_etag: &'static str,
}

const INDEX_HTML_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/index.html.gz"));
const APP_JS_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/app.js.gz"));
const STYLE_CSS_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/style.css.gz"));
const OPENAPI_JSON_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/openapi.json.gz"));

/// `build.rs` writes no optional header fields (no name, no time), so the
/// header is always the 10 fixed bytes; the trailer is CRC-32 and ISIZE.
const GZIP_HEADER_BYTES: usize = 10;
const GZIP_TRAILER_BYTES: usize = 8;

/// The uncompressed size a gzip member records in its last four bytes.
const fn gzip_content_size(member: &[u8]) -> usize {
    let end = member.len();
    u32::from_le_bytes([
        member[end - 4],
        member[end - 3],
        member[end - 2],
        member[end - 1],
    ]) as usize
}

// A file that grew past the inflate limit fails the build here rather than
// every request without gzip at run time.
const _: () = assert!(gzip_content_size(INDEX_HTML_GZ) <= ASSET_BYTES_MAX);
const _: () = assert!(gzip_content_size(APP_JS_GZ) <= ASSET_BYTES_MAX);
const _: () = assert!(gzip_content_size(STYLE_CSS_GZ) <= ASSET_BYTES_MAX);
const _: () = assert!(gzip_content_size(OPENAPI_JSON_GZ) <= ASSET_BYTES_MAX);

fn file(asset: Asset) -> AssetFile {
    match asset {
        Asset::Index => AssetFile {
            file_name: "index.html",
            content_type: "text/html; charset=utf-8",
            gzip: INDEX_HTML_GZ,
            etag: concat!("\"", env!("WWW_ETAG_INDEX_HTML"), "\""),
            gzip_etag: concat!("\"", env!("WWW_ETAG_INDEX_HTML"), "-gz\""),
        },
        Asset::Script => AssetFile {
            file_name: "app.js",
            content_type: "text/javascript; charset=utf-8",
            gzip: APP_JS_GZ,
            etag: concat!("\"", env!("WWW_ETAG_APP_JS"), "\""),
            gzip_etag: concat!("\"", env!("WWW_ETAG_APP_JS"), "-gz\""),
        },
        Asset::Style => AssetFile {
            file_name: "style.css",
            content_type: "text/css; charset=utf-8",
            gzip: STYLE_CSS_GZ,
            etag: concat!("\"", env!("WWW_ETAG_STYLE_CSS"), "\""),
            gzip_etag: concat!("\"", env!("WWW_ETAG_STYLE_CSS"), "-gz\""),
        },
        Asset::OpenApi => AssetFile {
            file_name: "openapi.json",
            content_type: "application/json",
            gzip: OPENAPI_JSON_GZ,
            etag: concat!("\"", env!("OPENAPI_ETAG"), "\""),
            gzip_etag: concat!("\"", env!("OPENAPI_ETAG"), "-gz\""),
        },
    }
}

/// The dashboard's only policy: its own scripts, styles and WebSocket.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard file a path names, if any (`/openapi.json` is a route of
/// its own: `api::Route::OpenApi`).
pub fn lookup(path: &str) -> Option<Asset> {
    PATHS
        .iter()
        .find(|(name, _)| *name == path)
        .map(|&(_, asset)| asset)
}

/// The dashboard's paths, as `lookup` matches them (the OpenAPI test in
/// `api/routes.rs` walks them too).
pub const PATHS: [(&str, Asset); 4] = [
    ("/", Asset::Index),
    ("/index.html", Asset::Index),
    ("/app.js", Asset::Script),
    ("/style.css", Asset::Style),
];

/// The answer for `asset`: from memory, or from `www_dir` when given.
pub fn respond(asset: Asset, www_dir: Option<&Path>, head: &RequestHead) -> Response {
    let file = file(asset);
    let answer = match www_dir {
        Some(dir) if asset != Asset::OpenApi => from_disk(&file, dir),
        _ => from_memory(&file, head),
    };
    let mut response = match answer {
        Ok(response) => response,
        Err(error) => return error,
    };
    response.content_type = file.content_type;
    response
        .with_header("Content-Security-Policy", CONTENT_SECURITY_POLICY.into())
        .with_header("Referrer-Policy", "no-referrer".into())
        .with_header("X-Frame-Options", "DENY".into())
}

/// `--www`: the file as it is on disk now, never cached.
fn from_disk(file: &AssetFile, dir: &Path) -> Result<Response, Response> {
    match std::fs::read(dir.join(file.file_name)) {
        Ok(bytes) => Ok(Response::json(200, bytes).with_header("Cache-Control", "no-store".into())),
        Err(error) => Err(Response::error(
            404,
            &format!("cannot read {} from --www: {error}", file.file_name),
        )),
    }
}

/// The built-in file: gzip bytes as stored, or inflated for a client that
/// does not take gzip; a 304 when the client's copy is this representation.
fn from_memory(file: &AssetFile, head: &RequestHead) -> Result<Response, Response> {
    let gzip = head.accept_encoding.as_deref().is_some_and(accepts_gzip);
    let etag = if gzip { file.gzip_etag } else { file.etag };
    let cached = head
        .if_none_match
        .as_deref()
        .is_some_and(|tags| none_match_fails(tags, etag));
    let response = if cached {
        Response::json(304, Vec::new())
    } else if gzip {
        Response::json(200, file.gzip.to_vec()).with_header("Content-Encoding", "gzip".into())
    } else {
        let content = inflate(file.gzip)
            .ok_or_else(|| Response::error(500, "a built-in dashboard file does not inflate"))?;
        Response::json(200, content)
    };
    // A 304 carries what the 200 would have (RFC 9110 15.4.5).
    Ok(response
        .with_header("ETag", etag.to_owned())
        .with_header("Cache-Control", "no-cache".into())
        .with_header("Vary", "Accept-Encoding".into()))
}

/// Whether `If-None-Match` names `etag` (RFC 9110 13.1.2): `*`, or a
/// list of entity tags compared weakly (a `W/` prefix does not matter).
/// True means the client's copy is current: answer 304.
fn none_match_fails(if_none_match: &str, etag: &str) -> bool {
    let tags = if_none_match.trim_matches([' ', '\t']);
    tags == "*"
        || tags.split(',').any(|tag| {
            let tag = tag.trim_matches([' ', '\t']);
            tag.strip_prefix("W/").unwrap_or(tag) == etag
        })
}

/// The content of a gzip member written by `build.rs`, or `None` if it is
/// cut, corrupt, or not the size its trailer says (none can pass the
/// tests). It goes through the WebSocket inflater, which takes any raw
/// DEFLATE stream that ends in a final block: one copy of the decompressor
/// in the binary rather than two.
fn inflate(member: &[u8]) -> Option<Vec<u8>> {
    let deflate_end = member.len().checked_sub(GZIP_TRAILER_BYTES)?;
    let deflate = member.get(GZIP_HEADER_BYTES..deflate_end)?;
    // The output buffer is allocated at the limit: make it the exact size.
    let content_size = gzip_content_size(member).min(ASSET_BYTES_MAX);
    let content = ws_deflate::inflate_message(deflate, content_size).ok()?;
    (content.len() == content_size).then_some(content)
}

/// Whether an `Accept-Encoding` value takes gzip (RFC 9110 12.5.3). A
/// `gzip` or `x-gzip` element decides by its weight; without one, `*` does;
/// without either, no (an empty value asks for no coding at all). An
/// element whose weight does not parse takes nothing: identity is always
/// safe to send.
fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut named: Option<bool> = None;
    let mut any: Option<bool> = None;
    for element in accept_encoding.split(',') {
        let (coding, parameters) = element.split_once(';').unwrap_or((element, ""));
        let coding = trim_ows(coding);
        let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut named
        } else if coding == "*" {
            &mut any
        } else {
            continue;
        };
        // A coding listed twice is taken if either element takes it.
        let accepted = weight(parameters).is_some_and(|thousandths| thousandths > 0);
        *slot = Some(slot.unwrap_or(false) || accepted);
    }
    named.or(any).unwrap_or(false)
}

/// The weight of one element in thousandths (1000 when it has no `q`), or
/// `None` when a parameter is malformed. Accept-Encoding defines no other
/// parameter; one is ignored rather than refused.
fn weight(parameters: &str) -> Option<u16> {
    for parameter in parameters.split(';') {
        let parameter = trim_ows(parameter);
        if parameter.is_empty() {
            continue;
        }
        let (name, value) = parameter.split_once('=')?;
        if trim_ows(name).eq_ignore_ascii_case("q") {
            return qvalue(trim_ows(value));
        }
    }
    Some(1000)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths (RFC 9110 12.4.2).
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |sum, digit| sum * 10 + u16::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSETS: [Asset; 4] = [Asset::Index, Asset::Script, Asset::Style, Asset::OpenApi];

    #[test]
    fn if_none_match_lists_weak_tags_and_star() {
        let etag = "\"0123456789abcdef-gz\"";
        for matching in [
            etag,
            "*",
            " * ",
            "W/\"0123456789abcdef-gz\"",
            "\"other\", \"0123456789abcdef-gz\"",
            "\"other\",W/\"0123456789abcdef-gz\"\t",
        ] {
            assert!(none_match_fails(matching, etag), "{matching}");
        }
        for other in [
            "",
            "\"0123456789abcdef\"",
            "0123456789abcdef-gz",
            "\"other\", \"x\"",
            "w/\"0123456789abcdef-gz\"",
            "*, \"x\"",
        ] {
            assert!(!none_match_fails(other, etag), "{other}");
        }
    }

    #[test]
    fn etags_differ_per_file_and_representation_and_are_quoted() {
        for asset in ASSETS {
            let file = file(asset);
            assert_eq!(file.etag.len(), 18, "{}", file.etag);
            assert!(file.etag.starts_with('"') && file.etag.ends_with('"'));
            assert_eq!(file.gzip_etag, format!("{}-gz\"", &file.etag[..17]));
        }
        assert_ne!(file(Asset::Index).etag, file(Asset::Script).etag);
    }

    /// CRC-32 a byte at a time through a table: another way to the same
    /// sum than `build.rs` takes, so one cannot hide a mistake in the other.
    fn crc32(bytes: &[u8]) -> u32 {
        let table: Vec<u32> = (0..256u32)
            .map(|index| {
                (0..8).fold(index, |crc, _| {
                    if crc & 1 == 1 {
                        (crc >> 1) ^ 0xedb8_8320
                    } else {
                        crc >> 1
                    }
                })
            })
            .collect();
        !bytes.iter().fold(u32::MAX, |crc, &byte| {
            table[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8)
        })
    }

    #[test]
    fn built_in_files_are_gzip_members_of_the_www_files() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926, "the CRC-32 check value");
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        for asset in ASSETS {
            let file = file(asset);
            let dir = if asset == Asset::OpenApi {
                "docs"
            } else {
                "www"
            };
            let on_disk =
                std::fs::read(crate_dir.join(dir).join(file.file_name)).expect("source file");
            let member = file.gzip;
            // ID1 ID2 CM=deflate, no flags, no time, XFL=2, OS=unknown.
            assert_eq!(
                &member[..GZIP_HEADER_BYTES],
                &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]
            );
            let trailer = &member[member.len() - GZIP_TRAILER_BYTES..];
            assert_eq!(
                trailer[..4],
                crc32(&on_disk).to_le_bytes(),
                "{}",
                file.file_name
            );
            assert_eq!(trailer[4..], (on_disk.len() as u32).to_le_bytes());
            assert_eq!(gzip_content_size(member), on_disk.len());
            assert_eq!(
                inflate(member).as_deref(),
                Some(&on_disk[..]),
                "{}",
                file.file_name
            );
            assert!(
                member.len() < on_disk.len() / 2,
                "{} compresses",
                file.file_name
            );
        }
    }

    #[test]
    fn inflate_refuses_cut_members_and_wrong_sizes() {
        let member = file(Asset::Style).gzip;
        assert_eq!(
            inflate(&member[..GZIP_HEADER_BYTES + GZIP_TRAILER_BYTES - 1]),
            None
        );
        assert_eq!(inflate(&member[..member.len() / 2]), None);
        assert_eq!(inflate(&[]), None);
        let mut wrong_size = member.to_vec();
        let last = wrong_size.len() - 4;
        wrong_size[last] ^= 1;
        assert_eq!(inflate(&wrong_size), None, "ISIZE off by one");
    }

    /// A member of `size` zero bytes framed like `build.rs` frames one (the
    /// CRC is left zero: `inflate` trusts the build and does not check it).
    fn member_of_zeros(size: usize) -> Vec<u8> {
        let mut member = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255];
        member.extend(miniz_oxide::deflate::compress_to_vec(&vec![0; size], 1));
        member.extend(0u32.to_le_bytes());
        member.extend((size as u32).to_le_bytes());
        member
    }

    #[test]
    fn inflate_at_the_asset_limit() {
        for size in [ASSET_BYTES_MAX - 1, ASSET_BYTES_MAX] {
            let content = inflate(&member_of_zeros(size)).expect("inflates");
            assert_eq!(content.len(), size);
        }
        assert_eq!(inflate(&member_of_zeros(ASSET_BYTES_MAX + 1)), None);
    }

    fn check(accept_encoding: &str, expected: bool) {
        assert_eq!(
            accepts_gzip(accept_encoding),
            expected,
            "Accept-Encoding: {accept_encoding:?}"
        );
    }

    #[test]
    fn accept_encoding_takes_gzip() {
        for value in [
            "gzip",
            "x-gzip",
            "GZIP",
            "X-Gzip",
            "gzip, deflate, br, zstd",
            "br;q=1.0, gzip;q=0.8, *;q=0.1",
            " \tgzip ,br",
            "gzip;q=1",
            "gzip;q=1.",
            "gzip;q=1.000",
            "gzip;Q=0.5",
            "gzip ; q = 0.001",
            "gzip;q=0.5",
            "*",
            "*;q=0.5",
            "br, *",
            ",,gzip,,",
            "*;q=0, gzip",
            "gzip;q=0, x-gzip",
            "gzip;level=9",
        ] {
            check(value, true);
        }
    }

    #[test]
    fn accept_encoding_refuses_gzip() {
        for value in [
            "",
            " ",
            ",",
            "identity",
            "identity;q=1, *;q=0",
            "br, zstd, deflate",
            "gzipx",
            "gzip;q=0",
            "gzip;q=0.000",
            "gzip;q=0.",
            "gzip; q=0.0",
            "GZIP;Q=0",
            "gzip;q=0, *",
            "*;q=0",
            "*;q=0.000",
            "gzip;q=1.5",
            "gzip;q=1.001",
            "gzip;q=0.0001",
            "gzip;q=",
            "gzip;q=.5",
            "gzip;q=-1",
            "gzip;q=abc",
            "gzip;q",
            "gzip;q=0.5x",
            "\u{a0}gzip",
            "gzip\u{a0}",
            "g\u{e9}zip",
        ] {
            check(value, false);
        }
    }

    #[test]
    fn qvalues() {
        for (text, expected) in [
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.123", Some(123)),
            ("1", Some(1000)),
            ("1.0", Some(1000)),
            ("1.000", Some(1000)),
            ("1.1", None),
            ("0.1234", None),
            ("2", None),
            ("", None),
            ("+0.5", None),
            ("0.-1", None),
        ] {
            assert_eq!(qvalue(text), expected, "{text:?}");
        }
    }
}
