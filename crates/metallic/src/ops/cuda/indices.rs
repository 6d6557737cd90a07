//! A batch's token ids and positions in device memory, which the embedding,
//! RoPE, KV-store and attention kernels read there instead of taking a
//! start position as an argument: so the kernels queued for one decode
//! step, captured once in a CUDA graph, replay at any position.

use crate::device::cuda::{CudaBuffer, CudaDevice};
use crate::error::{Error, Result};

/// `seq` token ids followed by their `seq` positions (u32 each). Every id
/// written is below `vocab` and every position below `capacity`: the
/// kernels' memory safety rests on that, checked on the host in `set`.
pub struct BatchIndices {
    buffer: CudaBuffer,
    seq: usize,
    vocab: usize,
    capacity: usize,
}

impl BatchIndices {
    /// Room for batches of `seq` tokens of a vocabulary of `vocab` ids over
    /// a cache of `capacity` positions; ids and positions start as 0.
    pub fn new(device: &CudaDevice, seq: usize, vocab: usize, capacity: usize) -> Result<Self> {
        if seq == 0 || seq > capacity || vocab == 0 {
            return Err(Error::InvalidArgument(format!(
                "batch indices for {seq} tokens over {capacity} positions and {vocab} ids"
            )));
        }
        u32::try_from(capacity.max(vocab))
            .map_err(|_| Error::Unsupported(format!("{capacity} positions exceed 32 bits")))?;
        Ok(BatchIndices {
            buffer: CudaBuffer::zeroed(device, 2 * seq * 4)?,
            seq,
            vocab,
            capacity,
        })
    }

    /// Positions start.. for the batch, ids 0 (for ops that read positions only).
    pub fn positions(device: &CudaDevice, seq: usize, start: usize) -> Result<Self> {
        let end = start
            .checked_add(seq)
            .ok_or_else(|| Error::InvalidArgument(format!("positions {start}+{seq} overflow")))?;
        let mut indices = BatchIndices::new(device, seq, 1, end)?;
        indices.set(&vec![0; seq], start)?;
        Ok(indices)
    }

    /// Writes `ids` at positions `start..start + seq` (queued on the stream,
    /// so kernels queued before still read the previous batch).
    pub fn set(&mut self, ids: &[u32], start: usize) -> Result<()> {
        crate::ops::step_input::check_batch(ids, self.seq, self.vocab, start, self.capacity)?;
        let values: Vec<u32> = ids
            .iter()
            .copied()
            .chain((start..start + self.seq).map(|p| p as u32))
            .collect();
        self.buffer.write(0, bytemuck::cast_slice(&values))
    }

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

    pub fn device(&self) -> &CudaDevice {
        self.buffer.device()
    }

    /// Fails unless these indices live on `device` (its one stream).
    pub(crate) fn check_device(&self, device: &CudaDevice, what: &str) -> Result<()> {
        device.check_buffers(&[&self.buffer], what)
    }

    pub(crate) fn ids_ptr(&self) -> u64 {
        self.buffer.device_ptr()
    }

    pub(crate) fn positions_ptr(&self) -> u64 {
        self.buffer.device_ptr() + (self.seq * 4) as u64
    }
}
