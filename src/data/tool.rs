//! `kimg dataset create`: build a training set in the official layout — port of the behaviour of
//! `dataset_tool.py` for folders, zips and (Fashion-)MNIST IDX files.
//!
//! Output: a zip (stored, not compressed) with images `00000/img00000000.png`, … as PNG and a
//! `dataset.json` of labels (or `{"labels": null}` when some image has none).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView};

use super::dataset::DataError;

/// How images are cropped before resizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transform {
    /// The central square (shortest side), then resize.
    CenterCrop,
    /// Crop to a 2:1 aspect, resize, and paste into a black square canvas.
    CenterCropWide,
}

/// Options of `kimg dataset create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// Output resolution (square); the source's size when absent.
    pub resolution: Option<u32>,
    /// Crop before resizing.
    pub transform: Option<Transform>,
    /// Stop after this many images.
    pub max_images: Option<usize>,
    /// Skip unreadable images (listed in the report) instead of failing.
    pub skip_bad: bool,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateReport {
    /// Images written.
    pub written: usize,
    /// Files skipped with `--skip-bad`, with the reason.
    pub skipped: Vec<String>,
    /// Output resolution and channels.
    pub shape: (u32, u32),
}

/// Why one source image cannot go into the dataset (skipped with `--skip-bad`).
#[derive(Debug, thiserror::Error)]
enum ImageError {
    /// The bytes are no image the decoder reads.
    #[error("cannot decode: {0}")]
    Decode(#[from] image::ImageError),
    /// A colour layout the official loader does not take.
    #[error("images must be stored as RGB or grayscale, found {0:?}")]
    ColorType(image::ColorType),
}

/// One source image: a name (for labels and messages), its decoder input, and its label.
struct Item {
    name: String,
    image: Result<DynamicImage, ImageError>,
    label: Option<serde_json::Value>,
}

/// Create `dest` from `source` (a folder, a `.zip`, or an IDX `*-images-idx3-ubyte.gz`).
pub fn create_dataset(
    source: &Path,
    dest: &Path,
    options: &CreateOptions,
    progress: &indicatif::ProgressBar,
) -> Result<CreateReport, DataError> {
    let items = read_source(source, options.max_images)?;
    progress.set_length(items.len() as u64);
    let file = std::fs::File::create(dest).map_err(|e| DataError::Read {
        path: dest.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut zip = zip::ZipWriter::new(file);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut labels = Vec::new();
    let mut all_labelled = true;
    let mut skipped = Vec::new();
    let mut shape: Option<(u32, u32)> = None;
    for item in items {
        progress.inc(1);
        let image = match item.image.and_then(|image| transform(image, options)) {
            Ok(image) => image,
            Err(reason) if options.skip_bad => {
                skipped.push(format!("{}: {reason}", item.name));
                continue;
            }
            Err(reason) => {
                return Err(DataError::BadImage {
                    path: item.name,
                    reason: reason.to_string(),
                });
            }
        };
        let channels = u32::from(image.color().channel_count());
        let (width, height) = image.dimensions();
        let bad = |reason: String| DataError::BadImage {
            path: item.name.clone(),
            reason,
        };
        if width != height {
            return Err(bad(format!(
                "images must be square after cropping and scaling, got {width}x{height}"
            )));
        }
        if !width.is_power_of_two() {
            return Err(bad(format!(
                "image size must be a power of two, got {width}"
            )));
        }
        match shape {
            None => shape = Some((width, channels)),
            Some(first) if first != (width, channels) => {
                return Err(bad(format!(
                    "all images must share size and channels: {}x{} with {} channels vs {width}x{width} with {channels}",
                    first.0, first.0, first.1
                )));
            }
            Some(_) => {}
        }
        let index = labels.len();
        let archive_name = format!("{:05}/img{index:08}.png", index / 1000);
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| bad(e.to_string()))?;
        zip.start_file(archive_name.as_str(), stored)
            .map_err(|e| bad(e.to_string()))?;
        zip.write_all(&png).map_err(|e| bad(e.to_string()))?;
        all_labelled &= item.label.is_some();
        labels.push(serde_json::json!([archive_name, item.label]));
    }
    let written = labels.len();
    let json = if all_labelled && written > 0 {
        serde_json::json!({ "labels": labels })
    } else {
        serde_json::json!({ "labels": null })
    };
    let write_error = |e: String| DataError::Read {
        path: dest.display().to_string(),
        reason: e,
    };
    zip.start_file("dataset.json", stored)
        .map_err(|e| write_error(e.to_string()))?;
    zip.write_all(json.to_string().as_bytes())
        .map_err(|e| write_error(e.to_string()))?;
    zip.finish().map_err(|e| write_error(e.to_string()))?;
    progress.finish_and_clear();
    Ok(CreateReport {
        written,
        skipped,
        shape: shape.unwrap_or((0, 0)),
    })
}

/// Check the colour layout, then crop and resize as `options` ask.
fn transform(image: DynamicImage, options: &CreateOptions) -> Result<DynamicImage, ImageError> {
    let image = match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => image,
        other => return Err(ImageError::ColorType(other.color())),
    };
    let (width, height) = image.dimensions();
    let image = match options.transform {
        None => image,
        Some(Transform::CenterCrop) => {
            let side = width.min(height);
            image.crop_imm((width - side) / 2, (height - side) / 2, side, side)
        }
        Some(Transform::CenterCropWide) => {
            let crop_height = (width / 2).min(height);
            let cropped = image.crop_imm(0, (height - crop_height) / 2, width, crop_height);
            let target = options.resolution.unwrap_or(width);
            let resized = cropped.resize_exact(target, target / 2, FilterType::Lanczos3);
            let mut canvas = DynamicImage::new(target, target, resized.color());
            image::imageops::overlay(&mut canvas, &resized, 0, i64::from(target / 4));
            return Ok(canvas);
        }
    };
    Ok(match options.resolution {
        Some(res) if image.dimensions() != (res, res) => {
            image.resize_exact(res, res, FilterType::Lanczos3)
        }
        _ => image,
    })
}

fn read_source(source: &Path, max_images: Option<usize>) -> Result<Vec<Item>, DataError> {
    let name = source.to_string_lossy();
    let limit = max_images.unwrap_or(usize::MAX);
    if name.ends_with("-images-idx3-ubyte.gz") {
        return read_idx(source, limit);
    }
    let read_error = |reason: String| DataError::Read {
        path: source.display().to_string(),
        reason,
    };
    let (files, labels): (Vec<(String, Vec<u8>)>, Option<serde_json::Value>) = if source.is_dir() {
        let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(source)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(walkdir::DirEntry::into_path)
            .collect();
        paths.sort();
        let labels = std::fs::read(source.join("dataset.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let files = paths
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n != "dataset.json"))
            .take(limit)
            .map(|p| {
                let relative = p
                    .strip_prefix(source)
                    .expect("walked under source")
                    .to_string_lossy()
                    .replace('\\', "/");
                std::fs::read(&p)
                    .map(|bytes| (relative, bytes))
                    .map_err(|e| read_error(format!("{}: {e}", p.display())))
            })
            .collect::<Result<_, _>>()?;
        (files, labels)
    } else {
        let file = std::fs::File::open(source).map_err(|e| read_error(e.to_string()))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| read_error(e.to_string()))?;
        let mut names: Vec<String> = archive
            .file_names()
            .filter(|n| !n.ends_with('/'))
            .map(String::from)
            .collect();
        names.sort();
        let mut read = |name: &str| -> Result<Vec<u8>, DataError> {
            let mut entry = archive
                .by_name(name)
                .map_err(|e| read_error(e.to_string()))?;
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| read_error(e.to_string()))?;
            Ok(bytes)
        };
        let labels = names
            .iter()
            .any(|n| n == "dataset.json")
            .then(|| read("dataset.json"))
            .transpose()?
            .and_then(|b| serde_json::from_slice(&b).ok());
        let files = names
            .iter()
            .filter(|n| *n != "dataset.json")
            .take(limit)
            .map(|n| read(n).map(|b| (n.clone(), b)))
            .collect::<Result<_, _>>()?;
        (files, labels)
    };
    let label_of = |name: &str| -> Option<serde_json::Value> {
        labels.as_ref()?["labels"]
            .as_array()?
            .iter()
            .find(|e| e[0].as_str() == Some(name))
            .map(|e| e[1].clone())
    };
    Ok(files
        .into_iter()
        .map(|(name, bytes)| Item {
            label: label_of(&name),
            image: image::load_from_memory(&bytes).map_err(ImageError::Decode),
            name,
        })
        .collect())
}

/// MNIST-style gzip IDX images (and the sibling labels file), padded from 28×28 to 32×32.
fn read_idx(images_path: &Path, limit: usize) -> Result<Vec<Item>, DataError> {
    let gunzip = |path: &Path| -> Result<Vec<u8>, DataError> {
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).map_err(|e| DataError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(bytes)
    };
    let bad = |reason: &str| DataError::Read {
        path: images_path.display().to_string(),
        reason: reason.to_string(),
    };
    let images = gunzip(images_path)?;
    let header = |bytes: &[u8], at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
    };
    if header(&images, 0) != Some(0x803) {
        return Err(bad("not an IDX image file (magic 0x00000803)"));
    }
    let (count, rows, cols) = (
        header(&images, 4).unwrap_or(0) as usize,
        header(&images, 8).unwrap_or(0) as usize,
        header(&images, 12).unwrap_or(0) as usize,
    );
    if images.len() < 16 + count * rows * cols {
        return Err(bad("truncated IDX image file"));
    }
    let labels_path = PathBuf::from(
        images_path
            .to_string_lossy()
            .replace("-images-idx3-ubyte.gz", "-labels-idx1-ubyte.gz"),
    );
    let labels = if labels_path.exists() {
        Some(gunzip(&labels_path)?)
    } else {
        None
    };
    let (pad_rows, pad_cols) = (
        (32usize.saturating_sub(rows)) / 2,
        (32usize.saturating_sub(cols)) / 2,
    );
    let (out_rows, out_cols) = (rows + 2 * pad_rows, cols + 2 * pad_cols);
    Ok((0..count.min(limit))
        .map(|i| {
            let mut padded = vec![0u8; out_rows * out_cols];
            for y in 0..rows {
                let src = &images[16 + i * rows * cols + y * cols..][..cols];
                padded[(y + pad_rows) * out_cols + pad_cols..][..cols].copy_from_slice(src);
            }
            let image = image::GrayImage::from_raw(
                u32::try_from(out_cols).expect("small"),
                u32::try_from(out_rows).expect("small"),
                padded,
            )
            .expect("buffer matches size");
            Item {
                name: format!("{}[{i}]", images_path.display()),
                image: Ok(DynamicImage::ImageLuma8(image)),
                label: labels
                    .as_ref()
                    .and_then(|l| l.get(8 + i))
                    .map(|l| serde_json::json!(l)),
            }
        })
        .collect())
}
