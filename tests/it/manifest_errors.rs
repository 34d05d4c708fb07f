//! Golden invalid manifests: each file holds one mistake and a header
//! `# expect: <ErrorKind> | <message fragment> | <help fragment>`.

use std::path::Path;

use kimg::manifest::{ExperimentSpec, Layers, ManifestErrors};

fn load(path: &Path) -> Result<ExperimentSpec, ManifestErrors> {
    let layers = Layers::from_manifest(path, &[])?;
    ExperimentSpec::resolve(&layers, None, "x")
}

#[test]
fn every_invalid_fixture_fails_with_its_documented_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests/invalid");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let header = text
            .lines()
            .next()
            .unwrap()
            .strip_prefix("# expect: ")
            .expect("header");
        let parts: Vec<&str> = header.split(" | ").map(str::trim).collect();
        let (kind, message, help) = (parts[0], parts[1], parts.get(2).copied().unwrap_or(""));
        let errors = load(&path)
            .expect_err(&format!("{} must fail", path.display()))
            .0;
        let error = &errors[0];
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(format!("{:?}", error.kind), kind, "{name}: {error}");
        assert!(
            error.message.contains(message),
            "{name}: `{}` lacks `{message}`",
            error.message
        );
        assert!(
            error.to_string().contains(".toml"),
            "{name}: location must name a file: {error}"
        );
        if !help.is_empty() {
            assert_eq!(error.help.as_deref(), Some(help), "{name}");
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} fixtures");
}

#[test]
fn a_mistyped_key_points_at_its_line_and_column() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests/invalid");
    let errors = load(&dir.join("unknown_train_key.toml")).unwrap_err().0;
    assert!(
        errors[0].location.ends_with("unknown_train_key.toml:4:1"),
        "{}",
        errors[0].location
    );
    assert_eq!(errors[0].key.as_deref(), Some("train.gama"));
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.toml");
    std::fs::write(&path, "extends = \"recommended/stylegan3-t-256-gpus8\"\n[train]\ngama = 1\nbatchh = 2\n[data]\nmirrror = true\n").unwrap();
    let errors = load(&path).unwrap_err().0;
    let keys: Vec<_> = errors.iter().filter_map(|e| e.key.clone()).collect();
    assert_eq!(keys, ["train.gama", "train.batchh", "data.mirrror"]);
}

#[test]
fn a_semantic_error_names_the_preset_that_set_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exp.toml");
    // gpus=8 comes from the preset, batch=36 from here: the error is about the batch, located here.
    std::fs::write(
        &path,
        "extends = \"recommended/stylegan3-t-256-gpus8\"\n[train]\nbatch = 36\n",
    )
    .unwrap();
    let errors = load(&path).unwrap_err().0;
    assert!(
        errors[0].location.ends_with("exp.toml:3:1"),
        "{}",
        errors[0].location
    );
    assert_eq!(errors[0].chain.len(), 3, "{:?}", errors[0].chain);
}
