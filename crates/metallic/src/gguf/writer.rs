//! Writes GGUF files (v3 by default), for tests and tools that make small
//! models: metadata and tensors in the order given, each tensor's data
//! aligned to `general.alignment` (32 when absent).

use std::fs;
use std::path::Path;

use super::value::{write_string, write_value, Value};
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Builder: `GgufWriter::new().metadata(k, v).tensor(name, dims, dtype, bytes).write_to(path)`.
#[derive(Clone, Debug)]
pub struct GgufWriter {
    version: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor>,
}

#[derive(Clone, Debug)]
struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    dtype: DType,
    bytes: Vec<u8>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        GgufWriter {
            version: 3,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The version field to write (2 and 3 share one layout).
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// A tensor with `dims` in GGUF order (row length first) and its raw
    /// bytes in `dtype`'s encoding.
    pub fn tensor(
        mut self,
        name: impl Into<String>,
        dims: &[u64],
        dtype: DType,
        bytes: impl Into<Vec<u8>>,
    ) -> Self {
        self.tensors.push(PendingTensor {
            name: name.into(),
            dims: dims.to_vec(),
            dtype,
            bytes: bytes.into(),
        });
        self
    }

    /// An F32 tensor from its values.
    pub fn tensor_f32(self, name: impl Into<String>, dims: &[u64], values: &[f32]) -> Self {
        self.tensor(
            name,
            dims,
            DType::F32,
            bytemuck::cast_slice(values).to_vec(),
        )
    }

    /// The file's bytes. Fails when a tensor's byte count does not match its
    /// dimensions and type, an array mixes item types, or the alignment is
    /// not a power of two.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let alignment = self.alignment()?;
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            write_string(&mut out, key);
            out.extend_from_slice(&value.type_id().to_le_bytes());
            write_value(&mut out, value, key)?;
        }
        let mut offset = 0usize;
        for t in &self.tensors {
            let n = t
                .dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .and_then(|n| usize::try_from(n).ok());
            if n.and_then(|n| t.dtype.bytes_for(n)) != Some(t.bytes.len()) {
                return Err(Error::InvalidArgument(format!(
                    "tensor `{}`: {} bytes do not hold {:?} {} values",
                    t.name,
                    t.bytes.len(),
                    t.dims,
                    t.dtype
                )));
            }
            write_string(&mut out, &t.name);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.dtype.gguf_id().to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset = (offset + t.bytes.len()).next_multiple_of(alignment);
        }
        for t in &self.tensors {
            out.resize(out.len().next_multiple_of(alignment), 0);
            out.extend_from_slice(&t.bytes);
        }
        Ok(out)
    }

    /// Writes the file under a temporary name beside `path`, then renames
    /// it, so `path` never holds a partial file.
    pub fn write_to(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        fs::write(&tmp, &bytes)
            .and_then(|()| fs::rename(&tmp, path))
            .map_err(|e| {
                // Best effort: the temporary file may not exist.
                let _ = fs::remove_file(&tmp);
                Error::io(path, e)
            })
    }

    fn alignment(&self) -> Result<usize> {
        let Some((_, value)) = self.metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) else {
            return Ok(DEFAULT_ALIGNMENT);
        };
        value
            .as_u64()
            .map(|a| a as usize)
            .filter(|a| a.is_power_of_two())
            .ok_or_else(|| {
                Error::InvalidArgument(format!("`{ALIGNMENT_KEY}` {value:?} is not a power of two"))
            })
    }
}
