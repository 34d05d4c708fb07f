//! numpy's legacy `RandomState`: MT19937 with numpy's seeding and its legacy samplers, bit for bit.
//!
//! The reference draws the training-set order, the `max_size` subset, the snapshot grid, the
//! generated labels and `gen_images.py`'s latents (`RandomState(seed).randn(1, z_dim)`) from it, so
//! reproducing those needs the exact algorithms.

const N: usize = 624;
const M: usize = 397;

/// A `numpy.random.RandomState`.
#[derive(Clone, PartialEq)]
pub struct RandomState {
    state: [u32; N],
    index: usize,
    cached_gauss: Option<f64>,
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// The full state of a [`RandomState`], for snapshots (exact resume).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RandomStateData {
    /// The 624 state words.
    pub state: Vec<u32>,
    /// Position in the state.
    pub index: usize,
    /// The cached second Gaussian, if any.
    pub cached_gauss: Option<f64>,
}

impl RandomState {
    /// The state, for saving.
    pub fn save(&self) -> RandomStateData {
        RandomStateData {
            state: self.state.to_vec(),
            index: self.index,
            cached_gauss: self.cached_gauss,
        }
    }

    /// Restore a saved state (`None` when malformed).
    pub fn restore(data: &RandomStateData) -> Option<RandomState> {
        let state: [u32; N] = data.state.clone().try_into().ok()?;
        (data.index <= N).then_some(RandomState {
            state,
            index: data.index,
            cached_gauss: data.cached_gauss,
        })
    }

    /// `RandomState(seed)` for an integer seed (`init_genrand`).
    pub fn new(seed: u32) -> RandomState {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let previous = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(u32::try_from(i).expect("i < 624"));
        }
        RandomState {
            state,
            index: N,
            cached_gauss: None,
        }
    }

    /// The next raw 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..N {
            let y = (self.state[i] & UPPER) | (self.state[(i + 1) % N] & LOWER);
            let mut value = self.state[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                value ^= MATRIX_A;
            }
            self.state[i] = value;
        }
        self.index = 0;
    }

    /// A double in [0, 1) with 53 random bits (`random_sample`, `rand`).
    pub fn random_sample(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// A standard normal value by the legacy polar method (`randn`, `standard_normal`).
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(value) = self.cached_gauss.take() {
            return value;
        }
        loop {
            let x1 = 2.0 * self.random_sample() - 1.0;
            let x2 = 2.0 * self.random_sample() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.cached_gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// `n` standard normal values (`randn(n)`; `randn(1, n)` draws the same numbers).
    pub fn randn(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.standard_normal()).collect()
    }

    /// A uniform integer in `[0, max]` by masked rejection (the legacy `random_interval`).
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = u64::MAX >> max.leading_zeros();
        loop {
            let value = if max <= u64::from(u32::MAX) {
                u64::from(self.next_u32()) & mask
            } else {
                let high = u64::from(self.next_u32());
                let low = u64::from(self.next_u32());
                ((high << 32) | low) & mask
            };
            if value <= max {
                return value;
            }
        }
    }

    /// `randint(n)`: a uniform integer in `[0, n)`.
    pub fn randint(&mut self, n: u64) -> u64 {
        assert!(n > 0, "randint needs a positive bound");
        self.interval(n - 1)
    }

    /// `shuffle`: Fisher–Yates from the end with `random_interval`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = usize::try_from(self.interval(i as u64)).expect("index fits");
            items.swap(i, j);
        }
    }

    /// `permutation(n)`: a shuffled `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        self.shuffle(&mut order);
        order
    }
}

#[cfg(test)]
mod tests {
    use super::RandomState;

    #[test]
    fn matches_numpy_streams() {
        let mut a: Vec<u32> = (0..10).collect();
        RandomState::new(0).shuffle(&mut a);
        assert_eq!(a, [2, 8, 4, 9, 1, 6, 7, 3, 0, 5]);
        let mut r = RandomState::new(0);
        let ints: Vec<u64> = (0..20).map(|_| r.randint(10)).collect();
        assert_eq!(
            ints,
            [5, 0, 3, 3, 7, 9, 3, 5, 2, 4, 7, 6, 8, 8, 1, 6, 7, 7, 8, 1]
        );
        let mut r = RandomState::new(0);
        let uniforms: Vec<f64> = (0..5).map(|_| r.random_sample()).collect();
        assert_eq!(
            uniforms,
            [
                0.548_813_503_927_324_8,
                0.715_189_366_372_419_5,
                0.602_763_376_071_643_9,
                0.544_883_182_996_896_9,
                0.423_654_799_338_904_7
            ]
        );
        let mut r = RandomState::new(0);
        let wide: Vec<u64> = (0..5).map(|_| r.randint(1 << 40)).collect();
        assert_eq!(
            wide,
            [
                741_280_623_151,
                506_137_267_392,
                291_447_657_211,
                841_157_541_223,
                41_332_891_347
            ]
        );
        let mut b: Vec<u32> = (0..37).collect();
        RandomState::new(5).shuffle(&mut b);
        assert_eq!(
            b,
            [
                32, 18, 3, 19, 22, 5, 0, 23, 20, 10, 33, 2, 6, 31, 36, 24, 1, 11, 13, 25, 29, 26,
                21, 17, 15, 12, 30, 28, 34, 27, 7, 4, 8, 9, 16, 14, 35
            ]
        );
    }
}
