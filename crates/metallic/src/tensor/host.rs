//! Moving data between host vectors and tensors: constructors that copy
//! host values into a new buffer, a zero-copy constructor over a memory map,
//! and gathers/scatters through any strided view.

use super::{layout, Tensor};
use crate::device::{Buffer, Device};
use crate::dtype::DType;
use crate::error::{Error, Result};
use half::{bf16, f16};
use std::sync::Arc;

impl Tensor {
    /// A contiguous tensor holding a copy of `values`.
    pub fn from_f32(device: &Device, values: &[f32], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_bytes(device, DType::F32, bytemuck::cast_slice(values), shape)
    }

    /// A contiguous f16 tensor holding a copy of `values`.
    pub fn from_f16(device: &Device, values: &[f16], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_bytes(device, DType::F16, bytemuck::cast_slice(values), shape)
    }

    /// A contiguous bf16 tensor holding a copy of `values`.
    pub fn from_bf16(device: &Device, values: &[bf16], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_bytes(device, DType::BF16, bytemuck::cast_slice(values), shape)
    }

    /// A contiguous tensor holding a copy of `bytes`, the raw little-endian
    /// encoding of `shape` (in elements) of `dtype`; for a quantized type the
    /// innermost dimension is a whole number of blocks.
    pub fn from_bytes(
        device: &Device,
        dtype: DType,
        bytes: &[u8],
        shape: &[usize],
    ) -> Result<Tensor> {
        expect_byte_len(dtype, shape, bytes.len())?;
        let buffer = Arc::new(Buffer::from_bytes(device, bytes)?);
        Tensor::from_parts(buffer, dtype, shape, &layout::contiguous_strides(shape), 0)
    }

    /// A contiguous tensor of `shape`, zero-filled.
    pub fn empty(device: &Device, dtype: DType, shape: &[usize]) -> Result<Tensor> {
        let len = expected_byte_len(dtype, shape)?;
        let buffer = Arc::new(Buffer::zeroed(device, len)?);
        Tensor::from_parts(buffer, dtype, shape, &layout::contiguous_strides(shape), 0)
    }

    /// A read-only contiguous host tensor over `map[byte_offset..byte_offset
    /// + byte_len]`, without copying (GGUF weights).
    pub fn from_mmap(
        map: Arc<memmap2::Mmap>,
        byte_offset: usize,
        byte_len: usize,
        dtype: DType,
        shape: &[usize],
    ) -> Result<Tensor> {
        expect_byte_len(dtype, shape, byte_len)?;
        let buffer = Arc::new(Buffer::from_mmap(map, byte_offset, byte_len)?);
        Tensor::from_parts(buffer, dtype, shape, &layout::contiguous_strides(shape), 0)
    }

    /// The view's values in row-major order as f32 (any strides; quantized
    /// types are dequantized).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        if !self.device().is_host() {
            return self.to_device(&Device::Cpu)?.to_f32_vec();
        }
        let bytes = self.buffer.read()?;
        let indices = self.element_indices();
        match self.dtype {
            DType::F32 => Ok(indices
                .map(|i| f32::from_le_bytes(element(&bytes, i)))
                .collect()),
            DType::F16 => Ok(indices
                .map(|i| f16::from_le_bytes(element(&bytes, i)).to_f32())
                .collect()),
            DType::BF16 => Ok(indices
                .map(|i| bf16::from_le_bytes(element(&bytes, i)).to_f32())
                .collect()),
            quantized => self.dequantized_rows(quantized, &bytes),
        }
    }

    /// Dequantizes a quantized view row by row: its innermost dimension is
    /// whole contiguous blocks, the outer ones any strides.
    fn dequantized_rows(&self, dtype: DType, bytes: &[u8]) -> Result<Vec<f32>> {
        let rank = self.rank();
        let inner = self.shape[rank - 1];
        let row_bytes = inner / dtype.block_size() * dtype.block_bytes();
        let mut out = vec![0.0f32; self.numel()];
        if inner == 0 {
            return Ok(out);
        }
        let rows = layout::StridedIndices::new(
            &self.shape[..rank - 1],
            &self.strides[..rank - 1],
            self.offset,
        );
        for (row, first) in out.chunks_exact_mut(inner).zip(rows) {
            let start = first / dtype.block_size() * dtype.block_bytes();
            crate::quant::dequantize_f32(dtype, &bytes[start..start + row_bytes], row)?;
        }
        Ok(out)
    }

    /// The view's values in row-major order as f16 (rounded from f32 or
    /// bf16).
    pub fn to_f16_vec(&self) -> Result<Vec<f16>> {
        match self.dtype {
            DType::F16 if self.device().is_host() => {
                let bytes = self.buffer.read()?;
                Ok(self
                    .element_indices()
                    .map(|i| f16::from_le_bytes(element(&bytes, i)))
                    .collect())
            }
            _ => Ok(self.to_f32_vec()?.into_iter().map(f16::from_f32).collect()),
        }
    }

    /// The view's values in row-major order as bf16 (rounded from f32 or
    /// f16).
    pub fn to_bf16_vec(&self) -> Result<Vec<bf16>> {
        match self.dtype {
            DType::BF16 if self.device().is_host() => {
                let bytes = self.buffer.read()?;
                Ok(self
                    .element_indices()
                    .map(|i| bf16::from_le_bytes(element(&bytes, i)))
                    .collect())
            }
            _ => Ok(self.to_f32_vec()?.into_iter().map(bf16::from_f32).collect()),
        }
    }

    /// Writes `values` (row-major over the view's shape) into the view's
    /// elements, rounding to its float dtype. Fails for quantized, broadcast
    /// or read-only views.
    pub fn write_f32(&self, values: &[f32]) -> Result<()> {
        if values.len() != self.numel() {
            return Err(Error::Shape(format!(
                "{} values for a view of shape {:?}",
                values.len(),
                self.shape
            )));
        }
        let width = self.plain_width("write into")?;
        let mut encoded = Vec::with_capacity(values.len() * width);
        for &v in values {
            match self.dtype {
                DType::F32 => encoded.extend_from_slice(&v.to_le_bytes()),
                DType::F16 => encoded.extend_from_slice(&f16::from_f32(v).to_le_bytes()),
                _ => encoded.extend_from_slice(&bf16::from_f32(v).to_le_bytes()),
            }
        }
        self.scatter(&encoded, width)
    }

    /// Copies `src` element by element into this view (same dtype and
    /// shape, any strides; `src` may share the buffer, it is read first).
    pub fn copy_from(&self, src: &Tensor) -> Result<()> {
        if src.dtype != self.dtype || src.shape != self.shape {
            return Err(Error::Shape(format!(
                "copy of {} {:?} into {} {:?}",
                src.dtype, src.shape, self.dtype, self.shape
            )));
        }
        let width = self.plain_width("copy into")?;
        let gathered: Vec<u8> = {
            let bytes = src.buffer.read()?;
            src.element_indices()
                .flat_map(|i| &bytes[i * width..(i + 1) * width])
                .copied()
                .collect()
        };
        self.scatter(&gathered, width)
    }

    /// Element size of a plain float view that may be written element by
    /// element (no quantized blocks, no broadcast dimension).
    fn plain_width(&self, what: &str) -> Result<usize> {
        if self.dtype.is_quantized() {
            return Err(Error::Unsupported(format!("{what} a {} view", self.dtype)));
        }
        let broadcast = self
            .shape
            .iter()
            .zip(&self.strides)
            .any(|(&d, &s)| d > 1 && s == 0);
        if broadcast {
            return Err(Error::InvalidArgument(format!(
                "cannot {what} a broadcast view (strides {:?})",
                self.strides
            )));
        }
        Ok(self.dtype.block_bytes())
    }

    /// Writes `width`-byte elements from `encoded` to the view's positions.
    fn scatter(&self, encoded: &[u8], width: usize) -> Result<()> {
        let mut bytes = self.buffer.write()?;
        for (i, value) in self.element_indices().zip(encoded.chunks_exact(width)) {
            bytes[i * width..(i + 1) * width].copy_from_slice(value);
        }
        Ok(())
    }
}

/// The `N` bytes of element `index` (views are bounds-checked when made).
fn element<const N: usize>(bytes: &[u8], index: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[index * N..(index + 1) * N]);
    out
}

/// Bytes a contiguous `shape` of `dtype` takes.
fn expected_byte_len(dtype: DType, shape: &[usize]) -> Result<usize> {
    let numel = layout::checked_numel(shape)?;
    let inner = shape.last().copied().unwrap_or(1);
    if inner % dtype.block_size() != 0 {
        return Err(Error::Shape(format!(
            "{dtype} shape {shape:?}: innermost dimension is not a whole number of {}-value blocks",
            dtype.block_size()
        )));
    }
    dtype
        .bytes_for(numel)
        .ok_or_else(|| Error::Shape(format!("{dtype} shape {shape:?} is too large")))
}

fn expect_byte_len(dtype: DType, shape: &[usize], len: usize) -> Result<()> {
    let expected = expected_byte_len(dtype, shape)?;
    if expected != len {
        return Err(Error::Shape(format!(
            "{dtype} shape {shape:?} takes {expected} bytes, got {len}"
        )));
    }
    Ok(())
}
