//! Gzips the dashboard files of `www/` and the OpenAPI document
//! `docs/openapi.json` into `OUT_DIR` for `src/assets.rs`, and links the
//! binary with packed relocations (see `main`).
//!
//! Stored compressed, the three files take about 14 KB of the binary
//! instead of 50 KB (issue #7: the stripped binary must stay under 800 KB),
//! and browsers get them without any work at request time. The gzip header
//! has no time and no name in it, so two builds of the same tree give the
//! same bytes. The ETag of each file's uncompressed content is computed here
//! too and handed to the crate as `WWW_ETAG_<NAME>` (quotes not included).

use std::path::Path;

/// The files `src/assets.rs` includes (their source, relative to the
/// crate), and the variable holding each ETag. Each is written to
/// `OUT_DIR` under its file name with `.gz` added.
const FILES: [(&str, &str); 4] = [
    ("www/index.html", "WWW_ETAG_INDEX_HTML"),
    ("www/app.js", "WWW_ETAG_APP_JS"),
    ("www/style.css", "WWW_ETAG_STYLE_CSS"),
    ("docs/openapi.json", "OPENAPI_ETAG"),
];

/// miniz_oxide's best (and slowest) level: it runs once per build.
const DEFLATE_LEVEL: u8 = 10;

fn main() {
    // Relative relocations packed as DT_RELR (glibc 2.36, binutils 2.38):
    // 19 KB of `.rela.dyn` becomes 264 bytes of `.relr.dyn`, in the file
    // and in the pages ld.so writes at start-up. GNU ld before 2.38 warns
    // that it does not know the option and links the usual way.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    for (source, etag_variable) in FILES {
        let source = Path::new(source);
        let file_name = source
            .file_name()
            .and_then(|name| name.to_str())
            .expect("FILES names files");
        println!("cargo:rerun-if-changed={}", source.display());
        let content = std::fs::read(source)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", source.display()));
        let target = Path::new(&out_dir).join(format!("{file_name}.gz"));
        std::fs::write(&target, gzip(&content))
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", target.display()));
        println!("cargo:rustc-env={etag_variable}={:016x}", fnv1a(&content));
    }
}

/// A gzip member (RFC 1952): header, raw DEFLATE, CRC-32, size mod 2^32.
fn gzip(content: &[u8]) -> Vec<u8> {
    // ID1 ID2, CM = deflate, FLG = none, MTIME = 0 (none: reproducible),
    // XFL = 2 (slowest compression), OS = 255 (unknown: the same everywhere).
    let mut member = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255];
    member.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(
        content,
        DEFLATE_LEVEL,
    ));
    member.extend_from_slice(&crc32(content).to_le_bytes());
    // ISIZE is the length modulo 2^32 by definition: the cut is the format.
    member.extend_from_slice(&(content.len() as u32).to_le_bytes());
    member
}

/// CRC-32 as gzip defines it (reflected, polynomial 0xedb88320), one bit at
/// a time: 50 KB once per build does not need a table.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// FNV-1a: the ETag of the content, as the server computed it before the
/// files were stored compressed, so cached copies stay valid.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
