//! Writes the fuzz target's seed files into fuzz/seeds/: a tiny valid Qwen2
//! model (so mutations reach the config checks) and a file holding every
//! metadata value type. Run: `cargo run --example make_seeds` in fuzz/.

use std::path::Path;

use metallic::gguf::{GgufWriter, Value};
use metallic::DType;

fn main() -> metallic::Result<()> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    std::fs::create_dir_all(&seeds).map_err(|e| metallic::Error::io(&seeds, e))?;
    tiny_qwen2().write_to(&seeds.join("tiny_qwen2.gguf"))?;
    every_value_type().write_to(&seeds.join("every_value_type.gguf"))
}

/// Hidden 4, 2 heads of 2, 1 KV head, FFN 4, vocabulary 4, one block.
fn tiny_qwen2() -> GgufWriter {
    let (h, kv, ffn, vocab) = (4u64, 2u64, 4u64, 4u64);
    let mut w = GgufWriter::new()
        .metadata("general.architecture", Value::String("qwen2".into()))
        .metadata("qwen2.block_count", Value::U32(1))
        .metadata("qwen2.embedding_length", Value::U32(h as u32))
        .metadata("qwen2.feed_forward_length", Value::U32(ffn as u32))
        .metadata("qwen2.attention.head_count", Value::U32(2))
        .metadata("qwen2.attention.head_count_kv", Value::U32(1))
        .metadata("qwen2.rope.freq_base", Value::F32(1e6))
        .metadata("qwen2.attention.layer_norm_rms_epsilon", Value::F32(1e-6))
        .metadata("qwen2.context_length", Value::U32(32))
        .metadata(
            "tokenizer.ggml.tokens",
            Value::Array((0..vocab).map(|i| Value::String(format!("t{i}"))).collect()),
        );
    let mut tensors = vec![
        ("token_embd.weight".to_string(), vec![h, vocab]),
        ("output_norm.weight".to_string(), vec![h]),
    ];
    for (name, dims) in [
        ("attn_norm.weight", vec![h]),
        ("attn_q.weight", vec![h, h]),
        ("attn_q.bias", vec![h]),
        ("attn_k.weight", vec![h, kv]),
        ("attn_k.bias", vec![kv]),
        ("attn_v.weight", vec![h, kv]),
        ("attn_v.bias", vec![kv]),
        ("attn_output.weight", vec![h, h]),
        ("ffn_norm.weight", vec![h]),
        ("ffn_gate.weight", vec![h, ffn]),
        ("ffn_up.weight", vec![h, ffn]),
        ("ffn_down.weight", vec![ffn, h]),
    ] {
        tensors.push((format!("blk.0.{name}"), dims));
    }
    for (i, (name, dims)) in tensors.into_iter().enumerate() {
        let n = dims.iter().product::<u64>() as usize;
        let values: Vec<f32> = (0..n).map(|j| (i * 31 + j) as f32 * 0.01).collect();
        w = w.tensor_f32(name, &dims, &values);
    }
    w
}

fn every_value_type() -> GgufWriter {
    GgufWriter::new()
        .version(2)
        .metadata("general.alignment", Value::U32(64))
        .metadata("u8", Value::U8(1))
        .metadata("i8", Value::I8(-1))
        .metadata("u16", Value::U16(2))
        .metadata("i16", Value::I16(-2))
        .metadata("u32", Value::U32(3))
        .metadata("i32", Value::I32(-3))
        .metadata("u64", Value::U64(4))
        .metadata("i64", Value::I64(-4))
        .metadata("f32", Value::F32(0.5))
        .metadata("f64", Value::F64(0.25))
        .metadata("bool", Value::Bool(true))
        .metadata("string", Value::String("s".into()))
        .metadata(
            "nested",
            Value::Array(vec![Value::Array(vec![Value::U8(1)]), Value::Array(vec![])]),
        )
        .tensor("q8", &[32, 2], DType::Q8_0, vec![1u8; 68])
        .tensor("q4k", &[256], DType::Q4_K, vec![2u8; 144])
}
