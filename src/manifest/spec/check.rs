//! Reporting the problems of `[train]`, each located in the layer that supplied the key, and
//! `train.py`'s checks of how the batch splits.

use super::defaults::Settled;
use crate::manifest::error::{ErrorKind, ManifestError};
use crate::manifest::load::Layers;

/// Collects the problems found while `[train]` resolves.
pub(super) struct Checker<'a> {
    layers: &'a Layers,
    errors: &'a mut Vec<ManifestError>,
}

impl<'a> Checker<'a> {
    /// A checker adding to `errors` (which may already hold problems of other tables).
    pub(super) fn new(layers: &'a Layers, errors: &'a mut Vec<ManifestError>) -> Self {
        Checker { layers, errors }
    }

    /// An error about `key`, not yet recorded (to attach a hint first).
    pub(super) fn error_at(&self, kind: ErrorKind, key: &str, message: String) -> ManifestError {
        self.layers.error_at(kind, key, message)
    }

    /// Record `error`.
    pub(super) fn push(&mut self, error: ManifestError) {
        self.errors.push(error);
    }

    /// Record an error about `key`.
    pub(super) fn error(&mut self, kind: ErrorKind, key: &str, message: String) {
        self.errors.push(self.layers.error_at(kind, key, message));
    }

    /// Whether any problem was recorded, here or before.
    pub(super) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Record that the required `key` has no value.
    pub(super) fn missing(&mut self, key: &str) {
        let mut error = self.layers.error_at(
            ErrorKind::MissingKey,
            key,
            format!("missing required key `{key}`"),
        );
        error.help = Some(format!(
            "set it in the manifest, in a preset it extends, or with `--set {key}=…`"
        ));
        self.errors.push(error);
    }

    /// `value` if it is at least `min`; otherwise `None`, with an error.
    pub(super) fn at_least(&mut self, key: &str, value: Option<u32>, min: u32) -> Option<u32> {
        match value {
            Some(v) if v < min => {
                self.error(
                    ErrorKind::InvalidValue,
                    key,
                    format!("`{key}` must be at least {min}, found {v}"),
                );
                None
            }
            other => other,
        }
    }

    /// `value` if it is finite, at least 0 and at most `max`; otherwise `None`, with an error.
    pub(super) fn float_in(
        &mut self,
        key: &str,
        value: Option<f64>,
        max: Option<f64>,
    ) -> Option<f64> {
        let v = value?;
        let ok = v.is_finite() && v >= 0.0 && max.is_none_or(|max| v <= max);
        if !ok {
            let range = max.map_or_else(|| "≥ 0".to_string(), |max| format!("in [0, {max}]"));
            self.error(
                ErrorKind::InvalidValue,
                key,
                format!("`{key}` must be {range}, found {v}"),
            );
            return None;
        }
        Some(v)
    }

    /// `train.py`'s checks of the batch split, in its order. `batch_gpu_set` says whether a layer
    /// set `train.batch_gpu` (else it was derived, and a conflict is blamed on `mbstd_group`).
    pub(super) fn batch_split(&mut self, s: &Settled, batch_gpu_set: bool) {
        let (batch, gpus, batch_gpu, mbstd_group) = (s.batch, s.gpus, s.batch_gpu, s.mbstd_group);
        if batch % gpus != 0 {
            self.error(ErrorKind::InvalidValue, "train.batch", format!("`train.batch` must be a multiple of `train.gpus` ({batch} is not a multiple of {gpus})"));
        } else if batch % (gpus * batch_gpu) != 0 {
            self.error(
                ErrorKind::InvalidValue,
                "train.batch",
                format!("`train.batch` must be a multiple of `train.gpus` times `train.batch_gpu` ({batch} vs {gpus} × {batch_gpu})"),
            );
        } else if batch_gpu < mbstd_group {
            let key = if batch_gpu_set {
                "train.batch_gpu"
            } else {
                "train.mbstd_group"
            };
            self.error(ErrorKind::InvalidValue, key, format!("`train.batch_gpu` ({batch_gpu}) cannot be smaller than `train.mbstd_group` ({mbstd_group})"));
        }
    }
}
