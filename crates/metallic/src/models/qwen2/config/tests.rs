//! Config tests on tiny Qwen2 files written by `GgufWriter`: hidden 8,
//! 2 heads of 4, 1 KV head, FFN 12, vocabulary 10, 2 blocks.

use super::*;
use crate::gguf::GgufWriter;
use crate::testing::{fresh_seed, random_vec, rng};

const HIDDEN: u64 = 8;
const KV: u64 = 4;
const FFN: u64 = 12;
const VOCAB: u64 = 10;

struct Tiny {
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<u64>)>,
}

impl Tiny {
    fn new() -> Tiny {
        let metadata = vec![
            ("general.architecture", Value::String("qwen2".into())),
            ("qwen2.block_count", Value::U32(2)),
            ("qwen2.embedding_length", Value::U32(HIDDEN as u32)),
            ("qwen2.feed_forward_length", Value::U32(FFN as u32)),
            ("qwen2.attention.head_count", Value::U32(2)),
            ("qwen2.attention.head_count_kv", Value::U32(1)),
            ("qwen2.rope.freq_base", Value::F32(1e6)),
            ("qwen2.attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
            ("qwen2.context_length", Value::U32(64)),
            (
                "tokenizer.ggml.tokens",
                Value::Array((0..VOCAB).map(|i| Value::String(format!("t{i}"))).collect()),
            ),
        ];
        let mut tensors = vec![
            ("token_embd.weight".to_string(), vec![HIDDEN, VOCAB]),
            ("output_norm.weight".to_string(), vec![HIDDEN]),
            ("output.weight".to_string(), vec![HIDDEN, VOCAB]),
        ];
        for b in 0..2 {
            for (name, dims) in [
                ("attn_norm.weight", vec![HIDDEN]),
                ("attn_q.weight", vec![HIDDEN, HIDDEN]),
                ("attn_q.bias", vec![HIDDEN]),
                ("attn_k.weight", vec![HIDDEN, KV]),
                ("attn_k.bias", vec![KV]),
                ("attn_v.weight", vec![HIDDEN, KV]),
                ("attn_v.bias", vec![KV]),
                ("attn_output.weight", vec![HIDDEN, HIDDEN]),
                ("ffn_norm.weight", vec![HIDDEN]),
                ("ffn_gate.weight", vec![HIDDEN, FFN]),
                ("ffn_up.weight", vec![HIDDEN, FFN]),
                ("ffn_down.weight", vec![FFN, HIDDEN]),
            ] {
                tensors.push((format!("blk.{b}.{name}"), dims));
            }
        }
        let metadata = metadata
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Tiny { metadata, tensors }
    }

    fn set(mut self, key: &str, value: Value) -> Tiny {
        self.metadata.retain(|(k, _)| k != key);
        self.metadata.push((key.into(), value));
        self
    }

    fn without(mut self, key: &str) -> Tiny {
        self.metadata.retain(|(k, _)| k != key);
        self.tensors.retain(|(n, _)| n != key);
        self
    }

    fn reshape(mut self, name: &str, dims: &[u64]) -> Tiny {
        let t = self.tensors.iter_mut().find(|(n, _)| n == name).unwrap();
        t.1 = dims.to_vec();
        self
    }

    fn file(&self) -> GgufFile {
        let mut r = rng(fresh_seed());
        let mut w = GgufWriter::new();
        for (k, v) in &self.metadata {
            w = w.metadata(k.clone(), v.clone());
        }
        for (name, dims) in &self.tensors {
            let n = dims.iter().product::<u64>() as usize;
            w = w.tensor_f32(name.clone(), dims, &random_vec(&mut r, n));
        }
        GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()
    }

    fn config(&self) -> Result<Qwen2Config> {
        Qwen2Config::from_gguf(&self.file())
    }

    /// The config error's key and detail.
    fn error(&self) -> (String, String) {
        match self.config() {
            Err(Error::Config { key, detail }) => (key, detail),
            other => panic!("expected a config error, got {other:?}"),
        }
    }
}

#[test]
fn reads_a_valid_model() {
    let c = Tiny::new().config().unwrap();
    assert_eq!(
        c,
        Qwen2Config {
            block_count: 2,
            hidden_size: 8,
            ffn_size: 12,
            n_heads: 2,
            n_kv_heads: 1,
            head_dim: 4,
            rope_base: 1e6,
            rms_eps: 1e-6,
            context_length: 64,
            vocab_size: 10,
            tied_embeddings: false,
        }
    );
    assert_eq!(c.kv_dim(), 4);
}

#[test]
fn tied_embeddings_and_llama_cpp_defaults() {
    let c = Tiny::new()
        .without("output.weight")
        .without("qwen2.rope.freq_base")
        .without("tokenizer.ggml.tokens")
        .config()
        .unwrap();
    assert!(c.tied_embeddings);
    assert_eq!(c.rope_base, 10_000.0);
    assert_eq!(c.vocab_size, 10);
    // Without a KV head count every head has its own K and V, so the K and
    // V projections must then be as wide as Q.
    let (key, detail) = Tiny::new().without("qwen2.attention.head_count_kv").error();
    assert_eq!(key, "blk.0.attn_k.weight", "{detail}");
    let c = Tiny::new()
        .without("qwen2.attention.head_count_kv")
        .reshape("blk.0.attn_k.weight", &[8, 8])
        .reshape("blk.0.attn_v.weight", &[8, 8])
        .reshape("blk.0.attn_k.bias", &[8])
        .reshape("blk.0.attn_v.bias", &[8])
        .reshape("blk.1.attn_k.weight", &[8, 8])
        .reshape("blk.1.attn_v.weight", &[8, 8])
        .reshape("blk.1.attn_k.bias", &[8])
        .reshape("blk.1.attn_v.bias", &[8])
        .config()
        .unwrap();
    assert_eq!(c.n_kv_heads, 2);
}

#[test]
fn missing_keys_are_named() {
    for key in [
        "general.architecture",
        "qwen2.block_count",
        "qwen2.embedding_length",
        "qwen2.feed_forward_length",
        "qwen2.attention.head_count",
        "qwen2.attention.layer_norm_rms_epsilon",
        "qwen2.context_length",
    ] {
        let (named, detail) = Tiny::new().without(key).error();
        assert_eq!(named, key, "{detail}");
        assert!(detail.contains("missing"), "{key}: {detail}");
    }
}

#[test]
fn wrong_types_and_values_are_named() {
    for (key, value, needle) in [
        (
            "general.architecture",
            Value::String("llama".into()),
            "\"llama\"",
        ),
        ("qwen2.block_count", Value::String("2".into()), "string"),
        ("qwen2.block_count", Value::I32(-2), "positive integer"),
        ("qwen2.context_length", Value::U32(0), "positive integer"),
        (
            "qwen2.rope.freq_base",
            Value::F32(f32::NAN),
            "positive number",
        ),
        (
            "qwen2.attention.layer_norm_rms_epsilon",
            Value::F64(-1e-6),
            "positive number",
        ),
    ] {
        let (named, detail) = Tiny::new().set(key, value).error();
        assert_eq!(named, key, "{detail}");
        assert!(detail.contains(needle.trim()), "{key}: {detail}");
    }
}

#[test]
fn inconsistent_heads_are_named() {
    let (key, detail) = Tiny::new()
        .set("qwen2.attention.head_count", Value::U32(3))
        .error();
    assert_eq!(key, "qwen2.attention.head_count");
    assert!(
        detail.contains("do not divide the hidden size 8"),
        "{detail}"
    );

    let (key, detail) = Tiny::new()
        .set("qwen2.attention.head_count", Value::U32(8))
        .error();
    assert_eq!(key, "qwen2.attention.head_count");
    assert!(detail.contains("odd"), "{detail}");

    let (key, detail) = Tiny::new()
        .set("qwen2.attention.head_count", Value::U32(4))
        .set("qwen2.attention.head_count_kv", Value::U32(3))
        .error();
    assert_eq!(key, "qwen2.attention.head_count_kv");
    assert!(detail.contains("3 KV heads"), "{detail}");

    let (key, _) = Tiny::new()
        .set("qwen2.attention.key_length", Value::U32(8))
        .error();
    assert_eq!(key, "qwen2.attention.key_length");
    assert!(Tiny::new()
        .set("qwen2.attention.key_length", Value::U32(4))
        .config()
        .is_ok());
}

#[test]
fn vocabulary_must_agree() {
    let (key, detail) = Tiny::new()
        .set(
            "tokenizer.ggml.tokens",
            Value::from(vec![Value::String("a".into())]),
        )
        .error();
    assert_eq!(key, "tokenizer.ggml.tokens");
    assert!(detail.contains("1 tokens"), "{detail}");
    let (key, _) = Tiny::new().set("qwen2.vocab_size", Value::U32(11)).error();
    assert_eq!(key, "qwen2.vocab_size");
    let (key, detail) = Tiny::new().reshape("token_embd.weight", &[4, 20]).error();
    assert_eq!(key, "token_embd.weight");
    assert!(detail.contains("[4, 20]"), "{detail}");
}

#[test]
fn missing_or_misshapen_tensors_are_named() {
    for name in [
        "output_norm.weight",
        "blk.1.attn_q.bias",
        "blk.0.ffn_down.weight",
        "token_embd.weight",
    ] {
        let (key, detail) = Tiny::new().without(name).error();
        assert_eq!(key, name);
        assert!(detail.contains("missing"), "{detail}");
    }
    for (name, dims) in [
        ("output.weight", &[8u64, 11][..]),
        ("blk.1.attn_v.weight", &[8, 8]),
        ("blk.0.ffn_gate.weight", &[12, 8]),
        ("blk.1.ffn_norm.weight", &[8, 1]),
    ] {
        let (key, detail) = Tiny::new().reshape(name, dims).error();
        assert_eq!(key, name);
        assert!(detail.contains(&format!("{dims:?}")), "{detail}");
    }
}
