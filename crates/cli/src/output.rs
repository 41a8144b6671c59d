//! What goes to standard error besides errors: warnings and progress lines,
//! both silenced by `-q/--quiet`.

use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences warnings and progress lines for the rest of the run.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// True when `-q/--quiet` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints `warning: …` on standard error, unless quiet.
pub fn warn(message: &str) {
    if !quiet() {
        eprintln!("warning: {message}");
    }
}
