//! Sweep expansion and run identity: counts, order, multipliers, and which keys change the hash.

use std::path::{Path, PathBuf};

use kimg::manifest::Override;
use kimg::run::identity::run_identity;
use kimg::sweep::expand;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn hashes(path: &Path, set: &[&str]) -> Vec<String> {
    let overrides: Vec<Override> = set.iter().map(|s| s.parse().unwrap()).collect();
    expand(path, &overrides)
        .unwrap()
        .iter()
        .map(|r| run_identity(&r.spec, Some("fixed")).hash)
        .collect()
}

const BASE: &str = "extends = \"recommended/stylegan3-t-256-gpus8\"\n[data]\npath = \"d.zip\"\n";

#[test]
fn grids_multipliers_zips_and_exclusions_expand_in_a_stable_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "exp.toml",
        &format!(
            "{BASE}[sweep]\n\"train.gamma\" = {{ times = [0.25, 0.5, 1, 2, 4] }}\n\"train.seed\" = [0, 1, 2]\nexclude = [{{ \"train.seed\" = 2, \"train.gamma\" = 8 }}]\n"
        ),
    );
    let runs = expand(&path, &[]).unwrap();
    assert_eq!(
        runs.len(),
        5 * 3 - 1,
        "product of the axes minus one excluded combination"
    );
    let gammas: Vec<f64> = runs.iter().map(|r| r.spec.train.gamma).collect();
    assert_eq!(
        gammas[..3],
        [0.5, 0.5, 0.5],
        "the first axis varies slowest"
    );
    assert!(gammas.contains(&2.0) && gammas.contains(&8.0));
    assert_eq!(runs[0].swept[0].how, "train.gamma = 2.0 × 0.25 = 0.5");
    assert!(
        !runs
            .iter()
            .any(|r| r.spec.train.seed == 2 && r.spec.train.gamma == 8.0)
    );
    assert_eq!(hashes(&path, &[]), hashes(&path, &[]), "stable");

    let zipped = write(
        dir.path(),
        "zip.toml",
        &format!(
            "{BASE}[[sweep.zip]]\n\"train.cfg\" = [\"stylegan3-t\", \"stylegan3-r\"]\n\"train.gamma\" = [2, 4]\n"
        ),
    );
    let runs = expand(&zipped, &[]).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[1].spec.train.cfg.name(), runs[1].spec.train.gamma),
        ("stylegan3-r", 4.0)
    );
    assert_eq!(
        runs[1].spec.train.derived.g_channel_base, 65536,
        "derived values follow the swept cfg"
    );
}

#[test]
fn multipliers_print_normalised_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "exp.toml",
        &format!("{BASE}[train]\ngamma = 8.2\n[sweep]\n\"train.gamma\" = {{ times = [0.25] }}\n"),
    );
    let runs = expand(&path, &[]).unwrap();
    assert_eq!(runs[0].spec.train.gamma, 2.05);
    assert_eq!(runs[0].short_description(), "gamma2.05");
}

#[test]
fn identity_ignores_formatting_and_execution_keys_but_not_training_keys() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.toml",
        &format!("{BASE}[train]\ngamma = 2\nseed = 1\n"),
    );
    let b = write(
        dir.path(),
        "b.toml",
        &format!("# comment\n{BASE}\n[train]\nseed   = 1 # same\ngamma = 2.0\n"),
    );
    assert_eq!(
        hashes(&a, &[]),
        hashes(&b, &[]),
        "key order, whitespace, comments and 2 vs 2.0"
    );
    for execution in [
        "train.gpus=4",
        "train.workers=1",
        "train.kimg=100",
        "train.tick=1",
        "train.snap=1",
        "train.metrics=[]",
        "train.nobench=true",
        "train.desc=\"x\"",
    ] {
        assert_eq!(
            hashes(&a, &[execution]),
            hashes(&a, &[]),
            "{execution} must not change the identity"
        );
    }
    assert_eq!(
        hashes(&a, &["train.gpus=1", "train.batch_gpu=8"]),
        hashes(&a, &["train.gpus=2"]),
        "batch_gpu is out"
    );
    for training in [
        "train.gamma=4",
        "train.seed=2",
        "train.cfg=stylegan3-r",
        "train.glr=0.001",
        "data.mirror=true",
        "train.fp32=true",
        "train.map_depth=3",
    ] {
        assert_ne!(
            hashes(&a, &[training]),
            hashes(&a, &[]),
            "{training} must change the identity"
        );
    }
    let spec = &expand(&a, &[]).unwrap()[0].spec;
    assert_ne!(
        run_identity(spec, Some("one")).hash,
        run_identity(spec, Some("two")).hash,
        "the dataset fingerprint is in"
    );
}

#[test]
fn the_identity_rule_does_not_drift() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "golden.toml",
        &format!("{BASE}[train]\ngamma = 2\n"),
    );
    let hash = &hashes(&path, &[])[0];
    // Changing what is hashed must bump RUN_KEY_VERSION and update this value on purpose.
    assert_eq!(
        hash,
        "ae94616fcc8da36f08f91d35fd32289151687b186b4904d195718eaf0e2067bd"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any order of the keys, any execution-only values: the same identity. Any other gamma or
    /// seed: another identity.
    #[test]
    fn identity_properties(
        order in proptest::strategy::Strategy::prop_shuffle(proptest::sample::subsequence(vec![0usize, 1, 2, 3], 4)),
        gamma in 0.01f64..100.0,
        seed in 0u64..1000,
        kimg in 1u64..100_000,
        workers in 1u32..16,
        other_gamma in 0.01f64..100.0,
        other_seed in 0u64..1000,
    ) {
        use proptest::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            format!("gamma = {gamma:?}"),
            format!("seed = {seed}"),
            "glr = 0.002".to_string(),
            "mbstd_group = 4".to_string(),
        ];
        let shuffled: Vec<&str> = order.iter().map(|&i| lines[i].as_str()).collect();
        let a = write(dir.path(), "a.toml", &format!("{BASE}[train]\n{}\n", lines.join("\n")));
        let b = write(dir.path(), "b.toml", &format!("{BASE}[train]\n{}\n", shuffled.join("\n")));
        let reference = hashes(&a, &[]);
        prop_assert_eq!(&hashes(&b, &[]), &reference);
        let kimg_set = format!("train.kimg={kimg}");
        let workers_set = format!("train.workers={workers}");
        prop_assert_eq!(&hashes(&a, &[&kimg_set, &workers_set]), &reference);
        if (other_gamma - gamma).abs() > 1e-9 {
            prop_assert_ne!(&hashes(&a, &[&format!("train.gamma={other_gamma:?}")]), &reference);
        }
        if other_seed != seed {
            prop_assert_ne!(&hashes(&a, &[&format!("train.seed={other_seed}")]), &reference);
        }
    }
}

#[test]
fn every_runs_config_toml_resolves_to_its_own_identity() {
    // What `kimg run` hands the worker must be the run itself: the worker refuses otherwise.
    let manifest =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("experiments/afhqv2-stylegan3-t.toml");
    let runs_dir = tempfile::tempdir().unwrap();
    let runs = kimg::schedule::plan(&manifest, &[], runs_dir.path()).unwrap();
    assert_eq!(runs.len(), 5);
    let mut hashes = std::collections::HashSet::new();
    for run in &runs {
        run.write_record(&manifest).unwrap();
        let config = run.dir.join(kimg::run_files::CONFIG_FILE);
        let layers = kimg::manifest::Layers::from_manifest(&config, &[]).unwrap();
        let spec = kimg::manifest::ExperimentSpec::resolve(&layers, None, "x").unwrap();
        let mut expected = run.run.spec.clone();
        expected.sweep = None;
        assert_eq!(spec, expected, "{}", config.display());
        let again = run_identity(&spec, run.fingerprint.as_deref());
        assert_eq!(again, run.identity);
        let record = kimg::run::record::RunRecord::read(&run.dir).unwrap();
        assert_eq!(record.run.hash, run.identity.hash);
        assert_eq!(record.run.swept, run.run.swept);
        let document = std::fs::read(run.dir.join(kimg::run_files::IDENTITY_FILE)).unwrap();
        assert_eq!(document, run.identity.document.as_bytes());
        hashes.insert(run.identity.hash.clone());
    }
    assert_eq!(hashes.len(), 5, "every swept gamma is its own run");
}

/// A sweep whose `exclude` removes every combination is a manifest error at `sweep.exclude`, and
/// `kimg plan` / `kimg run -n` exit 2 with it (they used to panic on an empty plan).
#[test]
fn excluding_every_combination_is_a_manifest_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "empty.toml",
        &format!(
            "{BASE}[sweep]\n\"train.seed\" = [0, 1]\nexclude = [{{ \"train.seed\" = 0 }}, {{ \"train.seed\" = 1 }}]\n"
        ),
    );
    let errors = expand(&path, &[]).unwrap_err().0;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key.as_deref(), Some("sweep.exclude"));
    assert!(errors[0].location.contains("empty.toml:"), "{}", errors[0]);
    assert!(errors[0].message.contains("removes every combination"));
    for args in [&["plan"][..], &["run", "-n"][..]] {
        let out = assert_cmd::Command::cargo_bin("kimg")
            .unwrap()
            .args(args)
            .arg(&path)
            .args(["--runs-dir", dir.path().join("runs").to_str().unwrap()])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("removes every combination"), "{stderr}");
    }
}

/// A run's `config.toml` holds the data path absolute: the worker reads it from the run
/// directory, where a path relative to the manifest would point elsewhere.
#[test]
fn the_configuration_of_a_run_holds_an_absolute_data_path() {
    // The manifest by a relative path (tests run in the package root), its data beside it.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let absolute = write(dir.path(), "exp.toml", BASE);
    let relative = absolute
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .to_path_buf();
    assert!(relative.is_relative() && relative.exists());
    let runs = expand(&relative, &[]).unwrap();
    let data = runs[0].config.data.as_ref().unwrap().path.clone().unwrap();
    assert!(std::path::Path::new(&data).is_absolute(), "{data}");
    assert!(data.ends_with("d.zip"), "{data}");
}

#[test]
fn successive_halving_settings_leave_the_run_hashes_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = "[sweep]\n\"train.gamma\" = { times = [0.5, 1, 2] }\n";
    let plain = write(dir.path(), "plain.toml", &format!("{BASE}{sweep}"));
    let halved = write(
        dir.path(),
        "halved.toml",
        &format!("{BASE}{sweep}[schedule.halving]\nrungs = [1000, 3000]\neta = 2\nmin_runs = 1\n"),
    );
    let runs = expand(&halved, &[]).unwrap();
    let halving = runs[0].spec.halving.as_ref().expect("halving resolved");
    assert_eq!(
        (halving.rungs.as_slice(), halving.eta),
        (&[1000, 3000][..], 2)
    );
    assert_eq!(halving.metric, runs[0].spec.train.metrics[0]);
    assert_eq!(hashes(&plain, &[]), hashes(&halved, &[]));
    assert!(expand(&plain, &[]).unwrap()[0].spec.halving.is_none());
}

/// `expand` reads the manifest once and layers each run's swept values over it: every run must
/// equal what loading the manifest afresh with the swept values as `--set` overrides (after the
/// user's) resolves to, and an unknown key in the extra overrides is still an error.
#[test]
fn each_run_resolves_as_the_manifest_with_its_swept_values_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "exp.toml",
        &format!(
            "{BASE}[sweep]\n\"train.gamma\" = {{ times = [0.5, 2] }}\n\"train.seed\" = [0, 1]\n[[sweep.zip]]\n\"train.cfg\" = [\"stylegan3-t\", \"stylegan3-r\"]\n\"train.batch\" = [32, 64]\n"
        ),
    );
    let user: Vec<Override> = vec!["train.map_depth=4".parse().unwrap()];
    let runs = expand(&path, &user).unwrap();
    assert_eq!(runs.len(), 8);
    for run in &runs {
        let mut overrides = user.clone();
        overrides.extend(run.swept.iter().map(|s| Override {
            key: s.key.clone(),
            value: s.value.clone(),
            text: format!("{}={}", s.key, s.value),
        }));
        let layers = kimg::manifest::Layers::from_manifest(&path, &overrides).unwrap();
        let spec = kimg::manifest::ExperimentSpec::resolve(&layers, None, "exp").unwrap();
        assert_eq!(run.spec, spec, "{}", run.short_description());
        assert_eq!(run.config.train, layers.merged.train);
        assert_eq!(
            run.spec.train.map_depth, 4,
            "the user's override stays under the sweep"
        );
    }
    let layers = kimg::manifest::Layers::from_manifest(&path, &user).unwrap();
    let error = layers
        .with_overrides(&["train.gamam=2".parse().unwrap()])
        .unwrap_err();
    assert!(error.to_string().contains("train.gamam"), "{error}");
}
