//! `lookout serve`: opens the store, wires ingest, query and UI routes onto one listener,
//! runs maintenance, and shuts down gracefully on SIGTERM/SIGINT (in-flight requests
//! finish, then every WAL is fsynced).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use lookout_collector::logs::LogIngest;
use lookout_collector::remote_write::Limits;
use lookout_collector::spanmetrics::{SpanMetrics, SpanMetricsSink};
use lookout_collector::spans::SpanIngest;
use lookout_collector::IngestState;
use lookout_query::promql::Engine;
use lookout_query::QueryState;
use lookout_store::metrics::TsdbOptions;
use lookout_store::{Clock, Store, StoreOptions};

use crate::config::Config;
use crate::reload::{self, Reloader};
use crate::self_metrics::{self, SelfMetrics};
use lookout_query::http::buildinfo::ConfigStatus;
use lookout_query::http::prometheus::rules::RulesApi;
use lookout_query::rules::notify::Notifier;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Configuration file (YAML). Without it, the embedded defaults apply.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (overrides `data:`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Listen address (overrides `listen:`); port 0 picks a free port.
    #[arg(long)]
    listen: Option<String>,
    /// OTLP/gRPC listen address (overrides `otlp.grpc_listen`); port 0 picks a free port,
    /// an empty value turns OTLP/gRPC off.
    #[arg(long)]
    otlp_grpc_listen: Option<String>,
    /// Do not add the job that scrapes Lookout's own /metrics when the config has no
    /// `scrape_configs` (tests use this to keep their data to themselves).
    #[arg(long)]
    no_self_scrape: bool,
    /// Testing only: the server's clock reads this many ms since the epoch at start and
    /// advances from there (retention, accepted sample times and scrape timestamps follow it).
    #[arg(long, hide = true, env = "LOOKOUT_TEST_CLOCK_START_MS")]
    test_clock_start_ms: Option<i64>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(d) = args.data {
        cfg.data = d;
    }
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if let Some(l) = args.otlp_grpc_listen {
        cfg.otlp.grpc_listen = l;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lookout")
        .build()
        .context("cannot start the async runtime")?;
    let clock = match args.test_clock_start_ms {
        Some(ms) => Clock::starting_at(ms),
        None => Clock::system(),
    };
    rt.block_on(serve(cfg, args.config, args.no_self_scrape, clock))
}

fn store_options(cfg: &Config, clock: Clock) -> StoreOptions {
    StoreOptions {
        tsdb: TsdbOptions {
            block_duration: cfg.block_duration.0,
            retention_time: cfg.retention.time.0,
            retention_size: cfg.retention.size.0,
            clock,
            limits: cfg.limits.series_limits(),
            max_exemplars: cfg.storage.exemplars.max_exemplars,
            ..Default::default()
        },
        tenants: cfg.limits.tenant_limits(),
        ..Default::default()
    }
}

async fn serve(
    cfg: Config,
    config_path: Option<PathBuf>,
    no_self_scrape: bool,
    clock: Clock,
) -> anyhow::Result<()> {
    let data = cfg.data.clone();
    let opts = store_options(&cfg, clock.clone());
    let started = std::time::Instant::now();
    let multi_tenant = cfg.multi_tenant;
    let store = tokio::task::spawn_blocking(move || {
        let store = Store::open(&data, opts)?;
        // One tenant (or a few, fed by scrape jobs' `tenant:`): replay now, so the first
        // query does not wait. Many tenants open as they are used.
        if !multi_tenant {
            store.open_all()?;
        }
        anyhow::Ok(store)
    })
    .await
    .context("store open task failed")?
    .with_context(|| format!("cannot open data directory {}", cfg.data.display()))?;
    let store = Arc::new(store);
    tracing::info!(data = %cfg.data.display(), took_ms = started.elapsed().as_millis() as u64, "store open");
    store
        .spawn_maintenance(StdDuration::from_millis(cfg.maintenance_interval.0 as u64))
        .context("cannot start the maintenance thread")?;

    let logs = LogIngest::new(store.clone(), cfg.limits.log_limits(), clock.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut side_tasks = Vec::new();
    // Every span ingest path (OTLP gRPC and HTTP, Zipkin) writes through this sink, so span
    // metrics count each stored span once.
    let span_sink: Arc<dyn lookout_store::AppendSpans> = if cfg.traces.span_metrics.enabled {
        let generator = Arc::new(SpanMetrics::new(
            cfg.traces.span_metrics.options(),
            store.clone(),
            clock.clone(),
        ));
        side_tasks.push(tokio::spawn(
            generator.clone().run(until_stopped(stopped.clone())),
        ));
        Arc::new(SpanMetricsSink {
            inner: store.clone(),
            metrics: generator,
        })
    } else {
        store.clone()
    };
    let spans = SpanIngest {
        sink: Arc::new(self_metrics::CountingSpans { inner: span_sink }),
        multi_tenant: cfg.multi_tenant,
        max_body_bytes: cfg.limits.max_body_size.0 as usize,
        max_decoded_bytes: logs.limits.max_decoded_bytes,
    };
    if let Some(t) = start_otlp_grpc(&cfg, logs.clone(), spans.clone(), stopped.clone()).await? {
        side_tasks.push(t);
    }
    for l in &cfg.syslog {
        let bound = lookout_collector::syslog::Bound::bind(l)
            .await
            .with_context(|| format!("cannot listen for syslog on {}", l.listen))?;
        let a = bound.local_addr()?;
        let proto = format!("{:?}", l.protocol).to_lowercase();
        println!("lookout syslog {proto} listening on {a}");
        tracing::info!(addr = %a, protocol = %proto, "syslog listening");
        side_tasks.push(tokio::spawn(
            bound.serve(logs.clone(), until_stopped(stopped.clone())),
        ));
    }
    let ingest = lookout_collector::router(IngestState {
        sink: store.clone(),
        multi_tenant: cfg.multi_tenant,
        limits: Limits {
            max_decoded_bytes: cfg.limits.max_decoded_body_size.0 as usize,
        },
        max_body_bytes: cfg.limits.max_body_size.0 as usize,
        logs,
    });
    let spans = lookout_collector::spans::router(spans);
    let scrape = lookout_collector::scrape::Manager::with_clock(store.clone(), clock.clone());
    let config_status = ConfigStatus::new(match &config_path {
        Some(p) => std::fs::read_to_string(p).unwrap_or_default(),
        None => reload::DEFAULTS_YAML.to_string(),
    });
    let query = lookout_query::router(QueryState {
        store: store.clone(),
        multi_tenant: cfg.multi_tenant,
        engine: Engine::new(cfg.query.engine_options()),
        metadata: Arc::new(scrape.clone()),
        config: config_status.clone(),
        admission: lookout_query::admission::Admission::new(
            cfg.query.concurrency(),
            cfg.query.max_queued,
            cfg.query.nice,
        )
        .context("cannot start the query threads")?,
        traces: store.clone(),
        logs: store.clone(),
        logql: lookout_query::logql::LogqlEngine::new(cfg.query.logql_options()),
    });
    let notifier = Notifier::new(cfg.data.join("notify"), clock.clone());
    let rules = lookout_query::rules::Manager::new(
        store.clone(),
        Engine::new(cfg.query.engine_options()),
        clock.clone(),
        Arc::new(notifier.clone()),
        Some(lookout_query::rules::LogRules {
            logs: store.clone(),
            engine: lookout_query::logql::LogqlEngine::new(cfg.query.logql_options()),
        }),
    );
    let groups = crate::alerting::apply(&cfg, config_path.as_deref(), &rules, &notifier)
        .context("cannot load the rules")?;
    tracing::info!(groups, "rules loaded");
    let self_metrics =
        SelfMetrics::new(store.clone(), scrape.clone()).with_rules(rules.clone(), notifier.clone());
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    let reloader = Arc::new(Reloader {
        path: config_path,
        self_addr: (!no_self_scrape).then(|| self_scrape_addr(addr)),
        manager: scrape.clone(),
        status: config_status.clone(),
        rules: rules.clone(),
        notifier: notifier.clone(),
    });
    scrape
        .apply(cfg.scrape_jobs(reloader.self_addr.as_deref())?)
        .await
        .context("cannot start scraping")?;
    reload::spawn_sighup(reloader.clone());
    let app = Router::new()
        .merge(lookout_collector::scrape::api::router(
            scrape.clone(),
            cfg.multi_tenant,
        ))
        .merge(reload::routes(reloader))
        .merge(self_metrics.routes())
        .route("/-/healthy", get(|| async { "Lookout is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Lookout is Ready.\n" }))
        .merge(ingest)
        .merge(spans)
        .merge(query)
        .merge(lookout_query::http::prometheus::rules::router(RulesApi {
            manager: rules.clone(),
            notifier: notifier.clone(),
        }))
        .merge(lookout_ui::router())
        .layer(axum::middleware::from_fn_with_state(
            AdminGuard {
                refuse: cfg.multi_tenant && !cfg.admin.enabled_in_multi_tenant,
            },
            admin_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            self_metrics,
            self_metrics::track,
        ));

    // Tests and scripts read this line to find a port chosen with :0.
    println!("lookout listening on http://{addr}");
    tracing::info!(%addr, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    let _ = stop.send(true);
    for t in side_tasks {
        let _ = tokio::time::timeout(StdDuration::from_secs(10), t).await;
    }
    tracing::info!("shutting down: stopping scrapes");
    scrape.stop().await;
    rules.stop();
    notifier.stop();
    tracing::info!("shutting down: syncing write-ahead logs");
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.close()).await??;
    tracing::info!("stopped");
    Ok(())
}

/// Completes once `stop` says so (or its sender is gone).
async fn until_stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Starts the OTLP/gRPC listener when `otlp.grpc_listen` names one. The default address
/// may be held by another collector: then OTLP/gRPC is off with a warning, not a failure.
async fn start_otlp_grpc(
    cfg: &Config,
    logs: LogIngest,
    spans: SpanIngest,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let addr = &cfg.otlp.grpc_listen;
    if addr.is_empty() {
        return Ok(None);
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if addr == crate::config::DEFAULT_OTLP_GRPC_LISTEN => {
            tracing::warn!(%addr, error = %e, "otlp grpc is off: cannot listen on its default address; set otlp.grpc_listen");
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot listen for OTLP/gRPC on {addr}")),
    };
    let a = listener.local_addr()?;
    println!("lookout otlp grpc listening on {a}");
    tracing::info!(addr = %a, "otlp grpc listening");
    let services = lookout_collector::otlp::grpc::Services {
        logs,
        spans,
        multi_tenant: cfg.multi_tenant,
    };
    Ok(Some(tokio::spawn(async move {
        if let Err(e) =
            lookout_collector::otlp::grpc::serve(listener, services, until_stopped(stopped)).await
        {
            tracing::error!(error = %e, "otlp grpc server failed");
        }
    })))
}

#[derive(Clone, Copy)]
struct AdminGuard {
    refuse: bool,
}

/// Admin endpoints act on the whole server, or on one tenant's data at the operator's
/// request; with many tenants, any of them could call them. So in multi-tenant mode they
/// answer 403 unless `admin.enabled_in_multi_tenant` allows them.
async fn admin_guard(
    axum::extract::State(g): axum::extract::State<AdminGuard>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = req.uri().path();
    if g.refuse && (path.starts_with("/api/v1/admin/") || path == "/-/reload") {
        let body = serde_json::json!({
            "status": "error",
            "errorType": "forbidden",
            "error": format!("{path} is disabled in multi-tenant mode; set admin.enabled_in_multi_tenant: true in lookout.yaml to allow it (it then acts on the X-Scope-OrgID tenant only)"),
        });
        return (axum::http::StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    next.run(req).await
}

/// The address Lookout scrapes itself at: its listen address, with a wildcard host made
/// loopback.
fn self_scrape_addr(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("signal received");
}
