//! `lookout logs QUERY`: runs a LogQL query on a server over the Loki API and prints each
//! line after its time and stream labels, coloured per stream on a terminal. `--follow`
//! keeps polling for newer lines, oldest first. A metric query prints one row per series
//! and step. The server's error message is the command's error.

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use super::query::urlencode;

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Base URL of the Lookout (or any Loki-compatible) server.
    #[arg(long, default_value = "http://localhost:9700", env = "LOOKOUT_SERVER")]
    server: String,
    /// How far back to look: `15m`, `1h`, `2d`.
    #[arg(long, default_value = "1h")]
    since: String,
    /// Most lines to print (the server caps it at query.max_entries_limit_per_query).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Oldest first (default: newest first).
    #[arg(long)]
    forward: bool,
    /// After the first answer, keep asking for newer lines every second.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Tenant, sent as X-Scope-OrgID.
    #[arg(long)]
    tenant: Option<String>,
    /// The LogQL query, e.g. '{app="api"} |= "error"'.
    query: String,
}

fn now_ns() -> anyhow::Result<i64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock is before 1970")?
        .as_nanos() as i64)
}

pub fn run(args: LogsArgs) -> anyhow::Result<()> {
    let since = crate::duration::Duration::parse(&args.since)
        .map_err(|e| anyhow!("--since {:?}: {e}", args.since))?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .context("cannot create the HTTP client")?;
    let colour = std::io::stdout().is_terminal();
    let end = now_ns()?;
    let start = end - since.0 * 1_000_000;
    let direction = if args.forward || args.follow {
        "forward"
    } else {
        "backward"
    };
    let data = fetch(&client, &args, start, end, direction)?;
    let mut last = print(&data, colour)?;
    if !args.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let end = now_ns()?;
        let from = last.map_or(end - 2_000_000_000, |t| t + 1);
        let data = fetch(&client, &args, from, end, "forward")?;
        if let Some(t) = print(&data, colour)? {
            last = Some(t);
        }
    }
}

fn fetch(
    client: &reqwest::blocking::Client,
    args: &LogsArgs,
    start: i64,
    end: i64,
    direction: &str,
) -> anyhow::Result<Value> {
    let url = format!(
        "{}/loki/api/v1/query_range?query={}&start={start}&end={end}&limit={}&direction={direction}",
        args.server.trim_end_matches('/'),
        urlencode(&args.query),
        args.limit
    );
    let v = get_json(client, &url, &args.server, args.tenant.as_deref())?;
    Ok(v["data"].clone())
}

/// GETs `url` (on `server`) as `tenant` and reads the JSON answer; a failure status is an
/// error carrying the server's message.
pub(crate) fn get_json(
    client: &reqwest::blocking::Client,
    url: &str,
    server: &str,
    tenant: Option<&str>,
) -> anyhow::Result<Value> {
    let mut req = client.get(url);
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let resp = req
        .send()
        .with_context(|| format!("cannot reach {server}"))?;
    let status = resp.status();
    let text = resp.text().context("cannot read the server's answer")?;
    if !status.is_success() {
        bail!("{}", text.trim());
    }
    serde_json::from_str(&text)
        .map_err(|_| anyhow!("the server answered HTTP {status} with a body that is not JSON"))
}

const COLOURS: [&str; 6] = [
    "\x1b[36m", "\x1b[33m", "\x1b[35m", "\x1b[32m", "\x1b[34m", "\x1b[31m",
];

fn labels_text(l: &Value) -> String {
    let pairs: Vec<String> = l
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v)).collect())
        .unwrap_or_default();
    format!("{{{}}}", pairs.join(", "))
}

fn time_text(ns: i64) -> String {
    chrono::DateTime::from_timestamp(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    .unwrap_or_else(|| ns.to_string())
}

/// Prints an answer; returns the newest line's time.
fn print(data: &Value, colour: bool) -> anyhow::Result<Option<i64>> {
    let mut out = std::io::stdout().lock();
    let mut newest = None;
    match data["resultType"].as_str() {
        Some("streams") => {
            let mut rows: Vec<(i64, usize, String, String)> = Vec::new();
            for s in data["result"].as_array().into_iter().flatten() {
                let labels = labels_text(&s["stream"]);
                // A stream keeps its colour from one `--follow` batch to the next.
                let i = labels
                    .bytes()
                    .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
                for v in s["values"].as_array().into_iter().flatten() {
                    let ts: i64 = v[0].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
                    rows.push((
                        ts,
                        i,
                        labels.clone(),
                        v[1].as_str().unwrap_or("").to_string(),
                    ));
                }
            }
            // The server picked the newest (or oldest) `limit` lines; print them in time
            // order, newest last, as `tail` would.
            rows.sort_by_key(|r| r.0);
            for (ts, i, labels, line) in &rows {
                newest = Some(newest.map_or(*ts, |n: i64| n.max(*ts)));
                if colour {
                    writeln!(
                        out,
                        "\x1b[2m{}\x1b[0m {}{labels}\x1b[0m {line}",
                        time_text(*ts),
                        COLOURS[i % COLOURS.len()]
                    )?;
                } else {
                    writeln!(out, "{} {labels} {line}", time_text(*ts))?;
                }
            }
        }
        Some("matrix") | Some("vector") => {
            for s in data["result"].as_array().into_iter().flatten() {
                let labels = labels_text(&s["metric"]);
                let points: Vec<&Value> = match s.get("values").and_then(Value::as_array) {
                    Some(v) => v.iter().collect(),
                    None => vec![&s["value"]],
                };
                for p in points {
                    let t = p[0].as_f64().unwrap_or(0.0);
                    writeln!(
                        out,
                        "{} {labels} {}",
                        time_text((t * 1e9) as i64),
                        p[1].as_str().unwrap_or("")
                    )?;
                }
            }
        }
        Some("scalar") => writeln!(out, "{}", data["result"][1].as_str().unwrap_or(""))?,
        other => bail!("unexpected result type {other:?}"),
    }
    Ok(newest)
}
