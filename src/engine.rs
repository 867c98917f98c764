//! `hotline serve`: binds the listeners, runs the signalling core and shuts down gracefully.
//!
//! The signalling core is one task that owns the sans-IO [`UserAgent`] (and through it the
//! transaction layer). Transport tasks feed it parsed messages; each call runs in its own
//! task ([`crate::call`]) that owns the call's media and talks to the core by channels.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{Instrument, debug, info, info_span, warn};

use hotline_sip::message::{Message, Method};
use hotline_sip::transaction::{Peer, Timers, Transmit, Transport};
use hotline_sip::ua::{CallId, LocalIdentity, UaEvent, UserAgent};

use crate::call::{self, CallCommand, CallEvent, CallSetup, RtpPorts};
use crate::config::{Config, Recording, Route};
use crate::http::{self, HttpState};
use crate::logging::Redact;
use crate::media::{MediaWorkers, RecordingAction, RecordingError, RecordingState};
use crate::metrics::{Direction, Metrics};
use crate::transport::{self, Inbound, Limits};

/// How long shutdown waits for BYEs to complete before leaving.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the HTTP API asks of the signalling core (over a channel: the core owns the calls,
/// there is no shared table of them).
#[derive(Debug)]
pub enum ApiRequest {
    /// The live calls.
    ListCalls {
        reply: oneshot::Sender<Vec<CallSummary>>,
    },
    /// Pause or resume the recording of the room a call (named by its SIP Call-ID) is in.
    Recording {
        sip_call_id: String,
        action: RecordingAction,
        reply: oneshot::Sender<Result<RecordingState, RecordingError>>,
    },
}

/// A live call as `GET /api/calls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallSummary {
    /// The SIP Call-ID.
    pub id: String,
    /// The dialled number.
    pub number: String,
    /// The From URI.
    pub caller: String,
    /// When the INVITE arrived, Unix milliseconds.
    pub started_at: u64,
    pub state: CallState,
    /// The conference room, for a conference number.
    pub room: Option<String>,
    pub recording: RecordingState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallState {
    Ringing,
    Answered,
}

/// What the core keeps of a live call: its task's channel and what the API shows.
struct LiveCall {
    events: mpsc::Sender<CallEvent>,
    sip_call_id: String,
    number: String,
    caller: String,
    started_at: u64,
    answered: bool,
    room: Option<String>,
    recorded: bool,
}

/// Run the engine until Ctrl-C or SIGTERM.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
    // Recordings a crash left with stale headers are made playable before anything else.
    let recordings = cfg.data_dir.join("recordings");
    if recordings.is_dir() {
        match hotline_media::recorder::repair_dir(&recordings) {
            Ok(results) => {
                for (path, result) in results {
                    match result {
                        Ok(report) if report.changed => {
                            warn!(path = %path.display(), "repaired a recording left by a crash")
                        }
                        Ok(_) => {}
                        Err(e) => {
                            warn!(path = %path.display(), error = %e, "recording not repaired")
                        }
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot scan the recordings directory"),
        }
    }
    // The case database (DATABASE_URL, else <data>/hotline.db) is migrated before listening.
    let case_api = hotline_case_api::AppState::open(&cfg.data_dir)
        .await
        .context("cannot open the case database")?;
    info!(database = ?case_api.db().backend(), "case database ready");
    let metrics = Metrics::new();
    let udp = Arc::new(
        UdpSocket::bind(cfg.sip_listen)
            .await
            .with_context(|| format!("cannot bind SIP UDP {}", cfg.sip_listen))?,
    );
    // A large receive buffer absorbs call bursts (best effort: the kernel may cap it).
    let tcp = TcpListener::bind(cfg.sip_listen)
        .await
        .with_context(|| format!("cannot bind SIP TCP {}", cfg.sip_listen))?;
    let http_listener = TcpListener::bind(cfg.http_listen)
        .await
        .with_context(|| format!("cannot bind HTTP {}", cfg.http_listen))?;
    let sip_addr = udp.local_addr()?;
    info!(
        sip = %sip_addr,
        http = %http_listener.local_addr()?,
        data = %cfg.data_dir.display(),
        "hotline {} listening (SIP on UDP and TCP)",
        env!("CARGO_PKG_VERSION")
    );

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let limits = Limits {
        max_message_bytes: cfg.max_message_bytes,
        max_tcp_connections: cfg.max_tcp_connections,
        partial_message_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(3600),
    };
    let (in_tx, in_rx) = mpsc::channel::<Inbound>(8192);
    tokio::spawn(transport::run_udp(
        udp.clone(),
        in_tx.clone(),
        metrics.clone(),
        limits,
        shutdown_rx.clone(),
    ));
    tokio::spawn(transport::run_tcp(
        tcp,
        in_tx.clone(),
        metrics.clone(),
        limits,
        shutdown_rx.clone(),
    ));
    let (api_tx, api_rx) = mpsc::channel::<ApiRequest>(256);
    let http_state = HttpState {
        metrics: metrics.clone(),
        case_api: Some(case_api),
        core: Some(api_tx),
    };
    let mut http_stop = shutdown_rx.clone();
    let http_task = tokio::spawn(http::serve(http_listener, http_state, async move {
        let _ = http_stop.changed().await;
    }));
    drop(in_tx);

    let host = if sip_addr.ip().is_unspecified() {
        cfg.media_address.to_string()
    } else {
        sip_addr.ip().to_string()
    };
    let media =
        MediaWorkers::start_default(metrics.clone()).context("cannot start media workers")?;
    let core = Core::new(cfg, metrics, media, udp, host, sip_addr.port(), api_rx);
    let signal = shutdown_signal();
    core.run(in_rx, signal).await;
    let _ = shutdown_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), http_task).await;
    info!("hotline stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// The signalling core's driver state.
struct Core {
    cfg: Arc<Config>,
    metrics: Metrics,
    ua: UserAgent,
    udp: Arc<UdpSocket>,
    tcp_writers: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    calls: HashMap<CallId, LiveCall>,
    /// Recorded rooms whose recording is paused, as the media workers last reported.
    paused_rooms: HashSet<String>,
    api_rx: mpsc::Receiver<ApiRequest>,
    /// A room's recording state after a command reached its media worker.
    recording_tx: mpsc::Sender<(String, RecordingState)>,
    recording_rx: mpsc::Receiver<(String, RecordingState)>,
    commands_tx: mpsc::Sender<(CallId, CallCommand)>,
    commands_rx: mpsc::Receiver<(CallId, CallCommand)>,
    ports: Arc<RtpPorts>,
    media: MediaWorkers,
}

impl Core {
    fn new(
        cfg: Config,
        metrics: Metrics,
        media: MediaWorkers,
        udp: Arc<UdpSocket>,
        host: String,
        port: u16,
        api_rx: mpsc::Receiver<ApiRequest>,
    ) -> Core {
        let local = LocalIdentity {
            host,
            port,
            product: format!("hotline/{}", env!("CARGO_PKG_VERSION")),
        };
        // Tags, branches and CSeqs need only be unpredictable per run, not cryptographic.
        let rng = StdRng::from_os_rng();
        let ua = UserAgent::new(local, Timers::default(), rng);
        let (commands_tx, commands_rx) = mpsc::channel(4096);
        let ports = Arc::new(RtpPorts::new(cfg.rtp_ports));
        let (recording_tx, recording_rx) = mpsc::channel(256);
        Core {
            cfg: Arc::new(cfg),
            metrics,
            ua,
            udp,
            tcp_writers: HashMap::new(),
            calls: HashMap::new(),
            paused_rooms: HashSet::new(),
            api_rx,
            recording_tx,
            recording_rx,
            commands_tx,
            commands_rx,
            ports,
            media,
        }
    }

    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        signal: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(signal);
        let mut stopping: Option<tokio::time::Instant> = None;
        loop {
            let deadline = self
                .ua
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            let grace_end = stopping.unwrap_or_else(|| deadline + Duration::from_secs(3600));
            tokio::select! {
                biased;
                item = inbound.recv() => match item {
                    Some(item) => {
                        self.on_inbound(item);
                        // Take whatever else is already queued before draining outputs.
                        for _ in 0..64 {
                            match inbound.try_recv() {
                                Ok(item) => self.on_inbound(item),
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                Some((call, command)) = self.commands_rx.recv() => self.on_command(call, command),
                // Before API requests: a recording change is in before its HTTP reply goes
                // out, so a list asked for after that reply shows it.
                Some((room, state)) = self.recording_rx.recv() => {
                    self.on_recording_changed(room, state)
                }
                Some(request) = self.api_rx.recv() => self.on_api(request),
                _ = tokio::time::sleep_until(deadline) => self.ua.handle_timeout(Instant::now()),
                _ = &mut signal, if stopping.is_none() => {
                    info!(calls = self.ua.call_count(), "shutting down: ending calls in progress");
                    stopping = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
                    let now = Instant::now();
                    for call in self.ua.calls() {
                        let _ = self.ua.hangup(now, call);
                    }
                    for c in self.calls.values() {
                        let _ = c.events.try_send(CallEvent::Shutdown);
                    }
                },
                _ = tokio::time::sleep_until(grace_end), if stopping.is_some() => {
                    warn!(calls = self.ua.call_count(), "shutdown grace period over");
                    break;
                }
            }
            self.drain().await;
            if stopping.is_some() && self.ua.call_count() == 0 {
                break;
            }
        }
    }

    fn on_inbound(&mut self, item: Inbound) {
        let now = Instant::now();
        match item {
            Inbound::Message { peer, message } => {
                self.count(Direction::In, &message);
                self.ua.handle_incoming(now, peer, message);
            }
            Inbound::Malformed { peer, error } => {
                debug!(peer = %Redact(peer.addr), %error, "malformed SIP message");
                self.ua.handle_malformed(now, peer, &error);
            }
            Inbound::TcpOpened { addr, writer } => {
                self.tcp_writers.insert(addr, writer);
            }
            Inbound::TcpClosed { addr } => {
                self.tcp_writers.remove(&addr);
            }
        }
    }

    fn on_command(&mut self, call: CallId, command: CallCommand) {
        let now = Instant::now();
        let result = match command {
            CallCommand::Answer { sdp } => {
                let result = self.ua.answer(now, call, sdp);
                if result.is_ok()
                    && let Some(c) = self.calls.get_mut(&call)
                {
                    c.answered = true;
                }
                result
            }
            CallCommand::Reject { status } => self.ua.reject(now, call, status),
            CallCommand::Ringing => self.ua.provisional(now, call, 180),
            CallCommand::EarlyMedia { sdp } => self.ua.early_media(now, call, sdp),
            CallCommand::Hangup => self.ua.hangup(now, call),
        };
        if let Err(e) = result {
            debug!(%call, error = %e, "call command not applied");
        }
    }

    fn count(&self, direction: Direction, message: &Message) {
        match message {
            Message::Request(r) => self.metrics.sip(direction, r.method.as_str(), None),
            Message::Response(r) => {
                let method = r
                    .headers
                    .cseq()
                    .map(|c| c.method)
                    .unwrap_or(Method::Extension(String::new()));
                self.metrics.sip(direction, method.as_str(), Some(r.status));
            }
        }
    }

    async fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.ua.poll_transmit() {
                progressed = true;
                self.transmit(t);
            }
            while let Some(event) = self.ua.poll_event() {
                progressed = true;
                self.on_event(event);
            }
            if !progressed {
                break;
            }
        }
    }

    fn transmit(&mut self, t: Transmit) {
        self.count(Direction::Out, &t.message);
        let bytes = t.message.to_bytes();
        match t.peer.transport {
            Transport::Udp | Transport::Tls | Transport::Ws | Transport::Wss => {
                // UDP send only fails when the socket buffer is full; SIP retransmits.
                if let Err(e) = self.udp.try_send_to(&bytes, t.peer.addr) {
                    debug!(peer = %Redact(t.peer.addr), error = %e, "udp send failed");
                }
            }
            Transport::Tcp => match self.tcp_writers.get(&t.peer.addr) {
                Some(w) => {
                    if w.try_send(Bytes::from(bytes)).is_err() {
                        debug!(peer = %Redact(t.peer.addr), "tcp writer full or closed");
                    }
                }
                None => debug!(peer = %Redact(t.peer.addr), "no tcp connection to peer"),
            },
        }
    }

    fn on_event(&mut self, event: UaEvent) {
        match event {
            UaEvent::IncomingCall {
                call,
                request,
                peer,
            } => self.on_incoming_call(call, *request, peer),
            UaEvent::Confirmed { call } => {
                if let Some(c) = self.calls.get(&call) {
                    let _ = c.events.try_send(CallEvent::Confirmed);
                }
            }
            UaEvent::ReOffer { call, sdp } => {
                if let Some(c) = self.calls.get(&call) {
                    let _ = c.events.try_send(CallEvent::ReOffer { sdp });
                }
            }
            UaEvent::Ended { call, reason } => {
                if let Some(c) = self.calls.remove(&call) {
                    let _ = c.events.try_send(CallEvent::Ended { reason });
                    // The last call of a room leaves: its next recording starts unpaused.
                    if let Some(room) = c.room
                        && !self.calls.values().any(|o| o.room.as_ref() == Some(&room))
                    {
                        self.paused_rooms.remove(&room);
                    }
                }
            }
        }
    }

    fn on_incoming_call(
        &mut self,
        call: CallId,
        request: hotline_sip::message::Request,
        peer: Peer,
    ) {
        let now = Instant::now();
        let number = request.uri.user_unescaped().unwrap_or_default();
        let Some(treatment) = self.cfg.route_for(&number).cloned() else {
            info!(%call, number = %Redact(&number), "no route for number: 404");
            let _ = self.ua.reject(now, call, 404);
            return;
        };
        let sip_call_id = request.headers.call_id().unwrap_or_default().to_owned();
        let span = info_span!("call", call_id = %sip_call_id, direction = "inbound", %call);
        let (tx, rx) = mpsc::channel(16);
        let caller = request
            .headers
            .from()
            .map(|f| f.uri.to_string())
            .unwrap_or_default();
        let (room, recorded) = match &treatment.route {
            Route::Conference { room, record } => (
                Some(call::room_name(room.as_deref(), &number)),
                *record != Recording::None,
            ),
            _ => (None, false),
        };
        self.calls.insert(
            call,
            LiveCall {
                events: tx,
                sip_call_id: sip_call_id.clone(),
                number: number.clone(),
                caller: caller.clone(),
                started_at: unix_ms(),
                answered: false,
                room,
                recorded,
            },
        );
        self.metrics.calls_total.inc();
        let setup = CallSetup {
            call,
            treatment,
            number,
            caller,
            offer: request.body.clone(),
            peer_addr: peer.addr,
            cfg: self.cfg.clone(),
            ports: self.ports.clone(),
            media: self.media.clone(),
            metrics: self.metrics.clone(),
            commands: self.commands_tx.clone(),
            events: rx,
        };
        tokio::spawn(call::run(setup).instrument(span));
    }

    fn on_api(&mut self, request: ApiRequest) {
        match request {
            ApiRequest::ListCalls { reply } => {
                let mut calls: Vec<CallSummary> =
                    self.calls.values().map(|c| self.summary(c)).collect();
                calls.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
                let _ = reply.send(calls);
            }
            ApiRequest::Recording {
                sip_call_id,
                action,
                reply,
            } => {
                let Some(c) = self.calls.values().find(|c| c.sip_call_id == sip_call_id) else {
                    let _ = reply.send(Err(RecordingError::UnknownCall));
                    return;
                };
                let room = match &c.room {
                    Some(room) if c.recorded && c.answered => room.clone(),
                    _ => {
                        let _ = reply.send(Err(RecordingError::NotRecorded));
                        return;
                    }
                };
                // Call task → media worker, which answers on `done`; this relay tells the
                // core the room's new state before the HTTP handler hears it.
                let (done, answer) = oneshot::channel();
                if c.events
                    .try_send(CallEvent::Recording {
                        action,
                        reply: done,
                    })
                    .is_err()
                {
                    let _ = reply.send(Err(RecordingError::Unavailable));
                    return;
                }
                let changed = self.recording_tx.clone();
                tokio::spawn(async move {
                    // A dropped reply: the call is not in its room (yet, or any more).
                    let result = answer.await.unwrap_or(Err(RecordingError::NotRecorded));
                    let state = match result {
                        Ok(s) | Err(RecordingError::Already(s)) => Some(s),
                        Err(_) => None,
                    };
                    if let Some(state) = state {
                        let _ = changed.send((room, state)).await;
                    }
                    let _ = reply.send(result);
                });
            }
        }
    }

    fn on_recording_changed(&mut self, room: String, state: RecordingState) {
        // Only rooms with a call in them are tracked (a late report is dropped).
        if state == RecordingState::Paused {
            if self.calls.values().any(|c| c.room.as_ref() == Some(&room)) {
                self.paused_rooms.insert(room);
            }
        } else {
            self.paused_rooms.remove(&room);
        }
    }

    fn summary(&self, c: &LiveCall) -> CallSummary {
        let recording = match &c.room {
            Some(room) if c.recorded && c.answered => {
                if self.paused_rooms.contains(room) {
                    RecordingState::Paused
                } else {
                    RecordingState::On
                }
            }
            _ => RecordingState::Off,
        };
        CallSummary {
            id: c.sip_call_id.clone(),
            number: c.number.clone(),
            caller: c.caller.clone(),
            started_at: c.started_at,
            state: if c.answered {
                CallState::Answered
            } else {
                CallState::Ringing
            },
            room: c.room.clone(),
            recording,
        }
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
