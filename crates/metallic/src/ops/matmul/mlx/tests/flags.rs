//! Every instantiated flag combination, on each instruction set and dtype,
//! builds exactly the key it should and matches the reference.

use super::*;

fn alpha_beta(use_out_source: bool, do_axpby: bool) -> (f32, f32) {
    match (use_out_source, do_axpby) {
        (false, false) => (1.0, 0.0),
        (false, true) => (-0.75, 0.0),
        (true, false) => (1.0, 1.0),
        (true, true) => (1.5, -0.5),
    }
}

/// Runs `case` on a fresh backend and checks it built exactly `expected`.
fn check_flags<E: TestElement>(cpu: MlxCpu, case: &Case, expected: impl Fn(&MlxKernelKey) -> bool) {
    check_case::<E>(&cpu, case);
    let keys = cpu.cached_kernels();
    assert_eq!(keys.len(), 1, "{case:?}");
    assert!(expected(&keys[0]), "{case:?} built {}", keys[0].name());
}

fn each_dtype(f: impl Fn(DType)) {
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        f(dtype)
    }
}

fn run_typed(dtype: DType, cpu: MlxCpu, case: &Case, expected: impl Fn(&MlxKernelKey) -> bool) {
    match dtype {
        DType::F16 => check_flags::<f16>(cpu, case, expected),
        DType::BF16 => check_flags::<bf16>(cpu, case, expected),
        _ => check_flags::<f32>(cpu, case, expected),
    }
}

#[test]
fn every_gemm_flag_combination_on_every_isa_and_dtype() {
    for isa in available_isas() {
        let mr_nr = MlxCpu::with_isa(isa);
        let (mr, nr) = (mr_nr.micro.mr, mr_nr.micro.nr);
        let tile = Tile {
            bm: 2 * mr,
            bn: nr,
            bk: 8,
        };
        each_dtype(|dtype| {
            for bits in 0u32..256 {
                let flag = |i: u32| bits >> i & 1 == 1;
                let (ta, tb, batched, am, an, ak, out, axpby) = (
                    flag(0),
                    flag(1),
                    flag(2),
                    flag(3),
                    flag(4),
                    flag(5),
                    flag(6),
                    flag(7),
                );
                let (alpha, beta) = alpha_beta(out, axpby);
                let mut case = Case {
                    row_major: [!ta, !tb, true],
                    alpha,
                    beta,
                    ..Case::plain(
                        if am { 2 * tile.bm } else { tile.bm + 3 },
                        if an { 2 * tile.bn } else { tile.bn + 5 },
                        if ak { 3 * tile.bk } else { 2 * tile.bk + 3 },
                    )
                };
                if batched {
                    case.batch_shape = vec![2, 2];
                    case.broadcast_a = vec![false, true];
                    case.broadcast_b = vec![true, false];
                }
                let cpu = MlxCpu::with_isa(isa).with_gemm_tile(tile).unwrap();
                run_typed(dtype, cpu, &case, |key| {
                    *key == MlxKernelKey {
                        kind: KernelKind::Gemm,
                        dtype,
                        isa,
                        tile,
                        flags: GemmFlags {
                            transpose_a: ta,
                            transpose_b: tb,
                            batched,
                            align_m: am,
                            align_n: an,
                            align_k: ak,
                            use_out_source: out,
                            do_axpby: axpby,
                        },
                    }
                });
            }
        });
    }
}

#[test]
fn every_gemv_flag_combination_on_every_isa_and_dtype() {
    for isa in available_isas() {
        each_dtype(|dtype| {
            for bits in 0u32..128 {
                let flag = |i: u32| bits >> i & 1 == 1;
                let (ta, tb, batched, an, ak, out, axpby) = (
                    flag(0),
                    flag(1),
                    flag(2),
                    flag(3),
                    flag(4),
                    flag(5),
                    flag(6),
                );
                let bn = if tb {
                    GEMV_COLUMNS_DOT
                } else {
                    GEMV_COLUMNS_ROWS
                };
                let (alpha, beta) = alpha_beta(out, axpby);
                let mut case = Case {
                    row_major: [!ta, !tb, true],
                    alpha,
                    beta,
                    ..Case::plain(
                        1,
                        if an { 2 * bn } else { bn + 7 },
                        if ak { GEMV_DEPTH } else { 203 },
                    )
                };
                if batched {
                    case.batch_shape = vec![3];
                    case.broadcast_a = vec![false];
                    case.broadcast_b = vec![true];
                }
                let cpu = MlxCpu::with_isa(isa);
                run_typed(dtype, cpu, &case, |key| {
                    let f = &key.flags;
                    key.kind == KernelKind::Gemv
                        && (f.transpose_a, f.transpose_b, f.batched) == (ta, tb, batched)
                        && (f.align_m, f.align_n, f.align_k) == (true, an, ak)
                        && (f.use_out_source, f.do_axpby) == (out, axpby)
                        && key.dtype == dtype
                        && key.isa == isa
                });
            }
        });
    }
}
