//! Which backend runs a matrix product: the choice latched from
//! `FORCE_MATMUL_BACKEND` (or the Context builder), and for `auto` a rule
//! over the problem's shape.

use super::problem::GemmProblem;

/// The routing requested for a Context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendChoice {
    /// Always the project's own MLX-style kernels.
    Mlx,
    /// Always the vendor library (the `gemm` crate on the CPU, cuBLAS on
    /// CUDA). `mps` is accepted as its alias: the original Metal design's
    /// vendor library was Metal Performance Shaders.
    Vendor,
    /// Per problem, whichever the measured rule says is faster.
    Auto,
}

/// A backend that runs one dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Mlx,
    Vendor,
}

/// The values `FORCE_MATMUL_BACKEND` accepts, for the warning on others.
pub const ACCEPTED_BACKEND_VALUES: &str = "mlx, vendor (or mps, cublas, blas), auto";

impl BackendChoice {
    /// Parses a setting, case-insensitively, with the design note's aliases.
    pub fn parse(value: &str) -> Option<BackendChoice> {
        match value.trim().to_ascii_lowercase().as_str() {
            "mlx" => Some(BackendChoice::Mlx),
            "vendor" | "mps" | "cublas" | "blas" => Some(BackendChoice::Vendor),
            "auto" => Some(BackendChoice::Auto),
            _ => None,
        }
    }

    /// The choice for a `FORCE_MATMUL_BACKEND` value (`None` when unset):
    /// `auto` when unset or unknown, with the warning to print for an
    /// unknown value.
    pub fn from_setting(value: Option<&str>) -> (BackendChoice, Option<String>) {
        match value {
            None => (BackendChoice::Auto, None),
            Some(v) => match BackendChoice::parse(v) {
                Some(choice) => (choice, None),
                None => (
                    BackendChoice::Auto,
                    Some(format!(
                        "warning: FORCE_MATMUL_BACKEND={v:?} is not one of {ACCEPTED_BACKEND_VALUES}; using auto"
                    )),
                ),
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Mlx => "mlx",
            BackendChoice::Vendor => "vendor",
            BackendChoice::Auto => "auto",
        }
    }
}

impl Backend {
    /// Name recorded by the instrumentation (`mlx`, `vendor`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Mlx => "mlx",
            Backend::Vendor => "vendor",
        }
    }
}

/// A device's rule for `auto`: the backend measured faster for a problem.
pub type AutoRule = fn(&GemmProblem) -> Backend;

/// The backend that runs `problem` under `choice`, where `auto` is the
/// device's rule.
pub fn choose(choice: BackendChoice, auto: AutoRule, problem: &GemmProblem) -> Backend {
    match choice {
        BackendChoice::Mlx => Backend::Mlx,
        BackendChoice::Vendor => Backend::Vendor,
        BackendChoice::Auto => auto(problem),
    }
}

/// `auto` on CUDA, from the tables in docs/PERF.md (H100, 2026-11-26):
/// - m ≤ 8 (decode; `examples/cuda_matmul_table`, calls replayed in a CUDA
///   graph over weights larger than the L2): mlx's GEMV. Float weights:
///   1.43–1.75× cuBLAS on the small matrices, 0.88–0.99 of its time on the
///   large ones. GGUF blocks: 0.69–0.94 of cuBLAS's time on an f16 copy,
///   except gate and gate+up at 1.02–1.06, kept on mlx all the same: cuBLAS
///   would need that f16 copy (3.5× the Q5_0 bytes) and a widening per call.
/// - larger m with half-precision products (f16/bf16, or GGUF blocks widened
///   to f16; `examples/cuda_gemm_bench`): mlx's tiled GEMM on small products
///   — cuBLAS/mlx time 0.95–1.75 on q, k, v, qkv, o at m = 128 and 512
///   (m·n·k ≤ 2²⁹) and on 14-head attention batches at s = 128 (1.5–1.75) —
///   cuBLAS on the larger ones, where mlx's Hopper kernel reaches 0.52–0.93
///   of cuBLAS's speed (gate, gate+up, down, output layer; attention at s =
///   512).
/// - larger m in f32 (exact, no TF32): cuBLAS (mlx's FFMA kernel 0.3–1.5×).
#[cfg(feature = "cuda")]
pub fn cuda_auto_rule(problem: &GemmProblem) -> Backend {
    use crate::dtype::DType::F32;
    if problem.m <= super::mlx::cuda::gemv::MAX_ROWS {
        return Backend::Mlx;
    }
    let batch = problem.batch_count();
    let work = problem
        .m
        .saturating_mul(problem.n)
        .saturating_mul(problem.k)
        .saturating_mul(batch);
    let small = if batch == 1 {
        work <= MLX_CUDA_GEMM_MAX_WORK
    } else {
        work <= MLX_CUDA_BATCHED_MAX_WORK
    };
    let half = !(problem.a.dtype == F32 && problem.b.dtype == F32);
    if half && small {
        Backend::Mlx
    } else {
        Backend::Vendor
    }
}

/// m·n·k up to which mlx's tiled GEMM beat cuBLAS on one matrix (qkv at
/// m = 512 is 0.53·2³⁰; gate at m = 128, 0.52·2³⁰, went to cuBLAS).
#[cfg(feature = "cuda")]
const MLX_CUDA_GEMM_MAX_WORK: usize = 1 << 29;

/// batch·m·n·k up to which it beat cuBLAS on attention batches (14 heads at
/// s = 128: 2²⁴; at s = 512, 2²⁸, cuBLAS was faster).
#[cfg(feature = "cuda")]
const MLX_CUDA_BATCHED_MAX_WORK: usize = 1 << 25;

/// Rows of A from which f32 prefill goes back to the vendor library
/// (packed f32 GEMM): measured faster at m = 32 for mlx, at m = 128 for
/// vendor; the split lies between.
const VENDOR_FROM_M: usize = 64;

/// Elements of one B matrix up to which converting bf16 B to f32 on every
/// call stays cheap (attention's K and V per head: 512 × 64).
const SMALL_BF16_B: usize = 1 << 18;

/// The `auto` rule on the CPU: per problem, the backend measured faster.
///
/// Measured 2026-11-26 on the project's 2-core AMD EPYC VM (AVX-512 F/BW/VL/
/// VNNI/BF16, 32 MiB L3; shared with other jobs, load about 12, so the
/// fastest of up to 100 runs is compared) with
/// `cargo bench -p metallic --bench matmul` (Qwen2.5-0.5B shapes, m = 1 with
/// cold caches as in decoding, m = 32 and 128 warm; docs/PERF.md has the
/// tables). Ratios are slower / faster time:
/// - quantized B (Q5_0, Q8_0, Q4_K, Q6_K): m = 1 mlx on all 12 (×1.7–4.0:
///   it reads the blocks, a quarter to a sixth of the f32 bytes); m = 32
///   mlx on 10 of 12 (×1.0–2.9); m = 128 vendor on 11 of 12 (×1.0–2.0).
/// - f32: m = 1 vendor on the 5 linears (×1.26–1.83), attention within 11%
///   either way; m = 32 mlx on 3 of 5 (×1.3–2.2); m = 128 vendor on all 5
///   (×1.23–1.76).
/// - f16: m = 1 mlx on all 7 (×1.1–10, fastest of 100, 2026-11-26 22:00
///   UTC, load about 4): vendor now widens a matrix-vector product to f32,
///   since `gemm`'s f16 gemv, faster before, accumulates in f16 (see
///   blas/mod.rs); m = 32 mlx on all 5 (×1.4–4.5); m = 128 mlx on 4 of 5
///   (×1.2–1.9).
/// - bf16 (vendor widens B to f32 on every call): m = 1 mlx on 4 of the 5
///   linears (×1.2–7.4), vendor on attention's small B (×2.0–2.3); m = 32
///   and 128 mlx on 7 of 10 (×1.0–3.4).
/// - mixed float types: not measured; mlx (vendor widens every operand).
pub fn auto_rule(problem: &GemmProblem) -> Backend {
    use crate::dtype::DType::{BF16, F32};
    let (m, b_elements) = (problem.m, problem.k.saturating_mul(problem.n));
    let types = (problem.a.dtype, problem.b.dtype, problem.c.dtype);
    let vendor = match types {
        // Quantized weights stay on mlx at every m although vendor wins at
        // m = 128: vendor keeps an f32 copy of each weight it has seen (4–6×
        // the GGUF bytes, about 2 GB for the default model), which breaks the
        // engine's memory budget; mlx reads the blocks in place.
        (_, b, _) if b.is_quantized() => false,
        (F32, F32, F32) => m == 1 || m >= VENDOR_FROM_M,
        (BF16, BF16, BF16) => m == 1 && b_elements <= SMALL_BF16_B,
        _ => false,
    };
    if vendor {
        Backend::Vendor
    } else {
        Backend::Mlx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::ops::matmul::MatrixOperand;

    /// A plain m×n×k product, B stored [n, k] (the weight layout).
    fn problem(m: usize, n: usize, k: usize, a: DType, b: DType) -> GemmProblem {
        let operand = |dtype, row_major, ld| MatrixOperand {
            dtype,
            row_major,
            ld,
            offset: 0,
            batch_strides: vec![],
        };
        GemmProblem {
            m,
            n,
            k,
            batch_shape: vec![],
            a: operand(a, true, k),
            b: operand(b, false, k),
            c: operand(a, true, n),
            alpha: 1.0,
            beta: 0.0,
        }
    }

    #[test]
    fn a_forced_choice_overrides_the_rule_and_auto_follows_it() {
        let p = problem(1, 896, 896, DType::F32, DType::F32);
        let (mlx, vendor): (AutoRule, AutoRule) = (|_| Backend::Mlx, |_| Backend::Vendor);
        assert_eq!(choose(BackendChoice::Mlx, vendor, &p), Backend::Mlx);
        assert_eq!(choose(BackendChoice::Vendor, mlx, &p), Backend::Vendor);
        assert_eq!(choose(BackendChoice::Auto, mlx, &p), Backend::Mlx);
        assert_eq!(choose(BackendChoice::Auto, vendor, &p), Backend::Vendor);
    }

    #[test]
    fn the_cpu_rule_follows_the_measurements() {
        use DType::{BF16, F16, F32, Q4_K};
        for (m, n, k, a, b, expected) in [
            // Quantized weights stay on mlx at every m.
            (1, 896, 896, F32, Q4_K, Backend::Mlx),
            (128, 896, 896, F32, Q4_K, Backend::Mlx),
            // f32: vendor at m = 1 and from m = 64, mlx between.
            (1, 896, 896, F32, F32, Backend::Vendor),
            (32, 896, 896, F32, F32, Backend::Mlx),
            (VENDOR_FROM_M, 896, 896, F32, F32, Backend::Vendor),
            // f16: mlx.
            (1, 896, 896, F16, F16, Backend::Mlx),
            (128, 896, 896, F16, F16, Backend::Mlx),
            // bf16: vendor only for m = 1 with a small B.
            (1, 512, 64, BF16, BF16, Backend::Vendor),
            (1, 4864, 896, BF16, BF16, Backend::Mlx),
            (32, 512, 64, BF16, BF16, Backend::Mlx),
            // Mixed float types: mlx.
            (1, 896, 896, F32, F16, Backend::Mlx),
        ] {
            let p = problem(m, n, k, a, b);
            assert_eq!(auto_rule(&p), expected, "{m}×{n}×{k} {a}·{b}");
        }
    }

    #[test]
    fn settings_parse_with_aliases_and_case() {
        for (value, choice) in [
            ("mlx", BackendChoice::Mlx),
            ("MLX", BackendChoice::Mlx),
            ("vendor", BackendChoice::Vendor),
            ("Mps", BackendChoice::Vendor),
            ("cuBLAS", BackendChoice::Vendor),
            ("blas", BackendChoice::Vendor),
            ("auto", BackendChoice::Auto),
            (" AUTO ", BackendChoice::Auto),
        ] {
            assert_eq!(
                BackendChoice::from_setting(Some(value)),
                (choice, None),
                "{value}"
            );
        }
        assert_eq!(
            BackendChoice::from_setting(None),
            (BackendChoice::Auto, None)
        );
    }

    #[test]
    fn unknown_setting_warns_and_uses_auto() {
        let (choice, warning) = BackendChoice::from_setting(Some("metal"));
        assert_eq!(choice, BackendChoice::Auto);
        let warning = warning.expect("an unknown value must warn");
        for accepted in ["mlx", "vendor", "mps", "cublas", "blas", "auto", "metal"] {
            assert!(warning.contains(accepted), "{warning} lacks {accepted}");
        }
    }
}
