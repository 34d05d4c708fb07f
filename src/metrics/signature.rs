//! Keyword arguments for TorchScript modules. The official detectors are called with keywords
//! (`detector(img, return_features=True)`, `vgg16(img, resize_images=False, return_lpips=True)`),
//! but libtorch's C++ API, and so tch, passes arguments by position only. Which position a keyword
//! has is written in the archive itself: TorchScript stores each class's code as Python source
//! (`code/__torch__/….py`), and the top module's class is the first global of `data.pkl`. kimg
//! reads the `forward` signature from there and lays the keywords out by position, filling the
//! parameters in between with their declared defaults.

use std::io::Read;
use std::path::Path;

use tch::{IValue, Tensor};

/// Why a `forward` signature could not be read, or keywords not laid out by it.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The file could not be opened or read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The file is no zip archive.
    #[error("not an archive: {0}")]
    NotArchive(zip::result::ZipError),
    /// An entry of the archive could not be opened.
    #[error(transparent)]
    Entry(zip::result::ZipError),
    /// The archive has no top-level `data.pkl`.
    #[error("the archive has no data.pkl")]
    NoDataPkl,
    /// `data.pkl` does not name the module's class first.
    #[error("data.pkl does not start with the module's class")]
    NoClass,
    /// The class's code file is missing from the archive.
    #[error("{code}: {source}")]
    CodeMissing {
        /// The code file's name in the archive.
        code: String,
        /// The cause.
        source: zip::result::ZipError,
    },
    /// The class's code file could not be read.
    #[error("{code}: {source}")]
    CodeUnreadable {
        /// The code file's name in the archive.
        code: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The code file has no `forward` of the class.
    #[error("{code} has no forward of {class}")]
    NoForward {
        /// The code file's name in the archive.
        code: String,
        /// The class.
        class: String,
    },
    /// A keyword is no parameter of `forward`.
    #[error("its forward has no parameter `{0}`")]
    NoParameter(String),
    /// A parameter before the last keyword has a default kimg cannot express.
    #[error("cannot pass the default `{default}` of parameter `{parameter}`")]
    UnsupportedDefault {
        /// The default, as written in the code.
        default: String,
        /// The parameter.
        parameter: String,
    },
    /// A parameter before the last keyword has no default.
    #[error("parameter `{0}` has no default")]
    NoDefault(String),
}

/// One parameter of `forward` after `self`.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Its name.
    pub name: String,
    /// Its default, as written in the code (`True`, `2`, `1.`, `None`…), if it has one.
    pub default: Option<String>,
}

/// The parameters of a module's `forward`, in order, `self` excluded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Signature {
    parameters: Vec<Parameter>,
}

impl Signature {
    /// The `forward` signature of the TorchScript archive at `path`. Archives whose code cannot be
    /// read (none is expected) give an error naming the reason.
    pub fn read(path: &Path) -> Result<Signature, SignatureError> {
        let file = std::fs::File::open(path)?;
        let mut archive = zip::ZipArchive::new(file).map_err(SignatureError::NotArchive)?;
        let names: Vec<String> = archive.file_names().map(str::to_string).collect();
        let data_pkl = names
            .iter()
            .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
            .ok_or(SignatureError::NoDataPkl)?;
        let prefix = data_pkl.trim_end_matches("data.pkl").to_string();
        let mut head = Vec::new();
        archive
            .by_name(data_pkl)
            .map_err(SignatureError::Entry)?
            .take(512)
            .read_to_end(&mut head)?;
        let class = top_class(&head).ok_or(SignatureError::NoClass)?;
        let module = class.rsplit_once('.').map_or("", |(module, _)| module);
        let code = format!("{prefix}code/{}.py", module.replace('.', "/"));
        let mut text = String::new();
        archive
            .by_name(&code)
            .map_err(|source| SignatureError::CodeMissing {
                code: code.clone(),
                source,
            })?
            .read_to_string(&mut text)
            .map_err(|source| SignatureError::CodeUnreadable {
                code: code.clone(),
                source,
            })?;
        Signature::parse(&text, &class).ok_or(SignatureError::NoForward { code, class })
    }

    /// The signature of `class`'s `forward` in TorchScript code `text`
    /// (`def forward(self: CLASS, img: Tensor, flag: bool=True) -> Tensor:`).
    pub fn parse(text: &str, class: &str) -> Option<Signature> {
        let head = format!("def forward(self: {class}");
        let start = text.match_indices(&head).find_map(|(at, _)| {
            let after = text[at + head.len()..].chars().next();
            matches!(after, Some(',' | ')')).then_some(at)
        })?;
        let rest = &text[start + "def forward(".len()..];
        let mut depth = 0usize;
        let mut parts = Vec::new();
        let mut current = String::new();
        for ch in rest.chars() {
            match ch {
                '(' | '[' => depth += 1,
                ']' => depth = depth.checked_sub(1)?,
                ')' if depth == 0 => break,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(ch);
        }
        parts.push(current);
        let parameters = parts
            .iter()
            .skip(1)
            .map(|part| part.trim())
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (declaration, default) = match part.split_once('=') {
                    Some((declaration, default)) => (declaration, Some(default.trim().to_string())),
                    None => (part, None),
                };
                let name = declaration.split(':').next().unwrap_or_default().trim();
                Parameter {
                    name: name.to_string(),
                    default,
                }
            })
            .collect();
        Some(Signature { parameters })
    }

    /// Whether `forward` has a parameter `name`.
    pub fn has(&self, name: &str) -> bool {
        self.parameters.iter().any(|p| p.name == name)
    }

    /// The positional arguments for `forward(input, **keywords)`: the input, then each parameter
    /// up to the last keyword given, set from `keywords` or from its default. Errors name a keyword
    /// `forward` lacks, or a default kimg cannot express.
    pub fn arguments(
        &self,
        input: Tensor,
        keywords: &[(&str, bool)],
    ) -> Result<Vec<IValue>, SignatureError> {
        let mut last = 0;
        for (keyword, _) in keywords {
            let position = self
                .parameters
                .iter()
                .position(|p| p.name == *keyword)
                .filter(|&position| position > 0)
                .ok_or_else(|| SignatureError::NoParameter((*keyword).to_string()))?;
            last = last.max(position);
        }
        let mut arguments = vec![IValue::Tensor(input)];
        for parameter in self.parameters.iter().take(last + 1).skip(1) {
            let given = keywords.iter().find(|(k, _)| *k == parameter.name);
            arguments.push(match (given, parameter.default.as_deref()) {
                (Some(&(_, value)), _) => IValue::Bool(value),
                (None, Some(default)) => {
                    literal(default).ok_or_else(|| SignatureError::UnsupportedDefault {
                        default: default.to_string(),
                        parameter: parameter.name.clone(),
                    })?
                }
                (None, None) => {
                    return Err(SignatureError::NoDefault(parameter.name.clone()));
                }
            });
        }
        Ok(arguments)
    }
}

/// The class of the object a TorchScript `data.pkl` holds: its first opcodes are the protocol
/// (`\x80\x02`) and a GLOBAL (`c` module `\n` name `\n`).
fn top_class(pickle: &[u8]) -> Option<String> {
    let rest = pickle.strip_prefix(b"\x80\x02c")?;
    let mut lines = rest.splitn(3, |&b| b == b'\n');
    let (module, name) = (lines.next()?, lines.next()?);
    lines.next()?;
    let (module, name) = (
        std::str::from_utf8(module).ok()?,
        std::str::from_utf8(name).ok()?,
    );
    Some(format!("{module}.{name}"))
}

/// A default value written in TorchScript code as an [`IValue`].
fn literal(text: &str) -> Option<IValue> {
    match text {
        "True" => Some(IValue::Bool(true)),
        "False" => Some(IValue::Bool(false)),
        "None" => Some(IValue::None),
        _ => text
            .parse::<i64>()
            .map(IValue::Int)
            .ok()
            .or_else(|| text.parse::<f64>().ok().map(IValue::Double)),
    }
}

#[cfg(test)]
mod tests {
    use super::{Signature, top_class};
    use tch::{IValue, Tensor};

    const CODE: &str = "class Stub(Module):\n  def helper(self: __torch__.Stub,\n    x: Tensor) \
                        -> Tensor:\n    return x\n  def forward(self: __torch__.Stub,\n    img: \
                        Tensor,\n    size: Tuple[int, int]=(2, 3),\n    resize_images: \
                        bool=True,\n    scale: float=1.,\n    return_features: bool=False,\n    \
                        last: Optional[Tensor]=None) -> Tensor:\n    return img\n";

    fn flags(arguments: &[IValue]) -> Vec<String> {
        arguments[1..].iter().map(|a| format!("{a:?}")).collect()
    }

    #[test]
    fn keywords_that_cannot_be_laid_out_are_errors() {
        let signature = Signature::parse(CODE, "__torch__.Stub").unwrap();
        // `forward`'s parameters, not those of the method before it; no other class's.
        assert!(signature.has("return_features") && !signature.has("x"));
        assert!(Signature::parse(CODE, "__torch__.Stu").is_none());
        let input = || Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu));
        assert_eq!(signature.arguments(input(), &[]).unwrap().len(), 1);
        // `size`'s tuple default has no IValue here, so no keyword after it can be passed.
        let error = signature
            .arguments(input(), &[("return_features", true)])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`(2, 3)`") && error.contains("`size`"),
            "{error}"
        );
        let error = signature
            .arguments(input(), &[("return_lpips", true)])
            .unwrap_err()
            .to_string();
        assert!(error.contains("no parameter `return_lpips`"), "{error}");
    }

    #[test]
    fn defaults_fill_the_parameters_before_the_last_keyword() {
        let code = CODE.replace("size: Tuple[int, int]=(2, 3),\n    ", "");
        let signature = Signature::parse(&code, "__torch__.Stub").unwrap();
        let input = Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu));
        let arguments = signature
            .arguments(input, &[("return_features", true)])
            .unwrap();
        assert_eq!(
            flags(&arguments),
            ["Bool(true)", "Double(1.0)", "Bool(true)"]
        );
    }

    #[test]
    fn the_top_class_is_the_first_global_of_the_pickle() {
        let pickle = b"\x80\x02c__torch__.wrap_net\nWrapNet\nq\x00)\x81}(X\x08";
        assert_eq!(top_class(pickle).unwrap(), "__torch__.wrap_net.WrapNet");
        assert!(top_class(b"PK\x03\x04").is_none());
    }
}
