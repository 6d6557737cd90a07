//! Embedding lookup from a float or quantized table.

use super::{check_float, check_rows, key, BatchIndices, BLOCK};
use crate::device::cuda::{launch, u32_of, Arg, CudaBuffer, KernelSource};
use crate::dtype::DType;
use crate::error::{Error, Result};

static SOURCE: KernelSource = KernelSource {
    name: "embedding",
    text: include_str!("embedding.cu"),
};

/// out row i = table row ids[i] (the ids of `indices`), decoded to `act`.
/// The table has `vocab` rows of `dim` values of `table_dtype` (F32, F16,
/// BF16, Q8_0, Q5_0, Q4_K or Q6_K); `indices` keeps its ids below its own
/// vocabulary, which may not exceed `vocab`.
pub fn embedding(
    out: &mut CudaBuffer,
    act: DType,
    table: &CudaBuffer,
    table_dtype: DType,
    vocab: usize,
    dim: usize,
    indices: &BatchIndices,
) -> Result<()> {
    check_float(act, "embedding out")?;
    check_table_dtype(table_dtype)?;
    let row_bytes = table_dtype.bytes_for(dim).ok_or_else(|| {
        Error::Shape(format!(
            "embedding rows of {dim} values are not whole {table_dtype} blocks"
        ))
    })?;
    check_rows(table, table_dtype, vocab, dim, dim, "embedding table")?;
    let seq = indices.seq();
    check_rows(out, act, seq, dim, dim, "embedding out")?;
    if indices.vocab() > vocab {
        return Err(Error::InvalidArgument(format!(
            "embedding: ids up to {} for a table of {vocab} rows",
            indices.vocab()
        )));
    }
    if dim == 0 {
        return Ok(());
    }
    let device = out.device().clone();
    device.check_buffers(&[table], "embedding")?;
    indices.check_device(&device, "embedding")?;
    let args = [
        Arg::Ptr(out.device_ptr()),
        Arg::Ptr(table.device_ptr()),
        Arg::Ptr(indices.ids_ptr()),
        Arg::U32(u32_of(dim, "dim")?),
        Arg::U64(row_bytes as u64),
        Arg::U32(u32_of(dim, "out row stride")?),
    ];
    // SAFETY: the arguments follow `embedding` in embedding.cu; one block per
    // id, every id below vocab (`indices` checks them when set), and table
    // and out were checked to hold every row.
    unsafe {
        launch(
            &device,
            key(&SOURCE, "embedding", act, table_dtype),
            (u32_of(seq, "ids")?, 1, 1),
            BLOCK,
            &args,
        )
    }
}

/// The table and weight types the device decoders read.
pub(super) fn check_table_dtype(dtype: DType) -> Result<()> {
    match dtype {
        DType::F32
        | DType::F16
        | DType::BF16
        | DType::Q8_0
        | DType::Q5_0
        | DType::Q4_K
        | DType::Q6_K => Ok(()),
        other => Err(Error::Unsupported(format!(
            "decoding {other} on CUDA (F32, F16, BF16, Q8_0, Q5_0, Q4_K, Q6_K)"
        ))),
    }
}
