//! The `kimg` binary end to end: exit codes, stdout and stderr.

use assert_cmd::Command;
use predicates::prelude::*;

fn kimg() -> Command {
    let mut cmd = Command::cargo_bin("kimg").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env("KIMG_NO_PROGRESS", "1")
        .env("KIMG_DETECTOR_URL", "off")
        .env("KIMG_VGG16_URL", "off");
    cmd
}

#[test]
fn doctor_reports_libtorch_and_exits_zero() {
    kimg()
        .arg("doctor")
        .assert()
        .success()
        .stdout(predicate::str::contains("libtorch").and(predicate::str::contains("CUDA build")));
    let dir = tempfile::tempdir().unwrap();
    let out = kimg()
        .args(["doctor", "--json"])
        .env("KIMG_CACHE_DIR", dir.path())
        .env("KIMG_VGG16", dir.path().join("missing.pt"))
        .env_remove("KIMG_DETECTOR")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["cpu_threads"].as_i64().unwrap() >= 1);
    // The metrics networks: none in an empty cache; a named file that is missing is reported.
    let detectors = report["detectors"].as_array().unwrap();
    assert_eq!(detectors[0]["network"], "Inception-v3");
    assert!(detectors[0]["file"].is_null() && detectors[0]["error"].is_null());
    assert!(
        detectors[1]["error"]
            .as_str()
            .unwrap()
            .contains("missing.pt")
    );
}

#[test]
fn show_prints_values_with_their_origin() {
    kimg()
        .args([
            "show",
            "experiments/afhqv2-stylegan3-t.toml",
            "--set",
            "train.seed=7",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("gamma = 8.2")
                .and(predicate::str::contains("# --set train.seed=7")),
        );
    let out = kimg()
        .args(["show", "experiments/afhqv2-stylegan3-t.toml", "--json"])
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["config"]["train"]["gamma"], 8.2);
    assert!(
        value["origins"]["train.cfg"]
            .as_str()
            .unwrap()
            .starts_with("presets/recommended/stylegan3-t-512-gpus8.toml:")
    );
}

#[test]
fn a_bad_manifest_exits_2_naming_file_and_key() {
    kimg()
        .args([
            "show",
            "tests/fixtures/manifests/invalid/unknown_train_key.toml",
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("unknown_train_key.toml:4:1")
                .and(predicate::str::contains("did you mean `gamma`?")),
        );
    kimg()
        .args([
            "show",
            "experiments/afhqv2-stylegan3-t.toml",
            "--set",
            "train.gama=1",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown key `train.gama`"));
}

#[test]
fn presets_json_lists_every_row() {
    let out = kimg().args(["presets", "--json"]).output().unwrap();
    assert!(out.status.success());
    let presets: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(presets.len(), 66);
    let t = presets
        .iter()
        .find(|p| p["name"] == "paper/afhqv2-512-stylegan3-t")
        .unwrap();
    assert_eq!(t["resolution"], 512);
    assert_eq!(
        t["options"],
        serde_json::json!({"cfg": "stylegan3-t", "gpus": 8, "batch": 32, "gamma": 8.2, "mirror": true})
    );
    assert_eq!(t["expected"]["s_per_kimg_v100"], 18.47);
    kimg()
        .args(["presets", "show", "stylegan2-ada/paper256"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--mbstd-group=8"));
    kimg().args(["presets", "show", "nope"]).assert().code(2);
}

#[test]
fn train_validates_like_train_py() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    // Range and choice violations are usage errors (exit 2), as click's are.
    kimg()
        .args([
            "train",
            "--outdir",
            out,
            "--data",
            "x.zip",
            "--cfg=stylegan3-t",
            "--gpus=0",
            "--batch=4",
            "--gamma=1",
        ])
        .assert()
        .code(2);
    kimg()
        .args([
            "train",
            "--outdir",
            out,
            "--data",
            "x.zip",
            "--cfg=stylegan4",
            "--gpus=1",
            "--batch=4",
            "--gamma=1",
        ])
        .assert()
        .code(2);
    kimg()
        .args([
            "train",
            "--outdir",
            out,
            "--data",
            "x.zip",
            "--cfg=stylegan2",
            "--gpus=1",
            "--batch=4",
            "--gamma=1",
            "--mirror=maybe",
        ])
        .assert()
        .code(2);
    kimg()
        .args([
            "train",
            "--outdir",
            out,
            "--data",
            "x.zip",
            "--cfg=stylegan2",
            "--gpus=1",
            "--batch=4",
            "--gamma=1",
            "--metrics=fid50k_ful",
        ])
        .assert()
        .code(2);
    // A missing dataset is reported for --data.
    kimg()
        .args([
            "train",
            "--outdir",
            out,
            "--data",
            "missing.zip",
            "--cfg=stylegan2",
            "--gpus=1",
            "--batch=4",
            "--gamma=1",
            "-n",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--data"));
}

#[test]
fn environment_overrides_sit_between_the_manifest_and_set() {
    let out = kimg()
        .args(["show", "experiments/afhqv2-stylegan3-t.toml", "--json"])
        .env("KIMG_TRAIN__GAMMA", "3")
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["config"]["train"]["gamma"], 3.0);
    assert!(
        value["origins"]["train.gamma"]
            .as_str()
            .unwrap()
            .contains("environment")
    );
    let out = kimg()
        .args([
            "show",
            "experiments/afhqv2-stylegan3-t.toml",
            "--json",
            "--set",
            "train.gamma=5",
        ])
        .env("KIMG_TRAIN__GAMMA", "3")
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["config"]["train"]["gamma"], 5.0);
}

#[test]
fn plan_lists_the_gamma_sweep_with_estimates() {
    let dir = tempfile::tempdir().unwrap();
    let out = kimg()
        .args([
            "plan",
            "experiments/afhqv2-stylegan3-t.toml",
            "--runs-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("5 runs"), "{text}");
    assert!(text.contains("train.gamma = 8.2 × 0.25 = 2.05"), "{text}");
    // 18.47 s/kimg × 25000 kimg × 1.05 on V100, as the tables compute it.
    assert!(text.contains("5 d 14 h on V100"), "{text}");
    let out = kimg()
        .args([
            "plan",
            "experiments/afhqv2-stylegan3-t.toml",
            "--json",
            "--runs-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["runs"].as_array().unwrap().len(), 5);
    assert_eq!(value["runs"][0]["state"]["state"], "new");
}

/// A zip of `count` RGB PNGs of `size` (width, height), the one at `corrupt` (if any) cut short.
fn png_zip(
    dir: &std::path::Path,
    size: (u32, u32),
    count: usize,
    corrupt: Option<usize>,
) -> String {
    use std::io::Write as _;
    let path = dir.join(format!("data-{}x{}.zip", size.0, size.1));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..count {
        let image = image::RgbImage::from_fn(size.0, size.1, |x, y| {
            image::Rgb([(x * 16) as u8, (y * 16) as u8, (i * 40) as u8])
        });
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        if corrupt == Some(i) {
            png.truncate(png.len() / 2);
        }
        zip.start_file(
            format!("img{i:03}.png"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(&png).unwrap();
    }
    zip.finish().unwrap();
    path.to_str().unwrap().to_string()
}

/// Bad data is refused before anything is written: no numbered run directory is created (as
/// train.py checks the dataset first), and the error names the file inside the archive.
#[test]
fn bad_data_is_refused_before_a_run_directory_exists() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("runs");
    let train = |data: &str, extra: &[&str], expected: &str| {
        let mut args = vec![
            "train",
            "--outdir",
            outdir.to_str().unwrap(),
            "--data",
            data,
            "--cfg=stylegan2",
            "--gpus=1",
            "--batch=4",
            "--gamma=1",
            "--cbase=256",
            "--cmax=8",
            "--kimg=1",
            "--metrics=none",
            "--device=cpu",
        ];
        args.extend(extra);
        let out = kimg().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{expected}");
        // The report wraps long lines in a frame: compare the words only.
        let stderr = String::from_utf8_lossy(&out.stderr).replace('│', " ");
        let words = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains(expected), "{expected} not in {words}");
        let entries = std::fs::read_dir(&outdir).map_or(0, Iterator::count);
        assert_eq!(entries, 0, "{expected}: nothing may be written");
    };
    let not_square = png_zip(dir.path(), (16, 12), 4, None);
    train(&not_square, &[], "img000.png`: images are 16×12");
    let not_power_of_two = png_zip(dir.path(), (12, 12), 4, None);
    train(&not_power_of_two, &[], "power-of-two resolution");
    let unlabelled = png_zip(dir.path(), (16, 16), 4, None);
    train(
        &unlabelled,
        &["--cond=1"],
        "requires labels in dataset.json",
    );
    let truncated = png_zip(dir.path(), (16, 16), 4, Some(2));
    train(&truncated, &[], "img002.png");
}

/// `kimg diff` prints the keys of `config.toml` and `run.toml` that differ between two runs and
/// whether they are the same run; a run without its files is a usage error naming the file.
#[test]
fn diff_lists_what_differs_between_two_runs_and_names_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, _, planned) = crate::metrics::fake_sweep(dir.path());
    for run in &planned[..2] {
        run.write_record(&manifest).unwrap();
    }
    let (a, b) = (&planned[0].dir, &planned[1].dir);
    let short = |i: usize| planned[i].identity.short().to_string();
    let out = kimg().arg("diff").arg(a).arg(b).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let (config, record) = text.split_once("\nrun.toml: ").unwrap();
    let row = |section: &str, key: &str| -> Vec<String> {
        section
            .lines()
            .map(|line| line.split_whitespace().map(str::to_string).collect())
            .find(|words: &Vec<String>| words.first().is_some_and(|w| w == key))
            .unwrap_or_else(|| panic!("no `{key}` row in {text}"))
    };
    assert!(config.contains("config.toml: 1 key differs"), "{text}");
    assert_eq!(row(config, "train.gamma"), ["train.gamma", "0.25", "0.5"]);
    assert_eq!(row(record, "resolved.train.gamma")[1..], ["0.25", "0.5"]);
    assert_eq!(
        row(record, "run.hash")[1..],
        [0, 1].map(|i| format!("\"{}\"", planned[i].identity.hash))
    );
    assert!(
        text.ends_with(&format!(
            "Different runs: identity hashes {} and {}.\n",
            short(0),
            short(1)
        )),
        "{text}"
    );

    kimg()
        .arg("diff")
        .arg(a)
        .arg(a)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "config.toml: the same\n\nrun.toml: the same\n",
        ))
        .stdout(predicate::str::contains(format!(
            "The same run: both have the identity hash {}.",
            short(0)
        )));

    std::fs::remove_file(b.join("config.toml")).unwrap();
    let out = kimg().arg("diff").arg(a).arg(b).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // The message, unwrapped from the diagnostic's frame.
    let stderr: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|line| line.trim_start().trim_start_matches(['×', '│']).trim())
        .collect();
    assert!(
        stderr.contains(&b.join("config.toml").display().to_string()),
        "{stderr}"
    );
}
