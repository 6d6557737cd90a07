//! Register-tile kernels on packed f32 panels and the two GEMV loops (dot
//! products and row updates), one set per instruction set. The set is
//! chosen at run time by `quant::Isa`: AVX-512, AVX2+FMA, or portable Rust.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

use crate::quant::{Isa, IsaKind};

/// The kernels of `isa` (holding an `Isa` means this CPU runs it).
pub(crate) fn kernels_for(isa: Isa) -> &'static MicroKernels {
    match isa.kind() {
        IsaKind::Portable => &portable::KERNELS,
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx2 => &avx2::KERNELS,
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx512 => &avx512::KERNELS,
        #[cfg(not(target_arch = "x86_64"))]
        IsaKind::Avx2 | IsaKind::Avx512 => &portable::KERNELS,
    }
}

type GemmFn = unsafe fn(usize, &[f32], &[f32], &mut [f32], usize, bool);
type DotFn<const R: usize> = unsafe fn(&[f32], [&[f32]; R]) -> [f32; R];
type AxpyFn<const R: usize> = unsafe fn([f32; R], [&[f32]; R], &mut [f32]);

/// One instruction set's kernels. Each function is `unsafe` only because it
/// needs its CPU features; a `MicroKernels` is handed out by `kernels_for`
/// alone, for an `Isa` (which exists only after detection), so the safe
/// methods below may call them. The kernels check their slice lengths
/// themselves.
pub(crate) struct MicroKernels {
    /// Rows of the register tile (height of an A panel).
    pub mr: usize,
    /// Columns of the register tile (width of a B panel).
    pub nr: usize,
    gemm: GemmFn,
    dot1: DotFn<1>,
    dot4: DotFn<4>,
    axpy1: AxpyFn<1>,
    axpy4: AxpyFn<4>,
}

impl MicroKernels {
    /// `acc[i * ld + j] (+)= Σ_p a[p * mr + i] · b[p * nr + j]` over the
    /// mr×nr tile for `p < kc`: `a` and `b` are packed panels; the tile is
    /// overwritten unless `accumulate`.
    pub fn gemm(
        &self,
        kc: usize,
        a: &[f32],
        b: &[f32],
        acc: &mut [f32],
        ld: usize,
        accumulate: bool,
    ) {
        // SAFETY: `self` came from `kernels_for` an `Isa`, whose
        // constructors checked the CPU.
        unsafe { (self.gemm)(kc, a, b, acc, ld, accumulate) }
    }

    /// Dot products of `x` with each of `cols` (each at least as long).
    pub fn dot<const R: usize>(&self, x: &[f32], cols: [&[f32]; R]) -> [f32; R]
    where
        Self: DotKernels<R>,
    {
        // SAFETY: as in `gemm`.
        unsafe { (self.dot_fn())(x, cols) }
    }

    /// `acc[j] += Σ_r coef[r] · rows[r][j]` for `j < acc.len()`.
    pub fn axpy<const R: usize>(&self, coef: [f32; R], rows: [&[f32]; R], acc: &mut [f32])
    where
        Self: DotKernels<R>,
    {
        // SAFETY: as in `gemm`.
        unsafe { (self.axpy_fn())(coef, rows, acc) }
    }
}

/// The row counts the GEMV kernels are built for (4 at a time, 1 for tails).
pub(crate) trait DotKernels<const R: usize> {
    fn dot_fn(&self) -> DotFn<R>;
    fn axpy_fn(&self) -> AxpyFn<R>;
}

impl DotKernels<1> for MicroKernels {
    fn dot_fn(&self) -> DotFn<1> {
        self.dot1
    }
    fn axpy_fn(&self) -> AxpyFn<1> {
        self.axpy1
    }
}

impl DotKernels<4> for MicroKernels {
    fn dot_fn(&self) -> DotFn<4> {
        self.dot4
    }
    fn axpy_fn(&self) -> AxpyFn<4> {
        self.axpy4
    }
}

/// Checks the slice lengths a GEMM tile kernel relies on.
fn check_gemm(kc: usize, mr: usize, nr: usize, a: &[f32], b: &[f32], acc: &[f32], ld: usize) {
    assert!(
        a.len() >= kc * mr && b.len() >= kc * nr,
        "packed panels too short"
    );
    assert!(
        ld >= nr && acc.len() >= (mr - 1) * ld + nr,
        "tile out of range"
    );
}

/// The kernels of one SIMD instruction set, written once over its
/// intrinsics: `$v` vector type of `$w` lanes; MR×(NV·W) register tile.
macro_rules! simd_kernels {
    (
        feature: $feat:literal, lanes: $w:literal, mr: $mr:literal, nv: $nv:literal,
        zero: $zero:path, splat: $splat:path, load: $load:path, store: $store:path,
        fma: $fma:path, add: $add:path, sum: $sum:path
    ) => {
        use super::{check_gemm, MicroKernels};

        const MR: usize = $mr;
        const NR: usize = $nv * $w;

        pub(super) static KERNELS: MicroKernels = MicroKernels {
            mr: MR,
            nr: NR,
            gemm,
            dot1: dot::<1>,
            dot4: dot::<4>,
            axpy1: axpy::<1>,
            axpy4: axpy::<4>,
        };

        /// # Safety
        /// The CPU must have the target features (lengths are checked).
        #[target_feature(enable = $feat)]
        unsafe fn gemm(
            kc: usize,
            a: &[f32],
            b: &[f32],
            acc: &mut [f32],
            ld: usize,
            accumulate: bool,
        ) {
            check_gemm(kc, MR, NR, a, b, acc, ld);
            let (a, b, acc) = (a.as_ptr(), b.as_ptr(), acc.as_mut_ptr());
            let mut c = [[$zero(); $nv]; $mr];
            for p in 0..kc {
                let (ap, bp) = (a.add(p * MR), b.add(p * NR));
                let mut bv = [$zero(); $nv];
                for (v, bv) in bv.iter_mut().enumerate() {
                    *bv = $load(bp.add(v * $w));
                }
                for (i, row) in c.iter_mut().enumerate() {
                    let av = $splat(*ap.add(i));
                    for (cv, bv) in row.iter_mut().zip(bv) {
                        *cv = $fma(av, bv, *cv);
                    }
                }
            }
            for (i, row) in c.iter().enumerate() {
                for (v, cv) in row.iter().enumerate() {
                    let dst = acc.add(i * ld + v * $w);
                    let value = if accumulate {
                        $add(*cv, $load(dst))
                    } else {
                        *cv
                    };
                    $store(dst, value);
                }
            }
        }

        /// # Safety
        /// The CPU must have the target features (lengths are checked).
        #[target_feature(enable = $feat)]
        unsafe fn dot<const R: usize>(x: &[f32], cols: [&[f32]; R]) -> [f32; R] {
            let len = x.len();
            assert!(cols.iter().all(|c| c.len() >= len), "column shorter than x");
            let ptrs = cols.map(|c| c.as_ptr());
            let xp = x.as_ptr();
            let mut s0 = [$zero(); R];
            let mut s1 = [$zero(); R];
            let mut p = 0;
            while p + 2 * $w <= len {
                let (x0, x1) = ($load(xp.add(p)), $load(xp.add(p + $w)));
                for r in 0..R {
                    s0[r] = $fma(x0, $load(ptrs[r].add(p)), s0[r]);
                    s1[r] = $fma(x1, $load(ptrs[r].add(p + $w)), s1[r]);
                }
                p += 2 * $w;
            }
            if p + $w <= len {
                let x0 = $load(xp.add(p));
                for r in 0..R {
                    s0[r] = $fma(x0, $load(ptrs[r].add(p)), s0[r]);
                }
                p += $w;
            }
            let mut out = [0.0f32; R];
            for r in 0..R {
                out[r] = $sum($add(s0[r], s1[r]));
                for q in p..len {
                    out[r] += x[q] * cols[r][q];
                }
            }
            out
        }

        /// # Safety
        /// The CPU must have the target features (lengths are checked).
        #[target_feature(enable = $feat)]
        unsafe fn axpy<const R: usize>(coef: [f32; R], rows: [&[f32]; R], acc: &mut [f32]) {
            let len = acc.len();
            assert!(rows.iter().all(|r| r.len() >= len), "row shorter than acc");
            let ptrs = rows.map(|r| r.as_ptr());
            let mut cv = [$zero(); R];
            for (cv, &c) in cv.iter_mut().zip(&coef) {
                *cv = $splat(c);
            }
            let ap = acc.as_mut_ptr();
            let mut j = 0;
            while j + $w <= len {
                let mut s = $load(ap.add(j));
                for r in 0..R {
                    s = $fma(cv[r], $load(ptrs[r].add(j)), s);
                }
                $store(ap.add(j), s);
                j += $w;
            }
            for (j, out) in acc.iter_mut().enumerate().skip(j) {
                for r in 0..R {
                    *out += coef[r] * rows[r][j];
                }
            }
        }
    };
}
use simd_kernels;
