//! Network interfaces: `/proc/net/dev` counters and `/sys/class/net/<dev>/` state, with
//! node_exporter's names.

use super::{num, read, HostPaths, Out};

const RECEIVE: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "frame",
    "compressed",
    "multicast",
];
const TRANSMIT: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "colls",
    "carrier",
    "compressed",
];

pub(super) fn collect(p: &HostPaths, out: &mut Out) -> std::io::Result<()> {
    let text = read(&p.proc, "net/dev")?;
    let mut name = String::new();
    for line in text.lines().skip(2) {
        let Some((dev, rest)) = line.split_once(':') else {
            continue;
        };
        let dev = dev.trim();
        let vals: Vec<&str> = rest.split_ascii_whitespace().collect();
        for (i, v) in vals.iter().enumerate().take(16) {
            let (dir, what) = if i < 8 {
                ("receive", RECEIVE[i])
            } else {
                ("transmit", TRANSMIT[i - 8])
            };
            name.clear();
            name.push_str("node_network_");
            name.push_str(dir);
            name.push('_');
            name.push_str(what);
            name.push_str("_total");
            out.push(&name, &[("device", dev)], num(v, "/proc/net/dev")?);
        }
        class(p, dev, out);
    }
    Ok(())
}

/// The interface's `/sys/class/net` attributes; missing ones are skipped, as a virtual
/// interface lacks some (speed, carrier of a down link).
fn class(p: &HostPaths, dev: &str, out: &mut Out) {
    let dir = p.sys.join("class/net").join(dev);
    let attr = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let number = |f: &str| attr(f).and_then(|s| s.parse::<f64>().ok());
    let operstate = attr("operstate").unwrap_or_default();
    out.push(
        "node_network_up",
        &[("device", dev)],
        if operstate == "up" { 1.0 } else { 0.0 },
    );
    for (f, metric, factor) in [
        ("mtu", "node_network_mtu_bytes", 1.0),
        ("carrier", "node_network_carrier", 1.0),
        ("tx_queue_len", "node_network_transmit_queue_length", 1.0),
        ("ifindex", "node_network_iface_id", 1.0),
        ("iflink", "node_network_iface_link", 1.0),
        ("carrier_changes", "node_network_carrier_changes_total", 1.0),
        // Mbit/s to bytes/s; -1 (unknown) is skipped below.
        ("speed", "node_network_speed_bytes", 125_000.0),
    ] {
        if let Some(v) = number(f).filter(|v| *v >= 0.0) {
            out.push(metric, &[("device", dev)], v * factor);
        }
    }
    if let Some(flags) =
        attr("flags").and_then(|s| i64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
    {
        out.push("node_network_flags", &[("device", dev)], flags as f64);
    }
    let address = attr("address").unwrap_or_default();
    let broadcast = attr("broadcast").unwrap_or_default();
    let duplex = attr("duplex").unwrap_or_default();
    let ifalias = attr("ifalias").unwrap_or_default();
    out.push(
        "node_network_info",
        &[
            ("device", dev),
            ("address", &address),
            ("broadcast", &broadcast),
            ("duplex", &duplex),
            ("ifalias", &ifalias),
            ("operstate", &operstate),
        ],
        1.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_by_direction() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net")).unwrap();
        std::fs::write(
            dir.path().join("net/dev"),
            "Inter-|   Receive\n face |bytes\n  eth0: 100 2 0 0 0 0 0 1 200 3 0 0 0 0 0 0\n",
        )
        .unwrap();
        let sys = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sys.path().join("class/net/eth0")).unwrap();
        std::fs::write(sys.path().join("class/net/eth0/operstate"), "up\n").unwrap();
        std::fs::write(sys.path().join("class/net/eth0/speed"), "1000\n").unwrap();
        let p = HostPaths {
            proc: dir.path().into(),
            sys: sys.path().into(),
            ..Default::default()
        };
        let mut out = Out::new(0);
        collect(&p, &mut out).unwrap();
        let v = |n: &str| {
            out.series
                .iter()
                .find(|s| s.labels.metric_name() == Some(n))
                .map(|s| s.samples[0].v)
        };
        assert_eq!(v("node_network_receive_bytes_total"), Some(100.0));
        assert_eq!(v("node_network_receive_multicast_total"), Some(1.0));
        assert_eq!(v("node_network_transmit_bytes_total"), Some(200.0));
        assert_eq!(v("node_network_transmit_packets_total"), Some(3.0));
        assert_eq!(v("node_network_up"), Some(1.0));
        assert_eq!(v("node_network_speed_bytes"), Some(125_000_000.0));
    }
}
