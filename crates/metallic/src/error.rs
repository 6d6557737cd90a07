//! The one error type of the engine. Every public call returns `Result<T>`;
//! bad input (files, shapes, strides, options) becomes an `Error` that names
//! the problem, never a panic.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A GGUF file (or another model file) is malformed: the message names
    /// what is wrong and where.
    #[error("invalid model file: {0}")]
    Format(String),
    /// A model configuration key is missing or inconsistent.
    #[error("model config: key `{key}`: {detail}")]
    Config { key: String, detail: String },
    /// Operand shapes do not fit the operation.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An operand's strides fit no layout the operation accepts.
    #[error("operand `{operand}` has an unsupported layout: {detail}")]
    Layout {
        operand: &'static str,
        detail: String,
    },
    /// A dtype, device or feature the operation does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    /// Fetching or verifying the default model failed.
    #[error("model fetch: {0}")]
    Fetch(String),
    /// A device (driver, compiler, library, memory) failed.
    #[error("device: {0}")]
    Device(String),
    /// An argument or option is out of its valid range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
