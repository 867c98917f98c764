//! The user-agent core (RFC 3261 §8, §12–§15): dialogs and the server side of calls.
//!
//! [`UserAgent`] sits on the transaction layer and decides what the engine answers: OPTIONS
//! get 200 with `Allow`/`Accept`, unknown methods 501, known-but-unsupported ones 405, requests
//! for dialogs that do not exist 481, malformed requests the status [`Request::validate`] or
//! the parser names. A new INVITE becomes an [`UaEvent::IncomingCall`]; the call controller
//! then calls [`UserAgent::answer`], [`UserAgent::reject`] or [`UserAgent::hangup`] with the
//! call's [`CallId`] handle.
//!
//! ## Early media
//! [`UserAgent::early_media`] sends `183 Session Progress` with the SDP answer before the
//! call is answered, so the caller hears what the engine sends (ringback, an announcement)
//! from then on. RFC 3264 allows one answer per offer: that SDP becomes the dialog's local
//! SDP at once, the later 2xx carries the very same bytes ([`UserAgent::answer`] refuses a
//! different one with [`UaError::AnswerChanged`]), and its retransmissions and the answers
//! to re-INVITEs use it. The 183 is sent unreliably (no 100rel/PRACK): a retransmitted
//! INVITE gets it again, like any last provisional response.
//!
//! It owns the UAS 2xx retransmission (§13.3.1.4: T1 doubling to T2 until the ACK, BYE after
//! 64·T1 without one), CANCEL (200 for the CANCEL, 487 for the INVITE), BYE in both directions,
//! re-INVITE (answered with the current local SDP), Max-Forwards (483) and loop detection (482).
//!
//! ## Draining rule
//! After every `handle_*` call or command, drain [`UserAgent::poll_transmit`] and
//! [`UserAgent::poll_event`] until both return `None`, then sleep until
//! [`UserAgent::poll_timeout`] (or the next input) and call [`UserAgent::handle_timeout`].

mod dialog;

pub use dialog::DialogId;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use rand::Rng;
use rand::rngs::StdRng;

use crate::message::{
    Capabilities, HeaderName, Message, Method, NameAddr, ParseError, Request, Response, Uri, Via,
};
use crate::transaction::{
    MAGIC_COOKIE, Peer, Timers, TransactionEvent, TransactionLayer, Transmit, TwoXxAction,
    TwoXxRetransmit, TxKey,
};

/// A call's handle: cheap to copy, meaningless once the call has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller sent BYE.
    RemoteBye,
    /// The caller sent CANCEL before the call was answered.
    Cancelled,
    /// We answered with 2xx but no ACK came within 64·T1; we sent BYE.
    AckTimeout,
    /// We hung up and the BYE completed (any final response).
    LocalBye,
    /// We hung up and the BYE got no final response.
    ByeTimeout,
    /// We rejected the call with a final non-2xx response.
    Rejected,
    /// Nobody answered or rejected the call within [`EARLY_TIMEOUT`]; we sent 480.
    Unanswered,
    /// The engine gave up on the call (transport error, shutdown without a dialog).
    Failed,
}

/// What the user-agent core reports to the call controller.
#[derive(Debug, Clone)]
pub enum UaEvent {
    /// A new INVITE. Answer it with [`UserAgent::answer`] or [`UserAgent::reject`].
    IncomingCall {
        call: CallId,
        request: Box<Request>,
        peer: Peer,
    },
    /// The ACK for our 2xx arrived: the dialog is confirmed.
    Confirmed { call: CallId },
    /// The caller sent a new offer in a re-INVITE; it was answered with our current SDP.
    ReOffer { call: CallId, sdp: Bytes },
    /// The call is over; the handle is no longer valid.
    Ended { call: CallId, reason: EndReason },
}

/// Errors of the commands the controller gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UaError {
    #[error("no such call: {0}")]
    NoSuchCall(CallId),
    #[error("{0} is not in a state that allows this")]
    WrongState(CallId),
    #[error("status {0} cannot be used here")]
    BadStatus(u16),
    /// An early-media response needs an SDP answer.
    #[error("{0}: early media needs an SDP answer")]
    NoAnswer(CallId),
    /// The SDP answer was already given in early media (RFC 3264: one answer per offer);
    /// a 183 or 2xx with another one is refused.
    #[error("{0}: the SDP answer was already given and cannot change")]
    AnswerChanged(CallId),
}

/// How the engine names itself in Via, Contact and Server headers.
#[derive(Debug, Clone)]
pub struct LocalIdentity {
    /// Host written into Via sent-by and Contact.
    pub host: String,
    pub port: u16,
    /// Product token for `Server` / `User-Agent`.
    pub product: String,
}

#[derive(Debug)]
enum Phase {
    /// INVITE received, no final response yet. At `expires` the engine gives up with 480,
    /// so a call whose controller never answers cannot linger (like a proxy's Timer C).
    Early { invite: TxKey, expires: Instant },
    /// 2xx sent, waiting for the ACK.
    Answered {
        response: Box<Response>,
        retransmit: TwoXxRetransmit,
    },
    /// ACK received.
    Confirmed,
    /// We sent BYE.
    Terminating { bye: TxKey },
}

#[derive(Debug)]
struct Call {
    phase: Phase,
    peer: Peer,
    invite: Box<Request>,
    dialog: DialogId,
    /// Our CSeq for requests we send in the dialog.
    local_cseq: u32,
    /// The highest CSeq the remote used (requests below it are stale).
    remote_cseq: u32,
    /// Where in-dialog requests go: the INVITE's Contact.
    remote_target: Uri,
    route_set: Vec<NameAddr>,
    local_sdp: Bytes,
    /// The controller has already been told the call ended (ACK timeout; BYE pending).
    end_reported: bool,
    /// Our 2xx to a re-INVITE, retransmitted until its ACK (CSeq number, response, timer).
    reinvite: Option<(u32, Box<Response>, TwoXxRetransmit)>,
}

/// The user-agent core. See the module documentation for the draining rule.
pub struct UserAgent {
    tx: TransactionLayer,
    rng: StdRng,
    local: LocalIdentity,
    caps: Capabilities,
    timers: Timers,
    calls: HashMap<CallId, Call>,
    by_dialog: HashMap<DialogId, CallId>,
    by_tx: HashMap<TxKey, CallId>,
    next_call: u64,
    /// Per-call deadlines (2xx retransmission, early-phase expiry); an entry that no longer
    /// matches the call's state is skipped (lazy deletion).
    deadlines: BinaryHeap<Reverse<(Instant, CallId)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<UaEvent>,
}

/// How long a call may stay unanswered before the engine answers 480 on its own.
pub const EARLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// The methods the engine serves; anything else known gets 405, unknown 501.
const ALLOWED: &[Method] = &[
    Method::Invite,
    Method::Ack,
    Method::Bye,
    Method::Cancel,
    Method::Options,
    Method::Info,
    Method::Update,
];

impl UserAgent {
    pub fn new(local: LocalIdentity, timers: Timers, rng: StdRng) -> UserAgent {
        let caps = Capabilities {
            allowed_methods: ALLOWED.to_vec(),
            ..Capabilities::default()
        };
        UserAgent {
            tx: TransactionLayer::new(timers),
            rng,
            local,
            caps,
            timers,
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            by_tx: HashMap::new(),
            next_call: 1,
            deadlines: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Calls that have not ended.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Every live call's handle.
    pub fn calls(&self) -> Vec<CallId> {
        self.calls.keys().copied().collect()
    }

    /// The SIP Call-ID of a live call.
    pub fn sip_call_id(&self, call: CallId) -> Option<&str> {
        self.calls.get(&call).map(|c| c.dialog.call_id.as_str())
    }

    /// A message arrived.
    pub fn handle_incoming(&mut self, now: Instant, peer: Peer, message: Message) {
        self.tx.handle_incoming(now, peer, message);
        self.pump(now);
    }

    /// A message arrived that could not be parsed: answer it statelessly when the parser
    /// recovered enough of it to form a response (RFC 3261 §8.2), otherwise drop it.
    pub fn handle_malformed(&mut self, _now: Instant, peer: Peer, error: &ParseError) {
        if let Some(mut response) = error.response() {
            self.stamp(&mut response.headers);
            self.transmits.push_back(Transmit {
                peer,
                message: Message::Response(response),
                key: None,
            });
        }
    }

    /// Timers are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        while let Some(Reverse((at, call))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            self.call_deadline(now, call, at);
        }
        self.pump(now);
    }

    /// The next instant [`UserAgent::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ours = self.deadlines.peek().map(|Reverse((at, _))| *at);
        match (self.tx.poll_timeout(), ours) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.transmits.pop_front() {
            return Some(t);
        }
        self.tx.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// Send a provisional response (180 Ringing, 183 with early media).
    pub fn provisional(&mut self, now: Instant, call: CallId, status: u16) -> Result<(), UaError> {
        if !(101..200).contains(&status) {
            return Err(UaError::BadStatus(status));
        }
        let (invite, response) = self.early_response(call, status)?;
        let _ = self.tx.send_response(now, &invite, response);
        self.pump(now);
        Ok(())
    }

    /// The INVITE transaction of a call still in its early phase, and a response to it with
    /// the dialog's To tag, Contact and Server filled in.
    fn early_response(&self, call: CallId, status: u16) -> Result<(TxKey, Response), UaError> {
        let c = self.calls.get(&call).ok_or(UaError::NoSuchCall(call))?;
        let Phase::Early { invite, .. } = &c.phase else {
            return Err(UaError::WrongState(call));
        };
        let mut response = Response::to_request(&c.invite, status);
        self.fill_uas_response(call, &mut response);
        Ok((*invite, response))
    }

    /// Send `183 Session Progress` carrying `sdp`, the answer to the INVITE's offer, for
    /// early media (see the module doc). The answer is final: it becomes the dialog's
    /// local SDP, which the 2xx repeats. Calling it again re-sends the 183 with the same
    /// SDP; a different one is [`UaError::AnswerChanged`], an empty one
    /// [`UaError::NoAnswer`].
    pub fn early_media(&mut self, now: Instant, call: CallId, sdp: Bytes) -> Result<(), UaError> {
        if sdp.is_empty() {
            return Err(UaError::NoAnswer(call));
        }
        let (invite, response) = self.answer_response(call, 183, sdp)?;
        let _ = self.tx.send_response(now, &invite, response);
        self.pump(now);
        Ok(())
    }

    /// A response of a call in its early phase that carries the SDP answer (see
    /// [`the_answer`](Self::the_answer)), which becomes the dialog's local SDP.
    fn answer_response(
        &mut self,
        call: CallId,
        status: u16,
        sdp: Bytes,
    ) -> Result<(TxKey, Response), UaError> {
        let (invite, mut response) = self.early_response(call, status)?;
        let sdp = self.the_answer(call, sdp)?;
        if let Some(c) = self.calls.get_mut(&call) {
            c.local_sdp = sdp.clone();
        }
        response
            .headers
            .push(HeaderName::ContentType, "application/sdp");
        response.body = sdp;
        Ok((invite, response))
    }

    /// The SDP answer a response of a call in its early phase carries: `sdp`, unless
    /// early media already gave one, which it must then repeat (an empty `sdp` repeats
    /// it).
    fn the_answer(&self, call: CallId, sdp: Bytes) -> Result<Bytes, UaError> {
        let given = &self
            .calls
            .get(&call)
            .ok_or(UaError::NoSuchCall(call))?
            .local_sdp;
        if given.is_empty() {
            Ok(sdp)
        } else if sdp.is_empty() || sdp == *given {
            Ok(given.clone())
        } else {
            Err(UaError::AnswerChanged(call))
        }
    }

    /// Answer the call with 200 OK carrying `sdp`. After [`early_media`](Self::early_media)
    /// the 200 carries the SDP already given: pass the same bytes, or empty ones;
    /// different ones are [`UaError::AnswerChanged`] and nothing is sent.
    pub fn answer(&mut self, now: Instant, call: CallId, sdp: Bytes) -> Result<(), UaError> {
        let (invite, response) = self.answer_response(call, 200, sdp)?;
        let reliable = self.calls[&call].peer.transport.reliable();
        let _ = self.tx.send_response(now, &invite, response.clone());
        self.by_tx.remove(&invite);
        let retransmit = TwoXxRetransmit::new(now, &self.timers, reliable);
        if let Some(next) = retransmit.poll_timeout() {
            self.deadlines.push(Reverse((next, call)));
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.phase = Phase::Answered {
                response: Box::new(response),
                retransmit,
            };
        }
        self.pump(now);
        Ok(())
    }

    /// Refuse the call with a final non-2xx response (e.g. 404, 486, 488).
    pub fn reject(&mut self, now: Instant, call: CallId, status: u16) -> Result<(), UaError> {
        if !(300..700).contains(&status) {
            return Err(UaError::BadStatus(status));
        }
        let (invite, response) = self.early_response(call, status)?;
        let _ = self.tx.send_response(now, &invite, response);
        self.end(call, EndReason::Rejected);
        self.pump(now);
        Ok(())
    }

    /// Hang up: BYE for an answered call, 480 for one still ringing.
    pub fn hangup(&mut self, now: Instant, call: CallId) -> Result<(), UaError> {
        let c = self.calls.get(&call).ok_or(UaError::NoSuchCall(call))?;
        match c.phase {
            Phase::Early { .. } => self.reject(now, call, 480),
            Phase::Terminating { .. } => Ok(()),
            Phase::Answered { .. } | Phase::Confirmed => {
                self.send_bye(now, call);
                self.pump(now);
                Ok(())
            }
        }
    }

    fn send_bye(&mut self, now: Instant, call: CallId) {
        let branch = self.new_branch();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.local_cseq = c.local_cseq.wrapping_add(1);
        let mut bye = Request::new(Method::Bye, c.remote_target.clone());
        let via = Via::new(
            c.peer.transport.via_name(),
            &self.local.host,
            Some(self.local.port),
            &branch,
        );
        let mut via = via;
        via.params.set("rport", None);
        bye.headers.push(HeaderName::Via, via.to_string());
        bye.headers.push(HeaderName::MaxForwards, "70");
        for route in &c.route_set {
            bye.headers.push(HeaderName::Route, route.to_string());
        }
        // In our dialog the local party is the INVITE's To (with our tag), the remote its From.
        if let Some(mut from) = c.invite.headers.to() {
            from.set_tag(&c.dialog.local_tag);
            bye.headers.push(HeaderName::From, from.to_string());
        }
        if let Some(to) = c.invite.headers.from() {
            bye.headers.push(HeaderName::To, to.to_string());
        }
        bye.headers
            .push(HeaderName::CallId, c.dialog.call_id.clone());
        bye.headers
            .push(HeaderName::CSeq, format!("{} BYE", c.local_cseq));
        bye.headers
            .push(HeaderName::UserAgent, self.local.product.clone());
        let peer = c.peer;
        let Ok(key) = self.tx.send_request(now, peer, bye) else {
            // Our own BYE always has a branch and CSeq; if it is refused the dialog is gone.
            self.end(call, EndReason::Failed);
            return;
        };
        self.by_tx.insert(key, call);
        if let Some(c) = self.calls.get_mut(&call) {
            c.phase = Phase::Terminating { bye: key };
        }
    }

    fn call_deadline(&mut self, now: Instant, call: CallId, due: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Phase::Early { expires, .. } = c.phase {
            if expires == due
                && let Ok((invite, response)) = self.early_response(call, 480)
            {
                let _ = self.tx.send_response(now, &invite, response);
                self.end(call, EndReason::Unanswered);
            }
            return;
        }
        if let Phase::Confirmed = c.phase {
            self.reinvite_deadline(now, call, due);
            return;
        }
        let Phase::Answered {
            response,
            retransmit,
        } = &mut c.phase
        else {
            return;
        };
        if retransmit.poll_timeout() != Some(due) {
            return; // a stale heap entry
        }
        match retransmit.handle_timeout(now) {
            Some(TwoXxAction::Retransmit) => {
                self.transmits.push_back(Transmit {
                    peer: c.peer,
                    message: Message::Response((**response).clone()),
                    key: None,
                });
            }
            Some(TwoXxAction::GiveUp) => {
                // §13.3.1.4: no ACK within 64·T1 — end the dialog with BYE.
                c.end_reported = true;
                self.events.push_back(UaEvent::Ended {
                    call,
                    reason: EndReason::AckTimeout,
                });
                self.send_bye(now, call);
                return;
            }
            None => {}
        }
        if let Some(next) = retransmit.poll_timeout() {
            self.deadlines.push(Reverse((next, call)));
        }
    }

    /// The 2xx to a re-INVITE: retransmit it, or end the call when no ACK came.
    fn reinvite_deadline(&mut self, now: Instant, call: CallId, due: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((_, response, retransmit)) = c.reinvite.as_mut() else {
            return;
        };
        if retransmit.poll_timeout() != Some(due) {
            return; // a stale heap entry
        }
        match retransmit.handle_timeout(now) {
            Some(TwoXxAction::Retransmit) => {
                self.transmits.push_back(Transmit {
                    peer: c.peer,
                    message: Message::Response((**response).clone()),
                    key: None,
                });
                if let Some(next) = retransmit.poll_timeout() {
                    self.deadlines.push(Reverse((next, call)));
                }
            }
            Some(TwoXxAction::GiveUp) => {
                // §13.3.1.4 holds for a re-INVITE's 2xx too: no ACK, no dialog.
                c.reinvite = None;
                c.end_reported = true;
                self.events.push_back(UaEvent::Ended {
                    call,
                    reason: EndReason::AckTimeout,
                });
                self.send_bye(now, call);
            }
            None => {
                if let Some(next) = retransmit.poll_timeout() {
                    self.deadlines.push(Reverse((next, call)));
                }
            }
        }
    }

    /// Forget a call and tell the controller (once).
    fn end(&mut self, call: CallId, reason: EndReason) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        self.by_dialog.remove(&c.dialog);
        match &c.phase {
            Phase::Early { invite, .. } => {
                self.by_tx.remove(invite);
            }
            Phase::Terminating { bye } => {
                self.by_tx.remove(bye);
            }
            _ => {}
        }
        if !c.end_reported {
            self.events.push_back(UaEvent::Ended { call, reason });
        }
    }

    fn new_branch(&mut self) -> String {
        format!("{MAGIC_COOKIE}{}", self.random_token())
    }

    fn random_token(&mut self) -> String {
        let v: u64 = self.rng.random();
        format!("{v:016x}")
    }

    /// Headers every response of ours carries.
    fn stamp(&self, headers: &mut crate::message::Headers) {
        headers.push(HeaderName::Server, self.local.product.clone());
    }

    /// To tag, Contact and Server on a response within a call's dialog.
    fn fill_uas_response(&self, call: CallId, response: &mut Response) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if response.status > 100
            && let Some(mut to) = response.headers.to()
            && to.tag().is_none()
        {
            to.set_tag(&c.dialog.local_tag);
            response.headers.set(HeaderName::To, to.to_string());
        }
        if (101..300).contains(&response.status) {
            for rr in c.invite.headers.get_all(&HeaderName::RecordRoute) {
                response
                    .headers
                    .push(HeaderName::RecordRoute, rr.to_owned());
            }
            response
                .headers
                .push(HeaderName::Contact, self.contact(c.peer));
        }
        if response.status == 405 || response.status == 501 || (200..300).contains(&response.status)
        {
            response.headers.push(HeaderName::Allow, allow_header());
        }
        self.stamp(&mut response.headers);
    }

    fn contact(&self, peer: Peer) -> String {
        let transport = if peer.transport.reliable() {
            ";transport=tcp"
        } else {
            ""
        };
        format!("<sip:{}:{}{transport}>", self.local.host, self.local.port)
    }

    /// Respond within a server transaction with a fresh response built from `request`.
    fn respond(
        &mut self,
        now: Instant,
        key: &TxKey,
        request: &Request,
        status: u16,
        extra: &[(HeaderName, String)],
    ) {
        let mut response = Response::to_request(request, status);
        if status > 100
            && let Some(mut to) = response.headers.to()
            && to.tag().is_none()
        {
            let tag = self.random_token();
            to.set_tag(&tag);
            response.headers.set(HeaderName::To, to.to_string());
        }
        for (name, value) in extra {
            response.headers.push(name.clone(), value.clone());
        }
        if status == 405 || status == 501 {
            response.headers.push(HeaderName::Allow, allow_header());
        }
        self.stamp(&mut response.headers);
        let _ = self.tx.send_response(now, key, response);
    }

    /// Take the transaction layer's events and act on them.
    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.tx.poll_event() {
            match event {
                TransactionEvent::NewRequest { key, peer, request } => {
                    self.on_request(now, key, peer, request);
                }
                TransactionEvent::Ack { request, .. } => self.on_ack(&request),
                TransactionEvent::Cancel {
                    key,
                    invite_key,
                    request,
                    ..
                } => self.on_cancel(now, key, invite_key, &request),
                TransactionEvent::Response { key, response } => {
                    if response.status >= 200
                        && let Some(call) = self.by_tx.get(&key).copied()
                    {
                        self.end(call, EndReason::LocalBye);
                    }
                }
                TransactionEvent::Timeout { key } | TransactionEvent::TransportError { key } => {
                    if let Some(call) = self.by_tx.get(&key).copied() {
                        let reason = match self.calls.get(&call).map(|c| &c.phase) {
                            Some(Phase::Terminating { .. }) => EndReason::ByeTimeout,
                            _ => EndReason::Failed,
                        };
                        self.end(call, reason);
                    }
                }
                TransactionEvent::Terminated { key } => {
                    // The INVITE server transaction may end before the call does (after 2xx);
                    // the call outlives it.
                    if let Some(call) = self.by_tx.get(&key).copied()
                        && let Some(Phase::Early { .. }) = self.calls.get(&call).map(|c| &c.phase)
                    {
                        self.end(call, EndReason::Failed);
                    }
                }
                _ => {}
            }
        }
    }

    fn on_request(&mut self, now: Instant, key: TxKey, peer: Peer, request: Request) {
        if let Err(rejection) = request.validate(&self.caps) {
            let extra: Vec<(HeaderName, String)> = rejection.headers.clone();
            self.respond(now, &key, &request, rejection.status, &extra);
            return;
        }
        if self.is_loop(&request) {
            self.respond(now, &key, &request, 482, &[]);
            return;
        }
        let to_tag = request
            .headers
            .to()
            .and_then(|t| t.tag().map(str::to_owned));
        if let Some(to_tag) = to_tag {
            self.on_in_dialog(now, key, peer, request, &to_tag);
            return;
        }
        match request.method {
            Method::Invite => self.on_invite(now, key, peer, request),
            Method::Options => {
                let extra = [
                    (HeaderName::Accept, "application/sdp".to_owned()),
                    (HeaderName::Allow, allow_header()),
                    (HeaderName::Contact, self.contact(peer)),
                ];
                self.respond(now, &key, &request, 200, &extra);
            }
            Method::Bye | Method::Info | Method::Update | Method::Prack => {
                self.respond(now, &key, &request, 481, &[]);
            }
            Method::Ack | Method::Cancel => {}
            Method::Extension(_) => self.respond(now, &key, &request, 501, &[]),
            _ => self.respond(now, &key, &request, 405, &[]),
        }
    }

    fn on_invite(&mut self, now: Instant, key: TxKey, peer: Peer, request: Request) {
        // The engine is the target UAS here, but it also forwards calls to agents: a request
        // that has used up its hops must not start one (RFC 3261 §16.3 step 2).
        if request.headers.max_forwards() == Some(0) {
            self.respond(now, &key, &request, 483, &[]);
            return;
        }
        let (Some(call_id), Some(from), Some(cseq)) = (
            request.headers.call_id().map(str::to_owned),
            request.headers.from(),
            request.headers.cseq(),
        ) else {
            self.respond(now, &key, &request, 400, &[]);
            return;
        };
        let remote_target = request
            .headers
            .contacts()
            .first()
            .map(|c| c.uri.clone())
            .unwrap_or_else(|| from.uri.clone());
        let local_tag = self.random_token();
        let dialog = DialogId {
            call_id,
            local_tag,
            remote_tag: from.tag().unwrap_or_default().to_owned(),
        };
        let call = CallId(self.next_call);
        self.next_call += 1;
        let local_cseq: u32 = self.rng.random_range(1..=0x7fff);
        self.by_dialog.insert(dialog.clone(), call);
        self.by_tx.insert(key, call);
        self.deadlines.push(Reverse((now + EARLY_TIMEOUT, call)));
        self.calls.insert(
            call,
            Call {
                phase: Phase::Early {
                    invite: key,
                    expires: now + EARLY_TIMEOUT,
                },
                peer,
                invite: Box::new(request.clone()),
                dialog,
                local_cseq,
                remote_cseq: cseq.seq,
                remote_target,
                route_set: request.headers.record_routes(),
                local_sdp: Bytes::new(),
                end_reported: false,
                reinvite: None,
            },
        );
        self.events.push_back(UaEvent::IncomingCall {
            call,
            request: Box::new(request),
            peer,
        });
    }

    fn find_dialog(&self, request: &Request, to_tag: &str) -> Option<CallId> {
        let call_id = request.headers.call_id()?;
        let from_tag = request.headers.from()?.tag().unwrap_or_default().to_owned();
        let id = DialogId {
            call_id: call_id.to_owned(),
            local_tag: to_tag.to_owned(),
            remote_tag: from_tag,
        };
        self.by_dialog.get(&id).copied()
    }

    fn on_in_dialog(
        &mut self,
        now: Instant,
        key: TxKey,
        peer: Peer,
        request: Request,
        to_tag: &str,
    ) {
        let Some(call) = self.find_dialog(&request, to_tag) else {
            if request.method != Method::Ack {
                self.respond(now, &key, &request, 481, &[]);
            }
            return;
        };
        let seq = request.headers.cseq().map(|c| c.seq).unwrap_or(0);
        if let Some(c) = self.calls.get_mut(&call) {
            // §12.2.2: a lower CSeq than the last one is out of order.
            if seq < c.remote_cseq && request.method != Method::Ack {
                self.respond(now, &key, &request, 500, &[]);
                return;
            }
            c.remote_cseq = c.remote_cseq.max(seq);
            // A NATed phone may move; requests in the dialog follow its latest address.
            c.peer = peer;
        }
        match request.method {
            Method::Bye => {
                self.respond(now, &key, &request, 200, &[]);
                self.end(call, EndReason::RemoteBye);
            }
            Method::Invite => {
                let busy = self
                    .calls
                    .get(&call)
                    .is_none_or(|c| !matches!(c.phase, Phase::Confirmed) || c.reinvite.is_some());
                if busy {
                    // §14.2: an INVITE while ours is still unacknowledged.
                    self.respond(now, &key, &request, 491, &[]);
                    return;
                }
                let sdp = self.calls[&call].local_sdp.clone();
                let mut response = Response::to_request(&request, 200);
                self.fill_uas_response(call, &mut response);
                if !sdp.is_empty() {
                    response
                        .headers
                        .push(HeaderName::ContentType, "application/sdp");
                    response.body = sdp;
                }
                let _ = self.tx.send_response(now, &key, response.clone());
                let reliable = peer.transport.reliable();
                let retransmit = TwoXxRetransmit::new(now, &self.timers, reliable);
                if let Some(next) = retransmit.poll_timeout() {
                    self.deadlines.push(Reverse((next, call)));
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.reinvite = Some((seq, Box::new(response), retransmit));
                }
                if !request.body.is_empty() {
                    self.events.push_back(UaEvent::ReOffer {
                        call,
                        sdp: request.body.clone(),
                    });
                }
            }
            Method::Options | Method::Info | Method::Update => {
                self.respond(now, &key, &request, 200, &[]);
            }
            Method::Ack | Method::Cancel => {}
            Method::Extension(_) => self.respond(now, &key, &request, 501, &[]),
            _ => self.respond(now, &key, &request, 405, &[]),
        }
    }

    fn on_ack(&mut self, request: &Request) {
        let Some(to_tag) = request
            .headers
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
        else {
            return;
        };
        let Some(call) = self.find_dialog(request, &to_tag) else {
            return;
        };
        let seq = request.headers.cseq().map(|c| c.seq);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        match c.phase {
            Phase::Answered { .. } => {
                c.phase = Phase::Confirmed;
                self.events.push_back(UaEvent::Confirmed { call });
            }
            Phase::Confirmed if c.reinvite.as_ref().is_some_and(|(s, _, _)| Some(*s) == seq) => {
                c.reinvite = None;
            }
            _ => {}
        }
    }

    fn on_cancel(
        &mut self,
        now: Instant,
        key: TxKey,
        invite_key: Option<TxKey>,
        request: &Request,
    ) {
        let call = invite_key.as_ref().and_then(|k| self.by_tx.get(k).copied());
        let Some(call) = call else {
            self.respond(now, &key, request, 481, &[]);
            return;
        };
        self.respond(now, &key, request, 200, &[]);
        if let Some(Phase::Early { invite, .. }) = self.calls.get(&call).map(|c| &c.phase) {
            let invite = *invite;
            let c = &self.calls[&call];
            let mut response = Response::to_request(&c.invite, 487);
            self.fill_uas_response(call, &mut response);
            let _ = self.tx.send_response(now, &invite, response);
            self.end(call, EndReason::Cancelled);
        }
    }

    /// RFC 3261 §16.3 step 4, adapted to a UAS: a request that already passed through us
    /// (one of its Vias is ours) is looping.
    fn is_loop(&self, request: &Request) -> bool {
        if request.method == Method::Ack || request.method == Method::Cancel {
            return false;
        }
        request.headers.vias().iter().any(|via| {
            via.host.eq_ignore_ascii_case(&self.local.host) && via.sent_by_port() == self.local.port
        })
    }
}

fn allow_header() -> String {
    ALLOWED
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
