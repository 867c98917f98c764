//! Media workers: a few OS threads (about one per core), each owning many calls' RTP sockets
//! and sans-IO [`RtpSession`]s, running a 20 ms tick: drain every socket with batched
//! receives, feed the sessions, tick them, send what they produced, forward their events.
//! No task and no allocation per packet; the call controller talks to a worker through a
//! command channel and hears back through its own event channel.

mod batch;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hotline_media::{FRAME_DURATION, MediaEvent, Mode, RtpSession};
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

struct Inner {
    workers: Vec<mpsc::Sender<Command>>,
    next_worker: AtomicUsize,
    next_id: AtomicU64,
}

impl MediaWorkers {
    /// Start `count` worker threads (at least one).
    pub fn start(count: usize, metrics: Metrics) -> std::io::Result<MediaWorkers> {
        let mut workers = Vec::new();
        for n in 0..count.max(1) {
            let (tx, rx) = mpsc::channel();
            let metrics = metrics.clone();
            std::thread::Builder::new()
                .name(format!("hotline-media-{n}"))
                .spawn(move || Worker::new(rx, metrics).run())?;
            workers.push(tx);
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

struct Worker {
    commands: mpsc::Receiver<Command>,
    sessions: Vec<Entry>,
    batch: RecvBatch,
    metrics: Metrics,
}

impl Worker {
    fn new(commands: mpsc::Receiver<Command>, metrics: Metrics) -> Worker {
        Worker {
            commands,
            sessions: Vec::new(),
            batch: RecvBatch::new(),
            metrics,
        }
    }

    fn run(mut self) {
        let mut next_tick = Instant::now();
        loop {
            if !self.apply_commands() {
                return;
            }
            let now = Instant::now();
            let (mut packets_in, mut packets_out) = (0u64, 0u64);
            for entry in &mut self.sessions {
                // Drain the socket: bursts come in batches of up to 16 per call.
                loop {
                    let n = self.batch.recv(&entry.socket);
                    if n == 0 {
                        break;
                    }
                    for (from, bytes) in self.batch.iter() {
                        entry.session.handle_packet(now, from, bytes);
                    }
                    packets_in += n as u64;
                    if n < batch::BATCH {
                        break;
                    }
                }
                entry.session.handle_tick(now);
                while let Some(t) = entry.session.poll_transmit() {
                    // A full socket buffer drops the frame, as the network would.
                    if entry.socket.send_to(&t.bytes, t.dest).is_ok() {
                        packets_out += 1;
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
            self.metrics.rtp_packets_in.inc_by(packets_in);
            self.metrics.rtp_packets_out.inc_by(packets_out);
            // Fixed-rate ticks: a late tick is followed by an early one, and a worker that
            // fell far behind re-anchors instead of bursting.
            next_tick += FRAME_DURATION;
            let now = Instant::now();
            if next_tick > now {
                std::thread::sleep(next_tick - now);
            } else if now - next_tick > Duration::from_millis(200) {
                warn!(
                    behind_ms = (now - next_tick).as_millis() as u64,
                    sessions = self.sessions.len(),
                    "media worker overloaded"
                );
                next_tick = now;
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
                }) => self.sessions.push(Entry {
                    id,
                    socket,
                    session,
                    events,
                }),
                Ok(Command::SetMode { id, mode }) => {
                    if let Some(e) = self.sessions.iter_mut().find(|e| e.id == id) {
                        e.session.set_mode(Instant::now(), *mode);
                    }
                }
                Ok(Command::Remove { id }) => {
                    if let Some(i) = self.sessions.iter().position(|e| e.id == id) {
                        self.sessions.swap_remove(i);
                    }
                }
                Err(mpsc::TryRecvError::Empty) => return true,
                // The engine is gone: its sockets close with this thread.
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }
}
