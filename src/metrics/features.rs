//! Feature statistics of image sets — port of `metrics/metric_utils.py`
//! `compute_feature_stats_for_dataset` / `…_for_generator`: a dataset or a generator flows in, the
//! detector's [`FeatureStats`] flow out. Batches of 64 go through the detector; generated images
//! are made 4 at a time as in the reference.

use tch::{Device, Kind, Tensor};

use super::MetricError;
use super::detector::{Detector, Output};
use super::stats::{Capture, FeatureStats};
use crate::data::Dataset;
use crate::nets::network::{GeneratorNet, NoiseMode};
use crate::nets::precision::Precision;
use crate::numpy_rng::RandomState;

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

/// What every metric that renders images sets up: the torch generator seeded with
/// [`GENERATION_SEED`], the label stream, a progress bar, and — for the metrics the reference runs
/// with `force_fp32` — float32 rendering. Dropping it restores the generator's precision and
/// clears the bar, on every path out.
pub(crate) struct Rendering<'a> {
    generator: &'a dyn GeneratorNet,
    labels: Option<&'a Dataset>,
    precision: Precision,
    label_rng: RandomState,
    /// Progress over the metric's samples.
    pub(crate) bar: indicatif::ProgressBar,
}

impl<'a> Rendering<'a> {
    /// Start rendering `length` samples of `generator` (`unit` and `message` label the bar), with
    /// labels drawn from `labels` for a conditional generator.
    pub(crate) fn start(
        generator: &'a dyn GeneratorNet,
        labels: Option<&'a Dataset>,
        force_fp32: bool,
        (unit, message, length): (&str, &'static str, usize),
    ) -> Rendering<'a> {
        let precision = generator.precision();
        if force_fp32 {
            generator.set_precision(Precision::Float32);
        }
        tch::manual_seed(i64::from(GENERATION_SEED));
        let bar = crate::ui::progress_bar(unit);
        bar.set_length(length as u64);
        bar.set_message(message);
        Rendering {
            generator,
            labels,
            precision,
            label_rng: RandomState::new(GENERATION_SEED),
            bar,
        }
    }

    /// The next `count` labels ([`generated_labels`]) on the generator's device.
    pub(crate) fn labels(&mut self, count: i64) -> Tensor {
        generated_labels(
            self.labels,
            self.generator.c_dim(),
            count,
            &mut self.label_rng,
        )
        .to_device(self.generator.var_store().device())
    }
}

impl Drop for Rendering<'_> {
    fn drop(&mut self) {
        self.generator.set_precision(self.precision);
        self.bar.finish_and_clear();
    }
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
    let mut rendering = Rendering::start(
        generator,
        labels,
        false,
        ("images", "features of generated images", num_gen),
    );
    let mut stats = FeatureStats::new(capture, Some(num_gen));
    let calls = i64::try_from(DETECTOR_BATCH).expect("small") / GENERATOR_BATCH;
    while !stats.is_full() {
        let images: Vec<Tensor> = (0..calls)
            .map(|_| {
                let z = Tensor::randn([GENERATOR_BATCH, generator.z_dim()], (Kind::Float, device));
                let c = rendering.labels(GENERATOR_BATCH);
                tch::no_grad(|| {
                    let ws = generator.mapping(&z, &c, 1.0, false);
                    to_uint8_nchw(&generator.synthesis(&ws, NoiseMode::Random, false, false))
                })
            })
            .collect();
        let before = stats.num_items();
        stats.append(&detector.run(&Tensor::cat(&images, 0), output)?);
        rendering.bar.inc((stats.num_items() - before) as u64);
    }
    Ok(stats)
}

/// `[count, c_dim]` labels of random dataset items (`np.random.randint(len(dataset))` each), or
/// zeros.
fn generated_labels(
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
