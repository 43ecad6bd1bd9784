//! Small collectors: hwmon / thermal zone / RAPL, timex, and the info metrics
//! (uname, os, dmi, exporter build info, selinux, textfile).

use super::{Host, HostBuilder};

pub(super) fn add(b: &mut HostBuilder<'_>, h: &Host) {
    let host = h.host;
    let ncpu = h.ncpu;
    let util = h.util;
    // --- hwmon / thermal / rapl
    for s in 0..(ncpu / 2).clamp(1, 8) {
        let sensor = format!("temp{}", s + 1);
        let t0 = 40.0 + 30.0 * util;
        b.gauge(
            "node_hwmon_temp_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", &sensor)],
            t0,
            25.0,
            100.0,
            1.5,
            0.6,
            1.0,
        );
        b.konst(
            "node_hwmon_temp_crit_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", &sensor)],
            100.0,
        );
        b.konst(
            "node_hwmon_temp_max_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", &sensor)],
            80.0,
        );
        b.konst(
            "node_hwmon_temp_crit_alarm_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", &sensor)],
            0.0,
        );
    }
    b.konst(
        "node_hwmon_chip_names",
        &[("chip", "platform_coretemp_0"), ("chip_name", "coretemp")],
        1.0,
    );
    b.gauge(
        "node_thermal_zone_temp",
        &[("type", "x86_pkg_temp"), ("zone", "0")],
        45.0 + 30.0 * util,
        25.0,
        100.0,
        1.0,
        0.8,
        0.001,
    );
    b.counter_div(
        "node_rapl_package_joules_total",
        &[("index", "0"), ("path", "/sys/class/powercap/intel-rapl:0")],
        40.0 + 100.0 * util,
        1e6,
        0.2,
        1.0,
    );
    b.counter_div(
        "node_rapl_dram_joules_total",
        &[
            ("index", "0"),
            ("path", "/sys/class/powercap/intel-rapl:0:0"),
        ],
        5.0 + 10.0 * util,
        1e6,
        0.2,
        1.0,
    );

    // --- timex
    b.noisy("node_timex_estimated_error_seconds", &[], 1e-6, 0.9);
    b.noisy("node_timex_frequency_adjustment_ratio", &[], 1.00001, 1e-6);
    b.noisy("node_timex_maxerror_seconds", &[], 0.05, 0.9);
    b.noisy("node_timex_offset_seconds", &[], 2e-5, 0.9);
    for (n, v) in [
        ("loop_time_constant", 7.0),
        ("pps_calibration_total", 0.0),
        ("pps_error_total", 0.0),
        ("pps_frequency_hertz", 0.0),
        ("pps_jitter_seconds", 0.0),
        ("pps_jitter_total", 0.0),
        ("pps_shift_seconds", 0.0),
        ("pps_stability_exceeded_total", 0.0),
        ("pps_stability_hertz", 0.0),
        ("status", 8193.0),
        ("sync_status", 1.0),
        ("tai_offset_seconds", 0.0),
        ("tick_seconds", 0.01),
    ] {
        b.konst(&format!("node_timex_{n}"), &[], v);
    }

    // --- info metrics
    let node = format!("node-{host:05}");
    b.konst(
        "node_uname_info",
        &[
            ("domainname", "(none)"),
            ("machine", "x86_64"),
            ("nodename", &node),
            ("release", "6.1.0-18-amd64"),
            ("sysname", "Linux"),
            (
                "version",
                "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
            ),
        ],
        1.0,
    );
    b.konst(
        "node_os_info",
        &[
            ("build_id", ""),
            ("id", "debian"),
            ("id_like", ""),
            ("image_id", ""),
            ("image_version", ""),
            ("name", "Debian GNU/Linux"),
            ("pretty_name", "Debian GNU/Linux 12 (bookworm)"),
            ("variant", ""),
            ("variant_id", ""),
            ("version", "12 (bookworm)"),
            ("version_codename", "bookworm"),
            ("version_id", "12"),
        ],
        1.0,
    );
    b.konst(
        "node_os_version",
        &[
            ("id", "debian"),
            ("id_like", ""),
            ("name", "Debian GNU/Linux"),
        ],
        12.0,
    );
    b.konst(
        "node_dmi_info",
        &[
            ("bios_vendor", "SeaBIOS"),
            ("bios_version", "1.16.0"),
            ("product_name", "Standard PC (Q35 + ICH9, 2009)"),
            ("sys_vendor", "QEMU"),
        ],
        1.0,
    );
    b.konst(
        "node_exporter_build_info",
        &[
            ("branch", "HEAD"),
            ("goarch", "amd64"),
            ("goos", "linux"),
            ("goversion", "go1.21.6"),
            ("revision", "d5c6f9d"),
            ("tags", "netgo osusergo static_build"),
            ("version", "1.7.0"),
        ],
        1.0,
    );
    b.konst("node_selinux_enabled", &[], 0.0);
    b.konst("node_textfile_scrape_error", &[], 0.0);
}
