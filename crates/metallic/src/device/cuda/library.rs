//! Probes for the CUDA libraries, loaded at run time. cudarc panics when a
//! library or one of its symbols is missing; these probes turn that into an
//! `Error::Device` naming the library, so a machine without CUDA gets an
//! error, never a panic.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, Result};

/// The libraries the CUDA device uses, each loaded on first use.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Library {
    Driver,
    Nvrtc,
    Cublas,
}

impl Library {
    fn describe(self) -> &'static str {
        match self {
            Library::Driver => "the CUDA driver library (libcuda.so)",
            Library::Nvrtc => "the NVRTC run-time compiler (libnvrtc.so)",
            Library::Cublas => "the cuBLAS library (libcublas.so)",
        }
    }

    fn present(self) -> bool {
        // SAFETY: the probes only try to open the shared library with
        // libloading and close it again; they call nothing inside it.
        unsafe {
            match self {
                Library::Driver => cudarc::driver::sys::is_culib_present(),
                Library::Nvrtc => cudarc::nvrtc::sys::is_culib_present(),
                Library::Cublas => cudarc::cublas::sys::is_culib_present(),
            }
        }
    }
}

/// Runs `call` (the first use of `library` in a code path) after checking
/// that the library can be loaded, and turns a panic inside cudarc (a
/// missing symbol in an older library) into an error.
pub(crate) fn with_library<T>(library: Library, call: impl FnOnce() -> Result<T>) -> Result<T> {
    if !library.present() {
        return Err(Error::Device(format!(
            "{} was not found; install the NVIDIA driver and CUDA 13 libraries or add their folder to LD_LIBRARY_PATH",
            library.describe()
        )));
    }
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        Err(Error::Device(format!(
            "{} could not be used: {detail}",
            library.describe()
        )))
    })
}
