//! Tiny random-weight Qwen2 models written as GGUF files, and a plain
//! float64 forward pass over the same weights (dequantized): shared by the
//! CPU tests and the GPU tests of the forward pass.
#![allow(dead_code)]

use metallic::gguf::{GgufFile, GgufWriter, Value};
use metallic::quant::dequantize_f32;
use metallic::testing::{random_vec, rng};
use metallic::DType;
use rand::rngs::StdRng;
use rand::Rng;
use std::path::PathBuf;

/// Dimensions of a tiny model.
#[derive(Clone, Copy)]
pub struct Dims {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub blocks: usize,
    pub vocab: usize,
    pub context: usize,
}

pub const SMALL: Dims = Dims {
    hidden: 64,
    heads: 4,
    kv_heads: 2,
    ffn: 128,
    blocks: 2,
    vocab: 300,
    context: 64,
};

/// K-quant rows hold 256 values, so every matrix's row length is 256·k.
pub const KQUANT: Dims = Dims {
    hidden: 256,
    heads: 4,
    kv_heads: 2,
    ffn: 512,
    blocks: 2,
    vocab: 300,
    context: 64,
};

pub const RMS_EPS: f32 = 1e-6;
pub const ROPE_BASE: f32 = 10_000.0;

/// A tiny model file: matrices in `matrix_type` (the embedding table too),
/// norms and biases F32, with or without a separate output matrix.
pub struct TinyModel {
    pub path: PathBuf,
}

impl Drop for TinyModel {
    fn drop(&mut self) {
        // Best effort: a leftover temporary file is harmless.
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn write_model(dims: Dims, matrix_type: DType, tied: bool, seed: u64) -> TinyModel {
    let mut r = rng(seed);
    let d = dims;
    let head_dim = d.hidden / d.heads;
    let kv = d.kv_heads * head_dim;
    let u32v = |v: usize| Value::U32(v as u32);
    let mut w = GgufWriter::new()
        .metadata("general.architecture", Value::String("qwen2".into()))
        .metadata("qwen2.block_count", u32v(d.blocks))
        .metadata("qwen2.embedding_length", u32v(d.hidden))
        .metadata("qwen2.feed_forward_length", u32v(d.ffn))
        .metadata("qwen2.attention.head_count", u32v(d.heads))
        .metadata("qwen2.attention.head_count_kv", u32v(d.kv_heads))
        .metadata("qwen2.rope.freq_base", Value::F32(ROPE_BASE))
        .metadata(
            "qwen2.attention.layer_norm_rms_epsilon",
            Value::F32(RMS_EPS),
        )
        .metadata("qwen2.context_length", u32v(d.context));
    // Matrices scaled by 1/sqrt(row length) keep activations near unit size.
    let matrix = |w: GgufWriter, name: String, rows: usize, cols: usize, r: &mut StdRng| {
        let scale = 2.0 / (cols as f32).sqrt();
        let bytes = random_weights(matrix_type, rows * cols, scale, r);
        w.tensor(name, &[cols as u64, rows as u64], matrix_type, bytes)
    };
    let vector = |w: GgufWriter, name: String, n: usize, center: f32, r: &mut StdRng| {
        let values: Vec<f32> = random_vec(r, n).iter().map(|v| center + 0.2 * v).collect();
        w.tensor_f32(name, &[n as u64], &values)
    };
    // The embedding table's rows are not scaled: they are the activations.
    let embd_bytes = random_weights(matrix_type, d.vocab * d.hidden, 1.0, &mut r);
    w = w.tensor(
        "token_embd.weight",
        &[d.hidden as u64, d.vocab as u64],
        matrix_type,
        embd_bytes,
    );
    for b in 0..d.blocks {
        let n = |part: &str| format!("blk.{b}.{part}");
        w = vector(w, n("attn_norm.weight"), d.hidden, 1.0, &mut r);
        w = matrix(w, n("attn_q.weight"), d.hidden, d.hidden, &mut r);
        w = vector(w, n("attn_q.bias"), d.hidden, 0.0, &mut r);
        w = matrix(w, n("attn_k.weight"), kv, d.hidden, &mut r);
        w = vector(w, n("attn_k.bias"), kv, 0.0, &mut r);
        w = matrix(w, n("attn_v.weight"), kv, d.hidden, &mut r);
        w = vector(w, n("attn_v.bias"), kv, 0.0, &mut r);
        w = matrix(w, n("attn_output.weight"), d.hidden, d.hidden, &mut r);
        w = vector(w, n("ffn_norm.weight"), d.hidden, 1.0, &mut r);
        w = matrix(w, n("ffn_gate.weight"), d.ffn, d.hidden, &mut r);
        w = matrix(w, n("ffn_up.weight"), d.ffn, d.hidden, &mut r);
        w = matrix(w, n("ffn_down.weight"), d.hidden, d.ffn, &mut r);
    }
    w = vector(w, "output_norm.weight".into(), d.hidden, 1.0, &mut r);
    if !tied {
        w = matrix(w, "output.weight".into(), d.vocab, d.hidden, &mut r);
    }
    let path = std::env::temp_dir().join(format!(
        "metallic-tiny-{}-{matrix_type}-{tied}-{seed}.gguf",
        std::process::id()
    ));
    w.write_to(&path).unwrap();
    TinyModel { path }
}

/// `n` random weights of about `scale` in `dtype` (the library's test helper).
pub fn random_weights(dtype: DType, n: usize, scale: f32, r: &mut StdRng) -> Vec<u8> {
    metallic::testing::tiny_model::random_weights(dtype, n, scale, r)
        .expect("a whole number of blocks")
}

/// The float64 reference: every weight dequantized, every step in f64.
pub struct Reference {
    dims: Dims,
    tensors: std::collections::HashMap<String, Vec<f64>>,
}

impl Reference {
    pub fn load(file: &GgufFile, dims: Dims) -> Reference {
        let tensors = file
            .tensors()
            .iter()
            .map(|info| {
                let mut values = vec![0f32; info.n_elements() as usize];
                dequantize_f32(info.dtype, file.tensor_data(info), &mut values).unwrap();
                (
                    info.name.clone(),
                    values.iter().map(|&v| f64::from(v)).collect(),
                )
            })
            .collect();
        Reference { dims, tensors }
    }

    fn get(&self, name: &str) -> &[f64] {
        &self.tensors[name]
    }

    /// y = W · x for W stored [rows, x.len()].
    fn matvec(&self, name: &str, x: &[f64]) -> Vec<f64> {
        self.get(name)
            .chunks(x.len())
            .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    }

    fn linear(&self, weight: &str, bias: &str, x: &[f64]) -> Vec<f64> {
        let y = self.matvec(weight, x);
        y.iter().zip(self.get(bias)).map(|(a, b)| a + b).collect()
    }

    fn rms_norm(&self, name: &str, x: &[f64]) -> Vec<f64> {
        let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let scale = 1.0 / (ms + f64::from(RMS_EPS)).sqrt();
        x.iter()
            .zip(self.get(name))
            .map(|(v, g)| v * scale * g)
            .collect()
    }

    fn rope(&self, x: &mut [f64], pos: usize) {
        let d = self.dims.hidden / self.dims.heads;
        for head in x.chunks_mut(d) {
            for i in 0..d / 2 {
                let angle = pos as f64 * f64::from(ROPE_BASE).powf(-2.0 * i as f64 / d as f64);
                let (lo, hi) = (head[i], head[i + d / 2]);
                head[i] = lo * angle.cos() - hi * angle.sin();
                head[i + d / 2] = hi * angle.cos() + lo * angle.sin();
            }
        }
    }

    /// Logits of every position of `tokens`, evaluated from scratch.
    pub fn logits(&self, tokens: &[u32]) -> Vec<Vec<f64>> {
        let d = self.dims;
        let head_dim = d.hidden / d.heads;
        let group = d.heads / d.kv_heads;
        let embd = self.get("token_embd.weight");
        let mut xs: Vec<Vec<f64>> = tokens
            .iter()
            .map(|&t| embd[t as usize * d.hidden..][..d.hidden].to_vec())
            .collect();
        for b in 0..d.blocks {
            let n = |part: &str| format!("blk.{b}.{part}");
            let (mut keys, mut values) = (Vec::new(), Vec::new());
            for (pos, x) in xs.iter_mut().enumerate() {
                let h = self.rms_norm(&n("attn_norm.weight"), x);
                let mut q = self.linear(&n("attn_q.weight"), &n("attn_q.bias"), &h);
                let mut k = self.linear(&n("attn_k.weight"), &n("attn_k.bias"), &h);
                self.rope(&mut q, pos);
                self.rope(&mut k, pos);
                keys.push(k);
                values.push(self.linear(&n("attn_v.weight"), &n("attn_v.bias"), &h));
                let mut attn = vec![0.0; d.hidden];
                for head in 0..d.heads {
                    let kv_off = head / group * head_dim;
                    let qh = &q[head * head_dim..][..head_dim];
                    let scores: Vec<f64> = keys
                        .iter()
                        .map(|k| {
                            let kh = &k[kv_off..][..head_dim];
                            qh.iter().zip(kh).map(|(a, b)| a * b).sum::<f64>()
                                / (head_dim as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::MIN, f64::max);
                    let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let sum: f64 = exps.iter().sum();
                    for (p, v) in exps.iter().zip(&values) {
                        for i in 0..head_dim {
                            attn[head * head_dim + i] += p / sum * v[kv_off + i];
                        }
                    }
                }
                let o = self.matvec(&n("attn_output.weight"), &attn);
                x.iter_mut().zip(o).for_each(|(a, b)| *a += b);
                let h = self.rms_norm(&n("ffn_norm.weight"), x);
                let gate = self.matvec(&n("ffn_gate.weight"), &h);
                let up = self.matvec(&n("ffn_up.weight"), &h);
                let act: Vec<f64> = gate
                    .iter()
                    .zip(&up)
                    .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                    .collect();
                let down = self.matvec(&n("ffn_down.weight"), &act);
                x.iter_mut().zip(down).for_each(|(a, b)| *a += b);
            }
        }
        let output = if self.tensors.contains_key("output.weight") {
            "output.weight"
        } else {
            "token_embd.weight"
        };
        xs.iter()
            .map(|x| self.matvec(output, &self.rms_norm("output_norm.weight", x)))
            .collect()
    }
}

pub fn random_tokens(r: &mut impl Rng, n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|_| r.random_range(0..vocab as u32)).collect()
}
