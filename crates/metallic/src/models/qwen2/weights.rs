//! The model's weights as tensors over the GGUF file's bytes: zero-copy
//! views of its memory map (a copy only for a file parsed from memory).
//! Matrices keep their GGUF types, on a GPU too (uploaded as they are: the
//! matmul backends read the blocks, or keep a half copy for prefill); norms
//! and biases are f32.

use super::config::Qwen2Config;
use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::tensor::Tensor;

/// One transformer block. Matrices are [out, in] (GGUF rows), applied as
/// x · Wᵀ.
pub struct BlockWeights {
    pub attn_norm: Tensor,
    pub q: Tensor,
    pub q_bias: Tensor,
    pub k: Tensor,
    pub k_bias: Tensor,
    pub v: Tensor,
    pub v_bias: Tensor,
    pub output: Tensor,
    pub ffn_norm: Tensor,
    pub gate: Tensor,
    pub up: Tensor,
    pub down: Tensor,
}

pub struct Qwen2Weights {
    /// [vocab, hidden].
    pub token_embd: Tensor,
    pub blocks: Vec<BlockWeights>,
    pub output_norm: Tensor,
    /// [vocab, hidden]: `output.weight`, or `token_embd` when tied.
    pub output: Tensor,
}

impl Qwen2Weights {
    /// Views every weight `config` names (the config checked their shapes).
    pub fn load(gguf: &GgufFile, ctx: &Context, config: &Qwen2Config) -> Result<Qwen2Weights> {
        let load = |name: &str| tensor(gguf, ctx, name);
        let vector = |name: &str| f32_vector(gguf, ctx, name);
        let blocks = (0..config.block_count)
            .map(|b| {
                let name = |part: &str| format!("blk.{b}.{part}");
                Ok(BlockWeights {
                    attn_norm: vector(&name("attn_norm.weight"))?,
                    q: load(&name("attn_q.weight"))?,
                    q_bias: vector(&name("attn_q.bias"))?,
                    k: load(&name("attn_k.weight"))?,
                    k_bias: vector(&name("attn_k.bias"))?,
                    v: load(&name("attn_v.weight"))?,
                    v_bias: vector(&name("attn_v.bias"))?,
                    output: load(&name("attn_output.weight"))?,
                    ffn_norm: vector(&name("ffn_norm.weight"))?,
                    gate: load(&name("ffn_gate.weight"))?,
                    up: load(&name("ffn_up.weight"))?,
                    down: load(&name("ffn_down.weight"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let token_embd = load("token_embd.weight")?;
        let output = if config.tied_embeddings {
            token_embd.clone()
        } else {
            load("output.weight")?
        };
        Ok(Qwen2Weights {
            token_embd,
            blocks,
            output_norm: vector("output_norm.weight")?,
            output,
        })
    }
}

/// The tensor `name` in its GGUF type, shaped outermost-first.
fn tensor(gguf: &GgufFile, ctx: &Context, name: &str) -> Result<Tensor> {
    let info = gguf
        .tensor(name)
        .ok_or_else(|| Error::Format(format!("tensor `{name}` is missing")))?;
    let shape = info.shape();
    match gguf.mmap() {
        Some(map) if ctx.device().is_host() => Tensor::from_mmap(
            map.clone(),
            info.file_offset as usize,
            info.bytes,
            info.dtype,
            &shape,
        ),
        _ => Tensor::from_bytes(ctx.device(), info.dtype, gguf.tensor_data(info), &shape),
    }
}

/// A norm or bias: the row-wise ops take these in f32.
fn f32_vector(gguf: &GgufFile, ctx: &Context, name: &str) -> Result<Tensor> {
    let t = tensor(gguf, ctx, name)?;
    if t.dtype() != DType::F32 {
        return Err(Error::Unsupported(format!(
            "tensor `{name}` is {}; norms and biases must be F32",
            t.dtype()
        )));
    }
    Ok(t)
}
