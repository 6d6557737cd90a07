//! Causal grouped-query attention against a KV cache: prefill (many query
//! tokens) and decode (one) are the same call.

use std::borrow::Cow;

use super::{check_float, check_rows, BatchIndices};
use crate::device::cuda::{launch, u32_of, Arg, CudaBuffer, KernelKey, KernelSource};
use crate::dtype::DType;
use crate::error::{Error, Result};

static SOURCE: KernelSource = KernelSource {
    name: "attention",
    text: include_str!("attention.cu"),
};

/// Threads per block: the kernel's WARPS × 32.
const THREADS: u32 = 512;

/// Shapes and strides (in elements) of one attention call. Queries and
/// outputs are [tokens, heads, head_dim]; the caches are
/// [positions, kv_heads, head_dim] with `kv_pos_stride`, `kv_head_stride`.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    pub tokens: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub q_token_stride: usize,
    pub q_head_stride: usize,
    pub kv_pos_stride: usize,
    pub kv_head_stride: usize,
    pub out_token_stride: usize,
    pub out_head_stride: usize,
    /// Factor on q·k before the softmax, usually 1/sqrt(head_dim).
    pub scale: f32,
}

/// out = softmax(q·kᵀ · scale, causal) · v per query head; q and out of
/// dtype `act`, the caches of dtype `kv_dtype`. Query token t sits at
/// `positions[t]` and attends to cache positions 0..=positions[t], which
/// must all be written; the caches hold every position `positions` allows.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    out: &mut CudaBuffer,
    q: &CudaBuffer,
    k_cache: &CudaBuffer,
    v_cache: &CudaBuffer,
    act: DType,
    kv_dtype: DType,
    s: AttentionShape,
    positions: &BatchIndices,
) -> Result<()> {
    check_float(act, "attention q")?;
    check_float(kv_dtype, "attention cache")?;
    if s.head_dim == 0 || !s.head_dim.is_multiple_of(32) || s.head_dim > 256 {
        return Err(Error::Unsupported(format!(
            "attention head_dim {} (a multiple of 32 up to 256)",
            s.head_dim
        )));
    }
    if s.kv_heads == 0 || !s.heads.is_multiple_of(s.kv_heads) {
        return Err(Error::InvalidArgument(format!(
            "attention: {} query heads do not share {} KV heads evenly",
            s.heads, s.kv_heads
        )));
    }
    if !s.scale.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "attention scale {}",
            s.scale
        )));
    }
    if s.tokens == 0 {
        return Ok(());
    }
    if positions.seq() != s.tokens {
        return Err(Error::InvalidArgument(format!(
            "attention: positions of {} tokens for {}",
            positions.seq(),
            s.tokens
        )));
    }
    let capacity = positions.capacity();
    // Each operand is rows of (heads × head stride) spans; check the span of
    // every row, and that heads do not overlap.
    let span = |heads: usize, head_stride: usize, what: &str| -> Result<usize> {
        if heads > 1 && head_stride < s.head_dim {
            return Err(Error::InvalidArgument(format!(
                "attention {what}: head stride {head_stride} below head_dim {}",
                s.head_dim
            )));
        }
        (heads - 1)
            .checked_mul(head_stride)
            .and_then(|v| v.checked_add(s.head_dim))
            .ok_or_else(|| Error::Shape(format!("attention {what}: offsets overflow")))
    };
    let q_span = span(s.heads, s.q_head_stride, "q")?;
    let out_span = span(s.heads, s.out_head_stride, "out")?;
    let kv_span = span(s.kv_heads, s.kv_head_stride, "cache")?;
    check_rows(q, act, s.tokens, q_span, s.q_token_stride, "attention q")?;
    check_rows(
        out,
        act,
        s.tokens,
        out_span,
        s.out_token_stride,
        "attention out",
    )?;
    if s.tokens > 1 && s.out_token_stride < out_span {
        return Err(Error::InvalidArgument("attention out rows overlap".into()));
    }
    check_rows(
        k_cache,
        kv_dtype,
        capacity,
        kv_span,
        s.kv_pos_stride,
        "attention k cache",
    )?;
    check_rows(
        v_cache,
        kv_dtype,
        capacity,
        kv_span,
        s.kv_pos_stride,
        "attention v cache",
    )?;
    let device = out.device().clone();
    device.check_buffers(&[q, k_cache, v_cache], "attention")?;
    positions.check_device(&device, "attention")?;
    let key = KernelKey {
        source: &SOURCE,
        entry: Cow::Borrowed("attention"),
        act,
        aux: kv_dtype,
        param: s.head_dim as u32,
        flags: Cow::Borrowed(""),
    };
    let args = [
        Arg::Ptr(out.device_ptr()),
        Arg::Ptr(q.device_ptr()),
        Arg::Ptr(k_cache.device_ptr()),
        Arg::Ptr(v_cache.device_ptr()),
        Arg::U32(u32_of(s.heads, "heads")?),
        Arg::U32(u32_of(s.kv_heads, "kv heads")?),
        Arg::Ptr(positions.positions_ptr()),
        Arg::U32(u32_of(s.q_token_stride, "q token stride")?),
        Arg::U32(u32_of(s.q_head_stride, "q head stride")?),
        Arg::U32(u32_of(s.kv_pos_stride, "cache position stride")?),
        Arg::U32(u32_of(s.kv_head_stride, "cache head stride")?),
        Arg::U32(u32_of(s.out_token_stride, "out token stride")?),
        Arg::U32(u32_of(s.out_head_stride, "out head stride")?),
        Arg::F32(s.scale),
    ];
    if s.tokens > 65_535 {
        return Err(Error::Unsupported(format!(
            "attention over {} query tokens in one call (at most 65535)",
            s.tokens
        )));
    }
    // SAFETY: the arguments follow `attention` in attention.cu; grid (heads,
    // tokens), 512 threads; q, out and both caches were checked to hold
    // every head span of every token and every position below the
    // capacity that `positions` keeps its values under.
    unsafe {
        launch(
            &device,
            key,
            (u32_of(s.heads, "heads")?, s.tokens as u32, 1),
            THREADS,
            &args,
        )
    }
}
