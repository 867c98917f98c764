//! SIP transport drivers: thin tokio tasks that move bytes between sockets and the signalling
//! core. UDP: one reader task on the shared socket. TCP: an acceptor bounded by a semaphore
//! and, per connection, a reader (framing by Content-Length through `hotline_sip::message::frame`)
//! and a writer fed by a channel. Messages are parsed here, on the reading task, so parsing is
//! spread over the runtime's threads; the signalling core receives typed [`Inbound`] items.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::{debug, warn};

use hotline_sip::message::{Frame, Message, ParseError, frame, parse};
use hotline_sip::transaction::{Peer, Transport};

use crate::logging::Redact;
use crate::metrics::{Metrics, TransportLabels};

/// What the transports hand to the signalling core.
#[derive(Debug)]
pub enum Inbound {
    Message {
        peer: Peer,
        message: Message,
    },
    Malformed {
        peer: Peer,
        error: ParseError,
    },
    TcpOpened {
        addr: SocketAddr,
        writer: mpsc::Sender<Bytes>,
    },
    TcpClosed {
        addr: SocketAddr,
    },
}

/// Limits that protect the engine from oversized messages and connection floods.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_tcp_connections: usize,
    /// A TCP peer that starts a message must finish it within this time.
    pub partial_message_timeout: Duration,
    /// A TCP connection with no traffic at all is closed after this time.
    pub idle_timeout: Duration,
}

/// Read datagrams until shutdown.
pub async fn run_udp(
    socket: Arc<UdpSocket>,
    inbound: mpsc::Sender<Inbound>,
    metrics: Metrics,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (len, addr) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => {
                    // ICMP port unreachable surfaces here on some platforms; keep reading.
                    debug!(error = %e, "udp receive error");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let data = &buf[..len];
        // RFC 5626 keep-alives (CRLF) and stray whitespace are not messages.
        if data
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
        {
            continue;
        }
        let peer = Peer {
            addr,
            transport: Transport::Udp,
        };
        if len > limits.max_message_bytes {
            metrics
                .sip_parse_errors
                .get_or_create(&TransportLabels { transport: "udp" })
                .inc();
            debug!(peer = %Redact(addr), len, "oversized datagram dropped");
            continue;
        }
        let item = match parse(data) {
            Ok(message) => Inbound::Message { peer, message },
            Err(error) => {
                metrics
                    .sip_parse_errors
                    .get_or_create(&TransportLabels { transport: "udp" })
                    .inc();
                Inbound::Malformed { peer, error }
            }
        };
        if inbound.send(item).await.is_err() {
            return;
        }
    }
}

/// Accept TCP connections until shutdown, at most `limits.max_tcp_connections` at once.
pub async fn run_tcp(
    listener: TcpListener,
    inbound: mpsc::Sender<Inbound>,
    metrics: Metrics,
    limits: Limits,
    shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_tcp_connections));
    let mut stop = shutdown.clone();
    loop {
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics.tcp_connections_refused.inc();
            debug!(peer = %Redact(addr), "tcp connection refused: limit reached");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let inbound = inbound.clone();
        let metrics = metrics.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            metrics.tcp_connections_active.inc();
            connection(
                stream,
                addr,
                inbound.clone(),
                metrics.clone(),
                limits,
                shutdown,
            )
            .await;
            metrics.tcp_connections_active.dec();
            let _ = inbound.send(Inbound::TcpClosed { addr }).await;
            drop(permit);
        });
    }
}

async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    inbound: mpsc::Sender<Inbound>,
    metrics: Metrics,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(256);
    if inbound
        .send(Inbound::TcpOpened {
            addr,
            writer: out_tx.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    // The writer ends when every sender is gone (this reader and the core, which drops its
    // copy on `TcpClosed`), or when a peer stops reading for 10 s.
    tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            match tokio::time::timeout(Duration::from_secs(10), writer.write_all(&bytes)).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), writer.shutdown()).await;
    });
    let peer = Peer {
        addr,
        transport: Transport::Tcp,
    };
    let labels = TransportLabels { transport: "tcp" };
    let mut buf = BytesMut::with_capacity(4096);
    'conn: loop {
        // Take every complete message out of the buffer.
        loop {
            match frame(&buf, limits.max_message_bytes) {
                Frame::Complete(n) => {
                    let item = match parse(&buf[..n]) {
                        Ok(message) => Inbound::Message { peer, message },
                        Err(error) => {
                            metrics.sip_parse_errors.get_or_create(&labels).inc();
                            Inbound::Malformed { peer, error }
                        }
                    };
                    buf.advance(n);
                    if inbound.send(item).await.is_err() {
                        break 'conn;
                    }
                }
                Frame::KeepAlive(n) => {
                    // RFC 5626 §4.4.1: a double-CRLF ping is answered with a single CRLF pong.
                    let ping = buf[..n].windows(4).any(|w| w == b"\r\n\r\n");
                    buf.advance(n);
                    if ping {
                        let _ = out_tx.try_send(Bytes::from_static(b"\r\n"));
                    }
                }
                Frame::Incomplete => break,
                Frame::Invalid(error) => {
                    // A stream whose framing is broken cannot be resynchronised: answer if we
                    // can, then close.
                    metrics.sip_parse_errors.get_or_create(&labels).inc();
                    debug!(peer = %Redact(addr), %error, "unframeable tcp stream, closing");
                    let _ = inbound.send(Inbound::Malformed { peer, error }).await;
                    break 'conn;
                }
            }
        }
        let wait = if buf.is_empty() {
            limits.idle_timeout
        } else {
            limits.partial_message_timeout
        };
        if buf.capacity() - buf.len() < 2048 {
            buf.reserve(4096);
        }
        tokio::select! {
            r = tokio::time::timeout(wait, reader.read_buf(&mut buf)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => {}
                Err(_) => {
                    debug!(peer = %Redact(addr), "tcp connection timed out");
                    break;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}
