//! Token embedding lookup: rows of a table in any GGUF type (quantized
//! included), dequantized to f32 one row at a time.

use super::cpu_rows::{expect_shape, write_rows};
use super::dispatch::{self, OpShape};
use super::step_input::StepInput;
use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::quant::dequantize_f32;
use crate::tensor::Tensor;
use std::sync::Mutex;

impl Context {
    /// Writes row `ids[i]` of `table` [vocab, n] into row i of `out`
    /// [ids.len(), n] (f32). An id outside the table is an error.
    pub fn embedding(&self, table: &Tensor, ids: &[u32], out: &Tensor) -> Result<()> {
        let shape = check(table, ids.len(), out)?;
        let vocab = shape.k;
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(Error::InvalidArgument(format!(
                "token id {bad} is outside the embedding table's {vocab} rows"
            )));
        }
        dispatch::run(self, "embedding", shape, || match self.device() {
            Device::Cpu => embedding_cpu(table, ids, out),
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => super::cuda_dispatch::embedding(table, ids, out),
        })
    }

    /// `embedding` of the token ids of `step`, read where the device keeps
    /// them (so a captured step replays with the ids set later).
    pub fn embed(&self, table: &Tensor, step: &StepInput, out: &Tensor) -> Result<()> {
        let shape = check(table, step.seq(), out)?;
        if step.vocab() > shape.k {
            return Err(Error::InvalidArgument(format!(
                "a step input of {} ids for an embedding table of {} rows",
                step.vocab(),
                shape.k
            )));
        }
        dispatch::run(self, "embedding", shape, || match self.device() {
            Device::Cpu => embedding_cpu(table, step.ids(), out),
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => {
                let indices = step
                    .cuda()
                    .ok_or_else(|| Error::Device("a step input made for another device".into()))?;
                super::cuda_dispatch::embedding_at(table, indices, out)
            }
        })
    }
}

/// Checks `table` [vocab, n] and `out` [seq, n]; the op's shape, with the
/// vocabulary as `k`.
fn check(table: &Tensor, seq: usize, out: &Tensor) -> Result<OpShape> {
    let &[vocab, n] = table.shape() else {
        return Err(Error::Shape(format!(
            "an embedding table is [vocab, n], got {:?}",
            table.shape()
        )));
    };
    expect_shape(out, &[seq, n], "out")?;
    if n > 1 && table.strides()[1] != 1 {
        return Err(Error::Layout {
            operand: "table",
            detail: format!("rows are not contiguous (strides {:?})", table.strides()),
        });
    }
    let dtype = table.dtype();
    dtype
        .bytes_for(n)
        .ok_or_else(|| Error::Shape(format!("{n} values are not whole {dtype} blocks")))?;
    Ok(OpShape {
        rows: seq,
        cols: n,
        k: vocab,
    })
}

/// Rows `ids` (each below the table's rows) of `table` into `out`.
fn embedding_cpu(table: &Tensor, ids: &[u32], out: &Tensor) -> Result<()> {
    let dtype = table.dtype();
    let n = table.shape()[1];
    let row_bytes = dtype
        .bytes_for(n)
        .ok_or_else(|| Error::Shape(format!("{n} values are not whole {dtype} blocks")))?;
    let bytes = table.buffer().read()?;
    let failure = Mutex::new(None);
    let mut out_bytes = out.buffer().write()?;
    write_rows(&mut out_bytes, out, |i, dst| {
        // Quantized views keep whole blocks, so a row starts on a block.
        let first = table.offset() + ids[i] as usize * table.strides()[0];
        let start = first / dtype.block_size() * dtype.block_bytes();
        if let Err(e) = dequantize_f32(dtype, &bytes[start..start + row_bytes], dst) {
            *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
    })?;
    failure
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .map_or(Ok(()), Err)
}
