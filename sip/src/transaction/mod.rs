//! The transaction layer: RFC 3261 §17, with RFC 6026's Accepted states and RFC 3581 `rport`.
//!
//! Owns the four transaction state machines (client and server, INVITE and non-INVITE),
//! matching of incoming messages to them (§17.1.3, §17.2.3, and the RFC 2543 fallback), their
//! retransmissions and timers A–M, the ACK for non-2xx final responses, and the `received` /
//! `rport` stamping of incoming requests (§18.2.1, RFC 3581). It refuses dialogs, the 2xx ACK
//! and 2xx retransmission (the TU's job; [`TwoXxRetransmit`] is the timer for the latter),
//! sockets, DNS and the clock.
//!
//! ## Draining rule
//!
//! [`TransactionLayer`] is one sans-IO state machine, fed through `handle_*` / `send_*` with the
//! current time. After **every** such call the driver must
//! 1. drain [`TransactionLayer::poll_transmit`] until `None` and put each [`Transmit`] on the
//!    wire,
//! 2. drain [`TransactionLayer::poll_event`] until `None` and hand each
//!    [`TransactionEvent`] to the transaction user (which may call `send_*` again: drain again),
//! 3. read [`TransactionLayer::poll_timeout`] and call [`TransactionLayer::handle_timeout`] no
//!    later than that instant (zero-length timers such as D/I/J/K over TCP make it `now`).
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use hotline_sip::message::{parse, Message};
//! use hotline_sip::transaction::{Peer, Timers, TransactionEvent, TransactionLayer};
//!
//! let bytes = b"OPTIONS sip:echo@192.0.2.2 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n\
//! Max-Forwards: 70\r\nFrom: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:echo@192.0.2.2>\r\n\
//! Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
//! let Ok(msg) = parse(bytes) else { panic!("valid OPTIONS") };
//! let peer = Peer::udp("192.0.2.1:5060".parse::<SocketAddr>().unwrap());
//! # #[allow(clippy::disallowed_methods)]
//! let now = Instant::now(); // the driver's clock; the layer never reads one
//!
//! let mut layer = TransactionLayer::new(Timers::default());
//! layer.handle_incoming(now, peer, msg);
//! while let Some(event) = layer.poll_event() {
//!     if let TransactionEvent::NewRequest { key, request, .. } = event {
//!         let ok = hotline_sip::message::Response::to_request(&request, 200);
//!         layer.send_response(now, &key, ok).unwrap();
//!     }
//! }
//! let transmit = layer.poll_transmit().expect("the 200 OK");
//! assert_eq!(transmit.peer, peer);
//! assert!(layer.poll_transmit().is_none());
//! // Timer J keeps the transaction for 64·T1 to absorb retransmitted requests.
//! assert_eq!(layer.poll_timeout(), Some(now + Duration::from_secs(32)));
//! layer.handle_timeout(now + Duration::from_secs(32));
//! assert!(layer.is_empty());
//! ```

mod client_invite;
mod client_non_invite;
mod matching;
mod server_invite;
mod server_non_invite;
mod timers;
mod two_xx;

pub use matching::{MAGIC_COOKIE, is_rfc3261_branch};
pub use timers::Timers;
pub use two_xx::{TwoXxAction, TwoXxRetransmit};

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::message::{HeaderName, Message, Method, Request, Response, Via};
use client_invite::ClientInvite;
use client_non_invite::ClientNonInvite;
use matching::{ClientMatch, ServerMatch, default_port};
use server_invite::{AckOutcome, ServerInvite};
use server_non_invite::ServerNonInvite;
use timers::DeadlineQueue;

/// A transport protocol as far as the transaction layer cares: reliable or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl Transport {
    /// Reliable transports get no retransmissions (A, E, G) and zero-length D, I, J, K.
    pub fn reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The transport token used in a Via header.
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
}

/// The far end of a message: a socket address and the transport it is reached over. For a
/// connection-oriented transport the driver maps it to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: Transport,
}

impl Peer {
    pub fn new(addr: SocketAddr, transport: Transport) -> Peer {
        Peer { addr, transport }
    }

    pub fn udp(addr: SocketAddr) -> Peer {
        Peer::new(addr, Transport::Udp)
    }

    pub fn tcp(addr: SocketAddr) -> Peer {
        Peer::new(addr, Transport::Tcp)
    }

    pub fn reliable(&self) -> bool {
        self.transport.reliable()
    }
}

/// A handle to one transaction. Handles are never reused, so a stale one is simply unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey(u64);

impl fmt::Display for TxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx#{}", self.0)
    }
}

/// The state of a live transaction (Terminated ones are removed at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxState {
    /// Client INVITE, before any response.
    Calling,
    /// Non-INVITE (client or server), before any response.
    Trying,
    Proceeding,
    Completed,
    /// Server INVITE, after the ACK for a failure response.
    Confirmed,
    /// INVITE (client or server) after a 2xx (RFC 6026).
    Accepted,
    Terminated,
}

/// Layer configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub timers: Timers,
    /// Answer every new INVITE with 100 Trying at once, as §17.2.1 requires unless the TU
    /// answers within 200 ms. Default `true`.
    pub auto_trying: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timers: Timers::default(),
            auto_trying: true,
        }
    }
}

/// A message to put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination (for responses: computed per §18.2.2 and RFC 3581).
    pub peer: Peer,
    pub message: Message,
    /// The transaction that sent it; `None` for [`TransactionLayer::send_stateless`]. Report a
    /// failed send with [`TransactionLayer::handle_transport_error`].
    pub key: Option<TxKey>,
}

/// What the layer tells the transaction user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionEvent {
    /// A new request created a server transaction. Its top Via already carries `received`
    /// and `rport` (so `Response::to_request` echoes them). Answer with
    /// [`TransactionLayer::send_response`].
    NewRequest {
        key: TxKey,
        peer: Peer,
        request: Request,
    },
    /// A new CANCEL created its own server transaction `key`. `invite_key` is the INVITE
    /// server transaction it matches, if any: answer the CANCEL 200 and that INVITE 487 — or
    /// the CANCEL 481 when there is none.
    Cancel {
        key: TxKey,
        invite_key: Option<TxKey>,
        peer: Peer,
        request: Request,
    },
    /// An ACK the TU must see: one for a 2xx (it has its own branch, so it matches no
    /// transaction, `invite_key: None`) or one that matched an INVITE transaction in Accepted.
    /// ACKs for failure responses are consumed by the layer.
    Ack {
        invite_key: Option<TxKey>,
        peer: Peer,
        request: Request,
    },
    /// A response for client transaction `key`: every provisional, the final, and in
    /// Accepted every further 2xx (retransmissions and forks; the TU ACKs each).
    Response { key: TxKey, response: Response },
    /// A response that matches no client transaction. Usually dropped; a proxy forwards it.
    StrayResponse { peer: Peer, response: Response },
    /// Timer B or F (client: no answer) or H (server INVITE: no ACK for a failure) fired.
    Timeout { key: TxKey },
    /// The driver reported that sending for `key` failed.
    TransportError { key: TxKey },
    /// The transaction ended and its handle is no longer valid. Always the last event for a
    /// key.
    Terminated { key: TxKey },
    /// An incoming message the layer could not match or route, e.g. a request without Via.
    Discarded { peer: Peer, error: TransactionError },
}

/// Errors of the transaction layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    #[error("unknown transaction {0}")]
    UnknownTransaction(TxKey),
    #[error("{0} is a client transaction; responses go to server transactions")]
    NotAServerTransaction(TxKey),
    #[error("{0} is not an INVITE client transaction")]
    NotAnInviteClientTransaction(TxKey),
    #[error("a {status} response is not allowed in state {state:?}")]
    InvalidState { state: TxState, status: u16 },
    #[error("status code {0} is outside 100-699")]
    InvalidStatus(u16),
    #[error("missing or malformed {} header", .0.as_str())]
    MissingHeader(HeaderName),
    #[error("the top Via has no RFC 3261 branch (z9hG4bK...)")]
    MissingBranch,
    #[error("the CSeq method does not match the request method")]
    CSeqMismatch,
    #[error("ACK is not a transaction: send it with send_stateless")]
    AckIsNotATransaction,
    #[error("a client transaction with this branch and method already exists")]
    DuplicateTransaction,
}

impl From<&TransactionError> for u16 {
    /// The SIP status a UAS answers with when it cannot accept a request for this reason.
    fn from(error: &TransactionError) -> u16 {
        match error {
            TransactionError::UnknownTransaction(_) => 481,
            TransactionError::MissingHeader(_)
            | TransactionError::MissingBranch
            | TransactionError::CSeqMismatch => 400,
            _ => 500,
        }
    }
}

/// A fresh RFC 3261 branch: the magic cookie and 64 random bits.
pub fn new_branch<R: rand::Rng + ?Sized>(rng: &mut R) -> String {
    format!("{MAGIC_COOKIE}{:016x}", rng.random::<u64>())
}

/// Messages and events produced by the machines, waiting to be polled.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    transmits: VecDeque<Transmit>,
    events: VecDeque<TransactionEvent>,
}

impl Outbox {
    pub(crate) fn transmit(&mut self, key: TxKey, peer: Peer, message: Message) {
        self.transmits.push_back(Transmit {
            peer,
            message,
            key: Some(key),
        });
    }

    pub(crate) fn event(&mut self, event: TransactionEvent) {
        self.events.push_back(event);
    }
}

/// The four machines of §17, named as the RFC names them. Boxed: they differ in size by
/// hundreds of bytes, and a transaction lives long enough for one allocation not to matter.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)]
enum Machine {
    ClientInvite(Box<ClientInvite>),
    ClientNonInvite(Box<ClientNonInvite>),
    ServerInvite(Box<ServerInvite>),
    ServerNonInvite(Box<ServerNonInvite>),
}

impl Machine {
    fn state(&self) -> TxState {
        match self {
            Machine::ClientInvite(m) => m.state(),
            Machine::ClientNonInvite(m) => m.state(),
            Machine::ServerInvite(m) => m.state(),
            Machine::ServerNonInvite(m) => m.state(),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match self {
            Machine::ClientInvite(m) => m.deadline(),
            Machine::ClientNonInvite(m) => m.deadline(),
            Machine::ServerInvite(m) => m.deadline(),
            Machine::ServerNonInvite(m) => m.deadline(),
        }
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Outbox) {
        match self {
            Machine::ClientInvite(m) => m.on_timeout(now, out),
            Machine::ClientNonInvite(m) => m.on_timeout(now, out),
            Machine::ServerInvite(m) => m.on_timeout(now, out),
            Machine::ServerNonInvite(m) => m.on_timeout(now),
        }
    }

    fn fail(&mut self) {
        match self {
            Machine::ClientInvite(m) => m.fail(),
            Machine::ClientNonInvite(m) => m.fail(),
            Machine::ServerInvite(m) => m.fail(),
            Machine::ServerNonInvite(m) => m.fail(),
        }
    }
}

/// The index entry a transaction is found by, removed with it.
#[derive(Debug)]
enum Index {
    Client(ClientMatch),
    Server(ServerMatch),
}

#[derive(Debug)]
struct Entry {
    machine: Machine,
    index: Index,
    /// The deadline this transaction is queued at in [`DeadlineQueue`]; other queue entries
    /// for it are stale.
    scheduled: Option<Instant>,
}

/// All transactions of one SIP endpoint. See the [module docs](self) for the draining rule.
#[derive(Debug)]
pub struct TransactionLayer {
    config: Config,
    next_key: u64,
    entries: HashMap<TxKey, Entry>,
    clients: HashMap<ClientMatch, TxKey>,
    servers: HashMap<ServerMatch, TxKey>,
    deadlines: DeadlineQueue,
    out: Outbox,
}

impl TransactionLayer {
    /// A layer with these timers and the default [`Config`] otherwise.
    pub fn new(timers: Timers) -> TransactionLayer {
        TransactionLayer::with_config(Config {
            timers,
            ..Config::default()
        })
    }

    pub fn with_config(config: Config) -> TransactionLayer {
        TransactionLayer {
            config: Config {
                timers: config.timers.sanitized(),
                ..config
            },
            next_key: 0,
            entries: HashMap::new(),
            clients: HashMap::new(),
            servers: HashMap::new(),
            deadlines: DeadlineQueue::default(),
            out: Outbox::default(),
        }
    }

    /// The configuration in use (timers after [`Timers::sanitized`]).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A message arrived from `peer`.
    pub fn handle_incoming(&mut self, now: Instant, peer: Peer, msg: Message) {
        match msg {
            Message::Request(request) => self.incoming_request(now, peer, request),
            Message::Response(response) => self.incoming_response(now, peer, response),
        }
        self.settle();
    }

    /// The TU sends a new request: creates a client transaction and transmits the request.
    ///
    /// The TU has built the request completely, including a top Via with a fresh RFC 3261
    /// branch ([`new_branch`]). A CANCEL reuses its INVITE's branch
    /// ([`TransactionLayer::cancel_for`] builds it). ACK is not a transaction: send the ACK
    /// for a 2xx with [`TransactionLayer::send_stateless`].
    pub fn send_request(
        &mut self,
        now: Instant,
        peer: Peer,
        request: Request,
    ) -> Result<TxKey, TransactionError> {
        if request.method == Method::Ack {
            return Err(TransactionError::AckIsNotATransaction);
        }
        let via = request
            .headers
            .top_via()
            .ok_or(TransactionError::MissingHeader(HeaderName::Via))?;
        let branch = via
            .branch()
            .filter(|b| is_rfc3261_branch(b))
            .ok_or(TransactionError::MissingBranch)?;
        let cseq = request
            .headers
            .cseq()
            .ok_or(TransactionError::MissingHeader(HeaderName::CSeq))?;
        if cseq.method != request.method {
            return Err(TransactionError::CSeqMismatch);
        }
        let index = ClientMatch {
            branch: branch.to_owned(),
            method: request.method.clone(),
        };
        if self.clients.contains_key(&index) {
            return Err(TransactionError::DuplicateTransaction);
        }
        let key = self.next_key();
        let timers = self.config.timers;
        let machine = if request.method == Method::Invite {
            Machine::ClientInvite(Box::new(ClientInvite::start(
                now,
                key,
                peer,
                request,
                timers,
                &mut self.out,
            )))
        } else {
            Machine::ClientNonInvite(Box::new(ClientNonInvite::start(
                now,
                key,
                peer,
                request,
                timers,
                &mut self.out,
            )))
        };
        self.clients.insert(index.clone(), key);
        self.insert(key, machine, Index::Client(index));
        self.settle();
        Ok(key)
    }

    /// The TU responds within server transaction `key`. The response is sent to the address
    /// the request's top Via asks for (§18.2.2, RFC 3581) and kept for retransmissions.
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &TxKey,
        response: Response,
    ) -> Result<(), TransactionError> {
        let key = *key;
        if !(100..=699).contains(&response.status) {
            return Err(TransactionError::InvalidStatus(response.status));
        }
        let entry = self
            .entries
            .get_mut(&key)
            .ok_or(TransactionError::UnknownTransaction(key))?;
        match &mut entry.machine {
            Machine::ServerInvite(m) => m.send_response(now, response, &mut self.out)?,
            Machine::ServerNonInvite(m) => m.send_response(now, response, &mut self.out)?,
            Machine::ClientInvite(_) | Machine::ClientNonInvite(_) => {
                return Err(TransactionError::NotAServerTransaction(key));
            }
        }
        self.after(key);
        self.settle();
        Ok(())
    }

    /// Send a message outside any transaction: the ACK for a 2xx, a stateless response.
    pub fn send_stateless(&mut self, peer: Peer, message: Message) {
        self.out.transmits.push_back(Transmit {
            peer,
            message,
            key: None,
        });
    }

    /// The CANCEL for the INVITE of client transaction `invite` (RFC 3261 §9.1): same
    /// Request-URI, Call-ID, From, To, CSeq number, top Via (branch) and Route headers. Send
    /// it with [`TransactionLayer::send_request`] once a provisional response has arrived.
    pub fn cancel_for(&self, invite: &TxKey) -> Result<Request, TransactionError> {
        match self.entries.get(invite).map(|e| &e.machine) {
            Some(Machine::ClientInvite(m)) => Ok(client_invite::derive_request(
                m.request(),
                Method::Cancel,
                None,
            )),
            Some(_) => Err(TransactionError::NotAnInviteClientTransaction(*invite)),
            None => Err(TransactionError::UnknownTransaction(*invite)),
        }
    }

    /// The driver could not send a message of transaction `key` (ICMP error, connection
    /// refused or reset): the transaction ends with [`TransactionEvent::TransportError`].
    pub fn handle_transport_error(&mut self, _now: Instant, key: &TxKey) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.machine.fail();
            self.out
                .event(TransactionEvent::TransportError { key: *key });
            self.after(*key);
        }
        self.settle();
    }

    /// The TU abandons transaction `key`: it ends at once, with only a
    /// [`TransactionEvent::Terminated`]. RFC 3261 §9.1 asks for this when an INVITE still has
    /// no final response 64·T1 after its CANCEL was sent (an INVITE client transaction in
    /// Proceeding has no timer of its own). Returns whether the transaction existed.
    pub fn terminate(&mut self, key: &TxKey) -> bool {
        let Some(entry) = self.entries.get_mut(key) else {
            return false;
        };
        entry.machine.fail();
        self.after(*key);
        self.settle();
        true
    }

    /// Fire every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, key)) = self.deadlines.pop_due(now) {
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue;
            }
            entry.scheduled = None;
            entry.machine.on_timeout(now, &mut self.out);
            self.after(key);
        }
        self.settle();
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.out.events.pop_front()
    }

    /// The earliest instant [`TransactionLayer::handle_timeout`] must be called at: exact,
    /// read from the top of a heap.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.peek()
    }

    /// The state of transaction `key`; `None` once it has terminated.
    pub fn state(&self, key: &TxKey) -> Option<TxState> {
        self.entries.get(key).map(|e| e.machine.state())
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn next_key(&mut self) -> TxKey {
        self.next_key += 1;
        TxKey(self.next_key)
    }

    fn insert(&mut self, key: TxKey, machine: Machine, index: Index) {
        self.entries.insert(
            key,
            Entry {
                machine,
                index,
                scheduled: None,
            },
        );
        self.after(key);
    }

    /// Bookkeeping after a machine ran: remove it if it terminated, else queue its deadline.
    fn after(&mut self, key: TxKey) {
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        if entry.machine.state() == TxState::Terminated {
            if let Some(entry) = self.entries.remove(&key) {
                match entry.index {
                    Index::Client(index) => self.clients.remove(&index),
                    Index::Server(index) => self.servers.remove(&index),
                };
            }
            self.out.event(TransactionEvent::Terminated { key });
            return;
        }
        let next = entry.machine.deadline();
        if next != entry.scheduled {
            entry.scheduled = next;
            if let Some(at) = next {
                self.deadlines.push(at, key);
            }
        }
    }

    /// Drop stale deadline entries so [`Self::poll_timeout`] is exact.
    fn settle(&mut self) {
        let entries = &self.entries;
        self.deadlines.settle(entries.len(), |at, key| {
            entries.get(&key).is_some_and(|e| e.scheduled == Some(at))
        });
    }

    fn discard(&mut self, peer: Peer, error: TransactionError) {
        self.out.event(TransactionEvent::Discarded { peer, error });
    }

    fn incoming_request(&mut self, now: Instant, peer: Peer, mut request: Request) {
        let Some(mut via) = request.headers.top_via() else {
            return self.discard(peer, TransactionError::MissingHeader(HeaderName::Via));
        };
        stamp_via(&mut via, peer);
        request.headers.set_top_via(&via);

        let created_by = match &request.method {
            Method::Ack => Method::Invite,
            other => other.clone(),
        };
        let index = match ServerMatch::of_request(&request, &via, created_by) {
            Ok(index) => index,
            Err(header) => return self.discard(peer, TransactionError::MissingHeader(header)),
        };

        if request.method == Method::Ack {
            return self.incoming_ack(now, peer, request, &index);
        }

        if let Some(&key) = self.servers.get(&index) {
            // A retransmission: absorbed, answered with the last response.
            if let Some(entry) = self.entries.get_mut(&key) {
                match &mut entry.machine {
                    Machine::ServerInvite(m) => m.on_retransmission(&mut self.out),
                    Machine::ServerNonInvite(m) => m.on_retransmission(&mut self.out),
                    Machine::ClientInvite(_) | Machine::ClientNonInvite(_) => {}
                }
            }
            self.after(key);
            return;
        }

        let key = self.next_key();
        let destination = response_destination(peer, &via);
        let timers = self.config.timers;
        let machine = if request.method == Method::Invite {
            Machine::ServerInvite(Box::new(ServerInvite::start(
                key,
                destination,
                &request,
                timers,
                self.config.auto_trying,
                &mut self.out,
            )))
        } else {
            Machine::ServerNonInvite(Box::new(ServerNonInvite::start(key, destination, timers)))
        };
        let event = if request.method == Method::Cancel {
            let invite_key = self
                .servers
                .get(&index.with_method(Method::Invite))
                .copied();
            TransactionEvent::Cancel {
                key,
                invite_key,
                peer,
                request,
            }
        } else {
            TransactionEvent::NewRequest { key, peer, request }
        };
        self.out.event(event);
        self.servers.insert(index.clone(), key);
        self.insert(key, machine, Index::Server(index));
    }

    fn incoming_ack(&mut self, now: Instant, peer: Peer, request: Request, index: &ServerMatch) {
        let mut invite_key = None;
        if let Some(&key) = self.servers.get(index)
            && let Some(entry) = self.entries.get_mut(&key)
            && let Machine::ServerInvite(m) = &mut entry.machine
        {
            // RFC 2543: the ACK's To tag must be the one of the response it acknowledges.
            let tag_matches = !index.is_rfc2543()
                || request
                    .headers
                    .to()
                    .and_then(|to| to.tag().map(str::to_owned))
                    == m.response_to_tag();
            if tag_matches {
                match m.on_ack(now, &mut self.out) {
                    AckOutcome::Absorbed => {
                        self.after(key);
                        return;
                    }
                    AckOutcome::PassUp => invite_key = Some(key),
                }
            }
        }
        self.out.event(TransactionEvent::Ack {
            invite_key,
            peer,
            request,
        });
    }

    fn incoming_response(&mut self, now: Instant, peer: Peer, response: Response) {
        let key = ClientMatch::of_response(&response).and_then(|i| self.clients.get(&i).copied());
        let Some(key) = key else {
            self.out
                .event(TransactionEvent::StrayResponse { peer, response });
            return;
        };
        if let Some(entry) = self.entries.get_mut(&key) {
            match &mut entry.machine {
                Machine::ClientInvite(m) => m.on_response(now, response, &mut self.out),
                Machine::ClientNonInvite(m) => m.on_response(now, response, &mut self.out),
                Machine::ServerInvite(_) | Machine::ServerNonInvite(_) => {}
            }
        }
        self.after(key);
    }
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: add `received` when the sent-by host is not the source
/// address (or when `rport` was asked for), and fill in `rport` with the source port.
fn stamp_via(via: &mut Via, peer: Peer) {
    let source = peer.addr.ip();
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let same_host = host.parse::<IpAddr>().is_ok_and(|ip| ip == source);
    let rport = via.rport().is_some();
    if !same_host || rport {
        via.params.set("received", Some(&source.to_string()));
    }
    if rport {
        via.params.set("rport", Some(&peer.addr.port().to_string()));
    }
}

/// Where responses of a server transaction go (RFC 3261 §18.2.2, RFC 3581 §4): back over the
/// same connection for reliable transports; to the source address and port when `rport` was
/// asked for; otherwise to the `received` address (or the sent-by host, which then equals
/// it — both are the source IP) at the sent-by port.
fn response_destination(peer: Peer, via: &Via) -> Peer {
    if peer.transport.reliable() || via.rport().is_some() {
        return peer;
    }
    let port = via.port.unwrap_or_else(|| default_port(&via.transport));
    Peer::new(SocketAddr::new(peer.addr.ip(), port), peer.transport)
}
