//! The `vendor` backend on the CPU: the `gemm` crate for f32 and f16, bf16
//! and mixed float types through f32 conversions of the spans the batch
//! touches (per call: a float B may be an activation, such as a KV cache,
//! that changes between calls), quantized B through a cache of dequantized
//! weights.
//!
//! Operands keep their layout: row- or column-major with any leading
//! dimension and batch strides map to `gemm`'s row and column strides, with
//! no compaction copy. Work runs on the current rayon pool (the caller
//! installs the Context's pool).

#[cfg(feature = "cuda")]
pub mod cublas;
mod launch;
mod layout;
mod weights;
mod widen;

#[cfg(test)]
mod tests;

use half::f16;

use crate::dtype::DType;
use crate::error::Result;
use crate::ops::matmul::problem::GemmProblem;
use crate::ops::matmul::problem::{Operand, Span};
use launch::{BlasElement, Product};
use layout::{check_float, check_operand, is_injective, Geometry};
use weights::WeightCache;
use widen::{elements, elements_mut, output_scratch, widen, write_output, F32Values};

#[derive(Default)]
pub struct VendorCpu {
    weights: WeightCache,
}

/// Each operand's checked geometry and span.
struct Checked {
    geometry: [Geometry; 3],
    span: [Span; 3],
}

impl VendorCpu {
    pub fn new() -> VendorCpu {
        VendorCpu::default()
    }

    /// Number of quantized weights held dequantized.
    pub fn cached_weights(&self) -> usize {
        self.weights.len()
    }

    /// Drops every dequantized weight (e.g. when a model is unloaded).
    pub fn clear_cache(&self) {
        self.weights.clear();
    }

    /// Computes D = α·A·B + β·C for `p`. `a`, `b`, `c`: the whole byte
    /// contents of each operand's buffer; offsets and strides (in elements)
    /// come from `p`. With β = 0, C is only written, never read.
    pub fn run(&self, p: &GemmProblem, a: &[u8], b: &[u8], c: &mut [u8]) -> Result<()> {
        check_float("a", p.a.dtype)?;
        check_float("c", p.c.dtype)?;
        let (ga, sa) = check_operand(p, Operand::A, a.len())?;
        let (gb, sb) = check_operand(p, Operand::B, b.len())?;
        let (gc, sc) = check_operand(p, Operand::C, c.len())?;
        if p.is_empty() {
            return Ok(());
        }
        let checked = Checked {
            geometry: [ga, gb, gc],
            span: [sa, sb, sc],
        };
        match (p.a.dtype, p.b.dtype, p.c.dtype) {
            (DType::F32, DType::F32, DType::F32) => native::<f32>(p, &checked, a, b, c),
            // gemm's f16 matrix-vector path (m or n = 1) accumulates in f16:
            // 6 ulp off at k = 68 (seed 1795730309496229705); it runs in f32.
            (DType::F16, DType::F16, DType::F16) if p.m > 1 && p.n > 1 => {
                native::<f16>(p, &checked, a, b, c)
            }
            _ => self.widened(p, &checked, a, b, c),
        }
    }

    /// Any other mix of types: every operand as f32 over its span.
    fn widened(
        &self,
        p: &GemmProblem,
        checked: &Checked,
        a: &[u8],
        b: &[u8],
        c: &mut [u8],
    ) -> Result<()> {
        let [sa, sb, sc] = checked.span;
        let a32 = widen("a", p.a.dtype, a, sa)?;
        let b32 = if p.b.dtype.is_quantized() {
            F32Values::Cached(self.weights.get(p.b.dtype, b, sb)?)
        } else {
            widen("b", p.b.dtype, b, sb)?
        };
        let product = product(p, checked, &a32, &b32, [sa.start, sb.start, sc.start]);
        if p.c.dtype == DType::F32 {
            let c32 = elements_mut::<f32>("c", &mut c[sc.start * 4..sc.end * 4])?;
            return product.run(c32);
        }
        let mut c32 = output_scratch(p.c.dtype, c, sc, p.beta != 0.0)?;
        product.run(&mut c32)?;
        let starts = (0..p.batch_count()).map(|i| p.batch_offset(&p.c, i));
        write_output(p.c.dtype, c, sc, &c32, &checked.geometry[2], starts)
    }
}

/// All three operands in one type `gemm` takes directly.
fn native<T: BlasElement + bytemuck::Pod>(
    p: &GemmProblem,
    checked: &Checked,
    a: &[u8],
    b: &[u8],
    c: &mut [u8],
) -> Result<()> {
    let size = size_of::<T>();
    let [sa, sb, sc] = checked.span;
    let a = elements::<T>("a", &a[sa.start * size..sa.end * size])?;
    let b = elements::<T>("b", &b[sb.start * size..sb.end * size])?;
    let c = elements_mut::<T>("c", &mut c[sc.start * size..sc.end * size])?;
    product(p, checked, a, b, [sa.start, sb.start, sc.start]).run(c)
}

/// The launch description for slices that start at buffer elements `bases`.
fn product<'a, T>(
    p: &GemmProblem,
    checked: &Checked,
    a: &'a [T],
    b: &'a [T],
    bases: [usize; 3],
) -> Product<'a, T> {
    let [ga, gb, gc] = checked.geometry;
    let offsets = (0..p.batch_count())
        .map(|i| {
            [
                p.batch_offset(&p.a, i) - bases[0],
                p.batch_offset(&p.b, i) - bases[1],
                p.batch_offset(&p.c, i) - bases[2],
            ]
        })
        .collect();
    Product {
        m: p.m,
        n: p.n,
        k: p.k,
        a,
        b,
        a_geometry: ga,
        b_geometry: gb,
        c_geometry: gc,
        offsets,
        alpha: p.alpha,
        beta: p.beta,
        c_injective: is_injective(p, &p.c, &gc),
    }
}
