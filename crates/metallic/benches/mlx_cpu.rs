//! The mlx CPU backend on the shapes the forward pass issues, f32 unless
//! named: GFLOP/s (divan prints items/s, one item = one flop).
//! `cargo bench -p metallic --bench mlx_cpu`

use divan::counter::ItemsCount;
use divan::Bencher;
use metallic::ops::matmul::mlx::{Isa, MlxCpu, Tile};
use metallic::ops::matmul::{GemmProblem, MatrixOperand};
use metallic::DType;
use std::fmt;

fn main() {
    divan::main();
}

#[derive(Clone, Copy)]
struct Shape {
    m: usize,
    n: usize,
    k: usize,
    /// B stored column-major (weights x·Wᵀ, K cache in QKᵀ).
    transpose_b: bool,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = if self.transpose_b { "t" } else { "n" };
        write!(f, "{}x{}x{}_{b}", self.m, self.n, self.k)
    }
}

const fn shape(m: usize, n: usize, k: usize, transpose_b: bool) -> Shape {
    Shape {
        m,
        n,
        k,
        transpose_b,
    }
}

/// m×n×k: the requested 896×896×128 both ways round, projections at
/// m = 128 and m = 1, attention QKᵀ (k = 64) and P·V at m = 1.
const SHAPES: [Shape; 8] = [
    shape(896, 896, 128, false),
    shape(128, 896, 896, false),
    shape(128, 896, 896, true),
    shape(1, 896, 896, true),
    shape(1, 4864, 896, true),
    shape(1, 4096, 64, true),
    shape(1, 64, 4096, false),
    shape(128, 128, 64, true),
];

fn problem(s: Shape, dtype: DType) -> GemmProblem {
    let operand = |row_major: bool, ld: usize| MatrixOperand {
        dtype,
        row_major,
        ld,
        offset: 0,
        batch_strides: vec![],
    };
    GemmProblem {
        m: s.m,
        n: s.n,
        k: s.k,
        batch_shape: vec![],
        a: operand(true, s.k),
        b: if s.transpose_b {
            operand(false, s.k)
        } else {
            operand(true, s.n)
        },
        c: operand(true, s.n),
        alpha: 1.0,
        beta: 0.0,
    }
}

fn run(bencher: Bencher, cpu: &MlxCpu, s: Shape, dtype: DType) {
    let p = problem(s, dtype);
    let size = dtype.block_bytes();
    let a = vec![0x3cu8; s.m * s.k * size];
    let b = vec![0x3cu8; s.k * s.n * size];
    let mut c = vec![0u8; s.m * s.n * size];
    bencher
        .counter(ItemsCount::new(2 * s.m * s.n * s.k))
        .bench_local(|| cpu.run(&p, &a, &b, &mut c).unwrap());
}

#[divan::bench(args = SHAPES)]
fn f32_best(bencher: Bencher, s: Shape) {
    run(bencher, &MlxCpu::new(), s, DType::F32);
}

#[divan::bench(args = SHAPES)]
fn f32_avx2(bencher: Bencher, s: Shape) {
    if let Some(avx2) = Isa::supported()
        .into_iter()
        .find(|isa| isa.name() == "avx2")
    {
        let cpu = MlxCpu::with_isa(avx2);
        run(bencher, &cpu, s, DType::F32);
    }
}

#[divan::bench(args = SHAPES)]
fn f16_best(bencher: Bencher, s: Shape) {
    run(bencher, &MlxCpu::new(), s, DType::F16);
}

#[divan::bench(args = SHAPES)]
fn bf16_best(bencher: Bencher, s: Shape) {
    run(bencher, &MlxCpu::new(), s, DType::BF16);
}

/// Tile candidates (BM, BN, BK) for the blocked driver, on the two
/// prefill-sized shapes: the data behind the default tile rule.
const TILES: [(usize, usize, usize); 6] = [
    (64, 128, 256),
    (64, 128, 128),
    (128, 128, 128),
    (64, 256, 128),
    (128, 256, 128),
    (64, 64, 128),
];

#[divan::bench(args = TILES, consts = [0, 1])]
fn f32_tile<const SHAPE: usize>(bencher: Bencher, (bm, bn, bk): (usize, usize, usize)) {
    let cpu = MlxCpu::new().with_gemm_tile(Tile { bm, bn, bk }).unwrap();
    run(bencher, &cpu, SHAPES[SHAPE], DType::F32);
}
