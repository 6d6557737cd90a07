//! Plain-Rust kernels for CPUs without AVX2: the same loops over small
//! fixed-size arrays, which the compiler vectorizes for the baseline target.

use super::{check_gemm, MicroKernels};

const MR: usize = 4;
const NR: usize = 8;
/// Independent partial sums in the dot product (keeps the adds pipelined).
const LANES: usize = 8;

pub(super) static KERNELS: MicroKernels = MicroKernels {
    mr: MR,
    nr: NR,
    gemm,
    dot1: dot::<1>,
    dot4: dot::<4>,
    axpy1: axpy::<1>,
    axpy4: axpy::<4>,
};

fn gemm(kc: usize, a: &[f32], b: &[f32], acc: &mut [f32], ld: usize, accumulate: bool) {
    check_gemm(kc, MR, NR, a, b, acc, ld);
    let mut c = [[0.0f32; NR]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
        for (row, &av) in c.iter_mut().zip(ap) {
            for (cv, &bv) in row.iter_mut().zip(bp) {
                *cv += av * bv;
            }
        }
    }
    for (i, row) in c.iter().enumerate() {
        let dst = &mut acc[i * ld..i * ld + NR];
        if accumulate {
            dst.iter_mut().zip(row).for_each(|(d, v)| *d += v);
        } else {
            dst.copy_from_slice(row);
        }
    }
}

fn dot<const R: usize>(x: &[f32], cols: [&[f32]; R]) -> [f32; R] {
    let len = x.len();
    assert!(cols.iter().all(|c| c.len() >= len), "column shorter than x");
    let mut out = [0.0f32; R];
    for (out, col) in out.iter_mut().zip(cols) {
        let mut partial = [0.0f32; LANES];
        let whole = len / LANES * LANES;
        for (xs, cs) in x[..whole].chunks_exact(LANES).zip(col.chunks_exact(LANES)) {
            for ((s, &xv), &cv) in partial.iter_mut().zip(xs).zip(cs) {
                *s += xv * cv;
            }
        }
        *out = partial.iter().sum::<f32>()
            + x[whole..]
                .iter()
                .zip(&col[whole..len])
                .map(|(a, b)| a * b)
                .sum::<f32>();
    }
    out
}

fn axpy<const R: usize>(coef: [f32; R], rows: [&[f32]; R], acc: &mut [f32]) {
    let len = acc.len();
    assert!(rows.iter().all(|r| r.len() >= len), "row shorter than acc");
    for (c, row) in coef.iter().zip(rows) {
        acc.iter_mut()
            .zip(&row[..len])
            .for_each(|(d, &v)| *d += c * v);
    }
}
