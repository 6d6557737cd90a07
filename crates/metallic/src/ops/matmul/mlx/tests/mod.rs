//! Tests of the mlx CPU backend: every output against a float64 reference
//! on fresh random inputs, with padded leading dimensions, offsets,
//! broadcast batches, α/β and poisoned outputs. This file holds the shared
//! case builder and checker.

mod errors;
mod flags;
mod layouts;
mod quantized;

use super::*;
use crate::dtype::DType;
use crate::ops::matmul::MatrixOperand;
use crate::testing::{check_close, fresh_seed, random_vec, rng, Tolerance, POISON};
use half::{bf16, f16};

trait TestElement: bytemuck::Pod {
    const DTYPE: DType;
    const TOLERANCE: Tolerance;
    fn from_f32(v: f32) -> Self;
    fn to_f64(self) -> f64;
}

impl TestElement for f32 {
    const DTYPE: DType = DType::F32;
    const TOLERANCE: Tolerance = Tolerance::F32;
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl TestElement for f16 {
    const DTYPE: DType = DType::F16;
    const TOLERANCE: Tolerance = Tolerance::F16;
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
}

impl TestElement for bf16 {
    const DTYPE: DType = DType::BF16;
    const TOLERANCE: Tolerance = Tolerance::BF16;
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
}

/// One product to check: shapes, layouts, padding, offsets, batches, α/β.
#[derive(Clone, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    batch_shape: Vec<usize>,
    /// Per operand, which batch dimensions broadcast (stride 0).
    broadcast_a: Vec<bool>,
    broadcast_b: Vec<bool>,
    row_major: [bool; 3],
    /// Extra elements per leading dimension, and before the first matrix.
    pad: usize,
    offset: usize,
    alpha: f32,
    beta: f32,
    /// C's batch matrices side by side within its rows (row-major C):
    /// attention heads written into `[seq, heads·d]`.
    interleaved_c: bool,
}

impl Case {
    fn plain(m: usize, n: usize, k: usize) -> Case {
        Case {
            m,
            n,
            k,
            batch_shape: vec![],
            broadcast_a: vec![],
            broadcast_b: vec![],
            row_major: [true; 3],
            pad: 3,
            offset: 5,
            alpha: 1.0,
            beta: 0.0,
            interleaved_c: false,
        }
    }
}

/// A buffer for rows×cols matrices over the batch, filled from `fill`.
fn operand<E: TestElement>(
    case: &Case,
    rows: usize,
    cols: usize,
    row_major: bool,
    broadcast: &[bool],
    mut fill: impl FnMut(usize) -> Vec<f32>,
) -> (Vec<E>, MatrixOperand) {
    let (major, minor) = if row_major {
        (rows, cols)
    } else {
        (cols, rows)
    };
    let ld = minor + case.pad;
    let mut stride = major * ld + case.pad;
    let mut batch_strides = vec![0; case.batch_shape.len()];
    for ((s, &dim), &bcast) in batch_strides
        .iter_mut()
        .zip(&case.batch_shape)
        .zip(broadcast)
        .rev()
    {
        if !bcast {
            *s = stride;
            stride *= dim;
        }
    }
    let len = case.offset + stride + case.pad;
    let data = fill(len).into_iter().map(E::from_f32).collect();
    let operand = MatrixOperand {
        dtype: E::DTYPE,
        row_major,
        ld,
        offset: case.offset,
        batch_strides,
    };
    (data, operand)
}

fn index(op: &MatrixOperand, base: usize, r: usize, c: usize) -> usize {
    if op.row_major {
        base + r * op.ld + c
    } else {
        base + c * op.ld + r
    }
}

/// Runs `case` on `cpu` and compares every output with the float64
/// reference; every other element of C's buffer must be left as it was.
fn check_case<E: TestElement>(cpu: &MlxCpu, case: &Case) {
    let seed = fresh_seed();
    let mut rng = rng(seed);
    let [ra, rb, rc] = case.row_major;
    let none = vec![false; case.batch_shape.len()];
    let (a, op_a) = operand::<E>(case, case.m, case.k, ra, &case.broadcast_a, |n| {
        random_vec(&mut rng, n)
    });
    let (b, op_b) = operand::<E>(case, case.k, case.n, rb, &case.broadcast_b, |n| {
        random_vec(&mut rng, n)
    });
    let (mut c_before, mut op_c) = operand::<E>(case, case.m, case.n, rc, &none, |n| {
        if case.beta == 0.0 {
            vec![POISON; n]
        } else {
            random_vec(&mut rng, n)
        }
    });
    if case.interleaved_c {
        let mut stride = case.n;
        for (s, dim) in op_c.batch_strides.iter_mut().zip(&case.batch_shape).rev() {
            *s = stride;
            stride *= dim;
        }
        op_c.ld = stride + case.pad;
        let len = case.offset + case.m * op_c.ld;
        c_before = c_before.into_iter().cycle().take(len).collect();
    }
    let p = GemmProblem {
        m: case.m,
        n: case.n,
        k: case.k,
        batch_shape: case.batch_shape.clone(),
        a: op_a,
        b: op_b,
        c: op_c,
        alpha: case.alpha,
        beta: case.beta,
    };
    let mut c = c_before.clone();
    cpu.run(
        &p,
        bytemuck::cast_slice(&a),
        bytemuck::cast_slice(&b),
        bytemuck::cast_slice_mut(&mut c),
    )
    .unwrap_or_else(|e| panic!("{case:?}: {e}"));

    let mut actual = Vec::new();
    let mut expected = Vec::new();
    let mut written = vec![false; c.len()];
    for batch in 0..p.batch_count() {
        let (oa, ob, oc) = (
            p.batch_offset(&p.a, batch),
            p.batch_offset(&p.b, batch),
            p.batch_offset(&p.c, batch),
        );
        for i in 0..p.m {
            for j in 0..p.n {
                let dot: f64 = (0..p.k)
                    .map(|q| a[index(&p.a, oa, i, q)].to_f64() * b[index(&p.b, ob, q, j)].to_f64())
                    .sum();
                let at = index(&p.c, oc, i, j);
                let mut value = p.alpha as f64 * dot;
                if p.beta != 0.0 {
                    value += p.beta as f64 * c_before[at].to_f64();
                }
                expected.push(value);
                actual.push(c[at].to_f64() as f32);
                written[at] = true;
            }
        }
    }
    if let Err(msg) = check_close(&actual, &expected, E::TOLERANCE) {
        panic!(
            "{} on {:?} {case:?} (seed {seed}): {msg}",
            E::DTYPE,
            cpu.isa()
        );
    }
    let as_bytes = |v: &E| bytemuck::bytes_of(v).to_vec();
    for (at, _) in written.iter().enumerate().filter(|(_, w)| !**w) {
        assert_eq!(
            as_bytes(&c[at]),
            as_bytes(&c_before[at]),
            "element {at} outside the output changed; {case:?}"
        );
    }
}

pub(super) fn available_isas() -> Vec<Isa> {
    Isa::supported()
}
