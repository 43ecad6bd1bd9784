//! What the bench reads about processes from `/proc`: CPU seconds (user + system, of a whole
//! process or of the calling thread), peak and current RSS, and bytes under a directory.

use std::path::Path;

/// Clock ticks per second of `/proc/*/stat` times (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const TICKS: f64 = 100.0;

/// User + system CPU seconds of process `pid` (its threads, live and exited), from
/// `/proc/<pid>/stat`; `None` if it cannot be read.
pub fn process_cpu(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces), from field 3 on.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS)
}

/// CPU seconds of this process.
pub fn self_cpu() -> f64 {
    process_cpu(std::process::id()).unwrap_or(0.0)
}

/// CPU seconds the calling thread has run, ns precision (`/proc/thread-self/schedstat`).
pub fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map(|ns| ns / 1e9)
        .unwrap_or(0.0)
}

/// A `/proc/<pid>/status` field in kB (`VmHWM`, `VmRSS`), as MiB.
pub fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Bytes of the files under `p`.
pub fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => n += dir_bytes(&e.path()),
                Ok(m) => n += m.len(),
                Err(_) => {}
            }
        }
    }
    n
}

/// How long [`settle`] watches for the CPU to stay quiet.
pub const QUIET_PROBE: std::time::Duration = std::time::Duration::from_millis(500);

/// Waits until process `pid` uses less than 2% of a core over [`QUIET_PROBE`] (background
/// merges done), at most `max_s` seconds.
pub fn settle(pid: u32, max_s: f64) {
    let t = std::time::Instant::now();
    let mut last = process_cpu(pid).unwrap_or(0.0);
    while t.elapsed().as_secs_f64() < max_s {
        std::thread::sleep(QUIET_PROBE);
        let now = process_cpu(pid).unwrap_or(0.0);
        if now - last < 0.011 {
            return;
        }
        last = now;
    }
}
