//! The vendor backend against a float64 reference on fresh random inputs:
//! transposes, padded leading dimensions, offsets, broadcast and
//! interleaved batches, α/β, f16/bf16/mixed types, and misuse.

use half::{bf16, f16};
use rand::rngs::StdRng;
use rand::Rng;

use super::VendorCpu;
use crate::dtype::DType;
use crate::error::Error;
use crate::ops::matmul::problem::{GemmProblem, MatrixOperand};
use crate::quant::dequantize_f32;
use crate::testing::{fresh_seed, random_blocks, random_vec, rng, Tolerance, POISON};

/// How one operand is laid out in its test buffer.
#[derive(Clone, Debug)]
struct Layout {
    dtype: DType,
    row_major: bool,
    /// Extra elements per row (or column) beyond the minor extent.
    pad: usize,
    offset: usize,
    /// Per batch dimension: shared by every index of it (stride 0).
    broadcast: Vec<bool>,
    /// Unused elements between consecutive matrices.
    gap: usize,
}

impl Layout {
    fn dense(dtype: DType, row_major: bool, dims: usize) -> Layout {
        Layout {
            dtype,
            row_major,
            pad: 0,
            offset: 0,
            broadcast: vec![false; dims],
            gap: 0,
        }
    }

    fn operand(&self, rows: usize, cols: usize, batch_shape: &[usize]) -> MatrixOperand {
        let (minor, major) = if self.row_major {
            (cols, rows)
        } else {
            (rows, cols)
        };
        let ld = minor + self.pad;
        let mut stride = major * ld + self.gap;
        let mut strides = vec![0; batch_shape.len()];
        for d in (0..batch_shape.len()).rev() {
            if !self.broadcast[d] {
                strides[d] = stride;
                stride *= batch_shape[d];
            }
        }
        MatrixOperand {
            dtype: self.dtype,
            row_major: self.row_major,
            ld,
            offset: self.offset,
            batch_strides: strides,
        }
    }
}

/// Element (row, col) of matrix `batch` of `op`.
fn index(p: &GemmProblem, op: &MatrixOperand, batch: usize, row: usize, col: usize) -> usize {
    let base = p.batch_offset(op, batch);
    if op.row_major {
        base + row * op.ld + col
    } else {
        base + col * op.ld + row
    }
}

/// Elements the buffer needs for `op`'s matrices of `rows`×`cols`.
fn buffer_len(p: &GemmProblem, op: &MatrixOperand, rows: usize, cols: usize) -> usize {
    (0..p.batch_count())
        .flat_map(|b| [index(p, op, b, 0, 0), index(p, op, b, rows - 1, cols - 1)])
        .max()
        .unwrap_or(0)
        + 1
}

/// A buffer of `len` elements of `dtype` in 8-byte-aligned storage, as the
/// engine's buffers are.
struct Buffer {
    words: Vec<u64>,
    dtype: DType,
    len: usize,
    /// A quantized buffer's values, for the reference.
    dequantized: Option<Vec<f32>>,
}

impl Buffer {
    fn encode(dtype: DType, values: &[f32]) -> Buffer {
        let bytes = values.len() * dtype.block_bytes();
        let mut buf = Buffer {
            words: vec![0; bytes.div_ceil(8)],
            dtype,
            len: values.len(),
            dequantized: None,
        };
        let out = buf.bytes_mut();
        for (i, &v) in values.iter().enumerate() {
            match dtype {
                DType::F32 => out[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes()),
                DType::F16 => {
                    out[2 * i..2 * i + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes())
                }
                DType::BF16 => {
                    out[2 * i..2 * i + 2].copy_from_slice(&bf16::from_f32(v).to_le_bytes())
                }
                other => panic!("test buffers hold plain floats, not {other}"),
            }
        }
        buf
    }

    /// `len` (whole blocks) random values of a quantized type.
    fn random_blocks(g: &mut StdRng, dtype: DType, len: usize) -> Buffer {
        let bytes = random_blocks(g, dtype, len);
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
        let mut values = vec![0.0; len];
        dequantize_f32(dtype, &bytes, &mut values).unwrap();
        Buffer {
            words,
            dtype,
            len,
            dequantized: Some(values),
        }
    }

    fn bytes(&self) -> &[u8] {
        let n = self.dtype.bytes_for(self.len).unwrap();
        &bytemuck::cast_slice(&self.words)[..n]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let n = self.dtype.bytes_for(self.len).unwrap();
        &mut bytemuck::cast_slice_mut(&mut self.words)[..n]
    }

    fn get(&self, i: usize) -> f32 {
        if let Some(values) = &self.dequantized {
            return values[i];
        }
        let b = self.bytes();
        match self.dtype {
            DType::F32 => f32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap()),
            DType::F16 => f16::from_le_bytes([b[2 * i], b[2 * i + 1]]).to_f32(),
            DType::BF16 => bf16::from_le_bytes([b[2 * i], b[2 * i + 1]]).to_f32(),
            other => panic!("test buffers hold plain floats, not {other}"),
        }
    }
}

struct Case {
    p: GemmProblem,
    a: Buffer,
    b: Buffer,
    c: Buffer,
}

impl Case {
    #[allow(clippy::too_many_arguments)]
    fn new(
        g: &mut StdRng,
        (m, n, k): (usize, usize, usize),
        batch_shape: Vec<usize>,
        a: &Layout,
        b: &Layout,
        c: &Layout,
        alpha: f32,
        beta: f32,
    ) -> Case {
        let p = GemmProblem {
            m,
            n,
            k,
            a: a.operand(m, k, &batch_shape),
            b: b.operand(k, n, &batch_shape),
            c: c.operand(m, n, &batch_shape),
            batch_shape,
            alpha,
            beta,
        };
        let tail = g.random_range(0..4);
        let a_len = buffer_len(&p, &p.a, m, k) + tail;
        let b_len = buffer_len(&p, &p.b, k, n) + tail;
        let c_len = buffer_len(&p, &p.c, m, n) + tail;
        // With β = 0 the output must not be read: poison it all.
        let c_values = if beta == 0.0 {
            vec![POISON; c_len]
        } else {
            random_vec(g, c_len)
        };
        let b = if p.b.dtype.is_quantized() {
            let block = p.b.dtype.block_size();
            Buffer::random_blocks(g, p.b.dtype, b_len.div_ceil(block) * block)
        } else {
            Buffer::encode(p.b.dtype, &random_vec(g, b_len))
        };
        Case {
            a: Buffer::encode(p.a.dtype, &random_vec(g, a_len)),
            b,
            c: Buffer::encode(p.c.dtype, &c_values),
            p,
        }
    }

    /// α·A·B + β·C in float64 from the stored (rounded) inputs, batch-major.
    fn reference(&self) -> Vec<f64> {
        let p = &self.p;
        let mut out = Vec::with_capacity(p.batch_count() * p.m * p.n);
        for bi in 0..p.batch_count() {
            for i in 0..p.m {
                for j in 0..p.n {
                    let dot: f64 = (0..p.k)
                        .map(|l| {
                            self.a.get(index(p, &p.a, bi, i, l)) as f64
                                * self.b.get(index(p, &p.b, bi, l, j)) as f64
                        })
                        .sum();
                    let mut d = p.alpha as f64 * dot;
                    if p.beta != 0.0 {
                        d += p.beta as f64 * self.c.get(index(p, &p.c, bi, i, j)) as f64;
                    }
                    out.push(d);
                }
            }
        }
        out
    }

    /// Runs the backend on a pool of `threads`, compares with the reference
    /// under `tol`, and checks no byte of C outside the outputs changed.
    fn check(mut self, threads: usize, tol: Tolerance, context: &str) {
        self.check_with(&VendorCpu::new(), threads, tol, context);
    }

    fn check_with(&mut self, vendor: &VendorCpu, threads: usize, tol: Tolerance, context: &str) {
        let expected = self.reference();
        let before = self.c.bytes().to_vec();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (a, b) = (self.a.bytes(), self.b.bytes());
        pool.install(|| vendor.run(&self.p, a, b, self.c.bytes_mut()))
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        let p = &self.p;
        let mut written = vec![false; self.c.len];
        let mut actual = Vec::with_capacity(expected.len());
        for bi in 0..p.batch_count() {
            for i in 0..p.m {
                for j in 0..p.n {
                    let at = index(p, &p.c, bi, i, j);
                    written[at] = true;
                    actual.push(self.c.get(at));
                }
            }
        }
        if let Err(msg) = crate::testing::check_close(&actual, &expected, tol) {
            panic!("{context}: {msg}");
        }
        let size = p.c.dtype.block_bytes();
        let after = self.c.bytes();
        for (i, w) in written.iter().enumerate() {
            if !w {
                assert_eq!(
                    before[i * size..(i + 1) * size],
                    after[i * size..(i + 1) * size],
                    "{context}: element {i} of C outside the outputs changed"
                );
            }
        }
    }
}

fn plain(dtype: DType, a_rows: bool, b_rows: bool) -> [Layout; 3] {
    [
        Layout::dense(dtype, a_rows, 0),
        Layout::dense(dtype, b_rows, 0),
        Layout::dense(dtype, true, 0),
    ]
}

#[test]
fn every_transpose_combination_matches_the_reference() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    for a_rows in [true, false] {
        for b_rows in [true, false] {
            let [a, b, c] = plain(DType::F32, a_rows, b_rows);
            let case = Case::new(&mut g, (37, 29, 53), vec![], &a, &b, &c, 1.0, 0.0);
            case.check(
                2,
                Tolerance::F32,
                &format!("seed {seed}, A row-major {a_rows}, B row-major {b_rows}"),
            );
        }
    }
}

#[test]
fn column_major_output_matches_the_reference() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    let [a, b, mut c] = plain(DType::F32, false, true);
    c.row_major = false;
    c.pad = 3;
    let case = Case::new(&mut g, (45, 70, 33), vec![], &a, &b, &c, 0.75, 0.5);
    case.check(2, Tolerance::F32, &format!("seed {seed}"));
}

#[test]
fn padded_leading_dimensions_and_offsets_keep_padding_intact() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    let [mut a, mut b, mut c] = plain(DType::F32, true, false);
    for (l, pad, offset) in [(&mut a, 5, 7), (&mut b, 3, 11), (&mut c, 9, 2)] {
        l.pad = pad;
        l.offset = offset;
    }
    for beta in [0.0, 1.5] {
        let case = Case::new(&mut g, (31, 47, 64), vec![], &a, &b, &c, -0.5, beta);
        case.check(2, Tolerance::F32, &format!("seed {seed}, beta {beta}"));
    }
}

#[test]
fn alpha_beta_update_c_in_place_and_beta_zero_never_reads_nan() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        let [a, b, c] = plain(dtype, true, false);
        let tol = tolerance(dtype);
        for (alpha, beta) in [
            (1.0, 0.0),
            (0.37, 0.0),
            (1.0, 1.0),
            (-1.25, 0.6),
            (0.0, 2.0),
        ] {
            let case = Case::new(&mut g, (19, 40, 72), vec![], &a, &b, &c, alpha, beta);
            case.check(
                2,
                tol,
                &format!("seed {seed}, {dtype}, alpha {alpha}, beta {beta}"),
            );
        }
    }
}

#[test]
fn single_rows_split_across_threads_cover_every_column() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    // Decode shapes: m = 1 with weights stored as rows of k (B column-major).
    for (n, k) in [(1000, 96), (129, 64), (7, 32)] {
        for threads in [1, 2, 3, 4] {
            let [a, b, c] = plain(DType::F32, true, false);
            let case = Case::new(&mut g, (1, n, k), vec![], &a, &b, &c, 1.0, 0.0);
            case.check(
                threads,
                Tolerance::F32,
                &format!("seed {seed}, n {n}, threads {threads}"),
            );
        }
    }
}

#[test]
fn batches_with_broadcast_operands_match_the_reference() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    // [2,3,M,K] × [K,N] shared; [2,3,M,K] × [1,3,K,N]; A shared by all batches.
    let shapes: [(Vec<bool>, Vec<bool>); 3] = [
        (vec![false, false], vec![true, true]),
        (vec![false, false], vec![true, false]),
        (vec![true, true], vec![false, false]),
    ];
    for (a_bcast, b_bcast) in shapes {
        for threads in [1, 2, 4, 8] {
            let mut a = Layout::dense(DType::F32, true, 2);
            let mut b = Layout::dense(DType::F32, false, 2);
            let mut c = Layout::dense(DType::F32, true, 2);
            a.broadcast = a_bcast.clone();
            b.broadcast = b_bcast.clone();
            (a.gap, b.gap, c.gap, c.pad) = (3, 5, 2, 4);
            let case = Case::new(&mut g, (6, 9, 16), vec![2, 3], &a, &b, &c, 1.0, 0.25);
            case.check(
                threads,
                Tolerance::F32,
                &format!("seed {seed}, a {a_bcast:?}, b {b_bcast:?}, threads {threads}"),
            );
        }
    }
}

#[test]
fn interleaved_head_outputs_are_written_in_parallel_without_overlap() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    // Attention P·V at m = 1: 14 heads, each writing 64 columns of one
    // [heads × 64] row; the batch stride (64) is smaller than the row stride.
    let (heads, head_dim, seq) = (14, 64, 95);
    let a = Layout::dense(DType::F32, true, 1);
    let b = Layout::dense(DType::F32, true, 1);
    let c = Layout::dense(DType::F32, true, 1);
    let mut case = Case::new(
        &mut g,
        (1, head_dim, seq),
        vec![heads],
        &a,
        &b,
        &c,
        1.0,
        0.0,
    );
    case.p.c.ld = heads * head_dim;
    case.p.c.batch_strides = vec![head_dim];
    case.c = Buffer::encode(DType::F32, &vec![POISON; heads * head_dim]);
    for threads in [1, 2, 4] {
        let mut fresh = Case {
            p: case.p.clone(),
            a: Buffer::encode(DType::F32, &random_vec(&mut g, case.a.len)),
            b: Buffer::encode(DType::F32, &random_vec(&mut g, case.b.len)),
            c: Buffer::encode(DType::F32, &vec![POISON; heads * head_dim]),
        };
        fresh.p.m = 1;
        fresh.check(
            threads,
            Tolerance::F32,
            &format!("seed {seed}, threads {threads}"),
        );
    }
}

#[test]
fn f16_bf16_and_mixed_types_match_with_their_tolerances() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    let mixes = [
        [DType::F16, DType::F16, DType::F16],
        [DType::BF16, DType::BF16, DType::BF16],
        [DType::F32, DType::F16, DType::F32],
        [DType::BF16, DType::F32, DType::F16],
        [DType::F16, DType::BF16, DType::BF16],
    ];
    for [ta, tb, tc] in mixes {
        for (m, beta) in [(1, 0.0), (23, 0.5)] {
            let mut a = Layout::dense(ta, true, 0);
            let b = Layout::dense(tb, false, 0);
            let mut c = Layout::dense(tc, true, 0);
            (a.pad, c.pad, c.offset) = (3, 2, 5);
            let case = Case::new(&mut g, (m, 77, 96), vec![], &a, &b, &c, 1.0, beta);
            case.check(
                2,
                tolerance(tc).max(tolerance(ta)).max(tolerance(tb)),
                &format!("seed {seed}, {ta}×{tb}→{tc}, m {m}, beta {beta}"),
            );
        }
    }
}

#[test]
fn random_layouts_match_the_reference() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    let dtypes = [DType::F32, DType::F16, DType::BF16];
    for round in 0..40 {
        let dims = g.random_range(0..3);
        let batch_shape: Vec<usize> = (0..dims).map(|_| g.random_range(1..4)).collect();
        let dtype = dtypes[g.random_range(0..3)];
        let mut layouts = [0, 1, 2].map(|_| Layout {
            dtype: if g.random_bool(0.8) {
                dtype
            } else {
                dtypes[g.random_range(0..3)]
            },
            row_major: g.random_bool(0.5),
            pad: g.random_range(0..4),
            offset: g.random_range(0..6),
            broadcast: (0..dims).map(|_| g.random_bool(0.3)).collect(),
            gap: g.random_range(0..3),
        });
        layouts[2].broadcast = vec![false; dims];
        let mnk = (
            g.random_range(1..40),
            g.random_range(1..40),
            g.random_range(1..70),
        );
        let alpha = g.random_range(-2.0..2.0);
        let beta = if g.random_bool(0.5) {
            0.0
        } else {
            g.random_range(-2.0..2.0)
        };
        let [a, b, c] = &layouts;
        let case = Case::new(&mut g, mnk, batch_shape, a, b, c, alpha, beta);
        let tol = [a, b, c]
            .iter()
            .map(|l| tolerance(l.dtype))
            .fold(Tolerance::F32, Tolerance::max);
        let context = format!("seed {seed}, round {round}: {:?}", case.p);
        case.check(g.random_range(1..5), tol, &context);
    }
}

#[test]
fn k_zero_scales_or_clears_the_output() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    let [a, b, c] = plain(DType::F32, true, true);
    for beta in [0.0, 0.5] {
        let mut case = Case::new(&mut g, (5, 6, 1), vec![], &a, &b, &c, 1.0, beta);
        case.p.k = 0;
        case.check(2, Tolerance::F32, &format!("seed {seed}, beta {beta}"));
    }
}

#[test]
fn misuse_is_an_error_naming_the_operand() {
    let mut g = rng(fresh_seed());
    let [a, b, c] = plain(DType::F32, true, true);
    let case = Case::new(&mut g, (4, 5, 6), vec![], &a, &b, &c, 1.0, 0.0);
    let vendor = VendorCpu::new();
    let run = |p: &GemmProblem, a: &[u8], b: &[u8]| {
        let mut c = vec![0u64; 64];
        vendor.run(p, a, b, &mut bytemuck::cast_slice_mut(&mut c)[..4 * 20])
    };
    let (ab, bb) = (case.a.bytes(), case.b.bytes());
    let layout_of = |r: crate::Result<()>| match r {
        Err(Error::Layout { operand, .. }) => operand,
        other => panic!("expected a layout error, got {other:?}"),
    };

    // A is 4×6 f32: 96 bytes; one element short.
    assert_eq!(layout_of(run(&case.p, &ab[..92], bb)), "a");
    let mut p = case.p.clone();
    p.b.ld = 4;
    assert_eq!(layout_of(run(&p, ab, bb)), "b");
    let mut p = case.p.clone();
    p.c.batch_strides = vec![20];
    assert_eq!(layout_of(run(&p, ab, bb)), "c");
    let mut p = case.p.clone();
    p.c.offset = usize::MAX - 3;
    assert_eq!(layout_of(run(&p, ab, bb)), "c");
    let mut p = case.p.clone();
    p.a.offset = 1;
    assert_eq!(
        layout_of(run(&p, &ab[1..], bb)),
        "a",
        "misaligned or short A"
    );
    let mut p = case.p.clone();
    p.a.dtype = DType::Q8_0;
    assert!(matches!(run(&p, ab, bb), Err(Error::Unsupported(_))));
}

fn tolerance(dtype: DType) -> Tolerance {
    match dtype {
        DType::F16 => Tolerance::F16,
        DType::BF16 => Tolerance::BF16,
        _ => Tolerance::F32,
    }
}

trait Loosest {
    fn max(self, other: Tolerance) -> Tolerance;
}

impl Loosest for Tolerance {
    fn max(self, other: Tolerance) -> Tolerance {
        Tolerance::new(self.atol.max(other.atol), self.rtol.max(other.rtol))
    }
}

/// A quantized weight B (column-major: blocks along k) with padded columns,
/// an offset and a batch stride, and the Case around it.
fn quantized_case(g: &mut StdRng, b_type: DType, float: DType, m: usize, beta: f32) -> Case {
    let block = b_type.block_size();
    let (n, k) = (5, 2 * block);
    let a = Layout {
        pad: 3,
        ..Layout::dense(float, true, 1)
    };
    let c = Layout {
        pad: 1,
        offset: 2,
        ..Layout::dense(float, true, 1)
    };
    let b = Layout {
        pad: block,
        offset: block,
        gap: block,
        ..Layout::dense(b_type, false, 1)
    };
    Case::new(g, (m, n, k), vec![2], &a, &b, &c, 0.5, beta)
}

#[test]
fn quantized_weights_of_every_block_type_match_the_reference() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    for b_type in DType::ALL.into_iter().filter(|t| t.is_quantized()) {
        for (float, m, beta) in [
            (DType::F32, 1, 0.0),
            (DType::F16, 3, 1.0),
            (DType::BF16, 2, 0.0),
        ] {
            let case = quantized_case(&mut g, b_type, float, m, beta);
            let context = format!("seed {seed}, {float} × {b_type}, m {m}, beta {beta}");
            case.check(2, tolerance(float), &context);
        }
    }
}

#[test]
fn dequantized_weights_are_cached_and_rewritten_contents_are_not_served_stale() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    let vendor = VendorCpu::new();
    let mut case = quantized_case(&mut g, DType::Q4_K, DType::F32, 1, 0.0);
    case.check_with(
        &vendor,
        2,
        Tolerance::F32,
        &format!("seed {seed}, first call"),
    );
    assert_eq!(vendor.cached_weights(), 1);
    case.check_with(&vendor, 2, Tolerance::F32, &format!("seed {seed}, cached"));
    assert_eq!(
        vendor.cached_weights(),
        1,
        "the same weight is dequantized once"
    );
    // New contents at the same address and length: a different weight.
    let address = case.b.words.as_ptr();
    let fresh = Buffer::random_blocks(&mut g, DType::Q4_K, case.b.len);
    case.b.words.copy_from_slice(&fresh.words);
    case.b.dequantized = fresh.dequantized;
    assert_eq!(case.b.words.as_ptr(), address);
    case.check_with(
        &vendor,
        2,
        Tolerance::F32,
        &format!("seed {seed}, rewritten"),
    );
    assert_eq!(vendor.cached_weights(), 2);
    vendor.clear_cache();
    assert_eq!(vendor.cached_weights(), 0);
}

#[test]
fn quantized_operands_off_block_boundaries_are_errors() {
    let mut g = rng(fresh_seed());
    let case = quantized_case(&mut g, DType::Q8_0, DType::F32, 1, 0.0);
    let vendor = VendorCpu::new();
    let mut c = vec![0u64; 64];
    let mut run = |p: &GemmProblem| {
        let c = &mut bytemuck::cast_slice_mut(&mut c)[..];
        match vendor.run(p, case.a.bytes(), case.b.bytes(), c) {
            Err(Error::Layout { operand: "b", .. }) => {}
            other => panic!("expected a layout error for b, got {other:?}"),
        }
    };
    let mut p = case.p.clone();
    p.b.offset += 1;
    run(&p);
    let mut p = case.p.clone();
    p.b.ld += 16;
    run(&p);
    let mut p = case.p.clone();
    p.b.row_major = true;
    run(&p);
}
