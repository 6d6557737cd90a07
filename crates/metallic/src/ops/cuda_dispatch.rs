//! How a Context op runs when its tensors live on a CUDA device: the one
//! place that turns tensors into the `ops::cuda` launchers' buffers, dtypes
//! and row shapes. The kernels address whole buffers, so a tensor here must
//! start at offset 0 with unit-stride rows (only `copy` takes offsets).

use super::attention::AttentionInput;
use super::cuda::{self as kernels, AttentionShape, BatchIndices, RopeShape, RowLayout};
use crate::device::cuda::CudaDevice;
use crate::device::cuda::CudaStorage;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

fn storage<'a>(t: &'a Tensor, what: &str) -> Result<&'a CudaStorage> {
    t.buffer().cuda().ok_or_else(|| {
        Error::Device(format!(
            "{what} is in host memory; a CUDA Context needs it on the GPU (Tensor::to_device)"
        ))
    })
}

/// `t` as rows of its last dimension (a row stride of 0 repeats one row).
fn rows(t: &Tensor, what: &str) -> Result<RowLayout> {
    if t.offset() != 0 {
        return Err(Error::Unsupported(format!(
            "{what}: a view at element offset {} on CUDA (the kernels address whole buffers)",
            t.offset()
        )));
    }
    let cols = t.shape().last().copied().unwrap_or(1);
    let rows = t.numel() / cols.max(1);
    let flat = t.reshape(&[rows, cols]).map_err(|_| Error::Layout {
        operand: "tensor",
        detail: format!(
            "{what}: shape {:?} strides {:?} is not one stride of rows",
            t.shape(),
            t.strides()
        ),
    })?;
    if cols > 1 && flat.strides()[1] != 1 {
        return Err(Error::Layout {
            operand: "tensor",
            detail: format!("{what}: rows are not contiguous ({:?})", t.strides()),
        });
    }
    Ok(RowLayout {
        rows,
        cols,
        row_stride: if rows > 1 { flat.strides()[0] } else { cols },
    })
}

/// `t` as densely packed rows (what kernel outputs write).
fn dense_rows(t: &Tensor, what: &str) -> Result<RowLayout> {
    let r = rows(t, what)?;
    if r.rows > 1 && r.row_stride != r.cols {
        return Err(Error::Layout {
            operand: "tensor",
            detail: format!("{what}: rows {} apart, not packed", r.row_stride),
        });
    }
    Ok(r)
}

fn same_dtype(a: &Tensor, b: &Tensor, what: &str) -> Result<()> {
    if a.dtype() != b.dtype() {
        return Err(Error::InvalidArgument(format!(
            "{what}: {} and {} differ",
            a.dtype(),
            b.dtype()
        )));
    }
    Ok(())
}

fn same_view(a: &Tensor, b: &Tensor) -> bool {
    a.shares_buffer(b) && a.offset() == b.offset() && a.strides() == b.strides()
}

pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f32, out: &Tensor) -> Result<()> {
    same_dtype(x, out, "rms_norm x and out")?;
    let shape = rows(x, "rms_norm x")?;
    dense_rows(out, "rms_norm out")?;
    dense_rows(weight, "rms_norm weight")?;
    let (x_s, w_s) = (storage(x, "x")?, storage(weight, "weight")?);
    let mut o = storage(out, "out")?.write()?;
    let (xb, wb) = (x_s.read()?, w_s.read()?);
    kernels::rms_norm(&mut o, &xb, x.dtype(), shape, &wb, weight.dtype(), eps)
}

/// `out` = `a` + `b` (`b` already broadcast to `a`'s shape): `a` copied into
/// `out` unless they are the same view, then `b`'s rows added in place.
pub(crate) fn add(a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    same_dtype(a, out, "add a and out")?;
    let shape = dense_rows(out, "add out")?;
    if !same_view(a, out) {
        copy(a, out)?;
    }
    // A bias broadcast over rows has row stride 0: one row added to each.
    let y_stride = rows(b, "add b")?.row_stride;
    let b_s = storage(b, "b")?;
    let mut o = storage(out, "out")?.write()?;
    let bb = b_s.read()?;
    kernels::add_rows(&mut o, out.dtype(), shape, &bb, b.dtype(), y_stride)
}

pub(crate) fn swiglu(gate: &Tensor, up: &Tensor, out: &Tensor) -> Result<()> {
    same_dtype(gate, up, "swiglu gate and up")?;
    same_dtype(gate, out, "swiglu gate and out")?;
    let shape = dense_rows(out, "swiglu out")?;
    dense_rows(gate, "swiglu gate")?;
    dense_rows(up, "swiglu up")?;
    let (g_s, u_s) = (storage(gate, "gate")?, storage(up, "up")?);
    let mut o = storage(out, "out")?.write()?;
    let (gb, ub) = (g_s.read()?, u_s.read()?);
    kernels::swiglu(&mut o, &gb, &ub, gate.dtype(), shape.rows, shape.cols)
}

/// A copy between contiguous views (offsets allowed): one device memcpy.
pub(crate) fn copy(src: &Tensor, dst: &Tensor) -> Result<()> {
    same_dtype(src, dst, "copy src and dst")?;
    if !src.is_contiguous() || !dst.is_contiguous() {
        return Err(Error::Unsupported(format!(
            "copy between strided views on CUDA (strides {:?} to {:?}); contiguous only",
            src.strides(),
            dst.strides()
        )));
    }
    if src.shares_buffer(dst) {
        return Err(Error::InvalidArgument("copy within one CUDA buffer".into()));
    }
    let bytes = |elements: usize| {
        src.dtype().bytes_for(elements).ok_or_else(|| {
            Error::Shape(format!(
                "{elements} values are not whole {} blocks",
                src.dtype()
            ))
        })
    };
    let (len, from, to) = (
        bytes(src.numel())?,
        bytes(src.offset())?,
        bytes(dst.offset())?,
    );
    let s = storage(src, "src")?;
    let mut d = storage(dst, "dst")?.write()?;
    let sb = s.read()?;
    d.copy_from_device(to, &sb, from, len)
}

/// Rotates `x` [seq, heads, d] into `out`: copied there first unless `out`
/// is `x` itself (the GPU rotates in place). Token t at `start + t`.
pub(crate) fn rope(x: &Tensor, start: usize, base: f32, out: &Tensor) -> Result<()> {
    if x.numel() == 0 {
        return Ok(());
    }
    let positions = BatchIndices::positions(cuda_device(x, "rope x")?, x.shape()[0], start)?;
    same_dtype(x, out, "rope x and out")?;
    if !same_view(x, out) {
        copy(x, out)?;
    }
    rope_at(out, &positions, base)
}

/// Rotates `x` [seq, heads, d] in place, token t at `positions[t]`.
fn rope_at(x: &Tensor, positions: &BatchIndices, base: f32) -> Result<()> {
    let (s, d) = (x.strides(), x.shape());
    if x.offset() != 0 || (d[2] > 1 && s[2] != 1) {
        return Err(Error::Unsupported(format!(
            "rope on CUDA into a view at offset {} with strides {s:?}",
            x.offset()
        )));
    }
    let shape = RopeShape {
        tokens: d[0],
        heads: d[1],
        head_dim: d[2],
        token_stride: s[0],
        head_stride: s[1],
    };
    let mut o = storage(x, "x")?.write()?;
    kernels::rope(&mut o, x.dtype(), shape, positions, base)
}

/// The CUDA device `t` lives on.
fn cuda_device<'a>(t: &'a Tensor, what: &str) -> Result<&'a CudaDevice> {
    Ok(storage(t, what)?.device())
}

pub(crate) fn embedding(table: &Tensor, ids: &[u32], out: &Tensor) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let device = cuda_device(out, "embedding out")?;
    let mut indices = BatchIndices::new(device, ids.len(), table.shape()[0], ids.len())?;
    indices.set(ids, 0)?;
    embedding_at(table, &indices, out)
}

/// Rows `indices`' ids of `table` into `out`.
pub(crate) fn embedding_at(table: &Tensor, indices: &BatchIndices, out: &Tensor) -> Result<()> {
    dense_rows(out, "embedding out")?;
    if table.offset() != 0 || !table.is_contiguous() {
        return Err(Error::Unsupported(
            "an embedding table view on CUDA (whole contiguous tables only)".into(),
        ));
    }
    let (vocab, dim) = (table.shape()[0], table.shape()[1]);
    let t_s = storage(table, "table")?;
    let mut o = storage(out, "out")?.write()?;
    let tb = t_s.read()?;
    kernels::embedding(&mut o, out.dtype(), &tb, table.dtype(), vocab, dim, indices)
}

/// `src` [seq, heads, d] (+ `bias` [heads·d], f32) into rows `positions` of
/// `cache` [capacity, heads, d].
fn store_at(
    src: &Tensor,
    bias: Option<&Tensor>,
    positions: &BatchIndices,
    cache: &Tensor,
) -> Result<()> {
    let seq = src.shape()[0];
    let src_rows = rows(&src.reshape(&[seq, src.numel() / seq.max(1)])?, "store src")?;
    if cache.offset() != 0 || !cache.is_contiguous() {
        return Err(Error::Unsupported(
            "storing rows into a cache view on CUDA (whole contiguous caches only)".into(),
        ));
    }
    if let Some(b) = bias.filter(|b| b.dtype() != DType::F32) {
        return Err(Error::Unsupported(format!(
            "a {} bias for store_rows (F32 only)",
            b.dtype()
        )));
    }
    let row = cache.numel() / cache.shape()[0].max(1);
    let s_s = storage(src, "src")?;
    let bias_s = bias.map(|b| storage(b, "bias")).transpose()?;
    let mut d = storage(cache, "cache")?.write()?;
    let sb = s_s.read()?;
    let bb = bias_s.map(|b| b.read()).transpose()?;
    kernels::store_rows(
        &mut d,
        cache.dtype(),
        row,
        &sb,
        src.dtype(),
        src_rows,
        bb.as_deref(),
        positions,
    )
}

/// The attention op on a GPU over a position-major cache ([capacity,
/// kv_heads, d]): RoPE on `q` and `k` in place, the new keys and values
/// (with their bias) stored at their positions, then the fused kernel.
/// Positions come from device memory, so a captured step replays anywhere.
pub(crate) fn fused_attention(
    input: &AttentionInput<'_>,
    keys: &Tensor,
    values: &Tensor,
    positions: &BatchIndices,
    out: &Tensor,
) -> Result<()> {
    rope_at(input.q, positions, input.rope_base)?;
    rope_at(input.k, positions, input.rope_base)?;
    store_at(input.k, None, positions, keys)?;
    store_at(input.v, input.v_bias, positions, values)?;
    attention(input.q, keys, values, positions, out)
}

/// Causal attention of `q` [seq, heads, d] at `positions` over a cache
/// [capacity, kv_heads, d].
fn attention(
    q: &Tensor,
    keys: &Tensor,
    values: &Tensor,
    positions: &BatchIndices,
    out: &Tensor,
) -> Result<()> {
    same_dtype(q, out, "attention q and out")?;
    same_dtype(keys, values, "attention keys and values")?;
    if keys.strides() != values.strides() {
        return Err(Error::Layout {
            operand: "values",
            detail: "keys and values are laid out differently".into(),
        });
    }
    for (t, what) in [(q, "q"), (keys, "keys"), (values, "values"), (out, "out")] {
        if t.offset() != 0 || t.strides()[2] != 1 {
            return Err(Error::Unsupported(format!(
                "attention {what} on CUDA at offset {} with strides {:?}",
                t.offset(),
                t.strides()
            )));
        }
    }
    let (qs, ks, os) = (q.strides(), keys.strides(), out.strides());
    let shape = AttentionShape {
        tokens: q.shape()[0],
        heads: q.shape()[1],
        kv_heads: keys.shape()[1],
        head_dim: q.shape()[2],
        q_token_stride: qs[0],
        q_head_stride: qs[1],
        kv_pos_stride: ks[0],
        kv_head_stride: ks[1],
        out_token_stride: os[0],
        out_head_stride: os[1],
        scale: 1.0 / (q.shape()[2] as f32).sqrt(),
    };
    let (q_s, k_s, v_s) = (
        storage(q, "q")?,
        storage(keys, "keys")?,
        storage(values, "values")?,
    );
    let mut o = storage(out, "out")?.write()?;
    let (qb, kb, vb) = (q_s.read()?, k_s.read()?, v_s.read()?);
    kernels::attention(
        &mut o,
        &qb,
        &kb,
        &vb,
        q.dtype(),
        keys.dtype(),
        shape,
        positions,
    )
}

/// `src` (any GGUF type, contiguous) dequantized into `out` (a float type,
/// contiguous, of `src`'s shape).
pub(crate) fn dequantize(src: &Tensor, out: &Tensor) -> Result<()> {
    if src.offset() != 0 || !src.is_contiguous() {
        return Err(Error::Unsupported(
            "dequantizing a view on CUDA (whole contiguous tensors only)".into(),
        ));
    }
    dense_rows(out, "dequantize out")?;
    let s = storage(src, "src")?;
    let mut o = storage(out, "out")?.write()?;
    let sb = s.read()?;
    kernels::dequantize(&mut o, out.dtype(), &sb, src.dtype(), src.numel())
}
