//! Durability under SIGKILL: every remote_write request answered 204 must survive a
//! `kill -9` of the server mid-stream, bit-exact, whether its samples were still only in
//! the WAL or already in Parquet blocks; and nothing that was never written may appear.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const SERIES: usize = 200;
const WRITERS: usize = 2;
const PER_WRITER: usize = SERIES / WRITERS;
const TS_PER_BATCH: u64 = 5;
const STEP_MS: i64 = 100;
/// Timestamp indices reserved per cycle; batches per writer per cycle are capped below it.
const CYCLE_SPAN: u64 = 20_000;
const MAX_BATCHES: u64 = CYCLE_SPAN / TS_PER_BATCH - 1;
/// Kill once this long has passed (with at least MIN_ACKED acknowledged), or once
/// KILL_AT_ACKED batches were acknowledged, whichever comes first.
const KILL_AFTER: Duration = Duration::from_millis(1500);
const MIN_ACKED: usize = 10;
const KILL_AT_ACKED: usize = 800;
const STREAM_LIMIT: Duration = Duration::from_secs(15);

fn ts_of(index: u64) -> i64 {
    BASE_MS + index as i64 * STEP_MS
}

/// The deterministic value of series `s` at timestamp index `i`: mostly non-representable
/// fractions, with negatives, zeros and tiny and huge magnitudes mixed in. (No -0.0:
/// proto3 encoders, prost's and Prometheus' alike, skip a double that compares equal to
/// 0, so -0.0 arrives as 0.0.)
fn value(s: usize, i: u64) -> f64 {
    let x = (s as u64 * 1_000_003 + i * 7919 + 1) as f64 / 7.0;
    match i % 13 {
        0 => -x,
        5 => x * 1e-9 + 0.1,
        7 if s.is_multiple_of(50) => 0.0,
        11 => x * 1e12 / 3.0,
        _ => x,
    }
}

fn series_labels(s: usize) -> Vec<ProtoLabel> {
    let w = (s / PER_WRITER).to_string();
    let name = format!("{s:04}");
    labels(&[
        ("__name__", "crash_test"),
        ("job", "crash"),
        ("s", &name),
        ("w", &w),
    ])
}

/// First timestamp index of batch `k` of `cycle`.
fn batch_start(cycle: u64, k: u64) -> u64 {
    cycle * CYCLE_SPAN + k * TS_PER_BATCH
}

fn batch_request(writer: usize, cycle: u64, k: u64) -> WriteRequest {
    let start = batch_start(cycle, k);
    let ts = (writer * PER_WRITER..(writer + 1) * PER_WRITER)
        .map(|s| TimeSeries {
            labels: series_labels(s),
            samples: (start..start + TS_PER_BATCH)
                .map(|i| ProtoSample {
                    value: value(s, i),
                    timestamp: ts_of(i),
                })
                .collect(),
            exemplars: vec![],
            histograms: vec![],
        })
        .collect();
    request(ts)
}

/// Which batches (cycle, k) of each writer were sent and which were acknowledged.
#[derive(Default)]
struct Ledger {
    acked: Vec<BTreeSet<(u64, u64)>>,
    attempted: Vec<BTreeSet<(u64, u64)>>,
}

impl Ledger {
    fn new() -> Ledger {
        Ledger {
            acked: vec![BTreeSet::new(); WRITERS],
            attempted: vec![BTreeSet::new(); WRITERS],
        }
    }

    fn acked_samples(&self) -> usize {
        self.acked.iter().map(|a| a.len()).sum::<usize>() * PER_WRITER * TS_PER_BATCH as usize
    }
}

struct WriterOutcome {
    acked: Vec<u64>,
    attempted: Vec<u64>,
    /// Non-204 answers (a failure: the server was healthy when it answered).
    bad_answers: Vec<String>,
    /// The transport error that ended the stream, if any.
    ended_by: Option<String>,
}

/// Streams batches from WRITERS threads, SIGKILLs the server while they are still
/// sending, and records what was acknowledged.
fn stream_and_kill(srv: &mut Server, cycle: u64, ledger: &mut Ledger) {
    let stop = Arc::new(AtomicBool::new(false));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let url = srv.url("/api/v1/write");
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let (stop, acked_count, url) = (stop.clone(), acked_count.clone(), url.clone());
        handles.push(std::thread::spawn(move || {
            let client = client();
            let started = Instant::now();
            let mut out = WriterOutcome {
                acked: vec![],
                attempted: vec![],
                bad_answers: vec![],
                ended_by: None,
            };
            for k in 0..MAX_BATCHES {
                if started.elapsed() > STREAM_LIMIT || stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = encode(&batch_request(w, cycle, k));
                out.attempted.push(k);
                let res = client
                    .post(&url)
                    .header("Content-Encoding", "snappy")
                    .header("Content-Type", "application/x-protobuf")
                    .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                    .body(body)
                    .send();
                match res {
                    Ok(r) if r.status().as_u16() == 204 => {
                        out.acked.push(k);
                        acked_count.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => {
                        let code = r.status().as_u16();
                        let text = r.text().unwrap_or_default();
                        out.bad_answers.push(format!("batch {k}: {code} {text}"));
                        break;
                    }
                    Err(e) => {
                        out.ended_by = Some(format!("batch {k}: {e}"));
                        break;
                    }
                }
            }
            out
        }));
    }

    let started = Instant::now();
    loop {
        let n = acked_count.load(Ordering::SeqCst);
        let t = started.elapsed();
        if n >= KILL_AT_ACKED || (t >= KILL_AFTER && n >= MIN_ACKED) || t >= STREAM_LIMIT {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Requests are in flight now: the writers never pause between batches.
    srv.kill9();
    let killed_at = acked_count.load(Ordering::SeqCst);
    stop.store(true, Ordering::Relaxed);

    let mut ended_by_kill = 0;
    for (w, h) in handles.into_iter().enumerate() {
        let out = h.join().expect("writer thread panicked");
        assert!(
            out.bad_answers.is_empty(),
            "writer {w}: non-204 answers before the kill: {:?}",
            out.bad_answers
        );
        if out.ended_by.is_some() {
            ended_by_kill += 1;
        }
        ledger.acked[w].extend(out.acked.iter().map(|&k| (cycle, k)));
        ledger.attempted[w].extend(out.attempted.iter().map(|&k| (cycle, k)));
    }
    eprintln!(
        "cycle {cycle}: killed after {:?} with {killed_at} batches acknowledged; {} writers cut off by the kill",
        started.elapsed(),
        ended_by_kill
    );
    assert!(
        killed_at >= MIN_ACKED,
        "only {killed_at} batches were acknowledged within {STREAM_LIMIT:?}"
    );
}

/// Asserts every acknowledged sample is exported with its exact value, and that every
/// exported sample belongs to a batch that was sent, with its exact value.
fn verify(srv: &Server, ledger: &Ledger, when: &str) {
    let exported = srv.export(r#"{__name__="crash_test"}"#, None);
    let mut by_series: HashMap<usize, HashMap<i64, f64>> = HashMap::new();
    for e in &exported {
        let s: usize = e.labels["s"].parse().expect("s label");
        let want = lmap(&[
            ("__name__", "crash_test"),
            ("job", "crash"),
            ("s", &format!("{s:04}")),
            ("w", &(s / PER_WRITER).to_string()),
        ]);
        assert_eq!(e.labels, want, "{when}: labels of series {s}");
        let mut last = i64::MIN;
        let m = by_series.entry(s).or_default();
        for &(t, v) in &e.samples {
            assert!(
                t > last,
                "{when}: series {s} timestamps not strictly increasing at {t}"
            );
            last = t;
            m.insert(t, v);
        }
    }

    // No phantoms: each exported sample is one that was sent, with its value.
    let mut exported_samples = 0usize;
    for (&s, m) in &by_series {
        let w = s / PER_WRITER;
        for (&t, &v) in m {
            exported_samples += 1;
            let off = t - BASE_MS;
            assert!(
                off >= 0 && off % STEP_MS == 0,
                "{when}: series {s} has a sample at unexpected time {t}"
            );
            let i = (off / STEP_MS) as u64;
            let (cycle, k) = (i / CYCLE_SPAN, (i % CYCLE_SPAN) / TS_PER_BATCH);
            assert!(
                ledger.attempted[w].contains(&(cycle, k)),
                "{when}: series {s} has a sample at {t} from batch {cycle}/{k}, which was never sent"
            );
            assert_bits(v, value(s, i), &format!("{when}: series {s} at {t}"));
        }
    }

    // Every acknowledged sample is there, bit-exact.
    let mut missing = Vec::new();
    let mut missing_total = 0usize;
    let mut checked = 0usize;
    for w in 0..WRITERS {
        for &(cycle, k) in &ledger.acked[w] {
            let start = batch_start(cycle, k);
            for s in w * PER_WRITER..(w + 1) * PER_WRITER {
                for i in start..start + TS_PER_BATCH {
                    checked += 1;
                    let t = ts_of(i);
                    match by_series.get(&s).and_then(|m| m.get(&t)) {
                        Some(&v) => {
                            assert_bits(v, value(s, i), &format!("{when}: series {s} at {t}"))
                        }
                        None => {
                            missing_total += 1;
                            if missing.len() < 10 {
                                missing.push(format!("series {s} batch {cycle}/{k} t={t}"));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{when}: {missing_total} of {checked} acknowledged samples are missing, e.g. {missing:?}"
    );
    assert_eq!(checked, ledger.acked_samples());
    assert!(exported_samples >= checked);
    eprintln!("{when}: {checked} acknowledged samples verified ({exported_samples} exported)");
}

#[test]
fn acknowledged_writes_survive_sigkill_in_wal_and_blocks() {
    let dir = TestDir::new();
    let mut ledger = Ledger::new();

    // Cycle 0: everything is in the WAL when the server dies.
    let mut srv = Server::start(&dir.data(), None);
    stream_and_kill(&mut srv, 0, &mut ledger);
    let srv = Server::start(&dir.data(), None);
    verify(&srv, &ledger, "after the first kill");

    // Cut what was recovered into blocks, then stream and kill again: the data now lives
    // in blocks (cycle 0) and in the WAL (cycle 1).
    srv.flush();
    let st = srv.tsdb_status(None);
    let blocks = st["lookout"]["blocks"].as_array().expect("blocks").clone();
    assert!(!blocks.is_empty(), "flush wrote no block: {st}");
    let block_samples: u64 = blocks.iter().map(|b| b["samples"].as_u64().unwrap()).sum();
    assert_eq!(
        block_samples as usize,
        count_exported(&srv),
        "after the flush the blocks hold every recovered sample: {st}"
    );
    assert_eq!(
        st["lookout"]["head"]["samples"], 0,
        "head not empty after flush: {st}"
    );
    verify(&srv, &ledger, "after the flush");

    let mut srv = srv;
    stream_and_kill(&mut srv, 1, &mut ledger);
    let srv = Server::start(&dir.data(), None);
    let st = srv.tsdb_status(None);
    assert!(
        !st["lookout"]["blocks"].as_array().unwrap().is_empty(),
        "blocks lost on restart: {st}"
    );
    assert!(
        st["lookout"]["head"]["samples"].as_u64().unwrap() > 0,
        "the second cycle's samples should be back in the head from the WAL: {st}"
    );
    verify(&srv, &ledger, "after the second kill");
}

fn count_exported(srv: &Server) -> usize {
    srv.export(r#"{__name__="crash_test"}"#, None)
        .iter()
        .map(|s| s.samples.len())
        .sum()
}

type Model = BTreeMap<(String, i64), f64>;

fn write_model(srv: &Server, model: &mut Model, series: &str, samples: &[(i64, f64)]) {
    srv.write_ok(&request(vec![common::series(
        &[("__name__", "bf_test"), ("s", series)],
        samples,
    )]));
    for &(t, v) in samples {
        model.insert((series.to_string(), t), v);
    }
}

fn assert_matches_model(srv: &Server, model: &Model, when: &str) {
    let mut got: Model = BTreeMap::new();
    for e in srv.export(r#"{__name__="bf_test"}"#, None) {
        let s = e.labels["s"].clone();
        assert_eq!(
            e.labels,
            lmap(&[("__name__", "bf_test"), ("s", &s)]),
            "{when}"
        );
        let mut last = i64::MIN;
        for (t, v) in e.samples {
            assert!(
                t > last,
                "{when}: series {s}: timestamps not strictly increasing at {t}"
            );
            last = t;
            got.insert((s.clone(), t), v);
        }
    }
    let missing: Vec<_> = model
        .keys()
        .filter(|k| !got.contains_key(k))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !model.contains_key(k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{when}: {} expected samples, {} exported; missing e.g. {missing:?}; unexpected e.g. {extra:?}",
        model.len(),
        got.len()
    );
    for (k, &want) in model {
        assert_bits(got[k], want, &format!("{when}: series {} at {}", k.0, k.1));
    }
}

#[test]
fn flush_backfill_and_overwrites_survive_sigkill() {
    let dir = TestDir::new();
    let mut model = Model::new();
    let mut srv = Server::start(&dir.data(), None);
    let t0 = BASE_MS + 600_000;
    let names: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();

    // In-order data, then cut into a block.
    for (i, s) in names.iter().enumerate() {
        let samples: Vec<(i64, f64)> = (0..100)
            .map(|k| (t0 + k * 1000, i as f64 + k as f64 * 0.1))
            .collect();
        write_model(&srv, &mut model, s, &samples);
    }
    srv.flush();
    let st = srv.tsdb_status(None);
    assert!(
        !st["lookout"]["blocks"].as_array().unwrap().is_empty(),
        "{st}"
    );
    assert_matches_model(&srv, &model, "after the flush");

    for (i, s) in names.iter().enumerate() {
        // Newer, in-order samples (head).
        let newer: Vec<(i64, f64)> = (100..150)
            .map(|k| (t0 + k * 1000, i as f64 + k as f64 * 0.1))
            .collect();
        write_model(&srv, &mut model, s, &newer);
        // Backfill older than everything in the block.
        let old: Vec<(i64, f64)> = (0..50)
            .map(|k| (BASE_MS + k * 1000, -(k as f64 + i as f64 + 1.0) / 3.0))
            .collect();
        write_model(&srv, &mut model, s, &old);
        // Overwrites: a timestamp in the block, one in the head, one just backfilled.
        write_model(&srv, &mut model, s, &[(t0 + 10_000, 1e6 + i as f64 + 0.25)]);
        write_model(&srv, &mut model, s, &[(t0 + 120_000, 2e6 / 3.0 + i as f64)]);
        write_model(
            &srv,
            &mut model,
            s,
            &[(BASE_MS + 7000, f64::MIN_POSITIVE * 3.0)],
        );
    }
    // A series that only exists before the block's time range.
    write_model(
        &srv,
        &mut model,
        "backfill_only",
        &(0..30)
            .map(|k| (BASE_MS + 100 + k * 500, k as f64 / 9.0))
            .collect::<Vec<_>>(),
    );
    assert_matches_model(&srv, &model, "before the kill");

    srv.kill9();
    let mut srv = Server::start(&dir.data(), None);
    assert_matches_model(&srv, &model, "after the first kill");

    // Overwrite again after the restart, cut everything into blocks, overwrite a
    // block-resident sample once more (now in the WAL only), kill, and check.
    for s in &names {
        write_model(&srv, &mut model, s, &[(t0 + 10_000, -7.125)]);
    }
    srv.flush();
    assert_matches_model(&srv, &model, "after the second flush");
    for s in &names {
        write_model(
            &srv,
            &mut model,
            s,
            &[(t0 + 10_000, 1.0 / 3.0), (t0 + 500_000, 0.5)],
        );
    }
    srv.kill9();
    let srv = Server::start(&dir.data(), None);
    let st = srv.tsdb_status(None);
    assert!(
        !st["lookout"]["blocks"].as_array().unwrap().is_empty(),
        "blocks lost on restart: {st}"
    );
    assert_matches_model(&srv, &model, "after the second kill");
}

/// SIGKILL while a flush is writing blocks (and writes keep coming): whatever state the
/// block directory and the WAL are left in, a restart serves every acknowledged sample
/// exactly once, with its value.
#[test]
fn sigkill_during_flush_loses_nothing() {
    let dir = TestDir::new();
    let mut model = Model::new();
    let names: Vec<String> = (0..150).map(|i| format!("f{i:03}")).collect();
    // Kill this long after the flush request went out.
    let delays_ms = [1u64, 15, 60];
    for (round, delay) in delays_ms.iter().enumerate() {
        let mut srv = Server::start(&dir.data(), None);
        assert_matches_model(&srv, &model, &format!("round {round}: after restart"));
        // Acknowledged data for this round: 150 series x 200 samples, in the head.
        let t_round = BASE_MS + round as i64 * 1_000_000;
        for chunk in names.chunks(50) {
            let mut ts = Vec::new();
            for s in chunk {
                let samples: Vec<(i64, f64)> = (0..200)
                    .map(|k| {
                        (
                            t_round + k * 1000,
                            (round * 1000 + k as usize) as f64 / 3.0 + s.len() as f64,
                        )
                    })
                    .collect();
                for &(t, v) in &samples {
                    model.insert((s.clone(), t), v);
                }
                ts.push(common::series(
                    &[("__name__", "bf_test"), ("s", s)],
                    &samples,
                ));
            }
            srv.write_ok(&request(ts));
        }
        // One more write racing the flush; recorded only if acknowledged.
        let url_flush = srv.url("/api/v1/admin/flush");
        let flusher = std::thread::spawn(move || {
            let r = client().post(url_flush).send();
            r.map(|r| r.status().as_u16()).ok()
        });
        let race_t = t_round + 500_000;
        let racer_url = srv.url("/api/v1/write");
        let racer = std::thread::spawn(move || {
            let req = request(vec![common::series(
                &[("__name__", "bf_test"), ("s", "racer")],
                &[(race_t, 0.1 + round as f64)],
            )]);
            client()
                .post(racer_url)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .body(encode(&req))
                .send()
                .map(|r| r.status().as_u16())
                .ok()
        });
        std::thread::sleep(Duration::from_millis(*delay));
        srv.kill9();
        let flushed = flusher.join().unwrap();
        let raced = racer.join().unwrap();
        eprintln!("round {round}: kill {delay}ms into the flush; flush answered {flushed:?}, racing write {raced:?}");
        if raced == Some(204) {
            model.insert(("racer".to_string(), race_t), 0.1 + round as f64);
        }
        let srv = Server::start(&dir.data(), None);
        // The racing write may have landed without its answer arriving; accept it then.
        let got = srv.export(r#"{s="racer"}"#, None);
        if raced != Some(204) {
            if let Some(e) = got.first() {
                if let Some(&(t, v)) = e.samples.iter().find(|x| x.0 == race_t) {
                    assert_bits(v, 0.1 + round as f64, "unacknowledged racing write");
                    model.insert(("racer".to_string(), t), v);
                }
            }
        }
        assert_matches_model(
            &srv,
            &model,
            &format!("round {round}: after kill during flush"),
        );
    }
}

/// Blocks dropped by retention stay dropped after a SIGKILL: once the API stops serving
/// them, a restart must not bring them back, and no half-deleted block may be left for
/// every later start to complain about.
#[test]
fn retention_drops_survive_sigkill() {
    let cfg = "block_duration: 1m\nretention:\n  time: 30m\nmaintenance_interval: 100ms\nlimits:\n  max_future: 1h\n";
    let minute = 60_000;
    let now = BASE_MS + 60 * minute;
    let horizon = now - 30 * minute;
    let samples: Vec<(i64, f64)> = (0..=360)
        .map(|k| (BASE_MS + k * 10_000, k as f64 * 1.5))
        .collect();
    let mut failures = Vec::new();
    for round in 0..2 {
        let dir = TestDir::new();
        // Written while all of it is within retention; retention applies once the clock
        // has moved on (a restart 31 minutes later).
        let srv = Server::start_at(&dir.data(), Some(cfg), BASE_MS + 29 * minute);
        srv.write_ok(&request(vec![common::series(
            &[("__name__", "ret_test")],
            &samples,
        )]));
        drop(srv);
        let mut srv = Server::start_at(&dir.data(), Some(cfg), now);
        // Poll fast; kill the moment the API shows retention applied.
        let deadline = Instant::now() + Duration::from_secs(15);
        let served_min = loop {
            let (code, body) = srv.get("/api/v1/status/tsdb", None);
            assert_eq!(code, 200, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let lk = &v["data"]["lookout"];
            let blocks = lk["blocks"].as_array().unwrap();
            let min = blocks.iter().map(|b| b["max_time"].as_i64().unwrap()).min();
            if lk["head"]["samples"] == 0 && min.is_some_and(|m| m >= horizon) {
                break min.unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "retention not applied within 15s: {v}\n{}",
                srv.logs()
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        srv.kill9();
        let srv = Server::start_at(&dir.data(), Some(cfg), now);
        let st = srv.tsdb_status(None);
        let back: Vec<String> = st["lookout"]["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["max_time"].as_i64().unwrap() < horizon)
            .map(|b| format!("{} {}..{}", b["name"], b["min_time"], b["max_time"]))
            .collect();
        let oldest = srv
            .export("ret_test", None)
            .first()
            .and_then(|s| s.samples.first().copied());
        let logs = srv.logs();
        let errors: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARN"))
            .collect();
        if !back.is_empty()
            || oldest.is_some_and(|(t, _)| t < horizon - 6 * minute)
            || !errors.is_empty()
        {
            failures.push(format!(
                "round {round}: before the kill the oldest served block ended at {served_min}; after the restart: blocks older than the horizon {back:?}, oldest sample {oldest:?}, log errors {errors:#?}"
            ));
        }
        // Every sample within retention is still there.
        let got = srv.export("ret_test", None);
        let kept: Vec<(i64, f64)> = got[0]
            .samples
            .iter()
            .copied()
            .filter(|&(t, _)| t >= horizon)
            .collect();
        let want: Vec<(i64, f64)> = samples
            .iter()
            .copied()
            .filter(|&(t, _)| t >= horizon)
            .collect();
        assert_eq!(kept, want, "round {round}");
    }
    assert!(
        failures.is_empty(),
        "retention undone by a crash:\n{}",
        failures.join("\n")
    );
}
