//! `Context`: everything an operation needs besides its operands — the
//! device, a thread pool, reusable buffers, the matmul backends with their
//! routing, the instrumentation, and whether recurring steps are captured as
//! graphs. The environment (`FORCE_MATMUL_BACKEND`, `METALLIC_THREADS`,
//! `METALLIC_PROFILE`, `METALLIC_CUDA_GRAPH`) is read once, when the Context
//! is built; changing it later does not affect it.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::instrument::Instrumentation;
use crate::ops::matmul::{BackendChoice, MatmulBackends};
use crate::resource_cache::ResourceCache;
use std::sync::{Arc, Mutex, MutexGuard, Once};

/// The device, thread pool, buffer cache, matmul backends and routing, and
/// instrumentation that operations run with.
pub struct Context {
    device: Device,
    pool: Arc<rayon::ThreadPool>,
    backend_choice: BackendChoice,
    resources: Mutex<ResourceCache>,
    /// The device's matmul backends (with their kernel caches and device
    /// state) and its `auto` rule.
    matmul_backends: MatmulBackends,
    instrumentation: Instrumentation,
    /// Whether `run_step` may capture steps as graphs.
    graph_capture: bool,
}

/// Options for a `Context`; each left unset comes from the environment.
pub struct ContextBuilder {
    device: Device,
    threads: Option<usize>,
    backend: Option<BackendChoice>,
    profile: Option<bool>,
    graph_capture: Option<bool>,
}

impl Context {
    /// A Context for `device` configured from the environment.
    pub fn new(device: Device) -> Result<Context> {
        Context::builder(device).build()
    }

    pub fn builder(device: Device) -> ContextBuilder {
        ContextBuilder {
            device,
            threads: None,
            backend: None,
            profile: None,
            graph_capture: None,
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The matmul routing latched when the Context was built.
    pub fn backend_choice(&self) -> BackendChoice {
        self.backend_choice
    }

    /// Number of worker threads the Context's operations use.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `op` inside the Context's thread pool, so rayon work it starts
    /// uses the Context's threads.
    pub fn install<R: Send>(&self, op: impl FnOnce() -> R + Send) -> R {
        self.pool.install(op)
    }

    /// Dispatch records and summaries (empty unless profiling is on).
    pub fn instrumentation(&self) -> &Instrumentation {
        &self.instrumentation
    }

    /// Whether recurring steps may be captured as graphs (see `step_graph`).
    pub fn graph_capture(&self) -> bool {
        self.graph_capture
    }

    /// The matmul backends of the Context's device.
    pub fn matmul_backends(&self) -> &MatmulBackends {
        &self.matmul_backends
    }

    /// The Context's own buffer cache, for callers that reuse outputs across
    /// calls (pass it to `matmul_alpha_beta_with_cache`).
    pub fn resource_cache(&self) -> Result<MutexGuard<'_, ResourceCache>> {
        self.resources
            .lock()
            .map_err(|_| Error::Device("resource cache poisoned by a panic".into()))
    }
}

impl ContextBuilder {
    /// Worker threads; `None` reads `METALLIC_THREADS`, else uses every core.
    pub fn threads(mut self, threads: Option<usize>) -> Self {
        self.threads = threads;
        self
    }

    /// Matmul routing, overriding `FORCE_MATMUL_BACKEND`.
    pub fn backend(mut self, backend: BackendChoice) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Profiling; `None` reads `METALLIC_PROFILE` and
    /// `METALLIC_PROFILE_JSONL`, `Some(true)` turns it on (still streaming to
    /// `METALLIC_PROFILE_JSONL` when that is set), `Some(false)` off.
    pub fn profile(mut self, profile: Option<bool>) -> Self {
        self.profile = profile;
        self
    }

    /// Capturing recurring steps (decode) as device graphs; `None` reads
    /// `METALLIC_CUDA_GRAPH` (`0` turns it off), else on.
    pub fn graph_capture(mut self, capture: Option<bool>) -> Self {
        self.graph_capture = capture;
        self
    }

    pub fn build(self) -> Result<Context> {
        let threads = match self.threads {
            Some(n) => n,
            None => threads_from_setting(std::env::var("METALLIC_THREADS").ok().as_deref())?,
        };
        if threads == 0 {
            return Err(Error::InvalidArgument(
                "a Context needs at least one thread".into(),
            ));
        }
        let backend_choice = self.backend.unwrap_or_else(backend_from_env);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("metallic-{i}"))
            .build()
            .map_err(|e| Error::Device(format!("cannot start {threads} worker threads: {e}")))?;
        let pool = Arc::new(pool);
        let matmul_backends = MatmulBackends::for_device(&self.device, &pool)?;
        matmul_backends.check_choice(backend_choice, &self.device)?;
        let instrumentation = match self.profile {
            None => Instrumentation::from_env(),
            Some(false) => Instrumentation::new(false, None)?,
            Some(true) => match Instrumentation::from_env() {
                from_env if from_env.enabled() => from_env,
                _ => Instrumentation::new(true, None)?,
            },
        };
        Ok(Context {
            device: self.device,
            pool,
            backend_choice,
            resources: Mutex::new(ResourceCache::new()),
            matmul_backends,
            instrumentation,
            graph_capture: self
                .graph_capture
                .unwrap_or_else(|| std::env::var("METALLIC_CUDA_GRAPH").as_deref() != Ok("0")),
        })
    }
}

/// Thread count for a `METALLIC_THREADS` value (`None` when unset: every
/// available core).
pub fn threads_from_setting(value: Option<&str>) -> Result<usize> {
    match value {
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(Error::Config {
                key: "METALLIC_THREADS".into(),
                detail: format!("{v:?} is not a positive thread count"),
            }),
        },
    }
}

/// Reads `FORCE_MATMUL_BACKEND`; an unknown value is logged as a warning
/// once per process, then `auto` is used.
fn backend_from_env() -> BackendChoice {
    static WARN_ONCE: Once = Once::new();
    let value = std::env::var("FORCE_MATMUL_BACKEND").ok();
    let (choice, warning) = BackendChoice::from_setting(value.as_deref());
    if let Some(warning) = warning {
        WARN_ONCE.call_once(|| tracing::warn!("{warning}"));
    }
    choice
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_options_override_the_environment() {
        let ctx = Context::builder(Device::Cpu)
            .threads(Some(3))
            .backend(BackendChoice::Vendor)
            .graph_capture(Some(false))
            .build()
            .unwrap();
        assert_eq!(ctx.threads(), 3);
        assert_eq!(ctx.backend_choice(), BackendChoice::Vendor);
        assert_eq!(ctx.install(rayon::current_num_threads), 3);
        assert_eq!(ctx.device(), &Device::Cpu);
        assert!(!ctx.graph_capture());
    }

    #[test]
    fn thread_settings_are_checked() {
        assert_eq!(threads_from_setting(Some("4")).unwrap(), 4);
        assert!(threads_from_setting(None).unwrap() >= 1);
        assert!(threads_from_setting(Some("0")).is_err());
        assert!(threads_from_setting(Some("many")).is_err());
        assert!(Context::builder(Device::Cpu)
            .threads(Some(0))
            .build()
            .is_err());
    }
}
