//! `matmul_quantized`: C = alpha · A · Wᵀ + beta · C, with W's rows in a
//! block format. Each activation row is quantized once to 8 bits (the form
//! its weight format pairs with), each pair of weight rows is unpacked once
//! into an L1-sized panel, and every tile of activation rows runs the
//! integer kernels against it; a single activation row (decode) instead
//! streams the weight blocks through a one-row kernel where the instruction
//! set has one. Rayon splits the weight rows (n) into chunks.

use super::activation::QuantizedRows;
use super::convert::dequantize_checked;
use super::dot::{self, ActivationRow, ActivationTile, Compiled, Isa, WeightTile, TILE_A, TILE_W};
use super::panel::{Family, Panel};
use crate::dtype::DType;
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::marker::PhantomData;

/// One product C = alpha · A · Wᵀ + beta · C: C[i*ldc + j] = alpha *
/// sum_k A[i*lda + k] * W_j[k] + beta * C[i*ldc + j] for i < m, j < n, where
/// W is n rows of k values in block type `w_type` (row j at j * row_bytes,
/// row_bytes = w_type.bytes_for(k)). beta == 0 does not read C.
#[derive(Clone, Copy, Debug)]
pub struct QuantizedProduct<'a> {
    pub w_type: DType,
    pub w: &'a [u8],
    pub n: usize,
    pub k: usize,
    pub a: &'a [f32],
    pub lda: usize,
    pub m: usize,
    pub ldc: usize,
    pub alpha: f32,
    pub beta: f32,
}

/// Computes `p` into `c`. Runs on rayon's current pool, with the CPU's best
/// instruction set.
pub fn matmul_quantized(p: &QuantizedProduct<'_>, c: &mut [f32]) -> Result<()> {
    matmul_quantized_with(Isa::best(), p, c)
}

/// `matmul_quantized` with a chosen instruction set (tests and benchmarks
/// compare them).
pub fn matmul_quantized_with(isa: Isa, p: &QuantizedProduct<'_>, c: &mut [f32]) -> Result<()> {
    let QuantizedProduct {
        w_type,
        w,
        n,
        k,
        a,
        lda,
        m,
        ldc,
        alpha,
        beta,
    } = *p;
    let row_bytes = check_operands(p, c)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let out = Output::new(c, ldc, alpha, beta);
    if k == 0 {
        for (i, j) in (0..m).flat_map(|i| (0..n).map(move |j| (i, j))) {
            // SAFETY: (i, j) is inside C, and nothing else runs.
            unsafe { out.store(i, j, 0.0) };
        }
        return Ok(());
    }
    let chunk = chunk_rows(n);
    let chunks = (0..n.div_ceil(chunk)).into_par_iter();
    let columns = |ci: usize| ci * chunk..n.min((ci + 1) * chunk);
    match Family::of(w_type) {
        Some(family) if m == 1 && dot::has_row_kernel(isa, w_type) => {
            let act = QuantizedRows::new(a, lda, m, k, family.scale_block(), family.sum_group());
            let row = ActivationRow {
                q: &act.q,
                d: &act.d,
                sums: &act.sums,
            };
            chunks.for_each(|ci| {
                let columns = columns(ci);
                let mut sums = [0.0f32; MAX_CHUNK];
                let sums = &mut sums[..columns.len()];
                let rows = &w[columns.start * row_bytes..columns.end * row_bytes];
                dot::dot_rows(isa, w_type, rows, row, sums);
                for (j, &sum) in columns.zip(sums.iter()) {
                    // SAFETY: (0, j) is inside C, and only this task writes
                    // the columns of its chunk.
                    unsafe { out.store(0, j, sum) };
                }
            });
        }
        Some(family) => {
            let act = QuantizedRows::new(a, lda, m, k, family.scale_block(), family.sum_group());
            chunks.for_each_init(
                || Panel::new(w_type, family, k, TILE_W),
                |panel, ci| {
                    quantized_chunk(
                        isa,
                        w_type,
                        family,
                        panel,
                        &act,
                        w,
                        row_bytes,
                        columns(ci),
                        &out,
                    )
                },
            );
        }
        None => {
            chunks.for_each_init(
                || vec![0.0f32; k],
                |row, ci| {
                    isa.run_compiled_for(FloatChunk {
                        w_type,
                        row,
                        a,
                        lda,
                        m,
                        w,
                        row_bytes,
                        columns: columns(ci),
                        out: &out,
                    })
                },
            );
        }
    }
    Ok(())
}

/// Validates every size and returns the bytes of one weight row.
fn check_operands(p: &QuantizedProduct<'_>, c: &[f32]) -> Result<usize> {
    let QuantizedProduct {
        w_type,
        w,
        n,
        k,
        a,
        lda,
        m,
        ldc,
        ..
    } = *p;
    let row_bytes = w_type.bytes_for(k).ok_or_else(|| {
        Error::Shape(format!(
            "k = {k} is not a multiple of {w_type}'s block of {}",
            w_type.block_size()
        ))
    })?;
    if n.checked_mul(row_bytes) != Some(w.len()) {
        return Err(Error::Shape(format!(
            "W holds {} bytes, but {n} rows of {k} {w_type} values take {row_bytes} bytes each",
            w.len()
        )));
    }
    if m == 0 {
        return Ok(row_bytes);
    }
    let span = |ld: usize, cols: usize| (m - 1).checked_mul(ld).and_then(|x| x.checked_add(cols));
    if lda < k || span(lda, k).is_none_or(|need| a.len() < need) {
        return Err(Error::Shape(format!(
            "A: {m} rows of {k} with stride {lda} do not fit its {} values",
            a.len()
        )));
    }
    if ldc < n || span(ldc, n).is_none_or(|need| c.len() < need) {
        return Err(Error::Shape(format!(
            "C: {m} rows of {n} with stride {ldc} do not fit its {} values",
            c.len()
        )));
    }
    Ok(row_bytes)
}

/// The most weight rows one parallel task takes.
const MAX_CHUNK: usize = 512;

/// Weight rows per parallel task: about four tasks per thread balance the
/// load, and a task is whole tiles.
fn chunk_rows(n: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    n.div_ceil(4 * threads)
        .clamp(TILE_W, MAX_CHUNK)
        .next_multiple_of(TILE_W)
}

#[allow(clippy::too_many_arguments)]
fn quantized_chunk(
    isa: Isa,
    w_type: DType,
    family: Family,
    panel: &mut Panel,
    act: &QuantizedRows,
    w: &[u8],
    row_bytes: usize,
    columns: std::ops::Range<usize>,
    out: &Output<'_>,
) {
    let (k, m) = (act.k, act.q.len() / act.k);
    let (nd, groups) = (k / family.scale_block(), k / family.sum_group());
    for j0 in columns.clone().step_by(TILE_W) {
        let rw = TILE_W.min(columns.end - j0);
        panel.fill(isa, &w[j0 * row_bytes..(j0 + rw) * row_bytes]);
        let wt = WeightTile {
            rows: rw,
            k,
            u: &panel.u,
            d: &panel.d,
            scales: &panel.scales,
            min: &panel.min,
            groups,
        };
        for i0 in (0..m).step_by(TILE_A) {
            let at = ActivationTile {
                rows: TILE_A.min(m - i0),
                q: &act.q[i0 * k..],
                d: &act.d[i0 * nd..],
                sums: &act.sums[i0 * groups..],
            };
            let tile = match family {
                Family::Legacy => dot::legacy_tile(isa, w_type == DType::Q8_0, &wt, &at),
                Family::K => dot::kquant_tile(isa, &wt, &at),
            };
            for (r, tile) in tile.iter().enumerate().take(at.rows) {
                for (jj, &sum) in tile.iter().enumerate().take(rw) {
                    // SAFETY: (i0 + r, j0 + jj) is inside C, and only this
                    // task writes the columns of its chunk.
                    unsafe { out.store(i0 + r, j0 + jj, sum) };
                }
            }
        }
    }
}

/// Plain-float weights, and Q8_K (an activation format with no integer
/// kernel of its own): each row is converted to f32 once, then dotted with
/// every (unquantized) activation row.
struct FloatChunk<'a, 'c> {
    w_type: DType,
    /// k values of scratch.
    row: &'a mut [f32],
    a: &'a [f32],
    lda: usize,
    m: usize,
    w: &'a [u8],
    row_bytes: usize,
    columns: std::ops::Range<usize>,
    out: &'a Output<'c>,
}

impl Compiled for FloatChunk<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let k = self.row.len();
        for j in self.columns {
            // `check_operands` made W n rows of `row_bytes`, each k values.
            dequantize_checked(
                self.w_type,
                &self.w[j * self.row_bytes..(j + 1) * self.row_bytes],
                self.row,
            );
            for i in 0..self.m {
                let sum = dot_f32(&self.a[i * self.lda..i * self.lda + k], self.row);
                // SAFETY: (i, j) is inside C, and only this task writes column j.
                unsafe { self.out.store(i, j, sum) };
            }
        }
    }
}

/// A float dot product in eight interleaved sums, which the compiler turns
/// into one vector accumulator.
#[inline(always)]
fn dot_f32(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: f32 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (xs, ys) in xc.zip(yc) {
        for ((acc, &a), &b) in acc.iter_mut().zip(xs).zip(ys) {
            *acc += a * b;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// C, shared by the parallel tasks, each of which writes only the columns
/// of its own chunk.
struct Output<'a> {
    ptr: *mut f32,
    ldc: usize,
    alpha: f32,
    beta: f32,
    _c: PhantomData<&'a mut [f32]>,
}

// SAFETY: tasks write disjoint elements (see `store`), and C stays borrowed
// mutably for the lifetime of `Output`.
unsafe impl Sync for Output<'_> {}

impl<'a> Output<'a> {
    fn new(c: &'a mut [f32], ldc: usize, alpha: f32, beta: f32) -> Self {
        Output {
            ptr: c.as_mut_ptr(),
            ldc,
            alpha,
            beta,
            _c: PhantomData,
        }
    }

    /// Writes `alpha · sum + beta · C[i, j]` (not reading C when beta is 0).
    ///
    /// # Safety
    /// `(i, j)` lies within the m × n output checked by `check_operands`,
    /// and no other thread accesses that element meanwhile.
    #[inline(always)]
    unsafe fn store(&self, i: usize, j: usize, sum: f32) {
        // SAFETY: in bounds by the caller's promise.
        let p = unsafe { self.ptr.add(i * self.ldc + j) };
        // SAFETY: in bounds and not shared, by the caller's promise.
        unsafe {
            *p = if self.beta == 0.0 {
                self.alpha * sum
            } else {
                self.alpha * sum + self.beta * *p
            };
        }
    }
}
