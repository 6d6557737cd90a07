//! Where the matrix runs: every backend of every device present, each a
//! Context built for it with profiling on (every op must leave a record).
//! The CPU is always present; CUDA when the build has the feature and a GPU
//! answers. `METALLIC_TEST_DEVICE=cuda` (or `cuda:N`) demands the GPU: the
//! run then fails, never skips, without one. A new device adds an arm to
//! `devices`; a new backend an entry to `BACKENDS`.

use metallic::ops::matmul::BackendChoice;
use metallic::{Context, Device};

/// The matmul backends every device offers.
const BACKENDS: [BackendChoice; 2] = [BackendChoice::Mlx, BackendChoice::Vendor];

pub struct Target {
    /// `device/backend`, for messages.
    pub name: String,
    pub ctx: Context,
}

impl Target {
    pub fn device(&self) -> &Device {
        self.ctx.device()
    }
}

/// Every target present (and asked for).
pub fn all() -> Vec<Target> {
    devices()
        .into_iter()
        .flat_map(|device| {
            BACKENDS.into_iter().map(move |backend| {
                let ctx = Context::builder(device.clone())
                    .backend(backend)
                    .threads(Some(2))
                    .profile(Some(true))
                    .build()
                    .unwrap_or_else(|e| {
                        panic!("a Context on {device} for {}: {e}", backend.name())
                    });
                Target {
                    name: format!("{device}/{}", backend.name()),
                    ctx,
                }
            })
        })
        .collect()
}

fn devices() -> Vec<Device> {
    let demanded = std::env::var("METALLIC_TEST_DEVICE").ok();
    let mut devices = vec![Device::Cpu];
    match demanded.as_deref().map(str::trim) {
        None | Some("") | Some("cpu") => devices.extend(gpu_if_present()),
        Some(name) => devices.push(
            Device::parse(name)
                .unwrap_or_else(|e| panic!("METALLIC_TEST_DEVICE={name} asks for a device: {e}")),
        ),
    }
    devices
}

/// GPU 0 when this build has CUDA and one answers.
fn gpu_if_present() -> Option<Device> {
    #[cfg(feature = "cuda")]
    if let Ok(gpu) = metallic::device::cuda::CudaDevice::new(0) {
        return Some(Device::Cuda(gpu));
    }
    None
}
