//! cuBLAS (the `vendor` backend on CUDA) against a float64 CPU reference:
//! transposes, padded leading dimensions, offsets, alpha and beta, batches
//! that collapse to one strided call and batches that do not, F32, F16, BF16.
#![cfg(feature = "cuda")]

mod gpu_common;

use gpu_common::*;
use metallic::device::cuda::CudaBuffer;
use metallic::ops::matmul::blas::cublas::CublasGemm;
use metallic::ops::matmul::GemmProblem;
use metallic::testing::{fresh_seed, random_vec, rng};
use metallic::{DType, Error};

#[derive(Clone, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    batch: Vec<usize>,
    a_row_major: bool,
    b_row_major: bool,
    c_row_major: bool,
    pad: usize,
    offset: usize,
    broadcast_a: Vec<bool>,
    broadcast_b: Vec<bool>,
    alpha: f32,
    beta: f32,
}

fn run_case(gemm: &CublasGemm, case: &Case, in_dtype: DType, out_dtype: DType, seed: u64) {
    let device = gemm.device();
    let mut rng = rng(seed);
    let c_bcast = vec![false; case.batch.len()];
    let (a_op, a_len) = operand(
        in_dtype,
        case.m,
        case.k,
        case.a_row_major,
        case.pad,
        case.offset,
        &case.batch,
        &case.broadcast_a,
    );
    let (b_op, b_len) = operand(
        in_dtype,
        case.k,
        case.n,
        case.b_row_major,
        case.pad + 1,
        0,
        &case.batch,
        &case.broadcast_b,
    );
    let (c_op, c_len) = operand(
        out_dtype,
        case.m,
        case.n,
        case.c_row_major,
        case.pad,
        case.offset,
        &case.batch,
        &c_bcast,
    );
    let p = GemmProblem {
        m: case.m,
        n: case.n,
        k: case.k,
        batch_shape: case.batch.clone(),
        a: a_op,
        b: b_op,
        c: c_op,
        alpha: case.alpha,
        beta: case.beta,
    };
    let (a, a_ref) = upload_random(device, &mut rng, a_len, in_dtype);
    let (b, b_ref) = upload_random(device, &mut rng, b_len, in_dtype);
    // With beta = 0 the output starts poisoned (cuBLAS must not read it);
    // otherwise it holds random addends.
    let (mut c, c_ref) = if case.beta == 0.0 {
        (poisoned(device, c_len, out_dtype), vec![f64::NAN; c_len])
    } else {
        upload_random(device, &mut rng, c_len, out_dtype)
    };
    gemm.run(&p, &a, &b, &mut c).unwrap();
    let got = download(&c, out_dtype);

    let mut actual = Vec::new();
    let mut expected = Vec::new();
    for batch in 0..p.batch_count() {
        let (ab, bb, cb) = (
            p.batch_offset(&p.a, batch),
            p.batch_offset(&p.b, batch),
            p.batch_offset(&p.c, batch),
        );
        for i in 0..p.m {
            for j in 0..p.n {
                let dot: f64 = (0..p.k)
                    .map(|l| a_ref[at(&p.a, ab, i, l)] * b_ref[at(&p.b, bb, l, j)])
                    .sum();
                let ci = at(&p.c, cb, i, j);
                let addend = if case.beta == 0.0 {
                    0.0
                } else {
                    case.beta as f64 * c_ref[ci]
                };
                expected.push(case.alpha as f64 * dot + addend);
                actual.push(got[ci]);
            }
        }
    }
    let tol = tolerance(if out_dtype == DType::F32 {
        in_dtype
    } else {
        out_dtype
    });
    if let Err(msg) = metallic::testing::check_close(&actual, &expected, tol) {
        panic!("{case:?} {in_dtype}->{out_dtype} seed {seed}: {msg}");
    }
}

fn base(m: usize, n: usize, k: usize) -> Case {
    Case {
        m,
        n,
        k,
        batch: vec![],
        a_row_major: true,
        b_row_major: true,
        c_row_major: true,
        pad: 0,
        offset: 0,
        broadcast_a: vec![],
        broadcast_b: vec![],
        alpha: 1.0,
        beta: 0.0,
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (m, n, k) in [
        (1, 1, 1),
        (7, 13, 19),
        (64, 48, 96),
        (1, 151, 64),
        (33, 1, 70),
    ] {
        for (a_rm, b_rm) in [(true, true), (true, false), (false, true), (false, false)] {
            cases.push(Case {
                a_row_major: a_rm,
                b_row_major: b_rm,
                ..base(m, n, k)
            });
        }
    }
    cases.push(Case {
        pad: 3,
        offset: 5,
        ..base(9, 10, 11)
    });
    cases.push(Case {
        c_row_major: false,
        b_row_major: false,
        pad: 2,
        ..base(12, 7, 5)
    });
    cases.push(Case {
        alpha: 0.75,
        beta: -1.25,
        ..base(17, 9, 23)
    });
    cases.push(Case {
        alpha: -2.0,
        beta: 0.5,
        pad: 1,
        c_row_major: false,
        ..base(6, 20, 8)
    });
    // A batch whose strides nest: one strided-batched call.
    cases.push(Case {
        batch: vec![2, 3],
        broadcast_a: vec![false, false],
        broadcast_b: vec![false, false],
        ..base(5, 6, 7)
    });
    // Shared weights (B broadcast) over a batch.
    cases.push(Case {
        batch: vec![4],
        broadcast_a: vec![false],
        broadcast_b: vec![true],
        beta: 1.0,
        ..base(8, 3, 16)
    });
    // A broadcast along the inner batch dimension only: does not nest, so
    // the outer dimension is looped over.
    cases.push(Case {
        batch: vec![3, 2],
        broadcast_a: vec![false, true],
        broadcast_b: vec![false, false],
        pad: 2,
        ..base(4, 5, 6)
    });
    cases
}

#[test]
fn cublas_matches_float64_reference() {
    let gemm = CublasGemm::new(&device()).unwrap();
    let seed = fresh_seed();
    for (i, case) in cases().iter().enumerate() {
        for dtype in FLOATS {
            run_case(&gemm, case, dtype, dtype, seed + i as u64);
        }
        run_case(&gemm, case, DType::F16, DType::F32, seed + i as u64);
        run_case(&gemm, case, DType::BF16, DType::F32, seed + i as u64);
    }
}

#[test]
fn cublas_batch_plan_collapses_or_loops() {
    let gemm = CublasGemm::new(&device()).unwrap();
    let plan = |case: &Case| {
        let c_bcast = vec![false; case.batch.len()];
        let (a, _) = operand(
            DType::F32,
            case.m,
            case.k,
            true,
            0,
            0,
            &case.batch,
            &case.broadcast_a,
        );
        let (b, _) = operand(
            DType::F32,
            case.k,
            case.n,
            true,
            0,
            0,
            &case.batch,
            &case.broadcast_b,
        );
        let (c, _) = operand(
            DType::F32,
            case.m,
            case.n,
            true,
            0,
            0,
            &case.batch,
            &c_bcast,
        );
        let p = GemmProblem {
            m: case.m,
            n: case.n,
            k: case.k,
            batch_shape: case.batch.clone(),
            a,
            b,
            c,
            alpha: 1.0,
            beta: 0.0,
        };
        let plan = gemm.plan(&p).unwrap();
        (plan.calls, plan.batch_per_call)
    };
    let all = cases();
    assert_eq!(plan(&all[all.len() - 3]), (1, 6));
    assert_eq!(plan(&all[all.len() - 2]), (1, 4));
    assert_eq!(plan(&all[all.len() - 1]), (3, 2));
}

#[test]
fn cublas_refuses_what_does_not_fit() {
    let device = device();
    let gemm = CublasGemm::new(&device).unwrap();
    let mut r = rng(fresh_seed());
    let (a_op, _) = operand(DType::F32, 4, 4, true, 0, 0, &[], &[]);
    let p = GemmProblem {
        m: 4,
        n: 4,
        k: 4,
        batch_shape: vec![],
        a: a_op.clone(),
        b: a_op.clone(),
        c: a_op,
        alpha: 1.0,
        beta: 0.0,
    };
    let small = CudaBuffer::from_slice(&device, &random_vec(&mut r, 15)).unwrap();
    let full = CudaBuffer::from_slice(&device, &random_vec(&mut r, 16)).unwrap();
    let mut out = CudaBuffer::from_slice(&device, &random_vec(&mut r, 16)).unwrap();
    assert!(matches!(
        gemm.run(&p, &small, &full, &mut out),
        Err(Error::Layout { operand: "a", .. })
    ));
    let mut q = p.clone();
    q.b.dtype = DType::F16;
    assert!(matches!(
        gemm.run(&q, &full, &full, &mut out),
        Err(Error::Unsupported(_))
    ));
    let foreign = CudaBuffer::from_slice(&gpu_common::device(), &random_vec(&mut r, 16)).unwrap();
    assert!(matches!(
        gemm.run(&p, &foreign, &full, &mut out),
        Err(Error::InvalidArgument(_))
    ));
    let mut q = p.clone();
    q.a.dtype = DType::Q8_0;
    q.b.dtype = DType::Q8_0;
    assert!(gemm.run(&q, &full, &full, &mut out).is_err());
}

#[test]
fn cuda_bad_ordinal_is_an_error() {
    device();
    let err = metallic::device::cuda::CudaDevice::new(4096).unwrap_err();
    assert!(
        matches!(err, Error::Device(ref m) if m.contains("no such device")),
        "{err}"
    );
}
