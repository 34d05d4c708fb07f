//! Low-pass filter design for StyleGAN3 without scipy
//! (`networks_stylegan3.SynthesisLayer.design_lowpass_filter`): the Kaiser-windowed sinc of
//! `scipy.signal.firwin` and the radial (jinc) filters of StyleGAN3-R.
//!
//! All arithmetic is float64, as the reference's numpy/scipy; the result is float32.

use std::f64::consts::PI;

use tch::{Kind, Tensor};

/// A designed filter: 1-D `[numtaps]` (separable) or 2-D `[numtaps, numtaps]` (radial).
#[derive(Debug, Clone, PartialEq)]
pub struct LowpassFilter {
    /// Row-major taps.
    pub taps: Vec<f64>,
    /// Whether the taps form a `numtaps × numtaps` 2-D filter.
    pub radial: bool,
}

impl LowpassFilter {
    /// The taps as a float32 tensor on the CPU: `[n]` or `[n, n]`.
    pub fn to_tensor(&self) -> Tensor {
        let t = Tensor::from_slice(&self.taps).to_kind(Kind::Float);
        if self.radial {
            let n = i64::try_from(self.taps.len().isqrt()).expect("small filter");
            t.reshape([n, n])
        } else {
            t
        }
    }
}

/// `SynthesisLayer.design_lowpass_filter(numtaps, cutoff, width, fs, radial)`: `None` for a
/// single tap, else a Kaiser-windowed low-pass with pass band `cutoff` and transition band
/// `width` (both in the units of the sampling rate `fs`), normalised to unit DC gain.
pub fn design_lowpass_filter(
    numtaps: usize,
    cutoff: f64,
    width: f64,
    fs: f64,
    radial: bool,
) -> Option<LowpassFilter> {
    assert!(numtaps >= 1, "a filter has at least one tap");
    if numtaps == 1 {
        return None;
    }
    let nyquist = fs / 2.0;
    let window = kaiser_window(
        numtaps,
        kaiser_beta(kaiser_attenuation(numtaps, width / nyquist)),
    );
    let centre = (numtaps - 1) as f64 / 2.0;
    let taps: Vec<f64> = if radial {
        let coords: Vec<f64> = (0..numtaps).map(|n| (n as f64 - centre) / fs).collect();
        let mut taps = Vec::with_capacity(numtaps * numtaps);
        for (i, y) in coords.iter().enumerate() {
            for (j, x) in coords.iter().enumerate() {
                let r = x.hypot(*y);
                taps.push(bessel_j1(2.0 * cutoff * PI * r) / (PI * r) * window[i] * window[j]);
            }
        }
        taps
    } else {
        let c = cutoff / nyquist;
        (0..numtaps)
            .map(|n| c * sinc(c * (n as f64 - centre)) * window[n])
            .collect()
    };
    let sum: f64 = taps.iter().sum();
    Some(LowpassFilter {
        taps: taps.into_iter().map(|t| t / sum).collect(),
        radial,
    })
}

/// `scipy.signal.kaiser_atten`: stop-band attenuation in dB of a Kaiser FIR filter with
/// `numtaps` taps and normalised transition `width` (a fraction of Nyquist).
fn kaiser_attenuation(numtaps: usize, width: f64) -> f64 {
    2.285 * (numtaps - 1) as f64 * PI * width + 7.95
}

/// `scipy.signal.kaiser_beta`: the Kaiser β for an attenuation in dB.
fn kaiser_beta(attenuation: f64) -> f64 {
    if attenuation > 50.0 {
        0.1102 * (attenuation - 8.7)
    } else if attenuation > 21.0 {
        0.5842 * (attenuation - 21.0).powf(0.4) + 0.07886 * (attenuation - 21.0)
    } else {
        0.0
    }
}

/// The symmetric Kaiser window `I0(β·√(1 − (2n/(M−1) − 1)²)) / I0(β)` (`np.kaiser`).
fn kaiser_window(len: usize, beta: f64) -> Vec<f64> {
    let last = (len - 1) as f64;
    (0..len)
        .map(|n| {
            let t = 2.0 * n as f64 / last - 1.0;
            bessel_i0(beta * (1.0 - t * t).max(0.0).sqrt()) / bessel_i0(beta)
        })
        .collect()
}

/// `np.sinc`: `sin(πx)/(πx)`, 1 at 0.
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    }
}

/// Modified Bessel function of the first kind, order 0, by its power series
/// `Σ ((x/2)^k / k!)²` (all terms positive: no cancellation).
fn bessel_i0(x: f64) -> f64 {
    let quarter_x2 = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..500 {
        term *= quarter_x2 / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Bessel function of the first kind, order 1, from Bessel's integral
/// `J1(x) = (1/2π) ∫ cos(τ − x sin τ) dτ` over a period. The integrand is periodic and
/// analytic, so the trapezoidal rule converges geometrically once the node count exceeds |x|;
/// 256 nodes give full double precision for |x| ≲ 150 (filters need |x| < 40).
fn bessel_j1(x: f64) -> f64 {
    const NODES: usize = 256;
    debug_assert!(
        x.abs() < 150.0,
        "J1 argument {x} outside the accurate range"
    );
    let sum: f64 = (0..NODES)
        .map(|k| {
            let tau = 2.0 * PI * k as f64 / NODES as f64;
            (tau - x * tau.sin()).cos()
        })
        .sum();
    sum / NODES as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bessel_functions_match_known_values() {
        // Values of scipy.special.j1 and i0.
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-15);
        assert!((bessel_i0(10.0) - 2_815.716_628_466_254).abs() < 1e-9);
        assert!((bessel_j1(1.0) - 0.440_050_585_744_933_5).abs() < 1e-15);
        assert!((bessel_j1(10.0) - 0.043_472_746_168_861_41).abs() < 1e-15);
        let d = bessel_j1(30.0) - (-0.118_751_062_616_623_05);
        assert!(d.abs() < 1e-14, "{d}");
        assert!(bessel_j1(0.0).abs() < 1e-15);
    }

    #[test]
    fn one_tap_is_no_filter_and_filters_have_unit_dc_gain() {
        assert!(design_lowpass_filter(1, 2.0, 4.0, 16.0, false).is_none());
        for radial in [false, true] {
            let f = design_lowpass_filter(12, 3.0, 9.0, 32.0, radial).unwrap();
            assert!((f.taps.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert_eq!(f.taps.len(), if radial { 144 } else { 12 });
        }
    }
}
