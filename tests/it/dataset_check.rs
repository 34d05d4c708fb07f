//! `kimg dataset check` end to end (every bad file reported at once, the summary, the exit codes),
//! and `kimg run` refusing a sweep whose data is bad before anything is started or written. The
//! dataset builders here also feed the `nopanic` module's mutations.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A PNG (or JPEG) of `width`×`height`, RGB or grayscale, with pixels that depend on `seed`.
pub(crate) fn image_bytes(
    width: u32,
    height: u32,
    gray: bool,
    format: image::ImageFormat,
    seed: u8,
) -> Vec<u8> {
    let rgb = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 16) as u8, (y * 16) as u8, seed.wrapping_mul(40)])
    });
    let image = if gray {
        image::DynamicImage::ImageLuma8(image::DynamicImage::ImageRgb8(rgb).to_luma8())
    } else {
        image::DynamicImage::ImageRgb8(rgb)
    };
    let mut bytes = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

/// A PNG of `size` (width, height), RGB.
pub(crate) fn png(size: (u32, u32), seed: u8) -> Vec<u8> {
    image_bytes(size.0, size.1, false, image::ImageFormat::Png, seed)
}

/// The bytes of a zip holding `entries` (name, contents) in order.
pub(crate) fn zip_bytes(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// `dataset.json` giving image `i` of `names` class `i % 2`.
pub(crate) fn class_labels(names: &[String]) -> Vec<u8> {
    let labels: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| serde_json::json!([n, i % 2]))
        .collect();
    serde_json::to_vec(&serde_json::json!({ "labels": labels })).unwrap()
}

/// `count` images `img000.png`… of `size`, with class labels when `labels`.
pub(crate) fn good_entries(size: (u32, u32), count: usize, labels: bool) -> Vec<(String, Vec<u8>)> {
    let mut entries: Vec<(String, Vec<u8>)> = (0..count)
        .map(|i| (format!("img{i:03}.png"), png(size, i as u8)))
        .collect();
    if labels {
        let names: Vec<String> = entries.iter().map(|(n, _)| n.clone()).collect();
        entries.push(("dataset.json".into(), class_labels(&names)));
    }
    entries
}

fn write_zip(dir: &Path, name: &str, entries: &[(String, Vec<u8>)]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, zip_bytes(entries)).unwrap();
    path
}

fn kimg() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("kimg"));
    cmd.env("NO_COLOR", "1")
        .env("KIMG_NO_PROGRESS", "1")
        .env("KIMG_DETECTOR_URL", "off")
        .env("KIMG_VGG16_URL", "off");
    cmd
}

fn check(path: &Path) -> (Option<i32>, String) {
    let out: Output = kimg()
        .args(["dataset", "check"])
        .arg(path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// A good zip passes with its summary: image count, resolution, channels, labels.
#[test]
fn a_good_dataset_passes_with_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let zip = write_zip(dir.path(), "good.zip", &good_entries((16, 16), 5, true));
    let (code, text) = check(&zip);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("bad "), "{text}");
    assert!(
        text.contains("5 images, 16×16 RGB, labels: yes (2 classes)"),
        "{text}"
    );
    assert!(text.contains("ok: training can use it"), "{text}");
    let unlabelled = write_zip(dir.path(), "plain.zip", &good_entries((8, 8), 3, false));
    let (code, text) = check(&unlabelled);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("3 images, 8×8 RGB, labels: none"), "{text}");
}

/// Every bad file is listed, not just the first: a truncated PNG, a file that is no image, a
/// corrupt JPEG, an image of another size and one of another channel count.
#[test]
fn every_bad_file_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = good_entries((16, 16), 6, false);
    let half = entries[1].1.len() / 2;
    entries[1].1.truncate(half);
    entries[2].1 = b"not an image at all".to_vec();
    let mut jpeg = image_bytes(16, 16, false, image::ImageFormat::Jpeg, 3);
    jpeg.truncate(20);
    entries.push(("img006.jpg".into(), jpeg));
    entries[3].1 = png((8, 8), 3);
    entries[4].1 = image_bytes(16, 16, true, image::ImageFormat::Png, 4);
    let zip = write_zip(dir.path(), "bad.zip", &entries);
    let (code, text) = check(&zip);
    assert_eq!(code, Some(1), "{text}");
    for expected in [
        "bad  img001.png: cannot decode",
        "bad  img002.png: cannot decode",
        "bad  img006.jpg: cannot decode",
        "bad  img003.png: 8×8 RGB differs from the dataset's 16×16 RGB",
        "bad  img004.png: 16×16 grayscale differs from the dataset's 16×16 RGB",
        "7 images, 16×16 RGB",
        "5 problem(s): training would refuse it",
    ] {
        assert!(text.contains(expected), "`{expected}` not in {text}");
    }
    assert!(
        !text.contains("img000.png") && !text.contains("img005.png"),
        "{text}"
    );
}

/// Square power-of-two images only: a non-square set and a 12×12 set each fail, naming an image.
#[test]
fn non_square_and_non_power_of_two_sets_fail() {
    let dir = tempfile::tempdir().unwrap();
    for (size, expected) in [
        (
            (16, 12),
            "images are 16×12 (width×height); training needs square images",
        ),
        (
            (12, 12),
            "images are 12×12; training needs a power-of-two resolution",
        ),
    ] {
        let name = format!("{}x{}.zip", size.0, size.1);
        let zip = write_zip(dir.path(), &name, &good_entries(size, 3, false));
        let (code, text) = check(&zip);
        assert_eq!(code, Some(1), "{text}");
        assert!(
            text.contains(&format!("bad  img000.png: {expected}")),
            "{text}"
        );
    }
}

/// Mixed resolutions: the odd images out are named against the size most images share.
#[test]
fn mixed_resolutions_name_the_odd_images() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = good_entries((16, 16), 5, false);
    entries[0].1 = png((32, 32), 0);
    entries[3].1 = png((32, 32), 3);
    let zip = write_zip(dir.path(), "mixed.zip", &entries);
    let (code, text) = check(&zip);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("bad  img000.png: 32×32 RGB differs from the dataset's 16×16 RGB"),
        "{text}"
    );
    assert!(text.contains("bad  img003.png: 32×32 RGB"), "{text}");
    assert!(text.contains("2 problem(s)"), "{text}");
}

/// Labels in `dataset.json` must cover every image: each unlabelled image is named; labels of
/// files that are not in the set are only counted.
#[test]
fn missing_labels_are_listed_per_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = good_entries((8, 8), 4, false);
    let named = ["img000.png", "img002.png", "gone.png"].map(String::from);
    entries.push(("dataset.json".into(), class_labels(&named)));
    let zip = write_zip(dir.path(), "labels.zip", &entries);
    let (code, text) = check(&zip);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("bad  img001.png: no label in `dataset.json`"),
        "{text}"
    );
    assert!(
        text.contains("bad  img003.png: no label in `dataset.json`"),
        "{text}"
    );
    assert!(
        text.contains("(1 labels name no image and are ignored)"),
        "{text}"
    );
    assert!(text.contains("2 problem(s)"), "{text}");
    let mut entries = good_entries((8, 8), 2, false);
    entries.push((
        "dataset.json".into(),
        br#"{"labels": [["img000.png", 1], ["img001.png", [0.5]]]}"#.to_vec(),
    ));
    let zip = write_zip(dir.path(), "mixed-labels.zip", &entries);
    let (code, text) = check(&zip);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("bad  dataset.json: the label of `img000.png`, 1, is neither"),
        "{text}"
    );
}

/// A path that is no dataset is a usage error (exit 2), as `--data` is for `kimg train`.
#[test]
fn a_path_that_is_no_dataset_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = check(&dir.path().join("missing.zip"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("missing.zip"), "{text}");
}

/// `kimg run` checks the data of every pending run before starting any: a sweep over two
/// datasets, one of them non-square, is refused with the run and `data.path` named, and no run
/// directory (not even the runs folder) is written.
#[test]
fn kimg_run_refuses_a_sweep_with_bad_data_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_zip(dir.path(), "good.zip", &good_entries((16, 16), 4, false));
    let bad = write_zip(dir.path(), "bad.zip", &good_entries((16, 12), 4, false));
    let manifest = dir.path().join("sweep.toml");
    std::fs::write(
        &manifest,
        format!(
            "name = \"sweep\"\n[data]\npath = {:?}\n[train]\ncfg = \"stylegan2\"\ngpus = 1\n\
             batch = 4\ngamma = 1\ncbase = 64\ncmax = 8\nmap_depth = 2\nmbstd_group = 2\n\
             kimg = 1\nmetrics = []\n[sweep]\n\"data.path\" = [{:?}, {:?}]\n\
             \"train.gamma\" = [1, 2]\n",
            good.display().to_string(),
            good.display().to_string(),
            bad.display().to_string(),
        ),
    )
    .unwrap();
    let runs = dir.path().join("runs");
    let out = kimg()
        .arg("run")
        .arg(&manifest)
        .arg("--runs-dir")
        .arg(&runs)
        .args(["--devices", "cpu"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace('│', " ");
    let words = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(out.status.code(), Some(2), "{words}");
    assert!(
        words.contains("cannot start, nothing was started"),
        "{words}"
    );
    assert!(words.contains("`data.path` = `"), "{words}");
    assert!(words.contains("bad.zip"), "{words}");
    assert!(words.contains("img000.png`: images are 16×12"), "{words}");
    assert!(
        !runs.exists(),
        "nothing may be written under {}",
        runs.display()
    );
}
