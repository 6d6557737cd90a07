//! `metallic inspect`: what a GGUF file holds: its metadata and its tensor
//! index.

use std::collections::BTreeMap;
use std::path::Path;

use metallic::gguf::{GgufFile, TensorInfo, Value};
use metallic::Result;
use serde_json::json;

use crate::model_arg::ModelArg;

/// Strings longer than this (chat templates) are shortened in the summary.
const SHOWN_STRING_CHARS: usize = 60;

/// Print a model's metadata and tensor table
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    model: ModelArg,
    /// Print one JSON object {"metadata": {...}, "tensors": [{"name", "type",
    /// "shape", "offset", "bytes"}]} with every value in full
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let path = args.model.resolve()?;
    let gguf = GgufFile::open(&path)?;
    if args.json {
        println!("{}", to_json(&gguf));
    } else {
        print!("{}", summary(&path, &gguf));
    }
    Ok(())
}

/// Shapes are in GGUF order, fastest dimension first (as llama.cpp prints
/// them); offsets are relative to the file's tensor data section.
fn to_json(gguf: &GgufFile) -> serde_json::Value {
    let metadata: serde_json::Map<String, serde_json::Value> = gguf
        .metadata()
        .iter()
        .map(|(key, value)| (key.clone(), value.to_json()))
        .collect();
    let tensors: Vec<serde_json::Value> = gguf
        .tensors()
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "type": t.dtype.name(),
                "shape": t.dims,
                "offset": t.offset,
                "bytes": t.bytes,
            })
        })
        .collect();
    json!({ "metadata": metadata, "tensors": tensors })
}

fn summary(path: &Path, gguf: &GgufFile) -> String {
    let tensors = gguf.tensors();
    let total: usize = tensors.iter().map(|t| t.bytes).sum();
    let mut out = format!(
        "{}\nGGUF v{}, alignment {}, {} metadata keys, {} tensors ({:.1} MB of tensor data)\n\nmetadata:\n",
        path.display(),
        gguf.version(),
        gguf.alignment(),
        gguf.metadata().len(),
        tensors.len(),
        total as f64 / 1e6
    );
    for (key, value) in gguf.metadata() {
        out.push_str(&format!("  {key} = {}\n", show(value)));
    }
    out.push_str(&format!("\ntensors by type: {}\n\n", type_counts(tensors)));
    out.push_str(&tensor_table(tensors));
    out
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() > SHOWN_STRING_CHARS => {
            let head: String = s.chars().take(SHOWN_STRING_CHARS).collect();
            format!("{head:?}… ({} chars)", s.chars().count())
        }
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// `Q5_0 133, F32 121, …`, most frequent first.
fn type_counts(tensors: &[TensorInfo]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tensors {
        *counts.entry(t.dtype.name()).or_default() += 1;
    }
    let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{n} {c}")).collect();
    parts.join(", ")
}

fn tensor_table(tensors: &[TensorInfo]) -> String {
    let rows: Vec<[String; 4]> = tensors
        .iter()
        .map(|t| {
            let dims: Vec<String> = t.dims.iter().map(u64::to_string).collect();
            [
                t.name.clone(),
                t.dtype.name().to_string(),
                format!("[{}]", dims.join(", ")),
                t.bytes.to_string(),
            ]
        })
        .collect();
    let header = ["name", "type", "shape (fastest first)", "bytes"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    let mut out = line(header);
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
    }
    out
}
