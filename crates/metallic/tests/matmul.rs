//! The matmul API against a float64 reference, on both backends (each forced
//! through the Context builder, independent of the environment): the design
//! note's scenarios and known gaps, the Qwen2.5-0.5B shapes, dtypes,
//! property tests over random layouts, and misuse that must be an error.

mod matmul {
    pub mod support;

    mod attention;
    mod layouts;
    mod misuse;
    mod properties;
    mod quantized;
    mod qwen;
    mod routing;
}
