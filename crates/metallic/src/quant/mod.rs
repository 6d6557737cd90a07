//! GGUF block formats and the CPU kernels that compute with them.
//!
//! - `legacy`, `kquants`: each format's layout, dequantization, quantizer.
//! - `convert`: the public dequantize/quantize calls.
//! - `activation`: activations quantized to 8 bits for the integer kernels.
//! - `panel`: weight rows unpacked once into the kernels' integer form.
//! - `dot`: the integer tile kernels (AVX-512 VNNI, AVX2, portable).
//! - `matmul`: `matmul_quantized`, the product of activations with
//!   quantized weight rows.

mod activation;
mod convert;
mod dot;
mod kquants;
mod legacy;
mod matmul;
mod panel;

pub use convert::{dequantize_bf16, dequantize_f16, dequantize_f32, quantize};
pub use dot::Isa;
pub(crate) use dot::IsaKind;
pub use matmul::{matmul_quantized, matmul_quantized_with, QuantizedProduct};
