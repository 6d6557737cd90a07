//! Reader tests: a round trip through the writer, and one corrupted copy of
//! a valid file per kind of bad input.

use rand::Rng;

use super::*;
use crate::dtype::DType;
use crate::testing::rng;

fn random_bytes(n: usize) -> Vec<u8> {
    let mut r = rng(n as u64);
    (0..n).map(|_| r.random()).collect()
}

fn every_value_type() -> Vec<(&'static str, Value)> {
    vec![
        ("general.architecture", Value::String("test".into())),
        ("t.u8", Value::U8(7)),
        ("t.i8", Value::I8(-7)),
        ("t.u16", Value::U16(700)),
        ("t.i16", Value::I16(-700)),
        ("t.u32", Value::U32(70_000)),
        ("t.i32", Value::I32(-70_000)),
        ("t.u64", Value::U64(1 << 40)),
        ("t.i64", Value::I64(-(1 << 40))),
        ("t.f32", Value::F32(0.25)),
        ("t.f64", Value::F64(-1e-300)),
        ("t.bool", Value::Bool(false)),
        (
            "t.strings",
            Value::from(vec![Value::String("a".into()), Value::String("ü".into())]),
        ),
        (
            "t.nested",
            Value::from(vec![
                Value::from(vec![Value::F32(1.0)]),
                Value::from(vec![Value::F32(2.0), Value::F32(3.0)]),
            ]),
        ),
        ("t.empty", Value::from(Vec::new())),
    ]
}

/// A small valid file: every metadata type, and tensors "alpha" (F32 3×5),
/// "beta" (Q8_0 64×2) and "gamma" (F16 7), in that order.
fn sample_writer() -> GgufWriter {
    let mut w = GgufWriter::new();
    for (k, v) in every_value_type() {
        w = w.metadata(k, v);
    }
    w.tensor("alpha", &[3, 5], DType::F32, random_bytes(60))
        .tensor("beta", &[64, 2], DType::Q8_0, random_bytes(136))
        .tensor("gamma", &[7], DType::F16, random_bytes(14))
}

fn sample() -> Vec<u8> {
    sample_writer().to_bytes().unwrap()
}

/// Byte position just after the encoded name of tensor `name` in the index:
/// where its dimension count starts.
fn tensor_fields(bytes: &[u8], name: &str) -> usize {
    let mut encoded = (name.len() as u64).to_le_bytes().to_vec();
    encoded.extend_from_slice(name.as_bytes());
    let at = bytes
        .windows(encoded.len())
        .position(|w| w == encoded)
        .expect("tensor name in file");
    at + encoded.len()
}

/// Byte position of the offset field of a tensor with `n_dims` dimensions.
fn offset_field(bytes: &[u8], name: &str, n_dims: usize) -> usize {
    tensor_fields(bytes, name) + 4 + 8 * n_dims + 4
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn format_error(bytes: Vec<u8>) -> String {
    match GgufFile::from_bytes(bytes) {
        Ok(_) => panic!("corrupted file parsed"),
        Err(Error::Format(msg)) => msg,
        Err(other) => panic!("expected a format error, got {other}"),
    }
}

use crate::error::Error;

#[test]
fn round_trip_keeps_metadata_tensors_and_bytes() {
    let writer = sample_writer();
    let bytes = writer.to_bytes().unwrap();
    let f = GgufFile::from_bytes(bytes.clone()).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), DEFAULT_ALIGNMENT);
    let expected = every_value_type();
    assert_eq!(f.metadata().len(), expected.len());
    for ((k, v), (ek, ev)) in f.metadata().iter().zip(&expected) {
        assert_eq!((k.as_str(), v), (*ek, ev));
        assert_eq!(f.get(k), Some(ev));
    }
    let names: Vec<_> = f.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    let beta = f.tensor("beta").unwrap();
    assert_eq!(
        (beta.dims.as_slice(), beta.dtype),
        (&[64u64, 2][..], DType::Q8_0)
    );
    assert_eq!(
        (beta.n_elements(), beta.rows(), beta.row_len()),
        (128, 2, 64)
    );
    assert_eq!((beta.bytes, beta.row_bytes()), (136, 68));
    assert_eq!(beta.shape(), [2, 64]);
    assert_eq!(f.tensor_data(beta), &random_bytes(136)[..]);
    assert_eq!(
        f.tensor_data(f.tensor("alpha").unwrap()),
        &random_bytes(60)[..]
    );
    assert_eq!(
        f.tensor_data(f.tensor("gamma").unwrap()),
        &random_bytes(14)[..]
    );
    for t in f.tensors() {
        assert_eq!(t.file_offset as usize % f.alignment(), 0);
        assert_eq!(t.file_offset, f.data_offset() as u64 + t.offset);
    }
    assert!(f.tensor("delta").is_none() && f.get("t.missing").is_none());
    assert_eq!(f.data(), &bytes[..]);
    assert!(f.mmap().is_none());
}

#[test]
fn open_maps_the_file_and_honours_alignment_and_version_2() {
    let path = std::env::temp_dir().join(format!("metallic-gguf-rt-{}.gguf", std::process::id()));
    sample_writer()
        .version(2)
        .metadata(ALIGNMENT_KEY, Value::U32(256))
        .write_to(&path)
        .unwrap();
    let f = GgufFile::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!((f.version(), f.alignment()), (2, 256));
    assert!(f.mmap().is_some());
    for t in f.tensors() {
        assert_eq!(t.file_offset % 256, 0, "{}", t.name);
    }
    assert_eq!(
        f.tensor_data(f.tensor("beta").unwrap()),
        &random_bytes(136)[..]
    );
}

#[test]
fn open_reports_missing_and_empty_files() {
    let path =
        std::env::temp_dir().join(format!("metallic-gguf-empty-{}.gguf", std::process::id()));
    assert!(matches!(GgufFile::open(&path), Err(Error::Io { .. })));
    std::fs::write(&path, b"").unwrap();
    let err = GgufFile::open(&path).err().map(|e| e.to_string());
    std::fs::remove_file(&path).unwrap();
    let err = err.expect("empty file parsed");
    assert!(
        err.contains("truncated") || err.contains("metallic-gguf-empty"),
        "{err}"
    );
}

#[test]
fn wrong_magic() {
    let mut bytes = sample();
    bytes[..4].copy_from_slice(b"GGML");
    assert!(format_error(bytes).contains("wrong magic"));
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample();
    for len in 0..bytes.len() {
        let msg = format_error(bytes[..len].to_vec());
        assert!(
            ["truncated", "outside the file", "remain", "bytes left"]
                .iter()
                .any(|n| msg.contains(n)),
            "length {len}: {msg}"
        );
    }
}

#[test]
fn big_endian_unknown_and_v1_versions() {
    for (version, needle) in [
        (3u32.swap_bytes(), "big-endian"),
        (2u32.swap_bytes(), "big-endian"),
        (4, "unknown GGUF version 4"),
        (1, "version 1 is not supported"),
    ] {
        let mut bytes = sample();
        put_u32(&mut bytes, 4, version);
        let msg = format_error(bytes);
        assert!(msg.contains(needle), "{version:#x}: {msg}");
    }
}

#[test]
fn absurd_counts() {
    let mut bytes = sample();
    put_u64(&mut bytes, 8, 1 << 60);
    assert!(format_error(bytes).contains("tensor count"));
    let mut bytes = sample();
    put_u64(&mut bytes, 16, u64::MAX);
    assert!(format_error(bytes).contains("metadata count"));
}

#[test]
fn string_longer_than_the_file() {
    let mut bytes = sample();
    // The first metadata key's length sits right after the 24-byte header.
    let len = bytes.len() as u64;
    put_u64(&mut bytes, 24, len);
    assert!(format_error(bytes).contains("key of metadata entry 0"));
    let mut bytes = sample();
    let name_len_at = tensor_fields(&bytes, "gamma") - 8 - 5;
    put_u64(&mut bytes, name_len_at, 1 << 62);
    assert!(format_error(bytes).contains("name of tensor 2"));
}

#[test]
fn tensor_outside_the_file() {
    let mut bytes = sample();
    let at = offset_field(&bytes, "gamma", 1);
    put_u64(&mut bytes, at, 1 << 20);
    assert!(format_error(bytes).contains("`gamma`: 14 bytes at data offset 1048576 lie outside"));
    let mut bytes = sample();
    put_u64(&mut bytes, at, u64::MAX - 31);
    assert!(format_error(bytes).contains("outside the file"));
}

#[test]
fn unknown_tensor_type() {
    let mut bytes = sample();
    let at = offset_field(&bytes, "alpha", 2) - 4;
    put_u32(&mut bytes, at, 4);
    assert!(format_error(bytes).contains("`alpha`: unknown type id 4"));
}

#[test]
fn bad_dimensions() {
    let mut bytes = sample();
    let dims = tensor_fields(&bytes, "alpha") + 4;
    put_u64(&mut bytes, dims, 1 << 40);
    put_u64(&mut bytes, dims + 8, 1 << 40);
    assert!(format_error(bytes).contains("overflow"));

    let mut bytes = sample();
    let n_dims = tensor_fields(&bytes, "alpha");
    put_u32(&mut bytes, n_dims, 5);
    assert!(format_error(bytes).contains("5 dimensions"));

    let mut bytes = sample();
    put_u64(&mut bytes, dims, 0);
    assert!(format_error(bytes).contains("zero-sized"));

    // 16 × 8 is as many Q8_0 values as 64 × 2, but rows of half a block.
    let mut bytes = sample();
    let dims = tensor_fields(&bytes, "beta") + 4;
    put_u64(&mut bytes, dims, 16);
    put_u64(&mut bytes, dims + 8, 8);
    assert!(format_error(bytes).contains("not a multiple of Q8_0's block size"));
}

#[test]
fn overlapping_and_misaligned_data() {
    let mut bytes = sample();
    let alpha = offset_field(&bytes, "alpha", 2);
    let beta = offset_field(&bytes, "beta", 2);
    let alpha_offset = u64::from_le_bytes(bytes[alpha..alpha + 8].try_into().unwrap());
    put_u64(&mut bytes, beta, alpha_offset + 32);
    assert!(format_error(bytes).contains("`alpha` and `beta` overlap"));

    let mut bytes = sample();
    put_u64(&mut bytes, beta, 65);
    assert!(format_error(bytes)
        .contains("`beta`: data offset 65 is not a multiple of the alignment 32"));
}

#[test]
fn duplicate_names() {
    let bytes = sample_writer()
        .tensor("alpha", &[4], DType::F32, random_bytes(16))
        .to_bytes()
        .unwrap();
    assert!(format_error(bytes).contains("duplicate tensor name `alpha`"));
    let bytes = sample_writer()
        .metadata("t.u8", Value::U8(1))
        .to_bytes()
        .unwrap();
    assert!(format_error(bytes).contains("duplicate metadata key `t.u8`"));
}

#[test]
fn alignment_must_be_a_power_of_two() {
    for bad in [0u32, 48] {
        let mut bytes = sample_writer()
            .metadata(ALIGNMENT_KEY, Value::U32(64))
            .to_bytes()
            .unwrap();
        let key = ALIGNMENT_KEY.as_bytes();
        let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len() + 4;
        put_u32(&mut bytes, at, bad);
        assert!(
            format_error(bytes).contains("not a nonzero power of two"),
            "{bad}"
        );
    }
    let bytes = sample_writer()
        .metadata(ALIGNMENT_KEY, Value::String("32".into()))
        .to_bytes();
    assert!(bytes.is_err(), "the writer refuses a non-integer alignment");
}

#[test]
fn writer_refuses_wrong_tensor_sizes_and_mixed_arrays() {
    let w = GgufWriter::new().tensor("x", &[32], DType::Q8_0, vec![0u8; 33]);
    assert!(matches!(w.to_bytes(), Err(Error::InvalidArgument(_))));
    let w = GgufWriter::new().metadata("m", Value::from(vec![Value::U8(1), Value::I8(1)]));
    assert!(matches!(w.to_bytes(), Err(Error::InvalidArgument(_))));
}
