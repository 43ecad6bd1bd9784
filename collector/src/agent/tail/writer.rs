//! The one writer of the logs queue. File tailing, the journal reader and the OTLP
//! receiver all push through it, and every record it pushes carries the whole reading
//! state after it (every file's position and the journal cursor, see [`positions`]), so
//! the newest record alone says where every source stands after a crash, whichever
//! source pushed it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use lookout_store::Result;

use super::positions::{self, Body, FilePos, Positions};
use crate::agent::queue::Queue;

pub struct LogsWriter {
    queue: Arc<Queue>,
    positions_path: PathBuf,
    state: Mutex<Positions>,
}

impl LogsWriter {
    /// Recovers the reading state: the furthest (by `seq`) of the positions file and the
    /// newest queue record.
    pub fn open(queue: Arc<Queue>, positions_path: &Path) -> Result<LogsWriter> {
        let file = Positions::load(positions_path)?;
        let newest = queue.last()?;
        let state = positions::recover(file, newest.as_deref());
        Ok(LogsWriter {
            queue,
            positions_path: positions_path.to_path_buf(),
            state: Mutex::new(state),
        })
    }

    fn state(&self) -> MutexGuard<'_, Positions> {
        // A panic while holding the lock leaves the state as it was before the push.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The reading state now.
    pub fn positions(&self) -> Positions {
        self.state().clone()
    }

    /// Pushes `body` with the state `update` makes: durable in the queue first, then in the
    /// positions file, so a crash in between is recovered from the queue.
    pub fn push(&self, kind: Body, body: &[u8], update: impl FnOnce(&mut Positions)) -> Result<()> {
        let mut state = self.state();
        let mut next = state.clone();
        update(&mut next);
        next.seq += 1;
        self.queue
            .push(&positions::encode_record_of(kind, &next, body)?)?;
        self.queue.sync()?;
        *state = next;
        state.store(&self.positions_path)
    }

    /// Records file positions that changed with no line to push (a file finished or
    /// newly followed) in the positions file only.
    pub fn set_files(&self, files: Vec<FilePos>) -> Result<()> {
        let mut state = self.state();
        if state.files == files {
            return Ok(());
        }
        state.files = files;
        state.store(&self.positions_path)
    }
}
