//! Micro-benchmarks of the ops the networks spend their time in: kimg's reference ops (what the
//! CPU trains with) against the fused kernels' CPU launcher (the per-element code the CUDA build
//! runs), forward and forward + backward, on CPU tensors of training-like sizes.
//!
//! `cargo bench --bench ops` (or `make bench`) prints Markdown tables for BENCHMARKS.md: wall
//! milliseconds for bias_act and upfirdn2d, and process CPU seconds (which do not count other
//! processes' use of the cores, so they hold on a shared machine; run with `OMP_NUM_THREADS=1`)
//! for filtered_lrelu on the layers of a 256² StyleGAN3-T and -R, one layer per class of
//! factors and filters, batch 4. Under `cargo test` (no `--bench` argument) every case runs once
//! on smaller tensors, as a smoke test.

#[path = "common/cpu.rs"]
mod cpu;

use std::time::Instant;

use kimg::nets::stylegan3::{LayerSpec, Stylegan3Config};
use kimg::ops::bias_act::{Activation, BiasAct, bias_act_fused, bias_act_reference};
use kimg::ops::filtered_lrelu::{FilteredLrelu, filtered_lrelu_fused, filtered_lrelu_reference};
use kimg::ops::filters::design_lowpass_filter;
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

/// Mean process CPU seconds of `op` on `x` (and the bias `b`), forward and forward + backward
/// (gradients of both), over `reps` runs after one warm-up run of each.
fn cpu_seconds(op: &Op<'_>, x: &Tensor, b: &Tensor, reps: usize) -> (f64, f64) {
    let mean = |work: &mut dyn FnMut()| {
        work();
        let start = cpu::process_cpu_seconds();
        for _ in 0..reps {
            work();
        }
        #[expect(clippy::cast_precision_loss, reason = "a few repetitions")]
        let per_run = (cpu::process_cpu_seconds() - start) / reps as f64;
        per_run
    };
    let forward = mean(&mut || {
        let _ = tch::no_grad(|| op(x));
    });
    let both = mean(&mut || {
        let x = x.detach().set_requires_grad(true);
        let y = op(&x);
        let g = y.ones_like();
        let _ = Tensor::run_backward(&[&(y * g).sum(Kind::Float)], &[&x, b], false, false);
    });
    (forward, both)
}

/// The layer filter of a schedule entry, as the generator designs it (`None` for one tap).
#[expect(clippy::cast_precision_loss, reason = "small sampling rates")]
fn layer_filter(
    taps: i64,
    cutoff: f64,
    half_width: f64,
    spec: &LayerSpec,
    radial: bool,
) -> Option<Tensor> {
    let taps = usize::try_from(taps).expect("positive taps");
    design_lowpass_filter(
        taps,
        cutoff,
        2.0 * half_width,
        spec.tmp_sampling_rate as f64,
        radial,
    )
    .map(|filter| filter.to_tensor())
}

/// filtered_lrelu, reference against fused, in CPU seconds on the first layer of each class
/// (factors, taps, radial filter) of a 256² StyleGAN3-T and -R (`shrink` divides batch and size).
fn filtered_lrelu_table(reps: usize, shrink: i64) {
    let t = Stylegan3Config::new(512, 0, 512, 256, 3);
    let r = Stylegan3Config {
        channel_base: 65536,
        channel_max: 1024,
        conv_kernel: 1,
        use_radial_filters: true,
        ..t.clone()
    };
    println!(
        "| net | layer | up/down | taps up/down | x | reference fwd s | fused fwd s | reference fwd+bwd s | fused fwd+bwd s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (net, config) in [("T", &t), ("R", &r)] {
        let mut seen = Vec::new();
        for spec in config.schedule().1 {
            let class = (
                spec.up,
                spec.down,
                spec.up_taps,
                spec.down_taps,
                spec.down_radial,
            );
            if seen.contains(&class) {
                continue;
            }
            seen.push(class);
            let fu = layer_filter(
                spec.up_taps,
                spec.in_cutoff,
                spec.in_half_width,
                &spec,
                false,
            );
            let fd = layer_filter(
                spec.down_taps,
                spec.out_cutoff,
                spec.out_half_width,
                &spec,
                spec.down_radial,
            );
            let (gain, slope) = if spec.is_torgb {
                (1.0, 1.0)
            } else {
                (std::f64::consts::SQRT_2, 0.2)
            };
            let options = FilteredLrelu {
                up: spec.up,
                down: spec.down,
                padding: spec.padding,
                gain,
                slope,
                clamp: Some(256.0),
                flip_filter: false,
            };
            let size = spec.in_size + spec.conv_kernel - 1;
            let shape = [4 / shrink, spec.out_channels / shrink, size, size];
            let x = Tensor::randn(shape, (Kind::Float, Device::Cpu));
            let b = Tensor::randn([shape[1]], (Kind::Float, Device::Cpu)).set_requires_grad(true);
            let (fu, fd) = (fu.as_ref(), fd.as_ref());
            let reference: Op<'_> =
                Box::new(|x| filtered_lrelu_reference(x, fu, fd, Some(&b), &options));
            let fused: Op<'_> = Box::new(|x| {
                filtered_lrelu_fused(x, fu, fd, Some(&b), &options).expect("fused filtered_lrelu")
            });
            let (ref_fwd, ref_both) = cpu_seconds(&reference, &x, &b, reps);
            let (fused_fwd, fused_both) = cpu_seconds(&fused, &x, &b, reps);
            let radial = if spec.down_radial { " radial" } else { "" };
            println!(
                "| {net} | {} | {}/{} | {}/{}{radial} | {shape:?} | {ref_fwd:.2} | {fused_fwd:.2} | {ref_both:.2} | {fused_both:.2} |",
                spec.name, spec.up, spec.down, spec.up_taps, spec.down_taps
            );
        }
    }
}

/// bias_act and upfirdn2d, reference against fused, in wall milliseconds (`shrink` divides batch
/// and size).
fn bias_act_and_upfirdn2d_table(reps: usize, shrink: i64) {
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

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    // `cargo bench --bench ops -- filtered_lrelu`: that table alone.
    if !std::env::args().any(|a| a == "filtered_lrelu") {
        let (reps, shrink) = if benchmarking { (15, 1) } else { (1, 4) };
        bias_act_and_upfirdn2d_table(reps, shrink);
    }
    let (reps, shrink) = if benchmarking { (3, 1) } else { (1, 4) };
    filtered_lrelu_table(reps, shrink);
}
