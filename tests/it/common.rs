//! Shared helpers for the golden-tensor tests: loading fixtures and comparing with tolerances.

use std::collections::HashMap;
use std::path::PathBuf;

use kimg::manifest::Arch;
use kimg::nets::discriminator::{Discriminator, DiscriminatorConfig, EpilogueKwargs};
use kimg::nets::generator::{Generator, stylegan3_arch};
use kimg::nets::network::{DiscriminatorNet, GeneratorNet};
use kimg::nets::state::load_state;
use kimg::ops::implementation::{Impl, with_impl};
use kimg::train::augment::{AugmentConfig, AugmentPipe};
use kimg::train::loss::LossConfig;
use tch::{Device, Kind, Tensor};

/// One reference fixture: its tensors by key and its JSON sidecar.
pub(crate) struct Fixture {
    /// Tensors by key.
    pub(crate) tensors: HashMap<String, Tensor>,
    /// The sidecar.
    pub(crate) json: serde_json::Value,
}

impl Fixture {
    /// Load `tests/fixtures/reference/<name>.{safetensors,json}`.
    pub(crate) fn load(name: &str) -> Fixture {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
        let tensors = Tensor::read_safetensors(dir.join(format!("{name}.safetensors")))
            .unwrap()
            .into_iter()
            .collect();
        // Python's json writes bare NaN tokens; they become null here.
        let text = std::fs::read_to_string(dir.join(format!("{name}.json")))
            .unwrap()
            .replace(": NaN", ": null");
        let json = serde_json::from_str(&text).unwrap();
        Fixture { tensors, json }
    }

    /// The tensor under `key` (panics with the key when absent).
    pub(crate) fn t(&self, key: &str) -> Tensor {
        self.tensors
            .get(key)
            .unwrap_or_else(|| panic!("fixture has no `{key}`"))
            .shallow_clone()
    }

    /// The `cases` list of the sidecar.
    pub(crate) fn cases(&self) -> Vec<serde_json::Value> {
        self.json["cases"].as_array().cloned().unwrap_or_default()
    }
}

/// `max|got − want| / max|want|`, asserting it is at most `tolerance`; returns it for reports.
pub(crate) fn assert_close(what: &str, got: &Tensor, want: &Tensor, tolerance: f64) -> f64 {
    assert_close_to_scale(what, got, want, tolerance, max_abs(want))
}

/// `max|got − want| / scale`, asserting it is at most `tolerance`; returns it for reports. For
/// quantities whose rounding noise is set by something larger than their own magnitude (a
/// near-cancelling sum is as noisy as its terms, not as small as its result).
pub(crate) fn assert_close_to_scale(
    what: &str,
    got: &Tensor,
    want: &Tensor,
    tolerance: f64,
    scale: f64,
) -> f64 {
    assert_eq!(got.size(), want.size(), "{what}: shape");
    let got = got.detach().to_kind(Kind::Double);
    let want = want.detach().to_kind(Kind::Double);
    let error = (&got - &want).abs().max().double_value(&[]) / scale.max(1e-12);
    assert!(
        error <= tolerance,
        "{what}: error {error:.3e} > {tolerance:.1e} (relative to {scale:.3e})"
    );
    error
}

/// `max|t|` in float64.
pub(crate) fn max_abs(t: &Tensor) -> f64 {
    t.detach()
        .to_kind(Kind::Double)
        .abs()
        .max()
        .double_value(&[])
}

/// Gradients of `Σ output·cotangent` with respect to `inputs`.
pub(crate) fn grads(output: &Tensor, cotangent: &Tensor, inputs: &[&Tensor]) -> Vec<Tensor> {
    let loss = (output * cotangent).sum(Kind::Float);
    Tensor::run_backward(&[loss], inputs, false, false)
}

/// A leaf copy of `t` that requires grad.
pub(crate) fn leaf(t: &Tensor) -> Tensor {
    t.detach().copy().set_requires_grad(true)
}

/// Run `check` with the reference ops, then with the polyphase ops, whatever the device and
/// `KIMG_OPS` choose (for the fixtures of the resampling ops and of the networks that use them).
pub(crate) fn on_every_path(check: impl Fn()) {
    for path in [Impl::Reference, Impl::Polyphase] {
        eprintln!("{path:?} ops:");
        with_impl(path, &check);
    }
}

/// libtorch's default generator is global: tests that seed it, or draw from it while another test
/// relies on a seeded sequence, hold this lock.
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `init.*` state of a loss or training-step fixture.
fn init_state(fx: &Fixture) -> Vec<(String, Tensor)> {
    fx.tensors
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("init.")
                .map(|k| (k.to_string(), v.shallow_clone()))
        })
        .collect()
}

/// G of a loss or training-step fixture (`config.G_class`, `config.G_kwargs`) with `init.G.*`.
pub(crate) fn fixture_generator(fx: &Fixture) -> Generator {
    let config = &fx.json["config"];
    let arch = if config["G_class"].as_str().unwrap().contains("stylegan2") {
        Arch::Stylegan2
    } else {
        stylegan3_arch(&config["G_kwargs"])
    };
    let g = Generator::from_kwargs(arch, &config["G_kwargs"], Device::Cpu).unwrap();
    load_state(g.var_store(), &init_state(fx), "G.", true).unwrap();
    g
}

/// D of a loss or training-step fixture (the same small D in every one) with `init.D.*`.
pub(crate) fn fixture_discriminator(fx: &Fixture) -> Discriminator {
    let kwargs = &fx.json["config"]["D_kwargs"];
    assert_eq!(kwargs["channel_base"], 256, "the fixtures' D");
    let config = DiscriminatorConfig {
        channel_base: 256,
        channel_max: 16,
        epilogue_kwargs: EpilogueKwargs {
            mbstd_group_size: Some(2),
            mbstd_num_channels: 1,
        },
        ..DiscriminatorConfig::new(0, 16, 3)
    };
    let d = Discriminator::new(&config, Device::Cpu);
    load_state(d.var_store(), &init_state(fx), "D.", true).unwrap();
    d
}

/// A fixture's `config.loss_kwargs` (absent keys: the loss defaults).
pub(crate) fn fixture_loss_config(fx: &Fixture) -> LossConfig {
    let kwargs = &fx.json["config"]["loss_kwargs"];
    let f = |key: &str| kwargs[key].as_f64().unwrap_or(0.0);
    LossConfig {
        r1_gamma: f("r1_gamma"),
        style_mixing_prob: f("style_mixing_prob"),
        pl_weight: f("pl_weight"),
        blur_init_sigma: f("blur_init_sigma"),
        blur_fade_kimg: f("blur_fade_kimg"),
        ..LossConfig::default()
    }
}

/// The fixture's bgc augment pipe at `config.augment_p`, when it has one.
pub(crate) fn fixture_augment(fx: &Fixture) -> Option<AugmentPipe> {
    let config = &fx.json["config"];
    (!config["augment_kwargs"].is_null()).then(|| {
        AugmentPipe::new(
            AugmentConfig::named("bgc").unwrap(),
            config["augment_p"].as_f64().unwrap(),
            Device::Cpu,
        )
    })
}

/// A network fixture's own state_dict (`synthesis.*` and `mapping.*` keys).
pub(crate) fn generator_weights(fx: &Fixture) -> Vec<(String, Tensor)> {
    fx.tensors
        .iter()
        .filter(|(k, _)| k.starts_with("synthesis.") || k.starts_with("mapping."))
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect()
}
