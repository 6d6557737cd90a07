//! Integer dot-product kernels between unpacked weight rows (see `panel`)
//! and 8-bit activation rows, on a small register tile: up to `TILE_A`
//! activation rows × `TILE_W` weight rows share every load.
//!
//! Three instruction sets, picked at run time: AVX-512 (VNNI, BW, VL) on
//! 256-bit registers, AVX2 + FMA, and a portable fallback. They add the same
//! integer products; only the order of the float sums differs.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod gemv_avx512;
mod portable;
#[cfg(target_arch = "x86_64")]
mod unpack_avx2;

use crate::dtype::DType;
use crate::quant::panel::PanelRow;
use std::sync::OnceLock;

/// Activation rows per tile.
pub(crate) const TILE_A: usize = 4;
/// Weight rows per tile.
pub(crate) const TILE_W: usize = 2;

/// Tile results: `out[r][j]` for activation row `r`, weight row `j`.
pub(crate) type TileOut = [[f32; TILE_W]; TILE_A];

/// An instruction set the CPU kernels are built for: these quantized dot
/// products and the mlx backend's float microkernels (one type for both).
/// Only the constructors make one, and they check the CPU: holding an `Isa`
/// means this CPU runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Isa(IsaKind);

/// The sets, slowest first (the order `Isa` compares in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum IsaKind {
    Portable,
    Avx2,
    Avx512,
}

impl Isa {
    /// Plain Rust, for any CPU.
    pub fn portable() -> Isa {
        Isa(IsaKind::Portable)
    }

    /// The fastest instruction set this CPU supports (detected once).
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| *Isa::supported().last().unwrap_or(&Isa::portable()))
    }

    /// Every instruction set this CPU supports, slowest first.
    pub fn supported() -> Vec<Isa> {
        let mut out = vec![Isa::portable()];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                out.push(Isa(IsaKind::Avx2));
                if is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
                {
                    out.push(Isa(IsaKind::Avx512));
                }
            }
        }
        out
    }

    /// Which set this is, for code that picks its kernels per set.
    pub(crate) fn kind(self) -> IsaKind {
        self.0
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            IsaKind::Portable => "portable",
            IsaKind::Avx2 => "avx2",
            IsaKind::Avx512 => "avx512-vnni",
        }
    }

    /// Runs `task` inside a function compiled with this instruction set
    /// enabled, so that the compiler vectorizes the task's loops.
    pub(crate) fn run_compiled_for<T: Compiled>(self, task: T) -> T::Output {
        match self.0 {
            IsaKind::Portable => task.run(),
            // SAFETY: an `Isa` of this kind exists only if the CPU has these features.
            #[cfg(target_arch = "x86_64")]
            IsaKind::Avx2 => unsafe { avx2::run(task) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            IsaKind::Avx512 => unsafe { avx512::run(task) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => task.run(),
        }
    }
}

/// Plain-Rust work to compile for an instruction set (see
/// `Isa::run_compiled_for`). `run` must be `#[inline(always)]`: only code
/// inlined into the feature-enabled function is compiled with its features
/// (a closure would be inlined only when the compiler finds it small).
pub(crate) trait Compiled {
    type Output;
    fn run(self) -> Self::Output;
}

/// Unpacks one weight row into a panel row with SIMD where this instruction
/// set has an unpacker for the format; returns false (doing nothing) where
/// not.
pub(crate) fn unpack_row(isa: Isa, dtype: DType, row: &[u8], out: PanelRow<'_>) -> bool {
    match isa.0 {
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx2 if unpack_avx2::handles(dtype) => {
            // SAFETY: the CPU has AVX2, FMA and F16C (see `Isa`); the format
            // is handled; `Panel` sizes the row and its outputs.
            unsafe { unpack_avx2::unpack_row(dtype, row, out) };
            true
        }
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx512 if unpack_avx2::handles(dtype) => {
            // SAFETY: as above, and the CPU has AVX-512 F, BW and VL.
            unsafe { unpack_avx2::unpack_row_avx512(dtype, row, out) };
            true
        }
        _ => false,
    }
}

/// One activation row in 8-bit form, for `dot_rows`.
#[derive(Clone, Copy)]
pub(crate) struct ActivationRow<'a> {
    /// k values.
    pub q: &'a [i8],
    /// One scale per block of the weight format (32 values, or 256 for K).
    pub d: &'a [f32],
    /// `d · Σ q` per 16 values (K formats only).
    pub sums: &'a [f32],
}

/// Whether `isa` has a one-row kernel (`dot_rows`) for weights in `dtype`.
pub(crate) fn has_row_kernel(isa: Isa, dtype: DType) -> bool {
    match isa.0 {
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx512 => gemv_avx512::handles(dtype),
        _ => false,
    }
}

/// `out[j] = Σ_k W_j[k] · a[k]` for the weight rows `W_j` of `w`, read in
/// place from their blocks (one-token products); returns false (doing
/// nothing) where `has_row_kernel(isa, dtype)` does not hold.
pub(crate) fn dot_rows(
    isa: Isa,
    dtype: DType,
    w: &[u8],
    a: ActivationRow<'_>,
    out: &mut [f32],
) -> bool {
    if !has_row_kernel(isa, dtype) {
        return false;
    }
    let k = a.q.len();
    let block = dtype.block_size();
    assert!(k.is_multiple_of(block));
    assert_eq!(Some(w.len()), dtype.bytes_for(k).map(|row| row * out.len()));
    assert!(a.d.len() >= k / block && (block != 256 || a.sums.len() >= k / 16));
    match isa.0 {
        // SAFETY: an AVX-512 `Isa` exists only on a CPU with the features;
        // the format is handled and the sizes were checked above.
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx512 => unsafe { gemv_avx512::dot_rows(dtype, w, a, out) },
        _ => return false,
    }
    true
}

/// `rows` weight rows of an unpacked panel, starting at the tile's first.
#[derive(Clone, Copy)]
pub(crate) struct WeightTile<'a> {
    pub rows: usize,
    pub k: usize,
    /// Row stride `k`.
    pub u: &'a [u8],
    /// Row stride `k / scale_block`.
    pub d: &'a [f32],
    /// Row stride `k / 2` (K formats only).
    pub scales: &'a [i16],
    /// The value of u = 0 per activation-sum group; row stride `groups`.
    pub min: &'a [f32],
    /// Activation-sum groups per row (k / 32, or k / 16 for K formats).
    pub groups: usize,
}

/// `rows` 8-bit activation rows, starting at the tile's first.
#[derive(Clone, Copy)]
pub(crate) struct ActivationTile<'a> {
    pub rows: usize,
    /// Row stride `k` (the weight tile's).
    pub q: &'a [i8],
    /// Row stride `k / scale_block`.
    pub d: &'a [f32],
    /// Scaled group sums `d · Σ q`; row stride `groups` (the weight tile's).
    pub sums: &'a [f32],
}

/// Checks the slices cover the tile; the kernels read within these bounds.
fn check_tile(w: &WeightTile<'_>, a: &ActivationTile<'_>, scale_block: usize, with_scales: bool) {
    let k = w.k;
    assert!((1..=TILE_W).contains(&w.rows) && (1..=TILE_A).contains(&a.rows));
    assert!(k.is_multiple_of(scale_block));
    assert!(w.u.len() >= w.rows * k && a.q.len() >= a.rows * k);
    assert!(w.d.len() >= w.rows * (k / scale_block) && a.d.len() >= a.rows * (k / scale_block));
    assert!(!with_scales || w.scales.len() >= w.rows * (k / 2));
    assert!(w.min.len() >= w.rows * w.groups && a.sums.len() >= a.rows * w.groups);
}

/// `out[r][j] = Σ_b w.d[j][b]·a.d[r][b]·Σ_{32 values} u·q + Σ_g
/// w.min[j][g]·a.sums[r][g]` over 32-value blocks (and groups); `signed`
/// reads `u` as i8 (Q8_0).
pub(crate) fn legacy_tile(
    isa: Isa,
    signed: bool,
    w: &WeightTile<'_>,
    a: &ActivationTile<'_>,
) -> TileOut {
    check_tile(w, a, 32, false);
    match isa.0 {
        // SAFETY: the CPU has the features (see `Isa`); `check_tile` bounds the reads.
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx512 => unsafe { avx512::legacy_tile(signed, w, a) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx2 => unsafe { avx2::legacy_tile(signed, w, a) },
        _ => portable::legacy_tile(signed, w, a),
    }
}

/// `out[r][j] = Σ_s w.d[j][s]·a.d[r][s]·Σ_{g} scale_g·Σ_{16 values} u·q +
/// Σ_g w.min[j][g]·a.sums[r][g]` over 256-value super-blocks and 16-value
/// groups.
pub(crate) fn kquant_tile(isa: Isa, w: &WeightTile<'_>, a: &ActivationTile<'_>) -> TileOut {
    check_tile(w, a, 256, true);
    match isa.0 {
        // SAFETY: the CPU has the features (see `Isa`); `check_tile` bounds the reads.
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx512 => unsafe { avx512::kquant_tile(w, a) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        IsaKind::Avx2 => unsafe { avx2::kquant_tile(w, a) },
        _ => portable::kquant_tile(w, a),
    }
}

/// Expands a runtime tile shape into a call of `$kernel::<RA, RW, ...>`.
macro_rules! dispatch_tile {
    ($ra:expr, $rw:expr, $kernel:ident [$($extra:tt)*] ($($arg:expr),*)) => {
        match ($ra, $rw) {
            (4, 2) => $kernel::<4, 2 $(, $extra)*>($($arg),*),
            (4, _) => $kernel::<4, 1 $(, $extra)*>($($arg),*),
            (3, 2) => $kernel::<3, 2 $(, $extra)*>($($arg),*),
            (3, _) => $kernel::<3, 1 $(, $extra)*>($($arg),*),
            (2, 2) => $kernel::<2, 2 $(, $extra)*>($($arg),*),
            (2, _) => $kernel::<2, 1 $(, $extra)*>($($arg),*),
            (_, 2) => $kernel::<1, 2 $(, $extra)*>($($arg),*),
            (_, _) => $kernel::<1, 1 $(, $extra)*>($($arg),*),
        }
    };
}
pub(crate) use dispatch_tile;
