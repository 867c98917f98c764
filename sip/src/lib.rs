//! # hotline-sip — the SIP stack
//!
//! Owns: SIP message syntax (parse and serialize, RFC 3261 §7, §20, §25), the transaction
//! layer (§17), dialogs and the user-agent core, and the framing rules of the transports.
//! Refuses: audio of any kind (SDP bodies are opaque bytes here; `media` reads them),
//! sockets, clocks and tasks.
//!
//! ## Time model
//! Every state machine is sans-IO: it takes input (a parsed message, a timer firing) together
//! with the current time as an [`std::time::Instant`] passed in by the caller, and returns
//! output through `poll_*` methods (messages to transmit, events for the layer above, and the
//! next deadline). Nothing in this crate reads the clock, sleeps, spawns or owns a socket.
//! Randomness (tags, branches, Call-IDs) comes from an injected RNG so a seed replays a run.
//!
//! ## Layers
//! `message` (pure types and codec) → `transaction` (RFC 3261 §17 state machines) →
//! `dialog` (UAS core: dialogs, in-dialog request routing). Each layer knows only the one
//! below it. A thin tokio driver in the `hotline` binary moves bytes between sockets and
//! these machines.
//!
//! ## Run loop
//! ```
//! use hotline_sip::message::{parse, Message};
//! let bytes = b"OPTIONS sip:echo@127.0.0.1 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
//! Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:echo@127.0.0.1>\r\n\
//! Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
//! let Ok(Message::Request(req)) = parse(bytes) else { panic!("valid OPTIONS") };
//! assert_eq!(req.headers.call_id(), Some("c1"));
//! ```

pub mod message;
pub mod transaction;
pub mod ua;
