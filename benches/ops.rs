//! Micro-benchmarks of the ops the networks spend their time in, forward and forward + backward,
//! on CPU tensors of training-like sizes: kimg's reference ops against the polyphase resampling
//! (what the CPU trains with) and the fused kernels' CPU launcher (the per-element code the CUDA
//! build runs); then `filtered_lrelu`, reference against polyphase and the fused CPU launcher, for
//! layers of a 256² StyleGAN3-T and -R generator (batch 4, their filters, sizes and paddings):
//! CPU time and peak memory.
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
    let both = median_seconds(reps, || forward_backward(op, x));
    (forward * 1e3, both * 1e3)
}

/// `op` on `x` and the gradient of its sum with respect to `x`.
fn forward_backward(op: &Op<'_>, x: &Tensor) {
    let x = x.detach().set_requires_grad(true);
    let y = op(&x);
    let _ = Tensor::run_backward(&[&y.sum(Kind::Float)], &[&x], false, false);
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

/// One `filtered_lrelu` layer of the StyleGAN3 table: its filters, options and input.
struct Layer {
    label: String,
    shape: [i64; 4],
    up_filter: Option<Tensor>,
    down_filter: Option<Tensor>,
    bias: Tensor,
    options: FilteredLrelu,
}

impl Layer {
    /// The layer through `implementation`.
    fn op(&self, implementation: Impl) -> Op<'_> {
        Box::new(move |x: &Tensor| {
            with_impl(implementation, || {
                filtered_lrelu(
                    x,
                    self.up_filter.as_ref(),
                    self.down_filter.as_ref(),
                    Some(&self.bias),
                    &self.options,
                )
            })
        })
    }

    fn input(&self) -> Tensor {
        Tensor::randn(self.shape, (Kind::Float, Device::Cpu))
    }
}

/// The paths of the StyleGAN3 table, in its column order.
const PATHS: [Impl; 3] = [Impl::Reference, Impl::Polyphase, Impl::Fused];

/// Layers 2, 7, 10 and 13 of a 256² StyleGAN3-T and -R generator at batch 4 (the official configs'
/// `cbase`/`cmax`; R: 1×1 convolutions and radial down filters), with the filters the networks
/// design for them; channels and batch divided by `shrink`.
#[expect(clippy::cast_precision_loss, reason = "small sampling rates")]
fn stylegan3_layers(shrink: i64) -> Vec<Layer> {
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
    let mut layers = Vec::new();
    for (cfg, config) in [("T", &t), ("R", &r)] {
        let (_, specs) = config.schedule();
        for index in [2, 7, 10, 13] {
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
            let size = spec.in_size + spec.conv_kernel - 1;
            let shape = [4 / shrink.min(4), spec.out_channels / shrink, size, size];
            let radial = if spec.down_radial { " radial" } else { "" };
            layers.push(Layer {
                label: format!(
                    "{cfg} {} | {shape:?} | {}, {}, {}/{}{radial}",
                    spec.name, spec.up, spec.down, spec.up_taps, spec.down_taps
                ),
                shape,
                up_filter: design(spec.up_taps, spec.in_cutoff, spec.in_half_width, false),
                down_filter: design(
                    spec.down_taps,
                    spec.out_cutoff,
                    spec.out_half_width,
                    spec.down_radial,
                ),
                bias: Tensor::randn([shape[1]], (Kind::Float, Device::Cpu)),
                options: FilteredLrelu {
                    up: spec.up,
                    down: spec.down,
                    padding: spec.padding,
                    clamp: Some(256.0),
                    ..FilteredLrelu::default()
                },
            });
        }
    }
    layers
}

/// The table of `filtered_lrelu` for the layers of [`stylegan3_layers`]: reference against
/// polyphase and the fused CPU launcher, CPU milliseconds and peak memory.
///
/// Times come first for every layer; then each path's forward and forward + backward run once
/// more for [`peak_mib`], whose change to glibc's allocation policy would otherwise reach the timed
/// runs.
fn stylegan3_table(reps: usize, shrink: i64) {
    let layers = stylegan3_layers(shrink);
    let times: Vec<[(f64, f64); 3]> = layers
        .iter()
        .map(|layer| {
            let x = layer.input();
            PATHS.map(|p| time(&layer.op(p), &x, reps))
        })
        .collect();
    println!();
    println!(
        "| layer | input | up, down, taps | fwd ms: reference | polyphase | fused | ratio \
         | fwd+bwd ms: reference | polyphase | fused | ratio | peak MiB fwd / fwd+bwd: \
         reference | polyphase | fused |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (layer, times) in layers.iter().zip(&times) {
        let [
            (ref_fwd, ref_both),
            (poly_fwd, poly_both),
            (fused_fwd, fused_both),
        ] = *times;
        let x = layer.input();
        let peak = |work: &dyn Fn()| {
            peak_mib(work).map_or_else(|| "–".to_string(), |mib| format!("{mib:.0}"))
        };
        let peaks: Vec<String> = PATHS
            .iter()
            .map(|&p| {
                let op = layer.op(p);
                let forward = peak(&|| {
                    let _ = tch::no_grad(|| op(&x));
                });
                format!("{forward} / {}", peak(&|| forward_backward(&op, &x)))
            })
            .collect();
        println!(
            "| {} | {ref_fwd:.1} | {poly_fwd:.1} | {fused_fwd:.1} | {:.2}× | {ref_both:.1} \
             | {poly_both:.1} | {fused_both:.1} | {:.2}× | {} |",
            layer.label,
            ref_fwd / poly_fwd,
            ref_both / poly_both,
            peaks.join(" | "),
        );
    }
}

/// Return every free byte of glibc's heap to the kernel, and from now on have glibc map each
/// allocation of 64 KiB or more on its own, so that a tensor freed later leaves the resident set
/// at once instead of staying in the heap for the next one.
#[expect(
    unsafe_code,
    reason = "`mallopt` and `malloc_trim` are memory-safe; libc declares every foreign function unsafe"
)]
fn return_free_memory() {
    // SAFETY: both change nothing but glibc's allocation policy and free lists, under its locks.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
        libc::malloc_trim(0);
    }
}

/// How far the resident set grew above its size at the start while `work` ran, in MiB: the
/// kernel's high-water mark (`VmHWM`, reset through `/proc/self/clear_refs`) against `VmRSS`,
/// with glibc's free memory returned first ([`return_free_memory`]) so that what `work` allocates
/// counts even where an earlier run freed it. `None` where `/proc` does not offer that (not
/// Linux).
#[expect(clippy::cast_precision_loss, reason = "memory sizes far below 2^52")]
fn peak_mib(work: &dyn Fn()) -> Option<f64> {
    return_free_memory();
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status_kib("VmRSS")?;
    work();
    let peak = status_kib("VmHWM")?;
    Some(peak.saturating_sub(before) as f64 / 1024.0)
}

/// A `… kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .strip_suffix(" kB")?
                .parse()
                .ok()
        })
}
