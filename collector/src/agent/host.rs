//! Host metrics with node_exporter's metric and label names, so node dashboards work
//! unchanged on what the agent ships. Each collector reads one kernel interface (under a
//! configurable /proc, /sys and root, so tests can point them at fixtures); a collector
//! that fails reports `node_scrape_collector_success{collector} 0` as node_exporter does,
//! and the others still report.
//!
//! Written by hand: the data are a handful of text files whose layouts the kernel keeps
//! stable, and no maintained crate maps them to node_exporter's names.

mod cpu;
mod disk;
mod filesystem;
mod memory;
mod network;
mod system;

use std::path::{Path, PathBuf};

use lookout_store::{Labels, Sample, SeriesSamples};

/// Where the kernel interfaces are mounted.
#[derive(Debug, Clone)]
pub struct HostPaths {
    pub proc: PathBuf,
    pub sys: PathBuf,
    /// The root the mount points of `/proc/1/mounts` are relative to (statfs targets).
    pub rootfs: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
        }
    }
}

/// Samples of one gathering round, all at one timestamp.
pub(crate) struct Out {
    t: i64,
    series: Vec<SeriesSamples>,
}

impl Out {
    fn new(t: i64) -> Out {
        Out {
            t,
            series: Vec::with_capacity(512),
        }
    }

    /// One sample of `name` with `labels` (any order).
    pub(crate) fn push(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        // An empty value is no label, as Prometheus stores it.
        let pairs = std::iter::once(("__name__", name))
            .chain(labels.iter().copied().filter(|(_, v)| !v.is_empty()));
        self.series.push(SeriesSamples {
            labels: Labels::from_pairs(pairs),
            samples: vec![Sample::new(self.t, v)],
        });
    }
}

type Collect = fn(&HostPaths, &mut Out) -> std::io::Result<()>;

/// The collectors, by node_exporter's collector names.
const COLLECTORS: &[(&str, Collect)] = &[
    ("cpu", cpu::collect_cpu),
    ("stat", cpu::collect_stat),
    ("meminfo", memory::collect),
    ("loadavg", system::collect_loadavg),
    ("pressure", system::collect_pressure),
    ("filesystem", filesystem::collect),
    ("diskstats", disk::collect),
    ("netdev", network::collect),
    ("uname", system::collect_uname),
    ("time", system::collect_time),
    ("filefd", system::collect_filefd),
    ("vmstat", system::collect_vmstat),
    ("entropy", system::collect_entropy),
];

/// Reads every collector once.
#[derive(Debug, Clone, Default)]
pub struct HostCollector {
    paths: HostPaths,
}

impl HostCollector {
    pub fn new(paths: HostPaths) -> HostCollector {
        HostCollector { paths }
    }

    /// Every host metric, stamped `t_ms`.
    pub fn collect(&self, t_ms: i64) -> Vec<SeriesSamples> {
        let mut out = Out::new(t_ms);
        for (name, collect) in COLLECTORS {
            let ok = match collect(&self.paths, &mut out) {
                Ok(()) => 1.0,
                Err(e) => {
                    tracing::debug!(collector = name, error = %e, "host collector failed");
                    0.0
                }
            };
            out.push("node_scrape_collector_success", &[("collector", name)], ok);
        }
        out.series
    }
}

/// A file's text.
fn read(dir: &Path, rel: &str) -> std::io::Result<String> {
    std::fs::read_to_string(dir.join(rel))
}

/// A number from a kernel file, or an `InvalidData` error naming it.
fn num(s: &str, what: &str) -> std::io::Result<f64> {
    s.parse::<f64>().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{what}: {s:?} is not a number"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_reports_core_families() {
        let s = HostCollector::default().collect(1000);
        let names: std::collections::BTreeSet<&str> =
            s.iter().filter_map(|s| s.labels.metric_name()).collect();
        for want in [
            "node_cpu_seconds_total",
            "node_memory_MemTotal_bytes",
            "node_load1",
            "node_boot_time_seconds",
            "node_network_receive_bytes_total",
            "node_time_seconds",
            "node_uname_info",
        ] {
            assert!(names.contains(want), "{want} missing from {names:?}");
        }
        assert!(s.iter().all(|s| s.labels.validate().is_ok()));
    }
}
