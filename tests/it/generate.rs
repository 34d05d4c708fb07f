//! `kimg generate`: latents from numpy's `RandomState(seed)`, gen_images' uint8 rule, and a
//! snapshot written from the reference's weights loads and runs; the official tiny StyleGAN3 pickle
//! generates what gen_images.py generates.

use std::path::Path;

use kimg::generate::{input_transform, load_generator, to_uint8};
use kimg::nets::network::{GeneratorNet, NoiseMode};
use kimg::nets::state::{load_state, state_tensors};
use kimg::nets::stylegan2::{
    FusedModconv, InferenceOnly, MappingKwargs, Stylegan2Config, Stylegan2Generator,
};
use kimg::numpy_rng::RandomState;
use kimg::snapshot::file::SnapshotFile;
use tch::{Device, Kind, Tensor};

use crate::common::{Fixture, assert_close, generator_weights, rng_lock};

#[test]
fn images_convert_to_uint8_by_truncation_like_gen_images() {
    let fx = Fixture::load("data_image_grid");
    let out = to_uint8(&fx.t("input.images_f32").narrow(0, 0, 1));
    assert!(out.equal(&fx.t("output.gen_images_uint8_NHWC")));
}

#[test]
fn a_snapshot_of_reference_weights_generates_the_expected_images() {
    // Building a generator draws its initial weights from the global torch generator.
    let _rng = rng_lock();
    let fx = Fixture::load("net_G_sg2");
    let config = Stylegan2Config {
        mapping_kwargs: MappingKwargs { num_layers: 2 },
        channel_base: 512,
        channel_max: 32,
        fused_modconv_default: FusedModconv::Named(InferenceOnly::InferenceOnly),
        ..Stylegan2Config::new(32, 0, 32, 16, 3)
    };
    let g = Stylegan2Generator::new(&config, Device::Cpu);
    load_state(g.var_store(), &generator_weights(&fx), "", true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("network-snapshot-000000.safetensors");
    SnapshotFile {
        tensors: state_tensors(g.var_store(), "G_ema."),
        metadata: serde_json::json!({"arch": "stylegan2", "G_kwargs": config}),
    }
    .write(&snapshot)
    .unwrap();

    let out = dir.path().join("images");
    assert_cmd::Command::cargo_bin("kimg")
        .unwrap()
        .args([
            "generate",
            "--network",
            snapshot.to_str().unwrap(),
            "--seeds",
            "0,5",
            "--trunc",
            "0.7",
            "--outdir",
            out.to_str().unwrap(),
        ])
        .assert()
        .success();
    for seed in [0u32, 5] {
        let z = Tensor::from_slice(&RandomState::new(seed).randn(32))
            .reshape([1, 32])
            .to_kind(Kind::Float);
        let expected = tch::no_grad(|| {
            let ws = g.mapping(
                &z,
                &Tensor::zeros([1, 0], (Kind::Float, Device::Cpu)),
                0.7,
                false,
            );
            to_uint8(&g.synthesis(&ws, NoiseMode::Const, false, false))
        });
        let png = image::open(out.join(format!("seed{seed:04}.png")))
            .unwrap()
            .to_rgb8();
        let got = Tensor::from_slice(png.as_raw()).reshape([1, 16, 16, 3]);
        let difference = (got.to_kind(Kind::Int) - expected.to_kind(Kind::Int))
            .abs()
            .max()
            .int64_value(&[]);
        assert!(difference <= 1, "seed {seed}: off by {difference} in 8-bit");
    }
}

/// `gen_images_tiny`: the official tiny StyleGAN3 pickle's `G_ema`, seeds 0 and 5, ψ 1 and 0.7,
/// with and without a translated, rotated input — the float images (1e-5 relative) and the
/// 8-bit pixels; one case also through `kimg generate` to its PNG.
#[test]
fn the_official_tiny_stylegan3_pickle_generates_gen_images_output() {
    let _rng = rng_lock();
    let fx = Fixture::load("gen_images_tiny");
    let pickle =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/snapshot_tiny.pkl");
    let g = load_generator(&pickle, Device::Cpu).unwrap();
    let sg3 = g.as_stylegan3().expect("the tiny pickle is StyleGAN3");
    let mut worst = 0f64;
    for case in fx.cases() {
        let seed = u32::try_from(case["seed"].as_u64().unwrap()).unwrap();
        let z = Tensor::from_slice(&RandomState::new(seed).randn(8)).reshape([1, 8]);
        assert!(
            z.equal(&fx.t(case["z"].as_str().unwrap())),
            "seed {seed}: z"
        );
        let t = &case["translate"];
        sg3.set_input_transform(&input_transform(
            (t[0].as_f64().unwrap(), t[1].as_f64().unwrap()),
            case["rotate"].as_f64().unwrap(),
        ));
        let img = tch::no_grad(|| {
            let ws = g.mapping(
                &z.to_kind(Kind::Float),
                &Tensor::zeros([1, 0], (Kind::Float, Device::Cpu)),
                case["truncation_psi"].as_f64().unwrap(),
                false,
            );
            g.synthesis(&ws, NoiseMode::Const, false, false)
        });
        let name = case["img"].as_str().unwrap();
        worst = worst.max(assert_close(name, &img, &fx.t(name), 1e-5));
        let pixels = to_uint8(&img).to_kind(Kind::Int);
        let expected = fx
            .t(case["uint8_NHWC"].as_str().unwrap())
            .to_kind(Kind::Int);
        let off = (pixels - expected).abs().max().int64_value(&[]);
        assert!(off <= 1, "{name}: off by {off} in 8-bit");
    }
    eprintln!("gen_images_tiny worst relative error {worst:.2e}");

    let out = tempfile::tempdir().unwrap();
    assert_cmd::Command::cargo_bin("kimg")
        .unwrap()
        .args([
            "generate",
            "--network",
            pickle.to_str().unwrap(),
            "--seeds",
            "5",
        ])
        .args([
            "--trunc",
            "0.7",
            "--translate",
            "0.1,-0.3",
            "--rotate",
            "10",
            "--outdir",
        ])
        .arg(out.path())
        .assert()
        .success();
    let png = image::open(out.path().join("seed0005.png"))
        .unwrap()
        .to_rgb8();
    let got = Tensor::from_slice(png.as_raw())
        .reshape([1, 16, 16, 3])
        .to_kind(Kind::Int);
    let expected = fx
        .t("uint8.seed5_psi0.7_t0.1_-0.3_r10.0_const")
        .to_kind(Kind::Int);
    assert!((got - expected).abs().max().int64_value(&[]) <= 1);
}
