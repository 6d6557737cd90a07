//! Tiny random-weight Qwen2 models written as GGUF files, with a byte-level
//! tokenizer, for tests that need a whole model file but not the real one.

use rand::rngs::StdRng;
use rand::Rng;
use std::path::{Path, PathBuf};

use super::{random_vec, rng};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gguf::{GgufWriter, Value};
use crate::quant::quantize;
use crate::tokenizer::byte_level::byte_to_char;
use crate::tokenizer::TokenizerParts;

/// Special tokens after the 256 byte tokens (control tokens).
const SPECIALS: &[&str] = &["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const CONTROL: i32 = 3;
const NORMAL: i32 = 1;

/// Tokens of `byte_tokenizer_parts`: the default tiny vocabulary.
pub const TINY_VOCAB: usize = 256 + SPECIALS.len();

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

/// Shape and constants of a tiny model. The byte tokenizer goes into the
/// file only when `vocab` is its size (`TINY_VOCAB`); any other vocabulary
/// gives a forward-only file (no tokenizer), for tests that need more
/// tokens or benchmarks of a real model's shapes.
#[derive(Clone, Copy, Debug)]
pub struct TinyDims {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub blocks: usize,
    pub vocab: usize,
    pub context: usize,
    pub rope_base: f32,
    pub rms_eps: f32,
}

impl TinyDims {
    /// Two blocks of 64 wide, 4 heads of 16, the byte tokenizer's vocabulary.
    pub const DEFAULT: TinyDims = TinyDims {
        hidden: 64,
        heads: 4,
        kv_heads: 2,
        ffn: 128,
        blocks: 2,
        vocab: TINY_VOCAB,
        context: 256,
        rope_base: 10_000.0,
        rms_eps: 1e-6,
    };

    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    fn check(&self) -> Result<()> {
        let fits = self.heads > 0
            && self.kv_heads > 0
            && self.hidden.is_multiple_of(self.heads)
            && self.heads.is_multiple_of(self.kv_heads)
            && self.head_dim().is_multiple_of(2);
        if fits {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!(
                "tiny model {self:?}: heads must divide hidden into even head sizes, and KV heads divide heads"
            )))
        }
    }
}

impl Default for TinyDims {
    fn default() -> Self {
        TinyDims::DEFAULT
    }
}

/// Writes a tiny Qwen2 model to `path`: matrices (the embedding table too)
/// in `matrix_type`, norms and biases in F32, a separate output matrix
/// unless `tied`.
pub fn write_tiny_qwen2(
    path: &Path,
    dims: TinyDims,
    matrix_type: DType,
    tied: bool,
    seed: u64,
) -> Result<()> {
    dims.check()?;
    let d = dims;
    let mut r = rng(seed);
    let kv = d.kv_heads * d.head_dim();
    let u32v = |v: usize| Value::U32(v as u32);
    let mut w = GgufWriter::new()
        .metadata("general.architecture", Value::String("qwen2".into()))
        .metadata("qwen2.block_count", u32v(d.blocks))
        .metadata("qwen2.embedding_length", u32v(d.hidden))
        .metadata("qwen2.feed_forward_length", u32v(d.ffn))
        .metadata("qwen2.attention.head_count", u32v(d.heads))
        .metadata("qwen2.attention.head_count_kv", u32v(d.kv_heads))
        .metadata("qwen2.rope.freq_base", Value::F32(d.rope_base))
        .metadata(
            "qwen2.attention.layer_norm_rms_epsilon",
            Value::F32(d.rms_eps),
        )
        .metadata("qwen2.context_length", u32v(d.context));
    if d.vocab == TINY_VOCAB {
        w = with_byte_tokenizer(w);
    }
    let matrix =
        |w: GgufWriter, name: &str, rows: usize, cols: usize, scale: f32, r: &mut StdRng| {
            if !cols.is_multiple_of(matrix_type.block_size()) {
                return Err(Error::Unsupported(format!(
                    "`{name}`: rows of {cols} values are not whole {matrix_type} blocks"
                )));
            }
            let bytes = random_weights(matrix_type, rows * cols, scale, r)?;
            Ok::<_, Error>(w.tensor(name, &[cols as u64, rows as u64], matrix_type, bytes))
        };
    let vector = |w: GgufWriter, name: &str, n: usize, center: f32, r: &mut StdRng| {
        let values: Vec<f32> = random_vec(r, n).iter().map(|v| center + 0.2 * v).collect();
        w.tensor_f32(name, &[n as u64], &values)
    };
    // Matrices scaled by 1/sqrt(row length) keep activations near unit size;
    // the embedding table's rows are the activations and are not scaled.
    let (h, f, v) = (d.hidden, d.ffn, d.vocab);
    let (by_h, by_f) = (2.0 / (h as f32).sqrt(), 2.0 / (f as f32).sqrt());
    w = matrix(w, "token_embd.weight", v, h, 1.0, &mut r)?;
    for b in 0..d.blocks {
        let n = |part: &str| format!("blk.{b}.{part}");
        w = vector(w, &n("attn_norm.weight"), h, 1.0, &mut r);
        for (part, rows) in [("attn_q", h), ("attn_k", kv), ("attn_v", kv)] {
            w = matrix(w, &n(&format!("{part}.weight")), rows, h, by_h, &mut r)?;
            w = vector(w, &n(&format!("{part}.bias")), rows, 0.0, &mut r);
        }
        w = matrix(w, &n("attn_output.weight"), h, h, by_h, &mut r)?;
        w = vector(w, &n("ffn_norm.weight"), h, 1.0, &mut r);
        w = matrix(w, &n("ffn_gate.weight"), f, h, by_h, &mut r)?;
        w = matrix(w, &n("ffn_up.weight"), f, h, by_h, &mut r)?;
        w = matrix(w, &n("ffn_down.weight"), h, f, by_f, &mut r)?;
    }
    w = vector(w, "output_norm.weight", h, 1.0, &mut r);
    if !tied {
        w = matrix(w, "output.weight", v, h, by_h, &mut r)?;
    }
    w.write_to(path)
}

/// `w` with the metadata of `byte_tokenizer_parts`.
fn with_byte_tokenizer(w: GgufWriter) -> GgufWriter {
    let parts = byte_tokenizer_parts();
    let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
    let mut w = w
        .metadata("tokenizer.ggml.model", Value::String("gpt2".into()))
        .metadata("tokenizer.ggml.pre", Value::String(parts.pre.clone()))
        .metadata("tokenizer.ggml.tokens", strings(&parts.tokens))
        .metadata("tokenizer.ggml.merges", strings(&parts.merges))
        .metadata(
            "tokenizer.ggml.token_type",
            Value::Array(parts.token_types.iter().map(|&t| Value::I32(t)).collect()),
        )
        .metadata("tokenizer.ggml.add_bos_token", Value::Bool(parts.add_bos));
    let ids = [
        ("tokenizer.ggml.bos_token_id", parts.bos_id),
        ("tokenizer.ggml.eos_token_id", parts.eos_id),
    ];
    for (key, id) in ids {
        if let Some(id) = id {
            w = w.metadata(key, Value::U32(id));
        }
    }
    w
}

/// `n` random weights of about `scale` in `dtype`: uniform values for
/// plain floats and Q8_K; for the other quantized types, random quants with
/// block scales that keep the values within about ±`scale` (drawing bytes is
/// much faster than quantizing floats: a model of Qwen2.5-0.5B's shapes
/// takes seconds).
pub fn random_weights(dtype: DType, n: usize, scale: f32, r: &mut StdRng) -> Result<Vec<u8>> {
    let size = dtype
        .bytes_for(n)
        .ok_or_else(|| Error::Unsupported(format!("{n} values of {dtype}")))?;
    let mut bytes = vec![0u8; size];
    // Each block's f16 scale fields: (byte offset, value).
    let fields = match dtype {
        // d·q with q signed, of 8, 5 or 4 bits.
        DType::Q8_0 => vec![(0, scale / 127.0)],
        DType::Q5_0 => vec![(0, scale / 16.0)],
        DType::Q4_0 => vec![(0, scale / 8.0)],
        // d·q + m with q unsigned, of 5 or 4 bits.
        DType::Q5_1 => vec![(0, 2.0 * scale / 31.0), (2, -scale)],
        DType::Q4_1 => vec![(0, 2.0 * scale / 15.0), (2, -scale)],
        // d·sc·q − dmin·m with 6-bit sc, m and 4-bit q; m = sc (see
        // `center_q4k_groups`) makes each group's values (scale·sc/63)·(2q/15 − 1).
        DType::Q4_K => vec![(0, 2.0 * scale / (63.0 * 15.0)), (2, scale / 63.0)],
        // d·sc·(q − 32) with signed 8-bit sc and 6-bit q; d is last.
        DType::Q6_K => vec![(208, scale / (128.0 * 32.0))],
        _ => {
            let values: Vec<f32> = random_vec(r, n).iter().map(|v| v * scale).collect();
            quantize(dtype, &values, &mut bytes)?;
            return Ok(bytes);
        }
    };
    r.fill(&mut bytes[..]);
    for block in bytes.chunks_mut(dtype.block_bytes()) {
        for &(at, value) in &fields {
            block[at..at + 2].copy_from_slice(&half::f16::from_f32(value).to_le_bytes());
        }
        if dtype == DType::Q4_K {
            center_q4k_groups(
                &mut block[4..16],
                std::array::from_fn(|_| r.random_range(0..64)),
            );
        }
    }
    Ok(bytes)
}

/// Packs a Q4_K block's eight 6-bit group scales with each group's minimum
/// equal to its scale, so that every group of 32 values is centered on zero. With random
/// minimums instead, each group carries a random offset of up to ±`scale`
/// shared by its 32 values: the offsets add up along a row instead of
/// cancelling, activations come out about six times unit size, and the
/// attention scores (about ±35) make softmax flip between near-tied keys on
/// the 8-bit activation noise of the project's kernels.
fn center_q4k_groups(packed: &mut [u8], scales: [u8; 8]) {
    // The 12-byte packing of `quant::kquants::scale_min_k4`, min = scale:
    // bytes 0..4 and 4..8 hold the low groups' scales and mins, 8..12 the
    // high groups' low nibbles, and the top two bits of 0..8 their rest.
    for j in 0..4 {
        let (low, high) = (scales[j], scales[j + 4]);
        packed[j] = low | (high >> 4) << 6;
        packed[j + 4] = low | (high >> 4) << 6;
        packed[j + 8] = (high & 0x0F) | (high & 0x0F) << 4;
    }
}

/// A tiny model in the system's temporary directory, removed on drop.
pub struct TinyModelFile {
    pub path: PathBuf,
}

impl TinyModelFile {
    /// F32 weights, separate output matrix, default dimensions.
    pub fn new(seed: u64) -> Result<TinyModelFile> {
        TinyModelFile::write(TinyDims::DEFAULT, DType::F32, false, seed)
    }

    /// A model of `write_tiny_qwen2`'s arguments.
    pub fn write(
        dims: TinyDims,
        matrix_type: DType,
        tied: bool,
        seed: u64,
    ) -> Result<TinyModelFile> {
        let path = std::env::temp_dir().join(format!(
            "metallic-tiny-{}-{matrix_type}-{seed}-{}.gguf",
            std::process::id(),
            unique()
        ));
        // Made before writing, so that a partly written file is removed too.
        let file = TinyModelFile { path };
        write_tiny_qwen2(&file.path, dims, matrix_type, tied, seed)?;
        Ok(file)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::dequantize_f32;

    /// The writer's promise that the model tests rely on for unit-scale
    /// activations: every value within ±`scale` (up to Q8_0's 128/127 and
    /// f16 rounding of the block scales).
    #[test]
    fn random_weights_stay_within_the_scale() {
        let seed = super::super::fresh_seed();
        let mut r = rng(seed);
        let types = [
            DType::Q8_0,
            DType::Q5_0,
            DType::Q4_0,
            DType::Q5_1,
            DType::Q4_1,
            DType::Q4_K,
            DType::Q6_K,
        ];
        for dtype in types {
            let (n, scale) = (256 * 64, 0.125);
            let bytes = random_weights(dtype, n, scale, &mut r).unwrap();
            let mut values = vec![0f32; n];
            dequantize_f32(dtype, &bytes, &mut values).unwrap();
            let worst = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                worst <= 1.01 * scale,
                "seed {seed}: {dtype} value {worst} beyond ±{scale}"
            );
        }
    }
}
