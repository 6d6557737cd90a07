//! One dispatch as the instrumentation sees it, and its JSON-lines form.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::dtype::DType;

/// What ran, on which backend, at which shape, and for how long.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DispatchRecord {
    /// The Context call: `matmul`, `matmul_alpha_beta`, ….
    pub op: &'static str,
    /// The backend that executed it: `mlx`, `vendor`, ….
    pub backend: &'static str,
    /// The activation (A) dtype; for a quantized weight, B's type is in the op.
    #[serde(serialize_with = "dtype_name")]
    pub dtype: DType,
    /// Number of matrices in the batch (1 when unbatched).
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub transpose_a: bool,
    pub transpose_b: bool,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
}

impl DispatchRecord {
    /// The record as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Every field serializes infallibly (strings, integers, bools, finite floats).
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The shape key the summary groups by: dtype, batch, m×n×k, transposes.
    pub(crate) fn shape_key(&self) -> String {
        let t = |transposed: bool| if transposed { 'T' } else { 'N' };
        format!(
            "{} {}x{}x{}x{} {}{}",
            self.dtype,
            self.batch,
            self.m,
            self.n,
            self.k,
            t(self.transpose_a),
            t(self.transpose_b)
        )
    }
}

fn dtype_name<S: Serializer>(dtype: &DType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(dtype.name())
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}
