//! `metallic inspect`: what a GGUF file holds: its metadata and its tensor
//! index.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use metallic::gguf::{file_type_name, GgufFile, TensorInfo, Value, FILE_TYPE_KEY};
use metallic::Result;
use serde::Serialize;

use crate::model_arg::ModelArg;
use crate::output;

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

pub fn run(args: Args) -> Result<ExitCode> {
    let path = args.model.resolve()?;
    let gguf = GgufFile::open(&path)?;
    if args.json {
        output::json_line(&to_json(&gguf))?;
    } else {
        output::print(&summary(&path, &gguf))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `inspect --json`: the metadata in file order (each value in full,
/// streamed), then the tensor index. Shapes are in GGUF order, fastest
/// dimension first (as llama.cpp prints them); offsets are relative to the
/// file's tensor data section.
#[derive(Serialize)]
struct Json<'a> {
    metadata: Metadata<'a>,
    tensors: Vec<TensorJson<'a>>,
}

struct Metadata<'a>(&'a [(String, Value)]);

impl Serialize for Metadata<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(key, value)| (key, value)))
    }
}

#[derive(Serialize)]
struct TensorJson<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    dtype: &'static str,
    shape: &'a [u64],
    offset: u64,
    bytes: usize,
}

fn to_json(gguf: &GgufFile) -> Json<'_> {
    Json {
        metadata: Metadata(gguf.metadata()),
        tensors: gguf
            .tensors()
            .iter()
            .map(|t| TensorJson {
                name: &t.name,
                dtype: t.dtype.name(),
                shape: &t.dims,
                offset: t.offset,
                bytes: t.bytes,
            })
            .collect(),
    }
}

fn summary(path: &Path, gguf: &GgufFile) -> String {
    let tensors = gguf.tensors();
    let total: usize = tensors.iter().map(|t| t.bytes).sum();
    let file_type = file_type_of(gguf)
        .map(|name| format!(", file type {name}"))
        .unwrap_or_default();
    let mut out = format!(
        "{}\nGGUF v{}{file_type}, alignment {}, {} metadata keys, {} tensors ({:.1} MB of tensor data)\n\nmetadata:\n",
        path.display(),
        gguf.version(),
        gguf.alignment(),
        gguf.metadata().len(),
        tensors.len(),
        total as f64 / 1e6
    );
    for (key, value) in gguf.metadata() {
        let shown = match file_type_of(gguf) {
            Some(name) if key == FILE_TYPE_KEY => format!("{value} ({name})"),
            _ => show(value),
        };
        out.push_str(&format!("  {key} = {shown}\n"));
    }
    out.push_str(&format!("\ntensors by type: {}\n\n", type_counts(tensors)));
    out.push_str(&tensor_table(tensors));
    out
}

/// The name of `general.file_type` (`Q4_K_M` for 15), when it has one.
pub fn file_type_of(gguf: &GgufFile) -> Option<&'static str> {
    gguf.get(FILE_TYPE_KEY)
        .and_then(Value::as_u64)
        .and_then(file_type_name)
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
