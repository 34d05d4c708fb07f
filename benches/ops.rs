//! Micro-benchmarks of the ops the networks spend their time in, forward and forward + backward,
//! on CPU tensors of training-like sizes: kimg's reference ops against the polyphase resampling
//! (what the CPU trains with) and the fused kernels' CPU launcher (the per-element code the CUDA
//! build runs); then `filtered_lrelu`, reference against polyphase and the fused CPU launcher, for
//! layers of a 256² StyleGAN3-T and -R generator (batch 4, their filters, sizes and paddings).
//!
//! `cargo bench --bench ops` (or `make bench`) prints Markdown tables for BENCHMARKS.md. Times
//! are the calling thread's CPU time (run with `OMP_NUM_THREADS=1` to count all of an op's work).
//! Under `cargo test` (no `--bench` argument) every case runs once on smaller tensors, as a smoke
//! test.

use std::time::Instant;

use kimg::nets::stylegan3::Stylegan3Config;
use kimg::ops::bias_act::{Activation, BiasAct, bias_act_fused, bias_act_reference};
use kimg::ops::filtered_lrelu::{FilteredLrelu, filtered_lrelu};
use kimg::ops::filters::design_lowpass_filter;
use kimg::ops::implementation::{Impl, with_impl};
use kimg::ops::upfirdn2d::{
    Factor, Padding, Resampling, upfirdn2d_fused, upfirdn2d_polyphase, upfirdn2d_reference,
};
use tch::{Device, Kind, Tensor};

/// An op under test: input → output.
type Op<'a> = Box<dyn Fn(&Tensor) -> Tensor + 'a>;

/// A row of the op table: name, input shape, the reference op, its polyphase form (resampling
/// only) and the fused op.
type Case<'a> = (&'a str, [i64; 4], Op<'a>, Option<Op<'a>>, Op<'a>);

/// CPU seconds this thread has run (`/proc/thread-self/schedstat`), or the wall clock's seconds
/// since the first call where that file cannot be read.
fn thread_seconds() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(|| start.elapsed().as_secs_f64(), |ns| ns * 1e-9)
}

/// Median CPU seconds of `reps` runs of `work`, after one warm-up run.
fn median_seconds(reps: usize, mut work: impl FnMut()) -> f64 {
    work();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = thread_seconds();
            work();
            thread_seconds() - start
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
    op_table(reps, shrink);
    stylegan3_table(if benchmarking { 3 } else { 1 }, shrink);
}

/// The table of single ops: reference, polyphase (resampling only) and fused.
fn op_table(reps: usize, shrink: i64) {
    let lrelu = BiasAct::new(Activation::Lrelu);
    let bias = Tensor::randn([128], (Kind::Float, Device::Cpu));
    let taps4 = Tensor::from_slice(&[1.0f32, 3.0, 3.0, 1.0]) / 8.0;
    let taps12 = Tensor::rand([12], (Kind::Float, Device::Cpu)) / 6.0;
    let (one, two) = (Factor::from(1), Factor::from(2));
    let mut cases: Vec<Case<'_>> = vec![(
        "bias_act lrelu",
        [16, 128, 64, 64],
        Box::new(|x| bias_act_reference(x, Some(&bias), &lrelu)),
        None,
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
            Some(Box::new(move |x| {
                upfirdn2d_polyphase(x, Some(f), resampling)
            })),
            Box::new(move |x| upfirdn2d_fused(x, Some(f), resampling).expect("fused upfirdn2d")),
        ));
    }
    println!(
        "| op | input | fwd ms: reference | polyphase | fused | fwd+bwd ms: reference | polyphase \
         | fused |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, shape, reference, polyphase, fused) in &cases {
        let shape = [
            shape[0] / shrink,
            shape[1],
            shape[2] / shrink,
            shape[3] / shrink,
        ];
        let x = Tensor::randn(shape, (Kind::Float, Device::Cpu));
        let (ref_fwd, ref_both) = time(reference, &x, reps);
        let (poly_fwd, poly_both) = polyphase.as_ref().map_or_else(
            || ("–".to_string(), "–".to_string()),
            |op| {
                let (fwd, both) = time(op, &x, reps);
                (format!("{fwd:.1}"), format!("{both:.1}"))
            },
        );
        let (fused_fwd, fused_both) = time(fused, &x, reps);
        println!(
            "| {name} | {shape:?} | {ref_fwd:.1} | {poly_fwd} | {fused_fwd:.1} | {ref_both:.1} \
             | {poly_both} | {fused_both:.1} |"
        );
    }
}

/// The table of `filtered_lrelu` for layers of a 256² StyleGAN3-T and -R generator at batch 4
/// (the official configs' `cbase`/`cmax`; R: 1×1 convolutions and radial down filters),
/// reference against polyphase.
#[expect(clippy::cast_precision_loss, reason = "small sampling rates")]
fn stylegan3_table(reps: usize, shrink: i64) {
    let t = Stylegan3Config {
        channel_base: 32768,
        channel_max: 512,
        ..Stylegan3Config::new(512, 0, 512, 256, 3)
    };
    let r = Stylegan3Config {
        channel_base: 65536,
        channel_max: 1024,
        conv_kernel: 1,
        use_radial_filters: true,
        ..t.clone()
    };
    println!();
    println!(
        "| layer | input | up, down, taps | fwd ms: reference | polyphase | fused | ratio \
         | fwd+bwd ms: reference | polyphase | fused | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (cfg, config, layers) in [("T", &t, [2, 7, 10, 13]), ("R", &r, [2, 7, 10, 13])] {
        let (_, specs) = config.schedule();
        for index in layers {
            let spec = &specs[index];
            let design = |taps: i64, cutoff: f64, half_width: f64, radial: bool| {
                design_lowpass_filter(
                    usize::try_from(taps).expect("positive"),
                    cutoff,
                    2.0 * half_width,
                    spec.tmp_sampling_rate as f64,
                    radial,
                )
                .map(|f| f.to_tensor())
            };
            let fu = design(spec.up_taps, spec.in_cutoff, spec.in_half_width, false);
            let fd = design(
                spec.down_taps,
                spec.out_cutoff,
                spec.out_half_width,
                spec.down_radial,
            );
            let options = FilteredLrelu {
                up: spec.up,
                down: spec.down,
                padding: spec.padding,
                clamp: Some(256.0),
                ..FilteredLrelu::default()
            };
            let size = spec.in_size + spec.conv_kernel - 1;
            let shape = [4 / shrink.min(4), spec.out_channels / shrink, size, size];
            let x = Tensor::randn(shape, (Kind::Float, Device::Cpu));
            let bias = Tensor::randn([shape[1]], (Kind::Float, Device::Cpu));
            let with = |implementation: Impl| -> Op<'_> {
                let (fu, fd, bias) = (fu.as_ref(), fd.as_ref(), &bias);
                Box::new(move |x: &Tensor| {
                    with_impl(implementation, || {
                        filtered_lrelu(x, fu, fd, Some(bias), &options)
                    })
                })
            };
            let (ref_fwd, ref_both) = time(&with(Impl::Reference), &x, reps);
            let (poly_fwd, poly_both) = time(&with(Impl::Polyphase), &x, reps);
            let (fused_fwd, fused_both) = time(&with(Impl::Fused), &x, reps);
            let radial = if spec.down_radial { " radial" } else { "" };
            println!(
                "| {cfg} {} | {shape:?} | {}, {}, {}/{}{radial} | {ref_fwd:.1} | {poly_fwd:.1} \
                 | {fused_fwd:.1} | {:.2}× | {ref_both:.1} | {poly_both:.1} | {fused_both:.1} \
                 | {:.2}× |",
                spec.name,
                spec.up,
                spec.down,
                spec.up_taps,
                spec.down_taps,
                ref_fwd / poly_fwd,
                ref_both / poly_both,
            );
        }
    }
}
