//! `hotline-load`: a load harness that drives whole calls with real RTP both ways.
//!
//! ```text
//! hotline-load --target 127.0.0.1:5060 --number echo --calls 2000 --duration 60 [--rate 100]
//! ```
//!
//! It places `--calls` calls at `--rate` calls per second (INVITE with a PCMU offer → 200 →
//! ACK), sends a 20 ms G.711 frame of a 1 kHz tone on every leg every 20 ms for `--duration`
//! seconds, receives what comes back, then hangs up (BYE → 200). Signalling runs on the main
//! thread; RTP runs on a few worker threads that each own many calls' sockets, like the
//! engine's own media workers, so the generator itself stays cheap.
//!
//! The last line printed is one JSON object:
//! `{"calls_attempted":…,"calls_established":…,"calls_failed":…,"packets_sent":…,
//! "packets_received":…,"loss_pct":…,"jitter_p99_ms":…,"setup_p99_ms":…}`.
//! `loss_pct` compares packets received to packets sent over the established calls (an echo
//! returns every packet it receives); `jitter_p99_ms` is the 99th percentile over all
//! received packets of |D(i-1, i)|, the RFC 3550 §6.4.1 transit-time difference between
//! consecutive packets of a call, which is what the path (engine included) adds on top of a
//! steady 20 ms stream; `setup_p99_ms` is INVITE → 200 OK.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::os::fd::AsRawFd;

use anyhow::{Context, bail};
use clap::Parser;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use hotline::media::batch::RecvBatch;
use hotline_media::Codec;
use hotline_media::rtp::RtpHeader;
use hotline_media::sdp::SessionDescription;
use hotline_sip::message::{HeaderName, Message, Method, Response, parse};

#[derive(Parser, Debug)]
#[command(
    name = "hotline-load",
    version,
    about = "Drive calls with real RTP against a SIP target"
)]
struct Args {
    /// The engine's SIP address (UDP).
    #[arg(long, default_value = "127.0.0.1:5060")]
    target: SocketAddr,
    /// The number (Request-URI user part) to call.
    #[arg(long, default_value = "echo")]
    number: String,
    /// How many calls to place.
    #[arg(long, default_value_t = 100)]
    calls: usize,
    /// How long each call lasts, in seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// New calls per second.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Local address for SIP and RTP.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: IpAddr,
    /// RTP worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Two-party rooms: call i dials `<number>-<i/2>`, so calls 0 and 1 meet in one room, 2
    /// and 3 in the next, … (use with a conference prefix such as `room-*`).
    #[arg(long)]
    pairs: bool,
}

/// One call's RTP leg, owned by a worker.
struct Leg {
    id: usize,
    socket: UdpSocket,
    remote: SocketAddr,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    sent: u64,
    received: u64,
    /// Arrival time and RTP timestamp of the previous received packet.
    last: Option<(Duration, u32)>,
    stop_at: Instant,
}

/// A finished leg's counts and per-packet |D| samples (in microseconds).
struct LegReport {
    id: usize,
    sent: u64,
    received: u64,
    jitter_us: Vec<u32>,
}

enum WorkerCommand {
    Add(Box<Leg>),
}

fn tone_frame() -> Vec<u8> {
    let mut out = vec![0u8; 160];
    let pcm: Vec<i16> = (0..160)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * 1000.0 * f64::from(n) / 8000.0;
            (phase.sin() * 8000.0) as i16
        })
        .collect();
    Codec::Pcmu.encode(&pcm, &mut out);
    out
}

fn rtp_worker(commands: mpsc::Receiver<WorkerCommand>, reports: mpsc::Sender<LegReport>) {
    let payload = tone_frame();
    // Slots indexed by mio token; packets are timestamped the moment epoll says they arrived.
    let mut legs: Vec<Option<(Box<Leg>, Vec<u32>)>> = Vec::new();
    let Ok(mut poll) = Poll::new() else {
        return;
    };
    let mut events = Events::with_capacity(256);
    let mut batch = RecvBatch::new();
    // Fallback clock for sockets without kernel stamps: time since this worker started.
    let epoch = Instant::now();
    let mut packet = Vec::with_capacity(200);
    let mut next_tick = Instant::now();
    let mut open = true;
    while open || legs.iter().any(Option::is_some) {
        loop {
            match commands.try_recv() {
                Ok(WorkerCommand::Add(leg)) => {
                    let slot = legs.len();
                    let fd = leg.socket.as_raw_fd();
                    if poll
                        .registry()
                        .register(&mut SourceFd(&fd), Token(slot), Interest::READABLE)
                        .is_ok()
                    {
                        legs.push(Some((leg, Vec::new())));
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let timeout = next_tick.saturating_duration_since(Instant::now());
        if poll.poll(&mut events, Some(timeout)).is_err() {
            continue;
        }
        let arrival = Instant::now();
        for event in events.iter() {
            let Some(Some((leg, samples))) = legs.get_mut(event.token().0) else {
                continue;
            };
            loop {
                let n = batch.recv(&leg.socket);
                if n == 0 {
                    break;
                }
                for (_, bytes, stamp) in batch.iter_stamped() {
                    // The kernel's arrival stamp, else when epoll woke us.
                    let arrival = stamp.unwrap_or_else(|| arrival.duration_since(epoch));
                    // Only our PCMU stream counts: RTCP aimed at port + 1 can land on another
                    // leg's socket and must not be taken for audio.
                    let Ok(rtp) = hotline_media::rtp::RtpPacket::parse(bytes) else {
                        continue;
                    };
                    if rtp.payload_type() != 0 || hotline_media::rtcp::is_rtcp(bytes) {
                        continue;
                    }
                    let ts = rtp.timestamp();
                    if let Some((prev_at, prev_ts)) = leg.last {
                        // D(i-1,i) = (Rj - Ri) - (Sj - Si), in microseconds.
                        let recv_us = arrival.as_micros() as i64 - prev_at.as_micros() as i64;
                        let send_us = i64::from(ts.wrapping_sub(prev_ts) as i32) * 125;
                        let d = (recv_us - send_us).unsigned_abs();
                        samples.push(u32::try_from(d).unwrap_or(u32::MAX));
                    }
                    leg.last = Some((arrival, ts));
                    leg.received += 1;
                }
                if n < hotline::media::batch::BATCH {
                    break;
                }
            }
        }
        let now = Instant::now();
        if now < next_tick {
            continue;
        }
        for slot in &mut legs {
            let Some((leg, _)) = slot.as_mut() else {
                continue;
            };
            // Stop sending at `stop_at`; keep listening 200 ms for echoes still in flight.
            if now >= leg.stop_at + Duration::from_millis(200) {
                if let Some((leg, samples)) = slot.take() {
                    let fd = leg.socket.as_raw_fd();
                    let _ = poll.registry().deregister(&mut SourceFd(&fd));
                    let _ = reports.send(LegReport {
                        id: leg.id,
                        sent: leg.sent,
                        received: leg.received,
                        jitter_us: samples,
                    });
                }
                continue;
            }
            if now >= leg.stop_at {
                continue;
            }
            // One 20 ms frame per tick.
            let header = RtpHeader {
                marker: leg.sent == 0,
                payload_type: 0,
                sequence: leg.seq,
                timestamp: leg.timestamp,
                ssrc: leg.ssrc,
            };
            packet.clear();
            if header.write_header_to_vec(&mut packet).is_ok() {
                packet.extend_from_slice(&payload);
                if leg.socket.send_to(&packet, leg.remote).is_ok() {
                    leg.sent += 1;
                }
            }
            leg.seq = leg.seq.wrapping_add(1);
            leg.timestamp = leg.timestamp.wrapping_add(160);
        }
        next_tick += Duration::from_millis(20);
        if now.saturating_duration_since(next_tick) > Duration::from_millis(200) {
            next_tick = now + Duration::from_millis(20);
        }
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Phase {
    Inviting,
    Established,
    Hanging,
    Done,
    Failed,
}

struct Call {
    id: usize,
    /// The number this call dialled (its Request-URI user part).
    number: String,
    call_id: String,
    from_tag: String,
    branch: String,
    phase: Phase,
    invite_at: Instant,
    last_send: Instant,
    tries: u32,
    invite: Vec<u8>,
    bye: Option<Vec<u8>>,
    rtp: Option<UdpSocket>,
    setup_ms: Option<f64>,
    hangup_at: Option<Instant>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.calls == 0 || args.rate == 0 {
        bail!("--calls and --rate must be at least 1");
    }
    let sip = UdpSocket::bind((args.local_ip, 0)).context("bind SIP socket")?;
    sip.set_read_timeout(Some(Duration::from_millis(5)))?;
    let local = sip.local_addr()?;
    let (report_tx, report_rx) = mpsc::channel();
    let mut workers = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..args.workers.max(1) {
        let (tx, rx) = mpsc::channel();
        let reports = report_tx.clone();
        handles.push(std::thread::spawn(move || rtp_worker(rx, reports)));
        workers.push(tx);
    }
    drop(report_tx);

    let run_id = std::process::id();
    let mut calls: Vec<Call> = Vec::with_capacity(args.calls);
    let mut by_call_id: HashMap<String, usize> = HashMap::new();
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let duration = Duration::from_secs(args.duration);
    let mut buf = vec![0u8; 65536];
    let mut placed = 0usize;
    loop {
        let now = Instant::now();
        // Place calls at the configured rate.
        while placed < args.calls && now >= start + interval * placed as u32 {
            let id = placed;
            placed += 1;
            let rtp = UdpSocket::bind((args.local_ip, 0)).context("bind RTP socket")?;
            rtp.set_nonblocking(true)?;
            // Arrival times from the kernel keep our own scheduling out of the jitter figure.
            let _ = hotline::media::batch::enable_kernel_timestamps(&rtp);
            let rtp_port = rtp.local_addr()?.port();
            let call_id = format!("load-{run_id}-{id}@{}", args.local_ip);
            let from_tag = format!("lt{id}");
            let branch = format!("z9hG4bK-load-{run_id}-{id}");
            let sdp = format!(
                "v=0\r\no=load {id} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
                 m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
                 a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n",
                ip = args.local_ip
            );
            let num = if args.pairs {
                format!("{}-{}", args.number, id / 2)
            } else {
                args.number.clone()
            };
            let invite = format!(
                "INVITE sip:{num}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:load@{local}>;tag={from_tag}\r\nTo: <sip:{num}@{target}>\r\n\
                 Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:load@{local}>\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
                target = args.target,
                len = sdp.len()
            )
            .into_bytes();
            let _ = sip.send_to(&invite, args.target);
            by_call_id.insert(call_id.clone(), id);
            calls.push(Call {
                id,
                number: num,
                call_id,
                from_tag,
                branch,
                phase: Phase::Inviting,
                invite_at: now,
                last_send: now,
                tries: 1,
                invite,
                bye: None,
                rtp: Some(rtp),
                setup_ms: None,
                hangup_at: None,
            });
        }
        // Read SIP.
        match sip.recv_from(&mut buf) {
            Ok((n, _)) => {
                if let Ok(msg) = parse(&buf[..n]) {
                    handle_sip(
                        &sip,
                        &args,
                        local,
                        msg,
                        &mut calls,
                        &by_call_id,
                        &workers,
                        duration,
                    );
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(e).context("SIP receive"),
        }
        // Timers: retransmit INVITE/BYE every 500 ms (7 tries), hang up when due.
        let now = Instant::now();
        for call in &mut calls {
            match call.phase {
                Phase::Inviting | Phase::Hanging
                    if now - call.last_send >= Duration::from_millis(500) =>
                {
                    if call.tries >= 7 {
                        call.phase = if call.phase == Phase::Inviting {
                            Phase::Failed
                        } else {
                            Phase::Done
                        };
                        continue;
                    }
                    let bytes = if call.phase == Phase::Inviting {
                        &call.invite
                    } else {
                        call.bye.as_ref().unwrap_or(&call.invite)
                    };
                    let _ = sip.send_to(bytes, args.target);
                    call.last_send = now;
                    call.tries += 1;
                }
                Phase::Established if call.hangup_at.is_some_and(|t| now >= t) => {
                    if let Some(bye) = &call.bye {
                        let _ = sip.send_to(bye, args.target);
                    }
                    call.phase = Phase::Hanging;
                    call.last_send = now;
                    call.tries = 1;
                }
                _ => {}
            }
        }
        if placed == args.calls
            && calls
                .iter()
                .all(|c| matches!(c.phase, Phase::Done | Phase::Failed))
        {
            break;
        }
    }
    drop(workers);
    for h in handles {
        let _ = h.join();
    }
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut jitter: Vec<u32> = Vec::new();
    for report in report_rx.iter() {
        let _ = report.id;
        sent += report.sent;
        received += report.received;
        jitter.extend_from_slice(&report.jitter_us);
    }
    let established = calls.iter().filter(|c| c.setup_ms.is_some()).count();
    let failed = calls.iter().filter(|c| c.phase == Phase::Failed).count();
    let mut setups: Vec<f64> = calls.iter().filter_map(|c| c.setup_ms).collect();
    setups.sort_by(f64::total_cmp);
    jitter.sort_unstable();
    let p99 = |n: usize| (n * 99).div_ceil(100).saturating_sub(1);
    let jitter_p99_ms = if jitter.is_empty() {
        0.0
    } else {
        f64::from(jitter[p99(jitter.len())]) / 1000.0
    };
    let setup_p99_ms = if setups.is_empty() {
        0.0
    } else {
        setups[p99(setups.len())]
    };
    let loss_pct = if sent == 0 {
        0.0
    } else {
        (sent.saturating_sub(received)) as f64 * 100.0 / sent as f64
    };
    println!(
        "{{\"calls_attempted\":{},\"calls_established\":{},\"calls_failed\":{},\"packets_sent\":{},\"packets_received\":{},\"loss_pct\":{:.4},\"jitter_p99_ms\":{:.3},\"setup_p99_ms\":{:.3}}}",
        calls.len(),
        established,
        failed,
        sent,
        received,
        loss_pct,
        jitter_p99_ms,
        setup_p99_ms
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn handle_sip(
    sip: &UdpSocket,
    args: &Args,
    local: SocketAddr,
    msg: Message,
    calls: &mut [Call],
    by_call_id: &HashMap<String, usize>,
    workers: &[mpsc::Sender<WorkerCommand>],
    duration: Duration,
) {
    match msg {
        Message::Response(resp) => {
            let Some(&idx) = resp.headers.call_id().and_then(|c| by_call_id.get(c)) else {
                return;
            };
            let call = &mut calls[idx];
            let method = resp.headers.cseq().map(|c| c.method);
            match (method, call.phase) {
                (Some(Method::Invite), Phase::Inviting) if resp.status >= 200 => {
                    if resp.status >= 300 {
                        call.phase = Phase::Failed;
                        send_ack(sip, args, local, call, &resp, true);
                        return;
                    }
                    let now = Instant::now();
                    call.setup_ms = Some((now - call.invite_at).as_secs_f64() * 1000.0);
                    send_ack(sip, args, local, call, &resp, false);
                    let remote = SessionDescription::parse(&resp.body).ok().and_then(|sdp| {
                        let m = sdp.media.first()?;
                        let ip = m.connection.or(sdp.connection)?.address;
                        Some(SocketAddr::new(ip, m.port))
                    });
                    let (Some(remote), Some(socket)) = (remote, call.rtp.take()) else {
                        call.phase = Phase::Failed;
                        return;
                    };
                    let leg = Leg {
                        id: call.id,
                        socket,
                        remote,
                        ssrc: 0x1000_0000 + call.id as u32,
                        seq: (call.id as u16).wrapping_mul(7),
                        timestamp: (call.id as u32).wrapping_mul(1000),
                        sent: 0,
                        received: 0,
                        last: None,
                        stop_at: now + duration,
                    };
                    let _ =
                        workers[call.id % workers.len()].send(WorkerCommand::Add(Box::new(leg)));
                    call.hangup_at = Some(now + duration + Duration::from_millis(300));
                    let to = resp.headers.get(&HeaderName::To).unwrap_or_default();
                    call.bye = Some(
                        format!(
                            "BYE sip:{num}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={b}-bye;rport\r\n\
                             Max-Forwards: 70\r\nFrom: <sip:load@{local}>;tag={tag}\r\nTo: {to}\r\n\
                             Call-ID: {cid}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
                            num = call.number,
                            target = args.target,
                            b = call.branch,
                            tag = call.from_tag,
                            cid = call.call_id,
                        )
                        .into_bytes(),
                    );
                    call.phase = Phase::Established;
                }
                (Some(Method::Invite), Phase::Established | Phase::Hanging)
                    if (200..300).contains(&resp.status) =>
                {
                    // A retransmitted 200: ACK it again.
                    send_ack(sip, args, local, call, &resp, false);
                }
                (Some(Method::Bye), Phase::Hanging) if resp.status >= 200 => {
                    call.phase = Phase::Done;
                }
                _ => {}
            }
        }
        Message::Request(req) => {
            // The engine may hang up first (RTP timeout): answer its BYE.
            if req.method == Method::Bye {
                let mut ok = Response::to_request(&req, 200);
                ok.headers.set(HeaderName::ContentLength, "0");
                let _ = sip.send_to(&Message::Response(ok).to_bytes(), args.target);
                if let Some(&idx) = req.headers.call_id().and_then(|c| by_call_id.get(c)) {
                    calls[idx].phase = Phase::Done;
                }
            }
        }
    }
}

fn send_ack(
    sip: &UdpSocket,
    args: &Args,
    local: SocketAddr,
    call: &Call,
    resp: &Response,
    failure: bool,
) {
    // The ACK for a failure reuses the INVITE's branch; the one for a 2xx has its own.
    let branch = if failure {
        call.branch.clone()
    } else {
        format!("{}-ack", call.branch)
    };
    let to = resp.headers.get(&HeaderName::To).unwrap_or_default();
    let ack = format!(
        "ACK sip:{num}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:load@{local}>;tag={tag}\r\nTo: {to}\r\n\
         Call-ID: {cid}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        num = call.number,
        target = args.target,
        tag = call.from_tag,
        cid = call.call_id,
    );
    let _ = sip.send_to(ack.as_bytes(), args.target);
}
