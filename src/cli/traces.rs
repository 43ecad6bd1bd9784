//! `lookout traces get ID` prints a trace as a waterfall: one line per span, indented under
//! its parent, with its service, name, start offset, duration and a bar placed on the
//! trace's time line; failed spans are marked. `lookout traces search QUERY` runs a TraceQL
//! search and prints one line per trace. Both talk to the Tempo API.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use serde_json::Value;

use super::query::urlencode;

#[derive(clap::Subcommand)]
pub enum TracesCmd {
    /// Print one trace as a waterfall.
    Get {
        #[command(flatten)]
        server: ServerArgs,
        /// The trace id (32 hex digits; shorter ids are left-padded with zeros).
        id: String,
    },
    /// Find traces with a TraceQL query, e.g. '{ resource.service.name = "shop" && status = error }'.
    Search {
        #[command(flatten)]
        server: ServerArgs,
        /// How far back to look: `15m`, `1h`, `2d`.
        #[arg(long, default_value = "1h")]
        since: String,
        /// Most traces to print.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// The TraceQL query.
        query: String,
    },
}

#[derive(clap::Args)]
pub struct ServerArgs {
    /// Base URL of the Lookout (or any Tempo-compatible) server.
    #[arg(long, default_value = "http://localhost:9700", env = "LOOKOUT_SERVER")]
    server: String,
    /// Tenant, sent as X-Scope-OrgID.
    #[arg(long)]
    tenant: Option<String>,
}

impl ServerArgs {
    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .context("cannot create the HTTP client")?;
        let url = format!("{}{path}", self.server.trim_end_matches('/'));
        super::logs::get_json(&client, &url, &self.server, self.tenant.as_deref())
    }
}

pub fn run(cmd: TracesCmd) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        TracesCmd::Get { server, id } => {
            let v = server.get(&format!("/api/traces/{}", urlencode(&id)))?;
            out.write_all(waterfall(&spans(&v), 40).as_bytes())?;
        }
        TracesCmd::Search {
            server,
            since,
            limit,
            query,
        } => {
            let since = crate::duration::Duration::parse(&since)
                .map_err(|e| anyhow!("--since {since:?}: {e}"))?;
            let end = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .context("system clock is before 1970")?
                .as_secs() as i64;
            let start = end - since.0 / 1000;
            let v = server.get(&format!(
                "/api/search?q={}&limit={limit}&start={start}&end={}",
                urlencode(&query),
                end + 1
            ))?;
            out.write_all(search_table(&v).as_bytes())?;
        }
    }
    Ok(())
}

/// One span as the waterfall needs it.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    parent: Option<String>,
    service: String,
    name: String,
    start_ns: i64,
    end_ns: i64,
    error: Option<String>,
}

fn nanos(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        v => v.as_i64().unwrap_or(0),
    }
}

/// The spans of a `/api/traces/<id>` answer (`batches` of OTLP JSON).
fn spans(v: &Value) -> Vec<Row> {
    let mut rows = Vec::new();
    let batches = v["batches"].as_array().or(v["resourceSpans"].as_array());
    for b in batches.into_iter().flatten() {
        let service = b["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|kv| kv["key"] == "service.name")
            .and_then(|kv| kv["value"]["stringValue"].as_str())
            .unwrap_or("unknown_service")
            .to_string();
        for ss in b["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                let error = (s["status"]["code"] == 2
                    || s["status"]["code"] == "STATUS_CODE_ERROR")
                    .then(|| s["status"]["message"].as_str().unwrap_or("").to_string());
                rows.push(Row {
                    id: s["spanId"].as_str().unwrap_or("").to_string(),
                    parent: s["parentSpanId"]
                        .as_str()
                        .filter(|p| !p.is_empty())
                        .map(str::to_string),
                    service: service.clone(),
                    name: s["name"].as_str().unwrap_or("").to_string(),
                    start_ns: nanos(&s["startTimeUnixNano"]),
                    end_ns: nanos(&s["endTimeUnixNano"]),
                    error,
                });
            }
        }
    }
    rows
}

/// A duration in the unit that reads best: `850µs`, `12.5ms`, `3.20s`.
fn human(ns: i64) -> String {
    let ns = ns.max(0) as f64;
    if ns < 1e3 {
        format!("{ns}ns")
    } else if ns < 1e6 {
        format!("{:.0}µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

/// The waterfall: a header, then spans depth first (children by start time) with the
/// tree, service and name, offset from the trace's start, duration and a bar `width`
/// characters wide for the whole trace. A span whose parent is not in the trace is a root.
fn waterfall(rows: &[Row], width: usize) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("no spans\n");
        return out;
    }
    let t0 = rows.iter().map(|r| r.start_ns).min().unwrap_or(0);
    let t1 = rows
        .iter()
        .map(|r| r.end_ns)
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    let total = t1 - t0;
    let ids: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let parent = r
            .parent
            .as_deref()
            .and_then(|p| ids.get(p).copied())
            .filter(|&p| p != i);
        children.entry(parent).or_default().push(i);
    }
    for c in children.values_mut() {
        c.sort_by_key(|&i| (rows[i].start_ns, rows[i].name.clone()));
    }
    // Depth first; a visited set keeps a cycle of parent ids from looping.
    let mut order: Vec<(usize, usize)> = Vec::with_capacity(rows.len());
    let mut seen = vec![false; rows.len()];
    let mut stack: Vec<(usize, usize)> = children
        .get(&None)
        .into_iter()
        .flatten()
        .rev()
        .map(|&i| (i, 0))
        .collect();
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        order.push((i, depth));
        for &c in children.get(&Some(i)).into_iter().flatten().rev() {
            stack.push((c, depth + 1));
        }
    }
    // Spans only reachable through a cycle still get printed, as roots.
    order.extend(
        seen.iter()
            .enumerate()
            .filter(|(_, &s)| !s)
            .map(|(i, _)| (i, 0)),
    );
    let services: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.service.as_str()).collect();
    let errors = rows.iter().filter(|r| r.error.is_some()).count();
    let _ = writeln!(
        out,
        "trace {} spans, {} services, {}{}",
        rows.len(),
        services.len(),
        human(total),
        if errors > 0 {
            format!(", {errors} errors")
        } else {
            String::new()
        }
    );
    let labels: Vec<String> = order
        .iter()
        .map(|&(i, depth)| {
            let r = &rows[i];
            format!("{}{} {}", "  ".repeat(depth), r.service, r.name)
        })
        .collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    for (&(i, _), label) in order.iter().zip(&labels) {
        let r = &rows[i];
        let from = ((r.start_ns - t0) as f64 / total as f64 * width as f64).floor() as usize;
        let to = ((r.end_ns - t0) as f64 / total as f64 * width as f64).ceil() as usize;
        let from = from.min(width.saturating_sub(1));
        let to = to.clamp(from + 1, width);
        let bar: String = (0..width)
            .map(|c| if c >= from && c < to { '█' } else { '·' })
            .collect();
        let mark = match &r.error {
            Some(m) if !m.is_empty() => format!("  ✗ error: {m}"),
            Some(_) => "  ✗ error".to_string(),
            None => String::new(),
        };
        let pad = label_width - label.chars().count();
        let _ = writeln!(
            out,
            "{label}{} {:>9} {:>9} |{bar}|{mark}",
            " ".repeat(pad),
            format!("+{}", human(r.start_ns - t0)),
            human(r.end_ns - r.start_ns),
        );
    }
    out
}

/// `/api/search`'s traces as a table.
fn search_table(v: &Value) -> String {
    let mut out = String::new();
    let traces = v["traces"].as_array().cloned().unwrap_or_default();
    if traces.is_empty() {
        out.push_str("no traces\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<32}  {:<24}  {:<10}  {:<24}  ROOT",
        "TRACE ID", "START", "DURATION", "SERVICE"
    );
    for t in &traces {
        let start = nanos(&t["startTimeUnixNano"]);
        let start = chrono::DateTime::from_timestamp(
            start.div_euclid(1_000_000_000),
            start.rem_euclid(1_000_000_000) as u32,
        )
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
        let ms = t["durationMs"].as_f64().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "{:<32}  {:<24}  {:<10}  {:<24}  {}",
            t["traceID"].as_str().unwrap_or(""),
            start,
            human((ms * 1e6) as i64),
            t["rootServiceName"]
                .as_str()
                .unwrap_or("<root span not yet received>"),
            t["rootTraceName"].as_str().unwrap_or(""),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, parent: Option<&str>, service: &str, start: i64, end: i64) -> Row {
        Row {
            id: id.into(),
            parent: parent.map(Into::into),
            service: service.into(),
            name: format!("op-{id}"),
            start_ns: start,
            end_ns: end,
            error: None,
        }
    }

    #[test]
    fn draws_the_tree_with_bars() {
        let mut rows = vec![
            row("c", Some("a"), "db", 5_000_000, 10_000_000),
            row("a", None, "web", 0, 10_000_000),
            row("b", Some("a"), "api", 1_000_000, 4_000_000),
            row("d", Some("zzz"), "lost", 2_000_000, 3_000_000),
        ];
        rows[0].error = Some("timeout".into());
        let text = waterfall(&rows, 10);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "trace 4 spans, 4 services, 10.0ms, 1 errors");
        assert!(lines[1].starts_with("web op-a "), "{text}");
        assert!(lines[1].ends_with("|██████████|"), "{text}");
        assert!(lines[2].starts_with("  api op-b "), "{text}");
        assert!(
            lines[2].contains("+1.0ms") && lines[2].contains("3.0ms"),
            "{text}"
        );
        assert!(lines[2].ends_with("|·███······|"), "{text}");
        assert!(lines[3].starts_with("  db op-c "), "{text}");
        assert!(
            lines[3].ends_with("|·····█████|  ✗ error: timeout"),
            "{text}"
        );
        assert!(lines[4].starts_with("lost op-d "), "{text}");
    }

    #[test]
    fn a_parent_cycle_still_prints_every_span() {
        let rows = vec![
            row("a", Some("b"), "s", 0, 1),
            row("b", Some("a"), "s", 0, 1),
        ];
        assert_eq!(waterfall(&rows, 4).lines().count(), 3);
    }
}
