//! No input makes kimg panic: generated manifests and sweeps, mutated dataset zips (archive bytes,
//! PNG/JPEG headers, `dataset.json`), mutated safetensors snapshots and mutated official pickles
//! each end in a value or a typed error. proptest catches a panic and shrinks it to a minimal
//! input. Each target runs `CASES` cases (`PROPTEST_CASES=N` overrides for longer runs by hand);
//! the minimal inputs of the panics these found are the regression tests at the end.

use std::path::{Path, PathBuf};

use kimg::data::check::check_dataset;
use kimg::data::{Dataset, DatasetOptions};
use kimg::manifest::catalog::Catalog;
use kimg::manifest::fields::field_names;
use kimg::manifest::wire::{DataWire, ManifestWire, TrainWire};
use kimg::manifest::{ExperimentSpec, Layers};
use kimg::snapshot::file::SnapshotFile;
use kimg::snapshot::official::read_network_pickle;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::dataset_check::{class_labels, good_entries, image_bytes, zip_bytes};

/// Cases per target in `make test`.
const CASES: u32 = 256;

/// The runner of one target: `CASES` cases, or `PROPTEST_CASES`; failures are not persisted
/// (the regression tests below pin them).
fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(CASES);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

// ---- (a) manifests and (b) sweeps ----------------------------------------------------------

/// A TOML value of any type: real option values, odd numbers, strings, lists, tables.
fn any_value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(toml::Value::Boolean),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(4),
            Just(16),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(1 << 32),
            any::<i64>()
        ]
        .prop_map(toml::Value::Integer),
        prop_oneof![
            Just(0.0f64),
            Just(-0.5),
            Just(0.25),
            Just(1e300),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-f64::INFINITY),
            any::<f64>()
        ]
        .prop_map(toml::Value::Float),
        prop_oneof![
            Just("stylegan2".to_string()),
            Just("stylegan3-t".into()),
            Just("stylegan3-r".into()),
            Just("auto".into()),
            Just("ada".into()),
            Just("noaug".into()),
            Just("fixed".into()),
            Just("fid50k_full".into()),
            Just("none".into()),
            Just(String::new()),
            "[a-z0-9_.-]{0,12}",
        ]
        .prop_map(toml::Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::btree_map("[a-z_.]{1,10}", inner, 0..3)
                .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    })
}

/// A table over `keys` (mostly real names, sometimes a misspelt one) with values of random type.
fn section(keys: Vec<&'static str>) -> impl Strategy<Value = toml::Table> {
    let key = prop_oneof![
        9 => prop::sample::select(keys).prop_map(String::from),
        1 => "[a-z_]{1,8}",
    ];
    prop::collection::btree_map(key, any_value(), 0..6).prop_map(|m| m.into_iter().collect())
}

/// A dotted `data.`/`train.` key, a real one mostly.
fn dotted_key() -> impl Strategy<Value = String> {
    let data = prop::sample::select(field_names::<DataWire>()).prop_map(|k| format!("data.{k}"));
    let train = prop::sample::select(field_names::<TrainWire>()).prop_map(|k| format!("train.{k}"));
    prop_oneof![4 => train, 2 => data, 1 => "[a-z]{1,6}(\\.[a-z]{1,6})?"]
}

/// A `times` factor: ordinary multipliers, and zero, negative, fractional, huge and non-finite.
fn factor() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![0.25, 0.5, 1.0, 2.0, 4.0, 3.0]),
        prop::sample::select(vec![
            0.0,
            -1.0,
            -0.5,
            1e300,
            f64::NAN,
            f64::INFINITY,
            1e-300
        ]),
        any::<f64>(),
    ]
}

/// A `[sweep]` table: value axes, `times` axes, zipped groups and exclusions over dotted keys.
fn sweep() -> impl Strategy<Value = toml::Value> {
    let axis = prop_oneof![
        prop::collection::vec(any_value(), 0..4).prop_map(toml::Value::Array),
        prop::collection::vec(factor(), 0..4).prop_map(|f| {
            let mut times = toml::Table::new();
            times.insert(
                "times".into(),
                toml::Value::Array(f.into_iter().map(toml::Value::Float).collect()),
            );
            toml::Value::Table(times)
        }),
        any_value(),
    ];
    let group = prop::collection::btree_map(
        dotted_key(),
        prop::collection::vec(any_value(), 0..4).prop_map(toml::Value::Array),
        1..3,
    )
    .prop_map(|m| toml::Value::Table(m.into_iter().collect()));
    let rule = prop::collection::btree_map(dotted_key(), any_value(), 0..3)
        .prop_map(|m| toml::Value::Table(m.into_iter().collect()));
    (
        prop::collection::btree_map(dotted_key(), axis, 0..3),
        prop::collection::vec(group, 0..2),
        prop::collection::vec(rule, 0..3),
        any::<bool>(),
    )
        .prop_map(|(axes, zip, exclude, with_exclude)| {
            let mut table: toml::Table = axes.into_iter().collect();
            if !zip.is_empty() {
                table.insert("zip".into(), toml::Value::Array(zip));
            }
            if with_exclude {
                table.insert("exclude".into(), toml::Value::Array(exclude));
            }
            toml::Value::Table(table)
        })
}

/// A manifest of random shape over the real sections and keys, `extends` naming a real preset
/// (or not), and sometimes cut short (a syntax error).
fn manifest(presets: Vec<String>) -> impl Strategy<Value = String> {
    let top: Vec<&'static str> = field_names::<ManifestWire>().to_vec();
    let extends = prop_oneof![
        3 => prop::sample::select(presets).prop_map(toml::Value::String),
        1 => any_value(),
    ];
    (
        prop::option::of(extends),
        prop::option::of(section(field_names::<DataWire>().to_vec())),
        prop::option::of(section(field_names::<TrainWire>().to_vec())),
        prop::option::of(sweep()),
        section(top),
        prop::option::of(0usize..400),
    )
        .prop_map(|(extends, data, train, sweep, mut top, cut)| {
            for (key, value) in [
                ("extends", extends),
                ("data", data.map(toml::Value::Table)),
                ("train", train.map(toml::Value::Table)),
                ("sweep", sweep),
            ] {
                if let Some(value) = value {
                    top.insert(key.into(), value);
                }
            }
            let mut text = toml::to_string(&top).unwrap_or_default();
            if let Some(cut) = cut {
                let at = (0..=cut.min(text.len()))
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                text.truncate(at);
            }
            text
        })
}

/// Load and resolve `path` as `kimg show` does, render it, then expand its sweep as `kimg plan`
/// does; every outcome but a panic is fine.
fn load_and_expand(path: &Path) {
    if let Ok(layers) = Layers::from_manifest(path, &[])
        && let Ok(spec) = ExperimentSpec::resolve(&layers, None, "fuzz")
    {
        let _ = kimg::manifest::show::render_text(&spec, &layers);
        let _ = kimg::manifest::show::render_json(&spec, &layers);
    }
    if let Ok(runs) = kimg::sweep::expand(path, &[]) {
        assert!(
            !runs.is_empty(),
            "an expansion without runs must be an error"
        );
    }
}

/// (a), (b): random manifests through the loader, `kimg show`'s rendering and the sweep expander.
#[test]
fn manifests_and_sweeps_of_any_shape_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.toml");
    let presets = Catalog::near(&path).names();
    assert!(presets.len() > 10, "the built-in presets: {presets:?}");
    runner()
        .run(&manifest(presets), |text| {
            std::fs::write(&path, &text).unwrap();
            load_and_expand(&path);
            Ok(())
        })
        .unwrap();
}

// ---- (c) datasets --------------------------------------------------------------------------

/// How one case damages a valid labelled dataset zip.
#[derive(Debug, Clone)]
enum ZipDamage {
    /// Overwrite bytes of the archive.
    Bytes(Vec<(prop::sample::Index, u8)>),
    /// Cut the archive short.
    Truncate(prop::sample::Index),
    /// Overwrite bytes in the first 64 of one image (PNG/JPEG headers), or cut it short.
    ImageHeader(prop::sample::Index, Vec<(u8, u8)>, Option<u8>),
    /// Replace `dataset.json`.
    Labels(String),
    /// Replace an image with one of another size, mode or format.
    Image(prop::sample::Index, (u32, u32), bool, bool),
}

fn label_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        (0u64..4).prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        prop::collection::vec(-2.0f64..2.0, 0..3).prop_map(serde_json::Value::from),
        Just(serde_json::json!(["x", null])),
        Just(serde_json::json!("text")),
        Just(serde_json::Value::Null),
        Just(serde_json::json!({"a": 1})),
    ]
}

/// A `dataset.json`: labels for some of the images (and for files that are not there), of mixed
/// types, malformed entries, or not JSON at all.
fn labels_json() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        (0usize..6).prop_map(|i| format!("img{i:03}.png")),
        Just("img004.jpg".to_string()),
        "[a-z]{1,5}\\.png",
    ];
    let entry = prop_oneof![
        5 => (name, label_value()).prop_map(|(n, v)| serde_json::json!([n, v])),
        1 => label_value(),
    ];
    let labels = prop_oneof![
        4 => prop::collection::vec(entry, 0..7).prop_map(serde_json::Value::from),
        1 => label_value(),
    ];
    prop_oneof![
        6 => labels.prop_map(|l| serde_json::json!({ "labels": l }).to_string()),
        1 => Just("{}".to_string()),
        1 => ".{0,20}",
    ]
}

fn zip_damage() -> impl Strategy<Value = ZipDamage> {
    prop_oneof![
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
            .prop_map(ZipDamage::Bytes),
        any::<prop::sample::Index>().prop_map(ZipDamage::Truncate),
        (
            any::<prop::sample::Index>(),
            prop::collection::vec((0u8..64, any::<u8>()), 0..6),
            prop::option::of(any::<u8>())
        )
            .prop_map(|(i, bytes, cut)| ZipDamage::ImageHeader(i, bytes, cut)),
        labels_json().prop_map(ZipDamage::Labels),
        (
            any::<prop::sample::Index>(),
            (1u32..20, 1u32..20),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(i, size, gray, jpeg)| ZipDamage::Image(i, size, gray, jpeg)),
    ]
}

/// The valid labelled dataset every case starts from: four 8×8 PNGs and a JPEG, class labels.
fn base_entries() -> Vec<(String, Vec<u8>)> {
    let mut entries = good_entries((8, 8), 4, false);
    entries.push((
        "img004.jpg".into(),
        image_bytes(8, 8, false, image::ImageFormat::Jpeg, 4),
    ));
    let names: Vec<String> = entries.iter().map(|(n, _)| n.clone()).collect();
    entries.push(("dataset.json".into(), class_labels(&names)));
    entries
}

fn damaged_zip(damage: &ZipDamage) -> Vec<u8> {
    let mut entries = base_entries();
    let images = entries.len() - 1;
    match damage {
        ZipDamage::Bytes(_) | ZipDamage::Truncate(_) => {}
        ZipDamage::ImageHeader(index, bytes, cut) => {
            let image = &mut entries[index.index(images)].1;
            for (at, byte) in bytes {
                if let Some(b) = image.get_mut(usize::from(*at)) {
                    *b = *byte;
                }
            }
            if let Some(cut) = cut {
                image.truncate(usize::from(*cut));
            }
        }
        ZipDamage::Labels(json) => entries[images].1 = json.clone().into_bytes(),
        ZipDamage::Image(index, (w, h), gray, jpeg) => {
            let format = if *jpeg {
                image::ImageFormat::Jpeg
            } else {
                image::ImageFormat::Png
            };
            entries[index.index(images)].1 = image_bytes(*w, *h, *gray, format, 1);
        }
    }
    let mut bytes = zip_bytes(&entries);
    match damage {
        ZipDamage::Bytes(edits) => {
            for (at, byte) in edits {
                let at = at.index(bytes.len());
                bytes[at] = *byte;
            }
        }
        ZipDamage::Truncate(at) => bytes.truncate(at.index(bytes.len())),
        _ => {}
    }
    bytes
}

/// Read everything a run reads from the dataset at `path`; whether a run could train on it.
fn train_reads(path: &Path) -> bool {
    let options = DatasetOptions {
        use_labels: true,
        xflip: true,
        ..DatasetOptions::default()
    };
    let Ok(dataset) = Dataset::open(path, &options) else {
        return false;
    };
    let _ = dataset.fingerprint();
    let mut ok = dataset.training_resolution().is_ok();
    for i in 0..dataset.len() {
        ok &= dataset.image(i).is_ok();
        let _ = (dataset.label(i), dataset.raw_label(i));
    }
    ok
}

/// (c): damaged zips through the reader a run uses and through `kimg dataset check`, which
/// agree: the check passes exactly when a run could read every image and label.
#[test]
fn damaged_dataset_zips_never_panic_and_the_check_agrees_with_training() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.zip");
    let hidden = indicatif::ProgressBar::hidden();
    runner()
        .run(&zip_damage(), |damage| {
            std::fs::write(&path, damaged_zip(&damage)).unwrap();
            let trains = train_reads(&path);
            let checked = check_dataset(&path, &hidden);
            let passes = checked.as_ref().is_ok_and(|c| c.is_ok());
            prop_assert_eq!(passes, trains, "{:?}", checked);
            Ok(())
        })
        .unwrap();
}

// ---- (d) snapshots -------------------------------------------------------------------------

/// A real snapshot as kimg writes it: two tensors and a metadata document.
fn snapshot_bytes(dir: &Path) -> Vec<u8> {
    let path = dir.join("network-snapshot-000000.safetensors");
    SnapshotFile {
        tensors: vec![
            (
                "G.mapping.fc0.weight".into(),
                tch::Tensor::arange(6, (tch::Kind::Float, tch::Device::Cpu)).reshape([3, 2]),
            ),
            ("state.cur_nimg".into(), tch::Tensor::from(12_000i64)),
        ],
        metadata: serde_json::json!({"arch": "stylegan2", "G_kwargs": {"z_dim": 8}}),
    }
    .write(&path)
    .unwrap();
    std::fs::read(path).unwrap()
}

/// How one case damages the snapshot.
#[derive(Debug, Clone)]
enum SnapshotDamage {
    /// Replace the 8-byte header length.
    HeaderLength(u64),
    /// Add to the header length.
    HeaderLengthDelta(i16),
    /// Replace one field of one tensor's header entry (`dtype`, `shape`, `data_offsets`) or the
    /// metadata, then rewrite the header with its new length.
    Json(prop::sample::Index, &'static str, serde_json::Value),
    /// Overwrite bytes in the header.
    HeaderBytes(Vec<(prop::sample::Index, u8)>),
    /// Cut the file short.
    Truncate(prop::sample::Index),
}

fn json_field_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        prop::sample::select(vec!["F32", "F64", "I64", "U8", "BOOL", "F8_E4M3", "x"])
            .prop_map(serde_json::Value::from),
        prop::collection::vec(
            prop_oneof![0u64..8, Just(u64::MAX), Just(1 << 40), any::<u64>()],
            0..4
        )
        .prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        Just(serde_json::json!({"kimg": "{not json"})),
        Just(serde_json::json!({"kimg": 5})),
        Just(serde_json::Value::Null),
    ]
}

fn snapshot_damage() -> impl Strategy<Value = SnapshotDamage> {
    prop_oneof![
        prop_oneof![any::<u64>(), 0u64..400, Just(u64::MAX)].prop_map(SnapshotDamage::HeaderLength),
        any::<i16>().prop_map(SnapshotDamage::HeaderLengthDelta),
        (
            any::<prop::sample::Index>(),
            prop::sample::select(vec![
                "dtype",
                "shape",
                "data_offsets",
                "__metadata__",
                "drop"
            ]),
            json_field_value()
        )
            .prop_map(|(i, field, value)| SnapshotDamage::Json(i, field, value)),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
            .prop_map(SnapshotDamage::HeaderBytes),
        any::<prop::sample::Index>().prop_map(SnapshotDamage::Truncate),
    ]
}

fn damaged_snapshot(original: &[u8], damage: &SnapshotDamage) -> Vec<u8> {
    let length = u64::from_le_bytes(original[..8].try_into().unwrap());
    let header_end = 8 + length as usize;
    let mut bytes = original.to_vec();
    match damage {
        SnapshotDamage::HeaderLength(n) => bytes[..8].copy_from_slice(&n.to_le_bytes()),
        SnapshotDamage::HeaderLengthDelta(d) => {
            let n = length.wrapping_add_signed(i64::from(*d));
            bytes[..8].copy_from_slice(&n.to_le_bytes());
        }
        SnapshotDamage::Json(index, field, value) => {
            let mut header: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&original[8..header_end]).unwrap();
            let keys: Vec<String> = header.keys().cloned().collect();
            let key = keys[index.index(keys.len())].clone();
            match *field {
                "drop" => {
                    header.remove(&key);
                }
                "__metadata__" => {
                    header.insert("__metadata__".into(), value.clone());
                }
                field => {
                    if let Some(entry) = header.get_mut(&key).and_then(|e| e.as_object_mut()) {
                        entry.insert(field.into(), value.clone());
                    }
                }
            }
            let text = serde_json::to_vec(&header).unwrap();
            bytes = (text.len() as u64).to_le_bytes().to_vec();
            bytes.extend(text);
            bytes.extend(&original[header_end..]);
        }
        SnapshotDamage::HeaderBytes(edits) => {
            for (at, byte) in edits {
                bytes[at.index(header_end)] = *byte;
            }
        }
        SnapshotDamage::Truncate(at) => bytes.truncate(at.index(bytes.len())),
    }
    bytes
}

/// (d): damaged safetensors headers through the snapshot reader.
#[test]
fn damaged_snapshots_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let original = snapshot_bytes(dir.path());
    let path = dir.path().join("damaged.safetensors");
    runner()
        .run(&snapshot_damage(), |damage| {
            std::fs::write(&path, damaged_snapshot(&original, &damage)).unwrap();
            if let Ok(file) = SnapshotFile::read(&path) {
                let _ = file.get("G.mapping.fc0.weight");
            }
            let _ = SnapshotFile::read_with_metadata::<kimg::snapshot::metadata::NetworkMetadata>(
                &path,
            );
            Ok(())
        })
        .unwrap();
}

// ---- (e) official pickles ------------------------------------------------------------------

fn pickle_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/snapshot_tiny.pkl")
}

/// How one case damages the pickle: overwritten bytes, a cut, random bytes spliced in.
type PickleDamage = (
    Vec<(prop::sample::Index, u8)>,
    Option<prop::sample::Index>,
    Option<(prop::sample::Index, Vec<u8>)>,
);

fn pickle_damage() -> impl Strategy<Value = PickleDamage> {
    (
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        prop::option::weighted(0.2, any::<prop::sample::Index>()),
        prop::option::weighted(
            0.3,
            (
                any::<prop::sample::Index>(),
                prop::collection::vec(any::<u8>(), 1..12),
            ),
        ),
    )
}

/// (e): damaged official pickles through the network-pickle reader.
#[test]
fn damaged_official_pickles_never_panic() {
    let original = std::fs::read(pickle_fixture()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.pkl");
    runner()
        .run(&pickle_damage(), |(edits, cut, splice)| {
            let mut bytes = original.clone();
            for (at, byte) in &edits {
                let at = at.index(bytes.len());
                bytes[at] = *byte;
            }
            if let Some((at, inserted)) = &splice {
                let at = at.index(bytes.len());
                bytes.splice(at..at, inserted.iter().copied());
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            std::fs::write(&path, &bytes).unwrap();
            let _ = read_network_pickle(&path);
            Ok(())
        })
        .unwrap();
}
