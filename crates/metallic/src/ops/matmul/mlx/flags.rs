//! The specialization flags the mlx kernels share on every device, after
//! MLX's function constants: the CPU key (`MlxKernelKey`) and the CUDA key
//! (`cuda::GemmKey`) both hold one `GemmFlags` and spell it the same way in
//! their names.

use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GemmFlags {
    /// A is stored column-major (k×m rows in memory).
    pub transpose_a: bool,
    /// B is stored column-major (n×k rows in memory: the weight layout of
    /// `x · Wᵀ`).
    pub transpose_b: bool,
    /// More than one matrix in the batch (each operand with its own batch
    /// strides).
    pub batched: bool,
    /// m, n, k are multiples of BM, BN, BK: no partial tiles or steps.
    pub align_m: bool,
    pub align_n: bool,
    pub align_k: bool,
    /// beta ≠ 0: the epilogue reads C.
    pub use_out_source: bool,
    /// alpha ≠ 1 or beta ∉ {0, 1}: the epilogue scales.
    pub do_axpby: bool,
}

impl GemmFlags {
    /// The transposes as MLX spells them: `nt` for A as stored, B transposed.
    pub fn transposes(&self) -> String {
        let letter = |t: bool| if t { 't' } else { 'n' };
        [letter(self.transpose_a), letter(self.transpose_b)]
            .into_iter()
            .collect()
    }

    /// Appends `_batched`, `_alignM`, `_alignN`, `_alignK`, `_outsrc` and
    /// `_axpby` to `name` for the flags that are set, in that order.
    pub fn spell_into(&self, name: &mut String) {
        let flags = [
            (self.batched, "batched"),
            (self.align_m, "alignM"),
            (self.align_n, "alignN"),
            (self.align_k, "alignK"),
            (self.use_out_source, "outsrc"),
            (self.do_axpby, "axpby"),
        ];
        for (_, flag) in flags.iter().filter(|(on, _)| *on) {
            let _ = write!(name, "_{flag}");
        }
    }
}
