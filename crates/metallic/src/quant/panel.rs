//! Weight rows unpacked once into the integer form the dot kernels take, so
//! that every activation row reuses them without decoding bits again.
//!
//! Every weight value is `x = d · scale · u + min`: `u` an unsigned byte (at
//! most 63, so a pairwise u8×i8 sum fits in i16; Q8_0 keeps its signed
//! bytes), `d` a float per scale block (a 32-value block, or a 256-value
//! K super-block), `scale` a small integer per 16-value group (K formats
//! only), and `min` — the value a zero `u` stands for — a float per
//! activation-sum group (32 values, or 16 for K formats). Against 8-bit
//! activations `a = da · q` the dot product is then
//! `Σ d·da·Σ scale·u·q  +  Σ min · (da·Σ q)`: an integer dot scaled per block
//! plus a short float dot with the activations' group sums.

use super::dot::{Compiled, Isa};
use super::kquants::{self, QK_K};
use super::legacy::{self, QK};
use crate::dtype::DType;

/// The two families of weight formats and the activation layout each pairs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// 32-value blocks against 32-value activation blocks.
    Legacy,
    /// 256-value K super-blocks against 256-value activation blocks.
    K,
}

impl Family {
    pub(crate) fn of(dtype: DType) -> Option<Family> {
        match dtype {
            DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q5_1 | DType::Q8_0 => {
                Some(Family::Legacy)
            }
            DType::Q2_K | DType::Q3_K | DType::Q4_K | DType::Q5_K | DType::Q6_K => Some(Family::K),
            _ => None,
        }
    }

    /// Values per float scale `d`.
    pub(crate) fn scale_block(self) -> usize {
        match self {
            Family::Legacy => QK,
            Family::K => QK_K,
        }
    }

    /// Values per `min` (and per activation group sum).
    pub(crate) fn sum_group(self) -> usize {
        match self {
            Family::Legacy => QK,
            Family::K => kquants::GROUP,
        }
    }
}

/// Up to `capacity` unpacked weight rows of `k` values.
pub(crate) struct Panel {
    dtype: DType,
    family: Family,
    pub k: usize,
    /// rows × k values.
    pub u: Vec<u8>,
    /// rows × (k / scale_block).
    pub d: Vec<f32>,
    /// rows × (k / sum_group).
    pub min: Vec<f32>,
    /// rows × (k / 2): per 32-value chunk, 16 lanes of group scales (K only).
    pub scales: Vec<i16>,
}

/// The portable unpacking of some rows, compiled for an instruction set.
struct PortableFill<'a> {
    panel: &'a mut Panel,
    w: &'a [u8],
}

impl Compiled for PortableFill<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        self.panel.fill_rows(self.w);
    }
}

/// One row of a panel, being filled.
pub(crate) struct PanelRow<'a> {
    pub u: &'a mut [u8],
    pub d: &'a mut [f32],
    pub min: &'a mut [f32],
    pub scales: &'a mut [i16],
}

impl Panel {
    /// `dtype` is a quantized weight format (the caller checked), `k` a
    /// multiple of its block.
    pub(crate) fn new(dtype: DType, family: Family, k: usize, capacity: usize) -> Panel {
        Panel {
            dtype,
            family,
            k,
            u: vec![0; capacity * k],
            d: vec![0.0; capacity * (k / family.scale_block())],
            min: vec![0.0; capacity * (k / family.sum_group())],
            scales: vec![
                0;
                if family == Family::K {
                    capacity * k / 2
                } else {
                    0
                }
            ],
        }
    }

    /// Unpacks consecutive weight rows (`w` holds whole rows, no more than
    /// the capacity), compiled for `isa` so the bit twiddling vectorizes.
    pub(crate) fn fill(&mut self, isa: Isa, w: &[u8]) {
        let row_bytes = self.k / self.dtype.block_size() * self.dtype.block_bytes();
        let mut rows = w.chunks_exact(row_bytes).enumerate();
        let dtype = self.dtype;
        // The SIMD unpacker takes all rows or, lacking the format, none.
        if !rows.all(|(j, row)| super::dot::unpack_row(isa, dtype, row, self.row_mut(j))) {
            isa.run_compiled_for(PortableFill { panel: self, w });
        }
    }

    /// Row `j`'s slices.
    #[inline(always)]
    fn row_mut(&mut self, j: usize) -> PanelRow<'_> {
        let k = self.k;
        let (nd, nmin) = (k / self.family.scale_block(), k / self.family.sum_group());
        let nscales = if self.family == Family::K { k / 2 } else { 0 };
        PanelRow {
            u: &mut self.u[j * k..(j + 1) * k],
            d: &mut self.d[j * nd..(j + 1) * nd],
            min: &mut self.min[j * nmin..(j + 1) * nmin],
            scales: &mut self.scales[j * nscales..(j + 1) * nscales],
        }
    }

    #[inline(always)]
    fn fill_rows(&mut self, w: &[u8]) {
        match self.dtype {
            DType::Q4_0 => self.fill_with(w, |b, row, i| legacy::unpack(DType::Q4_0, b, row, i)),
            DType::Q4_1 => self.fill_with(w, |b, row, i| legacy::unpack(DType::Q4_1, b, row, i)),
            DType::Q5_0 => self.fill_with(w, |b, row, i| legacy::unpack(DType::Q5_0, b, row, i)),
            DType::Q5_1 => self.fill_with(w, |b, row, i| legacy::unpack(DType::Q5_1, b, row, i)),
            DType::Q8_0 => self.fill_with(w, |b, row, i| legacy::unpack(DType::Q8_0, b, row, i)),
            DType::Q2_K => self.fill_with(w, |b, row, i| kquants::unpack(DType::Q2_K, b, row, i)),
            DType::Q3_K => self.fill_with(w, |b, row, i| kquants::unpack(DType::Q3_K, b, row, i)),
            DType::Q4_K => self.fill_with(w, |b, row, i| kquants::unpack(DType::Q4_K, b, row, i)),
            DType::Q5_K => self.fill_with(w, |b, row, i| kquants::unpack(DType::Q5_K, b, row, i)),
            _ => self.fill_with(w, |b, row, i| kquants::unpack(DType::Q6_K, b, row, i)),
        }
    }

    #[inline(always)]
    fn fill_with(&mut self, w: &[u8], unpack: impl Fn(&[u8], PanelRow<'_>, usize)) {
        let block_bytes = self.dtype.block_bytes();
        let row_bytes = self.k / self.dtype.block_size() * block_bytes;
        for (j, row) in w.chunks_exact(row_bytes).enumerate() {
            for (b, block) in row.chunks_exact(block_bytes).enumerate() {
                unpack(block, self.row_mut(j), b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fresh_seed, rng};
    use rand::Rng;

    /// Every instruction set's unpacking writes exactly the portable one's
    /// panel, for random blocks (any bit pattern, finite f16 scales).
    #[test]
    fn simd_unpacking_equals_portable() {
        let seed = fresh_seed();
        let mut r = rng(seed);
        for dtype in [
            DType::Q4_0,
            DType::Q4_1,
            DType::Q5_0,
            DType::Q5_1,
            DType::Q8_0,
            DType::Q2_K,
            DType::Q3_K,
            DType::Q4_K,
            DType::Q5_K,
            DType::Q6_K,
        ] {
            let family = Family::of(dtype).unwrap();
            let k = 512;
            let rows = 2;
            let mut w: Vec<u8> = (0..rows * dtype.bytes_for(k).unwrap())
                .map(|_| r.random())
                .collect();
            // f16 fields sit at a block's start or end; keep them finite.
            for block in w.chunks_mut(dtype.block_bytes()) {
                let len = block.len();
                for at in [0, 2, len - 4, len - 2] {
                    let d = half::f16::from_f32(r.random_range(-0.1f32..0.1));
                    block[at..at + 2].copy_from_slice(&d.to_le_bytes());
                }
            }
            let mut want = Panel::new(dtype, family, k, rows);
            want.fill(Isa::portable(), &w);
            for isa in Isa::supported() {
                let mut got = Panel::new(dtype, family, k, rows);
                got.fill(isa, &w);
                let what = format!("seed {seed}: {dtype} on {}", isa.name());
                assert_eq!(got.u, want.u, "{what}: values");
                assert_eq!(got.scales, want.scales, "{what}: group scales");
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got.d), bits(&want.d), "{what}: block scales");
                assert_eq!(bits(&got.min), bits(&want.min), "{what}: minimums");
            }
        }
    }
}
