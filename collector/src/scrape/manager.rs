//! The scrape manager: one pool per job, one scrape loop per target, discovery tasks that
//! keep each pool's targets current, and configuration reloads that keep what did not
//! change. A reload leaves an unchanged job alone; a changed job's loops are replaced,
//! and each replacement inherits its predecessor's series cache and status, so series
//! stay continuous and nothing is marked stale that is still scraped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use lookout_store::{Append, Clock, MetadataSource, MetricMetadata, TenantId};
use parking_lot::RwLock;
use tokio::sync::{oneshot, Mutex};
use tokio::task::JoinHandle;

use super::cache::{SeriesCache, Settings};
use super::config::ScrapeConfig;
use super::discovery::Discovery;
use super::relabel::Relabeler;
use super::scraper::{Auth, JobClient, ScrapeLoop, Stop};
use super::target::{populate, DroppedTarget, Target};
use crate::error::{Error, Result};

/// What the API shows of a pool.
#[derive(Clone)]
pub struct PoolView {
    /// The tenant the job writes to; its targets and metadata are that tenant's.
    pub tenant: TenantId,
    pub active: Vec<Arc<Target>>,
    pub dropped: Vec<DroppedTarget>,
}

impl Default for PoolView {
    fn default() -> Self {
        PoolView {
            tenant: TenantId::default_tenant(),
            active: Vec::new(),
            dropped: Vec::new(),
        }
    }
}

struct Running {
    target: Arc<Target>,
    gen: u64,
    stop: oneshot::Sender<Stop>,
    handle: JoinHandle<SeriesCache>,
}

struct Pool {
    cfg: ScrapeConfig,
    gen: u64,
    settings: Arc<Settings>,
    client: Arc<JobClient>,
    relabel: Relabeler,
    tenant: TenantId,
    running: HashMap<u64, Running>,
    discovery: Option<JoinHandle<()>>,
}

struct Shared {
    sink: Arc<dyn Append>,
    /// Timestamps of scraped samples; the store's clock, so both agree on "now".
    clock: Clock,
    state: Mutex<BTreeMap<String, Pool>>,
    views: RwLock<BTreeMap<String, PoolView>>,
    gen: std::sync::atomic::AtomicU64,
}

/// Cheap to clone; every clone drives the same scrapes.
#[derive(Clone)]
pub struct Manager {
    shared: Arc<Shared>,
}

/// How long a stopping loop may take to write its staleness markers.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Manager {
    pub fn new(sink: Arc<dyn Append>) -> Manager {
        Manager::with_clock(sink, Clock::system())
    }

    /// A manager whose scrapes are stamped by `clock` (the store's).
    pub fn with_clock(sink: Arc<dyn Append>, clock: Clock) -> Manager {
        Manager {
            shared: Arc::new(Shared {
                sink,
                clock,
                state: Mutex::new(BTreeMap::new()),
                views: RwLock::new(BTreeMap::new()),
                gen: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// The pools and their targets, for the API.
    pub fn pools(&self) -> BTreeMap<String, PoolView> {
        self.shared.views.read().clone()
    }

    /// Applies resolved scrape configs (see [`super::config::resolve`]). Everything is
    /// checked before anything changes, so a bad config leaves the running one in place.
    pub async fn apply(&self, jobs: Vec<ScrapeConfig>) -> Result<()> {
        let mut built = Vec::with_capacity(jobs.len());
        for j in jobs {
            let settings = settings(&j)?;
            let client = client(&j)?;
            let relabel = Relabeler::new(&j.relabel_configs).map_err(Error::BadRequest)?;
            let tenant = match &j.tenant {
                Some(t) => TenantId::new(t)?,
                None => TenantId::default_tenant(),
            };
            built.push((j, settings, client, relabel, tenant));
        }
        let mut state = self.shared.state.lock().await;
        let wanted: std::collections::HashSet<String> =
            built.iter().map(|b| b.0.job_name.clone()).collect();
        let gone: Vec<String> = state
            .keys()
            .filter(|k| !wanted.contains(*k))
            .cloned()
            .collect();
        for job in gone {
            if let Some(p) = state.remove(&job) {
                stop_pool(p).await;
            }
            self.shared.views.write().remove(&job);
        }
        for (cfg, settings, client, relabel, tenant) in built {
            let job = cfg.job_name.clone();
            let old = state.remove(&job);
            if let Some(p) = &old {
                if p.cfg == cfg {
                    state.insert(job, old.unwrap_or_else(|| unreachable!()));
                    continue;
                }
            }
            let gen = self
                .shared
                .gen
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            let running = match old {
                Some(mut p) => {
                    if let Some(d) = p.discovery.take() {
                        d.abort();
                    }
                    std::mem::take(&mut p.running)
                }
                None => HashMap::new(),
            };
            let discovery = Discovery::new(&cfg);
            let task = tokio::spawn(discover(
                Arc::downgrade(&self.shared),
                job.clone(),
                gen,
                discovery,
            ));
            state.insert(
                job,
                Pool {
                    cfg,
                    gen,
                    settings: Arc::new(settings),
                    client: Arc::new(client),
                    relabel,
                    tenant,
                    running,
                    discovery: Some(task),
                },
            );
        }
        Ok(())
    }

    /// Stops every loop, writing staleness markers, and waits for them (at shutdown).
    pub async fn stop(&self) {
        let mut state = self.shared.state.lock().await;
        let pools = std::mem::take(&mut *state);
        for (_, p) in pools {
            stop_pool(p).await;
        }
        self.shared.views.write().clear();
    }
}

async fn stop_pool(mut p: Pool) {
    if let Some(d) = p.discovery.take() {
        d.abort();
    }
    let mut handles = Vec::new();
    for (_, r) in p.running.drain() {
        let _ = r.stop.send(Stop::Stale);
        handles.push(r.handle);
    }
    for h in handles {
        let _ = tokio::time::timeout(STOP_TIMEOUT, h).await;
    }
}

async fn discover(shared: Weak<Shared>, job: String, gen: u64, mut d: Discovery) {
    loop {
        if let Some(groups) = d.poll(Instant::now()) {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            sync(&shared, &job, gen, &groups).await;
        }
        if !d.has_files() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Brings a pool's loops in line with its discovered groups.
async fn sync(shared: &Shared, job: &str, gen: u64, groups: &[super::target::TargetGroup]) {
    let mut state = shared.state.lock().await;
    let Some(pool) = state.get_mut(job) else {
        return;
    };
    if pool.gen != gen {
        return;
    }
    let (targets, dropped) = populate(&pool.cfg, &pool.relabel, groups);
    let keep: std::collections::HashSet<u64> = targets.iter().map(|t| t.hash).collect();
    let gone: Vec<u64> = pool
        .running
        .keys()
        .filter(|h| !keep.contains(*h))
        .copied()
        .collect();
    for h in gone {
        if let Some(r) = pool.running.remove(&h) {
            // The loop writes the staleness markers itself; no need to wait here.
            let _ = r.stop.send(Stop::Stale);
        }
    }
    let mut active = Vec::with_capacity(targets.len());
    for t in targets {
        let mut cache = SeriesCache::new();
        match pool.running.remove(&t.hash) {
            Some(r) if r.gen == pool.gen => {
                active.push(r.target.clone());
                pool.running.insert(t.hash, r);
                continue;
            }
            Some(r) => {
                // Same target, changed job: hand the cache and status to the new loop.
                let _ = r.stop.send(Stop::Handover);
                if let Ok(Ok(c)) = tokio::time::timeout(STOP_TIMEOUT, r.handle).await {
                    cache = c;
                }
                *t.status.lock() = r.target.status();
            }
            None => {}
        }
        let target = Arc::new(t);
        let (tx, rx) = oneshot::channel();
        let sl = ScrapeLoop {
            target: target.clone(),
            client: pool.client.clone(),
            settings: pool.settings.clone(),
            sink: shared.sink.clone(),
            tenant: pool.tenant.clone(),
            clock: shared.clock.clone(),
            cache,
        };
        let handle = tokio::spawn(sl.run(rx));
        active.push(target.clone());
        pool.running.insert(
            target.hash,
            Running {
                target,
                gen: pool.gen,
                stop: tx,
                handle,
            },
        );
    }
    active.sort_by(|a, b| a.labels.cmp(&b.labels));
    tracing::info!(
        job,
        targets = active.len(),
        dropped = dropped.len(),
        "scrape targets updated"
    );
    shared.views.write().insert(
        job.to_string(),
        PoolView {
            tenant: pool.tenant.clone(),
            active,
            dropped,
        },
    );
}

fn settings(j: &ScrapeConfig) -> Result<Settings> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        j.honor_labels,
        &j.metric_relabel_configs,
        j.label_limit,
        j.label_name_length_limit,
        j.label_value_length_limit,
    )
        .hash(&mut h);
    Ok(Settings {
        labels_fingerprint: h.finish(),
        honor_labels: j.honor_labels,
        honor_timestamps: j.honor_timestamps,
        sample_limit: j.sample_limit.unwrap_or(0),
        label_limit: j.label_limit.unwrap_or(0),
        label_name_length_limit: j.label_name_length_limit.unwrap_or(0),
        label_value_length_limit: j.label_value_length_limit.unwrap_or(0),
        body_size_limit: j.body_size_limit.map(|b| b.0).unwrap_or(0),
        metric_relabel: Relabeler::new(&j.metric_relabel_configs).map_err(Error::BadRequest)?,
    })
}

/// Checks what [`Manager::apply`] would build for each job (relabel rules, credentials and
/// TLS files, HTTP clients) without starting anything: `lookout check config` and config
/// loading use it so that a config that loads also starts.
pub fn check(jobs: &[ScrapeConfig]) -> Result<()> {
    for j in jobs {
        settings(j)?;
        client(j)?;
        if let Some(t) = &j.tenant {
            TenantId::new(t)?;
        }
    }
    Ok(())
}

static CRYPTO: std::sync::Once = std::sync::Once::new();

fn client(j: &ScrapeConfig) -> Result<JobClient> {
    CRYPTO.call_once(|| {
        // Fails only when a provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let job = &j.job_name;
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| {
            Error::BadRequest(format!("job \"{job}\": cannot read {}: {e}", p.display()))
        })
    };
    let timeout = j.scrape_timeout.unwrap_or_default().as_std();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(timeout.max(Duration::from_millis(100)))
        .pool_idle_timeout(Duration::from_secs(300))
        .user_agent(concat!("Lookout/", env!("CARGO_PKG_VERSION")));
    let tls = &j.tls_config;
    if tls.server_name.is_some() {
        return Err(Error::BadRequest(format!(
            "job \"{job}\": tls_config.server_name is not supported yet"
        )));
    }
    if let Some(ca) = &tls.ca_file {
        let certs = reqwest::Certificate::from_pem_bundle(&read(ca)?).map_err(|e| {
            Error::BadRequest(format!(
                "job \"{job}\": ca_file {} holds no usable PEM certificate: {e}",
                ca.display()
            ))
        })?;
        b = b.tls_certs_only(certs);
    }
    if let (Some(c), Some(k)) = (&tls.cert_file, &tls.key_file) {
        let mut pem = read(c)?;
        pem.push(b'\n');
        pem.extend(read(k)?);
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
            Error::BadRequest(format!(
                "job \"{job}\": cert_file/key_file are not a usable PEM certificate and key: {e}"
            ))
        })?;
        b = b.identity(id);
    }
    if tls.insecure_skip_verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    let client = b.build().map_err(|e| {
        Error::Internal(format!("job \"{job}\": cannot build the HTTP client: {e}"))
    })?;
    let auth = if let Some(ba) = &j.basic_auth {
        Auth::Basic {
            user: ba.username.clone(),
            password: ba.password.clone(),
            password_file: ba.password_file.clone(),
        }
    } else if let Some(a) = &j.authorization {
        Auth::Header {
            kind: a.kind.clone(),
            credentials: a.credentials.clone(),
            credentials_file: a.credentials_file.clone(),
        }
    } else if j.bearer_token.is_some() || j.bearer_token_file.is_some() {
        Auth::Header {
            kind: "Bearer".into(),
            credentials: j.bearer_token.clone(),
            credentials_file: j.bearer_token_file.clone(),
        }
    } else {
        Auth::None
    };
    Ok(JobClient { client, auth })
}

impl MetadataSource for Manager {
    fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
        limit: usize,
    ) -> Vec<MetricMetadata> {
        let mut all = std::collections::BTreeSet::new();
        for pool in self.shared.views.read().values() {
            if pool.tenant != *tenant {
                continue;
            }
            for t in &pool.active {
                let md = t.status.lock().metadata.clone();
                for m in md.iter() {
                    if metric.is_none_or(|w| w == m.metric) {
                        all.insert(m.clone());
                    }
                }
            }
        }
        let mut out: Vec<MetricMetadata> = Vec::new();
        let mut metrics = 0;
        for m in all {
            if out.last().is_none_or(|l| l.metric != m.metric) {
                metrics += 1;
                if limit > 0 && metrics > limit {
                    break;
                }
            }
            out.push(m);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::config::{resolve, GlobalConfig};
    use lookout_store::model::sample::is_stale_nan;
    use lookout_store::SeriesSamples;

    /// Remembers every appended sample as (labels, t, v).
    #[derive(Default)]
    struct Mem(parking_lot::Mutex<Vec<(String, i64, f64)>>);

    impl Append for Mem {
        fn append(&self, _t: &TenantId, batch: &[SeriesSamples]) -> lookout_store::Result<()> {
            let mut v = self.0.lock();
            for s in batch {
                for x in &s.samples {
                    v.push((s.labels.to_string(), x.t, x.v));
                }
            }
            Ok(())
        }
    }

    impl Mem {
        fn count(&self, f: impl Fn(&(String, i64, f64)) -> bool) -> usize {
            self.0.lock().iter().filter(|x| f(x)).count()
        }
    }

    /// A fake exporter on loopback serving whatever `body` holds.
    async fn exporter(body: Arc<parking_lot::Mutex<String>>) -> String {
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let b = body.clone();
                async move { b.lock().clone() }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        addr.to_string()
    }

    fn jobs(y: &str) -> Vec<ScrapeConfig> {
        let j: Vec<ScrapeConfig> = serde_yaml::from_str(y).unwrap();
        resolve(&GlobalConfig::default(), &j).unwrap()
    }

    /// Polls `f` every 20ms for at most 10s.
    async fn eventually(what: &str, f: impl Fn() -> bool) {
        for _ in 0..500 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reload_keeps_running_targets_and_stales_removed_ones() {
        let body = Arc::new(parking_lot::Mutex::new("# TYPE a gauge\na 1\n".to_string()));
        let addr = exporter(body.clone()).await;
        let mem = Arc::new(Mem::default());
        let m = Manager::new(mem.clone());
        let cfg = format!(
            "- job_name: j\n  scrape_interval: 200ms\n  static_configs: [{{targets: ['{addr}']}}]\n"
        );
        m.apply(jobs(&cfg)).await.unwrap();
        eventually("two scrapes", || mem.count(|x| x.0.contains("\"a\"")) >= 2).await;
        let before = m.pools()["j"].active[0].clone();
        assert_eq!(before.status().health, super::super::target::Health::Up);
        assert_eq!(
            m.metadata(&TenantId::default_tenant(), None, 0)[0].kind,
            "gauge"
        );

        // The same config again: the very same target keeps running.
        m.apply(jobs(&cfg)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(Arc::ptr_eq(&before, &m.pools()["j"].active[0]));

        // A changed job whose label handling is the same: a new loop takes over the cache
        // and status, and nothing goes stale.
        let limited = format!("{cfg}  sample_limit: 1000\n");
        m.apply(jobs(&limited)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let n = mem.count(|x| x.0.contains("\"a\""));
        eventually("scrapes after the reload", || {
            mem.count(|x| x.0.contains("\"a\"")) >= n + 2
        })
        .await;
        assert!(!Arc::ptr_eq(&before, &m.pools()["j"].active[0]));
        assert_eq!(
            mem.count(|x| is_stale_nan(x.2)),
            0,
            "nothing went stale on reload"
        );

        // Changed metric relabeling: series change identity, so the old ones go stale but
        // the target (its `up`) does not.
        let changed = format!("{limited}  metric_relabel_configs: [{{source_labels: [__name__], target_label: copy}}]\n");
        m.apply(jobs(&changed)).await.unwrap();
        eventually("the relabeled series", || {
            mem.count(|x| x.0.contains("copy=\"a\"")) >= 1
        })
        .await;
        eventually("the old series stale", || {
            mem.count(|x| x.0.starts_with("{__name__=\"a\", instance") && is_stale_nan(x.2)) >= 1
        })
        .await;
        assert_eq!(
            mem.count(|x| x.0.contains("\"up\"") && is_stale_nan(x.2)),
            0
        );

        // The series vanishes from the payload: its staleness marker follows.
        *body.lock() = "b 1\n".into();
        eventually("a stale marker for a", || {
            mem.count(|x| x.0.contains("copy=\"a\"") && is_stale_nan(x.2)) >= 1
        })
        .await;

        // The job goes away: every series and the synthetic ones go stale.
        m.apply(vec![]).await.unwrap();
        eventually("stale up", || {
            mem.count(|x| x.0.contains("\"up\"") && is_stale_nan(x.2)) >= 1
        })
        .await;
        assert!(m.pools().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn file_sd_changes_are_picked_up() {
        let body = Arc::new(parking_lot::Mutex::new("a 1\n".to_string()));
        let addr = exporter(body.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.yml");
        std::fs::write(&f, "[]\n").unwrap();
        let mem = Arc::new(Mem::default());
        let m = Manager::new(mem.clone());
        let cfg = format!(
            "- job_name: f\n  scrape_interval: 200ms\n  file_sd_configs: [{{files: ['{}']}}]\n",
            f.display()
        );
        m.apply(jobs(&cfg)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::fs::write(
            &f,
            format!("- targets: ['{addr}']\n  labels: {{team: x}}\n"),
        )
        .unwrap();
        eventually("the file's target scraped", || {
            mem.count(|x| x.0.contains("team=\"x\"") && x.0.contains("\"up\"") && x.2 == 1.0) >= 1
        })
        .await;
        let t = m.pools()["f"].active[0].clone();
        assert_eq!(t.discovered["__meta_filepath"], f.display().to_string());
        std::fs::write(&f, "[]\n").unwrap();
        eventually("the removed target's series stale", || {
            mem.count(|x| x.0.contains("\"a\"") && is_stale_nan(x.2)) >= 1
        })
        .await;
        assert!(m.pools()["f"].active.is_empty());
        m.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_or_invalid_target_is_down_with_its_error() {
        let body = Arc::new(parking_lot::Mutex::new("not a valid line\n".to_string()));
        let addr = exporter(body.clone()).await;
        let mem = Arc::new(Mem::default());
        let m = Manager::new(mem.clone());
        let cfg = format!("- job_name: bad\n  scrape_interval: 200ms\n  static_configs: [{{targets: ['{addr}', '127.0.0.1:1']}}]\n");
        m.apply(jobs(&cfg)).await.unwrap();
        eventually("both targets down", || {
            let p = m.pools();
            p.get("bad").is_some_and(|v| {
                v.active.len() == 2
                    && v.active.iter().all(|t| {
                        t.status().health == super::super::target::Health::Down
                            && !t.status().last_error.is_empty()
                    })
            })
        })
        .await;
        let errs: Vec<String> = m.pools()["bad"]
            .active
            .iter()
            .map(|t| t.status().last_error)
            .collect();
        assert!(errs.iter().any(|e| e.contains("line 1")), "{errs:?}");
        assert!(mem.count(|x| x.0.contains("\"up\"") && x.2 == 0.0) >= 2);
        m.stop().await;
    }

    /// An exporter whose answer depends on the request: `/slow` sleeps 2s, `/om` answers
    /// OpenMetrics, `/auth` wants credentials, `/echo` shows its query string.
    async fn picky_exporter() -> String {
        use axum::http::HeaderMap;
        use axum::routing::get;
        let app = axum::Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    "a 1\n"
                }),
            )
            .route(
                "/om",
                get(|h: HeaderMap| async move {
                    let accept = h.get("accept").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    assert!(accept.starts_with("application/openmetrics-text"), "{accept}");
                    (
                        [("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                        "# TYPE c counter\n# UNIT c seconds\nc_total 3 1700000000.5 # {id=\"x\"} 1\n# EOF\n",
                    )
                }),
            )
            .route(
                "/auth",
                get(|h: HeaderMap| async move {
                    let a = h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
                    if a == "Bearer s3cret" || a == "Basic dTpwdw==" {
                        (axum::http::StatusCode::OK, "ok 1\n")
                    } else {
                        (axum::http::StatusCode::UNAUTHORIZED, "")
                    }
                }),
            )
            .route(
                "/echo",
                get(|q: axum::extract::RawQuery| async move {
                    format!("echo{{q=\"{}\"}} 1\n", q.0.unwrap_or_default())
                }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        addr.to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn timeouts_openmetrics_auth_and_params() {
        let addr = picky_exporter().await;
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "pw\n").unwrap();
        let mem = Arc::new(Mem::default());
        let m = Manager::new(mem.clone());
        let t = format!("static_configs: [{{targets: ['{addr}']}}]");
        let cfg = format!(
            "- {{job_name: slow, scrape_interval: 500ms, scrape_timeout: 200ms, metrics_path: /slow, {t}}}
- {{job_name: om, scrape_interval: 100ms, metrics_path: /om, {t}}}
- {{job_name: bearer, scrape_interval: 100ms, metrics_path: /auth, bearer_token: s3cret, {t}}}
- {{job_name: basic, scrape_interval: 100ms, metrics_path: /auth, basic_auth: {{username: u, password_file: '{}'}}, {t}}}
- {{job_name: noauth, scrape_interval: 100ms, metrics_path: /auth, {t}}}
- {{job_name: echo, scrape_interval: 100ms, metrics_path: /echo, params: {{module: [a b]}}, {t}}}
",
            pw.display()
        );
        m.apply(jobs(&cfg)).await.unwrap();
        let status = |job: &str| {
            m.pools()
                .get(job)
                .and_then(|p| p.active.first().map(|t| t.status()))
        };
        eventually("every job scraped", || {
            ["slow", "om", "bearer", "basic", "noauth", "echo"]
                .iter()
                .all(|j| status(j).is_some_and(|s| s.last_scrape.is_some()))
        })
        .await;
        let slow = status("slow").unwrap();
        assert_eq!(slow.health, super::super::target::Health::Down);
        assert!(slow.last_error.contains("timed out"), "{}", slow.last_error);
        assert!(
            slow.last_duration < Duration::from_millis(1500),
            "the timeout cut the scrape short"
        );
        let om = status("om").unwrap();
        assert_eq!(
            om.health,
            super::super::target::Health::Up,
            "{}",
            om.last_error
        );
        assert_eq!(om.metadata[0].unit, "seconds");
        assert_eq!(
            mem.count(|x| x.0.contains("c_total") && x.1 == 1_700_000_000_500 && x.2 == 3.0),
            mem.count(|x| x.0.contains("c_total")),
            "OpenMetrics timestamps are seconds"
        );
        assert_eq!(
            status("bearer").unwrap().health,
            super::super::target::Health::Up
        );
        assert_eq!(
            status("basic").unwrap().health,
            super::super::target::Health::Up
        );
        let no = status("noauth").unwrap();
        assert!(no.last_error.contains("401"), "{}", no.last_error);
        eventually("the echoed params", || {
            mem.count(|x| x.0.contains("q=\"module=a+b\"")) > 0
        })
        .await;
        m.stop().await;
    }

    fn run(dir: &std::path::Path, args: &[&str]) {
        let st = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("the openssl command (Debian package openssl) is needed by this test");
        assert!(st.success(), "openssl {args:?}");
    }

    /// `openssl s_server -WWW` serving `dir/metrics` over TLS on a free loopback port.
    struct TlsServer(std::process::Child, String);

    impl Drop for TlsServer {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn tls_server(dir: &std::path::Path, extra: &[&str]) -> TlsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = std::process::Command::new("openssl")
            .args([
                "s_server", "-accept", &addr, "-cert", "leaf.pem", "-key", "leaf.key", "-WWW",
                "-quiet",
            ])
            .args(extra)
            .current_dir(dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsServer(child, addr)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tls_ca_file_client_certificates_and_insecure_skip_verify() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("metrics"), "tls_metric 1\n").unwrap();
        std::fs::write(
            d.join("ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        run(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=lookout test CA",
            ],
        );
        run(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        run(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "ext",
            ],
        );
        let plain = tls_server(d, &[]);
        let mtls = tls_server(
            d,
            &["-Verify", "1", "-verify_return_error", "-CAfile", "ca.pem"],
        );
        let p = |f: &str| d.join(f).display().to_string();
        let cfg = format!(
            "- {{job_name: ca, scheme: https, scrape_interval: 200ms, tls_config: {{ca_file: '{ca}'}}, static_configs: [{{targets: ['{a}']}}]}}
- {{job_name: insecure, scheme: https, scrape_interval: 200ms, tls_config: {{insecure_skip_verify: true}}, static_configs: [{{targets: ['{a}']}}]}}
- {{job_name: untrusted, scheme: https, scrape_interval: 200ms, static_configs: [{{targets: ['{a}']}}]}}
- {{job_name: mtls, scheme: https, scrape_interval: 200ms, tls_config: {{ca_file: '{ca}', cert_file: '{cert}', key_file: '{key}'}}, static_configs: [{{targets: ['{b}']}}]}}
- {{job_name: nocert, scheme: https, scrape_interval: 200ms, tls_config: {{ca_file: '{ca}'}}, static_configs: [{{targets: ['{b}']}}]}}
",
            ca = p("ca.pem"),
            cert = p("leaf.pem"),
            key = p("leaf.key"),
            a = plain.1,
            b = mtls.1,
        );
        let mem = Arc::new(Mem::default());
        let m = Manager::new(mem.clone());
        m.apply(jobs(&cfg)).await.unwrap();
        let status = |job: &str| {
            m.pools()
                .get(job)
                .and_then(|p| p.active.first().map(|t| t.status()))
        };
        use super::super::target::Health;
        eventually("every TLS job scraped as expected", || {
            ["ca", "insecure", "mtls"]
                .iter()
                .all(|j| status(j).is_some_and(|s| s.health == Health::Up))
                && ["untrusted", "nocert"]
                    .iter()
                    .all(|j| status(j).is_some_and(|s| s.health == Health::Down))
        })
        .await;
        assert!(mem.count(|x| x.0.contains("tls_metric") && x.0.contains("job=\"mtls\"")) > 0);
        let e = status("untrusted").unwrap().last_error;
        assert!(e.to_lowercase().contains("certificate"), "{e}");
        m.stop().await;
    }
}
