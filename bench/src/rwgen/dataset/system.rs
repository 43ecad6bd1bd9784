//! Whole-system kernel state: load average, processes, context switches and
//! interrupts, boot/clock time, entropy, file descriptors, conntrack, pressure (PSI).

use super::{Host, HostBuilder};
use crate::model::Model;

pub(super) fn add(b: &mut HostBuilder<'_>, h: &Host) {
    let ncpu = h.ncpu;
    let util = h.util;
    let uptime_s = h.uptime_s;
    let end_s = h.end_s;
    // --- load, procs, stat
    let load = util * ncpu as f64;
    for (n, s) in [
        ("node_load1", 0.3),
        ("node_load5", 0.1),
        ("node_load15", 0.04),
    ] {
        b.gauge(
            n,
            &[],
            load,
            0.0,
            load * 3.0 + 1.0,
            load * s + 0.05,
            1.0,
            0.01,
        );
    }
    b.gauge(
        "node_procs_running",
        &[],
        1.0 + load,
        1.0,
        2.0 * load + 4.0,
        1.5,
        0.9,
        1.0,
    );
    b.gauge("node_procs_blocked", &[], 0.0, 0.0, 4.0, 0.7, 0.1, 1.0);
    b.counter(
        "node_context_switches_total",
        &[],
        2000.0 * ncpu as f64 * (util + 0.1),
        0.3,
        1.0,
    );
    b.counter(
        "node_intr_total",
        &[],
        1500.0 * ncpu as f64 * (util + 0.1),
        0.3,
        1.0,
    );
    b.counter("node_forks_total", &[], 5.0 + 20.0 * util, 0.6, 1.0);
    b.konst("node_boot_time_seconds", &[], (end_s - uptime_s).round());
    b.push("node_time_seconds", &[], Model::Clock);
    b.konst(
        "node_time_zone_offset_seconds",
        &[("time_zone", "UTC")],
        0.0,
    );
    b.konst("node_entropy_available_bits", &[], 256.0);
    b.konst("node_entropy_pool_size_bits", &[], 256.0);
    b.gauge(
        "node_filefd_allocated",
        &[],
        2000.0 + 300.0 * ncpu as f64,
        500.0,
        1e5,
        20.0,
        0.7,
        1.0,
    );
    b.konst("node_filefd_maximum", &[], 9.223372036854776e18);
    b.gauge(
        "node_nf_conntrack_entries",
        &[],
        200.0 + 2000.0 * util,
        10.0,
        262144.0,
        30.0,
        0.9,
        1.0,
    );
    b.konst("node_nf_conntrack_entries_limit", &[], 262144.0);
    for r in ["cpu", "io", "memory"] {
        b.counter_div(
            &format!("node_pressure_{r}_waiting_seconds_total"),
            &[],
            util * 0.02,
            1e6,
            0.8,
            1.0,
        );
        if r != "cpu" {
            b.counter_div(
                &format!("node_pressure_{r}_stalled_seconds_total"),
                &[],
                util * 0.005,
                1e6,
                0.8,
                1.0,
            );
        }
    }
}
