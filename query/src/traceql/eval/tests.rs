//! The evaluator over one hand-built trace (a checkout request calling auth, a database
//! and a cache), one test per construct: which spans each query picks.

use lookout_store::model::span::{
    AttrValue, ResourceSpans, Scope, ScopeSpans, Span, SpanEvent, SpanKind, SpanLink, StatusCode,
};

use super::*;
use crate::traceql::parse;

const MS: i64 = 1_000_000;

fn span(id: u8, parent: Option<u8>, name: &str, kind: SpanKind, start: i64, dur: i64) -> Span {
    Span {
        trace_id: [7; 16],
        span_id: [id; 8],
        parent_span_id: parent.map(|p| [p; 8]),
        name: name.into(),
        kind,
        start_ns: 1_000 * MS + start * MS,
        end_ns: 1_000 * MS + (start + dur) * MS,
        ..Default::default()
    }
}

fn resource(service: &str, extra: &[(&str, &str)], spans: Vec<Span>) -> ResourceSpans {
    let mut resource = vec![("service.name".to_string(), AttrValue::Str(service.into()))];
    for (k, v) in extra {
        resource.push((k.to_string(), AttrValue::Str(v.to_string())));
    }
    ResourceSpans {
        resource,
        scopes: vec![ScopeSpans {
            scope: Scope {
                name: "lib".into(),
                version: "1.2".into(),
                attributes: vec![],
            },
            spans,
        }],
    }
}

fn checkout() -> Vec<ResourceSpans> {
    let mut root = span(1, None, "GET /checkout", SpanKind::Server, 0, 500);
    root.status = StatusCode::Ok;
    root.attributes = vec![
        ("http.status_code".into(), AttrValue::Int(200)),
        ("http.method".into(), AttrValue::Str("GET".into())),
    ];
    let auth = span(2, Some(1), "auth", SpanKind::Client, 10, 50);
    let mut db = span(4, Some(1), "db.query", SpanKind::Client, 70, 300);
    db.attributes = vec![("db.system".into(), AttrValue::Str("postgres".into()))];
    let mut cache = span(6, Some(1), "cache", SpanKind::Client, 380, 5);
    cache.links = vec![SpanLink {
        trace_id: [9; 16],
        span_id: [9; 8],
        trace_state: String::new(),
        attributes: vec![("ref".into(), AttrValue::Str("follows".into()))],
    }];
    let mut verify = span(3, Some(2), "verify", SpanKind::Server, 15, 40);
    verify.status = StatusCode::Error;
    verify.status_message = "bad token".into();
    verify.events = vec![SpanEvent {
        time_ns: 1_000 * MS + 20 * MS,
        name: "exception".into(),
        attributes: vec![("exception.message".into(), AttrValue::Str("boom".into()))],
    }];
    let select = span(5, Some(4), "SELECT", SpanKind::Internal, 80, 280);
    vec![
        resource("frontend", &[], vec![root, auth, db, cache]),
        resource("auth", &[], vec![verify]),
        resource("db", &[("deployment.environment", "prod")], vec![select]),
    ]
}

/// The names of the spans of every spanset `q` yields over the checkout trace.
fn names(q: &str) -> Vec<Vec<String>> {
    let data = checkout();
    let t = TraceView::new(&data);
    let search = Search::new(parse(q).unwrap_or_else(|e| panic!("{q}: {e}")))
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    search
        .run(&t)
        .iter()
        .map(|ss| {
            let mut v: Vec<String> = ss
                .spans
                .iter()
                .map(|&i| t.spans[i].span.name.clone())
                .collect();
            v.sort();
            v
        })
        .collect()
}

/// The names of the spans `q` picks, over all spansets.
fn picks(q: &str) -> Vec<String> {
    let mut v: Vec<String> = names(q).into_iter().flatten().collect();
    v.sort();
    v.dedup();
    v
}

fn set(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn intrinsics() {
    assert_eq!(picks("{ status = error }"), set(&["verify"]));
    assert_eq!(picks("{ status = ok }"), set(&["GET /checkout"]));
    assert_eq!(picks("{ kind = internal }"), set(&["SELECT"]));
    assert_eq!(
        picks("{ duration > 100ms }"),
        set(&["GET /checkout", "db.query", "SELECT"])
    );
    assert_eq!(
        picks("{ duration >= 5ms && duration <= 5ms }"),
        set(&["cache"])
    );
    assert_eq!(picks("{ statusMessage = \"bad token\" }"), set(&["verify"]));
    assert_eq!(
        picks("{ rootServiceName = \"frontend\" && childCount = 0 }"),
        set(&["verify", "SELECT", "cache"])
    );
    assert_eq!(
        picks("{ rootName = \"GET /checkout\" && traceDuration = 500ms }").len(),
        6
    );
    assert_eq!(picks("{ span:parentID = nil }"), set(&["GET /checkout"]));
    assert_eq!(
        picks("{ span:id = \"0303030303030303\" }"),
        set(&["verify"])
    );
    assert_eq!(
        picks("{ trace:id = \"07070707070707070707070707070707\" }").len(),
        6
    );
    assert_eq!(
        picks("{ instrumentation:name = \"lib\" && instrumentation:version = \"1.2\" }").len(),
        6
    );
}

#[test]
fn attributes_types_and_nil() {
    assert_eq!(
        picks("{ span.http.status_code = 200 }"),
        set(&["GET /checkout"])
    );
    assert_eq!(
        picks("{ .http.status_code >= 200.0 }"),
        set(&["GET /checkout"])
    );
    // A string never equals an integer.
    assert!(picks("{ .http.status_code = \"200\" }").is_empty());
    // Unscoped reads the span, then its resource.
    assert_eq!(
        picks("{ .deployment.environment = \"prod\" }"),
        set(&["SELECT"])
    );
    assert!(picks("{ span.deployment.environment = \"prod\" }").is_empty());
    assert_eq!(
        picks("{ resource.service.name = \"frontend\" && duration > 100ms }"),
        set(&["GET /checkout", "db.query"])
    );
    // Missing attributes: only `= nil` finds them; `!=` a value does not.
    assert_eq!(picks("{ .db.system != nil }"), set(&["db.query"]));
    assert_eq!(picks("{ span.db.system = nil }").len(), 5);
    assert_eq!(picks("{ .db.system != \"mysql\" }"), set(&["db.query"]));
}

#[test]
fn regexes_are_fully_anchored() {
    assert!(picks("{ name =~ \"db\" }").is_empty());
    assert_eq!(picks("{ name =~ \"db.*\" }"), set(&["db.query"]));
    assert_eq!(picks("{ name =~ \"auth|cache\" }"), set(&["auth", "cache"]));
    assert_eq!(picks("{ name !~ \".*[a-z].*\" }"), set(&["SELECT"]));
    let bad = Search::new(parse("{ name =~ \"(\" }").unwrap());
    assert!(matches!(bad, Err(Error::BadData(m)) if m.contains("invalid regex")));
}

#[test]
fn arithmetic() {
    assert_eq!(
        picks("{ .http.status_code - 100 = 100 }"),
        set(&["GET /checkout"])
    );
    assert_eq!(
        picks("{ duration * 2 > 1s - 1ms }"),
        set(&["GET /checkout"])
    );
    assert_eq!(
        picks("{ .http.status_code / 2 = 100 && .http.status_code % 7 = 4 }"),
        set(&["GET /checkout"])
    );
    assert_eq!(picks("{ 2 ^ 3 = 8 && name = \"cache\" }"), set(&["cache"]));
    assert_eq!(
        picks("{ !(kind = client) && duration < 50ms }"),
        set(&["verify"])
    );
}

#[test]
fn events_links_and_parents() {
    assert_eq!(
        picks("{ event:name = \"exception\" && event.exception.message = \"boom\" }"),
        set(&["verify"])
    );
    assert!(picks("{ event.exception.message = \"nope\" }").is_empty());
    assert_eq!(picks("{ event:timeSinceStart = 5ms }"), set(&["verify"]));
    assert_eq!(picks("{ link.ref = \"follows\" }"), set(&["cache"]));
    assert_eq!(
        picks("{ link:traceID = \"09090909090909090909090909090909\" }"),
        set(&["cache"])
    );
    assert_eq!(
        picks("{ parent.db.system = \"postgres\" }"),
        set(&["SELECT"])
    );
    assert_eq!(
        picks("{ parent.resource.service.name = \"frontend\" && kind = server }"),
        set(&["verify"])
    );
}

#[test]
fn logical_spanset_operators() {
    assert_eq!(
        picks("{ status = error } && { name = \"cache\" }"),
        set(&["verify", "cache"])
    );
    assert!(picks("{ status = error } && { name = \"nope\" }").is_empty());
    assert_eq!(
        picks("{ status = error } || { name = \"nope\" }"),
        set(&["verify"])
    );
    assert!(picks("{ name = \"x\" } || { name = \"y\" }").is_empty());
}

#[test]
fn structural_operators() {
    let root = "{ name = \"GET /checkout\" }";
    assert_eq!(
        picks(&format!("{root} > {{ kind = client }}")),
        set(&["auth", "db.query", "cache"])
    );
    assert_eq!(
        picks(&format!("{root} >> {{ kind = server }}")),
        set(&["verify"])
    );
    assert_eq!(picks("{ status = error } < { }"), set(&["auth"]));
    assert_eq!(
        picks("{ status = error } << { }"),
        set(&["auth", "GET /checkout"])
    );
    assert_eq!(
        picks("{ name = \"auth\" } ~ { }"),
        set(&["db.query", "cache"])
    );
    assert!(picks(&format!("{root} !> {{ kind = client }}")).is_empty());
    assert_eq!(picks("{ name = \"auth\" } !> { }").len(), 5);
    assert_eq!(
        picks("{ name = \"auth\" } !>> { kind = server }"),
        set(&["GET /checkout"])
    );
    assert_eq!(
        picks("{ kind = internal } !<< { kind = client }"),
        set(&["auth", "cache"])
    );
    assert_eq!(
        picks("{ name = \"auth\" } !~ { kind = client }"),
        set(&["auth"])
    );
    assert_eq!(
        picks("{ name = \"auth\" } &> { status = error }"),
        set(&["auth", "verify"])
    );
    assert_eq!(
        picks("{ name = \"SELECT\" } &< { }"),
        set(&["SELECT", "db.query"])
    );
    assert_eq!(
        picks("{ kind = internal } &<< { }"),
        set(&["SELECT", "db.query", "GET /checkout"])
    );
    assert_eq!(
        picks(&format!("{root} &>> {{ status = error }}")),
        set(&["GET /checkout", "verify"])
    );
    assert_eq!(
        picks("{ name = \"auth\" } &~ { name = \"cache\" }"),
        set(&["auth", "cache"])
    );
    // Nothing related: no match at all.
    assert!(picks("{ name = \"cache\" } > { }").is_empty());
}

#[test]
fn pipelines() {
    assert_eq!(
        names("{ kind = client } | count() > 2"),
        [set(&["auth", "cache", "db.query"])]
    );
    assert!(names("{ kind = client } | count() > 3").is_empty());
    assert_eq!(names("{ } | avg(duration) > 190ms").len(), 1);
    assert!(names("{ } | avg(duration) > 200ms").is_empty());
    assert_eq!(names("{ } | max(duration) = 500ms").len(), 1);
    assert_eq!(names("{ } | sum(span.http.status_code) = 200").len(), 1);
    assert_eq!(names("{ } | min(duration) - 1ms < 5ms").len(), 1);
    assert_eq!(
        names("{ } | by(resource.service.name)"),
        [
            set(&["verify"]),
            set(&["SELECT"]),
            set(&["GET /checkout", "auth", "cache", "db.query"])
        ]
    );
    assert_eq!(
        names("{ } | by(resource.service.name) | count() > 1"),
        [set(&["GET /checkout", "auth", "cache", "db.query"])]
    );
    assert_eq!(
        names("{ } | by(resource.service.name) | coalesce()").len(),
        1
    );
    assert_eq!(
        names("{ } | by(resource.service.name) | coalesce()")[0].len(),
        6
    );
    assert_eq!(
        names("{ kind = client } | { duration < 10ms }"),
        [set(&["cache"])]
    );
    assert_eq!(
        names("({ kind = client } | count() > 2) && { status = error }"),
        [set(&["auth", "cache", "db.query", "verify"])]
    );
}

#[test]
fn by_values_and_shown_attributes() {
    let data = checkout();
    let t = TraceView::new(&data);
    let s = Search::new(parse("{ } | by(kind) | count() = 1").unwrap()).unwrap();
    let sets = s.run(&t);
    let by: Vec<String> = sets.iter().map(|ss| ss.by[0].1.render()).collect();
    assert_eq!(by, ["internal"]);
    assert_eq!(sets[0].by[0].0, "span:kind");

    let s = Search::new(
        parse("{ .http.status_code = 200 } | select(span.http.method, resource.service.name)")
            .unwrap(),
    )
    .unwrap();
    let sets = s.run(&t);
    let shown = s.shown_attributes(&t, sets[0].spans[0]);
    assert_eq!(
        shown,
        [
            ("http.status_code".to_string(), Value::Int(200)),
            ("http.method".to_string(), Value::Str("GET".into())),
            ("service.name".to_string(), Value::Str("frontend".into())),
        ]
    );
}

#[test]
fn metrics_are_not_search() {
    let e = Search::new(parse("{ } | rate()").unwrap());
    assert!(matches!(e, Err(Error::BadData(m)) if m.contains("query_range")));
}

#[test]
fn broken_traces_do_not_loop() {
    // A parent cycle and a missing parent: still answers.
    let mut a = span(1, Some(2), "a", SpanKind::Server, 0, 10);
    let b = span(2, Some(1), "b", SpanKind::Server, 0, 10);
    a.status = StatusCode::Error;
    let orphan = span(3, Some(99), "orphan", SpanKind::Server, 0, 10);
    let data = vec![resource("x", &[], vec![a, b, orphan])];
    let t = TraceView::new(&data);
    let s = Search::new(parse("{ status = error } >> { }").unwrap()).unwrap();
    let got: Vec<usize> = s.run(&t).into_iter().flat_map(|ss| ss.spans).collect();
    assert_eq!(got, [0, 1]);
    assert_eq!(t.root, None);
}
