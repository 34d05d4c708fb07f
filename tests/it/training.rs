//! The training loop end to end on a tiny configuration: it writes the run directory the reference
//! writes, and a run killed after a snapshot resumes to exactly the weights of one that never
//! stopped.

use std::path::{Path, PathBuf};

use kimg::manifest::{ExperimentSpec, Layers, Override};
use kimg::snapshot::name::latest_snapshot;
use kimg::train::trainer::{Observer, Outcome, Trainer};
use tch::Device;

use crate::common::rng_lock;

fn tiny_spec(dir: &Path, kimg: u64) -> ExperimentSpec {
    tiny_spec_with(dir, kimg, "")
}

/// The tiny configuration on one GPU with extra `[train]` lines.
fn tiny_spec_with(dir: &Path, kimg: u64, extra: &str) -> ExperimentSpec {
    tiny_spec_on(dir, kimg, 1, extra)
}

/// The tiny configuration on `gpus` replicas with extra `[train]` lines.
fn tiny_spec_on(dir: &Path, kimg: u64, gpus: u32, extra: &str) -> ExperimentSpec {
    let data =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/data_dataset.zip");
    let manifest = dir.join("tiny.toml");
    let text = format!(
        "[data]\npath = {:?}\n[train]\ncfg = \"stylegan2\"\ngpus = {gpus}\nbatch = 16\nbatch_gpu = 8\ngamma = 0.5\ncbase = 128\ncmax = 8\nmap_depth = 2\nmbstd_group = 2\naug = \"ada\"\nmetrics = []\nkimg = {kimg}\ntick = 1\nsnap = 1\nworkers = 1\n{extra}",
        data.display().to_string(),
    );
    std::fs::write(&manifest, text).unwrap();
    let overrides: Vec<Override> = Vec::new();
    let layers = Layers::from_manifest(&manifest, &overrides).unwrap();
    ExperimentSpec::resolve(&layers, Some(16), "tiny").unwrap()
}

fn train(spec: ExperimentSpec, run_dir: &Path) -> Vec<(String, tch::Tensor)> {
    let mut trainer = Trainer::new(spec, run_dir, Device::Cpu).unwrap();
    trainer.run().unwrap();
    trainer.g_ema_state()
}

#[test]
fn a_killed_run_resumes_to_the_same_weights_and_writes_the_run_files() {
    let _rng = rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let straight_dir = dir.path().join("straight");
    let straight = train(tiny_spec(dir.path(), 2), &straight_dir);
    for file in [
        "log.txt",
        "stats.jsonl",
        "reals.png",
        "fakes_init.png",
        "fakes000000.png",
        "fakes000001.png",
        "fakes000002.png",
    ] {
        assert!(straight_dir.join(file).exists(), "{file} missing");
    }
    let ticks = std::fs::read_to_string(straight_dir.join("stats.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(ticks, 3, "ticks 0, 1 and the final one");

    // Simulate a kill after the tick-1 snapshot: drop everything the run wrote later.
    let killed_dir = dir.path().join("killed");
    std::fs::create_dir(&killed_dir).unwrap();
    for entry in std::fs::read_dir(&straight_dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, killed_dir.join(path.file_name().unwrap())).unwrap();
    }
    let last = latest_snapshot(&killed_dir).unwrap();
    assert!(last.ends_with("network-snapshot-000002.safetensors"));
    std::fs::remove_file(&last).unwrap();
    assert!(
        latest_snapshot(&killed_dir)
            .unwrap()
            .ends_with("network-snapshot-000001.safetensors")
    );

    let resumed = train(tiny_spec(dir.path(), 2), &killed_dir);
    assert_same_weights(&straight, &resumed, "resumed after a kill");

    // Interrupt mid-tick, at an iteration that is neither a snapshot nor an ADA adjustment: the
    // interrupt snapshot must resume to the same weights too.
    let interrupted_dir = dir.path().join("interrupted");
    let mut trainer =
        Trainer::new(tiny_spec(dir.path(), 2), &interrupted_dir, Device::Cpu).unwrap();
    let outcome = trainer
        .run_observed(&mut StopAt {
            nimg: 1350,
            seen: 0,
        })
        .unwrap();
    assert_eq!(outcome, Outcome::Interrupted { kimg: 1.36 });
    drop(trainer);
    let resumed = train(tiny_spec(dir.path(), 2), &interrupted_dir);
    assert_same_weights(&straight, &resumed, "resumed after an interrupt");
}

#[test]
fn resume_transfers_the_networks_of_a_snapshot_into_a_fresh_run() {
    let _rng = rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let source_dir = dir.path().join("source");
    // One iteration, then the interrupt snapshot.
    let mut trainer = Trainer::new(
        tiny_spec_with(dir.path(), 1, "seed = 7\n"),
        &source_dir,
        Device::Cpu,
    )
    .unwrap();
    let outcome = trainer
        .run_observed(&mut StopAt { nimg: 1, seen: 0 })
        .unwrap();
    assert!(matches!(outcome, Outcome::Interrupted { .. }));
    let source = trainer.g_ema_state();
    drop(trainer);
    let snapshot = latest_snapshot(&source_dir).unwrap();

    let target_dir = dir.path().join("target");
    let resume = format!("resume = {:?}\n", snapshot.display().to_string());
    let trainer = Trainer::new(
        tiny_spec_with(dir.path(), 1, &resume),
        &target_dir,
        Device::Cpu,
    )
    .unwrap();
    assert_same_weights(&source, &trainer.g_ema_state(), "transferred");
    assert_eq!(
        trainer.progress().cur_nimg,
        0,
        "a transfer starts a fresh run"
    );
    let log = std::fs::read_to_string(target_dir.join("log.txt")).unwrap();
    assert!(log.contains("Resuming from"), "{log}");

    let missing = format!(
        "resume = {:?}\n",
        dir.path().join("nope.pkl").display().to_string()
    );
    let error = Trainer::new(
        tiny_spec_with(dir.path(), 1, &missing),
        &dir.path().join("x"),
        Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(error.contains("nope.pkl"), "{error}");
}

/// `gpus = 2` on the CPU trains what `gpus = 1` does up to the order gradients are summed, and
/// resumes exactly.
///
/// The two differ in shapes (two micro-batches of 8 against one of 16) and so in kernel choices and
/// summation order: a few iterations apart they differ by float32 noise, but training is chaotic,
/// and after 1 kimg (250 iterations) that noise has grown to 1e-2 of a tensor on some CPUs. So the
/// comparison is over [`SHORT_RUN`] iterations, relative to how far G_ema moved in them. The
/// trainstep tests compare the same replicas against the reference itself.
#[test]
fn two_replicas_train_what_one_does_and_resume_exactly() {
    let _rng = rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let short_run = |gpus: u32, name: &str| {
        let mut trainer = Trainer::new(
            tiny_spec_on(dir.path(), 1, gpus, ""),
            &dir.path().join(name),
            Device::Cpu,
        )
        .unwrap();
        assert_eq!(trainer.replica_count(), gpus as usize);
        let start: Vec<_> = trainer
            .g_ema_state()
            .into_iter()
            .map(|(k, t)| (k, t.copy()))
            .collect();
        for _ in 0..SHORT_RUN {
            trainer.step().unwrap();
        }
        (start, trainer.g_ema_state())
    };
    let (start, one) = short_run(1, "one");
    let (_, two) = short_run(2, "two-short");
    let squared = |t: tch::Tensor| {
        t.to_kind(tch::Kind::Double)
            .square()
            .sum(tch::Kind::Double)
            .double_value(&[])
    };
    let (mut moved, mut apart) = (0f64, 0f64);
    for (((_, a0), (_, a)), (_, b)) in start.iter().zip(&one).zip(&two) {
        moved += squared(a - a0);
        apart += squared(b - a);
    }
    let relative = (apart / moved).sqrt();
    eprintln!("{SHORT_RUN} iterations on two replicas vs one: {relative:.2e} of G_ema's movement");
    assert!(
        relative < 1e-4,
        "two replicas are {relative:.2e} of G_ema's movement away from one"
    );

    let spec = tiny_spec_on(dir.path(), 1, 2, "");
    let mut trainer = Trainer::new(spec, &dir.path().join("two"), Device::Cpu).unwrap();
    trainer.run().unwrap();
    let two = trainer.g_ema_state();

    // Interrupted mid-tick and resumed, the replicas (which receive everything again after the
    // restore) end exactly where the uninterrupted run did.
    let interrupted = dir.path().join("two-interrupted");
    let spec = || tiny_spec_on(dir.path(), 1, 2, "");
    let mut trainer = Trainer::new(spec(), &interrupted, Device::Cpu).unwrap();
    let outcome = trainer
        .run_observed(&mut StopAt { nimg: 480, seen: 0 })
        .unwrap();
    assert!(
        matches!(outcome, Outcome::Interrupted { .. }),
        "{outcome:?}"
    );
    drop(trainer);
    let resumed = train(spec(), &interrupted);
    assert_same_weights(&two, &resumed, "two replicas resumed after an interrupt");
}

/// Iterations compared between one replica and two: few enough that their difference is still
/// summation noise (5e-6 to 9e-6 of G_ema's movement across the CPUs and kernels tried; 1e-4
/// allowed, as Adam normalises near-zero gradients whose sign that noise can flip).
const SHORT_RUN: usize = 4;

fn assert_same_weights(
    expected: &[(String, tch::Tensor)],
    actual: &[(String, tch::Tensor)],
    what: &str,
) {
    assert_eq!(expected.len(), actual.len());
    for ((name, a), (_, b)) in expected.iter().zip(actual) {
        assert!(a.equal(b), "G_ema.{name} differs when {what}");
    }
}

/// Asks the loop to stop once `nimg` images were shown.
struct StopAt {
    nimg: u64,
    seen: u64,
}

impl Observer for StopAt {
    fn step(&mut self, cur_nimg: u64, _total_nimg: u64) {
        self.seen = cur_nimg;
    }

    fn stop_requested(&self) -> bool {
        self.seen >= self.nimg
    }
}
