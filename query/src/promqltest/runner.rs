//! Executes a parsed script against an engine: `clear` and `load` on the in-memory
//! storage, and each eval with the hidden checks Prometheus' runner adds to instant evals
//! (the @-invariance variants and the range-mode consistency check).

use std::borrow::Cow;

use promql_parser::parser::Expr;

use super::at_variant::{pin_to, uses_query_context, variant_times};
use super::compare::{
    check_annotations, check_failure, check_sorted, compare_value, compare_vector, format_expected,
    format_value, MatrixTimes,
};
use super::report::{EvalFailure, FileReport};
use super::script::{self, Command, Eval, EvalKind};
use super::series::format_labels;
use super::storage::MemStorage;
use crate::promql::{Engine, QueryOutput, Queryable, Sample, Value};

/// What the runner needs from an engine. [`Engine`] implements it; tests plug in fakes.
/// Errors are the engine's messages, which `expect fail msg:` compares verbatim.
pub trait Evaluator {
    fn parse(&self, text: &str) -> Result<Expr, String>;
    fn instant(
        &self,
        storage: &dyn Queryable,
        text: &str,
        expr: &Expr,
        t: i64,
    ) -> Result<QueryOutput, String>;
    #[allow(clippy::too_many_arguments)]
    fn range(
        &self,
        storage: &dyn Queryable,
        text: &str,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, String>;
}

impl Evaluator for Engine {
    fn parse(&self, text: &str) -> Result<Expr, String> {
        Engine::parse(self, text).map_err(|e| e.to_string())
    }

    fn instant(
        &self,
        storage: &dyn Queryable,
        text: &str,
        expr: &Expr,
        t: i64,
    ) -> Result<QueryOutput, String> {
        Engine::instant(self, storage, text, expr, t).map_err(|e| e.to_string())
    }

    fn range(
        &self,
        storage: &dyn Queryable,
        text: &str,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, String> {
        Engine::range(self, storage, text, expr, start, end, step).map_err(|e| e.to_string())
    }
}

/// Runs a script's text. `name` labels the report (usually the file path).
pub fn run_script(evaluator: &dyn Evaluator, name: &str, text: &str) -> FileReport {
    let mut report = FileReport::new(name);
    let parsed = match script::parse(text) {
        Ok(s) => s,
        Err(e) => {
            report.file_error = Some((e.line, e.message));
            report.not_run = script::count_eval_lines(text);
            return report;
        }
    };
    let mut storage = MemStorage::new();
    for cmd in &parsed.commands {
        match cmd {
            Command::Clear => storage = MemStorage::new(),
            Command::Load(l) => storage.load(l),
            Command::Eval(ev) => match run_eval(evaluator, &storage, ev) {
                Ok(()) => report.passed += 1,
                Err(f) => report.failures.push(*f),
            },
        }
    }
    report
}

/// One query the runner sends for an instant eval: the eval itself or an @-variant.
struct Run<'a> {
    expr: Cow<'a, Expr>,
    t: i64,
    /// Which check this is, for the report.
    check: String,
}

/// Runs one eval; the first mismatch fails it.
pub fn run_eval(
    evaluator: &dyn Evaluator,
    storage: &MemStorage,
    ev: &Eval,
) -> Result<(), Box<EvalFailure>> {
    let fail = |check: &str, message: String, got: Option<&Value>| {
        Box::new(EvalFailure {
            line: ev.line,
            header: ev.header.clone(),
            check: check.to_string(),
            message,
            expected: format_expected(ev),
            got: got.map(format_value),
        })
    };
    if ev.expects_histograms() {
        return Err(fail(
            "setup",
            "native histograms not supported: the expected result holds native histograms".into(),
            None,
        ));
    }
    let expr = evaluator.parse(&ev.expr).map_err(|e| {
        fail(
            "parse",
            format!(
                "the PromQL parser rejects the expression (Prometheus' parser accepts it): {e}"
            ),
            None,
        )
    })?;
    let histograms = |check: &str| -> Result<(), Box<EvalFailure>> {
        let read = storage.take_histogram_reads();
        if read.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = read.iter().map(format_labels).collect();
        Err(fail(
            check,
            format!(
                "native histograms not supported: the query reads native-histogram series {}",
                names.join(", ")
            ),
            None,
        ))
    };
    storage.take_histogram_reads();

    let (start, end, step) = match ev.kind {
        EvalKind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => {
            let check = "range query";
            let res = evaluator.range(storage, &ev.expr, &expr, start_ms, end_ms, step_ms);
            histograms(check)?;
            let times = MatrixTimes {
                start: start_ms,
                end: end_ms,
                step: step_ms,
            };
            return check_outcome(ev, res, times)
                .map(|_| ())
                .map_err(|(m, got)| fail(check, m, got.as_ref()));
        }
        EvalKind::Instant { at_ms } => match ev.range_vector {
            // `expect range vector` evaluates at its end time and compares the matrix at
            // its steps.
            Some((s, e, st)) => (s, e, st),
            None => (at_ms, i64::MIN, 0),
        },
    };
    let t = match (ev.kind, ev.range_vector) {
        (_, Some((_, e, _))) => e,
        (EvalKind::Instant { at_ms }, None) => at_ms,
        (EvalKind::Range { start_ms, .. }, None) => start_ms,
    };
    let times = MatrixTimes { start, end, step };
    let mut runs = vec![Run {
        expr: Cow::Borrowed(&expr),
        t,
        check: "instant query".into(),
    }];
    if let Some(pinned) = pin_to(&expr, t) {
        for et in variant_times(t) {
            runs.push(Run {
                expr: Cow::Owned(pinned.clone()),
                t: et,
                check: format!(
                    "@-variant: selectors pinned with @ {:.3}, evaluated at t={et}ms",
                    t as f64 / 1000.0
                ),
            });
        }
    }
    for run in &runs {
        let res = evaluator.instant(storage, &ev.expr, &run.expr, run.t);
        histograms(&run.check)?;
        let out =
            check_outcome(ev, res, times).map_err(|(m, got)| fail(&run.check, m, got.as_ref()))?;
        let Some(out) = out else { continue };
        if ev.excluded_from_range_mode() || uses_query_context(&ev.expr) {
            continue;
        }
        let check = format!(
            "range mode of the {}: range query from t-1m to t+1m step 1m, point at t={}ms",
            run.check, run.t
        );
        let res = evaluator.range(
            storage,
            &ev.expr,
            &run.expr,
            run.t - 60_000,
            run.t + 60_000,
            60_000,
        );
        histograms(&check)?;
        let ranged =
            res.map_err(|e| fail(&check, format!("query failed in range mode: {e}"), None))?;
        if ev.ordered {
            // Range queries are always sorted by labels.
            continue;
        }
        range_mode(ev, &out.value, &ranged.value, run.t)
            .map_err(|m| fail(&check, m, Some(&ranged.value)))?;
    }
    Ok(())
}

/// Checks an outcome against the eval: failure expectations, annotations, the value.
/// Returns the output when the query succeeded as expected (`None` for an expected
/// failure), or the mismatch and the value to print.
#[allow(clippy::type_complexity)]
fn check_outcome(
    ev: &Eval,
    res: Result<QueryOutput, String>,
    times: MatrixTimes,
) -> Result<Option<QueryOutput>, (String, Option<Value>)> {
    let out = match res {
        Err(e) => return check_failure(ev, &e).map(|()| None).map_err(|m| (m, None)),
        Ok(out) => out,
    };
    if ev.expect_fail {
        return Err((
            "expected the query to fail, but it succeeded".into(),
            Some(out.value),
        ));
    }
    if let Err(m) = check_annotations(ev, &out.annotations) {
        return Err((m, Some(out.value)));
    }
    if let Err(m) = compare_value(ev, &out.value, times) {
        return Err((m, Some(out.value)));
    }
    Ok(Some(out))
}

/// The range-mode check: the matrix must be sorted, and its points at exactly `t` must
/// satisfy the eval's expectations like the instant result did.
fn range_mode(ev: &Eval, instant: &Value, ranged: &Value, t: i64) -> Result<(), String> {
    let Value::Matrix(m) = ranged else {
        return Err(format!(
            "a range query must return a matrix, but it returned a {}",
            ranged.type_name()
        ));
    };
    check_sorted(m.iter().map(|s| &s.labels))?;
    let at_t: Vec<Sample> = m
        .iter()
        .filter_map(|s| {
            s.points.iter().find(|p| p.t == t).map(|p| Sample {
                labels: s.labels.clone(),
                t,
                v: p.v,
            })
        })
        .collect();
    if matches!(instant, Value::Scalar { .. }) {
        let Some(first) = at_t.first() else {
            return Err(format!(
                "the scalar query has no point at t={t}ms in range mode"
            ));
        };
        let v = Value::Scalar { t, v: first.v };
        return compare_value(
            ev,
            &v,
            MatrixTimes {
                start: t,
                end: i64::MIN,
                step: 0,
            },
        );
    }
    compare_vector(ev, &at_t)
}
