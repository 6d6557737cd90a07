//! Matrix products: the public API on `Context`, one validated problem, and
//! the backends that run it.

pub mod mlx;
pub mod problem;

pub use problem::{GemmProblem, MatrixOperand};
