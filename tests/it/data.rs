//! Datasets, the sampler, image grids and numpy's RNG against the fixtures `data_dataset`,
//! `data_image_grid` and `data_numpy_rng` (exact equality: these are integer/bit-level results).

use std::path::PathBuf;

use kimg::data::grid::{grid_size, image_grid, snapshot_grid_indices};
use kimg::data::sampler::InfiniteSampler;
use kimg::data::{Dataset, DatasetOptions};
use kimg::numpy_rng::RandomState;
use tch::{Kind, Tensor};

use crate::common::Fixture;

fn fixture_zip() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/data_dataset.zip")
}

#[test]
fn every_dataset_variant_matches_the_reference() {
    let fx = Fixture::load("data_dataset");
    for (variant, expected) in fx.json["variants"].as_object().unwrap() {
        let kw = &expected["kwargs"];
        let options = DatasetOptions {
            use_labels: kw["use_labels"].as_bool().unwrap(),
            max_size: kw["max_size"].as_u64().map(|m| m as usize),
            xflip: kw["xflip"].as_bool().unwrap(),
            random_seed: kw["random_seed"].as_u64().unwrap() as u32,
        };
        let dataset = Dataset::open(&fixture_zip(), &options).unwrap();
        assert_eq!(
            dataset.len() as u64,
            expected["len"].as_u64().unwrap(),
            "{variant}"
        );
        assert_eq!(dataset.name(), "data_dataset");
        assert_eq!(dataset.resolution(), 16);
        assert_eq!(
            dataset.label_dim() as u64,
            expected["label_dim"].as_u64().unwrap(),
            "{variant}"
        );
        let images = fx.t(&format!("{variant}.images"));
        let labels = fx.t(&format!("{variant}.labels"));
        for i in 0..dataset.len() {
            let pixels = Tensor::from_slice(&dataset.image(i).unwrap()).reshape([3, 16, 16]);
            assert!(pixels.equal(&images.get(i as i64)), "{variant} image {i}");
            let label = Tensor::from_slice(&dataset.label(i)).to_kind(Kind::Float);
            assert!(label.equal(&labels.get(i as i64)), "{variant} label {i}");
        }
        let seed = expected["infinite_sampler_seed"].as_u64().unwrap() as u32;
        let order: Vec<u64> = InfiniteSampler::new(dataset.len(), 0, 1, seed)
            .take(3 * dataset.len())
            .map(|i| i as u64)
            .collect();
        let reference: Vec<u64> = expected["infinite_sampler_first_3n"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(order, reference, "{variant} sampler");
        let rank1: Vec<u64> = InfiniteSampler::new(dataset.len(), 1, 2, seed)
            .take(dataset.len())
            .map(|i| i as u64)
            .collect();
        let reference: Vec<u64> = expected["infinite_sampler_rank1_of2_first_n"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(rank1, reference, "{variant} sampler rank 1 of 2");
        let grid = &expected["snapshot_grid"];
        let (gw, gh) = grid_size(16, 16);
        assert_eq!(
            (gw as u64, gh as u64),
            (grid["gw"].as_u64().unwrap(), grid["gh"].as_u64().unwrap())
        );
        let indices = snapshot_grid_indices(&dataset, gw, gh);
        for (k, expected_label) in grid["first_labels"].as_array().unwrap().iter().enumerate() {
            let expected_label: Vec<f32> = expected_label
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(
                dataset.label(indices[k]),
                expected_label,
                "{variant} grid cell {k}"
            );
        }
    }
}

#[test]
fn fingerprints_are_stable_and_change_with_the_data() {
    let dataset = Dataset::open(&fixture_zip(), &DatasetOptions::default()).unwrap();
    let a = dataset.fingerprint().unwrap();
    assert_eq!(
        a,
        Dataset::open(
            &fixture_zip(),
            &DatasetOptions {
                xflip: true,
                ..DatasetOptions::default()
            }
        )
        .unwrap()
        .fingerprint()
        .unwrap()
    );
    assert_eq!(a.len(), 64);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&copy).unwrap());
    writer
        .start_file(
            "00000/img00000000.png",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
    let mut png = Vec::new();
    image::RgbImage::new(16, 16)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    std::io::Write::write_all(&mut writer, &png).unwrap();
    writer.finish().unwrap();
    assert_ne!(
        a,
        Dataset::open(&copy, &DatasetOptions::default())
            .unwrap()
            .fingerprint()
            .unwrap()
    );
}

#[test]
fn bad_paths_and_images_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let error = Dataset::open(&dir.path().join("nothing.txt"), &DatasetOptions::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("nothing.txt"), "{error}");
    std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
    let error = Dataset::open(dir.path(), &DatasetOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("broken.png") && error.contains("decode"),
        "{error}"
    );
}

#[test]
fn image_grids_round_half_to_even_like_the_reference() {
    let fx = Fixture::load("data_image_grid");
    let (pixels, shape) = image_grid(&fx.t("input.images_f32"), (-1.0, 1.0), (3, 2));
    let expected = fx.t("output.grid_uint8_HWC");
    assert_eq!(shape.map(|d| d as i64).to_vec(), expected.size());
    assert!(
        Tensor::from_slice(&pixels)
            .reshape(expected.size())
            .equal(&expected)
    );
    let (pixels, _) = image_grid(&fx.t("input.images_uint8"), (0.0, 255.0), (2, 3));
    let expected = fx.t("output.reals_grid_uint8_HWC");
    assert!(
        Tensor::from_slice(&pixels)
            .reshape(expected.size())
            .equal(&expected)
    );
}

#[test]
fn numpy_randn_matches_for_every_seed() {
    let fx = Fixture::load("data_numpy_rng");
    for seed in [0u32, 1, 42, 85, 600, 4_294_967_295] {
        let z = RandomState::new(seed).randn(8);
        let expected = fx.t(&format!("seed{seed}.z_randn_1x8"));
        assert!(
            Tensor::from_slice(&z).reshape([1, 8]).equal(&expected),
            "seed {seed}"
        );
    }
}
