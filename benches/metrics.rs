//! Benchmarks of the metrics' stages on the CPU: feature extraction with the real Inception-v3
//! (when `make setup-metrics` put it in the cache), the Fréchet distance of 2048-d statistics,
//! KID's 100 subsets, and precision/recall's distance tiles on 4096-d float16 features.
//!
//! `cargo bench --bench metrics` (or `make bench`) prints a Markdown table for BENCHMARKS.md. Under
//! `cargo test` (no `--bench` argument) every stage runs once on tiny inputs, as a smoke test.

use std::time::Instant;

use kimg::metrics::Network;
use kimg::metrics::detector::Detector;
use kimg::metrics::fid::frechet_distance;
use kimg::metrics::kid::{KidOptions, kernel_inception_distance};
use kimg::metrics::locate::locate_local;
use kimg::metrics::pr::{PrOptions, precision_recall};
use kimg::numpy_rng::RandomState;
use tch::{Device, Kind, Tensor};

/// Seconds `work` takes (one run after a warm-up run when benchmarking).
fn seconds(benchmarking: bool, mut work: impl FnMut()) -> f64 {
    if benchmarking {
        work();
    }
    let start = Instant::now();
    work();
    start.elapsed().as_secs_f64()
}

/// Random features `[n, d]`, non-negative like pool features.
fn features(n: i64, d: i64) -> Tensor {
    Tensor::rand([n, d], (Kind::Float, Device::Cpu))
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let scale = |bench: i64, smoke: i64| if benchmarking { bench } else { smoke };
    tch::manual_seed(0);
    let mut rows: Vec<(String, String, f64)> = Vec::new();

    match locate_local(Network::Inception, None) {
        Ok(Some(path)) => {
            let detector = Detector::load(&path, Network::Inception, Device::Cpu).expect("loads");
            let n = scale(64, 2);
            let images = Tensor::randint(256, [n, 3, 32, 32], (Kind::Uint8, Device::Cpu));
            let time = seconds(benchmarking, || {
                let _ = detector.features(&images).expect("features");
            });
            rows.push((
                format!(
                    "Inception-v3 features ({})",
                    path.file_name().unwrap().display()
                ),
                format!("{n} images 32×32 → 299×299"),
                time,
            ));
        }
        _ => println!("(no Inception-v3 in the cache: run `make setup-metrics` to time it)"),
    }

    let d = scale(2048, 64);
    let (a, b) = (features(4 * d, d), features(4 * d, d));
    let moments = |x: &Tensor| {
        let x = x.to_kind(Kind::Double);
        let mu = x.mean_dim(0, false, Kind::Double);
        let centered = &x - &mu;
        #[expect(clippy::cast_precision_loss, reason = "small sizes")]
        let n = x.size()[0] as f64;
        (mu, centered.transpose(0, 1).matmul(&centered) / n)
    };
    let ((mu_a, sigma_a), (mu_b, sigma_b)) = (moments(&a), moments(&b));
    let time = seconds(benchmarking, || {
        frechet_distance(&mu_a, &sigma_a, &mu_b, &sigma_b);
    });
    rows.push((
        "Fréchet distance (FID)".into(),
        format!("{d}-d statistics"),
        time,
    ));

    let n = scale(5000, 50);
    let (real, generated) = (features(n, d), features(n, d));
    let time = seconds(benchmarking, || {
        let mut rng = RandomState::new(0);
        kernel_inception_distance(&real, &generated, KidOptions::default(), &mut rng);
    });
    rows.push((
        "KID, 100 subsets".into(),
        format!("{n} + {n} × {d}-d"),
        time,
    ));

    let (n, d) = (scale(2000, 30), scale(4096, 64));
    let (real, generated) = (features(n, d), features(n, d));
    let time = seconds(benchmarking, || {
        precision_recall(&real, &generated, PrOptions::default());
    });
    rows.push((
        "precision/recall, k = 3".into(),
        format!("{n} + {n} × {d}-d float16"),
        time,
    ));

    println!("| stage | input | seconds |\n|---|---|---|");
    for (stage, input, time) in rows {
        println!("| {stage} | {input} | {time:.2} |");
    }
}
