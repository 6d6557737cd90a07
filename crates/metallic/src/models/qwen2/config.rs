//! Qwen2 hyper-parameters from a GGUF file's `qwen2.*` metadata, checked
//! against each other and against the shapes of the file's tensors, so the
//! model code can trust them.

use crate::error::{Error, Result};
use crate::gguf::{Array, GgufFile, Value};

const ARCH: &str = "qwen2";
/// llama.cpp's RoPE base when `qwen2.rope.freq_base` is absent.
const DEFAULT_ROPE_BASE: f32 = 10_000.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Qwen2Config {
    pub block_count: usize,
    /// `embedding_length`.
    pub hidden_size: usize,
    /// `feed_forward_length`.
    pub ffn_size: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    /// `hidden_size / n_heads`.
    pub head_dim: usize,
    pub rope_base: f32,
    pub rms_eps: f32,
    pub context_length: usize,
    pub vocab_size: usize,
    /// No separate `output.weight`: the output layer reuses `token_embd.weight`.
    pub tied_embeddings: bool,
}

impl Qwen2Config {
    /// Reads and checks the config. A missing or inconsistent key, or a
    /// tensor missing or of the wrong shape, is an `Error::Config` naming
    /// the key or tensor.
    pub fn from_gguf(f: &GgufFile) -> Result<Qwen2Config> {
        let arch = f.get("general.architecture");
        if arch.and_then(Value::as_str) != Some(ARCH) {
            return Err(config_error(
                "general.architecture",
                format!("expected \"{ARCH}\", found {}", describe(arch)),
            ));
        }
        let block_count = positive(f, "block_count")?;
        let hidden_size = positive(f, "embedding_length")?;
        let ffn_size = positive(f, "feed_forward_length")?;
        let n_heads = positive(f, "attention.head_count")?;
        // llama.cpp: without a KV head count, every head has its own K and V.
        let n_kv_heads = match f.get(&key("attention.head_count_kv")) {
            None => n_heads,
            Some(_) => positive(f, "attention.head_count_kv")?,
        };
        if hidden_size % n_heads != 0 {
            return Err(config_error(
                &key("attention.head_count"),
                format!("{n_heads} heads do not divide the hidden size {hidden_size}"),
            ));
        }
        let head_dim = hidden_size / n_heads;
        if head_dim % 2 != 0 {
            return Err(config_error(
                &key("attention.head_count"),
                format!("head dimension {head_dim} is odd; RoPE rotates pairs"),
            ));
        }
        if n_heads % n_kv_heads != 0 {
            return Err(config_error(
                &key("attention.head_count_kv"),
                format!("{n_kv_heads} KV heads do not divide the {n_heads} query heads"),
            ));
        }
        for name in ["attention.key_length", "attention.value_length"] {
            if f.get(&key(name)).is_some() && positive(f, name)? != head_dim {
                return Err(config_error(
                    &key(name),
                    format!("differs from the head dimension {head_dim} (hidden / heads)"),
                ));
            }
        }
        let rope_base = match f.get(&key("rope.freq_base")) {
            None => DEFAULT_ROPE_BASE,
            Some(_) => positive_float(f, "rope.freq_base")?,
        };
        let rms_eps = positive_float(f, "attention.layer_norm_rms_epsilon")?;
        let context_length = positive(f, "context_length")?;

        let embd = tensor_dims(f, "token_embd.weight")?;
        if embd.len() != 2 || embd[0] != hidden_size as u64 {
            return Err(shape_error("token_embd.weight", embd, "[hidden, vocab]"));
        }
        let vocab_size = embd[1] as usize;
        if let Some(tokens) = f.get("tokenizer.ggml.tokens") {
            let n = tokens.as_array().map(Array::len);
            if n != Some(vocab_size) {
                return Err(config_error(
                    "tokenizer.ggml.tokens",
                    format!(
                        "{} tokens, but token_embd.weight has {vocab_size} rows",
                        n.map_or_else(|| describe(Some(tokens)), |n| n.to_string())
                    ),
                ));
            }
        }
        if f.get(&key("vocab_size")).is_some() && positive(f, "vocab_size")? != vocab_size {
            return Err(config_error(
                &key("vocab_size"),
                format!("differs from token_embd.weight's {vocab_size} rows"),
            ));
        }

        let config = Qwen2Config {
            block_count,
            hidden_size,
            ffn_size,
            n_heads,
            n_kv_heads,
            head_dim,
            rope_base,
            rms_eps,
            context_length,
            vocab_size,
            tied_embeddings: f.tensor("output.weight").is_none(),
        };
        config.check_tensor_shapes(f)?;
        Ok(config)
    }

    /// Width of the K and V projections: `n_kv_heads * head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Every weight the forward pass reads, with its shape in GGUF order
    /// (row length first).
    fn check_tensor_shapes(&self, f: &GgufFile) -> Result<()> {
        let (h, ffn, kv, vocab) = (
            self.hidden_size as u64,
            self.ffn_size as u64,
            self.kv_dim() as u64,
            self.vocab_size as u64,
        );
        expect_shape(f, "output_norm.weight", &[h])?;
        if !self.tied_embeddings {
            expect_shape(f, "output.weight", &[h, vocab])?;
        }
        for b in 0..self.block_count {
            let blk = |name: &str| format!("blk.{b}.{name}");
            for (name, shape) in [
                ("attn_norm.weight", &[h][..]),
                ("attn_q.weight", &[h, h]),
                ("attn_q.bias", &[h]),
                ("attn_k.weight", &[h, kv]),
                ("attn_k.bias", &[kv]),
                ("attn_v.weight", &[h, kv]),
                ("attn_v.bias", &[kv]),
                ("attn_output.weight", &[h, h]),
                ("ffn_norm.weight", &[h]),
                ("ffn_gate.weight", &[h, ffn]),
                ("ffn_up.weight", &[h, ffn]),
                ("ffn_down.weight", &[ffn, h]),
            ] {
                expect_shape(f, &blk(name), shape)?;
            }
        }
        Ok(())
    }
}

fn key(name: &str) -> String {
    format!("{ARCH}.{name}")
}

fn config_error(key: &str, detail: impl Into<String>) -> Error {
    Error::Config {
        key: key.to_owned(),
        detail: detail.into(),
    }
}

fn describe(value: Option<&Value>) -> String {
    match value {
        None => "nothing (missing)".into(),
        Some(Value::String(s)) => format!("string {s:?}"),
        Some(v) => format!("{} {v}", v.type_name()),
    }
}

/// `qwen2.<name>`: a required positive integer.
fn positive(f: &GgufFile, name: &str) -> Result<usize> {
    let k = key(name);
    let value = f.get(&k);
    value
        .and_then(Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| {
            config_error(
                &k,
                format!("expected a positive integer, found {}", describe(value)),
            )
        })
}

/// `qwen2.<name>`: a required positive finite float.
fn positive_float(f: &GgufFile, name: &str) -> Result<f32> {
    let k = key(name);
    let value = f.get(&k);
    value
        .and_then(Value::as_f64)
        .map(|v| v as f32)
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| {
            config_error(
                &k,
                format!("expected a positive number, found {}", describe(value)),
            )
        })
}

fn tensor_dims<'f>(f: &'f GgufFile, name: &str) -> Result<&'f [u64]> {
    f.tensor(name)
        .map(|t| t.dims.as_slice())
        .ok_or_else(|| config_error(name, "tensor missing"))
}

fn shape_error(name: &str, dims: &[u64], expected: &str) -> Error {
    config_error(
        name,
        format!("tensor shape {dims:?}, expected {expected} (GGUF order, row length first)"),
    )
}

fn expect_shape(f: &GgufFile, name: &str, expected: &[u64]) -> Result<()> {
    let dims = tensor_dims(f, name)?;
    if dims != expected {
        return Err(shape_error(name, dims, &format!("{expected:?}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
