//! Successive halving end to end on the CPU: a 6-run sweep (three gammas × two seeds) of a tiny
//! StyleGAN2 with a reduced FID (20 generated images, a traced stand-in detector) under `kimg run
//! --devices cpu --max-parallel 2`, interrupted once and run again: the runs that continue past
//! each rung are the ones the logged metric values say, the decisions replay from the log, and
//! a further invocation has nothing to do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kimg::halving::store::LogLine;
use kimg::halving::{Roster, read_log, replay};
use kimg::run::decision::{RunDecision, Verdict};
use kimg::run::layout::{RunState, run_state};
use kimg::run::status::{RunStatus, State};

const METRIC: &str = "fid20_full";

fn kimg(dir: &Path, detector: &Path) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("kimg"));
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("KIMG_NO_PROGRESS", "1")
        .env("KIMG_DETECTOR", detector)
        .env("KIMG_CACHE_DIR", dir.join("cache"));
    command
}

/// Three gammas × two seeds, 3 kimg each, a snapshot every kimg, rungs at 1 and 2 kimg, eta 3.
fn write_sweep(dir: &Path) -> PathBuf {
    let data =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/data_dataset.zip");
    let manifest = dir.join("halving.toml");
    std::fs::write(
        &manifest,
        format!(
            "name = \"halving\"\n[data]\npath = {:?}\n[train]\ncfg = \"stylegan2\"\ngpus = 1\n\
             batch = 8\ngamma = 0.5\ncbase = 64\ncmax = 8\nmap_depth = 2\nmbstd_group = 2\n\
             aug = \"noaug\"\nmetrics = [\"{METRIC}\"]\nkimg = 3\ntick = 1\nsnap = 1\nworkers = 1\n\
             [sweep]\n\"train.gamma\" = {{ times = [0.5, 1, 2] }}\n\"train.seed\" = [0, 1]\n\
             [schedule.halving]\nrungs = [1, 2]\neta = 3\nmin_runs = 1\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    manifest
}

/// `(kimg, value)` of every evaluation in `run_dir`.
fn history(run_dir: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(run_dir.join(format!("metric-{METRIC}.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let pkl = value["snapshot_pkl"].as_str().unwrap();
            let kimg: u64 = pkl
                .trim_start_matches("network-snapshot-")
                .split('.')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            (kimg, value["results"][METRIC].as_f64().unwrap())
        })
        .collect()
}

/// The runs expected to continue past a rung of `rung` kimg among `runs` (`(hash, dir)`),
/// computed from the metric logs alone: best FID up to the rung, then fewer kimg to reach it,
/// then the lower latest value at the rung, then the hash; the top `keep`.
fn expected_top(runs: &[(String, PathBuf)], rung: u64, keep: usize) -> Vec<String> {
    let mut scored: Vec<(f64, u64, f64, String)> = runs
        .iter()
        .map(|(hash, dir)| {
            let upto: Vec<(u64, f64)> = history(dir).into_iter().filter(|p| p.0 <= rung).collect();
            assert_eq!(
                upto.last().map(|p| p.0),
                Some(rung),
                "{hash} evaluated at the rung"
            );
            let best = upto
                .iter()
                .copied()
                .reduce(|a, b| if b.1 < a.1 { b } else { a })
                .unwrap();
            (best.1, best.0, upto.last().unwrap().1, hash.clone())
        })
        .collect();
    scored.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.total_cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    let mut top: Vec<String> = scored.into_iter().take(keep).map(|s| s.3).collect();
    top.sort();
    top
}

/// `kimg run` of the sweep on two CPU slots (its first four words: on the CPU, one slot).
const RUN_LOCALLY: [&str; 6] = [
    "run",
    "halving.toml",
    "--devices",
    "cpu",
    "--max-parallel",
    "2",
];

/// Start `kimg run`, and interrupt it (Ctrl-C) once the decision log holds `arrivals` arrivals.
fn run_and_interrupt(root: &Path, detector: &Path, arrivals: usize) {
    let mut scheduler = kimg(root, detector)
        .args(RUN_LOCALLY)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let experiment = root.join("runs/halving");
    let deadline = Instant::now() + Duration::from_secs(240);
    while read_log(&experiment)
        .iter()
        .filter(|l| matches!(l, LogLine::Arrival { .. }))
        .count()
        < arrivals
    {
        assert!(Instant::now() < deadline, "no arrivals logged");
        assert!(
            scheduler.try_wait().unwrap().is_none(),
            "kimg run ended early"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Interrupt while both slots train (a worker still starting up would not yet catch the
    // signal and would count as failed).
    let training = |dir: &Path| {
        RunStatus::read(dir).is_some_and(|s| s.state == State::Running && s.kimg > 0.0)
    };
    loop {
        let dirs: Vec<PathBuf> = std::fs::read_dir(&experiment)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        if dirs.iter().filter(|d| training(d)).count() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no two workers training");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(scheduler.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = scheduler.wait().unwrap();
    assert_eq!(status.code(), Some(130), "an interrupted sweep exits 130");
}

#[test]
fn a_halving_sweep_keeps_the_runs_its_logged_values_say_across_an_interruption() {
    let root = tempfile::tempdir().unwrap();

    let detector = root.path().join("tiny.pt");
    crate::metrics::tiny_detector(&detector);
    write_sweep(root.path());
    let plan = kimg(root.path(), &detector)
        .args(["plan", "halving.toml"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("with halving by fid20_full (rungs 1, 2, eta 3): 9 of 18 kimg"),
        "{plan}"
    );
    let json = kimg(root.path(), &detector)
        .args(["plan", "halving.toml", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let halving = &json["halving"];
    assert_eq!(
        (&halving["rungs"], &halving["eta"], &halving["survivors"]),
        (
            &serde_json::json!([1, 2]),
            &serde_json::json!(3),
            &serde_json::json!([6, 2, 1])
        )
    );
    assert_eq!(
        (&halving["kimg"], &halving["full_kimg"]),
        (&9.into(), &18.into())
    );

    run_and_interrupt(root.path(), &detector, 2);
    let experiment = root.path().join("runs/halving");
    let before = read_log(&experiment);
    let finished = kimg(root.path(), &detector)
        .args(RUN_LOCALLY)
        .output()
        .unwrap();
    assert!(
        finished.status.success(),
        "{}",
        String::from_utf8_lossy(&finished.stdout)
    );

    // The log grew from what the interrupted invocation wrote, and replays to its own decisions.
    let log = read_log(&experiment);
    assert_eq!(log[..before.len()], before[..]);
    let roster = Roster::read(&experiment).unwrap().unwrap();
    let (ladder, replayed) = replay(&roster, &log);
    let logged: Vec<(String, usize, String)> = log
        .iter()
        .filter_map(|l| match l {
            LogLine::Decision { run, decision } => Some((
                run.clone(),
                decision.rung,
                decision.verdict.name().to_string(),
            )),
            _ => None,
        })
        .collect();
    let replayed: Vec<(String, usize, String)> = replayed
        .iter()
        .map(|d| (d.run.clone(), d.rung, d.verdict.name().to_string()))
        .collect();
    assert_eq!(logged, replayed);

    // Rung 1 kimg: the best 2 of 6 by the metric logs continued; rung 2 kimg: the best 1 of them.
    let runs: Vec<(String, PathBuf)> = roster
        .runs
        .iter()
        .map(|r| (r.hash.clone(), experiment.join(&r.dir)))
        .collect();
    let first = expected_top(&runs, 1, 2);
    assert_eq!(ladder.promoted(0), first);
    let survivors: Vec<(String, PathBuf)> = runs
        .iter()
        .filter(|r| first.contains(&r.0))
        .cloned()
        .collect();
    let second = expected_top(&survivors, 2, 1);
    assert_eq!(ladder.promoted(1), second);
    for (hash, dir) in &runs {
        let state = run_state(dir, 3);
        let decision = RunDecision::read(dir).unwrap();
        let last_kimg = history(dir).last().unwrap().0;
        let (verdict, rung) = (decision.verdict, decision.rung);
        if second.contains(hash) {
            assert_eq!(
                (state, last_kimg, verdict, rung),
                (RunState::Done, 3, Verdict::Promoted, 1)
            );
        } else if first.contains(hash) {
            assert_eq!(
                (state, last_kimg, verdict, rung),
                (RunState::Stopped { kimg: 2 }, 2, Verdict::Stopped, 1)
            );
        } else {
            // A run promoted before the rung was complete may have reached 2 kimg before its
            // promotion was revoked.
            assert!(
                matches!(state, RunState::Stopped { .. }),
                "{hash}: {state:?}"
            );
            assert_eq!((verdict, rung), (Verdict::Stopped, 0), "{hash}");
            assert!(last_kimg <= 2, "{hash}");
        }
    }
    let status = kimg(root.path(), &detector)
        .args(["status", "halving.toml"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        status.matches("halving: stopped at rung").count(),
        5,
        "{status}"
    );

    // Nothing left to do, and no new decision.
    let again = kimg(root.path(), &detector)
        .args(&RUN_LOCALLY[..4])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to do"));
    assert_eq!(read_log(&experiment), log);
    // `--no-halving` would train the five stopped runs on from their snapshots.
    let full = kimg(root.path(), &detector)
        .args(&RUN_LOCALLY[..4])
        .args(["--no-halving", "--dry-run"])
        .output()
        .unwrap();
    let full = String::from_utf8_lossy(&full.stdout);
    assert_eq!(full.matches("stopped early at").count(), 5, "{full}");
    assert!(full.contains("dry run: 5 of 6 runs would run"), "{full}");
}

/// `kimg status --json` rows of the manifest in `root`.
fn status_rows(root: &Path, detector: &Path) -> Vec<serde_json::Value> {
    let out = kimg(root, detector)
        .args(["status", "halving.toml", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Wait until no run of the manifest in `root` is queued or running on Slurm.
fn wait_for_slurm(root: &Path, detector: &Path) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(400);
    loop {
        let rows = status_rows(root, detector);
        let busy = rows.iter().any(|r| {
            r["slurm_state"]
                .as_str()
                .is_some_and(|s| s == "PENDING" || s == "RUNNING" || s == "COMPLETING")
                || r["state"] == "running"
                || r["state"] == "queued"
        });
        if !busy {
            return rows;
        }
        assert!(Instant::now() < deadline, "Slurm did not finish: {rows:#?}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn on_slurm_tasks_end_cleanly_at_their_rung_and_the_next_invocation_resumes_the_promoted() {
    if let Some(why) = crate::slurm::slurm_unusable() {
        eprintln!("\nSKIPPED halving on Slurm: {why} (`scripts/slurm-local.sh up`)\n");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let detector = root.path().join("tiny.pt");
    crate::metrics::tiny_detector(&detector);
    let manifest = write_sweep(root.path());
    // Three runs, one rung at 1 kimg, 2 kimg each: one run continues.
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace(
            "\"train.gamma\" = { times = [0.5, 1, 2] }\n\"train.seed\" = [0, 1]",
            "\"train.gamma\" = { times = [0.5, 1, 2] }",
        )
        .replace("kimg = 3", "kimg = 2")
        .replace("rungs = [1, 2]", "rungs = [1]");
    std::fs::write(&manifest, text).unwrap();
    let submit = |root: &Path| {
        let out = kimg(root, &detector)
            .args(["run", "halving.toml", "--on", "slurm", "--devices", "cpu"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(submit(root.path()).contains("submitted job array"));
    wait_for_slurm(root.path(), &detector);
    let experiment = root.path().join("runs/halving");
    let roster = Roster::read(&experiment).unwrap().unwrap();
    let (ladder, _) = replay(&roster, &read_log(&experiment));
    assert!(ladder.complete(0), "every task reached the rung");
    let winner = ladder.promoted(0);
    assert_eq!(winner.len(), 1);
    // The winner may have paused before the last arrival promoted it: then it waits for the next
    // invocation, which resubmits it alone.
    let rows = status_rows(root.path(), &detector);
    if rows
        .iter()
        .any(|r| r["state"] != "done" && r["hash"].as_str() == Some(&winner[0]))
    {
        assert!(submit(root.path()).contains("submitted job array"));
    }
    let rows = wait_for_slurm(root.path(), &detector);
    for row in &rows {
        let expected = if row["hash"].as_str() == Some(&winner[0]) {
            "done"
        } else {
            "stopped"
        };
        assert_eq!(row["state"], expected, "{rows:#?}");
    }
    assert!(submit(root.path()).contains("nothing to do"));
}
