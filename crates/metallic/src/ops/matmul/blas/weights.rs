//! Quantized weights, dequantized to f32 once and kept: the vendor library
//! has no block formats, so B is widened, and weights do not change between
//! calls.
//!
//! An entry is keyed by the weight's identity: its buffer (address and
//! length), its dtype and the span of elements the problem reads. A sampled
//! fingerprint of the bytes is part of the key, so that a buffer freed and
//! another allocated at the same address with new contents is not served
//! stale values. A weight must not be modified while it is in use; `clear`
//! empties the cache (e.g. when a model is unloaded).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use rayon::prelude::*;

use crate::dtype::DType;
use crate::error::Result;
use crate::ops::matmul::problem::Span;
use crate::quant::dequantize_f32;

#[derive(Default)]
pub(super) struct WeightCache {
    entries: Mutex<HashMap<WeightKey, Arc<Vec<f32>>>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct WeightKey {
    address: usize,
    buffer_len: usize,
    dtype: DType,
    span: (usize, usize),
    fingerprint: u64,
}

/// Blocks dequantized per parallel task.
const BLOCKS_PER_TASK: usize = 64;

/// Byte windows sampled for the fingerprint.
const SAMPLES: usize = 32;

impl WeightCache {
    /// The f32 values of elements `span` of the quantized `buffer` (the span
    /// lies on block boundaries, as `layout::check_operand` ensures).
    pub fn get(&self, dtype: DType, buffer: &[u8], span: Span) -> Result<Arc<Vec<f32>>> {
        let (block, block_bytes) = (dtype.block_size(), dtype.block_bytes());
        let bytes = &buffer[span.start / block * block_bytes..span.end / block * block_bytes];
        let key = WeightKey {
            address: buffer.as_ptr() as usize,
            buffer_len: buffer.len(),
            dtype,
            span: (span.start, span.end),
            fingerprint: fingerprint(bytes),
        };
        if let Some(values) = self.lock().get(&key) {
            return Ok(Arc::clone(values));
        }
        // Dequantized outside the lock: other weights stay available meanwhile.
        let mut values = vec![0.0f32; span.len()];
        values
            .par_chunks_mut(BLOCKS_PER_TASK * block)
            .zip(bytes.par_chunks(BLOCKS_PER_TASK * block_bytes))
            .try_for_each(|(out, src)| dequantize_f32(dtype, src, out))?;
        let values = Arc::new(values);
        self.lock().insert(key, Arc::clone(&values));
        Ok(values)
    }

    /// Number of weights held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    // Each update is one insert or clear: a panic elsewhere cannot leave the
    // map half-updated, so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, HashMap<WeightKey, Arc<Vec<f32>>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A hash of the length and of evenly spaced 16-byte windows.
fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.len().hash(&mut h);
    let window = 16.min(bytes.len());
    for i in 0..SAMPLES {
        let at = (bytes.len() - window) * i / (SAMPLES - 1);
        bytes[at..at + window].hash(&mut h);
    }
    h.finish()
}
