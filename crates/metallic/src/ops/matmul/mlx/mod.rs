//! The `mlx` backend on the CPU: the project's own GEMM kernels after MLX's
//! "steel" design. A problem is validated, normalized (row-major output,
//! shared-B batches folded into m), and described by a small key (`MlxKernelKey`: dtype, tile,
//! transposes, batched, alignment, epilogue flags, instruction set); the key
//! selects a driver monomorphized over those flags, resolved once and kept
//! in the kernel cache.

mod args;
#[cfg(feature = "cuda")]
pub mod cuda;
mod element;
mod epilogue;
mod flags;
mod gemm;
mod gemv;
mod instance;
mod key;
mod microkernel;
mod normalize;
mod pack;
mod parallel;
mod quantized;
#[cfg(test)]
mod tests;
mod validate;

pub use crate::quant::Isa;
pub use flags::GemmFlags;
pub use key::{KernelKind, MlxKernelKey, Tile};

use crate::error::{Error, Result};
use crate::ops::matmul::GemmProblem;
use args::{KernelArgs, KernelFn, OutBuffer};
use microkernel::MicroKernels;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// Largest tile side and depth accepted, bounding per-thread scratch.
const MAX_TILE: usize = 1024;
/// Smallest side the default rule narrows a tile to: below it packing and
/// the epilogue cost more than the extra parallelism wins.
const MIN_TILE_SIDE: usize = 32;
/// GEMV: output columns per task and k per step (dot products of
/// contiguous columns need few columns to fill a task; row updates keep a
/// wider output segment in L1).
const GEMV_COLUMNS_DOT: usize = 64;
const GEMV_COLUMNS_ROWS: usize = 256;
const GEMV_DEPTH: usize = 256;

/// The mlx CPU backend: an instruction set, a tile rule and the cache of
/// kernel instances. Shareable across threads.
pub struct MlxCpu {
    isa: Isa,
    micro: &'static MicroKernels,
    gemm_tile: Option<Tile>,
    cache: RwLock<HashMap<MlxKernelKey, KernelFn>>,
}

impl Default for MlxCpu {
    fn default() -> Self {
        MlxCpu::new()
    }
}

impl MlxCpu {
    /// The widest instruction set this CPU has, tiles chosen per problem.
    pub fn new() -> MlxCpu {
        MlxCpu::with_isa(Isa::best())
    }

    /// Forces one instruction set (tests, benchmarks); `Isa::supported`
    /// lists this CPU's.
    pub fn with_isa(isa: Isa) -> MlxCpu {
        MlxCpu::build(isa, microkernel::kernels_for(isa))
    }

    /// Uses `tile` for every blocked (m > 1) product instead of the
    /// per-problem rule. BM and BN must be multiples of the microkernel's
    /// MR and NR, and each side at most 1024.
    pub fn with_gemm_tile(mut self, tile: Tile) -> Result<MlxCpu> {
        let (mr, nr) = (self.micro.mr, self.micro.nr);
        let fits =
            |side: usize, step: usize| side > 0 && side.is_multiple_of(step) && side <= MAX_TILE;
        if !(fits(tile.bm, mr) && fits(tile.bn, nr) && fits(tile.bk, 1)) {
            return Err(Error::InvalidArgument(format!(
                "tile {tile:?}: with {} BM must be a multiple of {mr}, BN of {nr}, all sides in 1..={MAX_TILE}",
                self.isa.name()
            )));
        }
        self.gemm_tile = Some(tile);
        Ok(self)
    }

    fn build(isa: Isa, micro: &'static MicroKernels) -> MlxCpu {
        MlxCpu {
            isa,
            micro,
            gemm_tile: None,
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Runs `p` on host buffers: `a`, `b`, `c` are the whole byte contents
    /// of each operand's buffer (element offsets and strides are in `p`).
    /// With beta = 0, C is only written (it may hold NaN). A quantized B
    /// goes to the quantized kernels.
    pub fn run(&self, p: &GemmProblem, a: &[u8], b: &[u8], c: &mut [u8]) -> Result<()> {
        if p.b.dtype.is_quantized() {
            return quantized::run(p, a, b, c);
        }
        validate::check(p, a, b, c)?;
        if p.m == 0 || p.n == 0 || p.batch_count() == 0 {
            return Ok(());
        }
        let (p, swapped) = normalize::normalize(p);
        let (a, b) = if swapped { (b, a) } else { (a, b) };
        let key = self.plan(&p);
        let kernel = self.kernel(&key)?;
        kernel(&KernelArgs {
            problem: &p,
            a,
            b,
            c: OutBuffer::new(c),
            tile: key.tile,
            micro: self.micro,
        });
        Ok(())
    }

    /// The keys of every instance built so far, sorted.
    pub fn cached_kernels(&self) -> Vec<MlxKernelKey> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        let mut keys: Vec<_> = cache.keys().copied().collect();
        keys.sort();
        keys
    }

    /// The key of a validated problem with row-major C.
    fn plan(&self, p: &GemmProblem) -> MlxKernelKey {
        let (transpose_a, transpose_b) = (!p.a.row_major, !p.b.row_major);
        let (kind, tile) = if p.m == 1 {
            let bn = if transpose_b {
                GEMV_COLUMNS_DOT
            } else {
                GEMV_COLUMNS_ROWS
            };
            let tile = Tile {
                bm: 1,
                bn,
                bk: GEMV_DEPTH,
            };
            (KernelKind::Gemv, tile)
        } else {
            (
                KernelKind::Gemm,
                self.gemm_tile.unwrap_or_else(|| self.default_tile(p)),
            )
        };
        MlxKernelKey {
            kind,
            dtype: p.c.dtype,
            isa: self.isa,
            tile,
            flags: GemmFlags {
                transpose_a,
                transpose_b,
                batched: p.batch_count() > 1,
                align_m: p.m.is_multiple_of(tile.bm),
                align_n: p.n.is_multiple_of(tile.bn),
                align_k: p.k.is_multiple_of(tile.bk),
                use_out_source: p.beta != 0.0,
                do_axpby: p.alpha != 1.0 || (p.beta != 0.0 && p.beta != 1.0),
            },
        }
    }

    /// Tile of the blocked driver: 128×256×128 (about 128 rows of
    /// microtiles), narrowed, then shortened, while the problem has fewer
    /// than two tiles per pool thread. Measured on the 2-core AVX-512 EPYC,
    /// f32, one thread, best thread-CPU time of 40 runs (the machine was
    /// shared, so wall time was noise; the candidates are those of
    /// benches/mlx_cpu.rs `f32_tile`), GFLOP/s per core at 896×896×128 /
    /// 128×896×896 with B transposed: 128×256×128 83-90 / 72-75,
    /// 128×128×128 76-78 / 69, 64×128×128 73-79 / 55-60, 64×64×128 62 / 47-52;
    /// BK = 256 was no faster than 128.
    fn default_tile(&self, p: &GemmProblem) -> Tile {
        let (mr, nr) = (self.micro.mr, self.micro.nr);
        let rows = |bm: usize| (bm / mr).max(1) * mr;
        let (mut bm, mut bn) = (rows(128), 256);
        let wanted = 2 * rayon::current_num_threads();
        let tasks = |bm: usize, bn: usize| p.batch_count() * p.m.div_ceil(bm) * p.n.div_ceil(bn);
        while tasks(bm, bn) < wanted && bn >= 2 * MIN_TILE_SIDE.max(nr) {
            bn /= 2;
        }
        while tasks(bm, bn) < wanted && rows(bm / 2) >= MIN_TILE_SIDE.max(mr) {
            bm = rows(bm / 2);
        }
        Tile { bm, bn, bk: 128 }
    }

    /// The instance for `key`, built on first use.
    fn kernel(&self, key: &MlxKernelKey) -> Result<KernelFn> {
        let cached = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied();
        if let Some(kernel) = cached {
            return Ok(kernel);
        }
        let kernel = instance::instantiate(key).ok_or_else(|| {
            Error::Unsupported(format!("no mlx CPU kernel computes in {}", key.dtype))
        })?;
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        Ok(*cache.entry(*key).or_insert(kernel))
    }
}
