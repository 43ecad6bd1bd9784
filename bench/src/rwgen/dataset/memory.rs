//! Memory family: `node_memory_*` (meminfo, kB * 1024) and `node_vmstat_*` paging counters.

use super::{Host, HostBuilder, GIB};
use crate::rng::uniform;

pub(super) fn add(b: &mut HostBuilder<'_>, h: &Host) {
    let ncpu = h.ncpu;
    let util = h.util;
    let mem_total = h.mem_total;
    // --- memory (kB * 1024)
    let kb = 1024.0;
    let mt = mem_total;
    let used = uniform(b.rng, 0.15, 0.8);
    let mem = [
        ("Active", 0.35 * used, 0.002),
        ("Active_anon", 0.25 * used, 0.002),
        ("Active_file", 0.1 * used, 0.001),
        ("AnonHugePages", 0.02, 0.0),
        ("AnonPages", 0.3 * used, 0.002),
        ("Buffers", 0.02, 0.0003),
        ("Cached", 0.35, 0.001),
        ("Committed_AS", 0.6 * used, 0.003),
        ("Dirty", 0.0002, 0.0002),
        ("Inactive", 0.3, 0.001),
        ("Inactive_anon", 0.05, 0.0005),
        ("Inactive_file", 0.25, 0.001),
        ("KReclaimable", 0.03, 0.0002),
        ("KernelStack", 0.001, 0.00001),
        ("Mapped", 0.05, 0.0003),
        ("MemAvailable", 1.0 - used, 0.003),
        ("MemFree", 0.9 - used, 0.003),
        ("Mlocked", 0.0, 0.0),
        ("PageTables", 0.004, 0.00003),
        ("Percpu", 0.0005, 0.0),
        ("SReclaimable", 0.03, 0.0002),
        ("SUnreclaim", 0.01, 0.00005),
        ("Shmem", 0.01, 0.00005),
        ("Slab", 0.04, 0.0002),
        ("SwapCached", 0.0, 0.0),
        ("Unevictable", 0.0001, 0.0),
        ("VmallocUsed", 0.001, 0.000005),
        ("Writeback", 0.0, 0.0),
    ];
    for (n, frac, step) in mem {
        let name = format!("node_memory_{n}_bytes");
        let v = (frac * mt).max(0.0);
        if step == 0.0 {
            b.konst(&name, &[], (v / kb).round() * kb);
        } else {
            b.gauge(&name, &[], v, 0.0, mt, step * mt, 0.9, kb);
        }
    }
    for (n, v) in [
        ("MemTotal", mt),
        ("SwapTotal", 0.0),
        ("SwapFree", 0.0),
        ("CommitLimit", mt / 2.0),
        ("DirectMap1G", (mt / GIB).floor() * GIB),
        ("DirectMap2M", 2.0 * GIB),
        ("DirectMap4k", 300.0 * 1024.0 * kb),
        ("Hugepagesize", 2048.0 * kb),
        ("Hugetlb", 0.0),
        ("VmallocTotal", 35184372087808.0),
        ("VmallocChunk", 0.0),
        ("Bounce", 0.0),
        ("NFS_Unstable", 0.0),
        ("WritebackTmp", 0.0),
        ("HardwareCorrupted", 0.0),
        ("ShmemHugePages", 0.0),
        ("ShmemPmdMapped", 0.0),
        ("FileHugePages", 0.0),
        ("FilePmdMapped", 0.0),
    ] {
        b.konst(&format!("node_memory_{n}_bytes"), &[], v);
    }
    for n in [
        "HugePages_Free",
        "HugePages_Rsvd",
        "HugePages_Surp",
        "HugePages_Total",
    ] {
        b.konst(&format!("node_memory_{n}"), &[], 0.0);
    }

    // --- vmstat
    b.counter(
        "node_vmstat_pgfault",
        &[],
        5000.0 * (util + 0.05) * ncpu as f64,
        0.5,
        1.0,
    );
    b.rare("node_vmstat_pgmajfault", &[], 0.1);
    b.counter("node_vmstat_pgpgin", &[], 200.0 * util, 1.0, 1.0);
    b.counter("node_vmstat_pgpgout", &[], 800.0 * util + 20.0, 0.8, 1.0);
    b.konst("node_vmstat_pswpin", &[], 0.0);
    b.konst("node_vmstat_pswpout", &[], 0.0);
    b.konst("node_vmstat_oom_kill", &[], 0.0);
}
