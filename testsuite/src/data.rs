//! Position-dependent test data: every byte is derived from its absolute offset in the file and
//! a per-test seed, so a driver that drops, repeats or reorders chunks (or reads from the wrong
//! offset) produces bytes that differ from what the suite expects at that position, instead of
//! hiding behind identical chunks.
//!
//! Byte `i` of the stream for `seed` is byte `i % 8` (little-endian) of a 64-bit hash of
//! `(seed, i / 8)`. The hash is a SplitMix64 finaliser, so generating and checking run at
//! several GB/s and a 5 GiB stream never has to sit in memory: [`chunks`] yields it piece by
//! piece and [`mismatch`] checks a piece that arrives at any offset.

use bytes::Bytes;
use sha2::{Digest, Sha256};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn finalise(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The per-seed constant added to every word index (so different seeds give unrelated streams).
fn key(seed: u64) -> u64 {
    finalise(seed.wrapping_add(GOLDEN))
}

fn word(key: u64, index: u64) -> [u8; 8] {
    finalise(key.wrapping_add(index.wrapping_mul(GOLDEN))).to_le_bytes()
}

/// A seed derived from a label (FNV-1a), so a check's data is the same on every run and two
/// labels give different data.
pub fn seed(label: &str) -> u64 {
    label.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The byte at absolute `offset` of the stream for `seed`.
pub fn byte_at(seed: u64, offset: u64) -> u8 {
    word(key(seed), offset / 8)[(offset % 8) as usize]
}

/// Fills `buf` with the bytes at `offset..offset + buf.len()` of the stream for `seed`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let key = key(seed);
    let mut index = offset / 8;
    let skip = (offset % 8) as usize;
    let mut rest = buf;
    if skip != 0 {
        let head = (8 - skip).min(rest.len());
        let w = word(key, index);
        let (first, tail) = rest.split_at_mut(head);
        first.copy_from_slice(&w[skip..skip + head]);
        rest = tail;
        index += 1;
    }
    let mut words = rest.chunks_exact_mut(8);
    for chunk in &mut words {
        chunk.copy_from_slice(&word(key, index));
        index += 1;
    }
    let tail = words.into_remainder();
    if !tail.is_empty() {
        let n = tail.len();
        tail.copy_from_slice(&word(key, index)[..n]);
    }
}

/// The bytes at `offset..offset + len` of the stream for `seed`.
pub fn bytes(seed: u64, offset: u64, len: usize) -> Bytes {
    let mut buf = vec![0; len];
    fill(seed, offset, &mut buf);
    Bytes::from(buf)
}

/// The index in `data` of the first byte that differs from the stream for `seed` when `data` is
/// taken to start at `offset`; `None` when all of `data` matches.
pub fn mismatch(seed: u64, offset: u64, data: &[u8]) -> Option<usize> {
    let mut expected = [0u8; 8192];
    let mut done = 0;
    while done < data.len() {
        let n = (data.len() - done).min(expected.len());
        let want = &mut expected[..n];
        fill(seed, offset + done as u64, want);
        let got = &data[done..done + n];
        if got != &want[..] {
            let at = got.iter().zip(want.iter()).position(|(a, b)| a != b);
            return Some(done + at.unwrap_or(0));
        }
        done += n;
    }
    None
}

/// The stream for `seed` from `offset`, `len` bytes long, as pieces of at most `chunk` bytes.
pub fn chunks(seed: u64, offset: u64, len: u64, chunk: usize) -> Chunks {
    Chunks {
        seed,
        next: offset,
        end: offset + len,
        chunk: chunk.max(1),
    }
}

/// An iterator over pieces of a position-dependent stream; see [`chunks`].
#[derive(Debug, Clone)]
pub struct Chunks {
    seed: u64,
    next: u64,
    end: u64,
    chunk: usize,
}

impl Iterator for Chunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.next >= self.end {
            return None;
        }
        let n = (self.end - self.next).min(self.chunk as u64) as usize;
        let piece = bytes(self.seed, self.next, n);
        self.next += n as u64;
        Some(piece)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let pieces = (self.end - self.next).div_ceil(self.chunk as u64) as usize;
        (pieces, Some(pieces))
    }
}

/// The SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The SHA-256 digest of the stream for `seed` at `offset..offset + len`, computed piece by
/// piece.
pub fn sha256_of(seed: u64, offset: u64, len: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for piece in chunks(seed, offset, len, 1 << 20) {
        hasher.update(&piece);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_window_matches_the_bytes_at_its_offset() {
        let whole = bytes(7, 0, 200);
        for start in 0..40u64 {
            for len in [0usize, 1, 3, 7, 8, 9, 16, 33, 100] {
                let window = bytes(7, start, len);
                assert_eq!(&window[..], &whole[start as usize..start as usize + len]);
                for (i, b) in window.iter().enumerate() {
                    assert_eq!(*b, byte_at(7, start + i as u64));
                }
            }
        }
    }

    #[test]
    fn seeds_and_offsets_give_different_data() {
        assert_ne!(bytes(1, 0, 64), bytes(2, 0, 64));
        // Shifting by whole words must not repeat the stream.
        assert_ne!(bytes(1, 0, 64), bytes(1, 8, 64));
        assert_ne!(bytes(1, 0, 64), bytes(1, 1 << 20, 64));
        assert_ne!(seed("a"), seed("b"));
    }

    #[test]
    fn mismatch_finds_the_first_wrong_byte() {
        let mut data = bytes(3, 1000, 20_000).to_vec();
        assert_eq!(mismatch(3, 1000, &data), None);
        assert_eq!(mismatch(3, 1001, &data[1..]), None);
        assert!(mismatch(3, 1008, &data).is_some());
        data[12_345] ^= 1;
        assert_eq!(mismatch(3, 1000, &data), Some(12_345));
    }

    #[test]
    fn chunks_concatenate_to_the_stream() {
        let joined: Vec<u8> = chunks(5, 3, 10_000, 999).flat_map(|c| c.to_vec()).collect();
        assert_eq!(&joined[..], &bytes(5, 3, 10_000)[..]);
        assert_eq!(chunks(5, 0, 10, 3).count(), 4);
        assert_eq!(sha256_of(5, 3, 10_000), sha256(&joined));
    }
}
