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
use crate::ops::matmul::blas::cublas::check_bounds;
use crate::ops::matmul::problem::{GemmProblem, MatrixOperand};

use super::gemm_key::{split_k_reduce_key, GemmKey};
use super::tile_table::{self, CudaGemmPlan};

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
    check_bounds(problem, &problem.a, "a", problem.m, problem.k, a)?;
    check_bounds(problem, &problem.b, "b", problem.k, problem.n, b)?;
    check_bounds(problem, &problem.c, "c", problem.m, problem.n, c)?;
    let (p, a, b) = match problem.c.row_major {
        true => (problem.clone(), a, b),
        false => (transposed(problem), b, a),
    };
    let dims = batch_dims(&p)?;
    let input = p.a.dtype;
    let (vec_a, vec_b) = (
        rows_aligned(&p.a, a, &dims, |d| d.a),
        rows_aligned(&p.b, b, &dims, |d| d.b),
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

/// Whether every matrix row of a 16-bit operand starts on a 16-byte
/// boundary (base address, offset, ld and batch strides), so that tiles can
/// arrive by 16-byte asynchronous copies.
fn rows_aligned(
    o: &MatrixOperand,
    buffer: &CudaBuffer,
    dims: &[BatchDim],
    stride: fn(&BatchDim) -> usize,
) -> bool {
    let per = 16 / o.dtype.block_bytes();
    o.dtype != DType::F32
        && buffer.device_ptr().is_multiple_of(16)
        && o.offset.is_multiple_of(per)
        && o.ld.is_multiple_of(per)
        && dims.iter().all(|d| stride(d).is_multiple_of(per))
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

/// One batch dimension after collapsing: its size and each operand's stride.
#[derive(Clone, Copy, Debug)]
struct BatchDim {
    size: usize,
    a: usize,
    b: usize,
    c: usize,
}

/// The batch as few dimensions as the strides allow, outermost first: size-1
/// dimensions dropped, and a dimension merged into the next when its stride
/// is the next one's stride times its size for all three operands.
fn batch_dims(p: &GemmProblem) -> Result<Vec<BatchDim>> {
    let rank = p.batch_shape.len();
    for (operand, name) in [(&p.a, "a"), (&p.b, "b"), (&p.c, "c")] {
        if operand.batch_strides.len() != rank {
            return Err(Error::Layout {
                operand: name,
                detail: format!(
                    "{} batch strides for {rank} batch dimensions",
                    operand.batch_strides.len()
                ),
            });
        }
    }
    let mut dims: Vec<BatchDim> = Vec::new();
    for i in (0..rank).filter(|&i| p.batch_shape[i] != 1) {
        let dim = BatchDim {
            size: p.batch_shape[i],
            a: p.a.batch_strides[i],
            b: p.b.batch_strides[i],
            c: p.c.batch_strides[i],
        };
        if dim.c == 0 {
            return Err(Error::Layout {
                operand: "c",
                detail: format!("batch dimension {i} has stride 0: the outputs would overlap"),
            });
        }
        dims.push(dim);
    }
    let mut collapsed: Vec<BatchDim> = Vec::new();
    for dim in dims.into_iter().rev() {
        match collapsed.last_mut() {
            Some(inner)
                if dim.a == inner.a * inner.size
                    && dim.b == inner.b * inner.size
                    && dim.c == inner.c * inner.size =>
            {
                inner.size *= dim.size;
            }
            _ => collapsed.push(dim),
        }
    }
    collapsed.reverse();
    Ok(collapsed)
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
    a: 0,
    b: 0,
    c: 0,
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
            transpose_a: !p.a.row_major,
            transpose_b: !p.b.row_major,
            vec_a,
            vec_b,
            batched: per_launch > 1,
            align_m: p.m.is_multiple_of(tile.bm),
            align_n: p.n.is_multiple_of(tile.bn),
            align_k: p.k.is_multiple_of(tile.bk),
            use_out_source: !split_k && p.beta != 0.0,
            do_axpby: !split_k && (p.alpha != 1.0 || (p.beta != 0.0 && p.beta != 1.0)),
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
                (a_off, b_off, c_off) = (a_off + at * d.a, b_off + at * d.b, c_off + at * d.c);
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
                Arg::U64(self.inner.a as u64),
                Arg::U64(self.outer.a as u64),
                Arg::U64(self.inner.b as u64),
                Arg::U64(self.outer.b as u64),
                Arg::U64(self.inner.c as u64),
                Arg::U64(self.outer.c as u64),
                Arg::F32(p.alpha),
                Arg::F32(p.beta),
            ];
            // SAFETY: the arguments follow the GEMM kernels' common signature; check_bounds
            // proved every element of every matrix (offsets, lds and batch
            // strides included) lies inside a, b and c; the workspace holds
            // splits × matrices × m × n floats; the tile's shared memory is
            // what its layout indexes; all on the device's one stream.
            unsafe { launch_with_shared(device, gemm_key, self.grid, threads, shared, &args)? };
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
            Arg::U64(self.inner.c as u64),
            Arg::U64(self.outer.c as u64),
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
