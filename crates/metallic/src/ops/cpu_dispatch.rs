//! How a non-matmul op runs on the CPU: inside the Context's thread pool,
//! timed and recorded as a dispatch (backend `cpu`) when instrumentation is
//! on. These ops have CPU kernels only; another device gets an error.

use crate::context::Context;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::instrument::DispatchRecord;
use std::time::Instant;

/// The shape an op reports: `rows` × `cols`, and `k` for a third extent
/// where the op has one (0 otherwise).
pub(crate) struct OpShape {
    pub rows: usize,
    pub cols: usize,
    pub k: usize,
}

/// Runs `work` on the Context's pool; records `op` when instrumented.
pub(crate) fn run(
    ctx: &Context,
    op: &'static str,
    shape: OpShape,
    work: impl FnOnce() -> Result<()> + Send,
) -> Result<()> {
    if !matches!(ctx.device(), Device::Cpu) {
        return Err(Error::Unsupported(format!(
            "{op} on {}: it has a CPU kernel only",
            ctx.device()
        )));
    }
    let instrumentation = ctx.instrumentation();
    let start = instrumentation.enabled().then(Instant::now);
    let result = ctx.install(work);
    if let Some(start) = start {
        instrumentation.record(DispatchRecord {
            op,
            backend: "cpu",
            dtype: DType::F32,
            batch: 1,
            m: shape.rows,
            n: shape.cols,
            k: shape.k,
            transpose_a: false,
            transpose_b: false,
            duration: start.elapsed(),
        });
    }
    result
}
