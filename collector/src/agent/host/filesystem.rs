//! Mounted filesystems' sizes (`statvfs`) with node_exporter's names and its default
//! exclusions of pseudo filesystems and system mount points, read from `/proc/1/mounts`
//! (the host's mount namespace when the agent runs in a container with the host's /proc).

use std::ffi::CString;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::{read, HostPaths, Out};

/// node_exporter's `--collector.filesystem.mount-points-exclude` default.
static MOUNT_EXCLUDE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
    )
    .ok()
});

/// node_exporter's `--collector.filesystem.fs-types-exclude` default.
static FS_EXCLUDE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$",
    )
    .ok()
});

pub(super) fn collect(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let mounts = read(&p.proc, "1/mounts").or_else(|_| read(&p.proc, "self/mounts"))?;
    let mut seen = std::collections::HashSet::new();
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        let [device, mountpoint, fstype, options, ..] = f.as_slice() else {
            continue;
        };
        let mountpoint = unescape(mountpoint);
        if MOUNT_EXCLUDE
            .as_ref()
            .is_some_and(|r| r.is_match(&mountpoint))
            || FS_EXCLUDE.as_ref().is_some_and(|r| r.is_match(fstype))
            || !seen.insert((device.to_string(), mountpoint.clone()))
        {
            continue;
        }
        let labels = [
            ("device", *device),
            ("fstype", *fstype),
            ("mountpoint", mountpoint.as_str()),
        ];
        let target = p.rootfs.join(mountpoint.trim_start_matches('/'));
        let Some(st) = statvfs(&target) else {
            out.push("node_filesystem_device_error", &labels, 1.0);
            continue;
        };
        let bsize = st.f_bsize as f64;
        let ro = options.split(',').any(|o| o == "ro");
        out.push("node_filesystem_device_error", &labels, 0.0);
        out.push(
            "node_filesystem_size_bytes",
            &labels,
            st.f_blocks as f64 * bsize,
        );
        out.push(
            "node_filesystem_free_bytes",
            &labels,
            st.f_bfree as f64 * bsize,
        );
        out.push(
            "node_filesystem_avail_bytes",
            &labels,
            st.f_bavail as f64 * bsize,
        );
        out.push("node_filesystem_files", &labels, st.f_files as f64);
        out.push("node_filesystem_files_free", &labels, st.f_ffree as f64);
        out.push(
            "node_filesystem_readonly",
            &labels,
            if ro { 1.0 } else { 0.0 },
        );
    }
    Ok(())
}

/// `statvfs(2)`, or `None` when the mount cannot be read (gone, no permission).
fn statvfs(path: &Path) -> Option<libc::statvfs> {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable memory of the
    // right size; statvfs fills it on success and we only read it then.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    // SAFETY: rc == 0 means the kernel initialised the struct.
    (rc == 0).then(|| unsafe { st.assume_init() })
}

/// Undoes the octal escapes `/proc/*/mounts` uses for space, tab, newline and backslash.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_spaces() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn reports_root_and_skips_pseudo() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("1")).unwrap();
        std::fs::write(
            dir.path().join("1/mounts"),
            "/dev/vda / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n/dev/vda / ext4 rw 0 0\n",
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
            .all(|s| s.labels.get("mountpoint") == Some("/")));
        let size = out
            .series
            .iter()
            .find(|s| s.labels.metric_name() == Some("node_filesystem_size_bytes"))
            .map(|s| s.samples[0].v);
        assert!(size.is_some_and(|v| v > 0.0));
        assert_eq!(out.series.len(), 7);
    }
}
