//! How a non-matmul op runs on any device: its work (a CPU kernel run inside
//! the Context's thread pool, or device work queued on a GPU's stream),
//! timed and recorded as a dispatch when instrumentation is on — by the
//! clock on the CPU, by events around the work on a GPU (which waits for
//! it). The record's backend is the device's name.

use crate::context::Context;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::instrument::DispatchRecord;
use std::time::Instant;

/// The shape an op reports: `rows` × `cols`, and `k` for a third extent
/// where the op has one (0 otherwise).
pub(crate) struct OpShape {
    pub rows: usize,
    pub cols: usize,
    pub k: usize,
}

/// Runs `work` for `op` on the Context's device; records it when instrumented.
pub(crate) fn run(
    ctx: &Context,
    op: &'static str,
    shape: OpShape,
    work: impl FnOnce() -> Result<()> + Send,
) -> Result<()> {
    let instrumentation = ctx.instrumentation();
    if !instrumentation.enabled() {
        return on_device(ctx, work);
    }
    let duration = match ctx.device() {
        Device::Cpu => {
            let start = Instant::now();
            on_device(ctx, work)?;
            start.elapsed()
        }
        #[cfg(feature = "cuda")]
        Device::Cuda(cuda) => cuda.time(work)?.1,
    };
    instrumentation.record(DispatchRecord {
        op,
        backend: ctx.device().name(),
        dtype: DType::F32,
        batch: 1,
        m: shape.rows,
        n: shape.cols,
        k: shape.k,
        transpose_a: false,
        transpose_b: false,
        duration,
    });
    Ok(())
}

/// CPU kernels run on the Context's pool; a GPU's work is only queued.
fn on_device(ctx: &Context, work: impl FnOnce() -> Result<()> + Send) -> Result<()> {
    match ctx.device() {
        Device::Cpu => ctx.install(work),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => work(),
    }
}
