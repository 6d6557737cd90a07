//! Property test: random shapes, batch broadcasting, strides (contiguous,
//! padded, column-major views), transposes, α and β, on both backends
//! against the float64 reference.

use super::support::*;
use metallic::testing::rng;
use metallic::{DType, Tensor};
use proptest::prelude::*;

/// How an operand is stored.
#[derive(Clone, Copy, Debug)]
enum Storage {
    Contiguous,
    Padded(usize),
    ColumnMajor,
}

fn storage() -> impl Strategy<Value = Storage> {
    prop_oneof![
        Just(Storage::Contiguous),
        (1usize..4).prop_map(Storage::Padded),
        Just(Storage::ColumnMajor),
    ]
}

fn make(r: &mut impl rand::Rng, how: Storage, shape: &[usize]) -> Tensor {
    match how {
        Storage::Contiguous => random(r, DType::F32, shape),
        Storage::Padded(pad) => padded(r, DType::F32, shape, pad),
        Storage::ColumnMajor => col_major(r, DType::F32, shape),
    }
}

/// An operand's batch shape from the output's: dimensions whose bit is set
/// in `ones` become 1 (broadcast), and `drop` leading ones are left out.
fn operand_batch(batch: &[usize], ones: u8, drop: usize) -> Vec<usize> {
    batch
        .iter()
        .enumerate()
        .skip(drop.min(batch.len()))
        .map(|(i, &d)| if ones & (1 << i) != 0 { 1 } else { d })
        .collect()
}

#[derive(Debug, Clone)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    batch: Vec<usize>,
    broadcast: (u8, usize, u8, usize),
    transposes: (bool, bool),
    storages: (Storage, Storage, Storage),
    alpha: f32,
    beta: Option<f32>,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..20, 1usize..20, 1usize..20),
        prop::collection::vec(1usize..4, 0..3),
        (any::<u8>(), 0usize..3, any::<u8>(), 0usize..3),
        (any::<bool>(), any::<bool>()),
        (storage(), storage(), storage()),
        -2.0f32..2.0,
        prop::option::of(-2.0f32..2.0),
        any::<u64>(),
    )
        .prop_map(
            |((m, n, k), batch, broadcast, transposes, storages, alpha, beta, seed)| Case {
                m,
                n,
                k,
                batch,
                broadcast,
                transposes,
                storages,
                alpha,
                beta,
                seed,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_products_match_the_reference(case in case()) {
        let r = &mut rng(case.seed);
        let (ta, tb) = case.transposes;
        let (a_ones, a_drop, b_ones, b_drop) = case.broadcast;
        let mut a_shape = operand_batch(&case.batch, a_ones, a_drop);
        a_shape.extend([case.m, case.k]);
        let mut b_shape = operand_batch(&case.batch, b_ones, b_drop);
        b_shape.extend([case.k, case.n]);
        let a = make(r, case.storages.0, &stored(&a_shape, ta));
        let b = make(r, case.storages.1, &stored(&b_shape, tb));
        let (out_shape, _) = crate::reference::matmul(&a, &b, None, ta, tb, 1.0, 0.0);
        match case.beta {
            Some(beta) => {
                let c = make(r, case.storages.2, &out_shape);
                check_alpha_beta(&a, &b, &c, ta, tb, case.alpha, beta, case.seed);
            }
            None => {
                let (_, expected) = crate::reference::matmul(&a, &b, None, ta, tb, case.alpha as f64, 0.0);
                for (name, ctx) in contexts() {
                    let out = ctx.matmul_alpha_beta(&a, &b, None, ta, tb, case.alpha, 0.0).unwrap();
                    check(name, &out, &expected, tolerance(DType::F32, case.k), case.seed);
                }
            }
        }
    }
}
