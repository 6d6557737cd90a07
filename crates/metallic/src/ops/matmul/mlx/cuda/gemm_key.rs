//! The CUDA GEMM's specialization key, after MLX's function constants: each
//! field is a compile-time constant of the GEMM sources (`gemm_ffma.cu`,
//! `gemm_mma.cu`, `gemm_wgmma.cu`, each after `gemm_common.cuh`), the kernel's name spells
//! them out, and each distinct key is compiled once by the kernel cache.

use std::borrow::Cow;
use std::fmt::Write;

use crate::device::cuda::{KernelKey, KernelSource};
use crate::dtype::DType;

use super::tile_table::CudaTile;
use crate::ops::matmul::mlx::GemmFlags;

/// F32 inputs: FFMA register tiles.
pub(super) static GEMM_FFMA_SOURCE: KernelSource = KernelSource {
    name: "mlx_gemm_ffma",
    text: concat!(
        include_str!("gemm_common.cuh"),
        include_str!("gemm_ffma.cu")
    ),
};

/// F16/BF16 inputs: ldmatrix and mma.sync.
pub(super) static GEMM_MMA_SOURCE: KernelSource = KernelSource {
    name: "mlx_gemm_mma",
    text: concat!(include_str!("gemm_common.cuh"), include_str!("gemm_mma.cu")),
};

/// F16/BF16 inputs on Hopper, x·Wᵀ layout: wgmma.
pub(super) static GEMM_WGMMA_SOURCE: KernelSource = KernelSource {
    name: "mlx_gemm_wgmma",
    text: concat!(
        include_str!("gemm_common.cuh"),
        include_str!("gemm_wgmma.cu")
    ),
};

pub(super) static SPLIT_K_SOURCE: KernelSource = KernelSource {
    name: "mlx_gemm_split_k",
    text: include_str!("split_k.cu"),
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmKey {
    /// A and B element type (F32, F16 or BF16).
    pub input: DType,
    /// C element type: `input` or F32.
    pub output: DType,
    pub tile: CudaTile,
    /// The flags every mlx kernel shares (`batched`: grid z runs over the
    /// batch; `align_k` is per k slice under split-K).
    pub flags: GemmFlags,
    /// The operand's rows start 16-byte aligned (16-bit inputs): tiles
    /// arrive by 16-byte asynchronous copies instead of element loads.
    pub vec_a: bool,
    pub vec_b: bool,
    /// k is split over grid z; raw sums go to a workspace (see `split_k.cu`).
    pub split_k: bool,
}

impl GemmKey {
    /// MLX-style name, e.g.
    /// `steel_gemm_f16_f16_bm128_bn128_bk32_wm2_wn2_s3_nt_batched_alignM_alignK_axpby_vecA_vecB`
    /// (`steel_gemm_wgmma_…` for the Hopper kernel).
    pub fn name(&self) -> String {
        let t = self.tile;
        let mut name = format!(
            "steel_gemm{}_{}_{}_bm{}_bn{}_bk{}",
            if t.wgmma { "_wgmma" } else { "" },
            self.input.name().to_lowercase(),
            self.output.name().to_lowercase(),
            t.bm,
            t.bn,
            t.bk
        );
        if self.input != DType::F32 {
            let _ = write!(name, "_wm{}_wn{}", t.wm, t.wn);
        }
        let _ = write!(name, "_s{}_{}", t.stages, self.flags.transposes());
        self.flags.spell_into(&mut name);
        for (on, part) in [
            (self.vec_a, "_vecA"),
            (self.vec_b, "_vecB"),
            (self.split_k, "_splitk"),
        ] {
            if on {
                name.push_str(part);
            }
        }
        name
    }

    fn defines(&self, name: &str) -> String {
        let t = self.tile;
        let flag = |on: bool| on as u8;
        // wgmma is an sm_90a instruction: that target, not the device's sm_90.
        let arch = if t.wgmma {
            "--gpu-architecture=sm_90a "
        } else {
            ""
        };
        format!(
            "{arch}-DBM={} -DBN={} -DBK={} -DWM={} -DWN={} -DSTAGES={} -DTRANS_A={} -DTRANS_B={} \
             -DVEC_A={} -DVEC_B={} -DHAS_BATCH={} -DALIGN_M={} -DALIGN_N={} -DALIGN_K={} \
             -DUSE_OUT_SOURCE={} -DDO_AXPBY={} -DSPLIT_K={} -DKERNEL_NAME={name}",
            t.bm,
            t.bn,
            t.bk,
            t.wm,
            t.wn,
            t.stages,
            flag(self.flags.transpose_a),
            flag(self.flags.transpose_b),
            flag(self.vec_a),
            flag(self.vec_b),
            flag(self.flags.batched),
            flag(self.flags.align_m),
            flag(self.flags.align_n),
            flag(self.flags.align_k),
            flag(self.flags.use_out_source),
            flag(self.flags.do_axpby),
            flag(self.split_k),
        )
    }

    /// The kernel cache's key for this specialization (it owns the name and
    /// the defines it is compiled with).
    pub(super) fn kernel_key(&self) -> KernelKey {
        let name = self.name();
        let flags = self.defines(&name);
        KernelKey {
            source: if self.tile.wgmma {
                &GEMM_WGMMA_SOURCE
            } else if self.input == DType::F32 {
                &GEMM_FFMA_SOURCE
            } else {
                &GEMM_MMA_SOURCE
            },
            entry: Cow::Owned(name),
            act: self.input,
            aux: self.output,
            param: 0,
            flags: Cow::Owned(flags),
        }
    }
}

/// The split-K reduction's key: C's type, whether it reads C, batched.
pub(super) fn split_k_reduce_key(output: DType, use_out_source: bool, batched: bool) -> KernelKey {
    let mut name = format!("steel_gemm_splitk_reduce_{}", output.name().to_lowercase());
    if batched {
        name.push_str("_batched");
    }
    if use_out_source {
        name.push_str("_outsrc");
    }
    let flags = format!(
        "-DHAS_BATCH={} -DUSE_OUT_SOURCE={} -DKERNEL_NAME={name}",
        batched as u8, use_out_source as u8
    );
    KernelKey {
        source: &SPLIT_K_SOURCE,
        entry: Cow::Owned(name),
        act: DType::F32,
        aux: output,
        param: 0,
        flags: Cow::Owned(flags),
    }
}
