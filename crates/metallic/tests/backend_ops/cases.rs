//! The table: every op the model uses, over shapes including Qwen2.5-0.5B's
//! (hidden 896, 14 query heads and 2 KV heads of 64, feed-forward 4864,
//! vocabulary 151936), dtypes and layouts. A case that a device cannot run
//! says so here, with the reason; nothing is skipped silently.

use metallic::DType;

/// Qwen2.5-0.5B's sizes.
pub const HIDDEN: usize = 896;
pub const KV_DIM: usize = 128;
pub const FFN: usize = 4864;
pub const HEADS: usize = 14;
pub const KV_HEADS: usize = 2;
pub const HEAD_DIM: usize = 64;
pub const VOCAB: usize = 151_936;

/// How an operand's rows lie in memory.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    Contiguous,
    /// Rows `pad` values longer than the operand (a view of a wider buffer).
    Padded(usize),
}

/// `alpha · op(a) · op(b) + beta · c` through `matmul_alpha_beta`, `c` a
/// view of a random (β ≠ 0) or poisoned (β = 0) buffer. `a` is
/// [a_batch.., m, k] (stored [.., k, m] when transposed), `b` [b_batch..,
/// k, n] (stored [.., n, k] when transposed, the weight path `x · Wᵀ`); a
/// quantized `b` is GGUF rows of k.
#[derive(Clone, Debug)]
pub struct Product {
    pub a_batch: Vec<usize>,
    pub b_batch: Vec<usize>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_dtype: DType,
    pub b_dtype: DType,
    pub transpose_a: bool,
    pub transpose_b: bool,
    pub a_layout: Layout,
    pub c_layout: Layout,
    pub alpha: f32,
    pub beta: f32,
}

#[derive(Clone, Debug)]
pub enum Op {
    Matmul(Product),
    /// RMSNorm of [rows, cols] (rows padded as `layout` says).
    RmsNorm {
        rows: usize,
        cols: usize,
        layout: Layout,
    },
    /// [rows, cols] + a bias row [cols] broadcast over the rows.
    AddBias {
        rows: usize,
        cols: usize,
    },
    /// [rows, cols] + [rows, cols].
    Add {
        rows: usize,
        cols: usize,
    },
    Swiglu {
        rows: usize,
        cols: usize,
    },
    /// RoPE of [seq, heads, d] at positions start.., into a heads-major view.
    Rope {
        seq: usize,
        heads: usize,
        d: usize,
        start: usize,
    },
    /// Softmax of [heads, queries, keys], causal after `start` cached keys.
    Softmax {
        heads: usize,
        queries: usize,
        keys: usize,
        causal: Option<usize>,
    },
    /// Heads-major [heads, seq, d] (a permuted view) to token-major rows.
    Copy {
        seq: usize,
        heads: usize,
        d: usize,
    },
    /// `ids` random rows of a [vocab, dim] table of `dtype`.
    Embedding {
        vocab: usize,
        dim: usize,
        dtype: DType,
        ids: usize,
    },
    /// The attention op over a fresh KV cache of `capacity` positions:
    /// `prefix` tokens attended first (filling the cache), then `seq` more.
    Attention {
        prefix: usize,
        seq: usize,
        heads: usize,
        kv_heads: usize,
        d: usize,
        capacity: usize,
    },
}

pub struct Case {
    pub name: String,
    pub op: Op,
    /// Why a GPU does not run this case, where it does not.
    pub cpu_only: Option<&'static str>,
}

impl Op {
    /// Ops the case must leave profiling records of, any one of them
    /// (matmul records carry the call's name; attention on the CPU records
    /// the ops it is composed of).
    pub fn recorded(&self) -> &'static [&'static str] {
        match self {
            Op::Matmul(_) => &["matmul_alpha_beta"],
            Op::RmsNorm { .. } => &["rms_norm"],
            Op::AddBias { .. } | Op::Add { .. } => &["add"],
            Op::Swiglu { .. } => &["swiglu"],
            Op::Rope { .. } => &["rope"],
            Op::Softmax { .. } => &["softmax"],
            Op::Copy { .. } => &["copy"],
            Op::Embedding { .. } => &["embedding"],
            Op::Attention { .. } => &["attention", "softmax"],
        }
    }
}

fn case(name: impl Into<String>, op: Op) -> Case {
    Case {
        name: name.into(),
        op,
        cpu_only: None,
    }
}

/// `x · Wᵀ` for activations [m, k] of `a_dtype` and a weight [n, k].
fn projection(m: usize, n: usize, k: usize, a_dtype: DType, b_dtype: DType) -> Op {
    Op::Matmul(Product {
        a_batch: vec![],
        b_batch: vec![],
        m,
        n,
        k,
        a_dtype,
        b_dtype,
        transpose_a: false,
        transpose_b: true,
        a_layout: Layout::Contiguous,
        c_layout: Layout::Contiguous,
        alpha: 1.0,
        beta: 0.0,
    })
}

/// The whole table.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    let projections = [
        ("q/o", HIDDEN, HIDDEN),
        ("k/v", KV_DIM, HIDDEN),
        ("gate/up", FFN, HIDDEN),
        ("down", HIDDEN, FFN),
    ];
    // The forward pass's products with float weights, at decode and prefill.
    for (name, n, k) in projections {
        for m in [1, 128] {
            cases.push(case(
                format!("matmul {name} m={m} F32"),
                projection(m, n, k, DType::F32, DType::F32),
            ));
        }
        for dtype in [DType::F16, DType::BF16] {
            cases.push(case(
                format!("matmul {name} m=1 {dtype}"),
                projection(1, n, k, dtype, dtype),
            ));
        }
    }
    // The output projection over the vocabulary, at decode only (at m = 128
    // the float64 reference alone takes too long for a test).
    cases.push(case(
        "matmul output m=1 F32",
        projection(1, VOCAB, HIDDEN, DType::F32, DType::F32),
    ));
    // The model's GGUF weight types at its shapes: the 32-value formats with
    // K = 896, the K formats on the down projection (K = 4864).
    for (dtype, n, k, ms) in [
        (DType::Q5_0, KV_DIM + 2 * HIDDEN, HIDDEN, &[1, 128][..]),
        (DType::Q8_0, HIDDEN, HIDDEN, &[1, 128][..]),
        (DType::Q4_0, 2 * FFN, HIDDEN, &[1][..]),
        (DType::Q4_K, HIDDEN, FFN, &[1, 128][..]),
        (DType::Q6_K, HIDDEN, FFN, &[1, 128][..]),
        (DType::Q5_K, HIDDEN, FFN, &[1][..]),
    ] {
        for &m in ms {
            cases.push(case(
                format!("matmul {n}x{k} m={m} {dtype} weights"),
                projection(m, n, k, DType::F32, dtype),
            ));
        }
    }
    // Every GGUF block type on small shapes, under every float activation.
    for dtype in DType::ALL.into_iter().filter(|d| d.is_quantized()) {
        let k = 2 * dtype.block_size();
        for a_dtype in [DType::F32, DType::F16, DType::BF16] {
            for m in [1, 5] {
                cases.push(case(
                    format!("matmul 33x{k} m={m} {dtype} weights, {a_dtype} activations"),
                    projection(m, 33, k, a_dtype, dtype),
                ));
            }
        }
    }
    // Layouts: padded activations, a residual accumulated (β = 1) into a
    // padded view, transposed operands, batches broadcast over one weight.
    cases.push(case(
        "matmul padded activations, residual β=1",
        Op::Matmul(Product {
            a_layout: Layout::Padded(7),
            c_layout: Layout::Padded(3),
            beta: 1.0,
            ..product(5, HIDDEN, HIDDEN)
        }),
    ));
    cases.push(case(
        "matmul transposed a and b, α=0.5 β=-2",
        Op::Matmul(Product {
            transpose_a: true,
            transpose_b: false,
            alpha: 0.5,
            beta: -2.0,
            ..product(9, 40, 70)
        }),
    ));
    cases.push(case(
        "matmul batch of activations over one weight",
        Op::Matmul(Product {
            a_batch: vec![2, 3],
            ..product(4, 48, 64)
        }),
    ));
    // Attention's products as the composed attention issues them: scores
    // of grouped queries against one KV head's keys, into rows `capacity`
    // apart, and probabilities times values.
    for (seq, len) in [(1, 95), (1, 512), (11, 11)] {
        let group = HEADS / KV_HEADS;
        cases.push(case(
            format!("matmul attention scores seq={seq} len={len}"),
            Op::Matmul(Product {
                a_batch: vec![KV_HEADS],
                b_batch: vec![KV_HEADS],
                c_layout: Layout::Padded(600 - len),
                alpha: 1.0 / (HEAD_DIM as f32).sqrt(),
                ..product(group * seq, len, HEAD_DIM)
            }),
        ));
        cases.push(case(
            format!("matmul attention values seq={seq} len={len}"),
            Op::Matmul(Product {
                a_batch: vec![KV_HEADS],
                b_batch: vec![KV_HEADS],
                transpose_b: false,
                a_layout: Layout::Padded(600 - len),
                ..product(group * seq, HEAD_DIM, len)
            }),
        ));
    }

    // The row-wise ops at decode and prefill sizes.
    for rows in [1, 11] {
        cases.push(case(
            format!("rms_norm {rows}x{HIDDEN}"),
            Op::RmsNorm {
                rows,
                cols: HIDDEN,
                layout: Layout::Contiguous,
            },
        ));
        for (name, cols) in [("q", HIDDEN), ("k", KV_DIM)] {
            cases.push(case(
                format!("add {name} bias {rows}x{cols}"),
                Op::AddBias { rows, cols },
            ));
        }
        cases.push(case(
            format!("add {rows}x{HIDDEN}"),
            Op::Add { rows, cols: HIDDEN },
        ));
        cases.push(case(
            format!("swiglu {rows}x{FFN}"),
            Op::Swiglu { rows, cols: FFN },
        ));
        cases.push(case(
            format!("embedding {rows} ids of {VOCAB}x{HIDDEN} F32"),
            Op::Embedding {
                vocab: VOCAB,
                dim: HIDDEN,
                dtype: DType::F32,
                ids: rows,
            },
        ));
    }
    cases.push(case(
        "rms_norm 5x37 padded rows",
        Op::RmsNorm {
            rows: 5,
            cols: 37,
            layout: Layout::Padded(3),
        },
    ));
    for dtype in [DType::F16, DType::Q8_0, DType::Q4_0] {
        cases.push(case(
            format!("embedding 7 ids of 300x{HIDDEN} {dtype}"),
            Op::Embedding {
                vocab: 300,
                dim: HIDDEN,
                dtype,
                ids: 7,
            },
        ));
    }
    for (seq, start) in [(1, 0), (1, 517), (11, 20)] {
        cases.push(Case {
            cpu_only: Some("the GPU rotates in place or into a contiguous copy"),
            ..case(
                format!("rope {seq}x{HEADS}x{HEAD_DIM} from {start} into heads-major"),
                Op::Rope {
                    seq,
                    heads: HEADS,
                    d: HEAD_DIM,
                    start,
                },
            )
        });
        cases.push(Case {
            cpu_only: Some("the GPU's softmax is inside its fused attention"),
            ..case(
                format!("softmax causal {seq} queries after {start}"),
                Op::Softmax {
                    heads: HEADS,
                    queries: seq,
                    keys: start + seq + 3,
                    causal: Some(start),
                },
            )
        });
    }
    cases.push(Case {
        cpu_only: Some("the GPU's softmax is inside its fused attention"),
        ..case(
            "softmax plain 3x5x40",
            Op::Softmax {
                heads: 3,
                queries: 5,
                keys: 40,
                causal: None,
            },
        )
    });
    cases.push(Case {
        cpu_only: Some("the GPU copies contiguous views only"),
        ..case(
            format!("copy heads-major 11x{HEADS}x{HEAD_DIM} to token-major"),
            Op::Copy {
                seq: 11,
                heads: HEADS,
                d: HEAD_DIM,
            },
        )
    });

    // Attention: prefill from an empty cache, prefill after a prefix, and
    // decode steps late in the cache; Qwen's grouping and a plain one.
    for (prefix, seq, capacity) in [(0, 11, 32), (5, 6, 32), (40, 1, 64), (517, 1, 600)] {
        cases.push(case(
            format!("attention {seq} after {prefix}, {HEADS}/{KV_HEADS} heads of {HEAD_DIM}"),
            Op::Attention {
                prefix,
                seq,
                heads: HEADS,
                kv_heads: KV_HEADS,
                d: HEAD_DIM,
                capacity,
            },
        ));
    }
    cases.push(case(
        "attention 3 after 2, 4/4 heads of 32",
        Op::Attention {
            prefix: 2,
            seq: 3,
            heads: 4,
            kv_heads: 4,
            d: 32,
            capacity: 8,
        },
    ));
    cases
}

/// A plain f32 product `x · Wᵀ` of [m, k] by [n, k], for cases to vary.
fn product(m: usize, n: usize, k: usize) -> Product {
    Product {
        a_batch: vec![],
        b_batch: vec![],
        m,
        n,
        k,
        a_dtype: DType::F32,
        b_dtype: DType::F32,
        transpose_a: false,
        transpose_b: true,
        a_layout: Layout::Contiguous,
        c_layout: Layout::Contiguous,
        alpha: 1.0,
        beta: 0.0,
    }
}
