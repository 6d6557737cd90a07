//! Writing to the terminal without panicking: stdout may be a closed pipe
//! (`| head`) or a full device (`> /dev/full`), and `println!` would panic on
//! either.

use std::io::{ErrorKind, Write};

use metallic::{Error, Result};

/// The name write errors carry, so that `main` can tell them apart.
const STDOUT: &str = "<stdout>";

/// Writes `text` to stdout at once (streamed text must show as it comes).
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io(STDOUT, e))
}

/// `print` with a newline.
pub fn println(text: &str) -> Result<()> {
    print(&format!("{text}\n"))
}

/// `value` as one line of JSON on stdout, written as it is serialized (a
/// model's metadata can be large).
pub fn json_line<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer(&mut out, value)
        .map_err(|e| {
            if e.is_io() {
                // serde_json hands back the writer's own error.
                Error::io(STDOUT, std::io::Error::from(e))
            } else {
                Error::InvalidArgument(format!("cannot write JSON: {e}"))
            }
        })
        .and_then(|()| {
            out.write_all(b"\n")
                .and_then(|()| out.flush())
                .map_err(|e| Error::io(STDOUT, e))
        })
}

/// A reader closed stdout (`metallic … | head`): a normal end, like any Unix
/// tool's, not an error to report.
pub fn is_closed_stdout(error: &Error) -> bool {
    matches!(error, Error::Io { path, source }
        if path.as_os_str() == STDOUT && source.kind() == ErrorKind::BrokenPipe)
}

/// A line on stderr. Messages to the user are best effort: when stderr
/// itself cannot be written there is no one left to tell.
pub fn note(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// `1 token`, `2 tokens`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
