//! A notification queue kept on disk, so a payload accepted for a receiver survives the
//! receiver being down and Lookout restarting.
//!
//! Layout: one directory per receiver; one file per payload, named by a zero-padded
//! sequence number (`00000000000000000042.json`) so name order is arrival order. A file
//! holds `{"format": 1, "body": <the JSON payload>}`; it is written to a `.tmp` name,
//! fsynced and renamed, so a crash leaves either the whole payload or none. A payload is
//! removed once the receiver accepted it. Beyond `capacity` payloads the oldest are
//! dropped (and counted), so an outage cannot fill the disk.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// The payload files' format version.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Item {
    format: u32,
    body: serde_json::Value,
}

pub struct DiskQueue {
    dir: PathBuf,
    capacity: usize,
    state: Mutex<State>,
}

struct State {
    /// Sequence numbers on disk, oldest first.
    seqs: std::collections::VecDeque<u64>,
    next: u64,
}

impl DiskQueue {
    /// Opens (creating) the queue in `dir`, picking up payloads left by a previous run.
    pub fn open(dir: &Path, capacity: usize) -> std::io::Result<DiskQueue> {
        fs::create_dir_all(dir)?;
        let mut seqs: Vec<u64> = Vec::new();
        for e in fs::read_dir(dir)? {
            let name = e?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_suffix(".json")
                .and_then(|s| s.parse::<u64>().ok())
            {
                seqs.push(n);
            } else if name.ends_with(".tmp") {
                let _ = fs::remove_file(dir.join(&*name));
            }
        }
        seqs.sort_unstable();
        let next = seqs.last().map_or(0, |n| n + 1);
        Ok(DiskQueue {
            dir: dir.to_path_buf(),
            capacity: capacity.max(1),
            state: Mutex::new(State {
                seqs: seqs.into(),
                next,
            }),
        })
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.json"))
    }

    /// Adds a payload durably; returns how many old payloads were dropped to make room.
    pub fn push(&self, body: &serde_json::Value) -> std::io::Result<usize> {
        let mut st = self.state.lock();
        let seq = st.next;
        let tmp = self.dir.join(format!("{seq:020}.tmp"));
        let bytes = serde_json::to_vec(&Item {
            format: FORMAT,
            body: body.clone(),
        })
        .map_err(std::io::Error::other)?;
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.path(seq))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        st.next = seq + 1;
        st.seqs.push_back(seq);
        let mut dropped = 0;
        while st.seqs.len() > self.capacity {
            if let Some(old) = st.seqs.pop_front() {
                let _ = fs::remove_file(self.path(old));
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// The oldest payload and its sequence number. An unreadable file is dropped.
    pub fn peek(&self) -> Option<(u64, serde_json::Value)> {
        loop {
            let seq = *self.state.lock().seqs.front()?;
            let read = fs::read(self.path(seq))
                .ok()
                .and_then(|b| serde_json::from_slice::<Item>(&b).ok())
                .filter(|i| i.format == FORMAT);
            match read {
                Some(item) => return Some((seq, item.body)),
                None => {
                    tracing::warn!(seq, dir = %self.dir.display(), "dropping an unreadable queued notification");
                    self.remove(seq);
                }
            }
        }
    }

    /// Removes a delivered payload.
    pub fn remove(&self, seq: u64) {
        let mut st = self.state.lock();
        if let Some(i) = st.seqs.iter().position(|&s| s == seq) {
            st.seqs.remove(i);
        }
        let _ = fs::remove_file(self.path(seq));
    }

    pub fn len(&self) -> usize {
        self.state.lock().seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_survive_reopening_in_order_and_capacity_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let q = DiskQueue::open(dir.path(), 3).unwrap();
        for i in 0..4 {
            q.push(&serde_json::json!({ "n": i })).unwrap();
        }
        assert_eq!(q.len(), 3);
        drop(q);
        std::fs::write(dir.path().join("00000000000000000009.tmp"), b"torn").unwrap();
        let q = DiskQueue::open(dir.path(), 3).unwrap();
        let (seq, body) = q.peek().unwrap();
        assert_eq!(body["n"], 1);
        q.remove(seq);
        assert_eq!(q.peek().unwrap().1["n"], 2);
        q.push(&serde_json::json!({ "n": 9 })).unwrap();
        assert_eq!(q.len(), 3);
        assert!(!dir.path().join("00000000000000000009.tmp").exists());
    }
}
