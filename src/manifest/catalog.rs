//! Finding presets: the files under a project's `presets/` folder, then the built-in copies.
//!
//! `extends = "recommended/stylegan3-t-512-gpus8"` names `presets/recommended/stylegan3-t-512-gpus8.toml`.
//! The nearest ancestor directory of the declaring file that has a `presets/` folder is searched
//! first, so a project can add or override presets; every preset of this repository is also
//! compiled into the binary, so manifests work wherever kimg is installed. A value ending in
//! `.toml` (or starting with `.` or `/`) is a path relative to the declaring file instead.

use std::path::{Path, PathBuf};

use super::source::SourceFile;

include!(concat!(env!("OUT_DIR"), "/builtin_presets.rs"));

/// Name of the preset that roots every chain.
pub const BASE_PRESET: &str = "base";

/// Where `extends` values are looked up.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// A project `presets/` folder searched before the built-in presets.
    pub project_dir: Option<PathBuf>,
}

impl Catalog {
    /// The catalog seen from a file: the `presets/` folder of its nearest ancestor that has one.
    pub fn near(file: &Path) -> Catalog {
        let start = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let start = if start.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            start
        };
        let project_dir = start.canonicalize().ok().and_then(|dir| {
            dir.ancestors()
                .map(|a| a.join("presets"))
                .find(|p| p.is_dir())
        });
        Catalog { project_dir }
    }

    /// Resolve an `extends` value declared in `declared_in` (None for built-in presets).
    pub fn find(&self, value: &str, declared_in: Option<&Path>) -> Option<SourceFile> {
        if is_path_like(value) {
            let base = declared_in.and_then(Path::parent).unwrap_or(Path::new("."));
            return read_file(&base.join(value));
        }
        if let Some(dir) = &self.project_dir
            && let Some(file) = read_file(&dir.join(format!("{value}.toml")))
        {
            return Some(file);
        }
        builtin(value)
    }

    /// Every preset name available, sorted, without the base.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILTIN_PRESETS
            .iter()
            .map(|(name, _)| (*name).to_string())
            .collect();
        if let Some(dir) = &self.project_dir {
            for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    let name = path
                        .strip_prefix(dir)
                        .expect("walked under dir")
                        .with_extension("");
                    names.push(name.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        names.sort();
        names.dedup();
        names.retain(|name| name != BASE_PRESET);
        names
    }
}

/// The header of the last table of `presets/base.toml`, which holds values rather than a layer.
const FALLBACK_HEADER: &str = "\n[fallback]\n";

/// The built-in copy of a preset (of `presets/base.toml`, the part above its `[fallback]` table).
pub fn builtin(name: &str) -> Option<SourceFile> {
    BUILTIN_PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, text)| SourceFile {
            display: format!("presets/{n}.toml"),
            path: None,
            text: if *n == BASE_PRESET {
                split_base(text).0
            } else {
                *text
            }
            .to_string(),
        })
}

/// The body of the `[fallback]` table that ends `presets/base.toml` (empty if it has none).
pub fn base_fallback() -> &'static str {
    BUILTIN_PRESETS
        .iter()
        .find(|(n, _)| *n == BASE_PRESET)
        .map_or("", |(_, text)| split_base(text).1)
}

/// `presets/base.toml` as its layer (ending in a newline) and the body of its `[fallback]` table.
fn split_base(text: &str) -> (&str, &str) {
    match text.find(FALLBACK_HEADER) {
        Some(at) => (&text[..=at], &text[at + FALLBACK_HEADER.len()..]),
        None => (text, ""),
    }
}

fn is_path_like(value: &str) -> bool {
    value.ends_with(".toml") || value.starts_with('.') || value.starts_with('/')
}

fn read_file(path: &Path) -> Option<SourceFile> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(SourceFile {
        display: display_path(path),
        path: Some(path.to_path_buf()),
        text,
    })
}

/// A path as users should see it: relative to the working directory when below it.
pub fn display_path(path: &Path) -> String {
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|d| d.canonicalize().ok());
    match cwd
        .as_deref()
        .and_then(|cwd| absolute.strip_prefix(cwd).ok())
    {
        Some(relative) => relative.display().to_string(),
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{BUILTIN_PRESETS, base_fallback, builtin};

    #[test]
    fn every_table_row_and_the_base_are_built_in() {
        assert!(builtin("base").is_some());
        assert_eq!(BUILTIN_PRESETS.len(), 67, "66 table rows plus base.toml");
    }

    #[test]
    fn the_base_layer_stops_above_its_fallback_table() {
        let layer = builtin("base").unwrap().text;
        let table: toml::Table = toml::from_str(&layer).unwrap();
        assert!(layer.ends_with('\n') && !table.contains_key("fallback"));
        assert!(base_fallback().starts_with("cbase = "));
    }
}
