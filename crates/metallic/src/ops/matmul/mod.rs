//! Matrix products: the public API on `Context`, one validated problem, and
//! the backends that run it.

pub mod problem;
pub mod vendor;

pub use problem::{GemmProblem, MatrixOperand};
