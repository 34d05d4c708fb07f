//! Loading a manifest: check each file on its own, follow `extends`, layer everything with figment.
//!
//! Precedence, lowest to highest (later layers win; tables merge key by key, arrays are replaced):
//!
//! 1. `presets/base.toml` (built in: every default),
//! 2. the presets of the `extends` chain, root first,
//! 3. the manifest itself (or the command-line options of `kimg train`),
//! 4. environment variables `KIMG_TRAIN__<KEY>` / `KIMG_DATA__<KEY>`,
//! 5. `--set key=value` overrides, in the order given.
//!
//! Each file is first parsed on its own into a [`ManifestWire`], so syntax errors, unknown keys and
//! wrong types point at the exact line of the exact file. Only then are the layers merged; figment
//! remembers which layer supplied each value ([`Layers::origin`]).

use std::path::Path;
use std::str::FromStr;

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};

use super::catalog::{BASE_PRESET, Catalog, builtin, display_path};
use super::error::{ErrorKind, ManifestError, ManifestErrors, did_you_mean};
use super::fields::field_names;
use super::source::{SourceFile, to_span};
use super::sweep_wire::{EXCLUDE_KEY, ZIP_KEY};
use super::wire::{
    DataWire, ExpectedWire, HalvingWire, ManifestWire, PresetMetaWire, ScheduleWire, SourceWire,
    TrainWire,
};
use crate::env_vars;

/// A `--set key=value` override. The value is parsed as TOML (`4`, `true`, `[1, 2]`, `"x"`);
/// anything that is not valid TOML is taken as a string (`--set train.cfg=stylegan2`).
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Dotted key, e.g. `train.gamma`.
    pub key: String,
    /// The value.
    pub value: toml::Value,
    /// The text as given, for messages.
    pub text: String,
}

impl FromStr for Override {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, raw) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not of the form key=value"))?;
        let key = key.trim().to_string();
        if key.is_empty() {
            return Err(format!("`{text}` has an empty key"));
        }
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut table| table.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        Ok(Override {
            key,
            value,
            text: text.to_string(),
        })
    }
}

/// The layered configuration of one manifest (or command line), before resolution.
#[derive(Debug, Clone)]
pub struct Layers {
    /// The figment holding every layer, for provenance queries.
    pub figment: Figment,
    /// Every file, in precedence order (base first).
    pub files: Vec<SourceFile>,
    /// The `extends` chain for messages, most specific first (`exp.toml → preset → base`).
    pub chain: Vec<String>,
    /// The merged values.
    pub merged: ManifestWire,
    /// The display name of the top layer (the manifest file, or `command line`).
    pub top: String,
    /// When the merged layers have a `[sweep]`: the same layers with every file's `[sweep]` table
    /// left out, what each run of the sweep layers its values over (the sweep is checked once,
    /// with the base run, and would otherwise be cloned, merged and deserialised again for every
    /// run). `None` without a sweep: then `figment` is that already.
    per_run: Option<Figment>,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The layer's display name: a file, `command line`, `--set k=v` or an environment variable.
    pub layer: String,
    /// `file:line:col` when the key was found in a file, else the layer name.
    pub location: String,
}

impl Layers {
    /// Load a manifest file and everything it extends.
    pub fn from_manifest(path: &Path, overrides: &[Override]) -> Result<Layers, ManifestErrors> {
        Layers::from_file(read_source(path)?, &Catalog::near(path), overrides)
    }

    /// Load an already-read file (e.g. a built-in preset) and everything it extends.
    pub fn from_file(
        file: SourceFile,
        catalog: &Catalog,
        overrides: &[Override],
    ) -> Result<Layers, ManifestErrors> {
        let mut stack = Stack::default();
        stack.push_chain(file, catalog);
        stack.finish(None, overrides)
    }

    /// Layer command-line options (as a wire struct) over the base, optionally over a manifest.
    pub fn from_options(
        manifest: Option<&Path>,
        options: &ManifestWire,
        overrides: &[Override],
    ) -> Result<Layers, ManifestErrors> {
        let mut stack = Stack::default();
        match manifest {
            Some(path) => stack.push_chain(read_source(path)?, &Catalog::near(path)),
            None => stack.push_chain_of(None, &Catalog::default()),
        }
        stack.finish(Some(options), overrides)
    }

    /// One run of a sweep: these layers without the `[sweep]` table and with `overrides` applied
    /// on top, as if they had followed the overrides these layers were loaded with:
    /// `from_manifest(path, a)` then `with_overrides(b)` equals `from_manifest(path, a ++ b)` less
    /// its sweep, without reading and checking the files again.
    pub fn with_overrides(&self, overrides: &[Override]) -> Result<Layers, ManifestErrors> {
        let mut errors = Vec::new();
        let base = self.per_run.as_ref().unwrap_or(&self.figment).clone();
        let figment = merge_overrides(base, overrides, &mut errors);
        if !errors.is_empty() {
            for error in &mut errors {
                error.chain.clone_from(&self.chain);
            }
            return Err(ManifestErrors(errors));
        }
        let merged = extract(&figment, &self.top)?;
        Ok(Layers {
            per_run: None,
            figment,
            files: self.files.clone(),
            chain: self.chain.clone(),
            merged,
            top: self.top.clone(),
        })
    }

    /// The display name of the layer that supplied `key` (dotted): [`Layers::origin`] without
    /// locating the key in the file, which parses the file again.
    pub fn origin_layer(&self, key: &str) -> Option<String> {
        Some(self.figment.find_metadata(key)?.name.to_string())
    }

    /// Which layer supplied `key` (dotted), and where in it.
    pub fn origin(&self, key: &str) -> Option<Origin> {
        let layer = self.origin_layer(key)?;
        let location = self.file(&layer).map_or_else(
            || layer.clone(),
            |file| file.location(file.key_span(key).as_ref()),
        );
        Some(Origin { layer, location })
    }

    /// The file behind a layer name.
    pub fn file(&self, layer: &str) -> Option<&SourceFile> {
        self.files.iter().find(|f| f.display == layer)
    }

    /// An error about `key`, located in the layer that supplied it (or the top layer).
    pub fn error_at(
        &self,
        kind: ErrorKind,
        key: &str,
        message: impl Into<String>,
    ) -> ManifestError {
        let layer = self
            .figment
            .find_metadata(key)
            .map_or_else(|| self.top.clone(), |m| m.name.to_string());
        let mut error = ManifestError::new(kind, layer.clone(), message).with_key(key);
        if let Some(file) = self.file(&layer) {
            let span = file.key_span(key);
            error.location = file.location(span.as_ref());
            error.source = Some(file.named_source());
            error.span = span.as_ref().map(to_span);
        }
        error.chain.clone_from(&self.chain);
        error
    }
}

fn read_source(path: &Path) -> Result<SourceFile, ManifestErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ManifestError::new(
            ErrorKind::Unreadable,
            display_path(path),
            format!("cannot read: {e}"),
        )
    })?;
    Ok(SourceFile {
        display: display_path(path),
        path: Some(path.to_path_buf()),
        text,
    })
}

/// Accumulates layers and errors while a chain is read.
#[derive(Default)]
struct Stack {
    /// Files, most specific first while reading; reversed when finished.
    files: Vec<SourceFile>,
    wires: Vec<ManifestWire>,
    errors: Vec<ManifestError>,
}

impl Stack {
    /// Push `file` and follow its `extends` chain to the base.
    fn push_chain(&mut self, file: SourceFile, catalog: &Catalog) {
        self.push_chain_of(Some(file), catalog);
    }

    fn push_chain_of(&mut self, first: Option<SourceFile>, catalog: &Catalog) {
        let mut next = first;
        while let Some(file) = next.take() {
            let start = self.errors.len();
            let wire = check_file(&file, &mut self.errors);
            let extends = wire.as_ref().and_then(|w| w.extends.clone());
            self.files.push(file);
            self.wires.push(wire.unwrap_or_default());
            if self.errors.len() > start {
                break;
            }
            let Some(extends) = extends else { break };
            let current = self.files.last().expect("just pushed");
            match catalog.find(&extends, current.path.as_deref()) {
                Some(parent) if self.files.iter().any(|f| f.display == parent.display) => {
                    let mut chain: Vec<String> =
                        self.files.iter().map(|f| f.display.clone()).collect();
                    chain.push(parent.display.clone());
                    self.errors.push(located(
                        current,
                        "extends",
                        ManifestError::new(
                            ErrorKind::InheritanceCycle,
                            "",
                            format!("`extends` forms a cycle: {}", chain.join(" → ")),
                        ),
                    ));
                }
                Some(parent) => next = Some(parent),
                None => {
                    let names = catalog.names();
                    let help = did_you_mean(&extends, names.iter().map(String::as_str))
                        .or_else(|| Some("`kimg presets` lists every preset".to_string()));
                    let error = ManifestError::new(
                        ErrorKind::UnknownPreset,
                        "",
                        format!("`extends` names the unknown preset `{extends}`"),
                    )
                    .with_help(help);
                    self.errors.push(located(current, "extends", error));
                }
            }
        }
        let base = builtin(BASE_PRESET).expect("presets/base.toml is built in");
        let wire = check_file(&base, &mut self.errors);
        self.files.push(base);
        self.wires.push(wire.unwrap_or_default());
    }

    fn finish(
        mut self,
        options: Option<&ManifestWire>,
        overrides: &[Override],
    ) -> Result<Layers, ManifestErrors> {
        let chain: Vec<String> = self.files.iter().map(|f| f.display.clone()).collect();
        self.files.reverse();
        let top = match options {
            Some(_) => "command line".to_string(),
            None => self
                .files
                .last()
                .map(|f| f.display.clone())
                .unwrap_or_default(),
        };
        let figment = layered(
            &self.files,
            Sweep::Keep,
            options,
            &top,
            overrides,
            &mut self.errors,
        );
        for error in &mut self.errors {
            error.chain.clone_from(&chain);
        }
        if !self.errors.is_empty() {
            return Err(ManifestErrors(self.errors));
        }
        let merged = extract(&figment, &top)?;
        // Only a sweep's runs need it. The overrides were checked above: the same errors again
        // would be thrown away.
        let per_run = merged.sweep.is_some().then(|| {
            layered(
                &self.files,
                Sweep::Drop,
                options,
                &top,
                overrides,
                &mut Vec::new(),
            )
        });
        Ok(Layers {
            figment,
            files: self.files,
            chain,
            merged,
            top,
            per_run,
        })
    }
}

/// Whether the files' `[sweep]` tables enter a figment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sweep {
    Keep,
    Drop,
}

/// Every layer in precedence order: `files` (base first), the command-line `options` (named
/// `top`), the environment, then `overrides`; an unknown override key is recorded in `errors`.
fn layered(
    files: &[SourceFile],
    sweep: Sweep,
    options: Option<&ManifestWire>,
    top: &str,
    overrides: &[Override],
    errors: &mut Vec<ManifestError>,
) -> Figment {
    let mut figment = Figment::new();
    for file in files {
        figment = figment.merge(FileLayer::new(file, sweep));
    }
    if let Some(options) = options {
        figment = figment.merge(Named::serialized(top, options));
    }
    figment = figment.merge(
        Env::prefixed(env_vars::CONFIG_PREFIX)
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                key.starts_with("train__") || key.starts_with("data__")
            })
            .split("__"),
    );
    merge_overrides(figment, overrides, errors)
}

/// `figment` with `overrides` merged on top, in order; an unknown key is recorded in `errors`.
fn merge_overrides(
    mut figment: Figment,
    overrides: &[Override],
    errors: &mut Vec<ManifestError>,
) -> Figment {
    for item in overrides {
        match check_override_key(&item.key) {
            Ok(()) => {
                figment = figment.merge(Named::value(
                    format!("--set {}", item.text),
                    &item.key,
                    &item.value,
                ));
            }
            Err(help) => errors.push(
                ManifestError::new(
                    ErrorKind::UnknownKey,
                    format!("--set {}", item.text),
                    format!("unknown key `{}`", item.key),
                )
                .with_key(&item.key)
                .with_help(help),
            ),
        }
    }
    figment
}

/// The merged values of `figment`; a type error names the layer that supplied the value (`top`
/// when figment does not say).
fn extract(figment: &Figment, top: &str) -> Result<ManifestWire, ManifestErrors> {
    figment.extract().map_err(|errors| {
        ManifestErrors(
            errors
                .into_iter()
                .map(|error| {
                    let key = error.path.join(".");
                    let layer = error
                        .metadata
                        .as_ref()
                        .map_or_else(|| top.to_string(), |m| m.name.to_string());
                    ManifestError::new(
                        ErrorKind::WrongType,
                        layer,
                        format!("`{key}`: {}", error.kind),
                    )
                    .with_key(key)
                })
                .collect(),
        )
    })
}

/// Attach file, span and source text for `key` of `file` to an error.
fn located(file: &SourceFile, key: &str, mut error: ManifestError) -> ManifestError {
    let span = file.key_span(key);
    error.location = file.location(span.as_ref());
    error.source = Some(file.named_source());
    error.span = span.as_ref().map(to_span);
    error.key = Some(key.to_string());
    error
}

/// Parse one file into its wire struct, recording every syntax, unknown-key and type error.
fn check_file(file: &SourceFile, errors: &mut Vec<ManifestError>) -> Option<ManifestWire> {
    let document = match toml_edit::ImDocument::parse(file.text.as_str()) {
        Ok(document) => document,
        Err(error) => {
            let mut e = ManifestError::new(
                ErrorKind::Syntax,
                file.display.clone(),
                format!("invalid TOML: {}", error.message()),
            );
            if let Some(span) = error.span() {
                e.location = file.location(Some(&span));
                e.span = Some(to_span(&span));
            }
            e.source = Some(file.named_source());
            errors.push(e);
            return None;
        }
    };
    let before = errors.len();
    check_keys(file, document.as_table(), "", errors);
    if errors.len() > before {
        return None;
    }
    match toml::from_str::<ManifestWire>(&file.text) {
        Ok(wire) => Some(wire),
        Err(error) => {
            let mut e = ManifestError::new(
                ErrorKind::WrongType,
                file.display.clone(),
                error.message().trim().to_string(),
            );
            if let Some(span) = error.span() {
                if let Some(key) = file.key_at(span.start) {
                    e.message = format!("`{key}`: {}", e.message);
                    e.key = Some(key);
                }
                e.location = file.location(Some(&span));
                e.span = Some(to_span(&span));
            }
            e.source = Some(file.named_source());
            errors.push(e);
            None
        }
    }
}

/// The accepted keys of a table at `prefix` (`""` for the top level), or `None` for free-form
/// tables whose keys are checked elsewhere.
fn known_keys(prefix: &str) -> Option<&'static [&'static str]> {
    Some(match prefix {
        "" => field_names::<ManifestWire>(),
        "preset" => field_names::<PresetMetaWire>(),
        "preset.source" => field_names::<SourceWire>(),
        "preset.expected" => field_names::<ExpectedWire>(),
        "data" => field_names::<DataWire>(),
        "train" => field_names::<TrainWire>(),
        "schedule" => field_names::<ScheduleWire>(),
        "schedule.halving" => field_names::<HalvingWire>(),
        _ => return None,
    })
}

/// Every key a sweep or override may name: `data.<key>` and `train.<key>`.
pub fn settable_keys() -> Vec<String> {
    let data = field_names::<DataWire>()
        .iter()
        .map(|k| format!("data.{k}"));
    let train = field_names::<TrainWire>()
        .iter()
        .map(|k| format!("train.{k}"));
    data.chain(train).collect()
}

fn check_override_key(key: &str) -> Result<(), Option<String>> {
    let keys = settable_keys();
    let top_level = ["name", "description"];
    if keys.iter().any(|k| k == key) || top_level.contains(&key) {
        Ok(())
    } else {
        Err(did_you_mean(
            key,
            keys.iter().map(String::as_str).chain(top_level),
        ))
    }
}

fn check_keys(
    file: &SourceFile,
    table: &dyn toml_edit::TableLike,
    prefix: &str,
    errors: &mut Vec<ManifestError>,
) {
    if prefix == "sweep" {
        check_sweep_keys(file, table, errors);
        return;
    }
    let Some(known) = known_keys(prefix) else {
        return;
    };
    for (key, item) in table.iter() {
        let path = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        if !known.contains(&key) {
            let help = did_you_mean(key, known.iter().copied());
            let (k, _) = table.get_key_value(key).expect("iterating");
            errors.push(unknown_key(file, &path, k.span(), help));
        } else if let Some(inner) = item.as_table_like() {
            check_keys(file, inner, &path, errors);
        }
    }
}

fn check_sweep_keys(
    file: &SourceFile,
    table: &dyn toml_edit::TableLike,
    errors: &mut Vec<ManifestError>,
) {
    let keys = settable_keys();
    let check =
        |key: &str, span: Option<std::ops::Range<usize>>, errors: &mut Vec<ManifestError>| {
            if !keys.iter().any(|k| k == key) {
                let help = did_you_mean(key, keys.iter().map(String::as_str));
                errors.push(unknown_key(file, &format!("sweep.{key}"), span, help));
            }
        };
    for (key, item) in table.iter() {
        let (k, _) = table.get_key_value(key).expect("iterating");
        match key {
            ZIP_KEY | EXCLUDE_KEY => {
                let groups: Vec<&dyn toml_edit::TableLike> = match item {
                    toml_edit::Item::ArrayOfTables(array) => array
                        .iter()
                        .map(|t| t as &dyn toml_edit::TableLike)
                        .collect(),
                    toml_edit::Item::Value(toml_edit::Value::Array(array)) => array
                        .iter()
                        .filter_map(|v| v.as_inline_table().map(|t| t as &dyn toml_edit::TableLike))
                        .collect(),
                    _ => Vec::new(),
                };
                for group in groups {
                    for (inner, _) in group.iter() {
                        let (ik, _) = group.get_key_value(inner).expect("iterating");
                        check(inner, ik.span(), errors);
                    }
                }
            }
            _ => check(key, k.span(), errors),
        }
    }
}

fn unknown_key(
    file: &SourceFile,
    path: &str,
    span: Option<std::ops::Range<usize>>,
    help: Option<String>,
) -> ManifestError {
    let mut error = ManifestError::new(
        ErrorKind::UnknownKey,
        file.location(span.as_ref()),
        format!("unknown key `{path}`"),
    )
    .with_key(path)
    .with_help(help);
    error.source = Some(file.named_source());
    error.span = span.as_ref().map(to_span);
    error
}

/// A figment layer backed by one source file, named by its display path.
struct FileLayer {
    name: String,
    data: Map<Profile, Dict>,
}

impl FileLayer {
    fn new(file: &SourceFile, sweep: Sweep) -> FileLayer {
        // The file already parsed in `check_file`; an error here would be a broken invariant.
        let mut data = Toml::string(&file.text).data().unwrap_or_default();
        if sweep == Sweep::Drop {
            for dict in data.values_mut() {
                dict.remove("sweep");
            }
        }
        FileLayer {
            name: file.display.clone(),
            data,
        }
    }
}

impl Provider for FileLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        Ok(self.data.clone())
    }
}

/// A figment layer of serialised values with a name of our choosing (`command line`, `--set …`).
struct Named {
    name: String,
    data: figment::Result<Map<Profile, Dict>>,
}

impl Named {
    fn serialized(name: &str, wire: &ManifestWire) -> Named {
        // Through a TOML table so that unset (`None`) options are absent rather than empty values
        // that would shadow lower layers.
        let table = toml::Table::try_from(wire).expect("wire structs serialise to TOML");
        Named {
            name: name.to_string(),
            data: figment::providers::Serialized::defaults(table).data(),
        }
    }

    fn value(name: String, key: &str, value: &toml::Value) -> Named {
        let data = figment::providers::Serialized::default(key, value).data();
        Named { name, data }
    }
}

impl Provider for Named {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        self.data.clone()
    }
}
