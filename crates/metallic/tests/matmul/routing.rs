//! Routing and instrumentation: a forced backend runs every dispatch, and
//! with profiling on the records say so; with it off nothing is kept.

use super::support::*;
use metallic::ops::matmul::BackendChoice;
use metallic::testing::{fresh_seed, rng};
use metallic::{Context, DType, Tensor};

fn run_some(ctx: &Context, r: &mut impl rand::Rng) {
    let (a, b) = (
        random(r, DType::F32, &[2, 5, 8]),
        random(r, DType::F32, &[6, 8]),
    );
    ctx.matmul(&a, b.t()).unwrap();
    let c = Tensor::empty(&CPU, DType::F32, &[2, 5, 6]).unwrap();
    ctx.matmul_alpha_beta(&a, &b, Some(&c), false, true, 1.0, 1.0)
        .unwrap();
    ctx.gemm(&a, b.t()).out(&c).beta(1.0).run().unwrap();
}

#[test]
fn a_forced_backend_runs_every_dispatch() {
    let r = &mut rng(fresh_seed());
    for (choice, name) in [
        (BackendChoice::Mlx, "mlx"),
        (BackendChoice::Vendor, "vendor"),
    ] {
        let ctx = Context::builder(CPU)
            .backend(choice)
            .profile(Some(true))
            .build()
            .unwrap();
        assert_eq!(ctx.backend_choice(), choice);
        run_some(&ctx, r);
        let records = ctx.instrumentation().records();
        assert_eq!(records.len(), 3);
        assert!(records.iter().all(|rec| rec.backend == name), "{records:?}");
        assert_eq!(records[0].op, "matmul");
        assert_eq!(records[1].op, "matmul_alpha_beta");
        assert_eq!(records[2].op, "gemm");
        let first = &records[0];
        assert_eq!((first.batch, first.m, first.n, first.k), (2, 5, 6, 8));
        assert!(!first.transpose_a && first.transpose_b);
        assert_eq!(first.dtype, DType::F32);
    }
}

#[test]
fn profiling_off_keeps_nothing() {
    let r = &mut rng(fresh_seed());
    let ctx = Context::builder(CPU)
        .backend(BackendChoice::Auto)
        .profile(Some(false))
        .build()
        .unwrap();
    assert!(!ctx.instrumentation().enabled());
    run_some(&ctx, r);
    assert!(ctx.instrumentation().records().is_empty());
}

#[test]
fn settings_latch_with_aliases_and_warn_on_unknown() {
    for (value, choice) in [
        ("MLX", BackendChoice::Mlx),
        ("mps", BackendChoice::Vendor),
        ("cublas", BackendChoice::Vendor),
    ] {
        assert_eq!(BackendChoice::from_setting(Some(value)), (choice, None));
    }
    let (choice, warning) = BackendChoice::from_setting(Some("nonsense"));
    assert_eq!(choice, BackendChoice::Auto);
    assert!(
        warning.is_some_and(|w| w.contains("mlx") && w.contains("vendor") && w.contains("auto"))
    );
}
