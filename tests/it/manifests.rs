//! Shipped manifests load and resolve; precedence, provenance and derived values behave as documented.

use std::path::{Path, PathBuf};

use kimg::manifest::{Arch, ExperimentSpec, Layers, Override};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn resolve(path: &Path, set: &[&str]) -> (ExperimentSpec, Layers) {
    let overrides: Vec<Override> = set.iter().map(|s| s.parse().unwrap()).collect();
    let layers = Layers::from_manifest(path, &overrides)
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let spec = ExperimentSpec::resolve(&layers, None, "x")
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    (spec, layers)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_shipped_experiment_loads_and_resolves() {
    let mut count = 0;
    for entry in std::fs::read_dir(root().join("experiments")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let (spec, _) = resolve(&path, &[]);
            assert!(!spec.name.is_empty());
            count += 1;
        }
    }
    assert!(count >= 1);
}

#[test]
fn the_afhqv2_experiment_has_the_papers_options_and_a_gamma_sweep() {
    let (spec, layers) = resolve(&root().join("experiments/afhqv2-stylegan3-t.toml"), &[]);
    assert_eq!(spec.train.cfg.name(), "stylegan3-t");
    assert_eq!(
        (spec.train.gpus, spec.train.batch, spec.train.gamma),
        (8, 32, 8.2)
    );
    assert!(spec.data.mirror);
    assert_eq!(spec.data.resolution, Some(512));
    assert!(spec.sweep.is_some());
    assert!(
        layers
            .origin("train.gamma")
            .unwrap()
            .location
            .starts_with("presets/paper/afhqv2-512-stylegan3-t.toml:")
    );
}

#[test]
fn precedence_is_base_then_presets_then_manifest_then_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "exp.toml",
        "extends = \"recommended/stylegan3-t-256-gpus1\"\n[train]\nsnap = 7\n",
    );
    let (spec, layers) = resolve(&path, &["train.gamma=4", "train.seed=3", "train.seed=5"]);
    assert_eq!(spec.train.workers, 3, "base default");
    assert_eq!(spec.train.batch_gpu, 16, "from the 1-GPU preset");
    assert_eq!(spec.train.batch, 32, "from the 8-GPU preset it extends");
    assert_eq!(spec.train.snap, 7, "the manifest beats its presets");
    assert_eq!(spec.train.gamma, 4.0, "--set beats everything");
    assert_eq!(spec.train.seed, 5, "later --set wins");
    assert_eq!(
        layers.origin("train.gamma").unwrap().layer,
        "--set train.gamma=4"
    );
    assert_eq!(
        layers.origin("train.workers").unwrap().layer,
        "presets/base.toml"
    );
    assert_eq!(layers.chain.len(), 4);
}

#[test]
fn set_values_are_parsed_as_toml_with_a_string_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "exp.toml",
        "extends = \"recommended/stylegan3-t-256-gpus8\"\n",
    );
    let (spec, _) = resolve(
        &path,
        &[
            "train.cfg=stylegan2",
            "data.mirror=true",
            "train.metrics=[]",
        ],
    );
    assert_eq!(spec.train.cfg.name(), "stylegan2");
    assert!(spec.data.mirror);
    assert!(spec.train.metrics.is_empty());
}

#[test]
fn data_paths_are_relative_to_the_file_that_sets_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let path = write(
        &dir.path().join("sub"),
        "exp.toml",
        "extends = \"recommended/stylegan3-t-256-gpus8\"\n[data]\npath = \"../d.zip\"\n",
    );
    let (spec, _) = resolve(&path, &[]);
    assert_eq!(
        spec.data.path.unwrap(),
        dir.path().join("sub").join("../d.zip")
    );
}

#[test]
fn derived_values_follow_train_py() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "exp.toml",
        "[train]\ncfg = \"stylegan3-r\"\ngpus = 1\nbatch = 4\ngamma = 1\n",
    );
    let (spec, _) = resolve(&path, &[]);
    let d = &spec.train.derived;
    assert_eq!(d.arch, Arch::Stylegan3R);
    assert_eq!(
        (d.g_channel_base, d.g_channel_max, spec.train.cbase),
        (65536, 1024, 32768)
    );
    assert_eq!((d.conv_kernel, d.use_radial_filters), (1, true));
    assert_eq!(
        (
            spec.train.glr,
            spec.train.dlr,
            spec.train.map_depth,
            spec.train.batch_gpu
        ),
        (0.0025, 0.002, 2, 4)
    );
    assert_eq!(
        (d.ema_kimg, d.blur_init_sigma, d.blur_fade_kimg),
        (1.25, 10.0, 25.0)
    );
    assert_eq!(d.magnitude_ema_beta, Some(0.5f64.powf(4.0 / 20000.0)));
    assert_eq!(d.g_reg_interval, None);

    let (resumed, _) = resolve(
        &path,
        &[
            "train.resume=x.pkl",
            "train.cfg=stylegan2",
            "train.fp32=true",
        ],
    );
    let d = &resumed.train.derived;
    assert_eq!(
        (d.ema_rampup, d.ada_kimg, d.blur_init_sigma),
        (None, 100.0, 0.0)
    );
    assert_eq!(
        (d.style_mixing_prob, d.pl_weight, d.g_reg_interval),
        (0.9, 2.0, Some(4))
    );
    assert_eq!((resumed.train.glr, resumed.train.map_depth), (0.002, 8));
    assert_eq!((d.num_fp16_res, d.conv_clamp), (0, None));
}

#[test]
fn integer_and_float_spellings_of_a_float_key_are_equal() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.toml",
        "extends = \"recommended/stylegan3-t-256-gpus8\"\n[train]\ngamma = 2\n",
    );
    let b = write(
        dir.path(),
        "b.toml",
        "extends = \"recommended/stylegan3-t-256-gpus8\"\n[train]\ngamma = 2.0\n",
    );
    assert_eq!(resolve(&a, &[]).0.train, resolve(&b, &[]).0.train);
}

#[test]
fn the_readme_documents_every_key() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for key in kimg::manifest::load::settable_keys() {
        let field = key.split_once('.').unwrap().1;
        assert!(
            readme.contains(&format!("| `{field}` |")),
            "README lacks a row for `{key}`"
        );
    }
}
