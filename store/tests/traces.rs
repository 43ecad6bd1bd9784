//! The span engine through the store's span contract: traces read back identical from the
//! head, from files and from both; trace by id with and without a time range across
//! partitions; scans against a brute-force filter over the same spans; reopen after a
//! flush and after a crash; retention by the store clock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use lookout_store::metrics::TsdbOptions;
use lookout_store::model::span::{
    AttrValue, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanKind, SpanLink, StatusCode,
    TraceId,
};
use lookout_store::{
    AppendSpans, Clock, ReadSpans, SpanOptions, Store, StoreOptions, TenantId, TraceSelect,
};

const HOUR: i64 = 3_600_000_000_000;
/// A partition-aligned base time (a multiple of 2h), ns.
const BASE: i64 = 236_112 * 2 * HOUR;

fn open(dir: &Path, clock: Clock, retention_ms: i64) -> Store {
    Store::open(
        dir,
        StoreOptions {
            tsdb: TsdbOptions {
                retention_time: retention_ms,
                clock,
                ..Default::default()
            },
            traces: SpanOptions {
                cut_interval: i64::MAX,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap()
}

fn tid(n: u32) -> TraceId {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.wrapping_mul(2_654_435_761).to_be_bytes());
    id[12..].copy_from_slice(&n.to_be_bytes());
    id
}

/// Trace `n`: `spans` spans from two services, the first starting at `start`, each 10 min
/// after the previous (so long traces cross partitions), with attributes, events, links.
fn trace(n: u32, spans: u8, start: i64) -> Vec<ResourceSpans> {
    let mut by_service: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    for i in 0..spans {
        let s = start + i as i64 * 600_000_000_000;
        by_service
            .entry(format!("svc-{}", i % 2))
            .or_default()
            .push(Span {
                trace_id: tid(n),
                span_id: [i + 1; 8],
                parent_span_id: (i > 0).then_some([i; 8]),
                trace_state: if i == 0 { "a=b".into() } else { String::new() },
                name: format!("op-{}", (n as u8).wrapping_add(i) % 7),
                kind: if i == 0 {
                    SpanKind::Server
                } else {
                    SpanKind::Client
                },
                start_ns: s,
                end_ns: s + 1_000 * (n as i64 + 1),
                status: if n.is_multiple_of(5) {
                    StatusCode::Error
                } else {
                    StatusCode::Unset
                },
                status_message: if n.is_multiple_of(5) {
                    "boom".into()
                } else {
                    String::new()
                },
                attributes: vec![
                    ("http.method".into(), AttrValue::Str("GET".into())),
                    ("http.route".into(), AttrValue::Str(format!("/r/{}", n % 3))),
                    (
                        "http.status_code".into(),
                        AttrValue::Int(200 + (n % 2) as i64),
                    ),
                    ("n".into(), AttrValue::Int(n as i64)),
                    ("f".into(), AttrValue::Float(0.5)),
                    ("tags".into(), AttrValue::Array(vec![AttrValue::Bool(true)])),
                ],
                events: vec![SpanEvent {
                    time_ns: s + 5,
                    name: "ev".into(),
                    attributes: vec![("e".into(), AttrValue::Str("x".into()))],
                }],
                links: if i == 1 {
                    vec![SpanLink {
                        trace_id: tid(n + 1),
                        span_id: [9; 8],
                        trace_state: String::new(),
                        attributes: vec![("l".into(), AttrValue::Int(1))],
                    }]
                } else {
                    vec![]
                },
            });
    }
    by_service
        .into_iter()
        .map(|(svc, spans)| ResourceSpans {
            resource: vec![
                ("service.name".into(), AttrValue::Str(svc)),
                ("host.name".into(), AttrValue::Str("h1".into())),
            ],
            scopes: vec![ScopeSpans {
                scope: Scope {
                    name: "lib".into(),
                    version: "1.0".into(),
                    attributes: vec![],
                },
                spans,
            }],
        })
        .collect()
}

/// A trace in a canonical order: resources by service, spans by start.
fn canon(mut t: Vec<ResourceSpans>) -> Vec<ResourceSpans> {
    for rs in &mut t {
        for ss in &mut rs.scopes {
            ss.spans.sort_by_key(|s| (s.start_ns, s.span_id));
        }
    }
    t.sort_by(|a, b| a.service_name().cmp(&b.service_name()));
    t
}

/// 60 traces of 1..=6 spans over about 6 hours.
fn corpus() -> Vec<(u32, Vec<ResourceSpans>)> {
    (0..60u32)
        .map(|n| {
            (
                n,
                trace(n, (n % 6) as u8 + 1, BASE + n as i64 * 360_000_000_000),
            )
        })
        .collect()
}

fn starts(t: &[ResourceSpans]) -> Vec<i64> {
    t.iter()
        .flat_map(|r| &r.scopes)
        .flat_map(|s| &s.spans)
        .map(|s| s.start_ns)
        .collect()
}

fn check_all(store: &Store, corpus: &[(u32, Vec<ResourceSpans>)], when: &str) {
    let t = TenantId::default_tenant();
    for (n, want) in corpus {
        let got = store.trace_by_id(&t, &tid(*n), i64::MIN, i64::MAX).unwrap();
        assert_eq!(canon(got), canon(want.clone()), "{when}: trace {n}");
        // With a range holding only its last span: still the whole trace.
        let last = *starts(want).iter().max().unwrap();
        let got = store.trace_by_id(&t, &tid(*n), last, last + 1).unwrap();
        assert_eq!(
            canon(got),
            canon(want.clone()),
            "{when}: trace {n} by its last span"
        );
        assert!(
            store
                .trace_by_id(&t, &tid(*n), last + 1, last + HOUR)
                .unwrap()
                .is_empty(),
            "{when}: trace {n} outside its range"
        );
    }
    assert!(store
        .trace_by_id(&t, &tid(10_000), i64::MIN, i64::MAX)
        .unwrap()
        .is_empty());
    // Scans against brute force, over windows that cut partitions.
    for (lo, hi) in [(0, 8), (1, 2), (3, 5), (5, 9)] {
        let (start_ns, end_ns) = (BASE + lo * HOUR + HOUR / 3, BASE + hi * HOUR);
        let want: BTreeSet<TraceId> = corpus
            .iter()
            .filter(|(_, tr)| starts(tr).iter().any(|s| (start_ns..end_ns).contains(s)))
            .map(|(n, _)| tid(*n))
            .collect();
        let mut got = Vec::new();
        let mut newest = Vec::new();
        let sel = TraceSelect {
            start_ns,
            end_ns,
            cancel: None,
        };
        store
            .scan_traces(&t, &sel, &mut |tr| {
                got.push(tr[0].scopes[0].spans[0].trace_id);
                let in_range = starts(&tr)
                    .into_iter()
                    .filter(|s| (start_ns..end_ns).contains(s))
                    .max();
                newest.push(in_range.unwrap_or(i64::MIN));
                let (n, full) = corpus
                    .iter()
                    .find(|(n, _)| tid(*n) == tr[0].scopes[0].spans[0].trace_id)
                    .unwrap();
                assert_eq!(canon(tr), canon(full.clone()), "{when}: scanned trace {n}");
                true
            })
            .unwrap();
        let got_set: BTreeSet<TraceId> = got.iter().copied().collect();
        assert_eq!(got.len(), got_set.len(), "{when}: a trace scanned twice");
        assert_eq!(got_set, want, "{when}: scan [{lo}h, {hi}h)");
        assert!(
            newest.windows(2).all(|w| w[0] >= w[1]),
            "{when}: not newest first"
        );
    }
    let names = store.span_attribute_names(&t, i64::MIN, i64::MAX).unwrap();
    assert_eq!(names.resource, ["host.name", "service.name"], "{when}");
    assert_eq!(
        names.span,
        [
            "f",
            "http.method",
            "http.route",
            "http.status_code",
            "n",
            "tags"
        ],
        "{when}"
    );
    assert_eq!(names.event, ["e"]);
    assert_eq!(names.link, ["l"]);
    let routes = store
        .span_attribute_values(
            &t,
            lookout_store::SpanAttributeScope::Span,
            "http.route",
            i64::MIN,
            i64::MAX,
            0,
        )
        .unwrap();
    assert_eq!(routes.len(), 3, "{when}: {routes:?}");
}

#[test]
fn traces_read_back_whole_from_head_files_and_both_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(BASE / 1_000_000 + 10 * 3_600_000);
    let t = TenantId::default_tenant();
    let corpus = corpus();
    let (first, second) = corpus.split_at(30);
    {
        let store = open(dir.path(), clock.clone(), 0);
        for (_, tr) in first {
            store.append_spans(&t, tr).unwrap();
        }
        check_all(&store, first, "head only");
        store.flush().unwrap();
        check_all(&store, first, "files only");
        for (_, tr) in second {
            store.append_spans(&t, tr).unwrap();
        }
        // A re-sent batch, and a trace continued in the head after its start was flushed.
        store.append_spans(&t, &first[3].1).unwrap();
        check_all(&store, &corpus, "head and files");
        // Dropped without a flush: a crash; the second half is only in the WAL.
    }
    let store = open(dir.path(), clock.clone(), 0);
    check_all(&store, &corpus, "after a crash");
    store.flush().unwrap();
    drop(store);
    let store = open(dir.path(), clock.clone(), 0);
    check_all(&store, &corpus, "after a flush and reopen");
}

#[test]
fn retention_drops_partitions_older_than_the_clock_allows() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::fixed(BASE / 1_000_000 + 3_600_000);
    let t = TenantId::default_tenant();
    // Retention one day: trace 1 in the first partition, trace 2 a day later.
    let store = open(dir.path(), clock.clone(), 24 * 3_600_000);
    store.append_spans(&t, &trace(1, 2, BASE)).unwrap();
    store
        .append_spans(&t, &trace(2, 2, BASE + 24 * HOUR))
        .unwrap();
    store.flush().unwrap();
    store.maintain();
    assert_eq!(
        store
            .trace_by_id(&t, &tid(1), i64::MIN, i64::MAX)
            .unwrap()
            .len(),
        2,
        "young data stays"
    );
    clock.set(BASE / 1_000_000 + 27 * 3_600_000);
    store.maintain();
    assert!(store
        .trace_by_id(&t, &tid(1), i64::MIN, i64::MAX)
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .trace_by_id(&t, &tid(2), i64::MIN, i64::MAX)
            .unwrap()
            .len(),
        2
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// `tests/fixtures/traces-v1` is a data directory written by span format version 1: traces
/// 0..10 in span files, 10..12 only in the WAL. Rewrite it (only when adding a version) with
/// `LOOKOUT_WRITE_FIXTURES=1 cargo test -p lookout-store --test traces`.
#[test]
fn span_format_v1_fixture_stays_readable() {
    assert_eq!(lookout_store::SPAN_FORMAT_VERSION, 1);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traces-v1");
    let clock = Clock::fixed(BASE / 1_000_000 + 10 * 3_600_000);
    let t = TenantId::default_tenant();
    let corpus: Vec<(u32, Vec<ResourceSpans>)> = corpus().into_iter().take(12).collect();
    if std::env::var_os("LOOKOUT_WRITE_FIXTURES").is_some() {
        let _ = std::fs::remove_dir_all(&fixture);
        let store = open(&fixture, clock.clone(), 0);
        for (_, tr) in &corpus[..10] {
            store.append_spans(&t, tr).unwrap();
        }
        store.flush().unwrap();
        for (_, tr) in &corpus[10..] {
            store.append_spans(&t, tr).unwrap();
        }
        drop(store);
        let _ = std::fs::remove_file(fixture.join("lock"));
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture, dir.path());
    let store = open(dir.path(), clock, 0);
    for (n, want) in &corpus {
        let got = store.trace_by_id(&t, &tid(*n), i64::MIN, i64::MAX).unwrap();
        assert_eq!(canon(got), canon(want.clone()), "fixture trace {n}");
    }
}
