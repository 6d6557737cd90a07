//! The `mlx` GEMM on CUDA: a `GemmProblem` (m > 8 in practice; any m works)
//! through the tiled kernels (`gemm_ffma.cu`, `gemm_mma.cu`, `gemm_wgmma.cu`), specialized per `GemmKey`, with an
//! optional split-K pass (`split_k.cu`).
//!
//! The kernel writes a row-major C; a column-major C is computed as
//! Cᵀ = Bᵀ·Aᵀ (operands and buffers swapped). Batches are zero-copy: each operand keeps its own batch
//! strides (0 broadcasts). Batch dimensions whose strides nest for all three
//! operands collapse into one; the last two remaining run over grid z inside
//! one launch, and any further ones are looped over, one launch each.

use crate::device::cuda::{launch, launch_with_shared, u32_of, Arg, CudaBuffer, CudaDevice};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::matmul::problem::{BatchDim, GemmProblem, MatrixOperand, Operand};

use super::gemm_key::{split_k_reduce_key, GemmKey};
use super::tile_table::{self, CudaGemmPlan};
use crate::ops::matmul::mlx::GemmFlags;

/// Threads per block of the split-K reduction.
const REDUCE_THREADS: u32 = 256;
/// Grid y and z limit.
const MAX_GRID_YZ: usize = 65_535;

/// D = alpha·A·B + beta·C over the batch, C updated in place, with the
/// tile and split the measured table chooses. A and B share F32, F16 or
/// BF16; C has that type or F32; accumulation is f32 (exact FFMA for F32).
pub fn run_gemm(
    device: &CudaDevice,
    problem: &GemmProblem,
    a: &CudaBuffer,
    b: &CudaBuffer,
    c: &mut CudaBuffer,
) -> Result<()> {
    run_planned(device, problem, None, a, b, c)
}

/// `run_gemm` with a given tile and split (benchmarks, tests). A wgmma
/// tile needs a Hopper GPU, 16-bit A [m, k] and B [n, k] (after making C
/// row-major) and 16-byte aligned rows.
pub fn run_gemm_with_plan(
    device: &CudaDevice,
    problem: &GemmProblem,
    plan: CudaGemmPlan,
    a: &CudaBuffer,
    b: &CudaBuffer,
    c: &mut CudaBuffer,
) -> Result<()> {
    run_planned(device, problem, Some(plan), a, b, c)
}

fn run_planned(
    device: &CudaDevice,
    problem: &GemmProblem,
    plan: Option<CudaGemmPlan>,
    a: &CudaBuffer,
    b: &CudaBuffer,
    c: &mut CudaBuffer,
) -> Result<()> {
    device.check_buffers(&[a, b, &*c], "mlx GEMM")?;
    check_dtypes(problem)?;
    for (which, buffer) in [(Operand::A, a), (Operand::B, b), (Operand::C, &*c)] {
        problem.span_within(which, buffer.len())?;
    }
    let (p, a, b) = match problem.c.row_major {
        true => (problem.clone(), a, b),
        false => (transposed(problem), b, a),
    };
    let dims = p.batch_dims()?;
    let input = p.a.dtype;
    let (vec_a, vec_b) = (
        rows_aligned(&p.a, a, &dims, 0),
        rows_aligned(&p.b, b, &dims, 1),
    );
    let wgmma_fits = device.props().compute_capability == (9, 0)
        && p.a.row_major
        && !p.b.row_major
        && vec_a
        && vec_b;
    let plan = plan.unwrap_or_else(|| {
        let sm_count = device.props().sm_count as usize;
        let batch = p.batch_count();
        tile_table::choose(input, p.m, p.n, p.k, batch, sm_count, wgmma_fits)
    });
    plan.tile.check(input)?;
    if plan.splits == 0 {
        return Err(Error::InvalidArgument("GEMM plan with 0 k splits".into()));
    }
    if plan.tile.wgmma && !wgmma_fits {
        return Err(Error::InvalidArgument(format!(
            "wgmma tile {:?}: needs a Hopper GPU, A [m, k] and B [n, k] with 16-byte aligned rows",
            plan.tile
        )));
    }
    if p.m == 0 || p.n == 0 || p.batch_count() == 0 {
        return Ok(());
    }
    device.bind_to_thread()?;
    Launch::new(&p, plan, &dims, vec_a, vec_b)?.run(device, &p, &dims, a, b, c)
}

/// Whether every matrix row of a 16-bit operand (`index` 0 for A, 1 for B)
/// starts on a 16-byte boundary (base address, offset, ld and batch
/// strides), so that tiles can arrive by 16-byte asynchronous copies.
fn rows_aligned(o: &MatrixOperand, buffer: &CudaBuffer, dims: &[BatchDim], index: usize) -> bool {
    let per = 16 / o.dtype.block_bytes();
    o.dtype != DType::F32
        && buffer.device_ptr().is_multiple_of(16)
        && o.offset.is_multiple_of(per)
        && o.ld.is_multiple_of(per)
        && dims.iter().all(|d| d.strides[index].is_multiple_of(per))
}

fn check_dtypes(p: &GemmProblem) -> Result<()> {
    let float = matches!(p.a.dtype, DType::F32 | DType::F16 | DType::BF16);
    if !float || p.b.dtype != p.a.dtype || !(p.c.dtype == p.a.dtype || p.c.dtype == DType::F32) {
        return Err(Error::Unsupported(format!(
            "mlx GEMM on CUDA with a: {}, b: {}, c: {} (a and b must share F32, F16 or BF16; c that type or F32)",
            p.a.dtype, p.b.dtype, p.c.dtype
        )));
    }
    Ok(())
}

/// The same product transposed, for a column-major C: Cᵀ = Bᵀ·Aᵀ, where
/// Bᵀ (B's memory read the other way) is the new A and Aᵀ the new B, so
/// their buffers swap too.
fn transposed(p: &GemmProblem) -> GemmProblem {
    let flip = |o: &MatrixOperand| MatrixOperand {
        row_major: !o.row_major,
        ..o.clone()
    };
    GemmProblem {
        m: p.n,
        n: p.m,
        a: flip(&p.b),
        b: flip(&p.a),
        c: flip(&p.c),
        ..p.clone()
    }
}

/// Everything one problem's launches share.
struct Launch {
    key: GemmKey,
    plan: CudaGemmPlan,
    /// Depth of one k slice (a multiple of BK); `k` without a split.
    k_chunk: usize,
    grid: (u32, u32, u32),
    /// Matrices per launch: the last two batch dimensions.
    per_launch: usize,
    inner: BatchDim,
    outer: BatchDim,
    /// Dimensions before those two, looped over on the host.
    host_dims: usize,
}

const UNIT: BatchDim = BatchDim {
    size: 1,
    strides: [0; 3],
};

impl Launch {
    fn new(
        p: &GemmProblem,
        plan: CudaGemmPlan,
        dims: &[BatchDim],
        vec_a: bool,
        vec_b: bool,
    ) -> Result<Launch> {
        let tile = plan.tile;
        let input = p.a.dtype;
        let host_dims = dims.len().saturating_sub(2);
        let inner = dims.last().copied().unwrap_or(UNIT);
        let outer = if dims.len() >= 2 {
            dims[dims.len() - 2]
        } else {
            UNIT
        };
        let per_launch = inner.size * outer.size;
        let k_chunk = p.k.div_ceil(plan.splits).div_ceil(tile.bk).max(1) * tile.bk;
        let splits = p.k.div_ceil(k_chunk).max(1);
        let plan = CudaGemmPlan { tile, splits };
        let split_k = splits > 1;
        let key = GemmKey {
            input,
            output: p.c.dtype,
            tile,
            flags: GemmFlags {
                transpose_a: !p.a.row_major,
                transpose_b: !p.b.row_major,
                batched: per_launch > 1,
                align_m: p.m.is_multiple_of(tile.bm),
                align_n: p.n.is_multiple_of(tile.bn),
                align_k: p.k.is_multiple_of(tile.bk),
                use_out_source: !split_k && p.beta != 0.0,
                do_axpby: !split_k && (p.alpha != 1.0 || (p.beta != 0.0 && p.beta != 1.0)),
            },
            vec_a,
            vec_b,
            split_k,
        };
        let z = per_launch * splits;
        let grid_y = p.n.div_ceil(tile.bn);
        if z > MAX_GRID_YZ || grid_y > MAX_GRID_YZ {
            return Err(Error::Unsupported(format!(
                "mlx GEMM: {grid_y} column tiles or {per_launch} batched matrices × {splits} k slices exceed a CUDA grid"
            )));
        }
        Ok(Launch {
            key,
            plan,
            k_chunk,
            grid: (
                u32_of(p.m.div_ceil(tile.bm), "row tiles")?,
                grid_y as u32,
                z as u32,
            ),
            per_launch,
            inner,
            outer,
            host_dims,
        })
    }

    fn run(
        &self,
        device: &CudaDevice,
        p: &GemmProblem,
        dims: &[BatchDim],
        a: &CudaBuffer,
        b: &CudaBuffer,
        c: &mut CudaBuffer,
    ) -> Result<()> {
        let input = p.a.dtype;
        let (in_size, out_size) = (input.block_bytes() as u64, p.c.dtype.block_bytes() as u64);
        let workspace = match self.key.split_k {
            true => {
                let floats = self.per_launch * self.plan.splits * p.m * p.n;
                Some(CudaBuffer::alloc(device, floats * 4)?)
            }
            false => None,
        };
        let partial = workspace
            .as_ref()
            .map_or(c.device_ptr(), |w| w.device_ptr());
        let host = &dims[..self.host_dims];
        let launches: usize = host.iter().map(|d| d.size).product();
        let shared = u32_of(self.plan.tile.shared_bytes(input), "shared memory")?;
        let threads = u32_of(self.plan.tile.threads(input), "threads")?;
        let gemm_key = self.key.kernel_key();
        for index in 0..launches {
            let (mut a_off, mut b_off, mut c_off) = (p.a.offset, p.b.offset, p.c.offset);
            let mut rest = index;
            for d in host.iter().rev() {
                let at = rest % d.size;
                rest /= d.size;
                let [a, b, c] = d.strides;
                (a_off, b_off, c_off) = (a_off + at * a, b_off + at * b, c_off + at * c);
            }
            let c_ptr = c.device_ptr() + c_off as u64 * out_size;
            let args = [
                Arg::Ptr(c_ptr),
                Arg::Ptr(a.device_ptr() + a_off as u64 * in_size),
                Arg::Ptr(b.device_ptr() + b_off as u64 * in_size),
                Arg::Ptr(partial),
                Arg::U32(u32_of(p.m, "m")?),
                Arg::U32(u32_of(p.n, "n")?),
                Arg::U32(u32_of(p.k, "k")?),
                Arg::U32(u32_of(p.a.ld, "lda")?),
                Arg::U32(u32_of(p.b.ld, "ldb")?),
                Arg::U32(u32_of(p.c.ld, "ldc")?),
                Arg::U32(u32_of(self.k_chunk, "k slice")?),
                Arg::U32(self.plan.splits as u32),
                Arg::U32(self.inner.size as u32),
                Arg::U64(self.inner.strides[0] as u64),
                Arg::U64(self.outer.strides[0] as u64),
                Arg::U64(self.inner.strides[1] as u64),
                Arg::U64(self.outer.strides[1] as u64),
                Arg::U64(self.inner.strides[2] as u64),
                Arg::U64(self.outer.strides[2] as u64),
                Arg::F32(p.alpha),
                Arg::F32(p.beta),
            ];
            // SAFETY: the arguments follow the GEMM kernels' common signature; span_within
            // proved every element of every matrix (offsets, lds and batch
            // strides included) lies inside a, b and c; the workspace holds
            // splits × matrices × m × n floats; the tile's shared memory is
            // what its layout indexes; all on the device's one stream.
            unsafe {
                launch_with_shared(device, gemm_key.clone(), self.grid, threads, shared, &args)?
            };
            if self.key.split_k {
                self.reduce(device, p, c_ptr, partial)?;
            }
        }
        // The workspace is freed in stream order after the last reduction.
        drop(workspace);
        Ok(())
    }

    /// C = alpha · Σ slices + beta · C for one launch's matrices.
    fn reduce(&self, device: &CudaDevice, p: &GemmProblem, c_ptr: u64, partial: u64) -> Result<()> {
        let key = split_k_reduce_key(p.c.dtype, p.beta != 0.0, self.per_launch > 1);
        let blocks = u32_of(
            (p.m * p.n).div_ceil(REDUCE_THREADS as usize),
            "reduction blocks",
        )?;
        let args = [
            Arg::Ptr(c_ptr),
            Arg::Ptr(partial),
            Arg::U32(p.m as u32),
            Arg::U32(p.n as u32),
            Arg::U32(p.c.ld as u32),
            Arg::U32(self.plan.splits as u32),
            Arg::U32(self.inner.size as u32),
            Arg::U64(self.inner.strides[2] as u64),
            Arg::U64(self.outer.strides[2] as u64),
            Arg::F32(p.alpha),
            Arg::F32(p.beta),
        ];
        // SAFETY: arguments follow split_k.cu's signature; the GEMM launch
        // before it on the same stream filled the workspace it reads, and
        // C's matrices were bounds-checked (m, n, ld fit 32 bits: checked
        // for the GEMM launch).
        unsafe {
            launch(
                device,
                key,
                (blocks, self.per_launch as u32, 1),
                REDUCE_THREADS,
                &args,
            )
        }
    }
}
