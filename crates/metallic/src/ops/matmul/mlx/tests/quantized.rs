//! The quantized-B mapping onto `quant::matmul_quantized`.

use super::*;

/// The quantized path adds only the mapping (batches, broadcast weights,
/// offsets, leading dimensions, f16/bf16 staging); the kernel's accuracy is
/// tested against float64 in tests/quant_matmul.rs. So each batch matrix
/// must equal, bit for bit, the kernel run directly on that matrix.
#[test]
fn quantized_b_maps_each_batch_onto_the_quant_kernel() {
    // Types `quant::quantize` writes (the K formats it only reads).
    for w_type in [DType::Q8_0, DType::Q5_0] {
        for beta in [0.0, 0.5] {
            check_quantized::<f32>(w_type, beta);
            check_quantized::<f16>(w_type, beta);
            check_quantized::<bf16>(w_type, beta);
        }
    }
}

fn check_quantized<E: TestElement>(w_type: DType, beta: f32) {
    for sliced in [false, true] {
        check_quantized_rows::<E>(w_type, beta, sliced);
    }
}

/// `sliced`: B is the second half (along k) of longer weight rows.
fn check_quantized_rows<E: TestElement>(w_type: DType, beta: f32, sliced: bool) {
    let seed = fresh_seed();
    let mut r = rng(seed);
    let (m, n, k, batches) = (5, 24, 256, 3);
    let ldb = if sliced { 2 * k } else { k };
    let (row_bytes, ld_bytes) = (w_type.bytes_for(k).unwrap(), w_type.bytes_for(ldb).unwrap());
    // One row of other weights first.
    let mut w = vec![0u8; ld_bytes * (n + 1)];
    crate::quant::quantize(w_type, &random_vec(&mut r, (n + 1) * ldb), &mut w).unwrap();
    let b_offset = ldb + ldb - k;
    let rows: Vec<u8> = (1..=n)
        .flat_map(|j| w[j * ld_bytes + ld_bytes - row_bytes..(j + 1) * ld_bytes].to_vec())
        .collect();
    let (lda, ldc) = (k + 4, n + 1);
    let (a_stride, c_stride) = (m * lda + 1, m * ldc + 3);
    let a: Vec<E> = random_vec(&mut r, 2 + batches * a_stride)
        .into_iter()
        .map(E::from_f32)
        .collect();
    let fill = if beta == 0.0 {
        vec![POISON; 1 + batches * c_stride]
    } else {
        random_vec(&mut r, 1 + batches * c_stride)
    };
    let c_before: Vec<E> = fill.into_iter().map(E::from_f32).collect();
    let operand = |dtype, row_major, ld, offset, stride| MatrixOperand {
        dtype,
        row_major,
        ld,
        offset,
        batch_strides: vec![stride],
    };
    let p = GemmProblem {
        m,
        n,
        k,
        batch_shape: vec![batches],
        a: operand(E::DTYPE, true, lda, 2, a_stride),
        b: operand(w_type, false, ldb, b_offset, 0),
        c: operand(E::DTYPE, true, ldc, 1, c_stride),
        alpha: 0.75,
        beta,
    };
    let mut c = c_before.clone();
    MlxCpu::new()
        .run(
            &p,
            bytemuck::cast_slice(&a),
            &w,
            bytemuck::cast_slice_mut(&mut c),
        )
        .unwrap_or_else(|e| panic!("{w_type} {} (seed {seed}): {e}", E::DTYPE));
    let widen = |v: &[E]| v.iter().map(|x| x.to_f64() as f32).collect::<Vec<f32>>();
    let mut expected = c_before.clone();
    for batch in 0..batches {
        let a32: Vec<f32> = (0..m)
            .flat_map(|i| widen(&a[2 + batch * a_stride + i * lda..][..k]))
            .collect();
        let mut c32: Vec<f32> = (0..m)
            .flat_map(|i| widen(&c_before[1 + batch * c_stride + i * ldc..][..n]))
            .collect();
        let product = crate::quant::QuantizedProduct {
            w_type,
            w: &rows,
            n,
            k,
            a: &a32,
            lda: k,
            m,
            ldc: n,
            alpha: 0.75,
            beta,
        };
        crate::quant::matmul_quantized(&product, &mut c32).unwrap();
        for i in 0..m {
            for j in 0..n {
                expected[1 + batch * c_stride + i * ldc + j] = E::from_f32(c32[i * n + j]);
            }
        }
    }
    let bits = |v: &[E]| bytemuck::cast_slice::<E, u8>(v).to_vec();
    assert_eq!(
        bits(&c),
        bits(&expected),
        "{w_type} {} beta {beta} sliced {sliced} (seed {seed})",
        E::DTYPE
    );
}
