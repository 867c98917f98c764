//! The user-agent core driven with simulated time: what the engine answers, and when.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;

use hotline_sip::message::{HeaderName, Message, Method, Request, Response, parse};
use hotline_sip::transaction::{Peer, Timers};
use hotline_sip::ua::{CallId, EndReason, LocalIdentity, UaEvent, UserAgent};

const PHONE: &str = "192.0.2.10:5062";

struct Harness {
    ua: UserAgent,
    now: Instant,
    peer: Peer,
    sent: Vec<(Duration, Message)>,
    events: Vec<UaEvent>,
    start: Instant,
}

impl Harness {
    fn new() -> Harness {
        #[allow(clippy::disallowed_methods)] // one fixed origin for simulated time
        let start = Instant::now();
        let local = LocalIdentity {
            host: "198.51.100.1".into(),
            port: 5060,
            product: "hotline-test".into(),
        };
        Harness {
            ua: UserAgent::new(local, Timers::default(), StdRng::seed_from_u64(7)),
            now: start,
            peer: Peer::udp(PHONE.parse::<SocketAddr>().unwrap()),
            sent: Vec::new(),
            events: Vec::new(),
            start,
        }
    }

    fn drain(&mut self) {
        while let Some(t) = self.ua.poll_transmit() {
            assert_eq!(t.peer, self.peer, "everything goes back to the phone");
            self.sent.push((self.now - self.start, t.message));
        }
        while let Some(e) = self.ua.poll_event() {
            self.events.push(e);
        }
    }

    fn receive(&mut self, text: &str) {
        let msg = parse(text.as_bytes()).expect("test message parses");
        self.ua.handle_incoming(self.now, self.peer, msg);
        self.drain();
    }

    /// Advance simulated time to `t` after the start, firing every timer on the way.
    fn advance_to(&mut self, t: Duration) {
        let target = self.start + t;
        while let Some(at) = self.ua.poll_timeout() {
            if at > target {
                break;
            }
            self.now = at.max(self.now);
            self.ua.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    fn responses(&self) -> Vec<&Response> {
        self.sent
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Response(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn requests(&self) -> Vec<&Request> {
        self.sent
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Request(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn statuses(&self) -> Vec<u16> {
        self.responses().iter().map(|r| r.status).collect()
    }

    fn incoming_call(&self) -> CallId {
        self.events
            .iter()
            .find_map(|e| match e {
                UaEvent::IncomingCall { call, .. } => Some(*call),
                _ => None,
            })
            .expect("IncomingCall event")
    }

    fn ended(&self) -> Vec<EndReason> {
        self.events
            .iter()
            .filter_map(|e| match e {
                UaEvent::Ended { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }
}

fn request(method: &str, branch: &str, cseq: u32, to_tag: Option<&str>, body: &str) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    format!(
        "{method} sip:echo@198.51.100.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PHONE};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@192.0.2.10>;tag=alice1\r\n\
         To: <sip:echo@198.51.100.1>{to_tag}\r\n\
         Call-ID: call-1@192.0.2.10\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:alice@{PHONE}>\r\n\
         {ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

/// INVITE in, answered; returns the call and our To tag.
fn answered(h: &mut Harness) -> (CallId, String) {
    h.receive(&request("INVITE", "inv1", 1, None, SDP));
    let call = h.incoming_call();
    h.ua.answer(h.now, call, Bytes::from_static(b"v=0\r\n"))
        .unwrap();
    h.drain();
    let ok = h
        .responses()
        .into_iter()
        .find(|r| r.status == 200)
        .expect("200");
    let tag = ok.headers.to().unwrap().tag().expect("To tag").to_owned();
    assert!(ok.headers.get(&HeaderName::Contact).is_some());
    assert_eq!(ok.headers.content_type(), Some("application/sdp"));
    (call, tag)
}

#[test]
fn options_gets_200_with_allow_and_accept() {
    let mut h = Harness::new();
    h.receive(&request("OPTIONS", "o1", 1, None, ""));
    let r = h.responses()[0];
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .get(&HeaderName::Allow)
            .unwrap()
            .contains("INVITE")
    );
    assert_eq!(r.headers.get(&HeaderName::Accept), Some("application/sdp"));
    assert!(r.headers.to().unwrap().tag().is_some());
}

#[test]
fn invite_is_tried_then_answered_and_acked() {
    let mut h = Harness::new();
    let (call, tag) = answered(&mut h);
    assert_eq!(h.statuses(), vec![100, 200]);
    h.receive(&request("ACK", "ack1", 1, Some(&tag), ""));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, UaEvent::Confirmed { call: c } if *c == call))
    );
    // No 2xx retransmission after the ACK.
    h.advance_to(Duration::from_secs(40));
    assert_eq!(h.statuses(), vec![100, 200]);
    assert!(h.ended().is_empty());
}

#[test]
fn unacknowledged_2xx_is_retransmitted_then_the_call_is_ended_with_bye() {
    let mut h = Harness::new();
    let (_call, tag) = answered(&mut h);
    h.advance_to(Duration::from_secs(31));
    let times: Vec<f64> = h
        .sent
        .iter()
        .filter(|(_, m)| matches!(m, Message::Response(r) if r.status == 200))
        .map(|(t, _)| t.as_secs_f64())
        .collect();
    // §13.3.1.4: T1, doubling up to T2.
    assert_eq!(
        times,
        vec![0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5]
    );
    assert!(h.ended().is_empty());
    h.advance_to(Duration::from_secs(33));
    assert_eq!(h.ended(), vec![EndReason::AckTimeout]);
    let bye = h
        .requests()
        .into_iter()
        .find(|r| r.method == Method::Bye)
        .expect("BYE");
    assert_eq!(bye.headers.from().unwrap().tag(), Some(tag.as_str()));
    assert_eq!(bye.headers.to().unwrap().tag(), Some("alice1"));
    assert_eq!(bye.uri.to_string(), format!("sip:alice@{PHONE}"));
}

#[test]
fn remote_bye_is_answered_and_ends_the_call() {
    let mut h = Harness::new();
    let (_call, tag) = answered(&mut h);
    h.receive(&request("ACK", "ack1", 1, Some(&tag), ""));
    h.receive(&request("BYE", "bye1", 2, Some(&tag), ""));
    assert_eq!(h.statuses(), vec![100, 200, 200]);
    assert_eq!(h.ended(), vec![EndReason::RemoteBye]);
    // The dialog is gone: a second BYE (new transaction) gets 481.
    h.receive(&request("BYE", "bye2", 3, Some(&tag), ""));
    assert_eq!(h.statuses().last(), Some(&481));
}

#[test]
fn local_hangup_sends_bye_in_the_dialog_and_ends_on_its_200() {
    let mut h = Harness::new();
    let (call, tag) = answered(&mut h);
    h.receive(&request("ACK", "ack1", 1, Some(&tag), ""));
    h.ua.hangup(h.now, call).unwrap();
    h.drain();
    let bye = h
        .requests()
        .into_iter()
        .find(|r| r.method == Method::Bye)
        .expect("BYE")
        .clone();
    assert_eq!(bye.headers.call_id(), Some("call-1@192.0.2.10"));
    assert_eq!(bye.headers.cseq().unwrap().method, Method::Bye);
    assert!(h.ended().is_empty(), "ended only when the BYE completes");
    let mut ok = Response::to_request(&bye, 200);
    ok.headers.set(HeaderName::ContentLength, "0");
    h.ua.handle_incoming(h.now, h.peer, Message::Response(ok));
    h.drain();
    assert_eq!(h.ended(), vec![EndReason::LocalBye]);
    assert_eq!(h.ua.call_count(), 0);
}

#[test]
fn bye_without_answer_times_out_with_timer_f() {
    let mut h = Harness::new();
    let (call, tag) = answered(&mut h);
    h.receive(&request("ACK", "ack1", 1, Some(&tag), ""));
    h.ua.hangup(h.now, call).unwrap();
    h.drain();
    h.advance_to(Duration::from_millis(31_999));
    assert!(h.ended().is_empty());
    h.advance_to(Duration::from_secs(33));
    assert_eq!(h.ended(), vec![EndReason::ByeTimeout]);
}

#[test]
fn cancel_before_answer_gets_200_and_487() {
    let mut h = Harness::new();
    h.receive(&request("INVITE", "inv1", 1, None, SDP));
    let call = h.incoming_call();
    h.ua.provisional(h.now, call, 180).unwrap();
    h.drain();
    let cancel = request("CANCEL", "inv1", 1, None, "");
    h.receive(&cancel);
    let statuses = h.statuses();
    assert_eq!(statuses, vec![100, 180, 200, 487]);
    assert_eq!(h.ended(), vec![EndReason::Cancelled]);
    // Commands on the ended call are refused, not panics.
    assert!(h.ua.answer(h.now, call, Bytes::new()).is_err());
}

#[test]
fn cancel_for_nothing_gets_481() {
    let mut h = Harness::new();
    h.receive(&request("CANCEL", "nothing", 1, None, ""));
    assert_eq!(h.statuses(), vec![481]);
}

#[test]
fn reinvite_is_answered_with_the_current_sdp() {
    let mut h = Harness::new();
    let (_call, tag) = answered(&mut h);
    h.receive(&request("ACK", "ack1", 1, Some(&tag), ""));
    h.receive(&request("INVITE", "reinv", 2, Some(&tag), SDP));
    let ok = *h.responses().last().unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body.as_ref(), b"v=0\r\n");
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, UaEvent::ReOffer { .. }))
    );
}

#[test]
fn reinvite_2xx_is_retransmitted_until_its_ack() {
    let mut h = Harness::new();
    let (_call, tag) = answered(&mut h);
    h.receive(&request("ACK", "ack1", 1, Some(&tag), ""));
    h.receive(&request("INVITE", "reinv", 2, Some(&tag), SDP));
    h.advance_to(Duration::from_millis(1600));
    let oks = |h: &Harness| {
        h.responses()
            .iter()
            .filter(|r| r.status == 200 && r.headers.cseq().is_some_and(|c| c.seq == 2))
            .count()
    };
    // Sent at 0, resent at 0.5 and 1.5 s.
    assert_eq!(oks(&h), 3);
    // A second re-INVITE while the first is unacknowledged: 491.
    h.receive(&request("INVITE", "reinv2", 3, Some(&tag), SDP));
    assert_eq!(h.statuses().last(), Some(&491));
    h.receive(&request("ACK", "ack2", 2, Some(&tag), ""));
    h.advance_to(Duration::from_secs(40));
    assert_eq!(oks(&h), 3, "no retransmission after the ACK");
    assert!(h.ended().is_empty());
}

#[test]
fn reinvite_2xx_without_ack_ends_the_call() {
    let mut h = Harness::new();
    let (_call, tag) = answered(&mut h);
    h.receive(&request("ACK", "ack1", 1, Some(&tag), ""));
    h.receive(&request("INVITE", "reinv", 2, Some(&tag), SDP));
    h.advance_to(Duration::from_secs(33));
    assert_eq!(h.ended(), vec![EndReason::AckTimeout]);
    assert!(h.requests().iter().any(|r| r.method == Method::Bye));
}

#[test]
fn reject_ends_the_call_with_the_status() {
    let mut h = Harness::new();
    h.receive(&request("INVITE", "inv1", 1, None, SDP));
    let call = h.incoming_call();
    h.ua.reject(h.now, call, 404).unwrap();
    h.drain();
    assert_eq!(h.statuses(), vec![100, 404]);
    assert_eq!(h.ended(), vec![EndReason::Rejected]);
    assert!(h.ua.reject(h.now, call, 200).is_err());
}

#[test]
fn methods_and_hops() {
    let mut h = Harness::new();
    h.receive(&request("NOTAMETHOD", "x1", 1, None, ""));
    h.receive(&request("REGISTER", "x2", 1, None, ""));
    h.receive(&request("INFO", "x3", 1, None, ""));
    h.receive(
        &request("INVITE", "x4", 1, None, SDP).replace("Max-Forwards: 70", "Max-Forwards: 0"),
    );
    let statuses = h.statuses();
    assert_eq!(statuses, vec![501, 405, 481, 100, 483]);
}

#[test]
fn a_call_nobody_answers_gets_480_after_the_early_timeout() {
    let mut h = Harness::new();
    h.receive(&request("INVITE", "inv1", 1, None, SDP));
    let call = h.incoming_call();
    h.ua.provisional(h.now, call, 180).unwrap();
    h.drain();
    h.advance_to(hotline_sip::ua::EARLY_TIMEOUT - Duration::from_millis(1));
    assert!(h.ended().is_empty());
    h.advance_to(hotline_sip::ua::EARLY_TIMEOUT);
    assert_eq!(h.statuses(), vec![100, 180, 480]);
    assert_eq!(h.ended(), vec![EndReason::Unanswered]);
    assert_eq!(h.ua.call_count(), 0);
}

const ANSWER: &str = "v=0\r\no=- 9 9 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n";

#[test]
fn early_media_sends_183_with_the_answer_and_the_2xx_repeats_it() {
    let mut h = Harness::new();
    let invite = request("INVITE", "inv1", 1, None, SDP);
    h.receive(&invite);
    let call = h.incoming_call();
    h.ua.early_media(h.now, call, Bytes::from_static(ANSWER.as_bytes()))
        .unwrap();
    h.drain();
    assert_eq!(h.statuses(), vec![100, 183]);
    let progress = h.responses()[1].clone();
    assert_eq!(progress.reason, "Session Progress");
    assert_eq!(progress.headers.content_type(), Some("application/sdp"));
    assert_eq!(progress.body.as_ref(), ANSWER.as_bytes());
    assert!(progress.headers.get(&HeaderName::Contact).is_some());
    let tag = progress
        .headers
        .to()
        .unwrap()
        .tag()
        .expect("To tag")
        .to_owned();

    // The INVITE again (the 183 was lost): the 183 comes back, SDP and all.
    h.receive(&invite);
    assert_eq!(h.statuses(), vec![100, 183, 183]);
    assert_eq!(h.responses()[2].body.as_ref(), ANSWER.as_bytes());
    assert_eq!(h.ua.call_count(), 1);

    // Answered: the 200 carries the same SDP, in the same dialog.
    h.ua.answer(h.now, call, Bytes::from_static(ANSWER.as_bytes()))
        .unwrap();
    h.drain();
    let ok = h.responses()[3].clone();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.headers.content_type(), Some("application/sdp"));
    assert_eq!(ok.body, progress.body);
    assert_eq!(ok.headers.to().unwrap().tag(), Some(tag.as_str()));
    // Its retransmissions too.
    h.advance_to(Duration::from_millis(600));
    let oks: Vec<&Response> = h
        .responses()
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert_eq!(oks.len(), 2);
    assert_eq!(oks[1].body.as_ref(), ANSWER.as_bytes());
    // And a re-INVITE is answered with it.
    h.receive(&request("ACK", "ack1", 1, Some(&tag), ""));
    h.receive(&request("INVITE", "reinv", 2, Some(&tag), SDP));
    let re = *h.responses().last().unwrap();
    assert_eq!((re.status, re.body.as_ref()), (200, ANSWER.as_bytes()));
}

#[test]
fn the_early_answer_cannot_change() {
    let mut h = Harness::new();
    h.receive(&request("INVITE", "inv1", 1, None, SDP));
    let call = h.incoming_call();
    assert_eq!(
        h.ua.early_media(h.now, call, Bytes::new()),
        Err(hotline_sip::ua::UaError::NoAnswer(call))
    );
    h.ua.early_media(h.now, call, Bytes::from_static(ANSWER.as_bytes()))
        .unwrap();
    let other = Bytes::from_static(b"v=0\r\no=- 9 10 IN IP4 198.51.100.1\r\n");
    assert_eq!(
        h.ua.early_media(h.now, call, other.clone()),
        Err(hotline_sip::ua::UaError::AnswerChanged(call))
    );
    assert_eq!(
        h.ua.answer(h.now, call, other),
        Err(hotline_sip::ua::UaError::AnswerChanged(call))
    );
    h.drain();
    assert_eq!(
        h.statuses(),
        vec![100, 183],
        "nothing sent for the refused ones"
    );
    // An empty SDP means "the one already given".
    h.ua.answer(h.now, call, Bytes::new()).unwrap();
    h.drain();
    let ok = *h.responses().last().unwrap();
    assert_eq!((ok.status, ok.body.as_ref()), (200, ANSWER.as_bytes()));
}

#[test]
fn cancel_after_early_media_gets_487() {
    let mut h = Harness::new();
    h.receive(&request("INVITE", "inv1", 1, None, SDP));
    let call = h.incoming_call();
    h.ua.early_media(h.now, call, Bytes::from_static(ANSWER.as_bytes()))
        .unwrap();
    h.drain();
    h.receive(&request("CANCEL", "inv1", 1, None, ""));
    assert_eq!(h.statuses(), vec![100, 183, 200, 487]);
    assert_eq!(h.ended(), vec![EndReason::Cancelled]);
}
