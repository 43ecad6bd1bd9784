use std::collections::BTreeMap;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn no_query(_: &str) -> Result<Vec<QuerySample>, String> {
    Err("no queries here".into())
}

fn alert(text: &str, value: f64) -> String {
    let url = "http://lookout:9700/prefix";
    let dot = alert_dot(
        labels(&[("instance", "host:9100"), ("job", "node")]),
        &std::sync::Arc::new(labels(&[("cluster", "eu1")])),
        url,
        value,
    );
    expand_alert_text(text, &dot, url, &no_query)
}

#[test]
fn alert_variables_and_fields() {
    assert_eq!(
        alert(
            "{{ $labels.instance }} of {{ .Labels.job }} is {{ $value }}",
            1e6
        ),
        "host:9100 of node is 1e+06"
    );
    assert_eq!(
        alert("{{$externalLabels.cluster}} {{ $externalURL }}", 0.0),
        "eu1 http://lookout:9700/prefix"
    );
    assert_eq!(alert("{{ $labels.missing }}|", 0.0), "|");
    assert_eq!(alert("no actions", 0.0), "no actions");
}

#[test]
fn prometheus_functions() {
    assert_eq!(alert("{{ humanize $value }}", 1234567.0), "1.235M");
    assert_eq!(alert("{{ $value | humanize }}", 0.001234), "1.234m");
    assert_eq!(alert("{{ humanize1024 $value }}", 1048576.0), "1Mi");
    assert_eq!(alert("{{ humanizePercentage $value }}", 0.1234), "12.34%");
    assert_eq!(
        alert("{{ humanizeDuration $value }}", 90061.0),
        "1d 1h 1m 1s"
    );
    assert_eq!(alert("{{ humanizeDuration $value }}", 1.5), "1.5s");
    assert_eq!(alert("{{ humanizeDuration $value }}", 0.05), "50ms");
    assert_eq!(
        alert("{{ humanizeTimestamp $value }}", 1435065584.128),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(alert("{{ printf \"%.2f\" $value }}", 1.23456), "1.23");
    assert_eq!(
        alert(
            "{{ $labels.job | toUpper }} {{ title \"hello world\" }}",
            0.0
        ),
        "NODE Hello World"
    );
    assert_eq!(
        alert("{{ reReplaceAll \":.*\" \"\" $labels.instance }}", 0.0),
        "host"
    );
    assert_eq!(
        alert(
            "{{ reReplaceAll \"(h)ost\" \"${1}x\" $labels.instance }}",
            0.0
        ),
        "hx:9100"
    );
    assert_eq!(alert("{{ stripPort $labels.instance }}", 0.0), "host");
    assert_eq!(alert("{{ pathPrefix }}", 0.0), "/prefix");
}

#[test]
fn control_flow_and_trimming() {
    assert_eq!(
        alert(
            "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}low{{ end }}",
            60.0
        ),
        "mid"
    );
    assert_eq!(alert("a  {{- \" b \" -}}  c", 0.0), "a b c");
    assert_eq!(
        alert(
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            0.0
        ),
        "instance=host:9100;job=node;"
    );
    assert_eq!(
        alert("{{ with $labels.job }}job {{ . }}{{ end }}", 0.0),
        "job node"
    );
    assert_eq!(
        alert(
            "{{ if and (eq $labels.job \"node\") (lt $value 1.0) }}y{{ end }}",
            0.5
        ),
        "y"
    );
    assert_eq!(
        alert("{{/* note */}}{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", 0.0),
        "2"
    );
    assert_eq!(
        alert(
            "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" $labels.job }}",
            0.0
        ),
        "[node]"
    );
}

#[test]
fn query_results() {
    let q = |text: &str| -> Result<Vec<QuerySample>, String> {
        assert_eq!(text, "up");
        Ok(vec![
            QuerySample {
                labels: labels(&[("instance", "b")]),
                value: 0.0,
            },
            QuerySample {
                labels: labels(&[("instance", "a")]),
                value: 1.0,
            },
        ])
    };
    let dot = alert_dot(BTreeMap::new(), &std::sync::Arc::default(), "", 0.0);
    let run = |t: &str| expand_alert_text(t, &dot, "", &q);
    assert_eq!(run("{{ query \"up\" | first | value }}"), "0");
    assert_eq!(
        run("{{ with query \"up\" }}{{ . | first | label \"instance\" }}{{ end }}"),
        "b"
    );
    assert_eq!(run("{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }}={{ .Value }} {{ end }}"), "a=1 b=0 ");
    assert_eq!(run("{{ len (query \"up\") }}"), "2");
}

#[test]
fn errors_are_reported_not_panicked() {
    assert!(Template::parse("{{ .Foo ").is_err());
    assert!(Template::parse("{{ if 1 }}x").is_err());
    assert!(Template::parse("{{ nosuchfunc 1 }}").is_err());
    assert!(Template::parse("{{ end }}").is_err());
    assert!(alert("{{ first 1 }}", 0.0).starts_with("<error expanding template:"));
    assert!(alert("{{ $nope }}", 0.0).starts_with("<error expanding template:"));
}
