//! The equivariance operators against `metric_equivariance`: a StyleGAN3-T generator rendered with
//! translated / rotated inputs, the reference images from integer and fractional (Lanczos)
//! translation and band-limited rotation, the masks, both rotation filters and the PSNRs; the
//! `eqt*`/`eqr*` metrics built on them.

use std::path::PathBuf;

use kimg::metrics::{DetectorFiles, MetricRunner, RealData};
use kimg::nets::network::{GeneratorNet, NoiseMode};
use kimg::nets::state::load_state;
use kimg::nets::stylegan3::{Stylegan3Config, Stylegan3Generator};
use kimg::ops::equivariance::{
    affine_bandlimit_filter, fractional_pseudo_rotation, fractional_rotation,
    fractional_translation, integer_translation, masked_error, psnr, rotation_matrix,
};
use tch::{Device, Kind, Tensor};

use crate::common::{Fixture, assert_close, generator_weights};

const TOL: f64 = 1e-5;

#[test]
fn equivariance_operators_and_psnrs_match_the_reference() {
    // Building a generator draws its initial weights from the global torch generator.
    let _rng = crate::common::rng_lock();
    let fx = Fixture::load("metric_equivariance");
    let config: Stylegan3Config = serde_json::from_value(fx.json["ctor_kwargs"].clone()).unwrap();
    let g = Stylegan3Generator::new(&config, Device::Cpu);
    load_state(g.var_store(), &generator_weights(&fx), "", true).unwrap();
    let ws = fx.t("input.ws");
    let render = |transform: &Tensor| {
        g.set_input_transform(transform);
        tch::no_grad(|| g.synthesis(&ws, NoiseMode::Const, false, false))
    };
    let identity = Tensor::eye(3, (Kind::Float, Device::Cpu));
    let orig = render(&identity);
    let mut worst = assert_close("output.orig", &orig, &fx.t("output.orig"), TOL);
    let mut check = |what: String, got: &Tensor| {
        worst = worst.max(assert_close(&what, got, &fx.t(&what), TOL));
    };
    for case in fx.cases() {
        let name = case["name"].as_str().unwrap();
        let (reference, image, mask) = if name == "eqr" {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "the reference's float32 angle"
            )]
            let angle = case["angle"].as_f64().unwrap() as f32;
            let img = render(&rotation_matrix(-angle));
            let (reference, reference_mask) = fractional_rotation(&orig, angle);
            let (pseudo, pseudo_mask) = fractional_pseudo_rotation(&img, angle);
            check(
                "output.eqr.rot_filter".into(),
                &affine_bandlimit_filter(&rotation_matrix(angle), 3, 6, 4),
            );
            check(
                "output.eqr.pseudo_filter".into(),
                &affine_bandlimit_filter(&rotation_matrix(-angle), 3, 6, 1),
            );
            check("output.eqr.img".into(), &img);
            check("output.eqr.pseudo".into(), &pseudo);
            (reference, pseudo, reference_mask * pseudo_mask)
        } else {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "the reference's float32 shift"
            )]
            let t: Vec<f32> = case["t"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let transform = identity.copy();
            let _ = transform.get(0).get(2).fill_(f64::from(-t[0]));
            let _ = transform.get(1).get(2).fill_(f64::from(-t[1]));
            let img = render(&transform);
            check(format!("output.{name}.img"), &img);
            let (reference, mask) = if name == "eqt_int" {
                integer_translation(&orig, t[0], t[1])
            } else {
                fractional_translation(&orig, t[0], t[1])
            };
            (reference, img, mask)
        };
        check(format!("output.{name}.ref"), &reference);
        check(format!("output.{name}.mask"), &mask);
        check_psnr(
            &fx,
            name,
            case["psnr"].as_f64().unwrap(),
            &reference,
            &image,
            &mask,
        );
    }
    eprintln!("metric_equivariance worst relative error {worst:.2e}");
}

/// The PSNR of one case. On the fixture's own images kimg's formula gives the fixture's value to
/// float rounding (1e-6 dB). On kimg's images it may differ by what their distance from the
/// fixture's images allows, and no more: the PSNR is `20 log10 2 − 20 log10(e / √M)` of the masked
/// error norm `e = ‖√m (reference − image)‖`, and by the triangle inequality `|e_kimg − e_fixture|
/// ≤ δ = ‖√m (Δreference − Δimage)‖`, so `|ΔPSNR| ≤ −20 log10(1 − δ/e_fixture)`. A PSNR of 73 dB
/// is an error of 4e-4 of the image range, so image differences of 1e-7 (other convolution
/// kernels) move it by 1e-5 dB and more: 4e-6 to 2.5e-4 dB across the ISA matrix of `make
/// test-isa` (the bound: 1e-4 to 4.9e-3 dB), which a fixed 1e-6 dB cannot hold on every CPU.
fn check_psnr(
    fx: &Fixture,
    name: &str,
    want: f64,
    reference: &Tensor,
    image: &Tensor,
    mask: &Tensor,
) {
    let image_key = if name == "eqr" { "pseudo" } else { "img" };
    let (fixture_reference, fixture_image, fixture_mask) = (
        fx.t(&format!("output.{name}.ref")),
        fx.t(&format!("output.{name}.{image_key}")),
        fx.t(&format!("output.{name}.mask")),
    );
    let (fixture_error, mask_sum) = masked_error(&fixture_reference, &fixture_image, &fixture_mask);
    let formula = psnr(fixture_error, mask_sum);
    assert!(
        (formula - want).abs() < 1e-6,
        "{name}: PSNR of the fixture's images {formula} dB vs {want} dB"
    );
    let (error, _) = masked_error(reference, image, &fixture_mask);
    let got = psnr(error, mask_sum);
    let (delta, _) = masked_error(
        &(reference - &fixture_reference),
        &(image - &fixture_image),
        &fixture_mask,
    );
    let bound = -20.0 * (1.0 - (delta / fixture_error).sqrt()).log10() + 1e-6;
    assert!(
        (got - want).abs() <= bound,
        "{name}: PSNR {got} dB vs {want} dB, more than the {bound:.2e} dB its images allow"
    );
    eprintln!(
        "{name}: PSNR {:.2e} dB from the reference's, {bound:.2e} dB allowed",
        (got - want).abs()
    );
    // kimg's own mask, checked above against the fixture's, gives the value the metric reports.
    let (own_error, own_mask_sum) = masked_error(reference, image, mask);
    let own = psnr(own_error, own_mask_sum);
    assert!(
        (own - got).abs() <= bound,
        "{name}: PSNR with kimg's mask {own} dB vs {got} dB"
    );
}

/// `eqt<N>_int`, `eqt<N>_frac` and `eqr<N>` through the metric runner, without any detector: a
/// finite PSNR in dB, the same value when evaluated twice (seeded like the other metrics), one
/// `metric-<name>.jsonl` line each; a StyleGAN2 generator is refused by name.
#[test]
fn equivariance_metrics_need_no_detector_and_are_reproducible() {
    let _rng = crate::common::rng_lock();
    let fx = Fixture::load("metric_equivariance");
    let config: Stylegan3Config = serde_json::from_value(fx.json["ctor_kwargs"].clone()).unwrap();
    let g = Stylegan3Generator::new(&config, Device::Cpu);
    load_state(g.var_store(), &generator_weights(&fx), "", true).unwrap();
    let real = RealData {
        path: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/reference/data_dataset.zip"),
        use_labels: false,
        xflip: false,
    };
    let names: Vec<String> = ["eqt8_int", "eqt8_frac", "eqr8"].map(String::from).to_vec();
    let missing = DetectorFiles {
        inception: Some("/nonexistent/inception.pt".into()),
        vgg16: Some("/nonexistent/vgg16.pt".into()),
    };
    let runner = MetricRunner::new(&names, real.clone(), &missing, Device::Cpu)
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("network-snapshot-000000.safetensors");
    let first = runner.evaluate_snapshot(&g, dir.path(), &snapshot).unwrap();
    let second = runner.evaluate_snapshot(&g, dir.path(), &snapshot).unwrap();
    for (name, (a, b)) in names.iter().zip(first.iter().zip(&second)) {
        let value = |line: &str| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["results"][name]
                .as_f64()
                .unwrap()
        };
        let psnr = value(&a.line);
        assert!(psnr.is_finite() && psnr > 10.0, "{name}: {psnr} dB");
        assert_eq!(psnr, value(&b.line), "{name} is not reproducible");
        let lines =
            std::fs::read_to_string(dir.path().join(format!("metric-{name}.jsonl"))).unwrap();
        assert_eq!(lines.lines().count(), 2);
    }

    let sg2 = kimg::nets::stylegan2::Stylegan2Generator::new(
        &kimg::nets::stylegan2::Stylegan2Config::new(16, 0, 16, 16, 3),
        Device::Cpu,
    );
    let error = runner
        .evaluate_snapshot(&sg2, dir.path(), &snapshot)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("eqt8_int") && error.contains("StyleGAN3"),
        "{error}"
    );
}
