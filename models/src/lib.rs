//! # hotline-models — local speech models
//!
//! Owns: speech-to-text, voice activity detection, keyword, risk and sentiment signals, all
//! computed on the engine's own machine. Refuses: SIP and sockets; audio arrives as PCM
//! frames from `media` taps and results leave as events.
//!
//! Status: empty until the speech work; the foundation reserves the crate boundary.
//!
//! ```
//! assert_eq!(hotline_models::CRATE, "hotline-models");
//! ```

/// The crate's name, for diagnostics.
pub const CRATE: &str = "hotline-models";
