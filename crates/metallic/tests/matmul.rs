//! The matmul API against the float64 reference, on both CPU backends (each
//! forced through the Context builder, independent of the environment): the
//! design note's scenarios and known gaps, property tests over random
//! layouts, and misuse that must be an error. The model's shapes, weight
//! types and attention products on every device are cases of the
//! cross-backend matrix (`backend_ops.rs`).

mod reference;

mod matmul {
    pub mod support;

    mod layouts;
    mod misuse;
    mod properties;
    mod routing;
}
