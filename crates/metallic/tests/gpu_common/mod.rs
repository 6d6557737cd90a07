//! Helpers shared by the GPU tests: the device (a test fails, never skips,
//! without one), uploads in any float dtype with the rounded values kept as
//! the reference's inputs, poisoned outputs, and CPU decoders of GGUF blocks.
#![allow(dead_code)]

use half::{bf16, f16};
use metallic::device::cuda::{CudaBuffer, CudaDevice};
use metallic::ops::matmul::MatrixOperand;
use metallic::testing::{random_vec, Tolerance};
use metallic::DType;
use rand::Rng;

/// The GPU under test: `METALLIC_CUDA_DEVICE` (default 0). Panics, failing the
/// test, when there is none.
pub fn device() -> CudaDevice {
    let ordinal = std::env::var("METALLIC_CUDA_DEVICE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    CudaDevice::new(ordinal).unwrap_or_else(|e| panic!("GPU test needs a CUDA device: {e}"))
}

pub const FLOATS: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

pub fn tolerance(dtype: DType) -> Tolerance {
    match dtype {
        DType::F32 => Tolerance::F32,
        DType::F16 => Tolerance::F16,
        _ => Tolerance::BF16,
    }
}

/// `values` rounded to `dtype` and back (what the device will see).
pub fn round(values: &[f32], dtype: DType) -> Vec<f64> {
    decode(&encode(values, dtype), dtype)
        .into_iter()
        .map(f64::from)
        .collect()
}

pub fn encode(values: &[f32], dtype: DType) -> Vec<u8> {
    match dtype {
        DType::F32 => bytemuck::cast_slice(values).to_vec(),
        DType::F16 => values
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect(),
        DType::BF16 => values
            .iter()
            .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
            .collect(),
        other => panic!("encode: {other} is not a float type"),
    }
}

pub fn decode(bytes: &[u8], dtype: DType) -> Vec<f32> {
    match dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(bytemuck::pod_read_unaligned)
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => panic!("decode: {other} is not a float type"),
    }
}

/// Fresh random values in [-1, 1) on the device as `dtype`, and the rounded
/// values the reference uses.
pub fn upload_random(
    device: &CudaDevice,
    rng: &mut impl Rng,
    len: usize,
    dtype: DType,
) -> (CudaBuffer, Vec<f64>) {
    let values = random_vec(rng, len);
    upload(device, &values, dtype)
}

pub fn upload(device: &CudaDevice, values: &[f32], dtype: DType) -> (CudaBuffer, Vec<f64>) {
    let buffer = CudaBuffer::from_bytes(device, &encode(values, dtype)).unwrap();
    (buffer, round(values, dtype))
}

/// `len` NaNs of `dtype` on the device: unwritten elements fail comparison.
pub fn poisoned(device: &CudaDevice, len: usize, dtype: DType) -> CudaBuffer {
    let poison = vec![metallic::testing::POISON; len];
    CudaBuffer::from_bytes(device, &encode(&poison, dtype)).unwrap()
}

pub fn download(buffer: &CudaBuffer, dtype: DType) -> Vec<f32> {
    decode(&buffer.to_bytes().unwrap(), dtype)
}

/// Random GGUF blocks of a quantized `dtype` for `n` values: random bytes with
/// the scale fields set to finite f16 values of a realistic size.
pub fn random_blocks(rng: &mut impl Rng, dtype: DType, n: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..dtype.bytes_for(n).unwrap())
        .map(|_| rng.random())
        .collect();
    let scale =
        |rng: &mut dyn rand::RngCore| f16::from_f32(rng.random_range(0.001f32..0.05)).to_le_bytes();
    for block in bytes.chunks_exact_mut(dtype.block_bytes()) {
        match dtype {
            DType::Q8_0 | DType::Q5_0 => block[0..2].copy_from_slice(&scale(rng)),
            DType::Q4_K => {
                block[0..2].copy_from_slice(&scale(rng));
                block[2..4].copy_from_slice(&scale(rng));
            }
            DType::Q6_K => block[208..210].copy_from_slice(&scale(rng)),
            other => panic!("random_blocks: {other}"),
        }
    }
    bytes
}

/// CPU reference decoder of GGUF blocks (ggml's block loops), in f64.
pub fn dequantize_ref(bytes: &[u8], dtype: DType) -> Vec<f64> {
    let h = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f64();
    let mut out = Vec::new();
    for block in bytes.chunks_exact(dtype.block_bytes()) {
        match dtype {
            DType::Q8_0 => {
                let d = h(block);
                out.extend(block[2..34].iter().map(|&q| d * (q as i8) as f64));
            }
            DType::Q5_0 => {
                let d = h(block);
                let qh = u32::from_le_bytes(block[2..6].try_into().unwrap());
                let qs = &block[6..22];
                let mut values = [0f64; 32];
                for j in 0..16 {
                    let high0 = ((qh >> j) << 4) & 0x10;
                    let high1 = (qh >> (j + 12)) & 0x10;
                    values[j] = d * ((((qs[j] & 0x0f) as u32 | high0) as i32 - 16) as f64);
                    values[j + 16] = d * ((((qs[j] >> 4) as u32 | high1) as i32 - 16) as f64);
                }
                out.extend(values);
            }
            DType::Q4_K => {
                let (d, dmin) = (h(&block[0..2]), h(&block[2..4]));
                let scales = &block[4..16];
                let scale_min = |j: usize| -> (f64, f64) {
                    if j < 4 {
                        ((scales[j] & 63) as f64, (scales[j + 4] & 63) as f64)
                    } else {
                        (
                            ((scales[j + 4] & 0xf) | ((scales[j - 4] >> 6) << 4)) as f64,
                            ((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4)) as f64,
                        )
                    }
                };
                let mut q = &block[16..144];
                for chunk in 0..4 {
                    let (s1, m1) = scale_min(2 * chunk);
                    let (s2, m2) = scale_min(2 * chunk + 1);
                    out.extend(
                        q[..32]
                            .iter()
                            .map(|&b| d * s1 * (b & 0xf) as f64 - dmin * m1),
                    );
                    out.extend(
                        q[..32]
                            .iter()
                            .map(|&b| d * s2 * (b >> 4) as f64 - dmin * m2),
                    );
                    q = &q[32..];
                }
            }
            DType::Q6_K => {
                let d = h(&block[208..210]);
                let mut values = [0f64; 256];
                for half in 0..2 {
                    let ql = &block[half * 64..];
                    let qh = &block[128 + half * 32..];
                    let sc = &block[192 + half * 8..];
                    for l in 0..32 {
                        let is = l / 16;
                        let q1 = ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) as i32 - 32;
                        let q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                        let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                        let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                        let s = |i: usize| sc[i] as i8 as f64;
                        values[half * 128 + l] = d * s(is) * q1 as f64;
                        values[half * 128 + l + 32] = d * s(is + 2) * q2 as f64;
                        values[half * 128 + l + 64] = d * s(is + 4) * q3 as f64;
                        values[half * 128 + l + 96] = d * s(is + 6) * q4 as f64;
                    }
                }
                out.extend(values);
            }
            other => panic!("dequantize_ref: {other}"),
        }
    }
    out
}

/// One matrix operand's layout — row- or column-major, `pad` elements past
/// each row or column, starting at `offset`, batch dimensions packed
/// innermost-last except the `broadcast` ones (stride 0; missing entries are
/// not broadcast) — and the buffer length (elements) it needs.
#[allow(clippy::too_many_arguments)]
pub fn operand(
    dtype: DType,
    rows: usize,
    cols: usize,
    row_major: bool,
    pad: usize,
    offset: usize,
    batch_shape: &[usize],
    broadcast: &[bool],
) -> (MatrixOperand, usize) {
    let ld = if row_major { cols } else { rows } + pad;
    let mut step = if row_major { rows * ld } else { cols * ld };
    let mut strides = vec![0; batch_shape.len()];
    for i in (0..batch_shape.len()).rev() {
        if !broadcast.get(i).copied().unwrap_or(false) {
            strides[i] = step;
            step *= batch_shape[i];
        }
    }
    let op = MatrixOperand {
        dtype,
        row_major,
        ld,
        offset,
        batch_strides: strides,
    };
    (op, offset + step)
}

/// Element (r, c) of the matrix of `op` that starts at `base`.
pub fn at(op: &MatrixOperand, base: usize, r: usize, c: usize) -> usize {
    base + if op.row_major {
        r * op.ld + c
    } else {
        c * op.ld + r
    }
}
