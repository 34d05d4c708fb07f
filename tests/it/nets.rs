//! The networks against the reference fixtures `net_*`: outputs, truncation, EMA buffers,
//! gradients and bit-identical initialisation. Tolerances: single networks 1e-5 relative to the
//! reference's max-abs for outputs, 1e-4 for gradients.

use kimg::nets::discriminator::{Discriminator, DiscriminatorConfig, EpilogueKwargs};
use kimg::nets::mapping::{MappingConfig, MappingNetwork};
use kimg::nets::network::{DiscriminatorNet, GeneratorNet, NoiseMode};
use kimg::nets::precision::Precision;
use kimg::nets::state::load_state;
use kimg::nets::stylegan2::{
    FusedModconv, InferenceOnly, MappingKwargs, Stylegan2Config, Stylegan2Generator,
};
use kimg::nets::stylegan3::{Stylegan3Config, Stylegan3Generator};
use tch::{Device, Kind, Tensor, nn};

use crate::common::{Fixture, assert_close, grads, on_every_path, rng_lock};

const OUT_TOL: f64 = 1e-5;
const GRAD_TOL: f64 = 1e-4;

fn state(fx: &Fixture, prefix: &str) -> Vec<(String, Tensor)> {
    fx.tensors
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(prefix)
                .map(|k| (k.to_string(), v.shallow_clone()))
        })
        .collect()
}

/// The state_dict part of a fixture: every key without a role prefix.
fn native_state(fx: &Fixture) -> Vec<(String, Tensor)> {
    const ROLES: [&str; 8] = [
        "init.",
        "input.",
        "output.",
        "act.",
        "cotangent.",
        "grad.",
        "after_update_emas.",
        "check.",
    ];
    fx.tensors
        .iter()
        .filter(|(k, _)| !ROLES.iter().any(|r| k.starts_with(r)))
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect()
}

/// A network built right after `manual_seed(ctor_seed)` equals the fixture's `init.*`: bit for bit
/// where a tensor is the draw itself (times a constant), within [`TRANSCENDENTAL_ULPS`] where the
/// draw went through transcendental functions.
fn assert_initialisation(fx: &Fixture, store: &nn::VarStore) {
    let variables = store.variables();
    for (key, value) in state(fx, "init.") {
        let tolerance = if key.ends_with(".freqs") {
            TRANSCENDENTAL_ULPS
        } else {
            0.0
        };
        assert_close(&format!("init.{key}"), &variables[&key], &value, tolerance);
    }
}

/// StyleGAN3's input Fourier frequencies are drawn, then divided by `r · exp(r²)^¼` of their radius
/// `r`. ATen computes `exp` and `pow` with SIMD code chosen per instruction set (SLEEF's 1-ulp
/// functions on AVX2 and AVX-512), so the same draw ends a few float32 ulps apart on other CPUs
/// (1.4e-7 of the largest frequency with AVX-512 against the fixture's): four ulps of the largest
/// value, 4 × 2⁻²³.
const TRANSCENDENTAL_ULPS: f64 = 4.0 / 8_388_608.0;

fn mapping_config(fx: &Fixture, stylegan3: bool) -> MappingConfig {
    let kw = &fx.json["ctor_kwargs"];
    let i = |k: &str| kw[k].as_i64();
    if stylegan3 {
        MappingConfig {
            num_layers: i("num_layers").unwrap_or(2),
            ..MappingConfig::stylegan3(
                i("z_dim").unwrap(),
                i("c_dim").unwrap(),
                i("w_dim").unwrap(),
                i("num_ws").unwrap(),
            )
        }
    } else {
        MappingConfig {
            num_layers: i("num_layers").unwrap_or(8),
            layer_features: i("layer_features"),
            lr_multiplier: kw["lr_multiplier"].as_f64().unwrap_or(0.01),
            ..MappingConfig::stylegan2(
                i("z_dim").unwrap(),
                i("c_dim").unwrap(),
                i("w_dim").unwrap(),
                i("num_ws"),
            )
        }
    }
}

fn check_mapping(name: &str, stylegan3: bool) {
    let fx = Fixture::load(name);
    let config = mapping_config(&fx, stylegan3);
    let _rng = rng_lock();
    // Initialisation: same RNG use as the reference constructor.
    tch::manual_seed(fx.json["ctor_seed"].as_i64().unwrap());
    let fresh = nn::VarStore::new(Device::Cpu);
    let _ = MappingNetwork::new(&fresh.root(), &config);
    assert_initialisation(&fx, &fresh);

    let vs = nn::VarStore::new(Device::Cpu);
    let mapping = MappingNetwork::new(&vs.root(), &config);
    let missing = load_state(&vs, &native_state(&fx), "", true).unwrap();
    assert!(missing.is_empty());
    let (z, c) = (fx.t("input.z"), fx.t("input.c"));
    let mut worst = 0f64;
    for case in fx.cases() {
        let kw = &case["kwargs"];
        let output = case["output"].as_str().unwrap();
        let update = kw["update_emas"].as_bool().unwrap_or(false);
        let saved = mapping.w_avg.as_ref().map(Tensor::copy);
        let w = mapping.forward(
            &z,
            &c,
            kw["truncation_psi"].as_f64().unwrap_or(1.0),
            kw["truncation_cutoff"].as_i64(),
            update,
        );
        worst = worst.max(assert_close(
            &format!("{name} {output}"),
            &w,
            &fx.t(output),
            OUT_TOL,
        ));
        if let Some(after) = case["buffers_after"].as_str() {
            worst = worst.max(assert_close(
                after,
                mapping.w_avg.as_ref().unwrap(),
                &fx.t(after),
                OUT_TOL,
            ));
        }
        if let (Some(w_avg), Some(saved)) = (&mapping.w_avg, saved) {
            tch::no_grad(|| w_avg.shallow_clone().copy_(&saved));
        }
    }
    // Gradients of Σ w·R for the default call.
    let z = z.detach().copy().set_requires_grad(true);
    let w = mapping.forward(&z, &c, 1.0, None, false);
    let params: Vec<(String, Tensor)> = {
        let mut p: Vec<_> = vs.trainable_variables_named();
        p.sort_by(|a, b| a.0.cmp(&b.0));
        p
    };
    let mut inputs = vec![&z];
    inputs.extend(params.iter().map(|(_, t)| t));
    let g = grads(&w, &fx.t("cotangent.w"), &inputs);
    if fx.tensors.contains_key("grad.z") {
        worst = worst.max(assert_close(
            &format!("{name} grad.z"),
            &g[0],
            &fx.t("grad.z"),
            GRAD_TOL,
        ));
    }
    for ((key, _), grad) in params.iter().zip(&g[1..]) {
        if let Some(reference) = fx.tensors.get(&format!("grad.param.{key}")) {
            worst = worst.max(assert_close(
                &format!("{name} grad.param.{key}"),
                grad,
                reference,
                GRAD_TOL,
            ));
        }
    }
    eprintln!("{name} worst relative error {worst:.2e}");
}

trait NamedTrainable {
    fn trainable_variables_named(&self) -> Vec<(String, Tensor)>;
}

impl NamedTrainable for nn::VarStore {
    fn trainable_variables_named(&self) -> Vec<(String, Tensor)> {
        self.variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect()
    }
}

#[test]
fn stylegan2_mapping_matches() {
    check_mapping("net_mapping_sg2", false);
}

#[test]
fn stylegan2_unconditional_mapping_matches() {
    check_mapping("net_mapping_sg2_uncond", false);
}

#[test]
fn stylegan3_mapping_matches() {
    check_mapping("net_mapping_sg3", true);
}

fn sg2_generator(fx: &Fixture) -> Stylegan2Generator {
    let kw = &fx.json["ctor_kwargs"];
    let i = |k: &str| kw[k].as_i64().unwrap();
    let config = Stylegan2Config {
        mapping_kwargs: MappingKwargs {
            num_layers: kw["mapping_kwargs"]["num_layers"].as_i64().unwrap(),
        },
        channel_base: i("channel_base"),
        channel_max: i("channel_max"),
        fused_modconv_default: FusedModconv::Named(InferenceOnly::InferenceOnly),
        ..Stylegan2Config::new(
            i("z_dim"),
            i("c_dim"),
            i("w_dim"),
            i("img_resolution"),
            i("img_channels"),
        )
    };
    Stylegan2Generator::new(&config, Device::Cpu)
}

/// The gradients of `Σ synthesis(ws)·cotangent.img` with respect to `ws` and every synthesis
/// parameter, keyed `grad.ws` and `grad.param.<name>` as in the fixture.
fn synthesis_gradients(
    fx: &Fixture,
    g: &dyn GeneratorNet,
    ws: &Tensor,
    training: bool,
) -> Vec<(String, Tensor)> {
    let ws_leaf = ws.detach().copy().set_requires_grad(true);
    let img = g.synthesis(&ws_leaf, NoiseMode::Const, false, training);
    let names: Vec<String> = fx.json["parameter_names_in_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .filter(|n| n.starts_with("synthesis."))
        .collect();
    let variables = g.var_store().variables();
    let mut inputs = vec![&ws_leaf];
    inputs.extend(names.iter().map(|n| &variables[n]));
    let gradients = grads(&img, &fx.t("cotangent.img"), &inputs);
    std::iter::once("grad.ws".to_string())
        .chain(names.iter().map(|n| format!("grad.param.{n}")))
        .zip(gradients)
        .collect()
}

#[test]
fn stylegan2_generator_matches() {
    on_every_path(check_stylegan2_generator);
}

fn check_stylegan2_generator() {
    let fx = Fixture::load("net_G_sg2");
    let _rng = rng_lock();
    tch::manual_seed(fx.json["ctor_seed"].as_i64().unwrap());
    let fresh = sg2_generator(&fx);
    assert_initialisation(&fx, fresh.var_store());

    let g = sg2_generator(&fx);
    assert!(
        load_state(g.var_store(), &native_state(&fx), "", true)
            .unwrap()
            .is_empty()
    );
    let (z, c) = (fx.t("input.z"), fx.t("input.c"));
    let mut worst = 0f64;
    let mut check = |what: &str, got: &Tensor, tol: f64| {
        worst = worst.max(assert_close(what, got, &fx.t(what), tol))
    };
    let ws = g.mapping(&z, &c, 1.0, false);
    check("output.ws", &ws, OUT_TOL);
    let (img, activations) = g.synthesis_with_activations(&ws, NoiseMode::Const, false);
    check("output.img_const", &img, OUT_TOL);
    for ((x, block_img), res) in activations.iter().zip([4, 8, 16]) {
        check(&format!("act.synthesis.b{res}.x"), x, OUT_TOL);
        check(&format!("act.synthesis.b{res}.img"), block_img, OUT_TOL);
    }
    let truncated = g.mapping(&z, &c, 0.7, false);
    check(
        "output.img_full_trunc0.7",
        &g.synthesis(&truncated, NoiseMode::Const, false, false),
        OUT_TOL,
    );
    check(
        "output.ws_trunc0.5_cut3",
        &g.mapping.forward(&z, &c, 0.5, Some(3), false),
        OUT_TOL,
    );
    check(
        "output.img_noise_none",
        &g.synthesis(&ws, NoiseMode::None, false, false),
        OUT_TOL,
    );
    tch::manual_seed(25);
    check(
        "output.img_noise_random",
        &g.synthesis(&ws, NoiseMode::Random, false, false),
        OUT_TOL,
    );
    check(
        "output.img_const_trainmode",
        &g.synthesis(&ws, NoiseMode::Const, false, true),
        OUT_TOL,
    );

    for (key, gradient) in synthesis_gradients(&fx, &g, &ws, false) {
        check(&key, &gradient, GRAD_TOL);
    }
    let _ = g.mapping(&z, &c, 1.0, true);
    check(
        "after_update_emas.mapping.w_avg",
        g.mapping.w_avg.as_ref().unwrap(),
        OUT_TOL,
    );
    eprintln!("net_G_sg2 worst relative error {worst:.2e}");
}

/// The constructor arguments of `net_D_sg2`.
fn sg2_discriminator_config(fx: &Fixture) -> DiscriminatorConfig {
    let kw = &fx.json["ctor_kwargs"];
    DiscriminatorConfig {
        channel_base: kw["channel_base"].as_i64().unwrap(),
        channel_max: kw["channel_max"].as_i64().unwrap(),
        epilogue_kwargs: EpilogueKwargs {
            mbstd_group_size: kw["epilogue_kwargs"]["mbstd_group_size"].as_i64(),
            mbstd_num_channels: 1,
        },
        ..DiscriminatorConfig::new(
            kw["c_dim"].as_i64().unwrap(),
            kw["img_resolution"].as_i64().unwrap(),
            kw["img_channels"].as_i64().unwrap(),
        )
    }
}

#[test]
fn stylegan2_discriminator_matches() {
    on_every_path(check_stylegan2_discriminator);
}

fn check_stylegan2_discriminator() {
    let fx = Fixture::load("net_D_sg2");
    let config = sg2_discriminator_config(&fx);
    let _rng = rng_lock();
    tch::manual_seed(fx.json["ctor_seed"].as_i64().unwrap());
    let fresh = Discriminator::new(&config, Device::Cpu);
    assert_initialisation(&fx, fresh.var_store());
    let d = Discriminator::new(&config, Device::Cpu);
    assert!(
        load_state(d.var_store(), &native_state(&fx), "", true)
            .unwrap()
            .is_empty()
    );
    let img = fx.t("input.img").set_requires_grad(true);
    let (logits, activations) = d.forward_with_activations(&img, &fx.t("input.c"));
    let mut worst = assert_close("output.logits", &logits, &fx.t("output.logits"), OUT_TOL);
    for (x, res) in activations.iter().zip([16, 8]) {
        worst = worst.max(assert_close(
            &format!("act.b{res}.x"),
            x,
            &fx.t(&format!("act.b{res}.x")),
            OUT_TOL,
        ));
    }
    let names: Vec<String> = fx.json["parameter_names_in_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let variables = d.var_store().variables();
    let mut inputs = vec![&img];
    inputs.extend(names.iter().map(|n| &variables[n]));
    let gradients = grads(&logits, &fx.t("cotangent.logits"), &inputs);
    worst = worst.max(assert_close(
        "grad.img",
        &gradients[0],
        &fx.t("grad.img"),
        GRAD_TOL,
    ));
    for (name, gradient) in names.iter().zip(&gradients[1..]) {
        worst = worst.max(assert_close(
            &format!("grad.param.{name}"),
            gradient,
            &fx.t(&format!("grad.param.{name}")),
            GRAD_TOL,
        ));
    }
    eprintln!("net_D_sg2 worst relative error {worst:.2e}");
}

fn sg3_generator(fx: &Fixture) -> Stylegan3Generator {
    let config: Stylegan3Config = serde_json::from_value(fx.json["ctor_kwargs"].clone()).unwrap();
    Stylegan3Generator::new(&config, Device::Cpu)
}

/// The derived schedule equals the fixture's `layers` (every per-layer quantity).
fn assert_schedule(fx: &Fixture, g: &Stylegan3Generator) {
    let (input, layers) = g.config().schedule();
    let want = fx.json["layers"].as_array().unwrap();
    assert_eq!(input.channels, want[0]["channels"].as_i64().unwrap());
    assert_eq!(input.size, want[0]["size"][0].as_i64().unwrap());
    assert_eq!(input.bandwidth, want[0]["bandwidth"].as_f64().unwrap());
    for (got, want) in layers.iter().zip(&want[1..]) {
        let i = |k: &str| want[k].as_i64().unwrap();
        let f = |k: &str| want[k].as_f64().unwrap();
        assert_eq!(got.name, want["name"].as_str().unwrap());
        assert_eq!(
            (got.in_channels, got.out_channels, got.in_size, got.out_size),
            (
                i("in_channels"),
                i("out_channels"),
                want["in_size"][0].as_i64().unwrap(),
                want["out_size"][0].as_i64().unwrap()
            ),
            "{}",
            got.name
        );
        assert_eq!(
            (
                got.tmp_sampling_rate,
                got.up,
                got.down,
                got.up_taps,
                got.down_taps,
                got.conv_kernel
            ),
            (
                i("tmp_sampling_rate"),
                i("up_factor"),
                i("down_factor"),
                i("up_taps"),
                i("down_taps"),
                i("conv_kernel")
            ),
            "{}",
            got.name
        );
        assert_eq!(
            (
                got.in_cutoff,
                got.out_cutoff,
                got.in_half_width,
                got.out_half_width
            ),
            (
                f("in_cutoff"),
                f("out_cutoff"),
                f("in_half_width"),
                f("out_half_width")
            ),
            "{}",
            got.name
        );
        assert_eq!(got.down_radial, want["down_radial"].as_bool().unwrap());
        assert_eq!(
            got.use_fp16,
            want["use_fp16"].as_bool().unwrap(),
            "{}",
            got.name
        );
        let p: Vec<i64> = want["padding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(
            [
                got.padding.x0,
                got.padding.x1,
                got.padding.y0,
                got.padding.y1
            ]
            .as_slice(),
            p,
            "{}",
            got.name
        );
    }
    assert_eq!(layers.len() + 1, want.len());
    assert_eq!(g.num_ws(), fx.json["num_ws"].as_i64().unwrap());
}

fn check_stylegan3(name: &str) {
    let fx = Fixture::load(name);
    let _rng = rng_lock();
    tch::manual_seed(fx.json["ctor_seed"].as_i64().unwrap());
    let fresh = sg3_generator(&fx);
    assert_initialisation(&fx, fresh.var_store());
    assert_schedule(&fx, &fresh);

    let g = sg3_generator(&fx);
    assert!(
        load_state(g.var_store(), &native_state(&fx), "", true)
            .unwrap()
            .is_empty()
    );
    let (z, c) = (fx.t("input.z"), fx.t("input.c"));
    let mut worst = 0f64;
    let mut check = |what: &str, got: &Tensor, tol: f64| {
        worst = worst.max(assert_close(what, got, &fx.t(what), tol))
    };
    let ws = g.mapping(&z, &c, 1.0, false);
    check("output.ws", &ws, OUT_TOL);
    let (img, activations) = g.synthesis_with_activations(&ws, false);
    check("output.img", &img, OUT_TOL);
    for (layer, x) in &activations {
        check(
            &format!("act.synthesis.{layer}"),
            &x.narrow(0, 0, 1),
            OUT_TOL,
        );
    }
    let truncated = g.mapping(&z, &c, 0.7, false);
    check(
        "output.img_full_trunc0.7",
        &g.synthesis(&truncated, NoiseMode::Const, false, false),
        OUT_TOL,
    );

    for (key, gradient) in synthesis_gradients(&fx, &g, &ws, true) {
        check(&key, &gradient, GRAD_TOL);
    }

    g.set_input_transform(&fx.t("input.transform"));
    check(
        "output.img_transform",
        &g.synthesis(&ws, NoiseMode::Const, false, false),
        OUT_TOL,
    );
    g.set_input_transform(&Tensor::eye(3, (tch::Kind::Float, Device::Cpu)));

    let ws = g.mapping(&z, &c, 1.0, true);
    check(
        "output.img_update_emas",
        &g.synthesis(&ws, NoiseMode::Const, true, false),
        OUT_TOL,
    );
    let variables = g.var_store().variables();
    for (key, want) in state(&fx, "after_update_emas.") {
        worst = worst.max(assert_close(&key, &variables[&key], &want, OUT_TOL));
    }
    eprintln!("{name} worst relative error {worst:.2e}");
}

#[test]
fn stylegan3_t_generator_matches() {
    on_every_path(|| check_stylegan3("net_G_sg3t"));
}

#[test]
fn stylegan3_r_generator_matches() {
    on_every_path(|| check_stylegan3("net_G_sg3r"));
}

/// The float16 path (what CUDA runs for the `use_fp16` layers), forced on the CPU: every network
/// runs, returns float32, backpropagates finite gradients and stays within float16 accuracy
/// (2e-2 of the reference's max-abs) of the float32 reference outputs.
#[test]
fn the_float16_path_runs_and_stays_close_to_float32() {
    const HALF_TOL: f64 = 2e-2;
    let _rng = rng_lock();
    let mut worst = 0f64;
    let check_finite_grads = |out: &Tensor, input: &Tensor| {
        let grad = grads(out, &out.ones_like(), &[input]).remove(0);
        assert_eq!(grad.kind(), Kind::Float);
        assert!(
            bool::try_from(grad.isfinite().all()).unwrap(),
            "non-finite gradient"
        );
    };

    let fx = Fixture::load("net_G_sg2");
    let g = sg2_generator(&fx);
    load_state(g.var_store(), &native_state(&fx), "", true).unwrap();
    g.set_precision(Precision::Float16Anywhere);
    let ws = g.mapping(&fx.t("input.z"), &fx.t("input.c"), 1.0, false);
    let ws = ws.detach().set_requires_grad(true);
    for training in [false, true] {
        let img = g.synthesis(&ws, NoiseMode::Const, false, training);
        assert_eq!(img.kind(), Kind::Float);
        worst = worst.max(assert_close(
            "fp16 output.img_const",
            &img,
            &fx.t("output.img_const"),
            HALF_TOL,
        ));
        check_finite_grads(&img, &ws);
    }

    for name in ["net_G_sg3t", "net_G_sg3r"] {
        let fx = Fixture::load(name);
        let g = sg3_generator(&fx);
        load_state(g.var_store(), &native_state(&fx), "", true).unwrap();
        g.set_precision(Precision::Float16Anywhere);
        let ws = g
            .mapping(&fx.t("input.z"), &fx.t("input.c"), 1.0, false)
            .detach()
            .set_requires_grad(true);
        let img = g.synthesis(&ws, NoiseMode::Const, false, true);
        assert_eq!(img.kind(), Kind::Float);
        worst = worst.max(assert_close(
            &format!("{name} fp16 output.img"),
            &img,
            &fx.t("output.img"),
            HALF_TOL,
        ));
        check_finite_grads(&img, &ws);
    }

    let fx = Fixture::load("net_D_sg2");
    let mut d = Discriminator::new(&sg2_discriminator_config(&fx), Device::Cpu);
    load_state(d.var_store(), &native_state(&fx), "", true).unwrap();
    d.set_precision(Precision::Float16Anywhere);
    let img = fx.t("input.img").set_requires_grad(true);
    let logits = d.forward(&img, &fx.t("input.c"), false);
    assert_eq!(logits.kind(), Kind::Float);
    worst = worst.max(assert_close(
        "fp16 output.logits",
        &logits,
        &fx.t("output.logits"),
        HALF_TOL,
    ));
    check_finite_grads(&logits, &img);
    eprintln!("float16 path worst relative error {worst:.2e}");
}
