//! The call controller: one tokio task per call, owning that call's media.
//!
//! The task negotiates SDP, binds the call's RTP socket, runs the sans-IO
//! [`RtpSession`] (20 ms ticks with time passed in) and reports digits as call events. A
//! number that rings first gets early media (unless `media.early_media` is off): the
//! session goes to a media worker at the 183, playing the configured ringback tone, and
//! switches to the number's treatment when the call is answered. It
//! talks to the signalling core only through channels: [`CallCommand`]s go up (answer, reject,
//! hang up), [`CallEvent`]s come down (ACK arrived, re-offer, ended, shutdown). The task ends
//! when the core says the call has ended, so no task outlives its call.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use hotline_media::sdp::{self, LocalMedia, SessionDescription};
use hotline_media::session::AfterPlay;
use hotline_media::tone::{CallProgress, Country, ToneLength};
use hotline_media::{
    AudioCodec, FRAME_SAMPLES, MediaEvent, Mode, Prompt, RtpSession, SessionConfig,
};
use hotline_sip::ua::{CallId, EndReason};

use crate::config::{Config, EMBEDDED_PROMPTS, Number, Recording, Route};
use crate::logging::Redact;
use crate::media::{
    MediaWorkers, RecordingAction, RecordingReply, RoomRecording, RoomSpec, SessionHandle,
};
use crate::metrics::Metrics;

/// What a call task asks of the signalling core.
#[derive(Debug)]
pub enum CallCommand {
    /// 200 OK with this SDP answer (after `EarlyMedia`, the same one).
    Answer { sdp: Bytes },
    /// A final failure response.
    Reject { status: u16 },
    /// 180 Ringing.
    Ringing,
    /// 183 Session Progress with this SDP answer: early media (ringback) flows from now.
    EarlyMedia { sdp: Bytes },
    /// BYE (or 480 before answer).
    Hangup,
}

/// What the signalling core tells a call task.
#[derive(Debug)]
pub enum CallEvent {
    /// The ACK for our 200 arrived.
    Confirmed,
    /// A re-INVITE brought a new offer (already answered with our SDP).
    ReOffer { sdp: Bytes },
    /// The call is over.
    Ended { reason: EndReason },
    /// The engine is stopping; the core is already hanging the call up.
    Shutdown,
    /// Pause or resume the recording of the call's room (the media worker answers on
    /// `reply`; a call not in a room yet drops it).
    Recording {
        action: RecordingAction,
        reply: RecordingReply,
    },
}

/// Everything a call task starts with.
pub struct CallSetup {
    pub call: CallId,
    pub number: String,
    pub treatment: Number,
    pub caller: String,
    pub offer: Bytes,
    pub peer_addr: SocketAddr,
    pub cfg: Arc<Config>,
    pub ports: Arc<RtpPorts>,
    pub media: MediaWorkers,
    pub metrics: Metrics,
    pub commands: mpsc::Sender<(CallId, CallCommand)>,
    pub events: mpsc::Receiver<CallEvent>,
}

/// Hands out RTP ports from the configured range without a lock: a rotating cursor over the
/// even ports, and the kernel tells us which are free when we bind.
pub struct RtpPorts {
    low: u16,
    count: u32,
    cursor: AtomicU32,
}

impl RtpPorts {
    pub fn new((low, high): (u16, u16)) -> RtpPorts {
        let low = low + (low % 2);
        RtpPorts {
            low,
            count: (u32::from(high.saturating_sub(low)) / 2).max(1),
            cursor: AtomicU32::new(0),
        }
    }

    /// Bind an even RTP port and the RTCP port above it on `ip`, trying each pair of the
    /// range at most once.
    pub fn bind_pair(&self, ip: IpAddr) -> std::io::Result<(UdpSocket, UdpSocket)> {
        let mut last = None;
        for _ in 0..self.count {
            let slot = self.cursor.fetch_add(1, Ordering::Relaxed) % self.count;
            let port = u32::from(self.low) + slot * 2;
            let Ok(port) = u16::try_from(port) else {
                continue;
            };
            let Some(rtcp_port) = port.checked_add(1) else {
                continue;
            };
            match UdpSocket::bind((ip, port))
                .and_then(|rtp| UdpSocket::bind((ip, rtcp_port)).map(|rtcp| (rtp, rtcp)))
            {
                Ok(pair) => return Ok(pair),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("RTP port range exhausted")))
    }
}

/// Keeps `calls_active` right however the task ends.
struct ActiveGuard(Metrics);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.calls_active.dec();
    }
}

/// Asks the core to hang up if the task stops before the call has ended (a panic in the
/// controller): no call outlives its controller.
struct HangupOnDrop {
    call: CallId,
    commands: mpsc::Sender<(CallId, CallCommand)>,
    armed: bool,
}

impl Drop for HangupOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.commands.try_send((self.call, CallCommand::Hangup));
        }
    }
}

/// Run one call to its end.
pub async fn run(setup: CallSetup) {
    setup.metrics.calls_active.inc();
    let _active = ActiveGuard(setup.metrics.clone());
    let mut guard = HangupOnDrop {
        call: setup.call,
        commands: setup.commands.clone(),
        armed: true,
    };
    control(setup).await;
    // `control` returns only once the core has said the call ended.
    guard.armed = false;
}

async fn control(mut setup: CallSetup) {
    info!(
        number = %setup.number,
        caller = %Redact(&setup.caller),
        peer = %Redact(setup.peer_addr),
        "incoming call"
    );
    let call = setup.call;
    let commands = setup.commands.clone();
    let send = |command: CallCommand| {
        let commands = commands.clone();
        async move {
            // The core outlives every call task; a failed send means it is shutting down.
            let _ = commands.send((call, command)).await;
        }
    };

    let offer = match SessionDescription::parse(&setup.offer) {
        Ok(o) => o,
        Err(e) => {
            // INVITEs without an offer (late offer) are not supported yet.
            info!(error = %e, "unusable SDP offer: 488");
            send(CallCommand::Reject { status: 488 }).await;
            return wait_end(&mut setup.events).await;
        }
    };
    let (socket, rtcp_socket) = match setup.ports.bind_pair(setup.cfg.media_address) {
        Ok(pair) => pair,
        Err(e) => {
            warn!(error = %e, "no RTP port available: 503");
            send(CallCommand::Reject { status: 503 }).await;
            return wait_end(&mut setup.events).await;
        }
    };
    let local_port = match socket.local_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            warn!(error = %e, "RTP socket has no address: 500");
            send(CallCommand::Reject { status: 500 }).await;
            return wait_end(&mut setup.events).await;
        }
    };
    let mut rng = StdRng::from_os_rng();
    let session_id: u64 = rng.random_range(1..=u64::from(u32::MAX));
    let local = local_media(
        &setup.cfg.codecs,
        setup.cfg.media_address,
        local_port,
        session_id,
    );
    let answer = match sdp::answer(&offer, &local) {
        Ok(a) => a,
        Err(e) => {
            info!(error = %e, "SDP negotiation failed: 488");
            send(CallCommand::Reject { status: 488 }).await;
            return wait_end(&mut setup.events).await;
        }
    };
    let Some(audio) = answer.audio else {
        info!("offer has no usable audio stream: 488");
        send(CallCommand::Reject { status: 488 }).await;
        return wait_end(&mut setup.events).await;
    };
    let ring = Duration::from_secs(setup.treatment.ring_secs);
    let early = !ring.is_zero() && setup.cfg.early_media;
    let mut config = SessionConfig::new(&audio);
    config.rtp_timeout = Duration::from_secs(setup.cfg.rtp_timeout_secs);
    // Many phones send no RTP before the 200: with early media the wait for a first packet
    // starts at the 183, so it is longer by the ringing time.
    config.initial_rtp_timeout = Duration::from_secs(setup.cfg.rtp_timeout_secs * 2)
        + if early { ring } else { Duration::ZERO };
    // Trunks without RFC 4733 send DTMF as tones in the audio (heard at 8 kHz, whatever
    // the codec).
    config.inband_dtmf = audio.dtmf_payload_type.is_none();
    config.ntp_at_start = ntp_now();
    let session = RtpSession::new(Instant::now(), config, &mut rng);
    // Handed to a media worker at the 183 with early media, else at the answer.
    let mut unplaced = Some((socket, rtcp_socket, session));

    let mut room = None;
    let mode = match &setup.treatment.route {
        Route::Echo => Mode::Echo,
        Route::Conference { room: name, record } => {
            room = Some(RoomSpec {
                name: room_name(name.as_deref(), &setup.number),
                record: match record {
                    Recording::None => None,
                    Recording::Mono | Recording::Stereo => Some(RoomRecording {
                        dir: setup.cfg.data_dir.join("recordings"),
                        stereo: *record == Recording::Stereo,
                    }),
                },
            });
            // The worker switches the session to mixing when it joins the room.
            Mode::Mix
        }
        Route::Play { prompt } => match load_prompt(prompt) {
            Some(prompt) => Mode::Play {
                frames: prompt,
                then: AfterPlay::Done,
                barge_in: false,
            },
            None => {
                warn!(%prompt, "prompt cannot be loaded: 500");
                send(CallCommand::Reject { status: 500 }).await;
                return wait_end(&mut setup.events).await;
            }
        },
    };
    let answer_sdp = Bytes::from(answer.sdp.to_string());
    let (media_tx, mut media_rx) = mpsc::channel(32);

    // Ringing. With early media (RFC 3960 practice): 183 Session Progress with the SDP
    // answer and our own ringback tone on the RTP session, and no 180 at all — a 180 after
    // the 183 makes some phones switch to their local ringback and mute ours. Without it:
    // a plain 180, and the phone's own ringback.
    let mut media = None;
    if !ring.is_zero() {
        if let Some((socket, rtcp_socket, mut session)) = unplaced.take_if(|_| early) {
            session.set_mode(
                Instant::now(),
                Mode::Play {
                    frames: ringback(setup.cfg.ringback),
                    then: AfterPlay::Repeat,
                    barge_in: false,
                },
            );
            // The session is placed first: if no worker takes it, no answer has been given
            // and the call ends with 480.
            let placed = setup.media.add_waiting(
                socket,
                Some(rtcp_socket),
                session,
                media_tx.clone(),
                room.clone(),
            );
            let handle = match placed {
                Ok(h) => h,
                Err(e) => {
                    warn!(error = %e, "media worker unavailable: hanging up");
                    send(CallCommand::Hangup).await;
                    return wait_end(&mut setup.events).await;
                }
            };
            media = Some(RemoveOnDrop {
                media: setup.media.clone(),
                handle,
            });
            send(CallCommand::EarlyMedia {
                sdp: answer_sdp.clone(),
            })
            .await;
            info!(
                ringback = ?setup.cfg.ringback,
                local_rtp = local_port,
                "ringing with early media"
            );
        } else {
            send(CallCommand::Ringing).await;
        }
        let ring = tokio::time::sleep(ring);
        tokio::pin!(ring);
        loop {
            tokio::select! {
                _ = &mut ring => break,
                ev = setup.events.recv() => match ev {
                    Some(CallEvent::Ended { reason }) => {
                        info!(?reason, "call ended while ringing");
                        return;
                    }
                    None => return,
                    Some(_) => {}
                },
                Some(event) = media_rx.recv(), if media.is_some() => {
                    if on_media(event, &setup.metrics) {
                        send(CallCommand::Hangup).await;
                        return wait_end(&mut setup.events).await;
                    }
                }
            }
        }
    }
    // With early media the 200 repeats the 183's SDP (RFC 3264: the answer is given).
    send(CallCommand::Answer { sdp: answer_sdp }).await;
    info!(
        codec = %audio.audio_codec.encoding_name(),
        remote_rtp = %Redact(audio.remote),
        local_rtp = local_port,
        "call answered"
    );
    let media = match (media, unplaced) {
        // The ringback stops; a room is joined now.
        (Some(m), _) => {
            if room.is_some() {
                setup.media.join(m.handle);
            } else {
                setup.media.set_mode(m.handle, Mode::Silence);
            }
            m
        }
        (None, Some((socket, rtcp_socket, session))) => {
            match setup
                .media
                .add(socket, Some(rtcp_socket), session, media_tx, room)
            {
                Ok(handle) => RemoveOnDrop {
                    media: setup.media.clone(),
                    handle,
                },
                Err(e) => {
                    warn!(error = %e, "media worker unavailable: hanging up");
                    send(CallCommand::Hangup).await;
                    return wait_end(&mut setup.events).await;
                }
            }
        }
        // The session is either on a worker or still here; never neither.
        (None, None) => {
            send(CallCommand::Hangup).await;
            return wait_end(&mut setup.events).await;
        }
    };
    let handle = media.handle;
    // Media starts at once for an echo; a prompt waits for the ACK so the caller hears it
    // from the start.
    let mut pending_mode = match mode {
        Mode::Mix => None,
        Mode::Echo => {
            setup.media.set_mode(handle, Mode::Echo);
            None
        }
        other => Some(other),
    };
    let mut hung_up = false;
    loop {
        tokio::select! {
            ev = setup.events.recv() => match ev {
                Some(CallEvent::Confirmed) => {
                    if let Some(m) = pending_mode.take() {
                        setup.media.set_mode(handle, m);
                    }
                }
                Some(CallEvent::ReOffer { sdp }) => {
                    debug!(len = sdp.len(), "re-offer received; media unchanged");
                }
                Some(CallEvent::Shutdown) => hung_up = true,
                Some(CallEvent::Recording { action, reply }) => {
                    setup.media.control_recording(handle, action, reply);
                }
                Some(CallEvent::Ended { reason }) => {
                    info!(?reason, "call ended");
                    return;
                }
                None => return,
            },
            Some(event) = media_rx.recv() => {
                if on_media(event, &setup.metrics) && !hung_up {
                    hung_up = true;
                    send(CallCommand::Hangup).await;
                }
            }
        }
    }
}

/// The room a conference number joins: the configured one, else the dialled number.
pub fn room_name(configured: Option<&str>, number: &str) -> String {
    configured.unwrap_or(number).to_owned()
}

/// Logs and counts a media event; true when it ends the call (the prompt is over, or no
/// RTP comes).
fn on_media(event: MediaEvent, metrics: &Metrics) -> bool {
    match event {
        MediaEvent::Dtmf { digit, duration_ms } => {
            metrics.dtmf_digits.inc();
            info!(%digit, duration_ms, "dtmf");
        }
        MediaEvent::PlaybackDone => {
            info!("prompt played: hanging up");
            return true;
        }
        MediaEvent::PlaybackInterrupted { by, played_ms } => {
            info!(?by, played_ms, "prompt interrupted: hanging up");
            return true;
        }
        MediaEvent::RtpTimeout => {
            info!("no RTP: hanging up");
            return true;
        }
        MediaEvent::RemoteLatched { addr } => {
            debug!(addr = %Redact(addr), "rtp latched");
        }
        MediaEvent::Quality {
            mos,
            loss_fraction,
            jitter_ms,
            rtt_ms,
        } => {
            info!(
                mos,
                loss_pct = loss_fraction * 100.0,
                jitter_ms,
                rtt_ms,
                "call quality"
            );
            metrics.observe_mos(mos);
        }
        MediaEvent::SpeechStart => debug!("caller speaking"),
        MediaEvent::SpeechEnd { duration_ms } => debug!(duration_ms, "caller silent"),
        _ => {}
    }
    false
}

/// One cadence period of `country`'s ringback tone, played round and round.
fn ringback(country: Country) -> Prompt {
    // Every plan's ringback is a valid tone of a few seconds; should rendering ever fail,
    // the caller hears silence rather than losing the call.
    country
        .tone(CallProgress::Ringback)
        .prompt(ToneLength::Periods(1))
        .unwrap_or_else(|_| Prompt::from_samples(&[0; FRAME_SAMPLES]))
}
/// Takes the session off its media worker however the call task ends.
struct RemoveOnDrop {
    media: MediaWorkers,
    handle: SessionHandle,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        self.media.remove(self.handle);
    }
}

async fn wait_end(events: &mut mpsc::Receiver<CallEvent>) {
    while let Some(ev) = events.recv().await {
        if let CallEvent::Ended { .. } = ev {
            return;
        }
    }
}

/// Now as a 64-bit NTP timestamp (RFC 3550 §4), for RTCP sender reports.
fn ntp_now() -> u64 {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hotline_media::rtcp::duration_to_ntp(
        since_unix + Duration::from_secs(hotline_media::rtcp::NTP_UNIX_OFFSET_SECS),
    )
}

/// What we accept in an answer: the configured codecs (G.711 laws as G.711, the rest as
/// extras), telephone-event and comfort noise. `sdp::answer` follows the offerer's order.
fn local_media(codecs: &[AudioCodec], addr: IpAddr, port: u16, session_id: u64) -> LocalMedia {
    LocalMedia {
        codecs: codecs.iter().filter_map(|c| c.g711()).collect(),
        extra_codecs: codecs
            .iter()
            .copied()
            .filter(|c| c.g711().is_none())
            .collect(),
        telephone_event: true,
        comfort_noise: true,
        ..LocalMedia::new(addr, port, session_id, session_id)
    }
}

fn load_prompt(name: &str) -> Option<Prompt> {
    let (_, bytes) = EMBEDDED_PROMPTS.iter().find(|(n, _)| *n == name)?;
    Prompt::from_wav(Cursor::new(*bytes)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_CODECS;

    fn answer(codecs: &[AudioCodec], formats: &str, maps: &str) -> Option<AudioCodec> {
        let offer = format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP {formats}\r\n{maps}"
        );
        let offer = SessionDescription::parse(offer.as_bytes()).unwrap();
        let local = local_media(codecs, IpAddr::from([127, 0, 0, 1]), 20000, 7);
        sdp::answer(&offer, &local)
            .ok()
            .and_then(|a| a.audio)
            .map(|a| a.audio_codec)
    }

    #[test]
    fn the_answer_follows_the_offer_among_the_configured_codecs() {
        let opus = "a=rtpmap:111 opus/48000/2\r\n";
        // The default list: a G.711-first phone keeps G.711; a wideband-first one gets it.
        assert_eq!(answer(&DEFAULT_CODECS, "0 9", ""), Some(AudioCodec::Pcmu));
        assert_eq!(answer(&DEFAULT_CODECS, "8 0", ""), Some(AudioCodec::Pcma));
        assert_eq!(answer(&DEFAULT_CODECS, "9 0", ""), Some(AudioCodec::G722));
        assert_eq!(
            answer(&DEFAULT_CODECS, "111 0", opus),
            Some(AudioCodec::Opus)
        );
        // Only what is configured.
        assert_eq!(
            answer(&[AudioCodec::Pcmu], "111 9 0", opus),
            Some(AudioCodec::Pcmu)
        );
        assert_eq!(answer(&[AudioCodec::Opus], "9 0", ""), None);
    }

    #[test]
    fn every_ringback_is_one_whole_cadence_period_so_it_repeats_seamlessly() {
        for country in [Country::Us, Country::Uk, Country::Eu] {
            let period = country.tone(CallProgress::Ringback).period().unwrap();
            let prompt = ringback(country);
            assert_eq!(
                prompt.len() as u128 * hotline_media::FRAME_DURATION.as_millis(),
                period.as_millis(),
                "{country:?}"
            );
            // It starts with the tone (a caller hears ringing at once) and ends silent.
            let frames = prompt.frames();
            assert!(frames[1].iter().any(|&x| x.abs() > 1000), "{country:?}");
            assert!(
                frames[frames.len() - 1].iter().all(|&x| x == 0),
                "{country:?}"
            );
        }
    }

    #[test]
    fn telephone_event_and_comfort_noise_go_with_the_codec_clock() {
        let offer = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
              m=audio 40000 RTP/AVP 111 101 13\r\na=rtpmap:111 opus/48000/2\r\n\
              a=rtpmap:101 telephone-event/48000\r\n",
        )
        .unwrap();
        let local = local_media(&DEFAULT_CODECS, IpAddr::from([127, 0, 0, 1]), 20000, 7);
        let answer = sdp::answer(&offer, &local).unwrap();
        let audio = answer.audio.unwrap();
        assert_eq!(audio.audio_codec, AudioCodec::Opus);
        assert_eq!(audio.dtmf_payload_type, Some(101));
        // CN/8000 (payload 13) does not go with a 48 kHz codec.
        assert_eq!(audio.cn_payload_type, None);
        let body = answer.sdp.to_string();
        assert!(
            body.contains("a=rtpmap:101 telephone-event/48000"),
            "{body}"
        );
        let config = SessionConfig::new(&audio);
        assert_eq!(config.codec, AudioCodec::Opus);
    }
}
