use std::time::Duration;

use rand::Rng;

use super::*;
use crate::dtype::DType;
use crate::testing::{fresh_seed, rng};

fn record(op: &'static str, backend: &'static str, m: usize, micros: u64) -> DispatchRecord {
    DispatchRecord {
        op,
        backend,
        dtype: DType::F32,
        batch: 1,
        m,
        n: 896,
        k: 896,
        transpose_a: false,
        transpose_b: true,
        duration: Duration::from_micros(micros),
    }
}

/// The percentile by its definition: the smallest value v such that at
/// least `percent`% of the values are ≤ v.
fn percentile_by_definition(values: &[f64], percent: f64) -> f64 {
    let mut candidates = values.to_vec();
    candidates.sort_by(f64::total_cmp);
    *candidates
        .iter()
        .find(|&&v| {
            let at_most = values.iter().filter(|&&x| x <= v).count();
            at_most as f64 * 100.0 >= percent * values.len() as f64
        })
        .expect("the largest value always qualifies")
}

#[test]
fn one_to_a_hundred_ms_gives_nearest_rank_percentiles() {
    let inst = Instrumentation::new(true, None).unwrap();
    // Recorded out of order so the summary has to sort.
    for ms in (1..=100u64).rev() {
        inst.record(record("matmul", "vendor", 1, ms * 1000));
    }
    let s = inst.summary();
    assert_eq!(s.by_backend.len(), 1);
    let r = &s.by_backend[0];
    assert_eq!(r.key, "vendor");
    assert_eq!(r.count, 100);
    assert!((r.total_ms - 5050.0).abs() < 1e-9);
    assert!((r.avg_ms - 50.5).abs() < 1e-9);
    assert!((r.min_ms - 1.0).abs() < 1e-9);
    assert!((r.max_ms - 100.0).abs() < 1e-9);
    assert!((r.p95_ms - 95.0).abs() < 1e-9);
    assert!((r.p99_ms - 99.0).abs() < 1e-9);
}

#[test]
fn random_durations_summarise_by_definition_in_every_grouping() {
    let seed = fresh_seed();
    let mut g = rng(seed);
    let inst = Instrumentation::new(true, None).unwrap();
    let keys = [
        ("matmul", "mlx", 1),
        ("matmul", "vendor", 128),
        ("matmul_alpha_beta", "vendor", 1),
    ];
    let mut by_op: Vec<Vec<f64>> = vec![Vec::new(); keys.len()];
    for _ in 0..g.random_range(50..300) {
        let which = g.random_range(0..keys.len());
        let micros = g.random_range(1..50_000u64);
        let (op, backend, m) = keys[which];
        inst.record(record(op, backend, m, micros));
        by_op[which].push(micros as f64 / 1e3);
    }
    let s = inst.summary();
    let check = |row: &SummaryRow, values: &[f64]| {
        let total: f64 = values.iter().sum();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert_eq!(row.count, values.len(), "seed {seed}: {}", row.key);
        assert!(close(row.total_ms, total), "seed {seed}: {}", row.key);
        assert!(
            close(row.avg_ms, total / values.len() as f64),
            "seed {seed}"
        );
        assert!(close(
            row.min_ms,
            values.iter().cloned().fold(f64::INFINITY, f64::min)
        ));
        assert!(close(
            row.max_ms,
            values.iter().cloned().fold(0.0, f64::max)
        ));
        assert!(
            close(row.p95_ms, percentile_by_definition(values, 95.0)),
            "seed {seed}"
        );
        assert!(
            close(row.p99_ms, percentile_by_definition(values, 99.0)),
            "seed {seed}"
        );
    };
    for (i, (op, backend, m)) in keys.iter().enumerate() {
        if by_op[i].is_empty() {
            continue;
        }
        let row = s
            .by_op
            .iter()
            .find(|r| r.key == format!("{op}@{backend}"))
            .unwrap_or_else(|| panic!("seed {seed}: no row for {op}@{backend}"));
        check(row, &by_op[i]);
        let shape = s
            .by_shape
            .iter()
            .find(|r| r.key == format!("F32 1x{m}x896x896 NT"))
            .unwrap_or_else(|| panic!("seed {seed}: no shape row for m={m}"));
        let same_shape: Vec<f64> = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.2 == *m)
            .flat_map(|(j, _)| by_op[j].iter().cloned())
            .collect();
        check(shape, &same_shape);
    }
    let vendor: Vec<f64> = by_op[1].iter().chain(&by_op[2]).cloned().collect();
    if !vendor.is_empty() {
        let row = s.by_backend.iter().find(|r| r.key == "vendor").unwrap();
        check(row, &vendor);
    }
    for rows in [&s.by_backend, &s.by_op, &s.by_shape] {
        assert!(rows.windows(2).all(|w| w[0].total_ms >= w[1].total_ms));
    }
}

#[test]
fn disabled_records_nothing() {
    let inst = Instrumentation::new(false, None).unwrap();
    assert!(!inst.enabled());
    inst.record(record("matmul", "mlx", 1, 10));
    assert!(inst.records().is_empty());
    assert_eq!(inst.summary(), ProfileSummary::default());
}

#[test]
fn jsonl_lines_parse_back_to_the_records() {
    let path = std::env::temp_dir().join(format!(
        "metallic-profile-{}-{}.jsonl",
        std::process::id(),
        fresh_seed()
    ));
    let inst = Instrumentation::new(false, Some(path.clone())).unwrap();
    assert!(inst.enabled(), "a JSONL path enables profiling");
    let mut g = rng(fresh_seed());
    let written: Vec<DispatchRecord> = (0..5)
        .map(|i| DispatchRecord {
            dtype: [DType::F32, DType::F16, DType::BF16][i % 3],
            batch: g.random_range(1..16),
            transpose_a: i % 2 == 0,
            ..record(
                "matmul_alpha_beta",
                "mlx",
                g.random_range(1..512),
                g.random_range(1..9999),
            )
        })
        .collect();
    for r in &written {
        inst.record(r.clone());
    }
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), written.len());
    for (line, r) in lines.iter().zip(&written) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["op"], r.op);
        assert_eq!(v["backend"], r.backend);
        assert_eq!(v["dtype"], r.dtype.name());
        assert_eq!(v["batch"], r.batch);
        assert_eq!(v["m"], r.m);
        assert_eq!(v["n"], r.n);
        assert_eq!(v["k"], r.k);
        assert_eq!(v["transpose_a"], r.transpose_a);
        assert_eq!(v["transpose_b"], r.transpose_b);
        let ms = v["duration_ms"].as_f64().unwrap();
        assert!((ms - r.duration.as_secs_f64() * 1e3).abs() < 1e-12);
    }
    assert_eq!(inst.records(), written);
    inst.clear();
    assert!(inst.records().is_empty());
}

#[test]
fn table_has_three_aligned_sections() {
    let inst = Instrumentation::new(true, None).unwrap();
    inst.record(record("matmul", "mlx", 1, 1500));
    inst.record(record("matmul_alpha_beta", "vendor", 128, 2500));
    let table = inst.summary().to_string();
    let headers: Vec<&str> = table.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(headers.len(), 3, "{table}");
    assert!(table.contains("matmul_alpha_beta@vendor"), "{table}");
    assert!(table.contains("F32 1x128x896x896 NT"), "{table}");
    // Every data and column-header line has the same width: columns align.
    let widths: Vec<usize> = table
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("== "))
        .map(|l| l.chars().count())
        .collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "{table}");
}

#[test]
fn unwritable_jsonl_path_is_an_error() {
    let dir = std::env::temp_dir().join(format!("metallic-no-such-dir-{}", fresh_seed()));
    let err = Instrumentation::new(true, Some(dir.join("p.jsonl")));
    assert!(matches!(err, Err(crate::Error::Io { .. })));
}
