//! Resumable SHA-256 for blob uploads.
//!
//! A chunked upload can span many requests (and registry restarts), so the digest state after N
//! bytes is saved as `_uploads/<uuid>/hashstates/sha256/<N>`. The bytes are exactly what Go's
//! `crypto/sha256` `(*digest).MarshalBinary` writes, which lets an upload begun by the Go
//! reference registry be finished here and the reverse.

use std::fmt;

use sha2::digest::block_buffer::{BlockBuffer, Eager};
use sha2::digest::generic_array::GenericArray;
use sha2::digest::typenum::U64;

/// Go's identifier for a SHA-256 state; SHA-224 uses `sha\x02` with the same layout.
const MAGIC: [u8; 4] = *b"sha\x03";
const MAGIC_SHA224: [u8; 4] = *b"sha\x02";
const BLOCK_LEN: usize = 64;
/// Offsets into the saved state: magic, eight chaining words, one block of pending input, length.
const WORDS_AT: usize = MAGIC.len();
const PENDING_AT: usize = WORDS_AT + 8 * 4;
const LEN_AT: usize = PENDING_AT + BLOCK_LEN;
/// FIPS 180-4 initial hash value for SHA-256.
const INITIAL_STATE: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// SHA-256 whose state can be saved and restored in Go's `crypto/sha256` binary form.
#[derive(Clone)]
pub struct ResumableSha256 {
    /// Chaining words after every whole block seen so far.
    state: [u32; 8],
    /// The `len % 64` input bytes not yet compressed; the buffer hands whole blocks of the input
    /// straight to the compression function without copying them.
    pending: BlockBuffer<U64, Eager>,
    /// Bytes hashed so far; Go keeps it modulo 2^64 too.
    len: u64,
}

impl ResumableSha256 {
    /// Size of [`to_state`](Self::to_state)'s output, the only size Go (and
    /// [`from_state`](Self::from_state)) accepts.
    pub const STATE_LEN: usize = LEN_AT + 8;

    /// A hasher that has seen no input.
    pub fn new() -> Self {
        Self {
            state: INITIAL_STATE,
            pending: BlockBuffer::default(),
            len: 0,
        }
    }

    /// Hashes `data` after everything given so far.
    pub fn update(&mut self, data: &[u8]) {
        // usize is at most 64 bits wide, and 2^64 is a multiple of the block size, so the
        // wrapped length still tells how many bytes are pending.
        self.len = self.len.wrapping_add(data.len() as u64);
        let state = &mut self.state;
        self.pending
            .digest_blocks(data, |blocks| sha2::compress256(state, blocks));
    }

    /// Number of bytes hashed so far (modulo 2^64).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The SHA-256 of everything hashed so far; the hasher can keep going afterwards.
    pub fn digest(&self) -> [u8; 32] {
        let mut state = self.state;
        let pending = self.pending.get_data();
        // The 0x80 terminator and the 8-byte bit length must fit after the pending bytes;
        // past 55 of them that takes a second block.
        let blocks = if pending.len() < BLOCK_LEN - 8 { 1 } else { 2 };
        let mut tail = [0u8; 2 * BLOCK_LEN];
        tail[..pending.len()].copy_from_slice(pending);
        tail[pending.len()] = 0x80;
        let end = blocks * BLOCK_LEN;
        tail[end - 8..end].copy_from_slice(&self.len.wrapping_mul(8).to_be_bytes());
        let (first, second) = tail.split_at(BLOCK_LEN);
        let padded = [
            GenericArray::clone_from_slice(first),
            GenericArray::clone_from_slice(second),
        ];
        sha2::compress256(&mut state, &padded[..blocks]);

        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// Lowercase hex of [`digest`](Self::digest), as in `sha256:<hex>` digests.
    pub fn hex(&self) -> String {
        hex::encode(self.digest())
    }

    /// The state in Go's `MarshalBinary` form: magic, big-endian chaining words, the pending
    /// bytes zero-padded to a block, big-endian length.
    pub fn to_state(&self) -> [u8; Self::STATE_LEN] {
        let mut out = [0u8; Self::STATE_LEN];
        out[..WORDS_AT].copy_from_slice(&MAGIC);
        for (bytes, word) in out[WORDS_AT..PENDING_AT]
            .chunks_exact_mut(4)
            .zip(self.state)
        {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        let pending = self.pending.get_data();
        out[PENDING_AT..PENDING_AT + pending.len()].copy_from_slice(pending);
        out[LEN_AT..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    /// Restores a hasher saved by [`to_state`](Self::to_state) or by Go's `MarshalBinary`.
    ///
    /// Like Go's `UnmarshalBinary`, the pending count is taken from the length and any bytes after
    /// it in the block are ignored.
    pub fn from_state(bytes: &[u8]) -> Result<Self, StateError> {
        let saved: &[u8; Self::STATE_LEN] = bytes
            .try_into()
            .map_err(|_| StateError::Length { found: bytes.len() })?;
        let (magic, _) = saved.as_chunks::<4>();
        if magic[0] != MAGIC {
            return Err(StateError::Magic { found: magic[0] });
        }

        let mut state = [0u32; 8];
        let (words, _) = saved[WORDS_AT..PENDING_AT].as_chunks::<4>();
        for (word, bytes) in state.iter_mut().zip(words) {
            *word = u32::from_be_bytes(*bytes);
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&saved[LEN_AT..]);
        let len = u64::from_be_bytes(len);
        let pending = (len % BLOCK_LEN as u64) as usize;
        Ok(Self {
            state,
            pending: BlockBuffer::new(&saved[PENDING_AT..PENDING_AT + pending]),
            len,
        })
    }
}

impl Default for ResumableSha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ResumableSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumableSha256")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Why a saved state was refused (bad length, bad magic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// The state is not [`ResumableSha256::STATE_LEN`] bytes long, so it was truncated or is
    /// something else.
    Length {
        /// Length of the refused state.
        found: usize,
    },
    /// The state does not start with `sha\x03`, so it is not a SHA-256 state (Go writes
    /// `sha\x02` for SHA-224).
    Magic {
        /// The first four bytes of the refused state.
        found: [u8; 4],
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { found } => write!(
                f,
                "a SHA-256 state is {} bytes, this one is {found}",
                ResumableSha256::STATE_LEN
            ),
            Self::Magic { found } if *found == MAGIC_SHA224 => write!(
                f,
                "this is a SHA-224 state (it starts with \"sha\\x02\"), not a SHA-256 one"
            ),
            Self::Magic { found } => write!(
                f,
                "a SHA-256 state starts with \"sha\\x03\", this one starts with \"{}\"",
                found.escape_ascii()
            ),
        }
    }
}

impl std::error::Error for StateError {}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// Deterministic split points and filler without a rand dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// The input the Go golden vectors were made from: byte i is (i*7+3) % 251.
    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * 7 + 3) % 251) as u8).collect()
    }

    fn reference(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    /// Feeds `data` in random pieces of up to `max_piece` bytes, empty ones included.
    fn feed(hasher: &mut ResumableSha256, data: &[u8], rng: &mut XorShift, max_piece: usize) {
        let mut rest = data;
        while !rest.is_empty() {
            let take = rng.below(max_piece + 1).min(rest.len());
            let (piece, tail) = rest.split_at(take);
            hasher.update(piece);
            rest = tail;
        }
    }

    fn unhex(hex: &str) -> Vec<u8> {
        assert!(hex.len().is_multiple_of(2), "odd hex length");
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn short_inputs_match_sha2() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for n in 0..=300 {
            let data = rng.bytes(n);
            for max_piece in [1, 7, 63, 64, 65, 200, 400] {
                let mut hasher = ResumableSha256::new();
                feed(&mut hasher, &data, &mut rng, max_piece);
                assert_eq!(hasher.len(), n as u64);
                assert_eq!(
                    hasher.digest(),
                    reference(&data),
                    "n={n} max_piece={max_piece}"
                );
            }
        }
    }

    #[test]
    fn large_inputs_match_sha2() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for n in [1 << 20, 3 * (1 << 20) + 17, 5 * (1 << 20) - 1] {
            let data = rng.bytes(n);
            for max_piece in [100, 70_000, 2 << 20] {
                let mut hasher = ResumableSha256::new();
                feed(&mut hasher, &data, &mut rng, max_piece);
                assert_eq!(
                    hasher.digest(),
                    reference(&data),
                    "n={n} max_piece={max_piece}"
                );
            }
        }
    }

    #[test]
    fn digest_leaves_the_hasher_usable() {
        let data = pattern(1000);
        let mut hasher = ResumableSha256::new();
        for (i, byte) in data.iter().enumerate() {
            assert_eq!(hasher.digest(), reference(&data[..i]), "prefix {i}");
            hasher.update(std::slice::from_ref(byte));
        }
        assert_eq!(hasher.digest(), hasher.digest());
        assert_eq!(hasher.digest(), reference(&data));
    }

    #[test]
    fn hex_is_lowercase_digest() {
        let mut hasher = ResumableSha256::default();
        assert!(hasher.is_empty());
        assert_eq!(
            hasher.hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        hasher.update(b"abc");
        assert!(!hasher.is_empty());
        assert_eq!(
            hasher.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn state_round_trip_resumes_the_same_hash() {
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        let data = rng.bytes(5000);
        let cuts = (0..=300).chain([511, 512, 513, 1000, 4095, 4096, 4097, 4999, 5000]);
        for cut in cuts {
            let mut first = ResumableSha256::new();
            feed(&mut first, &data[..cut], &mut rng, 150);
            let saved = first.to_state();
            let mut resumed = ResumableSha256::from_state(&saved).unwrap();
            assert_eq!(resumed.len(), cut as u64);
            assert_eq!(resumed.to_state(), saved, "cut={cut}");
            assert_eq!(resumed.digest(), first.digest(), "cut={cut}");

            feed(&mut resumed, &data[cut..], &mut rng, 150);
            first.update(&data[cut..]);
            assert_eq!(resumed.digest(), first.digest(), "cut={cut}");
            assert_eq!(resumed.digest(), reference(&data), "cut={cut}");
        }
    }

    #[test]
    fn fresh_state_is_magic_initial_words_and_zeros() {
        let mut want = b"sha\x03".to_vec();
        want.extend(unhex(
            "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19",
        ));
        want.extend([0u8; 72]);
        assert_eq!(
            ResumableSha256::new().to_state().as_slice(),
            want.as_slice()
        );
    }

    /// `hex(MarshalBinary())` from Go 1.19's `crypto/sha256` after writing each input.
    const GOLDEN: [(&str, &str); 6] = [
        (
            "empty",
            "736861036a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19000000000000\
             000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
             000000000000000000000000000000000000000000000000",
        ),
        (
            "abc",
            "736861036a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19616263000000\
             000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
             000000000000000000000000000000000000000000000003",
        ),
        (
            "pattern 63",
            "736861036a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19030a11181f26\
             2d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8040b121920272e353c434a51\
             585f666d747b828990979ea5acb3ba00000000000000003f",
        ),
        (
            "pattern 64",
            "7368610387d3682079c2222a8039477026607b7157078ea559d4782e4c32ddabd890c96b000000000000\
             000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
             000000000000000000000000000000000000000000000040",
        ),
        (
            "pattern 65",
            "7368610387d3682079c2222a8039477026607b7157078ea559d4782e4c32ddabd890c96bc80000000000\
             000000000000000000000000000000000000000000000000000000000000000000000000000000000000\
             000000000000000000000000000000000000000000000041",
        ),
        (
            "pattern 1000",
            "736861036ef2670e5cdacc6de54e19e8254a5aad5c73a6c4c360e191431c70c698f539a1c5ccd3dae1e8\
             eff6020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4db0000000000000000\
             0000000000000000000000000000000000000000000003e8",
        ),
    ];

    fn golden_input(name: &str) -> Vec<u8> {
        match name {
            "empty" => Vec::new(),
            "abc" => b"abc".to_vec(),
            _ => pattern(name.strip_prefix("pattern ").unwrap().parse().unwrap()),
        }
    }

    #[test]
    fn to_state_matches_go_byte_for_byte() {
        for (name, hex) in GOLDEN {
            let input = golden_input(name);
            let mut hasher = ResumableSha256::new();
            hasher.update(&input);
            assert_eq!(
                hasher.to_state().as_slice(),
                unhex(hex).as_slice(),
                "{name}"
            );
        }
    }

    #[test]
    fn go_states_resume_to_the_right_digest() {
        let more = pattern(3000);
        for (name, hex) in GOLDEN {
            let golden = unhex(hex);
            let mut hasher = ResumableSha256::from_state(&golden).unwrap();
            assert_eq!(hasher.to_state().as_slice(), golden.as_slice(), "{name}");
            let mut whole = golden_input(name);
            assert_eq!(hasher.len(), whole.len() as u64, "{name}");
            assert_eq!(hasher.digest(), reference(&whole), "{name}");

            hasher.update(&more[..1]);
            hasher.update(&more[1..200]);
            hasher.update(&more[200..]);
            whole.extend_from_slice(&more);
            assert_eq!(hasher.digest(), reference(&whole), "{name}");
        }
    }

    #[test]
    fn bytes_after_the_pending_ones_are_ignored_like_go() {
        let mut hasher = ResumableSha256::new();
        hasher.update(b"abc");
        let clean = hasher.to_state();
        let mut dirty = clean;
        dirty[PENDING_AT + 3..LEN_AT].fill(0xaa);
        let restored = ResumableSha256::from_state(&dirty).unwrap();
        assert_eq!(restored.to_state(), clean);
        assert_eq!(restored.digest(), reference(b"abc"));
    }

    #[test]
    fn rejects_wrong_length() {
        let state = ResumableSha256::new().to_state();
        for len in [0, 3, 4, 20, 107] {
            let err = ResumableSha256::from_state(&state[..len]).unwrap_err();
            assert_eq!(err, StateError::Length { found: len });
        }
        let mut long = state.to_vec();
        long.push(0);
        let err = ResumableSha256::from_state(&long).unwrap_err();
        assert_eq!(err, StateError::Length { found: 109 });
        assert_eq!(
            ResumableSha256::from_state(&state[..20])
                .unwrap_err()
                .to_string(),
            "a SHA-256 state is 108 bytes, this one is 20"
        );
    }

    #[test]
    fn rejects_wrong_magic() {
        let mut state = ResumableSha256::new().to_state();
        state[..4].copy_from_slice(b"sha\x02");
        let err = ResumableSha256::from_state(&state).unwrap_err();
        assert_eq!(err, StateError::Magic { found: *b"sha\x02" });
        assert!(err.to_string().contains("SHA-224"), "{err}");

        state[..4].copy_from_slice(b"md5\x01");
        let err = ResumableSha256::from_state(&state).unwrap_err();
        assert_eq!(err, StateError::Magic { found: *b"md5\x01" });
        assert_eq!(
            err.to_string(),
            "a SHA-256 state starts with \"sha\\x03\", this one starts with \"md5\\x01\""
        );
        let source = std::error::Error::source(&err);
        assert!(source.is_none());
    }
}
