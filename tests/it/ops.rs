//! The ops against the reference fixtures `ops_bias_act`, `ops_upfirdn2d`, `ops_conv2d_resample`.
//! Tolerance: outputs ≤ 1e-5 and gradients ≤ 1e-4, relative to the reference tensor's max-abs.

use kimg::ops::bias_act::{Activation, BiasAct, bias_act};
use kimg::ops::conv2d_resample::{Resample, conv2d_resample};
use kimg::ops::upfirdn2d::{
    Factor, Padding, downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d,
};
use serde_json::Value;
use tch::Tensor;

use crate::common::{Fixture, assert_close, grads, leaf};

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
                factor(&kw["up"]),
                factor(&kw["down"]),
                padding(&kw["padding"]),
                flip,
                gain,
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
