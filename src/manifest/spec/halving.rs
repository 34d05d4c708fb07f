//! [`HalvingSpec`]: `[schedule.halving]` resolved against `[train]` — the deciding metric, the
//! rungs (listed, or grown by `eta` from `first_rung`), each checked to fall on a snapshot.

use serde::Serialize;

use super::base::from_base;
use super::train::TrainSpec;
use crate::manifest::error::{ErrorKind, ManifestError};
use crate::manifest::load::Layers;
use crate::manifest::wire::HalvingWire;

/// Successive halving of a sweep, every value concrete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HalvingSpec {
    /// The deciding metric (a `train.metrics` name, or a precision/recall result of one).
    pub metric: String,
    /// The rungs in kimg, increasing, each at a snapshot and below `train.kimg`.
    pub rungs: Vec<u64>,
    /// The top `1/eta` of the runs at a rung continue.
    pub eta: u32,
    /// At least this many runs continue past each rung.
    pub min_runs: u32,
}

/// Resolve `[schedule.halving]` (`None`: off, or invalid with the problems in `errors`).
pub(super) fn resolve_halving(
    layers: &Layers,
    errors: &mut Vec<ManifestError>,
    w: &HalvingWire,
    train: &TrainSpec,
) -> Option<HalvingSpec> {
    let before = errors.len();
    let mut error = |key: &str, message: String, help: Option<String>| {
        let mut e = layers.error_at(
            ErrorKind::InvalidValue,
            &format!("schedule.halving.{key}"),
            message,
        );
        e.help = help;
        errors.push(e);
    };
    let eta: u32 = from_base(w.eta, "schedule.halving.eta");
    let min_runs: u32 = from_base(w.min_runs, "schedule.halving.min_runs");
    if eta < 2 {
        error(
            "eta",
            format!("`schedule.halving.eta` must be at least 2, found {eta}"),
            None,
        );
    }
    if min_runs < 1 {
        error(
            "min_runs",
            format!("`schedule.halving.min_runs` must be at least 1, found {min_runs}"),
            None,
        );
    }
    let (key, rungs) = match (&w.rungs, w.first_rung) {
        (None, None) => return None,
        (Some(_), Some(_)) => {
            error(
                "first_rung",
                "set `schedule.halving.rungs` or `schedule.halving.first_rung`, not both".into(),
                None,
            );
            return None;
        }
        (Some(rungs), None) => ("rungs", rungs.clone()),
        (None, Some(first)) => ("first_rung", grown_rungs(first, eta, train.kimg)),
    };
    let metric = match (&w.metric, train.metrics.first()) {
        (Some(metric), _) => metric.clone(),
        (None, Some(first)) => first.clone(),
        (None, None) => {
            error(
                "metric",
                "successive halving needs a metric, and `train.metrics` is empty".into(),
                Some("add a metric to `train.metrics`".into()),
            );
            String::new()
        }
    };
    let evaluated = crate::metrics::report::ReportMetric::parse(&metric).metric;
    if !metric.is_empty() && !train.metrics.contains(&evaluated) {
        error(
            "metric",
            format!(
                "`{metric}` is not computed at snapshots: `train.metrics` does not list `{evaluated}`"
            ),
            Some(format!("add `{evaluated}` to `train.metrics`")),
        );
    }
    if let Some(problem) = rung_problem(&rungs, train) {
        error(key, problem.0, problem.1);
    }
    (errors.len() == before).then_some(HalvingSpec {
        metric,
        rungs,
        eta,
        min_runs,
    })
}

/// `first × eta^k` while below `kimg`.
fn grown_rungs(first: u64, eta: u32, kimg: u64) -> Vec<u64> {
    let mut rungs = Vec::new();
    let mut rung = first;
    while rung > 0 && rung < kimg {
        rungs.push(rung);
        rung = rung.saturating_mul(u64::from(eta.max(2)));
    }
    if rungs.is_empty() {
        rungs.push(first);
    }
    rungs
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// What is wrong with `rungs` for `train` (message and hint), if anything: empty, not
/// increasing, at 0 or at or past `train.kimg`, or between snapshots (then the hint names the
/// `snap` — or `tick` and `snap` — that makes every rung a snapshot).
fn rung_problem(rungs: &[u64], train: &TrainSpec) -> Option<(String, Option<String>)> {
    let kimg = train.kimg;
    if rungs.is_empty() {
        return Some(("`schedule.halving.rungs` is empty".into(), None));
    }
    if rungs.windows(2).any(|w| w[0] >= w[1]) {
        return Some((format!("rungs must increase, found {rungs:?}"), None));
    }
    if let Some(bad) = rungs.iter().find(|&&r| r == 0 || r >= kimg) {
        return Some((
            format!("rung {bad} kimg is not between 0 and `train.kimg` ({kimg}), exclusive"),
            None,
        ));
    }
    let every = u64::from(train.tick) * u64::from(train.snap);
    let off = rungs.iter().find(|&&r| r % every != 0)?;
    let g = rungs.iter().fold(0, |g, &r| gcd(g, r));
    let tick = u64::from(train.tick);
    let hint = if g % tick == 0 {
        format!(
            "set `train.snap = {}` (a snapshot every {g} kimg)",
            g / tick
        )
    } else {
        let tick = gcd(g, tick);
        format!("set `train.tick = {tick}` and `train.snap = {}`", g / tick)
    };
    Some((
        format!(
            "rung {off} kimg falls between snapshots (every `train.tick` × `train.snap` = {} × {} = {every} kimg)",
            train.tick, train.snap
        ),
        Some(hint),
    ))
}

#[cfg(test)]
mod tests {
    use super::{gcd, grown_rungs};

    #[test]
    fn grown_rungs_stop_below_the_run_length() {
        assert_eq!(grown_rungs(1000, 3, 25_000), [1000, 3000, 9000]);
        assert_eq!(grown_rungs(8, 2, 20), [8, 16]);
        assert_eq!(gcd(1000, 3000), 1000);
    }
}
