//! `kimg run --on slurm` against a real Slurm: the single-node cluster of
//! `scripts/slurm-local.sh up` (which `.ci/run` starts). Without a usable Slurm the end-to-end
//! test prints `SKIPPED` and why on the terminal (not captured) and returns, except under
//! `KIMG_REQUIRE_SLURM=1` (CI), where it fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kimg::snapshot::file::SnapshotFile;

fn kimg(dir: &Path) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("kimg"));
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("KIMG_NO_PROGRESS", "1");
    command
}

/// Why Slurm cannot run jobs here, if it cannot. With `KIMG_REQUIRE_SLURM=1` (set by `.ci/run`,
/// whose machine has Slurm) an unusable Slurm fails the calling test instead of skipping it.
pub(crate) fn slurm_unusable() -> Option<String> {
    let why = slurm_problem();
    if let Some(why) = &why {
        assert!(
            std::env::var_os("KIMG_REQUIRE_SLURM").is_none_or(|v| v != "1"),
            "KIMG_REQUIRE_SLURM=1 but Slurm is unusable: {why}"
        );
    }
    why
}

/// What keeps Slurm from running jobs here, if anything.
fn slurm_problem() -> Option<String> {
    let output = Command::new("sinfo")
        .args(["--noheader", "--format=%t"])
        .output();
    match output {
        Err(e) => Some(format!("sinfo: {e}")),
        Ok(out) if !out.status.success() => Some(format!(
            "sinfo failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(out) => {
            let states = String::from_utf8_lossy(&out.stdout).to_string();
            (!states.contains("idle") && !states.contains("mix") && !states.contains("alloc"))
                .then(|| format!("no node is up (sinfo: {})", states.trim()))
        }
    }
}

#[test]
fn a_sweep_submitted_to_slurm_runs_to_completion() {
    if let Some(why) = slurm_unusable() {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED slurm::a_sweep_submitted_to_slurm_runs_to_completion: {why}\n\
             (start a local cluster with `scripts/slurm-local.sh up`)"
        );
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/data_dataset.zip");
    std::fs::write(
        root.path().join("sweep.toml"),
        format!(
            "name = \"slurm-sweep\"\n[data]\npath = {:?}\n[train]\ncfg = \"stylegan2\"\ngpus = 1\n\
             batch = 8\ngamma = 0.5\ncbase = 64\ncmax = 8\nmap_depth = 2\nmbstd_group = 2\n\
             aug = \"noaug\"\nmetrics = []\nkimg = 1\ntick = 1\nsnap = 1\nworkers = 1\n\
             [sweep]\n\"train.seed\" = [0, 1]\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let submit = kimg(root.path())
        .args(["run", "sweep.toml", "--on", "slurm", "--devices", "cpu"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&submit.stdout);
    assert!(
        submit.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&submit.stderr)
    );
    assert!(stdout.contains("submitted job array"), "{stdout}");
    let scripts: Vec<PathBuf> = std::fs::read_dir(root.path().join("runs/slurm-sweep/slurm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sbatch"))
        .collect();
    assert_eq!(scripts.len(), 1);
    let script = std::fs::read_to_string(&scripts[0]).unwrap();
    assert!(script.contains("#SBATCH --array=0-1") && !script.contains("--gpus-per-task"));

    let deadline = Instant::now() + Duration::from_secs(400);
    let mut saw_slurm_state = false;
    loop {
        let out = kimg(root.path())
            .args(["status", "sweep.toml", "--json"])
            .output()
            .unwrap();
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rows.len(), 2);
        saw_slurm_state |= rows.iter().any(|r| {
            r["slurm_state"]
                .as_str()
                .is_some_and(|s| s == "PENDING" || s == "RUNNING")
        });
        if rows.iter().all(|r| r["state"] == "done") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Slurm jobs did not finish: {rows:#?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        saw_slurm_state,
        "kimg status never showed Slurm's job state"
    );
    let again = kimg(root.path())
        .args(["run", "sweep.toml", "--on", "slurm", "--devices", "cpu"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to do"));
}

#[test]
fn the_sbatch_script_asks_for_each_runs_gpus() {
    let manifest =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("experiments/afhqv2-stylegan3-t.toml");
    let runs_dir = tempfile::tempdir().unwrap();
    let runs = kimg::schedule::plan(&manifest, &[], runs_dir.path()).unwrap();
    let refs: Vec<&kimg::schedule::PlannedRun> = runs.iter().collect();
    let options = kimg::schedule::slurm::SlurmOptions {
        partition: Some("gpu".into()),
        time: Some("2-00:00:00".into()),
        sbatch_args: vec!["--account=lab".into()],
        exe: PathBuf::from("/opt/kimg"),
        manifest,
        cpu: false,
        signal_offset: None,
        max_requeues: 7,
    };
    let text =
        kimg::schedule::slurm::script("afhq", &refs, 8, &options, Path::new("/runs/afhq/slurm"));
    for line in [
        "#SBATCH --array=0-4",
        "#SBATCH --gpus-per-task=8",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=2-00:00:00",
        "#SBATCH --account=lab",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        // AFHQv2 is 512²: five minutes to snapshot before the time limit.
        "#SBATCH --signal=B:USR1@300",
        "exec '/opt/kimg' train --run-dir \"$DIR\" --manifest \"$DIR/config.toml\" --device cuda \
         --max-requeues 7",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert!(!text.contains("OMP_NUM_THREADS"));
    assert_eq!(text.matches("-gamma").count(), 5, "{text}");
    let offset = kimg::schedule::slurm::SlurmOptions {
        signal_offset: Some(45),
        ..options
    };
    let text =
        kimg::schedule::slurm::script("afhq", &refs, 8, &offset, Path::new("/runs/afhq/slurm"));
    assert!(text.contains("#SBATCH --signal=B:USR1@45\n"), "{text}");
    assert_eq!(text.matches("--signal").count(), 1, "{text}");
}

#[test]
fn the_default_signal_offset_grows_with_the_resolution() {
    use kimg::schedule::slurm::default_signal_offset;
    let offsets: Vec<u32> = [16, 256, 512, 1024]
        .into_iter()
        .map(|side| default_signal_offset(Some(side)))
        .collect();
    assert_eq!(offsets, [120, 120, 300, 600]);
    assert_eq!(default_signal_offset(None), 600);
}

#[test]
fn slurm_time_limits_are_read_in_every_form_of_its_syntax() {
    use kimg::schedule::slurm::time_limit_seconds;
    let cases = [
        ("3", Some(180)),
        ("3:30", Some(210)),
        ("2:00:05", Some(7205)),
        ("1-2", Some(93_600)),
        ("1-2:30", Some(95_400)),
        ("2-00:00:00", Some(172_800)),
        ("UNLIMITED", None),
        ("infinite", None),
    ];
    for (text, seconds) in cases {
        assert_eq!(time_limit_seconds(text), Ok(seconds), "{text}");
    }
    for bad in ["", "1:2:3:4", "1-", "a", "1-2:3:4:5", "-3", "1h"] {
        let error = time_limit_seconds(bad).unwrap_err();
        assert!(error.contains("not a Slurm time"), "{bad}: {error}");
    }
}

/// A warning that would come at the task's start, and a `--time` Slurm cannot read, are usage
/// errors before anything is submitted (no Slurm needed: nothing reaches sbatch).
#[test]
fn a_signal_offset_not_shorter_than_the_time_limit_is_refused() {
    let root = tempfile::tempdir().unwrap();
    requeue_manifest(root.path(), 1);
    let run = |extra: &[&str]| {
        kimg(root.path())
            .args(["run", "requeue.toml", "--on", "slurm", "--devices", "cpu"])
            .args(extra)
            .output()
            .unwrap()
    };
    let given = run(&["--time", "2", "--signal-offset", "120"]);
    assert_eq!(given.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&given.stderr);
    assert!(
        stderr.contains("`--signal-offset` (120 s) is not shorter than `--time 2` (120 s)"),
        "{stderr}"
    );
    // The default offset of a dataset up to 256² is 120 s.
    let default = run(&["--time", "1:30"]);
    assert_eq!(default.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&default.stderr);
    assert!(stderr.contains("the default `--signal-offset`"), "{stderr}");
    let unreadable = run(&["--time", "2h"]);
    assert_eq!(unreadable.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unreadable.stderr);
    assert!(stderr.contains("not a Slurm time"), "{stderr}");
    assert!(!root.path().join("runs/requeue/slurm").exists());
}

/// Seconds of training the time-limit test asks for, at the speed measured when it starts: more
/// than one warned 3-minute limit holds (each trains 85–145 s: the warning comes 30 s before the
/// limit, or up to a minute earlier) even if the machine then runs 2.7 times as fast (other tests
/// finishing).
const REQUEUE_TRAINING_SEC: f64 = 400.0;

/// The time-limit test's manifest, training `kimg`.
fn requeue_manifest(dir: &Path, kimg: u64) {
    let data =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/data_dataset.zip");
    std::fs::write(
        dir.join("requeue.toml"),
        format!(
            "name = \"requeue\"\n[data]\npath = {:?}\n[train]\ncfg = \"stylegan2\"\ngpus = 1\n\
             batch = 8\ngamma = 0.5\ncbase = 64\ncmax = 8\nmap_depth = 2\nmbstd_group = 2\n\
             aug = \"ada\"\nmetrics = []\nkimg = {kimg}\ntick = 1\nsnap = 4\nworkers = 1\n",
            data.display().to_string()
        ),
    )
    .unwrap();
}

/// `kimg train` of `manifest` (in `dir`, on one thread as a Slurm task trains) into `outdir`.
fn train_one_thread(dir: &Path, manifest: &Path, outdir: &Path) -> Command {
    let mut command = kimg(dir);
    command
        .args(["train", "--device", "cpu", "--outdir"])
        .arg(outdir)
        .arg("--manifest")
        .arg(manifest)
        .env("OMP_NUM_THREADS", "1")
        .env("OMP_WAIT_POLICY", "PASSIVE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// A time-limit warning that comes before training starts (here: once the options are printed,
/// the dataset opened) does not kill the task (SIGUSR1's default action): it is kept, and the
/// trainer stops at its first safe point with a snapshot, as for a warning during training.
#[test]
fn a_time_limit_warning_before_training_starts_ends_with_a_snapshot() {
    use std::io::BufRead as _;
    let root = tempfile::tempdir().unwrap();
    requeue_manifest(root.path(), 4);
    let outdir = root.path().join("out");
    let mut child = train_one_thread(root.path(), &root.path().join("requeue.toml"), &outdir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    assert!(
        lines.any(|line| line.unwrap().starts_with("Training options:")),
        "kimg train printed no options"
    );
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
    let draining = std::thread::spawn(move || lines.for_each(drop));
    let status = child.wait().unwrap();
    draining.join().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "expected an interrupted exit, got {status:?}"
    );
    let snapshots = walk_snapshots(&outdir);
    assert!(
        !snapshots.is_empty(),
        "no snapshot under {}",
        outdir.display()
    );
    for snapshot in snapshots {
        SnapshotFile::read(&snapshot).unwrap();
    }
}

/// The snapshots under `dir`, at any depth.
fn walk_snapshots(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk_snapshots(&path));
        } else if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("network-snapshot-"))
        {
            found.push(path);
        }
    }
    found
}

/// A run longer than its time limit: each task is warned `--signal-offset` seconds before the
/// limit, snapshots, requeues itself, and resumes — to exactly the weights (and optimizer state)
/// of the same run trained without a stop. The run's length is sized by a 1-kimg run first, so
/// that it needs two limits or more however loaded the machine is.
#[test]
fn a_run_longer_than_its_time_limit_requeues_itself_to_the_uninterrupted_weights() {
    if let Some(why) = slurm_unusable() {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED slurm::a_run_longer_than_its_time_limit_requeues_itself: {why}\n\
             (start a local cluster with `scripts/slurm-local.sh up`)"
        );
        return;
    }
    let started = Instant::now();
    let root = tempfile::tempdir().unwrap();
    requeue_manifest(root.path(), 1);
    let manifest = root.path().join("requeue.toml");
    let calibrate = root.path().join("calibrate");
    assert!(
        train_one_thread(root.path(), &manifest, &calibrate)
            .status()
            .unwrap()
            .success()
    );
    // Start-up included: an overestimate, so a little more training than asked for.
    let sec_per_kimg = started.elapsed().as_secs_f64();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "3..=60"
    )]
    let total_kimg = (REQUEUE_TRAINING_SEC / sec_per_kimg)
        .ceil()
        .clamp(3.0, 60.0) as u64;
    requeue_manifest(root.path(), total_kimg);
    let submit = kimg(root.path())
        .args(["run", "requeue.toml", "--on", "slurm", "--devices", "cpu"])
        .args([
            "--time",
            "3",
            "--signal-offset",
            "30",
            "--max-requeues",
            "10",
        ])
        .output()
        .unwrap();
    assert!(
        submit.status.success(),
        "{}{}",
        String::from_utf8_lossy(&submit.stdout),
        String::from_utf8_lossy(&submit.stderr)
    );
    let run_dir = PathBuf::from(status_rows(root.path())[0]["dir"].as_str().unwrap());
    let run_dir = root.path().join(run_dir);
    // The same config.toml trained straight through, meanwhile, on one thread as the task is.
    let straight_dir = root.path().join("straight");
    let mut straight = train_one_thread(root.path(), &run_dir.join("config.toml"), &straight_dir)
        .spawn()
        .unwrap();

    let log = || {
        let slurm_dir = root.path().join("runs/requeue/slurm");
        std::fs::read_dir(&slurm_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "out"))
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<String>()
    };
    let deadline = Instant::now() + Duration::from_secs(20 * 60);
    let row = loop {
        let row = status_rows(root.path()).remove(0);
        if row["state"] == "done" {
            break row;
        }
        let stopped = ["note", "failure"].map(|key| &row["status"][key]);
        assert!(
            stopped.iter().all(|v| v.is_null()) && Instant::now() < deadline,
            "the run did not finish through requeues: {row:#}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_secs(5));
    };
    assert!(straight.wait().unwrap().success());
    let requeues = row["status"]["requeues"].as_array().unwrap().len();
    assert!(requeues >= 1, "never requeued: {row:#}\n{}", log());
    let table = kimg(root.path())
        .args(["status", "requeue.toml"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains(&format!("requeued ×{requeues}")), "{table}");

    let snapshot = |dir: &Path| {
        let path = kimg::snapshot::name::latest_snapshot(dir).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        (
            name,
            kimg::snapshot::file::SnapshotFile::read(&path).unwrap(),
        )
    };
    let straight_run = std::fs::read_dir(&straight_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (expected_name, expected) = snapshot(&straight_run);
    let (actual_name, actual) = snapshot(&run_dir);
    assert_eq!(expected_name, actual_name);
    // Networks, optimizers and the path-length mean; then the resume state of the metadata.
    assert_eq!(expected.tensors.len(), actual.tensors.len());
    for (name, tensor) in &expected.tensors {
        let other = actual.get(name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(
            tensor.equal(other),
            "{name} differs after {requeues} requeues"
        );
    }
    // Not `progress.cur_tick`: a resumed session starts a tick of its own.
    for key in ["sampler", "label_rng", "augment_p", "ada_pending"] {
        assert_eq!(expected.metadata[key], actual.metadata[key], "{key}");
    }
    for key in ["cur_nimg", "batch_idx"] {
        let progress = |file: &SnapshotFile| file.metadata["progress"][key].clone();
        assert_eq!(progress(&expected), progress(&actual), "{key}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "slurm::a_run_longer_than_its_time_limit…: {total_kimg} kimg ({sec_per_kimg:.1} s/kimg) done \
         through {requeues} requeues in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// `kimg status requeue.toml --json` run in `dir`.
fn status_rows(dir: &Path) -> Vec<serde_json::Value> {
    let out = kimg(dir)
        .args(["status", "requeue.toml", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What a Slurm task on a node without the GPUs it asks for does: exit 3 (environment) before it
/// loads anything, with the reason in the run's status. Here the run asks for one GPU more than
/// libtorch sees (one, on a machine without CUDA).
#[test]
fn a_task_on_a_node_without_its_gpus_fails_at_once_with_exit_3() {
    let root = tempfile::tempdir().unwrap();
    let gpus = tch::Cuda::device_count() + 1;
    let data =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/data_dataset.zip");
    std::fs::write(
        root.path().join("gpus.toml"),
        format!(
            "[data]\npath = {:?}\n[train]\ncfg = \"stylegan2\"\ngpus = {gpus}\nbatch = {}\n\
             gamma = 0.5\ncbase = 64\ncmax = 8\nmap_depth = 2\nmbstd_group = 2\nmetrics = []\n\
             kimg = 1\n",
            data.display().to_string(),
            8 * gpus
        ),
    )
    .unwrap();
    let run_dir = root.path().join("run");
    let out = kimg(root.path())
        .args([
            "train",
            "--manifest",
            "gpus.toml",
            "--device",
            "cuda",
            "--run-dir",
        ])
        .arg(&run_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("CUDA GPU"), "{stderr}");
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("status.json")).unwrap())
            .unwrap();
    assert_eq!(status["state"], "failed", "{status:#}");
    assert_eq!(status["failure"]["kind"], "environment", "{status:#}");
    assert!(
        status["failure"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("CUDA GPU")),
        "{status:#}"
    );
    assert!(!run_dir.join("training_options.json").exists());
}
