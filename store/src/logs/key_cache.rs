//! Key dictionaries kept decompressed, for the whole process. A format 4 chunk's text is
//! compressed against its stream's key chunk (`chunk.rs`), so a commit needs the key of
//! every stream it writes, and a read the keys of the chunks it decodes.
//!
//! One cache with one byte budget for every tenant and partition, so memory does not grow
//! with the partitions a query reads (each chunk file had kept its last eight keys). A
//! commit goes through its streams' keys in turn; under LRU a cache with room for fewer
//! than all of them would miss every time (the bench's 48 streams against eight places
//! read and decompressed a key for every chunk written), so a full cache admits a key it
//! missed only now and then, evicting one at random: with `n` keys taken in turn and room
//! for `c`, nearly `c / n` of the lookups hit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

/// Bytes of dictionaries kept. A key holds at most a chunk's text (about a MB), typically
/// a few hundred KB: room for the keys of several dozen busy streams.
const BUDGET: usize = 32 << 20;

/// A full cache admits a key it missed one time in this many. Keys taken in turn, twice as
/// many as fit: admitting every one (evicting one at random) hit 19% of the lookups,
/// one in eight 46%, near the half that fits; keys that stay hot get in within a few
/// commits.
const ADMIT_ONE_IN: u64 = 8;

/// A key: the chunk file's [`file_id`] and the key chunk's offset in it.
type Key = (u64, u64);

static CACHE: Mutex<Cache> = Mutex::new(Cache::new(BUDGET));

/// A number no other chunk file opened by this process has: keys are cached under it, so a
/// file that replaces a removed one never sees the removed one's keys.
pub(super) fn file_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The cached dictionary of the key chunk at `at` in file `file`.
pub(super) fn get(file: u64, at: u64) -> Option<Arc<Vec<u8>>> {
    CACHE.lock().get((file, at))
}

/// Keeps `dict` as the key chunk at `at` in file `file`.
pub(super) fn put(file: u64, at: u64, dict: Arc<Vec<u8>>) {
    CACHE.lock().put((file, at), dict);
}

/// Drops every key of file `file` (its partition is closed or gone).
pub(super) fn forget(file: u64) {
    CACHE.lock().forget(file);
}

struct Cache {
    entries: Vec<(Key, Arc<Vec<u8>>)>,
    at: FxHashMap<Key, usize>,
    bytes: usize,
    budget: usize,
    /// xorshift state for picking the entry to evict.
    rng: u64,
}

impl Cache {
    const fn new(budget: usize) -> Cache {
        Cache {
            entries: Vec::new(),
            at: FxHashMap::with_hasher(rustc_hash::FxBuildHasher),
            bytes: 0,
            budget,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn get(&self, key: Key) -> Option<Arc<Vec<u8>>> {
        self.at.get(&key).map(|&i| self.entries[i].1.clone())
    }

    /// Keeps `dict` under `key`. A full cache takes it one time in [`ADMIT_ONE_IN`],
    /// evicting entries at random until it fits. A dictionary larger than the budget is
    /// not kept.
    fn put(&mut self, key: Key, dict: Arc<Vec<u8>>) {
        let len = dict.len();
        if len > self.budget || self.at.contains_key(&key) {
            return;
        }
        let mut admitted = false;
        while self.bytes + len > self.budget && !self.entries.is_empty() {
            let r = self.random();
            if !admitted && !r.is_multiple_of(ADMIT_ONE_IN) {
                return;
            }
            admitted = true;
            self.remove((r % self.entries.len() as u64) as usize);
        }
        self.bytes += len;
        self.at.insert(key, self.entries.len());
        self.entries.push((key, dict));
    }

    fn forget(&mut self, file: u64) {
        let mut i = 0;
        while i < self.entries.len() {
            if self.entries[i].0 .0 == file {
                self.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// xorshift64.
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Removes entry `i`, moving the last entry into its place.
    fn remove(&mut self, i: usize) {
        let (key, dict) = self.entries.swap_remove(i);
        self.at.remove(&key);
        self.bytes -= dict.len();
        if let Some((moved, _)) = self.entries.get(i) {
            self.at.insert(*moved, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(c: &Cache, file: u64, keys: u64) -> usize {
        (0..keys).filter(|&k| c.get((file, k)).is_some()).count()
    }

    #[test]
    fn a_key_is_found_under_its_file_and_offset_only() {
        let mut c = Cache::new(1 << 20);
        c.put((0, 16), Arc::new(vec![1, 2, 3]));
        c.put((1, 16), Arc::new(vec![4]));
        assert_eq!(c.get((0, 16)).as_deref(), Some(&vec![1, 2, 3]));
        assert!(c.get((0, 17)).is_none());
        c.forget(0);
        assert!(c.get((0, 16)).is_none());
        assert_eq!(c.get((1, 16)).as_deref(), Some(&vec![4]));
        assert_eq!(c.bytes, 1);
        c.put((2, 16), Arc::new(vec![0; 2 << 20]));
        assert!(c.get((2, 16)).is_none(), "larger than the budget");
        assert_ne!(file_id(), file_id());
    }

    /// Keys taken in turn, more than fit: the cache keeps hitting nearly the share that
    /// fits, where LRU would miss every time.
    #[test]
    fn keys_taken_in_turn_past_the_budget_still_hit_often() {
        let (keys, size) = (48u64, 1000usize);
        let mut c = Cache::new(24 * size);
        let mut hits = 0;
        for _round in 0..20 {
            for k in 0..keys {
                if c.get((7, k)).is_some() {
                    hits += 1;
                } else {
                    c.put((7, k), Arc::new(vec![0; size]));
                }
                assert!(c.bytes <= c.budget);
            }
        }
        // Half would fit; a quarter of all lookups is a safe floor.
        assert!(hits > 20 * 48 / 4, "{hits} hits");
        assert_eq!(cached(&c, 7, keys), 24);
        c.forget(7);
        assert_eq!((cached(&c, 7, keys), c.bytes), (0, 0));
    }
}
