use super::*;
use crate::device::Device;

fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
    Tensor::empty(&Device::Cpu, dtype, shape).unwrap()
}

fn f32s(shape: &[usize]) -> Tensor {
    zeros(DType::F32, shape)
}

#[test]
fn plain_row_major_product() {
    let (a, b, c) = (f32s(&[3, 4]), f32s(&[4, 5]), f32s(&[3, 5]));
    let p = GemmProblem::from_views(&a, &b, &c, false, false, 2.0, 0.5).unwrap();
    assert_eq!((p.m, p.n, p.k), (3, 5, 4));
    assert!(p.batch_shape.is_empty());
    assert_eq!(p.batch_count(), 1);
    assert_eq!((p.a.row_major, p.a.ld), (true, 4));
    assert_eq!((p.b.row_major, p.b.ld), (true, 5));
    assert_eq!((p.c.row_major, p.c.ld), (true, 5));
    assert_eq!((p.alpha, p.beta), (2.0, 0.5));
}

#[test]
fn transposes_flip_the_major_order() {
    let (a, b, c) = (f32s(&[4, 3]), f32s(&[5, 4]), f32s(&[3, 5]));
    let p = GemmProblem::from_views(&a, &b, &c, true, true, 1.0, 0.0).unwrap();
    assert_eq!((p.m, p.n, p.k), (3, 5, 4));
    assert_eq!((p.a.row_major, p.a.ld), (false, 3));
    assert_eq!((p.b.row_major, p.b.ld), (false, 4));
    // A transposed view is column-major; the flag on top makes it row-major.
    let at = a.transpose(0, 1).unwrap();
    let p = GemmProblem::from_views(&at, &b, &c, false, true, 1.0, 0.0).unwrap();
    assert_eq!((p.a.row_major, p.a.ld), (false, 3));
    let p = GemmProblem::from_views(&at.transpose(0, 1).unwrap(), &b, &c, true, true, 1.0, 0.0);
    assert!(!p.unwrap().a.row_major);
}

#[test]
fn padded_views_keep_their_leading_dimension_and_offset() {
    let big = f32s(&[10, 16]);
    let a = big.slice(0, 2..5).unwrap().slice(1, 3..7).unwrap();
    let b = f32s(&[4, 5]);
    let c = f32s(&[3, 9]).slice(1, 1..6).unwrap();
    let p = GemmProblem::from_views(&a, &b, &c, false, false, 1.0, 0.0).unwrap();
    assert_eq!((p.a.ld, p.a.offset), (16, 2 * 16 + 3));
    assert_eq!((p.c.ld, p.c.offset), (9, 1));
}

#[test]
fn size_one_dimensions_never_constrain() {
    // A single row with a junk row stride reads as row-major with ld = its
    // length; a single column with a junk column stride as row-major with
    // ld = its row stride.
    let base = f32s(&[64]);
    let row = base.as_strided(&[1, 8], &[3, 1], 0).unwrap();
    let col = base.as_strided(&[8, 1], &[1, 5], 0).unwrap();
    let c = f32s(&[1, 1]);
    let p = GemmProblem::from_views(&row, &col, &c, false, false, 1.0, 0.0).unwrap();
    assert_eq!((p.a.row_major, p.a.ld), (true, 8));
    assert_eq!((p.b.row_major, p.b.ld), (true, 1));
}

#[test]
fn batches_broadcast_with_zero_strides() {
    let a = f32s(&[2, 3, 5, 4]);
    let b = f32s(&[3, 4, 6]);
    let c = f32s(&[2, 3, 5, 6]);
    let p = GemmProblem::from_views(&a, &b, &c, false, false, 1.0, 0.0).unwrap();
    assert_eq!(p.batch_shape, vec![2, 3]);
    assert_eq!(p.a.batch_strides, vec![60, 20]);
    assert_eq!(p.b.batch_strides, vec![0, 24]);
    assert_eq!(p.c.batch_strides, vec![90, 30]);
    assert_eq!(p.batch_offset(&p.b, 4), 24);

    let a = f32s(&[4, 1, 5, 4]);
    let b = f32s(&[1, 3, 4, 6]);
    let c = f32s(&[4, 3, 5, 6]);
    let p = GemmProblem::from_views(&a, &b, &c, false, false, 1.0, 0.0).unwrap();
    assert_eq!(p.a.batch_strides, vec![20, 0]);
    assert_eq!(p.b.batch_strides, vec![0, 24]);
    let bad = f32s(&[2, 4, 6]);
    assert!(GemmProblem::from_views(&a, &bad, &c, false, false, 1.0, 0.0).is_err());
}

#[test]
fn quantized_weights_are_column_major_b() {
    let x = f32s(&[2, 64]);
    let w = Tensor::from_bytes(&Device::Cpu, DType::Q8_0, &[0; 3 * 2 * 34], &[3, 64])
        .unwrap()
        .slice(0, 1..3)
        .unwrap();
    let out = f32s(&[2, 2]);
    let p = GemmProblem::from_views(&x, &w, &out, false, true, 1.0, 0.0).unwrap();
    assert_eq!((p.m, p.n, p.k), (2, 2, 64));
    assert_eq!(p.b.dtype, DType::Q8_0);
    assert_eq!((p.b.row_major, p.b.ld, p.b.offset), (false, 64, 64));
    assert!(matches!(
        GemmProblem::from_views(&f32s(&[2, 3]), &w, &f32s(&[2, 64]), false, false, 1.0, 0.0),
        Err(Error::Layout { operand: "b", .. })
    ));
    assert!(GemmProblem::from_views(&w, &x, &out, false, true, 1.0, 0.0).is_err());
}

#[test]
fn outputs_may_interleave_but_not_overlap() {
    // [heads, seq, dim] over a [seq, heads·dim] buffer: interleaved, fine.
    let out = f32s(&[5, 4 * 8])
        .reshape(&[5, 4, 8])
        .unwrap()
        .permute(&[1, 0, 2])
        .unwrap();
    let (p, v) = (f32s(&[4, 5, 7]), f32s(&[4, 7, 8]));
    let problem = GemmProblem::from_views(&p, &v, &out, false, false, 1.0, 0.0).unwrap();
    assert_eq!(
        (problem.c.ld, problem.c.batch_strides.clone()),
        (32, vec![8])
    );
    let overlapping = f32s(&[5, 8]).broadcast_to(&[4, 5, 8]).unwrap();
    assert!(matches!(
        GemmProblem::from_views(&p, &v, &overlapping, false, false, 1.0, 0.0),
        Err(Error::Layout { operand: "c", .. })
    ));
}

#[test]
fn misshaped_or_mistyped_outputs_are_errors() {
    let (a, b) = (f32s(&[3, 4]), f32s(&[4, 5]));
    assert!(matches!(
        GemmProblem::from_views(&a, &b, &f32s(&[5, 3]), false, false, 1.0, 0.0),
        Err(Error::Shape(_))
    ));
    assert!(
        GemmProblem::from_views(&a, &b, &zeros(DType::F16, &[3, 5]), false, false, 1.0, 0.0)
            .is_err()
    );
    assert_eq!(
        GemmProblem::output_shape(&a, &b, false, false).unwrap(),
        vec![3, 5]
    );
    assert!(GemmProblem::output_shape(&a, &b, true, false).is_err());
}

#[test]
fn spans_cover_exactly_what_the_batch_reaches() {
    // a: 2 batches of a padded 3×4 block (ld 6) at offset 5, batch stride 20.
    let a = f32s(&[64]).as_strided(&[2, 3, 4], &[20, 6, 1], 5).unwrap();
    let (b, c) = (f32s(&[4, 5]), f32s(&[2, 3, 5]));
    let p = GemmProblem::from_views(&a, &b, &c, false, false, 1.0, 0.0).unwrap();
    // Last element: 5 + 20 + 2·6 + 3 = 40.
    assert_eq!(p.span(Operand::A).unwrap(), Span { start: 5, end: 41 });
    assert_eq!(p.span(Operand::B).unwrap(), Span { start: 0, end: 20 });
    assert_eq!(p.span(Operand::C).unwrap(), Span { start: 0, end: 30 });
    assert!(p.span_within(Operand::A, 41 * 4).is_ok());
    assert!(matches!(
        p.span_within(Operand::A, 41 * 4 - 1),
        Err(Error::Layout { operand: "a", .. })
    ));
    let short_ld = GemmProblem {
        a: MatrixOperand {
            ld: 3,
            ..p.a.clone()
        },
        ..p.clone()
    };
    assert!(matches!(
        short_ld.span(Operand::A),
        Err(Error::Layout { operand: "a", .. })
    ));
    let huge = GemmProblem {
        a: MatrixOperand {
            offset: usize::MAX - 3,
            ..p.a.clone()
        },
        ..p.clone()
    };
    assert!(matches!(
        huge.span(Operand::A),
        Err(Error::Layout { operand: "a", .. })
    ));
}

#[test]
fn quantized_operands_must_lie_in_whole_blocks_along_k() {
    let (a, c) = (f32s(&[3, 64]), f32s(&[3, 2]));
    let w = zeros(DType::Q8_0, &[2, 64]);
    let p = GemmProblem::from_views(&a, &w, &c, false, true, 1.0, 0.0).unwrap();
    assert_eq!(p.span(Operand::B).unwrap(), Span { start: 0, end: 128 });
    assert!(p
        .span_within(Operand::B, DType::Q8_0.bytes_for(128).unwrap())
        .is_ok());
    for bad in [
        MatrixOperand {
            ld: 48,
            ..p.b.clone()
        },
        MatrixOperand {
            offset: 16,
            ..p.b.clone()
        },
        MatrixOperand {
            row_major: true,
            ..p.b.clone()
        },
    ] {
        let q = GemmProblem {
            b: bad,
            ..p.clone()
        };
        assert!(
            matches!(q.span(Operand::B), Err(Error::Layout { operand: "b", .. })),
            "{:?}",
            q.b
        );
    }
}

#[test]
fn batches_collapse_where_strides_nest() {
    let p = |batch_shape: Vec<usize>, a: Vec<usize>, b: Vec<usize>, c: Vec<usize>| {
        let operand = |strides| MatrixOperand {
            dtype: DType::F32,
            row_major: true,
            ld: 4,
            offset: 0,
            batch_strides: strides,
        };
        GemmProblem {
            m: 4,
            n: 4,
            k: 4,
            batch_shape,
            a: operand(a),
            b: operand(b),
            c: operand(c),
            alpha: 1.0,
            beta: 0.0,
        }
    };
    let dim = |size, strides| BatchDim { size, strides };
    // Nested for all three (B broadcast): one dimension of 6.
    let nested = p(vec![2, 3], vec![48, 16], vec![0, 0], vec![48, 16]);
    assert_eq!(nested.batch_dims().unwrap(), vec![dim(6, [16, 0, 16])]);
    // B's outer stride breaks the nesting: two dimensions.
    let split = p(vec![2, 3], vec![48, 16], vec![100, 16], vec![48, 16]);
    assert_eq!(
        split.batch_dims().unwrap(),
        vec![dim(2, [48, 100, 48]), dim(3, [16, 16, 16])]
    );
    // Size-1 dimensions drop out; no batch at all is no dimension.
    let ones = p(vec![1, 3, 1], vec![7, 16, 9], vec![7, 0, 9], vec![7, 16, 9]);
    assert_eq!(ones.batch_dims().unwrap(), vec![dim(3, [16, 0, 16])]);
    assert!(p(vec![], vec![], vec![], vec![])
        .batch_dims()
        .unwrap()
        .is_empty());
    // Outputs that overlap, and strides that do not match the batch rank.
    assert!(matches!(
        p(vec![2], vec![16], vec![16], vec![0]).batch_dims(),
        Err(Error::Layout { operand: "c", .. })
    ));
    assert!(matches!(
        p(vec![2], vec![16], vec![], vec![16]).batch_dims(),
        Err(Error::Layout { operand: "b", .. })
    ));
}
