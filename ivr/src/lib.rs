//! # hotline-ivr — the YAML flow language
//!
//! Owns: the schema of IVR flows that admins write in YAML, their validation (errors name the
//! file, line and column) and a sans-IO interpreter that turns events (digits, playback done,
//! speech results, timeouts) into actions (play, collect, enqueue, transfer, hang up).
//! Refuses: sockets, audio and SIP; the call controller carries the actions out.
//!
//! Status: the foundation ships two fixed numbers (`echo`, `welcome`) in the binary's
//! configuration; the flow language lands here with the IVR work.
//!
//! ```
//! assert_eq!(hotline_ivr::CRATE, "hotline-ivr");
//! ```

/// The crate's name, for diagnostics.
pub const CRATE: &str = "hotline-ivr";
