//! `kimg dataset check`: every image of a dataset decoded, and every problem that would stop
//! training listed at once — unreadable or undecodable files, images whose shape differs from the
//! dataset's, a resolution the networks cannot train on, images without a label in
//! `dataset.json`.

use std::collections::HashMap;
use std::path::Path;

use super::dataset::{
    DataError, LABELS_FILE, Labels, decode_image, is_image, label_table, labels_of, list_files,
    read_entry, resolution_problem,
};

/// One problem, in one file of the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file inside the archive or folder (`img002.png`, `dataset.json`).
    pub file: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The labels a dataset holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    /// No `dataset.json`, or one without labels.
    None,
    /// Class indices (one-hot labels of this size).
    Classes(usize),
    /// Vectors of this length.
    Vectors(usize),
}

/// What [`check_dataset`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetCheck {
    /// Image files in the dataset.
    pub images: usize,
    /// `[C, H, W]` of the dataset's images: the shape most of the decodable images share
    /// (`None` when none decodes).
    pub shape: Option<[usize; 3]>,
    /// The labels in `dataset.json`.
    pub labels: LabelKind,
    /// Labels in `dataset.json` for files that are not images of the dataset (ignored by
    /// training, as by the reference).
    pub unused_labels: usize,
    /// Every problem found, in file order (dataset-wide ones last).
    pub problems: Vec<Problem>,
}

impl DatasetCheck {
    /// Whether a run can train on the dataset.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Decode every image of the dataset at `path` (a folder or a zip), advancing `progress` once per
/// image, and list every problem. Errors only when `path` is no dataset at all (missing, not a
/// folder or zip, unreadable archive, no images).
pub fn check_dataset(
    path: &Path,
    progress: &indicatif::ProgressBar,
) -> Result<DatasetCheck, DataError> {
    let (source, names) = list_files(path)?;
    let has_labels_file = names.iter().any(|n| n == LABELS_FILE);
    let images: Vec<String> = names.into_iter().filter(|n| is_image(n)).collect();
    if images.is_empty() {
        return Err(DataError::NoImages(path.display().to_string()));
    }
    progress.set_length(images.len() as u64);
    let mut problems = Vec::new();
    let mut shapes = Vec::new();
    for name in &images {
        let decoded = read_entry(&source, path, name).and_then(|bytes| decode_image(&bytes, name));
        match decoded {
            Ok((_, shape)) => shapes.push((name, shape)),
            Err(error) => problems.push(Problem {
                file: name.clone(),
                reason: reason(&error),
            }),
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let shape = common_shape(&shapes);
    if let Some(common) = shape {
        for (name, other) in shapes.iter().filter(|(_, s)| *s != common) {
            problems.push(Problem {
                file: (*name).clone(),
                reason: format!(
                    "{} differs from the dataset's {}",
                    describe(*other),
                    describe(common)
                ),
            });
        }
        if let (Some(reason), Some((first, _))) = (
            resolution_problem(common),
            shapes.iter().find(|(_, s)| *s == common),
        ) {
            problems.push(Problem {
                file: (*first).clone(),
                reason,
            });
        }
    }
    let (labels, unused_labels) = if has_labels_file {
        match read_entry(&source, path, LABELS_FILE) {
            Ok(bytes) => check_labels(&bytes, &images, &mut problems),
            Err(error) => {
                problems.push(Problem {
                    file: LABELS_FILE.into(),
                    reason: reason(&error),
                });
                (LabelKind::None, 0)
            }
        }
    } else {
        (LabelKind::None, 0)
    };
    Ok(DatasetCheck {
        images: images.len(),
        shape,
        labels,
        unused_labels,
        problems,
    })
}

/// The labels of `dataset.json` (`bytes`) for `images`: their kind and how many name no image;
/// each image without a label, or a malformed file, becomes a problem.
fn check_labels(
    bytes: &[u8],
    images: &[String],
    problems: &mut Vec<Problem>,
) -> (LabelKind, usize) {
    let labels_problem = |reason: String| Problem {
        file: LABELS_FILE.into(),
        reason,
    };
    let table = match label_table(bytes) {
        Ok(Some(table)) => table,
        Ok(None) => return (LabelKind::None, 0),
        Err(reason) => {
            problems.push(labels_problem(reason));
            return (LabelKind::None, 0);
        }
    };
    let unused = table
        .keys()
        .filter(|k| images.binary_search(k).is_err())
        .count();
    let missing: Vec<&String> = images.iter().filter(|n| !table.contains_key(*n)).collect();
    if !missing.is_empty() {
        problems.extend(missing.into_iter().map(|name| Problem {
            file: name.clone(),
            reason: format!("no label in `{LABELS_FILE}`"),
        }));
        return (LabelKind::None, unused);
    }
    match labels_of(&table, images) {
        Ok(Labels::Classes(_, dim)) => (LabelKind::Classes(dim), unused),
        Ok(Labels::Vectors(vectors)) => (
            LabelKind::Vectors(vectors.first().map_or(0, Vec::len)),
            unused,
        ),
        Ok(Labels::None) => (LabelKind::None, unused),
        Err(reason) => {
            problems.push(labels_problem(reason));
            (LabelKind::None, unused)
        }
    }
}

/// The shape most images share; on a tie, the one that comes first.
fn common_shape(shapes: &[(&String, [usize; 3])]) -> Option<[usize; 3]> {
    let mut counts: HashMap<[usize; 3], usize> = HashMap::new();
    for (_, shape) in shapes {
        *counts.entry(*shape).or_default() += 1;
    }
    let most = counts.values().copied().max()?;
    shapes
        .iter()
        .map(|(_, s)| *s)
        .find(|s| counts.get(s) == Some(&most))
}

/// `16×16 RGB`, `32×24 grayscale`.
pub fn describe(shape: [usize; 3]) -> String {
    let [channels, height, width] = shape;
    let kind = match channels {
        1 => "grayscale".to_string(),
        3 => "RGB".to_string(),
        n => format!("{n}-channel"),
    };
    format!("{width}×{height} {kind}")
}

/// The reason of a per-file error, without the path that the problem already names.
fn reason(error: &DataError) -> String {
    match error {
        DataError::Read { reason, .. }
        | DataError::BadImage { reason, .. }
        | DataError::Labels { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}
