//! Where tailing stands in every file, and the logs queue record that carries it together
//! with the lines it covers, so that a line is in the queue with its position or neither is.
//!
//! A **position** names a file by identity, not only by path: `dev` and `ino` from
//! `stat(2)`, and an xxh3 fingerprint of its first `fp_len` bytes (at most
//! [`FINGERPRINT_BYTES`]), so a reused inode or a file replaced under the same path is
//! recognised (`fp_len` 0: no fingerprint yet, taken while the file was empty, which
//! names any file; a position taken after a read always fingerprints what was read);
//! `offset` is the byte after the last line that is in the queue.
//!
//! The **positions file** (`<data>/positions.json`) is JSON, replaced atomically (write,
//! fsync, rename):
//! `{"version":1,"seq":N,"files":[{"path":"…","dev":D,"ino":I,"fp":F,"fp_len":L,"offset":O}]}`.
//! `seq` is the sequence number of the newest queue record whose positions it holds.
//!
//! The journal reader's place is `"journal":"<__CURSOR>"` beside `files` (absent until the
//! first journal entry is queued).
//!
//! A **logs queue record** (one record of the [`Queue`](super::super::queue) format):
//! `u8 version | u32 LE n | n bytes of positions JSON (as above: every file being
//! followed and the journal cursor after this batch) | body`, where the body of version 1
//! is a snappy-compressed protobuf Loki PushRequest and of version 2 a protobuf OTLP
//! `ExportLogsServiceRequest` (logs the agent's OTLP receiver took). The record
//! is pushed and fsynced before the positions file is written, so after a crash the
//! positions are the furthest of the positions file and the newest record (by `seq`):
//! a crash between the two writes neither sends those lines twice nor skips them.

use std::io::Write;
use std::path::{Path, PathBuf};

use lookout_store::{Error, Result};
use serde::{Deserialize, Serialize};

/// Bytes of a file's start that its fingerprint covers.
pub const FINGERPRINT_BYTES: usize = 256;
const VERSION: u32 = 1;
const RECORD_LOKI: u8 = 1;
const RECORD_OTLP: u8 = 2;

/// What a logs queue record's body is, which says where it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Snappy protobuf Loki push, for `/loki/api/v1/push`.
    LokiPush,
    /// Protobuf OTLP logs, for `/v1/logs`.
    OtlpLogs,
}

/// One file's position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePos {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub fp: u64,
    pub fp_len: u32,
    pub offset: u64,
}

/// Every followed file's position after the queue record numbered `seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positions {
    pub version: u32,
    pub seq: u64,
    pub files: Vec<FilePos>,
    /// The journal cursor (`__CURSOR`) of the newest journal entry in the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
}

impl Positions {
    pub fn new(seq: u64, files: Vec<FilePos>) -> Positions {
        Positions {
            version: VERSION,
            seq,
            files,
            journal: None,
        }
    }

    /// Reads the positions file; `None` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<Positions>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Io {
                    what: "reading the tail positions",
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        };
        parse(&bytes, path).map(Some)
    }

    /// Replaces the positions file atomically and durably.
    pub fn store(&self, path: &Path) -> Result<()> {
        let io = |what: &'static str| {
            let path = path.to_path_buf();
            move |source| Error::Io { what, path, source }
        };
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec(self).map_err(|e| Error::BadInput(e.to_string()))?;
        let mut f = std::fs::File::create(&tmp).map_err(io("writing the tail positions"))?;
        f.write_all(&body)
            .map_err(io("writing the tail positions"))?;
        f.sync_data().map_err(io("syncing the tail positions"))?;
        std::fs::rename(&tmp, path).map_err(io("replacing the tail positions"))
    }

    /// The position of the file now at `path` with identity `(dev, ino)`, if any.
    pub fn find(&self, dev: u64, ino: u64) -> Option<&FilePos> {
        self.files.iter().find(|f| f.dev == dev && f.ino == ino)
    }
}

fn parse(bytes: &[u8], path: &Path) -> Result<Positions> {
    let p: Positions = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        what: "tail positions",
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    if p.version != VERSION {
        return Err(Error::Corrupt {
            what: "tail positions",
            path: path.to_path_buf(),
            detail: format!("format version {} is not {VERSION}", p.version),
        });
    }
    Ok(p)
}

/// A logs queue record: the positions after the batch and the Loki push body.
pub fn encode_record(positions: &Positions, push_body: &[u8]) -> Result<Vec<u8>> {
    encode_record_of(Body::LokiPush, positions, push_body)
}

/// A logs queue record whose body is of kind `kind`.
pub fn encode_record_of(kind: Body, positions: &Positions, push_body: &[u8]) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(positions).map_err(|e| Error::BadInput(e.to_string()))?;
    let mut r = Vec::with_capacity(5 + json.len() + push_body.len());
    r.push(match kind {
        Body::LokiPush => RECORD_LOKI,
        Body::OtlpLogs => RECORD_OTLP,
    });
    r.extend_from_slice(&(json.len() as u32).to_le_bytes());
    r.extend_from_slice(&json);
    r.extend_from_slice(push_body);
    Ok(r)
}

/// The positions and the push body of a logs queue record.
pub fn decode_record(r: &[u8]) -> Result<(Positions, &[u8])> {
    decode_record_of(r).map(|(p, _, body)| (p, body))
}

/// The positions, the body's kind and the body of a logs queue record.
pub fn decode_record_of(r: &[u8]) -> Result<(Positions, Body, &[u8])> {
    let corrupt = |detail: &str| Error::Corrupt {
        what: "logs queue record",
        path: PathBuf::new(),
        detail: detail.to_string(),
    };
    let kind = match r.first() {
        Some(&RECORD_LOKI) => Body::LokiPush,
        Some(&RECORD_OTLP) => Body::OtlpLogs,
        _ => return Err(corrupt("unknown record version")),
    };
    let n = r
        .get(1..5)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| corrupt("short header"))?;
    let json = r.get(5..5 + n).ok_or_else(|| corrupt("short positions"))?;
    let positions = parse(json, Path::new("<queue record>"))?;
    Ok((positions, kind, &r[5 + n..]))
}

/// The positions to resume from: the furthest (by `seq`) of the positions file and the
/// newest logs queue record.
pub fn recover(file: Option<Positions>, newest_record: Option<&[u8]>) -> Positions {
    let from_queue = newest_record.and_then(|r| match decode_record(r) {
        Ok((p, _)) => Some(p),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the positions of the newest logs queue record");
            None
        }
    });
    match (file, from_queue) {
        (Some(f), Some(q)) => {
            if q.seq > f.seq {
                q
            } else {
                f
            }
        }
        (Some(f), None) => f,
        (None, Some(q)) => q,
        (None, None) => Positions::new(0, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(seq: u64, offset: u64) -> Positions {
        Positions::new(
            seq,
            vec![FilePos {
                path: "/var/log/a.log".into(),
                dev: 1,
                ino: 2,
                fp: 3,
                fp_len: 4,
                offset,
            }],
        )
    }

    #[test]
    fn record_round_trip() {
        let p = pos(7, 100);
        let r = encode_record(&p, b"body").unwrap();
        let (q, body) = decode_record(&r).unwrap();
        assert_eq!(q, p);
        assert_eq!(body, b"body");
        assert!(decode_record(&r[..3]).is_err());
        assert!(decode_record(b"").is_err());
    }

    #[test]
    fn recovery_takes_the_furthest() {
        let rec = encode_record(&pos(8, 200), b"").unwrap();
        assert_eq!(recover(Some(pos(7, 100)), Some(&rec)).files[0].offset, 200);
        assert_eq!(recover(Some(pos(8, 200)), Some(&rec)).seq, 8);
        let old = encode_record(&pos(3, 10), b"").unwrap();
        assert_eq!(recover(Some(pos(7, 100)), Some(&old)).files[0].offset, 100);
        assert_eq!(recover(None, None).seq, 0);
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.json");
        assert_eq!(Positions::load(&path).unwrap(), None);
        pos(5, 50).store(&path).unwrap();
        assert_eq!(Positions::load(&path).unwrap(), Some(pos(5, 50)));
        std::fs::write(&path, b"{").unwrap();
        assert!(Positions::load(&path).is_err());
    }
}
