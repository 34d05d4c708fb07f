//! Two whole training iterations against `trainstep_sg2`, `trainstep_sg3t` and `trainstep_sg3r`: the reference's loop body (phases with
//! two accumulation rounds, lazy-regularisation Adam shared by the main and reg phases, NaN
//! cleanup, G_ema with ramp-up from 10 kimg, the ADA step after iteration 2) run from the same
//! initial weights on the same inputs. Compared after each iteration: every G, D and G_ema tensor,
//! `augment_pipe.p`, `pl_mean` and the statistics.
//!
//! The same iterations on two data-parallel replicas (one accumulation round each) must match the
//! reference and the one-replica run, which differ only in the order gradients are summed.

use kimg::nets::state::state_tensors;
use kimg::train::cadence::{optimizers, phases};
use kimg::train::iteration::{IterationInputs, IterationSettings, TrainState, TrainedNetworks};
use kimg::train::loss::StyleGan2Loss;
use kimg::train::replicas::ReplicaMode;
use tch::{Device, Kind, Tensor};

use crate::common::{
    Fixture, assert_close, fixture_augment, fixture_discriminator, fixture_generator,
    fixture_loss_config, rng_lock,
};

/// The fixture's initial state on `replicas` replicas (all on the CPU).
fn state(fx: &Fixture, replicas: usize, mode: ReplicaMode) -> TrainState {
    let config = &fx.json["config"];
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let (g, g_ema) = (fixture_generator(fx), fixture_generator(fx));
    let d = fixture_discriminator(fx);
    let loss = StyleGan2Loss::new(fixture_loss_config(fx), Device::Cpu);
    let interval = |key: &str| config[key].as_u64().map(|v| u32::try_from(v).unwrap());
    let (g_reg, d_reg) = (interval("G_reg_interval"), interval("D_reg_interval"));
    let batch = interval("batch_size").unwrap();
    let mut state = TrainState::new(
        TrainedNetworks { g, d, g_ema },
        optimizers(f(&config["glr"]), f(&config["dlr"]), g_reg, d_reg),
        phases(g_reg, d_reg),
        loss,
        fixture_augment(fx),
        IterationSettings {
            batch,
            batch_gpu: interval("batch_gpu").unwrap(),
            ema_kimg: f64::from(batch) * 10.0 / 32.0,
            ema_rampup: config["ema_rampup"].as_f64(),
            ada_target: config["ada_target"].as_f64(),
            ada_interval: config["ada_interval"].as_u64().unwrap(),
            ada_kimg: f(&config["ada_kimg"]),
        },
    )
    .unwrap()
    .with_replicas(
        (1..replicas)
            .map(|_| (fixture_generator(fx), fixture_discriminator(fx)))
            .collect(),
        mode,
    )
    .unwrap();
    state.progress.cur_nimg = config["start_nimg"].as_u64().unwrap();
    state
}

/// Run the fixture's iterations on `state` from the fixture's inputs and seeds, calling `check`
/// after each with its number and its JSON.
fn replay(
    fx: &Fixture,
    state: &mut TrainState,
    mut check: impl FnMut(u64, &TrainState, &serde_json::Value),
) {
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
        let rows = i64::try_from(state.phase_count()).unwrap() * 4;
        let all_gen_z = Tensor::randn([rows, 32], (Kind::Float, Device::Cpu));
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
        check(k, state, iteration);
    }
}

/// Every G, D and G_ema tensor of a state, named `G.…`, `D.…`, `G_ema.…`.
fn weights(state: &TrainState) -> Vec<(String, Tensor)> {
    state
        .network_stores()
        .into_iter()
        .flat_map(|(store, prefix)| state_tensors(store, prefix))
        .collect()
}

/// Run the fixture's two iterations on `replicas` replicas, compare everything after each with
/// the reference, and return the final state.
fn check_two_iterations(name: &str, replicas: usize) -> TrainState {
    let fx = Fixture::load(name);
    let _rng = rng_lock();
    let mut state = state(&fx, replicas, ReplicaMode::Sequential);
    let mut worst = 0f64;
    replay(&fx, &mut state, |k, state, iteration| {
        assert_eq!(
            state.progress.cur_nimg,
            iteration["cur_nimg_after"].as_u64().unwrap()
        );
        assert_eq!(
            state.progress.batch_idx,
            iteration["batch_idx_after"].as_u64().unwrap()
        );
        for (name, tensor) in weights(state) {
            let key = format!("iter{k}.{name}");
            worst = worst.max(assert_close(&key, &tensor, &fx.t(&key), 1e-4));
        }
        let p_key = format!("iter{k}.augment_pipe.p");
        let p = if fx.tensors.contains_key(&p_key) {
            fx.t(&p_key).double_value(&[])
        } else {
            0.0
        };
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
            let count = expected["num"].as_u64().unwrap();
            let Some(moments) = state.stats.get(stat) else {
                assert_eq!(count, 0, "iteration {k}: {stat} not reported");
                continue;
            };
            assert_eq!(moments.count as u64, count, "iteration {k}: {stat} count");
            let mean = expected["mean"].as_f64().unwrap();
            assert!(
                (moments.mean() - mean).abs() <= 1e-4 * mean.abs().max(1.0),
                "iteration {k} {stat}: {} vs {mean}",
                moments.mean()
            );
        }
    });
    eprintln!("{name} on {replicas} replica(s): worst relative error {worst:.2e}");
    state
}

/// One replica and two: both match the reference, and each other to summation order (5e-5
/// relative: Adam's first steps amplify rounding on near-zero gradients, see the fixture README).
fn check_replicas(name: &str) {
    let one = check_two_iterations(name, 1);
    let two = check_two_iterations(name, 2);
    assert_eq!(two.replica_count(), 2);
    let mut worst = 0f64;
    for ((key, a), (_, b)) in weights(&one).into_iter().zip(weights(&two)) {
        worst = worst.max(assert_close(&key, &b, &a, 5e-5));
    }
    eprintln!("{name}: two replicas vs one, worst relative difference {worst:.2e}");
}

#[test]
fn two_stylegan2_iterations_match_the_reference_on_one_and_two_replicas() {
    check_replicas("trainstep_sg2");
}

#[test]
fn two_stylegan3_t_iterations_match_the_reference_on_one_and_two_replicas() {
    check_replicas("trainstep_sg3t");
}

#[test]
fn two_stylegan3_r_iterations_match_the_reference_on_one_and_two_replicas() {
    check_replicas("trainstep_sg3r");
}

/// Independent replicas (as on several CUDA devices, here on the CPU): deterministic, finite, and
/// really drawing other random numbers than sequential ones.
#[test]
fn independent_replicas_are_reproducible_and_draw_their_own_random_numbers() {
    let fx = Fixture::load("trainstep_sg2");
    let _rng = rng_lock();
    let run = |mode| {
        let mut state = state(&fx, 2, mode);
        replay(&fx, &mut state, |_, _, _| {});
        weights(&state)
    };
    let (first, second) = (run(ReplicaMode::Independent), run(ReplicaMode::Independent));
    let shared = run(ReplicaMode::Sequential);
    let mut differs = false;
    for (((key, a), (_, b)), (_, c)) in first.iter().zip(&second).zip(&shared) {
        assert!(a.equal(b), "{key}: not reproducible");
        assert!(
            a.isfinite().all().int64_value(&[]) == 1,
            "{key}: not finite"
        );
        differs |= !a.allclose(c, 1e-6, 1e-7, false);
    }
    assert!(
        differs,
        "independent replicas drew what sequential ones drew"
    );
}
