//! Media workers: a few OS threads (about one per core), each owning many calls' RTP sockets
//! and sans-IO [`RtpSession`]s. A worker waits on its sockets with epoll (mio): a socket that
//! becomes readable is drained at once with batched receives (`recvmmsg`) and its session
//! answers straight away (an echo adds no queueing delay); every 20 ms all sessions are ticked
//! (prompts, mixing, timeouts). Then what the sessions produced is sent and their events are
//! forwarded. No task and no allocation per packet; the call controller talks to a worker
//! through a command channel (with a waker) and hears back through its own event channel.

pub mod batch;

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hotline_media::{FRAME_DURATION, MediaEvent, Mode, RtpSession};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::mpsc as tokio_mpsc;
use tracing::{debug, warn};

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
        session: Box<RtpSession>,
        events: tokio_mpsc::Sender<MediaEvent>,
    },
    SetMode {
        id: u64,
        mode: Box<Mode>,
    },
    Remove {
        id: u64,
    },
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

    /// Hand a session and its socket to a worker (round robin). Events come back on
    /// `events`; when that channel is full, events are dropped (and logged), never blocking
    /// the worker.
    pub fn add(
        &self,
        socket: UdpSocket,
        session: RtpSession,
        events: tokio_mpsc::Sender<MediaEvent>,
    ) -> std::io::Result<SessionHandle> {
        socket.set_nonblocking(true)?;
        let worker =
            self.inner.next_worker.fetch_add(1, Ordering::Relaxed) % self.inner.workers.len();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner.workers[worker]
            .send(Command::Add {
                id,
                socket,
                session: Box::new(session),
                events,
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

    /// Stop a session and close its socket.
    pub fn remove(&self, handle: SessionHandle) {
        let _ = self.inner.workers[handle.worker].send(Command::Remove { id: handle.id });
    }
}

struct Entry {
    id: u64,
    socket: UdpSocket,
    session: Box<RtpSession>,
    events: tokio_mpsc::Sender<MediaEvent>,
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
                let slot = event.token().0;
                if slot != WAKER.0 {
                    self.receive(slot, now);
                }
            }
            // ... and every session is ticked every 20 ms (prompts, mixing, timeouts).
            if now >= next_tick {
                for slot in 0..self.sessions.len() {
                    if let Some(entry) = self.sessions[slot].as_mut() {
                        entry.session.handle_tick(now);
                        self.flush(slot);
                    }
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
    fn receive(&mut self, slot: usize, now: Instant) {
        let Some(entry) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        loop {
            let n = self.batch.recv(&entry.socket);
            if n == 0 {
                break;
            }
            for (from, bytes) in self.batch.iter() {
                entry.session.handle_packet(now, from, bytes);
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
            // A full socket buffer drops the frame, as the network would.
            if entry.socket.send_to(&t.bytes, t.dest).is_ok() {
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

    /// Apply queued commands; false when the pool is gone.
    fn apply_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Add {
                    id,
                    socket,
                    session,
                    events,
                }) => {
                    let slot = self.free.pop().unwrap_or_else(|| {
                        self.sessions.push(None);
                        self.sessions.len() - 1
                    });
                    let fd = socket.as_raw_fd();
                    if let Err(e) = self.poll.registry().register(
                        &mut SourceFd(&fd),
                        Token(slot),
                        Interest::READABLE,
                    ) {
                        warn!(error = %e, "cannot watch an RTP socket");
                        self.free.push(slot);
                        continue;
                    }
                    self.sessions[slot] = Some(Entry {
                        id,
                        socket,
                        session,
                        events,
                    });
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
                    if let Some(slot) = found
                        && let Some(entry) = self.sessions[slot].take()
                    {
                        let fd = entry.socket.as_raw_fd();
                        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
                        self.free.push(slot);
                    }
                }
                Err(mpsc::TryRecvError::Empty) => return true,
                // The engine is gone: its sockets close with this thread.
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }
}
