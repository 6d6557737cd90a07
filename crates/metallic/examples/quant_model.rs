use metallic::quant::matmul_quantized;
use metallic::testing::{random_vec, rng};
use metallic::DType;
use std::time::Instant;

fn cpu_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn main() {
    let m: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    let threads: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(2);
    let mut layers = Vec::new();
    let mut r = rng(1);
    for l in 0..24 {
        for (dtype, n, k) in [
            (DType::Q5_0, 896, 896),
            (DType::Q5_0, 128, 896),
            (if l % 2 == 0 { DType::Q5_0 } else { DType::Q8_0 }, 128, 896),
            (DType::Q5_0, 896, 896),
            (DType::Q5_0, 4864, 896),
            (DType::Q5_0, 4864, 896),
            (
                if l % 2 == 0 { DType::Q4_K } else { DType::Q6_K },
                896,
                4864,
            ),
        ] {
            let mut w: Vec<u8> = (0..n * dtype.bytes_for(k).unwrap())
                .map(|_| rand::Rng::random(&mut r))
                .collect();
            for b in w.chunks_mut(dtype.block_bytes()) {
                let l = b.len();
                b[..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
                b[l - 2..].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
            }
            layers.push((dtype, n, k, w));
        }
    }
    if m == 1 {
        let (n, k) = (151936, 896);
        let mut w: Vec<u8> = (0..n * 34 * 28)
            .map(|_| rand::Rng::random(&mut r))
            .collect();
        for b in w.chunks_mut(34) {
            b[..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
        }
        layers.push((DType::Q8_0, n, k, w));
    }
    let bytes: usize = layers.iter().map(|l| l.3.len()).sum();
    let flops: usize = layers.iter().map(|l| 2 * m * l.1 * l.2).sum();
    let a = random_vec(&mut r, m * 4864);
    let mut c = vec![0.0f32; m * 151936];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    for _ in 0..3 {
        let (t0, c0) = (Instant::now(), cpu_ticks());
        pool.install(|| {
            for (dtype, n, k, w) in &layers {
                matmul_quantized(*dtype, w, *n, *k, &a, *k, m, &mut c, *n, 1.0, 0.0).unwrap();
            }
        });
        let wall = t0.elapsed().as_secs_f64();
        let cpu = (cpu_ticks() - c0) as f64 / 100.0;
        println!("m={m} threads={threads}: wall {:.1} ms, cpu {:.1} ms ({:.1} MB weights, {:.1} GFLOP) -> wall {:.1} tok/s, cpu/threads {:.1} tok/s", wall*1e3, cpu*1e3, bytes as f64/1e6, flops as f64/1e9, m as f64/wall, m as f64/(cpu/threads as f64));
    }
}
