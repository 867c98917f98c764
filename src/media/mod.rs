//! Media workers: a few OS threads (about one per core), each owning many calls' RTP sockets
//! and sans-IO [`RtpSession`]s. A worker waits on its sockets with epoll (mio): a socket that
//! becomes readable is drained at once with batched receives (`recvmmsg`) and its session
//! answers straight away (an echo adds no queueing delay); every 20 ms all sessions are ticked
//! (prompts, mixing, timeouts). Then what the sessions produced is sent and their events are
//! forwarded. No task and no allocation per packet; the call controller talks to a worker
//! through a command channel (with a waker) and hears back through its own event channel.

pub mod batch;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hotline_media::mixer::{Mixer, ParticipantId, Role, RoomId};
use hotline_media::recorder::{Channels, Recorder, RecorderConfig};
use hotline_media::session::TransmitKind;
use hotline_media::{FRAME_DURATION, FRAME_SAMPLES, Frame, MediaEvent, Mode, RtpSession};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::mpsc as tokio_mpsc;
use tracing::{debug, info, warn};

use crate::metrics::Metrics;
use batch::RecvBatch;

/// A session's handle: which worker owns it and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHandle {
    worker: usize,
    id: u64,
}

enum Command {
    Add {
        id: u64,
        socket: UdpSocket,
        rtcp: Option<UdpSocket>,
        session: Box<RtpSession>,
        events: tokio_mpsc::Sender<MediaEvent>,
        room: Option<RoomSpec>,
        /// Join `room` at once; else at [`Command::Join`].
        join: bool,
    },
    /// Join the room the session was added for.
    Join {
        id: u64,
    },
    SetMode {
        id: u64,
        mode: Box<Mode>,
    },
    Remove {
        id: u64,
    },
    /// Pause the recording of the room the session is in.
    PauseRecording {
        id: u64,
        reply: RecordingReply,
    },
    /// Resume the recording of the room the session is in.
    ResumeRecording {
        id: u64,
        reply: RecordingReply,
    },
}

/// What the recording API asks of a room's recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingAction {
    Pause,
    Resume,
}

/// A call's (its room's) recording: none, being written, or written as silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingState {
    Off,
    On,
    Paused,
}

/// Why a recording command was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingError {
    /// No live call has that SIP Call-ID.
    UnknownCall,
    /// The call is not (or not yet, or no longer) in a room that is being recorded.
    NotRecorded,
    /// The recording is already in this state.
    Already(RecordingState),
    /// The call's controller or media worker could not take the command now.
    Unavailable,
}

/// Where a media worker answers a recording command.
pub type RecordingReply = tokio::sync::oneshot::Sender<Result<RecordingState, RecordingError>>;

/// A conference room a session joins: every session of one room runs on the same worker,
/// whose mixer gives each participant everyone else's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSpec {
    pub name: String,
    pub record: Option<RoomRecording>,
}

/// Where and how a room is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecording {
    /// The directory the WAV file goes in (created if missing).
    pub dir: std::path::PathBuf,
    pub stereo: bool,
}

/// The pool of media workers. Cheap to clone.
#[derive(Clone)]
pub struct MediaWorkers {
    inner: Arc<Inner>,
}

struct WorkerTx {
    commands: mpsc::Sender<Command>,
    waker: Arc<Waker>,
}

impl WorkerTx {
    fn send(&self, command: Command) -> Result<(), ()> {
        self.commands.send(command).map_err(|_| ())?;
        // A worker that cannot be woken still applies the command at its next tick.
        let _ = self.waker.wake();
        Ok(())
    }
}

struct Inner {
    workers: Vec<WorkerTx>,
    next_worker: AtomicUsize,
    next_id: AtomicU64,
}

impl MediaWorkers {
    /// Start `count` worker threads (at least one).
    pub fn start(count: usize, metrics: Metrics) -> std::io::Result<MediaWorkers> {
        let mut workers = Vec::new();
        for n in 0..count.max(1) {
            let (tx, rx) = mpsc::channel();
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let worker = Worker {
                commands: rx,
                poll,
                sessions: Vec::new(),
                free: Vec::new(),
                batch: RecvBatch::new(),
                metrics: metrics.clone(),
                packets_in: 0,
                packets_out: 0,
                mixer: Mixer::new(),
                rooms: HashMap::new(),
            };
            std::thread::Builder::new()
                .name(format!("hotline-media-{n}"))
                .spawn(move || worker.run())?;
            workers.push(WorkerTx {
                commands: tx,
                waker,
            });
        }
        Ok(MediaWorkers {
            inner: Arc::new(Inner {
                workers,
                next_worker: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// One worker per available core.
    pub fn start_default(metrics: Metrics) -> std::io::Result<MediaWorkers> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        MediaWorkers::start(cores, metrics)
    }

    /// Hand a session and its socket to a worker (round robin; a room's worker for a
    /// session in `room`, which it joins at once). Events come back on `events`; when that
    /// channel is full, events are dropped (and logged), never blocking the worker.
    pub fn add(
        &self,
        socket: UdpSocket,
        rtcp: Option<UdpSocket>,
        session: RtpSession,
        events: tokio_mpsc::Sender<MediaEvent>,
        room: Option<RoomSpec>,
    ) -> std::io::Result<SessionHandle> {
        self.place(socket, rtcp, session, events, room, true)
    }

    /// As [`add`](Self::add), but a session bound for `room` does not join it yet: it runs
    /// on the room's worker in its own mode (early media: a ringback tone before the call
    /// is answered) until [`join`](Self::join).
    pub fn add_waiting(
        &self,
        socket: UdpSocket,
        rtcp: Option<UdpSocket>,
        session: RtpSession,
        events: tokio_mpsc::Sender<MediaEvent>,
        room: Option<RoomSpec>,
    ) -> std::io::Result<SessionHandle> {
        self.place(socket, rtcp, session, events, room, false)
    }

    /// A session added with [`add_waiting`](Self::add_waiting) joins its room now (and
    /// switches to mixing); one without a room, or already in it, is left as it is.
    pub fn join(&self, handle: SessionHandle) {
        let _ = self.inner.workers[handle.worker].send(Command::Join { id: handle.id });
    }

    fn place(
        &self,
        socket: UdpSocket,
        rtcp: Option<UdpSocket>,
        session: RtpSession,
        events: tokio_mpsc::Sender<MediaEvent>,
        room: Option<RoomSpec>,
        join: bool,
    ) -> std::io::Result<SessionHandle> {
        socket.set_nonblocking(true)?;
        if let Some(r) = &rtcp {
            r.set_nonblocking(true)?;
        }
        let workers = self.inner.workers.len();
        let worker = match &room {
            // A room lives on one worker, chosen by its name.
            Some(r) => {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                r.name.hash(&mut h);
                (h.finish() % workers as u64) as usize
            }
            None => self.inner.next_worker.fetch_add(1, Ordering::Relaxed) % workers,
        };
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner.workers[worker]
            .send(Command::Add {
                id,
                socket,
                rtcp,
                session: Box::new(session),
                events,
                room,
                join,
            })
            .map_err(|_| std::io::Error::other("media worker stopped"))?;
        Ok(SessionHandle { worker, id })
    }

    /// Change what a session sends (echo, a prompt, silence); applied at the worker's next
    /// tick.
    pub fn set_mode(&self, handle: SessionHandle, mode: Mode) {
        let _ = self.inner.workers[handle.worker].send(Command::SetMode {
            id: handle.id,
            mode: Box::new(mode),
        });
    }

    /// Pause or resume the recording of the room `handle`'s session is in; the worker
    /// answers on `reply` at its next wake-up (a dropped reply: the worker is gone).
    pub fn control_recording(
        &self,
        handle: SessionHandle,
        action: RecordingAction,
        reply: RecordingReply,
    ) {
        let id = handle.id;
        let command = match action {
            RecordingAction::Pause => Command::PauseRecording { id, reply },
            RecordingAction::Resume => Command::ResumeRecording { id, reply },
        };
        let _ = self.inner.workers[handle.worker].send(command);
    }

    /// Stop a session and close its socket.
    pub fn remove(&self, handle: SessionHandle) {
        let _ = self.inner.workers[handle.worker].send(Command::Remove { id: handle.id });
    }
}

struct Entry {
    id: u64,
    socket: UdpSocket,
    /// The RTCP socket (RTP port + 1), unless RTCP is multiplexed on the RTP socket.
    rtcp: Option<UdpSocket>,
    session: Box<RtpSession>,
    events: tokio_mpsc::Sender<MediaEvent>,
    /// The session's place in a conference room, if it is in one.
    member: Option<(String, ParticipantId)>,
    /// The room it joins at [`Command::Join`].
    waiting_for: Option<RoomSpec>,
}

/// A conference room on this worker.
struct Room {
    id: RoomId,
    members: Vec<ParticipantId>,
    recorder: Option<Recorder<std::fs::File>>,
    stereo: bool,
    mono_mix: Box<Frame>,
}

/// The token of the waker that says "commands are waiting".
const WAKER: Token = Token(usize::MAX);

struct Worker {
    commands: mpsc::Receiver<Command>,
    poll: Poll,
    /// Slots indexed by mio token; `None` slots are reused.
    sessions: Vec<Option<Entry>>,
    free: Vec<usize>,
    batch: RecvBatch,
    metrics: Metrics,
    packets_in: u64,
    packets_out: u64,
    mixer: Mixer,
    rooms: HashMap<String, Room>,
}

impl Worker {
    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut next_tick = Instant::now() + FRAME_DURATION;
        loop {
            if !self.apply_commands() {
                return;
            }
            let timeout = next_tick.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    warn!(error = %e, "media worker poll failed");
                    std::thread::sleep(Duration::from_millis(5));
                }
                continue;
            }
            // Packets are handled the moment they arrive (an echo goes straight back) ...
            let now = Instant::now();
            for event in events.iter() {
                let token = event.token().0;
                if token != WAKER.0 {
                    // Token 2·slot is a session's RTP socket, 2·slot + 1 its RTCP socket.
                    self.receive(token / 2, token % 2 == 1, now);
                }
            }
            // ... and every session is ticked every 20 ms (prompts, mixing, timeouts).
            if now >= next_tick {
                for slot in 0..self.sessions.len() {
                    if let Some(entry) = self.sessions[slot].as_mut() {
                        entry.session.handle_tick(now);
                        if let Some((_, p)) = entry.member {
                            let frame = entry.session.take_frame(now);
                            let _ = self.mixer.put_frame(p, frame);
                        }
                    }
                }
                if !self.rooms.is_empty() {
                    self.mixer.tick();
                    self.record_rooms();
                    for entry in self.sessions.iter_mut().flatten() {
                        if let Some((_, p)) = entry.member
                            && let Ok(frame) = self.mixer.frame_for(p)
                        {
                            entry.session.send_frame(now, frame);
                        }
                    }
                }
                for slot in 0..self.sessions.len() {
                    self.flush(slot);
                }
                self.metrics
                    .rtp_packets_in
                    .inc_by(std::mem::take(&mut self.packets_in));
                self.metrics
                    .rtp_packets_out
                    .inc_by(std::mem::take(&mut self.packets_out));
                // Fixed-rate ticks; a worker that fell far behind re-anchors instead of
                // bursting.
                next_tick += FRAME_DURATION;
                if now.saturating_duration_since(next_tick) > Duration::from_millis(200) {
                    warn!(
                        behind_ms = now.saturating_duration_since(next_tick).as_millis() as u64,
                        "media worker overloaded"
                    );
                    next_tick = now + FRAME_DURATION;
                }
            }
        }
    }

    /// Drain one session's socket (batched) and act on what came in.
    fn receive(&mut self, slot: usize, rtcp: bool, now: Instant) {
        let Some(entry) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let socket = match (rtcp, &entry.rtcp) {
            (false, _) => &entry.socket,
            (true, Some(r)) => r,
            (true, None) => return,
        };
        loop {
            let n = self.batch.recv(socket);
            if n == 0 {
                break;
            }
            for (from, bytes) in self.batch.iter() {
                if rtcp {
                    entry.session.handle_rtcp(now, from, bytes);
                } else {
                    entry.session.handle_packet(now, from, bytes);
                }
            }
            self.packets_in += n as u64;
            if n < batch::BATCH {
                break;
            }
        }
        self.flush(slot);
    }

    /// Send what a session produced and forward its events.
    fn flush(&mut self, slot: usize) {
        let Some(entry) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        while let Some(t) = entry.session.poll_transmit() {
            let socket = match (t.kind, &entry.rtcp) {
                (TransmitKind::Rtcp, Some(rtcp)) => rtcp,
                _ => &entry.socket,
            };
            // A full socket buffer drops the packet, as the network would.
            if socket.send_to(&t.bytes, t.dest).is_ok() && t.kind == TransmitKind::Rtp {
                self.packets_out += 1;
            }
            entry.session.recycle(t.bytes);
        }
        while let Some(event) = entry.session.poll_event() {
            if entry.events.try_send(event).is_err() {
                debug!(
                    session = entry.id,
                    ?event,
                    "media event dropped: controller busy"
                );
            }
        }
    }

    /// A session joins a room and starts mixing; `None` (logged) when it cannot.
    fn enter(
        &mut self,
        spec: &RoomSpec,
        session: &mut RtpSession,
    ) -> Option<(String, ParticipantId)> {
        match self.join(spec) {
            Ok(p) => {
                session.set_mode(Instant::now(), Mode::Mix);
                Some((spec.name.clone(), p))
            }
            Err(e) => {
                warn!(room = %spec.name, error = %e, "cannot join room");
                None
            }
        }
    }

    /// Add a participant to a room, creating the room (and its recording) on first use.
    fn join(&mut self, spec: &RoomSpec) -> Result<ParticipantId, hotline_media::mixer::MixerError> {
        let room = match self.rooms.entry(spec.name.clone()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let id = self.mixer.create_room();
                let (recorder, stereo) = match &spec.record {
                    Some(rec) => (open_recording(&spec.name, rec), rec.stereo),
                    None => (None, false),
                };
                v.insert(Room {
                    id,
                    members: Vec::new(),
                    recorder,
                    stereo,
                    mono_mix: Box::new([0; FRAME_SAMPLES]),
                })
            }
        };
        let p = self.mixer.add_participant(room.id, Role::SpeakListen)?;
        room.members.push(p);
        Ok(p)
    }

    fn leave(&mut self, name: &str, p: ParticipantId) {
        let _ = self.mixer.remove_participant(p);
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        room.members.retain(|m| *m != p);
        if room.members.is_empty()
            && let Some(room) = self.rooms.remove(name)
        {
            let _ = self.mixer.remove_room(room.id);
            if let Some(recorder) = room.recorder {
                match recorder.finish_synced() {
                    Ok(info) => info!(
                        room = name,
                        path = ?info.path,
                        duration_ms = info.duration.as_millis() as u64,
                        channels = info.channels.count(),
                        pauses = info.pauses.len(),
                        "recording finished"
                    ),
                    Err(e) => warn!(room = name, error = %e, "recording could not be finished"),
                }
            }
        }
    }

    /// Write this tick's audio of every recorded room.
    fn record_rooms(&mut self) {
        for (name, room) in &mut self.rooms {
            let Some(recorder) = room.recorder.as_mut() else {
                continue;
            };
            let silence = [0i16; FRAME_SAMPLES];
            let input = |i: usize| {
                room.members
                    .get(i)
                    .and_then(|p| self.mixer.input_of(*p).ok())
                    .unwrap_or(&silence)
            };
            let result = if room.stereo {
                recorder.write_frame_stereo(input(0), input(1))
            } else {
                room.mono_mix.fill(0);
                for p in &room.members {
                    if let Ok(frame) = self.mixer.input_of(*p) {
                        for (acc, s) in room.mono_mix.iter_mut().zip(frame.iter()) {
                            *acc = acc.saturating_add(*s);
                        }
                    }
                }
                recorder.write_frame_mono(&room.mono_mix[..])
            };
            if let Err(e) = result {
                // Keep the call going; the recording keeps what reached the disk.
                warn!(room = %name, error = %e, "recording write failed; recording stopped");
                room.recorder = None;
            }
        }
    }

    /// Pause or resume the recorder of the room session `id` is in. The recorder writes
    /// silence while paused (the file keeps its timeline) and keeps the pause markers.
    fn control_recording(
        &mut self,
        id: u64,
        action: RecordingAction,
    ) -> Result<RecordingState, RecordingError> {
        let name = self
            .sessions
            .iter()
            .flatten()
            .find(|e| e.id == id)
            .and_then(|e| e.member.as_ref())
            .map(|(name, _)| name)
            .ok_or(RecordingError::NotRecorded)?;
        let recorder = self
            .rooms
            .get_mut(name)
            .and_then(|r| r.recorder.as_mut())
            .ok_or(RecordingError::NotRecorded)?;
        match (action, recorder.is_paused()) {
            (RecordingAction::Pause, true) => Err(RecordingError::Already(RecordingState::Paused)),
            (RecordingAction::Resume, false) => Err(RecordingError::Already(RecordingState::On)),
            (RecordingAction::Pause, false) => {
                let at_frame = recorder.pause();
                info!(room = %name, at_frame, "recording paused");
                Ok(RecordingState::Paused)
            }
            (RecordingAction::Resume, true) => {
                let at_frame = recorder.resume();
                info!(room = %name, at_frame, "recording resumed");
                Ok(RecordingState::On)
            }
        }
    }

    /// Apply queued commands; false when the pool is gone.
    fn apply_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Add {
                    id,
                    socket,
                    rtcp,
                    mut session,
                    events,
                    room,
                    join,
                }) => {
                    let (room, waiting_for) = if join { (room, None) } else { (None, room) };
                    let member = match room {
                        Some(spec) => self.enter(&spec, &mut session),
                        None => None,
                    };
                    let slot = self.free.pop().unwrap_or_else(|| {
                        self.sessions.push(None);
                        self.sessions.len() - 1
                    });
                    // Token 2·slot is the RTP socket, 2·slot + 1 the RTCP socket.
                    let fd = socket.as_raw_fd();
                    if let Err(e) = self.poll.registry().register(
                        &mut SourceFd(&fd),
                        Token(slot * 2),
                        Interest::READABLE,
                    ) {
                        warn!(error = %e, "cannot watch an RTP socket");
                        self.free.push(slot);
                        if let Some((room, p)) = member {
                            self.leave(&room, p);
                        }
                        continue;
                    }
                    if let Some(r) = &rtcp {
                        let fd = r.as_raw_fd();
                        if let Err(e) = self.poll.registry().register(
                            &mut SourceFd(&fd),
                            Token(slot * 2 + 1),
                            Interest::READABLE,
                        ) {
                            warn!(error = %e, "cannot watch an RTCP socket: no RTCP for this call");
                        }
                    }
                    self.sessions[slot] = Some(Entry {
                        id,
                        socket,
                        rtcp,
                        session,
                        events,
                        member,
                        waiting_for,
                    });
                }
                Ok(Command::Join { id }) => {
                    let found = self
                        .sessions
                        .iter()
                        .position(|e| e.as_ref().is_some_and(|e| e.id == id));
                    let Some(slot) = found else { continue };
                    let Some(spec) = self.sessions[slot]
                        .as_mut()
                        .and_then(|e| e.waiting_for.take())
                    else {
                        continue;
                    };
                    // Taken out of its slot for a moment: `enter` needs the worker too.
                    let Some(mut entry) = self.sessions[slot].take() else {
                        continue;
                    };
                    entry.member = self.enter(&spec, &mut entry.session);
                    self.sessions[slot] = Some(entry);
                }
                Ok(Command::SetMode { id, mode }) => {
                    if let Some(e) = self.sessions.iter_mut().flatten().find(|e| e.id == id) {
                        e.session.set_mode(Instant::now(), *mode);
                    }
                }
                Ok(Command::Remove { id }) => {
                    let found = self
                        .sessions
                        .iter()
                        .position(|e| e.as_ref().is_some_and(|e| e.id == id));
                    if let Some(slot) = found {
                        // A last report with BYE, then the sockets close.
                        if let Some(entry) = self.sessions[slot].as_mut() {
                            entry.session.bye(Instant::now());
                        }
                        self.flush(slot);
                    }
                    if let Some(slot) = found
                        && let Some(entry) = self.sessions[slot].take()
                    {
                        for socket in std::iter::once(&entry.socket).chain(entry.rtcp.as_ref()) {
                            let fd = socket.as_raw_fd();
                            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
                        }
                        self.free.push(slot);
                        if let Some((room, p)) = entry.member {
                            self.leave(&room, p);
                        }
                    }
                }
                Ok(Command::PauseRecording { id, reply }) => {
                    let _ = reply.send(self.control_recording(id, RecordingAction::Pause));
                }
                Ok(Command::ResumeRecording { id, reply }) => {
                    let _ = reply.send(self.control_recording(id, RecordingAction::Resume));
                }
                Err(mpsc::TryRecvError::Empty) => return true,
                // The engine is gone: its sockets close with this thread.
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }
}

/// Open a room's recording file: `<dir>/<room>-<unix ms>.wav`.
fn open_recording(room: &str, rec: &RoomRecording) -> Option<Recorder<std::fs::File>> {
    let started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // Room names come from dialled numbers: keep only characters safe in a file name.
    let safe: String = room
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if let Err(e) = std::fs::create_dir_all(&rec.dir) {
        warn!(error = %e, dir = %rec.dir.display(), "cannot create the recordings directory");
        return None;
    }
    let path = rec.dir.join(format!("{safe}-{started_unix_ms}.wav"));
    let channels = if rec.stereo {
        Channels::Stereo
    } else {
        Channels::Mono
    };
    match Recorder::create(&path, RecorderConfig::new(channels, started_unix_ms)) {
        Ok(r) => {
            info!(room, path = %path.display(), "recording started");
            Some(r)
        }
        Err(e) => {
            warn!(room, error = %e, path = %path.display(), "cannot start recording");
            None
        }
    }
}
