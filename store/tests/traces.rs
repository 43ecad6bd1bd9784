//! The span engine through the store's span contract: traces read back identical from the
//! head, from files and from both; trace by id with and without a time range across
//! partitions; scans against a brute-force filter over the same spans; reopen after a
//! flush and after a crash; retention by the store clock; compaction of old partitions,
//! with the same answers before and after, and recovery from a crash in the middle of one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use lookout_store::metrics::TsdbOptions;
use lookout_store::model::span::{
    AttrValue, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanKind, SpanLink, StatusCode,
    TraceId,
};
use lookout_store::{
    AppendSpans, AttrWhere, Clock, ReadSpans, ScanStats, SpanCond, SpanOptions, SpanPredicate,
    Store, StoreOptions, StrMatch, TenantId, TraceSelect,
};
use proptest::prelude::*;

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
            ..Default::default()
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

/// `tests/fixtures/traces-v<N>` is a data directory written by span format version N:
/// traces 0..10 in span files, 10..12 only in the WAL. Write the current version's (only
/// when adding a version) with `LOOKOUT_WRITE_FIXTURES=1 cargo test -p lookout-store --test
/// traces`. Each must stay readable, by id and by a search with span predicates (version 1
/// files have no row group terms, so nothing of them is skipped).
fn check_fixture(version: u32) {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/traces-v{version}"));
    let clock = Clock::fixed(BASE / 1_000_000 + 10 * 3_600_000);
    let t = TenantId::default_tenant();
    let corpus: Vec<(u32, Vec<ResourceSpans>)> = corpus().into_iter().take(12).collect();
    if version == lookout_store::SPAN_FORMAT_VERSION
        && std::env::var_os("LOOKOUT_WRITE_FIXTURES").is_some()
    {
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
        assert_eq!(
            canon(got),
            canon(want.clone()),
            "fixture v{version} trace {n}"
        );
    }
    // Traces 0, 5 and 10 have error spans; 10 is only in the WAL.
    let got = scan_ids(
        &store,
        BASE,
        BASE + 24 * HOUR,
        vec![SpanPredicate {
            all: vec![SpanCond::Status(StatusCode::Error)],
        }],
    )
    .0;
    assert_eq!(got, [tid(10), tid(5), tid(0)], "fixture v{version} search");
}

#[test]
fn span_format_fixtures_stay_readable() {
    assert_eq!(lookout_store::SPAN_FORMAT_VERSION, 2);
    check_fixture(1);
    check_fixture(2);
}

/// Trace ids, (files, row groups, rows, bytes) read, and traces.
type ScanResult = (Vec<TraceId>, (u64, u64, u64, u64), Vec<Vec<ResourceSpans>>);

/// Trace ids a scan of `[start_ns, end_ns)` with `spans` returns, in order, and what it read.
fn scan_ids(store: &Store, start_ns: i64, end_ns: i64, spans: Vec<SpanPredicate>) -> ScanResult {
    let stats = std::sync::Arc::new(ScanStats::default());
    let sel = TraceSelect {
        start_ns,
        end_ns,
        spans,
        stats: Some(stats.clone()),
        ..Default::default()
    };
    let mut ids = Vec::new();
    let mut traces = Vec::new();
    store
        .scan_traces(&TenantId::default_tenant(), &sel, &mut |tr| {
            ids.push(tr[0].scopes[0].spans[0].trace_id);
            traces.push(tr);
            true
        })
        .unwrap();
    (ids, stats.get(), traces)
}

/// The brute-force reading of a predicate list: each is satisfied by some span of the
/// trace starting in the window.
fn satisfies(tr: &[ResourceSpans], preds: &[SpanPredicate], start_ns: i64, end_ns: i64) -> bool {
    preds.iter().all(|p| {
        tr.iter().any(|rs| {
            rs.scopes
                .iter()
                .flat_map(|s| &s.spans)
                .any(|s| (start_ns..end_ns).contains(&s.start_ns) && p.matches(&rs.resource, s))
        })
    })
}

const SERVICES: [&str; 4] = ["cart", "api", "db", "Web"];
const NAMES: [&str; 4] = ["GET /a", "GET /b", "query", "send"];

/// A random trace: `spans` of (service, name, status, kind, duration, attribute values)
/// starting `start` + 7 min per span, so traces cross partitions.
fn random_trace(
    n: u32,
    start: i64,
    spans: &[(usize, usize, u8, u8, i64, u8)],
) -> Vec<ResourceSpans> {
    let mut by_service: BTreeMap<usize, Vec<Span>> = BTreeMap::new();
    for (i, &(svc, name, status, kind, dur, attr)) in spans.iter().enumerate() {
        let s = start + i as i64 * 420_000_000_000;
        let mut attributes = vec![("user".into(), AttrValue::Str(format!("u{}", attr % 5)))];
        if attr % 3 == 0 {
            attributes.push((
                "http.route".into(),
                AttrValue::Str(format!("/r{}", attr % 2)),
            ));
        }
        if attr % 4 == 1 {
            attributes.push(("code".into(), AttrValue::Int(attr as i64)));
        }
        by_service.entry(svc).or_default().push(Span {
            trace_id: tid(n),
            span_id: [i as u8 + 1; 8],
            parent_span_id: (i > 0).then_some([1; 8]),
            name: NAMES[name].into(),
            kind: [SpanKind::Server, SpanKind::Client, SpanKind::Internal][kind as usize % 3],
            status: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error][status as usize % 3],
            start_ns: s,
            end_ns: s + dur,
            attributes,
            ..Default::default()
        });
    }
    by_service
        .into_iter()
        .map(|(svc, spans)| ResourceSpans {
            resource: vec![
                ("service.name".into(), AttrValue::Str(SERVICES[svc].into())),
                ("zone".into(), AttrValue::Str(format!("z{}", svc % 2))),
            ],
            scopes: vec![ScopeSpans {
                scope: Scope::default(),
                spans,
            }],
        })
        .collect()
}

fn cond_strategy() -> impl Strategy<Value = SpanCond> {
    let str_match = |vals: &'static [&'static str]| {
        (0..vals.len(), any::<bool>()).prop_map(move |(i, fold)| {
            if fold {
                StrMatch::ContainsFold(vals[i][..vals[i].len().min(3)].to_lowercase())
            } else {
                StrMatch::Eq(vals[i].to_string())
            }
        })
    };
    let scope = prop_oneof![
        Just(AttrWhere::Resource),
        Just(AttrWhere::Span),
        Just(AttrWhere::Either)
    ];
    prop_oneof![
        str_match(&NAMES).prop_map(SpanCond::Name),
        (0u8..3).prop_map(|s| SpanCond::Status(
            [StatusCode::Unset, StatusCode::Ok, StatusCode::Error][s as usize]
        )),
        (0u8..3).prop_map(|k| SpanCond::Kind(
            [SpanKind::Server, SpanKind::Client, SpanKind::Internal][k as usize]
        )),
        (0i64..2_000).prop_map(SpanCond::MinDuration),
        (0i64..2_000).prop_map(SpanCond::MaxDuration),
        (scope.clone(), str_match(&SERVICES)).prop_map(|(scope, value)| SpanCond::Attr {
            scope,
            key: "service.name".into(),
            value
        }),
        (scope.clone(), str_match(&["u0", "u1", "u4", "u9"])).prop_map(|(scope, value)| {
            SpanCond::Attr {
                scope,
                key: "user".into(),
                value,
            }
        }),
        (scope.clone(), str_match(&["/r0", "/r1", "z0", "z1"])).prop_map(|(scope, value)| {
            SpanCond::Attr {
                scope,
                key: if matches!(&value, StrMatch::Eq(v) | StrMatch::ContainsFold(v) if v.starts_with('z')) {
                    "zone".into()
                } else {
                    "http.route".into()
                },
                value,
            }
        }),
        (scope, (1u8..20).prop_map(|c| StrMatch::ContainsFold(c.to_string()))).prop_map(
            |(scope, value)| SpanCond::Attr {
                scope,
                key: "code".into(),
                value,
            }
        ),
    ]
}

type SpanSpec = (usize, usize, u8, u8, i64, u8);

fn span_spec() -> impl Strategy<Value = SpanSpec> {
    (
        0..4usize,
        0..4usize,
        0u8..3,
        0u8..3,
        0i64..2_000,
        any::<u8>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// A scan with predicates returns exactly the traces (and in the same order) a scan
    /// without them returns and the predicates select, over files of several cuts and
    /// partitions and the head.
    #[test]
    fn predicate_scans_equal_filtered_full_scans(
        traces in prop::collection::vec((0i64..40, prop::collection::vec(span_spec(), 1..6)), 1..40),
        preds in prop::collection::vec(prop::collection::vec(cond_strategy(), 0..3), 1..3),
        window in (0i64..6, 1i64..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), Clock::fixed(BASE / 1_000_000), 0);
        let t = TenantId::default_tenant();
        let cuts = [traces.len() / 3, 2 * traces.len() / 3];
        for (n, (slot, spans)) in traces.iter().enumerate() {
            if cuts.contains(&n) {
                store.flush().unwrap();
            }
            store.append_spans(&t, &random_trace(n as u32, BASE + slot * 600_000_000_000, spans)).unwrap();
        }
        let preds: Vec<SpanPredicate> = preds.into_iter().map(|all| SpanPredicate { all }).collect();
        let (start_ns, end_ns) = (BASE + window.0 * HOUR, BASE + (window.0 + window.1) * HOUR);
        let (all_ids, _, all_traces) = scan_ids(&store, start_ns, end_ns, Vec::new());
        let want: Vec<TraceId> = all_ids
            .iter()
            .zip(&all_traces)
            .filter(|(_, tr)| satisfies(tr, &preds, start_ns, end_ns))
            .map(|(id, _)| *id)
            .collect();
        let (got, _, got_traces) = scan_ids(&store, start_ns, end_ns, preds.clone());
        prop_assert_eq!(&got, &want);
        for tr in got_traces {
            let id = tr[0].scopes[0].spans[0].trace_id;
            let full = &all_traces[all_ids.iter().position(|i| *i == id).unwrap()];
            prop_assert_eq!(canon(tr), canon(full.clone()));
        }
    }
}

#[test]
fn a_rare_service_is_found_reading_only_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Clock::fixed(BASE / 1_000_000), 0);
    let t = TenantId::default_tenant();
    // 12 cuts of 40 traces each, all in one partition; only cut 7 has service "rare".
    let mut n = 0u32;
    for cut in 0..12 {
        for i in 0..40 {
            let svc = if cut == 7 && i == 13 { 3 } else { i % 3 };
            let mut tr = random_trace(n, BASE + n as i64 * 1_000_000, &[(svc, 0, 0, 0, 10, 0)]);
            if svc == 3 {
                tr[0].resource[0].1 = AttrValue::Str("rare".into());
            }
            store.append_spans(&t, &tr).unwrap();
            n += 1;
        }
        store.flush().unwrap();
    }
    // Some more in the head.
    for _ in 0..10 {
        store
            .append_spans(
                &t,
                &random_trace(n, BASE + n as i64 * 1_000_000, &[(0, 0, 0, 0, 10, 0)]),
            )
            .unwrap();
        n += 1;
    }
    let (start_ns, end_ns) = (BASE, BASE + HOUR);
    let rare = vec![SpanPredicate {
        all: vec![SpanCond::service("rare")],
    }];
    let (ids, (files, groups, _, bytes), _) = scan_ids(&store, start_ns, end_ns, rare);
    assert_eq!(ids, [tid(7 * 40 + 13)]);
    // One file, read three times: its matching rows, the trace's newest start, the trace.
    assert_eq!((files, groups), (3, 3), "files and row groups read");
    let (all, (all_files, all_groups, _, all_bytes), _) =
        scan_ids(&store, start_ns, end_ns, Vec::new());
    assert_eq!(all.len(), 490);
    assert!(
        all_files >= 24 && all_groups >= 24,
        "{all_files} {all_groups}"
    );
    assert!(bytes * 4 < all_bytes, "{bytes} vs {all_bytes}");
    // A name no file holds: nothing read at all.
    let none = vec![SpanPredicate {
        all: vec![SpanCond::Name(StrMatch::Eq("absent".into()))],
    }];
    let (ids, (files, ..), _) = scan_ids(&store, start_ns, end_ns, none);
    assert!(ids.is_empty());
    assert_eq!(files, 0);
}

#[test]
fn a_rare_service_is_found_reading_only_its_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Clock::fixed(BASE / 1_000_000), 0);
    let t = TenantId::default_tenant();
    // One file of 50,000 one-span traces: four row groups; trace 30,000 alone is "rare".
    let batch: Vec<ResourceSpans> = (0..50_000u32)
        .flat_map(|n| {
            let mut tr = random_trace(
                n,
                BASE + n as i64 * 1_000,
                &[(n as usize % 3, 0, 0, 0, 10, 0)],
            );
            if n == 30_000 {
                tr[0].resource[0].1 = AttrValue::Str("rare".into());
            }
            tr
        })
        .collect();
    store.append_spans(&t, &batch).unwrap();
    store.flush().unwrap();
    let rare = vec![SpanPredicate {
        all: vec![SpanCond::service("rare")],
    }];
    let (ids, (files, groups, rows, _), _) = scan_ids(&store, BASE, BASE + HOUR, rare);
    assert_eq!(ids, [tid(30_000)]);
    assert_eq!((files, groups), (3, 3), "one row group, read three times");
    assert!(rows <= 3 * 16_384, "{rows} rows");
    let (_, (_, all_groups, ..), _) = scan_ids(
        &store,
        BASE,
        BASE + HOUR,
        vec![SpanPredicate {
            all: vec![SpanCond::Kind(SpanKind::Server)],
        }],
    );
    assert!(
        all_groups >= 4,
        "a predicate every span meets reads every row group"
    );
}

/// The span files of the default tenant: (partition directory, file name), sorted.
fn span_files(root: &Path) -> Vec<(String, String)> {
    let parts = parts_dir(root);
    let mut out = Vec::new();
    for p in std::fs::read_dir(&parts).unwrap().flatten() {
        for f in std::fs::read_dir(p.path()).unwrap().flatten() {
            out.push((
                p.file_name().to_string_lossy().into_owned(),
                f.file_name().to_string_lossy().into_owned(),
            ));
        }
    }
    out.sort();
    out
}

fn parts_dir(root: &Path) -> std::path::PathBuf {
    root.join("tenants")
        .join(TenantId::default_tenant().as_str())
        .join("traces")
        .join("parts")
}

/// Searches with span predicates over the whole corpus: the trace ids and traces found.
fn corpus_searches(store: &Store) -> Vec<(Vec<TraceId>, Vec<Vec<ResourceSpans>>)> {
    let searches = [
        vec![SpanCond::Status(StatusCode::Error)],
        vec![SpanCond::Name(StrMatch::Eq("op-3".into()))],
        vec![SpanCond::service("svc-1"), SpanCond::Kind(SpanKind::Client)],
        vec![SpanCond::Attr {
            scope: AttrWhere::Span,
            key: "http.route".into(),
            value: StrMatch::Eq("/r/2".into()),
        }],
    ];
    searches
        .into_iter()
        .map(|all| {
            let (ids, _, traces) =
                scan_ids(store, BASE, BASE + 10 * HOUR, vec![SpanPredicate { all }]);
            (ids, traces.into_iter().map(canon).collect())
        })
        .collect()
}

fn corpus_spans(corpus: &[(u32, Vec<ResourceSpans>)]) -> u64 {
    corpus.iter().map(|(_, tr)| starts(tr).len() as u64).sum()
}

#[test]
fn compaction_merges_each_old_partition_into_one_file_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    // 10 h after BASE: every partition of the corpus is past its head window.
    let clock = Clock::fixed(BASE / 1_000_000 + 10 * 3_600_000);
    let t = TenantId::default_tenant();
    let corpus = corpus();
    let store = open(dir.path(), clock.clone(), 0);
    for chunk in corpus.chunks(10) {
        for (_, tr) in chunk {
            store.append_spans(&t, tr).unwrap();
        }
        store.flush().unwrap();
    }
    // A batch re-sent after its first copy went into a file: two copies on disk.
    store.append_spans(&t, &corpus[3].1).unwrap();
    store.flush().unwrap();
    let before = span_files(dir.path());
    let parts: BTreeSet<String> = before.iter().map(|f| f.0.clone()).collect();
    assert!(before.len() > 2 * parts.len(), "{before:?}");
    check_all(&store, &corpus, "before compaction");
    let searches = corpus_searches(&store);
    assert!(searches.iter().all(|s| !s.0.is_empty()));
    let distinct = corpus_spans(&corpus);
    assert!(store.tenant_stats(&t).traces.spans > distinct);

    store.maintain();
    let after = span_files(dir.path());
    let after_parts: BTreeSet<String> = after.iter().map(|f| f.0.clone()).collect();
    assert_eq!(
        after.len(),
        parts.len(),
        "one file per partition: {after:?}"
    );
    assert_eq!(after_parts, parts);
    assert!(after.iter().all(|f| f.1.ends_with(".parquet")), "{after:?}");
    check_all(&store, &corpus, "after compaction");
    assert_eq!(
        corpus_searches(&store),
        searches,
        "searches after compaction"
    );
    let stats = store.tenant_stats(&t).traces;
    assert_eq!(stats.spans, distinct, "the re-sent copy is merged away");
    assert_eq!(stats.files, parts.len() as u64);
    // Nothing more to do in a second round.
    store.maintain();
    assert_eq!(span_files(dir.path()), after);
    drop(store);
    let store = open(dir.path(), clock, 0);
    check_all(&store, &corpus, "after compaction and reopen");
    assert_eq!(corpus_searches(&store), searches);
}

#[test]
fn young_partitions_are_not_compacted() {
    let dir = tempfile::tempdir().unwrap();
    // 5 min after the end of the corpus' last partition: inside its head window.
    let last_end = BASE + 8 * HOUR;
    let clock = Clock::fixed(last_end / 1_000_000 + 5 * 60_000);
    let t = TenantId::default_tenant();
    let corpus = corpus();
    let store = open(dir.path(), clock.clone(), 0);
    for chunk in corpus.chunks(5) {
        for (_, tr) in chunk {
            store.append_spans(&t, tr).unwrap();
        }
        store.flush().unwrap();
    }
    let count = |files: &[(String, String)], part: i64| {
        files.iter().filter(|f| f.0 == part.to_string()).count()
    };
    let young = BASE + 6 * HOUR;
    let before = span_files(dir.path());
    assert!(count(&before, young) > 1 && count(&before, BASE) > 1);
    store.maintain();
    let after = span_files(dir.path());
    assert_eq!(count(&after, BASE), 1, "an old partition is merged");
    assert_eq!(count(&after, young), count(&before, young), "{after:?}");
    check_all(&store, &corpus, "partly compacted");
}

#[test]
fn a_compaction_cut_short_by_a_crash_is_recovered_at_open() {
    let clock = Clock::fixed(BASE / 1_000_000 + 10 * 3_600_000);
    let t = TenantId::default_tenant();
    let corpus = corpus();
    let distinct = corpus_spans(&corpus);
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), clock.clone(), 0);
        for chunk in corpus.chunks(20) {
            for (_, tr) in chunk {
                store.append_spans(&t, tr).unwrap();
            }
            store.flush().unwrap();
        }
    }
    // The inputs, as a crash during the compaction would leave them.
    let inputs = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), inputs.path());
    let input_files = span_files(inputs.path());
    {
        let store = open(dir.path(), clock.clone(), 0);
        store.maintain();
    }
    let merged = span_files(dir.path());
    assert!(merged.len() < input_files.len());
    // The compactions' outputs (a partition of one file keeps it).
    let new: Vec<(String, String)> = merged
        .iter()
        .filter(|f| !input_files.contains(f))
        .cloned()
        .collect();
    assert!(!new.is_empty());

    // Crashed while writing: the inputs and a temporary file.
    let a = tempfile::tempdir().unwrap();
    copy_dir(inputs.path(), a.path());
    for (part, name) in &new {
        std::fs::copy(
            parts_dir(dir.path()).join(part).join(name),
            parts_dir(a.path()).join(part).join(format!("{name}.tmp")),
        )
        .unwrap();
    }
    let store = open(a.path(), clock.clone(), 0);
    // (A tenant opens at its first use.)
    check_all(&store, &corpus, "crash before the rename");
    assert_eq!(
        span_files(a.path()),
        input_files,
        "the temporary files are gone"
    );
    assert_eq!(store.tenant_stats(&t).traces.spans, distinct);
    // The next round compacts again.
    store.maintain();
    assert_eq!(span_files(a.path()).len(), merged.len());
    check_all(&store, &corpus, "compacted after the crash");
    drop(store);

    // Crashed after the rename, before the inputs were deleted: both on disk.
    let b = tempfile::tempdir().unwrap();
    copy_dir(inputs.path(), b.path());
    for (part, name) in &new {
        std::fs::copy(
            parts_dir(dir.path()).join(part).join(name),
            parts_dir(b.path()).join(part).join(name),
        )
        .unwrap();
    }
    assert_eq!(span_files(b.path()).len(), input_files.len() + new.len());
    let store = open(b.path(), clock.clone(), 0);
    check_all(&store, &corpus, "crash after the rename");
    assert_eq!(span_files(b.path()), merged, "the replaced inputs are gone");
    assert_eq!(
        store.tenant_stats(&t).traces.spans,
        distinct,
        "no span counted twice"
    );
}

#[test]
fn a_compacted_file_keeps_row_group_summaries_that_prune() {
    let dir = tempfile::tempdir().unwrap();
    let t = TenantId::default_tenant();
    let clock = Clock::fixed(BASE / 1_000_000 + 10 * 3_600_000);
    let store = open(dir.path(), clock, 0);
    // 40,000 one-span traces in four cuts of one partition; trace 30,000 alone is "rare".
    for cut in 0..4u32 {
        let batch: Vec<ResourceSpans> = (cut * 10_000..(cut + 1) * 10_000)
            .flat_map(|n| {
                let mut tr = random_trace(
                    n,
                    BASE + n as i64 * 1_000,
                    &[(n as usize % 3, 0, 0, 0, 10, 0)],
                );
                if n == 30_000 {
                    tr[0].resource[0].1 = AttrValue::Str("rare".into());
                }
                tr
            })
            .collect();
        store.append_spans(&t, &batch).unwrap();
        store.flush().unwrap();
    }
    let rare = vec![SpanPredicate {
        all: vec![SpanCond::service("rare")],
    }];
    let (ids_before, _, traces_before) = scan_ids(&store, BASE, BASE + HOUR, rare.clone());
    store.maintain();
    assert_eq!(span_files(dir.path()).len(), 1);
    assert_eq!(store.tenant_stats(&t).traces.spans, 40_000);
    let (ids, (files, groups, rows, _), traces) = scan_ids(&store, BASE, BASE + HOUR, rare);
    assert_eq!(ids, [tid(30_000)]);
    assert_eq!(ids, ids_before);
    assert_eq!(traces, traces_before);
    // 40,000 rows are three row groups; the summaries rule out all but one.
    assert_eq!((files, groups), (3, 3), "one row group, read three times");
    assert!(rows <= 3 * 16_384, "{rows} rows");
}
