//! Process lifecycle: health endpoints, graceful SIGTERM, config checking, the offline
//! `tsdb stats` command, and the TSDB status / flush endpoints.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::json;

const CLI_TIMEOUT: Duration = Duration::from_secs(30);

fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lookout.example.yaml")
}

/// `n_series` series of `lc_test` with `n_samples` distinct samples each, in one 2h period.
fn data(n_series: usize, n_samples: i64) -> WriteRequest {
    request(
        (0..n_series)
            .map(|i| {
                let inst = format!("host-{i}");
                series(
                    &[
                        ("__name__", "lc_test"),
                        ("instance", &inst),
                        ("job", "node"),
                    ],
                    &(0..n_samples)
                        .map(|k| (BASE_MS + k * 15_000, i as f64 * 10.0 + k as f64 / 4.0))
                        .collect::<Vec<_>>(),
                )
            })
            .collect(),
    )
}

#[test]
fn health_and_ready_endpoints() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    for (path, want) in [("/-/healthy", "Healthy"), ("/-/ready", "Ready")] {
        let (code, body) = srv.get(path, None);
        assert_eq!(code, 200, "{path}: {body}");
        assert!(body.contains(want), "{path}: {body}");
    }
    let (code, _) = srv.get("/-/no-such-endpoint", None);
    assert_eq!(code, 404);
}

#[test]
fn sigterm_exits_cleanly_and_keeps_data() {
    let dir = TestDir::new();
    let mut srv = Server::start(&dir.data(), None);
    srv.write_ok(&data(3, 40));
    // The client keeps its keep-alive connection open across the signal.
    assert_eq!(srv.get("/-/ready", None).0, 200);
    let status = srv
        .terminate(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no exit within 15s of SIGTERM; stderr:\n{}", srv.logs()));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}; stderr:\n{}",
        srv.logs()
    );

    let srv = Server::start(&dir.data(), None);
    let got = srv.export_map("lc_test", None);
    assert_eq!(got.len(), 3);
    for (labels, samples) in &got {
        let i: f64 = labels["instance"]
            .trim_start_matches("host-")
            .parse()
            .unwrap();
        let want: Vec<(i64, f64)> = (0..40)
            .map(|k| (BASE_MS + k * 15_000, i * 10.0 + k as f64 / 4.0))
            .collect();
        assert_eq!(samples, &want, "{labels:?}");
    }
}

#[test]
fn serve_rejects_unknown_config_keys_with_their_line() {
    let dir = TestDir::new();
    let cfg = dir.file(
        "bad.yaml",
        "listen: 127.0.0.1:0\nretention:\n  time: 1d\n  sise: 1GB\n",
    );
    let data = dir.data();
    let (code, out, err) = run_cli(
        &[
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        CLI_TIMEOUT,
    );
    assert_ne!(code, Some(0), "serve accepted a bad config; stdout: {out}");
    assert!(code.is_some(), "serve died from a signal: {err}");
    assert!(!out.contains("listening"), "serve started listening: {out}");
    assert!(err.contains("sise"), "stderr should name the key: {err}");
    assert!(err.contains("line 4"), "stderr should name the line: {err}");
}

#[test]
fn check_config_accepts_the_example_and_names_bad_lines() {
    let example = example_config();
    let (code, out, err) = run_cli(&["check", "config", example.to_str().unwrap()], CLI_TIMEOUT);
    assert_eq!(code, Some(0), "example config rejected: {err}");
    assert!(out.contains("OK"), "{out}");

    let dir = TestDir::new();
    let bad = dir.file(
        "bad.yaml",
        "data: ./d\nlimits:\n  max_body_size: 1MiB\nbogus: 1\n",
    );
    let (code, out, err) = run_cli(&["check", "config", bad.to_str().unwrap()], CLI_TIMEOUT);
    assert_ne!(code, Some(0), "bad config accepted: {out}");
    assert!(!out.contains("OK"), "{out}");
    assert!(err.contains("bogus") && err.contains("line 4"), "{err}");

    let missing = dir.tmp.path().join("nope.yaml");
    let (code, _, err) = run_cli(&["check", "config", missing.to_str().unwrap()], CLI_TIMEOUT);
    assert_ne!(code, Some(0));
    assert!(err.contains("nope.yaml"), "{err}");
}

/// `lookout check config` promises "every error with its line": a bad value must be
/// reported with the line it is on, and with what was wrong with it.
#[test]
fn check_config_names_the_line_of_a_bad_value() {
    let dir = TestDir::new();
    let cases = [
        // (file text, line of the bad value, text the message must quote)
        (
            "listen: 127.0.0.1:9\n\nblock_duration: 2 hours\n",
            3,
            "2 hours",
        ),
        (
            "limits:\n  max_decoded_body_size: 1MiB\n  max_body_size: 10 potatoes\n",
            3,
            "10 potatoes",
        ),
        ("retention:\n  time: 1d\n  size: -5\n", 3, "-5"),
    ];
    let mut failures = Vec::new();
    for (i, (text, line, quote)) in cases.iter().enumerate() {
        let f = dir.file(&format!("bad{i}.yaml"), text);
        let (code, _, err) = run_cli(&["check", "config", f.to_str().unwrap()], CLI_TIMEOUT);
        assert_ne!(code, Some(0), "{text:?} accepted");
        let want_line = format!("line {line}");
        if !err.contains(&want_line) || !err.contains(quote) {
            failures.push(format!(
                "{text:?}: want {want_line:?} and {quote:?} in: {}",
                err.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "bad values not located:\n{}",
        failures.join("\n")
    );
}

#[test]
fn tsdb_stats_reads_a_stopped_servers_dir_and_refuses_a_running_one() {
    let dir = TestDir::new();
    let data_dir = dir.data();
    let data_arg = data_dir.to_str().unwrap();
    let mut srv = Server::start(&data_dir, None);
    srv.write_ok(&data(4, 25));

    let (code, out, err) = run_cli(
        &["tsdb", "stats", "--data", data_arg, "--json"],
        CLI_TIMEOUT,
    );
    assert_ne!(
        code,
        Some(0),
        "stats opened a directory a server holds: {out}"
    );
    assert!(
        err.contains("in use by another lookout process") && err.contains("/api/v1/status/tsdb"),
        "the error should say the directory is in use and point to the API: {err}"
    );
    // The refused command did not disturb the server.
    assert_eq!(srv.export("lc_test", None).len(), 4);

    let status = srv
        .terminate(Duration::from_secs(15))
        .expect("server stops");
    assert!(status.success(), "{status}");

    let (code, out, err) = run_cli(
        &["tsdb", "stats", "--data", data_arg, "--json"],
        CLI_TIMEOUT,
    );
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["head"]["series"], 4, "{v}");
    assert_eq!(v["head"]["samples"], 100, "{v}");
    assert_eq!(v["total_samples"], 100, "{v}");
    assert_eq!(v["head"]["min_time"], BASE_MS, "{v}");
    assert_eq!(v["head"]["max_time"], BASE_MS + 24 * 15_000, "{v}");

    let (code, out, err) = run_cli(&["tsdb", "stats", "--data", data_arg], CLI_TIMEOUT);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("4 series, 100 samples"), "{out}");

    // The data is still served after the offline command ran on the directory.
    let srv = Server::start(&data_dir, None);
    let got = srv.export("lc_test", None);
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|s| s.samples.len() == 25));
}

fn find_files(dir: &Path, name: &str, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            find_files(&p, name, out, depth + 1);
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
}

#[test]
fn status_reflects_writes_and_flush_writes_parquet_blocks() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    srv.write_ok(&data(5, 30));
    srv.write_ok(&request(vec![series(
        &[("__name__", "lc_other")],
        &[(BASE_MS, 1.0)],
    )]));

    let st = srv.tsdb_status(None);
    assert_eq!(st["headStats"]["numSeries"], 6, "{st}");
    assert_eq!(st["headStats"]["minTime"], BASE_MS, "{st}");
    assert_eq!(st["headStats"]["maxTime"], BASE_MS + 29 * 15_000, "{st}");
    let by_metric = st["seriesCountByMetricName"].as_array().unwrap();
    assert!(
        by_metric.contains(&json!({"name": "lc_test", "value": 5})),
        "{st}"
    );
    assert!(
        by_metric.contains(&json!({"name": "lc_other", "value": 1})),
        "{st}"
    );
    let card = st["labelValueCountByLabelName"].as_array().unwrap();
    assert!(
        card.contains(&json!({"name": "instance", "value": 5})),
        "{st}"
    );
    let lk = &st["lookout"];
    assert_eq!(lk["head"]["samples"], 151, "{st}");
    assert_eq!(lk["total_samples"], 151, "{st}");
    assert_eq!(lk["blocks"], json!([]), "{st}");
    assert!(lk["wal_bytes"].as_u64().unwrap() > 0, "{st}");

    srv.flush();
    let st = srv.tsdb_status(None);
    let lk = &st["lookout"];
    let blocks = lk["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 1, "one 2h period, one block: {st}");
    assert_eq!(blocks[0]["samples"], 151, "{st}");
    assert_eq!(blocks[0]["series"], 6, "{st}");
    assert_eq!(blocks[0]["min_time"], BASE_MS, "{st}");
    assert_eq!(blocks[0]["max_time"], BASE_MS + 29 * 15_000, "{st}");
    assert!(blocks[0]["bytes"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(lk["head"]["samples"], 0, "{st}");
    assert_eq!(lk["total_samples"], 151, "{st}");

    let mut parquet = Vec::new();
    find_files(&dir.data(), "samples.parquet", &mut parquet, 0);
    assert_eq!(parquet.len(), 1, "{parquet:?}");
    let block_dir = parquet[0].parent().unwrap();
    assert_eq!(
        block_dir.parent().unwrap().file_name().unwrap(),
        "blocks",
        "{parquet:?}"
    );
    assert_eq!(
        block_dir.file_name().unwrap().to_string_lossy(),
        blocks[0]["name"].as_str().unwrap(),
        "the block directory is named as the stats say"
    );
    assert!(std::fs::metadata(&parquet[0]).unwrap().len() > 0);

    // The data reads the same from the block.
    let got = srv.export("lc_test", None);
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|s| s.samples.len() == 30));
    // A second flush with an empty head changes nothing.
    srv.flush();
    let st = srv.tsdb_status(None);
    assert_eq!(st["lookout"]["blocks"].as_array().unwrap().len(), 1, "{st}");
}

/// SIGTERM while a writer streams: in-flight requests finish, the process exits 0, and
/// every acknowledged batch is there after the restart.
#[test]
fn sigterm_under_write_load_keeps_every_acknowledged_batch() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    let dir = TestDir::new();
    let mut srv = Server::start(&dir.data(), None);
    let url = srv.url("/api/v1/write");
    let acked_n = Arc::new(AtomicUsize::new(0));
    let counter = acked_n.clone();
    let writer = std::thread::spawn(move || {
        let c = client();
        let started = Instant::now();
        let mut acked = Vec::new();
        for k in 0..5000i64 {
            if started.elapsed() > Duration::from_secs(15) {
                break;
            }
            let req = request(
                (0..50)
                    .map(|i| {
                        let inst = format!("{i}");
                        series(
                            &[("__name__", "lc_load"), ("i", &inst)],
                            &[(BASE_MS + k * 1000, k as f64 + i as f64 / 64.0)],
                        )
                    })
                    .collect(),
            );
            let r = c
                .post(&url)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .body(encode(&req))
                .send();
            match r {
                Ok(r) if r.status().as_u16() == 204 => {
                    acked.push(k);
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                Ok(r) => panic!("batch {k}: {} {}", r.status(), r.text().unwrap_or_default()),
                Err(_) => break,
            }
        }
        acked
    });
    let t = Instant::now();
    while acked_n.load(Ordering::SeqCst) < 50 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = srv
        .terminate(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no exit within 15s of SIGTERM; stderr:\n{}", srv.logs()));
    let acked = writer.join().expect("writer");
    assert_eq!(status.code(), Some(0), "{status}; stderr:\n{}", srv.logs());
    assert!(
        acked.len() >= 50,
        "only {} batches acknowledged",
        acked.len()
    );

    let srv = Server::start(&dir.data(), None);
    let got = srv.export_map("lc_load", None);
    assert_eq!(got.len(), 50);
    for (labels, samples) in &got {
        let i: f64 = labels["i"].parse().unwrap();
        let m: std::collections::HashMap<i64, f64> = samples.iter().copied().collect();
        for &k in &acked {
            let v = m
                .get(&(BASE_MS + k * 1000))
                .unwrap_or_else(|| panic!("series {i}: acknowledged batch {k} missing"));
            assert_bits(*v, k as f64 + i / 64.0, "value");
        }
    }
}

/// With a 1m block period and 100ms maintenance, a head spanning an hour is cut into
/// blocks without a flush, and `retention.time` drops what is older than 30m before the
/// server's clock, on disk too (it stays gone after a restart).
#[test]
fn maintenance_cuts_blocks_and_applies_retention() {
    let cfg = "block_duration: 1m\nretention:\n  time: 30m\nmaintenance_interval: 100ms\nlimits:\n  max_future: 1h\n";
    let dir = TestDir::new();
    let minute = 60_000;
    // Written while the clock reads 29m after the first sample (all of it is inside the
    // retention and max_future then), read back once the clock reads 60m after it.
    let srv = Server::start_at(&dir.data(), Some(cfg), BASE_MS + 29 * minute);
    let samples: Vec<(i64, f64)> = (0..=360)
        .map(|k| (BASE_MS + k * 10_000, k as f64 * 1.5))
        .collect();
    srv.write_ok(&request(vec![series(&[("__name__", "lc_ret")], &samples)]));
    drop(srv);
    let now = BASE_MS + 60 * minute;
    let srv = Server::start_at(&dir.data(), Some(cfg), now);
    let horizon = now - 30 * minute;
    // Blocks are at most a tenth of the retention long (3m); allow twice that.
    let floor = horizon - 6 * minute;

    let check = |srv: &Server| -> Result<(), String> {
        let st = srv.tsdb_status(None);
        let lk = &st["lookout"];
        if lk["head"]["samples"] != 0 || lk["blocks"].as_array().unwrap().is_empty() {
            return Err(format!("head not cut yet: {st}"));
        }
        let got = srv.export("lc_ret", None);
        let got = got.first().map(|s| s.samples.clone()).unwrap_or_default();
        if got.iter().any(|&(t, _)| t < floor) {
            return Err(format!(
                "samples older than {floor} remain: first {:?}",
                got.first()
            ));
        }
        let want: Vec<(i64, f64)> = samples
            .iter()
            .copied()
            .filter(|&(t, _)| t >= horizon)
            .collect();
        let kept: Vec<(i64, f64)> = got.iter().copied().filter(|&(t, _)| t >= horizon).collect();
        if kept != want {
            return Err(format!(
                "samples within retention changed: {} of {} kept",
                kept.len(),
                want.len()
            ));
        }
        // What is kept before the horizon is a suffix of what was written.
        for w in got.windows(2) {
            if w[1].0 - w[0].0 != 10_000 {
                return Err(format!("gap in kept samples at {}", w[0].0));
            }
        }
        Ok(())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        match check(&srv) {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("after 15s: {e}\nserver log:\n{}", srv.logs())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let blocks = |srv: &Server| -> Vec<String> {
        srv.tsdb_status(None)["lookout"]["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                format!(
                    "{} {}..{} level {}",
                    b["name"], b["min_time"], b["max_time"], b["level"]
                )
            })
            .collect()
    };
    // Block files are removed just after the API stops serving them; give that a moment
    // (the crash case is retention_drops_survive_sigkill in crash_recovery.rs).
    std::thread::sleep(Duration::from_millis(1000));
    let before = blocks(&srv);
    let log_before = srv.logs();
    drop(srv);
    let srv = Server::start_at(&dir.data(), Some(cfg), now);
    check(&srv).unwrap_or_else(|e| {
        panic!(
            "after a kill and restart: {e}\nblocks before: {before:#?}\nblocks after: {:#?}\nlog before:\n{log_before}\nlog after:\n{}",
            blocks(&srv),
            srv.logs()
        )
    });
}
