//! The float element types a kernel instance reads and writes. Kernels
//! compute in f32: operands are converted while packing and the output
//! while storing, a contiguous run at a time. f16 runs convert with F16C
//! eight at a time when the CPU has it (half's slice conversion calls a
//! function per eight values, which made f16 GEMV 4× slower than f32);
//! bf16 widens by a shift the compiler vectorizes.

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
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx") && is_x86_feature_detected!("f16c") {
            // SAFETY: the CPU has the features (checked just above).
            return unsafe { f16c::widen(src, dst) };
        }
        src.convert_to_f32_slice(dst);
    }

    fn from_f32_slice(src: &[f32], dst: &mut [f16]) {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx") && is_x86_feature_detected!("f16c") {
            // SAFETY: the CPU has the features (checked just above).
            return unsafe { f16c::narrow(src, dst) };
        }
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
        assert_eq!(src.len(), dst.len(), "conversion lengths differ");
        for (d, s) in dst.iter_mut().zip(src) {
            *d = f32::from_bits(u32::from(s.to_bits()) << 16);
        }
    }

    fn from_f32_slice(src: &[f32], dst: &mut [bf16]) {
        dst.convert_from_f32_slice(src);
    }

    fn as_f32(_: &[bf16]) -> Option<&[f32]> {
        None
    }
}

/// f16 ⇄ f32 runs with F16C, eight values per instruction.
#[cfg(target_arch = "x86_64")]
mod f16c {
    use half::f16;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must have AVX and F16C (lengths are checked).
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn widen(src: &[f16], dst: &mut [f32]) {
        assert_eq!(src.len(), dst.len(), "conversion lengths differ");
        let whole = src.len() / 8 * 8;
        for i in (0..whole).step_by(8) {
            let halves = _mm_loadu_si128(src.as_ptr().add(i).cast());
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(halves));
        }
        for (d, s) in dst[whole..].iter_mut().zip(&src[whole..]) {
            *d = s.to_f32();
        }
    }

    /// Rounds to nearest even, as `f16::from_f32` does.
    ///
    /// # Safety
    /// The CPU must have AVX and F16C (lengths are checked).
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn narrow(src: &[f32], dst: &mut [f16]) {
        assert_eq!(src.len(), dst.len(), "conversion lengths differ");
        let whole = src.len() / 8 * 8;
        for i in (0..whole).step_by(8) {
            let floats = _mm256_loadu_ps(src.as_ptr().add(i));
            let halves = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(floats);
            _mm_storeu_si128(dst.as_mut_ptr().add(i).cast(), halves);
        }
        for (d, s) in dst[whole..].iter_mut().zip(&src[whole..]) {
            *d = f16::from_f32(*s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fresh_seed, rng};
    use rand::Rng;

    /// The run conversions equal half's one-value conversions bit for bit,
    /// on every bit pattern class (random bits cover subnormals, infinities
    /// and NaNs) and lengths that leave a tail.
    #[test]
    fn run_conversions_match_half() {
        let seed = fresh_seed();
        let mut r = rng(seed);
        for len in [0, 5, 8, 37] {
            let bits: Vec<u16> = (0..len).map(|_| r.random()).collect();
            let halves: Vec<f16> = bits.iter().map(|&b| f16::from_bits(b)).collect();
            let mut wide = vec![0.0f32; len];
            f16::to_f32_slice(&halves, &mut wide);
            for (w, h) in wide.iter().zip(&halves) {
                assert!(
                    w.to_bits() == h.to_f32().to_bits() || (w.is_nan() && h.is_nan()),
                    "seed {seed}"
                );
            }
            let brains: Vec<bf16> = bits.iter().map(|&b| bf16::from_bits(b)).collect();
            bf16::to_f32_slice(&brains, &mut wide);
            for (w, b) in wide.iter().zip(&brains) {
                assert!(
                    w.to_bits() == b.to_f32().to_bits() || (w.is_nan() && b.is_nan()),
                    "seed {seed}"
                );
            }
            let floats: Vec<f32> = (0..len).map(|_| f32::from_bits(r.random())).collect();
            let mut narrow = vec![f16::ZERO; len];
            f16::from_f32_slice(&floats, &mut narrow);
            for (n, f) in narrow.iter().zip(&floats) {
                let want = f16::from_f32(*f);
                assert!(
                    n.to_bits() == want.to_bits() || (n.is_nan() && want.is_nan()),
                    "{f} (seed {seed})"
                );
            }
        }
    }
}
