//! # hotline-acd — queues, agents and skills routing
//!
//! Owns: queues, agent states, skills-based routing, wait-time estimates and callbacks, as
//! sans-IO state machines with time passed in. Refuses: SIP, audio and sockets; the call
//! controller carries out its routing decisions. Shared state across nodes goes through Redis
//! in the driver, never through a home-made cluster protocol.
//!
//! Status: empty until the ACD work; the foundation reserves the crate boundary.
//!
//! ```
//! assert_eq!(hotline_acd::CRATE, "hotline-acd");
//! ```

/// The crate's name, for diagnostics.
pub const CRATE: &str = "hotline-acd";
