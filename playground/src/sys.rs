//! Process memory figures (Linux).

/// Peak resident set size of this process in KiB: the larger of
/// `getrusage(RUSAGE_SELF).ru_maxrss` and `VmHWM` from `/proc/self/status`.
pub fn peak_rss_kib() -> u64 {
    maxrss_kib().max(status_field_kib("VmHWM:").unwrap_or(0))
}

/// `getrusage(RUSAGE_SELF).ru_maxrss` in KiB (0 if the call fails).
pub fn maxrss_kib() -> u64 {
    // SAFETY: `rusage` is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc == 0 {
        ru.ru_maxrss.max(0) as u64
    } else {
        0
    }
}

/// `VmHWM` from `/proc/self/status` in KiB.
pub fn hwm_kib() -> u64 {
    status_field_kib("VmHWM:").unwrap_or(0)
}

/// Current resident set size in KiB (`VmRSS`).
pub fn current_rss_kib() -> u64 {
    status_field_kib("VmRSS:").unwrap_or(0)
}

fn status_field_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_field(&s, field)
}

/// Parses a `Name:   1234 kB` line of `/proc/<pid>/status`.
pub fn parse_status_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parsing() {
        let s = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_field(s, "VmHWM:"), Some(2048));
        assert_eq!(parse_status_field(s, "VmRSS:"), Some(1024));
        assert_eq!(parse_status_field(s, "VmSwap:"), None);
        assert!(current_rss_kib() > 0 && peak_rss_kib() >= current_rss_kib());
    }
}
