//! The exporter about itself: per-collector scrape stats, process and Go runtime
//! metrics, promhttp handler counters and a request duration histogram.

use super::{Host, HostBuilder};
use crate::model::{Model, Scale};
use crate::rng::logu;

const COLLECTORS: &[&str] = &[
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "ipvs",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "os",
    "powersupplyclass",
    "pressure",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "tapestats",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
    "xfs",
    "zfs",
];

pub(super) fn add(b: &mut HostBuilder<'_>, h: &Host) {
    let ncpu = h.ncpu;
    let uptime_s = h.uptime_s;
    let end_s = h.end_s;
    let interval_s = h.interval_s;
    // --- scrape collector stats
    for c in COLLECTORS {
        let mean = logu(b.rng, 2e-5, 5e-3);
        b.noisy(
            "node_scrape_collector_duration_seconds",
            &[("collector", c)],
            mean,
            0.5,
        );
        b.konst("node_scrape_collector_success", &[("collector", c)], 1.0);
    }

    // --- the exporter's own process / Go runtime metrics
    b.counter_div(
        "process_cpu_seconds_total",
        &[],
        0.002 + 0.0005 * ncpu as f64,
        100.0,
        0.8,
        1.0,
    );
    b.gauge(
        "process_resident_memory_bytes",
        &[],
        22e6,
        10e6,
        60e6,
        4e5,
        0.9,
        4096.0,
    );
    b.gauge(
        "process_virtual_memory_bytes",
        &[],
        7.3e8,
        7e8,
        8e8,
        1.2e6,
        0.1,
        4096.0,
    );
    b.konst(
        "process_virtual_memory_max_bytes",
        &[],
        1.8446744073709552e19,
    );
    b.gauge("process_open_fds", &[], 9.0, 7.0, 20.0, 1.0, 0.2, 1.0);
    b.konst("process_max_fds", &[], 1048576.0);
    b.konst(
        "process_start_time_seconds",
        &[],
        (end_s - uptime_s * 0.9).round() + 0.37,
    );
    b.gauge("go_goroutines", &[], 8.0, 6.0, 14.0, 1.0, 0.3, 1.0);
    b.konst("go_threads", &[], 6.0 + ncpu as f64 / 2.0);
    b.konst("go_info", &[("version", "go1.21.6")], 1.0);
    for q in ["0", "0.25", "0.5", "0.75", "1"] {
        let base = 3e-5 * (1.0 + q.parse::<f64>().unwrap() * 3.0);
        b.noisy("go_gc_duration_seconds", &[("quantile", q)], base, 0.4);
    }
    b.counter_div("go_gc_duration_seconds_sum", &[], 0.0003, 1e9, 0.5, 1.0);
    b.counter("go_gc_duration_seconds_count", &[], 0.25, 0.5, 1.0);
    let heap = 3e6;
    b.gauge(
        "go_memstats_alloc_bytes",
        &[],
        heap,
        1e6,
        1e7,
        1.2e6,
        1.0,
        1.0,
    );
    b.counter("go_memstats_alloc_bytes_total", &[], 3.5e5, 0.3, 1.0);
    b.gauge(
        "go_memstats_heap_alloc_bytes",
        &[],
        heap,
        1e6,
        1e7,
        1.2e6,
        1.0,
        1.0,
    );
    b.gauge(
        "go_memstats_heap_idle_bytes",
        &[],
        4e6,
        1e6,
        2e7,
        8192.0 * 50.0,
        0.9,
        8192.0,
    );
    b.gauge(
        "go_memstats_heap_inuse_bytes",
        &[],
        5e6,
        1e6,
        2e7,
        8192.0 * 50.0,
        0.9,
        8192.0,
    );
    b.gauge(
        "go_memstats_heap_objects",
        &[],
        2e4,
        5e3,
        1e5,
        5e3,
        1.0,
        1.0,
    );
    b.gauge(
        "go_memstats_heap_released_bytes",
        &[],
        2e6,
        0.0,
        2e7,
        8192.0 * 20.0,
        0.5,
        8192.0,
    );
    b.gauge(
        "go_memstats_heap_sys_bytes",
        &[],
        11.5e6,
        8e6,
        3e7,
        8192.0 * 10.0,
        0.1,
        8192.0,
    );
    b.counter("go_memstats_lookups_total", &[], 0.0, 0.0, 1.0);
    b.counter("go_memstats_mallocs_total", &[], 4000.0, 0.3, 1.0);
    b.counter("go_memstats_frees_total", &[], 4000.0, 0.3, 1.0);
    b.gauge(
        "go_memstats_mcache_inuse_bytes",
        &[],
        4800.0 * ncpu as f64,
        1.0,
        1e6,
        0.0,
        0.0,
        1.0,
    );
    b.konst("go_memstats_mcache_sys_bytes", &[], 15600.0 * ncpu as f64);
    b.gauge(
        "go_memstats_mspan_inuse_bytes",
        &[],
        1.2e5,
        5e4,
        5e5,
        1632.0,
        0.5,
        136.0,
    );
    b.gauge(
        "go_memstats_mspan_sys_bytes",
        &[],
        1.6e5,
        5e4,
        5e5,
        16320.0,
        0.05,
        16320.0,
    );
    b.gauge(
        "go_memstats_next_gc_bytes",
        &[],
        5e6,
        4e6,
        2e7,
        2e5,
        0.3,
        1.0,
    );
    b.gauge(
        "go_memstats_other_sys_bytes",
        &[],
        1.1e6,
        5e5,
        3e6,
        2000.0,
        0.5,
        1.0,
    );
    b.gauge(
        "go_memstats_stack_inuse_bytes",
        &[],
        7.5e5,
        5e5,
        2e6,
        32768.0,
        0.2,
        32768.0,
    );
    b.gauge(
        "go_memstats_stack_sys_bytes",
        &[],
        7.5e5,
        5e5,
        2e6,
        32768.0,
        0.2,
        32768.0,
    );
    b.gauge("go_memstats_sys_bytes", &[], 2.3e7, 2e7, 4e7, 0.0, 0.0, 1.0);
    b.gauge(
        "go_memstats_gc_sys_bytes",
        &[],
        4.3e6,
        4e6,
        6e6,
        0.0,
        0.0,
        1.0,
    );
    b.gauge(
        "go_memstats_buck_hash_sys_bytes",
        &[],
        1.45e6,
        1.4e6,
        1.6e6,
        0.0,
        0.0,
        1.0,
    );
    b.noisy("go_memstats_last_gc_time_seconds", &[], end_s, 1e-7);
    for code in ["200", "500", "503"] {
        if code == "200" {
            b.counter(
                "promhttp_metric_handler_requests_total",
                &[("code", code)],
                1.0 / interval_s,
                0.0,
                1.0,
            );
        } else {
            b.konst(
                "promhttp_metric_handler_requests_total",
                &[("code", code)],
                0.0,
            );
        }
    }
    b.konst("promhttp_metric_handler_requests_in_flight", &[], 1.0);
    b.konst(
        "promhttp_metric_handler_errors_total",
        &[("cause", "encoding")],
        0.0,
    );
    b.konst(
        "promhttp_metric_handler_errors_total",
        &[("cause", "gathering")],
        0.0,
    );
    histogram(b, h);
}

/// A classic histogram of the metrics handler's request durations, as promhttp's
/// instrumented handlers expose one, so that queries can use `histogram_quantile`.
/// Buckets grow by fixed integer counts per scrape, so they are cumulative at every
/// timestamp (as real buckets are) and every system sees the same floats. It draws
/// nothing from the host's random stream: adding it leaves every other series as it was.
fn histogram(b: &mut HostBuilder<'_>, h: &Host) {
    const LE: [&str; 9] = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf",
    ];
    // Cumulative requests per scrape, per bucket; hosts differ in speed and load.
    const SHAPE: [i64; 12] = [0, 1, 2, 4, 7, 11, 15, 18, 19, 20, 20, 20];
    let shift = h.host % 4;
    let load = 1 + (h.ncpu as i64) / 4;
    let scrapes = (h.uptime_s / h.interval_s).round() as i64;
    let count = |i: usize| SHAPE[(i + shift).min(SHAPE.len() - 1)] * load;
    let per_scrape: Vec<i64> = (0..LE.len())
        .map(|i| {
            if i + 1 == LE.len() {
                count(SHAPE.len())
            } else {
                count(i)
            }
        })
        .collect();
    let name = "http_request_duration_seconds";
    for (le, inc) in LE.iter().zip(&per_scrape) {
        b.push(
            &format!("{name}_bucket"),
            &[("handler", "/metrics"), ("le", le)],
            Model::Counter {
                v: inc * scrapes,
                inc: *inc as f64,
                cv: 0.0,
                p: 1.0,
                scale: Scale::One,
            },
        );
    }
    let total = per_scrape[LE.len() - 1];
    b.push(
        &format!("{name}_count"),
        &[("handler", "/metrics")],
        Model::Counter {
            v: total * scrapes,
            inc: total as f64,
            cv: 0.0,
            p: 1.0,
            scale: Scale::One,
        },
    );
    // Milliseconds summed as integers: about 40ms a request.
    b.push(
        &format!("{name}_sum"),
        &[("handler", "/metrics")],
        Model::Counter {
            v: 40 * total * scrapes,
            inc: (40 * total) as f64,
            cv: 0.0,
            p: 1.0,
            scale: Scale::Div(1000.0),
        },
    );
}
