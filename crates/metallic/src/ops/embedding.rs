//! Token embedding lookup: rows of a table in any GGUF type (quantized
//! included), dequantized to f32 one row at a time.

use super::cpu_dispatch::{self, OpShape};
use super::cpu_rows::{expect_shape, write_rows};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::quant::dequantize_f32;
use crate::tensor::Tensor;
use std::sync::Mutex;

impl Context {
    /// Writes row `ids[i]` of `table` [vocab, n] into row i of `out`
    /// [ids.len(), n] (f32). An id outside the table is an error.
    pub fn embedding(&self, table: &Tensor, ids: &[u32], out: &Tensor) -> Result<()> {
        let &[vocab, n] = table.shape() else {
            return Err(Error::Shape(format!(
                "an embedding table is [vocab, n], got {:?}",
                table.shape()
            )));
        };
        expect_shape(out, &[ids.len(), n], "out")?;
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(Error::InvalidArgument(format!(
                "token id {bad} is outside the embedding table's {vocab} rows"
            )));
        }
        if n > 1 && table.strides()[1] != 1 {
            return Err(Error::Layout {
                operand: "table",
                detail: format!("rows are not contiguous (strides {:?})", table.strides()),
            });
        }
        let dtype = table.dtype();
        let row_bytes = dtype
            .bytes_for(n)
            .ok_or_else(|| Error::Shape(format!("{n} values are not whole {dtype} blocks")))?;
        let shape = OpShape {
            rows: ids.len(),
            cols: n,
            k: vocab,
        };
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            return super::cuda_dispatch::embedding(table, ids, out);
        }
        cpu_dispatch::run(self, "embedding", shape, || {
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
        })
    }
}
