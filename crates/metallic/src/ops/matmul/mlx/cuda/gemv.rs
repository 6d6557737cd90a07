//! The GEMV family (decode: m ≤ 8 rows of A) of the mlx backend on CUDA.
//! One launch per problem, batches over the grid's z, every operand read in
//! place through its strides (no copies); each weight byte is read once per
//! call and shared by all rows of A. `plan` picks the kernel and its flags
//! from the problem; `run` checks the buffers and launches it.

use std::borrow::Cow;

use crate::device::cuda::{launch, u32_of, Arg, CudaBuffer, CudaDevice, KernelKey, KernelSource};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::matmul::problem::{BatchDim, GemmProblem, MatrixOperand, Operand};

static SOURCE: KernelSource = KernelSource {
    name: "mlx_gemv",
    text: include_str!("gemv.cu"),
};

/// Most rows of A one GEMV takes (its accumulators live in registers).
pub const MAX_ROWS: usize = 8;

/// Weight (B) types read directly as GGUF blocks.
pub const BLOCK_TYPES: [DType; 7] = [
    DType::Q8_0,
    DType::Q5_0,
    DType::Q4_K,
    DType::Q6_K,
    DType::Q4_0,
    DType::Q4_1,
    DType::Q5_1,
];

/// Warps per block of the [n, k] kernels (DOT_WARPS / split rows) and
/// threads of the [k, n] kernel's blocks (32 columns each); as in gemv.cu.
const DOT_WARPS: usize = 4;
const KN_THREADS: u32 = 256;
const KN_COLUMNS: usize = 32;
/// Batch dimensions the kernels index (after nesting ones are merged).
const MAX_BATCH_DIMS: usize = 2;
/// `split_for`'s thresholds, from the split columns of
/// examples/cuda_matmul_table.rs on the H100 (docs/PERF.md): weight bytes a
/// warp takes in one step (float: 32 lanes × 4 uint4 loads; blocks: less,
/// their decoding costs more), and the warps in all below which rows are
/// split anyway and above which they are not.
const SPLIT_STEP_BYTES: usize = 2048;
const SPLIT_STEP_BYTES_BLOCKS: usize = 1024;
const SPLIT_MIN_WARPS: usize = 512;
const SPLIT_MAX_WARPS: usize = 4096;
/// Largest grid z.
const MAX_BATCHES: usize = 65_535;

/// How the weights lie: `Nk` is B stored [n, k] (the weight path x·Wᵀ, dot
/// products along contiguous k), `Kn` is B stored [k, n].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WeightLayout {
    Nk,
    Kn,
}

/// One specialization of the GEMV kernels: the entry point and the
/// compile-time flags (`PARAM` in gemv.cu).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemvVariant {
    pub a: DType,
    pub b: DType,
    pub c: DType,
    /// m, the rows of A (1..=8).
    pub rows: usize,
    pub layout: WeightLayout,
    /// A's rows are k-contiguous and 16-byte aligned: vector loads.
    pub a_vec: bool,
    /// Float B [n, k] with 16-byte aligned rows: uint4 loads to registers.
    pub b_vec: bool,
    /// Warps that share one row of B stored [n, k]: 1, 2 or 4.
    pub split: usize,
}

impl GemvVariant {
    fn entry(&self) -> &'static str {
        match (self.layout, self.b.is_quantized()) {
            (WeightLayout::Nk, false) => "gemv_nk_float",
            (WeightLayout::Nk, true) => "gemv_nk_blocks",
            (WeightLayout::Kn, _) => "gemv_kn_float",
        }
    }

    fn param(&self) -> u32 {
        self.rows as u32
            | (u32::from(self.c == DType::F32) << 4)
            | (u32::from(self.a_vec) << 5)
            | (u32::from(self.b_vec) << 6)
            | (self.split.trailing_zeros() << 7)
    }

    fn key(&self) -> KernelKey {
        KernelKey {
            source: &SOURCE,
            entry: Cow::Borrowed(self.entry()),
            act: self.a,
            aux: self.b,
            param: self.param(),
            flags: Cow::Borrowed(""),
        }
    }

    /// The kernel's name with every flag spelled out, e.g.
    /// `gemv_nk_blocks_a_f32_b_q4_k_c_f32_m1_avec`.
    pub fn name(&self) -> String {
        let mut name = format!(
            "{}_a_{}_b_{}_c_{}_m{}",
            self.entry(),
            self.a.name().to_ascii_lowercase(),
            self.b.name().to_ascii_lowercase(),
            self.c.name().to_ascii_lowercase(),
            self.rows
        );
        if self.a_vec {
            name.push_str("_avec");
        }
        if self.b_vec {
            name.push_str("_bvec");
        }
        if self.split > 1 {
            name.push_str(&format!("_split{}", self.split));
        }
        name
    }
}

const NO_BATCH: BatchDim = BatchDim {
    size: 1,
    strides: [0; 3],
};

/// The collapsed batch as (outer, inner) dimensions, or an error when it
/// needs more than two.
fn batch_dims(p: &GemmProblem) -> Result<[BatchDim; 2]> {
    match p.batch_dims()?.as_slice() {
        [] => Ok([NO_BATCH, NO_BATCH]),
        [inner] => Ok([NO_BATCH, *inner]),
        [outer, inner] => Ok([*outer, *inner]),
        _ => Err(Error::Unsupported(format!(
            "mlx GEMV on CUDA: batch shape {:?} with strides that do not merge into {MAX_BATCH_DIMS} dimensions",
            p.batch_shape
        ))),
    }
}

/// Bytes of `elements` values of `dtype`: whole blocks for a quantized
/// type (`what` names the field for the error).
fn bytes_of(dtype: DType, elements: usize, what: &str) -> Result<usize> {
    dtype.bytes_for(elements).ok_or_else(|| {
        Error::Shape(format!(
            "{what} = {elements} is not a whole number of {dtype} blocks of {}",
            dtype.block_size()
        ))
    })
}

/// (row, column) element strides of an m×k or m×n operand.
fn strides(o: &MatrixOperand) -> (usize, usize) {
    if o.row_major {
        (o.ld, 1)
    } else {
        (1, o.ld)
    }
}

/// The variant that runs `p`, or an error naming what it cannot do.
pub fn plan(p: &GemmProblem) -> Result<GemvVariant> {
    if p.m > MAX_ROWS {
        return Err(Error::Unsupported(format!(
            "mlx GEMV on CUDA takes at most {MAX_ROWS} rows of A, not m = {}",
            p.m
        )));
    }
    let (a, b, c) = (p.a.dtype, p.b.dtype, p.c.dtype);
    if !matches!(a, DType::F32 | DType::F16 | DType::BF16) {
        return Err(Error::Unsupported(format!(
            "mlx GEMV on CUDA: activations (a) of type {a} (F32, F16 or BF16 only)"
        )));
    }
    if c != a && c != DType::F32 {
        return Err(Error::Unsupported(format!(
            "mlx GEMV on CUDA: output c of type {c} for {a} activations (c must be {a} or F32)"
        )));
    }
    if b.is_quantized() && !BLOCK_TYPES.contains(&b) {
        return Err(Error::Unsupported(format!(
            "mlx GEMV on CUDA: weight type {b} (blocks read directly: Q8_0, Q5_0, Q4_K, Q6_K, Q4_0, Q4_1, Q5_1)"
        )));
    }
    let layout = if p.b.row_major {
        WeightLayout::Kn
    } else {
        WeightLayout::Nk
    };
    if b.is_quantized() && layout == WeightLayout::Kn {
        return Err(Error::Layout {
            operand: "b",
            detail: format!("{b} weights must be stored [n, k] (blocks along k)"),
        });
    }
    let dims = batch_dims(p)?;
    // Every stride and offset in bytes, whole blocks for quantized B.
    let all_aligned = |o: &MatrixOperand, index: usize, row: usize| -> Result<bool> {
        let mut bytes = vec![
            bytes_of(o.dtype, o.offset, "offset")?,
            bytes_of(o.dtype, row, "ld")?,
        ];
        for dim in &dims {
            bytes.push(bytes_of(o.dtype, dim.strides[index], "batch stride")?);
        }
        Ok(bytes.into_iter().all(|b| b.is_multiple_of(16)))
    };
    let (a_rs, a_cs) = strides(&p.a);
    let a_vec = layout == WeightLayout::Nk
        && a_cs == 1
        && all_aligned(&p.a, 0, if p.m == 1 { 0 } else { a_rs })?;
    let b_row = if p.n == 1 { 0 } else { p.b.ld };
    let b_vec = all_aligned(&p.b, 1, b_row)? && layout == WeightLayout::Nk && !b.is_quantized();
    if b.is_quantized() {
        bytes_of(b, p.k, "k")?;
    }
    Ok(GemvVariant {
        a,
        b,
        c,
        rows: p.m,
        layout,
        a_vec,
        b_vec,
        split: if layout == WeightLayout::Nk {
            split_for(
                p.n * p.batch_count(),
                b.bytes_for(p.k).unwrap_or(0),
                b.is_quantized(),
            )
        } else {
            1
        },
    })
}

/// Warps per row of B [n, k] (1, 2 or 4): doubled while the next count
/// stays within `SPLIT_MAX_WARPS` warps in all and either a warp's share of
/// a row is more than one step or there are fewer than `SPLIT_MIN_WARPS`
/// warps. Measured: down (896 × 4864) runs 1.3-2× faster on 4 warps a row,
/// k and v (128 rows) 10-25% faster, q in f32 13%; gate and the output layer
/// (thousands of rows) slow down when split.
fn split_for(rows: usize, row_bytes: usize, blocks: bool) -> usize {
    let step = if blocks {
        SPLIT_STEP_BYTES_BLOCKS
    } else {
        SPLIT_STEP_BYTES
    };
    let mut split = 1;
    while split < 4
        && rows * split * 2 <= SPLIT_MAX_WARPS
        && (row_bytes > step * split || rows * split < SPLIT_MIN_WARPS)
    {
        split *= 2;
    }
    split
}

/// C = alpha · A · B + beta · C for m ≤ 8 (`plan` says which kernel), on
/// `device`'s stream; beta = 0 never reads C.
pub fn run(
    device: &CudaDevice,
    p: &GemmProblem,
    a: &CudaBuffer,
    b: &CudaBuffer,
    c: &mut CudaBuffer,
) -> Result<()> {
    run_variant(device, p, &plan(p)?, a, b, c)
}

/// `run` with a chosen variant (benchmarks compare them): `plan`'s, with
/// any `split` of 1, 2, 4 for B stored [n, k] and vector loads possibly
/// turned off.
pub fn run_variant(
    device: &CudaDevice,
    p: &GemmProblem,
    variant: &GemvVariant,
    a: &CudaBuffer,
    b: &CudaBuffer,
    c: &mut CudaBuffer,
) -> Result<()> {
    let planned = plan(p)?;
    let fits = GemvVariant {
        a_vec: variant.a_vec && planned.a_vec,
        b_vec: variant.b_vec && planned.b_vec,
        split: variant.split,
        ..planned
    };
    let split_ok = match planned.layout {
        WeightLayout::Nk => [1, 2, 4].contains(&variant.split),
        WeightLayout::Kn => variant.split == 1,
    };
    if fits != *variant || !split_ok {
        return Err(Error::InvalidArgument(format!(
            "GEMV variant {} cannot run this problem (planned: {})",
            variant.name(),
            planned.name()
        )));
    }
    device.check_buffers(&[a, b, &*c], "mlx GEMV")?;
    if p.m == 0 || p.n == 0 || p.batch_count() == 0 {
        return Ok(());
    }
    for (which, buffer) in [(Operand::A, a), (Operand::B, b), (Operand::C, &*c)] {
        p.span_within(which, buffer.len())?;
    }
    let [outer, inner] = batch_dims(p)?;
    let batches = p.batch_count();
    if batches > MAX_BATCHES {
        return Err(Error::Unsupported(format!(
            "mlx GEMV on CUDA: {batches} batches (at most {MAX_BATCHES})"
        )));
    }
    let b_type = p.b.dtype;
    let b_bytes = |e: usize| bytes_of(b_type, e, "b stride");
    let a_size = p.a.dtype.block_bytes() as u64;
    let c_size = p.c.dtype.block_bytes() as u64;
    let b_offset = b_bytes(p.b.offset)?;
    if !b.device_ptr().is_multiple_of(16) {
        return Err(Error::Unsupported(
            "mlx GEMV on CUDA: the weight buffer is not 16-byte aligned".into(),
        ));
    }
    let (a_rs, a_cs) = strides(&p.a);
    let (c_rs, c_cs) = strides(&p.c);
    let u64_of = |v: usize| v as u64;
    let args = [
        Arg::Ptr(c.device_ptr() + u64_of(p.c.offset) * c_size),
        Arg::Ptr(a.device_ptr() + u64_of(p.a.offset) * a_size),
        Arg::Ptr(b.device_ptr() + u64_of(b_offset)),
        Arg::U32(u32_of(p.n, "n")?),
        Arg::U32(u32_of(p.k, "k")?),
        Arg::U64(u64_of(a_rs)),
        Arg::U64(u64_of(a_cs)),
        Arg::U64(u64_of(c_rs)),
        Arg::U64(u64_of(c_cs)),
        Arg::U64(u64_of(b_bytes(p.b.ld)?)),
        Arg::F32(p.alpha),
        Arg::F32(p.beta),
        Arg::U32(u32_of(inner.size, "batch")?),
        Arg::U64(u64_of(outer.strides[0])),
        Arg::U64(u64_of(inner.strides[0])),
        Arg::U64(u64_of(b_bytes(outer.strides[1])?)),
        Arg::U64(u64_of(b_bytes(inner.strides[1])?)),
        Arg::U64(u64_of(outer.strides[2])),
        Arg::U64(u64_of(inner.strides[2])),
        Arg::U64(u64_of(b.len() - b_offset)),
    ];
    let (blocks, threads) = match variant.layout {
        WeightLayout::Nk => (
            p.n.div_ceil(DOT_WARPS / variant.split),
            DOT_WARPS as u32 * 32,
        ),
        WeightLayout::Kn => (p.n.div_ceil(KN_COLUMNS), KN_THREADS),
    };
    let grid = (u32_of(blocks, "GEMV blocks")?, 1, batches as u32);
    // SAFETY: the arguments follow GEMV_ARGS in gemv.cu in order and type;
    // `span_within` proved that every element each operand's strides reach,
    // over the whole batch, lies inside its buffer, and the three buffers
    // belong to this device, whose one stream orders the launch after their
    // writes. The staged loader reads whole 16-byte words only below the
    // weight buffer's end (passed as its length from the offset pointer).
    unsafe { launch(device, variant.key(), grid, threads, &args) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_split_by_the_measured_rule() {
        let bytes = |dtype: DType, k: usize| dtype.bytes_for(k).unwrap();
        // k and v; q and o; q in f32; down; gate in f32; the output layer.
        assert_eq!(split_for(128, bytes(DType::F16, 896), false), 4);
        assert_eq!(split_for(896, bytes(DType::F16, 896), false), 1);
        assert_eq!(split_for(896, bytes(DType::F32, 896), false), 2);
        assert_eq!(split_for(896, bytes(DType::F16, 4864), false), 4);
        assert_eq!(split_for(4864, bytes(DType::F32, 896), false), 1);
        assert_eq!(split_for(151_936, bytes(DType::F16, 896), false), 1);
        // Blocks: down in Q4_K, q in Q5_0, k in Q8_0.
        assert_eq!(split_for(896, bytes(DType::Q4_K, 4864), true), 4);
        assert_eq!(split_for(896, bytes(DType::Q5_0, 896), true), 1);
        assert_eq!(split_for(128, bytes(DType::Q8_0, 896), true), 4);
    }
}
