//! `lookout agent` end to end: host metrics with node_exporter's names and values, compared
//! with Debian's `prometheus-node-exporter` on the same machine; and forwarding through the
//! disk queue across a server outage with the agent SIGKILLed and restarted in the middle:
//! afterwards the host series have no gap beyond one collection interval. Only loopback;
//! every wait is bounded.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::agent::{host_times, Agent};
use common::*;
use lookout_collector::scrape::parse::{parse_series, Entry, Format, Parser};

const EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const WAIT: Duration = Duration::from_secs(60);

struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type L = BTreeMap<String, String>;

/// (labels without empty values, value) of a text-format payload.
fn samples_of(body: &str) -> BTreeMap<L, f64> {
    let mut p = Parser::new(body.as_bytes(), Format::Text);
    let mut out = BTreeMap::new();
    while let Some(e) = p.next().expect("node exporter payload parses") {
        if let Entry::Sample { series, value, .. } = e {
            let (name, labels) = parse_series(series).expect("series parses");
            let mut l: L = labels.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            l.insert("__name__".into(), name);
            out.insert(l, value);
        }
    }
    out
}

/// The families node dashboards (Grafana's "Node Exporter Full" and the mixin's) query.
const DASHBOARD_FAMILIES: &[&str] = &[
    "node_cpu_seconds_total",
    "node_cpu_guest_seconds_total",
    "node_load1",
    "node_load5",
    "node_load15",
    "node_filesystem_size_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_files",
    "node_filesystem_files_free",
    "node_filesystem_readonly",
    "node_filesystem_device_error",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_disk_reads_merged_total",
    "node_disk_writes_merged_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_read_time_seconds_total",
    "node_disk_write_time_seconds_total",
    "node_disk_io_time_seconds_total",
    "node_disk_io_time_weighted_seconds_total",
    "node_disk_io_now",
    "node_disk_discards_completed_total",
    "node_disk_discard_time_seconds_total",
    "node_disk_flush_requests_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
    "node_network_receive_fifo_total",
    "node_network_receive_frame_total",
    "node_network_receive_compressed_total",
    "node_network_receive_multicast_total",
    "node_network_transmit_colls_total",
    "node_network_transmit_carrier_total",
    "node_network_up",
    "node_network_mtu_bytes",
    "node_network_info",
    "node_boot_time_seconds",
    "node_time_seconds",
    "node_uname_info",
    "node_context_switches_total",
    "node_intr_total",
    "node_forks_total",
    "node_procs_running",
    "node_procs_blocked",
    "node_filefd_allocated",
    "node_filefd_maximum",
    "node_entropy_available_bits",
    "node_pressure_cpu_waiting_seconds_total",
    "node_pressure_io_waiting_seconds_total",
    "node_pressure_io_stalled_seconds_total",
    "node_pressure_memory_waiting_seconds_total",
    "node_pressure_memory_stalled_seconds_total",
    "node_vmstat_pgfault",
    "node_vmstat_pgmajfault",
    "node_vmstat_pgpgin",
    "node_vmstat_pgpgout",
    "node_vmstat_pswpin",
    "node_vmstat_pswpout",
    "node_vmstat_oom_kill",
];

#[test]
fn host_metrics_match_node_exporter() {
    assert!(
        Path::new(EXPORTER).exists(),
        "{EXPORTER} is missing: install Debian's prometheus-node-exporter (./test.sh does)"
    );
    let ne_addr = format!("127.0.0.1:{}", free_tcp_port());
    let _exporter = Exporter(
        Command::new(EXPORTER)
            .arg(format!("--web.listen-address={ne_addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-node-exporter"),
    );
    let dir = TestDir::new();
    let srv = Server::start_real_clock(&dir.data(), Some("scrape_configs: []\n"));
    let agent_dir = dir.tmp.path().join("agent");
    let agent = Agent::start(
        &format!("http://{}", srv.addr),
        &agent_dir,
        "host_metrics: {interval: 1s, labels: {instance: testhost}}\n",
    );
    assert_eq!(agent.get("/-/healthy").0, 200);
    assert_eq!(agent.get("/-/ready").0, 200);

    let http = client();
    let ne_url = format!("http://{ne_addr}/metrics");
    wait_for(WAIT, "node exporter to answer", || {
        http.get(&ne_url)
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });
    wait_for(WAIT, "host metrics at the server", || {
        let m = srv.export_map("node_memory_MemTotal_bytes{job=\"node\"}", None);
        (!m.is_empty()).then_some(())
    });

    // Every series node_exporter shows in these families, Lookout has with the same labels
    // (plus job and instance). Series that come and go between the two reads (a disk, an
    // interface) are retried.
    let (ne, ours) = wait_for(WAIT, "every dashboard series from the agent", || {
        let body = http.get(&ne_url).send().ok()?.text().ok()?;
        let ne = samples_of(&body);
        let ours: BTreeMap<L, f64> = srv
            .export("{job=\"node\",instance=\"testhost\"}", None)
            .into_iter()
            .filter_map(|s| {
                let v = s.samples.last()?.1;
                let mut l = s.labels;
                l.remove("job");
                l.remove("instance");
                Some((l, v))
            })
            .collect();
        let missing: Vec<&L> = ne
            .keys()
            .filter(|l| DASHBOARD_FAMILIES.contains(&l["__name__"].as_str()))
            .filter(|l| !ours.contains_key(*l))
            .collect();
        if !missing.is_empty() {
            eprintln!("still missing: {missing:?}");
            return None;
        }
        Some((ne, ours))
    });
    let families: BTreeSet<&str> = ne
        .keys()
        .map(|l| l["__name__"].as_str())
        .filter(|n| DASHBOARD_FAMILIES.contains(n))
        .collect();
    assert!(families.len() > 40, "compared only {families:?}");

    // Every meminfo field node_exporter shows, with the same name.
    for l in ne
        .keys()
        .filter(|l| l["__name__"].starts_with("node_memory_"))
    {
        assert!(ours.contains_key(l), "missing {l:?}");
    }

    let get = |m: &BTreeMap<L, f64>, name: &str, labels: &[(&str, &str)]| -> f64 {
        let mut l: L = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.insert("__name__".into(), name.into());
        *m.get(&l).unwrap_or_else(|| panic!("{l:?} missing"))
    };
    // Totals exactly.
    for name in [
        "node_memory_MemTotal_bytes",
        "node_memory_SwapTotal_bytes",
        "node_boot_time_seconds",
        "node_filefd_maximum",
    ] {
        assert_eq!(get(&ours, name, &[]), get(&ne, name, &[]), "{name}");
    }
    for l in ne
        .keys()
        .filter(|l| l["__name__"] == "node_filesystem_size_bytes")
    {
        assert_eq!(ours[l], ne[l], "{l:?}");
    }
    // Counters within 1%.
    let close = |a: f64, b: f64| (a - b).abs() <= 0.01 * a.abs().max(b.abs()).max(1.0);
    for l in ne.keys().filter(|l| {
        l["__name__"] == "node_cpu_seconds_total"
            && ["user", "system", "idle"].contains(&l["mode"].as_str())
            || l["__name__"] == "node_network_receive_bytes_total"
            || l["__name__"] == "node_network_transmit_bytes_total"
    }) {
        assert!(
            close(ours[l], ne[l]),
            "{l:?}: agent {} vs node_exporter {}",
            ours[l],
            ne[l]
        );
    }
    // The agent's own metrics.
    assert!(
        agent
            .metric("lookout_agent_sent_batches_total")
            .unwrap_or(0.0)
            >= 1.0
    );
    assert_eq!(
        agent.metric("lookout_agent_rejected_batches_total"),
        Some(0.0)
    );
}

#[test]
fn agent_refuses_unknown_config_sections() {
    let dir = TestDir::new();
    let cfg = dir.file("agent.yaml", "host_metric: true\n");
    let out = Command::new(BIN)
        .args([
            "agent",
            "--server",
            "http://127.0.0.1:1",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(dir.data())
        .arg("--config")
        .arg(&cfg)
        .output()
        .expect("run agent");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("host_metric"), "{err}");
}

#[test]
fn server_outage_and_agent_kill_lose_no_host_samples() {
    let dir = TestDir::new();
    let listen = format!("127.0.0.1:{}", free_tcp_port());
    let mut srv = Server::start_real_clock_on(&dir.data(), Some("scrape_configs: []\n"), &listen);
    let agent_dir = dir.tmp.path().join("agent");
    let cfg = "host_metrics: {interval: 1s}\n";
    let mut agent = Agent::start(&format!("http://{listen}"), &agent_dir, cfg);
    wait_for(WAIT, "first host samples", || {
        (host_times(&srv).len() >= 2).then_some(())
    });

    // The server goes away for 30s; halfway the agent is SIGKILLed and restarted.
    srv.kill9();
    let outage = Instant::now();
    std::thread::sleep(Duration::from_secs(15));
    let queued = agent.metric("lookout_agent_queue_bytes").unwrap_or(0.0);
    assert!(queued > 0.0, "the agent queues while the server is down");
    assert_eq!(agent.metric("lookout_agent_server_failing"), Some(1.0));
    agent.kill9();
    let mut agent = Agent::start(&format!("http://{listen}"), &agent_dir, cfg);
    std::thread::sleep(Duration::from_secs(30).saturating_sub(outage.elapsed()));
    drop(srv);
    let srv = Server::start_real_clock_on(&dir.data(), Some("scrape_configs: []\n"), &listen);
    let outage_end = Instant::now();

    wait_for(WAIT, "the queue to drain", || {
        (agent.metric("lookout_agent_queue_bytes") == Some(0.0)
            && agent.metric("lookout_agent_server_failing") == Some(0.0))
        .then_some(())
    });
    let times = host_times(&srv);
    let span_ms = times.last().copied().unwrap_or(0) - times.first().copied().unwrap_or(0);
    assert!(
        span_ms >= outage_end.duration_since(outage).as_millis() as i64,
        "the samples cover the outage: {times:?}"
    );
    // One collection a second; the kill and restart may cost one more interval.
    let worst = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(worst <= 2_500, "a gap of {worst}ms in {times:?}");
    agent.kill9();
}
