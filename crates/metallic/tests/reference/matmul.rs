//! `alpha · op(a) · op(b) + beta · c` in float64 over tensors of any layout
//! and batch broadcast (their values read back as f32, so the rounding of
//! their dtype included).

use metallic::Tensor;

/// Numpy broadcast of two batch shapes (the test's own, independent of the
/// library's).
fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        if i + s.len() < rank {
            1
        } else {
            s[i + s.len() - rank]
        }
    };
    (0..rank)
        .map(|i| {
            let (x, y) = (at(a, i), at(b, i));
            assert!(
                x == y || x == 1 || y == 1,
                "test shapes {a:?} {b:?} do not broadcast"
            );
            x.max(y)
        })
        .collect()
}

/// Flat index, within an operand's own batch shape, of output batch `index`.
fn batch_source(out_batch: &[usize], own: &[usize], mut index: usize) -> usize {
    let mut flat = 0;
    let mut step = 1;
    for (i, &dim) in out_batch.iter().enumerate().rev() {
        let coordinate = index % dim;
        index /= dim;
        if let Some(j) = (i + own.len()).checked_sub(out_batch.len()) {
            if own[j] != 1 {
                flat += coordinate * step;
            }
            step *= own[j];
        }
    }
    flat
}

/// An operand's logical values as row-major matrices, one after another,
/// transposed first when `transposed` (so the rows are those of op(x)):
/// (batch shape, rows, cols, values).
fn matrices(x: &Tensor, transposed: bool) -> (Vec<usize>, usize, usize, Vec<f32>) {
    let shape = x.shape();
    let r = shape.len();
    let (rows, cols) = (shape[r - 2], shape[r - 1]);
    let values = x.to_f32_vec().unwrap();
    let batch = shape[..r - 2].to_vec();
    if !transposed {
        return (batch, rows, cols, values);
    }
    let swapped = values
        .chunks(rows * cols)
        .flat_map(|m| (0..cols * rows).map(move |i| m[(i % rows) * cols + i / rows]))
        .collect();
    (batch, cols, rows, swapped)
}

/// `alpha · op(a) · op(b) + beta · c` in float64, with its shape.
pub fn matmul(
    a: &Tensor,
    b: &Tensor,
    c: Option<&[f32]>,
    ta: bool,
    tb: bool,
    alpha: f64,
    beta: f64,
) -> (Vec<usize>, Vec<f64>) {
    let (a_batch, m, k, a_rows) = matrices(a, ta);
    // op(b) transposed, so each output element is a dot of two rows.
    let (b_batch, n, kb, bt_rows) = matrices(b, !tb);
    assert_eq!(k, kb, "test shapes disagree on K");
    let out_batch = broadcast(&a_batch, &b_batch);
    let count: usize = out_batch.iter().product();
    let mut out = Vec::with_capacity(count * m * n);
    for index in 0..count {
        let am = batch_source(&out_batch, &a_batch, index) * m * k;
        let bm = batch_source(&out_batch, &b_batch, index) * n * k;
        for i in 0..m {
            let row = &a_rows[am + i * k..am + (i + 1) * k];
            for j in 0..n {
                let col = &bt_rows[bm + j * k..bm + (j + 1) * k];
                let dot: f64 = row
                    .iter()
                    .zip(col)
                    .map(|(&x, &y)| x as f64 * y as f64)
                    .sum();
                out.push(alpha * dot);
            }
        }
    }
    // beta = 0 ignores c, even a poisoned one.
    if let Some(c) = c.filter(|_| beta != 0.0) {
        for (o, &c) in out.iter_mut().zip(c) {
            *o += beta * c as f64;
        }
    }
    let mut shape = out_batch;
    shape.extend([m, n]);
    (shape, out)
}
