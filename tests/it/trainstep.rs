//! Two whole training iterations against `trainstep_sg2`: the reference's loop body (phases with
//! two accumulation rounds, lazy-regularisation Adam shared by the main and reg phases, NaN
//! cleanup, G_ema with ramp-up from 10 kimg, the ADA step after iteration 2) run from the same
//! initial weights on the same inputs. Compared after each iteration: every G, D and G_ema tensor,
//! `augment_pipe.p`, `pl_mean` and the statistics.

use kimg::nets::discriminator::{Discriminator, DiscriminatorConfig, EpilogueKwargs};
use kimg::nets::state::load_state;
use kimg::nets::stylegan2::{
    FusedModconv, InferenceOnly, MappingKwargs, Stylegan2Config, Stylegan2Generator,
};
use kimg::train::augment::{AugmentConfig, AugmentPipe};
use kimg::train::iteration::{IterationInputs, IterationSettings, TrainState, TrainedNetworks};
use kimg::train::loss::{LossConfig, StyleGan2Loss};
use kimg::train::networks::{DiscriminatorNet, GeneratorNet};
use kimg::train::schedule::{optimizers, phases};
use tch::{Device, Kind, Tensor};

use crate::common::{Fixture, assert_close, rng_lock};

fn state(fx: &Fixture) -> TrainState {
    let config = &fx.json["config"];
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
    let (g, g_ema) = (
        Stylegan2Generator::new(&g_config, Device::Cpu),
        Stylegan2Generator::new(&g_config, Device::Cpu),
    );
    let d = Discriminator::new(&d_config, Device::Cpu);
    load_state(g.var_store(), &init, "G.", true).unwrap();
    load_state(g_ema.var_store(), &init, "G.", true).unwrap();
    load_state(d.var_store(), &init, "D.", true).unwrap();
    let loss = StyleGan2Loss::new(
        LossConfig {
            r1_gamma: 0.8,
            style_mixing_prob: 0.9,
            pl_weight: 2.0,
            ..LossConfig::default()
        },
        Device::Cpu,
    );
    let augment = AugmentPipe::new(AugmentConfig::named("bgc").unwrap(), 0.3, Device::Cpu);
    let mut state = TrainState::new(
        TrainedNetworks { g, d, g_ema },
        optimizers(0.002, 0.002, Some(4), Some(16)),
        phases(Some(4), Some(16)),
        loss,
        Some(augment),
        IterationSettings {
            batch: 4,
            batch_gpu: 2,
            ema_kimg: 4.0 * 10.0 / 32.0,
            ema_rampup: Some(0.05),
            ada_target: Some(0.6),
            ada_interval: 2,
            ada_kimg: 1.0,
        },
    )
    .unwrap();
    state.progress.cur_nimg = config["start_nimg"].as_u64().unwrap();
    state
}

#[test]
fn two_stylegan2_iterations_match_the_reference() {
    let fx = Fixture::load("trainstep_sg2");
    let _rng = rng_lock();
    let mut state = state(&fx);
    let mut worst = 0f64;
    for iteration in fx.json["iterations"].as_array().unwrap() {
        let k = iteration["iter"].as_u64().unwrap();
        let real_img = fx
            .t(&format!("input.iter{k}.real_img_uint8"))
            .to_kind(Kind::Float)
            / 127.5
            - 1.0;
        let real_c = fx.t(&format!("input.iter{k}.real_c"));
        let all_gen_c = fx.t(&format!("input.iter{k}.all_gen_c"));
        tch::manual_seed(iteration["torch_seed_before_all_gen_z"].as_i64().unwrap());
        let all_gen_z = Tensor::randn([16, 32], (Kind::Float, Device::Cpu));
        assert!(
            all_gen_z.equal(&fx.t(&format!("check.iter{k}.all_gen_z"))),
            "iteration {k}: the latents differ"
        );
        state.iterate(&IterationInputs {
            real_img: &real_img,
            real_c: &real_c,
            all_gen_z: &all_gen_z,
            all_gen_c: &all_gen_c,
        });
        state.stats.update();
        assert_eq!(
            state.progress.cur_nimg,
            iteration["cur_nimg_after"].as_u64().unwrap()
        );
        assert_eq!(
            state.progress.batch_idx,
            iteration["batch_idx_after"].as_u64().unwrap()
        );
        for (prefix, store) in [
            ("G", state.g.var_store()),
            ("D", state.d.var_store()),
            ("G_ema", state.g_ema.var_store()),
        ] {
            for (name, tensor) in store.variables() {
                let key = format!("iter{k}.{prefix}.{name}");
                let reference = fx.t(&key);
                worst = worst.max(assert_close(&key, &tensor, &reference, 1e-4));
            }
        }
        let p = fx.t(&format!("iter{k}.augment_pipe.p")).double_value(&[]);
        assert!(
            (state.augment_p() - p).abs() < 1e-7,
            "iteration {k}: p {} vs {p}",
            state.augment_p()
        );
        let pl_mean = fx.t(&format!("iter{k}.loss.pl_mean")).double_value(&[]);
        assert!(
            (state.loss.pl_mean.double_value(&[]) - pl_mean).abs() <= 1e-5 * pl_mean.abs().max(1.0),
            "iteration {k}: pl_mean"
        );
        for (stat, expected) in iteration["stats"].as_object().unwrap() {
            let moments = state
                .stats
                .get(stat)
                .unwrap_or_else(|| panic!("iteration {k}: {stat} not reported"));
            assert_eq!(moments.count as u64, expected["num"].as_u64().unwrap());
            let mean = expected["mean"].as_f64().unwrap();
            assert!(
                (moments.mean() - mean).abs() <= 1e-4 * mean.abs().max(1.0),
                "iteration {k} {stat}: {} vs {mean}",
                moments.mean()
            );
        }
    }
    eprintln!("trainstep_sg2 worst relative error {worst:.2e}");
}
