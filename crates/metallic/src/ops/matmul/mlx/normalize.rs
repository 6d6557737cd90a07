//! Rewrites a validated problem into the form the drivers take, without
//! touching data: C row-major (else Dᵀ = Bᵀ·Aᵀ, with A and B swapping
//! roles), size-1 batch dimensions dropped, and trailing batch dimensions
//! over which B is shared folded into m when A's and C's matrices there are
//! stacked rows (`[h, m, k] × [k, n]` is one `[h·m, k] × [k, n]` product:
//! B is streamed once instead of h times, and m = 1 rows become a blocked
//! product).

use crate::ops::matmul::{GemmProblem, MatrixOperand};
use std::borrow::Cow;

/// The normalized problem, and whether A and B swapped roles.
pub(super) fn normalize(p: &GemmProblem) -> (Cow<'_, GemmProblem>, bool) {
    let swapped = !p.c.row_major;
    let mut q = if swapped {
        Cow::Owned(transposed(p))
    } else {
        Cow::Borrowed(p)
    };
    while let Some(dim) = q.batch_shape.iter().position(|&d| d == 1) {
        remove_batch_dim(q.to_mut(), dim);
    }
    while folds_into_m(&q) {
        let q = q.to_mut();
        let last = q.batch_shape.len() - 1;
        q.m *= q.batch_shape[last];
        remove_batch_dim(q, last);
    }
    (q, swapped)
}

/// The same product with C row-major: every operand's layout flips.
fn transposed(p: &GemmProblem) -> GemmProblem {
    let flip = |operand: &MatrixOperand| MatrixOperand {
        row_major: !operand.row_major,
        ..operand.clone()
    };
    GemmProblem {
        m: p.n,
        n: p.m,
        k: p.k,
        batch_shape: p.batch_shape.clone(),
        a: flip(&p.b),
        b: flip(&p.a),
        c: flip(&p.c),
        alpha: p.alpha,
        beta: p.beta,
    }
}

/// B is shared along the last batch dimension, and there the matrices of A
/// and C follow each other row after row.
fn folds_into_m(p: &GemmProblem) -> bool {
    let Some(last) = p.batch_shape.len().checked_sub(1) else {
        return false;
    };
    let stacked = |operand: &MatrixOperand| {
        operand.row_major && p.m.checked_mul(operand.ld) == Some(operand.batch_strides[last])
    };
    p.b.batch_strides[last] == 0 && stacked(&p.a) && stacked(&p.c)
}

fn remove_batch_dim(p: &mut GemmProblem, dim: usize) {
    p.batch_shape.remove(dim);
    for operand in [&mut p.a, &mut p.b, &mut p.c] {
        operand.batch_strides.remove(dim);
    }
}
