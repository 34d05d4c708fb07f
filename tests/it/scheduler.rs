//! `kimg run` end to end on a tiny CPU sweep: every run trains, a killed worker's run resumes from
//! its last snapshot on the next invocation, finished runs are never touched again, and a third
//! invocation has nothing to do. Also `kimg status`, `kimg explain` and the Slurm script.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kimg::run::status::RunStatus;

fn kimg_exe() -> PathBuf {
    assert_cmd::cargo::cargo_bin("kimg")
}

fn kimg(dir: &Path) -> Command {
    let mut command = Command::new(kimg_exe());
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("KIMG_NO_PROGRESS", "1");
    command
}

/// A 5-point gamma sweep of a tiny 16×16 StyleGAN2, 2 kimg per run.
fn write_sweep(dir: &Path) -> PathBuf {
    let data =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/data_dataset.zip");
    let manifest = dir.join("sweep.toml");
    std::fs::write(
        &manifest,
        format!(
            "name = \"sweep\"\n[data]\npath = {:?}\n[train]\ncfg = \"stylegan2\"\ngpus = 1\nbatch = 8\n\
             gamma = 0.5\ncbase = 64\ncmax = 8\nmap_depth = 2\nmbstd_group = 2\naug = \"noaug\"\n\
             metrics = []\nkimg = 2\ntick = 1\nsnap = 1\nworkers = 1\n\
             [sweep]\n\"train.gamma\" = {{ times = [0.25, 0.5, 1, 2, 4] }}\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    manifest
}

fn run_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("runs/sweep"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("run.toml").exists())
        .collect();
    dirs.sort();
    dirs
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_sweep_survives_a_killed_worker_and_never_repeats_work() {
    let root = tempfile::tempdir().unwrap();
    let manifest = write_sweep(root.path());
    let scheduler = kimg(root.path())
        .args([
            "run",
            "sweep.toml",
            "--devices",
            "cpu",
            "--max-parallel",
            "2",
        ])
        .args(["--retries", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    // Kill the first worker seen past its 1-kimg snapshot, like a crashed node.
    let deadline = Instant::now() + Duration::from_secs(300);
    let killed = loop {
        assert!(Instant::now() < deadline, "no worker reached 1 kimg");
        let candidate = std::fs::read_dir(root.path().join("runs/sweep"))
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .find(|dir| {
                dir.join("network-snapshot-000001.safetensors").exists()
                    && !dir.join("network-snapshot-000002.safetensors").exists()
                    && RunStatus::read(dir).is_some_and(|s| s.pid.is_some())
            });
        if let Some(dir) = candidate {
            let pid = RunStatus::read(&dir).unwrap().pid.unwrap();
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            break dir;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let first = scheduler.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(1), "one run failed:\n{stdout}");
    assert!(stdout.contains("killed by signal 9"), "{stdout}");
    let dirs = run_dirs(root.path());
    assert_eq!(dirs.len(), 5);
    let finished: Vec<(PathBuf, String)> = dirs
        .iter()
        .filter(|d| **d != killed)
        .map(|d| (d.clone(), read(&d.join("log.txt"))))
        .collect();
    for (dir, log) in &finished {
        assert!(
            dir.join("network-snapshot-000002.safetensors").exists(),
            "{} did not finish:\n{stdout}",
            dir.display()
        );
        assert!(log.contains("Exiting..."));
    }
    assert!(!killed.join("network-snapshot-000002.safetensors").exists());
    let status = kimg(root.path())
        .args(["status", "sweep.toml"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&status.stdout);
    assert_eq!(table.matches("done 2 kimg").count(), 4, "{table}");
    assert!(table.contains("partial 1 kimg"), "{table}");

    // Again: only the killed run trains, from its last snapshot.
    let second = kimg(root.path())
        .args(["run", "sweep.toml", "--devices", "cpu", "--retries", "0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}");
    assert_eq!(stdout.matches("started ").count(), 1, "{stdout}");
    for (dir, log) in &finished {
        assert_eq!(
            &read(&dir.join("log.txt")),
            log,
            "{} was touched",
            dir.display()
        );
    }
    let log = read(&killed.join("log.txt"));
    assert!(
        log.contains("network-snapshot-000001.safetensors at 1.0 kimg"),
        "the killed run did not resume from its snapshot:\n{log}"
    );
    let status = RunStatus::read(&killed).unwrap();
    assert_eq!(status.state, kimg::run::status::State::Done);
    assert_eq!(status.attempts, 2);

    // And once more: nothing to do.
    let third = kimg(root.path())
        .args(["run", "sweep.toml", "--devices", "cpu"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&third.stdout);
    assert!(third.status.success());
    assert!(
        stdout.contains("all 5 runs of `sweep` are done"),
        "{stdout}"
    );

    // `kimg explain` finds a run by hash prefix and checks its identity file.
    let hash = killed.file_name().unwrap().to_string_lossy()[..8].to_string();
    let explain = kimg(root.path()).args(["explain", &hash]).output().unwrap();
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(explain.status.success(), "{text}");
    assert!(text.contains("the identity is intact"), "{text}");
    assert!(text.contains("train.gamma"), "{text}");
    assert!(text.contains("× "), "{text}");
    drop(manifest);
}

#[test]
fn a_second_worker_on_a_running_run_is_refused() {
    let root = tempfile::tempdir().unwrap();
    write_sweep(root.path());
    let plan = kimg(root.path())
        .args(["run", "sweep.toml", "--dry-run", "--devices", "cpu"])
        .output()
        .unwrap();
    assert!(plan.status.success());
    assert!(String::from_utf8_lossy(&plan.stdout).contains("dry run: 5 of 5 runs would run"));
    assert!(!root.path().join("runs").exists(), "a dry run wrote files");
    let dir = root.path().join("runs/sweep/x");
    std::fs::create_dir_all(&dir).unwrap();
    let _lock = kimg::run::lock::RunLock::acquire(&dir).unwrap();
    let data =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/data_dataset.zip");
    let out = kimg(root.path())
        .args([
            "train",
            "--run-dir",
            "runs/sweep/x",
            "--manifest",
            "sweep.toml",
        ])
        .arg("--data")
        .arg(&data)
        .args(["--device", "cpu"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("locked by another worker"));
}
