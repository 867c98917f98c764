//! # hotline-case-api — cases, interactions and the REST/WebSocket API
//!
//! Owns: tenants, users, roles, cases, interactions, documents and the audit trail, stored
//! with sqlx (SQLite by default, PostgreSQL in production), and the HTTP API served on the
//! engine's HTTP port. Refuses: SIP and audio; calls arrive only as events and records.
//!
//! Status: empty until the case API work; the foundation reserves the crate boundary.
//!
//! ```
//! assert_eq!(hotline_case_api::CRATE, "hotline-case-api");
//! ```

/// The crate's name, for diagnostics.
pub const CRATE: &str = "hotline-case-api";
