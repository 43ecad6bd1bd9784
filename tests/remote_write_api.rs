//! `POST /api/v1/write`: status codes and the reasons given for every rejection.

mod common;

use common::*;

const M: &str = "rw_test";

fn one(pairs: &[(&str, &str)]) -> Vec<u8> {
    encode(&request(vec![series(pairs, &[(BASE_MS, 1.0)])]))
}

#[track_caller]
fn assert_rejected(srv: &Server, body: Vec<u8>, code: u16, needles: &[&str]) {
    let (got, text) = srv.post_write_raw(body, &[]);
    assert_eq!(got, code, "body: {text}");
    for n in needles {
        assert!(
            text.to_lowercase().contains(&n.to_lowercase()),
            "{code} reason {text:?} should mention {n:?}"
        );
    }
}

#[test]
fn valid_write_is_204_and_stored() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let samples = [
        (BASE_MS, 1.5),
        (BASE_MS + 15_000, -2.25),
        (BASE_MS + 30_000, 1e-3),
    ];
    let (code, body) = srv.write(&request(vec![series(
        &[("__name__", M), ("instance", "a:1"), ("job", "j")],
        &samples,
    )]));
    assert_eq!(code, 204, "{body}");
    assert!(body.is_empty(), "204 with a body: {body:?}");
    let got = srv.export(&format!("{M}{{job=\"j\"}}"), None);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].labels,
        lmap(&[("__name__", M), ("instance", "a:1"), ("job", "j")])
    );
    assert_eq!(got[0].samples, samples.to_vec());
}

#[test]
fn special_float_values_are_stored() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let samples = [
        (BASE_MS, f64::NAN),
        (BASE_MS + 1, f64::INFINITY),
        (BASE_MS + 2, f64::NEG_INFINITY),
        (BASE_MS + 3, f64::MAX),
        (BASE_MS + 4, f64::MIN_POSITIVE),
        (BASE_MS + 5, 5e-324),
    ];
    srv.write_ok(&request(vec![series(&[("__name__", M)], &samples)]));
    let (code, body) = srv.get(&format!("/api/v1/export?match[]={M}"), None);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""NaN","+Inf","-Inf""#), "{body}");
    let got = parse_export(&body);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples.len(), samples.len());
    assert!(got[0].samples[0].1.is_nan());
    for (g, w) in got[0].samples.iter().zip(&samples).skip(1) {
        assert_eq!(g.0, w.0);
        assert_bits(g.1, w.1, "special value");
    }
}

#[test]
fn bad_bodies_are_400_with_the_reason() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);

    assert_rejected(&srv, b"definitely not snappy".to_vec(), 400, &["snappy"]);
    let not_proto = snap::raw::Encoder::new()
        .compress_vec(b"\xff\xff\xff\xff this is not protobuf")
        .unwrap();
    assert_rejected(&srv, not_proto, 400, &["protobuf"]);
    assert_rejected(
        &srv,
        one(&[("job", "a")]),
        400,
        &["no metric name", "__name__"],
    );
    assert_rejected(
        &srv,
        one(&[("__name__", ""), ("job", "a")]),
        400,
        &["empty metric name"],
    );
    assert_rejected(
        &srv,
        one(&[("__name__", M), ("", "a")]),
        400,
        &["label name is empty"],
    );
    // Over the label limits (Prometheus' and Mimir's names, each named in the message).
    assert_rejected(
        &srv,
        one(&[("__name__", M), ("v", &"x".repeat(10 << 20))]),
        400,
        &["limits.max_label_value_length"],
    );
    assert_rejected(
        &srv,
        one(&[("__name__", M), (&"n".repeat(2000), "a")]),
        400,
        &["limits.max_label_name_length"],
    );
    let wide: Vec<(String, String)> = (0..20_000)
        .map(|i| (format!("l{i:05}"), "v".to_string()))
        .collect();
    let mut wide: Vec<(&str, &str)> = wide.iter().map(|(n, v)| (&**n, &**v)).collect();
    wide.insert(0, ("__name__", M));
    assert_rejected(
        &srv,
        one(&wide),
        400,
        &["limits.max_label_names_per_series"],
    );
    assert_rejected(
        &srv,
        one(&[("__name__", M), ("a", "1"), ("a", "2")]),
        400,
        &["duplicate", "\"a\""],
    );
    assert_rejected(
        &srv,
        one(&[("__name__", M), ("z", "1"), ("a", "2")]),
        400,
        &["not sorted"],
    );

    // A request with one bad series stores none of it.
    let mixed = encode(&request(vec![
        series(&[("__name__", M), ("ok", "1")], &[(BASE_MS, 1.0)]),
        series(&[("job", "nameless")], &[(BASE_MS, 1.0)]),
    ]));
    assert_rejected(&srv, mixed, 400, &["no metric name"]);

    // Nothing from any rejected request was stored.
    let (code, v) = srv.get_json(
        &format!("/api/v1/series?match[]={}", enc("{__name__=~\".+\"}")),
        None,
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["data"],
        serde_json::json!([]),
        "rejected requests left series behind"
    );
}

#[test]
fn size_limits_are_413() {
    let dir = TestDir::new();
    let cfg = "limits:\n  max_body_size: 16KiB\n  max_decoded_body_size: 8KiB\n";
    let srv = Server::start(&dir.data(), Some(cfg));

    // Compressed body over max_body_size: incompressible sample values.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noisy: Vec<(i64, f64)> = (0..3000)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (BASE_MS + i * 1000, f64::from_bits(x >> 2))
        })
        .collect();
    let big = encode(&request(vec![series(&[("__name__", M)], &noisy)]));
    assert!(big.len() > 16 << 10, "test body too small: {}", big.len());
    let (code, text) = srv.post_write_raw(big, &[]);
    assert_eq!(code, 413, "{text}");

    // Small compressed body that decodes past max_decoded_body_size.
    let same: Vec<(i64, f64)> = (0..2000).map(|_| (BASE_MS, 1.0)).collect();
    let bomb = encode(&request(vec![series(&[("__name__", M)], &same)]));
    assert!(
        bomb.len() < 16 << 10,
        "compressed body should fit: {}",
        bomb.len()
    );
    let (code, text) = srv.post_write_raw(bomb, &[]);
    assert_eq!(code, 413, "{text}");
    assert!(
        text.contains("decompressed") && text.contains("8192"),
        "{text}"
    );

    // Under both limits: accepted.
    let (code, text) = srv.write(&request(vec![series(
        &[("__name__", M)],
        &[(BASE_MS, 2.0)],
    )]));
    assert_eq!(code, 204, "{text}");
    let got = srv.export(M, None);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].samples,
        vec![(BASE_MS, 2.0)],
        "rejected bodies must not be stored"
    );
}

#[test]
fn remote_write_2_and_other_encodings_are_415() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let body = one(&[("__name__", M)]);
    let (code, text) = srv.post_write_raw(
        body.clone(),
        &[
            (
                "Content-Type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            ),
            ("X-Prometheus-Remote-Write-Version", "2.0.0"),
        ],
    );
    assert_eq!(code, 415, "{text}");
    assert!(text.contains("2.0"), "{text}");

    // remote_write 1.0 named explicitly is accepted.
    let (code, text) = srv.post_write_raw(
        one(&[("__name__", "rw_v1_explicit")]),
        &[(
            "Content-Type",
            "application/x-protobuf;proto=prometheus.WriteRequest",
        )],
    );
    assert_eq!(code, 204, "{text}");
    assert_eq!(srv.export("rw_v1_explicit", None).len(), 1);

    let (code, text) = srv.post_write_raw(body.clone(), &[("Content-Encoding", "gzip")]);
    assert_eq!(code, 415, "{text}");
    assert!(text.contains("gzip"), "{text}");

    let got = srv.export(M, None);
    assert!(got.is_empty(), "415 requests stored data: {got:?}");
}

#[test]
fn exemplars_and_metadata_are_accepted() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let mut ts = series(&[("__name__", M), ("job", "ex")], &[(BASE_MS, 42.5)]);
    ts.exemplars.push(Exemplar {
        labels: labels(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]),
        value: 42.5,
        timestamp: BASE_MS,
    });
    let req = WriteRequest {
        timeseries: vec![ts],
        metadata: vec![MetricMetadata {
            r#type: 1,
            metric_family_name: M.into(),
            help: "a counter".into(),
            unit: "seconds".into(),
        }],
    };
    let (code, text) = srv.write(&req);
    assert_eq!(code, 204, "{text}");
    let got = srv.export(M, None);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, lmap(&[("__name__", M), ("job", "ex")]));
    assert_eq!(got[0].samples, vec![(BASE_MS, 42.5)]);

    // Metadata only (no series) is a valid request too.
    let meta_only = WriteRequest {
        timeseries: vec![],
        metadata: req.metadata.clone(),
    };
    let (code, text) = srv.write(&meta_only);
    assert_eq!(code, 204, "{text}");
}

#[test]
fn native_histograms_are_refused_but_float_samples_kept() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let mut h = series(&[("__name__", "rw_hist")], &[]);
    h.histograms.push(vec![0x08, 0x01]);
    let req = request(vec![
        series(&[("__name__", M), ("job", "f")], &[(BASE_MS, 3.0)]),
        h,
    ]);
    let (code, text) = srv.write(&req);
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("native histogram"), "{text}");
    let got = srv.export(M, None);
    assert_eq!(
        got.len(),
        1,
        "the float samples of the request should be stored"
    );
    assert_eq!(got[0].samples, vec![(BASE_MS, 3.0)]);
}

#[test]
fn labels_with_empty_values_are_dropped() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    let (code, text) = srv.write(&request(vec![series(
        &[("__name__", M), ("a", ""), ("b", "x"), ("c", "")],
        &[(BASE_MS, 1.0)],
    )]));
    assert_eq!(code, 204, "{text}");
    // The same series written without the empty labels is the same series.
    srv.write_ok(&request(vec![series(
        &[("__name__", M), ("b", "x")],
        &[(BASE_MS + 1000, 2.0)],
    )]));
    let got = srv.export(M, None);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].labels, lmap(&[("__name__", M), ("b", "x")]));
    assert_eq!(got[0].samples, vec![(BASE_MS, 1.0), (BASE_MS + 1000, 2.0)]);
    let names = srv.api_data("/api/v1/labels", None);
    assert_eq!(names, serde_json::json!(["__name__", "b"]));
}

/// Prometheus 3's name rule, one for label and metric names: any non-empty UTF-8.
#[test]
fn utf8_label_and_metric_names_are_accepted() {
    let dir = TestDir::new();
    let srv = Server::start(&dir.data(), None);
    srv.write_ok(&request(vec![
        series(&[("__name__", "0bad"), ("é", "1")], &[(BASE_MS, 1.0)]),
        series(
            &[("__name__", "rw.dotted"), ("a-b", "2")],
            &[(BASE_MS, 2.0)],
        ),
    ]));
    let got = srv.export("{__name__=~\".+\"}", None);
    let labels: Vec<_> = got.iter().map(|s| s.labels.clone()).collect();
    assert_eq!(
        labels,
        vec![
            lmap(&[("__name__", "0bad"), ("é", "1")]),
            lmap(&[("__name__", "rw.dotted"), ("a-b", "2")]),
        ]
    );
    // The label values endpoint takes such names, escaped as Grafana sends them.
    assert_eq!(
        srv.api_data("/api/v1/label/U___e9_/values", None),
        serde_json::json!(["1"])
    );
    assert_eq!(
        srv.api_data("/api/v1/label/a-b/values", None),
        serde_json::json!(["2"])
    );
}
