//! Misuse of the ops is an error, and profiling records them. Their values
//! are checked on every device by the cross-backend matrix
//! (`tests/backend_ops.rs`).

use crate::context::Context;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::Error;
use crate::ops::{AttentionInput, KvShape};
use crate::tensor::Tensor;
use crate::testing::POISON;

fn ctx() -> Context {
    Context::builder(Device::Cpu)
        .threads(Some(2))
        .profile(Some(false))
        .build()
        .unwrap()
}

fn tensor(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_f32(&Device::Cpu, values, shape).unwrap()
}

/// A poisoned f32 tensor of `shape`.
fn poisoned(shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    tensor(&vec![POISON; n], shape)
}

#[test]
fn misuse_is_an_error() {
    let ctx = ctx();
    let x = tensor(&[1.0; 12], &[3, 4]);
    let w = tensor(&[1.0; 4], &[4]);
    // Wrong shapes.
    assert!(matches!(
        ctx.rms_norm(&x, &tensor(&[1.0; 3], &[3]), 1e-6, &poisoned(&[3, 4])),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        ctx.rms_norm(&x, &w, 1e-6, &poisoned(&[4, 3])),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        ctx.swiglu(&x, &tensor(&[1.0; 4], &[1, 4]), &poisoned(&[3, 4])),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        ctx.rope(
            &tensor(&[1.0; 6], &[1, 2, 3]),
            0,
            1e4,
            &poisoned(&[1, 2, 3])
        ),
        Err(Error::Shape(_))
    ));
    assert!(ctx
        .add(&x, &tensor(&[1.0; 3], &[3]), &poisoned(&[3, 4]))
        .is_err());
    // An output that overlaps itself, one that is an input, a non-f32 one.
    let row = poisoned(&[4]).broadcast_to(&[3, 4]).unwrap();
    assert!(matches!(ctx.add(&x, &w, &row), Err(Error::Layout { .. })));
    assert!(ctx.add(&x, &w, &x).is_err());
    let half = Tensor::empty(&Device::Cpu, DType::F16, &[3, 4]).unwrap();
    assert!(matches!(
        ctx.swiglu(&x, &x, &half),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn ops_are_recorded_when_profiling() {
    let ctx = Context::builder(Device::Cpu)
        .threads(Some(1))
        .profile(Some(true))
        .build()
        .unwrap();
    let x = tensor(&[0.5; 8], &[2, 4]);
    ctx.rms_norm(&x, &tensor(&[1.0; 4], &[4]), 1e-6, &poisoned(&[2, 4]))
        .unwrap();
    let records = ctx.instrumentation().records();
    let last = records.last().expect("a record");
    assert_eq!(
        (last.op, last.backend, last.m, last.n),
        ("rms_norm", "cpu", 2, 4)
    );
}

#[test]
fn step_input_misuse_is_an_error_and_changes_nothing() {
    let ctx = ctx();
    assert!(ctx.step_input(0, 10, 8).is_err());
    assert!(ctx.step_input(9, 10, 8).is_err());
    let mut step = ctx.step_input(2, 10, 8).unwrap();
    step.set(&[3, 4], 5).unwrap();
    for (ids, start) in [(&[1][..], 0), (&[1, 10][..], 0), (&[1, 2][..], 7)] {
        assert!(matches!(
            step.set(ids, start),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert_eq!((step.ids(), step.start()), (&[3, 4][..], 5));
}

#[test]
fn attention_misuse_is_an_error() {
    let ctx = ctx();
    let shape = KvShape {
        layers: 2,
        heads: 4,
        kv_heads: 2,
        head_dim: 8,
        capacity: 6,
    };
    assert!(ctx
        .kv_cache(KvShape {
            kv_heads: 3,
            ..shape
        })
        .is_err());
    let mut cache = ctx.kv_cache(shape).unwrap();
    let mut step = ctx.step_input(2, 5, 6).unwrap();
    step.set(&[1, 2], 0).unwrap();
    let q = tensor(&[0.5; 64], &[2, 4, 8]);
    let kv = tensor(&[0.5; 32], &[2, 2, 8]);
    let out = poisoned(&[2, 4, 8]);
    let input = AttentionInput {
        q: &q,
        k: &kv,
        v: &kv,
        v_bias: None,
        rope_base: 1e4,
    };
    ctx.attention(&input, &mut cache, 1, &step, &out).unwrap();
    // A layer past the cache's, queries of the wrong shape, a step over
    // more positions than the cache holds.
    assert!(matches!(
        ctx.attention(&input, &mut cache, 2, &step, &out),
        Err(Error::InvalidArgument(_))
    ));
    let wrong_q = AttentionInput { k: &q, ..input };
    assert!(matches!(
        ctx.attention(&wrong_q, &mut cache, 0, &step, &out),
        Err(Error::Shape(_))
    ));
    let long_step = ctx.step_input(2, 5, 7).unwrap();
    assert!(matches!(
        ctx.attention(&input, &mut cache, 0, &long_step, &out),
        Err(Error::Shape(_))
    ));
}
