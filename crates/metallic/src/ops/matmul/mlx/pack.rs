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

/// Packs `block` into `ceil(count / width)` panels of `kc * width` values
/// at the front of `out`; `convert` holds at least `kc` values.
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
            for i in 0..filled {
                let start = offset + (first + i) * ld + q0;
                let run = &x[start..start + kc];
                let run = match E::as_f32(run) {
                    Some(run) => run,
                    None => {
                        E::to_f32_slice(run, &mut convert[..kc]);
                        &convert[..kc]
                    }
                };
                for (q, &value) in run.iter().enumerate() {
                    panel[q * width + i] = value;
                }
            }
            for q in 0..kc {
                panel[q * width + filled..(q + 1) * width].fill(0.0);
            }
        }
    }
}
