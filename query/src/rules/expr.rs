//! A rule's expression and the language it is written in: PromQL for `rule_files`, LogQL
//! for `log_rule_files` (Loki's ruler format: the same groups, every expression a LogQL
//! metric query). Which language a file holds is known from the key that named it, as in
//! Loki, so rule files written for Prometheus or for Loki load unchanged.

use lookout_store::{Labels, ReadLogs, TenantId};

use crate::logql::{Answer, LogqlEngine, MetricExpr};
use crate::promql::{Sample, Value};

/// The query language of a rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Promql,
    Logql,
}

/// A parsed rule expression.
#[derive(Debug, Clone)]
pub enum RuleExpr {
    Promql(promql_parser::parser::Expr),
    Logql(MetricExpr),
}

impl RuleExpr {
    pub fn parse(lang: Lang, text: &str) -> Result<RuleExpr, String> {
        match lang {
            Lang::Promql => crate::promql::eval::parse(text)
                .map(RuleExpr::Promql)
                .map_err(|e| e.to_string()),
            Lang::Logql => match crate::logql::parse(text).map_err(|e| e.to_string())? {
                crate::logql::Expr::Metric(m) => Ok(RuleExpr::Logql(m)),
                crate::logql::Expr::Log(_) => Err(
                    "a log rule needs a LogQL metric query (e.g. count_over_time({job=\"x\"}[5m])), not a log query"
                        .into(),
                ),
            },
        }
    }
}

/// What LogQL rules read: a log store, the tenant whose logs they see, and the engine's
/// limits.
pub struct LogSource<'a> {
    pub engine: &'a LogqlEngine,
    pub logs: &'a dyn ReadLogs,
    pub tenant: &'a TenantId,
}

impl LogSource<'_> {
    /// Evaluates `expr` as an instant query at `t` (ms); a scalar becomes one sample
    /// without labels, as for PromQL rules.
    pub fn instant(&self, expr: &MetricExpr, t: i64) -> Result<Vec<Sample>, String> {
        let budget = crate::budget::Budget::unlimited(std::time::Duration::from_secs(120));
        let t_ns = t.saturating_mul(1_000_000);
        let (answer, _) = self
            .engine
            .metric(self.logs, self.tenant, expr, (t_ns, t_ns, 0), true, &budget)
            .map_err(|e| e.to_string())?;
        match answer {
            Answer::Metric(Value::Vector(v)) => Ok(v),
            Answer::Metric(Value::Scalar { t, v }) => Ok(vec![Sample {
                labels: Labels::default(),
                t,
                v,
            }]),
            Answer::Metric(other) => Err(format!(
                "rule result is not a vector or scalar: got {}",
                other.type_name()
            )),
            Answer::Streams(_) => Err("a log rule's query returned log lines".into()),
        }
    }
}
