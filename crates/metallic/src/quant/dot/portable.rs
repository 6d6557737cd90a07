//! Plain-Rust kernels: the fallback for any CPU and the readable statement
//! of what the SIMD kernels compute.

use super::{dispatch_tile, ActivationTile, TileOut, WeightTile};

/// Adds `Σ_g w.min[j][g]·a.sums[r][g]`: each group's minimum times its
/// activations' sum.
fn add_mins(out: &mut TileOut, w: &WeightTile<'_>, a: &ActivationTile<'_>) {
    let g = w.groups;
    for (r, out) in out.iter_mut().enumerate().take(a.rows) {
        for (j, out) in out.iter_mut().enumerate().take(w.rows) {
            let mins = w.min[j * g..(j + 1) * g]
                .iter()
                .zip(&a.sums[r * g..(r + 1) * g]);
            *out += mins.map(|(m, s)| m * s).sum::<f32>();
        }
    }
}

pub(super) fn legacy_tile(signed: bool, w: &WeightTile<'_>, a: &ActivationTile<'_>) -> TileOut {
    if signed {
        dispatch_tile!(a.rows, w.rows, legacy[true](w, a))
    } else {
        dispatch_tile!(a.rows, w.rows, legacy[false](w, a))
    }
}

pub(super) fn kquant_tile(w: &WeightTile<'_>, a: &ActivationTile<'_>) -> TileOut {
    dispatch_tile!(a.rows, w.rows, kquant[](w, a))
}

fn legacy<const RA: usize, const RW: usize, const SIGNED: bool>(
    w: &WeightTile<'_>,
    a: &ActivationTile<'_>,
) -> TileOut {
    let (k, nb) = (w.k, w.k / 32);
    let mut out = TileOut::default();
    for b in 0..nb {
        for (r, out) in out.iter_mut().enumerate().take(RA) {
            let q = &a.q[r * k + 32 * b..][..32];
            for (j, out) in out.iter_mut().enumerate().take(RW) {
                let u = &w.u[j * k + 32 * b..][..32];
                let dot: i32 = u
                    .iter()
                    .zip(q)
                    .map(|(&u, &q)| if SIGNED { u as i8 as i32 } else { u as i32 } * q as i32)
                    .sum();
                *out += w.d[j * nb + b] * a.d[r * nb + b] * dot as f32;
            }
        }
    }
    add_mins(&mut out, w, a);
    out
}

fn kquant<const RA: usize, const RW: usize>(w: &WeightTile<'_>, a: &ActivationTile<'_>) -> TileOut {
    let (k, ns) = (w.k, w.k / 256);
    let mut out = TileOut::default();
    for s in 0..ns {
        for (r, out) in out.iter_mut().enumerate().take(RA) {
            let q = &a.q[r * k + 256 * s..][..256];
            for (j, out) in out.iter_mut().enumerate().take(RW) {
                let u = &w.u[j * k + 256 * s..][..256];
                // Lane 0 and lane 8 of each chunk's 16 hold its two group scales.
                let scales = &w.scales[j * k / 2 + 128 * s..][..128];
                let dot: i32 = u
                    .chunks_exact(16)
                    .zip(q.chunks_exact(16))
                    .enumerate()
                    .map(|(g, (u, q))| {
                        let group: i32 = u.iter().zip(q).map(|(&u, &q)| u as i32 * q as i32).sum();
                        scales[8 * g] as i32 * group
                    })
                    .sum();
                *out += w.d[j * ns + s] * a.d[r * ns + s] * dot as f32;
            }
        }
    }
    add_mins(&mut out, w, a);
    out
}
