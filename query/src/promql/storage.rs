//! What the engine reads from: series selected by matchers over a time range.

use std::sync::Arc;

use lookout_store::{Labels, MatchOp, Matcher, Sample, SelectHints, Series, Store, TenantId};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::VectorSelector;

use crate::error::Result;

/// A source of series for the engine. `select` returns the series matching every matcher
/// with their samples in `[mint, maxt]` (staleness markers included, as stored), sorted by
/// labels, one sample per timestamp.
pub trait Queryable: Sync {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>>;

    /// What `select` returns, each series' samples handed to `f` and only its result
    /// kept, in label order. The store streams (no selection is held whole); this default
    /// selects first.
    fn select_map(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &SeriesFn<'_>,
    ) -> Result<Vec<(Labels, Mapped)>> {
        Ok(self
            .select(matchers, mint, maxt)?
            .into_iter()
            .map(|s| {
                let r = f(&s.labels, &s.samples);
                (s.labels, r)
            })
            .collect())
    }
}

/// A streaming select's per-series result: the value at each step (`None`: no value at
/// any step), and the most points the function held at once (for `max_samples`).
pub type Mapped = Result<(Option<Vec<f64>>, usize)>;

/// The per-series function of [`Queryable::select_map`].
pub type SeriesFn<'a> = dyn Fn(&Labels, &[Sample]) -> Mapped + Sync + 'a;

/// The store's matchers for a parsed selector: one group per `or` alternative inside its
/// braces (usually one), each with the metric name as a `__name__` matcher.
pub fn matcher_groups(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>> {
    let mut groups: Vec<&Vec<promql_parser::label::Matcher>> = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        groups.push(&vs.matchers.matchers);
    } else {
        groups.extend(vs.matchers.or_matchers.iter());
    }
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let mut ms = Vec::with_capacity(g.len() + 1);
        if let Some(name) = &vs.name {
            if !g.iter().any(|m| m.name == "__name__") {
                ms.push(Matcher::equal("__name__", name.clone()));
            }
        }
        for m in g {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::RegexMatch,
                PMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
            };
            ms.push(Matcher::new(op, m.name.clone(), m.value.clone())?);
        }
        out.push(ms);
    }
    Ok(out)
}

/// One tenant's view of the metrics store.
pub struct StoreQueryable {
    pub store: Arc<Store>,
    pub tenant: TenantId,
}

impl Queryable for StoreQueryable {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        Ok(self
            .store
            .select(&self.tenant, matchers, mint, maxt, &SelectHints::default())?)
    }

    fn select_map(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &SeriesFn<'_>,
    ) -> Result<Vec<(Labels, Mapped)>> {
        Ok(self
            .store
            .select_map(&self.tenant, matchers, mint, maxt, f)?)
    }
}
