//! kimg's snapshot files: one `.safetensors` with tensors under `G.`, `D.`, `G_ema.`, … and a
//! metadata entry `kimg` holding JSON (constructor kwargs, architecture, training state).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::tensor::{Dtype, TensorView};
use tch::{Kind, Tensor};

use crate::env_vars::FAULT;
use crate::fsutil::atomic_write_with;

/// The metadata key holding kimg's JSON document.
pub const METADATA_KEY: &str = "kimg";

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// File system error.
    #[error("`{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Malformed safetensors or metadata.
    #[error("`{path}`: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// A snapshot in memory: named tensors (on the CPU) and the metadata document.
#[derive(Debug)]
pub struct SnapshotFile {
    /// `(name, tensor)` in the order written.
    pub tensors: Vec<(String, Tensor)>,
    /// The `kimg` metadata JSON.
    pub metadata: serde_json::Value,
}

fn dtype(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Uint8 => Dtype::U8,
        Kind::Bool => Dtype::BOOL,
        _ => return None,
    })
}

fn kind(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

/// A fault that tests inject into snapshot writing through [`FAULT`].
#[derive(Debug, Clone, Copy)]
enum WriteFault {
    /// End the process with SIGKILL.
    Kill,
    /// Fail the write.
    Fail,
    /// Fail the write as a full disk does.
    NoSpace,
}

/// Snapshot writes this process started (what `<after>` of [`FAULT`] counts).
static WRITES: AtomicU64 = AtomicU64::new(0);

/// The fault [`FAULT`] asks for at this write, if any.
fn injected_fault() -> std::io::Result<Option<WriteFault>> {
    let Ok(text) = std::env::var(FAULT) else {
        return Ok(None);
    };
    let write = WRITES.fetch_add(1, Ordering::Relaxed);
    let malformed = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{FAULT}=`{text}`: expected `snapshot-write:<kill|fail|enospc>[:<after>]`"),
        )
    };
    let mut parts = text.split(':');
    if parts.next() != Some("snapshot-write") {
        return Err(malformed());
    }
    let fault = match parts.next() {
        Some("kill") => WriteFault::Kill,
        Some("fail") => WriteFault::Fail,
        Some("enospc") => WriteFault::NoSpace,
        _ => return Err(malformed()),
    };
    let after = match parts.next() {
        None => 0,
        Some(count) => count.parse::<u64>().map_err(|_| malformed())?,
    };
    if parts.next().is_some() {
        return Err(malformed());
    }
    Ok((write >= after).then_some(fault))
}

/// Write `bytes` into the temporary file `tmp`; an injected fault strikes half-way.
fn write_bytes(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(tmp)?;
    let Some(fault) = injected_fault()? else {
        return file.write_all(bytes);
    };
    let (head, _) = bytes.split_at(bytes.len() / 2);
    file.write_all(head)?;
    file.sync_all()?;
    match fault {
        WriteFault::Kill => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            Err(std::io::Error::other("SIGKILL did not end the process"))
        }
        WriteFault::Fail => Err(std::io::Error::other(format!(
            "failure injected by {FAULT}"
        ))),
        WriteFault::NoSpace => Err(std::io::Error::from(nix::errno::Errno::ENOSPC)),
    }
}

impl SnapshotFile {
    /// Write atomically (temporary file, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<(), SnapshotError> {
        let display = path.display().to_string();
        let format_error = |reason: String| SnapshotError::Format {
            path: display.clone(),
            reason,
        };
        let mut buffers = Vec::with_capacity(self.tensors.len());
        for (name, tensor) in &self.tensors {
            let tensor = tensor.detach().to_device(tch::Device::Cpu).contiguous();
            let dtype = dtype(tensor.kind()).ok_or_else(|| {
                format_error(format!(
                    "tensor `{name}` has unsupported kind {:?}",
                    tensor.kind()
                ))
            })?;
            let numel = tensor.numel();
            let mut bytes = vec![0u8; numel * tensor.kind().elt_size_in_bytes()];
            tensor.copy_data_u8(&mut bytes, numel);
            let shape: Vec<usize> = tensor
                .size()
                .iter()
                .map(|d| usize::try_from(*d).expect("non-negative dims"))
                .collect();
            buffers.push((name.clone(), dtype, shape, bytes));
        }
        let views = buffers
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| format_error(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let metadata = HashMap::from([(METADATA_KEY.to_string(), self.metadata.to_string())]);
        let bytes = safetensors::serialize(views, &Some(metadata))
            .map_err(|e| format_error(e.to_string()))?;
        atomic_write_with(path, |tmp| write_bytes(tmp, &bytes)).map_err(|source| {
            SnapshotError::Io {
                path: display,
                source,
            }
        })
    }

    /// Read a snapshot (tensors on the CPU, in file order).
    pub fn read(path: &Path) -> Result<SnapshotFile, SnapshotError> {
        let display = path.display().to_string();
        let format_error = |reason: String| SnapshotError::Format {
            path: display.clone(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|source| SnapshotError::Io {
            path: display.clone(),
            source,
        })?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| format_error(e.to_string()))?;
        let metadata = match header.metadata().as_ref().and_then(|m| m.get(METADATA_KEY)) {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| format_error(format!("metadata `{METADATA_KEY}`: {e}")))?,
            None => serde_json::Value::Null,
        };
        let parsed = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| format_error(e.to_string()))?;
        let mut tensors: Vec<(usize, String, Tensor)> = Vec::new();
        for (name, view) in parsed.tensors() {
            let kind = kind(view.dtype()).ok_or_else(|| {
                format_error(format!(
                    "tensor `{name}` has unsupported dtype {:?}",
                    view.dtype()
                ))
            })?;
            let shape: Vec<i64> = view
                .shape()
                .iter()
                .map(|d| i64::try_from(*d))
                .collect::<Result<_, _>>()
                .map_err(|_| format_error(format!("tensor `{name}` has too large a shape")))?;
            let offset = view.data().as_ptr() as usize - bytes.as_ptr() as usize;
            let tensor = Tensor::f_from_data_size(view.data(), &shape, kind)
                .map_err(|e| format_error(format!("tensor `{name}`: {e}")))?;
            tensors.push((offset, name, tensor));
        }
        // safetensors orders data by dtype and name; file offset order is the written order
        // within a dtype, which is the best available; sort by it for stability.
        tensors.sort_by_key(|(offset, _, _)| *offset);
        Ok(SnapshotFile {
            tensors: tensors.into_iter().map(|(_, n, t)| (n, t)).collect(),
            metadata,
        })
    }

    /// Read a snapshot and its metadata document as `M` (e.g.
    /// [`super::metadata::NetworkMetadata`]); fields that `M` does not name are ignored.
    pub fn read_with_metadata<M: serde::de::DeserializeOwned>(
        path: &Path,
    ) -> Result<(SnapshotFile, M), SnapshotError> {
        let file = SnapshotFile::read(path)?;
        let metadata = M::deserialize(&file.metadata).map_err(|e| SnapshotError::Format {
            path: path.display().to_string(),
            reason: format!("metadata `{METADATA_KEY}`: {e}"),
        })?;
        Ok((file, metadata))
    }

    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::SnapshotFile;

    #[test]
    fn round_trips_tensors_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("network-snapshot-000000.safetensors");
        let snapshot = SnapshotFile {
            tensors: vec![
                (
                    "G.mapping.fc0.weight".into(),
                    tch::Tensor::randn([3, 2], (tch::Kind::Float, tch::Device::Cpu)),
                ),
                ("state.cur_nimg".into(), tch::Tensor::from(12_000i64)),
            ],
            metadata: serde_json::json!({"arch": "stylegan2", "G_kwargs": {"z_dim": 8}}),
        };
        snapshot.write(&path).unwrap();
        let read = SnapshotFile::read(&path).unwrap();
        assert_eq!(read.metadata, snapshot.metadata);
        assert!(
            read.get("G.mapping.fc0.weight")
                .unwrap()
                .equal(&snapshot.tensors[0].1)
        );
        assert_eq!(read.get("state.cur_nimg").unwrap().int64_value(&[]), 12_000);
    }
}
