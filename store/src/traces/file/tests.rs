use super::*;
use crate::model::span::{ResourceSpans, ScopeSpans, SpanEvent};
use crate::traces::row::rows_of;
use crate::AttrWhere;

fn span(t: u8, s: u8, start_ns: i64) -> Span {
    Span {
        trace_id: [t; 16],
        span_id: [s; 8],
        parent_span_id: (s > 0).then_some([0; 8]),
        name: format!("op{s}"),
        start_ns,
        end_ns: start_ns + 5,
        attributes: vec![
            ("http.method".into(), AttrValue::Str("GET".into())),
            ("n".into(), AttrValue::Int(s as i64)),
            ("http.status_code".into(), AttrValue::Int(200)),
            ("http.route".into(), AttrValue::Str("/x".into())),
        ],
        events: vec![SpanEvent {
            time_ns: start_ns + 1,
            name: "e".into(),
            attributes: vec![],
        }],
        ..Default::default()
    }
}

#[test]
fn written_rows_read_back_exactly_and_prune_by_id_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let batch = vec![ResourceSpans {
        resource: vec![
            ("service.name".into(), AttrValue::Str("api".into())),
            ("host".into(), AttrValue::Str("h".into())),
        ],
        scopes: vec![ScopeSpans {
            scope: Scope {
                name: "lib".into(),
                ..Default::default()
            },
            spans: (0..40u8)
                .map(|i| span(i % 10, i, 1000 + i as i64))
                .collect(),
        }],
    }];
    let mut rows = rows_of(&batch);
    let path = dir.path().join("1.parquet");
    let f = SpanFile::write(&path, (0, 1 << 40), &mut rows.clone()).unwrap();
    assert_eq!(f.rows, 40);
    let f = SpanFile::open(&path).unwrap();
    assert_eq!(f.partition, (0, 1 << 40));
    let mut got = f.read_traces(&[[3; 16]], Part::ALL, None).unwrap();
    let mut want: Vec<SpanRow> = rows
        .iter()
        .filter(|r| r.span.trace_id == [3; 16])
        .cloned()
        .collect();
    got.sort_by_key(|r| r.span.span_id);
    want.sort_by_key(|r| r.span.span_id);
    assert_eq!(got, want);
    assert!(f
        .read_traces(&[[77; 16]], Part::ALL, None)
        .unwrap()
        .is_empty());
    let mut starts = HashMap::new();
    f.trace_starts(None, 1000, 1010, Part::ALL, &mut starts, None)
        .unwrap();
    assert_eq!(starts.len(), 10);
    assert_eq!(starts[&[9; 16]], 1009);
    rows.retain(|r| r.span.start_ns >= 1030);
    let mut got = f.rows_in(1030, 2000).unwrap();
    got.sort_by_key(|r| r.span.start_ns);
    rows.sort_by_key(|r| r.span.start_ns);
    assert_eq!(got, rows);
}

/// Every search path (the staged row filter, the attribute byte search, dedicated
/// columns, a read split in shares) finds exactly the traces a filter over the decoded
/// spans finds.
#[test]
fn searches_find_what_a_filter_over_every_span_finds() {
    use crate::model::span::{SpanKind, StatusCode};
    use crate::{SpanCond, StrMatch};
    use std::collections::HashSet;
    let kinds = [SpanKind::Internal, SpanKind::Server, SpanKind::Client];
    let statuses = [StatusCode::Unset, StatusCode::Ok, StatusCode::Error];
    let mut batch = Vec::new();
    for t in 0..60u8 {
        let spans = (0..20u8)
            .map(|s| {
                let start_ns = 1000 + (t as i64) * 100 + s as i64;
                let mut attributes = vec![
                    (
                        "user.id".into(),
                        AttrValue::Str(format!("u{}", (t as usize * 7 + s as usize) % 13)),
                    ),
                    ("http.route".into(), AttrValue::Str(format!("/r{}", s % 3))),
                    ("n".into(), AttrValue::Int(s as i64)),
                ];
                if s % 4 == 0 {
                    attributes.push(("region".into(), AttrValue::Str("eu".into())));
                }
                Span {
                    trace_id: [t; 16],
                    span_id: [s; 8],
                    name: format!("op{}", s % 5),
                    kind: kinds[(s as usize + t as usize) % 3],
                    status: statuses[(s as usize * 5 + t as usize) % 3],
                    start_ns,
                    end_ns: start_ns + (s as i64 * 37 + t as i64 * 11) % 500,
                    attributes,
                    ..Default::default()
                }
            })
            .collect();
        batch.push(ResourceSpans {
            resource: vec![
                (
                    "service.name".into(),
                    AttrValue::Str(format!("svc{}", t % 3)),
                ),
                (
                    "region".into(),
                    AttrValue::Str(if t % 2 == 0 { "us" } else { "ap" }.into()),
                ),
            ],
            scopes: vec![ScopeSpans {
                scope: Scope::default(),
                spans,
            }],
        });
    }
    let rows = rows_of(&batch);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1.parquet");
    SpanFile::write(&path, (0, 1 << 40), &mut rows.clone()).unwrap();
    let f = SpanFile::open(&path).unwrap();
    let attr = |scope, key: &str, v: &str| SpanCond::Attr {
        scope,
        key: key.into(),
        value: StrMatch::Eq(v.into()),
    };
    let cases: Vec<Vec<SpanCond>> = vec![
        vec![attr(AttrWhere::Span, "user.id", "u1")],
        vec![attr(AttrWhere::Either, "region", "eu")],
        vec![
            attr(AttrWhere::Resource, "region", "us"),
            SpanCond::Status(StatusCode::Error),
        ],
        vec![
            attr(AttrWhere::Span, "http.route", "/r1"),
            SpanCond::Kind(SpanKind::Client),
        ],
        vec![attr(AttrWhere::Either, "service.name", "svc1")],
        vec![SpanCond::service("svc2"), SpanCond::MinDuration(300)],
        vec![
            SpanCond::Name(StrMatch::Eq("op2".into())),
            SpanCond::MaxDuration(200),
            SpanCond::Status(StatusCode::Ok),
        ],
        vec![SpanCond::Attr {
            scope: AttrWhere::Either,
            key: "user.id".into(),
            value: StrMatch::ContainsFold("u1".into()),
        }],
        vec![attr(AttrWhere::Span, "user.id", "nobody")],
    ];
    let (lo, hi) = (1500, 5000);
    let brute = |p: &SpanPredicate| -> HashSet<TraceId> {
        rows.iter()
            .filter(|r| (lo..hi).contains(&r.span.start_ns))
            .filter(|r| p.matches(&r.resource, &r.span))
            .map(|r| r.span.trace_id)
            .collect()
    };
    let preds: Vec<SpanPredicate> = cases.into_iter().map(|all| SpanPredicate { all }).collect();
    // One predicate at a time, then all together (each found on its own).
    for p in &preds {
        let mut found = vec![HashSet::new()];
        f.match_traces(lo, hi, std::slice::from_ref(p), Part::ALL, &mut found, None)
            .unwrap();
        let want = brute(p);
        assert_eq!(found[0], want, "{p:?}");
    }
    for n in [1, 3] {
        let mut found = vec![HashSet::new(); preds.len()];
        for k in 0..n {
            f.match_traces(lo, hi, &preds, Part { k, n }, &mut found, None)
                .unwrap();
        }
        for (p, got) in preds.iter().zip(&found) {
            assert_eq!(*got, brute(p), "{p:?} in {n} shares");
        }
    }
    assert!(!brute(&preds[0]).is_empty() && brute(&preds[8]).is_empty());
}
