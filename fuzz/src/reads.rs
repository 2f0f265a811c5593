//! How a client's bytes may arrive: the ways one input is cut into reads.
//!
//! A target compares its verdict on the whole input with its verdict on the
//! same bytes cut into pieces. The cuts are a pure function of the input (its
//! hash seeds them), so a crash reproduces from the artifact file alone.

/// FNV-1a of the input: the seed for everything a target derives from it.
pub fn seed_of(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// xorshift64*: small, deterministic, good enough to pick cut positions.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        (self.next_u64() % bound as u64) as usize
    }
}

/// Sets of cut positions (each sorted, each within `0..=len`) to try:
/// every single cut when `len <= every_cut_len_max`, else the ends and a
/// sample; each cut at and next to the `hot` positions; and a few random
/// pairs of cuts (three pieces).
pub fn cut_sets(
    len: usize,
    hot: &[usize],
    every_cut_len_max: usize,
    rng: &mut Rng,
) -> Vec<Vec<usize>> {
    let mut sets: Vec<Vec<usize>> = Vec::new();
    if len <= every_cut_len_max {
        sets.extend((0..=len).map(|cut| vec![cut]));
    } else {
        for cut in [1, 2, len / 2, len - 2, len - 1] {
            sets.push(vec![cut]);
        }
        for _ in 0..16 {
            sets.push(vec![rng.below(len + 1)]);
        }
    }
    for &spot in hot {
        for cut in [spot.saturating_sub(1), spot, spot + 1] {
            if cut <= len {
                sets.push(vec![cut]);
            }
        }
    }
    for _ in 0..8 {
        let mut pair = vec![rng.below(len + 1), rng.below(len + 1)];
        pair.sort_unstable();
        sets.push(pair);
    }
    sets
}

/// Three sets of cuts for a long input, where each run costs: one cut at or
/// next to a `hot` position, one anywhere, and a pair.
pub fn few_cut_sets(len: usize, hot: &[usize], rng: &mut Rng) -> Vec<Vec<usize>> {
    let spot = hot
        .get(rng.below(hot.len()))
        .map_or(0, |&spot| spot + rng.below(3));
    let mut pair = vec![rng.below(len + 1), rng.below(len + 1)];
    pair.sort_unstable();
    vec![
        vec![spot.saturating_sub(1).min(len)],
        vec![rng.below(len + 1)],
        pair,
    ]
}

/// `data` cut at `cuts` (sorted): `cuts.len() + 1` pieces, some maybe empty.
pub fn pieces<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &cut in cuts {
        pieces.push(&data[start..cut]);
        start = cut;
    }
    pieces.push(&data[start..]);
    pieces
}
