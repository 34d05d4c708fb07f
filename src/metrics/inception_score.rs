//! Inception Score — port of `metrics/inception_score.py` `compute_is` after the detector:
//! class probabilities `[n, classes]` in, mean and standard deviation over splits out.
//!
//! Per split: `exp(mean_i KL(p(y|x_i) ‖ p(y)))` with `p(y)` the split's mean prediction; then the
//! mean and the population standard deviation of the split scores. The reference computes in
//! float32 numpy; kimg in float64 from the float32 probabilities.

use tch::{Kind, Tensor};

/// Splits of the reference (`num_splits`).
pub const NUM_SPLITS: usize = 10;

/// Mean and standard deviation of the Inception Score of `probs` over `num_splits` splits.
///
/// # Panics
/// When a split would be empty.
pub fn inception_score(probs: &Tensor, num_splits: usize) -> (f64, f64) {
    let n = usize::try_from(probs.size()[0]).expect("non-negative size");
    assert!(
        num_splits >= 1 && n >= num_splits,
        "every split needs items"
    );
    let probs = probs.to_kind(Kind::Double);
    let scores: Vec<f64> = (0..num_splits)
        .map(|i| {
            let (start, end) = (i * n / num_splits, (i + 1) * n / num_splits);
            let part = probs.narrow(
                0,
                i64::try_from(start).expect("fits"),
                i64::try_from(end - start).expect("fits"),
            );
            let marginal = part.mean_dim(0, true, Kind::Double);
            let kl = &part * (part.log() - marginal.log());
            kl.sum_dim_intlist(1, false, Kind::Double)
                .mean(Kind::Double)
                .exp()
                .double_value(&[])
        })
        .collect();
    #[expect(clippy::cast_precision_loss, reason = "split counts are small")]
    let count = scores.len() as f64;
    let mean = scores.iter().sum::<f64>() / count;
    let variance = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / count;
    (mean, variance.sqrt())
}
