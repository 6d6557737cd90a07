use metallic::quant::{matmul_quantized_with, Isa};
use metallic::testing::{random_vec, rng};
use metallic::DType;

fn cpu_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let m: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for isa in Isa::supported() {
        for (name, dtype, n, k) in [
            ("o Q5_0", DType::Q5_0, 896, 896),
            ("Q8_0", DType::Q8_0, 4096, 896),
            ("down Q4_K", DType::Q4_K, 896, 4864),
            ("down Q6_K", DType::Q6_K, 896, 4864),
        ] {
            let mut r = rng(7);
            let mut w: Vec<u8> = (0..n * dtype.bytes_for(k).unwrap())
                .map(|_| rand::Rng::random(&mut r))
                .collect();
            for b in w.chunks_mut(dtype.block_bytes()) {
                let l = b.len();
                b[..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
                b[l - 2..].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
            }
            let a = random_vec(&mut r, m * k);
            let mut c = vec![0.0f32; m * n];
            let mut iters = 0u64;
            let t0 = cpu_ticks();
            while cpu_ticks() - t0 < 150 {
                pool.install(|| {
                    matmul_quantized_with(isa, dtype, &w, n, k, &a, k, m, &mut c, n, 1.0, 0.0)
                        .unwrap()
                });
                iters += 1;
            }
            let secs = (cpu_ticks() - t0) as f64 / 100.0 / iters as f64;
            println!(
                "{:12} {:10} m={m}: {:8.1} us cpu  {:6.2} GB/s  {:6.1} GFLOP/s",
                isa.name(),
                name,
                secs * 1e6,
                w.len() as f64 / secs / 1e9,
                2.0 * (m * n * k) as f64 / secs / 1e9
            );
        }
    }
}
