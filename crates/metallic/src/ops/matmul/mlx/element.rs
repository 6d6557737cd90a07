//! The float element types a kernel instance reads and writes. Kernels
//! compute in f32: operands are converted while packing and the output
//! while storing, a contiguous run at a time (half's slice conversions use
//! F16C where the CPU has it).

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

pub(crate) trait Element: bytemuck::Pod + Send + Sync {
    fn to_f32(self) -> f32;

    /// Widens `src` into `dst` (same length).
    fn to_f32_slice(src: &[Self], dst: &mut [f32]);

    /// Rounds `src` into `dst` (same length).
    fn from_f32_slice(src: &[f32], dst: &mut [Self]);

    /// The run itself when it already is f32, so hot loops skip a copy.
    fn as_f32(src: &[Self]) -> Option<&[f32]>;
}

impl Element for f32 {
    fn to_f32(self) -> f32 {
        self
    }

    fn to_f32_slice(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }

    fn from_f32_slice(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }

    fn as_f32(src: &[f32]) -> Option<&[f32]> {
        Some(src)
    }
}

impl Element for f16 {
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }

    fn to_f32_slice(src: &[f16], dst: &mut [f32]) {
        src.convert_to_f32_slice(dst);
    }

    fn from_f32_slice(src: &[f32], dst: &mut [f16]) {
        dst.convert_from_f32_slice(src);
    }

    fn as_f32(_: &[f16]) -> Option<&[f32]> {
        None
    }
}

impl Element for bf16 {
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }

    fn to_f32_slice(src: &[bf16], dst: &mut [f32]) {
        src.convert_to_f32_slice(dst);
    }

    fn from_f32_slice(src: &[f32], dst: &mut [bf16]) {
        dst.convert_from_f32_slice(src);
    }

    fn as_f32(_: &[bf16]) -> Option<&[f32]> {
        None
    }
}
