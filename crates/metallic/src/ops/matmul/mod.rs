//! Matrix products: the public API on `Context`, one validated problem, and
//! the backends that run it.

pub mod problem;
pub mod route;

pub use problem::{GemmProblem, MatrixOperand};
pub use route::{Backend, BackendChoice};
