//! The ADA pipeline against the `aug_pipe` fixture: every augmentation alone (deterministic
//! `debug_percentile` variants), the full pipes, seeded random runs with the reference's RNG stream,
//! grayscale, custom parameters, and input gradients. Tolerance 1e-4 relative (grid sampling).

use kimg::train::augment::{AugmentConfig, AugmentPipe, filter_bank};
use tch::Device;

use crate::common::{Fixture, assert_close, grads, leaf, rng_lock};

fn config(kwargs: &serde_json::Value) -> AugmentConfig {
    let mut c = AugmentConfig::default();
    for (key, value) in kwargs.as_object().unwrap() {
        let v = value.as_f64().unwrap();
        let field = match key.as_str() {
            "xflip" => &mut c.xflip,
            "rotate90" => &mut c.rotate90,
            "xint" => &mut c.xint,
            "xint_max" => &mut c.xint_max,
            "scale" => &mut c.scale,
            "rotate" => &mut c.rotate,
            "aniso" => &mut c.aniso,
            "xfrac" => &mut c.xfrac,
            "scale_std" => &mut c.scale_std,
            "rotate_max" => &mut c.rotate_max,
            "aniso_std" => &mut c.aniso_std,
            "xfrac_std" => &mut c.xfrac_std,
            "brightness" => &mut c.brightness,
            "contrast" => &mut c.contrast,
            "lumaflip" => &mut c.lumaflip,
            "hue" => &mut c.hue,
            "saturation" => &mut c.saturation,
            "imgfilter" => &mut c.imgfilter,
            "noise" => &mut c.noise,
            "cutout" => &mut c.cutout,
            other => panic!("unknown pipe kwarg {other}"),
        };
        *field = v;
    }
    c
}

#[test]
fn the_filter_bank_equals_the_reference_buffer() {
    let fx = Fixture::load("aug_pipe");
    assert_close("Hz_fbank", &filter_bank(), &fx.t("buffer.Hz_fbank"), 1e-6);
}

#[test]
fn every_case_matches_the_reference() {
    let fx = Fixture::load("aug_pipe");
    let _rng = rng_lock();
    let mut worst = 0f64;
    for case in fx.cases() {
        let name = case["name"].as_str().unwrap();
        let mut pipe = AugmentPipe::new(
            config(&case["pipe_kwargs"]),
            case["p"].as_f64().unwrap(),
            Device::Cpu,
        );
        pipe.debug_percentile = case["debug_percentile"].as_f64();
        let input = leaf(&fx.t(case["input"].as_str().unwrap()));
        tch::manual_seed(case["torch_seed"].as_i64().unwrap());
        let out = pipe.forward(&input);
        worst = worst.max(assert_close(
            name,
            &out,
            &fx.t(case["output"].as_str().unwrap()),
            1e-4,
        ));
        if let Some(cotangent) = case["cotangent"].as_str() {
            let g = grads(&out, &fx.t(cotangent), &[&input]);
            worst = worst.max(assert_close(
                &format!("{name} grad"),
                &g[0],
                &fx.t(case["grad_input"].as_str().unwrap()),
                1e-3,
            ));
        }
    }
    eprintln!("aug_pipe worst relative error {worst:.2e}");
}
