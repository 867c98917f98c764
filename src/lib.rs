//! # hotline — the engine's composition root
//!
//! Ties the crates together: the configuration, the SIP transport drivers (thin tokio tasks
//! around `hotline-sip`'s sans-IO machines), the call controller (one task per call, owning
//! its media), the HTTP port (`/healthz`, `/metrics`) and logging. Protocol logic lives in the
//! crates; this crate only moves bytes, time and events between them.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let cfg = hotline::config::Config::embedded();
//! hotline::engine::run(cfg).await
//! # }
//! ```

pub mod call;
pub mod config;
pub mod engine;
pub mod http;
pub mod logging;
pub mod media;
pub mod metrics;
pub mod transport;
