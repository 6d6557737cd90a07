//! Metadata arrays. An array read from a file keeps its items encoded as
//! the file holds them (checked once, when read) and decodes an item only
//! when asked: the large arrays a file may carry that the engine never uses
//! (or a hostile file's) cost their size in the file, not the thirty-odd
//! times more that decoded values take.

use std::sync::Arc;

use super::cursor::Cursor;
use super::value::{read_nested, Value};

/// A metadata array: items of one GGUF type.
#[derive(Clone, Debug)]
pub struct Array(Items);

#[derive(Clone, Debug)]
enum Items {
    /// Built in memory (by tests, tools and the writer's callers).
    Values(Vec<Value>),
    /// Read from a file: `len` items of GGUF type `item_type`, encoded in
    /// `bytes`, which were checked to decode.
    Encoded {
        item_type: u32,
        len: usize,
        bytes: Arc<[u8]>,
    },
}

impl Array {
    /// An array over `len` items of `item_type` encoded in `bytes`, which
    /// the caller has checked decode to exactly that.
    pub(crate) fn encoded(item_type: u32, len: usize, bytes: &[u8]) -> Array {
        Array(Items::Encoded {
            item_type,
            len,
            bytes: bytes.into(),
        })
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Items::Values(values) => values.len(),
            Items::Encoded { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items in order, each decoded as it is reached.
    pub fn iter(&self) -> ArrayIter<'_> {
        ArrayIter(match &self.0 {
            Items::Values(values) => Iter::Values(values.iter()),
            Items::Encoded {
                item_type,
                len,
                bytes,
            } => Iter::Encoded {
                cursor: Cursor::new(bytes),
                item_type: *item_type,
                left: *len,
            },
        })
    }

    /// The GGUF type id of the items; `None` for an empty in-memory array.
    pub(crate) fn item_type(&self) -> Option<u32> {
        match &self.0 {
            Items::Values(values) => values.first().map(Value::type_id),
            Items::Encoded { item_type, .. } => Some(*item_type),
        }
    }
}

impl From<Vec<Value>> for Array {
    fn from(values: Vec<Value>) -> Array {
        Array(Items::Values(values))
    }
}

impl FromIterator<Value> for Array {
    fn from_iter<I: IntoIterator<Item = Value>>(items: I) -> Array {
        Array(Items::Values(items.into_iter().collect()))
    }
}

/// Equal items, however each array holds them.
impl PartialEq for Array {
    fn eq(&self, other: &Array) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// The items of an [`Array`], decoded one by one.
pub struct ArrayIter<'a>(Iter<'a>);

enum Iter<'a> {
    Values(std::slice::Iter<'a, Value>),
    Encoded {
        cursor: Cursor<'a>,
        item_type: u32,
        left: usize,
    },
}

impl Iterator for ArrayIter<'_> {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        match &mut self.0 {
            Iter::Values(values) => values.next().cloned(),
            Iter::Encoded {
                cursor,
                item_type,
                left,
            } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                // The bytes were checked to decode to `len` items when the
                // file was read, so decoding them again cannot fail.
                Some(
                    read_nested(cursor, *item_type, "array item", 0)
                        .unwrap_or_else(|e| unreachable!("a checked array failed to decode: {e}")),
                )
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match &self.0 {
            Iter::Values(values) => values.len(),
            Iter::Encoded { left, .. } => *left,
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for ArrayIter<'_> {}
