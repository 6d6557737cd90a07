//! Misuse must be an `Error` naming the problem, never a panic or a silent
//! copy: bad shapes, a missing or mis-shaped `c`, impossible strides, an
//! output aliasing an input, conflicting borrows.

use super::support::*;
use metallic::testing::{fresh_seed, rng};
use metallic::{DType, Error, Tensor};

fn f32s(r: &mut impl rand::Rng, shape: &[usize]) -> Tensor {
    random(r, DType::F32, shape)
}

#[test]
fn bad_shapes() {
    let r = &mut rng(fresh_seed());
    for (_, ctx) in contexts() {
        let shape_err =
            |res: metallic::Result<Tensor>| assert!(matches!(res, Err(Error::Shape(_))), "{res:?}");
        shape_err(ctx.matmul(&f32s(r, &[3, 4]), &f32s(r, &[5, 2])));
        shape_err(ctx.matmul(&f32s(r, &[3, 4]), &f32s(r, &[5, 4])));
        shape_err(ctx.matmul(&f32s(r, &[4]), &f32s(r, &[4, 2])));
        shape_err(ctx.matmul(&f32s(r, &[2, 3, 4]), &f32s(r, &[3, 4, 2])));
        let c = f32s(r, &[3, 3]);
        shape_err(ctx.matmul_alpha_beta(
            &f32s(r, &[3, 4]),
            &f32s(r, &[4, 2]),
            Some(&c),
            false,
            false,
            1.0,
            1.0,
        ));
        // A broadcastable but not equal c is still the wrong shape.
        let c = f32s(r, &[1, 2]).broadcast_to(&[3, 2]).unwrap();
        shape_err(ctx.matmul_alpha_beta(
            &f32s(r, &[2, 3, 4]),
            &f32s(r, &[4, 2]),
            Some(&c),
            false,
            false,
            1.0,
            0.0,
        ));
    }
}

#[test]
fn beta_without_c() {
    let r = &mut rng(fresh_seed());
    for (_, ctx) in contexts() {
        let (a, b) = (f32s(r, &[3, 4]), f32s(r, &[4, 2]));
        let res = ctx.matmul_alpha_beta(&a, &b, None, false, false, 1.0, 0.5);
        assert!(matches!(res, Err(Error::InvalidArgument(_))), "{res:?}");
        let mut cache = metallic::ResourceCache::new();
        let res =
            ctx.matmul_alpha_beta_with_cache(&a, &b, None, false, false, 1.0, 0.5, &mut cache);
        assert!(res.is_err());
        assert!(ctx
            .matmul_alpha_beta(&a, &b, None, false, false, 2.0, 0.0)
            .is_ok());
    }
}

#[test]
fn wrong_dtypes() {
    let r = &mut rng(fresh_seed());
    for (_, ctx) in contexts() {
        let (a, b) = (f32s(r, &[3, 4]), f32s(r, &[4, 2]));
        let c16 = random(r, DType::F16, &[3, 2]);
        assert!(ctx
            .matmul_alpha_beta(&a, &b, Some(&c16), false, false, 1.0, 0.0)
            .is_err());
        let q = Tensor::from_bytes(&CPU, DType::Q8_0, &[0; 3 * 34], &[3, 32]).unwrap();
        let res = ctx.matmul(&q, &f32s(r, &[32, 2]));
        assert!(matches!(res, Err(Error::Unsupported(_))), "{res:?}");
        // Quantized weights must be stored [N, K] and used transposed.
        let w = Tensor::from_bytes(&CPU, DType::Q8_0, &[0; 4 * 34], &[4, 32]).unwrap();
        let res = ctx.matmul(&f32s(r, &[2, 4]), &w);
        assert!(
            matches!(res, Err(Error::Layout { operand: "b", .. })),
            "{res:?}"
        );
    }
}

#[test]
fn impossible_strides() {
    let r = &mut rng(fresh_seed());
    for (_, ctx) in contexts() {
        let b = f32s(r, &[4, 2]);
        // Rows repeated by a zero stride: neither row- nor column-major.
        let a = f32s(r, &[1, 4]).broadcast_to(&[3, 4]).unwrap();
        let res = ctx.matmul(&a, &b);
        match res {
            Err(Error::Layout { operand, detail }) => {
                assert_eq!(operand, "a");
                assert!(detail.contains("(0, 1)"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        // Strides that step by 2 in both dimensions.
        let wide = f32s(r, &[40]);
        let b = wide.as_strided(&[4, 2], &[4, 2], 0).unwrap();
        let res = ctx.matmul(&f32s(r, &[3, 4]), &b);
        assert!(
            matches!(res, Err(Error::Layout { operand: "b", .. })),
            "{res:?}"
        );
        // Overlapping rows (row stride below the row length).
        let a = wide.as_strided(&[3, 4], &[2, 1], 0).unwrap();
        assert!(matches!(
            ctx.matmul(&a, &f32s(r, &[4, 2])),
            Err(Error::Layout { operand: "a", .. })
        ));
    }
}

#[test]
fn outputs_that_overlap_themselves() {
    let r = &mut rng(fresh_seed());
    for (_, ctx) in contexts() {
        let (a, b) = (f32s(r, &[2, 3, 4]), f32s(r, &[4, 5]));
        // Every batch would write the same matrix.
        let c = f32s(r, &[3, 5]).broadcast_to(&[2, 3, 5]).unwrap();
        let res = ctx.matmul_alpha_beta(&a, &b, Some(&c), false, false, 1.0, 0.0);
        assert!(
            matches!(res, Err(Error::Layout { operand: "c", .. })),
            "{res:?}"
        );
        // Two batch matrices that share rows.
        let c = f32s(r, &[40])
            .as_strided(&[2, 3, 5], &[10, 5, 1], 0)
            .unwrap();
        let res = ctx.matmul_alpha_beta(&a, &b, Some(&c), false, false, 1.0, 0.0);
        assert!(
            matches!(res, Err(Error::Layout { operand: "c", .. })),
            "{res:?}"
        );
    }
}

#[test]
fn output_aliasing_an_input() {
    let r = &mut rng(fresh_seed());
    for (_, ctx) in contexts() {
        let a = f32s(r, &[4, 4]);
        let b = f32s(r, &[4, 4]);
        let res = ctx.matmul_alpha_beta(&a, &b, Some(&a), false, false, 1.0, 0.0);
        assert!(matches!(res, Err(Error::InvalidArgument(_))), "{res:?}");
        // A disjoint part of the same buffer is still refused.
        let both = f32s(r, &[8, 4]);
        let (top, bottom) = (both.slice(0, 0..4).unwrap(), both.slice(0, 4..8).unwrap());
        let res = ctx.matmul_alpha_beta(&b, &top, Some(&bottom), false, false, 1.0, 0.0);
        assert!(matches!(res, Err(Error::InvalidArgument(_))), "{res:?}");
        // Inputs may share a buffer with each other.
        assert!(ctx.matmul(&top, bottom.t()).is_ok());
    }
}

#[test]
fn conflicting_borrows() {
    let r = &mut rng(fresh_seed());
    for (_, ctx) in contexts() {
        let (a, b, c) = (f32s(r, &[3, 4]), f32s(r, &[4, 2]), f32s(r, &[3, 2]));
        {
            let _writing_b = b.buffer().write().unwrap();
            assert!(ctx.matmul(&a, &b).is_err());
        }
        {
            let _reading_c = c.buffer().read().unwrap();
            let res = ctx.matmul_alpha_beta(&a, &b, Some(&c), false, false, 1.0, 0.0);
            assert!(matches!(res, Err(Error::InvalidArgument(_))), "{res:?}");
        }
        assert!(ctx
            .matmul_alpha_beta(&a, &b, Some(&c), false, false, 1.0, 0.0)
            .is_ok());
    }
}
