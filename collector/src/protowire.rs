//! The protobuf wire format read by hand, where prost's owned structs cost too much:
//! remote_write's `WriteRequest` keeps its labels as `&str`s into the body
//! (`remote_write/wire.rs`), and Loki's `PushRequest` copies each line once, straight into
//! the batch (`loki_push/wire.rs`). A cursor over one message; its errors are messages for
//! the caller's 400.

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const FIXED32: u8 = 5;

/// A cursor over one message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err("truncated varint".into());
            };
            self.pos += 1;
            // The tenth byte holds the 64th bit only (prost refuses more, so do we).
            if i == 9 && b > 1 {
                return Err("varint overflows 64 bits".into());
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    pub(crate) fn key(&mut self) -> Result<(u64, u8), String> {
        let k = self.varint()?;
        if k > u64::from(u32::MAX) {
            return Err(format!("invalid key {k}"));
        }
        let field = k >> 3;
        if field == 0 {
            return Err("field number 0".into());
        }
        Ok((field, (k & 7) as u8))
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| format!("field of {n} bytes runs past the end of its message"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn len_delimited(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| "length overflows".to_string())?)
    }

    pub(crate) fn fixed64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn skip(&mut self, wire_type: u8) -> Result<(), String> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => self.take(4).map(drop),
            w => Err(format!("unsupported wire type {w}")),
        }
    }

    /// Fails for a known field sent with another wire type, as prost does.
    pub(crate) fn check_wire_type(&self, field: &str, got: u8, want: u8) -> Result<(), String> {
        if got == want {
            Ok(())
        } else {
            Err(format!("{field}: wire type {got}, expected {want}"))
        }
    }
}

/// `b` as text, or an error naming `what`.
pub(crate) fn utf8<'a>(b: &'a [u8], what: &str) -> Result<&'a str, String> {
    std::str::from_utf8(b).map_err(|_| format!("{what} is not valid UTF-8"))
}
