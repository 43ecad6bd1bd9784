//! The values a PromQL query returns: scalar, string, instant vector and range vector.

use lookout_store::Labels;

/// One float point of a series: milliseconds since the Unix epoch and a value. The same
/// type as the store's sample, so selected samples become points without a copy.
pub type Point = lookout_store::Sample;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// One series of a range vector (matrix), points sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub points: Vec<Point>,
}

/// Prometheus' spelling of a float in label values and messages (Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`): `NaN`, `+Inf`, `-Inf`, otherwise the shortest
/// round-tripping decimal.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        let mut s = String::new();
        crate::promql::float::push_finite(&mut s, v, false);
        s
    }
}

/// A query result.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar {
        t: i64,
        v: f64,
    },
    String {
        t: i64,
        s: String,
    },
    /// An instant vector. Series order is meaningful only after `sort`, `sort_desc`,
    /// `sort_by_label`, `topk` and `bottomk`.
    Vector(Vec<Sample>),
    /// A range vector: what a range query returns (series sorted by labels), or an
    /// instant query of a matrix selector or subquery.
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// Prometheus' `resultType` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}
