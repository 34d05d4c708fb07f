//! The reference's `InfiniteSampler` (`torch_utils/misc.py`): a seeded shuffle followed by a
//! sliding-window reshuffle, so the data order of a run is reproducible.

use crate::numpy_rng::RandomState;

/// An endless stream of dataset indices for one replica.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InfiniteSampler {
    order: Vec<usize>,
    #[serde(with = "random_state_serde")]
    rnd: RandomState,
    window: u64,
    idx: usize,
    rank: usize,
    num_replicas: usize,
}

impl InfiniteSampler {
    /// A sampler over `len` items for replica `rank` of `num_replicas` (`window_size` 0.5).
    pub fn new(len: usize, rank: usize, num_replicas: usize, seed: u32) -> InfiniteSampler {
        assert!(
            len > 0 && rank < num_replicas,
            "a non-empty dataset and a valid rank"
        );
        let mut rnd = RandomState::new(seed);
        let mut order: Vec<usize> = (0..len).collect();
        rnd.shuffle(&mut order);
        #[expect(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "dataset sizes are far below 2^52"
        )]
        let window = (len as f64 * 0.5).round_ties_even() as u64;
        InfiniteSampler {
            order,
            rnd,
            window,
            idx: 0,
            rank,
            num_replicas,
        }
    }
}

impl Iterator for InfiniteSampler {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            let len = self.order.len();
            let i = self.idx % len;
            let item = (self.idx % self.num_replicas == self.rank).then_some(self.order[i]);
            if self.window >= 2 {
                let back = usize::try_from(self.rnd.randint(self.window)).expect("window fits");
                let j = (i + len - back % len) % len;
                self.order.swap(i, j);
            }
            self.idx += 1;
            if item.is_some() {
                return item;
            }
        }
    }
}

mod random_state_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::numpy_rng::{RandomState, RandomStateData};

    pub(super) fn serialize<S: Serializer>(
        rnd: &RandomState,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        rnd.save().serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<RandomState, D::Error> {
        let data = RandomStateData::deserialize(deserializer)?;
        RandomState::restore(&data).ok_or_else(|| serde::de::Error::custom("malformed RandomState"))
    }
}
