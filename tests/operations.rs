//! Operating a server: the CLI refuses what it cannot do (a missing data directory), config
//! checks report every error, restarts do not grow the WAL, malformed numbers are 400s,
//! status/config shows the loaded YAML and runtimeinfo a failed reload, and logs carry no
//! colour codes when stderr is not a terminal.

mod common;

use std::time::Duration;

use common::*;

const CLI_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn tsdb_stats_refuses_a_missing_data_directory() {
    let dir = TestDir::new();
    let missing = dir.tmp.path().join("no-such-data");
    let (code, out, err) = run_cli(
        &["tsdb", "stats", "--data", missing.to_str().unwrap()],
        CLI_TIMEOUT,
    );
    assert_ne!(
        code,
        Some(0),
        "stats of a missing directory succeeded: {out}"
    );
    assert!(err.contains("no-such-data"), "{err}");
    assert!(!missing.exists(), "tsdb stats created the directory");
}

#[test]
fn check_config_reports_every_error() {
    let dir = TestDir::new();
    let f = dir.file(
        "bad.yaml",
        "listen: nowhere\nblock_duration: 10s\nmaintenance_interval: 1ms\n",
    );
    let (code, _, err) = run_cli(&["check", "config", f.to_str().unwrap()], CLI_TIMEOUT);
    assert_ne!(code, Some(0));
    for want in [
        "listen",
        "line 1",
        "block_duration",
        "line 2",
        "maintenance_interval",
        "line 3",
    ] {
        assert!(err.contains(want), "{want:?} missing from: {err}");
    }
}

#[test]
fn restarts_do_not_grow_the_wal() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    srv.write_ok(&request(
        (0..20)
            .map(|i| {
                series(
                    &[("__name__", "op_wal"), ("i", &i.to_string())],
                    &[(BASE_MS, 1.0)],
                )
            })
            .collect(),
    ));
    drop(srv);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let srv = Server::start(&dir.data(), None);
        let lk = &srv.tsdb_status(None)["lookout"];
        seen.push((lk["wal_segments"].clone(), lk["wal_bytes"].clone()));
        assert_eq!(srv.export("op_wal", None).len(), 20);
        let logs = srv.logs();
        drop(srv);
        if seen.len() > 1 {
            assert!(
                logs.contains("series=20"),
                "replay counted series again:\n{logs}"
            );
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "WAL grew across restarts: {seen:?}"
    );
}

#[test]
fn malformed_numbers_are_400() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    for path in [
        "/api/v1/series?match[]=up&limit=abc",
        "/api/v1/labels?limit=abc",
        "/api/v1/label/job/values?limit=abc",
        "/api/v1/metadata?limit=abc",
        "/api/v1/metadata?limit_per_metric=1.5",
        "/api/v1/targets/metadata?limit=abc",
    ] {
        let (code, v) = srv.get_json(path, None);
        assert_eq!(code, 400, "{path}: {v}");
        assert_eq!(v["errorType"], "bad_data", "{path}: {v}");
    }
}

#[test]
fn status_config_shows_the_yaml_and_runtimeinfo_a_failed_reload() {
    let dir = TestDir::new();
    let text = "# ops test\nscrape_configs: []\n";
    let srv = Server::start(&dir.data(), Some(text));
    let d = srv.api_data("/api/v1/status/config", None);
    assert_eq!(d["yaml"], text);
    let rt = srv.api_data("/api/v1/status/runtimeinfo", None);
    assert_eq!(rt["reloadConfigSuccess"], true, "{rt}");

    std::fs::write(config_path(&dir.data()), "bogus: 1\n").unwrap();
    let resp = client().post(srv.url("/-/reload")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let rt = srv.api_data("/api/v1/status/runtimeinfo", None);
    assert_eq!(rt["reloadConfigSuccess"], false, "{rt}");
    // The running configuration is still the one shown.
    assert_eq!(srv.api_data("/api/v1/status/config", None)["yaml"], text);

    let good = "# ops test, edited\nscrape_configs: []\n";
    std::fs::write(config_path(&dir.data()), good).unwrap();
    let resp = client().post(srv.url("/-/reload")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let rt = srv.api_data("/api/v1/status/runtimeinfo", None);
    assert_eq!(rt["reloadConfigSuccess"], true, "{rt}");
    assert_eq!(srv.api_data("/api/v1/status/config", None)["yaml"], good);
}

#[test]
fn logs_have_no_colour_codes_off_a_terminal() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    srv.write_ok(&request(vec![series(
        &[("__name__", "op_log")],
        &[(BASE_MS, 1.0)],
    )]));
    let logs = srv.logs();
    assert!(logs.contains("listening"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "ANSI escapes in logs:\n{logs:?}");
}

/// Every open tenant holds a file; the soft limit on open files is raised to the hard one
/// (as Go raises it for Prometheus), so 1000 tenants fit under a 1024 soft limit's shell.
#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit() {
    let dir = TestDir::new();
    let script = format!(
        "ulimit -Sn 256 && exec {BIN} serve --data {} --listen 127.0.0.1:0 --no-self-scrape",
        dir.data().display()
    );
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let limits = format!("/proc/{}/limits", child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let text = std::fs::read_to_string(&limits).unwrap_or_default();
        let line = text
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap_or("")
            .to_string();
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 5 && fields[3] != "256" {
            break line;
        }
        if std::time::Instant::now() > deadline {
            break line;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields.len() >= 5, "{line:?}");
    assert_eq!(fields[3], fields[4], "soft limit not raised: {line:?}");
}
