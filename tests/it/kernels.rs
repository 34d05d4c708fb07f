//! The fused ops of `kernels/` (their CPU launcher, which shares its per-element code with the
//! CUDA launcher; the CUDA one too on a GPU with `--features cuda`) against kimg's reference ops:
//! values, first gradients, and the gradient of a gradient as R1 forms it (for filtered_lrelu,
//! which has none, that asking for one fails).

use kimg::ops::bias_act::{Activation, BiasAct, bias_act_fused, bias_act_reference};
use kimg::ops::filtered_lrelu::{FilteredLrelu, filtered_lrelu_fused, filtered_lrelu_reference};
use kimg::ops::filters::design_lowpass_filter;
use kimg::ops::fused;
use kimg::ops::upfirdn2d::{Factor, Padding, Resampling, upfirdn2d_fused, upfirdn2d_reference};
use tch::{Device, Kind, Tensor};

use crate::common::{assert_close, leaf, rng_lock};
use crate::ops::check_filtered_lrelu_fixture;

/// An R1-like use of `op` (a `bias_act`): `out = Σ c · op(w · z, b)` and its gradient
/// `∂out/∂z` with a graph. Returns `out`, that gradient, and the leaves `[w, b, c]`.
fn r1_graph(
    op: &dyn Fn(&Tensor, &Tensor) -> Tensor,
    inputs: &[Tensor; 4],
) -> (Tensor, Tensor, [Tensor; 3]) {
    let [z, w, b, c] = inputs.each_ref().map(leaf);
    let y = op(&(&w * &z), &b);
    let out = (&y * &c).sum(y.kind());
    let dz = Tensor::run_backward(&[&out], &[&z], true, true).remove(0);
    (out, dz, [w, b, c])
}

/// Gradients of `of` with respect to `params` (undefined for a parameter it does not reach).
fn gradients(of: &Tensor, params: &[Tensor; 3]) -> Vec<Tensor> {
    Tensor::run_backward(&[of], &params.iter().collect::<Vec<_>>(), true, false)
}

/// The devices to check: the CPU, and the first GPU when there is one and the CUDA launchers are
/// compiled in (`cargo test --features cuda` on a GPU machine).
fn devices() -> Vec<Device> {
    let mut devices = vec![Device::Cpu];
    if tch::Cuda::is_available() && fused::cuda_launchers() {
        devices.push(Device::Cuda(0));
    } else {
        println!("SKIPPED on CUDA: no GPU, or built without the `cuda` feature");
    }
    devices
}

#[test]
fn fused_bias_act_matches_the_reference_ops() {
    let _rng = rng_lock();
    tch::manual_seed(7);
    let mut worst = 0f64;
    // Float16 only where the reference uses it (CUDA); the fused op computes it in float32.
    let kinds = |d: Device| match d {
        Device::Cpu => vec![(d, Kind::Float), (d, Kind::Double)],
        _ => vec![(d, Kind::Float), (d, Kind::Double), (d, Kind::Half)],
    };
    for (device, kind) in devices().into_iter().flat_map(kinds) {
        let tolerance = if kind == Kind::Half { 4e-3 } else { 1e-6 };
        for act in [Activation::Linear, Activation::Relu, Activation::Lrelu] {
            for clamp in [None, Some(0.8)] {
                for dim in [1i64, 2] {
                    let shape = [3i64, 5, 6, 4];
                    let options = BiasAct {
                        clamp,
                        dim,
                        ..BiasAct::new(act)
                    };
                    let size = shape[usize::try_from(dim).unwrap()];
                    let randn = |shape: &[i64]| Tensor::randn(shape, (kind, device));
                    let inputs = [randn(&shape), randn(&shape), randn(&[size]), randn(&shape)];
                    let what = format!("{device:?} {kind:?} {act:?} clamp {clamp:?} dim {dim}");
                    let reference =
                        |x: &Tensor, b: &Tensor| bias_act_reference(x, Some(b), &options);
                    let fused =
                        |x: &Tensor, b: &Tensor| bias_act_fused(x, Some(b), &options).unwrap();
                    let (out_ref, dz_ref, params_ref) = r1_graph(&reference, &inputs);
                    let (out_fused, dz_fused, params_fused) = r1_graph(&fused, &inputs);
                    let mut check = |name: &str, got: &Tensor, want: &Tensor| {
                        worst = worst.max(assert_close(
                            &format!("{what}: {name}"),
                            got,
                            want,
                            tolerance,
                        ));
                    };
                    check("out", &out_fused, &out_ref);
                    check("dout/dz", &dz_fused, &dz_ref);
                    let first_ref = gradients(&out_ref, &params_ref);
                    let first_fused = gradients(&out_fused, &params_fused);
                    for (name, (got, want)) in ["w", "b", "c"]
                        .iter()
                        .zip(first_fused.iter().zip(&first_ref))
                    {
                        check(&format!("dout/d{name}"), got, want);
                    }
                    // R1's penalty: w and c get their gradient through the gradient's graph; b
                    // gets none from the fused op (as from the official CUDA path), none or zeros
                    // from the reference ops.
                    let penalty_ref = dz_ref.square().sum(kind);
                    let penalty_fused = dz_fused.square().sum(kind);
                    let second_ref = gradients(&penalty_ref, &params_ref);
                    let second_fused = gradients(&penalty_fused, &params_fused);
                    check("dR1/dw", &second_fused[0], &second_ref[0]);
                    check("dR1/dc", &second_fused[2], &second_ref[2]);
                    for (who, db) in [("reference", &second_ref[1]), ("fused", &second_fused[1])] {
                        assert!(
                            !db.defined() || db.abs().max().double_value(&[]) == 0.0,
                            "{what}: the {who} op gave b a second derivative"
                        );
                    }
                }
            }
        }
    }
    eprintln!("fused bias_act vs reference ops: worst relative difference {worst:.2e}");
}

#[test]
fn fused_bias_act_refuses_what_it_cannot_compute() {
    let x = Tensor::ones([2, 3], (Kind::Float, Device::Cpu));
    let tanh = BiasAct::new(Activation::Tanh);
    assert!(tanh.kernel_args().is_none());
    assert!(
        bias_act_fused(&x, None, &tanh)
            .unwrap_err()
            .to_string()
            .contains("Tanh")
    );
    let wrong_bias = Tensor::ones([4], (Kind::Float, Device::Cpu));
    let error = bias_act_fused(&x, Some(&wrong_bias), &BiasAct::new(Activation::Lrelu))
        .unwrap_err()
        .to_string();
    assert!(error.contains("x.size(dim) = 3"), "{error}");
    let half = x.to_kind(Kind::Half);
    assert!(bias_act_fused(&half, None, &BiasAct::new(Activation::Linear)).is_err());
    // Without a bias the op is the activation, gain and clamp alone.
    let y = bias_act_fused(&(x.neg()), None, &BiasAct::new(Activation::Lrelu)).unwrap();
    let expected = -0.2 * std::f64::consts::SQRT_2;
    assert!((y.double_value(&[1, 2]) - expected).abs() < 1e-6);
}

/// One upfirdn2d configuration: factors `(x, y)`, padding `[x0, x1, y0, y1]`, filter, flip, gain.
struct UpfirdnCase {
    up: (i64, i64),
    down: (i64, i64),
    padding: [i64; 4],
    filter: Option<Tensor>,
    flip_filter: bool,
    gain: f64,
}

#[test]
fn fused_upfirdn2d_matches_the_reference_ops() {
    let _rng = rng_lock();
    tch::manual_seed(11);
    let taps = |n: i64| Tensor::rand([n], (Kind::Float, Device::Cpu)) + 0.1;
    let cases = [
        // filter2d: 1-D filter, same size.
        UpfirdnCase {
            up: (1, 1),
            down: (1, 1),
            padding: [2, 1, 2, 1],
            filter: Some(taps(4)),
            flip_filter: false,
            gain: 1.0,
        },
        // upsample2d ×2 with a 4-tap filter.
        UpfirdnCase {
            up: (2, 2),
            down: (1, 1),
            padding: [2, 1, 2, 1],
            filter: Some(taps(4)),
            flip_filter: false,
            gain: 4.0,
        },
        // downsample2d ÷2 with a 2-D filter.
        UpfirdnCase {
            up: (1, 1),
            down: (2, 2),
            padding: [1, 2, 0, 3],
            filter: Some(Tensor::randn([3, 4], (Kind::Float, Device::Cpu))),
            flip_filter: false,
            gain: 1.0,
        },
        // Both, with cropping (negative padding), a flipped filter and a gain.
        UpfirdnCase {
            up: (2, 2),
            down: (2, 2),
            padding: [-1, 3, 2, -2],
            filter: Some(taps(5)),
            flip_filter: true,
            gain: 2.5,
        },
        // Anisotropic factors.
        UpfirdnCase {
            up: (2, 1),
            down: (1, 3),
            padding: [1, 1, 2, 0],
            filter: Some(Tensor::randn([4, 3], (Kind::Float, Device::Cpu))),
            flip_filter: false,
            gain: 1.0,
        },
        // No filter: plain zero insertion and padding.
        UpfirdnCase {
            up: (2, 2),
            down: (1, 1),
            padding: [0, 1, 1, 0],
            filter: None,
            flip_filter: false,
            gain: 1.0,
        },
        // StyleGAN3-like: ×4 with a long filter.
        UpfirdnCase {
            up: (4, 4),
            down: (1, 1),
            padding: [7, 6, 7, 6],
            filter: Some(taps(12)),
            flip_filter: false,
            gain: 16.0,
        },
    ];
    let mut worst = 0f64;
    for device in devices() {
        for kind in [Kind::Float, Kind::Double] {
            for (i, case) in cases.iter().enumerate() {
                let op = |fused: bool| {
                    let filter = case
                        .filter
                        .as_ref()
                        .map(|f| f.to_kind(kind).to_device(device));
                    move |x: &Tensor| {
                        let (up, down) = (
                            Factor {
                                x: case.up.0,
                                y: case.up.1,
                            },
                            Factor {
                                x: case.down.0,
                                y: case.down.1,
                            },
                        );
                        let [x0, x1, y0, y1] = case.padding;
                        let resampling = Resampling {
                            up,
                            down,
                            padding: Padding::new(x0, x1, y0, y1),
                            flip_filter: case.flip_filter,
                            gain: case.gain,
                        };
                        let f = filter.as_ref();
                        if fused {
                            upfirdn2d_fused(x, f, resampling).unwrap()
                        } else {
                            upfirdn2d_reference(x, f, resampling)
                        }
                    }
                };
                let (reference, fused) = (op(false), op(true));
                let shape = [2i64, 3, 7, 6];
                let x = Tensor::randn(shape, (kind, device));
                let w = Tensor::randn(shape, (kind, device));
                let y_ref = reference(&x);
                let c = Tensor::randn(y_ref.size(), (kind, device));
                let what = format!("{device:?} {kind:?} case {i}");
                // out = Σ c · op(w · x); its gradient in x with a graph; then that gradient's
                // squared norm differentiated in w and c (the op's adjoint of the adjoint).
                let run = |op: &dyn Fn(&Tensor) -> Tensor| {
                    let (x, w, c) = (leaf(&x), leaf(&w), leaf(&c));
                    let y = op(&(&w * &x));
                    let out = (&y * &c).sum(kind);
                    let dx = Tensor::run_backward(&[&out], &[&x], true, true).remove(0);
                    let penalty = dx.square().sum(kind);
                    let second = Tensor::run_backward(&[&penalty], &[&w, &c], false, false);
                    (y.detach(), dx.detach(), second)
                };
                let (y_a, dx_a, second_a) = run(&fused);
                let (y_b, dx_b, second_b) = run(&reference);
                let mut check = |name: &str, got: &Tensor, want: &Tensor| {
                    worst = worst.max(assert_close(&format!("{what}: {name}"), got, want, 1e-5));
                };
                check("y", &y_a, &y_b);
                check("dout/dx", &dx_a, &dx_b);
                check("d|dx|²/dw", &second_a[0], &second_b[0]);
                check("d|dx|²/dc", &second_a[1], &second_b[1]);
            }
        }
    }
    eprintln!("fused upfirdn2d vs reference ops: worst relative difference {worst:.2e}");
}

/// The fused filtered_lrelu with the reference op's signature, for the fixture check.
fn filtered_lrelu_fused_op(
    x: &Tensor,
    fu: Option<&Tensor>,
    fd: Option<&Tensor>,
    b: Option<&Tensor>,
    options: &FilteredLrelu,
) -> Tensor {
    filtered_lrelu_fused(x, fu, fd, b, options).unwrap()
}

#[test]
fn fused_filtered_lrelu_matches_the_fixture() {
    let worst = check_filtered_lrelu_fixture(&filtered_lrelu_fused_op);
    eprintln!("fused filtered_lrelu vs ops_filtered_lrelu: worst relative error {worst:.2e}");
}

/// A filter of a random filtered_lrelu case.
#[derive(Debug, Clone, Copy)]
enum TestFilter {
    None,
    /// Separable, `n` random positive taps.
    Taps(i64),
    /// 2-D, `h × w` random taps.
    Dense(i64, i64),
    /// StyleGAN3-R's radial low-pass filter of `n × n` taps (`n` even, as StyleGAN3-R's are: the
    /// design divides by the radius).
    Radial(usize),
}

impl TestFilter {
    fn tensor(self) -> Option<Tensor> {
        let cpu = (Kind::Float, Device::Cpu);
        match self {
            TestFilter::None => None,
            TestFilter::Taps(n) => Some(Tensor::rand([n], cpu) + 0.1),
            TestFilter::Dense(h, w) => Some(Tensor::randn([h, w], cpu)),
            TestFilter::Radial(n) => Some(
                design_lowpass_filter(n, 16.0, 9.0, 64.0, true)
                    .unwrap()
                    .to_tensor(),
            ),
        }
    }
}

/// How a case's input is laid out in memory.
#[derive(Debug, Clone, Copy)]
enum Layout {
    Contiguous,
    /// A transposed view of a `[N, C, W, H]` tensor.
    Transposed,
    /// Every other channel and a column window of a larger tensor.
    Sliced,
}

/// One random filtered_lrelu case: input shape, filters, options, layout.
struct FlreluCase {
    shape: [i64; 4],
    fu: TestFilter,
    fd: TestFilter,
    options: FilteredLrelu,
    layout: Layout,
}

/// The cases: StyleGAN3-T's and -R's layers, odd sizes, up and down 1, 2 and 4, every kind of
/// filter, positive and negative padding, clamp on and off, flipped filters, non-contiguous input.
fn flrelu_cases() -> Vec<FlreluCase> {
    use Layout::{Contiguous, Sliced, Transposed};
    use TestFilter::{Dense, Radial, Taps};
    // (shape, (up, down), padding, (fu, fd), clamp, flip_filter, (slope, gain), layout)
    let case = |shape,
                (up, down),
                padding: [i64; 4],
                (fu, fd),
                clamp,
                flip_filter,
                (slope, gain),
                layout| {
        let [x0, x1, y0, y1] = padding;
        FlreluCase {
            shape,
            fu,
            fd,
            layout,
            options: FilteredLrelu {
                up,
                down,
                padding: Padding::new(x0, x1, y0, y1),
                gain,
                slope,
                clamp,
                flip_filter,
            },
        }
    };
    let sg3 = (0.2, std::f64::consts::SQRT_2);
    vec![
        // StyleGAN3-T: ×2 / ÷2 with 12-tap separable filters, the clamp biting.
        case(
            [2, 3, 11, 9],
            (2, 2),
            [9, 8, 9, 8],
            (Taps(12), Taps(12)),
            Some(0.5),
            false,
            sg3,
            Contiguous,
        ),
        // StyleGAN3-R: a radial 2-D down filter; ×4 and cropping; transposed input.
        case(
            [1, 4, 13, 10],
            (4, 2),
            [-2, -3, -1, 4],
            (Taps(8), Radial(6)),
            None,
            true,
            sg3,
            Transposed,
        ),
        // ÷4 without an up filter, odd sizes, sliced input.
        case(
            [2, 2, 15, 17],
            (1, 4),
            [3, 2, 1, 4],
            (TestFilter::None, Taps(7)),
            Some(1.0),
            false,
            sg3,
            Sliced,
        ),
        // A dense 2-D up filter, no down filter, flipped, another slope and gain.
        case(
            [1, 3, 7, 8],
            (2, 1),
            [1, 2, 0, 1],
            (Dense(3, 5), TestFilter::None),
            None,
            true,
            (0.3, 1.5),
            Contiguous,
        ),
        // ToRGB: no filters, slope 1, gain 1, only the clamp.
        case(
            [2, 3, 5, 6],
            (1, 1),
            [0, 0, 0, 0],
            (TestFilter::None, TestFilter::None),
            Some(0.7),
            false,
            (1.0, 1.0),
            Transposed,
        ),
        // ×4 / ÷4, a radial down filter, mixed padding signs.
        case(
            [1, 2, 9, 11],
            (4, 4),
            [5, -2, -3, 6],
            (Taps(16), Radial(8)),
            Some(2.0),
            false,
            sg3,
            Sliced,
        ),
        // Dense filters both ways, ÷2, flipped.
        case(
            [2, 2, 10, 7],
            (1, 2),
            [2, 2, 3, 1],
            (Dense(4, 2), Dense(3, 3)),
            None,
            true,
            sg3,
            Contiguous,
        ),
    ]
}

/// `x` of `shape` with `layout`, from the default generator.
fn input_with_layout(shape: [i64; 4], layout: Layout, kind: Kind, device: Device) -> Tensor {
    let [n, c, h, w] = shape;
    let x = match layout {
        Layout::Contiguous => Tensor::randn(shape, (kind, device)),
        Layout::Transposed => Tensor::randn([n, c, w, h], (kind, device)).transpose(2, 3),
        Layout::Sliced => Tensor::randn([n, 2 * c, h, w + 3], (kind, device))
            .slice(1, 0, None, 2)
            .narrow(3, 1, w),
    };
    assert_eq!(x.size(), shape);
    assert!(matches!(layout, Layout::Contiguous) || !x.is_contiguous());
    x
}

#[test]
fn fused_filtered_lrelu_matches_the_reference_composition() {
    let _rng = rng_lock();
    tch::manual_seed(23);
    let mut worst = [0f64; 2];
    for device in devices() {
        for (k, kind) in [Kind::Float, Kind::Double].into_iter().enumerate() {
            let tolerance = if kind == Kind::Float { 1e-5 } else { 1e-12 };
            for (i, case) in flrelu_cases().iter().enumerate() {
                let to = |f: Option<Tensor>| f.map(|f| f.to_kind(kind).to_device(device));
                let (fu, fd) = (to(case.fu.tensor()), to(case.fd.tensor()));
                let x = input_with_layout(case.shape, case.layout, kind, device);
                let b = Tensor::randn([case.shape[1]], (kind, device));
                let run = |fused: bool| {
                    let (x, b) = (x.detach().set_requires_grad(true), leaf(&b));
                    let (fu, fd) = (fu.as_ref(), fd.as_ref());
                    let y = if fused {
                        filtered_lrelu_fused(&x, fu, fd, Some(&b), &case.options).unwrap()
                    } else {
                        filtered_lrelu_reference(&x, fu, fd, Some(&b), &case.options)
                    };
                    // A fixed cotangent: the same for both runs.
                    let c = Tensor::linspace(-1.0, 1.5, y.numel() as i64, (kind, device))
                        .reshape(y.size());
                    let g = Tensor::run_backward(&[(&y * &c).sum(kind)], &[&x, &b], false, false);
                    (y.detach(), g)
                };
                let (y_fused, g_fused) = run(true);
                let (y_ref, g_ref) = run(false);
                let what = format!(
                    "{device:?} {kind:?} case {i} ({:?} → {:?}, {:?})",
                    case.fu, case.fd, case.layout
                );
                for (name, got, want) in [
                    ("y", &y_fused, &y_ref),
                    ("dx", &g_fused[0], &g_ref[0]),
                    ("db", &g_fused[1], &g_ref[1]),
                ] {
                    worst[k] = worst[k].max(assert_close(
                        &format!("{what}: {name}"),
                        got,
                        want,
                        tolerance,
                    ));
                }
            }
        }
    }
    eprintln!(
        "fused filtered_lrelu vs reference ops: worst relative difference {:.2e} (float32), {:.2e} (float64)",
        worst[0], worst[1]
    );
}

#[test]
fn fused_filtered_lrelu_refuses_a_double_backward() {
    let cpu = (Kind::Float, Device::Cpu);
    let x = Tensor::randn([1, 2, 6, 5], cpu).set_requires_grad(true);
    let taps = Tensor::from_slice(&[1.0f32, 3.0, 3.0, 1.0]) / 8.0;
    let options = FilteredLrelu {
        up: 2,
        down: 2,
        padding: Padding::new(2, 1, 2, 1),
        ..FilteredLrelu::default()
    };
    let y = filtered_lrelu_fused(&x, Some(&taps), Some(&taps), None, &options).unwrap();
    let c = y.randn_like().set_requires_grad(true);
    let out = (&y * &c).sum(Kind::Float);
    // The first derivative with a graph works (R1 forms one the same way) …
    let dx = Tensor::run_backward(&[&out], &[&x], true, true).remove(0);
    assert!(dx.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    // … but differentiating it again is refused, loudly.
    let penalty = dx.square().sum(Kind::Float);
    let error = Tensor::f_run_backward(&[&penalty], &[&c], false, false)
        .expect_err("a double backward through the fused filtered_lrelu must fail")
        .to_string();
    assert!(error.contains("double backward"), "{error}");
}
