//! `[data]` resolved: the dataset path made absolute, its declared resolution checked.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::base::from_base;
use crate::manifest::error::{ErrorKind, ManifestError};
use crate::manifest::load::Layers;
use crate::manifest::wire::DataWire;

/// `[data]` resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSpec {
    /// Dataset path, made absolute relative to the file that declared it.
    pub path: Option<PathBuf>,
    /// Use labels.
    pub cond: bool,
    /// Add x-flips.
    pub mirror: bool,
    /// Subset size.
    pub max_size: Option<u64>,
    /// The resolution trained at: the dataset's when known, else `data.resolution`, else the
    /// preset's.
    pub resolution: Option<u32>,
}

/// Resolve `[data]`, recording its problems in `errors`. `dataset_resolution` is the resolution
/// read from the dataset when it was opened.
pub(super) fn resolve_data(
    layers: &Layers,
    wire: DataWire,
    dataset_resolution: Option<u32>,
    errors: &mut Vec<ManifestError>,
) -> DataSpec {
    let path = wire
        .path
        .as_ref()
        .map(|path| declared_path(layers, PathBuf::from(path)));
    if let Some(resolution) = wire.resolution {
        if !is_valid_resolution(resolution) {
            errors.push(layers.error_at(
                ErrorKind::InvalidValue,
                "data.resolution",
                format!("`data.resolution` must be a power of two ≥ 4, found {resolution}"),
            ));
        } else if let Some(actual) = dataset_resolution.filter(|&actual| actual != resolution) {
            errors.push(layers.error_at(
                ErrorKind::InvalidValue,
                "data.resolution",
                format!("`data.resolution` is {resolution} but the dataset's images are {actual}x{actual}"),
            ));
        }
    }
    if wire.max_size == Some(0) {
        errors.push(layers.error_at(
            ErrorKind::InvalidValue,
            "data.max_size",
            "`data.max_size` must be at least 1",
        ));
    }
    DataSpec {
        path,
        cond: from_base(wire.cond, "data.cond"),
        mirror: from_base(wire.mirror, "data.mirror"),
        max_size: wire.max_size,
        resolution: dataset_resolution.or(wire.resolution),
    }
}

/// `data.path` relative to the directory of the file that declared it (as given when absolute,
/// or when it came from a layer that is not a file).
fn declared_path(layers: &Layers, path: PathBuf) -> PathBuf {
    let declared_in = layers
        .origin_layer("data.path")
        .and_then(|layer| layers.file(&layer).and_then(|file| file.path.clone()));
    match declared_in.as_deref().and_then(Path::parent) {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    }
}

/// Power of two and at least 4, as every network requires.
pub fn is_valid_resolution(resolution: u32) -> bool {
    resolution >= 4 && resolution.is_power_of_two()
}
