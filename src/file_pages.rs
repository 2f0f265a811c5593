//! Hands back the file pages that only start-up used.
//!
//! Why: RSS counts every page of a shared library or of the binary that is
//! mapped into the process, and the kernel maps file pages in 64 KiB windows
//! around each fault ("fault-around"). Start-up (ld.so relocations, libc's
//! init, flag parsing, bind) runs code and reads constants spread over much
//! of libc and of the binary, so a freshly started server has about 2 MiB of
//! file pages mapped, most of which the idle loop never touches again
//! (issue #7: idle RSS ≤ 2 MiB). Once the server is bound,
//! `release_startup_pages` drops those mappings with `MADV_DONTNEED`: the
//! pages stay in the page cache, shared with every other process, and
//! whatever runs later faults back in on first use (a minor fault, no disk
//! read). An unmapped page-cache page is also easier for the kernel to
//! reclaim on a small machine than one mapped into a running process.
//!
//! **Invariant:** only private, read-only (`r-xp`, `r--p`) file mappings
//! that hold no page this process has written (`Anonymous: 0 kB` in smaps)
//! are dropped. For those, `MADV_DONTNEED` is exact: the next access reads
//! the same bytes from the file. Writable mappings, and read-only ones with
//! a written page (RELRO after relocation, a debugger's breakpoint), are
//! never touched: dropping them would lose what was written.

use std::ffi::c_void;

const MADV_DONTNEED: i32 = 4;

extern "C" {
    fn madvise(addr: *mut c_void, len: usize, advice: i32) -> i32;
}

/// Drops this process's mappings of clean read-only file pages (see the
/// module doc).
/// Best effort: without `/proc` it does nothing, and a refused `madvise`
/// leaves that mapping as it was.
pub fn release_startup_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, end) in clean_read_only_ranges(&smaps) {
        // SAFETY: the range is a whole mapping of this process, read-only,
        // private and file-backed, with no anonymous (written) page in it,
        // so the call only drops page-table entries that the
        // next access refills with the same file bytes.
        unsafe { madvise(start as *mut c_void, end - start, MADV_DONTNEED) };
    }
}

/// The `(start, end)` address ranges of the mappings in an smaps listing
/// that are file-backed, private, read-only, and hold no anonymous page.
fn clean_read_only_ranges(smaps: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut candidate = None;
    for line in smaps.lines() {
        if let Some(range) = mapping_header(line) {
            candidate = range;
        } else if let Some(kib) = line.strip_prefix("Anonymous:") {
            if let Some(range) = candidate.take() {
                if kib.trim() == "0 kB" {
                    ranges.push(range);
                }
            }
        }
    }
    ranges
}

/// For a mapping's header line (`start-end perms offset dev inode path`):
/// `Some(Some(range))` for a private read-only file mapping, `Some(None)`
/// for any other mapping. `None` for the `Key: value` lines under a header.
fn mapping_header(line: &str) -> Option<Option<(usize, usize)>> {
    let mut fields = line.split_ascii_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?;
    let path = fields.nth(3).unwrap_or("");
    let read_only = matches!(perms, "r-xp" | "r--p");
    let eligible = read_only && path.starts_with('/') && start < end;
    Some(eligible.then_some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
5600aa000000-5600aa010000 r--p 00000000 fd:01 42 /usr/bin/sessions-lite
Size:                 64 kB
Anonymous:             0 kB
5600aa010000-5600aa090000 r-xp 00010000 fd:01 42 /usr/bin/sessions-lite
Size:                512 kB
Rss:                 500 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
5600aa090000-5600aa094000 r--p 00090000 fd:01 42 /usr/bin/sessions-lite
Anonymous:            16 kB
5600aa094000-5600aa096000 rw-p 00094000 fd:01 42 /usr/bin/sessions-lite
Anonymous:             0 kB
7f0000000000-7f0000100000 r-xp 00028000 fd:01 7 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             4 kB
7f0000100000-7f0000110000 r--s 00000000 fd:01 8 /dev/shm/shared
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0 
Anonymous:           128 kB
7f0000400000-7f0000401000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
7f0000500000-7f0000520000 r-xp 00001000 fd:01 9 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
Anonymous:             0 kB
";

    #[test]
    fn only_clean_private_read_only_file_mappings_are_released() {
        // The binary's constants and code, and ld.so's code. Not the
        // binary's relocated RELRO or its writable data, not libc's code
        // with a written page, not a shared mapping, not the heap, not the
        // vDSO.
        assert_eq!(
            clean_read_only_ranges(SMAPS),
            vec![
                (0x5600aa000000, 0x5600aa010000),
                (0x5600aa010000, 0x5600aa090000),
                (0x7f0000500000, 0x7f0000520000)
            ]
        );
    }

    #[test]
    fn a_mapping_without_an_anonymous_line_is_kept() {
        // A cut listing: no proof that the first mapping's pages are clean.
        let smaps = "1000-2000 r-xp 00000000 fd:01 1 /bin/x\nSize: 4 kB\n\
                     3000-4000 r-xp 00000000 fd:01 1 /bin/y\nAnonymous: 0 kB\n";
        assert_eq!(clean_read_only_ranges(smaps), vec![(0x3000, 0x4000)]);
    }

    #[test]
    fn malformed_lines_release_nothing() {
        for smaps in [
            "",
            "zz-yy r-xp 0 0 0 /x\nAnonymous: 0 kB\n",
            "2000-1000 r-xp 0 0 0 /x\nAnonymous: 0 kB\n",
            "1000-2000 r-xp 0 0 0\nAnonymous: 0 kB\n",
            "Anonymous: 0 kB\n",
        ] {
            assert!(clean_read_only_ranges(smaps).is_empty(), "{smaps:?}");
        }
    }

    #[test]
    fn this_process_keeps_running_after_its_pages_are_released() {
        let own = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        assert!(
            !clean_read_only_ranges(&own).is_empty(),
            "the test binary's own code is a clean read-only mapping"
        );
        release_startup_pages();
        // Code and constants are read again after their pages were
        // dropped: they fault back in with the same bytes.
        assert_eq!(clean_read_only_ranges(SMAPS).len(), 3);
        assert_eq!(format!("{:x}", 0xfeed_u32), "feed");
    }
}
