//! Block formats against gguf-py: the vectors in tests/fixtures/quant were
//! made by its dequantizers and quantizers (see make_vectors.py there).

use half::{bf16, f16};
use metallic::quant::{dequantize_bf16, dequantize_f16, dequantize_f32, quantize};
use metallic::testing::{fresh_seed, random_vec, rng};
use metallic::DType;
use std::path::Path;

struct Case {
    dtype: DType,
    blocks: Vec<u8>,
    dequantized: Vec<f32>,
    source: Option<Vec<f32>>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

fn f32s(s: &str) -> Vec<f32> {
    hex(s)
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn load(dtype: DType) -> Case {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/quant")
        .join(format!("{}.json", dtype.name()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
    let field = |key: &str| json[key].as_str().map(str::to_owned);
    assert_eq!(field("type").as_deref(), Some(dtype.name()));
    let case = Case {
        dtype,
        blocks: hex(&field("blocks").expect("blocks")),
        dequantized: f32s(&field("dequantized").expect("dequantized")),
        source: field("source").map(|s| f32s(&s)),
    };
    assert_eq!(json["values"].as_u64(), Some(case.dequantized.len() as u64));
    case
}

/// Every type gguf-py dequantizes: all but Q8_K (tested by round trip).
fn with_fixtures() -> impl Iterator<Item = DType> {
    DType::ALL.into_iter().filter(|&t| t != DType::Q8_K)
}

/// Bit-exact: both sides compute the same f32 operations in the same order.
fn assert_bits_equal(dtype: DType, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{dtype} value {i}: got {g}, gguf-py {w}"
        );
    }
}

#[test]
fn dequantize_f32_matches_gguf_py() {
    for dtype in with_fixtures() {
        let case = load(dtype);
        let mut out = vec![f32::NAN; case.dequantized.len()];
        dequantize_f32(case.dtype, &case.blocks, &mut out).unwrap();
        assert_bits_equal(dtype, &out, &case.dequantized);
    }
}

#[test]
fn dequantize_f16_and_bf16_round_gguf_py_values() {
    for dtype in with_fixtures() {
        let case = load(dtype);
        let n = case.dequantized.len();
        let mut h = vec![f16::NAN; n];
        dequantize_f16(dtype, &case.blocks, &mut h).unwrap();
        let mut b = vec![bf16::NAN; n];
        dequantize_bf16(dtype, &case.blocks, &mut b).unwrap();
        for (i, &want) in case.dequantized.iter().enumerate() {
            assert_eq!(
                h[i].to_bits(),
                f16::from_f32(want).to_bits(),
                "{dtype} f16 value {i}"
            );
            assert_eq!(
                b[i].to_bits(),
                bf16::from_f32(want).to_bits(),
                "{dtype} bf16 value {i}"
            );
        }
    }
}

#[test]
fn quantize_matches_gguf_py() {
    for dtype in with_fixtures() {
        let case = load(dtype);
        let Some(source) = case.source else { continue };
        let mut out = vec![0u8; case.blocks.len()];
        quantize(dtype, &source, &mut out).unwrap();
        for (b, (got, want)) in out
            .chunks(dtype.block_bytes())
            .zip(case.blocks.chunks(dtype.block_bytes()))
            .enumerate()
        {
            assert_eq!(got, want, "{dtype} block {b}");
        }
    }
}

#[test]
fn q8_k_round_trip_is_within_half_a_step() {
    let seed = fresh_seed();
    let mut r = rng(seed);
    let mut x = random_vec(&mut r, 256 * 6);
    // Magnitudes from 1e-3 to 1e3 across super-blocks.
    for (s, block) in x.chunks_mut(256).enumerate() {
        let scale = 10f32.powi(s as i32 - 3);
        block.iter_mut().for_each(|v| *v *= scale);
    }
    let mut bytes = vec![0u8; DType::Q8_K.bytes_for(x.len()).unwrap()];
    quantize(DType::Q8_K, &x, &mut bytes).unwrap();
    let mut y = vec![f32::NAN; x.len()];
    dequantize_f32(DType::Q8_K, &bytes, &mut y).unwrap();
    for (s, ((xb, yb), block)) in x
        .chunks(256)
        .zip(y.chunks(256))
        .zip(bytes.chunks(292))
        .enumerate()
    {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let step = amax / 127.0;
        for (i, (a, b)) in xb.iter().zip(yb).enumerate() {
            assert!(
                (a - b).abs() <= 0.5 * step * (1.0 + 1e-5),
                "seed {seed}: super-block {s} value {i}: {a} came back as {b} (step {step})"
            );
        }
        // The group sums are the sums of the stored values.
        for g in 0..16 {
            let sum: i32 = block[4 + 16 * g..4 + 16 * (g + 1)]
                .iter()
                .map(|&q| q as i8 as i32)
                .sum();
            let stored = i16::from_le_bytes([block[260 + 2 * g], block[261 + 2 * g]]) as i32;
            assert_eq!(sum, stored, "seed {seed}: super-block {s} group {g}");
        }
    }
}

#[test]
fn bad_sizes_are_errors() {
    let mut out = vec![0.0f32; 32];
    assert!(dequantize_f32(DType::Q4_0, &[0u8; 17], &mut out).is_err());
    assert!(dequantize_f32(DType::Q4_0, &[0u8; 18], &mut out[..31]).is_err());
    assert!(dequantize_f32(DType::Q4_K, &[0u8; 18], &mut out).is_err());
    assert!(dequantize_f16(DType::Q8_0, &[0u8; 33], &mut [f16::ZERO; 32]).is_err());
    assert!(dequantize_bf16(DType::F32, &[0u8; 4], &mut [bf16::ZERO; 2]).is_err());
    assert!(quantize(DType::Q8_0, &out[..31], &mut [0u8; 34]).is_err());
    assert!(quantize(DType::Q8_0, &out, &mut [0u8; 35]).is_err());
    assert!(quantize(DType::Q4_K, &[0.0; 256], &mut [0u8; 144]).is_err());
}
