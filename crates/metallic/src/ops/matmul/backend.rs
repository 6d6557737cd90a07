//! The seam between `Context` and the matmul backends. `MatmulBackend` is
//! one backend on one device; `MatmulBackends` is the registry of a
//! Context's device (its backends and its `auto` rule), filled by
//! `ContextBuilder` through `MatmulBackends::for_device`.
//!
//! A new device implements `MatmulBackend` for each backend it has and adds
//! one arm to `for_device`; a new backend on a device is one more entry in
//! that device's list. `Context` only routes: it never names a device.

use std::sync::Arc;

use super::problem::GemmProblem;
use super::route::{self, AutoRule, Backend, BackendChoice};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// One matmul backend on one device.
pub trait MatmulBackend: Send + Sync {
    /// Which backend this is: what routing picks it by and profiles record.
    fn backend(&self) -> Backend;

    /// Computes `problem`, D = α·A·B + β·C with C updated in place (β = 0
    /// never reads C), on the buffers of `a`, `b` and `c`, the tensors the
    /// problem was made from. The problem is validated (shapes, dtypes,
    /// layouts, an output whose elements do not overlap); whether each
    /// operand's elements lie inside its buffer is the backend's to check.
    fn run(&self, problem: &GemmProblem, a: &Tensor, b: &Tensor, c: &Tensor) -> Result<()>;
}

/// The backends of one device and the rule `auto` routes by there.
pub struct MatmulBackends {
    backends: Vec<Box<dyn MatmulBackend>>,
    auto: AutoRule,
}

impl MatmulBackends {
    /// A registry of `backends` (one per `Backend` at most) routed by
    /// `auto` under `BackendChoice::Auto`. `auto` must only pick backends
    /// in the list.
    pub fn new(backends: Vec<Box<dyn MatmulBackend>>, auto: AutoRule) -> MatmulBackends {
        MatmulBackends { backends, auto }
    }

    /// The registry of `device`: its backends, sharing the Context's `pool`
    /// where they run on host threads.
    pub(crate) fn for_device(
        device: &Device,
        pool: &Arc<rayon::ThreadPool>,
    ) -> Result<MatmulBackends> {
        match device {
            Device::Cpu => Ok(super::host::backends(pool)),
            #[cfg(feature = "cuda")]
            Device::Cuda(cuda) => super::on_cuda::backends(cuda),
        }
    }

    /// Whether the device has `backend`.
    pub fn has(&self, backend: Backend) -> bool {
        self.backends.iter().any(|b| b.backend() == backend)
    }

    /// Fails, naming the device, when `choice` forces a backend the device
    /// lacks.
    pub fn check_choice(&self, choice: BackendChoice, device: &Device) -> Result<()> {
        let forced = match choice {
            BackendChoice::Mlx => Backend::Mlx,
            BackendChoice::Vendor => Backend::Vendor,
            BackendChoice::Auto => return Ok(()),
        };
        match self.has(forced) {
            true => Ok(()),
            false => Err(Error::Unsupported(format!(
                "matmul backend `{}` does not exist on {device}",
                forced.name()
            ))),
        }
    }

    /// The backend that runs `problem` under `choice`.
    pub fn route(
        &self,
        choice: BackendChoice,
        problem: &GemmProblem,
    ) -> Result<&dyn MatmulBackend> {
        let backend = route::choose(choice, self.auto, problem);
        self.backends
            .iter()
            .find(|b| b.backend() == backend)
            .map(|b| b.as_ref())
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "matmul backend `{}` does not exist on this device",
                    backend.name()
                ))
            })
    }
}
