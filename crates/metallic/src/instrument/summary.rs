//! Aggregates of dispatch records: by backend, by op@backend and by shape,
//! each row with count, total, mean, min, max, p95 and p99 in milliseconds.
//!
//! Percentiles use the nearest-rank rule: the p-th percentile of n sorted
//! durations is the value at 1-based rank ⌈p·n/100⌉.

use std::collections::BTreeMap;
use std::fmt;

use super::record::DispatchRecord;

/// One group's statistics, all durations in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    pub key: String,
    pub count: usize,
    pub total_ms: f64,
    pub avg_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// The three groupings; rows within each are ordered by total time, largest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileSummary {
    pub by_backend: Vec<SummaryRow>,
    pub by_op: Vec<SummaryRow>,
    pub by_shape: Vec<SummaryRow>,
}

impl ProfileSummary {
    pub fn from_records(records: &[DispatchRecord]) -> ProfileSummary {
        ProfileSummary {
            by_backend: group(records, |r| r.backend.to_string()),
            by_op: group(records, |r| format!("{}@{}", r.op, r.backend)),
            by_shape: group(records, DispatchRecord::shape_key),
        }
    }
}

fn group(records: &[DispatchRecord], key: impl Fn(&DispatchRecord) -> String) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in records {
        groups
            .entry(key(r))
            .or_default()
            .push(r.duration.as_secs_f64() * 1e3);
    }
    let mut rows: Vec<SummaryRow> = groups.into_iter().map(|(key, ms)| row(key, ms)).collect();
    rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    rows
}

fn row(key: String, mut ms: Vec<f64>) -> SummaryRow {
    ms.sort_by(f64::total_cmp);
    let total_ms: f64 = ms.iter().sum();
    SummaryRow {
        key,
        count: ms.len(),
        total_ms,
        avg_ms: total_ms / ms.len() as f64,
        min_ms: ms[0],
        max_ms: ms[ms.len() - 1],
        p95_ms: nearest_rank(&ms, 95),
        p99_ms: nearest_rank(&ms, 99),
    }
}

/// `sorted` is non-empty and ascending; `percent` is in 1..=100.
fn nearest_rank(sorted: &[f64], percent: usize) -> f64 {
    let rank = (percent * sorted.len()).div_ceil(100);
    sorted[rank.max(1) - 1]
}

impl fmt::Display for ProfileSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sections = [
            ("by backend", &self.by_backend),
            ("by op@backend", &self.by_op),
            (
                "by shape (dtype batch x m x n x k, transposes)",
                &self.by_shape,
            ),
        ];
        let width = sections
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|r| r.key.len()))
            .chain(std::iter::once(3))
            .max()
            .unwrap_or(3);
        for (i, (title, rows)) in sections.into_iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "== {title}")?;
            writeln!(
                f,
                "{:<width$}  {:>7}  {:>11}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
                "key", "count", "total ms", "avg ms", "min ms", "max ms", "p95 ms", "p99 ms"
            )?;
            for r in rows.iter() {
                writeln!(
                    f,
                    "{:<width$}  {:>7}  {:>11.3}  {:>9.3}  {:>9.3}  {:>9.3}  {:>9.3}  {:>9.3}",
                    r.key, r.count, r.total_ms, r.avg_ms, r.min_ms, r.max_ms, r.p95_ms, r.p99_ms
                )?;
            }
        }
        Ok(())
    }
}
