//! The blocked driver (MLX's steel GEMM on a CPU): each task owns one BM×BN
//! output tile of one batch matrix; it walks k in BK steps, packs the A and
//! B blocks into f32 panels, runs the MR×NR microkernel over them into an
//! f32 accumulator tile, and applies the epilogue once at the end.
//!
//! Const parameters are the key's flags: TA/TB pick the packing layout,
//! BATCHED the batch addressing, AM/AN/AK drop the partial-tile and
//! partial-step arithmetic, OUT/AXPBY the epilogue.

use super::args::{elements, KernelArgs};
use super::element::Element;
use super::epilogue::store_row;
use super::key::Tile;
use super::pack::{pack, Block, MAX_WIDTH};
use super::parallel::{for_each_task, with_scratch};

#[allow(clippy::too_many_arguments)]
pub(super) fn gemm<
    E: Element,
    const TA: bool,
    const TB: bool,
    const BATCHED: bool,
    const AM: bool,
    const AN: bool,
    const AK: bool,
    const OUT: bool,
    const AXPBY: bool,
>(
    args: &KernelArgs<'_>,
) {
    let p = args.problem;
    let (a, b) = (elements::<E>(args.a), elements::<E>(args.b));
    let micro = args.micro;
    let (mr, nr) = (micro.mr, micro.nr);
    let Tile { bm, bn, bk } = args.tile;
    let (tiles_m, tiles_n) = (p.m.div_ceil(bm), p.n.div_ceil(bn));
    let per_matrix = tiles_m * tiles_n;
    let batches = if BATCHED { p.batch_count() } else { 1 };
    let scratch_len = bm * bk + bk * bn + bm * bn + (MAX_WIDTH * bk).max(bn);
    for_each_task(batches * per_matrix, bm * bn * p.k, &|task| {
        let (batch, tile) = (task / per_matrix, task % per_matrix);
        let (i0, j0) = (tile / tiles_n * bm, tile % tiles_n * bn);
        let rows = if AM { bm } else { bm.min(p.m - i0) };
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
            let (a_pack, rest) = scratch.split_at_mut(bm * bk);
            let (b_pack, rest) = rest.split_at_mut(bk * bn);
            let (acc, convert) = rest.split_at_mut(bm * bn);
            if p.k == 0 {
                acc.fill(0.0);
            }
            let mut q0 = 0;
            while q0 < p.k {
                let kc = if AK { bk } else { bk.min(p.k - q0) };
                let a_block = Block {
                    offset: a_offset,
                    ld: p.a.ld,
                    i_contiguous: TA,
                    i0,
                    count: rows,
                    q0,
                    kc,
                };
                let b_block = Block {
                    offset: b_offset,
                    ld: p.b.ld,
                    i_contiguous: !TB,
                    i0: j0,
                    count: cols,
                    q0,
                    kc,
                };
                pack(a, &a_block, mr, a_pack, convert);
                pack(b, &b_block, nr, b_pack, convert);
                let b_panels = b_pack.chunks_exact(nr * kc).take(cols.div_ceil(nr));
                for (jp, b_panel) in b_panels.enumerate() {
                    let a_panels = a_pack.chunks_exact(mr * kc).take(rows.div_ceil(mr));
                    for (ip, a_panel) in a_panels.enumerate() {
                        let tile = &mut acc[ip * mr * bn + jp * nr..];
                        micro.gemm(kc, a_panel, b_panel, tile, bn, q0 > 0);
                    }
                }
                q0 += kc;
            }
            for (r, acc_row) in acc.chunks_exact_mut(bn).take(rows).enumerate() {
                let start = c_offset + (i0 + r) * p.c.ld + j0;
                // SAFETY: each task owns one tile of one matrix, and
                // validation made C's rows and matrices disjoint, so no
                // other task touches this row segment.
                let dst = unsafe { args.c.slice_mut::<E>(start, cols) };
                store_row::<E, OUT, AXPBY>(&mut acc_row[..cols], dst, p.alpha, p.beta, convert);
            }
        });
    });
}
