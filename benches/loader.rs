//! The training data loader: images per second delivered to the training thread from a zip of
//! 5,000 256×256 RGB PNGs, with the default 3 decoder threads, batches of 32 and a prefetch of 2
//! (as `kimg train` runs it).
//!
//! The zip is made on first use from the bundled Fashion-MNIST: each 28×28 image upscaled
//! (bilinear), tinted with a colour of its own and given a little noise, so that its PNG is about
//! as costly to decode as a photograph's rather than a flat drawing's; it is kept in
//! `target/bench-data/`. `cargo bench --bench loader` (or `make bench`) prints a Markdown row for
//! BENCHMARKS.md: wall-clock images/s over one epoch, and images per process CPU second (on a
//! shared machine the wall-clock rate falls with the other load; the CPU rate does not). Under
//! `cargo test` (no `--bench` argument) a 64-image zip in a temporary folder is read once, as a
//! smoke test.

#[path = "common/cpu.rs"]
mod cpu;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use image::{ImageBuffer, Rgb};
use kimg::data::loader::Loader;
use kimg::data::sampler::InfiniteSampler;
use kimg::data::{Dataset, DatasetOptions};
use kimg::numpy_rng::RandomState;

const SIDE: u32 = 256;

/// The first `count` 28×28 Fashion-MNIST images of the bundled IDX file.
fn fashion_mnist(count: usize) -> Vec<Vec<u8>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist/train-images-idx3-ubyte.gz");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("bundled Fashion-MNIST"))
        .read_to_end(&mut bytes)
        .expect("IDX decompresses");
    bytes[16..]
        .chunks_exact(28 * 28)
        .take(count)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Image `index` as a 256×256 RGB PNG: upscaled, tinted and noised with its own seed.
fn png(index: usize, pixels: &[u8]) -> Vec<u8> {
    let small = ImageBuffer::<image::Luma<u8>, _>::from_raw(28, 28, pixels.to_vec())
        .expect("28×28 grayscale");
    let big = image::imageops::resize(&small, SIDE, SIDE, image::imageops::FilterType::Triangle);
    let mut rng = RandomState::new(u32::try_from(index).expect("few images"));
    let tint: Vec<f64> = (0..3).map(|_| 0.3 + 0.7 * rng.random_sample()).collect();
    let background: Vec<f64> = (0..3).map(|_| 64.0 * rng.random_sample()).collect();
    let rgb = ImageBuffer::from_fn(SIDE, SIDE, |x, y| {
        let value = f64::from(big.get_pixel(x, y).0[0]);
        let noise = 6.0 * (rng.random_sample() - 0.5);
        Rgb([0, 1, 2].map(|c| (background[c] + value * tint[c] + noise).clamp(0.0, 255.0) as u8))
    });
    let mut encoded = Vec::new();
    image::DynamicImage::ImageRgb8(rgb)
        .write_to(
            &mut std::io::Cursor::new(&mut encoded),
            image::ImageFormat::Png,
        )
        .expect("PNG encodes");
    encoded
}

/// Write the zip of `count` images at `path` (stored entries in the official layout), encoding
/// on two threads.
fn make_zip(path: &Path, count: usize) {
    let sources = fashion_mnist(count);
    let half = sources.len().div_ceil(2);
    let encoded: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let parts: Vec<_> = sources
            .chunks(half)
            .enumerate()
            .map(|(part, chunk)| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, pixels)| png(part * half + i, pixels))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("encoder"))
            .collect()
    });
    let partial = path.with_extension("zip.partial");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&partial).expect("zip created"));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (i, bytes) in encoded.iter().enumerate() {
        zip.start_file(format!("{:05}/img{i:08}.png", i / 1000), stored)
            .expect("zip entry");
        zip.write_all(bytes).expect("zip write");
    }
    zip.finish().expect("zip finished");
    std::fs::rename(&partial, path).expect("zip in place");
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let temporary = tempfile::tempdir().expect("temporary folder");
    let (count, path) = if benchmarking {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
        std::fs::create_dir_all(&dir).expect("target/bench-data");
        (5000, dir.join("fashion-mnist-256-rgb-5k.zip"))
    } else {
        (64, temporary.path().join("fashion-mnist-256-rgb.zip"))
    };
    if !path.exists() {
        make_zip(&path, count);
    }
    let zip_bytes = std::fs::metadata(&path).expect("zip exists").len();
    let dataset = Arc::new(Dataset::open(&path, &DatasetOptions::default()).expect("opens"));
    assert_eq!(dataset.image_shape(), [3, SIDE as usize, SIDE as usize]);
    let (batch, workers) = (32, 3);
    let sampler = InfiniteSampler::new(dataset.len(), 0, 1, 0);
    let mut loader = Loader::new(Arc::clone(&dataset), sampler, batch, workers, 2);
    loader.next_batch().expect("warm-up batch");
    let batches = count / batch;
    let (cpu, start) = (cpu::process_cpu_seconds(), Instant::now());
    for _ in 0..batches {
        let data = loader.next_batch().expect("batch");
        assert_eq!(data.images.size()[0], batch as i64);
    }
    let (wall, cpu) = (
        start.elapsed().as_secs_f64(),
        cpu::process_cpu_seconds() - cpu,
    );
    let images = (batches * batch) as f64;
    println!("| loader | images | PNG KiB each | images/s (wall) | images per CPU s | CPU s |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {count} × 256² RGB PNG zip, {workers} workers, batch {batch} | {images} | {:.0} | {:.0} | {:.0} | {cpu:.2} |",
        zip_bytes as f64 / count as f64 / 1024.0,
        images / wall,
        images / cpu
    );
}
