//! Kernel Inception Distance — port of `metrics/kernel_inception_distance.py` `compute_kid` after
//! the features: float32 features `[n, D]` in, one number out.
//!
//! The unbiased MMD² estimator with the cubic polynomial kernel `k(a, b) = (a·b/D + 1)³`, averaged
//! over `num_subsets` random subsets of `m = min(n_real, n_gen, max_subset_size)` items. Subsets
//! come from numpy's global legacy RNG as `np.random.choice(N, m, replace=False)`, which is
//! `permutation(N)[:m]`; each round draws the generated subset first, then the real one. The
//! kernels are float32 as in the reference; the sums are float64 here (numpy sums float32
//! pairwise), a difference of float32 rounding only.

use tch::{Kind, Tensor};

use crate::numpy_rng::RandomState;

/// How KID samples its subsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KidOptions {
    /// Number of subsets averaged (100 in the reference).
    pub num_subsets: usize,
    /// Largest subset size (1000 in the reference).
    pub max_subset_size: usize,
}

impl Default for KidOptions {
    fn default() -> KidOptions {
        KidOptions {
            num_subsets: 100,
            max_subset_size: 1000,
        }
    }
}

/// `m` items of `features` chosen like `np.random.choice(N, m, replace=False)`.
fn choose(features: &Tensor, m: usize, rng: &mut RandomState) -> Tensor {
    let n = usize::try_from(features.size()[0]).expect("non-negative size");
    let order: Vec<i64> = rng.permutation(n)[..m]
        .iter()
        .map(|&i| i64::try_from(i).expect("fits"))
        .collect();
    features.index_select(0, &Tensor::from_slice(&order).to_device(features.device()))
}

/// `Σ (a·bᵀ/D + 1)³` over all pairs, and over the diagonal when `a` and `b` are the same set.
fn kernel_sum(a: &Tensor, b: &Tensor, dim: f64) -> (f64, f64) {
    let k = (a.matmul(&b.transpose(0, 1)) / dim + 1.0).pow_tensor_scalar(3);
    let total = k.sum(Kind::Double).double_value(&[]);
    let diagonal = k.diagonal(0, 0, 1).sum(Kind::Double).double_value(&[]);
    (total, diagonal)
}

/// KID between generated and real features (`[n, D]` float32), with subsets drawn from `rng`
/// (the reference's global `np.random` state).
///
/// # Panics
/// When either set has fewer than two items, or the feature sizes differ.
pub fn kernel_inception_distance(
    real: &Tensor,
    gen_features: &Tensor,
    options: KidOptions,
    rng: &mut RandomState,
) -> f64 {
    assert_eq!(
        real.size()[1],
        gen_features.size()[1],
        "feature sizes differ"
    );
    let count = |t: &Tensor| usize::try_from(t.size()[0]).expect("non-negative size");
    let m = count(real)
        .min(count(gen_features))
        .min(options.max_subset_size);
    assert!(m >= 2, "KID needs at least two items in each set");
    #[expect(clippy::cast_precision_loss, reason = "feature sizes are small")]
    let dim = real.size()[1] as f64;
    #[expect(clippy::cast_precision_loss, reason = "subset sizes are small")]
    let mf = m as f64;
    let real = real.to_kind(Kind::Float);
    let gen_features = gen_features.to_kind(Kind::Float);
    let mut t = 0.0;
    for _ in 0..options.num_subsets {
        let x = choose(&gen_features, m, rng);
        let y = choose(&real, m, rng);
        let (xx, xx_diag) = kernel_sum(&x, &x, dim);
        let (yy, yy_diag) = kernel_sum(&y, &y, dim);
        let (xy, _) = kernel_sum(&x, &y, dim);
        t += (xx + yy - xx_diag - yy_diag) / (mf - 1.0) - xy * 2.0 / mf;
    }
    #[expect(clippy::cast_precision_loss, reason = "subset counts are small")]
    let subsets = options.num_subsets as f64;
    t / subsets / mf
}
