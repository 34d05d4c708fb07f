//! A small pickle virtual machine for reading official network pickles (`network-snapshot-*.pkl`)
//! without Python: enough of protocols 2–5 for what `torch_utils.persistence`, PyTorch's legacy
//! storage format and numpy emit.
//!
//! Globals are not imported: each known one maps to a data constructor (`OrderedDict` and
//! `EasyDict` → dict, `_reconstruct_persistent_obj` → its meta dict, `_rebuild_tensor_v2` → a
//! tensor view, `_load_from_bytes` → the legacy storage parser, numpy arrays/scalars → values). Any
//! other global becomes an inert object, so no code from a pickle is ever run.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use tch::{Kind, Tensor};

/// A value on the pickle stack.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// `True`/`False`.
    Bool(bool),
    /// An integer that fits in i64.
    Int(i64),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(String),
    /// `bytes`.
    Bytes(Rc<Vec<u8>>),
    /// A list or set (shared, mutable while loading).
    List(Rc<RefCell<Vec<Value>>>),
    /// A tuple.
    Tuple(Rc<Vec<Value>>),
    /// A dict in insertion order (shared, mutable while loading).
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// A reference to `module.name`.
    Global(Rc<(String, String)>),
    /// An instance of an unknown class: its class and the state given to `BUILD`.
    Object(Rc<RefCell<Object>>),
    /// A tensor (storage view).
    Tensor(Rc<Tensor>),
    /// A legacy storage: element kind and raw little-endian bytes.
    Storage(Rc<Storage>),
    /// A numpy array or scalar converted to floats, with its shape.
    Array(Rc<(Vec<usize>, Vec<f64>)>),
    /// A numpy dtype (its type code, e.g. `f8`).
    Dtype(Rc<String>),
    /// A MARK on the stack.
    Mark,
}

/// An object of a class the reader does not model.
#[derive(Debug, Clone)]
pub struct Object {
    /// `module.name` of its class.
    pub class: String,
    /// Constructor arguments, when built with `REDUCE`/`NEWOBJ`.
    pub args: Vec<Value>,
    /// The state given to `BUILD`.
    pub state: Value,
}

/// One legacy storage.
#[derive(Debug)]
pub struct Storage {
    /// Element kind.
    pub kind: Kind,
    /// Raw bytes.
    pub bytes: Vec<u8>,
}

/// A reading error: what went wrong and at which byte.
#[derive(Debug, thiserror::Error)]
#[error("pickle: {message} (at byte {offset})")]
pub struct PickleError {
    /// What went wrong.
    pub message: String,
    /// Offset into the stream.
    pub offset: usize,
}

type PResult<T> = Result<T, PickleError>;

/// How deeply readers of a [`Value`] descend; deeper values are cut off (network pickles nest a
/// few levels; a corrupt one can hold a cycle).
pub const MAX_DEPTH: usize = 64;

/// How much readers of a [`Value`] visit at most, counting each value as 1 plus the characters of
/// its text and the elements of its array: a corrupt pickle can share one container (or one long
/// string) many times over, so that a walk without a bound would fill the memory.
pub const MAX_NODES: usize = 1 << 20;

impl Value {
    /// The dict's entries, if a dict.
    pub fn as_dict(&self) -> Option<Vec<(Value, Value)>> {
        match self {
            Value::Dict(d) => Some(d.borrow().clone()),
            _ => None,
        }
    }

    /// Look up a string key in a dict.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.as_dict()?
            .into_iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
            .map(|(_, v)| v)
    }

    /// The string, if a str.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Plain data as JSON (dicts, sequences, numbers, strings); tensors and objects become null, as
    /// does anything nested deeper than [`MAX_DEPTH`] or beyond a walk of [`MAX_NODES`] (a corrupt
    /// pickle can make a container hold itself, or share one many times over).
    pub fn to_json(&self) -> serde_json::Value {
        let mut budget = MAX_NODES;
        self.to_json_at(0, &mut budget)
    }

    fn to_json_at(&self, depth: usize, budget: &mut usize) -> serde_json::Value {
        use serde_json::Value as J;
        let cost = 1 + match self {
            Value::Str(s) => s.len(),
            Value::Dtype(d) => d.len(),
            Value::Array(array) => array.1.len(),
            _ => 0,
        };
        if depth > MAX_DEPTH || *budget < cost {
            *budget = 0;
            return J::Null;
        }
        *budget -= cost;
        let mut json = |v: &Value| v.to_json_at(depth + 1, budget);
        match self {
            Value::None
            | Value::Mark
            | Value::Global(_)
            | Value::Object(_)
            | Value::Tensor(_)
            | Value::Storage(_)
            | Value::Bytes(_) => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Dtype(d) => J::String(d.to_string()),
            Value::List(items) => J::Array(items.borrow().iter().map(json).collect()),
            Value::Tuple(items) => J::Array(items.iter().map(json).collect()),
            Value::Dict(entries) => J::Object(
                entries
                    .borrow()
                    .iter()
                    .map(|(k, v)| {
                        // A container as a key is shown by its kind only: its JSON text, escaped
                        // once more at every level, would double in length per level.
                        let key = match k {
                            Value::Str(s) => s.clone(),
                            Value::List(_) | Value::Tuple(_) | Value::Dict(_) => "(…)".into(),
                            other => format!("{:?}", json(other)),
                        };
                        (key, json(v))
                    })
                    .collect(),
            ),
            Value::Array(array) => match array.0.as_slice() {
                [] => array
                    .1
                    .first()
                    .and_then(|f| serde_json::Number::from_f64(*f))
                    .map_or(J::Null, J::Number),
                _ => J::Array(
                    array
                        .1
                        .iter()
                        .map(|f| serde_json::Number::from_f64(*f).map_or(J::Null, J::Number))
                        .collect(),
                ),
            },
        }
    }
}

/// Unpickle one object from `data`; returns it and the number of bytes consumed.
pub fn load(data: &[u8]) -> PResult<(Value, usize)> {
    Machine::new(data).run()
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<usize, Value>,
    /// Storages created by persistent ids in a legacy storage stream: (key, storage kind, numel).
    persistent: Option<Vec<(String, Kind, usize)>>,
}

impl<'a> Machine<'a> {
    fn new(data: &'a [u8]) -> Machine<'a> {
        Machine {
            data,
            pos: 0,
            stack: Vec::new(),
            memo: HashMap::new(),
            persistent: None,
        }
    }

    fn error<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(PickleError {
            message: message.into(),
            offset: self.pos,
        })
    }

    fn take(&mut self, n: usize) -> PResult<&[u8]> {
        let Some(slice) = self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
        else {
            return self.error("unexpected end of data");
        };
        self.pos += n;
        Ok(slice)
    }

    fn u8(&mut self) -> PResult<u8> {
        Ok(self.take(1)?[0])
    }

    fn uint(&mut self, n: usize) -> PResult<u64> {
        let bytes = self.take(n)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// A little-endian length of `n` bytes (a count of bytes or a memo index).
    fn length(&mut self, n: usize) -> PResult<usize> {
        let value = self.uint(n)?;
        usize::try_from(value).map_or_else(|_| self.error(format!("length {value} too large")), Ok)
    }

    fn pop(&mut self) -> PResult<Value> {
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.error("stack underflow"),
        }
    }

    fn pop_mark(&mut self) -> PResult<Vec<Value>> {
        match self.stack.iter().rposition(|v| matches!(v, Value::Mark)) {
            Some(i) => {
                let items = self.stack.split_off(i + 1);
                self.stack.pop();
                Ok(items)
            }
            None => self.error("no MARK on the stack"),
        }
    }

    fn top(&mut self) -> PResult<&mut Value> {
        let pos = self.pos;
        self.stack.last_mut().ok_or(PickleError {
            message: "empty stack".into(),
            offset: pos,
        })
    }

    fn text(&mut self, n: usize) -> PResult<String> {
        let bytes = self.take(n)?.to_vec();
        String::from_utf8(bytes).map_or_else(|_| self.error("invalid UTF-8"), Ok)
    }

    #[expect(clippy::too_many_lines, reason = "one arm per opcode")]
    fn run(&mut self) -> PResult<(Value, usize)> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.take(8)?; // FRAME
                }
                b'.' => {
                    let value = self.pop()?;
                    return Ok((value, self.pos));
                }
                b'(' => self.stack.push(Value::Mark),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.uint(1)?;
                    self.stack
                        .push(Value::Int(i64::try_from(v).expect("u8 fits")));
                }
                b'M' => {
                    let v = self.uint(2)?;
                    self.stack
                        .push(Value::Int(i64::try_from(v).expect("u16 fits")));
                }
                b'J' => {
                    let v = self.uint(4)?;
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "BININT is a signed 32-bit value"
                    )]
                    let v = i64::from(v as u32 as i32);
                    self.stack.push(Value::Int(v));
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    let bytes = self.take(n)?.to_vec();
                    if n > 8 {
                        // Only the legacy storage magic number is this wide; keep its bytes.
                        self.stack.push(Value::Bytes(Rc::new(bytes)));
                        continue;
                    }
                    let mut buf = [if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                        0xff
                    } else {
                        0
                    }; 8];
                    buf[..n].copy_from_slice(&bytes);
                    self.stack.push(Value::Int(i64::from_le_bytes(buf)));
                }
                b'G' => {
                    let bytes: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
                    self.stack.push(Value::Float(f64::from_be_bytes(bytes)));
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let s = self.text(n)?;
                    self.stack.push(Value::Str(s));
                }
                b'X' => {
                    let n = self.length(4)?;
                    let s = self.text(n)?;
                    self.stack.push(Value::Str(s));
                }
                0x8d => {
                    let n = self.length(8)?;
                    let s = self.text(n)?;
                    self.stack.push(Value::Str(s));
                }
                b'C' | b'U' => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?.to_vec();
                    self.stack.push(if op == b'C' {
                        Value::Bytes(Rc::new(b))
                    } else {
                        Value::Str(String::from_utf8_lossy(&b).into_owned())
                    });
                }
                b'B' | b'T' => {
                    let n = self.length(4)?;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(if op == b'B' {
                        Value::Bytes(Rc::new(b))
                    } else {
                        Value::Str(String::from_utf8_lossy(&b).into_owned())
                    });
                }
                0x8e => {
                    let n = self.length(8)?;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(Rc::new(b)));
                }
                b'}' => self.stack.push(Value::Dict(Rc::default())),
                b']' | 0x8f => self.stack.push(Value::List(Rc::default())),
                b')' => self.stack.push(Value::Tuple(Rc::default())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let at = self
                        .stack
                        .len()
                        .checked_sub(n)
                        .map_or_else(|| self.error("stack underflow"), Ok)?;
                    let items = self.stack.split_off(at);
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                b'a' => {
                    let item = self.pop()?;
                    match self.top()? {
                        Value::List(list) => list.borrow_mut().push(item),
                        _ => return self.error("APPEND to a non-list"),
                    }
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::List(list) => list.borrow_mut().extend(items),
                        _ => return self.error("APPENDS/ADDITEMS to a non-list"),
                    }
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    set_items(self.top()?, vec![key, value]);
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    set_items(self.top()?, items);
                }
                0x94 => {
                    let value = self.top()?.clone();
                    let index = self.memo.len();
                    self.memo.insert(index, value);
                }
                b'q' | b'r' => {
                    let index = self.length(if op == b'q' { 1 } else { 4 })?;
                    let value = self.top()?.clone();
                    self.memo.insert(index, value);
                }
                b'h' | b'j' => {
                    let index = self.length(if op == b'h' { 1 } else { 4 })?;
                    match self.memo.get(&index) {
                        Some(v) => {
                            let v = v.clone();
                            self.stack.push(v);
                        }
                        None => return self.error(format!("memo {index} not set")),
                    }
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => {
                            self.stack.push(Value::Global(Rc::new((m, n))))
                        }
                        _ => return self.error("STACK_GLOBAL needs two strings"),
                    }
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(Rc::new((module, name))));
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let args = match args {
                        Value::Tuple(t) => t.to_vec(),
                        _ => return self.error("REDUCE/NEWOBJ arguments must be a tuple"),
                    };
                    let value = self.call(&callable, args)?;
                    self.stack.push(value);
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?.clone();
                    self.build(&target, state)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let value = self.persistent_load(&pid)?;
                    self.stack.push(value);
                }
                other => return self.error(format!("unsupported opcode 0x{other:02x}")),
            }
        }
    }

    fn line(&mut self) -> PResult<String> {
        let end = self.data[self.pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or_else(|| self.error("unterminated line"), Ok)?;
        let s = self.text(end)?;
        self.pos += 1;
        Ok(s)
    }

    fn call(&mut self, callable: &Value, args: Vec<Value>) -> PResult<Value> {
        let Value::Global(global) = callable else {
            return self.error("calling a non-global");
        };
        let (module, name) = (global.0.as_str(), global.1.as_str());
        Ok(match (module, name) {
            ("torch_utils.persistence", "_reconstruct_persistent_obj") => {
                args.into_iter().next().unwrap_or(Value::None)
            }
            ("collections", "OrderedDict") | ("dnnlib.util", "EasyDict") | ("builtins", "dict") => {
                Value::Dict(Rc::default())
            }
            ("builtins", "set") | ("builtins", "frozenset") => match args.into_iter().next() {
                Some(Value::List(l)) => Value::List(l),
                _ => Value::List(Rc::default()),
            },
            ("torch._utils", "_rebuild_parameter")
            | ("torch._utils", "_rebuild_parameter_with_state") => {
                args.into_iter().next().unwrap_or(Value::None)
            }
            ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
                self.rebuild_tensor(&args)?
            }
            ("torch.storage", "_load_from_bytes") => match args.first() {
                Some(Value::Bytes(bytes)) => load_legacy_storage(bytes)?,
                _ => return self.error("_load_from_bytes needs bytes"),
            },
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => {
                Value::Array(Rc::new((Vec::new(), Vec::new())))
            }
            ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => {
                match (args.first(), args.get(1)) {
                    (Some(Value::Dtype(code)), Some(Value::Bytes(raw))) => {
                        decode_numpy(code, raw, &[]).map_or_else(
                            || self.error(format!("numpy scalar of dtype {code}")),
                            Ok,
                        )?
                    }
                    _ => return self.error("numpy scalar needs a dtype and bytes"),
                }
            }
            ("numpy", "dtype") => match args.first() {
                Some(Value::Str(code)) => Value::Dtype(Rc::new(code.clone())),
                _ => return self.error("numpy dtype needs a type code"),
            },
            ("copyreg", "_reconstructor") | ("copyreg", "__newobj__") => {
                let class = match args.first() {
                    Some(Value::Global(g)) => format!("{}.{}", g.0, g.1),
                    _ => "?".into(),
                };
                Value::Object(Rc::new(RefCell::new(Object {
                    class,
                    args,
                    state: Value::None,
                })))
            }
            _ => Value::Object(Rc::new(RefCell::new(Object {
                class: format!("{module}.{name}"),
                args,
                state: Value::None,
            }))),
        })
    }

    fn build(&mut self, target: &Value, state: Value) -> PResult<()> {
        match target {
            Value::Object(object) => object.borrow_mut().state = state,
            Value::Dict(dict) => {
                // A dict subclass (EasyDict) with instance attributes: merge them.
                if let Some(entries) = state.as_dict() {
                    dict.borrow_mut().extend(entries);
                }
            }
            Value::Array(_) => {
                let Value::Tuple(fields) = state else {
                    return self.error("ndarray state must be a tuple");
                };
                // (version, shape, dtype, is_fortran, raw bytes)
                let (Some(Value::Tuple(shape)), Some(Value::Dtype(code)), Some(Value::Bytes(raw))) =
                    (fields.get(1), fields.get(2), fields.get(4))
                else {
                    return self.error("unexpected ndarray state");
                };
                let shape: Vec<usize> = shape
                    .iter()
                    .map(|d| {
                        if let Value::Int(i) = d {
                            usize::try_from(*i).unwrap_or(0)
                        } else {
                            0
                        }
                    })
                    .collect();
                let decoded = decode_numpy(code, raw, &shape)
                    .map_or_else(|| self.error(format!("ndarray of dtype {code}")), Ok)?;
                if let Some(last) = self.stack.last_mut() {
                    *last = decoded;
                }
            }
            Value::Dtype(_) | Value::List(_) => {}
            _ => return self.error("BUILD on an unsupported value"),
        }
        Ok(())
    }

    fn rebuild_tensor(&self, args: &[Value]) -> PResult<Value> {
        let (
            Some(Value::Storage(storage)),
            Some(Value::Int(offset)),
            Some(Value::Tuple(size)),
            Some(Value::Tuple(stride)),
        ) = (args.first(), args.get(1), args.get(2), args.get(3))
        else {
            return self.error("unexpected _rebuild_tensor_v2 arguments");
        };
        let ints = |t: &[Value]| {
            t.iter()
                .map(|v| if let Value::Int(i) = v { *i } else { 0 })
                .collect::<Vec<i64>>()
        };
        let element = storage.kind.elt_size_in_bytes().max(1);
        let numel = i64::try_from(storage.bytes.len() / element)
            .map_or_else(|_| self.error("storage too large"), Ok)?;
        // A saved tensor views its own storage: more elements than the storage holds (a corrupt
        // size with zero strides) would only allocate without bound.
        let elements = ints(size)
            .iter()
            .try_fold(1i64, |product, d| product.checked_mul((*d).max(0)));
        if elements.is_none_or(|e| e > numel.max(1)) {
            return self.error(format!(
                "tensor of size {:?} is larger than its storage of {numel} elements",
                ints(size)
            ));
        }
        // The fallible `f_` calls: a corrupt size, stride or offset is an error, not a panic.
        let tensor = Tensor::f_from_data_size(&storage.bytes, &[numel], storage.kind)
            .and_then(|flat| {
                flat.f_as_strided(ints(size).as_slice(), ints(stride).as_slice(), *offset)?
                    .f_contiguous()
            })
            .map_or_else(
                |e| self.error(format!("tensor of size {:?}: {e}", ints(size))),
                Ok,
            )?;
        Ok(Value::Tensor(Rc::new(tensor)))
    }

    fn persistent_load(&mut self, pid: &Value) -> PResult<Value> {
        let Value::Tuple(fields) = pid else {
            return self.error("persistent id must be a tuple");
        };
        let (Some(Value::Global(class)), Some(Value::Str(key)), Some(Value::Int(numel))) =
            (fields.get(1), fields.get(2), fields.get(4))
        else {
            return self.error("unexpected storage persistent id");
        };
        let kind = storage_kind(&class.1)
            .map_or_else(|| self.error(format!("storage type {}", class.1)), Ok)?;
        let numel = usize::try_from(*numel).map_or_else(|_| self.error("negative numel"), Ok)?;
        self.persistent
            .get_or_insert_with(Vec::new)
            .push((key.clone(), kind, numel));
        Ok(Value::Str(key.clone()))
    }
}

fn set_items(target: &mut Value, items: Vec<Value>) {
    if let Value::Dict(dict) = target {
        let mut dict = dict.borrow_mut();
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            dict.push((k, v));
        }
    }
}

fn storage_kind(class: &str) -> Option<Kind> {
    Some(match class {
        "FloatStorage" => Kind::Float,
        "DoubleStorage" => Kind::Double,
        "HalfStorage" => Kind::Half,
        "BFloat16Storage" => Kind::BFloat16,
        "LongStorage" => Kind::Int64,
        "IntStorage" => Kind::Int,
        "ShortStorage" => Kind::Int16,
        "CharStorage" => Kind::Int8,
        "ByteStorage" => Kind::Uint8,
        "BoolStorage" => Kind::Bool,
        _ => return None,
    })
}

/// Parse a legacy `torch.save` stream of one storage: magic, protocol, sys info, the storage's
/// pickle (with a persistent id), the key list, then `numel` and raw bytes per key.
fn load_legacy_storage(bytes: &[u8]) -> PResult<Value> {
    let mut pos = 0;
    for _ in 0..3 {
        let (_, used) = load(&bytes[pos..])?;
        pos += used;
    }
    let mut machine = Machine::new(&bytes[pos..]);
    let (_, used) = machine.run()?;
    pos += used;
    let storages = machine.persistent.unwrap_or_default();
    let (_, used) = load(&bytes[pos..])?; // the list of keys
    pos += used;
    let mut out = Vec::new();
    for (_, kind, numel) in storages {
        let count_bytes: [u8; 8] = bytes
            .get(pos..pos + 8)
            .and_then(|b| b.try_into().ok())
            .ok_or(PickleError {
                message: "truncated storage".into(),
                offset: pos,
            })?;
        pos += 8;
        let count = usize::try_from(i64::from_le_bytes(count_bytes)).unwrap_or(0);
        if count != numel {
            return Err(PickleError {
                message: format!("storage holds {count} elements, expected {numel}"),
                offset: pos,
            });
        }
        let data = numel
            .checked_mul(kind.elt_size_in_bytes())
            .and_then(|len| bytes.get(pos..pos.checked_add(len)?))
            .ok_or(PickleError {
                message: "truncated storage data".into(),
                offset: pos,
            })?;
        pos += data.len();
        out.push(Storage {
            kind,
            bytes: data.to_vec(),
        });
    }
    out.into_iter()
        .next()
        .map(|s| Value::Storage(Rc::new(s)))
        .ok_or(PickleError {
            message: "no storage in stream".into(),
            offset: pos,
        })
}

/// Decode a little-endian numpy buffer of dtype `code` (`<f8`, `f4`, `<i8`, …) into floats.
fn decode_numpy(code: &str, raw: &[u8], shape: &[usize]) -> Option<Value> {
    let code = code.trim_start_matches(['<', '|', '=']);
    let values: Vec<f64> = match code {
        "f8" => raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8")))
            .collect(),
        "f4" => raw
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4"))))
            .collect(),
        #[expect(clippy::cast_precision_loss, reason = "numpy ints in kwargs are small")]
        "i8" => raw
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8")) as f64)
            .collect(),
        "i4" => raw
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_le_bytes(c.try_into().expect("4"))))
            .collect(),
        "b1" | "u1" => raw.iter().map(|b| f64::from(*b)).collect(),
        _ => return None,
    };
    if shape.is_empty() && !values.is_empty() {
        return Some(match code {
            "f8" | "f4" => Value::Float(values[0]),
            #[expect(clippy::cast_possible_truncation, reason = "integral value")]
            _ => Value::Int(values[0] as i64),
        });
    }
    Some(Value::Array(Rc::new((shape.to_vec(), values))))
}

#[cfg(test)]
mod tests {
    use super::{MAX_DEPTH, MAX_NODES, load};

    /// A length that overflows the read position is an error (it was an overflow panic).
    #[test]
    fn a_huge_length_is_an_error() {
        let mut bytes = vec![0x8d];
        bytes.extend([0xff; 8]);
        let error = load(&bytes).unwrap_err();
        assert!(error.message.contains("unexpected end of data"), "{error}");
    }

    /// A numpy array that is never built is empty; as JSON it is null (it was an index panic).
    #[test]
    fn an_unbuilt_numpy_array_is_null() {
        let bytes = b"}(X\x01\x00\x00\x00kcnumpy.core.multiarray\n_reconstruct\n)Ru.";
        let (value, _) = load(bytes).unwrap();
        assert_eq!(value.to_json(), serde_json::json!({"k": null}));
    }

    /// A dict that holds itself (memo get, then set item) becomes JSON cut at [`MAX_DEPTH`] (it
    /// was an endless recursion).
    #[test]
    fn a_dict_holding_itself_is_cut_off() {
        let bytes = b"}q\x00X\x01\x00\x00\x00kh\x00s.";
        let (value, _) = load(bytes).unwrap();
        let mut json = value.to_json();
        let mut depth = 0;
        while let Some(inner) = json.get("k").cloned() {
            json = inner;
            depth += 1;
        }
        assert_eq!(depth, MAX_DEPTH + 1);
        assert!(json.is_null());
    }

    /// A tuple that holds one tuple twice, forty levels deep (2^40 leaves when walked), becomes
    /// JSON cut off after [`MAX_NODES`] (the fuzz test found such a pickle filling the memory).
    #[test]
    fn a_value_shared_many_times_is_cut_off() {
        let mut bytes = b"X\x01\x00\x00\x00aq\x00".to_vec();
        for i in 0..40u8 {
            bytes.extend([b'h', i, b'h', i, 0x86, b'q', i + 1]);
        }
        bytes.push(b'.');
        let (value, _) = load(&bytes).unwrap();
        let json = value.to_json();
        let text = json.to_string();
        assert!(text.len() < 8 * MAX_NODES, "{} bytes", text.len());
        assert!(text.starts_with("[[[[") && text.contains("\"a\"") && text.contains("null"));
    }

    /// Dicts keyed by dicts, nested: the key's text no longer doubles per level (the fuzz test
    /// found such a pickle asking for 8 GiB).
    #[test]
    fn a_dict_keyed_by_dicts_has_short_keys() {
        let mut bytes = b"X\x01\x00\x00\x00\\q\x00".to_vec();
        for i in 0..40u8 {
            // {value_i: value_i}
            bytes.extend([b'}', b'h', i, b'h', i, b's', b'q', i + 1]);
        }
        bytes.push(b'.');
        let (value, _) = load(&bytes).unwrap();
        let text = value.to_json().to_string();
        assert!(text.len() < 8 * MAX_NODES, "{} bytes", text.len());
        assert!(text.starts_with("{\"(…)\":"), "{}", &text[..40]);
    }
}
