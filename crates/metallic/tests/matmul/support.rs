//! Shared pieces: a Context per backend, random operands (contiguous,
//! padded, transposed) and the comparison with the float64 reference.

use metallic::ops::matmul::BackendChoice;
use metallic::tensor::MatmulArg;
use metallic::testing::{check_close, random_vec, Tolerance, POISON};
use metallic::{Context, DType, Device, ResourceCache, Tensor};
use rand::Rng;

pub const CPU: Device = Device::Cpu;

/// One Context per backend, forced through the builder (never the
/// environment), with profiling off.
pub fn contexts() -> Vec<(&'static str, Context)> {
    [
        ("mlx", BackendChoice::Mlx),
        ("vendor", BackendChoice::Vendor),
    ]
    .into_iter()
    .map(|(name, choice)| {
        let ctx = Context::builder(CPU)
            .backend(choice)
            .threads(Some(2))
            .profile(Some(false))
            .build()
            .expect("context");
        (name, ctx)
    })
    .collect()
}

/// The tolerance for a float dtype's outputs of a K-long sum. Rounding in
/// the accumulation grows like a random walk, so the absolute part scales
/// with sqrt(K / 64) past 64 terms (the base tolerances' scale); near-zero
/// outputs of long sums need it, and any indexing error is orders larger.
pub fn tolerance(dtype: DType, k: usize) -> Tolerance {
    let base = match dtype {
        DType::F16 => Tolerance::F16,
        DType::BF16 => Tolerance::BF16,
        _ => Tolerance::F32,
    };
    let growth = (k.max(64) as f64 / 64.0).sqrt();
    Tolerance::new(base.atol * growth, base.rtol)
}

/// K of a product whose `a` is stored as given.
pub fn k_of(a: &Tensor, ta: bool) -> usize {
    let r = a.rank();
    a.shape()[if ta { r - 2 } else { r - 1 }]
}

/// A contiguous tensor of random values in [-1, 1), rounded to `dtype`.
pub fn random(rng: &mut impl Rng, dtype: DType, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    let values = random_vec(rng, n);
    let t = Tensor::empty(&CPU, dtype, shape).unwrap();
    t.write_f32(&values).unwrap();
    t
}

/// A random view of `shape` whose rows and matrices are padded: the
/// backing tensor has `pad` extra columns, one extra row, and one extra
/// leading batch entry, all filled with other random values.
pub fn padded(rng: &mut impl Rng, dtype: DType, shape: &[usize], pad: usize) -> Tensor {
    let rank = shape.len();
    let mut big = shape.to_vec();
    big[rank - 1] += pad;
    big[rank - 2] += 1;
    if rank > 2 {
        big[0] += 1;
    }
    let mut view = random(rng, dtype, &big);
    for (d, &size) in shape.iter().enumerate() {
        let start = big[d] - size;
        view = view.slice(d, start..big[d]).unwrap();
    }
    view
}

/// A random tensor of logical `shape` stored with its last two dimensions
/// swapped (a column-major view, `transpose` not needed by the caller).
pub fn col_major(rng: &mut impl Rng, dtype: DType, shape: &[usize]) -> Tensor {
    let rank = shape.len();
    let mut stored = shape.to_vec();
    stored.swap(rank - 1, rank - 2);
    random(rng, dtype, &stored)
        .transpose(rank - 1, rank - 2)
        .unwrap()
}

/// The stored shape of a logical `[.., rows, cols]` operand used with the
/// transpose flag `transposed`.
pub fn stored(shape: &[usize], transposed: bool) -> Vec<usize> {
    let mut s = shape.to_vec();
    if transposed {
        let r = s.len();
        s.swap(r - 1, r - 2);
    }
    s
}

/// `t`, read transposed when `transposed` is set.
pub fn arg(t: &Tensor, transposed: bool) -> MatmulArg<'_> {
    match transposed {
        true => t.t(),
        false => t.into(),
    }
}

/// `ctx.matmul(op(a), op(b))` on every backend against the reference.
pub fn check_matmul(a: &Tensor, b: &Tensor, ta: bool, tb: bool, seed: u64) {
    let tol = tolerance(a.dtype(), k_of(a, ta));
    let (shape, expected) = crate::reference::matmul(a, b, None, ta, tb, 1.0, 0.0);
    for (name, ctx) in contexts() {
        let out = ctx
            .matmul(arg(a, ta), arg(b, tb))
            .unwrap_or_else(|e| panic!("{name}: {e} (seed {seed})"));
        assert_eq!(out.shape(), &shape[..], "{name}");
        assert!(out.is_contiguous(), "{name}: a new output is row-major");
        assert_eq!(out.dtype(), a.dtype(), "{name}");
        check(name, &out, &expected, tol, seed);
    }
}

/// `ctx.matmul_alpha_beta` into the view `c` on every backend, from the same
/// initial `c` each time (poison when beta is 0, so an unwritten element or
/// a read of c shows); elements of c's buffer outside the view must stay.
#[allow(clippy::too_many_arguments)]
pub fn check_alpha_beta(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    ta: bool,
    tb: bool,
    alpha: f32,
    beta: f32,
    seed: u64,
) {
    let tol = tolerance(a.dtype(), k_of(a, ta));
    let initial = initial_c(c, beta, seed);
    let (_, expected) =
        crate::reference::matmul(a, b, Some(&initial), ta, tb, alpha as f64, beta as f64);
    for (name, ctx) in contexts() {
        c.write_f32(&initial).unwrap();
        let before = c.buffer().read().unwrap().to_vec();
        let out = ctx
            .matmul_alpha_beta(a, b, Some(c), ta, tb, alpha, beta)
            .unwrap_or_else(|e| panic!("{name}: {e} (seed {seed})"));
        assert!(out.shares_buffer(c), "{name}: the result is written into c");
        assert_eq!(
            (out.shape(), out.strides(), out.offset()),
            (c.shape(), c.strides(), c.offset())
        );
        check(name, c, &expected, tol, seed);
        outside_view_unchanged(name, c, &before);
        // The builder says the same product.
        c.write_f32(&initial).unwrap();
        let out = ctx
            .gemm(arg(a, ta), arg(b, tb))
            .out(c)
            .alpha(alpha)
            .beta(beta)
            .run()
            .unwrap_or_else(|e| panic!("{name} gemm: {e} (seed {seed})"));
        assert!(out.shares_buffer(c), "{name}: gemm writes into c");
        check(name, c, &expected, tol, seed);
        outside_view_unchanged(name, c, &before);
    }
}

/// The cache-aware path: with `c` (beta ≠ 0) it behaves as
/// `matmul_alpha_beta`; without, the output comes from the cache, whose
/// reused buffer was poisoned first.
#[allow(clippy::too_many_arguments)]
pub fn check_alpha_beta_cached(
    a: &Tensor,
    b: &Tensor,
    c: Option<&Tensor>,
    ta: bool,
    tb: bool,
    alpha: f32,
    beta: f32,
    seed: u64,
) {
    let tol = tolerance(a.dtype(), k_of(a, ta));
    let initial = c.map(|c| initial_c(c, beta, seed));
    let (shape, expected) =
        crate::reference::matmul(a, b, initial.as_deref(), ta, tb, alpha as f64, beta as f64);
    for (name, ctx) in contexts() {
        let mut cache = ResourceCache::new();
        {
            let stale = cache.tensor(&CPU, a.dtype(), &shape).unwrap();
            stale.write_f32(&vec![POISON; stale.numel()]).unwrap();
        }
        if let (Some(c), Some(initial)) = (c, &initial) {
            c.write_f32(initial).unwrap();
        }
        for round in 0..2 {
            let out = ctx
                .matmul_alpha_beta_with_cache(a, b, c, ta, tb, alpha, beta, &mut cache)
                .unwrap_or_else(|e| panic!("{name}: {e} (seed {seed})"));
            assert_eq!(out.shape(), &shape[..]);
            check(name, &out, &expected, tol, seed);
            if let (Some(c), Some(initial)) = (c, &initial) {
                c.write_f32(initial).unwrap();
            }
            drop(out);
            assert_eq!(
                cache.buffer_count(),
                1,
                "{name}: round {round} reuses the one buffer"
            );
        }
    }
}

/// Values c starts from, as stored in its dtype: random, or poison when
/// beta is 0.
fn initial_c(c: &Tensor, beta: f32, seed: u64) -> Vec<f32> {
    let values = if beta == 0.0 {
        vec![POISON; c.numel()]
    } else {
        random_vec(&mut metallic::testing::rng(seed ^ 0xc), c.numel())
    };
    c.write_f32(&values).unwrap();
    c.to_f32_vec().unwrap()
}

pub fn check(name: &str, out: &Tensor, expected: &[f64], tol: Tolerance, seed: u64) {
    let actual = out.to_f32_vec().unwrap();
    if let Err(msg) = check_close(&actual, expected, tol) {
        panic!(
            "{name} {:?} {:?}: {msg} (seed {seed})",
            out.dtype(),
            out.shape()
        );
    }
}

/// Bytes of `c`'s buffer outside the view are as they were.
fn outside_view_unchanged(name: &str, c: &Tensor, before: &[u8]) {
    let width = c.dtype().block_bytes();
    let after = c.buffer().read().unwrap().to_vec();
    let mut inside = vec![false; before.len() / width];
    for i in c.element_indices() {
        inside[i] = true;
    }
    for (i, is_inside) in inside.iter().enumerate() {
        if !is_inside {
            let range = i * width..(i + 1) * width;
            assert_eq!(
                &after[range.clone()],
                &before[range],
                "{name}: element {i} outside c changed"
            );
        }
    }
}
