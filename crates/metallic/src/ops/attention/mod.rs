//! Causal self-attention of a batch against a KV cache, as one Context op:
//! RoPE on the queries and new keys, the new keys and values stored at the
//! batch's positions, then softmax(q·kᵀ/√d)·v with each query seeing the
//! positions up to its own. The op owns the cache's layout, which each
//! device picks for its way of attending: the CPU composes matmuls and a
//! masked softmax over a head-major cache (`composed`), a GPU runs one fused
//! kernel over a position-major cache. A new device picks a layout and adds
//! one arm to `Context::attention` (and `KvCache::max_batch`).

mod composed;

use super::cpu_rows::expect_shape;
use super::step_input::StepInput;
use crate::context::Context;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Sizes of a KV cache and of the attention over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvShape {
    /// Transformer blocks, each with its own keys and values.
    pub layers: usize,
    /// Query heads; they share KV heads in groups of heads / kv_heads.
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Positions the cache holds.
    pub capacity: usize,
}

/// How a device lays out one layer's keys (and, alike, values), f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KvLayout {
    /// [kv_head, position, head_dim]: one head's keys for positions 0..len
    /// are a matrix the composed attention multiplies in place, and a
    /// batch's new keys a strided window to write into.
    HeadMajor,
    /// [position, kv_head, head_dim]: what the fused kernel reads; a batch's
    /// new keys are one contiguous run of rows.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    PositionMajor,
}

/// Keys and values of every cached position of every layer, allocated once
/// for the capacity, in the layout the Context's device attends over.
pub struct KvCache {
    shape: KvShape,
    layout: KvLayout,
    layers: Vec<(Tensor, Tensor)>,
    /// The composed attention's intermediates (head-major layout only).
    workspace: composed::Workspace,
}

/// One layer's attention inputs for a batch of `seq` tokens, after the
/// projections and their q and k biases.
pub struct AttentionInput<'a> {
    /// Queries [seq, heads, head_dim], f32; the op may overwrite them (a
    /// GPU rotates them in place).
    pub q: &'a Tensor,
    /// New keys [seq, kv_heads, head_dim], f32; overwritten like `q`.
    pub k: &'a Tensor,
    /// New values [seq, kv_heads, head_dim], f32.
    pub v: &'a Tensor,
    /// Added to the values as they are stored ([kv_heads · head_dim], f32).
    pub v_bias: Option<&'a Tensor>,
    /// RoPE base frequency.
    pub rope_base: f32,
}

impl Context {
    /// An empty KV cache on the Context's device (on the CPU zeroed pages,
    /// committed by the OS only as they are written).
    pub fn kv_cache(&self, shape: KvShape) -> Result<KvCache> {
        let KvShape {
            layers,
            heads,
            kv_heads,
            head_dim,
            capacity,
        } = shape;
        if kv_heads == 0 || heads % kv_heads != 0 || head_dim == 0 || capacity == 0 {
            return Err(Error::Shape(format!(
                "a KV cache of {capacity} positions for {heads} query heads over {kv_heads} KV \
                 heads of {head_dim}"
            )));
        }
        let layout = match self.device() {
            Device::Cpu => KvLayout::HeadMajor,
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => KvLayout::PositionMajor,
        };
        let dims = match layout {
            KvLayout::HeadMajor => [kv_heads, capacity, head_dim],
            KvLayout::PositionMajor => [capacity, kv_heads, head_dim],
        };
        let tensor = || Tensor::empty(self.device(), DType::F32, &dims);
        let layers = (0..layers)
            .map(|_| Ok((tensor()?, tensor()?)))
            .collect::<Result<_>>()?;
        Ok(KvCache {
            shape,
            layout,
            layers,
            workspace: composed::Workspace::default(),
        })
    }

    /// Attends the batch `step` describes (token t at position
    /// `step.start + t`) at layer `layer` of `cache`: stores its rotated keys
    /// and its values (plus bias) at its positions, then writes each query's
    /// attention over positions 0..=its own into `out` [seq, heads,
    /// head_dim] (f32). Scores are scaled by 1/√head_dim.
    pub fn attention(
        &self,
        input: &AttentionInput<'_>,
        cache: &mut KvCache,
        layer: usize,
        step: &StepInput,
        out: &Tensor,
    ) -> Result<()> {
        let KvShape {
            heads,
            kv_heads,
            head_dim,
            capacity,
            ..
        } = cache.shape;
        let seq = step.seq();
        expect_shape(input.q, &[seq, heads, head_dim], "q")?;
        expect_shape(input.k, &[seq, kv_heads, head_dim], "k")?;
        expect_shape(input.v, &[seq, kv_heads, head_dim], "v")?;
        expect_shape(out, &[seq, heads, head_dim], "out")?;
        if let Some(bias) = input.v_bias {
            expect_shape(bias, &[kv_heads * head_dim], "v_bias")?;
        }
        if step.capacity() > capacity {
            return Err(Error::Shape(format!(
                "a step over {} positions for a KV cache of {capacity}",
                step.capacity()
            )));
        }
        if seq > cache.max_batch() {
            return Err(Error::Shape(format!(
                "attention of {seq} tokens at once; this cache takes at most {}",
                cache.max_batch()
            )));
        }
        let (keys, values) = cache.layers.get(layer).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "layer {layer} of a KV cache of {} layers",
                cache.layers.len()
            ))
        })?;
        match (self.device(), cache.layout) {
            (Device::Cpu, KvLayout::HeadMajor) => composed::attention(
                self,
                input,
                cache.shape,
                (keys, values),
                &mut cache.workspace,
                step.start(),
                out,
            ),
            #[cfg(feature = "cuda")]
            (Device::Cuda(_), KvLayout::PositionMajor) => {
                let indices = step
                    .cuda()
                    .ok_or_else(|| Error::Device("a step input made for another device".into()))?;
                super::dispatch::run(
                    self,
                    "attention",
                    super::dispatch::OpShape {
                        rows: seq * heads,
                        cols: head_dim,
                        k: step.start() + seq,
                    },
                    || super::cuda_dispatch::fused_attention(input, keys, values, indices, out),
                )
            }
            (device, layout) => Err(Error::Device(format!(
                "a KV cache laid out {layout:?} on {device}, made for another device"
            ))),
        }
    }
}

/// Bytes of attention scores (and as many of probabilities) one composed
/// call may address, so a long context does not need a huge score matrix.
const SCORE_BYTES_PER_CALL: usize = 128 << 20;

impl KvCache {
    pub fn shape(&self) -> KvShape {
        self.shape
    }

    /// Most tokens one attention call takes: on the CPU what keeps the score
    /// matrix within `SCORE_BYTES_PER_CALL`; a fused kernel keeps its scores
    /// to itself and takes any batch.
    pub fn max_batch(&self) -> usize {
        match self.layout {
            KvLayout::HeadMajor => {
                let row_bytes = 2 * self.shape.heads * self.shape.capacity * size_of::<f32>();
                (SCORE_BYTES_PER_CALL / row_bytes).max(1)
            }
            KvLayout::PositionMajor => usize::MAX,
        }
    }
}
