//! The `vendor` backend on CUDA: cuBLAS `cublasGemmStridedBatchedEx`.
//!
//! cuBLAS is column-major. A row-major C (m×n, leading dimension ldc) is, read
//! column-major, Cᵀ (n×m); so the product is computed as Cᵀ = Bᵀ·Aᵀ, with B's
//! memory as cuBLAS's first operand. A column-major C is computed directly.
//! Each operand's transpose flag follows from whether its own layout agrees
//! with C's. The batch becomes one strided-batched call when every operand's
//! batch strides collapse to one stride; otherwise the leading batch
//! dimensions that do not collapse are looped over, one call each
//! (`CublasGemm::plan` says how many calls a problem takes).

use std::ffi::{c_int, c_longlong, c_void};

use cudarc::cublas::{result as blas, sys, CudaBlas};

use crate::device::cuda::{with_library, CudaBuffer, CudaDevice, Library};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::matmul::problem::{GemmProblem, MatrixOperand, Operand};

/// A cuBLAS handle bound to one device's stream.
pub struct CublasGemm {
    blas: CudaBlas,
    device: CudaDevice,
}

impl std::fmt::Debug for CublasGemm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CublasGemm({:?})", self.device)
    }
}

/// How a problem maps onto cuBLAS calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CublasPlan {
    /// Number of `cublasGemmStridedBatchedEx` calls (1 unless the batch
    /// strides do not collapse).
    pub calls: usize,
    /// Matrices per call.
    pub batch_per_call: usize,
}

/// One operand as cuBLAS sees it.
#[derive(Clone, Copy, Debug)]
struct BlasOperand {
    transpose: bool,
    ld: usize,
    stride: usize,
}

/// The whole mapping: cuBLAS dimensions, operands (first, second, output),
/// the inner batch collapsed to one stride, and the element offsets of each
/// outer batch's first matrices.
#[derive(Debug)]
struct Mapping {
    m: usize,
    n: usize,
    k: usize,
    first: BlasOperand,
    second: BlasOperand,
    out: BlasOperand,
    first_is_b: bool,
    inner_count: usize,
    /// (a, b, c) element offsets per call.
    outer_offsets: Vec<(usize, usize, usize)>,
}

impl CublasGemm {
    /// A handle on `device`'s stream; fails with `Error::Device` when the
    /// cuBLAS library is missing or refuses to start.
    pub fn new(device: &CudaDevice) -> Result<Self> {
        with_library(Library::Cublas, || {
            let blas = CudaBlas::new(device.stream().clone())
                .map_err(|e| Error::Device(format!("creating a cuBLAS handle: {e:?}")))?;
            Ok(CublasGemm {
                blas,
                device: device.clone(),
            })
        })
    }

    pub fn device(&self) -> &CudaDevice {
        &self.device
    }

    /// How `p` would run, without running it.
    pub fn plan(&self, p: &GemmProblem) -> Result<CublasPlan> {
        let mapping = map(p)?;
        Ok(CublasPlan {
            calls: mapping.outer_offsets.len(),
            batch_per_call: mapping.inner_count,
        })
    }

    /// D = alpha·A·B + beta·C over the batch, C updated in place. A and B
    /// share one dtype (F32, F16 or BF16); C has that dtype or F32. The
    /// accumulation is f32.
    pub fn run(
        &self,
        p: &GemmProblem,
        a: &CudaBuffer,
        b: &CudaBuffer,
        c: &mut CudaBuffer,
    ) -> Result<()> {
        self.device.check_buffers(&[a, b, &*c], "cuBLAS GEMM")?;
        self.device.bind_to_thread()?;
        let (in_type, out_type) = data_types(p)?;
        let mapping = map(p)?;
        for (which, buffer) in [(Operand::A, a), (Operand::B, b), (Operand::C, &*c)] {
            p.span_within(which, buffer.len())?;
        }
        if p.is_empty() {
            return Ok(());
        }
        let in_size = p.a.dtype.block_bytes();
        let out_size = p.c.dtype.block_bytes();
        let int = |v: usize, what: &str| -> Result<c_int> {
            c_int::try_from(v)
                .map_err(|_| Error::Unsupported(format!("cuBLAS: {what} = {v} exceeds 32 bits")))
        };
        let long = |v: usize| v as c_longlong;
        let (a_ptr, b_ptr, c_ptr) = (a.device_ptr(), b.device_ptr(), c.device_ptr());
        for &(a_off, b_off, c_off) in &mapping.outer_offsets {
            let a_addr = a_ptr + (a_off * in_size) as u64;
            let b_addr = b_ptr + (b_off * in_size) as u64;
            let c_addr = c_ptr + (c_off * out_size) as u64;
            let (first, second) = if mapping.first_is_b {
                (b_addr, a_addr)
            } else {
                (a_addr, b_addr)
            };
            let op = |t: bool| {
                if t {
                    sys::cublasOperation_t::CUBLAS_OP_T
                } else {
                    sys::cublasOperation_t::CUBLAS_OP_N
                }
            };
            // SAFETY: the three buffers live on this handle's device and were
            // checked above to hold every element the batch touches; alpha and
            // beta are f32 host values, as CUBLAS_COMPUTE_32F requires; the
            // call is queued on the device's one stream, which orders it with
            // every other use of these buffers.
            unsafe {
                blas::gemm_strided_batched_ex(
                    *self.blas.handle(),
                    op(mapping.first.transpose),
                    op(mapping.second.transpose),
                    int(mapping.m, "m")?,
                    int(mapping.n, "n")?,
                    int(mapping.k, "k")?,
                    &p.alpha as *const f32 as *const c_void,
                    first as *const c_void,
                    in_type,
                    int(mapping.first.ld, "lda")?,
                    long(mapping.first.stride),
                    second as *const c_void,
                    in_type,
                    int(mapping.second.ld, "ldb")?,
                    long(mapping.second.stride),
                    &p.beta as *const f32 as *const c_void,
                    c_addr as *mut c_void,
                    out_type,
                    int(mapping.out.ld, "ldc")?,
                    long(mapping.out.stride),
                    int(mapping.inner_count, "batch count")?,
                    sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                    sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                )
            }
            .map_err(|e| Error::Device(format!("cublasGemmStridedBatchedEx: {e:?}")))?;
        }
        Ok(())
    }
}

fn data_types(p: &GemmProblem) -> Result<(sys::cudaDataType, sys::cudaDataType)> {
    let blas_type = |d: DType| match d {
        DType::F32 => Some(sys::cudaDataType::CUDA_R_32F),
        DType::F16 => Some(sys::cudaDataType::CUDA_R_16F),
        DType::BF16 => Some(sys::cudaDataType::CUDA_R_16BF),
        _ => None,
    };
    let unsupported = || {
        Error::Unsupported(format!(
            "cuBLAS GEMM with a: {}, b: {}, c: {} (a and b must share F32, F16 or BF16; c that type or F32)",
            p.a.dtype, p.b.dtype, p.c.dtype
        ))
    };
    if p.a.dtype != p.b.dtype || !(p.c.dtype == p.a.dtype || p.c.dtype == DType::F32) {
        return Err(unsupported());
    }
    Ok((
        blas_type(p.a.dtype).ok_or_else(unsupported)?,
        blas_type(p.c.dtype).ok_or_else(unsupported)?,
    ))
}

fn map(p: &GemmProblem) -> Result<Mapping> {
    // The innermost collapsed batch dimension is one strided-batched call;
    // any outer ones are looped over, one call each.
    let mut dims = p.batch_dims()?;
    let inner = dims.pop();
    let inner_count = inner.map_or(1, |d| d.size);
    let stride = |o: usize| inner.map_or(0, |d| d.strides[o]);
    let outer_count: usize = dims.iter().map(|d| d.size).product();
    let mut outer_offsets = Vec::with_capacity(outer_count);
    for index in 0..outer_count {
        let mut rest = index;
        let (mut a, mut b, mut c) = (p.a.offset, p.b.offset, p.c.offset);
        for d in dims.iter().rev() {
            let at = rest % d.size;
            rest /= d.size;
            a += at * d.strides[0];
            b += at * d.strides[1];
            c += at * d.strides[2];
        }
        outer_offsets.push((a, b, c));
    }

    let (m, n, first, second, first_is_b) = if p.c.row_major {
        (p.n, p.m, (&p.b, 1), (&p.a, 0), true)
    } else {
        (p.m, p.n, (&p.a, 0), (&p.b, 1), false)
    };
    let blas_operand = |o: &MatrixOperand, index: usize| BlasOperand {
        transpose: o.row_major != p.c.row_major,
        ld: o.ld,
        stride: stride(index),
    };
    Ok(Mapping {
        m,
        n,
        k: p.k,
        first: blas_operand(first.0, first.1),
        second: blas_operand(second.0, second.1),
        out: BlasOperand {
            transpose: false,
            ld: p.c.ld,
            stride: stride(2),
        },
        first_is_b,
        inner_count,
        outer_offsets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operand(row_major: bool, ld: usize, strides: Vec<usize>) -> MatrixOperand {
        MatrixOperand {
            dtype: DType::F32,
            row_major,
            ld,
            offset: 0,
            batch_strides: strides,
        }
    }

    fn problem(
        batch_shape: Vec<usize>,
        a: Vec<usize>,
        b: Vec<usize>,
        c: Vec<usize>,
    ) -> GemmProblem {
        GemmProblem {
            m: 2,
            n: 3,
            k: 4,
            batch_shape,
            a: operand(true, 4, a),
            b: operand(false, 4, b),
            c: operand(true, 3, c),
            alpha: 1.0,
            beta: 0.0,
        }
    }

    #[test]
    fn nested_batch_strides_collapse_to_one_call() {
        let p = problem(vec![2, 3], vec![24, 8], vec![0, 0], vec![18, 6]);
        let m = map(&p).unwrap();
        assert_eq!((m.outer_offsets.len(), m.inner_count), (1, 6));
        assert_eq!((m.first.stride, m.second.stride, m.out.stride), (0, 8, 6));
        // Row-major C: B's memory goes first; column-major B is transposed,
        // row-major A is not.
        assert!(m.first_is_b && m.first.transpose && !m.second.transpose);
        assert_eq!((m.m, m.n), (3, 2));
    }

    #[test]
    fn non_nesting_strides_loop_over_the_outer_dimension() {
        let p = problem(vec![2, 3], vec![0, 8], vec![100, 12], vec![18, 6]);
        let m = map(&p).unwrap();
        assert_eq!((m.outer_offsets.len(), m.inner_count), (2, 3));
        assert_eq!(m.outer_offsets, vec![(0, 0, 0), (0, 100, 18)]);
    }

    #[test]
    fn overlapping_outputs_are_refused() {
        let p = problem(vec![2], vec![8], vec![12], vec![0]);
        assert!(matches!(map(&p), Err(Error::Layout { operand: "c", .. })));
    }
}
