//! TensorBoard reads a kimg run's event files as it reads an official run's: read back by PyPI's
//! `tensorboard` (its event accumulator, through `scripts/read-tfevents.py` in the project venv),
//! every statistic of `stats.jsonl` is there under its name and every metric result as
//! `Metrics/<name>`, at the official steps and wall times; after a kill and a resume, what the
//! killed process wrote past the snapshot is gone and no step is there twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::metrics::{dataset_zip, kimg_command, succeeded, vgg16_stub};

/// The one metric of the tiny run: precision and recall with 20 generated images on the VGG16
/// stub, so it needs no download.
const METRIC: &str = "pr203_full";

/// One scalar as TensorBoard keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    step: i64,
    value: f64,
    wall_time: f64,
}

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every scalar series TensorBoard reads from `run_dir`, by tag.
fn read_events(run_dir: &Path) -> BTreeMap<String, Vec<Point>> {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup-tensorboard`",
        python.display()
    );
    let out = std::process::Command::new(&python)
        .arg(root().join("scripts/read-tfevents.py"))
        .arg(run_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reading the events with TensorBoard failed (run `make setup-tensorboard`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let series: BTreeMap<String, Vec<(i64, serde_json::Value, f64)>> =
        serde_json::from_slice(&out.stdout).unwrap();
    series
        .into_iter()
        .map(|(tag, points)| {
            let points = points
                .into_iter()
                .map(|(step, value, wall_time)| Point {
                    step,
                    value: number(&value),
                    wall_time,
                })
                .collect();
            (tag, points)
        })
        .collect()
}

/// A JSON number, or a non-finite one spelled as a string.
fn number(value: &serde_json::Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| value.as_str().unwrap().parse().unwrap())
}

/// A line of `stats.jsonl` or `metric-<name>.jsonl`, whose floats may be Python's `NaN`,
/// `Infinity` and `-Infinity` tokens.
fn json_line(line: &str) -> serde_json::Value {
    let text = line
        .replace("-Infinity", "\"-inf\"")
        .replace("Infinity", "\"inf\"")
        .replace("NaN", "\"nan\"");
    serde_json::from_str(&text).unwrap()
}

/// One tick of `stats.jsonl`: each statistic's mean, and when it was written.
#[derive(Debug, Clone)]
struct Tick {
    means: BTreeMap<String, f64>,
    timestamp: f64,
}

impl Tick {
    /// The official step, `int(cur_nimg / 1e3)`.
    fn step(&self) -> i64 {
        #[expect(clippy::cast_possible_truncation, reason = "small kimg")]
        let step = self.means["Progress/kimg"].floor() as i64;
        step
    }
}

fn ticks(run_dir: &Path) -> Vec<Tick> {
    std::fs::read_to_string(run_dir.join("stats.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let fields = json_line(line);
            let mut means = BTreeMap::new();
            let mut timestamp = None;
            for (name, value) in fields.as_object().unwrap() {
                if name == "timestamp" {
                    timestamp = value.as_f64();
                } else {
                    means.insert(name.clone(), number(&value["mean"]));
                }
            }
            Tick {
                means,
                timestamp: timestamp.unwrap(),
            }
        })
        .collect()
}

/// Each evaluation of [`METRIC`]: its results.
fn evaluations(run_dir: &Path) -> Vec<BTreeMap<String, f64>> {
    std::fs::read_to_string(run_dir.join(format!("metric-{METRIC}.jsonl")))
        .unwrap()
        .lines()
        .map(|line| {
            json_line(line)["results"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, value)| (name.clone(), number(value)))
                .collect()
        })
        .collect()
}

/// What TensorBoard must show for `ticks` (each tick's statistics at its step) and for the metric
/// values written at some of those steps.
fn expected(
    ticks: &[Tick],
    metrics: &[(i64, &BTreeMap<String, f64>)],
) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut want: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for tick in ticks {
        for (name, mean) in &tick.means {
            want.entry(name.clone())
                .or_default()
                .push((tick.step(), *mean));
        }
    }
    for (step, results) in metrics {
        for (name, value) in *results {
            want.entry(format!("Metrics/{name}"))
                .or_default()
                .push((*step, *value));
        }
    }
    want
}

/// TensorBoard's series equal `want`, values as the float32 the official `add_scalar` stores.
fn assert_series(got: &BTreeMap<String, Vec<Point>>, want: &BTreeMap<String, Vec<(i64, f64)>>) {
    assert_eq!(
        got.keys().collect::<BTreeSet<_>>(),
        want.keys().collect::<BTreeSet<_>>(),
        "tags"
    );
    for (tag, points) in want {
        let read: Vec<(i64, f64)> = got[tag].iter().map(|p| (p.step, p.value)).collect();
        #[expect(
            clippy::cast_possible_truncation,
            reason = "TensorBoard stores float32"
        )]
        let stored: Vec<(i64, f64)> = points
            .iter()
            .map(|&(step, value)| (step, f64::from(value as f32)))
            .collect();
        let same = read.len() == stored.len()
            && read
                .iter()
                .zip(&stored)
                .all(|(a, b)| a.0 == b.0 && (a.1 == b.1 || (a.1.is_nan() && b.1.is_nan())));
        assert!(
            same,
            "{tag}: TensorBoard has {read:?}, stats say {stored:?}"
        );
    }
}

/// The tiny configuration: ticks at 0.016, 1.008 and 2 kimg; a snapshot, and [`METRIC`], at the
/// first and the last, so the middle tick writes the first tick's metric values again.
fn manifest(dir: &Path) -> PathBuf {
    let manifest = dir.join("tiny.toml");
    std::fs::write(
        &manifest,
        format!(
            "[data]\npath = {:?}\n[train]\ncfg = \"stylegan2\"\ngpus = 1\nbatch = 16\n\
             batch_gpu = 8\ngamma = 0.5\ncbase = 128\ncmax = 8\nmap_depth = 2\nmbstd_group = 2\n\
             aug = \"ada\"\nmetrics = [\"{METRIC}\"]\nkimg = 2\ntick = 1\nsnap = 2\nworkers = 1\n",
            dataset_zip().display().to_string()
        ),
    )
    .unwrap();
    manifest
}

/// `kimg train --run-dir RUN_DIR` on the CPU with the tiny configuration of `dir`.
fn train(dir: &Path, run_dir: &Path) {
    succeeded(
        kimg_command()
            .env("KIMG_VGG16", vgg16_stub())
            .env("KIMG_CACHE_DIR", dir.join("cache"))
            .args(["train", "--device", "cpu", "--run-dir"])
            .arg(run_dir)
            .arg("--manifest")
            .arg(manifest(dir))
            .current_dir(dir),
    );
}

/// A tiny run trained once for both tests (it takes most of their time), in a directory under
/// `target/tmp` that the next test run replaces; it is never written to afterwards.
fn straight_run() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tensorboard-straight");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        train(&dir, &dir.join("run"));
        dir
    })
}

#[test]
fn tensorboard_reads_every_statistic_and_metric_at_the_official_steps() {
    let dir = straight_run();
    let run_dir = dir.join("run");
    let events: Vec<PathBuf> = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .collect();
    assert_eq!(events.len(), 1, "one event file per process");

    let ticks = ticks(&run_dir);
    assert_eq!(ticks.iter().map(Tick::step).collect::<Vec<_>>(), [0, 1, 2]);
    let evaluated = evaluations(&run_dir);
    assert_eq!(evaluated.len(), 2, "snapshots at ticks 0 and 2");
    assert_eq!(
        evaluated[0].keys().collect::<Vec<_>>(),
        [&format!("{METRIC}_precision"), &format!("{METRIC}_recall")]
    );
    let got = read_events(&run_dir);
    // As the official loop: the tick-0 values again at tick 1, where nothing was evaluated.
    let want = expected(
        &ticks,
        &[(0, &evaluated[0]), (1, &evaluated[0]), (2, &evaluated[1])],
    );
    assert!(want.len() > 15, "{:?}", want.keys());
    assert!(want.contains_key("Loss/G/loss") && want.contains_key("Timing/sec_per_kimg"));
    assert_series(&got, &want);

    // Wall times are seconds since training started: the same start for every event, and the
    // metrics share their tick's wall time.
    let starts: Vec<f64> = got
        .iter()
        .filter(|(tag, _)| !tag.starts_with("Metrics/"))
        .flat_map(|(_, points)| {
            points
                .iter()
                .map(|p| ticks[usize::try_from(p.step).unwrap()].timestamp - p.wall_time)
        })
        .collect();
    let start = starts[0];
    assert!(
        starts.iter().all(|s| (s - start).abs() < 1e-5),
        "{starts:?}"
    );
    assert!(start <= ticks[0].timestamp && ticks[0].timestamp - start < 600.0);
    let tick_wall_times: Vec<f64> = got["Progress/tick"].iter().map(|p| p.wall_time).collect();
    let metric_wall_times: Vec<f64> = got[&format!("Metrics/{METRIC}_recall")]
        .iter()
        .map(|p| p.wall_time)
        .collect();
    assert_eq!(metric_wall_times, tick_wall_times);
}

/// A kill after the tick-0 snapshot (simulated, as in `training`, by removing the later snapshot
/// from a copy of the finished run): the resumed process cuts `stats.jsonl` and the metric log
/// back to that snapshot and writes a new event file whose session start supersedes the killed
/// process's steps 1 and 2, so the logs and TensorBoard show each step once — tick 0 from the
/// killed process, ticks 1 and 2 from the resumed one, and the metrics it evaluated.
#[test]
fn a_resumed_run_supersedes_what_the_killed_process_wrote_past_its_snapshot() {
    let straight = straight_run();
    let dir = tempfile::tempdir().unwrap();
    let killed = dir.path().join("run");
    std::fs::create_dir(&killed).unwrap();
    for entry in std::fs::read_dir(straight.join("run")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, killed.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::remove_file(killed.join("network-snapshot-000002.safetensors")).unwrap();
    std::fs::copy(straight.join("tiny.toml"), dir.path().join("tiny.toml")).unwrap();
    train(dir.path(), &killed);

    let ticks = ticks(&killed);
    assert_eq!(
        ticks.iter().map(Tick::step).collect::<Vec<_>>(),
        [0, 1, 2],
        "stats.jsonl keeps each tick once"
    );
    let evaluated = evaluations(&killed);
    assert_eq!(
        evaluated.len(),
        2,
        "the metric log keeps each evaluation once"
    );
    let got = read_events(&killed);
    for (tag, points) in &got {
        let steps: Vec<i64> = points.iter().map(|p| p.step).collect();
        assert!(
            steps.windows(2).all(|w| w[0] < w[1]),
            "{tag}: steps {steps:?}"
        );
    }
    // The resumed process writes its metrics only once it has evaluated them, as an official
    // process does.
    let want = expected(
        &[ticks[0].clone(), ticks[1].clone(), ticks[2].clone()],
        &[(0, &evaluated[0]), (2, &evaluated[1])],
    );
    assert_series(&got, &want);
    // Exact resume: the same losses as the straight run; its timings are the resumed process's.
    let straight_ticks = self::ticks(&straight.join("run"));
    assert_eq!(
        ticks[2].means["Loss/G/loss"],
        straight_ticks[2].means["Loss/G/loss"]
    );
    assert_ne!(
        got["Timing/total_sec"][2].value,
        f64::from(straight_ticks[2].means["Timing/total_sec"] as f32)
    );
}
