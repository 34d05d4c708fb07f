//! Micro-benchmarks of the ops the networks spend their time in: kimg's reference ops (what the
//! CPU trains with) against the fused kernels' CPU launcher (the per-element code the CUDA build
//! runs), forward and forward + backward, on CPU tensors of training-like sizes.
//!
//! `cargo bench --bench ops` (or `make bench`) prints a Markdown table for BENCHMARKS.md. Under
//! `cargo test` (no `--bench` argument) every case runs once on smaller tensors, as a smoke test.

use std::time::Instant;

use kimg::ops::bias_act::{Activation, BiasAct, bias_act_fused, bias_act_reference};
use kimg::ops::upfirdn2d::{Factor, Padding, Resampling, upfirdn2d_fused, upfirdn2d_reference};
use tch::{Device, Kind, Tensor};

/// An op under test: input → output.
type Op<'a> = Box<dyn Fn(&Tensor) -> Tensor + 'a>;

/// Median seconds of `reps` runs of `work`, after one warm-up run.
fn median_seconds(reps: usize, mut work: impl FnMut()) -> f64 {
    work();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Forward, and forward + backward, milliseconds of `op` on `x`.
fn time(op: &Op<'_>, x: &Tensor, reps: usize) -> (f64, f64) {
    let forward = median_seconds(reps, || {
        let _ = tch::no_grad(|| op(x));
    });
    let both = median_seconds(reps, || {
        let x = x.detach().set_requires_grad(true);
        let y = op(&x);
        let g = y.ones_like();
        let _ = Tensor::run_backward(&[&(y * g).sum(Kind::Float)], &[&x], false, false);
    });
    (forward * 1e3, both * 1e3)
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let (reps, shrink) = if benchmarking { (15, 1) } else { (1, 4) };
    let lrelu = BiasAct::new(Activation::Lrelu);
    let bias = Tensor::randn([128], (Kind::Float, Device::Cpu));
    let taps4 = Tensor::from_slice(&[1.0f32, 3.0, 3.0, 1.0]) / 8.0;
    let taps12 = Tensor::rand([12], (Kind::Float, Device::Cpu)) / 6.0;
    let (one, two) = (Factor::from(1), Factor::from(2));
    let mut cases: Vec<(&str, [i64; 4], Op<'_>, Op<'_>)> = vec![(
        "bias_act lrelu",
        [16, 128, 64, 64],
        Box::new(|x| bias_act_reference(x, Some(&bias), &lrelu)),
        Box::new(|x| bias_act_fused(x, Some(&bias), &lrelu).expect("fused bias_act")),
    )];
    let resamplings = [
        (
            "upsample2d ×2, 4 taps",
            [16, 128, 32, 32],
            &taps4,
            two,
            one,
            Padding::new(2, 1, 2, 1),
            4.0,
        ),
        (
            "downsample2d ÷2, 4 taps",
            [16, 128, 64, 64],
            &taps4,
            one,
            two,
            Padding::all(1),
            1.0,
        ),
        (
            "StyleGAN3 up ×2, 12 taps",
            [16, 64, 36, 36],
            &taps12,
            two,
            one,
            Padding::all(6),
            4.0,
        ),
    ];
    for (name, shape, f, up, down, padding, gain) in resamplings {
        let resampling = Resampling {
            up,
            down,
            padding,
            flip_filter: false,
            gain,
        };
        cases.push((
            name,
            shape,
            Box::new(move |x| upfirdn2d_reference(x, Some(f), resampling)),
            Box::new(move |x| upfirdn2d_fused(x, Some(f), resampling).expect("fused upfirdn2d")),
        ));
    }
    println!(
        "| op | input | reference fwd ms | fused fwd ms | reference fwd+bwd ms | fused fwd+bwd ms |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, shape, reference, fused) in &cases {
        let shape = [
            shape[0] / shrink,
            shape[1],
            shape[2] / shrink,
            shape[3] / shrink,
        ];
        let x = Tensor::randn(shape, (Kind::Float, Device::Cpu));
        let (ref_fwd, ref_both) = time(reference, &x, reps);
        let (fused_fwd, fused_both) = time(fused, &x, reps);
        println!(
            "| {name} | {shape:?} | {ref_fwd:.1} | {fused_fwd:.1} | {ref_both:.1} | {fused_both:.1} |"
        );
    }
}
