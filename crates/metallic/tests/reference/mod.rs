//! The one float64 reference of every op the model uses, written plainly
//! (loops over row-major values, no engine code), for the cross-backend
//! matrix (`backend_ops.rs`) and the matmul API tests. Inputs are the
//! values the device sees (already rounded to their dtype).
#![allow(dead_code)]

mod matmul;

// Not every test crate that includes the references multiplies.
#[allow(unused_imports)]
pub use matmul::matmul;

/// RMSNorm of each row of `x` (rows of `w.len()`), times `w`.
pub fn rms_norm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    x.chunks(w.len())
        .flat_map(|row| {
            let mean = row.iter().map(|v| v * v).sum::<f64>() / row.len() as f64;
            let scale = 1.0 / (mean + eps).sqrt();
            row.iter().zip(w).map(move |(v, g)| v * scale * g)
        })
        .collect()
}

/// `a` + `b`, `b` one row repeated over the rows of `a` when shorter.
pub fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .enumerate()
        .map(|(i, x)| x + b[i % b.len()])
        .collect()
}

/// silu(gate) · up.
pub fn swiglu(gate: &[f64], up: &[f64]) -> Vec<f64> {
    gate.iter()
        .zip(up)
        .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
        .collect()
}

/// NeoX RoPE of `x` [seq, heads, d], token t at position `start + t`:
/// element i of a head pairs with i + d/2, rotated by pos · base^(−2i/d).
pub fn rope(x: &[f64], heads: usize, d: usize, start: usize, base: f64) -> Vec<f64> {
    let half = d / 2;
    let mut out = x.to_vec();
    for (row, chunk) in out.chunks_mut(d).enumerate() {
        let pos = (start + row / heads) as f64;
        let src = &x[row * d..(row + 1) * d];
        for i in 0..half {
            let angle = pos * base.powf(-2.0 * i as f64 / d as f64);
            let (cos, sin) = (angle.cos(), angle.sin());
            chunk[i] = src[i] * cos - src[i + half] * sin;
            chunk[i + half] = src[i + half] * cos + src[i] * sin;
        }
    }
    out
}

/// Softmax of each row of `keys` values; with `causal = Some(offset)`, row
/// r is query r % `queries`, which sees keys 0..=offset + r % queries (the
/// rest 0).
pub fn softmax(x: &[f64], keys: usize, queries: usize, causal: Option<usize>) -> Vec<f64> {
    x.chunks(keys)
        .enumerate()
        .flat_map(|(r, row)| {
            let visible = causal.map_or(keys, |offset| offset + r % queries + 1);
            let max = row[..visible].iter().copied().fold(f64::MIN, f64::max);
            let sum: f64 = row[..visible].iter().map(|v| (v - max).exp()).sum();
            (0..keys).map(move |j| {
                if j < visible {
                    (row[j] - max).exp() / sum
                } else {
                    0.0
                }
            })
        })
        .collect()
}

/// Causal grouped-query attention: `q` [seq, heads, d] at positions
/// start.., over `keys` and `values` [len, kv_heads, d] for positions
/// 0..start + seq; query head h reads KV head h / (heads / kv_heads) and
/// sees positions up to its own. Output [seq, heads, d].
pub fn attention(
    q: &[f64],
    keys: &[f64],
    values: &[f64],
    (heads, kv_heads, d): (usize, usize, usize),
    start: usize,
) -> Vec<f64> {
    let seq = q.len() / (heads * d);
    let group = heads / kv_heads;
    let scale = 1.0 / (d as f64).sqrt();
    let mut out = Vec::with_capacity(q.len());
    for t in 0..seq {
        for h in 0..heads {
            let kv = h / group;
            let query = &q[(t * heads + h) * d..][..d];
            let row = |cache: &'_ [f64], p: usize| -> Vec<f64> {
                cache[(p * kv_heads + kv) * d..][..d].to_vec()
            };
            let visible = start + t + 1;
            let scores: Vec<f64> = (0..visible)
                .map(|p| {
                    scale
                        * query
                            .iter()
                            .zip(row(keys, p))
                            .map(|(a, b)| a * b)
                            .sum::<f64>()
                })
                .collect();
            let probs = softmax(&scores, visible, 1, None);
            for i in 0..d {
                out.push((0..visible).map(|p| probs[p] * row(values, p)[i]).sum());
            }
        }
    }
    out
}

/// Rows `ids` of `table` (rows of `dim`).
pub fn embedding(table: &[f64], dim: usize, ids: &[u32]) -> Vec<f64> {
    ids.iter()
        .flat_map(|&id| table[id as usize * dim..][..dim].iter().copied())
        .collect()
}
