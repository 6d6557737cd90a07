//! GGUF, the model file format of llama.cpp: a header, typed metadata, a
//! tensor index, then aligned tensor data. [`GgufFile`] reads and checks a
//! file (v2 and v3, little-endian) and hands out zero-copy tensor views;
//! [`writer::GgufWriter`] writes one (tests build tiny models with it).

pub mod array;
mod cursor;
pub mod file_type;
pub mod reader;
pub mod tensor_info;
pub mod value;
pub mod writer;

pub use array::Array;
pub use file_type::{file_type_name, FILE_TYPE_KEY};
pub use reader::GgufFile;
pub use tensor_info::TensorInfo;
pub use value::Value;
pub use writer::GgufWriter;

/// The first four bytes of every GGUF file.
pub const MAGIC: &[u8; 4] = b"GGUF";
/// The metadata key that sets the data alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// The alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: usize = 32;

#[cfg(test)]
mod tests;
