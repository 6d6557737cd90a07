//! The kernel cache: each CUDA C++ source is compiled by NVRTC once per
//! device and specialization, lazily, for the device's own architecture, and
//! its CUBIN kept on disk (see `disk_cache`) for the next process.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;

use super::compile::{compile_cubin, nvrtc_version};
use super::disk_cache::{digest, DiskCache};
use super::{driver_error, CudaDevice, DeviceProps};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Storage types, quantized block decoders and conversions every kernel uses.
const COMMON: &str = include_str!("common.cuh");

/// One CUDA C++ source file (one op family), included into the binary.
#[derive(Debug)]
pub struct KernelSource {
    /// Unique among sources; names the module in messages and on disk.
    pub name: &'static str,
    pub text: &'static str,
}

/// One specialization of one kernel: which source and entry point, and the
/// compile-time constants the source is built with (`ACT`, `AUX`, `PARAM`,
/// and any further `-D` defines spelled out in `flags`). A fixed entry and
/// flags are borrowed; names made per specialization are owned by the key.
#[derive(Clone, Debug)]
pub struct KernelKey {
    pub source: &'static KernelSource,
    /// The `extern "C"` function to launch.
    pub entry: Cow<'static, str>,
    /// Storage type of the activations (`ACT` in the source).
    pub act: DType,
    /// Storage type of the other operand: weights, table, cache (`AUX`).
    pub aux: DType,
    /// An integer the source is specialized on (`PARAM`, e.g. head size); 0 if none.
    pub param: u32,
    /// Further compiler options, space-separated (`-DBM=128 -DTRANS_B=1`);
    /// empty for none. Part of the module's identity.
    pub flags: Cow<'static, str>,
}

impl KernelKey {
    fn module(&self) -> ModuleKey {
        ModuleKey {
            source: self.source.name,
            act: self.act,
            aux: self.aux,
            param: self.param,
            flags: self.flags.clone(),
        }
    }

    /// What identifies the key, borrowed (a lookup allocates nothing).
    fn identity(&self) -> (&'static str, DType, DType, u32, &str, &str) {
        let s = self;
        (s.source.name, s.act, s.aux, s.param, &s.flags, &s.entry)
    }
}

impl PartialEq for KernelKey {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for KernelKey {}

impl Hash for KernelKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

/// A module is one source compiled with one set of constants.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ModuleKey {
    source: &'static str,
    act: DType,
    aux: DType,
    param: u32,
    flags: Cow<'static, str>,
}

/// What the cache has done since the device was opened.
#[derive(Clone, Debug, Default)]
pub struct KernelStats {
    /// Modules compiled by NVRTC in this process.
    pub compiled: usize,
    /// Modules loaded from the on-disk cache.
    pub loaded_from_disk: usize,
    /// Time spent in NVRTC.
    pub compile_time: Duration,
    /// Time spent reading cached files and loading modules into the driver.
    pub load_time: Duration,
    /// The first failure to write the on-disk cache, if any (the module is
    /// still used; only the next process pays the compile again).
    pub disk_error: Option<String>,
}

pub(crate) struct KernelCache {
    arch: String,
    driver_version: i32,
    disk: Option<DiskCache>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    modules: HashMap<ModuleKey, Arc<CudaModule>>,
    functions: HashMap<KernelKey, CudaFunction>,
    stats: KernelStats,
}

impl KernelCache {
    pub(crate) fn new(props: &DeviceProps, kernel_dir: Option<PathBuf>) -> Self {
        KernelCache {
            arch: props.arch(),
            driver_version: props.driver_version,
            disk: kernel_dir.map(DiskCache::new),
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn stats(&self) -> KernelStats {
        self.lock().stats.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the maps consistent (entries
        // are inserted whole), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn function(
        &self,
        context: &Arc<CudaContext>,
        key: &KernelKey,
    ) -> Result<CudaFunction> {
        let mut state = self.lock();
        if let Some(f) = state.functions.get(key) {
            return Ok(f.clone());
        }
        let module = match state.modules.get(&key.module()) {
            Some(m) => m.clone(),
            None => {
                let m = self.build(context, key, &mut state.stats)?;
                state.modules.insert(key.module(), m.clone());
                m
            }
        };
        let function = module.load_function(&key.entry).map_err(|e| {
            driver_error(
                &format!(
                    "finding `{}` in kernel source `{}`",
                    key.entry, key.source.name
                ),
                e,
            )
        })?;
        state.functions.insert(key.clone(), function.clone());
        Ok(function)
    }

    /// The device's own architecture unless `flags` names one (an
    /// architecture-specific target such as `sm_90a`), the constants, then
    /// `flags`.
    fn options(&self, key: &KernelKey) -> Vec<String> {
        let names_arch = key
            .flags
            .split_whitespace()
            .any(|f| f.starts_with("--gpu-architecture="));
        let mut options = Vec::new();
        if !names_arch {
            options.push(format!("--gpu-architecture={}", self.arch));
        }
        options.extend([
            "--std=c++17".into(),
            format!("-DACT={}", key.act.gguf_id()),
            format!("-DAUX={}", key.aux.gguf_id()),
            format!("-DPARAM={}", key.param),
        ]);
        options.extend(key.flags.split_whitespace().map(String::from));
        options
    }

    /// Loads the module from disk, or compiles (and stores) it.
    fn build(
        &self,
        context: &Arc<CudaContext>,
        key: &KernelKey,
        stats: &mut KernelStats,
    ) -> Result<Arc<CudaModule>> {
        let source = format!("{COMMON}\n{}", key.source.text);
        let options = self.options(key);
        let (nvrtc_major, nvrtc_minor) = nvrtc_version()?;
        let versions = format!(
            "driver {} nvrtc {nvrtc_major}.{nvrtc_minor}",
            self.driver_version
        );
        let joined = options.join(" ");
        let digest = digest(&[
            source.as_bytes(),
            joined.as_bytes(),
            self.arch.as_bytes(),
            versions.as_bytes(),
        ]);
        let name = key.source.name;

        let started = Instant::now();
        if let Some(cubin) = self.disk.as_ref().and_then(|d| d.load(name, &digest)) {
            // A file that the driver rejects (truncated, foreign) is rebuilt.
            if let Ok(module) = context.load_module(Ptx::from_binary(cubin)) {
                stats.loaded_from_disk += 1;
                stats.load_time += started.elapsed();
                return Ok(module);
            }
        }

        let started = Instant::now();
        let cubin = compile_cubin(name, &source, &options)?;
        stats.compiled += 1;
        stats.compile_time += started.elapsed();
        if let Some(disk) = &self.disk {
            if let Err(e) = disk.store(name, &digest, &cubin) {
                stats.disk_error.get_or_insert_with(|| e.to_string());
            }
        }
        let started = Instant::now();
        let module = context
            .load_module(Ptx::from_binary(cubin))
            .map_err(|e| driver_error(&format!("loading kernel module `{name}`"), e))?;
        stats.load_time += started.elapsed();
        Ok(module)
    }
}

/// Dynamic shared memory a launch gets without raising the function's limit.
const DEFAULT_SHARED_BYTES: u32 = 48 * 1024;

/// `value` as a 32-bit kernel argument or grid size, or an error naming it.
pub(crate) fn u32_of(value: usize, what: &str) -> Result<u32> {
    u32::try_from(value)
        .ok()
        .filter(|&v| v <= i32::MAX as u32)
        .ok_or_else(|| Error::Unsupported(format!("{what} = {value} does not fit a CUDA launch")))
}

/// One kernel argument, as the kernel's C signature takes it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg {
    /// A device address (`const T *` / `T *`).
    Ptr(u64),
    U32(u32),
    U64(u64),
    F32(f32),
}

/// Launches `key` on the device's stream with `args`.
///
/// # Safety
/// `args` must match the kernel's parameter list in order and type, and every
/// pointer must cover all memory the kernel touches for `grid`/`block`: the
/// safe op wrappers check their operands' sizes before calling this.
pub(crate) unsafe fn launch(
    device: &CudaDevice,
    key: KernelKey,
    grid: (u32, u32, u32),
    block: u32,
    args: &[Arg],
) -> Result<()> {
    // SAFETY: forwarded from the caller; no dynamic shared memory.
    unsafe { launch_with_shared(device, key, grid, block, 0, args) }
}

/// `launch` with `shared_bytes` of dynamic shared memory (`extern
/// __shared__`); above the default 48 KiB the function's limit is raised
/// first.
///
/// # Safety
/// As for `launch`; `shared_bytes` must cover what the kernel indexes.
pub(crate) unsafe fn launch_with_shared(
    device: &CudaDevice,
    key: KernelKey,
    grid: (u32, u32, u32),
    block: u32,
    shared_bytes: u32,
    args: &[Arg],
) -> Result<()> {
    let function = device.function(&key)?;
    if shared_bytes > DEFAULT_SHARED_BYTES {
        function
            .set_attribute(
                cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                shared_bytes as i32,
            )
            .map_err(|e| driver_error(&format!("raising the shared memory of `{}`", key.entry), e))?;
    }
    let stream = device.stream();
    let mut builder = stream.launch_builder(&function);
    for arg in args {
        match arg {
            Arg::Ptr(p) => builder.arg(p),
            Arg::U32(v) => builder.arg(v),
            Arg::U64(v) => builder.arg(v),
            Arg::F32(v) => builder.arg(v),
        };
    }
    let config = LaunchConfig {
        grid_dim: grid,
        block_dim: (block, 1, 1),
        shared_mem_bytes: shared_bytes,
    };
    // SAFETY: the caller guarantees the argument list and the memory bounds.
    unsafe { builder.launch(config) }
        .map_err(|e| driver_error(&format!("launching `{}`", key.entry), e))?;
    Ok(())
}
