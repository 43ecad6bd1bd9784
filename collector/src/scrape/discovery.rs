//! Service discovery: where a job's targets come from. `static_configs` are fixed;
//! `file_sd_configs` files are checked for changes every second (modification time and
//! size) and re-read at least every `refresh_interval`. [`Discovery::poll`] returns the
//! job's full list of target groups whenever it changed.

pub mod file;

use std::time::Instant;

use super::config::ScrapeConfig;
use super::target::TargetGroup;

pub struct Discovery {
    statics: Vec<TargetGroup>,
    files: Vec<file::FileSd>,
    last: Option<Vec<TargetGroup>>,
}

impl Discovery {
    pub fn new(cfg: &ScrapeConfig) -> Discovery {
        let statics = cfg
            .static_configs
            .iter()
            .map(|s| TargetGroup {
                targets: s.targets.clone(),
                labels: s.labels.clone(),
                source: String::new(),
            })
            .collect();
        let files = cfg.file_sd_configs.iter().map(file::FileSd::new).collect();
        Discovery {
            statics,
            files,
            last: None,
        }
    }

    pub fn has_files(&self) -> bool {
        !self.files.is_empty()
    }

    /// The groups, when they differ from what the last call returned (always on the first).
    pub fn poll(&mut self, now: Instant) -> Option<Vec<TargetGroup>> {
        let mut changed = self.last.is_none();
        for f in &mut self.files {
            changed |= f.poll(now);
        }
        if !changed {
            return None;
        }
        let mut all = self.statics.clone();
        for f in &self.files {
            all.extend(f.groups());
        }
        if self.last.as_ref() == Some(&all) {
            return None;
        }
        self.last = Some(all.clone());
        Some(all)
    }
}
