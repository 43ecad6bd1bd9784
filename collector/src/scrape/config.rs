//! Prometheus' `global:` and `scrape_configs:` sections, with Prometheus' key names,
//! defaults and meanings, so a `prometheus.yml` section pastes across. Unknown keys are
//! errors. [`resolve`] applies `global:` defaults and checks what serde cannot.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{de, Deserialize, Deserializer, Serialize};

use super::relabel::RelabelConfig;

/// A Prometheus duration (`15s`, `1m30s`, `500ms`), held in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PromDuration(pub u64);

impl PromDuration {
    pub fn parse(s: &str) -> Result<PromDuration, String> {
        let err = || {
            format!("duration {s:?} is invalid: use a number with a unit, e.g. 15s, 1m30s, 500ms (units ms, s, m, h, d, w, y)")
        };
        if s == "0" {
            return Ok(PromDuration(0));
        }
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(err());
        }
        let (mut i, mut total) = (0usize, 0u64);
        while i < b.len() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return Err(err());
            }
            let n: u64 = s[start..i].parse().map_err(|_| err())?;
            let ustart = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = match &s[ustart..i] {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 7 * 86_400_000,
                "y" => 365 * 86_400_000,
                _ => return Err(err()),
            };
            total = n
                .checked_mul(unit)
                .and_then(|x| total.checked_add(x))
                .ok_or_else(err)?;
        }
        Ok(PromDuration(total))
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

/// Formats the way Prometheus does: `1m30s`, `15s`, `500ms`.
impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if ms >= len {
                write!(f, "{}{unit}", ms / len)?;
                ms %= len;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PromDuration::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A byte size for `body_size_limit`: a plain number or `10MB`, `512KiB`...; 0 = no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct SizeLimit(pub u64);

impl<'de> Deserialize<'de> for SizeLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        let s = match Raw::deserialize(d)? {
            Raw::N(n) => return Ok(SizeLimit(n)),
            Raw::S(s) => s,
        };
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let err = || {
            de::Error::custom(format!(
                "size {s:?} is invalid: use a number with an optional unit, e.g. 10MB, 512KiB"
            ))
        };
        let n: u64 = t[..split].parse().map_err(|_| err())?;
        let mult: u64 = match t[split..].trim() {
            "" | "B" => 1,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return Err(err()),
        };
        n.checked_mul(mult).map(SizeLimit).ok_or_else(err)
    }
}

/// `global:`. Only the keys that mean something to Lookout today are accepted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    /// Read by the rules engine; kept here so that a pasted `global:` section parses.
    pub evaluation_interval: PromDuration,
    /// As in Prometheus, not added to stored series: meant for federation, remote_write
    /// and alerts (which read them from here).
    pub external_labels: BTreeMap<String, String>,
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub body_size_limit: SizeLimit,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: PromDuration(60_000),
            scrape_timeout: PromDuration(10_000),
            evaluation_interval: PromDuration(60_000),
            external_labels: BTreeMap::new(),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            body_size_limit: SizeLimit(0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default = "bearer", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

fn bearer() -> String {
    "Bearer".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
}

/// One `static_configs` entry (and the shape of a file_sd target group).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// Paths; the last path element may hold `*` (e.g. `targets/*.json`).
    pub files: Vec<PathBuf>,
    /// Files are re-read this often even without a change seen (they are also checked for
    /// changes every second).
    #[serde(default = "five_minutes")]
    pub refresh_interval: PromDuration,
}

fn five_minutes() -> PromDuration {
    PromDuration(300_000)
}

/// One `scrape_configs` entry. Optional keys that `global:` can default are `Option`s
/// until [`resolve`] fills them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(default)]
    pub scrape_interval: Option<PromDuration>,
    #[serde(default)]
    pub scrape_timeout: Option<PromDuration>,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default = "yes")]
    pub honor_timestamps: bool,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    #[serde(default)]
    pub sample_limit: Option<u64>,
    #[serde(default)]
    pub label_limit: Option<u64>,
    #[serde(default)]
    pub label_name_length_limit: Option<u64>,
    #[serde(default)]
    pub label_value_length_limit: Option<u64>,
    #[serde(default)]
    pub body_size_limit: Option<SizeLimit>,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Lookout: the tenant the job's samples are written to (`default` when absent).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Accepted so pasted Prometheus configs load; Lookout always behaves as Prometheus
    /// does by default here (redirects followed, HTTP/2 offered, text and OpenMetrics
    /// negotiated, classic histograms kept, dropped targets listed).
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    #[serde(default)]
    pub enable_http2: Option<bool>,
    #[serde(default)]
    pub enable_compression: Option<bool>,
    #[serde(default)]
    pub scrape_protocols: Option<Vec<String>>,
    #[serde(default)]
    pub fallback_scrape_protocol: Option<String>,
    #[serde(default)]
    pub scrape_classic_histograms: Option<bool>,
    #[serde(default)]
    pub always_scrape_classic_histograms: Option<bool>,
    #[serde(default)]
    pub keep_dropped_targets: Option<u64>,
}

fn default_metrics_path() -> String {
    "/metrics".into()
}
fn default_scheme() -> String {
    "http".into()
}
fn yes() -> bool {
    true
}

impl ScrapeConfig {
    /// A job with one static target and every other key at its default.
    pub fn static_job(job: &str, target: &str) -> ScrapeConfig {
        ScrapeConfig {
            job_name: job.into(),
            scrape_interval: None,
            scrape_timeout: None,
            metrics_path: default_metrics_path(),
            scheme: default_scheme(),
            params: BTreeMap::new(),
            honor_labels: false,
            honor_timestamps: true,
            basic_auth: None,
            authorization: None,
            bearer_token: None,
            bearer_token_file: None,
            tls_config: TlsConfig::default(),
            sample_limit: None,
            label_limit: None,
            label_name_length_limit: None,
            label_value_length_limit: None,
            body_size_limit: None,
            static_configs: vec![StaticConfig {
                targets: vec![target.into()],
                labels: BTreeMap::new(),
            }],
            file_sd_configs: vec![],
            relabel_configs: vec![],
            metric_relabel_configs: vec![],
            tenant: None,
            follow_redirects: None,
            enable_http2: None,
            enable_compression: None,
            scrape_protocols: None,
            fallback_scrape_protocol: None,
            scrape_classic_histograms: None,
            always_scrape_classic_histograms: None,
            keep_dropped_targets: None,
        }
    }
}

/// Applies `global:` defaults to every job and checks what serde cannot: unique job names,
/// timeout not above interval, schemes, exclusive auth settings, relabel rules. Errors
/// quote the offending value so the config loader can find its line.
pub fn resolve(global: &GlobalConfig, jobs: &[ScrapeConfig]) -> Result<Vec<ScrapeConfig>, String> {
    if global.scrape_interval.0 == 0 {
        return Err("global.scrape_interval: must be above 0".into());
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        let mut j = j.clone();
        if j.job_name.is_empty() {
            return Err("scrape_configs: job_name must not be empty".into());
        }
        if !seen.insert(j.job_name.clone()) {
            return Err(format!(
                "job_name \"{}\" is used by two scrape configs: job names must be unique",
                j.job_name
            ));
        }
        let interval = *j.scrape_interval.get_or_insert(global.scrape_interval);
        if interval.0 == 0 {
            return Err(format!(
                "scrape_interval of job \"{}\" must be above 0",
                j.job_name
            ));
        }
        let timeout = *j
            .scrape_timeout
            .get_or_insert(global.scrape_timeout.min(interval));
        if timeout > interval {
            return Err(format!(
                "scrape_timeout \"{timeout}\" of job \"{}\" is longer than its scrape_interval {interval}: lower it",
                j.job_name
            ));
        }
        if j.scheme != "http" && j.scheme != "https" {
            return Err(format!(
                "scheme \"{}\" of job \"{}\" is invalid: use http or https",
                j.scheme, j.job_name
            ));
        }
        let auths = [
            j.basic_auth.is_some(),
            j.authorization.is_some(),
            j.bearer_token.is_some() || j.bearer_token_file.is_some(),
        ];
        if auths.iter().filter(|a| **a).count() > 1 {
            return Err(format!(
                "job_name \"{}\": at most one of basic_auth, authorization and bearer_token(_file) may be set",
                j.job_name
            ));
        }
        if j.bearer_token.is_some() && j.bearer_token_file.is_some() {
            return Err(format!(
                "job_name \"{}\": bearer_token and bearer_token_file are exclusive",
                j.job_name
            ));
        }
        if let Some(b) = &j.basic_auth {
            if b.password.is_some() && b.password_file.is_some() {
                return Err(format!(
                    "job_name \"{}\": basic_auth password and password_file are exclusive",
                    j.job_name
                ));
            }
        }
        if let Some(a) = &j.authorization {
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err(format!(
                    "job_name \"{}\": authorization credentials and credentials_file are exclusive",
                    j.job_name
                ));
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err(format!(
                    "job_name \"{}\": authorization type \"Basic\" is not allowed: use basic_auth",
                    j.job_name
                ));
            }
        }
        if j.tls_config.cert_file.is_some() != j.tls_config.key_file.is_some() {
            return Err(format!(
                "job_name \"{}\": tls_config needs both cert_file and key_file, or neither",
                j.job_name
            ));
        }
        if let Some(t) = &j.tenant {
            lookout_store::TenantId::new(t).map_err(|e| e.to_string())?;
        }
        j.sample_limit.get_or_insert(global.sample_limit);
        j.label_limit.get_or_insert(global.label_limit);
        j.label_name_length_limit
            .get_or_insert(global.label_name_length_limit);
        j.label_value_length_limit
            .get_or_insert(global.label_value_length_limit);
        j.body_size_limit.get_or_insert(global.body_size_limit);
        for r in j.relabel_configs.iter().chain(&j.metric_relabel_configs) {
            r.check()?;
        }
        for s in &j.static_configs {
            for t in &s.targets {
                if t.is_empty() || t.contains('/') {
                    return Err(format!(
                        "target \"{t}\" of job \"{}\" is invalid: write host:port, without scheme or path",
                        j.job_name
                    ));
                }
            }
        }
        out.push(j);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> Result<Vec<ScrapeConfig>, String> {
        let jobs: Vec<ScrapeConfig> = serde_yaml::from_str(y).map_err(|e| e.to_string())?;
        resolve(&GlobalConfig::default(), &jobs)
    }

    #[test]
    fn durations_parse_and_print_like_prometheus() {
        assert_eq!(PromDuration::parse("1m30s").unwrap().0, 90_000);
        assert_eq!(PromDuration(90_000).to_string(), "1m30s");
        assert_eq!(PromDuration(500).to_string(), "500ms");
        assert!(PromDuration::parse("15").is_err());
    }

    #[test]
    fn global_defaults_fill_jobs() {
        let j = parse("- job_name: a\n  static_configs: [{targets: ['h:1']}]\n").unwrap();
        assert_eq!(j[0].scrape_interval, Some(PromDuration(60_000)));
        assert_eq!(j[0].scrape_timeout, Some(PromDuration(10_000)));
        assert_eq!(j[0].metrics_path, "/metrics");
        assert!(j[0].honor_timestamps);
        let j = parse("- job_name: a\n  scrape_interval: 5s\n").unwrap();
        assert_eq!(j[0].scrape_timeout, Some(PromDuration(5_000)));
    }

    #[test]
    fn prometheus_http_client_keys_are_accepted() {
        let y = "- job_name: a\n  follow_redirects: true\n  enable_http2: true\n  enable_compression: true\n  scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]\n  keep_dropped_targets: 0\n  static_configs: [{targets: ['h:1']}]\n";
        let j = parse(y).unwrap();
        assert_eq!(j[0].follow_redirects, Some(true));
        assert!(parse("- job_name: a\n  no_such_key: 1\n").is_err());
    }

    #[test]
    fn bad_jobs_are_refused() {
        for (y, want) in [
            ("- job_name: a\n- job_name: a\n", "unique"),
            (
                "- job_name: a\n  scrape_interval: 5s\n  scrape_timeout: 10s\n",
                "longer",
            ),
            ("- job_name: a\n  scheme: ftp\n", "ftp"),
            ("- job_name: a\n  bogus: 1\n", "bogus"),
            (
                "- job_name: a\n  basic_auth: {username: u}\n  bearer_token: t\n",
                "at most one",
            ),
            (
                "- job_name: a\n  static_configs: [{targets: ['http://h:1/x']}]\n",
                "host:port",
            ),
            (
                "- job_name: a\n  relabel_configs: [{action: hashmod, target_label: x}]\n",
                "modulus",
            ),
        ] {
            let e = parse(y).unwrap_err();
            assert!(e.contains(want), "{y}: {e}");
        }
    }
}
