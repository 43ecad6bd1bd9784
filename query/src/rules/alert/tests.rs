//! Every state transition of an alerting rule on a controlled clock: the group is
//! evaluated at explicit timestamps over an in-memory storage that the test writes the
//! input into, so `for`, `keep_firing_for`, the resolution and the for-state restore are
//! checked to the millisecond.

use std::path::PathBuf;

use parking_lot::RwLock;

use super::AlertState;
use crate::promql::Engine;
use crate::promqltest::storage::MemStorage;
use crate::rules::eval::{Env, Sink};
use crate::rules::expr::Lang;
use crate::rules::file;
use crate::rules::group::{Group, GroupDefaults, Rule};
use crate::rules::unittest::TestStorage;

const RULES: &str = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Up\n        expr: x > 0\n        for: 3s\n        keep_firing_for: 2s\n";

fn group() -> Group {
    let f = file::parse(&PathBuf::from("t.yml"), RULES).expect("rules parse");
    let defaults = GroupDefaults {
        interval_ms: 1000,
        resend_delay_ms: 1000,
    };
    Group::new(f.path.clone(), &f.file.groups[0], Lang::Promql, &defaults).expect("group")
}

fn storage() -> TestStorage {
    TestStorage(RwLock::new(MemStorage::new()))
}

fn write_x(s: &TestStorage, t: i64, v: f64) {
    s.append(&[lookout_store::SeriesSamples {
        labels: lookout_store::Labels::from_pairs([("__name__", "x"), ("i", "a")]),
        samples: vec![lookout_store::Sample::new(t, v)],
    }])
    .unwrap();
}

/// (state, activeAt) of the rule's only alert; None without one.
fn alert(g: &Group) -> Option<(AlertState, i64)> {
    let Rule::Alerting(r) = &g.rules[0] else {
        panic!("not an alerting rule")
    };
    assert!(r.active.len() <= 1);
    r.active.values().next().map(|a| (a.state, a.active_at))
}

struct Run<'a> {
    engine: Engine,
    storage: &'a TestStorage,
    labels: std::collections::BTreeMap<String, String>,
}

impl Run<'_> {
    fn env(&self) -> Env<'_> {
        Env {
            engine: &self.engine,
            storage: self.storage,
            sink: self.storage,
            external_labels: &self.labels,
            external_url: "",
            logs: None,
        }
    }
}

#[test]
fn pending_firing_kept_firing_resolved() {
    let s = storage();
    let run = Run {
        engine: Engine::default(),
        storage: &s,
        labels: Default::default(),
    };
    let mut g = group();
    g.set_restored();
    let mut sent = Vec::new();
    let mut states = Vec::new();
    for t in (1000..=9000).step_by(1000) {
        write_x(&s, t, if t <= 4000 { 1.0 } else { 0.0 });
        sent.extend(g.eval(&run.env(), t, 1000));
        states.push((t, alert(&g)));
    }
    use AlertState::*;
    assert_eq!(
        states,
        vec![
            (1000, Some((Pending, 1000))),
            (2000, Some((Pending, 1000))),
            (3000, Some((Pending, 1000))),
            // `for: 3s` elapsed since activeAt.
            (4000, Some((Firing, 1000))),
            // The condition is gone from 5000; `keep_firing_for: 2s` holds it until 7000.
            (5000, Some((Firing, 1000))),
            (6000, Some((Firing, 1000))),
            (7000, Some((Inactive, 1000))),
            (8000, Some((Inactive, 1000))),
            (9000, Some((Inactive, 1000))),
        ]
    );
    // Notifications: firing from 4000 (every resend delay), then the resolution at 7000,
    // re-sent while the resolved alert is kept.
    let firing: Vec<i64> = sent
        .iter()
        .filter(|n| !n.resolved)
        .map(|n| n.starts_at_ms)
        .collect();
    assert_eq!(firing, vec![4000, 4000, 4000], "{sent:#?}");
    let resolved: Vec<i64> = sent
        .iter()
        .filter(|n| n.resolved)
        .map(|n| n.ends_at_ms)
        .collect();
    assert_eq!(resolved, vec![7000, 7000, 7000], "{sent:#?}");
    // ALERTS follows the states: pending 1000..3000, firing 4000..6000, stale after.
    let v = run
        .env()
        .query("ALERTS{alertstate=\"firing\"}", 6000)
        .unwrap();
    assert_eq!(v.len(), 1);
    assert!(run.env().query("ALERTS", 7000).unwrap().is_empty());
    assert_eq!(
        run.env()
            .query("ALERTS{alertstate=\"pending\"}", 3000)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn for_state_restored_after_restart() {
    let s = storage();
    let run = Run {
        engine: Engine::default(),
        storage: &s,
        labels: Default::default(),
    };
    // Before the restart: pending from 1000, firing at 4000, ALERTS_FOR_STATE = 1 (s).
    let mut before = group();
    before.set_restored();
    for t in (1000..=4000).step_by(1000) {
        write_x(&s, t, 1.0);
        before.eval(&run.env(), t, 1000);
    }
    assert_eq!(alert(&before), Some((AlertState::Firing, 1000)));
    // Down from 4000 to 20000. A fresh group sees the alert as new until the restore
    // (after its first evaluation, as `lookout serve` runs it) takes activeAt back.
    let mut after = group();
    write_x(&s, 20_000, 1.0);
    after.eval(&run.env(), 20_000, 1000);
    assert_eq!(alert(&after), Some((AlertState::Pending, 20_000)));
    after.restore_for_state(&run.env(), 20_000, 3_600_000, 0);
    assert_eq!(alert(&after), Some((AlertState::Pending, 1000)));
    write_x(&s, 21_000, 1.0);
    after.eval(&run.env(), 21_000, 1000);
    assert_eq!(
        alert(&after),
        Some((AlertState::Firing, 1000)),
        "fires at once: its `for` had elapsed before the restart"
    );

    // Without the restore the same restart waits `for` again.
    let mut fresh = group();
    fresh.set_restored();
    for t in [20_000, 21_000, 22_000] {
        fresh.eval(&run.env(), t, 1000);
    }
    assert_eq!(alert(&fresh), Some((AlertState::Pending, 20_000)));
    fresh.eval(&run.env(), 23_000, 1000);
    assert_eq!(alert(&fresh), Some((AlertState::Firing, 20_000)));

    // A pending alert cut short by the restart keeps the part of `for` it had served.
    let s2 = storage();
    let run2 = Run {
        engine: Engine::default(),
        storage: &s2,
        labels: Default::default(),
    };
    let mut before = group();
    before.set_restored();
    for t in [1000, 2000] {
        write_x(&s2, t, 1.0);
        before.eval(&run2.env(), t, 1000);
    }
    let mut after = group();
    write_x(&s2, 10_000, 1.0);
    after.eval(&run2.env(), 10_000, 1000);
    after.restore_for_state(&run2.env(), 10_000, 3_600_000, 0);
    // 1s of `for` served before going down at 2000: 2s remain from 10000.
    assert_eq!(alert(&after), Some((AlertState::Pending, 9000)));
    for t in [11_000, 12_000] {
        write_x(&s2, t, 1.0);
        after.eval(&run2.env(), t, 1000);
    }
    assert_eq!(alert(&after), Some((AlertState::Firing, 9000)));
}
