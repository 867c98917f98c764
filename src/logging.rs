//! Logging through `tracing`, and the one redaction wrapper for personal data.
//!
//! Every call runs inside a span carrying its Call-ID. Phone numbers and network addresses
//! are logged only through [`Redact`], so `HOTLINE_LOG_REDACT=1` hides them everywhere.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static REDACT: AtomicBool = AtomicBool::new(false);

/// Install the subscriber: `RUST_LOG` filters (default `info`), `HOTLINE_LOG_REDACT=1` hides
/// numbers and addresses.
pub fn init() {
    let redact = std::env::var("HOTLINE_LOG_REDACT")
        .map(|v| v == "1" || v.eq_ignore_ascii_case("true"))
        .unwrap_or(false);
    REDACT.store(redact, Ordering::Relaxed);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Personal data in a log line: shown as is, or as `[redacted]` when redaction is on.
pub struct Redact<T>(pub T);

impl<T: fmt::Display> fmt::Display for Redact<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if REDACT.load(Ordering::Relaxed) {
            f.write_str("[redacted]")
        } else {
            self.0.fmt(f)
        }
    }
}

impl<T: fmt::Display> fmt::Debug for Redact<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
