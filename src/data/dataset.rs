//! Training sets in the official layout — port of `training/dataset.py` `ImageFolderDataset`
//! (`training/dataset.py` `ImageFolderDataset`): a zip or a folder of PNG/JPEG images, optional
//! `dataset.json` labels, a seeded `max_size` subset, x-flip doubling.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::numpy_rng::RandomState;

/// Why a dataset could not be opened or read; every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The path is neither a folder nor a `.zip`.
    #[error("`{0}`: path must point to a directory or zip")]
    NotADataset(String),
    /// No image files.
    #[error("`{0}`: no image files found")]
    NoImages(String),
    /// Reading failed.
    #[error("`{path}`: {reason}")]
    Read {
        /// The file (inside the archive when zipped).
        path: String,
        /// What failed.
        reason: String,
    },
    /// An image differs from the first image's shape, or is not 8-bit L/RGB.
    #[error("`{path}`: {reason}")]
    BadImage {
        /// The image.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// `dataset.json` is malformed or lacks an image.
    #[error("`{path}`: {reason}")]
    Labels {
        /// The dataset.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// How to open a dataset (the reference's constructor arguments).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatasetOptions {
    /// Load labels from `dataset.json`.
    pub use_labels: bool,
    /// Keep at most this many images (a seeded random subset, sorted).
    pub max_size: Option<usize>,
    /// Double the dataset with x-flipped copies.
    pub xflip: bool,
    /// Seed of the subset.
    pub random_seed: u32,
}

pub(super) enum Source {
    Zip(Mutex<zip::ZipArchive<File>>),
    Folder(PathBuf),
}

/// Labels as stored: class indices (one-hot on read) or float vectors.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Labels {
    None,
    Classes(Vec<usize>, usize),
    Vectors(Vec<Vec<f32>>),
}

/// An opened dataset.
pub struct Dataset {
    path: PathBuf,
    source: Source,
    image_names: Vec<String>,
    /// `[C, H, W]` of every image.
    image_shape: [usize; 3],
    labels: Labels,
    raw_idx: Vec<usize>,
    flipped: Vec<bool>,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("path", &self.path)
            .field("len", &self.len())
            .field("shape", &self.image_shape)
            .finish_non_exhaustive()
    }
}

pub(super) fn is_image(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

/// Decode one image to `[C, H, W]` uint8 as `np.array(PIL.Image.open(f))` would (8-bit grayscale or
/// RGB only).
pub fn decode_image(bytes: &[u8], name: &str) -> Result<(Vec<u8>, [usize; 3]), DataError> {
    let bad = |reason: String| DataError::BadImage {
        path: name.to_string(),
        reason,
    };
    let image = image::load_from_memory(bytes).map_err(|e| bad(format!("cannot decode: {e}")))?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    let (channels, hwc) = match image {
        image::DynamicImage::ImageLuma8(buffer) => (1, buffer.into_raw()),
        image::DynamicImage::ImageRgb8(buffer) => (3, buffer.into_raw()),
        other => {
            return Err(bad(format!(
                "images must be 8-bit grayscale or RGB, found {:?}",
                other.color()
            )));
        }
    };
    Ok((planar(hwc, channels), [channels, height, width]))
}

/// Interleaved `[H, W, C]` pixels as planes `[C, H, W]` (one grayscale plane is both).
fn planar(hwc: Vec<u8>, channels: usize) -> Vec<u8> {
    if channels == 1 {
        return hwc;
    }
    let mut chw = vec![0u8; hwc.len()];
    let plane = hwc.len() / channels;
    for (c, out) in chw.chunks_exact_mut(plane).enumerate() {
        for (dst, pixel) in out.iter_mut().zip(hwc.chunks_exact(channels)) {
            *dst = pixel[c];
        }
    }
    chw
}

/// The file of the labels, at the top of the dataset.
pub(super) const LABELS_FILE: &str = "dataset.json";

/// The largest class index a label may hold: one-hot labels get `index + 1` entries, and the
/// networks embed every one.
const MAX_CLASS: u64 = 1 << 16;

/// The dataset's source and every file in it (sorted, `/`-separated, relative to the root).
pub(super) fn list_files(path: &Path) -> Result<(Source, Vec<String>), DataError> {
    let read_error = |reason: String| DataError::Read {
        path: path.display().to_string(),
        reason,
    };
    let (source, mut names) = if path.is_dir() {
        let names: Vec<String> = walkdir::WalkDir::new(path)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| {
                e.path()
                    .strip_prefix(path)
                    .ok()
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
            })
            .collect();
        (Source::Folder(path.to_path_buf()), names)
    } else if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
    {
        let file = File::open(path).map_err(|e| read_error(e.to_string()))?;
        let archive = zip::ZipArchive::new(file).map_err(|e| read_error(e.to_string()))?;
        let names: Vec<String> = archive.file_names().map(String::from).collect();
        (Source::Zip(Mutex::new(archive)), names)
    } else {
        return Err(DataError::NotADataset(path.display().to_string()));
    };
    names.sort();
    Ok((source, names))
}

/// The bytes of file `name` of the dataset at `root`.
pub(super) fn read_entry(source: &Source, root: &Path, name: &str) -> Result<Vec<u8>, DataError> {
    let error = |reason: String| DataError::Read {
        path: format!("{}:{name}", root.display()),
        reason,
    };
    match source {
        Source::Folder(folder) => {
            std::fs::read(folder.join(name)).map_err(|e| error(e.to_string()))
        }
        Source::Zip(archive) => {
            let mut archive = archive
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut entry = archive.by_name(name).map_err(|e| error(e.to_string()))?;
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| error(e.to_string()))?;
            Ok(bytes)
        }
    }
}

/// Why the networks cannot train on images of `[C, H, W]` `shape`: not square (the reference's
/// `Dataset.resolution` asserts it) or not a power of two of at least 4 (the blocks halve it down
/// to 4×4); `None` when they can.
pub(super) fn resolution_problem(shape: [usize; 3]) -> Option<String> {
    let [_, height, width] = shape;
    if width != height {
        Some(format!(
            "images are {width}×{height} (width×height); training needs square images"
        ))
    } else if width < 4 || !width.is_power_of_two() {
        Some(format!(
            "images are {width}×{height}; training needs a power-of-two resolution of at least 4 \
             (resize them with `kimg dataset create --resolution`)"
        ))
    } else {
        None
    }
}

/// The `labels` of a `dataset.json` by image name; `None` when it has no labels (no `labels` key,
/// or `null`, as the reference allows).
pub(super) fn label_table(
    bytes: &[u8],
) -> Result<Option<HashMap<String, serde_json::Value>>, String> {
    let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let list = match json.get("labels") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Array(list)) => list,
        Some(other) => return Err(format!("`labels` must be a list, found {other}")),
    };
    let mut by_name = HashMap::new();
    for entry in list {
        let (Some(name), Some(value)) = (entry.get(0).and_then(|n| n.as_str()), entry.get(1))
        else {
            return Err(format!(
                "malformed entry {entry} (expected [\"file name\", label])"
            ));
        };
        by_name.insert(name.replace('\\', "/"), value.clone());
    }
    Ok(Some(by_name))
}

/// The labels of `names` from `table` (every name must be in it): class indices when all are
/// non-negative integers, else vectors of numbers of one length.
pub(super) fn labels_of(
    table: &HashMap<String, serde_json::Value>,
    names: &[String],
) -> Result<Labels, String> {
    let values: Vec<(&String, &serde_json::Value)> = names
        .iter()
        .map(|n| {
            table
                .get(n)
                .map(|v| (n, v))
                .ok_or(format!("no label for `{n}`"))
        })
        .collect::<Result<_, _>>()?;
    if let Some(classes) = values
        .iter()
        .map(|(_, v)| v.as_u64())
        .collect::<Option<Vec<u64>>>()
    {
        if let Some((name, class)) = values.iter().find(|(_, v)| v.as_u64() > Some(MAX_CLASS)) {
            return Err(format!(
                "the label of `{name}` is class {class}, over the largest supported {MAX_CLASS}"
            ));
        }
        let classes: Vec<usize> = classes
            .into_iter()
            .map(|c| usize::try_from(c).unwrap_or(usize::MAX))
            .collect();
        let dim = classes.iter().max().map_or(0, |m| m + 1);
        return Ok(Labels::Classes(classes, dim));
    }
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(values.len());
    for (name, value) in values {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "labels are float32 in the reference"
        )]
        let vector = value
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_f64().map(|f| f as f32))
                    .collect::<Option<Vec<f32>>>()
            })
            .ok_or_else(|| {
                format!(
                    "the label of `{name}`, {value}, is neither a class index nor a list of numbers"
                )
            })?;
        if let Some(first) = vectors.first()
            && first.len() != vector.len()
        {
            return Err(format!(
                "the label of `{name}` has {} values, the first image's has {}",
                vector.len(),
                first.len()
            ));
        }
        vectors.push(vector);
    }
    Ok(Labels::Vectors(vectors))
}

impl Dataset {
    /// Open `path` (a folder, or a file ending in `.zip`).
    pub fn open(path: &Path, options: &DatasetOptions) -> Result<Dataset, DataError> {
        let display = path.display().to_string();
        let (source, mut names) = list_files(path)?;
        let label_json = names.iter().any(|n| n == LABELS_FILE);
        names.retain(|n| is_image(n));
        if names.is_empty() {
            return Err(DataError::NoImages(display));
        }
        let mut dataset = Dataset {
            path: path.to_path_buf(),
            source,
            image_names: names,
            image_shape: [0; 3],
            labels: Labels::None,
            raw_idx: Vec::new(),
            flipped: Vec::new(),
        };
        let (_, shape) = dataset.load_raw(0)?;
        dataset.image_shape = shape;
        if options.use_labels && label_json {
            dataset.labels = dataset.load_labels()?;
        }
        let count = dataset.image_names.len();
        let mut raw_idx: Vec<usize> = (0..count).collect();
        if let Some(max_size) = options.max_size.filter(|m| *m < count) {
            RandomState::new(options.random_seed).shuffle(&mut raw_idx);
            raw_idx.truncate(max_size);
            raw_idx.sort_unstable();
        }
        let mut flipped = vec![false; raw_idx.len()];
        if options.xflip {
            raw_idx.extend(raw_idx.clone());
            flipped.extend(vec![true; flipped.len()]);
        }
        dataset.raw_idx = raw_idx;
        dataset.flipped = flipped;
        Ok(dataset)
    }

    fn read_file(&self, name: &str) -> Result<Vec<u8>, DataError> {
        read_entry(&self.source, &self.path, name)
    }

    fn load_raw(&self, raw_index: usize) -> Result<(Vec<u8>, [usize; 3]), DataError> {
        let name = &self.image_names[raw_index];
        let bytes = self.read_file(name)?;
        decode_image(&bytes, &format!("{}:{name}", self.path.display()))
    }

    fn load_labels(&self) -> Result<Labels, DataError> {
        let json_path = format!("{}:{LABELS_FILE}", self.path.display());
        let error = |reason: String| DataError::Labels {
            path: json_path.clone(),
            reason,
        };
        let Some(table) = label_table(&self.read_file(LABELS_FILE)?).map_err(error)? else {
            return Ok(Labels::None);
        };
        if let Some(missing) = self.image_names.iter().find(|n| !table.contains_key(*n)) {
            return Err(error(format!("no label for `{missing}`")));
        }
        labels_of(&table, &self.image_names).map_err(error)
    }

    /// Number of items (doubled by x-flips).
    pub fn len(&self) -> usize {
        self.raw_idx.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.raw_idx.is_empty()
    }

    /// Base name without extension (`afhqv2-512x512` for `afhqv2-512x512.zip`).
    pub fn name(&self) -> String {
        self.path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
    }

    /// `[C, H, W]`.
    pub fn image_shape(&self) -> [usize; 3] {
        self.image_shape
    }

    /// Image width (= height for a valid training set).
    pub fn resolution(&self) -> usize {
        self.image_shape[2]
    }

    /// The side of the images, when a network can train on them: square (as the reference's
    /// `Dataset.resolution` asserts) and a power of two of at least 4 (the networks' blocks halve
    /// it down to 4×4). The error names the first image, whose shape every image shares.
    pub fn training_resolution(&self) -> Result<usize, DataError> {
        match resolution_problem(self.image_shape) {
            None => Ok(self.image_shape[2]),
            Some(reason) => Err(DataError::BadImage {
                path: format!("{}:{}", self.path.display(), self.image_names[0]),
                reason,
            }),
        }
    }

    /// Label size (0 without labels).
    pub fn label_dim(&self) -> usize {
        match &self.labels {
            Labels::None => 0,
            Labels::Classes(_, dim) => *dim,
            Labels::Vectors(v) => v.first().map_or(0, Vec::len),
        }
    }

    /// Whether labels were loaded.
    pub fn has_labels(&self) -> bool {
        self.label_dim() > 0
    }

    /// Item `index`: `[C, H, W]` uint8 (mirrored for flipped items).
    pub fn image(&self, index: usize) -> Result<Vec<u8>, DataError> {
        let raw_index = self.raw_idx[index];
        let (mut pixels, shape) = self.load_raw(raw_index)?;
        if shape != self.image_shape {
            return Err(DataError::BadImage {
                path: format!("{}:{}", self.path.display(), self.image_names[raw_index]),
                reason: format!(
                    "shape {shape:?} differs from the first image's {:?}",
                    self.image_shape
                ),
            });
        }
        if self.flipped[index] {
            let width = shape[2];
            for row in pixels.chunks_mut(width) {
                row.reverse();
            }
        }
        Ok(pixels)
    }

    /// Item `index`'s label (`label_dim` floats; one-hot for class labels).
    pub fn label(&self, index: usize) -> Vec<f32> {
        let raw_index = self.raw_idx[index];
        match &self.labels {
            Labels::None => Vec::new(),
            Labels::Classes(classes, dim) => {
                let mut onehot = vec![0.0; *dim];
                onehot[classes[raw_index]] = 1.0;
                onehot
            }
            Labels::Vectors(vectors) => vectors[raw_index].clone(),
        }
    }

    /// The label as stored (a class index as a one-element vector, or the vector), used to group
    /// the snapshot grid.
    pub fn raw_label(&self, index: usize) -> Vec<f32> {
        let raw_index = self.raw_idx[index];
        match &self.labels {
            Labels::None => Vec::new(),
            #[expect(clippy::cast_precision_loss, reason = "class indices are small")]
            Labels::Classes(classes, _) => vec![classes[raw_index] as f32],
            Labels::Vectors(vectors) => vectors[raw_index].clone(),
        }
    }

    /// A stable identity of the raw data that costs no full read: sha256 over the image and label
    /// files' names, sizes and (for zips) CRC32s from the central directory.
    pub fn fingerprint(&self) -> Result<String, DataError> {
        let mut hasher = Sha256::new();
        match &self.source {
            Source::Zip(archive) => {
                let mut archive = archive
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut entries = Vec::new();
                for i in 0..archive.len() {
                    let entry = archive.by_index_raw(i).map_err(|e| DataError::Read {
                        path: self.path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                    if entry.is_file() {
                        entries.push(format!(
                            "{}\t{}\t{:08x}\n",
                            entry.name(),
                            entry.size(),
                            entry.crc32()
                        ));
                    }
                }
                entries.sort();
                entries.iter().for_each(|e| hasher.update(e.as_bytes()));
            }
            Source::Folder(root) => {
                let mut entries: Vec<String> = walkdir::WalkDir::new(root)
                    .into_iter()
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_file())
                    .filter_map(|e| {
                        let name = e
                            .path()
                            .strip_prefix(root)
                            .ok()?
                            .to_string_lossy()
                            .replace('\\', "/");
                        Some(format!("{name}\t{}\n", e.metadata().ok()?.len()))
                    })
                    .collect();
                entries.sort();
                entries.iter().for_each(|e| hasher.update(e.as_bytes()));
            }
        }
        Ok(format!("{:x}", hasher.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::{Labels, label_table, labels_of};

    fn labels(json: &str, names: &[&str]) -> Result<Labels, String> {
        let table = label_table(json.as_bytes())?.ok_or("no labels")?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
        labels_of(&table, &names)
    }

    #[test]
    fn labels_are_classes_or_vectors_of_one_length() {
        let classes = labels(
            r#"{"labels": [["a.png", 0], ["b.png", 2]]}"#,
            &["a.png", "b.png"],
        );
        assert_eq!(classes, Ok(Labels::Classes(vec![0, 2], 3)));
        let vectors = labels(r#"{"labels": [["a.png", [1, 0.5]]]}"#, &["a.png"]);
        assert_eq!(vectors, Ok(Labels::Vectors(vec![vec![1.0, 0.5]])));
        assert_eq!(label_table(br#"{"labels": null}"#), Ok(None));
    }

    /// The minimal inputs that panicked (class `u64::MAX`: `max + 1` overflowed; a huge class:
    /// a one-hot vector beyond memory) or reached the networks malformed (vectors of two
    /// lengths, a vector holding a string) are errors naming the file.
    #[test]
    fn malformed_labels_are_errors() {
        for (json, expected) in [
            (
                r#"{"labels": [["a.png", 18446744073709551615], ["b.png", 0]]}"#,
                "the label of `a.png` is class 18446744073709551615",
            ),
            (
                r#"{"labels": [["a.png", [1]], ["b.png", [1, 2]]]}"#,
                "the label of `b.png` has 2 values, the first image's has 1",
            ),
            (
                r#"{"labels": [["a.png", ["x"]], ["b.png", [1]]]}"#,
                "the label of `a.png`, [\"x\"], is neither",
            ),
            (r#"{"labels": [["a.png", 0]]}"#, "no label for `b.png`"),
            (r#"{"labels": "a.png"}"#, "`labels` must be a list"),
            (r#"{"labels": [["a.png"]]}"#, "malformed entry [\"a.png\"]"),
        ] {
            let error = labels(json, &["a.png", "b.png"]).unwrap_err();
            assert!(error.contains(expected), "{json}: {error}");
        }
    }
}
