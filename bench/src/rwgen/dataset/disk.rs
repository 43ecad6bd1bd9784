//! Disk family: per-block-device `node_disk_*` I/O counters and `node_disk_info`.

use super::{Host, HostBuilder};
use crate::rng::{logu, uniform};

pub(super) fn add(b: &mut HostBuilder<'_>, h: &Host) {
    let nvme = h.nvme;
    let util = h.util;
    // --- disks
    for d in &h.disks {
        let l = [("device", d.as_str())];
        let iops = logu(b.rng, 0.5, 300.0) * (util + 0.1);
        let rshare = uniform(b.rng, 0.05, 0.6);
        b.counter(
            "node_disk_reads_completed_total",
            &l,
            iops * rshare,
            0.8,
            1.0,
        );
        b.counter(
            "node_disk_reads_merged_total",
            &l,
            iops * rshare * 0.1,
            1.0,
            1.0,
        );
        b.counter(
            "node_disk_read_bytes_total",
            &l,
            iops * rshare * 16384.0,
            0.8,
            1.0,
        );
        b.counter_div(
            "node_disk_read_time_seconds_total",
            &l,
            iops * rshare * 0.0005,
            1e3,
            1.0,
            1.0,
        );
        b.counter(
            "node_disk_writes_completed_total",
            &l,
            iops * (1.0 - rshare),
            0.6,
            1.0,
        );
        b.counter(
            "node_disk_writes_merged_total",
            &l,
            iops * (1.0 - rshare) * 0.4,
            0.8,
            1.0,
        );
        b.counter(
            "node_disk_written_bytes_total",
            &l,
            iops * (1.0 - rshare) * 24576.0,
            0.6,
            1.0,
        );
        b.counter_div(
            "node_disk_write_time_seconds_total",
            &l,
            iops * 0.001,
            1e3,
            1.0,
            1.0,
        );
        b.gauge("node_disk_io_now", &l, 0.0, 0.0, 64.0, 0.8, 0.15, 1.0);
        b.counter_div(
            "node_disk_io_time_seconds_total",
            &l,
            (iops * 0.0006).min(1.0),
            1e3,
            0.8,
            1.0,
        );
        b.counter_div(
            "node_disk_io_time_weighted_seconds_total",
            &l,
            iops * 0.0012,
            1e3,
            1.0,
            1.0,
        );
        for n in [
            "discards_completed_total",
            "discards_merged_total",
            "discarded_sectors_total",
            "discard_time_seconds_total",
        ] {
            b.konst(&format!("node_disk_{n}"), &l, 0.0);
        }
        b.counter("node_disk_flush_requests_total", &l, iops * 0.05, 1.0, 1.0);
        b.counter_div(
            "node_disk_flush_requests_time_seconds_total",
            &l,
            iops * 0.00005,
            1e3,
            1.0,
            1.0,
        );
        b.konst(
            "node_disk_info",
            &[
                ("device", d.as_str()),
                ("major", if nvme { "259" } else { "8" }),
                ("minor", "0"),
                ("model", ""),
                ("path", ""),
                ("revision", ""),
                ("serial", ""),
                ("wwn", ""),
            ],
            1.0,
        );
    }
}
