//! The design note's scenarios and its known gaps: transposes, α/β,
//! padded and transposed views, batches (higher rank, broadcast), dtypes.

use super::support::*;
use metallic::testing::{fresh_seed, rng};
use metallic::{DType, Tensor};

const FLOATS: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

#[test]
fn no_transposes() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for dtype in FLOATS {
        for (m, k, n) in [
            (1, 1, 1),
            (3, 5, 7),
            (17, 33, 65),
            (64, 64, 64),
            (2, 129, 3),
        ] {
            let a = random(r, dtype, &[m, k]);
            let b = random(r, dtype, &[k, n]);
            check_matmul(&a, &b, false, false, seed);
        }
    }
}

#[test]
fn left_right_and_both_transposed() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for dtype in FLOATS {
        for (ta, tb) in [(true, false), (false, true), (true, true)] {
            for (m, k, n) in [(1, 9, 4), (13, 31, 19), (40, 70, 33)] {
                let a = random(r, dtype, &stored(&[m, k], ta));
                let b = random(r, dtype, &stored(&[k, n], tb));
                check_matmul(&a, &b, ta, tb, seed);
            }
        }
    }
}

#[test]
fn transposed_views_without_flags() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    let a = col_major(r, DType::F32, &[21, 35]);
    let b = col_major(r, DType::F32, &[35, 18]);
    check_matmul(&a, &b, false, false, seed);
    // A transposed view used with the flag is row-major again.
    check_matmul(&a.transpose(0, 1).unwrap(), &b, true, false, seed);
}

#[test]
fn alpha_beta_with_nonzero_beta() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for dtype in FLOATS {
        for (alpha, beta) in [
            (1.0, 1.0),
            (0.5, -1.5),
            (-2.0, 0.25),
            (0.0, 2.0),
            (1.0, 0.0),
        ] {
            let a = random(r, dtype, &[9, 23]);
            let b = random(r, dtype, &[23, 14]);
            let c = random(r, dtype, &[9, 14]);
            check_alpha_beta(&a, &b, &c, false, false, alpha, beta, seed);
        }
    }
}

#[test]
fn padded_views() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for dtype in FLOATS {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = padded(r, dtype, &stored(&[19, 37], ta), 5);
            let b = padded(r, dtype, &stored(&[37, 11], tb), 3);
            assert!(!a.is_contiguous() && !b.is_contiguous());
            check_matmul(&a, &b, ta, tb, seed);
            let c = padded(r, dtype, &[19, 11], 7);
            check_alpha_beta(&a, &b, &c, ta, tb, 1.25, -0.5, seed);
        }
    }
}

#[test]
fn alpha_beta_on_sliced_and_transposed_operands() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for dtype in FLOATS {
        let a = padded(r, dtype, &[26, 12], 4).transpose(0, 1).unwrap(); // [12, 26] column-major
        let b = col_major(r, dtype, &[26, 15]);
        // The output itself a transposed (column-major) slice.
        let c = padded(r, dtype, &[15, 12], 2).transpose(0, 1).unwrap();
        check_alpha_beta(&a, &b, &c, false, false, 0.75, 1.5, seed);
        let c = col_major(r, dtype, &[12, 15]);
        check_alpha_beta(&a, &b, &c, false, false, -1.0, 0.0, seed);
    }
}

#[test]
fn small_batches() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for dtype in FLOATS {
        for (ta, tb) in [(false, false), (true, true)] {
            let a = random(r, dtype, &stored(&[3, 7, 16], ta));
            let b = random(r, dtype, &stored(&[3, 16, 5], tb));
            check_matmul(&a, &b, ta, tb, seed);
            let a = padded(r, dtype, &stored(&[4, 6, 10], ta), 2);
            let b = padded(r, dtype, &stored(&[4, 10, 9], tb), 1);
            let c = padded(r, dtype, &[4, 6, 9], 3);
            check_alpha_beta(&a, &b, &c, ta, tb, 0.5, 2.0, seed);
        }
    }
}

#[test]
fn higher_rank_and_broadcast_batches() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    let cases: [(&[usize], &[usize]); 6] = [
        (&[4, 5, 8], &[1, 8, 6]),
        (&[2, 3, 5, 8], &[8, 6]),
        (&[5, 8], &[2, 3, 8, 6]),
        (&[2, 1, 5, 8], &[1, 3, 8, 6]),
        (&[2, 3, 2, 5, 8], &[3, 1, 8, 6]),
        (&[1, 1, 5, 8], &[2, 8, 6]),
    ];
    for dtype in FLOATS {
        for (a_shape, b_shape) in cases {
            let a = random(r, dtype, a_shape);
            let b = random(r, dtype, b_shape);
            check_matmul(&a, &b, false, false, seed);
            let a = padded(r, dtype, &stored(a_shape, true), 2);
            let b = padded(r, dtype, &stored(b_shape, true), 3);
            check_matmul(&a, &b, true, true, seed);
        }
    }
    // A batch broadcast through a stride-0 view, and a permuted batch.
    let a = random(r, DType::F32, &[5, 8])
        .broadcast_to(&[3, 5, 8])
        .unwrap();
    let b = random(r, DType::F32, &[8, 3, 6])
        .permute(&[1, 0, 2])
        .unwrap();
    check_matmul(&a, &b, false, false, seed);
    let c = random(r, DType::F32, &[5, 3, 6])
        .permute(&[1, 0, 2])
        .unwrap();
    check_alpha_beta(&a, &b, &c, false, false, 1.0, -1.0, seed);
}

#[test]
fn cache_aware_alpha_beta() {
    let seed = fresh_seed();
    let r = &mut rng(seed);
    for dtype in FLOATS {
        let a = random(r, dtype, &[2, 11, 24]);
        let b = padded(r, dtype, &[24, 13], 3);
        check_alpha_beta_cached(&a, &b, None, false, false, 1.5, 0.0, seed);
        let c = padded(r, dtype, &[2, 11, 13], 2);
        check_alpha_beta_cached(&a, &b, Some(&c), false, false, -0.5, 0.75, seed);
        let at = random(r, dtype, &[2, 24, 11]);
        let bt = col_major(r, dtype, &[13, 24]);
        check_alpha_beta_cached(&at, &bt, None, true, true, 2.0, 0.0, seed);
    }
}

#[test]
fn empty_dimensions() {
    for (name, ctx) in contexts() {
        let a = Tensor::empty(&CPU, DType::F32, &[0, 4]).unwrap();
        let b = Tensor::from_f32(&CPU, &[1.0; 12], &[4, 3]).unwrap();
        assert_eq!(ctx.matmul(&a, &b).unwrap().shape(), &[0, 3], "{name}");
        // K = 0: the product is zero, so c becomes beta · c.
        let a = Tensor::empty(&CPU, DType::F32, &[2, 0]).unwrap();
        let b = Tensor::empty(&CPU, DType::F32, &[0, 3]).unwrap();
        let c = Tensor::from_f32(&CPU, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
        ctx.matmul_alpha_beta(&a, &b, Some(&c), false, false, 1.0, 0.5)
            .unwrap();
        assert_eq!(
            c.to_f32_vec().unwrap(),
            vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
            "{name}"
        );
        assert_eq!(
            ctx.matmul(&a, &b).unwrap().to_f32_vec().unwrap(),
            vec![0.0; 6]
        );
    }
}
