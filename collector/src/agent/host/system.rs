//! The small single-file collectors: load average, pressure stall information, uname, the
//! clock, open file handles, paging counters and entropy.

use super::{num, read, HostPaths, Out};

pub(super) fn collect_loadavg(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let text = read(&p.proc, "loadavg")?;
    let f: Vec<&str> = text.split_ascii_whitespace().collect();
    for (i, name) in ["node_load1", "node_load5", "node_load15"]
        .iter()
        .enumerate()
    {
        let v = f.get(i).copied().unwrap_or("");
        out.push(name, &[], num(v, "/proc/loadavg")?);
    }
    Ok(())
}

/// `/proc/pressure/{cpu,io,memory}`: the `total=` microseconds of the `some` (waiting) and
/// `full` (stalled) lines; node_exporter reports no CPU `full`.
pub(super) fn collect_pressure(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    for res in ["cpu", "io", "memory"] {
        let text = read(&p.proc, &format!("pressure/{res}"))?;
        for line in text.lines() {
            let mut f = line.split_ascii_whitespace();
            let kind = match f.next() {
                Some("some") => "waiting",
                Some("full") if res != "cpu" => "stalled",
                _ => continue,
            };
            let Some(total) = f.find_map(|kv| kv.strip_prefix("total=")) else {
                continue;
            };
            out.push(
                &format!("node_pressure_{res}_{kind}_seconds_total"),
                &[],
                num(total, "/proc/pressure")? / 1e6,
            );
        }
    }
    Ok(())
}

pub(super) fn collect_uname(_: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let mut u = std::mem::MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: `u` is writable memory of the right size; uname fills it on success.
    if unsafe { libc::uname(u.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: uname returned 0, so the struct is initialised.
    let u = unsafe { u.assume_init() };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let (sys, node, rel, ver, mach, dom) = (
        field(&u.sysname),
        field(&u.nodename),
        field(&u.release),
        field(&u.version),
        field(&u.machine),
        field(&u.domainname),
    );
    out.push(
        "node_uname_info",
        &[
            ("sysname", &sys),
            ("nodename", &node),
            ("release", &rel),
            ("version", &ver),
            ("machine", &mach),
            ("domainname", &dom),
        ],
        1.0,
    );
    Ok(())
}

pub(super) fn collect_time(_: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(std::io::Error::other)?;
    out.push("node_time_seconds", &[], now.as_secs_f64());
    Ok(())
}

pub(super) fn collect_filefd(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let text = read(&p.proc, "sys/fs/file-nr")?;
    let f: Vec<&str> = text.split_ascii_whitespace().collect();
    if let [allocated, _, maximum] = f.as_slice() {
        out.push("node_filefd_allocated", &[], num(allocated, "file-nr")?);
        out.push("node_filefd_maximum", &[], num(maximum, "file-nr")?);
    }
    Ok(())
}

/// node_exporter's default `--collector.vmstat.fields`: `^(oom_kill|pgpg|pswp|pg.*fault).*`.
pub(super) fn collect_vmstat(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let text = read(&p.proc, "vmstat")?;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(' ') else {
            continue;
        };
        let wanted = k.starts_with("oom_kill")
            || k.starts_with("pgpg")
            || k.starts_with("pswp")
            || (k.starts_with("pg") && k.contains("fault"));
        if wanted {
            out.push(
                &format!("node_vmstat_{k}"),
                &[],
                num(v.trim(), "/proc/vmstat")?,
            );
        }
    }
    Ok(())
}

pub(super) fn collect_entropy(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    for (f, name) in [
        ("entropy_avail", "node_entropy_available_bits"),
        ("poolsize", "node_entropy_pool_size_bits"),
    ] {
        let v = read(&p.proc, &format!("sys/kernel/random/{f}"))?;
        out.push(name, &[], num(v.trim(), "/proc/sys/kernel/random")?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_and_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pressure")).unwrap();
        for r in ["cpu", "io", "memory"] {
            std::fs::write(
                dir.path().join("pressure").join(r),
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n",
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("loadavg"), "0.50 0.25 0.10 1/100 42\n").unwrap();
        let p = HostPaths {
            proc: dir.path().into(),
            ..Default::default()
        };
        let mut out = Out::new(0);
        collect_pressure(&p, &mut out).unwrap();
        collect_loadavg(&p, &mut out).unwrap();
        let names: Vec<(&str, f64)> = out
            .series
            .iter()
            .map(|s| (s.labels.metric_name().unwrap_or(""), s.samples[0].v))
            .collect();
        assert_eq!(
            names,
            vec![
                ("node_pressure_cpu_waiting_seconds_total", 2.5),
                ("node_pressure_io_waiting_seconds_total", 2.5),
                ("node_pressure_io_stalled_seconds_total", 1.0),
                ("node_pressure_memory_waiting_seconds_total", 2.5),
                ("node_pressure_memory_stalled_seconds_total", 1.0),
                ("node_load1", 0.5),
                ("node_load5", 0.25),
                ("node_load15", 0.1),
            ]
        );
    }
}
