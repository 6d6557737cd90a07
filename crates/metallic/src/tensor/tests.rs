use super::*;
use crate::testing::{fresh_seed, random_vec, rng};
use std::io::Write;

const CPU: Device = Device::Cpu;

/// A 3×4 tensor holding 0..12 row-major.
fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|v| v as f32).collect();
    Tensor::from_f32(&CPU, &values, shape).unwrap()
}

#[test]
fn round_trips_through_host_vectors() {
    let seed = fresh_seed();
    let values = random_vec(&mut rng(seed), 24);
    let t = Tensor::from_f32(&CPU, &values, &[2, 3, 4]).unwrap();
    assert_eq!(t.to_f32_vec().unwrap(), values, "seed {seed}");
    assert!(t.is_contiguous());
    assert_eq!(t.strides(), &[12, 4, 1]);

    let halves: Vec<f16> = values.iter().map(|&v| f16::from_f32(v)).collect();
    let t = Tensor::from_f16(&CPU, &halves, &[24]).unwrap();
    assert_eq!(t.to_f16_vec().unwrap(), halves);
    let brains: Vec<bf16> = values.iter().map(|&v| bf16::from_f32(v)).collect();
    let t = Tensor::from_bf16(&CPU, &brains, &[4, 6]).unwrap();
    assert_eq!(t.to_bf16_vec().unwrap(), brains);
    let widened: Vec<f32> = brains.iter().map(|v| v.to_f32()).collect();
    assert_eq!(t.to_f32_vec().unwrap(), widened);
}

use half::{bf16, f16};

#[test]
fn constructors_reject_bad_lengths_and_shapes() {
    assert!(Tensor::from_f32(&CPU, &[1.0, 2.0, 3.0], &[2, 2]).is_err());
    assert!(Tensor::from_bytes(&CPU, DType::Q8_0, &[0; 34], &[16]).is_err());
    assert!(Tensor::from_bytes(&CPU, DType::Q8_0, &[0; 33], &[32]).is_err());
    assert!(Tensor::empty(&CPU, DType::F32, &[usize::MAX, 4]).is_err());
    let zeros = Tensor::empty(&CPU, DType::F16, &[3, 2]).unwrap();
    assert_eq!(zeros.to_f32_vec().unwrap(), vec![0.0; 6]);
}

#[test]
fn slices_select_and_narrow_without_copying() {
    let t = iota(&[3, 4]);
    let cols = t.slice(1, 1..3).unwrap();
    assert_eq!(cols.shape(), &[3, 2]);
    assert_eq!(cols.strides(), &[4, 1]);
    assert!(!cols.is_contiguous());
    assert!(cols.shares_buffer(&t));
    assert_eq!(
        cols.to_f32_vec().unwrap(),
        vec![1.0, 2.0, 5.0, 6.0, 9.0, 10.0]
    );
    let row = t.select(0, 2).unwrap();
    assert_eq!(row.shape(), &[4]);
    assert_eq!(row.to_f32_vec().unwrap(), vec![8.0, 9.0, 10.0, 11.0]);
    assert_eq!(t.narrow(0, 1, 2).unwrap().to_f32_vec().unwrap()[0], 4.0);
    assert!(t.slice(1, 2..5).is_err());
    assert!(t.slice(2, 0..1).is_err());
    assert!(t.select(0, 3).is_err());
    assert!(t.narrow(0, usize::MAX, 2).is_err());
    assert_eq!(t.slice(0, 1..1).unwrap().numel(), 0);
}

#[test]
fn transpose_and_permute_reorder_strides() {
    let t = iota(&[2, 3]);
    let tt = t.transpose(0, 1).unwrap();
    assert_eq!(tt.shape(), &[3, 2]);
    assert_eq!(tt.to_f32_vec().unwrap(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    assert!(t.transpose(0, 2).is_err());

    // [seq, heads*dim] -> [seq, heads, dim] -> [heads, seq, dim]
    let seq_major = iota(&[2, 6]);
    let heads = seq_major
        .reshape(&[2, 3, 2])
        .unwrap()
        .permute(&[1, 0, 2])
        .unwrap();
    assert_eq!(heads.shape(), &[3, 2, 2]);
    assert_eq!(
        heads.select(0, 1).unwrap().to_f32_vec().unwrap(),
        vec![2.0, 3.0, 8.0, 9.0]
    );
    assert!(heads.permute(&[0, 0, 1]).is_err());
    assert!(heads.permute(&[0, 1]).is_err());
    assert!(heads.permute(&[0, 1, 3]).is_err());
    // Back to [seq, heads*dim] needs the inverse permute first.
    let back = heads.permute(&[1, 0, 2]).unwrap().reshape(&[2, 6]).unwrap();
    assert_eq!(back.to_f32_vec().unwrap(), seq_major.to_f32_vec().unwrap());
    assert!(heads.reshape(&[12]).is_err());
}

#[test]
fn reshape_respects_strides() {
    let t = iota(&[4, 6]);
    let padded = t.slice(1, 0..4).unwrap();
    assert!(padded.reshape(&[16]).is_err());
    let split = padded.reshape(&[4, 2, 2]).unwrap();
    assert_eq!(split.to_f32_vec().unwrap(), padded.to_f32_vec().unwrap());
    assert!(t.reshape(&[5, 5]).is_err());
    let unsq = t.unsqueeze(0).unwrap();
    assert_eq!(unsq.shape(), &[1, 4, 6]);
    assert_eq!(unsq.squeeze(0).unwrap().shape(), &[4, 6]);
    assert_eq!(t.unsqueeze(2).unwrap().shape(), &[4, 6, 1]);
    assert!(t.unsqueeze(3).is_err());
    assert!(t.squeeze(0).is_err());
}

#[test]
fn broadcast_uses_zero_strides() {
    let row = iota(&[1, 3]);
    let b = row.broadcast_to(&[2, 4, 3]).unwrap();
    assert_eq!(b.strides(), &[0, 0, 1]);
    let values = b.to_f32_vec().unwrap();
    assert_eq!(values.len(), 24);
    assert!(values.chunks(3).all(|c| c == [0.0, 1.0, 2.0]));
    assert!(row.broadcast_to(&[2, 2]).is_err());
    assert!(row.broadcast_to(&[3]).is_err());
    assert!(b.write_f32(&[0.0; 24]).is_err());
}

#[test]
fn writes_scatter_into_strided_views() {
    let cache = Tensor::empty(&CPU, DType::F32, &[4, 3]).unwrap();
    let step = cache.slice(0, 1..3).unwrap().transpose(0, 1).unwrap();
    step.write_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    assert_eq!(
        cache.to_f32_vec().unwrap(),
        vec![0.0, 0.0, 0.0, 1.0, 3.0, 5.0, 2.0, 4.0, 6.0, 0.0, 0.0, 0.0]
    );
    let src = iota(&[2, 3]);
    cache.slice(0, 2..4).unwrap().copy_from(&src).unwrap();
    assert_eq!(
        cache.select(0, 3).unwrap().to_f32_vec().unwrap(),
        vec![3.0, 4.0, 5.0]
    );
    // Same buffer: read first, then written.
    cache
        .select(0, 0)
        .unwrap()
        .copy_from(&cache.select(0, 3).unwrap())
        .unwrap();
    assert_eq!(
        cache.select(0, 0).unwrap().to_f32_vec().unwrap(),
        vec![3.0, 4.0, 5.0]
    );
    assert!(cache.write_f32(&[1.0]).is_err());
    assert!(cache.copy_from(&src).is_err());

    let half = Tensor::empty(&CPU, DType::BF16, &[2]).unwrap();
    half.write_f32(&[1.5, -2.0]).unwrap();
    assert_eq!(half.to_f32_vec().unwrap(), vec![1.5, -2.0]);
}

#[test]
fn from_parts_checks_bounds() {
    let t = iota(&[3, 4]);
    assert!(t.as_strided(&[3, 4], &[4, 1], 1).is_err());
    assert!(t.as_strided(&[2, 2], &[5, 2], 3).is_ok());
    assert!(t.as_strided(&[2, 2], &[5, 2], 4).is_ok());
    assert!(t.as_strided(&[2, 2], &[5, 2], 5).is_err());
    assert!(t.as_strided(&[2], &[1, 1], 0).is_err());
    assert!(t.as_strided(&[usize::MAX, 2], &[usize::MAX, 1], 0).is_err());
}

#[test]
fn quantized_views_keep_whole_blocks() {
    // Two rows of 64 Q8_0 values: 2 blocks of 34 bytes per row.
    let w = Tensor::from_bytes(&CPU, DType::Q8_0, &[0; 4 * 34], &[2, 64]).unwrap();
    assert_eq!(w.select(0, 1).unwrap().offset(), 64);
    assert_eq!(w.slice(0, 1..2).unwrap().shape(), &[1, 64]);
    assert!(w.slice(1, 0..16).is_err());
    let second_block = w.slice(1, 32..64).unwrap();
    assert_eq!(
        (second_block.offset(), second_block.strides()),
        (32, &[64, 1][..])
    );
    assert!(w.transpose(0, 1).is_err());
    assert!(w.reshape(&[4, 32]).is_ok());
    assert!(w.reshape(&[128, 1]).is_err());
    assert_eq!(w.unsqueeze(0).unwrap().shape(), &[1, 2, 64]);
    assert!(w.broadcast_to(&[3, 2, 64]).is_ok());
    assert!(w.as_strided(&[2, 64], &[64, 1], 16).is_err());
    assert!(w.write_f32(&[0.0; 128]).is_err());
}

#[test]
fn quantized_views_dequantize_row_by_row() {
    let seed = fresh_seed();
    let values = random_vec(&mut rng(seed), 3 * 64);
    let mut bytes = vec![0u8; 3 * 2 * 34];
    crate::quant::quantize(DType::Q8_0, &values, &mut bytes).unwrap();
    let w = Tensor::from_bytes(&CPU, DType::Q8_0, &bytes, &[3, 64]).unwrap();
    let mut expected = vec![0.0f32; 3 * 64];
    crate::quant::dequantize_f32(DType::Q8_0, &bytes, &mut expected).unwrap();
    assert_eq!(w.to_f32_vec().unwrap(), expected, "seed {seed}");
    // Every other row, second block only.
    let view = w.as_strided(&[2, 32], &[128, 1], 32).unwrap();
    let picked: Vec<f32> = [0, 2]
        .iter()
        .flat_map(|&r| expected[r * 64 + 32..r * 64 + 64].to_vec())
        .collect();
    assert_eq!(view.to_f32_vec().unwrap(), picked);
    // Broadcast rows, as an embedding lookup of one token repeated.
    let row = w.select(0, 1).unwrap().broadcast_to(&[2, 64]).unwrap();
    assert_eq!(row.to_f32_vec().unwrap()[64..], expected[64..128]);
}

#[test]
fn mmap_tensors_are_zero_copy_and_read_only() {
    let seed = fresh_seed();
    let values = random_vec(&mut rng(seed), 6);
    let path =
        std::env::temp_dir().join(format!("metallic-tensor-{}-{seed}.bin", std::process::id()));
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&[7u8; 8]).unwrap();
    file.write_all(bytemuck::cast_slice(&values)).unwrap();
    drop(file);
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: the file is private to this test and not modified while mapped.
    let map = Arc::new(unsafe { memmap2::Mmap::map(&file) }.unwrap());
    std::fs::remove_file(&path).unwrap();

    let t = Tensor::from_mmap(map.clone(), 8, 24, DType::F32, &[2, 3]).unwrap();
    assert_eq!(t.to_f32_vec().unwrap(), values);
    assert!(!t.buffer().is_writable());
    assert!(t.write_f32(&values).is_err());
    assert!(Tensor::from_mmap(map.clone(), 16, 24, DType::F32, &[2, 3]).is_err());
    assert!(Tensor::from_mmap(map, 8, 20, DType::F32, &[2, 3]).is_err());
}

#[test]
fn contiguous_f32_views_borrow_in_place() {
    let t = iota(&[3, 4]);
    let row = t.select(0, 1).unwrap();
    row.with_f32_mut(|v| v.iter_mut().for_each(|x| *x *= 2.0))
        .unwrap();
    assert_eq!(
        row.with_f32(|v| v.to_vec()).unwrap(),
        vec![8.0, 10.0, 12.0, 14.0]
    );
    assert_eq!(
        t.to_f32_vec().unwrap()[3..9],
        [3.0, 8.0, 10.0, 12.0, 14.0, 8.0]
    );
    // Borrow conflicts and non-contiguous or non-f32 views are errors.
    t.with_f32(|_| assert!(row.with_f32_mut(|_| ()).is_err()))
        .unwrap();
    assert!(t.slice(1, 0..2).unwrap().with_f32(|_| ()).is_err());
    assert!(t.transpose(0, 1).unwrap().with_f32_mut(|_| ()).is_err());
    let halves = Tensor::empty(&CPU, DType::F16, &[4]).unwrap();
    assert!(halves.with_f32(|_| ()).is_err());
}
