//! What every backend checks before it touches a buffer, once, on the
//! problem: each operand's batch strides, leading dimension and (for GGUF
//! blocks) block alignment, the elements its matrices reach over the batch
//! (overflow-checked), whether they fit the operand's buffer, and the batch
//! collapsed to as few dimensions as the strides allow.

use super::{GemmProblem, MatrixOperand};
use crate::error::{Error, Result};

/// One of a product's three operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    A,
    B,
    C,
}

impl Operand {
    /// The name errors give the operand (`a`, `b`, `c`).
    pub fn name(self) -> &'static str {
        match self {
            Operand::A => "a",
            Operand::B => "b",
            Operand::C => "c",
        }
    }
}

/// The elements `[start, end)` of an operand's buffer that the batch's
/// matrices reach (`start == end` for an empty product).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// One batch dimension after collapsing: its size and the element stride of
/// A, B and C along it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchDim {
    pub size: usize,
    pub strides: [usize; 3],
}

impl GemmProblem {
    pub fn operand(&self, which: Operand) -> &MatrixOperand {
        match which {
            Operand::A => &self.a,
            Operand::B => &self.b,
            Operand::C => &self.c,
        }
    }

    /// Rows × columns of each of `which`'s matrices: A m×k, B k×n, C m×n.
    pub fn extent(&self, which: Operand) -> (usize, usize) {
        match which {
            Operand::A => (self.m, self.k),
            Operand::B => (self.k, self.n),
            Operand::C => (self.m, self.n),
        }
    }

    /// Whether the product writes nothing (m, n or the batch is 0).
    pub fn is_empty(&self) -> bool {
        self.m == 0 || self.n == 0 || self.batch_count() == 0
    }

    /// The elements of its buffer that `which` reaches, after checking its
    /// layout: one batch stride per batch dimension, a leading dimension at
    /// least the minor extent, and for a GGUF block type, B column-major
    /// (blocks along k) with k, ld, offset and batch strides whole blocks.
    pub fn span(&self, which: Operand) -> Result<Span> {
        let op = self.operand(which);
        let layout = |detail: String| Error::Layout {
            operand: which.name(),
            detail,
        };
        if op.batch_strides.len() != self.batch_shape.len() {
            return Err(layout(format!(
                "{} batch strides for {} batch dimensions",
                op.batch_strides.len(),
                self.batch_shape.len()
            )));
        }
        let (rows, cols) = self.extent(which);
        let (minor, major) = match op.row_major {
            true => (cols, rows),
            false => (rows, cols),
        };
        if op.ld < minor {
            return Err(layout(format!(
                "leading dimension {} is below the minor extent {minor}",
                op.ld
            )));
        }
        if op.dtype.is_quantized() {
            check_blocks(op, rows, layout)?;
        }
        if rows == 0 || cols == 0 || self.batch_count() == 0 {
            return Ok(Span {
                start: op.offset,
                end: op.offset,
            });
        }
        let overflow = || layout("its element offsets overflow the address space".into());
        let mut last = (major - 1)
            .checked_mul(op.ld)
            .and_then(|v| v.checked_add(minor - 1))
            .and_then(|v| v.checked_add(op.offset))
            .ok_or_else(overflow)?;
        for (&dim, &stride) in self.batch_shape.iter().zip(&op.batch_strides) {
            last = (dim - 1)
                .checked_mul(stride)
                .and_then(|v| v.checked_add(last))
                .ok_or_else(overflow)?;
        }
        Ok(Span {
            start: op.offset,
            end: last.checked_add(1).ok_or_else(overflow)?,
        })
    }

    /// `span`, also checking that the span lies inside a buffer of
    /// `buffer_bytes` bytes.
    pub fn span_within(&self, which: Operand, buffer_bytes: usize) -> Result<Span> {
        let span = self.span(which)?;
        if span.is_empty() {
            return Ok(span);
        }
        let dtype = self.operand(which).dtype;
        let layout = |detail: String| Error::Layout {
            operand: which.name(),
            detail,
        };
        let need = dtype
            .bytes_for(span.end)
            .ok_or_else(|| layout("its element offsets overflow the address space".into()))?;
        if need > buffer_bytes {
            return Err(layout(format!(
                "its matrices reach element {} ({need} bytes of {dtype}) but its buffer holds {buffer_bytes} bytes",
                span.end
            )));
        }
        Ok(span)
    }

    /// The batch as few dimensions as the strides allow, outermost first:
    /// size-1 dimensions dropped, and a dimension merged into the next when,
    /// for all three operands, its stride is the next one's stride times the
    /// next one's size. An output batch stride of 0 (outputs that overlap) is
    /// an error.
    pub fn batch_dims(&self) -> Result<Vec<BatchDim>> {
        for which in [Operand::A, Operand::B, Operand::C] {
            let strides = self.operand(which).batch_strides.len();
            if strides != self.batch_shape.len() {
                return Err(Error::Layout {
                    operand: which.name(),
                    detail: format!(
                        "{strides} batch strides for {} batch dimensions",
                        self.batch_shape.len()
                    ),
                });
            }
        }
        let mut dims: Vec<BatchDim> = Vec::new();
        for (i, &size) in self.batch_shape.iter().enumerate() {
            if size == 1 {
                continue;
            }
            let strides = [
                self.a.batch_strides[i],
                self.b.batch_strides[i],
                self.c.batch_strides[i],
            ];
            if strides[2] == 0 {
                return Err(Error::Layout {
                    operand: "c",
                    detail: format!("batch dimension {i} has stride 0: the outputs would overlap"),
                });
            }
            match dims.last_mut() {
                Some(outer) if (0..3).all(|o| outer.strides[o] == strides[o] * size) => {
                    outer.size *= size;
                    outer.strides = strides;
                }
                _ => dims.push(BatchDim { size, strides }),
            }
        }
        Ok(dims)
    }
}

/// A GGUF block operand is B stored column-major, so that its blocks run
/// along k; k, the leading dimension, the offset and every batch stride
/// must be whole blocks.
fn check_blocks(op: &MatrixOperand, k: usize, layout: impl Fn(String) -> Error) -> Result<()> {
    if op.row_major {
        return Err(layout(format!(
            "a {} operand must be column-major B (blocks along k)",
            op.dtype
        )));
    }
    let block = op.dtype.block_size();
    let whole = |v: &usize| v.is_multiple_of(block);
    let fields = [k, op.ld, op.offset];
    if !fields.iter().chain(&op.batch_strides).all(whole) {
        return Err(layout(format!(
            "k {k}, leading dimension {}, offset {} and batch strides {:?} must be multiples of the {} block size {block}",
            op.ld, op.offset, op.batch_strides, op.dtype
        )));
    }
    Ok(())
}
