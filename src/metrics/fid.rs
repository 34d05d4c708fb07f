//! Fréchet Inception Distance — port of `metrics/frechet_inception_distance.py` `compute_fid`
//! after the features: float64 means and covariances in, one number out.
//!
//! `FID = ‖μ_g − μ_r‖² + tr(Σ_g + Σ_r − 2·sqrtm(Σ_g Σ_r))`. The reference takes the trace of
//! `scipy.linalg.sqrtm(Σ_g Σ_r)`'s real part. `Σ_g Σ_r` is similar to the symmetric positive
//! semi-definite `Σ_r^½ Σ_g Σ_r^½`, so that trace is the sum of the square roots of the latter's
//! eigenvalues, which kimg computes with two symmetric eigendecompositions in float64 (stable,
//! and cheaper than a general matrix square root). Eigenvalues that rounding makes slightly
//! negative count as 0, as their imaginary roots drop out of the reference's real part.

use tch::{Kind, Tensor};

/// The symmetric positive semi-definite square root of a symmetric `[D, D]` matrix.
fn sqrt_psd(matrix: &Tensor) -> Tensor {
    let (values, vectors) = matrix.linalg_eigh("L");
    let roots = values.clamp_min(0.0).sqrt();
    (&vectors * roots.unsqueeze(0)).matmul(&vectors.transpose(0, 1))
}

/// `tr(sqrtm(a·b))` for symmetric positive semi-definite `a` and `b`.
pub fn trace_sqrt_product(a: &Tensor, b: &Tensor) -> f64 {
    let b_half = sqrt_psd(&b.to_kind(Kind::Double));
    let inner = b_half.matmul(&a.to_kind(Kind::Double)).matmul(&b_half);
    // Symmetrise away rounding before the symmetric solver.
    let inner = (&inner + inner.transpose(0, 1)) * 0.5;
    inner
        .linalg_eigvalsh("L")
        .clamp_min(0.0)
        .sqrt()
        .sum(Kind::Double)
        .double_value(&[])
}

/// FID between two Gaussians given by means `[D]` and covariances `[D, D]`.
pub fn frechet_distance(
    mu_gen: &Tensor,
    sigma_gen: &Tensor,
    mu_real: &Tensor,
    sigma_real: &Tensor,
) -> f64 {
    let diff = mu_gen.to_kind(Kind::Double) - mu_real.to_kind(Kind::Double);
    let mean_term = diff.square().sum(Kind::Double).double_value(&[]);
    let traces = sigma_gen.to_kind(Kind::Double).trace().double_value(&[])
        + sigma_real.to_kind(Kind::Double).trace().double_value(&[]);
    mean_term + traces - 2.0 * trace_sqrt_product(sigma_gen, sigma_real)
}

#[cfg(test)]
mod tests {
    use super::trace_sqrt_product;
    use tch::{Kind, Tensor};

    #[test]
    fn trace_of_the_root_of_commuting_diagonals() {
        let a = Tensor::from_slice(&[4.0f64, 9.0, 0.25]).diag(0);
        let b = Tensor::from_slice(&[1.0f64, 4.0, 4.0]).diag(0);
        // sqrt(4·1) + sqrt(9·4) + sqrt(0.25·4) = 2 + 6 + 1.
        assert!((trace_sqrt_product(&a, &b) - 9.0).abs() < 1e-12);
        let x = Tensor::randn([20, 5], (Kind::Double, tch::Device::Cpu));
        let s = x.transpose(0, 1).matmul(&x) / 20.0;
        // tr(sqrtm(S·S)) = tr(S).
        let want = s.trace().double_value(&[]);
        assert!((trace_sqrt_product(&s, &s) - want).abs() < 1e-10 * want);
    }
}
