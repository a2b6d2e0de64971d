//! Stopping on SIGINT or SIGTERM: the handler only records the signal; the training loop
//! looks at it between spans of steps, checkpoints every run and returns [`Interrupted`].
//! A second signal of the same kind ends the process at once (the default action), for a
//! user who does not want to wait for the checkpoint.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Once};

/// The signal received, 0 for none. One per process: every run of every `run_many` call
/// stops on it.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
static INSTALL: Once = Once::new();

/// Records SIGINT and SIGTERM from now on instead of dying at once. Idempotent.
pub fn install() {
    INSTALL.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        for sig in [SIGINT, SIGTERM] {
            // the second signal of a kind kills (the flag is set by the first)
            let seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let _ = signal_hook::flag::register_conditional_default(sig, Arc::clone(&seen));
            let _ = signal_hook::flag::register(sig, seen);
            // SAFETY: the closure only stores into an atomic, which is async-signal-safe
            let _ = unsafe {
                signal_hook::low_level::register(sig, move || {
                    RECEIVED.store(sig, Ordering::SeqCst);
                })
            };
        }
    });
}

/// The signal that asks the runs to stop, if one has arrived.
pub fn requested() -> Option<Signal> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s if s == signal_hook::consts::SIGTERM => Some(Signal::Term),
        _ => Some(Signal::Int),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
}

impl Signal {
    /// The shell's convention: 128 + the signal number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Int => 130,
            Signal::Term => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }
}

/// The error a run (or sweep) stops with after a signal, once its checkpoints are written.
#[derive(Debug, thiserror::Error)]
#[error("stopped by {} at step {step}: {saved}", signal.name())]
pub struct Interrupted {
    pub signal: Signal,
    pub step: u64,
    /// What was saved, and how to go on.
    pub saved: String,
}

/// The exit code for an error: 130 or 143 when it is (or wraps) [`Interrupted`].
pub fn exit_code_of(e: &anyhow::Error) -> Option<u8> {
    e.chain()
        .find_map(|c| c.downcast_ref::<Interrupted>())
        .map(|i| i.signal.exit_code())
}
