//! Tiny random-weight Qwen2 models written as GGUF files, with a byte-level
//! tokenizer, for tests that need a whole model file but not the real one.

use rand::rngs::StdRng;
use std::path::{Path, PathBuf};

use super::{random_vec, rng};
use crate::dtype::DType;
use crate::error::Result;
use crate::gguf::{GgufWriter, Value};
use crate::quant::quantize;
use crate::tokenizer::byte_level::byte_to_char;
use crate::tokenizer::TokenizerParts;

/// Special tokens after the 256 byte tokens: (text, GGUF token type).
const SPECIALS: &[&str] = &["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const CONTROL: i32 = 3;
const NORMAL: i32 = 1;

/// One token per byte, then `<|endoftext|>` (BOS), `<|im_start|>` and
/// `<|im_end|>` (EOS); no merges, so every byte of text is one token.
pub fn byte_tokenizer_parts() -> TokenizerParts {
    let mut tokens: Vec<String> = byte_to_char().iter().map(|c| c.to_string()).collect();
    let mut token_types = vec![NORMAL; tokens.len()];
    tokens.extend(SPECIALS.iter().map(|s| s.to_string()));
    token_types.extend(SPECIALS.iter().map(|_| CONTROL));
    TokenizerParts {
        tokens,
        merges: Vec::new(),
        token_types,
        pre: "qwen2".into(),
        bos_id: Some(256),
        eos_id: Some(258),
        eot_ids: Vec::new(),
        add_bos: false,
    }
}

/// Dimensions of a tiny model; the vocabulary is the byte tokenizer's.
#[derive(Clone, Copy, Debug)]
pub struct TinyDims {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub blocks: usize,
    pub context: usize,
}

impl Default for TinyDims {
    fn default() -> Self {
        TinyDims {
            hidden: 64,
            heads: 4,
            kv_heads: 2,
            ffn: 128,
            blocks: 2,
            context: 256,
        }
    }
}

/// Writes a tiny Qwen2 model to `path`: matrices (the embedding table too)
/// in `matrix_type` (a type `quant::quantize` writes), norms and biases in
/// F32, a separate output matrix unless `tied`.
pub fn write_tiny_qwen2(
    path: &Path,
    dims: TinyDims,
    matrix_type: DType,
    tied: bool,
    seed: u64,
) -> Result<()> {
    let mut r = rng(seed);
    let d = dims;
    let parts = byte_tokenizer_parts();
    let vocab = parts.tokens.len();
    let head_dim = d.hidden / d.heads;
    let kv = d.kv_heads * head_dim;
    let u32v = |v: usize| Value::U32(v as u32);
    let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
    let mut w = GgufWriter::new()
        .metadata("general.architecture", Value::String("qwen2".into()))
        .metadata("qwen2.block_count", u32v(d.blocks))
        .metadata("qwen2.embedding_length", u32v(d.hidden))
        .metadata("qwen2.feed_forward_length", u32v(d.ffn))
        .metadata("qwen2.attention.head_count", u32v(d.heads))
        .metadata("qwen2.attention.head_count_kv", u32v(d.kv_heads))
        .metadata("qwen2.rope.freq_base", Value::F32(10_000.0))
        .metadata("qwen2.attention.layer_norm_rms_epsilon", Value::F32(1e-6))
        .metadata("qwen2.context_length", u32v(d.context))
        .metadata("tokenizer.ggml.model", Value::String("gpt2".into()))
        .metadata("tokenizer.ggml.pre", Value::String(parts.pre.clone()))
        .metadata("tokenizer.ggml.tokens", strings(&parts.tokens))
        .metadata("tokenizer.ggml.merges", strings(&parts.merges))
        .metadata(
            "tokenizer.ggml.token_type",
            Value::Array(parts.token_types.iter().map(|&t| Value::I32(t)).collect()),
        )
        .metadata("tokenizer.ggml.bos_token_id", u32v(256))
        .metadata("tokenizer.ggml.eos_token_id", u32v(258))
        .metadata("tokenizer.ggml.add_bos_token", Value::Bool(false));
    // Matrices scaled by 1/sqrt(row length) keep activations near unit size;
    // the embedding table's rows are the activations and are not scaled.
    let matrix =
        |w: GgufWriter, name: String, rows: usize, cols: usize, scale: f32, r: &mut StdRng| {
            let values: Vec<f32> = random_vec(r, rows * cols)
                .iter()
                .map(|v| v * scale)
                .collect();
            let size = matrix_type.bytes_for(values.len()).ok_or_else(|| {
                crate::Error::Unsupported(format!("{matrix_type} rows of {cols} values"))
            })?;
            let mut bytes = vec![0u8; size];
            quantize(matrix_type, &values, &mut bytes)?;
            Ok::<_, crate::Error>(w.tensor(name, &[cols as u64, rows as u64], matrix_type, bytes))
        };
    let scaled = |cols: usize| 2.0 / (cols as f32).sqrt();
    let vector = |w: GgufWriter, name: String, n: usize, center: f32, r: &mut StdRng| {
        let values: Vec<f32> = random_vec(r, n).iter().map(|v| center + 0.2 * v).collect();
        w.tensor_f32(name, &[n as u64], &values)
    };
    w = matrix(w, "token_embd.weight".into(), vocab, d.hidden, 1.0, &mut r)?;
    for b in 0..d.blocks {
        let n = |part: &str| format!("blk.{b}.{part}");
        w = vector(w, n("attn_norm.weight"), d.hidden, 1.0, &mut r);
        w = matrix(
            w,
            n("attn_q.weight"),
            d.hidden,
            d.hidden,
            scaled(d.hidden),
            &mut r,
        )?;
        w = vector(w, n("attn_q.bias"), d.hidden, 0.0, &mut r);
        w = matrix(
            w,
            n("attn_k.weight"),
            kv,
            d.hidden,
            scaled(d.hidden),
            &mut r,
        )?;
        w = vector(w, n("attn_k.bias"), kv, 0.0, &mut r);
        w = matrix(
            w,
            n("attn_v.weight"),
            kv,
            d.hidden,
            scaled(d.hidden),
            &mut r,
        )?;
        w = vector(w, n("attn_v.bias"), kv, 0.0, &mut r);
        w = matrix(
            w,
            n("attn_output.weight"),
            d.hidden,
            d.hidden,
            scaled(d.hidden),
            &mut r,
        )?;
        w = vector(w, n("ffn_norm.weight"), d.hidden, 1.0, &mut r);
        w = matrix(
            w,
            n("ffn_gate.weight"),
            d.ffn,
            d.hidden,
            scaled(d.hidden),
            &mut r,
        )?;
        w = matrix(
            w,
            n("ffn_up.weight"),
            d.ffn,
            d.hidden,
            scaled(d.hidden),
            &mut r,
        )?;
        w = matrix(
            w,
            n("ffn_down.weight"),
            d.hidden,
            d.ffn,
            scaled(d.ffn),
            &mut r,
        )?;
    }
    w = vector(w, "output_norm.weight".into(), d.hidden, 1.0, &mut r);
    if !tied {
        w = matrix(
            w,
            "output.weight".into(),
            vocab,
            d.hidden,
            scaled(d.hidden),
            &mut r,
        )?;
    }
    w.write_to(path)
}

/// A tiny model in the system's temporary directory, removed on drop.
pub struct TinyModelFile {
    pub path: PathBuf,
}

impl TinyModelFile {
    /// F32 weights, separate output matrix, default dimensions.
    pub fn new(seed: u64) -> Result<TinyModelFile> {
        let path = std::env::temp_dir().join(format!(
            "metallic-tiny-{}-{seed}-{}.gguf",
            std::process::id(),
            unique()
        ));
        write_tiny_qwen2(&path, TinyDims::default(), DType::F32, false, seed)?;
        Ok(TinyModelFile { path })
    }
}

impl Drop for TinyModelFile {
    fn drop(&mut self) {
        // Best effort: a leftover temporary file is harmless.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Distinguishes files made by one process.
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
