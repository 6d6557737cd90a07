//! NVRTC: CUDA C++ source to a CUBIN for one architecture. A CUBIN (machine
//! code, not PTX) loads without the driver's own JIT step, which is what
//! makes the on-disk cache pay off.

use std::ffi::{c_char, CStr, CString};

use cudarc::nvrtc::{result, sys};

use super::{with_library, Library};
use crate::error::{Error, Result};

/// NVRTC's version (major, minor); part of the on-disk cache key.
pub(crate) fn nvrtc_version() -> Result<(i32, i32)> {
    with_library(Library::Nvrtc, || {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: nvrtcVersion writes two ints through valid pointers.
        unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
            .result()
            .map_err(|e| Error::Device(format!("reading the NVRTC version: {e:?}")))?;
        Ok((major, minor))
    })
}

/// Compiles `source` (named `name` in messages) with `options`, which must
/// name a real architecture (`--gpu-architecture=sm_XY`) so that NVRTC emits
/// a CUBIN.
pub(crate) fn compile_cubin(name: &str, source: &str, options: &[String]) -> Result<Vec<u8>> {
    with_library(Library::Nvrtc, || {
        let fail = |what: &str, detail: String| {
            Error::Device(format!("NVRTC {what} for kernel source `{name}`: {detail}"))
        };
        let c_source = CString::new(source).map_err(|e| fail("input", e.to_string()))?;
        let c_name = CString::new(name).map_err(|e| fail("input", e.to_string()))?;
        let program = Program(
            result::create_program(&c_source, Some(&c_name))
                .map_err(|e| fail("create", format!("{e:?}")))?,
        );
        // SAFETY: the program handle is live until `program` drops; the
        // options are copied into C strings by cudarc for the call.
        if let Err(e) = unsafe { result::compile_program(program.0, options) } {
            // SAFETY: as above; the log is a NUL-terminated C string.
            let log = unsafe { result::get_program_log(program.0) }
                .map(|log| c_text(&log))
                .unwrap_or_default();
            return Err(fail("compile", format!("{e:?} with {options:?}\n{log}")));
        }
        let mut size = 0usize;
        // SAFETY: the program compiled; NVRTC writes the CUBIN's size, then
        // exactly that many bytes into a buffer of that size.
        let cubin = unsafe {
            sys::nvrtcGetCUBINSize(program.0, &mut size)
                .result()
                .map_err(|e| fail("CUBIN size", format!("{e:?}")))?;
            let mut cubin = vec![0u8; size];
            sys::nvrtcGetCUBIN(program.0, cubin.as_mut_ptr() as *mut c_char)
                .result()
                .map_err(|e| fail("CUBIN", format!("{e:?}")))?;
            cubin
        };
        if cubin.is_empty() {
            return Err(fail(
                "CUBIN",
                format!("empty (options {options:?} name no real architecture)"),
            ));
        }
        Ok(cubin)
    })
}

/// Owns an NVRTC program handle and destroys it on every path.
struct Program(sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: the handle came from create_program and is destroyed once.
        // A failure to free it leaks the program; nothing else depends on it.
        let _ = unsafe { result::destroy_program(self.0) };
    }
}

fn c_text(bytes: &[c_char]) -> String {
    let bytes: Vec<u8> = bytes.iter().map(|&b| b as u8).collect();
    CStr::from_bytes_until_nul(&bytes)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned())
}
