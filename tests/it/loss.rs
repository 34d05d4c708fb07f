//! The StyleGAN2 loss against `loss_sg2`: each phase (Gmain, Greg, Dmain, Dreg) from the same
//! state with the reference's seed, augmentation (bgc, p = 0.3), style mixing and path length.
//! Compared: every parameter gradient (1e-3 relative to the reference's max-abs), which parameters
//! get no gradient, the reported statistics and `pl_mean`.

use kimg::nets::discriminator::{Discriminator, DiscriminatorConfig, EpilogueKwargs};
use kimg::nets::state::load_state;
use kimg::nets::stylegan2::{
    FusedModconv, InferenceOnly, MappingKwargs, Stylegan2Config, Stylegan2Generator,
};
use kimg::train::augment::{AugmentConfig, AugmentPipe};
use kimg::train::loss::{LossConfig, MicroBatch, Networks, Phase, StyleGan2Loss};
use kimg::train::networks::{DiscriminatorNet, GeneratorNet};
use kimg::train::stats::Collector;
use tch::{Device, Tensor, nn};

use crate::common::{Fixture, assert_close, rng_lock};

fn set_trainable(store: &nn::VarStore, on: bool) {
    for t in store.trainable_variables() {
        let _ = t.set_requires_grad(on);
    }
}

#[test]
fn every_stylegan2_phase_matches_the_reference() {
    let fx = Fixture::load("loss_sg2");
    let _rng = rng_lock();
    let g_config = Stylegan2Config {
        mapping_kwargs: MappingKwargs { num_layers: 2 },
        channel_base: 512,
        channel_max: 16,
        fused_modconv_default: FusedModconv::Named(InferenceOnly::InferenceOnly),
        ..Stylegan2Config::new(32, 0, 32, 16, 3)
    };
    let d_config = DiscriminatorConfig {
        channel_base: 256,
        channel_max: 16,
        epilogue_kwargs: EpilogueKwargs {
            mbstd_group_size: Some(2),
            mbstd_num_channels: 1,
        },
        ..DiscriminatorConfig::new(0, 16, 3)
    };
    let init: Vec<(String, Tensor)> = fx
        .tensors
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("init.")
                .map(|k| (k.to_string(), v.shallow_clone()))
        })
        .collect();
    let augment = AugmentPipe::new(AugmentConfig::named("bgc").unwrap(), 0.3, Device::Cpu);
    let mut worst = 0f64;
    for phase_json in fx.json["phases"].as_array().unwrap() {
        let name = phase_json["phase"].as_str().unwrap();
        let phase = match name {
            "Gmain" => Phase::Gmain,
            "Greg" => Phase::Greg,
            "Dmain" => Phase::Dmain,
            "Dreg" => Phase::Dreg,
            other => panic!("unexpected phase {other}"),
        };
        let g = Stylegan2Generator::new(&g_config, Device::Cpu);
        let d = Discriminator::new(&d_config, Device::Cpu);
        load_state(g.var_store(), &init, "G.", true).unwrap();
        load_state(d.var_store(), &init, "D.", true).unwrap();
        set_trainable(g.var_store(), phase.is_generator());
        set_trainable(d.var_store(), !phase.is_generator());
        let mut loss = StyleGan2Loss::new(
            LossConfig {
                r1_gamma: 0.8,
                style_mixing_prob: 0.9,
                pl_weight: 2.0,
                ..LossConfig::default()
            },
            Device::Cpu,
        );
        loss.pl_mean = Tensor::from(0.37f32);
        let nets = Networks {
            generator: &g,
            discriminator: &d,
            augment: Some(&augment),
        };
        let (real_img, real_c, gen_z, gen_c) = (
            fx.t("input.real_img"),
            fx.t("input.real_c"),
            fx.t("input.gen_z"),
            fx.t("input.gen_c"),
        );
        let batch = MicroBatch {
            real_img: &real_img,
            real_c: &real_c,
            gen_z: &gen_z,
            gen_c: &gen_c,
        };
        let mut stats = Collector::all();
        tch::manual_seed(phase_json["torch_seed"].as_i64().unwrap());
        loss.accumulate_gradients(
            phase,
            &nets,
            &batch,
            phase_json["gain"].as_f64().unwrap(),
            phase_json["cur_nimg"].as_u64().unwrap(),
            &mut vec![&mut stats],
        );
        stats.update();

        let (prefix, store) = if phase.is_generator() {
            ("G", g.var_store())
        } else {
            ("D", d.var_store())
        };
        let without: Vec<&str> = phase_json["params_without_grad"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for (param, tensor) in store.variables() {
            let key = format!("grad.{name}.{prefix}.{param}");
            match fx.tensors.get(&key) {
                Some(reference) => {
                    worst = worst.max(assert_close(&key, &tensor.grad(), reference, 1e-3))
                }
                None if without.contains(&param.as_str()) => {
                    assert!(!tensor.grad().defined(), "{key}: expected no gradient")
                }
                None => assert!(
                    !tensor.requires_grad() || !tensor.grad().defined(),
                    "{key}: unexpected gradient"
                ),
            }
        }
        for (stat, expected) in phase_json["stats"].as_object().unwrap() {
            let count = expected["num"].as_u64().unwrap();
            if count == 0 {
                continue;
            }
            let moments = stats
                .get(stat)
                .unwrap_or_else(|| panic!("{name}: {stat} not reported"));
            assert_eq!(moments.count as u64, count, "{name} {stat} count");
            let mean = expected["mean"].as_f64().unwrap();
            assert!(
                (moments.mean() - mean).abs() <= 1e-4 * mean.abs().max(1.0),
                "{name} {stat}: {} vs {mean}",
                moments.mean()
            );
        }
        let pl_after = phase_json["pl_mean_after"].as_f64().unwrap();
        assert!(
            (loss.pl_mean.double_value(&[]) - pl_after).abs() < 1e-5,
            "{name} pl_mean"
        );
    }
    eprintln!("loss_sg2 worst relative gradient error {worst:.2e}");
}
