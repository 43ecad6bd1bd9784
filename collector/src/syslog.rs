//! Syslog listeners (`syslog:` in lookout.yaml): RFC 5424 and RFC 3164 messages over UDP
//! (one datagram, one message) and TCP (RFC 6587 octet-counting or newline framing, told
//! apart per message as rsyslog does).
//!
//! Each message becomes a line of the stream `{<listener labels>, host, app, facility,
//! severity}` (promtail's syslog names, the values as promtail writes them:
//! `facility="daemon"`, `severity="warning"`); the process id, message id and structured
//! data (`<SD-ID>_<PARAM>`) become structured metadata, with `detected_level` from the
//! severity. A message without a timestamp is stamped on receipt.
//!
//! TCP is read only as fast as lines are stored (backpressure instead of a queue); a
//! connection idle for [`IDLE_TIMEOUT`] is closed, and at most [`MAX_CONNECTIONS`] are
//! open per listener.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lookout_store::TenantId;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::logs::{Batch, LogIngest, LogReason, Protocol};

pub mod framing;
pub mod parse;

pub use parse::Format;

/// How long a TCP connection may stay silent before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Most TCP connections open at once on one listener; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 1024;

/// The transport of a syslog listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}

/// One `syslog:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// host:port to listen on.
    pub listen: String,
    #[serde(default)]
    pub protocol: Transport,
    #[serde(default)]
    pub format: Format,
    /// Labels added to every stream of this listener.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The tenant the lines belong to (default "default").
    #[serde(default)]
    pub tenant: Option<String>,
    /// Longest message accepted, bytes; longer ones are dropped and counted
    /// (`line_too_long`).
    #[serde(default = "default_max_message_length")]
    pub max_message_length: usize,
}

fn default_max_message_length() -> usize {
    64 << 10
}

impl ListenerConfig {
    /// What is wrong with the entry, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() && !self.listen.contains(':') {
            return Err(format!(
                "listen: {:?} is invalid: write host:port, e.g. 0.0.0.0:5514",
                self.listen
            ));
        }
        if let Some(t) = &self.tenant {
            TenantId::new(t).map_err(|e| format!("tenant: {e}"))?;
        }
        for name in self.labels.keys() {
            if !lookout_store::model::labels::is_valid_label_name(name) {
                return Err(format!(
                    "labels: {name:?} is not a valid label name: use [a-zA-Z_][a-zA-Z0-9_]*"
                ));
            }
        }
        if self.max_message_length == 0 {
            return Err("max_message_length must be positive (65536 is the default)".into());
        }
        Ok(())
    }

    fn tenant(&self) -> TenantId {
        self.tenant
            .as_deref()
            .and_then(|t| TenantId::new(t).ok())
            .unwrap_or_else(TenantId::default_tenant)
    }
}

/// Adds one message (a frame without its trailing newline) to `batch`.
pub fn add(batch: &mut Batch<'_>, cfg: &ListenerConfig, frame: &[u8], now_ms: i64) {
    let text = String::from_utf8_lossy(frame);
    let text = text.trim_end_matches(['\n', '\r', '\0']);
    let m = parse::parse(text, cfg.format, now_ms);
    let mut labels: Vec<(String, String)> = cfg
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut set = |name: &str, value: Option<&str>| {
        if let Some(v) = value {
            labels.retain(|(n, _)| n != name);
            labels.push((name.to_string(), v.to_string()));
        }
    };
    set("host", m.hostname);
    set("app", m.app);
    set(
        "facility",
        parse::FACILITIES.get(usize::from(m.facility)).copied(),
    );
    set(
        "severity",
        parse::SEVERITIES.get(usize::from(m.severity)).copied(),
    );
    let mut meta = m.structured_data;
    if let Some(p) = m.procid {
        meta.push(("procid".into(), p.into()));
    }
    if let Some(id) = m.msgid {
        meta.push(("msgid".into(), id.into()));
    }
    meta.push(("detected_level".into(), parse::level(m.severity).into()));
    let ts = m.ts_ns.unwrap_or_else(|| batch.now_ns());
    let line = m.msg.to_string();
    let stream = batch.stream(labels);
    batch.push(stream, ts, line, meta);
}

fn store(ingest: &LogIngest, tenant: &TenantId, batch: Batch<'_>) {
    match ingest.ingest(tenant, Protocol::Syslog, batch) {
        Ok(o) => {
            if let Some(m) = o.message {
                tracing::warn!(tenant = %tenant, refused = o.rejected, "syslog lines refused: {m}");
            }
        }
        Err(e) => tracing::warn!(tenant = %tenant, error = %e, "syslog lines not stored"),
    }
}

/// A bound listener, ready to serve.
pub enum Bound {
    Udp(UdpSocket, ListenerConfig),
    Tcp(TcpListener, ListenerConfig),
}

impl Bound {
    pub async fn bind(cfg: &ListenerConfig) -> std::io::Result<Bound> {
        Ok(match cfg.protocol {
            Transport::Udp => Bound::Udp(UdpSocket::bind(&cfg.listen).await?, cfg.clone()),
            Transport::Tcp => Bound::Tcp(TcpListener::bind(&cfg.listen).await?, cfg.clone()),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Bound::Udp(s, _) => s.local_addr(),
            Bound::Tcp(l, _) => l.local_addr(),
        }
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(self, ingest: LogIngest, shutdown: impl Future<Output = ()>) {
        match self {
            Bound::Udp(sock, cfg) => {
                tokio::select! {
                    _ = serve_udp(sock, cfg, ingest) => {}
                    _ = shutdown => {}
                }
            }
            Bound::Tcp(listener, cfg) => {
                tokio::select! {
                    _ = serve_tcp(listener, cfg, ingest) => {}
                    _ = shutdown => {}
                }
            }
        }
    }
}

/// Datagrams are gathered into batches of up to this many before they are stored.
const UDP_BATCH: usize = 512;

async fn serve_udp(sock: UdpSocket, cfg: ListenerConfig, ingest: LogIngest) {
    let cfg = Arc::new(cfg);
    let tenant = cfg.tenant();
    let mut buf = vec![0u8; 65_536];
    loop {
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut too_long = 0u64;
        match sock.recv(&mut buf).await {
            Ok(n) => frames.push(buf[..n].to_vec()),
            Err(e) => {
                tracing::warn!(error = %e, "syslog udp receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        }
        while frames.len() < UDP_BATCH {
            match sock.try_recv(&mut buf) {
                Ok(n) => frames.push(buf[..n].to_vec()),
                Err(_) => break,
            }
        }
        frames.retain(|f| {
            let keep = f.len() <= cfg.max_message_length;
            too_long += u64::from(!keep);
            keep
        });
        let (ingest, cfg, tenant) = (ingest.clone(), cfg.clone(), tenant.clone());
        let _ = tokio::task::spawn_blocking(move || {
            let _keep_freed_pages = lookout_store::memory::Hint::log_ingest();
            let mut batch = ingest.batch();
            let now = ingest.clock.now_ms();
            if too_long > 0 {
                batch.refuse_lines(
                    LogReason::LineTooLong,
                    too_long,
                    format!(
                        "{too_long} syslog messages were longer than max_message_length ({} bytes)",
                        cfg.max_message_length
                    ),
                );
            }
            for f in &frames {
                add(&mut batch, &cfg, f, now);
            }
            store(&ingest, &tenant, batch);
        })
        .await;
    }
}

async fn serve_tcp(listener: TcpListener, cfg: ListenerConfig, ingest: LogIngest) {
    let cfg = Arc::new(cfg);
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((conn, peer)) => {
                let (cfg, ingest) = (cfg.clone(), ingest.clone());
                tokio::spawn(async move {
                    if let Err(e) = serve_conn(conn, &cfg, ingest).await {
                        tracing::debug!(%peer, error = %e, "syslog tcp connection closed");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "syslog tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_conn(
    mut conn: TcpStream,
    cfg: &Arc<ListenerConfig>,
    ingest: LogIngest,
) -> std::io::Result<()> {
    let tenant = cfg.tenant();
    let mut framer = framing::Framer::new(cfg.max_message_length);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match tokio::time::timeout(IDLE_TIMEOUT, conn.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        let mut frames = Vec::new();
        let eof = n == 0;
        framer.feed(&buf[..n], eof, &mut frames);
        if !frames.is_empty() || framer.dropped() > 0 {
            let (ingest, cfg, tenant) = (ingest.clone(), cfg.clone(), tenant.clone());
            let dropped = framer.take_dropped();
            tokio::task::spawn_blocking(move || {
                let _keep_freed_pages = lookout_store::memory::Hint::log_ingest();
                let mut batch = ingest.batch();
                let now = ingest.clock.now_ms();
                if dropped > 0 {
                    batch.refuse_lines(LogReason::LineTooLong, dropped, format!("{dropped} syslog messages were longer than max_message_length ({} bytes)", cfg.max_message_length));
                }
                for f in &frames {
                    add(&mut batch, &cfg, f, now);
                }
                store(&ingest, &tenant, batch);
            })
            .await
            .map_err(std::io::Error::other)?;
        }
        if eof {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogLimits;

    fn cfg() -> ListenerConfig {
        serde_yaml::from_str("{listen: '127.0.0.1:0', protocol: tcp, labels: {job: syslog}}")
            .unwrap()
    }

    #[test]
    fn messages_map_to_streams() {
        let limits = LogLimits::default();
        let mut b = Batch::new(&limits, 1_065_910_455_000);
        add(
            &mut b,
            &cfg(),
            br#"<165>1 2003-10-11T22:14:15.003Z host evntslog 42 ID47 [ex@1 a="b"] An event"#,
            1_065_910_455_000,
        );
        add(&mut b, &cfg(), b"no header at all\n", 1_065_910_455_000);
        let streams = b.into_streams();
        assert_eq!(streams.len(), 2);
        let s = streams
            .iter()
            .find(|s| s.labels.get("app") == Some("evntslog"))
            .unwrap();
        assert_eq!(
            s.labels.to_string(),
            r#"{app="evntslog", facility="local4", host="host", job="syslog", severity="notice"}"#
        );
        let r = &s.records[0];
        assert_eq!(r.line, "An event");
        assert_eq!(r.ts_ns, 1_065_910_455_003_000_000);
        assert_eq!(
            r.metadata,
            vec![
                ("detected_level".to_string(), "info".to_string()),
                ("ex_1_a".into(), "b".into()),
                ("msgid".into(), "ID47".into()),
                ("procid".into(), "42".into()),
            ]
        );
        let other = streams
            .iter()
            .find(|s| s.labels.get("app").is_none())
            .unwrap();
        assert_eq!(other.records[0].line, "no header at all");
        assert_eq!(other.records[0].ts_ns, 1_065_910_455_000_000_000);
    }

    #[test]
    fn config_is_checked() {
        let mut c = cfg();
        assert!(c.check().is_ok());
        c.labels.insert("a.b".into(), "x".into());
        assert!(c.check().unwrap_err().contains("a.b"));
        let e = serde_yaml::from_str::<ListenerConfig>("{listen: ':1', protocl: udp}").unwrap_err();
        assert!(e.to_string().contains("protocl"));
        let e =
            serde_yaml::from_str::<ListenerConfig>("{listen: ':1', format: rfc9999}").unwrap_err();
        assert!(e.to_string().contains("rfc9999"));
    }
}
