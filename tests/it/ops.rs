//! The ops and layers against the reference fixtures `ops_bias_act`, `ops_upfirdn2d`,
//! `ops_conv2d_resample`, `ops_modconv_sg2`, `ops_modconv_sg3`, `ops_misc`, `ops_lowpass_filters`,
//! `ops_filtered_lrelu`.
//! Tolerance: outputs ≤ 1e-5 and gradients ≤ 1e-4, relative to the reference tensor's max-abs.

use kimg::nets::layers::{BiasInit, Conv2dConfig, Conv2dLayer, FcConfig, FcFlavor, FullyConnected};
use kimg::nets::state::load_state;
use kimg::ops::bias_act::{Activation, BiasAct, bias_act, with_double_backward};
use kimg::ops::conv2d_resample::{Resample, conv2d_resample};
use kimg::ops::filtered_lrelu::{FilteredLrelu, filtered_lrelu};
use kimg::ops::filters::design_lowpass_filter;
use kimg::ops::misc::{minibatch_std, normalize_2nd_moment};
use kimg::ops::modconv::{ModConv, modulated_conv2d_sg2, modulated_conv2d_sg3};
use kimg::ops::upfirdn2d::{
    Factor, Padding, Resampling, downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d,
};
use serde_json::Value;
use tch::{Device, Kind, Tensor, nn};

use crate::common::{Fixture, assert_close, grads, leaf, rng_lock};

const OUT_TOL: f64 = 1e-5;
const GRAD_TOL: f64 = 1e-4;

fn padding(v: &Value) -> Padding {
    match v {
        Value::Number(n) => Padding::all(n.as_i64().unwrap()),
        Value::Array(a) if a.len() == 2 => {
            Padding::xy(a[0].as_i64().unwrap(), a[1].as_i64().unwrap())
        }
        Value::Array(a) => Padding::new(
            a[0].as_i64().unwrap(),
            a[1].as_i64().unwrap(),
            a[2].as_i64().unwrap(),
            a[3].as_i64().unwrap(),
        ),
        _ => Padding::default(),
    }
}

fn factor(v: &Value) -> Factor {
    match v {
        Value::Array(a) => Factor {
            x: a[0].as_i64().unwrap(),
            y: a[1].as_i64().unwrap(),
        },
        Value::Number(n) => Factor::from(n.as_i64().unwrap()),
        _ => Factor::from(1),
    }
}

#[test]
fn bias_act_matches_every_activation_and_variant() {
    let fx = Fixture::load("ops_bias_act");
    let mut worst = 0f64;
    for case in fx.cases() {
        let kw = &case["kwargs"];
        let options = BiasAct {
            act: Activation::parse(kw["act"].as_str().unwrap()).unwrap(),
            alpha: kw["alpha"].as_f64(),
            gain: kw["gain"].as_f64(),
            clamp: kw["clamp"].as_f64(),
            dim: kw["dim"].as_i64().unwrap_or(1),
        };
        let x = leaf(&fx.t(case["inputs"]["x"].as_str().unwrap()));
        let b = case["inputs"]["b"].as_str().map(|k| leaf(&fx.t(k)));
        let out = bias_act(&x, b.as_ref(), &options);
        let name = case["output"].as_str().unwrap();
        worst = worst.max(assert_close(name, &out, &fx.t(name), OUT_TOL));
        if let Some(cot) = case["cotangent"].as_str() {
            let mut inputs = vec![&x];
            inputs.extend(b.as_ref());
            let g = grads(&out, &fx.t(cot), &inputs);
            worst = worst.max(assert_close(
                &format!("{name} grad x"),
                &g[0],
                &fx.t(case["grads"]["x"].as_str().unwrap()),
                GRAD_TOL,
            ));
            if b.is_some() {
                worst = worst.max(assert_close(
                    &format!("{name} grad b"),
                    &g[1],
                    &fx.t(case["grads"]["b"].as_str().unwrap()),
                    GRAD_TOL,
                ));
            }
        }
    }
    eprintln!("ops_bias_act worst relative error {worst:.2e}");
}

/// The leaky ReLU of the main phases and no-grad passes (`leaky_relu_backward` on the input)
/// against the one of R1/path-length graphs (`prelu`): the same values and first gradients, the
/// same second derivatives in what precedes and follows it, and a zero-valued second derivative in
/// the bias (as the reference's `leaky_relu` gives, and Adam sees) only inside
/// `with_double_backward`.
#[test]
fn lrelu_connects_the_double_backward_only_where_one_follows() {
    let _rng = rng_lock();
    tch::manual_seed(11);
    let randn = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, Device::Cpu));
    // Some exact zeros at the kink, where a `max`-based form would split the gradient.
    let x0 = randn(&[3, 4, 5, 6]) * randn(&[3, 4, 5, 6]).gt(-1.0);
    let (w0, b0, c0) = (randn(&[3, 4, 5, 6]), randn(&[4]), randn(&[3, 4, 5, 6]));
    let options = BiasAct::new(Activation::Lrelu);
    let run = || {
        let (x, w, b, c) = (leaf(&x0), leaf(&w0), leaf(&b0), leaf(&c0));
        let y = bias_act(&(&w * &x), Some(&b), &options);
        let out = (&y * &c).sum(Kind::Float);
        let dx = Tensor::run_backward(&[&out], &[&x], true, true).remove(0);
        let penalty = dx.square().sum(Kind::Float);
        let second = Tensor::run_backward(&[&penalty], &[&w, &b, &c], false, false);
        (y.detach(), dx.detach(), second)
    };
    let (y_plain, dx_plain, second_plain) = run();
    let (y_double, dx_double, second_double) = with_double_backward(true, run);
    let y_no_grad = tch::no_grad(|| bias_act(&(&w0 * &x0), Some(&b0), &options));
    assert!(y_plain.equal(&y_double), "values differ between the modes");
    assert!(y_no_grad.equal(&y_double), "no-grad values differ");
    assert!(dx_plain.equal(&dx_double), "first gradients differ");
    assert_close("d|dx|²/dw", &second_plain[0], &second_double[0], 1e-6);
    assert_close("d|dx|²/dc", &second_plain[2], &second_double[2], 1e-6);
    let db = &second_double[1];
    assert!(
        db.defined(),
        "prelu left the bias without a second derivative"
    );
    assert_eq!(db.abs().max().double_value(&[]), 0.0);
    assert!(
        !second_plain[1].defined(),
        "outside with_double_backward the bias should get no second derivative"
    );
}

#[test]
fn upfirdn2d_and_its_wrappers_match() {
    let fx = Fixture::load("ops_upfirdn2d");
    let mut worst = 0f64;
    for case in fx.cases() {
        let kw = &case["kwargs"];
        let name = case["output"].as_str().unwrap();
        let flip = kw["flip_filter"].as_bool().unwrap_or(false);
        let gain = kw["gain"].as_f64().unwrap_or(1.0);
        let op = case["op"].as_str().unwrap();
        if op == "setup_filter" {
            let taps = match &case["f"] {
                Value::Null => Tensor::from_slice(&[1.0f32]),
                Value::Number(n) => Tensor::from(n.as_f64().unwrap()),
                Value::Array(rows) if rows[0].is_array() => {
                    let data: Vec<f32> = rows
                        .iter()
                        .flat_map(|r| {
                            r.as_array()
                                .unwrap()
                                .iter()
                                .map(|v| v.as_f64().unwrap() as f32)
                        })
                        .collect();
                    Tensor::from_slice(&data).reshape([i64::try_from(rows.len()).unwrap(), -1])
                }
                Value::Array(taps) => Tensor::from_slice(
                    &taps
                        .iter()
                        .map(|v| v.as_f64().unwrap() as f32)
                        .collect::<Vec<_>>(),
                ),
                other => panic!("{other}"),
            };
            let out = setup_filter(
                &taps,
                kw["normalize"].as_bool().unwrap_or(true),
                flip,
                gain,
                kw["separable"].as_bool(),
            );
            worst = worst.max(assert_close(name, &out, &fx.t(name), OUT_TOL));
            continue;
        }
        let x = leaf(&fx.t(case["input"].as_str().unwrap()));
        let f = case["filter"].as_str().map(|k| fx.t(k));
        let out = match op {
            "upfirdn2d" => upfirdn2d(
                &x,
                f.as_ref(),
                Resampling {
                    up: factor(&kw["up"]),
                    down: factor(&kw["down"]),
                    padding: padding(&kw["padding"]),
                    flip_filter: flip,
                    gain,
                },
            ),
            "filter2d" => filter2d(&x, f.as_ref().unwrap(), padding(&kw["padding"]), flip, gain),
            "upsample2d" => upsample2d(
                &x,
                f.as_ref(),
                factor(&kw["up"]),
                padding(&kw["padding"]),
                flip,
                gain,
            ),
            "downsample2d" => downsample2d(
                &x,
                f.as_ref(),
                factor(&kw["down"]),
                padding(&kw["padding"]),
                flip,
                gain,
            ),
            other => panic!("unknown op {other}"),
        };
        worst = worst.max(assert_close(name, &out, &fx.t(name), OUT_TOL));
        if let Some(cot) = case["cotangent"].as_str() {
            let g = grads(&out, &fx.t(cot), &[&x]);
            worst = worst.max(assert_close(
                &format!("{name} grad x"),
                &g[0],
                &fx.t(case["grad_x"].as_str().unwrap()),
                GRAD_TOL,
            ));
        }
    }
    eprintln!("ops_upfirdn2d worst relative error {worst:.2e}");
}

#[test]
fn conv2d_resample_matches_every_path() {
    let fx = Fixture::load("ops_conv2d_resample");
    let mut worst = 0f64;
    for case in fx.cases() {
        let kw = &case["kwargs"];
        let name = case["output"].as_str().unwrap();
        let x = leaf(&fx.t(case["x"].as_str().unwrap()));
        let w = leaf(&fx.t(case["w"].as_str().unwrap()));
        let f = case["f"].as_str().map(|k| fx.t(k));
        let options = Resample {
            up: kw["up"].as_i64().unwrap_or(1),
            down: kw["down"].as_i64().unwrap_or(1),
            padding: padding(&kw["padding"]),
            groups: kw["groups"].as_i64().unwrap_or(1),
            flip_weight: kw["flip_weight"].as_bool().unwrap_or(true),
            flip_filter: kw["flip_filter"].as_bool().unwrap_or(false),
        };
        let out = conv2d_resample(&x, &w, f.as_ref(), &options);
        worst = worst.max(assert_close(name, &out, &fx.t(name), OUT_TOL));
        let g = grads(&out, &fx.t(case["cotangent"].as_str().unwrap()), &[&x, &w]);
        worst = worst.max(assert_close(
            &format!("{name} grad x"),
            &g[0],
            &fx.t(case["grad_x"].as_str().unwrap()),
            GRAD_TOL,
        ));
        worst = worst.max(assert_close(
            &format!("{name} grad w"),
            &g[1],
            &fx.t(case["grad_w"].as_str().unwrap()),
            GRAD_TOL,
        ));
    }
    eprintln!("ops_conv2d_resample worst relative error {worst:.2e}");
}

#[test]
fn stylegan2_modulated_conv2d_matches_fused_and_non_fused() {
    let fx = Fixture::load("ops_modconv_sg2");
    let filter = fx.t("input.resample_filter");
    let mut worst = 0f64;
    for case in fx.cases() {
        let kw = &case["kwargs"];
        let name = case["output"].as_str().unwrap();
        let x = leaf(&fx.t("input.x"));
        let weight = leaf(&fx.t(case["weight"].as_str().unwrap()));
        let in_channels = weight.size()[1] as f64;
        let raw_styles = leaf(&fx.t("input.styles"));
        let styles = if case["styles"].as_str().unwrap().contains("sqrt") {
            &raw_styles * (1.0 / in_channels.sqrt())
        } else {
            raw_styles.shallow_clone()
        };
        let noise = case["noise"].as_str().map(|k| fx.t(k));
        let options = ModConv {
            resample: Resample {
                up: kw["up"].as_i64().unwrap_or(1),
                padding: padding(&kw["padding"]),
                flip_weight: kw["flip_weight"].as_bool().unwrap_or(true),
                ..Resample::default()
            },
            filter: Some(&filter),
            demodulate: kw["demodulate"].as_bool().unwrap(),
            fused: kw["fused_modconv"].as_bool().unwrap(),
        };
        let out = modulated_conv2d_sg2(&x, &weight, &styles, noise.as_ref(), &options);
        worst = worst.max(assert_close(name, &out, &fx.t(name), OUT_TOL));
        if let Some(cot) = case["cotangent"].as_str() {
            let g = grads(&out, &fx.t(cot), &[&x, &weight, &raw_styles]);
            for (i, key) in ["x", "weight", "styles"].iter().enumerate() {
                worst = worst.max(assert_close(
                    &format!("{name} grad {key}"),
                    &g[i],
                    &fx.t(case["grads"][key].as_str().unwrap()),
                    GRAD_TOL,
                ));
            }
        }
    }
    eprintln!("ops_modconv_sg2 worst relative error {worst:.2e}");
}

#[test]
fn stylegan3_modulated_conv2d_matches() {
    let fx = Fixture::load("ops_modconv_sg3");
    let mut worst = 0f64;
    for case in fx.cases() {
        let kw = &case["kwargs"];
        let name = case["output"].as_str().unwrap();
        let x = leaf(&fx.t("input.x"));
        let w = leaf(&fx.t(case["w"].as_str().unwrap()));
        let s = leaf(&fx.t("input.s"));
        let gain = case["input_gain"].as_str().map(|k| fx.t(k));
        let out = modulated_conv2d_sg3(
            &x,
            &w,
            &s,
            kw["demodulate"].as_bool().unwrap(),
            kw["padding"].as_i64().unwrap(),
            gain.as_ref(),
        );
        worst = worst.max(assert_close(name, &out, &fx.t(name), OUT_TOL));
        let g = grads(
            &out,
            &fx.t(case["cotangent"].as_str().unwrap()),
            &[&x, &w, &s],
        );
        for (i, key) in ["x", "w", "s"].iter().enumerate() {
            worst = worst.max(assert_close(
                &format!("{name} grad {key}"),
                &g[i],
                &fx.t(case["grads"][key].as_str().unwrap()),
                GRAD_TOL,
            ));
        }
    }
    eprintln!("ops_modconv_sg3 worst relative error {worst:.2e}");
}

#[test]
fn misc_ops_and_layers_match() {
    let fx = Fixture::load("ops_misc");
    let _rng = rng_lock();
    let mut worst = 0f64;
    let z = fx.t("input.z");
    worst = worst.max(assert_close(
        "normalize_2nd_moment",
        &normalize_2nd_moment(&z, 1, 1e-8),
        &fx.t("output.normalize_2nd_moment"),
        OUT_TOL,
    ));
    for (group, channels, key) in [
        (Some(4), 1, "output.mbstd_g4_c1"),
        (Some(2), 2, "output.mbstd_g2_c2"),
        (Some(8), 1, "output.mbstd_g8_c1"),
        (None, 3, "output.mbstd_gNone_c3"),
    ] {
        worst = worst.max(assert_close(
            key,
            &minibatch_std(&fx.t("input.mbstd_x"), group, channels),
            &fx.t(key),
            OUT_TOL,
        ));
    }
    let fma = fx.t("input.fma_a") * fx.t("input.fma_b") + fx.t("input.fma_c");
    worst = worst.max(assert_close("fma", &fma, &fx.t("output.fma"), OUT_TOL));

    let vs = nn::VarStore::new(Device::Cpu);
    let sg2 = FullyConnected::new(
        &(vs.root() / "fc_sg2"),
        &FcConfig {
            activation: Activation::Lrelu,
            lr_multiplier: 0.01,
            bias_init: BiasInit::Scalar(0.5),
            ..FcConfig::new(9, 7, FcFlavor::Sg2)
        },
    );
    let sg3 = FullyConnected::new(
        &(vs.root() / "fc_sg3_affine4"),
        &FcConfig {
            weight_init: 0.0,
            bias_init: BiasInit::PerOutput(vec![1.0, 0.0, 0.0, 0.0]),
            ..FcConfig::new(9, 4, FcFlavor::Sg3)
        },
    );
    let conv = Conv2dLayer::new(
        &(vs.root() / "conv_down2"),
        &Conv2dConfig {
            activation: Activation::Lrelu,
            down: 2,
            conv_clamp: Some(0.7),
            ..Conv2dConfig::new(3, 5, 3)
        },
    );
    let fixture_tensors: Vec<(String, Tensor)> = fx
        .tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect();
    let missing = load_state(&vs, &fixture_tensors, "", true).unwrap();
    assert!(missing.is_empty());
    worst = worst.max(assert_close(
        "fc_sg2",
        &sg2.forward(&z),
        &fx.t("output.fc_sg2"),
        OUT_TOL,
    ));
    worst = worst.max(assert_close(
        "fc_sg3_affine4",
        &sg3.forward(&z),
        &fx.t("output.fc_sg3_affine4"),
        OUT_TOL,
    ));
    let x = fx.t("input.conv_x");
    worst = worst.max(assert_close(
        "conv gain 1",
        &conv.forward(&x, 1.0),
        &fx.t("output.conv_down2_gain1"),
        OUT_TOL,
    ));
    worst = worst.max(assert_close(
        "conv gain √½",
        &conv.forward(&x, 0.5f64.sqrt()),
        &fx.t("output.conv_down2_gainsqrthalf"),
        OUT_TOL,
    ));
    eprintln!("ops_misc worst relative error {worst:.2e}");
}

#[test]
fn fully_connected_initialisation_reproduces_the_reference_rng_use() {
    // The fixture's SG2 layer is a fresh init after torch.manual_seed(65).
    let fx = Fixture::load("ops_misc");
    let _rng = rng_lock();
    tch::manual_seed(65);
    let vs = nn::VarStore::new(Device::Cpu);
    let fc = FullyConnected::new(
        &vs.root(),
        &FcConfig {
            activation: Activation::Lrelu,
            lr_multiplier: 0.01,
            bias_init: BiasInit::Scalar(0.5),
            ..FcConfig::new(9, 7, FcFlavor::Sg2)
        },
    );
    assert_close(
        "fc_sg2.weight init",
        &fc.weight,
        &fx.t("fc_sg2.weight"),
        0.0,
    );
    assert_close(
        "fc_sg2.bias init",
        fc.bias.as_ref().unwrap(),
        &fx.t("fc_sg2.bias"),
        0.0,
    );
}

#[test]
fn lowpass_filter_design_matches_firwin_and_the_radial_filters() {
    let fx = Fixture::load("ops_lowpass_filters");
    let mut worst = 0f64;
    for case in fx.cases() {
        let kw = &case["kwargs"];
        let name = case["output"].as_str().unwrap();
        let filter = design_lowpass_filter(
            usize::try_from(kw["numtaps"].as_u64().unwrap()).unwrap(),
            kw["cutoff"].as_f64().unwrap(),
            kw["width"].as_f64().unwrap(),
            kw["fs"].as_f64().unwrap(),
            kw["radial"].as_bool().unwrap(),
        )
        .unwrap();
        worst = worst.max(assert_close(name, &filter.to_tensor(), &fx.t(name), 1e-6));
    }
    eprintln!("ops_lowpass_filters worst relative error {worst:.2e}");
}

/// A `filtered_lrelu`: the dispatching op, or one implementation of it.
pub(crate) type FilteredLreluOp =
    dyn Fn(&Tensor, Option<&Tensor>, Option<&Tensor>, Option<&Tensor>, &FilteredLrelu) -> Tensor;

/// Every case of `ops_filtered_lrelu` through `op`: outputs within `OUT_TOL`, the gradients of `x`
/// and `b` within `GRAD_TOL`. Returns the worst relative error.
pub(crate) fn check_filtered_lrelu_fixture(op: &FilteredLreluOp) -> f64 {
    let fx = Fixture::load("ops_filtered_lrelu");
    let mut worst = 0f64;
    for case in fx.cases() {
        let kw = &case["kwargs"];
        let name = case["output"].as_str().unwrap();
        let x = leaf(&fx.t("input.x"));
        let b = leaf(&fx.t("input.b"));
        let fu = case["fu"].as_str().map(|k| fx.t(k));
        let fd = case["fd"].as_str().map(|k| fx.t(k));
        let options = FilteredLrelu {
            up: kw["up"].as_i64().unwrap(),
            down: kw["down"].as_i64().unwrap(),
            padding: padding(&kw["padding"]),
            gain: kw["gain"].as_f64().unwrap(),
            slope: kw["slope"].as_f64().unwrap(),
            clamp: kw["clamp"].as_f64(),
            flip_filter: kw["flip_filter"].as_bool().unwrap_or(false),
        };
        let out = op(&x, fu.as_ref(), fd.as_ref(), Some(&b), &options);
        worst = worst.max(assert_close(name, &out, &fx.t(name), OUT_TOL));
        let g = grads(&out, &fx.t(case["cotangent"].as_str().unwrap()), &[&x, &b]);
        for (i, key) in ["x", "b"].iter().enumerate() {
            worst = worst.max(assert_close(
                &format!("{name} grad {key}"),
                &g[i],
                &fx.t(case["grads"][key].as_str().unwrap()),
                GRAD_TOL,
            ));
        }
    }
    worst
}

#[test]
fn filtered_lrelu_matches_every_case() {
    let worst = check_filtered_lrelu_fixture(&filtered_lrelu);
    eprintln!("ops_filtered_lrelu worst relative error {worst:.2e}");
}
