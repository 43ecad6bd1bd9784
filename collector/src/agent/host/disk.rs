//! `/proc/diskstats` with node_exporter's names and units (sectors of 512 bytes, times in
//! seconds). Partitions, loop and RAM devices are left out by node_exporter's default
//! pattern, so `sum(rate(node_disk_read_bytes_total[5m]))` does not count a disk twice.

use std::sync::LazyLock;

use regex::Regex;

use super::{num, read, HostPaths, Out};

/// node_exporter's `--collector.diskstats.device-exclude` default.
static EXCLUDE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$").ok());

const SECTOR: f64 = 512.0;
const MS: f64 = 0.001;

/// (field index after the device name, metric, factor).
const FIELDS: &[(usize, &str, f64)] = &[
    (0, "node_disk_reads_completed_total", 1.0),
    (1, "node_disk_reads_merged_total", 1.0),
    (2, "node_disk_read_bytes_total", SECTOR),
    (3, "node_disk_read_time_seconds_total", MS),
    (4, "node_disk_writes_completed_total", 1.0),
    (5, "node_disk_writes_merged_total", 1.0),
    (6, "node_disk_written_bytes_total", SECTOR),
    (7, "node_disk_write_time_seconds_total", MS),
    (8, "node_disk_io_now", 1.0),
    (9, "node_disk_io_time_seconds_total", MS),
    (10, "node_disk_io_time_weighted_seconds_total", MS),
    (11, "node_disk_discards_completed_total", 1.0),
    (12, "node_disk_discards_merged_total", 1.0),
    (13, "node_disk_discarded_sectors_total", 1.0),
    (14, "node_disk_discard_time_seconds_total", MS),
    (15, "node_disk_flush_requests_total", 1.0),
    (16, "node_disk_flush_requests_time_seconds_total", MS),
];

pub(super) fn collect(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let text = read(&p.proc, "diskstats")?;
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        let [major, minor, dev, stats @ ..] = f.as_slice() else {
            continue;
        };
        if EXCLUDE.as_ref().is_some_and(|r| r.is_match(dev)) {
            continue;
        }
        for &(i, name, factor) in FIELDS {
            if let Some(v) = stats.get(i) {
                out.push(
                    name,
                    &[("device", dev)],
                    num(v, "/proc/diskstats")? * factor,
                );
            }
        }
        out.push(
            "node_disk_info",
            &[("device", dev), ("major", major), ("minor", minor)],
            1.0,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_exclusions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("diskstats"),
            "   7       0 loop0 1 0 0 0 0 0 0 0 0 0 0\n 254 0 vda 10 2 8 1500 4 0 16 30 0 2000 2500\n 254 1 vda1 1 1 1 1 1 1 1 1 1 1 1\n",
        )
        .unwrap();
        let p = HostPaths {
            proc: dir.path().into(),
            ..Default::default()
        };
        let mut out = Out::new(0);
        collect(&p, &mut out).unwrap();
        assert!(out
            .series
            .iter()
            .all(|s| s.labels.get("device") == Some("vda")));
        let v = |n: &str| {
            out.series
                .iter()
                .find(|s| s.labels.metric_name() == Some(n))
                .map(|s| s.samples[0].v)
        };
        assert_eq!(v("node_disk_read_bytes_total"), Some(4096.0));
        assert_eq!(v("node_disk_read_time_seconds_total"), Some(1.5));
        assert_eq!(v("node_disk_io_time_seconds_total"), Some(2.0));
        assert_eq!(v("node_disk_discards_completed_total"), None);
    }
}
