//! Client transactions (RFC 3261 §17.1, RFC 6026 §7.2): state paths and timers A, B, D, E, F,
//! K, M at their exact instants, over simulated time.

mod transaction_support;

use hotline_sip::message::{HeaderName, Message, Method};
use hotline_sip::transaction::{
    Peer, Timers, TransactionError, TransactionEvent, TransactionLayer, Transport, TxKey, TxState,
};
use transaction_support::*;

fn layer() -> TransactionLayer {
    TransactionLayer::new(Timers::default())
}

fn start(layer: &mut TransactionLayer, method: &str, transport: Transport) -> (TxKey, Peer) {
    let peer = uas_peer(transport);
    let req = request(method, "z9hG4bKclient1", 1, transport);
    let key = layer.send_request(at(0), peer, req).expect("valid request");
    let out = drain(layer);
    assert_eq!(out.transmits.len(), 1, "the request goes out at once");
    assert_eq!(out.transmits[0].peer, peer);
    assert_eq!(out.transmits[0].key, Some(key));
    (key, peer)
}

/// Deliver a response built from the request the client sent.
fn respond(layer: &mut TransactionLayer, now_ms: u64, method: &str, status: u16) -> Drained {
    let req = request(method, "z9hG4bKclient1", 1, Transport::Udp);
    let tag = (status > 100).then_some("b1");
    let resp = response(&req, status, tag);
    layer.handle_incoming(
        at(now_ms),
        uas_peer(Transport::Udp),
        wire(&Message::Response(resp)),
    );
    drain(layer)
}

#[test]
fn timer_a_doubles_without_cap_and_timer_b_fires_at_64_t1() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "INVITE", Transport::Udp);
    assert_eq!(layer.state(&key), Some(TxState::Calling));
    assert_eq!(layer.poll_timeout(), Some(at(500)));

    let fired = run_until(&mut layer, at(40_000));
    assert_eq!(
        transmit_times(&fired),
        [500, 1_500, 3_500, 7_500, 15_500, 31_500],
        "Timer A: T1, 2·T1, 4·T1, ... (no T2 cap for INVITE)"
    );
    let timeout: Vec<u64> = fired
        .iter()
        .filter(|f| f.out.has_timeout())
        .map(|f| f.at_ms)
        .collect();
    assert_eq!(timeout, [32_000], "Timer B = 64·T1");
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
}

#[test]
fn timer_b_not_before_32_s() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "INVITE", Transport::Udp);
    layer.handle_timeout(at(31_999));
    let out = drain(&mut layer);
    assert!(!out.has_timeout());
    assert_eq!(layer.state(&key), Some(TxState::Calling));
    layer.handle_timeout(at(32_000));
    let out = drain(&mut layer);
    assert_eq!(
        out.events,
        [
            TransactionEvent::Timeout { key },
            TransactionEvent::Terminated { key }
        ]
    );
    assert_eq!(layer.state(&key), None);
}

#[test]
fn invite_over_tcp_has_no_timer_a_but_timer_b() {
    let mut layer = layer();
    let (_, _) = start(&mut layer, "INVITE", Transport::Tcp);
    assert_eq!(layer.poll_timeout(), Some(at(32_000)));
    let fired = run_until(&mut layer, at(40_000));
    assert_eq!(fired.len(), 1);
    assert!(fired[0].out.transmits.is_empty());
    assert!(fired[0].out.has_timeout());
}

#[test]
fn provisional_stops_timers_a_and_b() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "INVITE", Transport::Udp);
    let out = respond(&mut layer, 200, "INVITE", 180);
    assert_eq!(out.response_events(), [180]);
    assert_eq!(layer.state(&key), Some(TxState::Proceeding));
    assert_eq!(layer.poll_timeout(), None, "no timer runs in Proceeding");
    let out = respond(&mut layer, 300, "INVITE", 183);
    assert_eq!(out.response_events(), [183], "every provisional goes up");
}

#[test]
fn failure_is_acked_and_timer_d_is_32_s_over_udp() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "INVITE", Transport::Udp);
    respond(&mut layer, 100, "INVITE", 180);
    let out = respond(&mut layer, 1_000, "INVITE", 486);
    assert_eq!(out.response_events(), [486]);
    assert_eq!(layer.state(&key), Some(TxState::Completed));

    // The ACK: same branch and Request-URI, To of the response, CSeq 1 ACK, one Via.
    let acks = out.requests();
    assert_eq!(acks.len(), 1);
    let ack = acks[0];
    let invite = request("INVITE", "z9hG4bKclient1", 1, Transport::Udp);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, invite.uri);
    assert_eq!(ack.headers.vias().len(), 1);
    assert_eq!(
        ack.headers.top_via().unwrap().branch(),
        Some("z9hG4bKclient1")
    );
    assert_eq!(ack.headers.to().unwrap().tag(), Some("b1"));
    assert_eq!(ack.headers.from().unwrap().tag(), Some("a1"));
    assert_eq!(ack.headers.call_id(), invite.headers.call_id());
    let cseq = ack.headers.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (1, Method::Ack));
    assert_eq!(out.transmits[0].peer, uas_peer(Transport::Udp));

    // A retransmitted 486 is absorbed: the ACK goes again, the TU hears nothing.
    let out = respond(&mut layer, 2_000, "INVITE", 486);
    assert!(out.events.is_empty());
    assert_eq!(out.requests().len(), 1);
    assert_eq!(out.requests()[0].method, Method::Ack);

    // Timer D: 32 s after the first 486.
    layer.handle_timeout(at(32_999));
    assert!(drain(&mut layer).events.is_empty());
    layer.handle_timeout(at(33_000));
    assert_eq!(
        drain(&mut layer).events,
        [TransactionEvent::Terminated { key }]
    );
}

#[test]
fn timer_d_is_zero_over_tcp() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "INVITE", Transport::Tcp);
    let out = respond(&mut layer, 1_000, "INVITE", 603);
    assert_eq!(out.requests()[0].method, Method::Ack);
    assert_eq!(layer.poll_timeout(), Some(at(1_000)));
    layer.handle_timeout(at(1_000));
    assert_eq!(
        drain(&mut layer).events,
        [TransactionEvent::Terminated { key }]
    );
}

#[test]
fn ack_copies_route_headers() {
    let mut layer = layer();
    let invite = request_with(
        "INVITE",
        "z9hG4bKroute",
        7,
        Transport::Udp,
        "Route: <sip:p1.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>\r\n",
    );
    layer
        .send_request(at(0), uas_peer(Transport::Udp), invite.clone())
        .unwrap();
    drain(&mut layer);
    let resp = response(&invite, 404, Some("x"));
    layer.handle_incoming(
        at(10),
        uas_peer(Transport::Udp),
        wire(&Message::Response(resp)),
    );
    let out = drain(&mut layer);
    let ack = out.requests()[0].clone();
    assert_eq!(ack.headers.routes(), invite.headers.routes());
    assert_eq!(ack.headers.routes().len(), 2);
    assert_eq!(ack.headers.cseq().unwrap().seq, 7);
    // And it survives the wire.
    let Message::Request(parsed) = wire(&Message::Request(ack.clone())) else {
        panic!("a request")
    };
    assert_eq!(parsed.headers.routes(), ack.headers.routes());
    assert_eq!(parsed.headers.to(), ack.headers.to());
}

#[test]
fn two_xx_moves_to_accepted_and_timer_m_passes_retransmissions_up() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "INVITE", Transport::Udp);
    let out = respond(&mut layer, 1_000, "INVITE", 200);
    assert_eq!(out.response_events(), [200]);
    assert!(out.transmits.is_empty(), "the 2xx ACK is the TU's job");
    assert_eq!(layer.state(&key), Some(TxState::Accepted));
    assert_eq!(layer.poll_timeout(), Some(at(33_000)), "Timer M = 64·T1");

    let out = respond(&mut layer, 1_500, "INVITE", 200);
    assert_eq!(
        out.response_events(),
        [200],
        "2xx retransmission reaches the TU"
    );
    assert!(out.transmits.is_empty());

    layer.handle_timeout(at(32_999));
    assert!(drain(&mut layer).events.is_empty());
    layer.handle_timeout(at(33_000));
    assert_eq!(
        drain(&mut layer).events,
        [TransactionEvent::Terminated { key }]
    );
    // After Timer M a 2xx matches nothing.
    let out = respond(&mut layer, 34_000, "INVITE", 200);
    assert!(matches!(
        out.events[..],
        [TransactionEvent::StrayResponse { .. }]
    ));
}

#[test]
fn timer_e_doubles_to_t2_and_timer_f_fires_at_64_t1() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "OPTIONS", Transport::Udp);
    assert_eq!(layer.state(&key), Some(TxState::Trying));
    let fired = run_until(&mut layer, at(40_000));
    assert_eq!(
        transmit_times(&fired),
        [
            500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
        ],
        "Timer E: T1, 2·T1, 4·T1, then T2"
    );
    let timeouts: Vec<u64> = fired
        .iter()
        .filter(|f| f.out.has_timeout())
        .map(|f| f.at_ms)
        .collect();
    assert_eq!(timeouts, [32_000], "Timer F = 64·T1");
    assert!(layer.is_empty());
}

#[test]
fn timer_f_not_before_32_s() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "BYE", Transport::Udp);
    layer.handle_timeout(at(31_999));
    assert!(!drain(&mut layer).has_timeout());
    layer.handle_timeout(at(32_000));
    assert_eq!(
        drain(&mut layer).events,
        [
            TransactionEvent::Timeout { key },
            TransactionEvent::Terminated { key }
        ]
    );
}

#[test]
fn timer_e_is_t2_in_proceeding() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "OPTIONS", Transport::Udp);
    let out = respond(&mut layer, 200, "OPTIONS", 100);
    assert_eq!(out.response_events(), [100]);
    assert_eq!(layer.state(&key), Some(TxState::Proceeding));
    let fired = run_until(&mut layer, at(40_000));
    assert_eq!(
        transmit_times(&fired),
        [500, 4_500, 8_500, 12_500, 16_500, 20_500, 24_500, 28_500],
        "in Proceeding Timer E is reset to T2"
    );
    assert!(fired.last().unwrap().out.has_timeout());
    assert_eq!(fired.last().unwrap().at_ms, 32_000);
}

#[test]
fn final_response_and_timer_k_over_udp_and_tcp() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "OPTIONS", Transport::Udp);
    let out = respond(&mut layer, 1_000, "OPTIONS", 200);
    assert_eq!(out.response_events(), [200]);
    assert!(out.transmits.is_empty());
    assert_eq!(layer.state(&key), Some(TxState::Completed));
    assert_eq!(layer.poll_timeout(), Some(at(6_000)), "Timer K = T4");
    // Retransmitted final: absorbed.
    let out = respond(&mut layer, 2_000, "OPTIONS", 200);
    assert!(out.events.is_empty() && out.transmits.is_empty());
    layer.handle_timeout(at(5_999));
    assert!(drain(&mut layer).events.is_empty());
    layer.handle_timeout(at(6_000));
    assert_eq!(
        drain(&mut layer).events,
        [TransactionEvent::Terminated { key }]
    );

    let mut layer = TransactionLayer::new(Timers::default());
    let (key, _) = start(&mut layer, "OPTIONS", Transport::Tcp);
    assert_eq!(
        layer.poll_timeout(),
        Some(at(32_000)),
        "Timer F, no Timer E"
    );
    respond(&mut layer, 1_000, "OPTIONS", 404);
    assert_eq!(
        layer.poll_timeout(),
        Some(at(1_000)),
        "Timer K = 0 over TCP"
    );
    layer.handle_timeout(at(1_000));
    assert_eq!(
        drain(&mut layer).events,
        [TransactionEvent::Terminated { key }]
    );
}

#[test]
fn custom_timers_scale_everything() {
    let timers = Timers {
        t1: std::time::Duration::from_millis(100),
        t2: std::time::Duration::from_millis(400),
        t4: std::time::Duration::from_millis(1_000),
    };
    let mut layer = TransactionLayer::new(timers);
    let (_, _) = start(&mut layer, "MESSAGE", Transport::Udp);
    let fired = run_until(&mut layer, at(10_000));
    let times = transmit_times(&fired);
    assert_eq!(&times[..5], [100, 300, 700, 1_100, 1_500]);
    assert_eq!(fired.last().unwrap().at_ms, 6_400, "Timer F = 64·T1");
    assert!(fired.last().unwrap().out.has_timeout());
}

#[test]
fn send_request_rejects_what_is_not_a_transaction() {
    let mut layer = layer();
    let peer = uas_peer(Transport::Udp);
    let ack = request("ACK", "z9hG4bKa", 1, Transport::Udp);
    assert_eq!(
        layer.send_request(at(0), peer, ack),
        Err(TransactionError::AckIsNotATransaction)
    );
    let no_cookie = request("OPTIONS", "1234", 1, Transport::Udp);
    assert_eq!(
        layer.send_request(at(0), peer, no_cookie),
        Err(TransactionError::MissingBranch)
    );
    let mut no_via = request("OPTIONS", "z9hG4bKx", 1, Transport::Udp);
    no_via.headers.remove(&HeaderName::Via);
    assert_eq!(
        layer.send_request(at(0), peer, no_via),
        Err(TransactionError::MissingHeader(HeaderName::Via))
    );
    let ok = request("OPTIONS", "z9hG4bKdup", 1, Transport::Udp);
    layer.send_request(at(0), peer, ok.clone()).unwrap();
    assert_eq!(
        layer.send_request(at(0), peer, ok),
        Err(TransactionError::DuplicateTransaction)
    );
    assert_eq!(layer.len(), 1);
}

#[test]
fn transport_error_ends_the_transaction() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "INVITE", Transport::Tcp);
    layer.handle_transport_error(at(10), &key);
    assert_eq!(
        drain(&mut layer).events,
        [
            TransactionEvent::TransportError { key },
            TransactionEvent::Terminated { key }
        ]
    );
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
}

#[test]
fn responses_to_client_transactions_are_refused() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "INVITE", Transport::Udp);
    let req = request("INVITE", "z9hG4bKclient1", 1, Transport::Udp);
    assert_eq!(
        layer.send_response(at(1), &key, response(&req, 200, None)),
        Err(TransactionError::NotAServerTransaction(key))
    );
}

#[test]
fn cancel_for_copies_the_invite() {
    let mut layer = layer();
    let (key, _) = start(&mut layer, "INVITE", Transport::Udp);
    let cancel = layer.cancel_for(&key).unwrap();
    let invite = request("INVITE", "z9hG4bKclient1", 1, Transport::Udp);
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.uri, invite.uri);
    assert_eq!(
        cancel.headers.top_via().unwrap().branch(),
        Some("z9hG4bKclient1")
    );
    let cseq = cancel.headers.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (1, Method::Cancel));
    assert_eq!(cancel.headers.to(), invite.headers.to());
    // It is its own client transaction (same branch, other method).
    let cancel_key = layer
        .send_request(at(100), uas_peer(Transport::Udp), cancel)
        .unwrap();
    assert_ne!(cancel_key, key);
    assert_eq!(layer.len(), 2);
}
