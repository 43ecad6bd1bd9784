//! Log queries: the leading line filters go to the store (which applies them exactly and
//! may use its index for them), the rest of the pipeline runs here on each line the store
//! yields, and lines are grouped into streams by their labels after the pipeline.

use std::collections::HashMap;
use std::sync::Arc;

use lookout_store::{Labels, LineFilter as StoreFilter, LogSelect, MatchOp};

use super::ast::{FilterOp, LabelFilter, LogExpr, Stage};
use super::engine::{Ctx, LineOut, LogRequest, StreamOut};
use super::pipeline::{self, Cat, Entry, ERROR as ERROR_LABEL};
use crate::error::{Error, Result};

/// What of a pipeline the store applies, and the stages left to run here.
#[derive(Debug)]
pub struct Plan {
    pub filters: Vec<StoreFilter>,
    /// Label equalities the store applies (see [`LogSelect::label_eq`]).
    pub label_eq: Vec<(String, String)>,
    pub stages: Vec<Stage>,
}

/// Splits a pipeline into what the store applies and what runs here. Line filters commute
/// with every stage that leaves the line alone, so all of them up to the first stage that
/// rewrites the line (`line_format`, `unpack`, `decolorize`) go down; pattern filters stay.
/// Label filters `name="value"` (alone or joined by `and`) before any stage that sets or
/// removes labels read only stream labels and structured metadata, so the store applies
/// them too, and narrows by its index: `| trace_id="..."` finds a trace's lines without a
/// scan.
pub fn plan(log: &LogExpr) -> Plan {
    let mut pushed = Vec::new();
    let mut label_eq = Vec::new();
    let mut rest = Vec::new();
    let mut line_changed = false;
    let mut labels_changed = false;
    for s in &log.stages {
        match s {
            Stage::LabelFilter(f) if !labels_changed => {
                let mut eqs = Vec::new();
                if equalities(f, &mut eqs) {
                    label_eq.extend(eqs);
                } else {
                    label_eq.extend(eqs);
                    rest.push(s.clone());
                }
            }
            Stage::LineFormat(_) | Stage::Unpack | Stage::Decolorize => {
                line_changed = true;
                rest.push(s.clone());
            }
            Stage::LineFilter(f) if !line_changed => {
                let escaped = || {
                    f.values
                        .iter()
                        .map(|v| regex::escape(v))
                        .collect::<Vec<_>>()
                        .join("|")
                };
                let alternation = || {
                    f.values
                        .iter()
                        .map(|v| format!("(?:{v})"))
                        .collect::<Vec<_>>()
                        .join("|")
                };
                match (f.op, f.values.len()) {
                    (FilterOp::Contains, 1) => {
                        pushed.push(StoreFilter::Contains(f.values[0].clone()))
                    }
                    (FilterOp::Contains, _) => pushed.push(StoreFilter::Regex(escaped())),
                    (FilterOp::NotContains, _) => {
                        pushed.extend(f.values.iter().map(|v| StoreFilter::NotContains(v.clone())))
                    }
                    (FilterOp::Regex, 1) => pushed.push(StoreFilter::Regex(f.values[0].clone())),
                    (FilterOp::Regex, _) => pushed.push(StoreFilter::Regex(alternation())),
                    (FilterOp::NotRegex, _) => {
                        pushed.extend(f.values.iter().map(|v| StoreFilter::NotRegex(v.clone())))
                    }
                    (FilterOp::Pattern | FilterOp::NotPattern, _) => rest.push(s.clone()),
                }
            }
            s => {
                if !matches!(s, Stage::LineFilter(_) | Stage::LabelFilter(_)) {
                    labels_changed = true;
                }
                rest.push(s.clone())
            }
        }
    }
    Plan {
        filters: pushed,
        label_eq,
        stages: rest,
    }
}

/// Collects the `name="value"` conjuncts of `f` into `out`; true when they are all of it.
fn equalities(f: &LabelFilter, out: &mut Vec<(String, String)>) -> bool {
    match f {
        LabelFilter::And(a, b) => {
            let a = equalities(a, out);
            equalities(b, out) && a
        }
        LabelFilter::Str(m) if m.op == MatchOp::Equal && m.name != ERROR_LABEL => {
            out.push((m.name.clone(), m.value.clone()));
            true
        }
        _ => false,
    }
}

/// Whether a stage may drop a line (so the store's limit cannot be the query's).
fn drops_lines(s: &Stage) -> bool {
    matches!(s, Stage::LineFilter(_) | Stage::LabelFilter(_))
}

pub fn run(ctx: &mut Ctx<'_>, log: &LogExpr, req: &LogRequest) -> Result<Vec<StreamOut>> {
    let Plan {
        filters,
        label_eq,
        stages,
    } = plan(log);
    let store_limit = if stages.iter().any(drops_lines) || req.interval_ns > 0 {
        0
    } else {
        req.limit
    };
    let sel = LogSelect {
        matchers: log.matchers.clone(),
        start_ns: req.start_ns,
        end_ns: req.end_ns,
        filters,
        label_eq,
        direction: req.direction,
        limit: store_limit,
        cancel: Some(ctx.budget.stop_flag()),
    };
    let mut streams: Vec<StreamOut> = Vec::new();
    let mut index: HashMap<Arc<Labels>, usize> = HashMap::new();
    let mut kept = 0usize;
    let mut failed: Option<Error> = None;
    let limit = if req.limit == 0 {
        usize::MAX
    } else {
        req.limit
    };
    let logs = ctx.logs;
    let tenant = ctx.tenant;
    logs.select_logs(tenant, &sel, &mut |hit| {
        if let Err(e) = ctx.scanned(hit.line.len()) {
            failed = Some(e);
            return false;
        }
        let mut e = Entry::new(hit);
        if !pipeline::run(&stages, &mut e) {
            return true;
        }
        let key = if req.categorize {
            e.stream_labels()
        } else {
            e.all_labels()
        };
        let i = match index.get(&key) {
            Some(&i) => i,
            None => {
                if let Err(err) = ctx.budget.charge(
                    key.iter()
                        .map(|l| l.name.len() + l.value.len() + 48)
                        .sum::<usize>()
                        + 64,
                ) {
                    failed = Some(err);
                    return false;
                }
                streams.push(StreamOut {
                    labels: key.clone(),
                    lines: Vec::new(),
                });
                index.insert(key, streams.len() - 1);
                streams.len() - 1
            }
        };
        let s = &mut streams[i];
        if req.interval_ns > 0 {
            if let Some(last) = s.lines.last() {
                if (e.ts_ns - last.ts_ns).abs() < req.interval_ns {
                    return true;
                }
            }
        }
        if let Err(err) = ctx.budget.charge(e.line.len() + 64) {
            failed = Some(err);
            return false;
        }
        let (metadata, parsed) = if req.categorize {
            (e.labels_of(Cat::Meta), e.labels_of(Cat::Parsed))
        } else {
            (Labels::default(), Labels::default())
        };
        s.lines.push(LineOut {
            ts_ns: e.ts_ns,
            line: e.line,
            metadata,
            parsed,
        });
        kept += 1;
        kept < limit
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    ctx.budget.check()?;
    streams.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(streams)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::pipeline::tests::pipeline;

    #[test]
    fn leading_filters_go_to_the_store() {
        let Plan {
            filters: pushed,
            label_eq,
            stages: rest,
        } = plan(&pipeline(
            r#"{a="b"} |= "x" or "y." != "z" or "w" |~ "r" or "s" | json |> "<_> p" | line_format "{{.a}}" |= "late""#,
        ));
        assert!(label_eq.is_empty());
        assert_eq!(
            pushed,
            vec![
                StoreFilter::Regex("x|y\\.".into()),
                StoreFilter::NotContains("z".into()),
                StoreFilter::NotContains("w".into()),
                StoreFilter::Regex("(?:r)|(?:s)".into()),
            ]
        );
        assert_eq!(rest.len(), 4);
    }

    #[test]
    fn label_equalities_before_parsers_go_to_the_store() {
        let p = plan(&pipeline(
            r#"{a="b"} | trace_id="abc" |= "x" | span_id="s" and level=~"e.*" | json | c="d""#,
        ));
        assert_eq!(
            p.label_eq,
            vec![
                ("trace_id".to_string(), "abc".to_string()),
                ("span_id".to_string(), "s".to_string())
            ]
        );
        assert_eq!(p.filters, vec![StoreFilter::Contains("x".into())]);
        // The mixed filter stays whole; `json` and what follows it run here.
        assert_eq!(p.stages.len(), 3);
        let p = plan(&pipeline(r#"{a="b"} | logfmt | trace_id="abc""#));
        assert!(p.label_eq.is_empty());
        assert_eq!(p.stages.len(), 2);
    }
}
