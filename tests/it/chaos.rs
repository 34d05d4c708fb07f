//! Chaos, measured: the `kimg` binary killed with SIGKILL at random moments (during start-up,
//! mid-tick, while a snapshot is written) and resumed each time, snapshot writes killed or failed
//! half-way by the fault hook (`KIMG_FAULT`), a full disk (injected `ENOSPC`) and a file size
//! limit (`RLIMIT_FSIZE` through util-linux's `prlimit`), and two `kimg run` on one manifest at
//! once. After every kill every snapshot on disk loads; in the end every run holds bit for bit the
//! weights of an uninterrupted run, logs each tick once and leaves no temporary file.
//!
//! The kill delays come from a generator seeded by `KIMG_CHAOS_SEED` (default: the clock); the
//! seed is printed, so `KIMG_CHAOS_SEED=<seed> cargo test --test it chaos::` replays a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kimg::run::status::{RunStatus, State};
use kimg::snapshot::file::SnapshotFile;
use kimg::snapshot::name::{latest_snapshot, snapshot_file_name, snapshots_in};

/// The runs' length: snapshots at 0, 1, 2 and 3 kimg. Of the random-kill test's six kills only the
/// two mid-tick ones let a session save a new snapshot (start-up kills come before the first tick,
/// snapshot-write kills during it), so the run must be longer than two ticks: with exactly two, the
/// second mid-tick kill waits for the last tick, and the session may finish before the kill lands.
const KIMG: u64 = 3;

/// The kills of the random-kill test (then one session runs to the end).
const KILLS: usize = 6;

fn kimg(dir: &Path) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("kimg"));
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("KIMG_NO_PROGRESS", "1")
        // Set here, so that `kimg train` does not re-execute itself to set it.
        .env("OMP_WAIT_POLICY", "PASSIVE")
        .env("OMP_NUM_THREADS", "1")
        .env_remove("KIMG_FAULT");
    command
}

/// The tiny 16×16 StyleGAN2 configuration, written into `dir` (with a `[sweep]` table when given).
fn write_manifest(dir: &Path, sweep: &str) -> PathBuf {
    let data =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/data_dataset.zip");
    let manifest = dir.join("tiny.toml");
    std::fs::write(
        &manifest,
        format!(
            "name = \"tiny\"\n[data]\npath = {:?}\n[train]\ncfg = \"stylegan2\"\ngpus = 1\n\
             batch = 8\ngamma = 0.5\ncbase = 64\ncmax = 8\nmap_depth = 2\nmbstd_group = 2\n\
             aug = \"ada\"\nmetrics = []\nkimg = {KIMG}\ntick = 1\nsnap = 1\nworkers = 1\n{sweep}",
            data.display().to_string()
        ),
    )
    .unwrap();
    manifest
}

/// `kimg train` of the tiny configuration in `run_dir` (resuming from its newest snapshot).
fn train(run_dir: &Path) -> Command {
    let dir = run_dir.parent().unwrap();
    let manifest = write_manifest(dir, "");
    let mut command = kimg(dir);
    command
        .arg("train")
        .arg("--run-dir")
        .arg(run_dir)
        .arg("--manifest")
        .arg(manifest)
        .args(["--device", "cpu"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The uninterrupted run every other is compared with.
struct Straight {
    dir: PathBuf,
}

/// The uninterrupted run, trained once per test process (in Cargo's temporary directory for
/// integration tests: statics are never dropped, so a `TempDir` would never be removed).
fn straight() -> &'static Straight {
    static STRAIGHT: OnceLock<Straight> = OnceLock::new();
    STRAIGHT.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chaos");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let dir = root.join("straight");
        let out = train(&dir).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        Straight { dir }
    })
}

/// The command's stderr on one line (diagnostics wrap long messages in a frame).
fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every snapshot in `dir` loads, with its metadata.
fn assert_snapshots_load(dir: &Path, when: &str) {
    for path in snapshots_in(dir).unwrap_or_default() {
        if let Err(error) = SnapshotFile::read(&path) {
            panic!("{when}: {} does not load: {error}", path.display());
        }
    }
}

/// The final snapshot of `dir` holds bit for bit the tensors and the metadata of the
/// uninterrupted run's.
fn assert_same_as_straight(dir: &Path, what: &str) {
    let name = snapshot_file_name(KIMG);
    let expected = SnapshotFile::read(&straight().dir.join(&name)).unwrap();
    let actual = SnapshotFile::read(&dir.join(&name)).unwrap();
    assert_eq!(expected.tensors.len(), actual.tensors.len(), "{what}");
    for ((name, a), (other, b)) in expected.tensors.iter().zip(&actual.tensors) {
        assert_eq!(name, other, "{what}");
        assert!(
            a.equal(b),
            "{what}: `{name}` differs from the uninterrupted run"
        );
    }
    assert_eq!(
        expected.metadata, actual.metadata,
        "{what}: metadata differs"
    );
}

/// The ticks in `stats.jsonl`, in file order.
fn stats_ticks(dir: &Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("stats.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["Progress/tick"]["mean"].as_f64().unwrap()
        })
        .collect()
}

/// The shortest full tick (after tick 0) of the uninterrupted run, from its `log.txt`.
fn shortest_tick() -> Duration {
    let log = std::fs::read_to_string(straight().dir.join("log.txt")).unwrap();
    let shortest = log
        .lines()
        .filter(|line| line.starts_with("tick ") && !line.starts_with("tick 0 "))
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "sec/tick")?;
            words.get(at + 1)?.parse::<f64>().ok()
        })
        .fold(f64::INFINITY, f64::min);
    Duration::from_secs_f64(shortest)
}

/// The temporary files in `dir` (an unfinished atomic write's `.<name>.tmp<pid>`).
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with('.') && name.contains(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

/// What a finished run directory must satisfy: the uninterrupted run's weights, each tick logged
/// once, no temporary file, every snapshot loadable.
fn assert_finished_like_straight(dir: &Path, what: &str) {
    assert_snapshots_load(dir, what);
    assert_same_as_straight(dir, what);
    assert_eq!(
        stats_ticks(dir),
        stats_ticks(&straight().dir),
        "{what}: ticks logged"
    );
    assert_eq!(
        temporaries(dir),
        Vec::<String>::new(),
        "{what}: left behind"
    );
}

/// SplitMix64: a small seeded generator for the kill delays.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration uniform in `[0, max)`.
    fn below(&mut self, max: Duration) -> Duration {
        let millis = u64::try_from(max.as_millis()).unwrap().max(1);
        Duration::from_millis(self.next() % millis)
    }
}

/// Where a kill is aimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A random moment after the start: loading libtorch, the data, the networks.
    Startup,
    /// A random moment in the first half of the tick after the session's first one (whose
    /// snapshot is written, so the run advances).
    MidTick,
    /// As soon as a snapshot's temporary file appears: while the session's first snapshot is
    /// written.
    SnapshotWrite,
}

/// Wait until `ready` holds (or `child` ended, or `limit` passed); whether `ready` held.
fn wait_for(child: &mut Child, limit: Duration, ready: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    false
}

/// Aim one kill at `phase` of the session `child` trains in `dir`; returns what it hit (`None`:
/// the session ended first) and the session's exit.
fn kill_in(
    child: &mut Child,
    dir: &Path,
    phase: Phase,
    rng: &mut SplitMix,
    tick: Duration,
) -> (Option<String>, ExitStatus) {
    let started = Instant::now();
    // `log.txt` only grows (`stats.jsonl` is cut back on resume).
    let ticks_logged = || {
        std::fs::read_to_string(dir.join("log.txt"))
            .unwrap_or_default()
            .matches("\ntick ")
            .count()
    };
    let logged = ticks_logged();
    let left_before = temporaries(dir);
    let patience = tick * 3 + Duration::from_secs(20);
    match phase {
        Phase::Startup => std::thread::sleep(rng.below(Duration::from_millis(1500))),
        Phase::MidTick => {
            wait_for(child, patience, || ticks_logged() > logged);
            std::thread::sleep(rng.below(tick / 2));
        }
        Phase::SnapshotWrite => {
            wait_for(child, patience, || {
                let snapshots = temporaries(dir);
                snapshots
                    .iter()
                    .any(|name| name.starts_with(".network-snapshot-"))
            });
        }
    }
    let mut writing = temporaries(dir);
    writing.retain(|name| !left_before.contains(name));
    let hit = child.kill().ok().map(|()| {
        format!(
            "{phase:?} after {:.2} s{}",
            started.elapsed().as_secs_f64(),
            if writing.is_empty() {
                String::new()
            } else {
                format!(", while writing {}", writing.join(", "))
            }
        )
    });
    (hit, child.wait().unwrap())
}

#[test]
fn sigkill_at_random_moments_resumes_to_the_weights_of_an_uninterrupted_run() {
    let seed = std::env::var("KIMG_CHAOS_SEED")
        .ok()
        .map(|s| s.parse::<u64>().expect("KIMG_CHAOS_SEED is a number"))
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            u64::try_from(now.unwrap().as_nanos() % 1_000_000_007).unwrap()
        });
    eprintln!("chaos seed {seed} (replay with KIMG_CHAOS_SEED={seed})");
    let mut rng = SplitMix(seed);
    let tick = shortest_tick();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("chaos");
    let phases = [Phase::Startup, Phase::MidTick, Phase::SnapshotWrite];
    let mut kills = 0;
    for attempt in 0.. {
        assert!(attempt < 3 * KILLS, "seed {seed}: too many sessions");
        let mut child = train(&dir).spawn().unwrap();
        let phase = phases[attempt % phases.len()];
        let (hit, exit) = kill_in(&mut child, &dir, phase, &mut rng, tick);
        match hit {
            Some(hit) if exit.code().is_none() => {
                kills += 1;
                eprintln!("kill {kills}: {hit}; snapshots {:?}", latest_snapshot(&dir));
                assert_snapshots_load(&dir, &format!("seed {seed}, after kill {kills} ({hit})"));
            }
            _ => {
                let mut stderr = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
                    .unwrap();
                assert!(exit.success(), "seed {seed}: {stderr}");
                assert!(kills >= KILLS, "seed {seed}: finished after {kills} kills");
                break;
            }
        }
        if kills == KILLS {
            let out = train(&dir).output().unwrap();
            assert!(out.status.success(), "seed {seed}: {}", stderr(&out));
            break;
        }
    }
    assert_finished_like_straight(&dir, &format!("seed {seed}, after {kills} kills"));
}

/// `kimg train` of `dir` with the fault hook set to `fault`.
fn train_with_fault(dir: &Path, fault: &str) -> Output {
    train(dir).env("KIMG_FAULT", fault).output().unwrap()
}

/// The run failed with exit code 1, naming the snapshot and `reason` on stderr and in
/// `status.json`, and its previous snapshot is intact.
fn assert_failed_writing_snapshot(dir: &Path, out: &Output, reason: &str) {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let file = snapshot_file_name(1);
    assert!(text.contains(&file) && text.contains(reason), "{text}");
    let status = RunStatus::read(dir).unwrap();
    assert_eq!(status.state, State::Failed);
    let message = status.failure.unwrap().message;
    assert!(
        message.contains(&file) && message.contains(reason),
        "{message}"
    );
    assert_eq!(latest_snapshot(dir), Some(dir.join(snapshot_file_name(0))));
    assert_snapshots_load(dir, reason);
    assert_eq!(temporaries(dir), Vec::<String>::new(), "{reason}");
}

#[test]
fn a_snapshot_write_killed_failed_or_out_of_space_keeps_the_previous_snapshot() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("faults");

    // Killed half-way through the second snapshot (1 kimg), after its temporary file got bytes.
    let out = train_with_fault(&dir, "snapshot-write:kill:1");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(9),
        "{}",
        stderr(&out)
    );
    assert_eq!(latest_snapshot(&dir), Some(dir.join(snapshot_file_name(0))));
    assert_snapshots_load(&dir, "after the kill");
    let partial = temporaries(&dir);
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert!(partial[0].starts_with(&format!(".{}.tmp", snapshot_file_name(1))));
    assert!(std::fs::metadata(dir.join(&partial[0])).unwrap().len() > 0);
    assert_eq!(
        stats_ticks(&dir),
        [0.0, 1.0],
        "tick 1 is logged before its snapshot"
    );

    // Resumed from 0 kimg, the write fails (the partial file of the kill is removed first).
    let out = train_with_fault(&dir, "snapshot-write:fail");
    assert_failed_writing_snapshot(&dir, &out, "failure injected by KIMG_FAULT");
    let log = std::fs::read_to_string(dir.join("log.txt")).unwrap();
    assert!(
        log.contains(&format!("{}, which a killed process", partial[0])),
        "{log}"
    );

    // A full disk.
    let out = train_with_fault(&dir, "snapshot-write:enospc");
    assert_failed_writing_snapshot(&dir, &out, "No space left on device");

    // A real limit: `RLIMIT_FSIZE` below the snapshot's size and above every other file's.
    let snapshot_size = std::fs::metadata(dir.join(snapshot_file_name(0)))
        .unwrap()
        .len();
    for entry in std::fs::read_dir(&straight().dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("network-snapshot-") {
            let size = entry.metadata().unwrap().len();
            assert!(
                size < snapshot_size / 4,
                "{name} ({size} B) is too large for the limit"
            );
        }
    }
    let command = train(&dir);
    let program = command.get_program().to_owned();
    let out = Command::new("prlimit")
        .arg(format!("--fsize={}", snapshot_size / 2))
        .arg("--")
        .arg(program)
        .args(command.get_args())
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("KIMG_FAULT")
        .current_dir(command.get_current_dir().unwrap())
        .output()
        .unwrap();
    assert_failed_writing_snapshot(&dir, &out, "File too large");

    // Without faults it ends where the uninterrupted run did, each tick logged once.
    let out = train(&dir).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_finished_like_straight(&dir, "after the faults");
}

#[test]
fn two_kimg_run_on_one_manifest_train_the_run_once() {
    let root = tempfile::tempdir().unwrap();
    write_manifest(root.path(), "");
    let start = || {
        kimg(root.path())
            .args([
                "run",
                "tiny.toml",
                "--devices",
                "cpu",
                "--max-parallel",
                "2",
            ])
            .args(["--retries", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start(), start());
    let outputs = [first, second].map(|child| child.wait_with_output().unwrap());
    let text: String = outputs
        .iter()
        .map(|out| format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(out)))
        .collect();
    for out in &outputs {
        assert!(out.status.success(), "{text}");
    }
    // One worker trains the run; the other `kimg run` leaves it to that one: it says so when
    // both started a worker (or it saw the lock held), or plans it as running when it came late.
    assert_eq!(text.matches("\ndone ").count(), 1, "{text}");
    let left = text.matches("\nskipped ").count();
    let seen_running = text.matches("  running ").count();
    eprintln!("left to the other worker: {left} at start or exit, {seen_running} at planning");
    assert_eq!(left + seen_running, 1, "{text}");
    assert_eq!(
        text.matches("another worker has it (pid ").count(),
        2 * left,
        "{text}"
    );
    let runs: Vec<PathBuf> = std::fs::read_dir(root.path().join("runs/tiny"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("run.toml").exists())
        .collect();
    assert_eq!(runs.len(), 1, "{text}");
    for dir in &runs {
        let status = RunStatus::read(dir).unwrap();
        assert_eq!((status.state, status.attempts), (State::Done, 1), "{text}");
        let log = std::fs::read_to_string(dir.join("log.txt")).unwrap();
        assert_eq!(log.matches("Training for").count(), 1, "{log}");
        assert_finished_like_straight(dir, "trained by one of two `kimg run`");
    }
}
