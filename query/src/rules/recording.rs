//! Recording rules: an expression evaluated at every group iteration whose result is
//! written back as series named by `record`.

use std::collections::{BTreeMap, HashSet};

use super::eval::{write_with_staleness, Env, Health, RuleStatus};
use super::expr::RuleExpr;

#[derive(Debug, Clone)]
pub struct RecordingRule {
    pub name: String,
    pub expr_text: String,
    pub expr: RuleExpr,
    /// The group's labels overlaid with the rule's.
    pub labels: BTreeMap<String, String>,
    pub status: RuleStatus,
}

impl RecordingRule {
    /// Evaluates at `t` (the group's time minus its query offset) and writes the result;
    /// returns how many series were written.
    pub fn eval(&mut self, env: &Env<'_>, t: i64, limit: usize) -> Result<usize, String> {
        let vector = env.eval_rule(&self.expr_text, &self.expr, t)?;
        let mut out = Vec::with_capacity(vector.len());
        let mut seen = HashSet::with_capacity(vector.len());
        for s in vector {
            let mut m = super::eval::to_map(&s.labels);
            m.insert("__name__".into(), self.name.clone());
            for (k, v) in &self.labels {
                m.insert(k.clone(), v.clone());
            }
            let labels = super::eval::to_labels(&m);
            if !seen.insert(labels.clone()) {
                return Err(
                    "vector contains metrics with the same labelset after applying rule labels"
                        .into(),
                );
            }
            out.push((labels, s.v));
        }
        if limit > 0 && out.len() > limit {
            return Err(format!(
                "exceeded limit of {limit} with {} series",
                out.len()
            ));
        }
        let n = out.len();
        write_with_staleness(env, &mut self.status, out, t)?;
        Ok(n)
    }

    pub fn record(&mut self, t_ms: i64, took: f64, r: &Result<usize, String>) {
        self.status.last_evaluation_ms = t_ms;
        self.status.evaluation_seconds = took;
        match r {
            Ok(_) => {
                self.status.health = Health::Ok;
                self.status.last_error = None;
            }
            Err(e) => {
                self.status.health = Health::Err;
                self.status.last_error = Some(e.clone());
            }
        }
    }

    pub fn series(&self) -> &super::eval::SeriesSet {
        &self.status.last_series
    }
}
