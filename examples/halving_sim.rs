//! Successive halving on synthetic gamma sweeps: how much compute it saves and how often it keeps
//! the run a full sweep would pick. Uses kimg's own rule ([`kimg::halving::Ladder`]).
//!
//! Each sweep has `runs` runs (gamma × 0.25 … 4, and seeds when more than five); run `i`'s FID
//! follows `final_i + 150 · exp(−kimg / tau_i)` with multiplicative Gaussian noise at every
//! snapshot (every 200 kimg to 25000). `final_i` grows with the distance of log2 gamma from the
//! sweep's best (drawn at random), ± 3 % per seed. With `crossing` c > 0 larger gammas learn
//! slower (`tau = 1500 · 2^(c · log2 gamma-multiplier)`) but may end lower, so the curves cross:
//! c = 0 is the easy case, c = 0.5 makes `tau` range over 4×. The runs share
//! `devices` devices; a run trains 1 kimg per time unit (± 10 %, fixed per run), so arrivals at
//! rungs are asynchronous. The full sweep's pick is the run with the lowest FID logged over its
//! whole history; halving's pick is the lowest among the runs that trained to the end.
//!
//! `cargo run --example halving_sim -- [sweeps] [noise]` (default 2000 sweeps, relative noise 0.01).

use kimg::halving::{Event, Ladder, Rule, Verdict, standing_at};
use kimg::metrics::report::ReportMetric;
use kimg::numpy_rng::RandomState;

const KIMG: u64 = 25_000;
const EVERY: u64 = 200;

/// One synthetic run: its noisy FID at every snapshot and its speed.
struct SimRun {
    history: Vec<(f64, f64)>,
    speed: f64,
}

fn sweep(rng: &mut RandomState, runs: usize, noise: f64, crossing: f64) -> Vec<SimRun> {
    let best_log_gamma = rng.random_sample() * 4.0 - 2.0;
    (0..runs)
        .map(|i| {
            #[expect(clippy::cast_precision_loss, reason = "small numbers")]
            let log_gamma = (i % 5) as f64 - 2.0;
            let seed_jitter = 1.0 + 0.03 * rng.standard_normal();
            let final_fid = 5.0 * (1.0 + 0.12 * (log_gamma - best_log_gamma).powi(2)) * seed_jitter;
            let tau = 1500.0 * 2f64.powf(crossing * log_gamma);
            let history = (0..=KIMG / EVERY)
                .map(|k| {
                    #[expect(clippy::cast_precision_loss, reason = "kimg is small")]
                    let kimg = (k * EVERY) as f64;
                    let clean = final_fid + 150.0 * (-kimg / tau).exp();
                    (kimg, clean * (1.0 + noise * rng.standard_normal()))
                })
                .collect();
            SimRun {
                history,
                speed: 1.0 + 0.1 * (rng.random_sample() * 2.0 - 1.0),
            }
        })
        .collect()
}

/// A run on a device: its index, the kimg it trains to next (a rung or the end), and when.
struct Active {
    run: usize,
    target: u64,
    at: f64,
    started: f64,
}

/// Simulate one sweep under `rule` on `devices`; returns (kimg trained, halving's pick).
fn simulate(runs: &[SimRun], rule: &Rule, devices: usize) -> (u64, Option<usize>) {
    let metric = ReportMetric::parse("fid50k_full");
    let names: Vec<String> = (0..runs.len()).map(|i| format!("{i:04}")).collect();
    let mut ladder = Ladder::new(rule.clone(), metric.clone(), names.clone());
    let mut reached = vec![0u64; runs.len()];
    let mut queue: Vec<usize> = (0..runs.len()).rev().collect();
    let mut active: Vec<Active> = Vec::new();
    let mut paused: Vec<usize> = Vec::new();
    let mut finished = Vec::new();
    let mut now = 0.0;
    loop {
        while active.len() < devices {
            let Some(run) = queue.pop() else { break };
            let target = ladder
                .next_rung(&names[run])
                .and_then(|k| rule.rungs.get(k).copied())
                .unwrap_or(KIMG);
            #[expect(clippy::cast_precision_loss, reason = "kimg is small")]
            let at = now + (target - reached[run]) as f64 / runs[run].speed;
            active.push(Active {
                run,
                target,
                at,
                started: now,
            });
        }
        let Some(next) = (0..active.len()).min_by(|&a, &b| active[a].at.total_cmp(&active[b].at))
        else {
            break;
        };
        let Active {
            run, target, at, ..
        } = active.swap_remove(next);
        now = at;
        reached[run] = target;
        if target == KIMG {
            finished.push(run);
            continue;
        }
        let rung = ladder.next_rung(&names[run]).expect("a rung was due");
        #[expect(clippy::cast_precision_loss, reason = "kimg is small")]
        let standing = standing_at(&metric, &runs[run].history, target as f64);
        let decisions = ladder.apply(&Event::Arrived {
            run: names[run].clone(),
            rung,
            standing,
        });
        for decision in decisions {
            let index = names
                .iter()
                .position(|n| *n == decision.run)
                .expect("known");
            match decision.verdict {
                Verdict::Promoted if index == run => queue.push(run),
                Verdict::Promoted => {
                    paused.retain(|&p| p != index);
                    queue.push(index);
                }
                Verdict::Paused => paused.push(index),
                // A revoked run stops at once, counting the kimg it trained past its rung.
                Verdict::Stopped => {
                    queue.retain(|&q| q != index);
                    paused.retain(|&p| p != index);
                    if let Some(a) = active.iter().find(|a| a.run == index) {
                        #[expect(
                            clippy::cast_possible_truncation,
                            clippy::cast_sign_loss,
                            reason = "kimg"
                        )]
                        let done = ((now - a.started) * runs[index].speed) as u64;
                        reached[index] = (reached[index] + done).min(a.target);
                    }
                    active.retain(|a| a.run != index);
                }
            }
        }
    }
    let pick = finished.into_iter().min_by(|&a, &b| {
        let best = |i: usize| metric.best(&runs[i].history).map_or(f64::INFINITY, |p| p.1);
        best(a).total_cmp(&best(b))
    });
    (reached.iter().sum(), pick)
}

/// Over `sweeps` sweeps: the share of the full sweep's kimg trained, and how often halving picks
/// the full sweep's pick.
fn evaluate(
    rule: &Rule,
    runs: usize,
    devices: usize,
    sweeps: usize,
    noise: f64,
    crossing: f64,
) -> (f64, f64) {
    let metric = ReportMetric::parse("fid50k_full");
    let best = |run: &SimRun| metric.best(&run.history).map_or(f64::INFINITY, |p| p.1);
    let mut rng = RandomState::new(7);
    let (mut used, mut same) = (0u64, 0usize);
    for _ in 0..sweeps {
        let sim = sweep(&mut rng, runs, noise, crossing);
        let (trained, pick) = simulate(&sim, rule, devices);
        used += trained;
        let full_pick = (0..runs).min_by(|&a, &b| best(&sim[a]).total_cmp(&best(&sim[b])));
        same += usize::from(pick == full_pick);
    }
    #[expect(clippy::cast_precision_loss, reason = "small counts")]
    let share = used as f64 / (sweeps * runs) as f64 / KIMG as f64;
    #[expect(clippy::cast_precision_loss, reason = "small counts")]
    let agree = same as f64 / sweeps as f64;
    (share, agree)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sweeps: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let noise: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0.01);
    println!(
        "{sweeps} synthetic sweeps, noise {noise}, {KIMG} kimg per run, a snapshot every {EVERY} kimg"
    );
    println!(
        "crossing  runs  devices  rungs               eta  min_runs  compute used  same pick as full sweep"
    );
    for crossing in [0.0, 0.25, 0.5] {
        for (runs, devices) in [(5, 2), (15, 4)] {
            for (rungs, eta, min_runs) in [
                (vec![1000, 3000, 9000], 3, 1),
                (vec![2000, 6000], 3, 1),
                (vec![2000, 6000], 2, 2),
            ] {
                let rule = Rule {
                    rungs: rungs.clone(),
                    eta,
                    min_runs,
                };
                let (share, agree) = evaluate(&rule, runs, devices, sweeps, noise, crossing);
                println!(
                    "{crossing:>8}  {runs:>4}  {devices:>7}  {:<18}  {:>3}  {:>8}  {:>11.1}%  {:>6.1}%",
                    format!("{rungs:?}"),
                    rule.eta,
                    rule.min_runs,
                    share * 100.0,
                    agree * 100.0
                );
            }
        }
    }
}
