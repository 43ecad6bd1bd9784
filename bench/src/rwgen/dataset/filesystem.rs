//! Filesystem family: the host's mounts (root, EFI, tmpfs, optional data volume)
//! and their `node_filesystem_*` size/free/inode series.

use super::{Host, HostBuilder, GIB};
use crate::rng::{logu, uniform};

pub(super) fn add(b: &mut HostBuilder<'_>, h: &Host) {
    let nvme = h.nvme;
    let mt = h.mem_total;
    // --- filesystems
    let root_dev = if nvme { "/dev/nvme0n1p2" } else { "/dev/sda2" };
    let boot_dev = if nvme { "/dev/nvme0n1p1" } else { "/dev/sda1" };
    let mut mounts: Vec<(String, String, String, f64)> = vec![
        (
            root_dev.into(),
            "/".into(),
            "ext4".into(),
            logu(b.rng, 20.0, 500.0) * GIB,
        ),
        (
            boot_dev.into(),
            "/boot/efi".into(),
            "vfat".into(),
            0.5 * GIB,
        ),
        ("tmpfs".into(), "/run".into(), "tmpfs".into(), mt / 10.0),
        (
            "tmpfs".into(),
            "/run/lock".into(),
            "tmpfs".into(),
            5.0 * 1024.0 * 1024.0,
        ),
        (
            "tmpfs".into(),
            format!("/run/user/{}", 1000),
            "tmpfs".into(),
            mt / 10.0,
        ),
    ];
    if h.disks.len() > 1 {
        let data_dev = if nvme {
            "/dev/nvme1n1".to_string()
        } else {
            "/dev/sdb1".to_string()
        };
        mounts.push((
            data_dev,
            "/data".into(),
            "xfs".into(),
            logu(b.rng, 500.0, 8000.0) * GIB,
        ));
    }
    for (dev, mp, fs, size) in &mounts {
        let l = [
            ("device", dev.as_str()),
            ("fstype", fs.as_str()),
            ("mountpoint", mp.as_str()),
        ];
        let bs = 4096.0;
        let size = (size / bs).round() * bs;
        let free = size * uniform(b.rng, 0.1, 0.9);
        let step = if fs == "tmpfs" {
            4096.0 * 4.0
        } else {
            size * 2e-6 + 4096.0
        };
        b.konst("node_filesystem_size_bytes", &l, size);
        b.gauge(
            "node_filesystem_free_bytes",
            &l,
            free,
            0.0,
            size,
            step,
            0.7,
            bs,
        );
        b.gauge(
            "node_filesystem_avail_bytes",
            &l,
            free * 0.95,
            0.0,
            size,
            step,
            0.7,
            bs,
        );
        let files = (size / 16384.0).round();
        b.konst("node_filesystem_files", &l, files);
        b.gauge(
            "node_filesystem_files_free",
            &l,
            files * 0.9,
            0.0,
            files,
            2.0,
            0.3,
            1.0,
        );
        b.konst("node_filesystem_readonly", &l, 0.0);
        b.konst("node_filesystem_device_error", &l, 0.0);
    }
}
