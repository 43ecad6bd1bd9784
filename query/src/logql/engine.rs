//! The LogQL engine's settings, entry points and results. Every query runs under a
//! [`Budget`] (deadline, cancellation, memory) like PromQL's, plus Loki's own bounds, each
//! refused with an error that names its setting: lines returned
//! (`query.max_entries_limit_per_query`), series returned (`query.max_query_series`) and
//! bytes of log lines read (`query.max_query_bytes_read`).

use std::sync::Arc;

use lookout_store::{Direction, Labels, ReadLogs, TenantId};

use super::ast::{AggOp, Expr, LogExpr, MetricExpr};
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::promql::Value;

/// LogQL limits. The defaults are Loki's.
#[derive(Debug, Clone)]
pub struct LogqlOptions {
    /// Most lines a log query may ask for with `limit` (Loki's
    /// `max_entries_limit_per_query`).
    pub max_entries_limit: usize,
    /// Most series a metric query may return (Loki's `max_query_series`).
    pub max_series: usize,
    /// Most bytes of log lines one query may read (0: no limit; Loki's
    /// `max_query_bytes_read`).
    pub max_bytes_read: usize,
    /// Most steps of a range query (as PromQL's 11,000 points per series).
    pub max_points_per_series: usize,
    /// Longest query text accepted, in bytes (`query.max_length`).
    pub max_length: usize,
    /// Metric queries that only count lines or bytes read each line's timestamp and length
    /// ([`lookout_store::ReadLogs::select_log_sizes`]) instead of the lines. Always on in
    /// Lookout; tests turn it off to compare with the full read.
    pub size_reads: bool,
}

impl Default for LogqlOptions {
    fn default() -> Self {
        LogqlOptions {
            max_entries_limit: 5000,
            max_series: 500,
            max_bytes_read: 0,
            max_points_per_series: 11_000,
            max_length: 128 << 10,
            size_reads: true,
        }
    }
}

/// What a log query reads: `[start_ns, end_ns)`, in `direction`, at most `limit` lines.
#[derive(Debug, Clone)]
pub struct LogRequest {
    pub start_ns: i64,
    pub end_ns: i64,
    pub limit: usize,
    pub direction: Direction,
    /// Loki's `interval`: within a stream, lines closer than this to the last one
    /// returned are skipped (0: all).
    pub interval_ns: i64,
    /// Split labels into stream labels, structured metadata and parsed labels
    /// (`X-Loki-Response-Encoding-Flags: categorize-labels`).
    pub categorize: bool,
}

/// One line of a log query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LineOut {
    pub ts_ns: i64,
    pub line: String,
    /// With categorized labels: the line's structured metadata and parsed labels.
    pub metadata: Labels,
    pub parsed: Labels,
}

/// One stream of a log query's answer, lines in the request's direction.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamOut {
    pub labels: Arc<Labels>,
    pub lines: Vec<LineOut>,
}

/// What a query read, for the response's `stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub lines: usize,
    pub bytes: usize,
}

/// A query's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Streams(Vec<StreamOut>),
    /// A metric query's value: `Scalar`, `Vector` (instant) or `Matrix` (range), with
    /// millisecond timestamps as PromQL's.
    Metric(Value),
}

/// Evaluates LogQL over a log reader. Cheap to clone: it holds its settings.
#[derive(Debug, Clone, Default)]
pub struct LogqlEngine {
    pub opts: LogqlOptions,
}

/// What a query evaluation runs against: a tenant's logs and the query's budget.
pub struct Ctx<'a> {
    pub logs: &'a dyn ReadLogs,
    pub tenant: &'a TenantId,
    pub budget: &'a Budget,
    pub opts: &'a LogqlOptions,
    pub stats: ScanStats,
}

impl Ctx<'_> {
    /// Counts a line read; fails when the query has read more bytes than it may, and
    /// every 4096 lines checks the deadline and cancellation.
    pub fn scanned(&mut self, bytes: usize) -> Result<()> {
        self.scanned_lines(1, bytes)
    }

    /// Counts `lines` lines of `bytes` bytes read, as that many calls of [`Ctx::scanned`]
    /// would (the same error once the total passes the limit).
    pub fn scanned_lines(&mut self, lines: usize, bytes: usize) -> Result<()> {
        let before = self.stats.lines;
        self.stats.lines += lines;
        self.stats.bytes += bytes;
        if self.opts.max_bytes_read > 0 && self.stats.bytes > self.opts.max_bytes_read {
            return Err(Error::Execution(format!(
                "the query would read more than {} of log lines (query.max_query_bytes_read); \
                 narrow the stream selector or the time range",
                crate::budget::bytes_text(self.opts.max_bytes_read)
            )));
        }
        if before / 4096 != self.stats.lines / 4096 {
            self.budget.check()?;
        }
        Ok(())
    }
}

impl LogqlEngine {
    pub fn new(opts: LogqlOptions) -> LogqlEngine {
        LogqlEngine { opts }
    }

    /// Parses a query, refusing one longer than `query.max_length` first.
    pub fn parse(&self, query: &str) -> Result<Expr> {
        if query.len() > self.opts.max_length {
            return Err(Error::BadData(format!(
                "query is {} bytes long, more than the {} allowed (query.max_length)",
                query.len(),
                self.opts.max_length
            )));
        }
        super::parse(query)
    }

    /// Runs a log query.
    pub fn logs(
        &self,
        logs: &dyn ReadLogs,
        tenant: &TenantId,
        expr: &LogExpr,
        req: &LogRequest,
        budget: &Budget,
    ) -> Result<(Answer, ScanStats)> {
        if req.limit > self.opts.max_entries_limit {
            return Err(Error::BadData(format!(
                "max entries limit per query exceeded, limit > max_entries_limit ({} > {}) \
                 (query.max_entries_limit_per_query)",
                req.limit, self.opts.max_entries_limit
            )));
        }
        let mut ctx = Ctx {
            logs,
            tenant,
            budget,
            opts: &self.opts,
            stats: ScanStats::default(),
        };
        let streams = super::select::run(&mut ctx, expr, req)?;
        Ok((Answer::Streams(streams), ctx.stats))
    }

    /// Evaluates a metric query at `start, start + step, …, end` (ns); an instant query is
    /// `start == end`. `instant` picks the shape of the answer: a vector (or scalar), or a
    /// matrix.
    #[allow(clippy::too_many_arguments)]
    pub fn metric(
        &self,
        logs: &dyn ReadLogs,
        tenant: &TenantId,
        expr: &MetricExpr,
        span: (i64, i64, i64),
        instant: bool,
        budget: &Budget,
    ) -> Result<(Answer, ScanStats)> {
        let (start, end, step) = span;
        if end < start {
            return Err(Error::BadData(
                "the query's end must not be before its start".into(),
            ));
        }
        if !instant && step <= 0 {
            return Err(Error::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        let n = if instant {
            1
        } else {
            ((end - start) / step) as usize + 1
        };
        if n > self.opts.max_points_per_series + 1 {
            return Err(Error::BadData(format!(
                "exceeded maximum resolution of {} points per timeseries. Try increasing the value of the step parameter",
                self.opts.max_points_per_series
            )));
        }
        let mut ctx = Ctx {
            logs,
            tenant,
            budget,
            opts: &self.opts,
            stats: ScanStats::default(),
        };
        let steps = super::metric::Steps {
            start,
            step: if instant { 1 } else { step },
            n,
        };
        let v = super::metric::eval(&mut ctx, expr, &steps)?;
        let ordered = matches!(expr, MetricExpr::Vector(a) if matches!(a.op, AggOp::Sort | AggOp::SortDesc | AggOp::Topk | AggOp::Bottomk));
        let value = super::metric::to_value(v, &steps, instant, ordered, &self.opts)?;
        Ok((Answer::Metric(value), ctx.stats))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::logql::fixture::{MemLogs, S};

    /// Ten seconds of an api: a line a second at 1..=10 s, every third an error with a
    /// latency, and a web stream with JSON lines at 2 and 4 s.
    fn data() -> MemLogs {
        let mut m = MemLogs::default();
        for i in 1..=10 {
            let (level, dur) = if i % 3 == 0 {
                ("error", format!("{i}00ms"))
            } else {
                ("info", format!("{i}0ms"))
            };
            m.push(
                &[("app", "api"), ("env", "prod")],
                i as f64,
                &format!("level={level} took={dur} n={i}"),
            );
        }
        m.push_meta(
            &[("app", "web")],
            2.0,
            r#"{"status":200,"path":"/a"}"#,
            &[("trace_id", "t1")],
        );
        m.push(&[("app", "web")], 4.0, r#"{"status":500,"path":"/b"}"#);
        m
    }

    fn engine() -> LogqlEngine {
        LogqlEngine::default()
    }

    fn budget() -> Arc<Budget> {
        Budget::unlimited(Duration::from_secs(60))
    }

    fn logs_with(m: &MemLogs, q: &str, req: &LogRequest) -> Result<Vec<StreamOut>> {
        let Expr::Log(l) = engine().parse(q)? else {
            panic!("not a log query")
        };
        match engine()
            .logs(m, &TenantId::default_tenant(), &l, req, &budget())?
            .0
        {
            Answer::Streams(s) => Ok(s),
            a => panic!("{a:?}"),
        }
    }

    fn req(limit: usize, direction: Direction) -> LogRequest {
        LogRequest {
            start_ns: 0,
            end_ns: 100 * S,
            limit,
            direction,
            interval_ns: 0,
            categorize: false,
        }
    }

    /// Each stream as `labels: line, line`.
    fn lines(m: &MemLogs, q: &str, limit: usize, direction: Direction) -> Vec<String> {
        logs_with(m, q, &req(limit, direction))
            .unwrap()
            .iter()
            .map(|s| {
                let l: Vec<&str> = s.lines.iter().map(|l| l.line.as_str()).collect();
                format!("{}: {}", s.labels, l.join(", "))
            })
            .collect()
    }

    fn metric(m: &MemLogs, q: &str, span_s: (i64, i64, i64), instant: bool) -> Result<Value> {
        let Expr::Metric(e) = engine().parse(q)? else {
            panic!("not a metric query")
        };
        let span = (span_s.0 * S, span_s.1 * S, span_s.2 * S);
        match engine()
            .metric(m, &TenantId::default_tenant(), &e, span, instant, &budget())?
            .0
        {
            Answer::Metric(v) => Ok(v),
            a => panic!("{a:?}"),
        }
    }

    /// A value as text: `{labels} t:v t:v` per series (t in seconds).
    fn show(v: &Value) -> Vec<String> {
        match v {
            Value::Scalar { t, v } => vec![format!("scalar {}:{v}", t / 1000)],
            Value::Vector(s) => s
                .iter()
                .map(|s| format!("{} {}:{}", s.labels, s.t / 1000, s.v))
                .collect(),
            Value::Matrix(m) => m
                .iter()
                .map(|s| {
                    let p: Vec<String> = s
                        .points
                        .iter()
                        .map(|p| format!("{}:{}", p.t / 1000, p.v))
                        .collect();
                    format!("{} {}", s.labels, p.join(" "))
                })
                .collect(),
            Value::String { s, .. } => vec![s.clone()],
        }
    }

    fn range(m: &MemLogs, q: &str, start: i64, end: i64, step: i64) -> Vec<String> {
        show(&metric(m, q, (start, end, step), false).unwrap_or_else(|e| panic!("{q}: {e}")))
    }

    fn instant(m: &MemLogs, q: &str, t: i64) -> Vec<String> {
        show(&metric(m, q, (t, t, 0), true).unwrap_or_else(|e| panic!("{q}: {e}")))
    }

    #[test]
    fn log_queries_direction_limit_and_filters() {
        let m = data();
        assert_eq!(
            lines(&m, r#"{app="api"} |= "error""#, 2, Direction::Backward),
            [r#"{app="api", env="prod"}: level=error took=900ms n=9, level=error took=600ms n=6"#]
        );
        assert_eq!(
            lines(&m, r#"{app="api"} |= "error""#, 2, Direction::Forward),
            [r#"{app="api", env="prod"}: level=error took=300ms n=3, level=error took=600ms n=6"#]
        );
        // A label filter drops lines after the read, so the limit counts what passes it.
        assert_eq!(
            lines(
                &m,
                r#"{app="api"} | logfmt | n > 7 | line_format "{{.n}}""#,
                2,
                Direction::Forward
            ),
            [
                r#"{app="api", env="prod", level="error", n="9", took="900ms"}: 9"#,
                r#"{app="api", env="prod", level="info", n="8", took="80ms"}: 8"#
            ]
        );
        assert_eq!(
            lines(
                &m,
                r#"{app=~"api|web"} !~ "level=(info|error)""#,
                0,
                Direction::Backward
            ),
            [
                r#"{app="web"}: {"status":500,"path":"/b"}"#,
                r#"{app="web", trace_id="t1"}: {"status":200,"path":"/a"}"#
            ]
        );
        // Range: [start, end).
        let mut r = req(0, Direction::Forward);
        r.start_ns = 2 * S;
        r.end_ns = 4 * S;
        let s = logs_with(&m, r#"{app="api"}"#, &r).unwrap();
        assert_eq!(
            s[0].lines.iter().map(|l| l.ts_ns / S).collect::<Vec<_>>(),
            [2, 3]
        );
        // interval: lines of a stream at least 3s apart.
        r.start_ns = 0;
        r.end_ns = 100 * S;
        r.interval_ns = 3 * S;
        let s = logs_with(&m, r#"{app="api"}"#, &r).unwrap();
        assert_eq!(
            s[0].lines.iter().map(|l| l.ts_ns / S).collect::<Vec<_>>(),
            [1, 4, 7, 10]
        );
    }

    #[test]
    fn categorized_labels_keep_streams_whole() {
        let m = data();
        let mut r = req(0, Direction::Forward);
        r.categorize = true;
        let s = logs_with(&m, r#"{app="web"} | json"#, &r).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels.to_string(), r#"{app="web"}"#);
        assert_eq!(s[0].lines[0].metadata.to_string(), r#"{trace_id="t1"}"#);
        assert_eq!(
            s[0].lines[0].parsed.to_string(),
            r#"{path="/a", status="200"}"#
        );
        assert!(s[0].lines[1].metadata.is_empty());
    }

    #[test]
    fn log_range_windows_are_open_at_the_start() {
        let m = data();
        // At t=4 the window (2, 4] holds the lines at 3 and 4.
        assert_eq!(
            range(&m, r#"count_over_time({app="api"}[2s])"#, 2, 6, 2),
            [r#"{app="api", env="prod"} 2:2 4:2 6:2"#]
        );
        assert_eq!(
            instant(&m, r#"count_over_time({app="api"} |= "error" [10s])"#, 10),
            [r#"{app="api", env="prod"} 10:3"#]
        );
        assert_eq!(
            instant(&m, r#"rate({app="api"}[10s])"#, 10),
            [r#"{app="api", env="prod"} 10:1"#]
        );
        assert_eq!(
            instant(&m, r#"bytes_over_time({app="web"}[10s])"#, 10),
            [
                r#"{app="web"} 10:26"#,
                r#"{app="web", trace_id="t1"} 10:26"#
            ]
        );
        assert_eq!(
            instant(&m, r#"bytes_rate({app="web"} |= "500" [2s])"#, 4),
            [r#"{app="web"} 4:13"#]
        );
        // offset moves the window back.
        assert_eq!(
            instant(&m, r#"count_over_time({app="api"}[2s] offset 5s)"#, 10),
            [r#"{app="api", env="prod"} 10:2"#]
        );
        assert_eq!(
            range(
                &m,
                r#"absent_over_time({app="api", env=~"p.*"}[1s])"#,
                9,
                12,
                1
            ),
            [r#"{app="api"} 11:1 12:1"#]
        );
    }

    #[test]
    fn unwrapped_range_aggregations() {
        let m = data();
        let q = |f: &str| {
            format!(r#"{f}({{app="api"}} | logfmt | unwrap duration(took) [10s]) by (level)"#)
        };
        assert_eq!(
            instant(&m, &q("max_over_time"), 10),
            [r#"{level="error"} 10:0.9"#, r#"{level="info"} 10:0.1"#]
        );
        assert_eq!(
            instant(&m, &q("min_over_time"), 10),
            [r#"{level="error"} 10:0.3"#, r#"{level="info"} 10:0.01"#]
        );
        assert_eq!(
            instant(&m, &q("first_over_time"), 10),
            [r#"{level="error"} 10:0.3"#, r#"{level="info"} 10:0.01"#]
        );
        assert_eq!(
            instant(&m, &q("last_over_time"), 10),
            [r#"{level="error"} 10:0.9"#, r#"{level="info"} 10:0.1"#]
        );
        assert_eq!(
            instant(&m, &q("avg_over_time"), 10),
            [
                r#"{level="error"} 10:0.6000000000000001"#,
                r#"{level="info"} 10:0.05285714285714286"#
            ]
        );
        assert_eq!(
            instant(
                &m,
                r#"quantile_over_time(0.5, {app="api"} | logfmt | unwrap n [10s]) by (level)"#,
                10
            ),
            [r#"{level="error"} 10:6"#, r#"{level="info"} 10:5"#]
        );
        assert_eq!(
            instant(
                &m,
                r#"sum(sum_over_time({app="api"} | logfmt | unwrap n [10s]))"#,
                10
            ),
            [r#"{} 10:55"#]
        );
        assert_eq!(
            instant(
                &m,
                r#"sum(rate({app="api"} | logfmt | unwrap n [10s]))"#,
                10
            ),
            [r#"{} 10:5.5"#]
        );
        assert_eq!(
            instant(
                &m,
                r#"sum(stdvar_over_time({app="api"} | logfmt | level="error" | unwrap n [10s]) by (app))"#,
                10
            ),
            [r#"{} 10:6"#]
        );
        // The unwrapped label leaves the series' labels; the others stay.
        assert_eq!(
            instant(
                &m,
                r#"max_over_time({app="api"} | logfmt | level="error" | drop took | unwrap n [2s])"#,
                10
            ),
            [r#"{app="api", env="prod", level="error"} 10:9"#]
        );
    }

    #[test]
    fn pipeline_errors_fail_metric_queries_unless_filtered() {
        let m = data();
        let e = metric(
            &m,
            r#"sum(count_over_time({app=~".+"} | json [10s]))"#,
            (10, 10, 0),
            true,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("pipeline error: 'JSONParserErr'"),
            "{e}"
        );
        assert!(matches!(e, Error::BadData(_)));
        assert_eq!(
            instant(
                &m,
                r#"sum(count_over_time({app=~".+"} | json | __error__="" [10s]))"#,
                10
            ),
            [r#"{} 10:2"#]
        );
        let e = metric(
            &m,
            r#"sum(sum_over_time({app="api"} | logfmt | unwrap level [10s]))"#,
            (10, 10, 0),
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("SampleExtractionErr"), "{e}");
        assert_eq!(
            instant(
                &m,
                r#"sum(sum_over_time({app=~".+"} | logfmt | unwrap n | __error__="" [10s]))"#,
                10
            ),
            [r#"{} 10:55"#]
        );
    }

    #[test]
    fn vector_aggregations() {
        let m = data();
        let c = r#"count_over_time({app=~".+"} | logfmt | __error__="" [10s])"#;
        assert_eq!(
            instant(&m, &format!("sum by (app) ({c})"), 10),
            [r#"{app="api"} 10:10"#, r#"{app="web"} 10:2"#]
        );
        assert_eq!(
            instant(
                &m,
                &format!("sum without (env, level, n, took, trace_id) ({c})"),
                10
            ),
            [r#"{app="api"} 10:10"#, r#"{app="web"} 10:2"#]
        );
        assert_eq!(instant(&m, &format!("count({c})"), 10), [r#"{} 10:12"#]);
        let by_level = r#"sum by (level) (count_over_time({app="api"} | logfmt [10s]))"#;
        assert_eq!(
            instant(&m, &format!("topk(1, {by_level})"), 10),
            [r#"{level="info"} 10:7"#]
        );
        assert_eq!(
            instant(&m, &format!("bottomk(1, {by_level})"), 10),
            [r#"{level="error"} 10:3"#]
        );
        assert_eq!(
            instant(&m, &format!("sort_desc({by_level})"), 10),
            [r#"{level="info"} 10:7"#, r#"{level="error"} 10:3"#]
        );
        assert_eq!(
            instant(&m, &format!("sort({by_level})"), 10),
            [r#"{level="error"} 10:3"#, r#"{level="info"} 10:7"#]
        );
        assert_eq!(instant(&m, &format!("avg({by_level})"), 10), [r#"{} 10:5"#]);
        assert_eq!(instant(&m, &format!("max({by_level})"), 10), [r#"{} 10:7"#]);
        assert_eq!(instant(&m, &format!("min({by_level})"), 10), [r#"{} 10:3"#]);
        assert_eq!(
            instant(&m, &format!("stddev({by_level})"), 10),
            [r#"{} 10:2"#]
        );
        assert_eq!(
            instant(&m, &format!("stdvar({by_level})"), 10),
            [r#"{} 10:4"#]
        );
    }

    #[test]
    fn binary_operators_and_matching() {
        let m = data();
        // Grafana's health check.
        assert_eq!(instant(&m, "vector(1)+vector(1)", 4), [r#"{} 4:2"#]);
        assert_eq!(instant(&m, "1 + 2 * 3", 4), ["scalar 4:7"]);
        assert_eq!(instant(&m, "2 > bool 1", 4), ["scalar 4:1"]);
        let by_level = r#"sum by (level) (count_over_time({app="api"} | logfmt [10s]))"#;
        assert_eq!(
            instant(&m, &format!("{by_level} > 5"), 10),
            [r#"{level="info"} 10:7"#]
        );
        assert_eq!(
            instant(&m, &format!("{by_level} > bool 5"), 10),
            [r#"{level="error"} 10:0"#, r#"{level="info"} 10:1"#]
        );
        assert_eq!(
            instant(&m, &format!("10 - {by_level}"), 10),
            [r#"{level="error"} 10:7"#, r#"{level="info"} 10:3"#]
        );
        assert_eq!(
            instant(&m, &format!("{by_level} / on (level) {by_level}"), 10),
            [r#"{level="error"} 10:1"#, r#"{level="info"} 10:1"#]
        );
        let total = r#"sum(count_over_time({app="api"}[10s]))"#;
        assert_eq!(
            instant(
                &m,
                &format!("{by_level} / ignoring (level) group_left {total}"),
                10
            ),
            [r#"{level="error"} 10:0.3"#, r#"{level="info"} 10:0.7"#]
        );
        assert_eq!(
            instant(&m, &format!("{total} * on () group_right {by_level}"), 10),
            [r#"{level="error"} 10:30"#, r#"{level="info"} 10:70"#]
        );
        let e = metric(
            &m,
            &format!("{by_level} / ignoring (level) {total}"),
            (10, 10, 0),
            true,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("many-to-one matching must be explicit"),
            "{e}"
        );
        assert_eq!(
            instant(&m, &format!("{by_level} and {by_level} > 5"), 10),
            [r#"{level="info"} 10:7"#]
        );
        assert_eq!(
            instant(&m, &format!("{by_level} unless {by_level} > 5"), 10),
            [r#"{level="error"} 10:3"#]
        );
        assert_eq!(
            instant(&m, &format!("{by_level} > 5 or vector(0)"), 10),
            [r#"{} 10:0"#, r#"{level="info"} 10:7"#]
        );
        // Range queries: one slot per step.
        assert_eq!(
            range(
                &m,
                r#"sum(count_over_time({app="api"} |= "error" [3s])) or vector(0)"#,
                1,
                7,
                3
            ),
            [r#"{} 1:0 4:1 7:1"#]
        );
    }

    #[test]
    fn limits_are_named_errors() {
        let m = data();
        let e = logs_with(&m, r#"{app="api"}"#, &req(5001, Direction::Backward)).unwrap_err();
        assert!(e.to_string().contains("max_entries_limit"), "{e}");
        let mut eng = engine();
        eng.opts.max_series = 1;
        let Expr::Metric(q) = eng.parse(r#"count_over_time({app=~".+"}[10s])"#).unwrap() else {
            panic!()
        };
        let e = eng
            .metric(
                &m,
                &TenantId::default_tenant(),
                &q,
                (10 * S, 10 * S, 0),
                true,
                &budget(),
            )
            .unwrap_err();
        assert!(e.to_string().contains("query.max_query_series"), "{e}");
        eng.opts.max_series = 500;
        eng.opts.max_bytes_read = 100;
        let e = eng
            .metric(
                &m,
                &TenantId::default_tenant(),
                &q,
                (10 * S, 10 * S, 0),
                true,
                &budget(),
            )
            .unwrap_err();
        assert!(e.to_string().contains("query.max_query_bytes_read"), "{e}");
        let small = Budget::new(std::time::Instant::now(), Duration::from_secs(60), 200);
        let Expr::Log(l) = eng.parse(r#"{app="api"}"#).unwrap() else {
            panic!()
        };
        let e = engine()
            .logs(
                &m,
                &TenantId::default_tenant(),
                &l,
                &req(100, Direction::Backward),
                &small,
            )
            .unwrap_err();
        assert!(e.to_string().contains("query.max_memory"), "{e}");
        let late = Budget::new(std::time::Instant::now(), Duration::ZERO, 0);
        std::thread::sleep(Duration::from_millis(2));
        let e = engine()
            .logs(
                &m,
                &TenantId::default_tenant(),
                &l,
                &req(100, Direction::Backward),
                &late,
            )
            .unwrap_err();
        assert!(matches!(e, Error::Timeout(_)), "{e}");
        let e = metric(
            &m,
            r#"count_over_time({app="api"}[1s])"#,
            (0, 100_000, 1),
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("maximum resolution"), "{e}");
    }

    /// The same queries against the store's own log engine, through the contract.
    #[test]
    fn the_store_answers_like_the_test_double() {
        use lookout_store::{AppendLogs, LogStream, Store, StoreOptions};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let m = data();
        let batch: Vec<LogStream> = m
            .streams
            .iter()
            .map(|(l, recs)| LogStream {
                labels: (**l).clone(),
                records: recs.clone(),
            })
            .collect();
        store
            .append_logs(&TenantId::default_tenant(), batch.clone())
            .unwrap();
        for q in [
            r#"{app=~".+"} |= "e" | logfmt | n > 2"#,
            r#"{app="web"} | json | status >= 500"#,
            r#"{app="api"} != "info" or "n=3""#,
        ] {
            for dir in [Direction::Forward, Direction::Backward] {
                assert_eq!(
                    lines(&m, q, 3, dir),
                    {
                        let Expr::Log(l) = engine().parse(q).unwrap() else {
                            panic!()
                        };
                        match engine()
                            .logs(
                                &store,
                                &TenantId::default_tenant(),
                                &l,
                                &req(3, dir),
                                &budget(),
                            )
                            .unwrap()
                            .0
                        {
                            Answer::Streams(s) => s
                                .iter()
                                .map(|s| {
                                    let l: Vec<&str> =
                                        s.lines.iter().map(|l| l.line.as_str()).collect();
                                    format!("{}: {}", s.labels, l.join(", "))
                                })
                                .collect::<Vec<_>>(),
                            a => panic!("{a:?}"),
                        }
                    },
                    "{q}"
                );
            }
        }
        let Expr::Metric(e) = engine()
            .parse(r#"sum by (level) (count_over_time({app="api"} | logfmt [5s]))"#)
            .unwrap()
        else {
            panic!()
        };
        let (a, stats) = engine()
            .metric(
                &store,
                &TenantId::default_tenant(),
                &e,
                (0, 10 * S, 5 * S),
                false,
                &budget(),
            )
            .unwrap();
        let Answer::Metric(v) = a else { panic!() };
        assert_eq!(
            show(&v),
            [r#"{level="error"} 5:1 10:2"#, r#"{level="info"} 5:4 10:3"#]
        );
        assert_eq!(stats.lines, 10);
    }
}
