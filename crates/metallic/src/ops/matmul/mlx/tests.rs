//! Every instantiated flag combination, each instruction set and each dtype
//! against a float64 reference on fresh random inputs, with padded leading
//! dimensions, offsets, broadcast batches, α/β, and poisoned outputs; plus
//! the error paths.

use super::*;
use crate::dtype::DType;
use crate::testing::{check_close, fresh_seed, random_vec, rng, Tolerance, POISON};
use half::{bf16, f16};
use rand::Rng;

trait TestElement: bytemuck::Pod {
    const DTYPE: DType;
    const TOLERANCE: Tolerance;
    fn from_f32(v: f32) -> Self;
    fn to_f64(self) -> f64;
}

impl TestElement for f32 {
    const DTYPE: DType = DType::F32;
    const TOLERANCE: Tolerance = Tolerance::F32;
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl TestElement for f16 {
    const DTYPE: DType = DType::F16;
    const TOLERANCE: Tolerance = Tolerance::F16;
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
}

impl TestElement for bf16 {
    const DTYPE: DType = DType::BF16;
    const TOLERANCE: Tolerance = Tolerance::BF16;
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
}

/// One product to check: shapes, layouts, padding, offsets, batches, α/β.
#[derive(Clone, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    batch_shape: Vec<usize>,
    /// Per operand, which batch dimensions broadcast (stride 0).
    broadcast_a: Vec<bool>,
    broadcast_b: Vec<bool>,
    row_major: [bool; 3],
    /// Extra elements per leading dimension, and before the first matrix.
    pad: usize,
    offset: usize,
    alpha: f32,
    beta: f32,
}

impl Case {
    fn plain(m: usize, n: usize, k: usize) -> Case {
        Case {
            m,
            n,
            k,
            batch_shape: vec![],
            broadcast_a: vec![],
            broadcast_b: vec![],
            row_major: [true; 3],
            pad: 3,
            offset: 5,
            alpha: 1.0,
            beta: 0.0,
        }
    }
}

/// A buffer for rows×cols matrices over the batch, filled from `fill`.
fn operand<E: TestElement>(
    case: &Case,
    rows: usize,
    cols: usize,
    row_major: bool,
    broadcast: &[bool],
    mut fill: impl FnMut(usize) -> Vec<f32>,
) -> (Vec<E>, MatrixOperand) {
    let (major, minor) = if row_major {
        (rows, cols)
    } else {
        (cols, rows)
    };
    let ld = minor + case.pad;
    let mut stride = major * ld + case.pad;
    let mut batch_strides = vec![0; case.batch_shape.len()];
    for ((s, &dim), &bcast) in batch_strides
        .iter_mut()
        .zip(&case.batch_shape)
        .zip(broadcast)
        .rev()
    {
        if !bcast {
            *s = stride;
            stride *= dim;
        }
    }
    let len = case.offset + stride + case.pad;
    let data = fill(len).into_iter().map(E::from_f32).collect();
    let operand = MatrixOperand {
        dtype: E::DTYPE,
        row_major,
        ld,
        offset: case.offset,
        batch_strides,
    };
    (data, operand)
}

fn index(op: &MatrixOperand, base: usize, r: usize, c: usize) -> usize {
    if op.row_major {
        base + r * op.ld + c
    } else {
        base + c * op.ld + r
    }
}

/// Runs `case` on `cpu` and compares every output with the float64
/// reference; every other element of C's buffer must be left as it was.
fn check_case<E: TestElement>(cpu: &MlxCpu, case: &Case) {
    let seed = fresh_seed();
    let mut rng = rng(seed);
    let [ra, rb, rc] = case.row_major;
    let none = vec![false; case.batch_shape.len()];
    let (a, op_a) = operand::<E>(case, case.m, case.k, ra, &case.broadcast_a, |n| {
        random_vec(&mut rng, n)
    });
    let (b, op_b) = operand::<E>(case, case.k, case.n, rb, &case.broadcast_b, |n| {
        random_vec(&mut rng, n)
    });
    let (c_before, op_c) = operand::<E>(case, case.m, case.n, rc, &none, |n| {
        if case.beta == 0.0 {
            vec![POISON; n]
        } else {
            random_vec(&mut rng, n)
        }
    });
    let p = GemmProblem {
        m: case.m,
        n: case.n,
        k: case.k,
        batch_shape: case.batch_shape.clone(),
        a: op_a,
        b: op_b,
        c: op_c,
        alpha: case.alpha,
        beta: case.beta,
    };
    let mut c = c_before.clone();
    cpu.run(
        &p,
        bytemuck::cast_slice(&a),
        bytemuck::cast_slice(&b),
        bytemuck::cast_slice_mut(&mut c),
    )
    .unwrap_or_else(|e| panic!("{case:?}: {e}"));

    let mut actual = Vec::new();
    let mut expected = Vec::new();
    let mut written = vec![false; c.len()];
    for batch in 0..p.batch_count() {
        let (oa, ob, oc) = (
            p.batch_offset(&p.a, batch),
            p.batch_offset(&p.b, batch),
            p.batch_offset(&p.c, batch),
        );
        for i in 0..p.m {
            for j in 0..p.n {
                let dot: f64 = (0..p.k)
                    .map(|q| a[index(&p.a, oa, i, q)].to_f64() * b[index(&p.b, ob, q, j)].to_f64())
                    .sum();
                let at = index(&p.c, oc, i, j);
                let mut value = p.alpha as f64 * dot;
                if p.beta != 0.0 {
                    value += p.beta as f64 * c_before[at].to_f64();
                }
                expected.push(value);
                actual.push(c[at].to_f64() as f32);
                written[at] = true;
            }
        }
    }
    if let Err(msg) = check_close(&actual, &expected, E::TOLERANCE) {
        panic!(
            "{} on {:?} {case:?} (seed {seed}): {msg}",
            E::DTYPE,
            cpu.isa()
        );
    }
    let as_bytes = |v: &E| bytemuck::bytes_of(v).to_vec();
    for (at, _) in written.iter().enumerate().filter(|(_, w)| !**w) {
        assert_eq!(
            as_bytes(&c[at]),
            as_bytes(&c_before[at]),
            "element {at} outside the output changed; {case:?}"
        );
    }
}

fn available_isas() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| isa.is_available())
        .collect()
}

fn alpha_beta(use_out_source: bool, do_axpby: bool) -> (f32, f32) {
    match (use_out_source, do_axpby) {
        (false, false) => (1.0, 0.0),
        (false, true) => (-0.75, 0.0),
        (true, false) => (1.0, 1.0),
        (true, true) => (1.5, -0.5),
    }
}

/// Runs `case` on a fresh backend and checks it built exactly `expected`.
fn check_flags<E: TestElement>(cpu: MlxCpu, case: &Case, expected: impl Fn(&MlxKernelKey) -> bool) {
    check_case::<E>(&cpu, case);
    let keys = cpu.cached_kernels();
    assert_eq!(keys.len(), 1, "{case:?}");
    assert!(expected(&keys[0]), "{case:?} built {}", keys[0].name());
}

fn each_dtype(f: impl Fn(DType)) {
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        f(dtype)
    }
}

fn run_typed(dtype: DType, cpu: MlxCpu, case: &Case, expected: impl Fn(&MlxKernelKey) -> bool) {
    match dtype {
        DType::F16 => check_flags::<f16>(cpu, case, expected),
        DType::BF16 => check_flags::<bf16>(cpu, case, expected),
        _ => check_flags::<f32>(cpu, case, expected),
    }
}

#[test]
fn every_gemm_flag_combination_on_every_isa_and_dtype() {
    for isa in available_isas() {
        let mr_nr = MlxCpu::with_isa(isa).unwrap();
        let (mr, nr) = (mr_nr.micro.mr, mr_nr.micro.nr);
        let tile = Tile {
            bm: 2 * mr,
            bn: nr,
            bk: 8,
        };
        each_dtype(|dtype| {
            for bits in 0u32..256 {
                let flag = |i: u32| bits >> i & 1 == 1;
                let (ta, tb, batched, am, an, ak, out, axpby) = (
                    flag(0),
                    flag(1),
                    flag(2),
                    flag(3),
                    flag(4),
                    flag(5),
                    flag(6),
                    flag(7),
                );
                let (alpha, beta) = alpha_beta(out, axpby);
                let mut case = Case {
                    row_major: [!ta, !tb, true],
                    alpha,
                    beta,
                    ..Case::plain(
                        if am { 2 * tile.bm } else { tile.bm + 3 },
                        if an { 2 * tile.bn } else { tile.bn + 5 },
                        if ak { 3 * tile.bk } else { 2 * tile.bk + 3 },
                    )
                };
                if batched {
                    case.batch_shape = vec![2, 2];
                    case.broadcast_a = vec![false, true];
                    case.broadcast_b = vec![true, false];
                }
                let cpu = MlxCpu::with_isa(isa).unwrap().with_gemm_tile(tile).unwrap();
                run_typed(dtype, cpu, &case, |key| {
                    *key == MlxKernelKey {
                        kind: KernelKind::Gemm,
                        dtype,
                        isa,
                        tile,
                        transpose_a: ta,
                        transpose_b: tb,
                        batched,
                        align_m: am,
                        align_n: an,
                        align_k: ak,
                        use_out_source: out,
                        do_axpby: axpby,
                    }
                });
            }
        });
    }
}

#[test]
fn every_gemv_flag_combination_on_every_isa_and_dtype() {
    for isa in available_isas() {
        each_dtype(|dtype| {
            for bits in 0u32..128 {
                let flag = |i: u32| bits >> i & 1 == 1;
                let (ta, tb, batched, an, ak, out, axpby) = (
                    flag(0),
                    flag(1),
                    flag(2),
                    flag(3),
                    flag(4),
                    flag(5),
                    flag(6),
                );
                let bn = if tb {
                    GEMV_COLUMNS_DOT
                } else {
                    GEMV_COLUMNS_ROWS
                };
                let (alpha, beta) = alpha_beta(out, axpby);
                let mut case = Case {
                    row_major: [!ta, !tb, true],
                    alpha,
                    beta,
                    ..Case::plain(
                        1,
                        if an { 2 * bn } else { bn + 7 },
                        if ak { GEMV_DEPTH } else { 203 },
                    )
                };
                if batched {
                    case.batch_shape = vec![3];
                    case.broadcast_a = vec![false];
                    case.broadcast_b = vec![true];
                }
                let cpu = MlxCpu::with_isa(isa).unwrap();
                run_typed(dtype, cpu, &case, |key| {
                    key.kind == KernelKind::Gemv
                        && (key.transpose_a, key.transpose_b, key.batched) == (ta, tb, batched)
                        && (key.align_m, key.align_n, key.align_k) == (true, an, ak)
                        && (key.use_out_source, key.do_axpby) == (out, axpby)
                        && key.dtype == dtype
                        && key.isa == isa
                });
            }
        });
    }
}

#[test]
fn column_major_output_and_mixed_layouts() {
    let cpu = MlxCpu::new();
    for bits in 0..8 {
        let layout = |i: u32| bits >> i & 1 == 1;
        let case = Case {
            row_major: [layout(0), layout(1), layout(2)],
            alpha: 0.5,
            beta: 2.0,
            ..Case::plain(45, 70, 33)
        };
        check_case::<f32>(&cpu, &case);
        check_case::<bf16>(
            &cpu,
            &Case {
                m: 1,
                ..case.clone()
            },
        );
    }
}

#[test]
fn default_tiles_on_model_shapes() {
    let cpu = MlxCpu::new();
    // Prefill-sized products, attention QKᵀ (k = 64) and P·V, and decode rows.
    for (m, n, k) in [
        (128, 200, 256),
        (95, 95, 64),
        (128, 64, 128),
        (1, 512, 64),
        (1, 64, 95),
        (1, 1152, 256),
    ] {
        for transpose_b in [false, true] {
            let case = Case {
                row_major: [true, !transpose_b, true],
                ..Case::plain(m, n, k)
            };
            check_case::<f32>(&cpu, &case);
            check_case::<f16>(&cpu, &case);
        }
    }
}

#[test]
fn higher_rank_broadcast_batches() {
    let cpu = MlxCpu::new();
    let mut rng = rng(fresh_seed());
    for (broadcast_a, broadcast_b) in [
        (vec![false, false, false], vec![true, true, true]),
        (vec![true, false, true], vec![false, true, false]),
        (vec![false, false, false], vec![false, false, false]),
    ] {
        let case = Case {
            batch_shape: vec![2, 3, 2],
            broadcast_a,
            broadcast_b,
            alpha: rng.random_range(-2.0..2.0),
            beta: rng.random_range(-2.0..2.0),
            ..Case::plain(19, 23, 17)
        };
        check_case::<f32>(&cpu, &case);
        check_case::<f32>(
            &cpu,
            &Case {
                m: 1,
                ..case.clone()
            },
        );
    }
}

#[test]
fn empty_k_scales_c() {
    let cpu = MlxCpu::new();
    check_case::<f32>(
        &cpu,
        &Case {
            beta: 0.5,
            ..Case::plain(9, 40, 0)
        },
    );
    check_case::<f32>(&cpu, &Case::plain(9, 40, 0));
    check_case::<f32>(
        &cpu,
        &Case {
            beta: -1.0,
            ..Case::plain(1, 40, 0)
        },
    );
}

#[test]
fn instances_are_cached_once() {
    let cpu = MlxCpu::new();
    check_case::<f32>(&cpu, &Case::plain(20, 20, 20));
    check_case::<f32>(&cpu, &Case::plain(20, 20, 20));
    check_case::<f32>(
        &cpu,
        &Case {
            alpha: 2.0,
            ..Case::plain(20, 20, 20)
        },
    );
    assert_eq!(cpu.cached_kernels().len(), 2);
}

fn problem(m: usize, n: usize, k: usize) -> GemmProblem {
    let operand = |ld| MatrixOperand {
        dtype: DType::F32,
        row_major: true,
        ld,
        offset: 0,
        batch_strides: vec![],
    };
    GemmProblem {
        m,
        n,
        k,
        batch_shape: vec![],
        a: operand(k),
        b: operand(n),
        c: operand(n),
        alpha: 1.0,
        beta: 0.0,
    }
}

#[test]
fn misuse_returns_errors() {
    let cpu = MlxCpu::new();
    let a = vec![1.0f32; 64];
    let mut c = vec![0.0f32; 64];
    let run =
        |p: &GemmProblem, a: &[u8], c: &mut [f32]| cpu.run(p, a, a, bytemuck::cast_slice_mut(c));
    let bytes: &[u8] = bytemuck::cast_slice(&a);
    let p = problem(8, 8, 8);
    assert!(run(&p, bytes, &mut c).is_ok());
    assert!(matches!(
        run(&problem(8, 8, 9), bytes, &mut c),
        Err(Error::Layout { operand: "a", .. })
    ));
    let short_ld = GemmProblem {
        a: MatrixOperand {
            ld: 7,
            ..p.a.clone()
        },
        ..p.clone()
    };
    assert!(matches!(
        run(&short_ld, bytes, &mut c),
        Err(Error::Layout { operand: "a", .. })
    ));
    assert!(matches!(
        run(&p, &bytes[1..], &mut c),
        Err(Error::Layout { operand: "a", .. })
    ));
    let mixed = GemmProblem {
        b: MatrixOperand {
            dtype: DType::F16,
            ..p.b.clone()
        },
        ..p.clone()
    };
    assert!(matches!(
        run(&mixed, bytes, &mut c),
        Err(Error::Unsupported(_))
    ));
    let batched = GemmProblem {
        batch_shape: vec![2],
        a: MatrixOperand {
            batch_strides: vec![0],
            ..p.a.clone()
        },
        b: MatrixOperand {
            batch_strides: vec![0],
            ..p.b.clone()
        },
        c: MatrixOperand {
            batch_strides: vec![0],
            ..p.c.clone()
        },
        ..p.clone()
    };
    assert!(matches!(
        run(&batched, bytes, &mut c),
        Err(Error::Layout { operand: "c", .. })
    ));
    let rank = GemmProblem {
        batch_shape: vec![1],
        ..p.clone()
    };
    assert!(matches!(run(&rank, bytes, &mut c), Err(Error::Shape(_))));
    let huge = GemmProblem {
        a: MatrixOperand {
            offset: usize::MAX,
            ..p.a.clone()
        },
        ..p.clone()
    };
    assert!(matches!(
        run(&huge, bytes, &mut c),
        Err(Error::Layout { operand: "a", .. })
    ));
}

#[test]
fn quantized_b_needs_row_major_a_and_packed_rows() {
    let cpu = MlxCpu::new();
    let weights = vec![0u8; 4 * 34];
    let a = vec![1.0f32; 64];
    let mut c = vec![0.0f32; 16];
    let base = problem(2, 4, 32);
    let quantized = MatrixOperand {
        dtype: DType::Q8_0,
        row_major: false,
        ld: 32,
        ..base.b.clone()
    };
    let mut p = GemmProblem {
        b: quantized,
        ..base
    };
    p.a.row_major = false;
    p.a.ld = 2;
    let err = cpu.run(
        &p,
        bytemuck::cast_slice(&a),
        &weights,
        bytemuck::cast_slice_mut(&mut c),
    );
    assert!(matches!(err, Err(Error::Unsupported(msg)) if msg.contains("row-major")));
    p.a.row_major = true;
    p.a.ld = 32;
    p.b.ld = 64;
    let err = cpu.run(
        &p,
        bytemuck::cast_slice(&a),
        &weights,
        bytemuck::cast_slice_mut(&mut c),
    );
    assert!(matches!(err, Err(Error::Layout { operand: "b", .. })));
}

#[test]
fn tiles_must_fit_the_microkernel() {
    for isa in available_isas() {
        let cpu = || MlxCpu::with_isa(isa).unwrap();
        let (mr, nr) = (cpu().micro.mr, cpu().micro.nr);
        assert!(cpu()
            .with_gemm_tile(Tile {
                bm: mr,
                bn: nr,
                bk: 1
            })
            .is_ok());
        assert!(cpu()
            .with_gemm_tile(Tile {
                bm: mr + 1,
                bn: nr,
                bk: 8
            })
            .is_err());
        assert!(cpu()
            .with_gemm_tile(Tile {
                bm: mr,
                bn: nr,
                bk: 0
            })
            .is_err());
        assert!(cpu()
            .with_gemm_tile(Tile {
                bm: mr,
                bn: 2048 / nr * nr + nr,
                bk: 8
            })
            .is_err());
    }
}

/// The quantized path adds only the mapping (batches, broadcast weights,
/// offsets, leading dimensions, f16/bf16 staging); the kernel's accuracy is
/// tested against float64 in tests/quant_matmul.rs. So each batch matrix
/// must equal, bit for bit, the kernel run directly on that matrix.
#[test]
fn quantized_b_maps_each_batch_onto_the_quant_kernel() {
    // Types `quant::quantize` writes (the K formats it only reads).
    for w_type in [DType::Q8_0, DType::Q5_0] {
        for beta in [0.0, 0.5] {
            check_quantized::<f32>(w_type, beta);
            check_quantized::<f16>(w_type, beta);
            check_quantized::<bf16>(w_type, beta);
        }
    }
}

fn check_quantized<E: TestElement>(w_type: DType, beta: f32) {
    let seed = fresh_seed();
    let mut r = rng(seed);
    let (m, n, k, batches) = (5, 24, 256, 3);
    let row_bytes = w_type.bytes_for(k).unwrap();
    // One row of other weights first: B starts at element offset k.
    let mut w = vec![0u8; row_bytes * (n + 1)];
    crate::quant::quantize(w_type, &random_vec(&mut r, (n + 1) * k), &mut w).unwrap();
    let (lda, ldc) = (k + 4, n + 1);
    let (a_stride, c_stride) = (m * lda + 1, m * ldc + 3);
    let a: Vec<E> = random_vec(&mut r, 2 + batches * a_stride)
        .into_iter()
        .map(E::from_f32)
        .collect();
    let fill = if beta == 0.0 {
        vec![POISON; 1 + batches * c_stride]
    } else {
        random_vec(&mut r, 1 + batches * c_stride)
    };
    let c_before: Vec<E> = fill.into_iter().map(E::from_f32).collect();
    let operand = |dtype, row_major, ld, offset, stride| MatrixOperand {
        dtype,
        row_major,
        ld,
        offset,
        batch_strides: vec![stride],
    };
    let p = GemmProblem {
        m,
        n,
        k,
        batch_shape: vec![batches],
        a: operand(E::DTYPE, true, lda, 2, a_stride),
        b: operand(w_type, false, k, k, 0),
        c: operand(E::DTYPE, true, ldc, 1, c_stride),
        alpha: 0.75,
        beta,
    };
    let mut c = c_before.clone();
    MlxCpu::new()
        .run(
            &p,
            bytemuck::cast_slice(&a),
            &w,
            bytemuck::cast_slice_mut(&mut c),
        )
        .unwrap_or_else(|e| panic!("{w_type} {} (seed {seed}): {e}", E::DTYPE));
    let widen = |v: &[E]| v.iter().map(|x| x.to_f64() as f32).collect::<Vec<f32>>();
    let mut expected = c_before.clone();
    for batch in 0..batches {
        let a32: Vec<f32> = (0..m)
            .flat_map(|i| widen(&a[2 + batch * a_stride + i * lda..][..k]))
            .collect();
        let mut c32: Vec<f32> = (0..m)
            .flat_map(|i| widen(&c_before[1 + batch * c_stride + i * ldc..][..n]))
            .collect();
        crate::quant::matmul_quantized(
            w_type,
            &w[row_bytes..],
            n,
            k,
            &a32,
            k,
            m,
            &mut c32,
            n,
            0.75,
            beta,
        )
        .unwrap();
        for i in 0..m {
            for j in 0..n {
                expected[1 + batch * c_stride + i * ldc + j] = E::from_f32(c32[i * n + j]);
            }
        }
    }
    let bits = |v: &[E]| bytemuck::cast_slice::<E, u8>(v).to_vec();
    assert_eq!(
        bits(&c),
        bits(&expected),
        "{w_type} {} beta {beta} (seed {seed})",
        E::DTYPE
    );
}
