//! ClickHouse as the bench's columnar baseline: Debian's `clickhouse-server` (18.16) run as a
//! plain child process with its own config, users and data directory under a temporary
//! directory, listening on free loopback ports, with zstd as the server-wide compression
//! method (18.16 has no per-column codecs). It is installed with apt-get when missing.
//!
//! Table: `logs (job String, level String, ts UInt64, line String) ENGINE = MergeTree ORDER
//! BY (job, level, ts)`: the stream's labels as columns, then the time in ns (18.16 has no
//! DateTime64). Rows arrive as TabSeparated over the HTTP interface in batches, then
//! `OPTIMIZE TABLE logs FINAL` merges them into one part.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::procfs;

const SERVER: &str = "clickhouse-server";

/// A running server, killed on drop.
pub struct ClickHouse {
    child: Child,
    pub url: String,
    pub dir: PathBuf,
    http: reqwest::blocking::Client,
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn server_path() -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(SERVER))
        .find(|p| p.exists())
}

/// The server binary, installed with apt-get if it is missing.
pub fn ensure_installed() -> anyhow::Result<PathBuf> {
    if let Some(p) = server_path() {
        return Ok(p);
    }
    eprintln!("logbench: installing clickhouse-server with apt-get");
    let st = Command::new("apt-get")
        .args(["install", "-y", "clickhouse-server", "clickhouse-client"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get install clickhouse-server")?;
    if !st.success() {
        bail!(
            "apt-get install clickhouse-server failed ({st}); install it or pass --no-clickhouse"
        );
    }
    server_path().context("clickhouse-server is still not installed; pass --no-clickhouse")
}

const USERS: &str = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>10000000000</max_memory_usage><load_balancing>random</load_balancing></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#;

impl ClickHouse {
    /// Starts a server with a fresh data directory under `dir`, ready when `/ping` answers.
    pub fn start(bin: &Path, dir: &Path) -> anyhow::Result<ClickHouse> {
        std::fs::create_dir_all(dir)?;
        let (http_port, tcp_port) = (free_port()?, free_port()?);
        let d = dir.display();
        let config = format!(
            r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog><size>100M</size><count>1</count></logger>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>1073741824</mark_cache_size>
  <timezone>UTC</timezone>
  <compression><case><min_part_size>0</min_part_size><min_part_size_ratio>0</min_part_size_ratio><method>zstd</method></case></compression>
</yandex>
"#
        );
        std::fs::write(dir.join("config.xml"), config)?;
        std::fs::write(dir.join("users.xml"), USERS)?;
        let child = Command::new(bin)
            .arg(format!("--config-file={d}/config.xml"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout.log"))?)
            .stderr(std::fs::File::create(dir.join("stderr.log"))?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let ch = ClickHouse {
            child,
            url: format!("http://127.0.0.1:{http_port}/"),
            dir: dir.to_path_buf(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(3600))
                .build()?,
        };
        let t = Instant::now();
        loop {
            if let Ok(r) = ch.http.get(format!("{}ping", ch.url)).send() {
                if r.status().is_success() {
                    return Ok(ch);
                }
            }
            if t.elapsed() > Duration::from_secs(60) {
                bail!(
                    "clickhouse-server did not answer /ping within 60 s; see {}/server.err.log",
                    d
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs a statement (the body is the query), returning the answer's body.
    pub fn query(&self, sql: &str) -> anyhow::Result<String> {
        let r = self
            .http
            .post(&self.url)
            .body(sql.to_string())
            .send()
            .with_context(|| format!("sending {sql:?} to ClickHouse"))?;
        let status = r.status();
        let body = r.text()?;
        if !status.is_success() {
            bail!("ClickHouse answered {status} to {sql:?}: {body}");
        }
        Ok(body)
    }

    /// Inserts a TabSeparated file in batches of about `batch_bytes`, whole lines each.
    pub fn insert_tsv(&self, table: &str, file: &Path, batch_bytes: usize) -> anyhow::Result<()> {
        let mut rd = BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
        );
        let url = format!(
            "{}?query={}",
            self.url,
            form_urlencoded::byte_serialize(
                format!("INSERT INTO {table} FORMAT TabSeparated").as_bytes()
            )
            .collect::<String>()
        );
        loop {
            let mut buf = Vec::with_capacity(batch_bytes + 4096);
            while buf.len() < batch_bytes {
                if rd.read_until(b'\n', &mut buf)? == 0 {
                    break;
                }
            }
            if buf.is_empty() {
                return Ok(());
            }
            let r = self.http.post(&url).body(buf).send()?;
            if !r.status().is_success() {
                let status = r.status();
                let mut body = String::new();
                let _ = r.take(4096).read_to_string(&mut body);
                bail!("ClickHouse refused an insert: {status}: {body}");
            }
        }
    }

    /// CPU seconds the server has used so far.
    pub fn cpu(&self) -> f64 {
        procfs::process_cpu(self.pid()).unwrap_or(0.0)
    }

    /// Bytes under the table's data directory.
    pub fn table_bytes(&self, table: &str) -> u64 {
        procfs::dir_bytes(
            &self
                .dir
                .join("data")
                .join("data")
                .join("default")
                .join(table),
        )
    }
}
