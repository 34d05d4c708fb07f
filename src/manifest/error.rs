//! Manifest errors: what went wrong, in which file, at which key, and how to fix it.
//!
//! Every problem found while loading is collected into [`ManifestErrors`] so a user sees all of
//! them at once. Each message starts with `file:line:col` (or `file` when the key is not in the
//! file, e.g. a missing required key) and names the key in backticks; the miette rendering adds a
//! labelled snippet, the `extends` chain and a "did you mean" hint.

use std::fmt;

use miette::{Diagnostic, NamedSource, SourceSpan};

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file is not valid TOML.
    Syntax,
    /// A key the schema does not have.
    UnknownKey,
    /// A value of the wrong type.
    WrongType,
    /// A required key has no value anywhere in the chain.
    MissingKey,
    /// A value outside its allowed range or set, or inconsistent with another.
    InvalidValue,
    /// `extends` names a preset that does not exist.
    UnknownPreset,
    /// `extends` leads back to a file already in the chain.
    InheritanceCycle,
    /// A file could not be read.
    Unreadable,
}

/// One problem in a manifest, a preset or an override.
#[derive(Debug, Clone)]
pub struct ManifestError {
    /// The kind of problem.
    pub kind: ErrorKind,
    /// `file:line:col` or `file` (or `--set …` / an environment variable name).
    pub location: String,
    /// The dotted key, when the problem concerns one.
    pub key: Option<String>,
    /// Lowercase fragment describing the problem, keys in backticks.
    pub message: String,
    /// A hint, e.g. "did you mean `gamma`?".
    pub help: Option<String>,
    /// The `extends` chain, most specific first (`exp.toml → stylegan3-t → base`).
    pub chain: Vec<String>,
    /// The offending file's text, for a labelled snippet.
    pub source: Option<NamedSource<String>>,
    /// Where in `source` to point.
    pub span: Option<SourceSpan>,
}

impl ManifestError {
    /// A new error without source text or hint.
    pub fn new(kind: ErrorKind, location: impl Into<String>, message: impl Into<String>) -> Self {
        ManifestError {
            kind,
            location: location.into(),
            key: None,
            message: message.into(),
            help: None,
            chain: Vec::new(),
            source: None,
            span: None,
        }
    }

    /// Attach the key the error is about.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Attach a hint.
    #[must_use]
    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ManifestError {}

impl Diagnostic for ManifestError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let code = match self.kind {
            ErrorKind::Syntax => "kimg::manifest::syntax",
            ErrorKind::UnknownKey => "kimg::manifest::unknown_key",
            ErrorKind::WrongType => "kimg::manifest::wrong_type",
            ErrorKind::MissingKey => "kimg::manifest::missing_key",
            ErrorKind::InvalidValue => "kimg::manifest::invalid_value",
            ErrorKind::UnknownPreset => "kimg::manifest::unknown_preset",
            ErrorKind::InheritanceCycle => "kimg::manifest::inheritance_cycle",
            ErrorKind::Unreadable => "kimg::manifest::unreadable",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let chain = (self.chain.len() > 1).then(|| format!("chain: {}", self.chain.join(" → ")));
        match (&self.help, chain) {
            (Some(help), Some(chain)) => Some(Box::new(format!("{help}\n{chain}"))),
            (Some(help), None) => Some(Box::new(help.clone())),
            (None, Some(chain)) => Some(Box::new(chain)),
            (None, None) => None,
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.span?;
        let label = self.key.as_ref().map(|key| format!("`{key}`"));
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_with_span(label, span),
        )))
    }
}

/// Every problem found in one load, in the order found.
#[derive(Debug, Clone)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => write!(f, "{} problems in the configuration", many.len()),
        }
    }
}

impl std::error::Error for ManifestErrors {}

impl Diagnostic for ManifestErrors {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self.0.as_slice() {
            [one] => one.code(),
            _ => None,
        }
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self.0.as_slice() {
            [one] => one.help(),
            _ => None,
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        match self.0.as_slice() {
            [one] => one.source_code(),
            _ => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        match self.0.as_slice() {
            [one] => one.labels(),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self.0.as_slice() {
            [_] => None,
            many => Some(Box::new(many.iter().map(|e| e as &dyn Diagnostic))),
        }
    }
}

impl From<ManifestError> for ManifestErrors {
    fn from(error: ManifestError) -> Self {
        ManifestErrors(vec![error])
    }
}

/// "did you mean `x`?" for the closest candidate, when one is close enough.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(given, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, best)| format!("did you mean `{best}`?"))
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(
            did_you_mean("gama", ["gamma", "glr", "batch"]).as_deref(),
            Some("did you mean `gamma`?")
        );
        assert_eq!(did_you_mean("zzz", ["gamma", "glr"]), None);
    }
}
