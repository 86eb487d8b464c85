//! What /proc says about a process (Linux): its resident memory, for tests that bound it and
//! benchmarks that report it.

/// A `kB` figure of /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile, RssShmem), in MiB; 0
/// when the process or the field is gone.
pub fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Its resident memory now, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS")
}
