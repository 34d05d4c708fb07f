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
