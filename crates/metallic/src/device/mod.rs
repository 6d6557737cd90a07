//! Devices and their memory. `Device::Cpu` always exists; a GPU device is
//! added beside it under its cargo feature. A `Buffer` is one allocation on
//! a device, shared by the tensors that view it.

mod aligned;
mod borrow;
mod buffer;
#[cfg(feature = "cuda")]
pub mod cuda;

pub use borrow::{HostRead, HostWrite};
pub use buffer::{Buffer, HostBuffer};

use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// Where a tensor's memory lives and where its operations run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    /// Host memory; operations run on the Context's thread pool.
    Cpu,
    /// An NVIDIA GPU: its memory, its stream, its kernels.
    #[cfg(feature = "cuda")]
    Cuda(cuda::CudaDevice),
}

impl Device {
    /// Short name for messages and profiles (`cpu`).
    pub fn name(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => "cuda",
        }
    }

    /// The device a command line names: `cpu`, `cuda` (GPU 0) or `cuda:N`.
    pub fn parse(spec: &str) -> Result<Device> {
        let spec = spec.trim().to_ascii_lowercase();
        if spec == "cpu" {
            return Ok(Device::Cpu);
        }
        let ordinal = match spec.strip_prefix("cuda") {
            Some("") => Some(0),
            Some(rest) => rest.strip_prefix(':').and_then(|n| n.parse::<usize>().ok()),
            None => None,
        };
        match ordinal {
            #[cfg(feature = "cuda")]
            Some(n) => Ok(Device::Cuda(cuda::CudaDevice::new(n)?)),
            #[cfg(not(feature = "cuda"))]
            Some(_) => Err(Error::Unsupported(format!(
                "device `{spec}`: this build has no CUDA support (cargo feature `cuda`)"
            ))),
            None => Err(Error::InvalidArgument(format!(
                "unknown device `{spec}` (cpu, cuda or cuda:N)"
            ))),
        }
    }

    /// Whether this is a CUDA GPU (ops dispatch to its kernels).
    pub fn is_cuda(&self) -> bool {
        !self.is_host()
    }

    /// Runs `work` and measures it: on a GPU by events around the work it
    /// queues on the stream (waiting for it to finish), on the CPU by the
    /// clock.
    pub fn time<R>(&self, work: impl FnOnce() -> Result<R>) -> Result<(R, Duration)> {
        match self {
            Device::Cpu => {
                let started = Instant::now();
                let result = work()?;
                Ok((result, started.elapsed()))
            }
            #[cfg(feature = "cuda")]
            Device::Cuda(cuda) => cuda.time(work),
        }
    }

    /// Whether the device's memory is host memory the CPU can address.
    pub fn is_host(&self) -> bool {
        match self {
            Device::Cpu => true,
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => false,
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            #[cfg(feature = "cuda")]
            Device::Cuda(device) => write!(f, "cuda:{}", device.props().ordinal),
            _ => f.write_str(self.name()),
        }
    }
}
