//! `GgufFile`: a GGUF v2/v3 file parsed and checked once — header, metadata,
//! tensor index — with tensor bytes left in place as zero-copy views into a
//! memory map (or an owned buffer).

use std::collections::hash_map::{Entry, HashMap};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use super::cursor::Cursor;
use super::tensor_info::{read_tensor_info, TensorInfo};
use super::value::{read_value, Value};
use super::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC};
use crate::error::{Error, Result};

/// Fewest bytes a metadata entry takes: key length, type id, one-byte value.
const MIN_METADATA_ENTRY_BYTES: usize = 8 + 4 + 1;
/// Fewest bytes a tensor index entry takes: name length, dimension count,
/// type id, offset.
const MIN_TENSOR_INFO_BYTES: usize = 8 + 4 + 4 + 8;

enum Storage {
    Mapped(Arc<Mmap>),
    Owned(Vec<u8>),
}

pub struct GgufFile {
    storage: Storage,
    version: u32,
    alignment: usize,
    data_offset: usize,
    metadata: Vec<(String, Value)>,
    metadata_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

/// What parsing finds; the bytes stay with the caller.
struct Parsed {
    version: u32,
    alignment: usize,
    data_offset: usize,
    metadata: Vec<(String, Value)>,
    metadata_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl GgufFile {
    /// Maps the file read-only and parses it; errors name the path.
    pub fn open(path: &Path) -> Result<GgufFile> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only and private to this process. Another
        // process truncating or rewriting the file while it is mapped would
        // change these bytes under us; like every mmap-based model loader we
        // take files as not modified while open. Every field is range-checked
        // when parsed, and tensor views are plain bytes with no invariant.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let storage = Storage::Mapped(Arc::new(map));
        GgufFile::from_storage(storage).map_err(|e| match e {
            Error::Format(msg) => Error::Format(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// Parses a GGUF file held in memory, exactly as [`GgufFile::open`] would.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile> {
        GgufFile::from_storage(Storage::Owned(bytes))
    }

    fn from_storage(storage: Storage) -> Result<GgufFile> {
        let bytes: &[u8] = match &storage {
            Storage::Mapped(map) => map,
            Storage::Owned(vec) => vec,
        };
        let parsed = parse(bytes)?;
        Ok(GgufFile {
            storage,
            version: parsed.version,
            alignment: parsed.alignment,
            data_offset: parsed.data_offset,
            metadata: parsed.metadata,
            metadata_index: parsed.metadata_index,
            tensors: parsed.tensors,
            tensor_index: parsed.tensor_index,
        })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Alignment of tensor data: `general.alignment`, else 32.
    pub fn alignment(&self) -> usize {
        self.alignment
    }

    /// Where the data section starts in the file.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// Metadata entries in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// The tensor index in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The tensor's bytes, a view into the file. `info` must come from this
    /// file's index (its range was checked against the file when parsed);
    /// an entry from another file that does not fit panics.
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        let start = info.file_offset as usize;
        start
            .checked_add(info.bytes)
            .and_then(|end| self.data().get(start..end))
            .expect("TensorInfo does not belong to this GgufFile")
    }

    /// The memory map, for tensors that keep the map alive; `None` when the
    /// file was parsed from an owned buffer.
    pub fn mmap(&self) -> Option<&Arc<Mmap>> {
        match &self.storage {
            Storage::Mapped(map) => Some(map),
            Storage::Owned(_) => None,
        }
    }

    /// The whole file's bytes.
    pub fn data(&self) -> &[u8] {
        match &self.storage {
            Storage::Mapped(map) => map,
            Storage::Owned(vec) => vec,
        }
    }
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("alignment", &self.alignment)
            .field("bytes", &self.data().len())
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

/// Records `name` as entry `position`; a second entry of that name is an
/// error, `what` says of what.
fn insert_unique(
    index: &mut HashMap<String, usize>,
    name: &str,
    position: usize,
    what: &str,
) -> Result<()> {
    match index.entry(name.to_owned()) {
        Entry::Occupied(_) => Err(Error::Format(format!("duplicate {what} `{name}`"))),
        Entry::Vacant(slot) => {
            slot.insert(position);
            Ok(())
        }
    }
}

fn parse(bytes: &[u8]) -> Result<Parsed> {
    let mut cur = Cursor::new(bytes);
    let magic = cur.take(4, "magic")?;
    if magic != MAGIC {
        return Err(Error::Format(format!(
            "wrong magic {magic:02x?}: not a GGUF file (expected \"GGUF\")"
        )));
    }
    let version = check_version(cur.u32("version")?)?;
    let tensor_count = cur.count(MIN_TENSOR_INFO_BYTES, "tensor count")?;
    let metadata_count = cur.count(MIN_METADATA_ENTRY_BYTES, "metadata count")?;

    let mut metadata = Vec::with_capacity(metadata_count);
    let mut metadata_index = HashMap::with_capacity(metadata_count);
    for i in 0..metadata_count {
        let key = cur.string(&format!("key of metadata entry {i}"))?;
        let type_id = cur.u32(&format!("value type of `{key}`"))?;
        let value = read_value(&mut cur, type_id, &key)?;
        insert_unique(&mut metadata_index, &key, i, "metadata key")?;
        metadata.push((key, value));
    }
    let alignment = alignment(&metadata)?;

    let mut tensors = Vec::with_capacity(tensor_count);
    let mut tensor_index = HashMap::with_capacity(tensor_count);
    for i in 0..tensor_count {
        let info = read_tensor_info(&mut cur, i)?;
        insert_unique(&mut tensor_index, &info.name, i, "tensor name")?;
        tensors.push(info);
    }

    let data_offset = cur
        .position()
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| Error::Format("data section offset overflows".into()))?;
    place_tensors(&mut tensors, data_offset, alignment, bytes.len())?;
    Ok(Parsed {
        version,
        alignment,
        data_offset,
        metadata,
        metadata_index,
        tensors,
        tensor_index,
    })
}

fn check_version(version: u32) -> Result<u32> {
    match version {
        2 | 3 => Ok(version),
        1 => Err(Error::Format(
            "GGUF version 1 is not supported (only versions 2 and 3)".into(),
        )),
        v if (1..=3).contains(&v.swap_bytes()) => Err(Error::Format(format!(
            "big-endian GGUF (version field reads {v:#010x}, version {} byte-swapped): \
             only little-endian files are supported",
            v.swap_bytes()
        ))),
        v => Err(Error::Format(format!(
            "unknown GGUF version {v} (supported: 2 and 3)"
        ))),
    }
}

fn alignment(metadata: &[(String, Value)]) -> Result<usize> {
    let Some((_, value)) = metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    value
        .as_u64()
        .and_then(|a| usize::try_from(a).ok())
        .filter(|a| a.is_power_of_two())
        .ok_or_else(|| {
            Error::Format(format!(
                "`{ALIGNMENT_KEY}` is {value:?}, not a nonzero power of two"
            ))
        })
}

/// Sets each tensor's file offset and checks that its bytes are aligned,
/// lie inside the file and overlap no other tensor's.
fn place_tensors(
    tensors: &mut [TensorInfo],
    data_offset: usize,
    alignment: usize,
    file_len: usize,
) -> Result<()> {
    for t in tensors.iter_mut() {
        if t.offset % alignment as u64 != 0 {
            return Err(Error::Format(format!(
                "tensor `{}`: data offset {} is not a multiple of the alignment {alignment}",
                t.name, t.offset
            )));
        }
        let end = (data_offset as u64)
            .checked_add(t.offset)
            .and_then(|start| start.checked_add(t.bytes as u64).map(|end| (start, end)))
            .filter(|&(_, end)| end <= file_len as u64);
        let Some((start, _)) = end else {
            return Err(Error::Format(format!(
                "tensor `{}`: {} bytes at data offset {} lie outside the file \
                 ({file_len} bytes, data section from byte {data_offset})",
                t.name, t.bytes, t.offset
            )));
        };
        t.file_offset = start;
    }
    let mut by_offset: Vec<&TensorInfo> = tensors.iter().collect();
    by_offset.sort_by_key(|t| t.offset);
    for pair in by_offset.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.offset + a.bytes as u64 > b.offset {
            return Err(Error::Format(format!(
                "tensors `{}` and `{}` overlap: {} bytes from data offset {} run past {}",
                a.name, b.name, a.bytes, a.offset, b.offset
            )));
        }
    }
    Ok(())
}
