//! The mlx backend's GEMV family on CUDA (m ≤ 8) against a float64 CPU
//! reference on fresh random inputs with poisoned outputs: every weight type
//! (F32/F16/BF16 in both layouts, GGUF blocks read directly), m = 1, 2, 3, 8,
//! alpha/beta, padded leading dimensions, offsets, column-major operands,
//! batches (B broadcast), the Qwen2.5-0.5B shapes; the same through
//! `Context` with the mlx backend and, for floats, with cuBLAS; and the
//! errors for what it does not take.
#![cfg(feature = "cuda")]

mod gpu_common;

use gpu_common::*;
use metallic::device::cuda::{CudaBuffer, CudaDevice};
use metallic::ops::matmul::mlx::cuda::gemv::{self, GemvVariant, WeightLayout};
use metallic::ops::matmul::{mlx, BackendChoice, GemmProblem};
use metallic::testing::{check_close, fresh_seed, random_blocks, rng, Tolerance};
use metallic::{Context, DType, Device, Error, Tensor};
use rand::Rng;

const ALL_WEIGHTS: [DType; 10] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::Q8_0,
    DType::Q5_0,
    DType::Q4_K,
    DType::Q6_K,
    DType::Q4_0,
    DType::Q4_1,
    DType::Q5_1,
];

/// Values of `len` elements of `dtype` from `bytes`, in float64: the float
/// types decoded, GGUF blocks through the test's own decoder (the model's
/// four types) or the library's CPU one (the others).
fn decode_values(bytes: &[u8], dtype: DType) -> Vec<f64> {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => {
            decode(bytes, dtype).into_iter().map(f64::from).collect()
        }
        DType::Q8_0 | DType::Q5_0 | DType::Q4_K | DType::Q6_K => dequantize_ref(bytes, dtype),
        other => {
            let n = bytes.len() / other.block_bytes() * other.block_size();
            let mut out = vec![0f32; n];
            metallic::quant::dequantize_f32(other, bytes, &mut out).unwrap();
            out.into_iter().map(f64::from).collect()
        }
    }
}

#[derive(Clone, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    a: DType,
    b: DType,
    c: DType,
    batch: Vec<usize>,
    broadcast_b: Vec<bool>,
    a_row_major: bool,
    /// B stored [k, n] (float weights only); else [n, k].
    b_kn: bool,
    c_row_major: bool,
    /// Extra elements per row (B: whole blocks for quantized types).
    pad_a: usize,
    pad_b: usize,
    pad_c: usize,
    offset_a: usize,
    offset_b: usize,
    offset_c: usize,
    alpha: f32,
    beta: f32,
}

fn case(m: usize, n: usize, k: usize, a: DType, b: DType) -> Case {
    Case {
        m,
        n,
        k,
        a,
        b,
        c: a,
        batch: vec![],
        broadcast_b: vec![],
        a_row_major: true,
        b_kn: false,
        c_row_major: true,
        pad_a: 0,
        pad_b: 0,
        pad_c: 0,
        offset_a: 0,
        offset_b: 0,
        offset_c: 0,
        alpha: 1.0,
        beta: 0.0,
    }
}

/// The device buffers of a case and what the reference needs of them.
struct Setup {
    p: GemmProblem,
    a: CudaBuffer,
    b: CudaBuffer,
    c: CudaBuffer,
    a_ref: Vec<f64>,
    b_bytes: Vec<u8>,
    c_ref: Vec<f64>,
}

fn setup(device: &CudaDevice, case: &Case, rng: &mut impl Rng) -> Setup {
    let no = vec![false; case.batch.len()];
    let (a_op, a_len) = operand(
        case.a,
        case.m,
        case.k,
        case.a_row_major,
        case.pad_a,
        case.offset_a,
        &case.batch,
        &no,
    );
    let (b_op, b_len) = operand(
        case.b,
        case.k,
        case.n,
        case.b_kn,
        case.pad_b,
        case.offset_b,
        &case.batch,
        &case.broadcast_b,
    );
    let (c_op, c_len) = operand(
        case.c,
        case.m,
        case.n,
        case.c_row_major,
        case.pad_c,
        case.offset_c,
        &case.batch,
        &no,
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
    let (a, a_ref) = upload_random(device, rng, a_len, case.a);
    let b_bytes = random_blocks(rng, case.b, b_len);
    let b = CudaBuffer::from_bytes(device, &b_bytes).unwrap();
    let (c, c_ref) = if case.beta == 0.0 {
        (poisoned(device, c_len, case.c), vec![f64::NAN; c_len])
    } else {
        upload_random(device, rng, c_len, case.c)
    };
    Setup {
        p,
        a,
        b,
        c,
        a_ref,
        b_bytes,
        c_ref,
    }
}

/// Row j of B (k values) of the batch matrix starting at element `base`.
fn b_column(p: &GemmProblem, bytes: &[u8], base: usize, j: usize) -> Vec<f64> {
    let dtype = p.b.dtype;
    if p.b.row_major {
        let size = dtype.block_bytes();
        return (0..p.k)
            .map(|l| {
                let e = at(&p.b, base, l, j);
                decode_values(&bytes[e * size..(e + 1) * size], dtype)[0]
            })
            .collect();
    }
    let start = dtype.bytes_for(base + j * p.b.ld).unwrap();
    let len = dtype.bytes_for(p.k).unwrap();
    decode_values(&bytes[start..start + len], dtype)
}

/// (actual, expected) of every output element, the expected in float64,
/// and the largest weight magnitude.
fn compare(s: &Setup, got: &[f32]) -> (Vec<f32>, Vec<f64>, f64) {
    let p = &s.p;
    let (mut actual, mut expected) = (Vec::new(), Vec::new());
    let mut largest = 0f64;
    for batch in 0..p.batch_count() {
        let (ab, bb, cb) = (
            p.batch_offset(&p.a, batch),
            p.batch_offset(&p.b, batch),
            p.batch_offset(&p.c, batch),
        );
        for j in 0..p.n {
            let column = b_column(p, &s.b_bytes, bb, j);
            largest = column.iter().fold(largest, |m, v| m.max(v.abs()));
            for i in 0..p.m {
                let dot: f64 = (0..p.k)
                    .map(|l| s.a_ref[at(&p.a, ab, i, l)] * column[l])
                    .sum();
                let ci = at(&p.c, cb, i, j);
                let addend = if p.beta == 0.0 {
                    0.0
                } else {
                    p.beta as f64 * s.c_ref[ci]
                };
                expected.push(p.alpha as f64 * dot + addend);
                actual.push(got[ci]);
            }
        }
    }
    (actual, expected, largest)
}

/// The output type's tolerance (the activations' for F32 outputs), its
/// absolute part grown for a long sum as tests/matmul/support.rs grows it
/// (rounding is a random walk: sqrt(K / 64) past 64 terms) and scaled by the
/// largest term (|a| < 1, so the largest weight; K-quant blocks reach ~20):
/// outputs near zero of long sums of large terms need it, and an indexing
/// error is orders larger.
fn tol(case: &Case, largest_weight: f64) -> Tolerance {
    let base = tolerance(if case.c == DType::F32 { case.a } else { case.c });
    let growth = (case.k.max(64) as f64 / 64.0).sqrt() * largest_weight.max(1.0);
    Tolerance::new(base.atol * growth, base.rtol)
}

/// Runs `case` through the mlx backend's CUDA entry and checks it.
fn check(device: &CudaDevice, case: &Case, seed: u64) {
    check_variant(device, case, seed, None);
}

/// Runs `case` through the planned GEMV variant, or with `split` warps per
/// row of B, and checks it.
fn check_variant(device: &CudaDevice, case: &Case, seed: u64, split: Option<usize>) {
    let mut r = rng(seed);
    let mut s = setup(device, case, &mut r);
    let planned = gemv::plan(&s.p).unwrap();
    let variant = GemvVariant {
        split: split.unwrap_or(planned.split),
        ..planned
    };
    let result = match split {
        Some(_) => gemv::run_variant(device, &s.p, &variant, &s.a, &s.b, &mut s.c),
        None => mlx::cuda::run(device, &s.p, &s.a, &s.b, &mut s.c),
    };
    result.unwrap_or_else(|e| panic!("{case:?}: {e}"));
    let got = download(&s.c, case.c);
    let (actual, expected, largest) = compare(&s, &got);
    if let Err(msg) = check_close(&actual, &expected, tol(case, largest)) {
        panic!("{} {case:?} seed {seed}: {msg}", variant.name());
    }
}

/// K for a weight type: not a multiple of any vector width for floats, a
/// few blocks (more than one staging pass for the 32-value types) for GGUF.
fn odd_k(b: DType) -> usize {
    match b.block_size() {
        1 => 203,
        32 => 32 * 70,
        _ => 256 * 3,
    }
}

#[test]
fn every_weight_type_row_count_and_layout() {
    let device = device();
    let seed = fresh_seed();
    let mut index = 0u64;
    for b in ALL_WEIGHTS {
        for m in [1, 2, 3, 8] {
            for a in FLOATS {
                let layouts: &[bool] = if b.is_quantized() {
                    &[false]
                } else {
                    &[false, true]
                };
                for &b_kn in layouts {
                    index += 1;
                    let c = if index.is_multiple_of(3) {
                        DType::F32
                    } else {
                        a
                    };
                    let alpha = [1.0, 0.5, -1.5][index as usize % 3];
                    let beta = [0.0, 0.0, 1.0, -0.75][index as usize % 4];
                    let case = Case {
                        c,
                        alpha,
                        beta,
                        b_kn,
                        ..case(m, 67, odd_k(b), a, b)
                    };
                    check(&device, &case, seed + index);
                }
            }
        }
    }
}

#[test]
fn aligned_k_takes_the_vector_paths() {
    let device = device();
    let seed = fresh_seed();
    for (i, b) in ALL_WEIGHTS.into_iter().enumerate() {
        for a in FLOATS {
            for m in [1, 3] {
                let case = case(m, 45, 512, a, b);
                let p = setup(&device, &case, &mut rng(seed)).p;
                let variant = gemv::plan(&p).unwrap();
                assert!(variant.a_vec, "{}", variant.name());
                assert_eq!(variant.b_vec, !b.is_quantized(), "{}", variant.name());
                assert_eq!(variant.layout, WeightLayout::Nk);
                check(&device, &case, seed + i as u64);
                for split in [2, 4] {
                    check_variant(&device, &case, seed + i as u64, Some(split));
                }
            }
        }
    }
}

#[test]
fn padded_offset_and_column_major_operands() {
    let device = device();
    let seed = fresh_seed();
    let mut index = 0u64;
    for b in ALL_WEIGHTS {
        let block = b.block_size();
        let k = if block == 1 { 96 } else { 2 * block.max(32) };
        for a in FLOATS {
            for (pad, offset) in [(8, 16), (3, 5), (1, 0)] {
                index += 1;
                let vector = pad % 8 == 0;
                let mut c = Case {
                    pad_a: pad,
                    pad_b: pad * block,
                    pad_c: pad,
                    offset_a: offset,
                    offset_b: offset * block,
                    offset_c: offset,
                    alpha: 0.75,
                    beta: -1.25,
                    ..case(3, 21, k, a, b)
                };
                check(&device, &c, seed + index);
                if vector && a == DType::F32 {
                    let v = gemv::plan(&setup(&device, &c, &mut rng(seed)).p).unwrap();
                    assert!(v.a_vec && v.b_vec != b.is_quantized(), "{}", v.name());
                }
                // A and C column-major (A transposed, output transposed).
                c.a_row_major = false;
                c.c_row_major = false;
                check(&device, &c, seed + index + 1000);
                let v = gemv::plan(&setup(&device, &c, &mut rng(seed)).p).unwrap();
                assert!(!v.a_vec, "{}", v.name());
                if !b.is_quantized() {
                    c.b_kn = true;
                    check(&device, &c, seed + index + 2000);
                }
            }
        }
    }
}

#[test]
fn batches_with_shared_and_separate_weights() {
    let device = device();
    let seed = fresh_seed();
    let mut index = 0u64;
    for b in [
        DType::F16,
        DType::F32,
        DType::BF16,
        DType::Q8_0,
        DType::Q4_K,
    ] {
        let k = if b.block_size() == 256 { 256 } else { 64 };
        for (batch, broadcast) in [
            (vec![3], vec![true]),
            (vec![3], vec![false]),
            (vec![2, 3], vec![false, false]),
            (vec![2, 3], vec![false, true]),
            (vec![2, 1, 3], vec![true, false, false]),
        ] {
            for m in [1, 4] {
                index += 1;
                let c = Case {
                    batch: batch.clone(),
                    broadcast_b: broadcast.clone(),
                    beta: if index.is_multiple_of(2) { 0.5 } else { 0.0 },
                    pad_a: 2,
                    ..case(m, 19, k, DType::F32, b)
                };
                check(&device, &c, seed + index);
                check_variant(&device, &c, seed + index, Some(4));
                if !b.is_quantized() {
                    check(&device, &Case { b_kn: true, ..c }, seed + index);
                }
            }
        }
    }
}

#[test]
fn beta_zero_never_reads_the_poisoned_output_and_beta_updates_in_place() {
    let device = device();
    let seed = fresh_seed();
    for (i, b) in [DType::F16, DType::Q5_0].into_iter().enumerate() {
        for beta in [0.0, 1.0, 2.5] {
            let c = Case {
                beta,
                alpha: -0.5,
                ..case(2, 33, 128, DType::F16, b)
            };
            check(&device, &c, seed + i as u64);
        }
    }
}

/// The model's matrices (Qwen2.5-0.5B: hidden 896, FFN 4864, 2 KV heads of
/// 64) as (n, k): q and o 896×896, k and v 128×896, gate and up 4864×896,
/// down 896×4864; with the default model's weight types and the float ones.
fn qwen_shapes() -> Vec<(usize, usize, Vec<DType>)> {
    let attn = vec![
        DType::Q5_0,
        DType::Q8_0,
        DType::F16,
        DType::BF16,
        DType::F32,
    ];
    let down = vec![DType::Q4_K, DType::Q6_K, DType::Q5_0, DType::F16];
    vec![
        (896, 896, attn.clone()),
        (128, 896, attn.clone()),
        (4864, 896, attn),
        (896, 4864, down),
    ]
}

#[test]
fn qwen_shapes_match() {
    let device = device();
    let seed = fresh_seed();
    let mut index = 0;
    for (n, k, types) in qwen_shapes() {
        for b in types {
            for a in [DType::F32, DType::F16] {
                for m in [1, 2, 8] {
                    index += 1;
                    let c = Case {
                        beta: if m == 2 { 1.0 } else { 0.0 },
                        ..case(m, n, k, a, b)
                    };
                    check(&device, &c, seed + index);
                    if m == 1 {
                        for split in [1, 2, 4] {
                            check_variant(&device, &c, seed + index, Some(split));
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn qwen_output_layer_matches() {
    let device = device();
    let seed = fresh_seed();
    for (i, b) in [DType::Q8_0, DType::BF16].into_iter().enumerate() {
        check(
            &device,
            &case(1, 151_936, 896, DType::F32, b),
            seed + i as u64,
        );
    }
}

/// `x [m, k] · Wᵀ` through a Context, with c given (alpha, beta), compared
/// with the float64 reference.
fn context_case(ctx: &Context, m: usize, n: usize, k: usize, a_dt: DType, b_dt: DType, seed: u64) {
    let device = ctx.device().clone();
    let Device::Cuda(cuda) = &device else {
        panic!("a CUDA context")
    };
    let mut r = rng(seed);
    let (alpha, beta) = (0.5f32, -1.0f32);
    let case = Case {
        alpha,
        beta,
        ..case(m, n, k, a_dt, b_dt)
    };
    let s = setup(cuda, &case, &mut r);
    let a = Tensor::from_bytes(&device, a_dt, &s.a.to_bytes().unwrap(), &[m, k]).unwrap();
    let b = Tensor::from_bytes(&device, b_dt, &s.b_bytes, &[n, k]).unwrap();
    let c = Tensor::from_bytes(&device, a_dt, &s.c.to_bytes().unwrap(), &[m, n]).unwrap();
    let out = ctx
        .matmul_alpha_beta(&a, &b, Some(&c), false, true, alpha, beta)
        .unwrap();
    let got = out.to_f32_vec().unwrap();
    let (actual, expected, largest) = compare(&s, &got);
    if let Err(msg) = check_close(&actual, &expected, tol(&case, largest)) {
        panic!(
            "{} context {a_dt}×{b_dt} m {m} seed {seed}: {msg}",
            ctx.backend_choice().name()
        );
    }
}

#[test]
fn context_mlx_on_cuda_runs_the_gemv_and_agrees_with_cublas() {
    let device = Device::Cuda(device());
    let mlx_ctx = Context::builder(device.clone())
        .backend(BackendChoice::Mlx)
        .profile(Some(true))
        .build()
        .unwrap();
    let vendor = Context::builder(device)
        .backend(BackendChoice::Vendor)
        .build()
        .unwrap();
    let seed = fresh_seed();
    let mut index = 0;
    for b in ALL_WEIGHTS {
        for a in FLOATS {
            for m in [1, 8] {
                index += 1;
                context_case(&mlx_ctx, m, 128, 256, a, b, seed + index);
                if b == a {
                    context_case(&vendor, m, 128, 256, a, b, seed + index);
                }
            }
        }
    }
    let records = mlx_ctx.instrumentation().records();
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r.backend == "mlx"));
}

fn problem(m: usize, n: usize, k: usize, a: DType, b: DType, c: DType) -> GemmProblem {
    let (a, _) = operand(a, m, k, true, 0, 0, &[], &[]);
    let (b, _) = operand(b, k, n, false, 0, 0, &[], &[]);
    let (c, _) = operand(c, m, n, true, 0, 0, &[], &[]);
    GemmProblem {
        m,
        n,
        k,
        batch_shape: vec![],
        a,
        b,
        c,
        alpha: 1.0,
        beta: 0.0,
    }
}

#[test]
fn what_it_cannot_do_is_an_error() {
    let device = device();
    let big = CudaBuffer::zeroed(&device, 1 << 16).unwrap();
    let mut out = CudaBuffer::zeroed(&device, 1 << 16).unwrap();
    let run = |p: &GemmProblem, out: &mut CudaBuffer| mlx::cuda::run(&device, p, &big, &big, out);
    let f32 = DType::F32;
    let message = |r: metallic::Result<()>| match r {
        Err(e) => e.to_string(),
        Ok(()) => panic!("expected an error"),
    };

    let q2 = run(&problem(1, 8, 256, f32, DType::Q2_K, f32), &mut out);
    assert!(matches!(q2, Err(Error::Unsupported(_))));
    assert!(message(q2).contains("Q2_K"));
    // Nine rows are the tiled GEMM's (mlx::cuda::run sends them there); the
    // GEMV itself refuses them.
    assert!(matches!(
        mlx::cuda::gemv::run(
            &device,
            &problem(9, 8, 64, f32, f32, f32),
            &big,
            &big,
            &mut out
        ),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        run(&problem(1, 8, 48, f32, DType::Q8_0, f32), &mut out),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        run(&problem(1, 8, 64, f32, f32, DType::F16), &mut out),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        run(&problem(1, 8, 64, DType::Q8_0, f32, f32), &mut out),
        Err(Error::Unsupported(_))
    ));
    // Quantized weights stored [k, n].
    let mut kn = problem(1, 8, 64, f32, DType::Q8_0, f32);
    kn.b.row_major = true;
    kn.b.ld = 8;
    assert!(matches!(
        run(&kn, &mut out),
        Err(Error::Layout { operand: "b", .. })
    ));
    // More than the buffer holds.
    assert!(matches!(
        run(&problem(1, 4096, 64, f32, f32, f32), &mut out),
        Err(Error::Layout { operand: "b", .. })
    ));
    // Outputs overlapping across the batch.
    let mut overlap = problem(1, 8, 64, f32, f32, f32);
    overlap.batch_shape = vec![2];
    overlap.a.batch_strides = vec![64];
    overlap.b.batch_strides = vec![0];
    overlap.c.batch_strides = vec![0];
    assert!(matches!(
        run(&overlap, &mut out),
        Err(Error::Layout { operand: "c", .. })
    ));
    // Three batch dimensions that do not merge.
    let mut deep = problem(1, 4, 8, f32, f32, f32);
    deep.batch_shape = vec![2, 2, 2];
    deep.a.batch_strides = vec![100, 10, 1000];
    deep.b.batch_strides = vec![0, 0, 0];
    deep.c.batch_strides = vec![40, 4, 400];
    assert!(matches!(run(&deep, &mut out), Err(Error::Unsupported(_))));
    // A variant whose vector loads the problem's alignment does not allow.
    let mut padded = problem(1, 8, 64, f32, f32, f32);
    padded.b.ld = 65;
    let planned = gemv::plan(&padded).unwrap();
    assert!(!planned.b_vec);
    let forced = GemvVariant {
        b_vec: true,
        ..planned
    };
    assert!(matches!(
        gemv::run_variant(&device, &padded, &forced, &big, &big, &mut out),
        Err(Error::InvalidArgument(_))
    ));
    let three = GemvVariant {
        split: 3,
        ..planned
    };
    assert!(matches!(
        gemv::run_variant(&device, &padded, &three, &big, &big, &mut out),
        Err(Error::InvalidArgument(_))
    ));
    // Larger products are not the GEMV's (the tiled GEMM's, when it exists).
    assert!(gemv::plan(&problem(9, 8, 64, f32, f32, f32)).is_err());
}
