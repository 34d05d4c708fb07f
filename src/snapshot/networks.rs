//! The G, D and G_ema tensors of a network file, whichever format it is in — what `--resume`
//! (transfer learning) starts from.

use std::path::Path;

use tch::Tensor;

use super::file::{SnapshotError, SnapshotFile};
use super::official::{NetworkPickleError, read_network_pickle};

/// Why the networks of a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NetworksError {
    /// A kimg snapshot could not be read.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// An official pickle could not be read.
    #[error(transparent)]
    Pickle(#[from] NetworkPickleError),
    /// A URL was given: kimg does not download networks.
    #[error("`{0}` is a URL: download the pickle first (e.g. `curl -LO {0}`) and pass its path")]
    Url(String),
}

/// The tensors of `G`, `D` and `G_ema` named `G.<official name>`, … from a kimg snapshot
/// (`.safetensors`) or an official network pickle (`.pkl`); optimizer and training state are
/// left out.
pub fn read_networks(path: &str) -> Result<Vec<(String, Tensor)>, NetworksError> {
    if path.starts_with("http://") || path.starts_with("https://") {
        return Err(NetworksError::Url(path.to_string()));
    }
    let file = Path::new(path);
    let networks = ["G.", "D.", "G_ema."];
    if file.extension().is_some_and(|e| e == "pkl") {
        let pickle = read_network_pickle(file)?;
        Ok(pickle
            .modules
            .into_iter()
            .filter(|m| networks.contains(&format!("{}.", m.key).as_str()))
            .flat_map(|m| {
                let key = m.key;
                m.tensors
                    .into_iter()
                    .map(move |(name, tensor)| (format!("{key}.{name}"), tensor))
            })
            .collect())
    } else {
        Ok(SnapshotFile::read(file)?
            .tensors
            .into_iter()
            .filter(|(name, _)| networks.iter().any(|p| name.starts_with(p)))
            .collect())
    }
}
