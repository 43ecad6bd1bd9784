//! Parser tests: one per construct, the canonical form every query prints back to, and
//! errors with positions.

use super::ast::*;
use super::*;

fn ok(q: &str) -> Query {
    match parse_detailed(q) {
        Ok(v) => v,
        Err(e) => panic!("{q}: {e}"),
    }
}

/// Parses `q`, checks it prints as `canonical`, and that the canonical form parses to
/// the same tree.
fn canon(q: &str, canonical: &str) {
    let tree = ok(q);
    assert_eq!(tree.to_string(), canonical, "{q}");
    assert_eq!(ok(canonical), tree, "{canonical} re-parsed");
}

fn err(q: &str) -> String {
    match parse_detailed(q) {
        Ok(v) => panic!("{q} parsed as {v}"),
        Err(e) => e.message,
    }
}

fn filter(q: &str) -> FieldExpr {
    match ok(q).pipeline.source {
        SpansetExpr::Filter(e) => e,
        other => panic!("{q}: not a filter: {other:?}"),
    }
}

#[test]
fn empty_filter_and_intrinsics() {
    canon("{}", "{ }");
    canon("{ duration > 100ms }", "{ (span:duration > 100ms) }");
    canon("{ name = \"GET /\" }", "{ (span:name = \"GET /\") }");
    canon("{ status = error }", "{ (span:status = error) }");
    canon("{ kind = server }", "{ (span:kind = server) }");
    canon("{ span:status != ok }", "{ (span:status != ok) }");
    canon(
        "{ traceDuration >= 1.5s }",
        "{ (trace:duration >= 1500ms) }",
    );
    canon(
        "{ rootServiceName = `a\\b` }",
        "{ (trace:rootService = \"a\\\\b\") }",
    );
    canon(
        "{ trace:rootName =~ \"GET.*\" }",
        "{ (trace:rootName =~ \"GET.*\") }",
    );
    canon(
        "{ event:name = \"exception\" }",
        "{ (event:name = \"exception\") }",
    );
    canon(
        "{ statusMessage != nil }",
        "{ (span:statusMessage != nil) }",
    );
    canon("{ childCount = 0 }", "{ (span:childCount = 0) }");
}

#[test]
fn attributes_of_every_scope() {
    let cases = [
        (
            "{ .http.status_code = 200 }",
            AttributeScope::Unscoped,
            false,
            "http.status_code",
        ),
        (
            "{ span.http.method = \"GET\" }",
            AttributeScope::Span,
            false,
            "http.method",
        ),
        (
            "{ resource.service.name = \"a\" }",
            AttributeScope::Resource,
            false,
            "service.name",
        ),
        (
            "{ event.exception.message = \"x\" }",
            AttributeScope::Event,
            false,
            "exception.message",
        ),
        (
            "{ link.opentracing.ref_type = \"x\" }",
            AttributeScope::Link,
            false,
            "opentracing.ref_type",
        ),
        (
            "{ instrumentation.lib = \"x\" }",
            AttributeScope::Instrumentation,
            false,
            "lib",
        ),
        ("{ parent.span.x = 1 }", AttributeScope::Span, true, "x"),
        (
            "{ parent.resource.x = 1 }",
            AttributeScope::Resource,
            true,
            "x",
        ),
        ("{ parent.x = 1 }", AttributeScope::Unscoped, true, "x"),
        (
            "{ span.\"with space\" = 1 }",
            AttributeScope::Span,
            false,
            "with space",
        ),
        (
            "{ .k8s-pod/name:x = 1 }",
            AttributeScope::Unscoped,
            false,
            "k8s-pod/name:x",
        ),
    ];
    for (q, scope, parent, name) in cases {
        let FieldExpr::Binary { lhs, .. } = filter(q) else {
            panic!("{q}")
        };
        assert_eq!(
            *lhs,
            FieldExpr::Attribute(Attribute {
                scope,
                parent,
                name: name.into()
            }),
            "{q}"
        );
        let printed = ok(q).to_string();
        assert_eq!(ok(&printed), ok(q), "{q} → {printed}");
    }
}

#[test]
fn literals() {
    let v = |q: &str| match filter(&format!("{{ .a = {q} }}")) {
        FieldExpr::Binary { rhs, .. } => *rhs,
        e => panic!("{e:?}"),
    };
    assert_eq!(v("42"), FieldExpr::Static(Static::Int(42)));
    assert_eq!(v("-42"), FieldExpr::Static(Static::Int(-42)));
    assert_eq!(v("1.5"), FieldExpr::Static(Static::Float(1.5)));
    assert_eq!(v(".5"), FieldExpr::Static(Static::Float(0.5)));
    assert_eq!(v("1e3"), FieldExpr::Static(Static::Float(1000.0)));
    assert_eq!(v("true"), FieldExpr::Static(Static::Bool(true)));
    assert_eq!(v("nil"), FieldExpr::Static(Static::Nil));
    assert_eq!(
        v("\"a\\\"b\\n\""),
        FieldExpr::Static(Static::Str("a\"b\n".into()))
    );
    assert_eq!(
        v("`raw\\n`"),
        FieldExpr::Static(Static::Str("raw\\n".into()))
    );
    assert_eq!(v("150us"), FieldExpr::Static(Static::Duration(150_000)));
    assert_eq!(
        v("2m"),
        FieldExpr::Static(Static::Duration(120_000_000_000))
    );
    assert_eq!(
        v("1h"),
        FieldExpr::Static(Static::Duration(3_600_000_000_000))
    );
    assert_eq!(
        v("client"),
        FieldExpr::Static(Static::Kind(SpanKind::Client))
    );
    assert_eq!(
        v("unset"),
        FieldExpr::Static(Static::Status(SpanStatus::Unset))
    );
}

#[test]
fn field_operator_precedence() {
    canon(
        "{ .a = 1 || .b = 2 && .c = 3 }",
        "{ ((.a = 1) || ((.b = 2) && (.c = 3))) }",
    );
    canon("{ .a + .b * 2 > 10 }", "{ ((.a + (.b * 2)) > 10) }");
    canon("{ 2 ^ 3 ^ 2 = .x }", "{ ((2 ^ (3 ^ 2)) = .x) }");
    canon("{ (.a + .b) * 2 = 4 }", "{ (((.a + .b) * 2) = 4) }");
    canon("{ !(.a = 1) }", "{ !(.a = 1) }");
    canon("{ .a - 1 % 2 != 0 }", "{ ((.a - (1 % 2)) != 0) }");
    canon(
        "{ .a !~ \"x.*\" && .b =~ \"y\" }",
        "{ ((.a !~ \"x.*\") && (.b =~ \"y\")) }",
    );
    canon("{ .flag }", "{ .flag }");
}

#[test]
fn spanset_operators() {
    canon("{ .a = 1 } && { .b = 2 }", "({ (.a = 1) } && { (.b = 2) })");
    canon(
        "{ .a = 1 } || { .b = 2 } && { .c = 3 }",
        "({ (.a = 1) } || ({ (.b = 2) } && { (.c = 3) }))",
    );
    for op in [
        ">", "<", ">>", "<<", "~", "!>", "!<", "!>>", "!<<", "!~", "&>", "&<", "&>>", "&<<", "&~",
    ] {
        let q = format!("{{ .a = 1 }} {op} {{ .b = 2 }}");
        let SpansetExpr::Binary { op: got, .. } = ok(&q).pipeline.source else {
            panic!("{q}")
        };
        assert_eq!(got.as_str(), op, "{q}");
    }
    // Structural operators bind tighter than &&.
    canon(
        "{ } > { .a = 1 } && { } >> { .b = 2 }",
        "(({ } > { (.a = 1) }) && ({ } >> { (.b = 2) }))",
    );
    canon(
        "({ .a = 1 } || { .b = 2 }) > { }",
        "(({ (.a = 1) } || { (.b = 2) }) > { })",
    );
}

#[test]
fn pipelines() {
    canon("{ } | count() > 2", "{ } | count() > 2");
    canon(
        "{ } | avg(duration) >= 1s",
        "{ } | avg(span:duration) >= 1s",
    );
    canon(
        "{ } | max(span.bytes) - min(span.bytes) > 10",
        "{ } | (max(span.bytes) - min(span.bytes)) > 10",
    );
    canon(
        "{ } | by(resource.service.name) | count() > 1 | coalesce()",
        "{ } | by(resource.service.name) | count() > 1 | coalesce()",
    );
    canon(
        "{ status = error } | select(span.http.url, duration)",
        "{ (span:status = error) } | select(span.http.url, span:duration)",
    );
    canon("{ } | { .a = 1 }", "{ } | { (.a = 1) }");
    canon(
        "({ } | count() > 1) && { .b = 2 }",
        "(({ } | count() > 1) && { (.b = 2) })",
    );
    canon("{ } | 3 < count()", "{ } | 3 < count()");
}

#[test]
fn metrics_functions() {
    canon("{ } | rate()", "{ } | rate()");
    canon(
        "{ status = error } | rate() by (resource.service.name)",
        "{ (span:status = error) } | rate() by (resource.service.name)",
    );
    canon(
        "{ } | count_over_time() by (name, kind)",
        "{ } | count_over_time() by (span:name, span:kind)",
    );
    canon(
        "{ } | quantile_over_time(duration, .5, .99, 1) by (.x)",
        "{ } | quantile_over_time(span:duration, 0.5, 0.99, 1.0) by (.x)",
    );
    for f in [
        "min_over_time",
        "max_over_time",
        "avg_over_time",
        "sum_over_time",
        "histogram_over_time",
    ] {
        canon(
            &format!("{{ }} | {f}(duration)"),
            &format!("{{ }} | {f}(span:duration)"),
        );
    }
    canon(
        "{ } | compare({ status = error }, 10)",
        "{ } | compare({ (span:status = error) }, 10)",
    );
    canon("{ } | rate() | topk(5)", "{ } | rate() | topk(5)");
    canon(
        "{ } | rate() by (.a) | bottomk(2)",
        "{ } | rate() by (.a) | bottomk(2)",
    );
}

#[test]
fn hints() {
    canon(
        "{ } | rate() with (sample=true, most_recent=0.5)",
        "{ } | rate() with (sample=true, most_recent=0.5)",
    );
}

#[test]
fn errors_name_what_is_wrong_and_where() {
    let e = parse_detailed("{ .a = }").unwrap_err();
    assert_eq!(e.pos, 7);
    assert!(e.message.contains("unexpected }"), "{}", e.message);
    assert!(err("{ .a = 1").contains("expecting }"));
    assert!(err("{ .a = \"x }").contains("not closed"));
    assert!(err("{ foo = 1 }").contains("unknown intrinsic \"foo\""));
    assert!(err("{ spam.x = 1 }").contains("unknown attribute scope"));
    assert!(err("{ .a = 5 parsecs }").contains("expecting }"));
    assert!(err("{ duration > 5days }").contains("unknown duration unit"));
    assert!(err("{ } | rate() | count() > 1").contains("last stage"));
    assert!(err("{ } | topk(3)").contains("follow a metrics function"));
    assert!(err("{ } | rate() | rate()").contains("one metrics function"));
    assert!(err("{ } | quantile_over_time(duration)").contains("at least one quantile"));
    assert!(err("{ } | quantile_over_time(duration, 2)").contains("outside [0, 1]"));
    assert!(err("{ } | frobnicate()").contains("unknown function"));
    assert!(err("{ } extra").contains("expecting end of query"));
    assert!(err("{ . = 1 }").contains("attribute name is missing"));
    assert!(err("{ .a = 1 } #").contains("unexpected character"));
    let full = parse("{ .a = }").unwrap_err().to_string();
    assert_eq!(
        full,
        "parse error at line 1, col 8: syntax error: unexpected }, expecting a value"
    );
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    for n in [MAX_DEPTH * 2, 100_000] {
        let q = format!("{{ {}.a = 1{} }}", "(".repeat(n), ")".repeat(n));
        assert!(err(&q).contains("nests deeper"), "{n} parens");
        let q = format!("{}{{ }}{}", "(".repeat(n), ")".repeat(n));
        assert!(err(&q).contains("nests deeper"), "{n} pipeline groups");
        let q = format!("{{ {}true }}", "!".repeat(n));
        assert!(err(&q).contains("nests deeper"), "{n} nots");
        let q = format!("{{ .a = 2{} }}", "^2".repeat(n));
        assert!(err(&q).contains("nests deeper"), "{n} powers");
    }
    // Long flat chains are fine: they loop, not recurse.
    let q = format!("{{ .a = 1{} }}", " || .a = 1".repeat(5_000));
    ok(&q);
    let q = format!("{{ }}{}", " && { }".repeat(5_000));
    ok(&q);
    // Nesting within the bound parses.
    let n = MAX_DEPTH / 2 - 2;
    ok(&format!("{{ {}.a = 1{} }}", "(".repeat(n), ")".repeat(n)));
}

#[test]
fn never_panics_on_arbitrary_bytes() {
    use proptest::prelude::*;
    proptest!(|(s in "[{}()|&!<>=~.\"`a-z0-9 :,^*/%+-]{0,40}")| {
        let _ = parse_detailed(&s);
    });
    proptest!(|(s in "\\PC{0,30}")| {
        let _ = parse_detailed(&s);
    });
}
