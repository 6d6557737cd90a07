//! The m = 1 driver: y = α·x·B + β·c for one row x. B is streamed once
//! without packing: a column-major B (transpose_b) is a set of contiguous
//! columns, so each output is a dot product; a row-major B is a set of
//! contiguous rows, each added to the output scaled by one x value. Tasks
//! own BN-wide output segments; k is walked in BK steps so f16/bf16 runs
//! convert through a small buffer.

use super::args::{elements, KernelArgs};
use super::element::Element;
use super::epilogue::store_row;
use super::key::Tile;
use super::microkernel::MicroKernels;
use super::parallel::{for_each_task, with_scratch};

pub(super) fn gemv<
    E: Element,
    const TA: bool,
    const TB: bool,
    const BATCHED: bool,
    const AN: bool,
    const AK: bool,
    const OUT: bool,
    const AXPBY: bool,
>(
    args: &KernelArgs<'_>,
) {
    let p = args.problem;
    let (a, b) = (elements::<E>(args.a), elements::<E>(args.b));
    let Tile { bn, bk, .. } = args.tile;
    let tiles_n = p.n.div_ceil(bn);
    let batches = if BATCHED { p.batch_count() } else { 1 };
    let scratch_len = bk + bn + 4 * bk.max(bn);
    for_each_task(batches * tiles_n, bn * p.k, &|task| {
        let (batch, j0) = (task / tiles_n, task % tiles_n * bn);
        let cols = if AN { bn } else { bn.min(p.n - j0) };
        let offset = |operand| {
            if BATCHED {
                p.batch_offset(operand, batch)
            } else {
                operand.offset
            }
        };
        let (a_offset, b_offset, c_offset) = (offset(&p.a), offset(&p.b), offset(&p.c));
        with_scratch(scratch_len, |scratch| {
            let (x, rest) = scratch.split_at_mut(bk);
            let (acc, convert) = rest.split_at_mut(bn);
            let acc = &mut acc[..cols];
            acc.fill(0.0);
            let mut q0 = 0;
            while q0 < p.k {
                let kc = if AK { bk } else { bk.min(p.k - q0) };
                let x = &mut x[..kc];
                if TA {
                    for (q, value) in x.iter_mut().enumerate() {
                        *value = a[a_offset + (q0 + q) * p.a.ld].to_f32();
                    }
                } else {
                    E::to_f32_slice(&a[a_offset + q0..a_offset + q0 + kc], x);
                }
                if TB {
                    let first = b_offset + j0 * p.b.ld + q0;
                    dot_columns(args.micro, x, b, first, p.b.ld, acc, convert);
                } else {
                    let first = b_offset + q0 * p.b.ld + j0;
                    add_rows(args.micro, x, b, first, p.b.ld, acc, convert);
                }
                q0 += kc;
            }
            // SAFETY: each task owns one segment of one output row, and
            // validation made C's matrices disjoint.
            let dst = unsafe { args.c.slice_mut::<E>(c_offset + j0, cols) };
            store_row::<E, OUT, AXPBY>(acc, dst, p.alpha, p.beta, convert);
        });
    });
}

/// `b[start..start + len]` as f32: the run itself for f32, else widened
/// into `buffer`.
fn widen<'a, E: Element>(b: &'a [E], start: usize, len: usize, buffer: &'a mut [f32]) -> &'a [f32] {
    let run = &b[start..start + len];
    match E::as_f32(run) {
        Some(run) => run,
        None => {
            let buffer = &mut buffer[..len];
            E::to_f32_slice(run, buffer);
            buffer
        }
    }
}

/// Four disjoint buffers of `len` values from the front of `convert`.
fn four_buffers(convert: &mut [f32], len: usize) -> [&mut [f32]; 4] {
    let (first, rest) = convert.split_at_mut(len);
    let (second, rest) = rest.split_at_mut(len);
    let (third, rest) = rest.split_at_mut(len);
    [first, second, third, &mut rest[..len]]
}

/// `acc[j] += x · column j`, column j being `b[first + j * ld..][..x.len()]`.
fn dot_columns<E: Element>(
    micro: &MicroKernels,
    x: &[f32],
    b: &[E],
    first: usize,
    ld: usize,
    acc: &mut [f32],
    convert: &mut [f32],
) {
    let kc = x.len();
    let done = acc.len() / 4 * 4;
    let mut groups = acc.chunks_exact_mut(4);
    for (group, sums) in groups.by_ref().enumerate() {
        let start = first + group * 4 * ld;
        let [b0, b1, b2, b3] = four_buffers(convert, kc);
        let columns = [
            widen(b, start, kc, b0),
            widen(b, start + ld, kc, b1),
            widen(b, start + 2 * ld, kc, b2),
            widen(b, start + 3 * ld, kc, b3),
        ];
        for (sum, dot) in sums.iter_mut().zip(micro.dot(x, columns)) {
            *sum += dot;
        }
    }
    for (j, sum) in groups.into_remainder().iter_mut().enumerate() {
        let column = widen(b, first + (done + j) * ld, kc, convert);
        *sum += micro.dot(x, [column])[0];
    }
}

/// `acc += Σ_q x[q] · row q`, row q being `b[first + q * ld..][..acc.len()]`.
fn add_rows<E: Element>(
    micro: &MicroKernels,
    x: &[f32],
    b: &[E],
    first: usize,
    ld: usize,
    acc: &mut [f32],
    convert: &mut [f32],
) {
    let cols = acc.len();
    let mut groups = x.chunks_exact(4);
    for (group, coef) in groups.by_ref().enumerate() {
        let start = first + group * 4 * ld;
        let [b0, b1, b2, b3] = four_buffers(convert, cols);
        let rows = [
            widen(b, start, cols, b0),
            widen(b, start + ld, cols, b1),
            widen(b, start + 2 * ld, cols, b2),
            widen(b, start + 3 * ld, cols, b3),
        ];
        micro.axpy([coef[0], coef[1], coef[2], coef[3]], rows, acc);
    }
    let done = x.len() / 4 * 4;
    for (q, &coef) in groups.remainder().iter().enumerate() {
        let row = widen(b, first + (done + q) * ld, cols, convert);
        micro.axpy([coef], [row], acc);
    }
}
