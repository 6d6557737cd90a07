//! Attention's products with 14 heads of 64 as the forward pass lays them
//! out: Q from a `[seq, heads·dim]` projection, K and V as slices of a
//! longer `[max_seq, heads·dim]` cache, the output written straight into a
//! `[seq, heads·dim]` buffer — all through views, no copies.

use super::support::*;
use metallic::testing::{fresh_seed, rng};
use metallic::{DType, Tensor};

const HEADS: usize = 14;
const KV_HEADS: usize = 2;
const DIM: usize = 64;
const MAX_SEQ: usize = 600;

/// `[heads, rows, dim]` view of the first `rows` rows of a
/// `[.., heads·dim]` buffer.
fn per_head(t: &Tensor, rows: usize, heads: usize) -> Tensor {
    t.slice(0, 0..rows)
        .unwrap()
        .reshape(&[rows, heads, DIM])
        .unwrap()
        .permute(&[1, 0, 2])
        .unwrap()
}

fn attention(m: usize, n: usize) {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    let q = per_head(&random(r, DType::F32, &[m, HEADS * DIM]), m, HEADS);
    let k_cache = random(r, DType::F32, &[MAX_SEQ, HEADS * DIM]);
    let v_cache = random(r, DType::F32, &[MAX_SEQ, HEADS * DIM]);
    let k = per_head(&k_cache, n, HEADS);
    let v = per_head(&v_cache, n, HEADS);

    // Scores QKᵀ, scaled: [14, m, n].
    check_matmul(&q, &k, false, true, seed);
    let scale = 1.0 / (DIM as f32).sqrt();
    let scores = random(r, DType::F32, &[HEADS, m, n]);
    check_alpha_beta(&q, &k, &scores, false, true, scale, 0.0, seed);

    // P·V written into the heads' columns of a [m, heads·dim] output.
    let p = random(r, DType::F32, &[HEADS, m, n]);
    check_matmul(&p, &v, false, false, seed);
    let out = Tensor::empty(&CPU, DType::F32, &[m, HEADS * DIM]).unwrap();
    let out_heads = per_head(&out, m, HEADS);
    check_alpha_beta(&p, &v, &out_heads, false, false, 1.0, 0.0, seed);
}

#[test]
fn decode_attention_with_95_positions() {
    attention(1, 95);
}

#[test]
fn decode_attention_with_512_positions() {
    attention(1, 512);
}

#[test]
fn prefill_attention() {
    attention(16, 16);
}

/// Grouped-query attention: 14 query heads share 2 KV heads, by
/// broadcasting the KV batch dimension instead of repeating it.
#[test]
fn grouped_query_attention_broadcasts_kv_heads() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    let (m, n) = (3, 95);
    let group = HEADS / KV_HEADS;
    let q = per_head(&random(r, DType::F32, &[m, HEADS * DIM]), m, HEADS)
        .reshape(&[KV_HEADS, group, m, DIM])
        .unwrap();
    let k_cache = random(r, DType::F32, &[MAX_SEQ, KV_HEADS * DIM]);
    let k = per_head(&k_cache, n, KV_HEADS).unsqueeze(1).unwrap();
    assert_eq!(k.shape(), &[KV_HEADS, 1, n, DIM]);
    check_matmul(&q, &k, false, true, seed);
    let v = per_head(
        &random(r, DType::F32, &[MAX_SEQ, KV_HEADS * DIM]),
        n,
        KV_HEADS,
    )
    .unsqueeze(1)
    .unwrap();
    let p = random(r, DType::F32, &[KV_HEADS, group, m, n]);
    check_matmul(&p, &v, false, false, seed);
}
