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

/// Where a tensor's memory lives and where its operations run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    /// Host memory; operations run on the Context's thread pool.
    Cpu,
}

impl Device {
    /// Short name for messages and profiles (`cpu`).
    pub fn name(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
        }
    }

    /// Whether the device's memory is host memory the CPU can address.
    pub fn is_host(&self) -> bool {
        match self {
            Device::Cpu => true,
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
