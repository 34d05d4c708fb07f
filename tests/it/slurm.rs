//! `kimg run --on slurm` against a real Slurm: the single-node cluster of
//! `scripts/slurm-local.sh up` (which `.ci/run` starts). Without a usable Slurm the end-to-end
//! test prints `SKIPPED` and why on the terminal (not captured) and returns.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn kimg(dir: &Path) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("kimg"));
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("KIMG_NO_PROGRESS", "1");
    command
}

/// Why Slurm cannot run jobs here, if it cannot.
fn slurm_unusable() -> Option<String> {
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
        "#SBATCH --signal=TERM@120",
        "exec '/opt/kimg' train --run-dir \"$DIR\" --manifest \"$DIR/config.toml\" --device cuda",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert!(!text.contains("OMP_NUM_THREADS"));
    assert_eq!(text.matches("-gamma").count(), 5, "{text}");
}
