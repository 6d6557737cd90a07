//! `matmul_quantized` against a float64 product of the dequantized weights
//! and the original f32 activations, on every instruction set this CPU has.
//!
//! The kernels quantize each activation block of `B` values (32, or 256 for
//! K formats) to ±127 levels, so each activation moves by at most half a
//! step, `amax_block / 254`. The tolerance of element (i, j) is exactly that
//! error carried through the weights, `Σ_blocks step/2 · Σ |w|`, plus f32
//! rounding of the sums — derived from the inputs, not picked.

use metallic::quant::{
    dequantize_f32, matmul_quantized, matmul_quantized_with, Isa, QuantizedProduct,
};
use metallic::testing::{check_close, fresh_seed, random_vec, rng, Tolerance, POISON};
use metallic::DType;
use rand::Rng;

const QUANTIZED: [DType; 10] = [
    DType::Q4_0,
    DType::Q4_1,
    DType::Q5_0,
    DType::Q5_1,
    DType::Q8_0,
    DType::Q2_K,
    DType::Q3_K,
    DType::Q4_K,
    DType::Q5_K,
    DType::Q6_K,
];

/// Byte offsets of a block's f16 scale fields.
fn scale_fields(dtype: DType) -> &'static [usize] {
    match dtype {
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 => &[0],
        DType::Q4_1 | DType::Q5_1 | DType::Q4_K | DType::Q5_K => &[0, 2],
        DType::Q2_K => &[80, 82],
        DType::Q3_K => &[108],
        DType::Q6_K => &[208],
        _ => &[],
    }
}

/// `n` rows of `k` values: random bytes (every bit pattern, Q8_0's -128
/// included) with f16 scales of either sign around 2⁻⁶.
fn random_weights(dtype: DType, n: usize, k: usize, r: &mut impl Rng) -> Vec<u8> {
    let mut w: Vec<u8> = (0..dtype.bytes_for(k).unwrap() * n)
        .map(|_| r.random())
        .collect();
    if dtype.is_quantized() {
        for block in w.chunks_mut(dtype.block_bytes()) {
            for &at in scale_fields(dtype) {
                let d = r.random_range(0.5f32..1.5) / 64.0 * if r.random() { 1.0 } else { -1.0 };
                block[at..at + 2].copy_from_slice(&half::f16::from_f32(d).to_le_bytes());
            }
        }
    } else {
        let values = random_vec(r, n * k);
        w.clear();
        for v in values {
            match dtype {
                DType::F32 => w.extend(v.to_le_bytes()),
                DType::F16 => w.extend(half::f16::from_f32(v).to_le_bytes()),
                _ => w.extend(half::bf16::from_f32(v).to_le_bytes()),
            }
        }
    }
    w
}

/// Values per activation scale for a weight type (1 for float weights,
/// which use the activations as they are).
fn activation_block(dtype: DType) -> usize {
    match dtype.block_size() {
        1 => 0,
        bs => bs,
    }
}

struct Problem {
    dtype: DType,
    n: usize,
    k: usize,
    m: usize,
    lda: usize,
    ldc: usize,
    w: Vec<u8>,
    a: Vec<f32>,
    c0: Vec<f32>,
    alpha: f32,
    beta: f32,
}

impl Problem {
    fn new(dtype: DType, m: usize, n: usize, k: usize, beta: f32, r: &mut impl Rng) -> Problem {
        let (lda, ldc) = (k + 3, n + 2);
        let mut a = random_vec(r, m * lda);
        // Rows of different magnitudes, and an outlier, as real activations have.
        for (i, row) in a.chunks_mut(lda).enumerate() {
            let s = 2f32.powi(i as i32 % 7 - 3);
            row.iter_mut().for_each(|v| *v *= s);
            row[(7 * i) % k] *= 20.0;
        }
        let c0 = if beta == 0.0 {
            vec![POISON; m * ldc]
        } else {
            random_vec(r, m * ldc)
        };
        Problem {
            dtype,
            n,
            k,
            m,
            lda,
            ldc,
            w: random_weights(dtype, n, k, r),
            a,
            c0,
            alpha: r.random_range(0.5..2.0),
            beta,
        }
    }

    fn run(&self, isa: Isa) -> Vec<f32> {
        let mut c = self.c0.clone();
        let product = QuantizedProduct {
            w_type: self.dtype,
            w: &self.w,
            n: self.n,
            k: self.k,
            a: &self.a,
            lda: self.lda,
            m: self.m,
            ldc: self.ldc,
            alpha: self.alpha,
            beta: self.beta,
        };
        matmul_quantized_with(isa, &product, &mut c).unwrap();
        c
    }

    /// The float64 reference and, per element, the allowed error: the
    /// activation quantization's (see the file comment) and f32 rounding's.
    fn reference(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (m, n, k) = (self.m, self.n, self.k);
        let mut w = vec![0.0f32; n * k];
        dequantize_f32(self.dtype, &self.w, &mut w).unwrap();
        let block = activation_block(self.dtype);
        let eps = f32::EPSILON as f64 / 2.0;
        let (mut want, mut quant_err, mut round_err) =
            (vec![0.0; m * n], vec![0.0; m * n], vec![0.0; m * n]);
        for i in 0..m {
            let a = &self.a[i * self.lda..i * self.lda + k];
            let half_steps: Vec<f64> = match block {
                0 => vec![0.0; k],
                bs => a
                    .chunks(bs)
                    .flat_map(|b| {
                        let amax = b.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
                        std::iter::repeat_n(amax / 254.0, bs)
                    })
                    .collect(),
            };
            for j in 0..n {
                let wj = &w[j * k..(j + 1) * k];
                let (mut s, mut q, mut abs) = (0.0f64, 0.0f64, 0.0f64);
                for ((&wv, &av), &h) in wj.iter().zip(a).zip(&half_steps) {
                    s += wv as f64 * av as f64;
                    q += (wv as f64).abs() * h;
                    abs += (wv as f64).abs() * (av.abs() as f64 + h);
                }
                let alpha = self.alpha as f64;
                let c0 = if self.beta == 0.0 {
                    0.0
                } else {
                    self.c0[i * self.ldc + j] as f64
                };
                let beta_term = self.beta as f64 * c0;
                want[i * n + j] = alpha * s + beta_term;
                quant_err[i * n + j] = alpha.abs() * q;
                // Each of the ≤ k/32 + 40 f32 operations on a path to the sum
                // adds a relative error of at most eps of the terms' magnitude.
                let ops = (k / 32 + 40) as f64;
                round_err[i * n + j] = ops * eps * (alpha.abs() * abs + beta_term.abs());
            }
        }
        (want, quant_err, round_err)
    }

    /// C's m × n block, and a check that the padding columns were left alone.
    fn block_of(&self, c: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.m * self.n);
        for i in 0..self.m {
            let row = &c[i * self.ldc..(i + 1) * self.ldc];
            out.extend_from_slice(&row[..self.n]);
            for (x, y) in row[self.n..]
                .iter()
                .zip(&self.c0[i * self.ldc + self.n..(i + 1) * self.ldc])
            {
                assert!(
                    x.to_bits() == y.to_bits(),
                    "{}: padding column written",
                    self.dtype
                );
            }
        }
        out
    }
}

/// Every element within its own bound; returns a message naming the worst.
fn check_each(got: &[f32], want: &[f64], bound: impl Fn(usize) -> f64) -> Result<(), String> {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        check_close(&[g], &[w], Tolerance::new(bound(i), 0.0))
            .map_err(|e| format!("element {i}: {e}"))?;
    }
    Ok(())
}

fn check_problem(p: &Problem, seed: u64) {
    let (want, quant_err, round_err) = p.reference();
    let isas = Isa::supported();
    let portable = p.block_of(&p.run(Isa::portable()));
    for &isa in &isas {
        let got = p.block_of(&p.run(isa));
        let what = format!(
            "seed {seed}, {} m={} n={} k={} beta={} on {}",
            p.dtype,
            p.m,
            p.n,
            p.k,
            p.beta,
            isa.name()
        );
        if let Err(e) = check_each(&got, &want, |i| quant_err[i] + round_err[i]) {
            panic!("{what}: against the float64 reference: {e}");
        }
        // The instruction sets add the same integers; only float sums differ.
        let portable64: Vec<f64> = portable.iter().map(|&v| v as f64).collect();
        if let Err(e) = check_each(&got, &portable64, |i| 2.0 * round_err[i]) {
            panic!("{what}: against the portable kernels: {e}");
        }
    }
}

fn in_pool(threads: usize, f: impl FnOnce() + Send) {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f);
}

#[test]
fn every_format_every_isa_small_shapes() {
    let seed = fresh_seed();
    let mut r = rng(seed);
    in_pool(2, || {
        for dtype in QUANTIZED
            .into_iter()
            .chain([DType::F32, DType::F16, DType::BF16])
        {
            let k = if dtype.block_size() == 256 { 512 } else { 96 };
            for (m, n) in [(1, 1), (1, 37), (5, 3), (5, 38), (9, 64)] {
                let beta = if n % 2 == 0 { 0.0 } else { 0.75 };
                check_problem(&Problem::new(dtype, m, n, k, beta, &mut r), seed);
            }
        }
    });
}

#[test]
fn model_shapes_decode_and_prefill() {
    let seed = fresh_seed();
    let mut r = rng(seed);
    in_pool(2, || {
        for (dtype, k) in [
            (DType::Q5_0, 896),
            (DType::Q8_0, 896),
            (DType::Q4_0, 896),
            (DType::Q4_K, 4864),
            (DType::Q6_K, 4864),
            (DType::Q5_0, 4864),
        ] {
            for (m, n, beta) in [(1, 67, 0.0), (5, 19, 1.0), (128, 21, 0.0)] {
                check_problem(&Problem::new(dtype, m, n, k, beta, &mut r), seed);
            }
        }
    });
}

#[test]
fn one_thread_gives_the_same_result_as_two() {
    let seed = fresh_seed();
    let p = Problem::new(DType::Q4_K, 6, 41, 768, 0.0, &mut rng(seed));
    let mut one = Vec::new();
    in_pool(1, || one = p.run(Isa::best()));
    let mut two = Vec::new();
    in_pool(2, || two = p.run(Isa::best()));
    // Each element is computed by one task whichever the split: bit-equal.
    assert_eq!(p.block_of(&one), p.block_of(&two), "seed {seed}");
}

#[test]
fn non_finite_activations_give_nan_not_a_panic() {
    let w = random_weights(DType::Q8_0, 2, 64, &mut rng(fresh_seed()));
    let mut a = vec![0.5f32; 64];
    a[3] = f32::NAN;
    let mut c = [0.0f32; 2];
    matmul_quantized(&plain(DType::Q8_0, &w, 2, 64, &a, 64, 1, 2), &mut c).unwrap();
    assert!(c.iter().all(|v| v.is_nan()));
}

#[test]
fn bad_operands_are_errors() {
    let w = vec![0u8; 34 * 4];
    let a = vec![1.0f32; 64];
    let mut c = vec![0.0f32; 8];
    let call = |t: DType, w: &[u8], n, k, a: &[f32], lda, m, c: &mut [f32], ldc| {
        matmul_quantized(&plain(t, w, n, k, a, lda, m, ldc), c)
    };
    assert!(call(DType::Q8_0, &w, 4, 32, &a, 32, 2, &mut c, 4).is_ok());
    assert!(
        call(DType::Q8_0, &w, 4, 33, &a, 33, 1, &mut c, 4).is_err(),
        "k not whole blocks"
    );
    assert!(
        call(DType::Q8_0, &w[1..], 4, 32, &a, 32, 1, &mut c, 4).is_err(),
        "short W"
    );
    assert!(
        call(DType::Q8_0, &w, 2, 64, &a, 64, 2, &mut c, 2).is_err(),
        "A too short"
    );
    assert!(
        call(DType::Q8_0, &w, 4, 32, &a, 31, 1, &mut c, 4).is_err(),
        "lda < k"
    );
    assert!(
        call(DType::Q8_0, &w, 4, 32, &a, 32, 2, &mut c[..7], 4).is_err(),
        "C too short"
    );
    assert!(
        call(DType::Q8_0, &w, 4, 32, &a, 32, 1, &mut c, 3).is_err(),
        "ldc < n"
    );
    assert!(
        call(DType::Q8_0, &w, usize::MAX, 32, &a, 32, 1, &mut c, 4).is_err(),
        "n overflows"
    );
    // k = 0: an empty sum, so C = beta · C.
    let mut c2 = [2.0f32, 4.0];
    let empty_sum = QuantizedProduct {
        beta: 0.5,
        ..plain(DType::Q4_K, &[], 2, 0, &[], 0, 1, 2)
    };
    assert!(matmul_quantized(&empty_sum, &mut c2).is_ok());
    assert_eq!(c2, [1.0, 2.0]);
    // Empty products succeed without touching C.
    assert!(call(DType::Q8_0, &w, 4, 32, &a, 32, 0, &mut [], 4).is_ok());
    assert!(call(DType::Q8_0, &[], 0, 32, &a, 32, 2, &mut c, 0).is_ok());
}

proptest::proptest! {
    /// Any sizes, consistent or not: an answer, never a panic; and an `Ok`
    /// only when every operand really holds what the sizes say.
    #[test]
    fn arbitrary_sizes_never_panic(
        t in 0usize..14,
        n in 0usize..5,
        k in 0usize..600,
        m in 0usize..4,
        lda in 0usize..600,
        ldc in 0usize..6,
        w_len in 0usize..3000,
        a_len in 0usize..2000,
        c_len in 0usize..20,
    ) {
        let dtype = DType::ALL[t];
        let w = vec![0u8; w_len];
        let a = vec![0.5f32; a_len];
        let mut c = vec![0.0f32; c_len];
        let result = matmul_quantized(&plain(dtype, &w, n, k, &a, lda, m, ldc), &mut c);
        if result.is_ok() && m > 0 && n > 0 {
            proptest::prop_assert_eq!(dtype.bytes_for(k).map(|b| b * n), Some(w_len));
            proptest::prop_assert!(lda >= k && a_len >= (m - 1) * lda + k);
            proptest::prop_assert!(ldc >= n && c_len >= (m - 1) * ldc + n);
        }
        let mut out = vec![0.0f32; k];
        let deq = dequantize_f32(dtype, &w, &mut out);
        proptest::prop_assert_eq!(deq.is_ok(), dtype.bytes_for(k) == Some(w_len));
    }
}

/// `C = A · Wᵀ` (alpha 1, beta 0) over the given operands.
#[allow(clippy::too_many_arguments)]
fn plain<'a>(
    w_type: DType,
    w: &'a [u8],
    n: usize,
    k: usize,
    a: &'a [f32],
    lda: usize,
    m: usize,
    ldc: usize,
) -> QuantizedProduct<'a> {
    QuantizedProduct {
        w_type,
        w,
        n,
        k,
        a,
        lda,
        m,
        ldc,
        alpha: 1.0,
        beta: 0.0,
    }
}
