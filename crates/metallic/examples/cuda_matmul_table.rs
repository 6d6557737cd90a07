//! The mlx backend against cuBLAS on the Qwen2.5-0.5B matrix shapes, on the
//! GPU: `cargo run --release --features cuda -p metallic --example
//! cuda_matmul_table`. Prints a markdown table.
//!
//! Each product is timed the way decode runs it: many back-to-back calls
//! captured in one CUDA graph, rotating over enough copies of the weights
//! (at offsets in one buffer) that they do not stay in the 50 MB L2; the
//! graph is replayed between two events and the median over several
//! replays, divided by the calls, is the time per call. The copy bandwidth
//! (a device-to-device copy of a large buffer, read + write bytes, timed the
//! same way) is measured in the same run; GB/s counts the weights, A and C
//! once. cuBLAS multiplies floats only, so for a quantized type it runs on
//! an f16 copy of the weights (with f16 activations).
//!
//! A row is (label, m, n, k, weight type); prefill rows (m = 128, 512) are
//! more entries in `rows`. A backend that does not take a row prints "—".

use metallic::device::cuda::{CudaBuffer, CudaDevice};
use metallic::ops::cuda::dequantize;
use metallic::ops::matmul::blas::cublas::CublasGemm;
use metallic::ops::matmul::mlx::cuda as mlx_cuda;
use metallic::ops::matmul::mlx::cuda::gemv::{self, GemvVariant};
use metallic::ops::matmul::{Backend, GemmProblem, MatrixOperand};
use metallic::testing::{random_blocks, rng};
use metallic::{DType, Result};

/// Bytes of weight copies a rotation spans (several times the L2).
const ROTATION_BYTES: usize = 192 << 20;
const MAX_COPIES: usize = 4096;
/// Calls captured per graph, at least.
const MIN_CALLS: usize = 64;
const REPLAYS: usize = 9;

/// One product to time: a label, its shape, and the weights' type.
struct Row {
    label: &'static str,
    m: usize,
    n: usize,
    k: usize,
    weights: DType,
}

/// The Qwen2.5-0.5B decode products (m = 1): attention (q, k, v, the fused
/// qkv, o), FFN (gate, the fused gate+up, down) and the output layer; float
/// weights and the default model's types (Q5_0 and Q8_0 in attention and
/// gate/up, Q4_K and Q6_K in down, Q8_0 in the output layer).
fn rows() -> Vec<Row> {
    let shapes: [(&str, usize, usize, &[DType]); 9] = [
        ("q", 896, 896, &[DType::Q5_0, DType::Q8_0]),
        ("k", 128, 896, &[DType::Q5_0, DType::Q8_0]),
        ("v", 128, 896, &[DType::Q5_0, DType::Q8_0]),
        ("qkv", 1152, 896, &[DType::Q5_0, DType::Q8_0]),
        ("o", 896, 896, &[DType::Q5_0, DType::Q8_0]),
        ("gate", 4864, 896, &[DType::Q5_0, DType::Q8_0]),
        ("gate+up", 9728, 896, &[DType::Q5_0, DType::Q8_0]),
        ("down", 896, 4864, &[DType::Q4_K, DType::Q6_K]),
        ("output", 151_936, 896, &[DType::Q8_0]),
    ];
    let mut rows = Vec::new();
    for (label, n, k, quantized) in shapes {
        for &weights in [DType::F16, DType::BF16, DType::F32]
            .iter()
            .chain(quantized)
        {
            rows.push(Row {
                label,
                m: 1,
                n,
                k,
                weights,
            });
        }
    }
    rows
}

/// The activations' type beside `weights` for a backend.
fn activations(backend: Backend, weights: DType) -> DType {
    match (backend, weights.is_quantized()) {
        (_, false) => weights,
        (Backend::Mlx, true) => DType::F32,
        (Backend::Vendor, true) => DType::F16,
    }
}

/// `copies` problems, identical but for B's offset (copy i of the weights).
fn problems(row: &Row, a: DType, b: DType, copies: usize) -> Vec<GemmProblem> {
    let operand = |dtype, row_major, ld, offset| MatrixOperand {
        dtype,
        row_major,
        ld,
        offset,
        batch_strides: vec![],
    };
    (0..copies)
        .map(|i| GemmProblem {
            m: row.m,
            n: row.n,
            k: row.k,
            batch_shape: vec![],
            a: operand(a, true, row.k, 0),
            b: operand(b, false, row.k, i * row.n * row.k),
            c: operand(a, true, row.n, 0),
            alpha: 1.0,
            beta: 0.0,
        })
        .collect()
}

/// `len` bytes of random values of `dtype` (a random stretch repeated, so
/// that large weights are quick to make).
fn random_bytes(dtype: DType, values: usize, seed: u64) -> Vec<u8> {
    let stretch = (1 << 20) / dtype.block_size() * dtype.block_size();
    let pattern = random_blocks(&mut rng(seed), dtype, stretch.min(values));
    let len = dtype.bytes_for(values).expect("whole blocks");
    pattern.iter().copied().cycle().take(len).collect()
}

/// Median seconds per replay of `graph` after warm-up.
fn time_graph(device: &CudaDevice, graph: &metallic::device::cuda::CapturedGraph) -> Result<f64> {
    for _ in 0..2 {
        graph.launch()?;
    }
    let mut times = Vec::new();
    for _ in 0..REPLAYS {
        let ((), t) = device.time(|| graph.launch())?;
        times.push(t.as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[REPLAYS / 2])
}

/// Seconds per call of `row` on `backend`, or `None` when it does not take
/// the row; `split` runs the mlx GEMV with that many warps per row of B
/// instead of the planned variant.
#[allow(clippy::too_many_arguments)]
fn time_row(
    device: &CudaDevice,
    cublas: &CublasGemm,
    row: &Row,
    backend: Backend,
    split: Option<usize>,
    weights: &CudaBuffer,
    copies: usize,
) -> Result<Option<f64>> {
    let (a_type, b_type) = (
        activations(backend, row.weights),
        weights_type(backend, row),
    );
    let problems = problems(row, a_type, b_type, copies);
    let a = CudaBuffer::from_bytes(device, &random_bytes(a_type, row.m * row.k, 7))?;
    let mut c = CudaBuffer::zeroed(device, a_type.bytes_for(row.m * row.n).unwrap_or(0))?;
    let call = |p: &GemmProblem, c: &mut CudaBuffer| match backend {
        Backend::Mlx if split.is_some() => {
            let variant = GemvVariant {
                split: split.unwrap_or(1),
                ..gemv::plan(p)?
            };
            gemv::run_variant(device, p, &variant, &a, weights, c)
        }
        Backend::Mlx => mlx_cuda::run(device, p, &a, weights, c),
        Backend::Vendor => cublas.run(p, &a, weights, c),
    };
    if call(&problems[0], &mut c).is_err() {
        return Ok(None);
    }
    device.synchronize()?;
    let calls = copies.max(MIN_CALLS);
    let graph = device.capture(|| {
        for i in 0..calls {
            call(&problems[i % copies], &mut c)?;
        }
        Ok(())
    })?;
    Ok(Some(time_graph(device, &graph)? / calls as f64))
}

fn weights_type(backend: Backend, row: &Row) -> DType {
    match backend {
        Backend::Vendor if row.weights.is_quantized() => DType::F16,
        _ => row.weights,
    }
}

/// Copy bandwidth in bytes per second (read + write), from a graph of
/// device-to-device copies of 512 MiB.
fn copy_bandwidth(device: &CudaDevice) -> Result<f64> {
    const LEN: usize = 512 << 20;
    const COPIES: usize = 4;
    let src = CudaBuffer::from_bytes(device, &random_bytes(DType::F32, LEN / 4, 3))?;
    let mut dst = CudaBuffer::alloc(device, LEN)?;
    dst.copy_from_device(0, &src, 0, LEN)?;
    device.synchronize()?;
    let graph = device.capture(|| {
        for _ in 0..COPIES {
            dst.copy_from_device(0, &src, 0, LEN)?;
        }
        Ok(())
    })?;
    Ok((2 * LEN * COPIES) as f64 / time_graph(device, &graph)?)
}

/// The f16 copy cuBLAS multiplies for a quantized row, if one is needed.
fn vendor_weights(
    device: &CudaDevice,
    row: &Row,
    weights: &CudaBuffer,
    values: usize,
) -> Result<Option<CudaBuffer>> {
    if !row.weights.is_quantized() {
        return Ok(None);
    }
    let mut f16 = CudaBuffer::alloc(device, DType::F16.bytes_for(values).unwrap_or(0))?;
    dequantize(&mut f16, DType::F16, weights, row.weights, values)?;
    Ok(Some(f16))
}

/// One table line: times (seconds per call, `None` where the backend does
/// not take the row) as µs, the planned mlx variant's ratio to cuBLAS, GB/s
/// and fraction of `copy`.
fn line(
    row: &Row,
    mlx: Option<f64>,
    splits: &[Option<f64>],
    vendor: Option<f64>,
    copy: f64,
) -> String {
    let values = row.n * row.k;
    let bytes = |backend: Backend| {
        let a = activations(backend, row.weights);
        let b = weights_type(backend, row);
        (b.bytes_for(values).unwrap_or(0) + a.bytes_for(row.m * (row.k + row.n)).unwrap_or(0))
            as f64
    };
    let us = |t: Option<f64>| t.map_or("—".into(), |t| format!("{:.2}", t * 1e6));
    let rate = |t: Option<f64>, backend| {
        t.map_or(("—".into(), "—".into()), |t| {
            let r = bytes(backend) / t;
            (
                format!("{:.0}", r / 1e9),
                format!("{:.0}%", 100.0 * r / copy),
            )
        })
    };
    let ratio = match (mlx, vendor) {
        (Some(m), Some(v)) => format!("{:.2}", m / v),
        _ => "—".into(),
    };
    let (mlx_rate, mlx_frac) = rate(mlx, Backend::Mlx);
    let (blas_rate, blas_frac) = rate(vendor, Backend::Vendor);
    let a_type = activations(Backend::Mlx, row.weights);
    let variant =
        gemv::plan(&problems(row, a_type, row.weights, 1)[0]).map_or("—".into(), |v| v.name());
    let blas_note = if row.weights.is_quantized() {
        " (f16 copy)"
    } else {
        ""
    };
    format!(
        "| {} | {}×{}×{} | {} | {} | {} | {}{blas_note} | {ratio} | {mlx_rate} | {mlx_frac} | {blas_rate} | {blas_frac} | {variant} |",
        row.label,
        row.m,
        row.n,
        row.k,
        row.weights,
        us(mlx),
        splits.iter().map(|&t| us(t)).collect::<Vec<_>>().join(" / "),
        us(vendor),
    )
}

fn main() -> Result<()> {
    let device = CudaDevice::new(0)?;
    let cublas = CublasGemm::new(&device)?;
    // The copy is measured first and again after the rows (clocks ramp
    // under load); the fractions use the larger.
    let copy_first = copy_bandwidth(&device)?;
    let mut times = Vec::new();
    for (index, row) in rows().iter().enumerate() {
        let values = row.n * row.k;
        let stored = row.weights.bytes_for(values).expect("whole blocks");
        let copies = ROTATION_BYTES.div_ceil(stored).clamp(2, MAX_COPIES);
        let weights = CudaBuffer::from_bytes(
            &device,
            &random_bytes(row.weights, values * copies, index as u64),
        )?;
        let mlx = time_row(&device, &cublas, row, Backend::Mlx, None, &weights, copies)?;
        let mut splits = Vec::new();
        for split in [1, 2, 4] {
            let t = time_row(
                &device,
                &cublas,
                row,
                Backend::Mlx,
                Some(split),
                &weights,
                copies,
            )?;
            splits.push(t);
        }
        let f16 = vendor_weights(&device, row, &weights, values * copies)?;
        let vendor_b = f16.as_ref().unwrap_or(&weights);
        let vendor = time_row(
            &device,
            &cublas,
            row,
            Backend::Vendor,
            None,
            vendor_b,
            copies,
        )?;
        times.push((mlx, splits, vendor));
    }
    let copy_last = copy_bandwidth(&device)?;
    let copy = copy_first.max(copy_last);
    let props = device.props();
    println!(
        "{} ({} SMs); copy bandwidth (read + write) {:.0} GB/s before the rows, {:.0} GB/s after\n",
        props.name,
        props.sm_count,
        copy_first / 1e9,
        copy_last / 1e9
    );
    println!("| product | m×n×k | weights | mlx µs | mlx split 1 / 2 / 4 µs | cuBLAS µs | mlx/cuBLAS time | mlx GB/s | mlx % of copy | cuBLAS GB/s | cuBLAS % of copy | mlx kernel |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (row, (mlx, splits, vendor)) in rows().iter().zip(times) {
        println!("{}", line(row, mlx, &splits, vendor, copy));
    }
    Ok(())
}
