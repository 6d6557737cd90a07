//! CUDA graphs: work queued on the device's stream, captured once and
//! replayed with one launch, the way decode runs many small kernels back to
//! back without a launch gap between them.

use cudarc::driver::sys;

use super::{driver_error, CudaDevice};
use crate::error::{Error, Result};

/// Captured device work, replayed on the device's stream.
pub struct CapturedGraph {
    graph: cudarc::driver::CudaGraph,
}

impl CudaDevice {
    /// Captures the work `queue` puts on the stream (nothing runs yet).
    /// Kernels it launches must already be compiled or loaded: run it once
    /// uncaptured first.
    pub fn capture(&self, queue: impl FnOnce() -> Result<()>) -> Result<CapturedGraph> {
        let stream = self.stream();
        stream
            .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
            .map_err(|e| driver_error("beginning a graph capture", e))?;
        let queued = queue();
        // The capture must end even when queuing failed, or the stream stays
        // in capture mode.
        let graph = stream.end_capture(sys::CUgraphInstantiate_flags(0));
        queued?;
        let graph = graph
            .map_err(|e| driver_error("ending a graph capture", e))?
            .ok_or_else(|| Error::Device("the graph capture recorded no work".into()))?;
        Ok(CapturedGraph { graph })
    }
}

impl CapturedGraph {
    /// Queues one replay of the captured work on the stream.
    pub fn launch(&self) -> Result<()> {
        self.graph
            .launch()
            .map_err(|e| driver_error("launching a graph", e))
    }
}
