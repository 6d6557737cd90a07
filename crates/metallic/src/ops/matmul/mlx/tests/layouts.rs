//! Layouts and shapes through the default tile rule: column-major output,
//! model shapes, broadcast and interleaved batches, folding, k = 0, caching.

use super::*;
use rand::Rng;

#[test]
fn column_major_output_and_mixed_layouts() {
    let cpu = MlxCpu::new();
    for bits in 0..8 {
        let layout = |i: u32| bits >> i & 1 == 1;
        let case = Case {
            row_major: [layout(0), layout(1), layout(2)],
            alpha: 0.5,
            beta: 2.0,
            ..Case::plain(45, 70, 33)
        };
        check_case::<f32>(&cpu, &case);
        check_case::<bf16>(
            &cpu,
            &Case {
                m: 1,
                ..case.clone()
            },
        );
    }
}

#[test]
fn default_tiles_on_model_shapes() {
    let cpu = MlxCpu::new();
    // Prefill-sized products, attention QKᵀ (k = 64) and P·V, and decode rows.
    for (m, n, k) in [
        (128, 200, 256),
        (95, 95, 64),
        (128, 64, 128),
        (1, 512, 64),
        (1, 64, 95),
        (1, 1152, 256),
    ] {
        for transpose_b in [false, true] {
            let case = Case {
                row_major: [true, !transpose_b, true],
                ..Case::plain(m, n, k)
            };
            check_case::<f32>(&cpu, &case);
            check_case::<f16>(&cpu, &case);
        }
    }
}

#[test]
fn higher_rank_broadcast_batches() {
    let cpu = MlxCpu::new();
    let mut rng = rng(fresh_seed());
    for (broadcast_a, broadcast_b) in [
        (vec![false, false, false], vec![true, true, true]),
        (vec![true, false, true], vec![false, true, false]),
        (vec![false, false, false], vec![false, false, false]),
    ] {
        let case = Case {
            batch_shape: vec![2, 3, 2],
            broadcast_a,
            broadcast_b,
            alpha: rng.random_range(-2.0..2.0),
            beta: rng.random_range(-2.0..2.0),
            ..Case::plain(19, 23, 17)
        };
        check_case::<f32>(&cpu, &case);
        check_case::<f32>(
            &cpu,
            &Case {
                m: 1,
                ..case.clone()
            },
        );
    }
}

#[test]
fn empty_k_scales_c() {
    let cpu = MlxCpu::new();
    check_case::<f32>(
        &cpu,
        &Case {
            beta: 0.5,
            ..Case::plain(9, 40, 0)
        },
    );
    check_case::<f32>(&cpu, &Case::plain(9, 40, 0));
    check_case::<f32>(
        &cpu,
        &Case {
            beta: -1.0,
            ..Case::plain(1, 40, 0)
        },
    );
}

#[test]
fn instances_are_cached_once() {
    let cpu = MlxCpu::new();
    check_case::<f32>(&cpu, &Case::plain(20, 20, 20));
    check_case::<f32>(&cpu, &Case::plain(20, 20, 20));
    check_case::<f32>(
        &cpu,
        &Case {
            alpha: 2.0,
            ..Case::plain(20, 20, 20)
        },
    );
    assert_eq!(cpu.cached_kernels().len(), 2);
}

/// Grouped-query attention's shape, `[2, 7, m, k] × [2, 1, k, n]`: with A's
/// and C's matrices stacked, the 7 shared-B matrices fold into one product
/// of 7·m rows (even m = 1 rows become a blocked product); `[3, m, k] ×
/// [k, n]` folds completely.
#[test]
fn shared_b_batches_fold_into_m() {
    for m in [1, 5] {
        for transpose_b in [false, true] {
            let stacked = Case {
                row_major: [true, !transpose_b, true],
                pad: 0,
                ..Case::plain(m, 40, 64)
            };
            let grouped = Case {
                batch_shape: vec![2, 7],
                broadcast_a: vec![false, false],
                broadcast_b: vec![false, true],
                ..stacked.clone()
            };
            let shared = Case {
                batch_shape: vec![3],
                broadcast_a: vec![false],
                broadcast_b: vec![true],
                beta: 0.5,
                ..stacked.clone()
            };
            for (case, batched) in [(grouped, true), (shared, false)] {
                let cpu = MlxCpu::new();
                check_case::<f32>(&cpu, &case);
                let key = cpu.cached_kernels()[0];
                assert_eq!(
                    (key.kind, key.flags.batched),
                    (KernelKind::Gemm, batched),
                    "{case:?}"
                );
            }
        }
    }
}

/// Output matrices that interleave without overlapping are accepted.
#[test]
fn interleaved_output_batches() {
    let cpu = MlxCpu::new();
    for m in [1, 6] {
        let case = Case {
            batch_shape: vec![2, 3],
            broadcast_a: vec![false, false],
            broadcast_b: vec![false, true],
            interleaved_c: true,
            beta: 0.25,
            ..Case::plain(m, 8, 5)
        };
        check_case::<f32>(&cpu, &case);
        check_case::<f16>(&cpu, &Case { beta: 0.0, ..case });
    }
}
