//! Shape and stride arithmetic shared by tensor views: element counts,
//! contiguous strides, row-major traversal, stride-preserving reshape and
//! broadcasting. All counts are checked: a shape from a file may be absurd.

use crate::error::{Error, Result};

/// Product of `shape`, or a shape error when it overflows.
pub fn checked_numel(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::Shape(format!("shape {shape:?} has too many elements")))
}

/// Row-major (C order) strides of `shape`, in elements.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut step = 1usize;
    for (stride, &dim) in strides.iter_mut().zip(shape).rev() {
        *stride = step;
        step = step.saturating_mul(dim.max(1));
    }
    strides
}

/// Largest element index a view touches (`None` when it has no elements),
/// or a shape error when the arithmetic overflows.
pub fn max_element_index(
    shape: &[usize],
    strides: &[usize],
    offset: usize,
) -> Result<Option<usize>> {
    if shape.contains(&0) {
        return Ok(None);
    }
    shape
        .iter()
        .zip(strides)
        .try_fold(offset, |acc, (&dim, &stride)| {
            (dim - 1)
                .checked_mul(stride)
                .and_then(|s| acc.checked_add(s))
        })
        .map(Some)
        .ok_or_else(|| Error::Shape(format!("view {shape:?} with strides {strides:?} overflows")))
}

/// Element indices of a strided view, in row-major order of its shape.
pub struct StridedIndices<'a> {
    shape: &'a [usize],
    strides: &'a [usize],
    counter: Vec<usize>,
    next: Option<usize>,
}

impl<'a> StridedIndices<'a> {
    pub fn new(shape: &'a [usize], strides: &'a [usize], offset: usize) -> Self {
        let next = if shape.contains(&0) {
            None
        } else {
            Some(offset)
        };
        StridedIndices {
            shape,
            strides,
            counter: vec![0; shape.len()],
            next,
        }
    }
}

impl Iterator for StridedIndices<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let current = self.next?;
        // Advance like an odometer: bump the innermost dimension, carrying
        // into outer ones; past the outermost, the traversal is over.
        let mut index = current;
        self.next = None;
        for d in (0..self.shape.len()).rev() {
            if self.counter[d] + 1 < self.shape[d] {
                self.counter[d] += 1;
                self.next = Some(index + self.strides[d]);
                break;
            }
            index -= self.counter[d] * self.strides[d];
            self.counter[d] = 0;
        }
        Some(current)
    }
}

/// Strides that view the same elements as (`shape`, `strides`) under
/// `new_shape` without moving data, or `None` when no such strides exist
/// (dimensions to merge are not laid out one after the other).
pub fn reshape_strides(
    shape: &[usize],
    strides: &[usize],
    new_shape: &[usize],
) -> Option<Vec<usize>> {
    if shape.contains(&0) || shape.is_empty() {
        return Some(contiguous_strides(new_shape));
    }
    let mut new_strides = vec![0usize; new_shape.len()];
    // Walk the old dimensions from the innermost, grouping runs that are
    // contiguous with each other into chunks; each chunk must be covered
    // exactly by a run of new dimensions, which then step through it.
    let mut view_d = new_shape.len();
    let mut chunk_base = strides[shape.len() - 1];
    let mut tensor_numel = 1usize;
    let mut view_numel = 1usize;
    for d in (0..shape.len()).rev() {
        tensor_numel *= shape[d];
        let chunk_ends = d == 0
            || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel.saturating_mul(chunk_base));
        if chunk_ends {
            while view_d > 0 && (view_numel < tensor_numel || new_shape[view_d - 1] == 1) {
                new_strides[view_d - 1] = view_numel.saturating_mul(chunk_base);
                view_numel *= new_shape[view_d - 1];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if d > 0 {
                chunk_base = strides[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    (view_d == 0).then_some(new_strides)
}

/// The numpy-style broadcast of two batch shapes (aligned on the right,
/// size 1 stretches), or `None` when they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        let pad = rank - s.len();
        if i < pad {
            1
        } else {
            s[i - pad]
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_indices_walk_row_major() {
        let got: Vec<_> = StridedIndices::new(&[2, 3], &[1, 2], 5).collect();
        assert_eq!(got, vec![5, 7, 9, 6, 8, 10]);
        assert_eq!(
            StridedIndices::new(&[], &[], 4).collect::<Vec<_>>(),
            vec![4]
        );
        assert_eq!(StridedIndices::new(&[3, 0], &[1, 1], 0).count(), 0);
    }

    #[test]
    fn reshape_merges_and_splits_only_contiguous_runs() {
        assert_eq!(
            reshape_strides(&[4, 6], &[6, 1], &[4, 2, 3]),
            Some(vec![6, 3, 1])
        );
        assert_eq!(
            reshape_strides(&[4, 2, 3], &[6, 3, 1], &[24]),
            Some(vec![1])
        );
        // Padded rows: splitting a row works, merging rows does not.
        assert_eq!(
            reshape_strides(&[4, 6], &[8, 1], &[4, 3, 2]),
            Some(vec![8, 2, 1])
        );
        assert_eq!(reshape_strides(&[4, 6], &[8, 1], &[24]), None);
        // A transposed view cannot be flattened.
        assert_eq!(reshape_strides(&[3, 4], &[1, 3], &[12]), None);
        assert_eq!(
            reshape_strides(&[3, 4], &[1, 3], &[3, 2, 2]),
            Some(vec![1, 6, 3])
        );
        // Size-1 dimensions come and go freely.
        assert_eq!(
            reshape_strides(&[1, 5], &[99, 1], &[5, 1]),
            Some(vec![1, 1])
        );
    }

    #[test]
    fn broadcast_follows_numpy() {
        assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shapes(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast_shapes(&[2], &[3]), None);
    }

    #[test]
    fn counts_overflow_to_errors() {
        assert!(checked_numel(&[usize::MAX, 2]).is_err());
        assert!(max_element_index(&[usize::MAX, 2], &[2, 1], 0).is_err());
    }
}
