//! A batch's token ids and positions, kept where the device's kernels read
//! them: on the host for the CPU; in device memory on a GPU, so the kernels
//! queued for a step (captured once as a graph) replay at any position. The
//! model sets it before each step and hands it to the ops that need ids or
//! positions (`Context::embed`, `Context::attention`); it never sees where
//! the values live. A new device adds one variant to `Placement`.

use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result};

/// Ids and positions of a batch of `seq` tokens at consecutive positions.
/// Every id set is below `vocab` and every position below `capacity`
/// (checked in `set`): device kernels index tables and caches with them.
pub struct StepInput {
    seq: usize,
    vocab: usize,
    capacity: usize,
    ids: Vec<u32>,
    start: usize,
    placement: Placement,
}

/// The device copy of the ids and positions, where a device needs one.
enum Placement {
    /// The CPU kernels read `ids` and `start` themselves.
    Host,
    #[cfg(feature = "cuda")]
    Cuda(super::cuda::BatchIndices),
}

impl Context {
    /// Room for batches of `seq` tokens of a vocabulary of `vocab` ids over
    /// `capacity` positions, on the Context's device; ids and positions
    /// start as 0.
    pub fn step_input(&self, seq: usize, vocab: usize, capacity: usize) -> Result<StepInput> {
        if seq == 0 || seq > capacity || vocab == 0 {
            return Err(Error::InvalidArgument(format!(
                "a step input for {seq} tokens over {capacity} positions and {vocab} ids"
            )));
        }
        let placement = match self.device() {
            Device::Cpu => Placement::Host,
            #[cfg(feature = "cuda")]
            Device::Cuda(cuda) => {
                Placement::Cuda(super::cuda::BatchIndices::new(cuda, seq, vocab, capacity)?)
            }
        };
        Ok(StepInput {
            seq,
            vocab,
            capacity,
            ids: vec![0; seq],
            start: 0,
            placement,
        })
    }
}

impl StepInput {
    /// Sets the batch to `ids` at positions `start..start + seq` (on a GPU
    /// queued on the stream, so work queued before still reads the previous
    /// batch). Wrong length, an id outside the vocabulary or a position past
    /// the capacity is an error and changes nothing.
    pub fn set(&mut self, ids: &[u32], start: usize) -> Result<()> {
        check_batch(ids, self.seq, self.vocab, start, self.capacity)?;
        match &mut self.placement {
            Placement::Host => {}
            #[cfg(feature = "cuda")]
            Placement::Cuda(indices) => indices.set(ids, start)?,
        }
        self.ids.copy_from_slice(ids);
        self.start = start;
        Ok(())
    }

    /// Tokens per batch.
    pub fn seq(&self) -> usize {
        self.seq
    }

    /// Ids are below this.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Positions are below this.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The ids last set (what the CPU kernels read).
    pub(crate) fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The position of the batch's first token, last set.
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// The device copy a CUDA kernel reads (`None` off a GPU).
    #[cfg(feature = "cuda")]
    pub(crate) fn cuda(&self) -> Option<&super::cuda::BatchIndices> {
        match &self.placement {
            Placement::Cuda(indices) => Some(indices),
            Placement::Host => None,
        }
    }
}

/// Checks a batch before it is set: `seq` ids, each inside the vocabulary,
/// at positions `start..start + seq` within `capacity`.
pub(crate) fn check_batch(
    ids: &[u32],
    seq: usize,
    vocab: usize,
    start: usize,
    capacity: usize,
) -> Result<()> {
    if ids.len() != seq {
        return Err(Error::InvalidArgument(format!(
            "{} token ids for a batch of {seq}",
            ids.len()
        )));
    }
    if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
        return Err(Error::InvalidArgument(format!(
            "token id {bad} is outside the vocabulary of {vocab}"
        )));
    }
    if start.checked_add(seq).is_none_or(|end| end > capacity) {
        return Err(Error::InvalidArgument(format!(
            "{seq} tokens after {start} exceed the {capacity} positions"
        )));
    }
    Ok(())
}
