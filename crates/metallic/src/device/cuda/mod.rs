//! The CUDA device (feature `cuda`): one cudarc context and one stream per
//! device, device buffers, and kernels compiled at run time by NVRTC.
//!
//! All work of a `CudaDevice` goes onto its one stream, in order, so no
//! cross-stream synchronization is needed; the host waits only where it reads
//! a result (`CudaBuffer::to_vec`, `CudaDevice::synchronize`).

mod buffer;
mod compile;
mod disk_cache;
mod graph;
mod kernels;
mod library;
mod storage;

use std::path::PathBuf;
use std::sync::Arc;

use cudarc::driver::{sys, CudaContext, CudaStream, DriverError};

use crate::error::{Error, Result};

pub use buffer::CudaBuffer;
pub use graph::CapturedGraph;
pub(crate) use kernels::{launch, launch_with_shared, u32_of, Arg};
pub use kernels::{KernelKey, KernelSource, KernelStats};
pub(crate) use library::{with_library, Library};
pub use storage::{CudaRead, CudaStorage, CudaWrite};

/// What the kernels and backends need to know about the card.
#[derive(Clone, Debug)]
pub struct DeviceProps {
    pub ordinal: usize,
    pub name: String,
    /// Compute capability (major, minor): (9, 0) on the H100.
    pub compute_capability: (u32, u32),
    pub sm_count: u32,
    pub total_memory: usize,
    /// The driver's CUDA version as it reports it (13000 for 13.0).
    pub driver_version: i32,
}

impl DeviceProps {
    /// The architecture NVRTC compiles for: `sm_90` on the H100.
    pub fn arch(&self) -> String {
        format!(
            "sm_{}{}",
            self.compute_capability.0, self.compute_capability.1
        )
    }
}

/// A CUDA device with its stream and kernel cache. Cloning shares them.
#[derive(Clone)]
pub struct CudaDevice {
    inner: Arc<Inner>,
}

struct Inner {
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    props: DeviceProps,
    kernels: kernels::KernelCache,
}

/// Two handles are equal when they are the same device (context and stream).
impl PartialEq for CudaDevice {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other)
    }
}

impl Eq for CudaDevice {}

impl std::hash::Hash for CudaDevice {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.inner).hash(state);
    }
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.inner.props;
        write!(f, "cuda:{} ({}, {})", p.ordinal, p.name, p.arch())
    }
}

impl CudaDevice {
    /// Opens device `ordinal` (`cuda:N`). Fails with `Error::Device` when the
    /// driver is missing, no such device exists, or the context cannot be made.
    /// Compiled kernels are cached on disk under `$METALLIC_HOME/kernels`
    /// (see `with_kernel_dir`), read from the environment once, here.
    pub fn new(ordinal: usize) -> Result<Self> {
        Self::with_kernel_dir(ordinal, disk_cache::default_dir())
    }

    /// Like `new`, with compiled kernels cached in `kernel_dir` (`None`: not
    /// on disk at all).
    pub fn with_kernel_dir(ordinal: usize, kernel_dir: Option<PathBuf>) -> Result<Self> {
        with_library(Library::Driver, || Self::open(ordinal, kernel_dir))
    }

    fn open(ordinal: usize, kernel_dir: Option<PathBuf>) -> Result<Self> {
        let count = CudaContext::device_count().map_err(|e| driver_error("counting devices", e))?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::Device(format!(
                "cuda:{ordinal}: no such device ({count} CUDA device(s) present)"
            )));
        }
        let context = CudaContext::new(ordinal)
            .map_err(|e| driver_error(&format!("creating a context on cuda:{ordinal}"), e))?;
        // SAFETY: every buffer and launch of this device uses the one stream
        // made below, so cudarc's cross-stream event tracking is not needed;
        // no buffer exists yet that was made with tracking on.
        unsafe { context.disable_event_tracking() };
        let stream = context
            .new_stream()
            .map_err(|e| driver_error("creating a stream", e))?;
        let props = read_props(&context)?;
        let kernels = kernels::KernelCache::new(&props, kernel_dir);
        Ok(CudaDevice {
            inner: Arc::new(Inner {
                context,
                stream,
                props,
                kernels,
            }),
        })
    }

    /// Whether `other` is this device (the same context and stream), not
    /// merely the same card: work on two streams would race.
    pub fn same_as(&self, other: &CudaDevice) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Fails unless every buffer belongs to this device.
    pub(crate) fn check_buffers(&self, buffers: &[&CudaBuffer], what: &str) -> Result<()> {
        match buffers.iter().find(|b| !self.same_as(b.device())) {
            None => Ok(()),
            Some(b) => Err(Error::InvalidArgument(format!(
                "{what}: {b:?} belongs to another CudaDevice (another stream) than {self:?}"
            ))),
        }
    }

    pub fn props(&self) -> &DeviceProps {
        &self.inner.props
    }

    /// Free and total device memory in bytes.
    pub fn memory_info(&self) -> Result<(usize, usize)> {
        self.inner
            .context
            .mem_get_info()
            .map_err(|e| driver_error("reading free memory", e))
    }

    /// Waits until all work queued on the device's stream is done, and
    /// reports any error a kernel raised meanwhile.
    pub fn synchronize(&self) -> Result<()> {
        self.inner
            .stream
            .synchronize()
            .map_err(|e| driver_error("synchronizing the stream", e))?;
        self.inner
            .context
            .check_err()
            .map_err(|e| driver_error("a deferred device call", e))
    }

    /// Runs `work` (which queues device work) between two events on the
    /// stream and returns its result with the device time between them;
    /// waits for the work to finish.
    pub fn time<R>(&self, work: impl FnOnce() -> Result<R>) -> Result<(R, std::time::Duration)> {
        let stream = &self.inner.stream;
        let event = |what: &str| {
            stream
                .record_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(|e| driver_error(&format!("recording the {what} event"), e))
        };
        let start = event("start")?;
        let result = work()?;
        let end = event("end")?;
        end.synchronize()
            .map_err(|e| driver_error("waiting for the end event", e))?;
        let ms = start
            .elapsed_ms(&end)
            .map_err(|e| driver_error("reading event times", e))?;
        Ok((result, std::time::Duration::from_secs_f64(ms as f64 / 1e3)))
    }

    /// What the kernel cache has done so far (compiles, disk hits, time).
    pub fn kernel_stats(&self) -> KernelStats {
        self.inner.kernels.stats()
    }

    /// The compiled function for `key`, compiled on first use (or loaded from
    /// the on-disk cache).
    pub(crate) fn function(&self, key: &KernelKey) -> Result<cudarc::driver::CudaFunction> {
        self.inner.kernels.function(&self.inner.context, key)
    }

    /// Makes this device's context current on the calling thread, as
    /// libraries that use the current context (cuBLAS) require.
    pub(crate) fn bind_to_thread(&self) -> Result<()> {
        self.inner
            .context
            .bind_to_thread()
            .map_err(|e| driver_error("making the CUDA context current", e))
    }

    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        &self.inner.stream
    }
}

fn read_props(context: &Arc<CudaContext>) -> Result<DeviceProps> {
    use sys::CUdevice_attribute as A;
    let attr = |a: A, what: &str| {
        context
            .attribute(a)
            .map_err(|e| driver_error(&format!("reading {what}"), e))
    };
    let major = attr(
        A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
        "compute capability",
    )?;
    let minor = attr(
        A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
        "compute capability",
    )?;
    let sm_count = attr(
        A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
        "multiprocessor count",
    )?;
    let mut driver_version = 0;
    // SAFETY: cuDriverGetVersion writes one int through a valid pointer.
    unsafe { sys::cuDriverGetVersion(&mut driver_version) }
        .result()
        .map_err(|e| driver_error("reading the driver version", e))?;
    Ok(DeviceProps {
        ordinal: context.ordinal(),
        name: context
            .name()
            .map_err(|e| driver_error("reading the device name", e))?,
        compute_capability: (major as u32, minor as u32),
        sm_count: sm_count as u32,
        total_memory: context
            .total_mem()
            .map_err(|e| driver_error("reading total memory", e))?,
        driver_version,
    })
}

/// An `Error::Device` for a failed driver call, naming what was attempted.
pub(crate) fn driver_error(what: &str, e: DriverError) -> Error {
    let name = e
        .error_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("{:?}", e.0));
    Error::Device(format!("{what}: {name} ({e:?})"))
}
