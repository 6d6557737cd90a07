//! Which tile (and how many split-K slices) a problem runs with. The rules
//! come from the measurements in `tile_table.md` beside this file (H100,
//! the Qwen2.5 prefill shapes); `CANDIDATES` are the tiles measured.

use crate::dtype::DType;
use crate::error::{Error, Result};

/// A block tile: BM×BN outputs, BK of depth per shared-memory stage, WM×WN
/// warps (16-bit inputs; the f32 kernel gives each thread an 8×8 or 4×4 tile), and
/// the number of stages in flight. A `wgmma` tile runs `gemm_wgmma.cu`
/// (Hopper; WM warpgroups of 64 rows each, WN = 1, BK = 64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CudaTile {
    pub bm: usize,
    pub bn: usize,
    pub bk: usize,
    pub wm: usize,
    pub wn: usize,
    pub stages: usize,
    pub wgmma: bool,
}

/// How one problem runs: its tile and the number of k slices (1: no split).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CudaGemmPlan {
    pub tile: CudaTile,
    pub splits: usize,
}

const fn tile(bm: usize, bn: usize, bk: usize, wm: usize, wn: usize, stages: usize) -> CudaTile {
    CudaTile {
        bm,
        bn,
        bk,
        wm,
        wn,
        stages,
        wgmma: false,
    }
}

/// A wgmma tile: BM/64 warpgroups, BK 64.
const fn wgmma(bm: usize, bn: usize, stages: usize) -> CudaTile {
    CudaTile {
        bm,
        bn,
        bk: 64,
        wm: bm / 64,
        wn: 1,
        stages,
        wgmma: true,
    }
}

/// Tiles of the tensor-core (f16, bf16) kernel, largest first.
pub const TILES_16: [CudaTile; 8] = [
    tile(128, 256, 32, 2, 4, 3),
    tile(128, 128, 32, 2, 2, 4),
    tile(128, 128, 64, 2, 2, 3),
    tile(128, 128, 32, 2, 4, 4),
    tile(128, 128, 64, 2, 4, 3),
    tile(128, 64, 32, 2, 2, 4),
    tile(64, 64, 32, 2, 2, 4),
    tile(64, 64, 64, 2, 2, 3),
];

/// Tiles of the Hopper kernel (f16, bf16; A [m, k] and B [n, k]), largest
/// first.
pub const TILES_WGMMA: [CudaTile; 5] = [
    wgmma(128, 256, 3),
    wgmma(128, 128, 4),
    wgmma(128, 128, 3),
    wgmma(64, 128, 4),
    wgmma(64, 64, 4),
];

/// Tiles of the f32 (FFMA) kernel, largest first.
pub const TILES_32: [CudaTile; 3] = [
    tile(128, 128, 8, 1, 1, 3),
    tile(128, 64, 8, 1, 1, 3),
    tile(64, 64, 8, 1, 1, 3),
];

/// Largest dynamic shared memory a block may ask for on the H100 (227 KiB).
const MAX_SHARED_BYTES: usize = 227 * 1024;

impl CudaTile {
    /// Threads per block.
    pub fn threads(&self, input: DType) -> usize {
        match input {
            _ if self.wgmma => self.wm * 128,
            DType::F32 => (self.bm / self.f32_thread_tile()) * (self.bn / self.f32_thread_tile()),
            _ => self.wm * self.wn * 32,
        }
    }

    /// Side of the f32 kernel's per-thread tile: 8 from 128×128 up, else 4
    /// (as `gemm_ffma.cu` computes it).
    fn f32_thread_tile(&self) -> usize {
        if self.bm * self.bn >= 128 * 128 {
            8
        } else {
            4
        }
    }

    /// Dynamic shared memory per block, mirroring the GEMM kernels' layouts: each
    /// stage holds A's and B's tiles, rows padded by 16 bytes (f16/bf16) or
    /// 4 floats (f32).
    pub fn shared_bytes(&self, input: DType) -> usize {
        if self.wgmma {
            // 128-byte rows of A and B, plus room to align the start to
            // the 1024-byte swizzle period.
            return self.stages * (self.bm + self.bn) * 128 + 1024;
        }
        let stage = match input {
            DType::F32 => self.bk * (self.bm + 4 + self.bn + 4) * 4,
            _ => {
                // A [bm][bk] or [bk][bm], B [bk][bn] or [bn][bk]: the same
                // element count either way only when padding is counted on
                // the contiguous side, so take the larger of the two.
                let a = (self.bm * (self.bk + 8)).max(self.bk * (self.bm + 8));
                let b = (self.bn * (self.bk + 8)).max(self.bk * (self.bn + 8));
                (a + b) * 2
            }
        };
        stage * self.stages
    }

    /// An error unless the kernel can be built with this tile.
    pub fn check(&self, input: DType) -> Result<()> {
        let bad = |why: &str| Err(Error::InvalidArgument(format!("GEMM tile {self:?}: {why}")));
        if self.stages < 2 {
            return bad("needs at least 2 stages");
        }
        let shape_ok = match input {
            _ if self.wgmma => {
                input != DType::F32
                    && self.bk == 64
                    && self.wn == 1
                    && self.bm == 64 * self.wm
                    && matches!(self.bn, 64 | 128 | 256)
            }
            DType::F32 => {
                let tt = self.f32_thread_tile();
                self.bm.is_multiple_of(tt) && self.bn.is_multiple_of(tt) && self.bk > 0
            }
            _ => {
                self.wm > 0
                    && self.wn > 0
                    && self.bm.is_multiple_of(16 * self.wm)
                    && self.bn.is_multiple_of(16 * self.wn)
                    && self.bk.is_multiple_of(16)
            }
        };
        if !shape_ok || self.bm == 0 || self.bn == 0 {
            return bad("sides must be whole warp and mma tiles");
        }
        let threads = self.threads(input);
        if threads == 0 || threads > 1024 || !threads.is_multiple_of(32) {
            return bad("threads per block must be a multiple of 32, at most 1024");
        }
        if self.shared_bytes(input) > MAX_SHARED_BYTES {
            return bad("needs more shared memory than a block can have");
        }
        Ok(())
    }
}

/// The measured choice for an m×n×k product over `batch` matrices on a
/// card with `sm_count` multiprocessors (rules and measurements in
/// `tile_table.md`); `wgmma` says whether the Hopper kernel can run it (its
/// layout and alignment).
pub fn choose(
    input: DType,
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    sm_count: usize,
    wgmma: bool,
) -> CudaGemmPlan {
    let (large, small) = match input {
        DType::F32 => (TILES_32[0], TILES_32[2]),
        _ if wgmma => (TILES_WGMMA[2], TILES_WGMMA[4]),
        _ => (TILES_16[2], TILES_16[7]),
    };
    let small_blocks = m.div_ceil(small.bm) * n.div_ceil(small.bn) * batch;
    // Large tiles pay from about four waves of small ones (fewer loads per
    // multiply-add against a longer tail); f32's from two.
    let waves = if input == DType::F32 { 2 } else { 4 };
    if small_blocks > waves * sm_count {
        return CudaGemmPlan {
            tile: large,
            splits: 1,
        };
    }
    // A grid that leaves half the multiprocessors idle splits a long k: one
    // slice per 1024 of k for the tensor-core kernels, per 64 for f32's
    // (short per-tile work, long latency).
    let per_slice = if input == DType::F32 { 64 } else { 1024 };
    let splits = match 2 * small_blocks <= sm_count {
        true => (sm_count / small_blocks).min(k / per_slice).clamp(1, 8),
        false => 1,
    };
    CudaGemmPlan {
        tile: small,
        splits,
    }
}
