//! The CUDA device behind the engine's own API: `Device::Cuda` tensors,
//! copies between devices, and `Context::matmul` routed to cuBLAS or the
//! own kernels, with profiling timed by CUDA events.
#![cfg(feature = "cuda")]

mod gpu_common;
mod reference;

use metallic::ops::matmul::BackendChoice;
use metallic::testing::{assert_close, fresh_seed, random_vec, rng, Tolerance};
use metallic::{Context, DType, Device, Error, Tensor};

fn cuda() -> Device {
    Device::Cuda(gpu_common::device())
}

/// `a · bᵀ` in float64 (the shared reference, over host copies).
fn reference(a: &Tensor, b: &Tensor) -> Vec<f64> {
    let host = |t: &Tensor| t.to_device(&Device::Cpu).unwrap();
    reference::matmul(&host(a), &host(b), None, false, true, 1.0, 0.0).1
}

#[test]
fn context_matmul_on_cuda_runs_cublas() {
    let device = cuda();
    let ctx = Context::builder(device.clone())
        .backend(BackendChoice::Vendor)
        .profile(Some(true))
        .build()
        .unwrap();
    let seed = fresh_seed();
    let mut r = rng(seed);
    let (batch, m, n, k) = (3, 5, 7, 64);
    let a_values = random_vec(&mut r, batch * m * k);
    let b_values = random_vec(&mut r, n * k);
    let a = Tensor::from_f32(&device, &a_values, &[batch, m, k]).unwrap();
    let b = Tensor::from_f32(&device, &b_values, &[n, k]).unwrap();
    let out = ctx.matmul(&a, b.t()).unwrap();
    assert_eq!(out.device(), device);
    assert_eq!(out.shape(), &[batch, m, n]);
    assert_close(
        &out.to_f32_vec().unwrap(),
        &reference(&a, &b),
        Tolerance::F32,
    );
    // Another thread, where the CUDA context is not yet current.
    let again = std::thread::scope(|s| {
        s.spawn(|| ctx.matmul(&a, b.t()).unwrap().to_f32_vec().unwrap())
            .join()
            .unwrap()
    });
    assert_close(&again, &reference(&a, &b), Tolerance::F32);
    let records = ctx.instrumentation().records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].backend, "vendor");
    assert!(records[0].duration.as_nanos() > 0, "seed {seed}");

    // `auto` on CUDA: decode-sized rows (m ≤ 8) go to mlx's GEMV, larger
    // ones to cuBLAS.
    let auto = Context::builder(device.clone())
        .backend(BackendChoice::Auto)
        .profile(Some(true))
        .build()
        .unwrap();
    let tall = Tensor::from_f32(&device, &random_vec(&mut r, 64 * k), &[64, k]).unwrap();
    auto.matmul(&a, b.t()).unwrap();
    auto.matmul(&tall, b.t()).unwrap();
    // Half precision at m = 128: a small product to mlx's tiled GEMM, the
    // gate projection's size to cuBLAS (the measured rule in route.rs).
    let mut f16_matrix = |rows: usize, cols: usize| {
        let values: Vec<half::f16> = random_vec(&mut r, rows * cols)
            .into_iter()
            .map(half::f16::from_f32)
            .collect();
        Tensor::from_f16(&device, &values, &[rows, cols]).unwrap()
    };
    let x = f16_matrix(128, 896);
    auto.matmul(&x, f16_matrix(896, 896).t()).unwrap();
    auto.matmul(&x, f16_matrix(4864, 896).t()).unwrap();
    let backends: Vec<&str> = auto
        .instrumentation()
        .records()
        .iter()
        .map(|r| r.backend)
        .collect();
    assert_eq!(backends, ["mlx", "vendor", "mlx", "vendor"]);
}

#[test]
fn mlx_on_cuda_runs_refuses_unsupported_weights_and_host_access_needs_a_copy() {
    let device = cuda();
    let ctx = Context::builder(device.clone())
        .backend(BackendChoice::Mlx)
        .build()
        .unwrap();
    let mut r = rng(fresh_seed());
    let values = random_vec(&mut r, 16);
    let a = Tensor::from_f32(&device, &values, &[4, 4]).unwrap();
    let square: Vec<f64> = (0..16)
        .map(|i| {
            (0..4)
                .map(|l| values[(i / 4) * 4 + l] as f64 * values[l * 4 + i % 4] as f64)
                .sum()
        })
        .collect();
    let product = ctx.matmul(&a, &a.clone()).unwrap();
    assert_close(&product.to_f32_vec().unwrap(), &square, Tolerance::F32);
    let x = Tensor::from_f32(&device, &random_vec(&mut r, 256), &[1, 256]).unwrap();
    let q2_k = metallic::testing::random_blocks(&mut r, DType::Q2_K, 4 * 256);
    let w = Tensor::from_bytes(&device, DType::Q2_K, &q2_k, &[4, 256]).unwrap();
    assert!(matches!(ctx.matmul(&x, w.t()), Err(Error::Unsupported(_))));
    assert!(matches!(a.buffer().read(), Err(Error::Unsupported(_))));
    let host = a.transpose(0, 1).unwrap().to_device(&Device::Cpu).unwrap();
    let expected: Vec<f64> = (0..16)
        .map(|i| values[(i % 4) * 4 + i / 4] as f64)
        .collect();
    assert_close(&host.to_f32_vec().unwrap(), &expected, Tolerance::F32);
    let back = host.to_device(&device).unwrap();
    assert_close(&back.to_f32_vec().unwrap(), &expected, Tolerance::F32);
    let cpu_ctx = Context::new(Device::Cpu).unwrap();
    assert!(cpu_ctx.matmul(&a, &host).is_err());
}

#[test]
fn devices_parse_from_names() {
    assert_eq!(Device::parse("cpu").unwrap(), Device::Cpu);
    let cuda = Device::parse("cuda:0").unwrap();
    assert_eq!(cuda.to_string(), "cuda:0");
    assert!(!cuda.is_host());
    assert!(Device::parse("tpu").is_err());
    assert!(Device::parse("cuda:x").is_err());
    let empty = Tensor::empty(&cuda, DType::F16, &[2, 3]).unwrap();
    assert_eq!(empty.to_f32_vec().unwrap(), vec![0.0; 6]);
}
