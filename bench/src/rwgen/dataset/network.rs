//! Network family: protocol counters (netstat, sockstat, udp queues) and the
//! per-interface `node_network_*` / `node_arp_entries` series.

use super::{Host, HostBuilder};
use crate::rng::{logu, uniform};

pub(super) fn add(b: &mut HostBuilder<'_>, h: &Host) {
    let host = h.host;
    let util = h.util;
    let netdevs = &h.netdevs;
    // --- netstat / sockstat / udp
    let conn = 5.0 + 200.0 * util;
    b.counter("node_netstat_Tcp_ActiveOpens", &[], conn * 0.3, 0.5, 1.0);
    b.counter("node_netstat_Tcp_PassiveOpens", &[], conn * 0.7, 0.5, 1.0);
    b.gauge(
        "node_netstat_Tcp_CurrEstab",
        &[],
        conn * 3.0,
        1.0,
        1e5,
        conn * 0.3,
        0.9,
        1.0,
    );
    b.counter("node_netstat_Tcp_InSegs", &[], conn * 40.0, 0.4, 1.0);
    b.counter("node_netstat_Tcp_OutSegs", &[], conn * 45.0, 0.4, 1.0);
    b.counter("node_netstat_Tcp_RetransSegs", &[], conn * 0.05, 1.0, 1.0);
    b.rare("node_netstat_Tcp_InErrs", &[], 0.01);
    b.counter("node_netstat_Tcp_OutRsts", &[], conn * 0.1, 1.0, 1.0);
    b.counter("node_netstat_Udp_InDatagrams", &[], 20.0, 0.5, 1.0);
    b.counter("node_netstat_Udp_OutDatagrams", &[], 20.0, 0.5, 1.0);
    b.rare("node_netstat_Udp_InErrors", &[], 0.005);
    b.rare("node_netstat_Udp_NoPorts", &[], 0.05);
    b.konst("node_netstat_Udp_RcvbufErrors", &[], 0.0);
    b.konst("node_netstat_Udp_SndbufErrors", &[], 0.0);
    b.counter("node_netstat_Icmp_InMsgs", &[], 0.2, 1.0, 1.0);
    b.counter("node_netstat_Icmp_OutMsgs", &[], 0.2, 1.0, 1.0);
    b.konst("node_netstat_Icmp_InErrors", &[], 0.0);
    b.konst("node_netstat_Ip_Forwarding", &[], 1.0);
    b.counter("node_netstat_IpExt_InOctets", &[], conn * 20000.0, 0.5, 1.0);
    b.counter(
        "node_netstat_IpExt_OutOctets",
        &[],
        conn * 25000.0,
        0.5,
        1.0,
    );
    b.rare("node_netstat_TcpExt_ListenDrops", &[], 0.002);
    b.rare("node_netstat_TcpExt_ListenOverflows", &[], 0.002);
    b.konst("node_netstat_TcpExt_SyncookiesFailed", &[], 0.0);
    b.konst("node_netstat_TcpExt_SyncookiesRecv", &[], 0.0);
    b.konst("node_netstat_TcpExt_SyncookiesSent", &[], 0.0);
    b.counter(
        "node_netstat_TcpExt_TCPSynRetrans",
        &[],
        conn * 0.01,
        1.0,
        1.0,
    );
    b.counter(
        "node_netstat_TcpExt_TCPTimeouts",
        &[],
        conn * 0.02,
        1.0,
        1.0,
    );
    for n in [
        "Udp6_InDatagrams",
        "Udp6_OutDatagrams",
        "Icmp6_InMsgs",
        "Icmp6_OutMsgs",
        "Ip6_InOctets",
        "Ip6_OutOctets",
    ] {
        b.counter(&format!("node_netstat_{n}"), &[], 0.5, 1.0, 0.5);
    }
    for n in [
        "Udp6_InErrors",
        "Udp6_NoPorts",
        "Udp6_RcvbufErrors",
        "Udp6_SndbufErrors",
        "Icmp6_InErrors",
        "UdpLite6_InErrors",
        "UdpLite_InErrors",
    ] {
        b.konst(&format!("node_netstat_{n}"), &[], 0.0);
    }
    b.gauge(
        "node_sockstat_TCP_alloc",
        &[],
        conn * 3.5,
        1.0,
        1e5,
        conn * 0.3,
        0.9,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_inuse",
        &[],
        conn * 3.0,
        1.0,
        1e5,
        conn * 0.3,
        0.9,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_orphan",
        &[],
        0.0,
        0.0,
        100.0,
        0.6,
        0.2,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_tw",
        &[],
        conn * 2.0,
        0.0,
        1e5,
        conn * 0.4,
        0.9,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_mem",
        &[],
        conn * 2.0,
        0.0,
        1e6,
        conn * 0.5,
        0.9,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_mem_bytes",
        &[],
        conn * 8192.0,
        0.0,
        1e9,
        conn * 2048.0,
        0.9,
        4096.0,
    );
    b.gauge(
        "node_sockstat_UDP_inuse",
        &[],
        6.0,
        0.0,
        100.0,
        0.5,
        0.05,
        1.0,
    );
    b.gauge(
        "node_sockstat_UDP_mem",
        &[],
        3.0,
        0.0,
        1000.0,
        1.0,
        0.3,
        1.0,
    );
    b.gauge(
        "node_sockstat_UDP_mem_bytes",
        &[],
        12288.0,
        0.0,
        1e7,
        4096.0,
        0.3,
        4096.0,
    );
    b.gauge(
        "node_sockstat_sockets_used",
        &[],
        conn * 4.0 + 200.0,
        1.0,
        1e6,
        conn * 0.3,
        0.9,
        1.0,
    );
    for n in [
        "FRAG_inuse",
        "FRAG_memory",
        "RAW_inuse",
        "RAW6_inuse",
        "UDPLITE_inuse",
        "UDPLITE6_inuse",
        "FRAG6_inuse",
        "FRAG6_memory",
    ] {
        b.konst(&format!("node_sockstat_{n}"), &[], 0.0);
    }
    b.gauge(
        "node_sockstat_TCP6_inuse",
        &[],
        8.0,
        0.0,
        100.0,
        0.6,
        0.05,
        1.0,
    );
    b.gauge(
        "node_sockstat_UDP6_inuse",
        &[],
        2.0,
        0.0,
        100.0,
        0.6,
        0.02,
        1.0,
    );
    for ip in ["v4", "v6"] {
        for q in ["rx", "tx"] {
            b.konst("node_udp_queues", &[("ip", ip), ("queue", q)], 0.0);
        }
    }

    // --- network devices
    for (di, dev) in netdevs.iter().enumerate() {
        let d = dev.as_str();
        let bw = if d == "lo" {
            logu(b.rng, 1e3, 1e6)
        } else {
            logu(b.rng, 1e3, 3e7) * (util + 0.05)
        };
        let pkt = uniform(b.rng, 300.0, 1200.0);
        for (dir, f) in [("receive", 1.0), ("transmit", uniform(b.rng, 0.3, 2.0))] {
            let l = [("device", d)];
            b.counter(
                &format!("node_network_{dir}_bytes_total"),
                &l,
                bw * f,
                0.6,
                1.0,
            );
            b.counter(
                &format!("node_network_{dir}_packets_total"),
                &l,
                bw * f / pkt,
                0.6,
                1.0,
            );
            b.konst(&format!("node_network_{dir}_errs_total"), &l, 0.0);
            if d == "lo" {
                b.konst(&format!("node_network_{dir}_drop_total"), &l, 0.0);
            } else {
                b.rare(&format!("node_network_{dir}_drop_total"), &l, 0.01);
            }
            b.konst(&format!("node_network_{dir}_fifo_total"), &l, 0.0);
            b.konst(&format!("node_network_{dir}_compressed_total"), &l, 0.0);
            if dir == "receive" {
                b.konst("node_network_receive_frame_total", &l, 0.0);
                b.rare(
                    "node_network_receive_multicast_total",
                    &l,
                    if d == "lo" { 0.0 } else { 0.05 },
                );
                b.konst("node_network_receive_nohandler_total", &l, 0.0);
            } else {
                b.konst("node_network_transmit_colls_total", &l, 0.0);
                b.konst("node_network_transmit_carrier_total", &l, 0.0);
            }
        }
        if d != "lo" {
            let l = [("device", d)];
            let mac = format!(
                "52:54:00:{:02x}:{:02x}:{:02x}",
                (host >> 8) & 0xff,
                host & 0xff,
                di
            );
            b.konst(
                "node_network_info",
                &[
                    ("address", mac.as_str()),
                    ("adminstate", "up"),
                    ("broadcast", "ff:ff:ff:ff:ff:ff"),
                    ("device", d),
                    ("duplex", "full"),
                    ("ifalias", ""),
                    ("operstate", "up"),
                ],
                1.0,
            );
            b.konst("node_network_up", &l, 1.0);
            b.konst("node_network_mtu_bytes", &l, 1500.0);
            b.konst("node_network_speed_bytes", &l, 1.25e9);
            b.konst("node_network_carrier", &l, 1.0);
            b.konst("node_network_carrier_changes_total", &l, 2.0);
            b.konst("node_network_carrier_up_changes_total", &l, 1.0);
            b.konst("node_network_carrier_down_changes_total", &l, 1.0);
            b.konst("node_network_transmit_queue_length", &l, 1000.0);
            b.konst("node_network_iface_id", &l, (di + 2) as f64);
            b.konst("node_network_iface_link", &l, (di + 2) as f64);
            b.konst("node_network_address_assign_type", &l, 0.0);
            b.konst("node_network_dormant", &l, 0.0);
            b.konst("node_network_flags", &l, 4099.0);
            b.konst("node_network_protocol_type", &l, 1.0);
            b.konst("node_network_net_dev_group", &l, 0.0);
        }
        if d != "lo" && d != "docker0" {
            b.gauge(
                "node_arp_entries",
                &[("device", d)],
                5.0,
                0.0,
                500.0,
                0.6,
                0.02,
                1.0,
            );
        }
    }
}
