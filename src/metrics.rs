//! Prometheus metrics, served at `GET /metrics` on the HTTP port.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of a SIP message counter. Requests carry their method and `status=""`; responses
/// carry the CSeq method and their status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SipLabels {
    pub direction: Direction,
    pub method: String,
    pub status: String,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl prometheus_client::encoding::EncodeLabelValue for Direction {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(match self {
            Direction::In => "in",
            Direction::Out => "out",
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabels {
    pub transport: &'static str,
}

/// Every metric the engine exports. Cheap to clone (the metrics are shared handles).
#[derive(Clone)]
pub struct Metrics {
    pub calls_active: Gauge,
    pub calls_total: Counter,
    pub sip_messages: Family<SipLabels, Counter>,
    pub sip_parse_errors: Family<TransportLabels, Counter>,
    pub tcp_connections_active: Gauge,
    pub tcp_connections_refused: Counter,
    pub dtmf_digits: Counter,
    pub rtp_packets_in: Counter,
    pub rtp_packets_out: Counter,
    /// Estimated MOS (E-model) of call legs, sampled at each RTCP report.
    pub call_mos: Histogram,
    registry: std::sync::Arc<Registry>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hotline");
        let calls_active = Gauge::default();
        let calls_total = Counter::default();
        let sip_messages = Family::<SipLabels, Counter>::default();
        let sip_parse_errors = Family::<TransportLabels, Counter>::default();
        let tcp_connections_active = Gauge::default();
        let tcp_connections_refused = Counter::default();
        let dtmf_digits = Counter::default();
        let rtp_packets_in = Counter::default();
        let rtp_packets_out = Counter::default();
        let call_mos = Histogram::new([1.0, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.4, 4.5]);
        // Known series start at zero, so dashboards and alerts see them before the first event.
        for transport in ["udp", "tcp"] {
            let _ = sip_parse_errors
                .get_or_create(&TransportLabels { transport })
                .get();
        }
        registry.register("calls_active", "Calls in progress", calls_active.clone());
        registry.register("calls", "Calls accepted since start", calls_total.clone());
        registry.register(
            "sip_messages",
            "SIP messages received and sent, by method and status",
            sip_messages.clone(),
        );
        registry.register(
            "sip_parse_errors",
            "SIP messages that could not be parsed",
            sip_parse_errors.clone(),
        );
        registry.register(
            "sip_tcp_connections_active",
            "Open SIP TCP connections",
            tcp_connections_active.clone(),
        );
        registry.register(
            "sip_tcp_connections_refused",
            "SIP TCP connections refused at the connection limit",
            tcp_connections_refused.clone(),
        );
        registry.register("dtmf_digits", "DTMF digits received", dtmf_digits.clone());
        registry.register(
            "rtp_packets_received",
            "RTP packets received",
            rtp_packets_in.clone(),
        );
        registry.register(
            "rtp_packets_sent",
            "RTP packets sent",
            rtp_packets_out.clone(),
        );
        registry.register(
            "call_mos",
            "Estimated MOS of call legs (ITU-T G.107 E-model), per RTCP report",
            call_mos.clone(),
        );
        Metrics {
            calls_active,
            calls_total,
            sip_messages,
            sip_parse_errors,
            tcp_connections_active,
            tcp_connections_refused,
            dtmf_digits,
            rtp_packets_in,
            rtp_packets_out,
            call_mos,
            registry: std::sync::Arc::new(registry),
        }
    }

    /// Count one SIP message.
    pub fn sip(&self, direction: Direction, method: &str, status: Option<u16>) {
        self.sip_messages
            .get_or_create(&SipLabels {
                direction,
                method: bounded_method(method).to_owned(),
                status: status.map(|s| s.to_string()).unwrap_or_default(),
            })
            .inc();
    }

    /// Record one MOS estimate.
    pub fn observe_mos(&self, mos: f32) {
        self.call_mos.observe(f64::from(mos));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("encoding metrics into a String");
        out
    }
}

/// Extension methods are attacker-chosen text: fold them into one label value so a scanner
/// cannot grow the metric families without bound.
fn bounded_method(method: &str) -> &str {
    const KNOWN: &[&str] = &[
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    ];
    if KNOWN.contains(&method) {
        method
    } else {
        "other"
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
