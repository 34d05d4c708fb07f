use proptest::prelude::*;

use super::{Decision, Event, Ladder, Rule, Verdict, standing_at};
use crate::metrics::report::{ReportMetric, Standing};

fn fid() -> ReportMetric {
    ReportMetric::parse("fid50k_full")
}

fn rule(rungs: &[u64], eta: u32, min_runs: u32) -> Rule {
    Rule {
        rungs: rungs.to_vec(),
        eta,
        min_runs,
    }
}

fn runs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("run{i}")).collect()
}

/// A standing whose best value is `value`, reached at the rung.
fn at(value: f64) -> Option<Standing> {
    Some(Standing {
        best: value,
        best_kimg: 10.0,
        latest: value,
    })
}

fn arrive(run: &str, rung: usize, standing: Option<Standing>) -> Event {
    Event::Arrived {
        run: run.to_string(),
        rung,
        standing,
    }
}

/// `(run, verdict)` of each decision.
fn verdicts(decisions: &[Decision]) -> Vec<(String, Verdict)> {
    decisions
        .iter()
        .map(|d| (d.run.clone(), d.verdict))
        .collect()
}

fn pair(run: &str, verdict: Verdict) -> (String, Verdict) {
    (run.to_string(), verdict)
}

#[test]
fn asha_pauses_until_eta_runs_arrive_then_promotes_and_resumes_paused_runs() {
    let mut ladder = Ladder::new(rule(&[10, 30], 3, 1), fid(), runs(6));
    // FID: lower is better.
    assert_eq!(
        verdicts(&ladder.apply(&arrive("run0", 0, at(50.0)))),
        [pair("run0", Verdict::Paused)]
    );
    assert_eq!(
        verdicts(&ladder.apply(&arrive("run1", 0, at(40.0)))),
        [pair("run1", Verdict::Paused)]
    );
    // Three arrived: the best of them (run1, a paused run) is promoted, the arrival pauses.
    assert_eq!(
        verdicts(&ladder.apply(&arrive("run2", 0, at(45.0)))),
        [
            pair("run1", Verdict::Promoted),
            pair("run2", Verdict::Paused)
        ]
    );
    assert_eq!(ladder.next_rung("run1"), Some(1));
    assert_eq!(ladder.next_rung("run0"), None);
    ladder.apply(&arrive("run3", 0, at(60.0)));
    ladder.apply(&arrive("run4", 0, at(70.0)));
    assert!(!ladder.complete(0));
    // The last arrival completes the rung: exactly the top 2 continue, the others stop.
    let last = ladder.apply(&arrive("run5", 0, at(41.0)));
    assert_eq!(
        verdicts(&last),
        [
            pair("run5", Verdict::Promoted),
            pair("run2", Verdict::Stopped),
            pair("run0", Verdict::Stopped),
            pair("run3", Verdict::Stopped),
            pair("run4", Verdict::Stopped),
        ]
    );
    assert_eq!(last[0].rank, 2);
    assert_eq!(last[0].of, 6);
    assert!(ladder.complete(0));
    assert_eq!(ladder.promoted(0), ["run1", "run5"]);
    // Rung 1 expects two runs; keep(2) = max(0, min_runs 1) = 1.
    assert_eq!(
        verdicts(&ladder.apply(&arrive("run5", 1, at(30.0)))),
        [pair("run5", Verdict::Paused)]
    );
    assert_eq!(
        verdicts(&ladder.apply(&arrive("run1", 1, at(35.0)))),
        [
            pair("run5", Verdict::Promoted),
            pair("run1", Verdict::Stopped)
        ]
    );
    assert_eq!(ladder.verdict("run5"), Some((1, Verdict::Promoted)));
    assert_eq!(ladder.verdict("run1"), Some((1, Verdict::Stopped)));
    assert_eq!(ladder.next_rung("run5"), None, "past the last rung");
}

#[test]
fn an_early_promotion_outside_the_final_top_is_revoked_with_its_later_arrivals() {
    let mut ladder = Ladder::new(rule(&[10, 30], 2, 1), fid(), runs(4));
    ladder.apply(&arrive("run0", 0, at(50.0)));
    ladder.apply(&arrive("run1", 0, at(60.0)));
    assert_eq!(ladder.promoted(0), ["run0"]);
    ladder.apply(&arrive("run0", 1, at(45.0)));
    ladder.apply(&arrive("run2", 0, at(10.0)));
    let last = ladder.apply(&arrive("run3", 0, at(20.0)));
    assert_eq!(
        verdicts(&last),
        [
            pair("run3", Verdict::Promoted),
            pair("run0", Verdict::Stopped),
            pair("run1", Verdict::Stopped),
        ]
    );
    assert_eq!(ladder.promoted(0), ["run2", "run3"]);
    assert_eq!(
        ladder.ranking(1),
        Vec::<String>::new(),
        "run0's arrival no longer counts"
    );
    assert_eq!(ladder.next_rung("run0"), None);
}

#[test]
fn ties_are_broken_by_hash_and_runs_without_a_value_rank_last() {
    let mut ladder = Ladder::new(rule(&[10], 2, 1), fid(), runs(4));
    ladder.apply(&arrive("run3", 0, at(5.0)));
    ladder.apply(&arrive("run2", 0, None));
    ladder.apply(&arrive("run1", 0, at(5.0)));
    ladder.apply(&arrive("run0", 0, None));
    assert_eq!(ladder.ranking(0), ["run1", "run3", "run0", "run2"]);
    assert_eq!(ladder.promoted(0), ["run1", "run3"]);
}

#[test]
fn higher_is_better_metrics_keep_the_largest_values() {
    let mut ladder = Ladder::new(
        rule(&[10], 2, 1),
        ReportMetric::parse("eqt50k_int"),
        runs(2),
    );
    ladder.apply(&arrive("run0", 0, at(20.0)));
    ladder.apply(&arrive("run1", 0, at(30.0)));
    assert_eq!(ladder.promoted(0), ["run1"]);
}

#[test]
fn a_failed_run_counts_as_arrived_without_a_value_so_the_rung_completes() {
    let mut ladder = Ladder::new(rule(&[10, 20], 3, 1), fid(), runs(3));
    ladder.apply(&arrive("run0", 0, at(9.0)));
    ladder.apply(&Event::Failed { run: "run1".into() });
    let last = ladder.apply(&arrive("run2", 0, at(8.0)));
    assert!(ladder.complete(0));
    assert_eq!(ladder.promoted(0), ["run2"]);
    assert_eq!(ladder.verdict("run1"), Some((0, Verdict::Stopped)));
    assert!(last.iter().any(|d| d.run == "run1" && d.rank == 3));
    // A failure after the last rung changes nothing.
    assert!(ladder.apply(&Event::Failed { run: "run2".into() }).len() <= 1);
}

#[test]
fn min_runs_keeps_everyone_when_few_runs_remain() {
    let mut ladder = Ladder::new(rule(&[10, 20], 3, 2), fid(), runs(3));
    for (run, value) in [("run0", 3.0), ("run1", 1.0), ("run2", 2.0)] {
        ladder.apply(&arrive(run, 0, at(value)));
    }
    assert_eq!(ladder.promoted(0), ["run1", "run2"]);
    // keep(2) = 2: each arrival at rung 1 is promoted at once.
    assert_eq!(
        verdicts(&ladder.apply(&arrive("run2", 1, at(1.5)))),
        [pair("run2", Verdict::Promoted)]
    );
}

#[test]
fn unexpected_arrivals_decide_nothing() {
    let mut ladder = Ladder::new(rule(&[10, 20], 2, 1), fid(), runs(2));
    assert!(ladder.apply(&arrive("stranger", 0, at(1.0))).is_empty());
    assert!(ladder.apply(&arrive("run0", 1, at(1.0))).is_empty());
    assert_eq!(ladder.apply(&arrive("run0", 0, at(1.0))).len(), 1);
    assert!(ladder.apply(&arrive("run0", 0, at(1.0))).is_empty());
}

#[test]
fn the_expected_cost_follows_the_survivors_of_each_rung() {
    let r = rule(&[1000, 3000, 9000], 3, 1);
    assert_eq!(r.survivors(5), [1, 1, 1]);
    assert_eq!(r.expected_kimg(5, 25_000), 5 * 1000 + 2000 + 6000 + 16_000);
    let r = rule(&[10, 30], 3, 1);
    assert_eq!(r.survivors(9), [3, 1]);
    assert_eq!(r.expected_kimg(9, 90), 9 * 10 + 3 * 20 + 60);
}

#[test]
fn the_standing_at_a_rung_ignores_later_evaluations_and_nan() {
    let history = [(0.0, 90.0), (10.0, f64::NAN), (20.0, 40.0), (30.0, 10.0)];
    let standing = standing_at(&fid(), &history, 20.0).unwrap();
    assert_eq!((standing.best, standing.best_kimg), (40.0, 20.0));
    let nan_only = [(10.0, f64::NAN)];
    assert_eq!(standing_at(&fid(), &nan_only, 10.0), None);
}

/// Drive a sweep to its end: at each step one runnable run (picked by `picks`) arrives at its
/// next rung with `values[run][rung]`. Returns the arrival events in order and every decision.
fn simulate(
    rule: &Rule,
    values: &[Vec<Option<f64>>],
    picks: &[usize],
) -> (Ladder, Vec<Event>, Vec<Decision>) {
    let names = runs(values.len());
    let mut ladder = Ladder::new(rule.clone(), fid(), names.clone());
    let (mut events, mut decisions) = (Vec::new(), Vec::new());
    let mut pick = picks.iter().cycle();
    loop {
        let runnable: Vec<(usize, usize)> = names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| Some((i, ladder.next_rung(name)?)))
            .collect();
        if runnable.is_empty() {
            break;
        }
        let (i, rung) = runnable[pick.next().copied().unwrap_or(0) % runnable.len()];
        let event = arrive(&names[i], rung, values[i][rung].and_then(at));
        decisions.extend(ladder.apply(&event));
        events.push(event);
    }
    (ladder, events, decisions)
}

/// The values of `runs` runs at `rungs` rungs (some missing).
fn sweep_values() -> impl Strategy<Value = (Rule, Vec<Vec<Option<f64>>>, Vec<usize>)> {
    (1usize..4, 2u32..4, 1u32..3, 1usize..10).prop_flat_map(|(rungs, eta, min_runs, n)| {
        let value = prop::option::weighted(0.9, (0u32..20).prop_map(f64::from));
        (
            Just(rule(&[10, 20, 30][..rungs], eta, min_runs)),
            prop::collection::vec(prop::collection::vec(value, rungs), n),
            prop::collection::vec(0usize..100, 1..40),
        )
    })
}

proptest! {
    #[test]
    fn replaying_the_arrivals_in_order_gives_the_same_decisions(
        (rule, values, picks) in sweep_values()
    ) {
        let (_, events, decisions) = simulate(&rule, &values, &picks);
        let mut replay = Ladder::new(rule, fid(), runs(values.len()));
        let replayed: Vec<Decision> = events.iter().flat_map(|e| replay.apply(e)).collect();
        prop_assert_eq!(replayed, decisions);
    }

    #[test]
    fn once_every_run_reached_a_rung_exactly_its_top_fraction_continued(
        (rule, values, picks) in sweep_values()
    ) {
        let (ladder, _, _) = simulate(&rule, &values, &picks);
        // The expected survivors, computed apart from the ladder: by value (none last), then name.
        let mut alive: Vec<usize> = (0..values.len()).collect();
        for (k, _) in rule.rungs.iter().enumerate() {
            prop_assert!(ladder.complete(k), "rung {} incomplete", k);
            alive.sort_by(|&a, &b| {
                let key = |i: usize| values[i][k].map_or((1, 0.0), |v| (0, v));
                key(a).partial_cmp(&key(b)).unwrap().then(a.cmp(&b))
            });
            alive.truncate(rule.keep(alive.len()));
            let mut top: Vec<String> = alive.iter().map(|i| format!("run{i}")).collect();
            top.sort();
            prop_assert_eq!(ladder.promoted(k), top);
        }
    }
}
