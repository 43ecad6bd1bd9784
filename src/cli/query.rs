//! `lookout query EXPR`: runs a PromQL query on a server over its HTTP API and prints the
//! result: a table for an instant vector, the value for a scalar or string, and one line
//! per series for a range query. The server's error message is the command's error.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

#[derive(clap::Args)]
pub struct QueryArgs {
    /// Base URL of the Lookout (or any Prometheus-compatible) server.
    #[arg(long, default_value = "http://localhost:9700", env = "LOOKOUT_SERVER")]
    server: String,
    /// Evaluation time of an instant query: RFC 3339, Unix seconds, `now` or `now-1h`.
    #[arg(long, conflicts_with_all = ["start", "end", "step"])]
    time: Option<String>,
    /// Start of a range query (same forms as --time).
    #[arg(long, requires = "end")]
    start: Option<String>,
    /// End of a range query.
    #[arg(long, requires = "start")]
    end: Option<String>,
    /// Resolution of a range query: `15s`, `1m` or seconds. Default: the range / 250.
    #[arg(long, requires = "start")]
    step: Option<String>,
    /// Query timeout sent to the server (`30s`); the server's own limit still applies.
    #[arg(long)]
    timeout: Option<String>,
    /// Tenant, sent as X-Scope-OrgID.
    #[arg(long)]
    tenant: Option<String>,
    /// The PromQL expression.
    expr: String,
}

pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock is before 1970")?
        .as_secs_f64();
    let mut form = vec![("query", args.expr.clone())];
    let path = match (&args.start, &args.end) {
        (Some(start), Some(end)) => {
            let (start, end) = (parse_time(start, now)?, parse_time(end, now)?);
            let step = match &args.step {
                Some(s) => s.clone(),
                None => format!("{}", ((end - start) / 250.0).max(1.0).round()),
            };
            form.extend([
                ("start", seconds(start)),
                ("end", seconds(end)),
                ("step", step),
            ]);
            "/api/v1/query_range"
        }
        _ => {
            let t = match &args.time {
                Some(t) => parse_time(t, now)?,
                None => now,
            };
            form.push(("time", seconds(t)));
            "/api/v1/query"
        }
    };
    if let Some(t) = &args.timeout {
        form.push(("timeout", t.clone()));
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let url = format!("{}{path}", args.server.trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .context("cannot create the HTTP client")?;
    let mut req = client
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(t) = &args.tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let resp = req.send().with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let text = resp.text().context("cannot read the server's answer")?;
    let v: Value = serde_json::from_str(&text).map_err(|_| {
        anyhow!(
            "{url} answered HTTP {status} with a body that is not Prometheus JSON: {}",
            text.chars().take(300).collect::<String>()
        )
    })?;
    if v["status"] != "success" {
        match v["error"].as_str() {
            Some(e) => bail!("{e}"),
            None => bail!("{url} answered HTTP {status}: {text}"),
        }
    }
    for kind in ["warnings", "infos"] {
        for w in v[kind].as_array().into_iter().flatten() {
            eprintln!(
                "{}: {}",
                &kind[..kind.len() - 1],
                w.as_str().unwrap_or_default()
            );
        }
    }
    print!("{}", render(&v["data"])?);
    Ok(())
}

/// The text printed for a query's `data`.
fn render(data: &Value) -> anyhow::Result<String> {
    let result = &data["result"];
    let mut out = String::new();
    match data["resultType"].as_str() {
        Some("scalar") | Some("string") => {
            let _ = writeln!(out, "{}", result[1].as_str().unwrap_or_default());
        }
        Some("vector") => {
            let rows: Vec<(String, String)> = result
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    (
                        series_name(&s["metric"]),
                        s["value"][1].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(6);
            let _ = writeln!(out, "{:<width$}  VALUE", "SERIES");
            for (name, value) in rows {
                let _ = writeln!(out, "{name:<width$}  {value}");
            }
        }
        Some("matrix") => {
            for s in result.as_array().into_iter().flatten() {
                let points: Vec<String> = s["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{} @{}", p[1].as_str().unwrap_or_default(), p[0]))
                    .collect();
                let _ = writeln!(
                    out,
                    "{} => {}",
                    series_name(&s["metric"]),
                    points.join(", ")
                );
            }
        }
        other => bail!("unknown resultType {other:?} in the server's answer"),
    }
    Ok(out)
}

/// `name{a="1", b="2"}` the way PromQL writes a series.
fn series_name(metric: &Value) -> String {
    let empty = Map::new();
    let m = metric.as_object().unwrap_or(&empty);
    let mut s = m
        .get("__name__")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let labels: Vec<String> = m
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    if !labels.is_empty() || s.is_empty() {
        let _ = write!(s, "{{{}}}", labels.join(", "));
    }
    s
}

/// `now`, `now-1h`, `now+5m`, Unix seconds or RFC 3339, as Unix seconds.
fn parse_time(s: &str, now: f64) -> anyhow::Result<f64> {
    if let Some(rest) = s.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now);
        }
        let (sign, d) = match rest.split_at(1) {
            ("-", d) => (-1.0, d),
            ("+", d) => (1.0, d),
            _ => {
                bail!("time {s:?} is invalid: write now, now-1h, now+5m, Unix seconds or RFC 3339")
            }
        };
        let ms = crate::duration::Duration::parse(d).map_err(|e| anyhow!("time {s:?}: {e}"))?;
        return Ok(now + sign * ms.0 as f64 / 1000.0);
    }
    lookout_query::http::params::parse_time(s)
        .map(|ms| ms as f64 / 1000.0)
        .map_err(|_| {
            anyhow!("time {s:?} is invalid: write now, now-1h, now+5m, Unix seconds or RFC 3339")
        })
}

fn seconds(t: f64) -> String {
    format!("{:.3}", t)
}

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times() {
        assert_eq!(parse_time("now", 100.0).unwrap(), 100.0);
        assert_eq!(parse_time("now-1m", 100.0).unwrap(), 40.0);
        assert_eq!(parse_time("1700000000.5", 0.0).unwrap(), 1_700_000_000.5);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", 0.0).unwrap(),
            1_700_000_000.0
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00", 0.0).unwrap(),
            1_700_000_000.5
        );
        assert!(parse_time("yesterday", 0.0).is_err());
        assert!(parse_time("now*2", 0.0).is_err());
    }

    #[test]
    fn renders() {
        let v = json!({"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"a"},"value":[1,"1"]},
            {"metric":{"job":"long-name\""},"value":[1,"NaN"]}]});
        assert_eq!(
            render(&v).unwrap(),
            "SERIES               VALUE\nup{job=\"a\"}          1\n{job=\"long-name\\\"\"}  NaN\n"
        );
        let v = json!({"resultType":"scalar","result":[4,"2"]});
        assert_eq!(render(&v).unwrap(), "2\n");
        let v = json!({"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"1"],[1.5,"2"]]}]});
        assert_eq!(render(&v).unwrap(), "{} => 1 @1, 2 @1.5\n");
    }
}
