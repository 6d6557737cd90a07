//! Matrix products at the Qwen2.5-0.5B shapes, per backend and dtype:
//! `cargo bench -p metallic --bench matmul [-- FILTER]`.
//!
//! Counters: items are floating-point operations (2·m·n·k per matrix, so
//! "Gitem/s" reads as GFLOP/s); bytes are the operands as stored (A, B in
//! its own type, C written), so GB/s is comparable across backends.

use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use metallic::ops::matmul::vendor::VendorCpu;
use metallic::ops::matmul::{GemmProblem, MatrixOperand};
use metallic::testing::{random_blocks, rng};
use metallic::DType;

fn main() {
    divan::main();
}

/// Hidden size, and the (name, n, k) of each linear layer (y = x·Wᵀ, W
/// stored as n rows of k: B column-major).
const LINEARS: [(&str, usize, usize); 5] = [
    ("qkv", 1152, 896),
    ("o", 896, 896),
    ("gate_up", 9728, 896),
    ("down", 896, 4864),
    ("output", 151936, 896),
];

const HEADS: usize = 14;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = 64;
const CONTEXT: usize = 512;

#[derive(Clone, Copy, Debug)]
enum Shape {
    Linear {
        name: &'static str,
        m: usize,
        n: usize,
        k: usize,
    },
    /// One decoding step's scores, Q·Kᵀ: m = 1, k = head dim, n = context.
    Scores,
    /// One decoding step's mix, P·V: m = 1, k = context, n = head dim.
    Mix,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    shape: Shape,
    /// B's type; A and C are f32 when B is quantized, B's type otherwise.
    dtype: DType,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.shape {
            Shape::Linear { name, m, .. } => write!(f, "{name} m={m} {}", self.dtype),
            Shape::Scores => write!(f, "attn_qk m=1 {}", self.dtype),
            Shape::Mix => write!(f, "attn_pv m=1 {}", self.dtype),
        }
    }
}

const FLOATS: [DType; 3] = [DType::F32, DType::F16, DType::BF16];
const QUANTIZED: [DType; 4] = [DType::Q5_0, DType::Q8_0, DType::Q4_K, DType::Q6_K];

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for m in [1, 128] {
        for (name, n, k) in LINEARS {
            for dtype in FLOATS.into_iter().chain(QUANTIZED) {
                let shape = Shape::Linear { name, m, n, k };
                cases.push(Case { shape, dtype });
            }
        }
    }
    for shape in [Shape::Scores, Shape::Mix] {
        for dtype in FLOATS {
            cases.push(Case { shape, dtype });
        }
    }
    cases
}

fn operand(dtype: DType, row_major: bool, ld: usize, batch_strides: Vec<usize>) -> MatrixOperand {
    MatrixOperand {
        dtype,
        row_major,
        ld,
        offset: 0,
        batch_strides,
    }
}

/// The problem and the element counts of A, B and C.
fn problem(case: Case) -> (GemmProblem, [usize; 3]) {
    let float = if case.dtype.is_quantized() {
        DType::F32
    } else {
        case.dtype
    };
    match case.shape {
        Shape::Linear { m, n, k, .. } => (
            GemmProblem {
                m,
                n,
                k,
                batch_shape: vec![],
                a: operand(float, true, k, vec![]),
                b: operand(case.dtype, false, k, vec![]),
                c: operand(float, true, n, vec![]),
                alpha: 1.0,
                beta: 0.0,
            },
            [m * k, k * n, m * n],
        ),
        // Heads grouped as [kv head, query head of the group]: each group of
        // 7 query heads shares one K and V (stride 0 along the group).
        Shape::Scores | Shape::Mix => {
            let group = HEADS / KV_HEADS;
            let kv = CONTEXT * HEAD_DIM;
            let scores = matches!(case.shape, Shape::Scores);
            let (n, k) = if scores {
                (CONTEXT, HEAD_DIM)
            } else {
                (HEAD_DIM, CONTEXT)
            };
            (
                GemmProblem {
                    m: 1,
                    n,
                    k,
                    batch_shape: vec![KV_HEADS, group],
                    a: operand(float, true, k, vec![group * k, k]),
                    // K stored [context, head dim] is Kᵀ column-major; V row-major.
                    b: operand(float, !scores, HEAD_DIM, vec![kv, 0]),
                    c: operand(float, true, n, vec![group * n, n]),
                    alpha: 1.0,
                    beta: 0.0,
                },
                [HEADS * k, KV_HEADS * kv, HEADS * n],
            )
        }
    }
}

/// Bytes in 8-byte-aligned storage, as the engine's buffers are.
fn aligned(bytes: Vec<u8>) -> Vec<u64> {
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    words
}

fn stored_bytes(dtype: DType, values: usize) -> usize {
    dtype
        .bytes_for(values)
        .expect("benchmark shapes are whole blocks")
}

#[divan::bench(args = cases(), sample_count = 12, sample_size = 1)]
fn vendor(bencher: Bencher, case: Case) {
    let (p, [a_len, b_len, c_len]) = problem(case);
    let mut g = rng(0x5eed);
    let a = aligned(random_blocks(&mut g, p.a.dtype, a_len));
    let b = aligned(random_blocks(&mut g, p.b.dtype, b_len));
    let c_bytes = stored_bytes(p.c.dtype, c_len);
    let mut c = vec![0u64; c_bytes.div_ceil(8)];
    let a_bytes = &bytemuck::cast_slice::<u64, u8>(&a)[..stored_bytes(p.a.dtype, a_len)];
    let b_bytes = &bytemuck::cast_slice::<u64, u8>(&b)[..stored_bytes(p.b.dtype, b_len)];
    let flops = 2 * p.m * p.n * p.k * p.batch_count();
    let traffic = a_bytes.len() + b_bytes.len() + c_bytes;
    let vendor = VendorCpu::new();
    bencher
        .counter(ItemsCount::new(flops))
        .counter(BytesCount::new(traffic))
        .bench_local(|| {
            let c = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut c)[..c_bytes];
            vendor
                .run(&p, a_bytes, b_bytes, c)
                .expect("benchmark problems are valid")
        });
}
