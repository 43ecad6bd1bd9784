//! `/proc/meminfo` as node_exporter names it: `MemTotal: 100 kB` becomes
//! `node_memory_MemTotal_bytes 102400`, `Active(anon)` becomes `Active_anon`, and the
//! unitless counts (`HugePages_Total`) keep their value and lose the `_bytes` suffix.

use super::{num, read, HostPaths, Out};

pub(super) fn collect(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let text = read(&p.proc, "meminfo")?;
    let mut name = String::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut f = rest.split_ascii_whitespace();
        let Some(v) = f.next() else { continue };
        let mut v = num(v, "/proc/meminfo")?;
        name.clear();
        name.push_str("node_memory_");
        for c in key.chars() {
            match c {
                '(' => name.push('_'),
                ')' => {}
                c => name.push(c),
            }
        }
        if f.next() == Some("kB") {
            v *= 1024.0;
            name.push_str("_bytes");
        }
        out.push(&name, &[], v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_units() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("meminfo"),
            "MemTotal:        1000 kB\nActive(anon):      2 kB\nHugePages_Total:       3\n",
        )
        .unwrap();
        let p = HostPaths {
            proc: dir.path().into(),
            ..Default::default()
        };
        let mut out = Out::new(0);
        collect(&p, &mut out).unwrap();
        let got: Vec<(String, f64)> = out
            .series
            .iter()
            .map(|s| {
                (
                    s.labels.metric_name().unwrap_or("").to_string(),
                    s.samples[0].v,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("node_memory_MemTotal_bytes".to_string(), 1_024_000.0),
                ("node_memory_Active_anon_bytes".to_string(), 2048.0),
                ("node_memory_HugePages_Total".to_string(), 3.0),
            ]
        );
    }
}
