//! Packing: copies a block of A or B into f32 panels laid out the way the
//! microkernel reads them (for each step along k, `width` consecutive
//! values), converting f16/bf16 on the way and zero-padding the last panel.

use super::element::Element;

/// A block of an operand seen as X[i, q]: `i` runs across panels (m for A,
/// n for B), `q` along k.
pub(super) struct Block {
    pub offset: usize,
    pub ld: usize,
    /// X[i, q] is at `offset + q * ld + i` (else `offset + i * ld + q`).
    pub i_contiguous: bool,
    pub i0: usize,
    pub count: usize,
    pub q0: usize,
    pub kc: usize,
}

/// Widest panel (the largest microkernel NR).
pub(super) const MAX_WIDTH: usize = 32;

/// Packs `block` into `ceil(count / width)` panels of `kc * width` values
/// at the front of `out`; `convert` holds at least `width * kc` values.
pub(super) fn pack<E: Element>(
    x: &[E],
    block: &Block,
    width: usize,
    out: &mut [f32],
    convert: &mut [f32],
) {
    let Block {
        offset,
        ld,
        i0,
        count,
        q0,
        kc,
        ..
    } = *block;
    let panels = out.chunks_exact_mut(width * kc).take(count.div_ceil(width));
    for (index, panel) in panels.enumerate() {
        let first = i0 + index * width;
        let filled = width.min(count - index * width);
        if block.i_contiguous {
            for (q, step) in panel.chunks_exact_mut(width).enumerate() {
                let start = offset + (q0 + q) * ld + first;
                E::to_f32_slice(&x[start..start + filled], &mut step[..filled]);
                step[filled..].fill(0.0);
            }
        } else {
            // Transpose `filled` runs along k into the panel, writing each
            // step's `width` values together.
            let mut buffers = convert.chunks_exact_mut(kc);
            let mut runs = [&[] as &[f32]; MAX_WIDTH];
            for (i, run) in runs.iter_mut().enumerate().take(filled) {
                let start = offset + (first + i) * ld + q0;
                let source = &x[start..start + kc];
                *run = match E::as_f32(source) {
                    Some(source) => source,
                    None => {
                        let buffer = buffers.next().expect("convert holds a run per panel row");
                        E::to_f32_slice(source, buffer);
                        buffer
                    }
                };
            }
            for (q, step) in panel.chunks_exact_mut(width).enumerate() {
                for (value, run) in step.iter_mut().zip(&runs[..filled]) {
                    *value = run[q];
                }
                step[filled..].fill(0.0);
            }
        }
    }
}
