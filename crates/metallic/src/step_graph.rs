//! Replaying a step of device work as one graph: a decode step queues about
//! 20 small kernels per block, and launched one by one from the host they
//! leave a GPU idle between them. `Context::run_step` captures the step's
//! work once, on its second run (the first compiles kernels and makes the
//! weights' half copies, which a capture may not), and replays it after
//! that with one launch. The step must address the same buffers each time;
//! what changes (token ids, positions) reaches it through a `StepInput` set
//! before the run. A device without graphs (the CPU), a profiled Context
//! (profiling times each op, which a graph cannot) or a Context built with
//! capture off runs the step op by op; a capture that fails does too, with
//! the reason kept. A new device with graphs adds one arm to `run_step`.

use crate::context::Context;
use crate::device::Device;
use crate::error::Result;

/// One recurring step's capture state; make it with `Context::step_graph`
/// and keep it, with the buffers the step uses, for as long as it replays.
pub struct StepGraph {
    /// Runs so far without a graph.
    #[cfg(feature = "cuda")]
    plain_runs: usize,
    /// Why the step runs op by op, when it cannot be captured.
    unavailable: Option<String>,
    #[cfg(feature = "cuda")]
    graph: Option<crate::device::cuda::CapturedGraph>,
}

impl StepGraph {
    /// Why the step runs op by op (not as one graph), if it does; `None`
    /// also before the second run, when capturing starts.
    pub fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// Whether runs now replay a captured graph.
    pub fn captured(&self) -> bool {
        #[cfg(feature = "cuda")]
        if self.graph.is_some() {
            return true;
        }
        false
    }
}

impl Context {
    /// A new step's capture state on the Context's device.
    pub fn step_graph(&self) -> StepGraph {
        let unavailable = if !self.graph_capture() {
            Some(
                "graph capture is off (ContextBuilder::graph_capture, METALLIC_CUDA_GRAPH=0)"
                    .into(),
            )
        } else if matches!(self.device(), Device::Cpu) {
            Some("the CPU runs each op as it is called; it has no graphs".into())
        } else {
            None
        };
        StepGraph {
            #[cfg(feature = "cuda")]
            plain_runs: 0,
            unavailable,
            #[cfg(feature = "cuda")]
            graph: None,
        }
    }

    /// Runs the step `queue` queues: replays its graph once captured,
    /// captures it on the second run where the device can, else queues it op
    /// by op. `queue` runs at most twice per call (again op by op when a
    /// capture fails).
    pub fn run_step(
        &self,
        step: &mut StepGraph,
        mut queue: impl FnMut() -> Result<()>,
    ) -> Result<()> {
        if self.instrumentation().enabled() || step.unavailable.is_some() {
            return queue();
        }
        #[cfg(feature = "cuda")]
        if let Device::Cuda(cuda) = self.device() {
            if let Some(graph) = &step.graph {
                return graph.launch();
            }
            if step.plain_runs == 0 {
                step.plain_runs += 1;
                return queue();
            }
            return match cuda.capture(&mut queue) {
                Ok(graph) => step.graph.insert(graph).launch(),
                Err(e) => {
                    step.unavailable = Some(e.to_string());
                    queue()
                }
            };
        }
        queue()
    }
}
