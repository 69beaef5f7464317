//! A small seeded PRNG and the weighted samplers built on it.
//!
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014) instead of the `rand` crate: one `u64` of state,
//! one add and three multiply-xorshift steps per draw, the same sequence on
//! every platform and every crate version. Statistical quality is far beyond
//! what a synthetic clickstream needs (it passes BigCrush), and the fixtures
//! checked in under `fixtures/` must stay byte-identical across `rand`
//! upgrades, which `rand`'s own generators do not promise.

/// SplitMix64's output function: a bijection on `u64` that scrambles its
/// input thoroughly.
///
/// Being a bijection is what makes it useful beyond the PRNG: `mix64(key +
/// counter)` gives ids that look random yet never repeat within a stream, and
/// `mix64(user_number)` gives a user stable attributes without a table.
pub fn mix64(value: u64) -> u64 {
    let mut z = value;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Maps a uniformly distributed `u64` onto `0..bound` by multiply-shift
/// (Lemire, "Fast random integer generation in an interval", 2019) — no
/// division, and a bias of at most `bound / 2^64`, far below anything a
/// fixture can show.
pub fn scale_below(random: u64, bound: u64) -> u64 {
    ((u128::from(random) * u128::from(bound)) >> 64) as u64
}

/// The SplitMix64 generator.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    /// The Weyl sequence position; advanced by the golden-ratio increment.
    state: u64,
}

impl SplitMix64 {
    /// The golden-ratio increment of the Weyl sequence (2^64 / phi, odd).
    const INCREMENT: u64 = 0x9e37_79b9_7f4a_7c15;

    /// A generator whose sequence is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::INCREMENT);
        mix64(self.state)
    }

    /// A uniform integer in `0..bound`; `bound` must not be zero.
    #[inline]
    pub fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0, "below(0) has no value to return");
        scale_below(self.next_u64(), bound)
    }

    /// A uniform integer in `low..=high`.
    #[inline]
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        debug_assert!(low <= high, "between({low}, {high}) is an empty range");
        low + self.below(high - low + 1)
    }

    /// True with probability `percent / 100`.
    #[inline]
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// True with probability `per_million / 1,000,000`.
    #[inline]
    pub fn per_million(&mut self, per_million: u32) -> bool {
        self.below(1_000_000) < u64::from(per_million)
    }

    /// A uniformly chosen element of a non-empty slice.
    #[inline]
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A uniformly chosen element of a non-empty slice of `Copy` values
    /// (such as `&'static str`), by value.
    #[inline]
    pub fn pick_copy<T: Copy>(&mut self, items: &[T]) -> T {
        *self.pick(items)
    }
}

/// A discrete distribution over `0..len()` given by integer weights, sampled
/// by binary search over the cumulative weights.
///
/// Binary search rather than Walker's alias method: the largest table here
/// (20,000 hotels) costs 15 probes per draw, a few nanoseconds, and the
/// cumulative table can also be indexed by a hash (`sample_from`), which the
/// alias method's two-draw scheme cannot do.
#[derive(Clone, Debug)]
pub struct Weighted {
    /// `cumulative[i]` is the sum of the weights of outcomes `0..=i`.
    cumulative: Vec<u64>,
}

impl Weighted {
    /// A distribution proportional to `weights`; at least one must be non-zero.
    pub fn from_weights(weights: impl IntoIterator<Item = u64>) -> Self {
        let mut total = 0u64;
        let cumulative: Vec<u64> = weights
            .into_iter()
            .map(|weight| {
                total += weight;
                total
            })
            .collect();
        assert!(total > 0, "a weighted table needs a non-zero weight");
        Self { cumulative }
    }

    /// Zipf's law over `count` ranks: rank `k` (0-based) has weight
    /// `1 / (k + 1)^exponent`. Rank 0 is the most popular.
    pub fn zipf(count: usize, exponent: f64) -> Self {
        // 2^40 for the head keeps the tail's weights well above 1 for every
        // table size used here (20,000 ranks at exponent 1.1 still get
        // ~2^25), so no rank is rounded away.
        const SCALE: f64 = (1u64 << 40) as f64;
        Self::from_weights((1..=count).map(|rank| (SCALE / (rank as f64).powf(exponent)) as u64))
    }

    /// How many outcomes the distribution has.
    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    /// Whether the distribution has no outcome (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// One outcome drawn with `rng`.
    #[inline]
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        self.sample_from(rng.next_u64())
    }

    /// The outcome that the uniformly distributed `random` stands for; with a
    /// hash as `random`, a stable weighted choice (a hotel's city).
    #[inline]
    pub fn sample_from(&self, random: u64) -> usize {
        let total = *self.cumulative.last().expect("non-empty by construction");
        let target = scale_below(random, total);
        self.cumulative.partition_point(|&sum| sum <= target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // First outputs of the reference C implementation for seed 1234567.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(rng.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [false; 10];
        for _ in 0..10_000 {
            let value = rng.below(10);
            assert!(value < 10);
            seen[value as usize] = true;
        }
        assert!(seen.iter().all(|&hit| hit));
    }

    #[test]
    fn weighted_follows_its_weights() {
        let table = Weighted::from_weights([1, 0, 3]);
        let mut rng = SplitMix64::new(3);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[table.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0, "a zero weight is never drawn");
        let ratio = f64::from(counts[2]) / f64::from(counts[0]);
        assert!((2.8..3.2).contains(&ratio), "ratio {ratio}");
    }

    #[test]
    fn zipf_head_is_most_popular() {
        let table = Weighted::zipf(1_000, 1.0);
        let mut rng = SplitMix64::new(11);
        let mut counts = vec![0u32; 1_000];
        for _ in 0..100_000 {
            counts[table.sample(&mut rng)] += 1;
        }
        // Rank 0 has twice rank 1's weight and ten times rank 9's.
        assert!(counts[0] > counts[1] && counts[1] > counts[9]);
        let ratio = f64::from(counts[0]) / f64::from(counts[9]);
        assert!((8.0..12.0).contains(&ratio), "ratio {ratio}");
        assert!(counts[999] < counts[0] / 100);
    }
}
