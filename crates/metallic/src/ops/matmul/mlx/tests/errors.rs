//! Misuse returns errors naming the operand, never a panic.

use super::*;

fn problem(m: usize, n: usize, k: usize) -> GemmProblem {
    let operand = |ld| MatrixOperand {
        dtype: DType::F32,
        row_major: true,
        ld,
        offset: 0,
        batch_strides: vec![],
    };
    GemmProblem {
        m,
        n,
        k,
        batch_shape: vec![],
        a: operand(k),
        b: operand(n),
        c: operand(n),
        alpha: 1.0,
        beta: 0.0,
    }
}

#[test]
fn misuse_returns_errors() {
    let cpu = MlxCpu::new();
    let a = vec![1.0f32; 64];
    let mut c = vec![0.0f32; 64];
    let run =
        |p: &GemmProblem, a: &[u8], c: &mut [f32]| cpu.run(p, a, a, bytemuck::cast_slice_mut(c));
    let bytes: &[u8] = bytemuck::cast_slice(&a);
    let p = problem(8, 8, 8);
    assert!(run(&p, bytes, &mut c).is_ok());
    assert!(matches!(
        run(&problem(8, 8, 9), bytes, &mut c),
        Err(Error::Layout { operand: "a", .. })
    ));
    let short_ld = GemmProblem {
        a: MatrixOperand {
            ld: 7,
            ..p.a.clone()
        },
        ..p.clone()
    };
    assert!(matches!(
        run(&short_ld, bytes, &mut c),
        Err(Error::Layout { operand: "a", .. })
    ));
    assert!(matches!(
        run(&p, &bytes[1..], &mut c),
        Err(Error::Layout { operand: "a", .. })
    ));
    let mixed = GemmProblem {
        b: MatrixOperand {
            dtype: DType::F16,
            ..p.b.clone()
        },
        ..p.clone()
    };
    assert!(matches!(
        run(&mixed, bytes, &mut c),
        Err(Error::Unsupported(_))
    ));
    let batched = GemmProblem {
        batch_shape: vec![2],
        a: MatrixOperand {
            batch_strides: vec![0],
            ..p.a.clone()
        },
        b: MatrixOperand {
            batch_strides: vec![0],
            ..p.b.clone()
        },
        c: MatrixOperand {
            batch_strides: vec![0],
            ..p.c.clone()
        },
        ..p.clone()
    };
    assert!(matches!(
        run(&batched, bytes, &mut c),
        Err(Error::Layout { operand: "c", .. })
    ));
    let rank = GemmProblem {
        batch_shape: vec![1],
        ..p.clone()
    };
    assert!(matches!(
        run(&rank, bytes, &mut c),
        Err(Error::Layout { operand: "a", .. })
    ));
    let huge = GemmProblem {
        a: MatrixOperand {
            offset: usize::MAX,
            ..p.a.clone()
        },
        ..p.clone()
    };
    assert!(matches!(
        run(&huge, bytes, &mut c),
        Err(Error::Layout { operand: "a", .. })
    ));
}

#[test]
fn quantized_b_needs_row_major_a_and_whole_blocks() {
    let cpu = MlxCpu::new();
    let weights = vec![0u8; 4 * 34];
    let a = vec![1.0f32; 64];
    let mut c = vec![0.0f32; 16];
    let base = problem(2, 4, 32);
    let quantized = MatrixOperand {
        dtype: DType::Q8_0,
        row_major: false,
        ld: 32,
        ..base.b.clone()
    };
    let mut p = GemmProblem {
        b: quantized,
        ..base
    };
    p.a.row_major = false;
    p.a.ld = 2;
    let err = cpu.run(
        &p,
        bytemuck::cast_slice(&a),
        &weights,
        bytemuck::cast_slice_mut(&mut c),
    );
    assert!(matches!(err, Err(Error::Unsupported(msg)) if msg.contains("row-major")));
    p.a.row_major = true;
    p.a.ld = 32;
    p.b.ld = 48;
    let err = cpu.run(
        &p,
        bytemuck::cast_slice(&a),
        &weights,
        bytemuck::cast_slice_mut(&mut c),
    );
    assert!(matches!(err, Err(Error::Layout { operand: "b", .. })));
}

#[test]
fn tiles_must_fit_the_microkernel() {
    for isa in available_isas() {
        let cpu = || MlxCpu::with_isa(isa);
        let (mr, nr) = (cpu().micro.mr, cpu().micro.nr);
        assert!(cpu()
            .with_gemm_tile(Tile {
                bm: mr,
                bn: nr,
                bk: 1
            })
            .is_ok());
        assert!(cpu()
            .with_gemm_tile(Tile {
                bm: mr + 1,
                bn: nr,
                bk: 8
            })
            .is_err());
        assert!(cpu()
            .with_gemm_tile(Tile {
                bm: mr,
                bn: nr,
                bk: 0
            })
            .is_err());
        assert!(cpu()
            .with_gemm_tile(Tile {
                bm: mr,
                bn: 2048 / nr * nr + nr,
                bk: 8
            })
            .is_err());
    }
}
