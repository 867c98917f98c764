//! A session's RTCP: the [`RtcpState`] that keeps the statistics and builds the reports,
//! where reports go, and the [`MediaEvent::Quality`] estimate made from them.

use std::time::{Duration, Instant};

use crate::codec::AudioCodec;
use crate::quality::{Impairment, estimate_mos};
use crate::rtcp::{RtcpConfig, RtcpEvent, RtcpState};

use super::MediaEvent;

/// The shortest report interval a session accepts.
pub const MIN_RTCP_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(super) struct Reports {
    pub(super) state: RtcpState,
    /// Where the peer's RTCP comes from on a separate RTCP socket (symmetric RTCP).
    pub(super) source: Option<std::net::SocketAddr>,
    /// When the last quality event went out.
    last_quality: Option<Instant>,
    /// Reception counts (SSRC, expected, received) when the last quality event went out.
    base: Option<(u32, u64, u64)>,
}

impl Reports {
    pub(super) fn new<R: rand::RngCore + ?Sized>(
        now: Instant,
        ntp: u64,
        ssrc: u32,
        cname: String,
        interval: Duration,
        clock_rate: u32,
        rng: &mut R,
    ) -> Self {
        let config = RtcpConfig {
            interval: interval.max(MIN_RTCP_INTERVAL),
            clock_rate,
            ..RtcpConfig::new(ssrc, cname)
        };
        Reports {
            state: RtcpState::new(now, ntp, config, rng),
            source: None,
            last_quality: None,
            base: None,
        }
    }

    /// Reads one RTCP datagram from the peer; true when it carried a report on our
    /// stream.
    pub(super) fn receive(&mut self, now: Instant, bytes: &[u8]) -> bool {
        // A partly unreadable compound packet is used as far as it goes; the state counts
        // the malformed ones.
        let _ = self.state.handle_rtcp(now, bytes);
        let mut report = false;
        while let Some(event) = self.state.poll_event() {
            report |= matches!(event, RtcpEvent::RemoteReport(_));
        }
        report
    }

    /// Sends our report if it is due; true when one went out.
    pub(super) fn handle_timeout(&mut self, now: Instant) -> bool {
        let before = self.state.stats().reports_sent;
        self.state.handle_timeout(now);
        self.state.stats().reports_sent != before
    }

    /// The quality event for a report that arrived or went out at `now`, unless one went
    /// out less than a report interval ago.
    pub(super) fn quality_at(
        &mut self,
        now: Instant,
        codec: AudioCodec,
        playout_delay: Duration,
    ) -> Option<MediaEvent> {
        let interval = self.state.config().interval;
        if self
            .last_quality
            .is_some_and(|t| now.saturating_duration_since(t) < interval)
        {
            return None;
        }
        let event = self.quality(codec, playout_delay)?;
        self.last_quality = Some(now);
        Some(event)
    }

    /// Our view of the peer's stream since the last quality event: `None` before it is
    /// valid (two packets in sequence).
    fn quality(&mut self, codec: AudioCodec, playout_delay: Duration) -> Option<MediaEvent> {
        let rx = self.state.reception()?;
        let (expected0, received0) = match self.base {
            Some((ssrc, e, r)) if ssrc == rx.ssrc && e <= rx.expected && r <= rx.received => (e, r),
            _ => (0, 0),
        };
        self.base = Some((rx.ssrc, rx.expected, rx.received));
        let expected = rx.expected - expected0;
        let received = rx.received - received0;
        // Duplicates count as received, so more can arrive than were expected.
        let loss_fraction = if expected == 0 {
            0.0
        } else {
            expected.saturating_sub(received) as f32 / expected as f32
        };
        let rtt = self.state.rtt();
        let mos = estimate_mos(
            Impairment::for_audio_codec(codec, true),
            loss_fraction,
            rtt.unwrap_or_default(),
            playout_delay,
        );
        Some(MediaEvent::Quality {
            mos,
            loss_fraction,
            jitter_ms: rx.jitter.as_secs_f32() * 1000.0,
            rtt_ms: rtt.map(|d| d.as_secs_f32() * 1000.0),
        })
    }
}
