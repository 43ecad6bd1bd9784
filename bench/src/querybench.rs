//! querybench: runs the same PromQL range queries against several Prometheus-compatible
//! servers, takes the median latency of each over N runs, and checks each system's
//! results against a reference system (Prometheus) within a float tolerance.
//!
//! ```sh
//! querybench --queries bench/queries.txt --end 1700000000 --range 1h --step 15 --runs 5 \
//!     --system lookout=http://127.0.0.1:19700 --system prometheus=http://127.0.0.1:19090 \
//!     --reference prometheus --out bench/out
//! ```
//!
//! Runs go round-robin over the systems (run 1 of every system, then run 2, …) so that
//! noise from other work on the machine spreads over all of them. Each query is run once
//! per system before timing; that answer is the one compared.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use serde_json::Value;

#[derive(Parser)]
#[command(about = "PromQL range-query latency and correctness across servers")]
struct Args {
    /// File with one query per line: `name<TAB>expr`; `#` lines are comments.
    #[arg(long)]
    queries: PathBuf,
    /// `name=base URL`, in the order of the report's columns.
    #[arg(long = "system", required = true)]
    systems: Vec<String>,
    /// The system whose answers are taken as right.
    #[arg(long, default_value = "prometheus")]
    reference: String,
    /// Extra header for one system: `name:Header:value`.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// End of the query range, Unix seconds.
    #[arg(long)]
    end: f64,
    /// Length of the query range in seconds.
    #[arg(long, default_value_t = 3600.0)]
    range: f64,
    /// Resolution step in seconds.
    #[arg(long, default_value_t = 15.0)]
    step: f64,
    /// Timed runs per query and system.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Move `end` back until no sample of `up` in the reference lies on a step boundary.
    /// Prometheus 2.x windows are closed on the left and 3.x ones open; a sample exactly
    /// on `t - range` would make correct answers differ.
    #[arg(long)]
    avoid_sample_phases: bool,
    /// Relative tolerance of value comparisons.
    #[arg(long, default_value_t = 1e-9)]
    rel_tol: f64,
    /// Directory for `query.json` (every figure) and the answers that differ.
    #[arg(long)]
    out: PathBuf,
}

struct System {
    name: String,
    base: String,
    headers: Vec<(String, String)>,
}

struct Query {
    name: String,
    expr: String,
}

/// A matrix answer: labels (sorted) → points.
type Matrix = BTreeMap<Vec<(String, String)>, Vec<(i64, f64)>>;

fn main() -> Result<()> {
    let args = Args::parse();
    let mut systems = Vec::new();
    for s in &args.systems {
        let (name, base) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--system {s:?}: write name=http://host:port"))?;
        systems.push(System {
            name: name.to_string(),
            base: base.trim_end_matches('/').to_string(),
            headers: Vec::new(),
        });
    }
    for h in &args.headers {
        let mut parts = h.splitn(3, ':');
        let (Some(sys), Some(k), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("--header {h:?}: write system:Header:value");
        };
        let s = systems
            .iter_mut()
            .find(|s| s.name == sys)
            .ok_or_else(|| anyhow!("--header {h:?}: no system {sys:?}"))?;
        s.headers.push((k.to_string(), v.to_string()));
    }
    let queries = read_queries(&args.queries)?;
    // reqwest is built with rustls but no default crypto provider (the scraper brings
    // ring); without one installed, building any client panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .no_proxy()
        .build()?;
    std::fs::create_dir_all(&args.out)?;

    let step_ms = (args.step * 1000.0).round() as i64;
    let mut end_ms = (args.end * 1000.0).round() as i64;
    if args.avoid_sample_phases {
        if let Some(r) = systems.iter().find(|s| s.name == args.reference) {
            end_ms = avoid_phases(&client, r, end_ms, step_ms)?;
        }
    }
    let start_ms = end_ms - (args.range * 1000.0).round() as i64;
    let params = |q: &Query| {
        vec![
            ("query".to_string(), q.expr.clone()),
            ("start".to_string(), secs(start_ms)),
            ("end".to_string(), secs(end_ms)),
            ("step".to_string(), format!("{}", args.step)),
        ]
    };
    eprintln!(
        "querybench: {} queries, {} systems, range [{}, {}] step {}s, {} runs",
        queries.len(),
        systems.len(),
        secs(start_ms),
        secs(end_ms),
        args.step,
        args.runs
    );

    let mut report = Vec::new();
    for q in &queries {
        let p = params(q);
        // Warm-up run: its answer is the one compared.
        let mut answers: BTreeMap<String, std::result::Result<Matrix, String>> = BTreeMap::new();
        let mut sizes = BTreeMap::new();
        for s in &systems {
            let (ans, bytes) = match run(&client, s, &p) {
                Ok((_, body)) => {
                    let n = body.len();
                    (parse_matrix(&body), n)
                }
                Err(e) => (Err(format!("{e:#}")), 0),
            };
            sizes.insert(s.name.clone(), bytes);
            answers.insert(s.name.clone(), ans);
        }
        let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for _ in 0..args.runs {
            for s in &systems {
                if answers[&s.name].is_err() {
                    continue;
                }
                match run(&client, s, &p) {
                    Ok((d, _)) => times
                        .entry(s.name.clone())
                        .or_default()
                        .push(d.as_secs_f64() * 1000.0),
                    Err(e) => eprintln!("{} {}: {e:#}", s.name, q.name),
                }
            }
        }
        let mut row = serde_json::Map::new();
        row.insert("query".into(), q.name.clone().into());
        row.insert("expr".into(), q.expr.clone().into());
        for s in &systems {
            let mut sys = serde_json::Map::new();
            let t = times.get(&s.name).cloned().unwrap_or_default();
            sys.insert("runs_ms".into(), serde_json::json!(t));
            sys.insert("median_ms".into(), serde_json::json!(median(&t)));
            sys.insert("bytes".into(), serde_json::json!(sizes[&s.name]));
            let verdict = match (&answers[&s.name], answers.get(&args.reference)) {
                (Err(e), _) => format!("error: {e}"),
                (Ok(m), _) if s.name == args.reference => format!("reference ({} series)", m.len()),
                (Ok(_), None) => "no reference".into(),
                (Ok(_), Some(Err(_))) => "reference failed".into(),
                (Ok(m), Some(Ok(r))) => match compare(r, m, args.rel_tol) {
                    None => format!("equal ({} series)", m.len()),
                    Some(diff) => {
                        let f = args.out.join(format!("diff-{}-{}.txt", q.name, s.name));
                        let _ = std::fs::write(&f, &diff);
                        format!("DIFFERS: {}", diff.lines().next().unwrap_or_default())
                    }
                },
            };
            sys.insert("check".into(), verdict.into());
            row.insert(s.name.clone(), sys.into());
        }
        let line = systems
            .iter()
            .map(|s| {
                let v = &row[&s.name];
                format!(
                    "{} {:.1}ms",
                    s.name,
                    v["median_ms"].as_f64().unwrap_or(f64::NAN)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!("{}: {line}", q.name);
        report.push(Value::Object(row));
    }
    let json = serde_json::json!({
        "start": secs(start_ms), "end": secs(end_ms), "step": args.step, "runs": args.runs,
        "systems": systems.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "reference": args.reference, "queries": report,
    });
    std::fs::write(
        args.out.join("query.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    print!("{}", markdown(&json, &systems));
    Ok(())
}

fn read_queries(path: &PathBuf) -> Result<Vec<Query>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, expr) = line
            .split_once('\t')
            .ok_or_else(|| anyhow!("{}:{}: write name<TAB>expr", path.display(), i + 1))?;
        out.push(Query {
            name: name.trim().to_string(),
            expr: expr.trim().to_string(),
        });
    }
    Ok(out)
}

/// One POST of a range query: the wall time until the whole body is read, and the body.
fn run(
    client: &reqwest::blocking::Client,
    s: &System,
    params: &[(String, String)],
) -> Result<(Duration, String)> {
    let body = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut req = client
        .post(format!("{}/api/v1/query_range", s.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    for (k, v) in &s.headers {
        req = req.header(k, v);
    }
    let t0 = Instant::now();
    let resp = req.send()?;
    let status = resp.status();
    let text = resp.text()?;
    let d = t0.elapsed();
    if !status.is_success() {
        bail!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    Ok((d, text))
}

/// An end time whose phase within the step no sample of `up` shares.
fn avoid_phases(
    client: &reqwest::blocking::Client,
    s: &System,
    end_ms: i64,
    step_ms: i64,
) -> Result<i64> {
    let mut req = client
        .post(format!("{}/api/v1/query", s.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "query={}&time={}",
            urlencode(&format!("up[{}ms]", 4 * step_ms)),
            secs(end_ms)
        ));
    for (k, v) in &s.headers {
        req = req.header(k, v);
    }
    let v: Value = serde_json::from_str(&req.send()?.text()?)?;
    let mut phases = std::collections::BTreeSet::new();
    for series in v["data"]["result"].as_array().into_iter().flatten() {
        for p in series["values"].as_array().into_iter().flatten() {
            let t = (p[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
            phases.insert(t.rem_euclid(step_ms));
        }
    }
    let mut end = end_ms;
    while phases.contains(&end.rem_euclid(step_ms)) {
        end -= 1;
    }
    if end != end_ms {
        eprintln!(
            "querybench: end moved back {}ms so that no sample lies on a window boundary",
            end_ms - end
        );
    }
    Ok(end)
}

fn parse_matrix(body: &str) -> std::result::Result<Matrix, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if v["status"] != "success" {
        return Err(format!("{}: {}", v["errorType"], v["error"]));
    }
    let mut m = Matrix::new();
    for s in v["data"]["result"].as_array().into_iter().flatten() {
        let mut labels: Vec<(String, String)> = s["metric"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        labels.sort();
        let points = s["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let t = (p[0].as_f64().unwrap_or(f64::NAN) * 1000.0).round() as i64;
                let v = match p[1].as_str().unwrap_or("NaN") {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    s => s.parse().unwrap_or(f64::NAN),
                };
                (t, v)
            })
            .collect();
        m.insert(labels, points);
    }
    Ok(m)
}

/// None when `got` equals `want` within the tolerance; otherwise a description.
fn compare(want: &Matrix, got: &Matrix, rel: f64) -> Option<String> {
    let mut out = Vec::new();
    for k in want.keys().filter(|k| !got.contains_key(*k)) {
        out.push(format!("missing series {k:?}"));
    }
    for k in got.keys().filter(|k| !want.contains_key(*k)) {
        out.push(format!("extra series {k:?}"));
    }
    for (k, w) in want {
        let Some(g) = got.get(k) else { continue };
        let (wt, gt): (Vec<i64>, Vec<i64>) = (
            w.iter().map(|p| p.0).collect(),
            g.iter().map(|p| p.0).collect(),
        );
        if wt != gt {
            out.push(format!(
                "series {k:?}: {} points at other timestamps ({} vs {})",
                wt.iter().filter(|t| !gt.contains(t)).count(),
                g.len(),
                w.len()
            ));
            continue;
        }
        for ((t, a), (_, b)) in w.iter().zip(g) {
            let same =
                (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= rel * a.abs().max(b.abs());
            if !same {
                out.push(format!("series {k:?} at {}: want {a} got {b}", secs(*t)));
                break;
            }
        }
    }
    if out.is_empty() {
        None
    } else {
        let n = out.len();
        out.insert(0, format!("{n} differences; first: {}", out[0]));
        Some(out.join("\n"))
    }
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn markdown(report: &Value, systems: &[System]) -> String {
    let mut s = String::new();
    let names: Vec<&str> = systems.iter().map(|x| x.name.as_str()).collect();
    let vm = names.iter().find(|n| n.contains("victoria")).copied();
    s.push_str("| query |");
    for n in &names {
        s.push_str(&format!(" {n} ms |"));
    }
    if vm.is_some() {
        s.push_str(" lookout ÷ VM |");
    }
    s.push_str(" lookout = prometheus |\n|---|");
    for _ in &names {
        s.push_str("---:|");
    }
    if vm.is_some() {
        s.push_str("---:|");
    }
    s.push_str("---|\n");
    for q in report["queries"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "| `{}` |",
            q["query"].as_str().unwrap_or_default()
        ));
        for n in &names {
            let m = q[*n]["median_ms"].as_f64();
            match m {
                Some(m) if m.is_finite() => s.push_str(&format!(" {m:.1} |")),
                _ => s.push_str(" error |"),
            }
        }
        if let Some(vm) = vm {
            let (a, b) = (
                q["lookout"]["median_ms"].as_f64(),
                q[vm]["median_ms"].as_f64(),
            );
            match (a, b) {
                (Some(a), Some(b)) if a.is_finite() && b.is_finite() && b > 0.0 => {
                    s.push_str(&format!(" {:.2}× |", a / b))
                }
                _ => s.push_str(" n/a |"),
            }
        }
        let check = q["lookout"]["check"].as_str().unwrap_or("n/a");
        let short = if check.starts_with("equal") {
            "yes"
        } else if check.starts_with("DIFFERS") {
            "**no**"
        } else {
            "n/a"
        };
        s.push_str(&format!(" {short} |\n"));
    }
    s
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_within_tolerance() {
        let body = |v: &str| {
            format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"a":"1"}},"values":[[1,"{v}"],[2,"NaN"]]}}]}}}}"#
            )
        };
        let a = parse_matrix(&body("1")).unwrap();
        let b = parse_matrix(&body("1.0000000000001")).unwrap();
        let c = parse_matrix(&body("1.01")).unwrap();
        assert!(compare(&a, &b, 1e-9).is_none());
        assert!(compare(&a, &c, 1e-9).unwrap().contains("want 1 got 1.01"));
        assert!(compare(&a, &Matrix::new(), 1e-9)
            .unwrap()
            .contains("missing"));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(secs(1_700_000_000_007), "1700000000.007");
    }
}
