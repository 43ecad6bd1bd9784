//! `/proc/stat`: per-CPU time by mode (`node_cpu_seconds_total`, `node_cpu_guest_seconds_total`)
//! and the system-wide counters (boot time, context switches, forks, interrupts, runnable
//! and blocked processes).

use super::{num, read, HostPaths, Out};

/// The kernel reports CPU time in USER_HZ ticks, which Linux fixes at 100 for userspace.
const USER_HZ: f64 = 100.0;

/// `/proc/stat` column order after the `cpuN` name.
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

pub(super) fn collect_cpu(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let text = read(&p.proc, "stat")?;
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(cpu) = f.next().and_then(|n| n.strip_prefix("cpu")) else {
            continue;
        };
        if cpu.is_empty() {
            continue; // the "cpu" total line
        }
        let ticks: Vec<f64> = f.map(|v| num(v, "/proc/stat")).collect::<Result<_, _>>()?;
        for (mode, t) in MODES.iter().zip(&ticks) {
            out.push(
                "node_cpu_seconds_total",
                &[("cpu", cpu), ("mode", mode)],
                t / USER_HZ,
            );
        }
        for (mode, i) in [("user", 8), ("nice", 9)] {
            if let Some(t) = ticks.get(i) {
                out.push(
                    "node_cpu_guest_seconds_total",
                    &[("cpu", cpu), ("mode", mode)],
                    t / USER_HZ,
                );
            }
        }
    }
    Ok(())
}

pub(super) fn collect_stat(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let text = read(&p.proc, "stat")?;
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(key), Some(v)) = (f.next(), f.next()) else {
            continue;
        };
        let name = match key {
            "btime" => "node_boot_time_seconds",
            "ctxt" => "node_context_switches_total",
            "processes" => "node_forks_total",
            "intr" => "node_intr_total",
            "procs_running" => "node_procs_running",
            "procs_blocked" => "node_procs_blocked",
            _ => continue,
        };
        out.push(name, &[], num(v, "/proc/stat")?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes_and_counters() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("stat"),
            "cpu  10 0 0 0 0 0 0 0 0 0\ncpu0 150 2 30 4000 5 0 7 1 20 3\nintr 12345 1 2\nctxt 99\nbtime 1700000000\nprocesses 321\nprocs_running 2\nprocs_blocked 1\n",
        )
        .unwrap();
        let p = HostPaths {
            proc: dir.path().into(),
            ..Default::default()
        };
        let mut out = Out::new(5);
        collect_cpu(&p, &mut out).unwrap();
        collect_stat(&p, &mut out).unwrap();
        let find = |name: &str, mode: Option<&str>| {
            out.series
                .iter()
                .find(|s| {
                    s.labels.metric_name() == Some(name)
                        && mode.is_none_or(|m| s.labels.get("mode") == Some(m))
                })
                .map(|s| s.samples[0].v)
        };
        assert_eq!(find("node_cpu_seconds_total", Some("user")), Some(1.5));
        assert_eq!(find("node_cpu_seconds_total", Some("idle")), Some(40.0));
        assert_eq!(
            find("node_cpu_guest_seconds_total", Some("nice")),
            Some(0.03)
        );
        assert_eq!(find("node_intr_total", None), Some(12345.0));
        assert_eq!(find("node_boot_time_seconds", None), Some(1.7e9));
        assert_eq!(find("node_forks_total", None), Some(321.0));
        // 8 modes + 2 guest for one CPU, none for the total line.
        assert_eq!(
            out.series
                .iter()
                .filter(|s| s.labels.get("cpu") == Some("0"))
                .count(),
            10
        );
    }
}
