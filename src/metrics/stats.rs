//! Running feature statistics — port of `metrics/metric_utils.py` `FeatureStats`: a detector's
//! features flow in batch by batch; out come the float64 mean and covariance (FID) and/or every
//! feature as float32 (KID, precision/recall).

use tch::{Device, Kind, Tensor};

/// What to keep of the features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Capture {
    /// Keep every feature vector (`capture_all`).
    pub all: bool,
    /// Keep float64 running sums for the mean and covariance (`capture_mean_cov`).
    pub mean_cov: bool,
}

/// Features accumulated so far, at most `max_items` of them.
pub struct FeatureStats {
    capture: Capture,
    max_items: Option<usize>,
    num_items: usize,
    /// `[D]` float64 `Σx` (when capturing mean and covariance).
    raw_mean: Option<Tensor>,
    /// `[D, D]` float64 `Σxxᵀ`.
    raw_cov: Option<Tensor>,
    /// `[n, D]` float32 blocks, in arrival order.
    all: Vec<Tensor>,
}

impl std::fmt::Debug for FeatureStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureStats")
            .field("capture", &self.capture)
            .field("max_items", &self.max_items)
            .field("num_items", &self.num_items)
            .finish_non_exhaustive()
    }
}

impl FeatureStats {
    /// Empty statistics that keep what `capture` says, up to `max_items` items.
    pub fn new(capture: Capture, max_items: Option<usize>) -> FeatureStats {
        FeatureStats {
            capture,
            max_items,
            num_items: 0,
            raw_mean: None,
            raw_cov: None,
            all: Vec::new(),
        }
    }

    /// Statistics of the rows of `features` (`[n, D]`), as if appended in one batch.
    pub fn from_features(features: &Tensor, capture: Capture) -> FeatureStats {
        let mut stats = FeatureStats::new(capture, None);
        stats.append(features);
        stats
    }

    /// How many items were appended (never more than `max_items`).
    pub fn num_items(&self) -> usize {
        self.num_items
    }

    /// What is kept.
    pub fn capture(&self) -> Capture {
        self.capture
    }

    /// Whether `max_items` items are in.
    pub fn is_full(&self) -> bool {
        self.max_items.is_some_and(|max| self.num_items >= max)
    }

    /// Append the rows of `features` (`[n, D]`, any float kind and device); rows past `max_items`
    /// are dropped, as in the reference.
    pub fn append(&mut self, features: &Tensor) {
        let rows = usize::try_from(features.size()[0]).expect("non-negative size");
        let take = self
            .max_items
            .map_or(rows, |max| rows.min(max.saturating_sub(self.num_items)));
        if take == 0 {
            return;
        }
        // [take, D]
        let x = features
            .narrow(0, 0, i64::try_from(take).expect("fits"))
            .to_device(Device::Cpu)
            .to_kind(Kind::Float);
        if self.capture.all {
            self.all.push(x.copy());
        }
        if self.capture.mean_cov {
            let x64 = x.to_kind(Kind::Double);
            let sum = x64.sum_dim_intlist(0, false, Kind::Double);
            let outer = x64.transpose(0, 1).matmul(&x64);
            self.raw_mean = Some(
                self.raw_mean
                    .take()
                    .map_or(sum.shallow_clone(), |m| m + sum),
            );
            self.raw_cov = Some(
                self.raw_cov
                    .take()
                    .map_or(outer.shallow_clone(), |c| c + outer),
            );
        }
        self.num_items += take;
    }

    /// Every feature, `[n, D]` float32 (`get_all`).
    ///
    /// # Panics
    /// When the statistics do not capture all features, or are empty.
    pub fn all_features(&self) -> Tensor {
        assert!(
            self.capture.all,
            "these statistics do not keep all features"
        );
        assert!(!self.all.is_empty(), "no features were appended");
        Tensor::cat(&self.all, 0)
    }

    /// Mean `[D]` and biased covariance `[D, D]` (divided by n), both float64 (`get_mean_cov`).
    ///
    /// # Panics
    /// When the statistics do not capture the mean and covariance, or are empty.
    pub fn mean_cov(&self) -> (Tensor, Tensor) {
        assert!(
            self.capture.mean_cov,
            "these statistics do not keep the mean and covariance"
        );
        let (Some(raw_mean), Some(raw_cov)) = (&self.raw_mean, &self.raw_cov) else {
            panic!("no features were appended");
        };
        #[expect(clippy::cast_precision_loss, reason = "item counts are far below 2^52")]
        let n = self.num_items as f64;
        let mean = raw_mean / n;
        let cov = raw_cov / n - mean.outer(&mean);
        (mean, cov)
    }

    /// The tensors that make up the statistics, named for a safetensors file.
    pub fn to_named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut named = Vec::new();
        if let (Some(mean), Some(cov)) = (&self.raw_mean, &self.raw_cov) {
            named.push(("raw_mean".to_string(), mean.shallow_clone()));
            named.push(("raw_cov".to_string(), cov.shallow_clone()));
        }
        if !self.all.is_empty() {
            named.push(("all_features".to_string(), Tensor::cat(&self.all, 0)));
        }
        named
    }

    /// Rebuild statistics saved by [`FeatureStats::to_named_tensors`]; `None` when a tensor that
    /// `capture` needs is missing.
    pub fn from_named_tensors(
        named: &[(String, Tensor)],
        capture: Capture,
        max_items: Option<usize>,
        num_items: usize,
    ) -> Option<FeatureStats> {
        let get = |key: &str| {
            named
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, t)| t.shallow_clone())
        };
        let mut stats = FeatureStats::new(capture, max_items);
        stats.num_items = num_items;
        if capture.mean_cov {
            stats.raw_mean = Some(get("raw_mean")?);
            stats.raw_cov = Some(get("raw_cov")?);
        }
        if capture.all {
            stats.all.push(get("all_features")?);
        }
        Some(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::{Capture, FeatureStats};
    use tch::{Kind, Tensor};

    #[test]
    fn batches_add_up_and_stop_at_max_items() {
        let x = Tensor::randn([10, 3], (Kind::Float, tch::Device::Cpu));
        let both = Capture {
            all: true,
            mean_cov: true,
        };
        let mut stats = FeatureStats::new(both, Some(7));
        stats.append(&x.narrow(0, 0, 4));
        stats.append(&x.narrow(0, 4, 6));
        assert!(stats.is_full());
        assert_eq!(stats.num_items(), 7);
        let kept = x.narrow(0, 0, 7);
        assert!(stats.all_features().equal(&kept));
        let (mean, cov) = stats.mean_cov();
        let k = kept.to_kind(Kind::Double);
        let centred = &k - k.mean_dim(0, true, Kind::Double);
        let want = centred.transpose(0, 1).matmul(&centred) / 7.0;
        assert!(mean.allclose(&k.mean_dim(0, false, Kind::Double), 1e-12, 1e-12, false));
        assert!(cov.allclose(&want, 1e-10, 1e-12, false));
    }
}
