//! Ctrl-C: once caught, it is a request the running command polls (between
//! tokens, between prefill chunks), so that it can stop cleanly and still
//! report what it did.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use metallic::{Error, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: Once = Once::new();

/// The exit status of a command stopped by Ctrl-C: 128 + SIGINT, as shells
/// report it.
pub const EXIT_STATUS: u8 = 130;

/// From now on Ctrl-C sets the request instead of ending the process.
pub fn catch() -> Result<()> {
    let mut outcome = Ok(());
    INSTALLED.call_once(|| {
        outcome = ctrlc::set_handler(|| REQUESTED.store(true, Ordering::SeqCst))
            .map_err(|e| Error::Device(format!("cannot catch Ctrl-C: {e}")));
    });
    outcome
}

/// Whether Ctrl-C was pressed since the last `clear`.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Forgets an earlier Ctrl-C (chat: each answer can be stopped anew).
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}
