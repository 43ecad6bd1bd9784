//! What the engine reads from: series selected by matchers over a time range.

use std::sync::Arc;

use lookout_store::{
    Labels, MatchOp, Matcher, Projection, Sample, SelectHints, Series, Store, TenantId,
};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::VectorSelector;

use crate::budget::{Budget, StopReason};
use crate::error::Result;

/// A source of series for the engine. `select` returns the series matching every matcher
/// with their samples in `[mint, maxt]` (staleness markers included, as stored), sorted by
/// labels, one sample per timestamp. Both reads stop early once `budget` is stopped, and
/// may charge what they hold to it.
pub trait Queryable: Sync {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        budget: &Budget,
    ) -> Result<Vec<Series>>;

    /// What `select` returns, each series' samples handed to `f` and only its result
    /// kept, in label order. The store streams (no selection is held whole); this default
    /// selects first. A selection of more than `max_series` series (0: no limit) fails with
    /// the budget's memory error before any sample is read. `need` says what else of
    /// each series the reader can do without.
    fn select_map(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        budget: &Budget,
        need: &Need,
        f: &SeriesFn<'_>,
    ) -> Result<Vec<(Labels, Mapped)>> {
        let selected = self.select(matchers, mint, maxt, budget)?;
        if need.max_series > 0 && selected.len() > need.max_series {
            budget.stop(StopReason::Memory);
            return Err(budget.error());
        }
        Ok(selected
            .into_iter()
            .map(|s| {
                let r = f(
                    &s.labels,
                    lookout_store::model::newest(&s.samples, need.newest_only),
                );
                let labels = match &need.project {
                    Some(p) => p.apply(s.labels),
                    None => s.labels,
                };
                (labels, r)
            })
            .collect())
    }
}

/// What a streaming read ([`Queryable::select_map`]) needs of each series, so the store
/// can skip the rest.
#[derive(Debug, Clone, Default)]
pub struct Need {
    /// The most series the reader can hold (0: no limit).
    pub max_series: usize,
    /// Only these labels of each series (see [`SelectHints::project`]).
    pub project: Option<Projection>,
    /// Only each series' newest sample in the range (see [`SelectHints::newest_only`]).
    pub newest_only: bool,
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
    /// Streams the selection so each series is charged to the budget as it is copied out,
    /// and the read stops at the first series that does not fit.
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        budget: &Budget,
    ) -> Result<Vec<Series>> {
        let copied = self.store.select_map(
            &self.tenant,
            matchers,
            mint,
            maxt,
            &hints(budget),
            &|labels, samples| -> Result<Vec<Sample>> {
                budget.charge(
                    std::mem::size_of_val(samples) + labels.len() * 64 + size_of::<Series>(),
                )?;
                Ok(samples.to_vec())
            },
        )?;
        budget.check()?;
        copied
            .into_iter()
            .map(|(labels, samples)| {
                Ok(Series {
                    labels,
                    samples: samples?,
                })
            })
            .collect()
    }

    fn select_map(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        budget: &Budget,
        need: &Need,
        f: &SeriesFn<'_>,
    ) -> Result<Vec<(Labels, Mapped)>> {
        let hints = SelectHints {
            max_series: need.max_series,
            project: need.project.clone(),
            newest_only: need.newest_only,
            ..hints(budget)
        };
        let out = match self
            .store
            .select_map(&self.tenant, matchers, mint, maxt, &hints, f)
        {
            Err(e) if e.class() == lookout_store::ErrorClass::LimitExceeded => {
                budget.stop(StopReason::Memory);
                return Err(budget.error());
            }
            r => r?,
        };
        budget.check()?;
        Ok(out)
    }
}

/// Store hints that stop a read once the query's budget is stopped.
fn hints(budget: &Budget) -> SelectHints {
    SelectHints {
        cancel: Some(budget.stop_flag()),
        ..Default::default()
    }
}
