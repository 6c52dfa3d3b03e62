//! A small, fast hasher for the recorder's maps (the "Fx" hash of rustc and Firefox).
//!
//! The recorder looks a tag set up on every request, and its keys are a few small integers
//! (scenario, request, group, status, error class) that come from the plan, never from the
//! network, so hash flooding is not a concern and the standard library's SipHash (built to resist
//! it) costs more than the rest of the recording. Fx folds each word in with a rotate, a xor and
//! a multiply.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` hashed with [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash>(t: &T) -> u64 {
        BuildHasherDefault::<FxHasher>::default().hash_one(t)
    }

    #[test]
    fn distinct_small_keys_hash_apart_and_equal_keys_alike() {
        let mut seen = std::collections::HashSet::new();
        for scenario in 0u16..8 {
            for status in [0u16, 200, 201, 204, 301, 400, 401, 404, 500, 503] {
                assert!(seen.insert(hash(&(scenario, status, false))));
            }
        }
        assert_eq!(hash(&(1u16, 200u16)), hash(&(1u16, 200u16)));
        assert_ne!(hash(&"abcdefghi"), hash(&"abcdefghj"));
        let mut m: FxHashMap<(u16, u16), u32> = FxHashMap::default();
        *m.entry((0, 200)).or_default() += 1;
        *m.entry((0, 200)).or_default() += 1;
        assert_eq!(m[&(0, 200)], 2);
    }
}
