//! A tensor as an operand of a matrix product: read as stored, or with its
//! last two dimensions swapped (`w.t()`), so that a call reads like the math:
//! `ctx.matmul(&x, w.t())`.
//!
//! The swap is said here rather than by a strided view because GGUF block
//! tensors keep their blocks along the innermost dimension: quantized
//! weights stored [.., N, K] cannot be viewed as [.., K, N], but they can be
//! read transposed.

use super::Tensor;

/// A tensor read as a (batch of) matrices, transposed or not.
#[derive(Clone, Copy, Debug)]
pub struct MatmulArg<'t> {
    tensor: &'t Tensor,
    transposed: bool,
}

impl Tensor {
    /// This tensor read with its last two dimensions swapped, as a matrix
    /// product operand.
    pub fn t(&self) -> MatmulArg<'_> {
        MatmulArg {
            tensor: self,
            transposed: true,
        }
    }
}

impl<'t> MatmulArg<'t> {
    /// The same tensor read the other way.
    pub fn t(self) -> MatmulArg<'t> {
        MatmulArg {
            transposed: !self.transposed,
            ..self
        }
    }

    pub fn tensor(self) -> &'t Tensor {
        self.tensor
    }

    /// Whether the last two dimensions are read swapped.
    pub fn is_transposed(self) -> bool {
        self.transposed
    }
}

impl<'t> From<&'t Tensor> for MatmulArg<'t> {
    fn from(tensor: &'t Tensor) -> Self {
        MatmulArg {
            tensor,
            transposed: false,
        }
    }
}

impl<'t> From<&MatmulArg<'t>> for MatmulArg<'t> {
    fn from(arg: &MatmulArg<'t>) -> Self {
        *arg
    }
}
