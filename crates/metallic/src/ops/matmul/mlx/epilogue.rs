//! The fused epilogue: D = αAB + βC for one output row segment, specialized
//! by `use_out_source` (β ≠ 0: read C) and `do_axpby` (scale), so that
//! β = 0 never reads C (which may hold NaN).

use super::element::Element;

/// `acc` holds AB for the segment `dst`; `convert` holds at least as many values.
pub(super) fn store_row<E: Element, const OUT: bool, const AXPBY: bool>(
    acc: &mut [f32],
    dst: &mut [E],
    alpha: f32,
    beta: f32,
    convert: &mut [f32],
) {
    if OUT {
        let old = &mut convert[..acc.len()];
        E::to_f32_slice(dst, old);
        if AXPBY {
            acc.iter_mut()
                .zip(old.iter())
                .for_each(|(d, c)| *d = alpha * *d + beta * c);
        } else {
            acc.iter_mut().zip(old.iter()).for_each(|(d, c)| *d += c);
        }
    } else if AXPBY {
        acc.iter_mut().for_each(|d| *d *= alpha);
    }
    E::from_f32_slice(acc, dst);
}
