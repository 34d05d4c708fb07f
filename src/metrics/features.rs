//! Feature statistics of image sets — port of `metrics/metric_utils.py`
//! `compute_feature_stats_for_dataset` / `…_for_generator`: a dataset or a generator flows in, the
//! detector's [`FeatureStats`] flow out. Batches of 64 go through the detector; generated images
//! are made 4 at a time as in the reference.

use tch::{Device, Kind, Tensor};

use super::MetricError;
use super::detector::{Detector, Output};
use super::stats::{Capture, FeatureStats};
use crate::data::Dataset;
use crate::numpy_rng::RandomState;
use crate::train::networks::{GeneratorNet, NoiseMode};

/// Images per detector batch (`batch_size` of the reference).
pub const DETECTOR_BATCH: usize = 64;

/// Images per generator call (`batch_gen` of the reference).
pub const GENERATOR_BATCH: i64 = 4;

/// Seed of the torch generator and of the label draws when a metric generates images, so that a
/// metric of one snapshot always sees the same images.
pub const GENERATION_SEED: u32 = 0;

/// Features of the first `max_items` items of `dataset` (all when `None`), with a progress bar.
pub fn dataset_features(
    detector: &Detector,
    dataset: &Dataset,
    capture: Capture,
    max_items: Option<usize>,
) -> Result<FeatureStats, MetricError> {
    let count = max_items.map_or(dataset.len(), |max| max.min(dataset.len()));
    let mut stats = FeatureStats::new(capture, Some(count));
    let shape = dataset
        .image_shape()
        .map(|d| i64::try_from(d).expect("fits"));
    let bar = crate::ui::progress_bar("images");
    bar.set_length(count as u64);
    bar.set_message(format!("features of {}", dataset.name()));
    let mut start = 0;
    while start < count {
        let end = (start + DETECTOR_BATCH).min(count);
        let pixels = (start..end)
            .map(|i| dataset.image(i))
            .collect::<Result<Vec<_>, _>>()?
            .concat();
        let n = i64::try_from(end - start).expect("fits");
        let images = Tensor::from_slice(&pixels).reshape([n, shape[0], shape[1], shape[2]]);
        stats.append(&detector.features(&images)?);
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    Ok(stats)
}

/// `(img·127.5 + 128).clamp(0, 255)` truncated to uint8, NCHW (the metrics' conversion).
pub fn to_uint8_nchw(img: &Tensor) -> Tensor {
    (img * 127.5 + 128.0).clamp(0.0, 255.0).to_kind(Kind::Uint8)
}

/// The detector's `output` for `num_gen` images of `generator` (no truncation, random noise), with
/// labels drawn uniformly from `labels` for a conditional generator (zeros otherwise). Seeds the
/// torch generator with [`GENERATION_SEED`]; callers that need their own stream reseed afterwards.
pub fn generator_features(
    detector: &Detector,
    generator: &dyn GeneratorNet,
    labels: Option<&Dataset>,
    num_gen: usize,
    (capture, output): (Capture, Output),
) -> Result<FeatureStats, MetricError> {
    let device = generator.var_store().device();
    let (z_dim, c_dim) = (generator.z_dim(), generator.c_dim());
    tch::manual_seed(i64::from(GENERATION_SEED));
    let mut label_rng = RandomState::new(GENERATION_SEED);
    let mut stats = FeatureStats::new(capture, Some(num_gen));
    let bar = crate::ui::progress_bar("images");
    bar.set_length(num_gen as u64);
    bar.set_message("features of generated images");
    let calls = i64::try_from(DETECTOR_BATCH).expect("small") / GENERATOR_BATCH;
    while !stats.is_full() {
        let images: Vec<Tensor> = (0..calls)
            .map(|_| {
                let z = Tensor::randn([GENERATOR_BATCH, z_dim], (Kind::Float, device));
                let c = generated_labels(labels, c_dim, GENERATOR_BATCH, &mut label_rng)
                    .to_device(device);
                tch::no_grad(|| {
                    let ws = generator.mapping(&z, &c, 1.0, false);
                    to_uint8_nchw(&generator.synthesis(&ws, NoiseMode::Random, false, false))
                })
            })
            .collect();
        let before = stats.num_items();
        stats.append(&detector.run(&Tensor::cat(&images, 0), output)?);
        bar.inc((stats.num_items() - before) as u64);
    }
    bar.finish_and_clear();
    Ok(stats)
}

/// `[count, c_dim]` labels of random dataset items (`np.random.randint(len(dataset))` each), or
/// zeros.
pub(crate) fn generated_labels(
    labels: Option<&Dataset>,
    c_dim: i64,
    count: i64,
    rng: &mut RandomState,
) -> Tensor {
    match labels {
        Some(dataset) if c_dim > 0 => {
            let len = dataset.len() as u64;
            let values: Vec<f32> = (0..count)
                .flat_map(|_| dataset.label(usize::try_from(rng.randint(len)).expect("index fits")))
                .collect();
            Tensor::from_slice(&values).reshape([count, c_dim])
        }
        _ => Tensor::zeros([count, c_dim], (Kind::Float, Device::Cpu)),
    }
}
