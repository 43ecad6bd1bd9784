//! Per-thread zstd contexts for chunk blobs. Creating a context per chunk cost a tenth of
//! a metric query's time (`ZSTD_createDCtx`, whose CPU feature probe traps on a VM) and
//! reallocated its window buffer every time; each thread now keeps one of each kind and
//! resets it between chunks. A thread holds at most a compressor's tables and a chunk's
//! window (a few MiB), freed when the thread ends.

use std::cell::RefCell;

use zstd::bulk::{Compressor, Decompressor};
use zstd::stream::raw::{Decoder, Operation};

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
    static DECODER: RefCell<Option<Decoder<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's context from `slot`, made by `new` the first time. The
/// context is taken out while `f` runs, so a nested call makes its own.
fn with<C: 'static, R>(
    slot: &'static std::thread::LocalKey<RefCell<Option<C>>>,
    new: impl FnOnce() -> std::io::Result<C>,
    f: impl FnOnce(&mut C) -> std::io::Result<R>,
) -> std::io::Result<R> {
    let mut ctx = match slot.with(|s| s.borrow_mut().take()) {
        Some(c) => c,
        None => new()?,
    };
    let r = f(&mut ctx);
    slot.with(|s| *s.borrow_mut() = Some(ctx));
    r
}

/// `raw` compressed at `level`, as one zstd frame.
pub(super) fn compress(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    with(
        &COMPRESSOR,
        || Compressor::new(level),
        |c| {
            c.set_compression_level(level)?;
            c.compress(raw)
        },
    )
}

/// The frame `blob` decompressed; `raw` is its size, from the index.
pub(super) fn decompress(blob: &[u8], raw: usize) -> std::io::Result<Vec<u8>> {
    with(&DECOMPRESSOR, Decompressor::new, |d| {
        d.decompress(blob, raw)
    })
}

/// Runs `f` with a streaming decoder reset to the start of a frame; fails only when no
/// decoder can be made or reset.
pub(super) fn with_decoder<R>(f: impl FnOnce(&mut Decoder<'static>) -> R) -> std::io::Result<R> {
    with(&DECODER, Decoder::new, |d| {
        d.reinit()?;
        Ok(f(d))
    })
}

/// `raw` compressed at `level` as one zstd frame (its content size in its header) against
/// `dict`, raw content that the frame may refer back to as if it came just before `raw`.
/// `dict` must not start with zstd's dictionary magic (it would be parsed as a trained
/// dictionary).
pub(super) fn compress_with(raw: &[u8], level: i32, dict: &[u8]) -> std::io::Result<Vec<u8>> {
    with(
        &COMPRESSOR,
        || Compressor::new(level),
        |c| {
            let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(raw.len()));
            c.context_mut()
                .compress_using_dict(&mut out, raw, dict, level)
                .map_err(zstd_error)?;
            Ok(out)
        },
    )
}

/// A frame of [`compress_with`], which must hold `raw` bytes, decompressed against `dict`.
pub(super) fn decompress_with(blob: &[u8], raw: usize, dict: &[u8]) -> std::io::Result<Vec<u8>> {
    let new = || {
        zstd::zstd_safe::DCtx::try_create()
            .ok_or_else(|| std::io::Error::other("cannot make a zstd decompression context"))
    };
    with(&DCTX, new, |d| {
        let mut out = Vec::with_capacity(raw);
        d.decompress_using_dict(&mut out, blob, dict)
            .map_err(zstd_error)?;
        Ok(out)
    })
}

fn zstd_error(code: usize) -> std::io::Error {
    std::io::Error::other(zstd::zstd_safe::get_error_name(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reused contexts give every frame back whole, also after a decoder was left in the
    /// middle of an earlier frame.
    #[test]
    fn reused_contexts_round_trip_frame_after_frame() {
        for i in 0..20usize {
            let raw: Vec<u8> = (0..(i * 37_000 + 1))
                .map(|j| (j * 31 % 251) as u8)
                .collect();
            let blob = compress(&raw, 3).unwrap();
            assert_eq!(decompress(&blob, raw.len()).unwrap(), raw);
            let first = with_decoder(|d| {
                let mut out = vec![0u8; 16.min(raw.len())];
                let mut input = zstd::stream::raw::InBuffer::around(&blob);
                let mut output = zstd::stream::raw::OutBuffer::around(&mut out[..]);
                d.run(&mut input, &mut output)?;
                let n = output.pos();
                Ok::<_, std::io::Error>(out[..n].to_vec())
            })
            .unwrap()
            .unwrap();
            assert_eq!(first, raw[..first.len()]);
            assert!(!first.is_empty());
        }
    }

    /// A frame made against a dictionary takes less when the dictionary is like its input,
    /// and decompresses only against that dictionary, into at most the size asked.
    #[test]
    fn frames_against_a_dictionary_round_trip() {
        let line = |i: usize| {
            format!(
                "GET /api/v1/items/{} took {}ms from host-{}\n",
                i * 7919 % 10007,
                i % 97,
                i % 13
            )
        };
        let dict: Vec<u8> = (0..2_000).flat_map(|i| line(i).into_bytes()).collect();
        let raw: Vec<u8> = (2_000..2_600).flat_map(|i| line(i).into_bytes()).collect();
        let with_dict = compress_with(&raw, 3, &dict).unwrap();
        assert!(with_dict.len() < compress(&raw, 3).unwrap().len());
        assert_eq!(decompress_with(&with_dict, raw.len(), &dict).unwrap(), raw);
        let other: Vec<u8> = dict.iter().map(|b| b ^ 1).collect();
        assert_ne!(
            decompress_with(&with_dict, raw.len(), &other).ok(),
            Some(raw.clone())
        );
        assert!(decompress_with(&with_dict, raw.len() - 1, &dict).is_err());
        assert!(decompress(&with_dict, raw.len()).is_err());
    }
}
