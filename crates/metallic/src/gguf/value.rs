//! GGUF metadata values: the thirteen value types, their encoding in the
//! file (read and write), typed accessors, and JSON for `inspect --json`.

use std::fmt;

use super::array::Array;
use super::cursor::Cursor;
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    /// Items of one type; read from a file, they stay encoded until used.
    Array(Array),
}

// Type ids of GGUF's `gguf_metadata_value_type`.
const U8: u32 = 0;
const I8: u32 = 1;
const U16: u32 = 2;
const I16: u32 = 3;
const U32: u32 = 4;
const I32: u32 = 5;
const F32: u32 = 6;
const BOOL: u32 = 7;
const STRING: u32 = 8;
const ARRAY: u32 = 9;
const U64: u32 = 10;
const I64: u32 = 11;
const F64: u32 = 12;

/// Arrays nest at most this deep: deeper nesting only serves to exhaust the
/// parser's stack.
const MAX_ARRAY_DEPTH: usize = 16;

/// Items an array shows in `Display` before it is summarised.
const DISPLAY_ARRAY_ITEMS: usize = 8;

impl Value {
    /// The value's GGUF type id.
    pub(crate) fn type_id(&self) -> u32 {
        match self {
            Value::U8(_) => U8,
            Value::I8(_) => I8,
            Value::U16(_) => U16,
            Value::I16(_) => I16,
            Value::U32(_) => U32,
            Value::I32(_) => I32,
            Value::U64(_) => U64,
            Value::I64(_) => I64,
            Value::F32(_) => F32,
            Value::F64(_) => F64,
            Value::Bool(_) => BOOL,
            Value::String(_) => STRING,
            Value::Array(_) => ARRAY,
        }
    }

    /// The type's name as GGUF tools print it (`u32`, `string`, `array`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
        }
    }

    /// Any integer that is non-negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer that fits an i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// A float, or an integer read as one (converters write some float keys
    /// as integers).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The full value as JSON. Non-finite floats, which JSON cannot hold,
    /// become `null`. (A large array is better streamed through
    /// `Serialize`, which decodes one item at a time.)
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// As JSON would hold it: numbers, booleans, strings, arrays (serde_json
/// writes non-finite floats as `null`).
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::U8(v) => s.serialize_u8(*v),
            Value::I8(v) => s.serialize_i8(*v),
            Value::U16(v) => s.serialize_u16(*v),
            Value::I16(v) => s.serialize_i16(*v),
            Value::U32(v) => s.serialize_u32(*v),
            Value::I32(v) => s.serialize_i32(*v),
            Value::U64(v) => s.serialize_u64(*v),
            Value::I64(v) => s.serialize_i64(*v),
            Value::F32(v) => s.serialize_f64(f64::from(*v)),
            Value::F64(v) => s.serialize_f64(*v),
            Value::Bool(v) => s.serialize_bool(*v),
            Value::String(v) => s.serialize_str(v),
            Value::Array(items) => s.collect_seq(items.iter()),
        }
    }
}

/// `Value::from(3u32)`, `Value::from("qwen2")`, …: short metadata in tests
/// and tools.
macro_rules! value_from {
    ($($t:ty => $variant:ident),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant(v.into())
            }
        }
    )*};
}

value_from!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64,
    i64 => I64, f32 => F32, f64 => F64, bool => Bool, String => String, &str => String,
    Vec<Value> => Array);

/// Human form: strings bare at top level, arrays longer than a few items
/// summarised with their length.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U8(v) => write!(f, "{v}"),
            Value::I8(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::I16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::I32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::String(s) => f.write_str(s),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().take(DISPLAY_ARRAY_ITEMS).enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match &item {
                        Value::String(s) => write!(f, "{s:?}")?,
                        other => write!(f, "{other}")?,
                    }
                }
                if items.len() > DISPLAY_ARRAY_ITEMS {
                    write!(f, ", … ({} items)", items.len())?;
                }
                f.write_str("]")
            }
        }
    }
}

/// The fewest bytes a value of this type takes in the file, or `None` for
/// an unknown type id.
fn min_encoded_bytes(type_id: u32) -> Option<usize> {
    Some(match type_id {
        U8 | I8 | BOOL => 1,
        U16 | I16 => 2,
        U32 | I32 | F32 => 4,
        U64 | I64 | F64 | STRING => 8,
        ARRAY => 12,
        _ => return None,
    })
}

/// Reads one value of GGUF type `type_id`; `key` names it in errors.
pub(crate) fn read_value(cur: &mut Cursor<'_>, type_id: u32, key: &str) -> Result<Value> {
    read_nested(cur, type_id, key, 0)
}

pub(crate) fn read_nested(
    cur: &mut Cursor<'_>,
    type_id: u32,
    key: &str,
    depth: usize,
) -> Result<Value> {
    let what = || format!("value of `{key}`");
    Ok(match type_id {
        U8 => Value::U8(cur.u8(&what())?),
        I8 => Value::I8(cur.u8(&what())? as i8),
        U16 => Value::U16(cur.u16(&what())?),
        I16 => Value::I16(cur.u16(&what())? as i16),
        U32 => Value::U32(cur.u32(&what())?),
        I32 => Value::I32(cur.u32(&what())? as i32),
        U64 => Value::U64(cur.u64(&what())?),
        I64 => Value::I64(cur.u64(&what())? as i64),
        F32 => Value::F32(f32::from_bits(cur.u32(&what())?)),
        F64 => Value::F64(f64::from_bits(cur.u64(&what())?)),
        BOOL => {
            let at = cur.position();
            match cur.u8(&what())? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(Error::Format(format!(
                        "`{key}`: bool at byte {at} is {b}, not 0 or 1"
                    )))
                }
            }
        }
        STRING => Value::String(cur.string(&what())?),
        ARRAY => Value::Array(read_array(cur, key, depth)?),
        other => {
            return Err(Error::Format(format!(
                "`{key}`: unknown value type {other} before byte {}",
                cur.position()
            )))
        }
    })
}

/// Reads an array's header and checks its items, decoding none: the array
/// keeps their bytes.
fn read_array(cur: &mut Cursor<'_>, key: &str, depth: usize) -> Result<Array> {
    if depth >= MAX_ARRAY_DEPTH {
        return Err(Error::Format(format!(
            "`{key}`: arrays nested more than {MAX_ARRAY_DEPTH} deep"
        )));
    }
    let at = cur.position();
    let item_type = cur.u32(&format!("array item type of `{key}`"))?;
    let item_bytes = min_encoded_bytes(item_type).ok_or_else(|| {
        Error::Format(format!(
            "`{key}`: unknown array item type {item_type} at byte {at}"
        ))
    })?;
    let n = cur.count(item_bytes, &format!("array length of `{key}`"))?;
    let start = cur.position();
    let what = || format!("array item of `{key}`");
    match item_type {
        BOOL => {
            for (i, &b) in cur.take(n, &what())?.iter().enumerate() {
                if b > 1 {
                    return Err(Error::Format(format!(
                        "`{key}`: bool at byte {} is {b}, not 0 or 1",
                        start + i
                    )));
                }
            }
        }
        STRING => {
            for _ in 0..n {
                cur.str(&what())?;
            }
        }
        ARRAY => {
            for _ in 0..n {
                read_array(cur, key, depth + 1)?;
            }
        }
        // A fixed-size type: its least size is its size, and `count`
        // checked that n of them fit what is left.
        _ => {
            cur.take(n * item_bytes, &what())?;
        }
    }
    Ok(Array::encoded(item_type, n, cur.since(start)))
}

/// Appends the value's encoding (without its type id) to `out`. Array items
/// must share one type; an empty array is written as an array of u8.
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value, key: &str) -> Result<()> {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            let item_type = items.item_type().unwrap_or(U8);
            if items.iter().any(|v| v.type_id() != item_type) {
                return Err(Error::InvalidArgument(format!(
                    "metadata `{key}`: array items of different types"
                )));
            }
            out.extend_from_slice(&item_type.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items.iter() {
                write_value(out, &item, key)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_type() -> Vec<Value> {
        vec![
            Value::U8(200),
            Value::I8(-100),
            Value::U16(60000),
            Value::I16(-30000),
            Value::U32(4_000_000_000),
            Value::I32(-2_000_000_000),
            Value::U64(u64::MAX - 1),
            Value::I64(i64::MIN + 1),
            Value::F32(1.5e-6),
            Value::F64(-2.25e300),
            Value::Bool(true),
            Value::String("héllo".into()),
            Value::from(vec![
                Value::from(vec![Value::I32(1), Value::I32(-2)]),
                Value::from(Vec::new()),
            ]),
            Value::from(vec![Value::Bool(false), Value::Bool(true)]),
            Value::from(vec![Value::from("a"), Value::from("")]),
        ]
    }

    #[test]
    fn every_type_round_trips() {
        for v in every_type() {
            let mut bytes = Vec::new();
            write_value(&mut bytes, &v, "k").unwrap();
            let mut cur = Cursor::new(&bytes);
            assert_eq!(read_value(&mut cur, v.type_id(), "k").unwrap(), v);
            assert_eq!(cur.remaining(), 0, "{v:?} left bytes unread");
        }
    }

    #[test]
    fn accessors_convert_only_what_fits() {
        assert_eq!(Value::I32(-1).as_u64(), None);
        assert_eq!(Value::I32(7).as_u64(), Some(7));
        assert_eq!(Value::U64(u64::MAX).as_i64(), None);
        assert_eq!(Value::U32(3).as_f64(), Some(3.0));
        assert_eq!(Value::String("x".into()).as_u64(), None);
        assert_eq!(Value::Bool(true).as_bool(), Some(true));
        assert_eq!(Value::U8(1).as_bool(), None);
        assert_eq!(Value::from("q"), Value::String("q".into()));
        assert_eq!(Value::from(-3i16), Value::I16(-3));
    }

    #[test]
    fn json_keeps_full_values() {
        let big = Value::from((0..100).map(Value::U16).collect::<Vec<_>>());
        assert_eq!(big.to_json().as_array().unwrap().len(), 100);
        assert_eq!(Value::U64(u64::MAX).to_json(), serde_json::json!(u64::MAX));
        assert_eq!(Value::I8(-3).to_json(), serde_json::json!(-3));
        assert_eq!(Value::F32(f32::NAN).to_json(), serde_json::Value::Null);
        assert!(big.to_string().ends_with(", … (100 items)]"));
    }

    #[test]
    fn bad_encodings_are_errors() {
        let mut cur = Cursor::new(&[2]);
        assert!(read_value(&mut cur, BOOL, "b")
            .unwrap_err()
            .to_string()
            .contains("not 0 or 1"));
        assert!(read_value(&mut Cursor::new(&[]), 13, "k").is_err());
        // An array of 2^60 u32s in a 12-byte buffer.
        let mut bytes = U32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
        let err = read_value(&mut Cursor::new(&bytes), ARRAY, "a").unwrap_err();
        assert!(err.to_string().contains("array length"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = Vec::new();
        for _ in 0..1000 {
            bytes.extend_from_slice(&ARRAY.to_le_bytes());
            bytes.extend_from_slice(&1u64.to_le_bytes());
        }
        let err = read_value(&mut Cursor::new(&bytes), ARRAY, "deep").unwrap_err();
        assert!(err.to_string().contains("nested"), "{err}");
    }
}
