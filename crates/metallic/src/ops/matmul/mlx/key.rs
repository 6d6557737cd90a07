//! The specialization key: everything that selects a kernel instance, after
//! MLX's function constants. A new specialization is a new field here and a
//! new const parameter of the kernels, never a branch in the drivers.

use super::flags::GemmFlags;
use crate::dtype::DType;
use crate::quant::Isa;
use std::fmt::Write;

/// Which driver a key selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelKind {
    /// Blocked product: BM×BN output tiles, BK-deep packed panels.
    Gemm,
    /// One output row (m = 1): streams B once, no packing.
    Gemv,
}

/// Output tile (BM×BN) and depth of one packed step (BK), in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    pub bm: usize,
    pub bn: usize,
    pub bk: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MlxKernelKey {
    pub kind: KernelKind,
    /// A, B and C element type (all the same float type).
    pub dtype: DType,
    pub isa: Isa,
    pub tile: Tile,
    pub flags: GemmFlags,
}

impl MlxKernelKey {
    /// MLX-style instance name, e.g.
    /// `gemm_f32_bm64_bn128_bk256_nt_batched_alignM_alignK_axpby_avx512-vnni`.
    pub fn name(&self) -> String {
        let kind = match self.kind {
            KernelKind::Gemm => "gemm",
            KernelKind::Gemv => "gemv",
        };
        let Tile { bm, bn, bk } = self.tile;
        let mut name = format!(
            "{kind}_{}_bm{bm}_bn{bn}_bk{bk}_{}",
            self.dtype.name().to_lowercase(),
            self.flags.transposes()
        );
        self.flags.spell_into(&mut name);
        let _ = write!(name, "_{}", self.isa.name());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_spells_out_every_flag() {
        let key = MlxKernelKey {
            kind: KernelKind::Gemm,
            dtype: DType::F32,
            isa: Isa::portable(),
            tile: Tile {
                bm: 64,
                bn: 64,
                bk: 256,
            },
            flags: GemmFlags {
                transpose_a: false,
                transpose_b: true,
                batched: true,
                align_m: true,
                align_n: false,
                align_k: true,
                use_out_source: false,
                do_axpby: true,
            },
        };
        assert_eq!(
            key.name(),
            "gemm_f32_bm64_bn64_bk256_nt_batched_alignM_alignK_axpby_portable"
        );
        let plain = MlxKernelKey {
            kind: KernelKind::Gemv,
            dtype: DType::BF16,
            flags: GemmFlags {
                batched: false,
                align_m: false,
                align_k: false,
                do_axpby: false,
                use_out_source: true,
                transpose_a: true,
                ..key.flags
            },
            ..key
        };
        assert_eq!(plain.name(), "gemv_bf16_bm64_bn64_bk256_tt_outsrc_portable");
    }
}
