//! Products on CUDA whose operand types a float GEMM cannot take as they
//! are: GGUF blocks in B (a weight), or A and B of different float types.
//! Such operands are widened to one half type — bf16 when either operand is
//! bf16, else f16 — over every value index up to the last one the product
//! reaches, so each element keeps its index and the problem's offsets,
//! leading dimensions and batch strides stay valid as they are. C keeps its
//! type (cuBLAS and the tiled GEMM write f32 from half inputs).
//!
//! A quantized B is widened once per weight and kept (prefill calls it again
//! and again; on an 80 GB card the f16 copies of a 0.5B model's weights,
//! ~1 GB, are cheap); a float operand is widened per call into a fresh
//! buffer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::device::cuda::CudaBuffer;
use crate::device::Buffer;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::cuda::dequantize;
use crate::ops::matmul::problem::{GemmProblem, Operand};
use crate::tensor::Tensor;

/// A product's operands in the types it runs with: the widened problem and,
/// for each of A and B, its widened buffer (`None`: use the original).
pub(super) struct Widened {
    pub problem: GemmProblem,
    pub a: Option<Arc<CudaBuffer>>,
    pub b: Option<Arc<CudaBuffer>>,
}

/// Widened copies of quantized weights, one per (weight buffer, half type).
#[derive(Default)]
pub(super) struct WidenedWeights {
    entries: Mutex<HashMap<(usize, DType), Entry>>,
}

struct Entry {
    /// Holds the source alive, so its address (the key) is never reused
    /// for another buffer while the copy is kept.
    _source: Arc<Buffer>,
    copy: Arc<CudaBuffer>,
}

/// Whether `p` needs widening before a float GEMM can run it.
fn needs_widening(p: &GemmProblem) -> bool {
    p.b.dtype.is_quantized() || p.a.dtype != p.b.dtype
}

impl WidenedWeights {
    /// `p` with A and B in one half type, or `None` when it needs no
    /// widening. `a` and `b` are the tensors `p` was derived from.
    pub(super) fn widen(&self, p: &GemmProblem, a: &Tensor, b: &Tensor) -> Result<Option<Widened>> {
        if !needs_widening(p) {
            return Ok(None);
        }
        let half = if p.a.dtype == DType::BF16 || p.b.dtype == DType::BF16 {
            DType::BF16
        } else {
            DType::F16
        };
        let mut problem = p.clone();
        let a_copy = if p.a.dtype != half {
            problem.a.dtype = half;
            Some(Arc::new(widen_values(a, half, p.span(Operand::A)?.end)?))
        } else {
            None
        };
        let b_copy = if p.b.dtype == half {
            None
        } else if p.b.dtype.is_quantized() {
            problem.b.dtype = half;
            Some(self.weight(b, half)?)
        } else {
            problem.b.dtype = half;
            Some(Arc::new(widen_values(b, half, p.span(Operand::B)?.end)?))
        };
        Ok(Some(Widened {
            problem,
            a: a_copy,
            b: b_copy,
        }))
    }

    /// The kept half copy of weight `b`'s whole buffer, made on first use.
    fn weight(&self, b: &Tensor, half: DType) -> Result<Arc<CudaBuffer>> {
        let key = (Arc::as_ptr(b.buffer()) as usize, half);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.get(&key) {
            return Ok(entry.copy.clone());
        }
        let dtype = b.dtype();
        let storage = cuda_storage(b, "b")?;
        let values = storage.len() / dtype.block_bytes() * dtype.block_size();
        let copy = Arc::new(widen_values(b, half, values)?);
        entries.insert(
            key,
            Entry {
                _source: b.buffer().clone(),
                copy: copy.clone(),
            },
        );
        Ok(copy)
    }
}

/// Values `0..n` of `t`'s buffer (in `t`'s type) converted to `half`.
fn widen_values(t: &Tensor, half: DType, n: usize) -> Result<CudaBuffer> {
    let storage = cuda_storage(t, "operand")?;
    let source = storage.read()?;
    let bytes = half
        .bytes_for(n)
        .ok_or_else(|| Error::Shape(format!("{n} values do not fit a {half} buffer")))?;
    let mut out = CudaBuffer::alloc(source.device(), bytes)?;
    dequantize(&mut out, half, &source, t.dtype(), n)?;
    Ok(out)
}

fn cuda_storage<'t>(t: &'t Tensor, name: &str) -> Result<&'t crate::device::cuda::CudaStorage> {
    t.buffer()
        .cuda()
        .ok_or_else(|| Error::InvalidArgument(format!("operand `{name}` is not in CUDA memory")))
}
