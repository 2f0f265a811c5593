//! The standard `process_*` figures of `/metrics`, read from Linux's
//! `/proc`: `/proc/self/stat` (CPU time, start, virtual size, resident
//! pages), `/proc/self/fd` (open descriptors) and `/proc/stat` (boot
//! time); the descriptor limit comes from getrlimit(2), a syscall, since
//! reading `/proc/self/limits` cost 30 µs here, more than the rest of an
//! answer. The parsers are pure and tested on sample text; a figure that
//! cannot be read (no `/proc`) is `None`, and its series is left out
//! rather than made up.

/// What the kernel's clock ticks and pages are, and when the process
/// started: read once (`ProcessClock::read`), they do not change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessClock {
    ticks_per_second: u64,
    page_bytes: u64,
    /// Seconds since the Unix epoch.
    start_time_s: Option<f64>,
}

/// One reading.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_s: Option<f64>,
}

/// The fields of `/proc/self/stat` that we read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    utime_ticks: u64,
    stime_ticks: u64,
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

impl ProcessClock {
    pub fn read() -> ProcessClock {
        let (ticks_per_second, page_bytes) = sysconf_ticks_and_page();
        let boot_s = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| parse_boot_time(&text));
        let start_ticks = read_stat().map(|stat| stat.start_ticks);
        let start_time_s = match (boot_s, start_ticks) {
            (Some(boot_s), Some(ticks)) => {
                Some(boot_s as f64 + ticks as f64 / ticks_per_second as f64)
            }
            _ => None,
        };
        ProcessClock {
            ticks_per_second,
            page_bytes,
            start_time_s,
        }
    }

    /// Reads the figures now: one small file read, one directory listing
    /// (an entry per open descriptor) and one syscall.
    pub fn stats(&self) -> ProcessStats {
        let stat = read_stat();
        ProcessStats {
            cpu_seconds: stat.map(|stat| {
                (stat.utime_ticks + stat.stime_ticks) as f64 / self.ticks_per_second as f64
            }),
            resident_bytes: stat.map(|stat| stat.resident_pages * self.page_bytes),
            virtual_bytes: stat.map(|stat| stat.virtual_bytes),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as u64),
            max_fds: open_files_limit(),
            start_time_s: self.start_time_s,
        }
    }
}

fn read_stat() -> Option<Stat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&text)
}

/// `sysconf(_SC_CLK_TCK)` and `sysconf(_SC_PAGESIZE)`, or Linux's usual
/// 100 and 4096 if either fails.
#[allow(unsafe_code)]
fn sysconf_ticks_and_page() -> (u64, u64) {
    // SAFETY: sysconf(3) takes an integer name and returns an integer; it
    // touches no memory of ours.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let positive = |value: libc::c_long, fallback: u64| {
        u64::try_from(value)
            .ok()
            .filter(|&v| v > 0)
            .unwrap_or(fallback)
    };
    (positive(ticks, 100), positive(page, 4096))
}

/// Fields after the command name, which is in parentheses and may hold
/// spaces and parentheses itself: the last `)` ends it. Field 3 (state) is
/// then the first; utime and stime are 14 and 15, starttime 22, vsize 23
/// and rss 24 (`proc(5)`).
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// `btime SECONDS` of `/proc/stat`: when the machine booted.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|seconds| seconds.trim().parse().ok())
}

/// The soft `RLIMIT_NOFILE`; unlimited is `u64::MAX`.
#[allow(unsafe_code)]
fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one `rlimit` through a pointer to a
    // local that outlives the call.
    let result = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    // Unlimited is RLIM_INFINITY, which is u64::MAX on Linux (checked
    // below): already what the series says for it.
    (result == 0).then_some(limit.rlim_cur)
}

const _: () = assert!(libc::RLIM_INFINITY == u64::MAX);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_name_with_spaces_and_parentheses() {
        let text = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 120 0 0 0 \
                    25 7 0 0 20 0 1 0 98765 123456789 321 18446744073709551615 \
                    1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
        let stat = parse_stat(text).expect("parsed");
        assert_eq!(
            stat,
            Stat {
                utime_ticks: 25,
                stime_ticks: 7,
                start_ticks: 98765,
                virtual_bytes: 123_456_789,
                resident_pages: 321,
            }
        );
    }

    #[test]
    fn a_short_or_broken_stat_is_none() {
        assert_eq!(parse_stat("4242 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("no parenthesis at all"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn boot_time() {
        let stat = "cpu  1 2 3 4\nintr 5\nbtime 1764700000\nprocesses 9\n";
        assert_eq!(parse_boot_time(stat), Some(1_764_700_000));
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[test]
    fn this_process_reads_as_itself() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            eprintln!("skipped: no /proc");
            return;
        }
        let clock = ProcessClock::read();
        let stats = clock.stats();
        assert!(stats.resident_bytes.is_some_and(|bytes| bytes > 0));
        assert!(stats.virtual_bytes >= stats.resident_bytes);
        assert!(stats.open_fds.is_some_and(|count| count >= 3));
        assert!(stats.max_fds >= stats.open_fds);
        // The same limit as the kernel's own account of it.
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let soft = limits
            .lines()
            .find_map(|line| line.strip_prefix("Max open files"))
            .and_then(|rest| rest.split_ascii_whitespace().next())
            .map(|soft| soft.parse().unwrap_or(u64::MAX));
        assert_eq!(stats.max_fds, soft);
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs_f64())
            .unwrap_or(0.0);
        // Started in the past, and less than a day ago.
        let start_s = stats.start_time_s.expect("start time");
        assert!(
            start_s <= now_s + 1.0 && start_s > now_s - 86_400.0,
            "{start_s} {now_s}"
        );
    }
}
