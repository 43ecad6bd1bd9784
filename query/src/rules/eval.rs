//! What a rule evaluation reads from and writes to: the engine and a [`Queryable`] to query,
//! a [`Sink`] for recorded series, and the labels and URL alerts carry. The same rules run
//! against the store in `lookout serve` and against an in-memory storage in
//! `lookout test rules`.

use std::collections::BTreeMap;

use lookout_store::{Labels, SeriesSamples};

use super::expr::{LogSource, RuleExpr};
use super::template::QuerySample;
use crate::promql::{Engine, Queryable, Value};

/// Where rule output goes: the store's append path, or a test's memory.
pub trait Sink: Sync {
    fn append(&self, batch: &[SeriesSamples]) -> Result<(), String>;
}

/// Everything one evaluation needs besides the rules.
pub struct Env<'a> {
    pub engine: &'a Engine,
    pub storage: &'a dyn Queryable,
    pub sink: &'a dyn Sink,
    /// `global.external_labels`: `$externalLabels` in templates, added to notifications.
    pub external_labels: &'a BTreeMap<String, String>,
    /// `$externalURL` and the base of alerts' generatorURL.
    pub external_url: &'a str,
    /// What LogQL rules query; None where there are no logs (`lookout test rules`).
    pub logs: Option<&'a LogSource<'a>>,
}

impl Env<'_> {
    /// Runs `query` at `t` (ms); the result as an instant vector, a scalar becoming one
    /// sample without labels, as Prometheus' rule query function does.
    pub fn query(&self, query: &str, t: i64) -> Result<Vec<crate::promql::Sample>, String> {
        let expr = self.engine.parse(query).map_err(|e| e.to_string())?;
        self.query_expr(query, &expr, t)
    }

    /// A rule's expression at `t`, in its language.
    pub fn eval_rule(
        &self,
        text: &str,
        expr: &RuleExpr,
        t: i64,
    ) -> Result<Vec<crate::promql::Sample>, String> {
        match expr {
            RuleExpr::Promql(e) => self.query_expr(text, e, t),
            RuleExpr::Logql(e) => self
                .logs
                .ok_or("LogQL rules need a log store")?
                .instant(e, t),
        }
    }

    pub fn query_expr(
        &self,
        text: &str,
        expr: &promql_parser::parser::Expr,
        t: i64,
    ) -> Result<Vec<crate::promql::Sample>, String> {
        let out = self
            .engine
            .instant(self.storage, text, expr, t)
            .map_err(|e| e.to_string())?;
        match out.value {
            Value::Vector(v) => Ok(v),
            Value::Scalar { t, v } => Ok(vec![crate::promql::Sample {
                labels: Labels::default(),
                t,
                v,
            }]),
            other => Err(format!(
                "rule result is not a vector or scalar: got {}",
                other.type_name()
            )),
        }
    }

    /// `query` for templates.
    pub fn template_query(&self, t: i64) -> impl Fn(&str) -> Result<Vec<QuerySample>, String> + '_ {
        move |q: &str| {
            Ok(self
                .query(q, t)?
                .into_iter()
                .map(|s| QuerySample {
                    labels: to_map(&s.labels),
                    value: s.v,
                })
                .collect())
        }
    }
}

pub fn to_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

pub fn to_labels(m: &BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(m.iter().filter(|(_, v)| !v.is_empty()))
}

/// An evaluation's health, as `/api/v1/rules` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// What every rule remembers about its last evaluation.
#[derive(Debug, Clone, Default)]
pub struct RuleStatus {
    pub health: Health,
    pub last_error: Option<String>,
    /// Evaluation time (ms since the epoch); 0: never.
    pub last_evaluation_ms: i64,
    pub evaluation_seconds: f64,
    /// Series this rule wrote at its last successful evaluation: the ones that are gone at
    /// the next get a staleness marker.
    pub last_series: SeriesSet,
}

/// A set of label sets hashed with foldhash: a rule round checks every series it wrote
/// against the previous round's, and SipHash over every label string was a third of the
/// round's CPU.
pub type SeriesSet = std::collections::HashSet<Labels, foldhash::fast::RandomState>;

/// Writes `samples` and a staleness marker at `t` for every series of the previous
/// evaluation that is gone, then remembers the new set.
pub fn write_with_staleness(
    env: &Env<'_>,
    status: &mut RuleStatus,
    samples: Vec<(Labels, f64)>,
    t: i64,
) -> Result<(), String> {
    let batch: Vec<SeriesSamples> = samples
        .into_iter()
        .map(|(labels, v)| SeriesSamples {
            labels,
            samples: vec![lookout_store::Sample::new(t, v)],
        })
        .collect();
    if !batch.is_empty() {
        env.sink.append(&batch)?;
    }
    // The written label sets move into the new set: no copy of the round's output.
    let mut now = SeriesSet::with_capacity_and_hasher(batch.len(), Default::default());
    now.extend(batch.into_iter().map(|s| s.labels));
    let gone: Vec<SeriesSamples> = status
        .last_series
        .iter()
        .filter(|l| !now.contains(*l))
        .map(|l| SeriesSamples {
            labels: l.clone(),
            samples: vec![lookout_store::Sample::new(
                t,
                lookout_store::model::STALE_NAN,
            )],
        })
        .collect();
    if !gone.is_empty() {
        env.sink.append(&gone)?;
    }
    status.last_series = now;
    Ok(())
}
