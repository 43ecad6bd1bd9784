//! The engine's own tests: WAL replay, cuts, dedupe, retention. Store-level behaviour is
//! in `store/tests/traces.rs`.

use super::*;
use crate::model::span::{Scope, ScopeSpans, Span};

fn batch(service: &str, trace: u8, span: u8, start_ns: i64) -> ResourceSpans {
    ResourceSpans {
        resource: vec![("service.name".into(), AttrValue::Str(service.into()))],
        scopes: vec![ScopeSpans {
            scope: Scope::default(),
            spans: vec![Span {
                trace_id: [trace; 16],
                span_id: [span; 8],
                start_ns,
                end_ns: start_ns + 10,
                attributes: vec![("k".into(), AttrValue::Int(span as i64))],
                ..Default::default()
            }],
        }],
    }
}

fn opts(clock: &Clock) -> SpanOptions {
    SpanOptions {
        partition: 1000,
        cut_interval: i64::MAX,
        clock: clock.clone(),
        ..Default::default()
    }
}

fn span_ids(t: &[ResourceSpans]) -> Vec<u8> {
    let mut v: Vec<u8> = t
        .iter()
        .flat_map(|r| &r.scopes)
        .flat_map(|s| &s.spans)
        .map(|s| s.span_id[0])
        .collect();
    v.sort();
    v
}

#[test]
fn head_and_files_merge_and_resent_spans_appear_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(0);
    let e = SpanEngine::open(dir.path(), opts(&clock)).unwrap();
    e.append(&[batch("a", 1, 1, 100), batch("b", 1, 2, 1500)])
        .unwrap();
    e.cut().unwrap();
    assert_eq!(e.file_usage().1, 2, "one file per partition");
    e.append(&[batch("a", 1, 1, 100), batch("a", 1, 3, 2500)])
        .unwrap();
    let t = e.trace_by_id(&[1; 16], i64::MIN, i64::MAX).unwrap();
    assert_eq!(span_ids(&t), [1, 2, 3]);
    assert_eq!(
        span_ids(&e.trace_by_id(&[1; 16], 2000, 3000).unwrap()),
        [1, 2, 3]
    );
    assert!(e.trace_by_id(&[1; 16], 3000, 4000).unwrap().is_empty());
    assert!(e
        .trace_by_id(&[2; 16], i64::MIN, i64::MAX)
        .unwrap()
        .is_empty());
    let names = e.attribute_names(0, 3000).unwrap();
    assert_eq!(names.resource, ["service.name"]);
    let vals = e
        .attribute_values(SpanAttributeScope::Resource, "service.name", 0, 3000, 0)
        .unwrap();
    assert_eq!(vals.len(), 2);
}

#[test]
fn the_wal_replays_after_a_crash_and_is_empty_after_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(0);
    {
        let e = SpanEngine::open(dir.path(), opts(&clock)).unwrap();
        e.append(&[batch("a", 1, 1, 100)]).unwrap();
        // Dropped without a flush: a crash.
    }
    let e = SpanEngine::open(dir.path(), opts(&clock)).unwrap();
    assert_eq!(e.file_usage().1, 0);
    assert_eq!(
        span_ids(&e.trace_by_id(&[1; 16], i64::MIN, i64::MAX).unwrap()),
        [1]
    );
    e.flush().unwrap();
    assert!(e.state.read().head.is_empty());
    drop(e);
    let e = SpanEngine::open(dir.path(), opts(&clock)).unwrap();
    assert!(
        e.state.read().head.is_empty(),
        "the WAL was truncated by the cut"
    );
    assert_eq!(
        span_ids(&e.trace_by_id(&[1; 16], i64::MIN, i64::MAX).unwrap()),
        [1]
    );
}

#[test]
fn scan_is_newest_first_and_retention_drops_old_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(0);
    let mut o = opts(&clock);
    o.retention_time = 1;
    let e = SpanEngine::open(dir.path(), o).unwrap();
    e.append(&[batch("a", 1, 1, 100), batch("a", 2, 1, 5_000_100)])
        .unwrap();
    e.cut().unwrap();
    e.append(&[batch("a", 3, 1, 500)]).unwrap();
    let mut order = vec![];
    let sel = TraceSelect {
        start_ns: 0,
        end_ns: 6_000_000,
        cancel: None,
        ..Default::default()
    };
    e.scan(&sel, &mut |t| {
        order.push(t[0].scopes[0].spans[0].trace_id[0]);
        true
    })
    .unwrap();
    assert_eq!(order, [2, 3, 1]);
    e.cut().unwrap();
    assert_eq!(e.file_usage().1, 3);
    // At 5 ms with 1 ms retention the horizon is 4 ms: the partition [0, 1000) ns goes,
    // [5 ms, 5 ms + 1000 ns) stays.
    clock.set(5);
    e.maintain().unwrap();
    assert_eq!(e.file_usage().1, 1);
    assert!(e
        .trace_by_id(&[1; 16], i64::MIN, i64::MAX)
        .unwrap()
        .is_empty());
    assert_eq!(
        span_ids(&e.trace_by_id(&[2; 16], i64::MIN, i64::MAX).unwrap()),
        [1]
    );
}

#[test]
fn compaction_keeps_replaced_files_until_their_last_reader_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(0);
    let e = SpanEngine::open(dir.path(), opts(&clock)).unwrap();
    e.append(&[batch("a", 1, 1, 100), batch("a", 2, 1, 200)])
        .unwrap();
    e.cut().unwrap();
    e.append(&[batch("b", 1, 2, 300), batch("a", 2, 1, 200)])
        .unwrap();
    e.cut().unwrap();
    assert_eq!(e.file_usage().1, 2);
    // Not yet past the head window: nothing merged.
    assert_eq!(e.compact_due().unwrap(), 0);
    // A reader holds the files while a compaction replaces them.
    let held = e.all_files();
    clock.set(e.opts.compact_after + 1);
    assert_eq!(e.compact_due().unwrap(), 1);
    assert_eq!(e.file_usage().1, 1);
    assert!(held.iter().all(|f| f.path.exists()));
    assert_eq!(
        held[0]
            .read_traces(&[[1; 16]], super::file::Part::ALL, None)
            .unwrap()
            .len(),
        1
    );
    let paths: Vec<PathBuf> = held.iter().map(|f| f.path.clone()).collect();
    drop(held);
    assert!(
        paths.iter().all(|p| !p.exists()),
        "deleted with the last reader"
    );
    // The re-sent span of trace 2 is kept once; both traces read back whole.
    assert_eq!(e.stats().spans, 3);
    assert_eq!(
        span_ids(&e.trace_by_id(&[1; 16], i64::MIN, i64::MAX).unwrap()),
        [1, 2]
    );
    assert_eq!(
        span_ids(&e.trace_by_id(&[2; 16], i64::MIN, i64::MAX).unwrap()),
        [1]
    );
}
