//! A rule fires in Lookout, Debian's `prometheus-alertmanager` receives it over API v2 and
//! delivers it to a webhook receiver this test runs; when the condition clears, Lookout
//! sends the resolution and Alertmanager delivers a resolved notification. Alertmanager
//! runs on loopback with clustering off, its storage in a temporary directory.

mod common;
mod rules_common;

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use common::{request, series, Server, TestDir};
use rules_common::{free_port, now_ms, receive, wait_for, Program};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

fn write_flag(s: &Server, v: f64) {
    s.write_ok(&request(vec![series(
        &[("__name__", "door_open"), ("door", "front")],
        &[(now_ms(), v)],
    )]));
}

#[test]
fn alert_reaches_alertmanager_and_its_webhook_then_resolves() {
    // test.sh installs it; a test that passed without it would show nothing.
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} is not installed: run ./test.sh, or apt-get install prometheus-alertmanager"
    );
    let dir = TestDir::new();
    let hook = TcpListener::bind("127.0.0.1:0").unwrap();
    let hook_port = hook.local_addr().unwrap().port();
    let got = receive(hook);

    let am_port = free_port();
    let am_cfg = dir.file(
        "alertmanager.yml",
        &format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: 'http://127.0.0.1:{hook_port}/am'\n        send_resolved: true\n"
        ),
    );
    let am_data = dir.tmp.path().join("am-data");
    std::fs::create_dir_all(&am_data).unwrap();
    let mut am = Program::start(
        ALERTMANAGER,
        &[
            format!("--config.file={}", am_cfg.display()),
            format!("--storage.path={}", am_data.display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
        &dir.tmp.path().join("alertmanager.log"),
    );
    am.wait_ready(&format!("http://127.0.0.1:{am_port}/-/ready"), 30);

    dir.file(
        "door.rules.yml",
        "groups:\n  - name: doors\n    interval: 1s\n    rules:\n      - alert: DoorOpen\n        expr: door_open > 0\n        labels:\n          severity: page\n        annotations:\n          summary: '{{ $labels.door }} door open ({{ $value }})'\n",
    );
    let cfg = format!(
        "global: {{evaluation_interval: 1s, external_labels: {{site: lab}}}}\nrule_files: ['{}/*.rules.yml']\nalerting:\n  resend_delay: 1s\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n",
        dir.tmp.path().display()
    );
    let s = Server::start_real_clock(&dir.data(), Some(&cfg));
    write_flag(&s, 1.0);

    let firing = wait_for(30, "a firing notification from Alertmanager", || {
        got.lock()
            .unwrap()
            .iter()
            .find(|p| p["status"] == "firing")
            .cloned()
    });
    assert_eq!(firing["version"], "4", "{firing}");
    assert_eq!(firing["receiver"], "hook");
    assert_eq!(firing["groupLabels"]["alertname"], "DoorOpen");
    let alerts = firing["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{firing}");
    let a = &alerts[0];
    assert_eq!(a["status"], "firing");
    assert_eq!(a["labels"]["alertname"], "DoorOpen");
    assert_eq!(a["labels"]["door"], "front");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(
        a["labels"]["site"], "lab",
        "external labels reach Alertmanager"
    );
    assert_eq!(a["annotations"]["summary"], "front door open (1)");
    let gen = a["generatorURL"].as_str().unwrap();
    assert!(gen.contains("/graph?g0.expr=door_open"), "{gen}");

    // Lookout's view of the Alertmanager it sends to.
    let ams = s.api_data("/api/v1/alertmanagers", None);
    let active = ams["activeAlertmanagers"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{ams}");
    assert_eq!(
        active[0]["url"],
        format!("http://127.0.0.1:{am_port}/api/v2/alerts")
    );

    // The condition clears: Lookout sends the alert with an end in the past, Alertmanager
    // resolves it and tells the webhook.
    write_flag(&s, 0.0);
    let resolved = wait_for(30, "a resolved notification from Alertmanager", || {
        got.lock()
            .unwrap()
            .iter()
            .find(|p| p["status"] == "resolved")
            .cloned()
    });
    let ra = &resolved["alerts"].as_array().unwrap()[0];
    assert_eq!(ra["status"], "resolved");
    assert_eq!(ra["labels"]["door"], "front");
    assert_eq!(ra["startsAt"], a["startsAt"], "the same alert");

    // Nothing fired again after the resolution (bounded look: two more group intervals).
    std::thread::sleep(Duration::from_secs(2));
    let all = got.lock().unwrap().clone();
    let firing_n = all.iter().filter(|p| p["status"] == "firing").count();
    assert_eq!(
        firing_n, 1,
        "one firing notification (repeat_interval 1h): {all:#?}"
    );
    drop(am);
}
