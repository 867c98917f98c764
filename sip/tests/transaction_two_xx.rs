//! The UAS core's 2xx retransmission timer (RFC 3261 §13.3.1.4): T1 doubling to T2 until
//! the ACK, giving up at 64·T1.

mod transaction_support;

use hotline_sip::transaction::{Timers, TwoXxAction, TwoXxRetransmit};
use transaction_support::*;

fn schedule(reliable: bool) -> (Vec<u64>, Option<u64>) {
    let mut timer = TwoXxRetransmit::new(at(1_000), &Timers::default(), reliable);
    let (mut retransmits, mut gave_up) = (Vec::new(), None);
    while let Some(next) = timer.poll_timeout() {
        match timer.handle_timeout(next) {
            Some(TwoXxAction::Retransmit) => retransmits.push(ms(next)),
            Some(TwoXxAction::GiveUp) => gave_up = Some(ms(next)),
            None => panic!("woken at {} for nothing", ms(next)),
        }
    }
    assert!(timer.is_done());
    (retransmits, gave_up)
}

#[test]
fn retransmits_at_t1_doubling_to_t2_and_gives_up_at_64_t1() {
    let (retransmits, gave_up) = schedule(false);
    assert_eq!(
        retransmits,
        [
            1_500, 2_500, 4_500, 8_500, 12_500, 16_500, 20_500, 24_500, 28_500, 32_500
        ]
    );
    assert_eq!(gave_up, Some(33_000));
}

#[test]
fn reliable_transports_only_wait_for_the_ack() {
    let (retransmits, gave_up) = schedule(true);
    assert!(retransmits.is_empty());
    assert_eq!(gave_up, Some(33_000));
}

#[test]
fn ack_stops_it() {
    let mut timer = TwoXxRetransmit::new(at(0), &Timers::default(), false);
    assert_eq!(timer.handle_timeout(at(499)), None);
    assert_eq!(timer.handle_timeout(at(500)), Some(TwoXxAction::Retransmit));
    timer.ack_received();
    assert_eq!(timer.poll_timeout(), None);
    assert_eq!(timer.handle_timeout(at(60_000)), None);
}
