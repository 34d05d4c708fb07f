//! The networks against the reference fixtures `net_*`: outputs, truncation, EMA buffers,
//! gradients and bit-identical initialisation. Tolerances: single networks 1e-5 relative to the
//! reference's max-abs for outputs, 1e-4 for gradients.

use kimg::nets::mapping::{MappingConfig, MappingNetwork};
use kimg::nets::state::load_state;
use tch::{Device, Tensor, nn};

use crate::common::{Fixture, assert_close, grads, rng_lock};

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
    for (key, value) in state(&fx, "init.") {
        assert_close(
            &format!("{name} init.{key}"),
            &fresh.variables()[&key],
            &value,
            0.0,
        );
    }

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
