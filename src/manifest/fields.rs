//! The field names a wire struct accepts, read from its `Deserialize` impl.
//!
//! The wire structs are the single source of truth for which keys exist. To list them (for
//! "did you mean" suggestions and for checking every unknown key of a file at once) we drive the
//! derived `Deserialize` impl with a deserializer that only records the `fields` argument serde
//! passes to `deserialize_struct`, then aborts.

use serde::de::{self, Deserialize, Visitor};

/// The keys `T` accepts, in declaration order.
pub fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut recorder = FieldRecorder { fields: &[] };
    // The recorder always aborts after recording; the result is the recorded list.
    let _ = T::deserialize(&mut recorder);
    recorder.fields
}

struct FieldRecorder {
    fields: &'static [&'static str],
}

#[derive(Debug)]
struct Recorded;

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names recorded")
    }
}

impl std::error::Error for Recorded {}

impl de::Error for Recorded {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        Recorded
    }
}

impl<'de> de::Deserializer<'de> for &mut FieldRecorder {
    type Error = Recorded;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Recorded> {
        self.fields = fields;
        Err(Recorded)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Recorded> {
        Err(Recorded)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::field_names;
    use crate::manifest::wire::{DataWire, TrainWire};

    #[test]
    fn lists_the_declared_fields() {
        assert_eq!(
            field_names::<DataWire>(),
            ["path", "cond", "mirror", "max_size", "resolution"]
        );
        assert!(field_names::<TrainWire>().contains(&"mbstd_group"));
    }
}
