//! The `mlx` GEMM on CUDA against cuBLAS on the Qwen2.5-0.5B prefill shapes:
//! `cargo run --release --features cuda -p metallic --example cuda_gemm_bench
//! [--tune]`. Prints, per shape and dtype, µs per call for mlx (the tile
//! table's choice) and cuBLAS, their ratio (cuBLAS time / mlx time: above 1
//! means mlx is faster), and mlx's fraction of the FLOP ceiling measured in
//! the same run (cuBLAS on an 8192³ product of the same input type). Times
//! are CUDA events around many back-to-back calls, rotating over weight
//! copies that together exceed the L2 cache. `--tune` first times every
//! candidate tile and split on the 16-bit shapes (the measurements behind
//! `tile_table.rs`).

use metallic::device::cuda::{CudaBuffer, CudaDevice};
use metallic::ops::matmul::blas::cublas::CublasGemm;
use metallic::ops::matmul::mlx::cuda::{
    run_gemm, run_gemm_with_plan, tile_table, CudaGemmPlan, CudaTile,
};
use metallic::ops::matmul::{GemmProblem, MatrixOperand};
use metallic::testing::{random_vec, rng};
use metallic::{DType, Result};

/// Weight copies are added until they span this many bytes (H100 L2: 50 MB).
const ROTATE_BYTES: usize = 64 << 20;
const MAX_COPIES: usize = 16;

/// One product: m×n×k over `batch` matrices, A [m, k], B [n, k] when
/// `b_transposed` (weights, K-major rows) else [k, n].
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    b_transposed: bool,
}

fn shapes() -> Vec<Shape> {
    let projections = [
        ("q", 896, 896),
        ("k", 128, 896),
        ("v", 128, 896),
        ("qkv", 1152, 896),
        ("o", 896, 896),
        ("gate", 4864, 896),
        ("gate+up", 9728, 896),
        ("down", 896, 4864),
        ("output", 151936, 896),
    ];
    let mut all = Vec::new();
    for m in [128, 512] {
        for (name, n, k) in projections {
            all.push(Shape {
                name,
                batch: 1,
                m,
                n,
                k,
                b_transposed: true,
            });
        }
        // Attention over 14 heads of 64 at s = m: QKᵀ and P·V.
        all.push(Shape {
            name: "QKᵀ ×14",
            batch: 14,
            m,
            n: m,
            k: 64,
            b_transposed: true,
        });
        all.push(Shape {
            name: "P·V ×14",
            batch: 14,
            m,
            n: 64,
            k: m,
            b_transposed: false,
        });
    }
    all
}

fn operand(dtype: DType, rows: usize, cols: usize, batch: usize) -> MatrixOperand {
    MatrixOperand {
        dtype,
        row_major: true,
        ld: cols,
        offset: 0,
        batch_strides: if batch > 1 { vec![rows * cols] } else { vec![] },
    }
}

fn problem(s: &Shape, dtype: DType) -> GemmProblem {
    let mut b = if s.b_transposed {
        operand(dtype, s.n, s.k, s.batch)
    } else {
        operand(dtype, s.k, s.n, s.batch)
    };
    b.row_major = !s.b_transposed;
    GemmProblem {
        m: s.m,
        n: s.n,
        k: s.k,
        batch_shape: if s.batch > 1 { vec![s.batch] } else { vec![] },
        a: operand(dtype, s.m, s.k, s.batch),
        b,
        c: operand(dtype, s.m, s.n, s.batch),
        alpha: 1.0,
        beta: 0.0,
    }
}

/// Random buffers for one shape: A, several copies of B, C.
struct Operands {
    a: CudaBuffer,
    b: Vec<CudaBuffer>,
    c: CudaBuffer,
}

/// Random values every operand is cut from (the largest product's B), so
/// that no shape pays for fresh random numbers.
fn pool() -> Vec<f32> {
    random_vec(&mut rng(7), 151936 * 896)
}

fn operands(device: &CudaDevice, pool: &[f32], s: &Shape, dtype: DType) -> Result<Operands> {
    let upload = |start: usize, len: usize| -> Result<CudaBuffer> {
        let values = &pool[start % (pool.len() - len + 1)..][..len];
        let bytes: Vec<u8> = match dtype {
            DType::F32 => bytemuck::cast_slice(values).to_vec(),
            DType::F16 => values
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
            _ => values
                .iter()
                .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
                .collect(),
        };
        CudaBuffer::from_bytes(device, &bytes)
    };
    let b_len = s.batch * s.k * s.n;
    let copies = (ROTATE_BYTES / (b_len * dtype.block_bytes())).clamp(1, MAX_COPIES);
    let b = upload(0, b_len)?;
    let mut copies_b = vec![b];
    for _ in 1..copies {
        let mut copy = CudaBuffer::alloc(device, copies_b[0].len())?;
        copy.copy_from_device(0, &copies_b[0], 0, copies_b[0].len())?;
        copies_b.push(copy);
    }
    Ok(Operands {
        a: upload(12345, s.batch * s.m * s.k)?,
        b: copies_b,
        c: upload(777, s.batch * s.m * s.n)?,
    })
}

/// Median over `rounds` of the mean µs per call of `calls` back-to-back
/// calls of `run(copy)`, after a warm-up.
fn time_us(
    device: &CudaDevice,
    copies: usize,
    mut run: impl FnMut(usize) -> Result<()>,
) -> Result<f64> {
    for i in 0..copies.max(3) {
        run(i % copies)?;
    }
    let (calls, rounds) = (20, 5);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let ((), elapsed) = device.time(|| {
            for i in 0..calls {
                run(i % copies)?;
            }
            Ok(())
        })?;
        samples.push(elapsed.as_secs_f64() * 1e6 / calls as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[rounds / 2])
}

fn tile_name(t: &CudaTile) -> String {
    let kind = if t.wgmma { "wgmma " } else { "" };
    format!(
        "{kind}{}x{}x{} w{}x{} s{}",
        t.bm, t.bn, t.bk, t.wm, t.wn, t.stages
    )
}

fn tflops(s: &Shape, us: f64) -> f64 {
    2.0 * (s.batch * s.m * s.n * s.k) as f64 / us / 1e6
}

fn label(s: &Shape) -> String {
    format!("{} m={}", s.name, s.m)
}

/// cuBLAS TFLOP/s on an 8192³ product: the ceiling rows are compared with.
fn ceiling(device: &CudaDevice, pool: &[f32], blas: &CublasGemm, dtype: DType) -> Result<f64> {
    let s = Shape {
        name: "ceiling",
        batch: 1,
        m: 8192,
        n: 8192,
        k: 8192,
        b_transposed: true,
    };
    let p = problem(&s, dtype);
    let mut o = operands(device, pool, &s, dtype)?;
    o.b.truncate(1);
    let us = time_us(device, 1, |_| blas.run(&p, &o.a, &o.b[0], &mut o.c))?;
    let large = match dtype {
        DType::F32 => tile_table::TILES_32[..1].to_vec(),
        _ => [&tile_table::TILES_16[..5], &tile_table::TILES_WGMMA[..3]].concat(),
    };
    for tile in large {
        let plan = CudaGemmPlan { tile, splits: 1 };
        let mlx = time_us(device, 1, |_| {
            run_gemm_with_plan(device, &p, plan, &o.a, &o.b[0], &mut o.c)
        })?;
        println!(
            "mlx 8192³ {dtype} {}: {:.0} TFLOP/s",
            tile_name(&tile),
            tflops(&s, mlx)
        );
    }
    Ok(tflops(&s, us))
}

/// Every candidate plan on every 16-bit shape: the table's measurements.
fn tune(device: &CudaDevice, pool: &[f32], dtype: DType) -> Result<()> {
    println!("\n## Candidates, {dtype} (µs per call; * = fastest)\n");
    let tiles = [&tile_table::TILES_16[..], &tile_table::TILES_WGMMA[..]].concat();
    let splits = [1, 2, 4, 8];
    let header: Vec<String> = tiles
        .iter()
        .flat_map(|t| {
            splits.iter().map(move |s| {
                format!(
                    "{}x{}x{} w{}x{} s{} /{s}",
                    t.bm, t.bn, t.bk, t.wm, t.wn, t.stages
                )
            })
        })
        .collect();
    println!("| shape | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(header.len()));
    for s in shapes() {
        let p = problem(&s, dtype);
        let mut o = operands(device, pool, &s, dtype)?;
        let copies = o.b.len();
        let mut row = Vec::new();
        for &tile in &tiles {
            for &split in &splits {
                let blocks = s.m.div_ceil(tile.bm) * s.n.div_ceil(tile.bn) * s.batch;
                // Splits only where the grid is short of two waves; wgmma
                // only for B [n, k].
                let skip = split > 1 && (blocks >= 2 * 132 || s.k / split < 2 * tile.bk);
                if skip || (tile.wgmma && !s.b_transposed) {
                    row.push(f64::NAN);
                    continue;
                }
                let plan = CudaGemmPlan {
                    tile,
                    splits: split,
                };
                row.push(time_us(device, copies, |i| {
                    run_gemm_with_plan(device, &p, plan, &o.a, &o.b[i], &mut o.c)
                })?);
            }
        }
        let best = row
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min);
        let cells: Vec<String> = row
            .iter()
            .map(|&v| match v {
                v if v.is_nan() => "–".into(),
                v if v == best => format!("**{v:.1}***"),
                v => format!("{v:.1}"),
            })
            .collect();
        println!("| {} | {} |", label(&s), cells.join(" | "));
    }
    Ok(())
}

fn main() -> Result<()> {
    let device = CudaDevice::new(0)?;
    let blas = CublasGemm::new(&device)?;
    let props = device.props();
    let pool = pool();
    println!(
        "# mlx GEMM vs cuBLAS on {} ({} SMs)",
        props.name, props.sm_count
    );
    if std::env::args().any(|a| a == "--tune") {
        tune(&device, &pool, DType::F16)?;
    }
    for dtype in [DType::F16, DType::BF16, DType::F32] {
        let peak = ceiling(&device, &pool, &blas, dtype)?;
        println!("\n## {dtype}: ceiling (cuBLAS 8192³) {peak:.0} TFLOP/s\n");
        println!(
            "| shape | m×n×k | plan | mlx µs | cuBLAS µs | cuBLAS/mlx | mlx TFLOP/s | of ceiling |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for s in shapes() {
            let p = problem(&s, dtype);
            let mut o = operands(&device, &pool, &s, dtype)?;
            let copies = o.b.len();
            let mlx = time_us(&device, copies, |i| {
                run_gemm(&device, &p, &o.a, &o.b[i], &mut o.c)
            })?;
            let vendor = time_us(&device, copies, |i| blas.run(&p, &o.a, &o.b[i], &mut o.c))?;
            let wgmma = dtype != DType::F32 && s.b_transposed;
            let sm = props.sm_count as usize;
            let plan = tile_table::choose(dtype, s.m, s.n, s.k, s.batch, sm, wgmma);
            let t = plan.tile;
            let achieved = tflops(&s, mlx);
            println!(
                "| {} | {}{}×{}×{} | {}{}x{}x{}/{} | {mlx:.1} | {vendor:.1} | {:.2} | {achieved:.0} | {:.0}% |",
                s.name,
                if s.batch > 1 { format!("{}×", s.batch) } else { String::new() },
                s.m,
                s.n,
                s.k,
                if t.wgmma { "wg " } else { "" },
                t.bm,
                t.bn,
                t.bk,
                plan.splits,
                vendor / mlx,
                100.0 * achieved / peak
            );
        }
    }
    Ok(())
}
