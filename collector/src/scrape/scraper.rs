//! One target's scrape loop: waits for the target's slot in the interval (a hash of the
//! target spreads a pool's scrapes over the interval), fetches with the job's client and
//! timeout, parses and appends on the blocking pool, writes the synthetic series, and on
//! stop either writes staleness markers (the target is gone) or hands its cache to the
//! loop that replaces it (the job's config changed on reload).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lookout_store::{Append, Clock, TenantId};
use tokio::sync::oneshot;

use super::cache::{Outcome, SeriesCache, Settings};
use super::parse::{Format, ACCEPT};
use super::target::{Health, Target};
use crate::metrics;

/// How a loop ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The target is gone: its series get staleness markers.
    Stale,
    /// A new loop takes over the target: return the cache untouched.
    Handover,
}

/// Per-request settings of a job: client (TLS, timeouts) and credentials.
pub struct JobClient {
    pub client: reqwest::Client,
    pub auth: Auth,
}

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Basic {
        user: String,
        password: Option<String>,
        password_file: Option<std::path::PathBuf>,
    },
    Header {
        kind: String,
        credentials: Option<String>,
        credentials_file: Option<std::path::PathBuf>,
    },
}

pub struct ScrapeLoop {
    pub target: Arc<Target>,
    pub client: Arc<JobClient>,
    pub settings: Arc<Settings>,
    pub sink: Arc<dyn Append>,
    pub tenant: TenantId,
    /// Stamps the samples (the store's clock; the slot schedule uses real time).
    pub clock: Clock,
    pub cache: SeriesCache,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The delay until this target's next slot: `hash mod interval` past a multiple of the
/// interval, so targets of a pool spread out and a restart keeps each target's phase.
fn until_slot(hash: u64, interval: Duration) -> Duration {
    let iv = interval.as_millis().max(1) as u64;
    let now = now_ms() as u64;
    let offset = hash % iv;
    let base = now - now % iv;
    let mut next = base + offset;
    if next < now {
        next += iv;
    }
    Duration::from_millis(next - now)
}

impl ScrapeLoop {
    /// Runs until told to stop; returns the cache.
    pub async fn run(mut self, mut stop: oneshot::Receiver<Stop>) -> SeriesCache {
        let interval = self.target.interval;
        let first = until_slot(self.target.hash, interval);
        let mut next = tokio::time::Instant::now() + first;
        loop {
            tokio::select! {
                s = &mut stop => return self.finish(s.unwrap_or(Stop::Stale)).await,
                _ = tokio::time::sleep_until(next) => {}
            }
            // A scrape that overruns skips slots rather than piling up behind itself.
            next += interval;
            let now = tokio::time::Instant::now();
            while next <= now {
                next += interval;
            }
            let fetched = tokio::select! {
                s = &mut stop => return self.finish(s.unwrap_or(Stop::Stale)).await,
                f = self.scrape() => f,
            };
            self.append(fetched).await;
        }
    }

    async fn finish(mut self, how: Stop) -> SeriesCache {
        if how == Stop::Stale {
            let ts = self.clock.now_ms();
            let sink = self.sink.clone();
            let tenant = self.tenant.clone();
            let mut cache = self.cache;
            let r = tokio::task::spawn_blocking(move || {
                let n = cache.stale_all(ts);
                let r = if n > 0 {
                    sink.append(&tenant, cache.batch())
                } else {
                    Ok(())
                };
                cache.restore();
                (cache, r)
            })
            .await;
            match r {
                Ok((c, r)) => {
                    if let Err(e) = r {
                        tracing::warn!(target_url = %self.target.url, error = %e, "cannot write staleness markers");
                    }
                    self.cache = c;
                }
                Err(e) => {
                    tracing::error!(error = %e, "staleness task failed");
                    return SeriesCache::new();
                }
            }
        }
        self.cache
    }

    /// The HTTP part: (start time ms, start instant, body and format, or the error).
    async fn scrape(&self) -> (i64, Instant, Result<(bytes::Bytes, Format), String>) {
        let ts = self.clock.now_ms();
        let started = Instant::now();
        let r = tokio::time::timeout(self.target.timeout, self.fetch()).await;
        let r = match r {
            Ok(r) => r,
            Err(_) => Err(format!(
                "scrape timed out after {:?} (scrape_timeout)",
                self.target.timeout
            )),
        };
        (ts, started, r)
    }

    async fn fetch(&self) -> Result<(bytes::Bytes, Format), String> {
        let t = &self.target;
        let mut rb = self
            .client
            .client
            .get(&t.url)
            .header("Accept", ACCEPT)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", t.timeout.as_secs_f64()),
            );
        match &self.client.auth {
            Auth::None => {}
            Auth::Basic {
                user,
                password,
                password_file,
            } => {
                let pw = match (password, password_file) {
                    (Some(p), _) => Some(p.clone()),
                    (None, Some(f)) => Some(read_secret(f)?),
                    _ => None,
                };
                rb = rb.basic_auth(user, pw);
            }
            Auth::Header {
                kind,
                credentials,
                credentials_file,
            } => {
                let c = match (credentials, credentials_file) {
                    (Some(c), _) => c.clone(),
                    (None, Some(f)) => read_secret(f)?,
                    _ => String::new(),
                };
                rb = rb.header("Authorization", format!("{kind} {c}"));
            }
        }
        let mut resp = rb.send().await.map_err(|e| error_chain(&e))?;
        if !resp.status().is_success() {
            return Err(format!("server returned HTTP status {}", resp.status()));
        }
        let format = Format::from_content_type(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
        );
        let limit = self.settings.body_size_limit;
        if limit > 0 {
            if let Some(len) = resp.content_length() {
                if len > limit {
                    return Err(format!(
                        "body_size_limit exceeded: the response has {len} bytes, the limit is {limit}"
                    ));
                }
            }
        }
        let mut body = Vec::with_capacity(resp.content_length().unwrap_or(64 << 10) as usize);
        while let Some(chunk) = resp.chunk().await.map_err(|e| error_chain(&e))? {
            body.extend_from_slice(&chunk);
            if limit > 0 && body.len() as u64 > limit {
                return Err(format!(
                    "body_size_limit exceeded: the response is longer than {limit} bytes"
                ));
            }
        }
        Ok((body.into(), format))
    }

    async fn append(&mut self, fetched: (i64, Instant, Result<(bytes::Bytes, Format), String>)) {
        let (ts, started, r) = fetched;
        let target = self.target.clone();
        let settings = self.settings.clone();
        let sink = self.sink.clone();
        let tenant = self.tenant.clone();
        let mut cache = std::mem::take(&mut self.cache);
        let joined = tokio::task::spawn_blocking(move || {
            let (result, outcome) = match r {
                Ok((body, format)) => {
                    match cache.ingest(&body, format, &target.labels, &settings, ts) {
                        Ok(o) => (Ok(()), o),
                        Err((e, o)) => (Err(e), o),
                    }
                }
                Err(e) => {
                    let empty = cache.ingest(b"", Format::Text, &target.labels, &settings, ts);
                    let o = match empty {
                        Ok(o) | Err((_, o)) => o,
                    };
                    (Err(e), o)
                }
            };
            let duration = started.elapsed();
            cache.report(
                &target.labels,
                ts,
                result.is_ok(),
                duration.as_secs_f64(),
                &outcome,
            );
            let stored = sink.append(&tenant, cache.batch());
            let samples: u64 = cache.batch().iter().map(|s| s.samples.len() as u64).sum();
            cache.restore();
            let mut warning = None;
            let result = match (result, stored) {
                (r, Ok(())) => r,
                (r, Err(e)) => {
                    metrics::record_rejected(&e, samples);
                    let out_of_bounds = e.rejected().iter().all(|(r, _)| {
                        matches!(
                            r,
                            lookout_store::Reason::TooOld | lookout_store::Reason::TooFarInFuture
                        )
                    });
                    if out_of_bounds && !e.rejected().is_empty() {
                        // As in Prometheus: the scrape succeeded, the samples in bounds
                        // are stored; the target's lastError says what was dropped.
                        let n: u64 = e.rejected().iter().map(|(_, n)| n).sum();
                        metrics::record_out_of_bounds(n);
                        warning = Some(format!("{n} scraped samples dropped: {e}"));
                        r
                    } else {
                        match r {
                            Ok(()) => Err(format!("cannot store the scraped samples: {e}")),
                            r => r,
                        }
                    }
                }
            };
            (cache, result.map(|()| warning), outcome, duration)
        })
        .await;
        let (cache, result, outcome, duration) = match joined {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "scrape task failed");
                (
                    SeriesCache::new(),
                    Err(format!("internal error: {e}")),
                    Outcome::default(),
                    started.elapsed(),
                )
            }
        };
        self.cache = cache;
        metrics::record_scrape(&outcome, result.is_ok(), duration);
        let mut st = self.target.status.lock();
        st.last_scrape = Some(UNIX_EPOCH + Duration::from_millis(ts.max(0) as u64));
        st.last_duration = duration;
        st.last_samples = outcome.scraped;
        match result {
            Ok(warning) => {
                st.health = Health::Up;
                st.last_error = warning.unwrap_or_default();
                if st.metadata.as_slice() != self.cache.metadata() {
                    st.metadata = Arc::new(self.cache.metadata().to_vec());
                }
            }
            Err(e) => {
                if st.health != Health::Down || st.last_error != e {
                    tracing::debug!(url = %self.target.url, error = %e, "scrape failed");
                }
                st.health = Health::Down;
                st.last_error = e;
            }
        }
    }
}

fn read_secret(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))
}

/// reqwest's errors say "error sending request" and keep the cause in `source()`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_spread_targets_over_the_interval() {
        let iv = Duration::from_secs(60);
        let mut slots = std::collections::BTreeSet::new();
        for h in 0..100u64 {
            let hash = xxhash_rust::xxh3::xxh3_64(&h.to_le_bytes());
            let d = until_slot(hash, iv);
            assert!(d <= iv);
            // The phase within the interval is the hash's, whatever the current time.
            let now = now_ms() as u64;
            let phase = (now + d.as_millis() as u64) % 60_000;
            let want = hash % 60_000;
            assert!(
                phase.abs_diff(want) <= 2 || phase.abs_diff(want) >= 59_998,
                "{phase} {want}"
            );
            slots.insert(phase / 6_000);
        }
        assert!(
            slots.len() >= 8,
            "100 targets land in most tenths of the interval: {slots:?}"
        );
    }
}
