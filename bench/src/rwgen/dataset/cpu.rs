//! CPU family: per-CPU time by mode, frequency scaling, schedstat and softnet
//! counters, and `node_cpu_info`.

use super::{Host, HostBuilder};
use crate::rng::uniform;

pub(super) fn add(b: &mut HostBuilder<'_>, h: &Host) {
    let ncpu = h.ncpu;
    let util = h.util;
    // --- cpu
    let modes = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    for c in 0..ncpu {
        let cpu = c.to_string();
        let u = (util * uniform(b.rng, 0.6, 1.4)).min(0.98);
        for m in modes {
            let l = [("cpu", cpu.as_str()), ("mode", m)];
            let rate = match m {
                "idle" => 1.0 - u - 0.01,
                "user" => u * 0.65,
                "system" => u * 0.3,
                "iowait" => 0.005 * uniform(b.rng, 0.0, 2.0),
                "softirq" => u * 0.03,
                "irq" => 0.0,
                "nice" => 0.0005,
                _ => 0.0,
            };
            if rate <= 0.0 {
                b.konst("node_cpu_seconds_total", &l, 0.0);
            } else {
                b.counter_div("node_cpu_seconds_total", &l, rate, 100.0, 0.5, 1.0);
            }
        }
        for m in ["nice", "user"] {
            b.konst(
                "node_cpu_guest_seconds_total",
                &[("cpu", &cpu), ("mode", m)],
                0.0,
            );
        }
        let fmax = 3.5e9;
        b.gauge(
            "node_cpu_scaling_frequency_hertz",
            &[("cpu", &cpu)],
            2.2e9,
            0.8e9,
            fmax,
            6e8,
            0.8,
            1e3,
        );
        b.konst(
            "node_cpu_scaling_frequency_max_hertz",
            &[("cpu", &cpu)],
            fmax,
        );
        b.konst(
            "node_cpu_scaling_frequency_min_hertz",
            &[("cpu", &cpu)],
            8e8,
        );
        b.counter_div(
            "node_schedstat_running_seconds_total",
            &[("cpu", &cpu)],
            u,
            1e9,
            0.5,
            1.0,
        );
        b.counter_div(
            "node_schedstat_waiting_seconds_total",
            &[("cpu", &cpu)],
            u * 0.05,
            1e9,
            0.8,
            1.0,
        );
        b.counter(
            "node_schedstat_timeslices_total",
            &[("cpu", &cpu)],
            300.0 * u + 20.0,
            0.5,
            1.0,
        );
        b.counter(
            "node_softnet_processed_total",
            &[("cpu", &cpu)],
            50.0 * u + 1.0,
            0.6,
            1.0,
        );
        b.konst("node_softnet_dropped_total", &[("cpu", &cpu)], 0.0);
        b.rare("node_softnet_times_squeezed_total", &[("cpu", &cpu)], 0.02);
    }
    b.konst(
        "node_cpu_info",
        &[
            ("cachesize", "33792 KB"),
            ("core", "0"),
            ("cpu", "0"),
            ("family", "6"),
            ("microcode", "0xd0003a5"),
            ("model", "106"),
            ("model_name", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"),
            ("package", "0"),
            ("stepping", "6"),
            ("vendor", "GenuineIntel"),
        ],
        1.0,
    );
}
