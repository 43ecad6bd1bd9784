//! `file_sd_configs`: JSON (`.json`) or YAML (`.yml`, `.yaml`) files holding a list of
//! `{targets: [...], labels: {...}}` groups; the last path element may contain `*`.
//! A file that cannot be read or parsed keeps its previous groups (and the error is
//! logged), as in Prometheus, so a half-written file never drops targets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::scrape::config::{FileSdConfig, StaticConfig};
use crate::scrape::target::TargetGroup;

/// How often files are checked for a change.
const CHECK_EVERY: Duration = Duration::from_secs(1);

pub struct FileSd {
    patterns: Vec<PathBuf>,
    refresh: Duration,
    last_check: Option<Instant>,
    last_read: Option<Instant>,
    stamps: BTreeMap<PathBuf, (Option<SystemTime>, u64)>,
    groups: BTreeMap<PathBuf, Vec<TargetGroup>>,
}

impl FileSd {
    pub fn new(cfg: &FileSdConfig) -> FileSd {
        FileSd {
            patterns: cfg.files.clone(),
            refresh: cfg.refresh_interval.as_std(),
            last_check: None,
            last_read: None,
            stamps: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }

    pub fn groups(&self) -> Vec<TargetGroup> {
        self.groups.values().flatten().cloned().collect()
    }

    /// Re-reads files whose stamp changed (or all, every refresh interval); true when the
    /// set of files or any file's groups changed.
    pub fn poll(&mut self, now: Instant) -> bool {
        if let Some(t) = self.last_check {
            if now.duration_since(t) < CHECK_EVERY {
                return false;
            }
        }
        self.last_check = Some(now);
        let force = self
            .last_read
            .is_none_or(|t| now.duration_since(t) >= self.refresh);
        if force {
            self.last_read = Some(now);
        }
        let files = expand(&self.patterns);
        let mut changed = false;
        let before = self.groups.len();
        self.groups.retain(|p, _| files.contains(p));
        self.stamps.retain(|p, _| files.contains(p));
        changed |= before != self.groups.len();
        for f in files {
            let stamp = std::fs::metadata(&f)
                .map(|m| (m.modified().ok(), m.len()))
                .unwrap_or((None, 0));
            if !force && self.stamps.get(&f) == Some(&stamp) {
                continue;
            }
            self.stamps.insert(f.clone(), stamp);
            match read(&f) {
                Ok(g) => {
                    if self.groups.get(&f) != Some(&g) {
                        self.groups.insert(f, g);
                        changed = true;
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %f.display(), error = %e, "file_sd: keeping the previous targets of this file");
                }
            }
        }
        changed
    }
}

/// Reads one file's groups.
pub fn read(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let raw: Vec<StaticConfig> = match ext {
        "json" => serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?,
        "yml" | "yaml" => {
            if text.trim().is_empty() {
                Vec::new()
            } else {
                serde_yaml::from_str(&text).map_err(|e| format!("invalid YAML: {e}"))?
            }
        }
        _ => return Err("file_sd files must end in .json, .yml or .yaml".into()),
    };
    let source = path.display().to_string();
    Ok(raw
        .into_iter()
        .map(|s| TargetGroup {
            targets: s.targets,
            labels: s.labels,
            source: source.clone(),
        })
        .collect())
}

/// The files that the patterns name now, sorted.
fn expand(patterns: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.contains('*') {
            if p.is_file() {
                out.push(p.clone());
            }
            continue;
        }
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let n = e.file_name();
                if let Some(n) = n.to_str() {
                    if wildcard(name, n) && e.path().is_file() {
                        out.push(e.path());
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `*` matches any run of characters; everything else matches itself.
fn wildcard(pat: &str, s: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*.json", "a.json"));
        assert!(wildcard("t-*-x.yml", "t-1-2-x.yml"));
        assert!(!wildcard("*.json", "a.yml"));
        assert!(!wildcard("a*a", "a"));
    }

    #[test]
    fn changes_are_picked_up_and_bad_files_keep_their_targets() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("a.json");
        std::fs::write(&json, r#"[{"targets": ["h1:1"], "labels": {"env": "x"}}]"#).unwrap();
        let cfg = FileSdConfig {
            files: vec![dir.path().join("*.json"), dir.path().join("b.yml")],
            refresh_interval: crate::scrape::config::PromDuration(300_000),
        };
        let mut sd = FileSd::new(&cfg);
        let t0 = Instant::now();
        assert!(sd.poll(t0));
        assert_eq!(sd.groups()[0].targets, vec!["h1:1"]);
        assert_eq!(sd.groups()[0].source, json.display().to_string());
        assert!(!sd.poll(t0 + Duration::from_secs(2)), "nothing changed");
        // A change of size is seen even when the mtime has a coarse resolution.
        std::fs::write(&json, r#"[{"targets": ["h1:1", "h2:22"]}]"#).unwrap();
        assert!(sd.poll(t0 + Duration::from_secs(4)));
        assert_eq!(sd.groups()[0].targets, vec!["h1:1", "h2:22"]);
        // A new YAML file joins.
        std::fs::write(
            dir.path().join("b.yml"),
            "- targets: ['y:1']\n  labels: {a: b}\n",
        )
        .unwrap();
        assert!(sd.poll(t0 + Duration::from_secs(6)));
        assert_eq!(sd.groups().len(), 2);
        // A broken file keeps what it had.
        std::fs::write(&json, "[{not json").unwrap();
        sd.poll(t0 + Duration::from_secs(8));
        assert_eq!(sd.groups().len(), 2);
        assert_eq!(sd.groups()[0].targets, vec!["h1:1", "h2:22"]);
        // A removed file takes its targets along.
        std::fs::remove_file(&json).unwrap();
        assert!(sd.poll(t0 + Duration::from_secs(10)));
        assert_eq!(sd.groups().len(), 1);
        assert_eq!(sd.groups()[0].targets, vec!["y:1"]);
    }
}
