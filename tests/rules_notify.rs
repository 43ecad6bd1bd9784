//! Alerts reach a plain webhook receiver (Alertmanager's payload, version 4, grouped as
//! configured) even when the receiver is down for a while and Lookout restarts in between:
//! nothing is lost, nothing is repeated before `repeat_interval`, and the resolution
//! arrives. The receiver is a small HTTP server inside the test.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{request, series, Server, TestDir};
use serde_json::Value;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Accepts POSTs on `listener` and keeps their JSON bodies, answering 200.
fn receive(listener: TcpListener, got: Arc<Mutex<Vec<Value>>>) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    got.lock().unwrap().push(v);
                }
            }
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
}

fn queue_length(s: &Server) -> u64 {
    let (_, m) = s.get("/metrics", None);
    m.lines()
        .filter(|l| l.starts_with("prometheus_notifications_queue_length{webhook="))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn webhook_down_then_up_across_a_restart_loses_and_repeats_nothing() {
    let dir = TestDir::new();
    // A port that nothing listens on until the receiver comes up.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    dir.file(
        "boom.rules.yml",
        "groups:\n  - name: boom\n    interval: 1s\n    rules:\n      - alert: Boom\n        expr: boom > 0\n        annotations:\n          summary: '{{ $labels.instance }} went boom'\n",
    );
    let cfg = format!(
        "global: {{evaluation_interval: 1s, external_labels: {{dc: west}}}}\nrule_files: ['{}/*.rules.yml']\nalerting:\n  resend_delay: 1s\n  webhooks:\n    - {{url: 'http://127.0.0.1:{port}/hook', group_by: [alertname], group_wait: 1s, group_interval: 2s, repeat_interval: 1h}}\n",
        dir.tmp.path().display()
    );
    let mut s = Server::start_real_clock(&dir.data(), Some(&cfg));
    let t = now_ms();
    s.write_ok(&request(vec![
        series(&[("__name__", "boom"), ("instance", "a")], &[(t, 1.0)]),
        series(&[("__name__", "boom"), ("instance", "b")], &[(t, 1.0)]),
    ]));
    // Firing, grouped and queued while the receiver is down.
    wait_for(20, "a queued notification", || {
        (queue_length(&s) >= 1).then_some(())
    });
    let (_, m) = s.get("/metrics", None);
    assert!(
        m.contains("prometheus_notifications_errors_total{webhook="),
        "{m}"
    );
    s.terminate(Duration::from_secs(20)).expect("lookout stops");

    let got = Arc::new(Mutex::new(Vec::new()));
    receive(TcpListener::bind(("127.0.0.1", port)).unwrap(), got.clone());
    let s = Server::start_real_clock(&dir.data(), Some(&cfg));
    let first = wait_for(30, "the queued notification", || {
        got.lock().unwrap().first().cloned()
    });
    assert_eq!(first["version"], "4");
    assert_eq!(first["status"], "firing");
    assert_eq!(first["groupKey"], "{}:{alertname=\"Boom\"}");
    assert_eq!(first["groupLabels"]["alertname"], "Boom");
    assert_eq!(first["commonLabels"]["dc"], "west", "external labels added");
    let alerts = first["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2, "{first}");
    let summaries: Vec<&str> = alerts
        .iter()
        .map(|a| a["annotations"]["summary"].as_str().unwrap())
        .collect();
    assert_eq!(summaries, ["a went boom", "b went boom"]);

    // The condition clears: one resolved notification follows.
    let t = now_ms();
    s.write_ok(&request(vec![
        series(&[("__name__", "boom"), ("instance", "a")], &[(t, 0.0)]),
        series(&[("__name__", "boom"), ("instance", "b")], &[(t, 0.0)]),
    ]));
    let resolved = wait_for(20, "the resolved notification", || {
        got.lock()
            .unwrap()
            .iter()
            .find(|p| p["status"] == "resolved")
            .cloned()
    });
    assert_eq!(resolved["alerts"].as_array().unwrap().len(), 2);
    assert!(resolved["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["status"] == "resolved"));
    // Rules keep re-sending the resolved alerts for a while; the receiver hears once.
    std::thread::sleep(Duration::from_secs(5));
    let all = got.lock().unwrap().clone();
    let firing = all.iter().filter(|p| p["status"] == "firing").count();
    let resolved = all.iter().filter(|p| p["status"] == "resolved").count();
    assert_eq!((firing, resolved), (1, 1), "{all:#?}");
    assert_eq!(queue_length(&s), 0);
}
