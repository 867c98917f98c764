//! Server transactions (RFC 3261 §17.2, RFC 6026 §7.1): matching, retransmission absorption,
//! response routing (§18.2.2, RFC 3581) and timers G, H, I, J, L at their exact instants.

mod transaction_support;

use hotline_sip::message::{HeaderName, Message, Request, parse};
use hotline_sip::transaction::{
    Config, Peer, Timers, TransactionError, TransactionEvent, TransactionLayer, Transport, TxKey,
    TxState,
};
use transaction_support::*;

fn layer() -> TransactionLayer {
    TransactionLayer::new(Timers::default())
}

fn deliver(layer: &mut TransactionLayer, now_ms: u64, peer: Peer, req: &Request) -> Drained {
    layer.handle_incoming(at(now_ms), peer, wire(&Message::Request(req.clone())));
    drain(layer)
}

fn new_request_key(out: &Drained) -> (TxKey, Request) {
    match &out.events[..] {
        [TransactionEvent::NewRequest { key, request, .. }] => (*key, request.clone()),
        other => panic!("expected one NewRequest, got {other:?}"),
    }
}

/// An INVITE received over `transport`, its key and the request as passed up.
fn invite(layer: &mut TransactionLayer, transport: Transport) -> (TxKey, Request) {
    let req = request("INVITE", "z9hG4bKsrv1", 1, transport);
    let out = deliver(layer, 0, uac_peer(transport), &req);
    new_request_key(&out)
}

#[test]
fn new_invite_is_passed_up_once_and_answered_100_at_once() {
    let mut layer = layer();
    let req = request("INVITE", "z9hG4bKsrv1", 1, Transport::Udp);
    let out = deliver(&mut layer, 0, uac_peer(Transport::Udp), &req);
    let (key, passed) = new_request_key(&out);
    assert_eq!(passed.method, req.method);
    assert_eq!(out.statuses(), [100]);
    assert_eq!(out.transmits[0].peer, uac_peer(Transport::Udp));
    assert_eq!(out.transmits[0].key, Some(key));
    assert_eq!(layer.state(&key), Some(TxState::Proceeding));
    assert_eq!(layer.poll_timeout(), None, "Proceeding waits for the TU");

    // Retransmission: the 100 again, no second NewRequest.
    let out = deliver(&mut layer, 500, uac_peer(Transport::Udp), &req);
    assert!(out.events.is_empty());
    assert_eq!(out.statuses(), [100]);

    // After the TU's 180, retransmissions get the 180.
    layer
        .send_response(at(600), &key, response(&passed, 180, Some("b1")))
        .unwrap();
    assert_eq!(drain(&mut layer).statuses(), [180]);
    let out = deliver(&mut layer, 1_500, uac_peer(Transport::Udp), &req);
    assert!(out.events.is_empty());
    assert_eq!(out.statuses(), [180]);
    assert_eq!(layer.len(), 1);
}

#[test]
fn without_auto_trying_nothing_is_sent_until_the_tu_answers() {
    let mut layer = TransactionLayer::with_config(Config {
        auto_trying: false,
        ..Config::default()
    });
    let req = request("INVITE", "z9hG4bKsrv1", 1, Transport::Udp);
    let out = deliver(&mut layer, 0, uac_peer(Transport::Udp), &req);
    assert!(out.transmits.is_empty());
    new_request_key(&out);
    let out = deliver(&mut layer, 500, uac_peer(Transport::Udp), &req);
    assert!(out.transmits.is_empty() && out.events.is_empty());
}

#[test]
fn failure_timer_g_doubles_to_t2_and_timer_h_times_out() {
    let mut layer = layer();
    let (key, req) = invite(&mut layer, Transport::Udp);
    layer
        .send_response(at(1_000), &key, response(&req, 486, Some("b1")))
        .unwrap();
    assert_eq!(drain(&mut layer).statuses(), [486]);
    assert_eq!(layer.state(&key), Some(TxState::Completed));

    let fired = run_until(&mut layer, at(40_000));
    assert_eq!(
        transmit_times(&fired),
        [
            1_500, 2_500, 4_500, 8_500, 12_500, 16_500, 20_500, 24_500, 28_500, 32_500
        ],
        "Timer G: T1, 2·T1, 4·T1, then T2"
    );
    assert!(
        fired
            .iter()
            .all(|f| f.out.statuses().iter().all(|&s| s == 486))
    );
    let last = fired.last().unwrap();
    assert_eq!(
        last.at_ms, 33_000,
        "Timer H = 64·T1 after the final response"
    );
    assert_eq!(
        last.out.events,
        [
            TransactionEvent::Timeout { key },
            TransactionEvent::Terminated { key }
        ]
    );
}

#[test]
fn timer_h_not_before_64_t1() {
    let mut layer = layer();
    let (key, req) = invite(&mut layer, Transport::Tcp);
    layer
        .send_response(at(1_000), &key, response(&req, 500, Some("b1")))
        .unwrap();
    drain(&mut layer);
    assert_eq!(
        layer.poll_timeout(),
        Some(at(33_000)),
        "no Timer G over TCP, only H"
    );
    layer.handle_timeout(at(32_999));
    assert!(drain(&mut layer).events.is_empty());
    layer.handle_timeout(at(33_000));
    assert!(drain(&mut layer).has_timeout());
}

#[test]
fn ack_confirms_and_timer_i_is_t4_over_udp() {
    let mut layer = layer();
    let (key, req) = invite(&mut layer, Transport::Udp);
    let resp = response(&req, 404, Some("b1"));
    layer.send_response(at(1_000), &key, resp.clone()).unwrap();
    drain(&mut layer);

    // The ACK a client transaction would build: same branch, To with our tag.
    let mut ack = request("ACK", "z9hG4bKsrv1", 1, Transport::Udp);
    ack.headers
        .set(HeaderName::To, resp.headers.get(&HeaderName::To).unwrap());
    let out = deliver(&mut layer, 1_200, uac_peer(Transport::Udp), &ack);
    assert!(
        out.events.is_empty(),
        "the failure ACK is consumed: {out:?}"
    );
    assert!(out.transmits.is_empty());
    assert_eq!(layer.state(&key), Some(TxState::Confirmed));
    assert_eq!(layer.poll_timeout(), Some(at(6_200)), "Timer I = T4");

    // Retransmitted ACK and INVITE: absorbed.
    let out = deliver(&mut layer, 1_300, uac_peer(Transport::Udp), &ack);
    assert!(out.events.is_empty() && out.transmits.is_empty());
    let invite_again = request("INVITE", "z9hG4bKsrv1", 1, Transport::Udp);
    let out = deliver(&mut layer, 1_400, uac_peer(Transport::Udp), &invite_again);
    assert!(out.events.is_empty() && out.transmits.is_empty());

    layer.handle_timeout(at(6_199));
    assert!(drain(&mut layer).events.is_empty());
    layer.handle_timeout(at(6_200));
    assert_eq!(
        drain(&mut layer).events,
        [TransactionEvent::Terminated { key }]
    );
}

#[test]
fn timer_i_is_zero_over_tcp() {
    let mut layer = layer();
    let (key, req) = invite(&mut layer, Transport::Tcp);
    let resp = response(&req, 603, Some("b1"));
    layer.send_response(at(1_000), &key, resp.clone()).unwrap();
    drain(&mut layer);
    let mut ack = request("ACK", "z9hG4bKsrv1", 1, Transport::Tcp);
    ack.headers
        .set(HeaderName::To, resp.headers.get(&HeaderName::To).unwrap());
    deliver(&mut layer, 1_100, uac_peer(Transport::Tcp), &ack);
    assert_eq!(layer.poll_timeout(), Some(at(1_100)));
    layer.handle_timeout(at(1_100));
    assert_eq!(
        drain(&mut layer).events,
        [TransactionEvent::Terminated { key }]
    );
}

#[test]
fn two_xx_accepted_absorbs_invites_and_timer_l_ends_it() {
    let mut layer = layer();
    let (key, req) = invite(&mut layer, Transport::Udp);
    let ok = response(&req, 200, Some("b1"));
    layer.send_response(at(1_000), &key, ok.clone()).unwrap();
    assert_eq!(drain(&mut layer).statuses(), [200]);
    assert_eq!(layer.state(&key), Some(TxState::Accepted));
    assert_eq!(layer.poll_timeout(), Some(at(33_000)), "Timer L = 64·T1");

    // A retransmitted INVITE is absorbed: neither passed up nor answered (RFC 6026).
    let again = request("INVITE", "z9hG4bKsrv1", 1, Transport::Udp);
    let out = deliver(&mut layer, 1_500, uac_peer(Transport::Udp), &again);
    assert!(out.events.is_empty() && out.transmits.is_empty());

    // The TU's own 2xx retransmission goes through.
    layer.send_response(at(1_500), &key, ok.clone()).unwrap();
    assert_eq!(drain(&mut layer).statuses(), [200]);
    // ... but nothing else.
    assert!(matches!(
        layer.send_response(at(1_600), &key, response(&req, 486, Some("b1"))),
        Err(TransactionError::InvalidState {
            state: TxState::Accepted,
            status: 486
        })
    ));

    // The ACK for the 2xx has its own branch: passed up, matching no transaction.
    let ack = request("ACK", "z9hG4bKack2xx", 1, Transport::Udp);
    let out = deliver(&mut layer, 2_000, uac_peer(Transport::Udp), &ack);
    assert!(matches!(
        out.events[..],
        [TransactionEvent::Ack {
            invite_key: None,
            ..
        }]
    ));
    // An ACK reusing the INVITE's branch in Accepted goes up too, naming the INVITE.
    let ack = request("ACK", "z9hG4bKsrv1", 1, Transport::Udp);
    let out = deliver(&mut layer, 2_100, uac_peer(Transport::Udp), &ack);
    assert_eq!(out.events.len(), 1);
    assert!(matches!(
        out.events[0],
        TransactionEvent::Ack { invite_key: Some(k), .. } if k == key
    ));

    layer.handle_timeout(at(32_999));
    assert!(drain(&mut layer).events.is_empty());
    layer.handle_timeout(at(33_000));
    assert_eq!(
        drain(&mut layer).events,
        [TransactionEvent::Terminated { key }],
        "Timer L ends the transaction without a Timeout"
    );
}

#[test]
fn non_invite_absorbs_retransmissions_and_timer_j_is_64_t1() {
    let mut layer = layer();
    let req = request("OPTIONS", "z9hG4bKopt", 5, Transport::Udp);
    let out = deliver(&mut layer, 0, uac_peer(Transport::Udp), &req);
    let (key, passed) = new_request_key(&out);
    assert!(out.transmits.is_empty(), "no automatic 100 for non-INVITE");
    assert_eq!(layer.state(&key), Some(TxState::Trying));

    // Trying: retransmission absorbed with nothing to resend.
    let out = deliver(&mut layer, 500, uac_peer(Transport::Udp), &req);
    assert!(out.events.is_empty() && out.transmits.is_empty());

    layer
        .send_response(at(600), &key, response(&passed, 100, None))
        .unwrap();
    drain(&mut layer);
    assert_eq!(layer.state(&key), Some(TxState::Proceeding));
    let out = deliver(&mut layer, 1_500, uac_peer(Transport::Udp), &req);
    assert_eq!(out.statuses(), [100]);

    layer
        .send_response(at(2_000), &key, response(&passed, 200, Some("b1")))
        .unwrap();
    assert_eq!(drain(&mut layer).statuses(), [200]);
    assert_eq!(layer.state(&key), Some(TxState::Completed));
    let out = deliver(&mut layer, 3_500, uac_peer(Transport::Udp), &req);
    assert_eq!(out.statuses(), [200]);
    assert!(out.events.is_empty());
    assert!(matches!(
        layer.send_response(at(3_600), &key, response(&passed, 500, Some("b1"))),
        Err(TransactionError::InvalidState { .. })
    ));

    assert_eq!(layer.poll_timeout(), Some(at(34_000)), "Timer J = 64·T1");
    layer.handle_timeout(at(33_999));
    assert!(drain(&mut layer).events.is_empty());
    layer.handle_timeout(at(34_000));
    assert_eq!(
        drain(&mut layer).events,
        [TransactionEvent::Terminated { key }]
    );
}

#[test]
fn timer_j_is_zero_over_tcp() {
    let mut layer = layer();
    let req = request("BYE", "z9hG4bKbye", 2, Transport::Tcp);
    let out = deliver(&mut layer, 0, uac_peer(Transport::Tcp), &req);
    let (key, passed) = new_request_key(&out);
    layer
        .send_response(at(10), &key, response(&passed, 200, Some("b1")))
        .unwrap();
    assert_eq!(
        drain(&mut layer).transmits[0].peer,
        uac_peer(Transport::Tcp)
    );
    assert_eq!(layer.poll_timeout(), Some(at(10)));
    layer.handle_timeout(at(10));
    assert_eq!(
        drain(&mut layer).events,
        [TransactionEvent::Terminated { key }]
    );
}

#[test]
fn responses_go_to_sent_by_port_and_received_address() {
    // Sent-by port 5070, source port 40000, no rport: the response goes to port 5070.
    let mut layer = layer();
    let mut req = request("OPTIONS", "z9hG4bKport", 1, Transport::Udp);
    let mut via = req.headers.top_via().unwrap();
    via.port = Some(5070);
    req.headers.set_top_via(&via);
    let source = Peer::udp(addr("10.0.0.1:40000"));
    let out = deliver(&mut layer, 0, source, &req);
    let (key, passed) = new_request_key(&out);
    let top = passed.headers.top_via().unwrap();
    assert_eq!(top.received(), None, "sent-by host is the source address");
    layer
        .send_response(at(1), &key, response(&passed, 200, Some("t")))
        .unwrap();
    assert_eq!(
        drain(&mut layer).transmits[0].peer,
        Peer::udp(addr("10.0.0.1:5070"))
    );

    // Behind a NAT: sent-by 192.168.1.10, source 203.0.113.5 → received, sent-by port.
    let mut req = request("OPTIONS", "z9hG4bKnat", 1, Transport::Udp);
    let mut via = req.headers.top_via().unwrap();
    via.host = "192.168.1.10".into();
    req.headers.set_top_via(&via);
    let out = deliver(&mut layer, 0, Peer::udp(addr("203.0.113.5:6000")), &req);
    let (key, passed) = new_request_key(&out);
    let top = passed.headers.top_via().unwrap();
    assert_eq!(top.received(), Some("203.0.113.5"));
    let resp = response(&passed, 200, Some("t"));
    assert_eq!(
        resp.headers.top_via().unwrap().received(),
        Some("203.0.113.5")
    );
    layer.send_response(at(1), &key, resp).unwrap();
    assert_eq!(
        drain(&mut layer).transmits[0].peer,
        Peer::udp(addr("203.0.113.5:5060"))
    );
}

#[test]
fn rport_sends_responses_back_to_the_source_port() {
    let mut layer = layer();
    let mut req = request("INVITE", "z9hG4bKrport", 1, Transport::Udp);
    let mut via = req.headers.top_via().unwrap();
    via.host = "192.168.1.10".into();
    via.params.set("rport", None);
    req.headers.set_top_via(&via);
    let source = Peer::udp(addr("203.0.113.5:6000"));
    let out = deliver(&mut layer, 0, source, &req);
    // The automatic 100 already goes to the source port and echoes rport and received.
    assert_eq!(out.transmits[0].peer, source);
    let Message::Response(trying) = &out.transmits[0].message else {
        panic!("a response")
    };
    let top = trying.headers.top_via().unwrap();
    assert_eq!(top.rport(), Some(Some(6000)));
    assert_eq!(top.received(), Some("203.0.113.5"));
    let (_, passed) = new_request_key(&out);
    let top = passed.headers.top_via().unwrap();
    assert_eq!(top.rport(), Some(Some(6000)));
    assert_eq!(top.received(), Some("203.0.113.5"));
    assert_eq!(top.branch(), Some("z9hG4bKrport"));

    // Same host as sent-by, but rport asked for: received is still added (RFC 3581 §4).
    let mut req = request("OPTIONS", "z9hG4bKrport2", 1, Transport::Udp);
    let mut via = req.headers.top_via().unwrap();
    via.params.set("rport", None);
    req.headers.set_top_via(&via);
    let out = deliver(&mut layer, 0, Peer::udp(addr("10.0.0.1:5060")), &req);
    let (_, passed) = new_request_key(&out);
    let top = passed.headers.top_via().unwrap();
    assert_eq!(top.received(), Some("10.0.0.1"));
    assert_eq!(top.rport(), Some(Some(5060)));
}

#[test]
fn same_branch_from_another_sent_by_is_another_transaction() {
    let mut layer = layer();
    let req = request("OPTIONS", "z9hG4bKsame", 1, Transport::Udp);
    new_request_key(&deliver(&mut layer, 0, uac_peer(Transport::Udp), &req));
    let mut other = req.clone();
    let mut via = other.headers.top_via().unwrap();
    via.host = "10.0.0.9".into();
    other.headers.set_top_via(&via);
    new_request_key(&deliver(
        &mut layer,
        0,
        Peer::udp(addr("10.0.0.9:5060")),
        &other,
    ));
    // Sent-by is compared with the default port filled in: ":5060" equals no port.
    let mut same = req.clone();
    let mut via = same.headers.top_via().unwrap();
    via.port = None;
    same.headers.set_top_via(&via);
    let out = deliver(&mut layer, 0, uac_peer(Transport::Udp), &same);
    assert!(out.events.is_empty(), "a retransmission: {out:?}");
    assert_eq!(layer.len(), 2);
}

#[test]
fn rfc_2543_requests_match_without_the_magic_cookie() {
    let mut layer = layer();
    let req = request("INVITE", "old2543branch", 1, Transport::Udp);
    let out = deliver(&mut layer, 0, uac_peer(Transport::Udp), &req);
    let (key, passed) = new_request_key(&out);
    let out = deliver(&mut layer, 500, uac_peer(Transport::Udp), &req);
    assert!(
        out.events.is_empty(),
        "retransmission matched by RFC 2543 rules"
    );
    assert_eq!(out.statuses(), [100]);

    // A different CSeq is a different transaction.
    let next = request("INVITE", "old2543branch", 2, Transport::Udp);
    new_request_key(&deliver(&mut layer, 600, uac_peer(Transport::Udp), &next));

    // ACK for a failure: matched with the To tag of our response.
    let resp = response(&passed, 480, Some("srvtag"));
    layer.send_response(at(1_000), &key, resp.clone()).unwrap();
    drain(&mut layer);
    let mut wrong_tag = request("ACK", "old2543branch", 1, Transport::Udp);
    wrong_tag
        .headers
        .set(HeaderName::To, "<sip:bob@10.0.0.2>;tag=other");
    let out = deliver(&mut layer, 1_100, uac_peer(Transport::Udp), &wrong_tag);
    assert!(matches!(
        out.events[..],
        [TransactionEvent::Ack {
            invite_key: None,
            ..
        }]
    ));
    assert_eq!(layer.state(&key), Some(TxState::Completed));
    let mut ack = request("ACK", "old2543branch", 1, Transport::Udp);
    ack.headers
        .set(HeaderName::To, resp.headers.get(&HeaderName::To).unwrap());
    let out = deliver(&mut layer, 1_200, uac_peer(Transport::Udp), &ack);
    assert!(out.events.is_empty());
    assert_eq!(layer.state(&key), Some(TxState::Confirmed));
}

#[test]
fn badbranch_torture_message_is_handled() {
    // RFC 4475 §3.1.2.7: the branch is exactly the magic cookie.
    let bytes = include_bytes!("torture/badbranch.dat");
    let msg = parse(bytes).expect("badbranch parses");
    let source = Peer::udp(addr("192.0.2.1:5060"));
    let mut layer = layer();
    layer.handle_incoming(at(0), source, msg.clone());
    let out = drain(&mut layer);
    let (key, passed) = new_request_key(&out);
    layer.handle_incoming(at(100), source, msg.clone());
    let again = drain(&mut layer);
    assert!(again.events.is_empty(), "matched as a retransmission");
    layer
        .send_response(at(200), &key, response(&passed, 200, Some("x")))
        .unwrap();
    let sent = drain(&mut layer);
    assert_eq!(sent.transmits[0].peer, source);
    // A request with an equally bare branch from another dialog is another transaction.
    let other = parse_request(
        "OPTIONS sip:user@example.com SIP/2.0\r\nTo: sip:user@example.com\r\n\
         From: sip:caller@example.org;tag=99\r\nMax-Forwards: 3\r\n\
         Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\r\nCall-ID: another\r\n\
         CSeq: 8 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    let out = deliver(&mut layer, 300, source, &other);
    new_request_key(&out);
}

#[test]
fn requests_without_via_are_discarded() {
    let mut layer = layer();
    let mut req = request("OPTIONS", "z9hG4bKx", 1, Transport::Udp);
    req.headers.remove(&HeaderName::Via);
    layer.handle_incoming(at(0), uac_peer(Transport::Udp), Message::Request(req));
    let out = drain(&mut layer);
    assert!(matches!(
        &out.events[..],
        [TransactionEvent::Discarded {
            error: TransactionError::MissingHeader(HeaderName::Via),
            ..
        }]
    ));
    assert!(layer.is_empty());
}

#[test]
fn cancel_names_the_invite_it_matches() {
    let mut layer = layer();
    let (invite_key, _) = invite(&mut layer, Transport::Udp);
    let cancel = request("CANCEL", "z9hG4bKsrv1", 1, Transport::Udp);
    let out = deliver(&mut layer, 100, uac_peer(Transport::Udp), &cancel);
    let [
        TransactionEvent::Cancel {
            key,
            invite_key: Some(matched),
            ..
        },
    ] = out.events[..]
    else {
        panic!("expected a Cancel event: {out:?}")
    };
    assert_eq!(matched, invite_key);
    assert_ne!(key, invite_key);
    // Retransmitted CANCEL: absorbed by its own transaction.
    let out = deliver(&mut layer, 200, uac_peer(Transport::Udp), &cancel);
    assert!(out.events.is_empty());

    let stray = request("CANCEL", "z9hG4bKnothing", 1, Transport::Udp);
    let out = deliver(&mut layer, 300, uac_peer(Transport::Udp), &stray);
    assert!(matches!(
        out.events[..],
        [TransactionEvent::Cancel {
            invite_key: None,
            ..
        }]
    ));
}

#[test]
fn send_response_errors() {
    let mut layer = layer();
    let (key, req) = invite(&mut layer, Transport::Udp);
    let mut bad = response(&req, 200, Some("b1"));
    bad.status = 99;
    assert_eq!(
        layer.send_response(at(1), &key, bad),
        Err(TransactionError::InvalidStatus(99))
    );
    layer
        .send_response(at(1), &key, response(&req, 500, Some("b1")))
        .unwrap();
    assert!(matches!(
        layer.send_response(at(2), &key, response(&req, 200, Some("b1"))),
        Err(TransactionError::InvalidState {
            state: TxState::Completed,
            status: 200
        })
    ));
    // Once the transaction is gone its handle is unknown.
    run_until(&mut layer, at(100_000));
    assert_eq!(
        layer.send_response(at(100_000), &key, response(&req, 200, Some("b1"))),
        Err(TransactionError::UnknownTransaction(key))
    );
    assert_eq!(u16::from(&TransactionError::UnknownTransaction(key)), 481);
}

#[test]
fn poll_timeout_is_exact_across_many_transactions() {
    // Deadlines cancelled by state changes never surface as spurious wake-ups.
    let mut layer = layer();
    let mut keys = Vec::new();
    for i in 0..1_000u32 {
        let req = request("OPTIONS", &format!("z9hG4bKmany{i}"), i, Transport::Udp);
        let out = deliver(&mut layer, u64::from(i), uac_peer(Transport::Udp), &req);
        let (key, passed) = new_request_key(&out);
        keys.push((key, passed));
    }
    for (i, (key, passed)) in keys.iter().enumerate() {
        layer
            .send_response(at(2_000 + i as u64), key, response(passed, 200, Some("t")))
            .unwrap();
    }
    drain(&mut layer);
    assert_eq!(layer.poll_timeout(), Some(at(2_000 + 32_000)));
    let fired = run_until(&mut layer, at(100_000));
    assert_eq!(fired.len(), 1_000, "one wake-up per Timer J, none spurious");
    assert!(layer.is_empty());
}
