//! Causal grouped-query attention against a KV cache: prefill (many query
//! tokens) and decode (one) are the same call; the number of query tokens
//! picks the kernel.

use std::borrow::Cow;

use super::{check_float, check_rows, BatchIndices};
use crate::device::cuda::{
    launch, launch_with_shared, u32_of, Arg, CudaBuffer, CudaDevice, KernelKey, KernelSource,
};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Few query tokens: a cluster of blocks per (head, token), split over the
/// cache length.
static SPLIT_KV: KernelSource = KernelSource {
    name: "attention_split_kv",
    text: include_str!("attention_split_kv.cu"),
};

/// Many query tokens: tiles of queries against tiles of keys.
static TILED: KernelSource = KernelSource {
    name: "attention_tiled",
    text: include_str!("attention_tiled.cu"),
};

/// attention_split_kv.cu's WARPS × 32 threads, and its SPLITS (the cluster
/// size, grid z).
const SPLIT_KV_THREADS: u32 = 512;
const SPLITS: u32 = 8;

/// attention_tiled.cu's THREADS, BR (query tokens per block) and BC (keys
/// per tile).
const TILED_THREADS: u32 = 256;
const TILE_QUERIES: usize = 64;
const TILE_KEYS: usize = 32;

/// From this many query tokens on, the tiled kernel: below it most of a
/// 64-token tile would be idle rows, while the split kernel still fills the
/// GPU (heads × tokens clusters of 8 blocks). A reasoned bound, not a
/// measured crossover.
const TILED_MIN_TOKENS: usize = 16;

/// The tiled kernel's dynamic shared memory for `head_dim` (a multiple of
/// 64): queries and keys in rows padded by 4 floats, values, and the
/// tile's weights.
fn tiled_shared_bytes(head_dim: usize) -> u32 {
    let floats = (TILE_QUERIES + TILE_KEYS) * (head_dim + 4)
        + TILE_KEYS * head_dim
        + TILE_QUERIES * (TILE_KEYS + 4);
    (floats * 4) as u32
}

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
    if s.tokens > 65_535 {
        return Err(Error::Unsupported(format!(
            "attention over {} query tokens in one call (at most 65535)",
            s.tokens
        )));
    }
    let buffers = Buffers {
        out,
        q,
        k_cache,
        v_cache,
        positions,
    };
    if s.tokens >= TILED_MIN_TOKENS && s.head_dim.is_multiple_of(64) {
        tiled(&device, act, kv_dtype, s, buffers)
    } else {
        split_kv(&device, act, kv_dtype, s, buffers)
    }
}

/// The operands of one call, checked by `attention`.
struct Buffers<'a> {
    out: &'a mut CudaBuffer,
    q: &'a CudaBuffer,
    k_cache: &'a CudaBuffer,
    v_cache: &'a CudaBuffer,
    positions: &'a BatchIndices,
}

/// The strides and scale after `tokens` (if any): both kernels' trailing
/// parameters.
fn tail_args(s: AttentionShape) -> Result<[Arg; 7]> {
    Ok([
        Arg::U32(u32_of(s.q_token_stride, "q token stride")?),
        Arg::U32(u32_of(s.q_head_stride, "q head stride")?),
        Arg::U32(u32_of(s.kv_pos_stride, "cache position stride")?),
        Arg::U32(u32_of(s.kv_head_stride, "cache head stride")?),
        Arg::U32(u32_of(s.out_token_stride, "out token stride")?),
        Arg::U32(u32_of(s.out_head_stride, "out head stride")?),
        Arg::F32(s.scale),
    ])
}

fn split_kv(
    device: &CudaDevice,
    act: DType,
    kv_dtype: DType,
    s: AttentionShape,
    b: Buffers,
) -> Result<()> {
    let key = KernelKey {
        source: &SPLIT_KV,
        entry: Cow::Borrowed("attention_split_kv"),
        act,
        aux: kv_dtype,
        param: s.head_dim as u32,
        flags: Cow::Borrowed(""),
    };
    let mut args = vec![
        Arg::Ptr(b.out.device_ptr()),
        Arg::Ptr(b.q.device_ptr()),
        Arg::Ptr(b.k_cache.device_ptr()),
        Arg::Ptr(b.v_cache.device_ptr()),
        Arg::U32(u32_of(s.heads, "heads")?),
        Arg::U32(u32_of(s.kv_heads, "kv heads")?),
        Arg::Ptr(b.positions.positions_ptr()),
    ];
    args.extend(tail_args(s)?);
    // SAFETY: the arguments follow `attention_split_kv`; grid (heads,
    // tokens, SPLITS) in clusters of SPLITS along z (the kernel's
    // `__cluster_dims__`), 512 threads; q, out and both caches were checked
    // by `attention` to hold every head span of every token and every
    // position below the capacity that `positions` keeps its values under.
    unsafe {
        launch(
            device,
            key,
            (u32_of(s.heads, "heads")?, s.tokens as u32, SPLITS),
            SPLIT_KV_THREADS,
            &args,
        )
    }
}

fn tiled(
    device: &CudaDevice,
    act: DType,
    kv_dtype: DType,
    s: AttentionShape,
    b: Buffers,
) -> Result<()> {
    let key = KernelKey {
        source: &TILED,
        entry: Cow::Borrowed("attention_tiled"),
        act,
        aux: kv_dtype,
        param: s.head_dim as u32,
        flags: Cow::Borrowed(""),
    };
    let mut args = vec![
        Arg::Ptr(b.out.device_ptr()),
        Arg::Ptr(b.q.device_ptr()),
        Arg::Ptr(b.k_cache.device_ptr()),
        Arg::Ptr(b.v_cache.device_ptr()),
        Arg::U32(u32_of(s.heads, "heads")?),
        Arg::U32(u32_of(s.kv_heads, "kv heads")?),
        Arg::Ptr(b.positions.positions_ptr()),
        Arg::U32(s.tokens as u32),
    ];
    args.extend(tail_args(s)?);
    let tiles = s.tokens.div_ceil(TILE_QUERIES) as u32;
    // SAFETY: the arguments follow `attention_tiled`; grid (heads, token
    // tiles), 256 threads, the dynamic shared memory the kernel's layout
    // takes for this head size (a multiple of 64); rows past `tokens` are
    // neither read nor written; q, out and both caches were checked by
    // `attention` as for `split_kv`.
    unsafe {
        launch_with_shared(
            device,
            key,
            (u32_of(s.heads, "heads")?, tiles, 1),
            TILED_THREADS,
            tiled_shared_bytes(s.head_dim),
            &args,
        )
    }
}
