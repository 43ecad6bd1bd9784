//! OTLP metrics as Prometheus series, by the rules of Prometheus' OTLP receiver (the
//! `UnderscoreEscapingWithSuffixes` strategy): names and label names with every character
//! but `[a-zA-Z0-9_:]` as `_`, the unit as a suffix (`_seconds`, `_bytes`, `_ratio` for
//! unit `1` gauges), `_total` on monotonic sums; `job` from `service.namespace` /
//! `service.name` and `instance` from `service.instance.id`; histograms as `_bucket{le}`,
//! `_sum` and `_count`, summaries as `{quantile}`, `_sum` and `_count`.
//!
//! Delta sums and histograms and exponential histograms have no Prometheus series by
//! default and are counted as refused (a partial success), as Prometheus does.

use std::collections::BTreeMap;

use lookout_store::{Labels, Sample, SeriesSamples};

use crate::otlp::logs::{as_string, label_name};
use crate::otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::proto::common::v1::KeyValue;
use crate::otlp::proto::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, NumberDataPoint,
};

/// What a request became: the series, and the data points that have no series.
#[derive(Debug, Default)]
pub struct Translated {
    pub series: Vec<SeriesSamples>,
    pub refused: i64,
    pub reason: Option<String>,
}

/// A metric name with the characters Prometheus allows.
fn metric_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// The suffix of an OTLP unit (UCUM), empty for none or an annotation like `{requests}`.
fn unit_suffix(unit: &str, gauge: bool) -> String {
    let unit = unit.split('{').next().unwrap_or("").trim();
    let word = |u: &str| -> String {
        match u {
            "d" => "days".into(),
            "h" => "hours".into(),
            "min" => "minutes".into(),
            "s" => "seconds".into(),
            "ms" => "milliseconds".into(),
            "us" => "microseconds".into(),
            "ns" => "nanoseconds".into(),
            "By" => "bytes".into(),
            "KiBy" => "kibibytes".into(),
            "MiBy" => "mebibytes".into(),
            "GiBy" => "gibibytes".into(),
            "KBy" => "kilobytes".into(),
            "MBy" => "megabytes".into(),
            "GBy" => "gigabytes".into(),
            "m" => "meters".into(),
            "V" => "volts".into(),
            "A" => "amperes".into(),
            "J" => "joules".into(),
            "W" => "watts".into(),
            "g" => "grams".into(),
            "Cel" => "celsius".into(),
            "Hz" => "hertz".into(),
            "%" => "percent".into(),
            other => metric_name(other).trim_matches('_').to_string(),
        }
    };
    match unit {
        "" => String::new(),
        "1" if gauge => "ratio".into(),
        "1" => String::new(),
        u => match u.split_once('/') {
            Some((a, b)) => {
                let (a, b) = (word(a), word(b));
                match (a.is_empty(), b.is_empty()) {
                    (true, true) => String::new(),
                    (false, true) => a,
                    (true, false) => format!("per_{b}"),
                    (false, false) => format!("{a}_per_{b}"),
                }
            }
            None => word(u),
        },
    }
}

/// The Prometheus name of an OTLP metric of this kind.
fn full_name(name: &str, unit: &str, gauge: bool, counter: bool) -> String {
    let mut n = metric_name(name);
    let suffix = unit_suffix(unit, gauge);
    if !suffix.is_empty() && !n.ends_with(&format!("_{suffix}")) {
        n.push('_');
        n.push_str(&suffix);
    }
    if counter && !n.ends_with("_total") {
        n.push_str("_total");
    }
    n
}

fn attrs(kvs: &[KeyValue], into: &mut BTreeMap<String, String>) {
    for kv in kvs {
        let v = kv.value.as_ref().map(as_string).unwrap_or_default();
        if v.is_empty() {
            continue;
        }
        into.insert(label_name(&kv.key), v);
    }
}

/// `job` and `instance` from the resource.
fn resource_labels(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    let get = |k: &str| {
        kvs.iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.as_ref())
            .map(as_string)
            .filter(|v| !v.is_empty())
    };
    let mut out = BTreeMap::new();
    if let Some(name) = get("service.name") {
        let job = match get("service.namespace") {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        };
        out.insert("job".to_string(), job);
    }
    if let Some(id) = get("service.instance.id") {
        out.insert("instance".to_string(), id);
    }
    out
}

fn ms(time_unix_nano: u64) -> i64 {
    (time_unix_nano / 1_000_000) as i64
}

fn number(p: &NumberDataPoint) -> Option<f64> {
    match p.value? {
        number_data_point::Value::AsDouble(v) => Some(v),
        number_data_point::Value::AsInt(v) => Some(v as f64),
    }
}

/// Prometheus' text for a bucket bound.
fn le(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".into()
    } else {
        format!("{bound}")
    }
}

struct Out<'a> {
    base: &'a BTreeMap<String, String>,
    series: Vec<SeriesSamples>,
}

impl Out<'_> {
    fn push(
        &mut self,
        name: &str,
        point: &[KeyValue],
        extra: Option<(&str, String)>,
        t: i64,
        v: f64,
    ) {
        let mut labels = self.base.clone();
        attrs(point, &mut labels);
        if let Some((k, val)) = extra {
            labels.insert(k.to_string(), val);
        }
        labels.insert("__name__".to_string(), name.to_string());
        self.series.push(SeriesSamples {
            labels: Labels::from_pairs(labels),
            samples: vec![Sample::new(t, v)],
        });
    }
}

/// Translates a request.
pub fn translate(req: &ExportMetricsServiceRequest) -> Translated {
    let mut refused = 0i64;
    let mut reason = None;
    let mut series = Vec::new();
    let cumulative = AggregationTemporality::Cumulative as i32;
    for rm in &req.resource_metrics {
        let base = rm
            .resource
            .as_ref()
            .map(|r| resource_labels(&r.attributes))
            .unwrap_or_default();
        let mut out = Out {
            base: &base,
            series: Vec::new(),
        };
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                match &m.data {
                    Some(Data::Gauge(g)) => {
                        let name = full_name(&m.name, &m.unit, true, false);
                        for p in &g.data_points {
                            if let Some(v) = number(p) {
                                out.push(&name, &p.attributes, None, ms(p.time_unix_nano), v);
                            }
                        }
                    }
                    Some(Data::Sum(s))
                        if s.aggregation_temporality != cumulative && s.is_monotonic =>
                    {
                        refused += s.data_points.len() as i64;
                        reason = Some(format!("{}: delta sums have no Prometheus series", m.name));
                    }
                    Some(Data::Sum(s)) => {
                        let name = full_name(&m.name, &m.unit, !s.is_monotonic, s.is_monotonic);
                        for p in &s.data_points {
                            if let Some(v) = number(p) {
                                out.push(&name, &p.attributes, None, ms(p.time_unix_nano), v);
                            }
                        }
                    }
                    Some(Data::Histogram(h)) if h.aggregation_temporality != cumulative => {
                        refused += h.data_points.len() as i64;
                        reason = Some(format!(
                            "{}: delta histograms have no Prometheus series",
                            m.name
                        ));
                    }
                    Some(Data::Histogram(h)) => {
                        let name = full_name(&m.name, &m.unit, false, false);
                        for p in &h.data_points {
                            let t = ms(p.time_unix_nano);
                            let mut acc = 0u64;
                            for (i, c) in p.bucket_counts.iter().enumerate() {
                                acc += c;
                                let bound =
                                    p.explicit_bounds.get(i).copied().unwrap_or(f64::INFINITY);
                                if bound == f64::INFINITY && i < p.explicit_bounds.len() {
                                    continue;
                                }
                                out.push(
                                    &format!("{name}_bucket"),
                                    &p.attributes,
                                    Some(("le", le(bound))),
                                    t,
                                    acc as f64,
                                );
                            }
                            if p.bucket_counts.is_empty() {
                                out.push(
                                    &format!("{name}_bucket"),
                                    &p.attributes,
                                    Some(("le", le(f64::INFINITY))),
                                    t,
                                    p.count as f64,
                                );
                            }
                            if let Some(sum) = p.sum {
                                out.push(&format!("{name}_sum"), &p.attributes, None, t, sum);
                            }
                            out.push(
                                &format!("{name}_count"),
                                &p.attributes,
                                None,
                                t,
                                p.count as f64,
                            );
                        }
                    }
                    Some(Data::Summary(s)) => {
                        let name = full_name(&m.name, &m.unit, false, false);
                        for p in &s.data_points {
                            let t = ms(p.time_unix_nano);
                            for q in &p.quantile_values {
                                out.push(
                                    &name,
                                    &p.attributes,
                                    Some(("quantile", le(q.quantile))),
                                    t,
                                    q.value,
                                );
                            }
                            out.push(&format!("{name}_sum"), &p.attributes, None, t, p.sum);
                            out.push(
                                &format!("{name}_count"),
                                &p.attributes,
                                None,
                                t,
                                p.count as f64,
                            );
                        }
                    }
                    Some(Data::ExponentialHistogram(e)) => {
                        refused += e.data_points.len() as i64;
                        reason = Some(format!(
                            "{}: exponential histograms are not translated",
                            m.name
                        ));
                    }
                    None => {}
                }
            }
        }
        series.append(&mut out.series);
    }
    Translated {
        series,
        refused,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::proto::common::v1::{any_value, AnyValue};
    use crate::otlp::proto::metrics::v1::{
        Gauge, Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics, Sum,
    };
    use crate::otlp::proto::resource::v1::Resource;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
        }
    }

    fn point(v: f64) -> NumberDataPoint {
        NumberDataPoint {
            attributes: vec![kv("http.method", "GET")],
            time_unix_nano: 1_700_000_000_000_000_000,
            value: Some(number_data_point::Value::AsDouble(v)),
            ..Default::default()
        }
    }

    #[test]
    fn prometheus_names_and_labels() {
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "shop"), kv("service.instance.id", "i-1")],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        Metric {
                            name: "http.server.duration".into(),
                            unit: "ms".into(),
                            data: Some(Data::Histogram(Histogram {
                                data_points: vec![HistogramDataPoint {
                                    time_unix_nano: 1_700_000_000_000_000_000,
                                    count: 3,
                                    sum: Some(12.0),
                                    bucket_counts: vec![1, 2, 0],
                                    explicit_bounds: vec![5.0, 10.0],
                                    ..Default::default()
                                }],
                                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            })),
                            ..Default::default()
                        },
                        Metric {
                            name: "requests".into(),
                            unit: "{request}".into(),
                            data: Some(Data::Sum(Sum {
                                data_points: vec![point(7.0)],
                                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                                is_monotonic: true,
                            })),
                            ..Default::default()
                        },
                        Metric {
                            name: "cpu.utilization".into(),
                            unit: "1".into(),
                            data: Some(Data::Gauge(Gauge {
                                data_points: vec![point(0.5)],
                            })),
                            ..Default::default()
                        },
                        Metric {
                            name: "delta".into(),
                            data: Some(Data::Sum(Sum {
                                data_points: vec![point(1.0)],
                                aggregation_temporality: AggregationTemporality::Delta as i32,
                                is_monotonic: true,
                            })),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let t = translate(&req);
        assert_eq!(t.refused, 1);
        let text: Vec<String> = t
            .series
            .iter()
            .map(|s| {
                format!(
                    "{:?} {}",
                    s.labels
                        .iter()
                        .map(|l| format!("{}={}", l.name, l.value))
                        .collect::<Vec<_>>(),
                    s.samples[0].v
                )
            })
            .collect();
        let has = |needle: &str| {
            assert!(
                text.iter().any(|t| t.contains(needle)),
                "{needle} not in {text:#?}"
            );
        };
        has("__name__=http_server_duration_milliseconds_bucket");
        has("le=+Inf");
        has("__name__=requests_total");
        has("__name__=cpu_utilization_ratio");
        has("http_method=GET");
        has("job=shop");
        has("instance=i-1");
        let buckets: Vec<f64> = t
            .series
            .iter()
            .filter(|s| s.labels.iter().any(|l| l.value.ends_with("_bucket")))
            .map(|s| s.samples[0].v)
            .collect();
        assert_eq!(buckets, [1.0, 3.0, 3.0]);
        assert_eq!(t.series[0].samples[0].t, 1_700_000_000_000);
    }
}
