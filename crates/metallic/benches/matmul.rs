//! Matrix products at the Qwen2.5-0.5B shapes through `Context`, with the
//! backend forced, per dtype: `cargo bench -p metallic --bench matmul
//! [-- FILTER]` (e.g. `-- "vendor"` or `-- "gate_up m=1"`).
//!
//! The machine may be shared: the "fastest" column is the least disturbed.
//!
//! Counters: items are floating-point operations (2·m·n·k per matrix, so
//! "Gitem/s" reads as GFLOP/s); bytes are the operands as stored (A, B in
//! its own type, C written), so GB/s is comparable across backends.

use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use metallic::ops::matmul::BackendChoice;
use metallic::testing::{random_blocks, rng};
use metallic::{Context, DType, Device, Tensor};

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

/// More than the last-level cache of the machines measured.
const EVICT_BYTES: usize = 256 << 20;

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
    /// Caches flushed before each run: a decoding step reads each weight
    /// once, from memory, since the whole model does not fit in the caches.
    cold: bool,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.shape {
            Shape::Linear { name, m, .. } => write!(f, "{name} m={m} {}", self.dtype)?,
            Shape::Scores => write!(f, "attn_qk m=1 {}", self.dtype)?,
            Shape::Mix => write!(f, "attn_pv m=1 {}", self.dtype)?,
        }
        if self.cold {
            write!(f, " cold")?;
        }
        Ok(())
    }
}

const FLOATS: [DType; 3] = [DType::F32, DType::F16, DType::BF16];
const QUANTIZED: [DType; 4] = [DType::Q5_0, DType::Q8_0, DType::Q4_K, DType::Q6_K];

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for m in [1, 32, 128] {
        for (name, n, k) in LINEARS {
            // Rows of 896 are not whole 256-value blocks: the model's GGUF
            // stores those weights as Q5_0/Q8_0, and K types only for down.
            let fits = |dtype: &DType| k % dtype.block_size() == 0;
            for dtype in FLOATS.into_iter().chain(QUANTIZED).filter(fits) {
                let shape = Shape::Linear { name, m, n, k };
                cases.push(Case {
                    shape,
                    dtype,
                    cold: false,
                });
                if m == 1 {
                    cases.push(Case {
                        shape,
                        dtype,
                        cold: true,
                    });
                }
            }
        }
    }
    for shape in [Shape::Scores, Shape::Mix] {
        for dtype in FLOATS {
            cases.push(Case {
                shape,
                dtype,
                cold: false,
            });
        }
    }
    cases
}

/// The operands (A, B, preallocated C) and whether B is used transposed.
struct Operands {
    a: Tensor,
    b: Tensor,
    c: Tensor,
    transpose_b: bool,
    flops: usize,
    bytes: usize,
}

fn tensor(dtype: DType, shape: &[usize], seed: u64) -> (Tensor, usize) {
    let values: usize = shape.iter().product();
    let bytes = random_blocks(&mut rng(seed), dtype, values);
    let t = Tensor::from_bytes(&Device::Cpu, dtype, &bytes, shape).expect("benchmark tensor");
    (t, bytes.len())
}

fn operands(case: Case) -> Operands {
    let float = if case.dtype.is_quantized() {
        DType::F32
    } else {
        case.dtype
    };
    // Linear: x [m, k] · Wᵀ with W stored [n, k]. Attention: heads grouped
    // [kv head, query head of its group], K and V shared by each group of 7
    // (size-1 dimension, broadcast); K [.., context, head dim] used transposed.
    let group = HEADS / KV_HEADS;
    let (a_shape, b_shape, c_shape, transpose_b) = match case.shape {
        Shape::Linear { m, n, k, .. } => (vec![m, k], vec![n, k], vec![m, n], true),
        Shape::Scores => (
            vec![KV_HEADS, group, 1, HEAD_DIM],
            vec![KV_HEADS, 1, CONTEXT, HEAD_DIM],
            vec![KV_HEADS, group, 1, CONTEXT],
            true,
        ),
        Shape::Mix => (
            vec![KV_HEADS, group, 1, CONTEXT],
            vec![KV_HEADS, 1, CONTEXT, HEAD_DIM],
            vec![KV_HEADS, group, 1, HEAD_DIM],
            false,
        ),
    };
    let (a, a_bytes) = tensor(float, &a_shape, 1);
    let (b, b_bytes) = tensor(case.dtype, &b_shape, 2);
    let c = Tensor::empty(&Device::Cpu, float, &c_shape).expect("output");
    let k = a_shape[a_shape.len() - 1];
    let outputs: usize = c_shape.iter().product();
    Operands {
        flops: 2 * outputs * k,
        bytes: a_bytes + b_bytes + float.bytes_for(outputs).expect("float"),
        a,
        b,
        c,
        transpose_b,
    }
}

fn bench(bencher: Bencher, case: Case, backend: BackendChoice) {
    let ctx = Context::builder(Device::Cpu)
        .backend(backend)
        .profile(Some(false))
        .build()
        .expect("context");
    let o = operands(case);
    let run = || ctx.matmul_alpha_beta(&o.a, &o.b, Some(&o.c), false, o.transpose_b, 1.0, 0.0);
    // A backend that does not take a case yet is reported and skipped, so
    // the other cases still run.
    if let Err(e) = run() {
        eprintln!("skipped {} {case}: {e}", backend.name());
        return;
    }
    let bencher = bencher
        .counter(ItemsCount::new(o.flops))
        .counter(BytesCount::new(o.bytes));
    if case.cold {
        // Writing a buffer larger than the last-level cache evicts the
        // operands; it runs before each timed call, outside the timing.
        let mut evict = vec![0u8; EVICT_BYTES];
        bencher
            .with_inputs(|| evict.iter_mut().for_each(|b| *b = b.wrapping_add(1)))
            .bench_local_values(|()| run().expect("the first call succeeded"));
    } else {
        bencher.bench_local(|| run().expect("the first call succeeded"));
    }
}

#[divan::bench(args = cases(), sample_count = 100, sample_size = 1, max_time = 2)]
fn mlx(bencher: Bencher, case: Case) {
    bench(bencher, case, BackendChoice::Mlx);
}

#[divan::bench(args = cases(), sample_count = 100, sample_size = 1, max_time = 2)]
fn vendor(bencher: Bencher, case: Case) {
    bench(bencher, case, BackendChoice::Vendor);
}
