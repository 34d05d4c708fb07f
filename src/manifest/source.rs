//! Source files of a manifest chain, and where a dotted key sits in one of them.

use std::ops::Range;
use std::path::PathBuf;

use miette::{NamedSource, SourceSpan};

/// The text of one layer of the configuration, kept for error reports and provenance.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// How the file is shown to users: a path relative to the working directory, or
    /// `presets/<name>.toml (built in)` for presets compiled into the binary.
    pub display: String,
    /// The path on disk, when the file is on disk.
    pub path: Option<PathBuf>,
    /// The whole text.
    pub text: String,
}

impl SourceFile {
    /// A miette source for rendering a labelled snippet.
    pub fn named_source(&self) -> NamedSource<String> {
        NamedSource::new(&self.display, self.text.clone()).with_language("toml")
    }

    /// The byte range of `key` (dotted, e.g. `train.gamma`) in this file, if present.
    ///
    /// Sweep axis keys contain dots themselves (`sweep."train.gamma"`), so a path is matched
    /// greedily: at each level the longest prefix naming an existing key wins.
    pub fn key_span(&self, key: &str) -> Option<Range<usize>> {
        let document = toml_edit::ImDocument::parse(self.text.as_str()).ok()?;
        let mut table: &dyn toml_edit::TableLike = document.as_table();
        let mut rest = key;
        loop {
            let (name, remainder) = longest_key(table, rest)?;
            let (found_key, item) = table.get_key_value(name)?;
            match remainder {
                None => return found_key.span(),
                Some(next) => {
                    table = item.as_table_like()?;
                    rest = next;
                }
            }
        }
    }

    /// The dotted key whose value contains the byte `offset` (the key a type error is about).
    pub fn key_at(&self, offset: usize) -> Option<String> {
        let document = toml_edit::ImDocument::parse(self.text.as_str()).ok()?;
        key_containing(document.as_table(), offset, "")
    }

    /// `(line, column)`, both 1-based, of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |nl| before.len() - nl - 1)
            + 1;
        (line, column)
    }

    /// `file:line:col` of a span, or just the file when there is no span.
    pub fn location(&self, span: Option<&Range<usize>>) -> String {
        match span {
            Some(span) => {
                let (line, column) = self.line_col(span.start);
                format!("{}:{line}:{column}", self.display)
            }
            None => self.display.clone(),
        }
    }
}

/// Split `path` into the longest prefix that is a key of `table` and the rest after its dot.
fn longest_key<'p>(
    table: &dyn toml_edit::TableLike,
    path: &'p str,
) -> Option<(&'p str, Option<&'p str>)> {
    if table.contains_key(path) {
        return Some((path, None));
    }
    path.char_indices()
        .rev()
        .filter(|&(_, c)| c == '.')
        .find_map(|(dot, _)| {
            let head = &path[..dot];
            table
                .contains_key(head)
                .then(|| (head, Some(&path[dot + 1..])))
        })
}

fn key_containing(table: &dyn toml_edit::TableLike, offset: usize, prefix: &str) -> Option<String> {
    for (key, item) in table.iter() {
        let path = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        if let Some(inner) = item.as_table_like()
            && let Some(found) = key_containing(inner, offset, &path)
        {
            return Some(found);
        }
        if item.span().is_some_and(|span| span.contains(&offset)) {
            return Some(path);
        }
    }
    None
}

/// A miette span from a byte range.
pub fn to_span(range: &Range<usize>) -> SourceSpan {
    SourceSpan::new(range.start.into(), range.end - range.start)
}

#[cfg(test)]
mod tests {
    use super::SourceFile;

    fn file(text: &str) -> SourceFile {
        SourceFile {
            display: "x.toml".into(),
            path: None,
            text: text.into(),
        }
    }

    #[test]
    fn finds_nested_and_dotted_keys() {
        let f = file("name = \"a\"\n[train]\ngamma = 2\n[sweep]\n\"train.gamma\" = [1]\n");
        assert_eq!(f.location(f.key_span("train.gamma").as_ref()), "x.toml:3:1");
        assert_eq!(
            f.location(f.key_span("sweep.train.gamma").as_ref()),
            "x.toml:5:1"
        );
        assert_eq!(f.key_span("train.batch"), None);
        assert_eq!(
            f.key_at(f.text.find('2').unwrap()).as_deref(),
            Some("train.gamma")
        );
    }
}
