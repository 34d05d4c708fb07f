//! Batches for training, decoded ahead of time by worker threads.
//!
//! The sampler runs on a producer thread that draws each batch's indices in order and decodes the
//! images with `workers` threads; batches wait in a bounded queue. Each batch carries the
//! sampler's state right after its indices were drawn, so a snapshot records exactly where the
//! data order stands: the order depends only on the seed, never on the number of workers or on
//! how far ahead they ran.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use tch::{Kind, Tensor};

use super::dataset::{DataError, Dataset};
use super::sampler::InfiniteSampler;

/// One batch of real data.
#[derive(Debug)]
pub struct Batch {
    /// `[N, C, H, W]` uint8 images.
    pub images: Tensor,
    /// `[N, c_dim]` float labels.
    pub labels: Tensor,
    /// The sampler after drawing this batch (saved in snapshots).
    pub sampler: InfiniteSampler,
}

/// A prefetching loader.
#[derive(Debug)]
pub struct Loader {
    receiver: Receiver<Result<Batch, DataError>>,
    producer: Option<JoinHandle<()>>,
}

fn decode_batch(
    dataset: &Dataset,
    indices: &[usize],
    workers: usize,
) -> Result<(Vec<u8>, Vec<f32>), DataError> {
    let chunk = indices.len().div_ceil(workers.max(1)).max(1);
    let parts: Vec<Result<Vec<Vec<u8>>, DataError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = indices
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|&i| dataset.image(i)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("decoder threads do not panic"))
            .collect()
    });
    let mut pixels = Vec::new();
    for part in parts {
        for image in part? {
            pixels.extend(image);
        }
    }
    let labels = indices.iter().flat_map(|&i| dataset.label(i)).collect();
    Ok((pixels, labels))
}

impl Loader {
    /// Start producing batches of `batch_size` from `sampler`'s order.
    pub fn new(
        dataset: Arc<Dataset>,
        mut sampler: InfiniteSampler,
        batch_size: usize,
        workers: usize,
        prefetch: usize,
    ) -> Loader {
        let (sender, receiver): (SyncSender<Result<Batch, DataError>>, _) =
            sync_channel(prefetch.max(1));
        let producer = std::thread::spawn(move || {
            let [c, h, w] = dataset
                .image_shape()
                .map(|d| i64::try_from(d).expect("fits"));
            let c_dim = i64::try_from(dataset.label_dim()).expect("fits");
            let n = i64::try_from(batch_size).expect("fits");
            loop {
                let indices: Vec<usize> = sampler.by_ref().take(batch_size).collect();
                let batch =
                    decode_batch(&dataset, &indices, workers).map(|(pixels, labels)| Batch {
                        images: Tensor::from_slice(&pixels).reshape([n, c, h, w]),
                        labels: Tensor::from_slice(&labels)
                            .to_kind(Kind::Float)
                            .reshape([n, c_dim]),
                        sampler: sampler.clone(),
                    });
                let failed = batch.is_err();
                if sender.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        Loader {
            receiver,
            producer: Some(producer),
        }
    }

    /// The next batch (blocks until decoded).
    pub fn next_batch(&mut self) -> Result<Batch, DataError> {
        self.receiver.recv().unwrap_or_else(|_| {
            Err(DataError::Read {
                path: "loader".into(),
                reason: "the loader thread stopped".into(),
            })
        })
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Unblock the producer (its next send fails once the receiver is gone), then wait.
        let (_, dummy) = sync_channel(1);
        drop(std::mem::replace(&mut self.receiver, dummy));
        if let Some(producer) = self.producer.take() {
            let _ = producer.join();
        }
    }
}
