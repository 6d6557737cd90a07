//! Building an instance from a key: the key's run-time flags become the
//! drivers' const parameters. Every combination is compiled in; the cache
//! resolves a key once.

use super::args::KernelFn;
use super::element::Element;
use super::gemm::gemm;
use super::gemv::gemv;
use super::key::{KernelKind, MlxKernelKey};
use crate::dtype::DType;
use half::{bf16, f16};

/// Expands run-time booleans into const arguments, one branch per flag.
macro_rules! instance {
    ($driver:ident, $e:ty, [$($fixed:tt)*];) => {
        $driver::<$e $(, $fixed)*> as KernelFn
    };
    ($driver:ident, $e:ty, [$($fixed:tt)*]; $flag:expr $(, $rest:expr)*) => {
        if $flag {
            instance!($driver, $e, [$($fixed)* true]; $($rest),*)
        } else {
            instance!($driver, $e, [$($fixed)* false]; $($rest),*)
        }
    };
}

/// The instance for `key`, or `None` for a dtype the kernels don't compute in.
pub(super) fn instantiate(key: &MlxKernelKey) -> Option<KernelFn> {
    match key.dtype {
        DType::F32 => Some(for_element::<f32>(key)),
        DType::F16 => Some(for_element::<f16>(key)),
        DType::BF16 => Some(for_element::<bf16>(key)),
        _ => None,
    }
}

fn for_element<E: Element>(key: &MlxKernelKey) -> KernelFn {
    let k = &key.flags;
    match key.kind {
        KernelKind::Gemm => instance!(gemm, E, [];
            k.transpose_a, k.transpose_b, k.batched, k.align_m, k.align_n, k.align_k,
            k.use_out_source, k.do_axpby),
        // One row: there is no partial tile along m, so align_m selects nothing.
        KernelKind::Gemv => instance!(gemv, E, [];
            k.transpose_a, k.transpose_b, k.batched, k.align_n, k.align_k,
            k.use_out_source, k.do_axpby),
    }
}
