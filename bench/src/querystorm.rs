//! querystorm: CLIENTS clients that send the queries of a file in turn, back to back, over
//! kept-alive connections, until a stop file appears or a time bound passes; prints how
//! the answers went as JSON. `bench/ingest.sh` runs it against `lookout-under-queries`
//! while rwgen ingests, to measure what over-budget queries cost ingestion. One process
//! with a few threads, so the load generator itself takes little of the machine's CPU.
//!
//!     querystorm --url http://127.0.0.1:19700 --queries bench/hostile-queries.txt \
//!       --end 1796400907 --clients 4 --stop-file /tmp/stop --max-time 3600

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Base URL of the server.
    #[arg(long)]
    url: String,
    /// Lines `instant QUERY` or `range QUERY` (range: 11,000 one-minute steps ending at
    /// --end); `#` starts a comment.
    #[arg(long)]
    queries: PathBuf,
    /// Unix seconds the queries are evaluated at (instant) or end at (range).
    #[arg(long)]
    end: i64,
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Stop once this file exists.
    #[arg(long)]
    stop_file: PathBuf,
    /// Stop after this many seconds whatever happens.
    #[arg(long, default_value_t = 3600)]
    max_time: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.queries)
        .with_context(|| format!("cannot read {}", args.queries.display()))?;
    let mut queries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, q) = line
            .split_once(' ')
            .ok_or_else(|| anyhow!("{line:?}: write `instant QUERY` or `range QUERY`"))?;
        let params: Vec<(String, String)> = match kind {
            "instant" => vec![
                ("query".into(), q.into()),
                ("time".into(), args.end.to_string()),
            ],
            "range" => vec![
                ("query".into(), q.into()),
                ("start".into(), (args.end - 10_999 * 60).to_string()),
                ("end".into(), args.end.to_string()),
                ("step".into(), "60".into()),
            ],
            _ => return Err(anyhow!("{line:?}: the kind must be instant or range")),
        };
        let path = if kind == "range" {
            "query_range"
        } else {
            "query"
        };
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        queries.push((format!("{}/api/v1/{path}", args.url), body));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(150))
        .no_proxy()
        .build()?;
    let counts: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(args.max_time);
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..args.clients {
            let (client, counts, queries, stop) =
                (&client, counts.clone(), &queries, &args.stop_file);
            s.spawn(move || {
                // Clients start at different queries so they do not move in step.
                let mut i = c;
                while !stop.exists() && Instant::now() < deadline {
                    let (url, body) = &queries[i % queries.len()];
                    i += 1;
                    let sent = client
                        .post(url)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(body.clone())
                        .send();
                    let key = match sent {
                        Ok(r) => {
                            let code = r.status().as_u16().to_string();
                            let _ = r.bytes();
                            code
                        }
                        Err(e) if e.is_timeout() => "client timeout".into(),
                        Err(_) => "connection error".into(),
                    };
                    if let Ok(mut m) = counts.lock() {
                        *m.entry(key).or_default() += 1;
                    }
                }
            });
        }
    });
    let counts = counts
        .lock()
        .map_err(|_| anyhow!("a client panicked"))?
        .clone();
    println!(
        "{}",
        serde_json::json!({"answers": counts, "wall_s": started.elapsed().as_secs_f64()})
    );
    Ok(())
}
