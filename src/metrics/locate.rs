//! Where a detector file comes from: the command-line option, the environment, the cache, else a
//! download of the official file into the cache ([`super::download`]).

use std::path::{Path, PathBuf};

use tch::Device;

use super::MetricError;
use super::detector::{Detector, Network};
use super::download::{download, download_url};

/// The cache directory: `$KIMG_CACHE_DIR`, else `$XDG_CACHE_HOME/kimg`, else `~/.cache/kimg`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var(crate::env_vars::CACHE_DIR)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("kimg")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("kimg")))
}

/// The `network` file already here: `explicit` (the command-line option) when given, else the
/// network's environment variable, else the official file in the cache, else the
/// `make setup-metrics` copy in the cache (`None` when there is none; an error when the explicit
/// file does not exist).
pub fn locate_local(
    network: Network,
    explicit: Option<&Path>,
) -> Result<Option<PathBuf>, MetricError> {
    let from_env = std::env::var_os(network.path_variable())
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if let Some(path) = explicit.map(Path::to_path_buf).or(from_env) {
        return if path.is_file() {
            Ok(Some(path))
        } else {
            Err(MetricError::DetectorMissing(format!(
                "the {} detector `{}` does not exist",
                network.name(),
                path.display()
            )))
        };
    }
    Ok(cache_dir()
        .iter()
        .flat_map(|dir| {
            std::iter::once(network.official_file())
                .chain(network.bare_file())
                .map(|name| dir.join(name))
        })
        .find(|p| p.is_file()))
}

/// The `network` file to use: [`locate_local`]'s, else the official file downloaded into the
/// cache now ([`super::download`]); the error says which file to fetch and where to put it.
pub fn locate(network: Network, explicit: Option<&Path>) -> Result<PathBuf, MetricError> {
    if let Some(found) = locate_local(network, explicit)? {
        return Ok(found);
    }
    let cache = cache_dir();
    let download = match (&cache, download_url(network)) {
        (Some(dir), Some(url)) => match download(network, &url, dir) {
            Ok(path) => return Ok(path),
            Err(reason) => format!(" (downloading {url} failed: {reason})"),
        },
        _ => String::new(),
    };
    let cache = cache.map_or_else(
        || "the cache directory (set KIMG_CACHE_DIR)".to_string(),
        |d| format!("`{}`", d.display()),
    );
    let setup = network.bare_file().map_or_else(String::new, |bare| {
        format!(
            ", or run `make setup-metrics` (puts PyPI's copy of the same network there as \
             `{bare}`)"
        )
    });
    Err(MetricError::DetectorMissing(format!(
        "no {} feature detector found{download}: download {} into {cache}{setup}, or pass `{} \
         FILE` / set {}",
        network.name(),
        network.official_url(),
        network.option(),
        network.path_variable(),
    )))
}

/// [`locate`] then [`Detector::load`].
pub fn find_detector(
    network: Network,
    explicit: Option<&Path>,
    device: Device,
) -> Result<Detector, MetricError> {
    Detector::load(&locate(network, explicit)?, network, device)
}
