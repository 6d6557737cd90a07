//! Tiny random-weight Qwen2 models (the library's `write_tiny_qwen2`) of
//! the tests' shapes, and a plain float64 forward pass over the same
//! weights (dequantized): shared by the CPU tests and the GPU tests of the
//! forward pass.
#![allow(dead_code)]

use metallic::gguf::GgufFile;
use metallic::quant::dequantize_f32;
use metallic::testing::tiny_model::{TinyDims, TinyModelFile};
use metallic::DType;
use rand::Rng;

/// Wider than the byte tokenizer's vocabulary: a forward-only model file.
pub const SMALL: TinyDims = TinyDims {
    vocab: 300,
    context: 64,
    ..TinyDims::DEFAULT
};

/// K-quant rows hold 256 values, so every matrix's row length is 256·k.
pub const KQUANT: TinyDims = TinyDims {
    hidden: 256,
    ffn: 512,
    ..SMALL
};

/// A tiny model file (see `write_tiny_qwen2`), removed on drop.
pub fn write_model(dims: TinyDims, matrix_type: DType, tied: bool, seed: u64) -> TinyModelFile {
    TinyModelFile::write(dims, matrix_type, tied, seed).unwrap()
}

/// The float64 reference: every weight dequantized, every step in f64;
/// optionally with the 8-bit activation rounding of the project's kernels.
pub struct Reference {
    dims: TinyDims,
    tensors: std::collections::HashMap<String, Vec<f64>>,
    /// Values per activation scale when the inputs of every weight product
    /// are rounded as the kernels round them (see `rounded_to_8_bits`).
    activation_block: Option<usize>,
}

impl Reference {
    pub fn load(file: &GgufFile, dims: TinyDims) -> Reference {
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
        Reference {
            dims,
            tensors,
            activation_block: None,
        }
    }

    /// The same reference with the input of every weight product rounded to
    /// 8 bits, one scale per `block` values, as the project's quantized
    /// kernels do before multiplying.
    pub fn with_8_bit_activations(self, block: usize) -> Reference {
        Reference {
            activation_block: Some(block),
            ..self
        }
    }

    fn get(&self, name: &str) -> &[f64] {
        &self.tensors[name]
    }

    /// y = W · x for W stored [rows, x.len()].
    fn matvec(&self, name: &str, x: &[f64]) -> Vec<f64> {
        let rounded;
        let x = match self.activation_block {
            Some(block) => {
                rounded = rounded_to_8_bits(x, block);
                &rounded
            }
            None => x,
        };
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
        let scale = 1.0 / (ms + f64::from(self.dims.rms_eps)).sqrt();
        x.iter()
            .zip(self.get(name))
            .map(|(v, g)| v * scale * g)
            .collect()
    }

    fn rope(&self, x: &mut [f64], pos: usize) {
        let d = self.dims.hidden / self.dims.heads;
        for head in x.chunks_mut(d) {
            for i in 0..d / 2 {
                let angle =
                    pos as f64 * f64::from(self.dims.rope_base).powf(-2.0 * i as f64 / d as f64);
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

/// `x` with each block of `block` values rounded to ±127 levels of its
/// largest magnitude (ties to even), as `quant::activation` rounds them.
fn rounded_to_8_bits(x: &[f64], block: usize) -> Vec<f64> {
    x.chunks(block)
        .flat_map(|b| {
            let amax = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            b.iter().map(move |&v| {
                if amax == 0.0 {
                    0.0
                } else {
                    (v * 127.0 / amax).round_ties_even().clamp(-127.0, 127.0) * amax / 127.0
                }
            })
        })
        .collect()
}

pub fn random_tokens(r: &mut impl Rng, n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|_| r.random_range(0..vocab as u32)).collect()
}

/// Root mean square of `values`.
pub fn rms(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .into_iter()
        .fold((0.0, 0usize), |(s, n), x| (s + x * x, n + 1));
    (sum / n.max(1) as f64).sqrt()
}

/// RMS of `actual - expected`.
pub fn rms_error(actual: &[f32], expected: &[f64]) -> f64 {
    rms(actual.iter().zip(expected).map(|(&a, e)| f64::from(a) - e))
}
