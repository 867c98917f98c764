//! # hotline-media — the media core
//!
//! Owns: SDP bodies and the offer/answer rules for audio ([`sdp`], RFC 4566/3264), RTP
//! packets ([`rtp`], RFC 3550), RTCP reports and per-leg reception statistics ([`rtcp`]),
//! call-quality estimates (the E-model, [`quality`]), the G.711 codecs ([`g711`]), G.722 and
//! Opus beside them behind one encoder/decoder API ([`codec`]), fixed-ratio resampling
//! between 8, 16 and 48 kHz ([`resample`]), comfort noise ([`cn`], RFC 3389), DTMF as
//! RTP telephone-events ([`dtmf`], RFC 4733) and as in-band tones ([`inband`]), the adaptive
//! jitter buffer with G.711 loss concealment ([`jitter`]), voice activity detection
//! ([`vad`]), the conference mixer whose roles make listen, whisper and barge ([`mixer`]),
//! crash-safe WAV recording ([`recorder`]), prompts decoded once from WAV, MP3, Ogg Vorbis
//! or FLAC files and cached ([`prompt`]), call-progress tones, beeps and DTMF digits
//! rendered as prompts ([`tone`]) and the per-leg RTP state machine that ties them
//! together ([`session`]).
//!
//! Refuses: SIP of any kind (an SDP body arrives as bytes and leaves as text; which SIP
//! status an [`sdp::SdpError`] becomes is the caller's choice), sockets, clocks, sleeping,
//! threads and tasks. Randomness (SSRCs, initial sequence numbers and timestamps) comes
//! from an RNG the caller injects, so a seed replays a run.
//!
//! ## Time model
//! Everything runs at the telephone rate: 8 kHz ([`CLOCK_RATE`]) audio in 20 ms frames of
//! 160 samples ([`FRAME_SAMPLES`], [`FRAME_DURATION`]); wideband codecs convert at the edge
//! ([`codec`] decodes Opus straight to 8 kHz, [`resample`] does G.722's 16 kHz). State
//! machines are sans-IO: each `handle_*` call takes the current [`std::time::Instant`] from
//! the driver, and results come out through `poll_transmit`, `poll_event` and
//! `poll_timeout` (the next instant the machine wants to be ticked). The driver — a media
//! worker that owns sockets for many sessions and ticks every 20 ms — lives in the
//! `hotline` binary, not here.
//!
//! ## Run loop
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use hotline_media::sdp::{self, LocalMedia, SessionDescription};
//! use hotline_media::session::{MediaEvent, Mode, RtpSession, SessionConfig, TransmitKind};
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! // The SDP offer from an INVITE.
//! let offer = SessionDescription::parse(
//!     b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
//!       m=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
//! )?;
//! let local = LocalMedia::new("192.0.2.1".parse()?, 20000, 42, 1);
//! let answer = sdp::answer(&offer, &local)?; // Err(e) if e.is_negotiation_failure(): 488
//! let audio = answer.audio.ok_or("audio stream disabled")?;
//! let answer_body = answer.sdp.to_string(); // goes into the 200 OK
//! assert!(answer_body.contains("m=audio 20000 RTP/AVP 8 101"));
//!
//! // The driver reads the clock; the session never does.
//! let start = Instant::now();
//! let mut rng = StdRng::seed_from_u64(7);
//! let mut session = RtpSession::new(start, SessionConfig::new(&audio), &mut rng);
//! session.set_mode(start, Mode::Echo);
//!
//! // One turn of the loop: a datagram arrived (here, one A-law packet) ...
//! let mut packet = vec![0x80, 8, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
//! packet.extend_from_slice(&[0xD5; 160]);
//! let peer: SocketAddr = "198.51.100.7:40000".parse()?; // behind NAT: not the SDP address
//! session.handle_packet(start, peer, &packet);
//! // ... or a deadline passed.
//! session.handle_tick(start + Duration::from_millis(20));
//!
//! // Then drain: datagrams first, then events, then the next deadline.
//! let mut sent = 0;
//! while let Some(t) = session.poll_transmit() {
//!     match t.kind {
//!         TransmitKind::Rtp => {
//!             assert_eq!(t.dest, peer); // latched (symmetric RTP)
//!             sent += 1; // rtp_socket.send_to(&t.bytes, t.dest) in a real driver
//!         }
//!         // rtcp_socket.send_to(..), or the RTP socket's when there is none
//!         TransmitKind::Rtcp => {}
//!     }
//!     session.recycle(t.bytes);
//! }
//! while let Some(event) = session.poll_event() {
//!     match event {
//!         MediaEvent::RemoteLatched { addr } => assert_eq!(addr, peer),
//!         MediaEvent::Dtmf { digit, .. } => println!("pressed {digit}"),
//!         _ => {}
//!     }
//! }
//! let wake_at = session.poll_timeout(); // RTP timeout, next prompt frame, RTCP report, ...
//! assert_eq!(sent, 1);
//! assert!(wake_at.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

pub mod cn;
pub mod codec;
pub mod dtmf;
pub mod g711;
pub mod inband;
pub mod jitter;
pub mod mixer;
pub mod prompt;
pub mod quality;
pub mod recorder;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod tone;
pub mod vad;

pub use codec::AudioCodec;
pub use g711::Codec;
pub use prompt::Prompt;
pub use session::{Interrupt, MediaEvent, Mode, RtpSession, SessionConfig, Transmit, TransmitKind};

/// The audio sampling rate and RTP clock rate of every stream here (G.711, telephone-event).
pub const CLOCK_RATE: u32 = 8000;

/// Samples in one 20 ms frame at [`CLOCK_RATE`].
pub const FRAME_SAMPLES: usize = 160;

/// The frame and packet interval.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// One 20 ms frame of 8 kHz mono linear PCM.
pub type Frame = [i16; FRAME_SAMPLES];

/// Any error of this crate, for callers that keep one error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An SDP body could not be parsed or answered.
    #[error(transparent)]
    Sdp(#[from] sdp::SdpError),
    /// A datagram is not usable RTP.
    #[error(transparent)]
    Rtp(#[from] rtp::RtpError),
    /// A telephone-event payload or digit is unusable.
    #[error(transparent)]
    Dtmf(#[from] dtmf::DtmfError),
    /// A prompt file could not be loaded.
    #[error(transparent)]
    Prompt(#[from] prompt::PromptError),
    /// An RTCP packet is unusable.
    #[error(transparent)]
    Rtcp(#[from] rtcp::RtcpError),
    /// A mixer command named an unknown room or participant, or broke a rule.
    #[error(transparent)]
    Mixer(#[from] mixer::MixerError),
    /// A recording could not be written or repaired.
    #[error(transparent)]
    Recorder(#[from] recorder::RecorderError),
    /// A tone could not be made or rendered.
    #[error(transparent)]
    Tone(#[from] tone::ToneError),
    /// An audio frame could not be encoded, decoded or resampled.
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
}
