//! Drives the conference mixer tick by tick with tones: each participant speaks its own
//! frequency, and a Goertzel filter measures which tones reach which output.

use hotline_media::mixer::{Audience, MAX_ROOM_PARTICIPANTS, Mixer, MixerError, Role};
use hotline_media::mixer::{ParticipantId, RoomId};
use hotline_media::{CLOCK_RATE, FRAME_SAMPLES, Frame};

const N: usize = FRAME_SAMPLES;

/// Each frequency is a whole number of cycles per frame (a Goertzel bin is 50 Hz at 8 kHz
/// and 160 samples), so the tones are orthogonal within one frame.
const CALLER_HZ: f64 = 400.0;
const AGENT_HZ: f64 = 1000.0;
const SUPERVISOR_HZ: f64 = 2200.0;
const AMPLITUDE: f64 = 8000.0;

/// A tone's amplitude in a frame, from the Goertzel power at its frequency.
fn level(frame: &Frame, hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(CLOCK_RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in frame {
        let s = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / N as f64
}

fn db(level: f64, reference: f64) -> f64 {
    20.0 * (level.max(1e-9) / reference).log10()
}

/// Frame number `k` of a continuous tone; `phase` in radians at sample 0 of frame 0.
fn tone(hz: f64, phase: f64, k: usize) -> Frame {
    std::array::from_fn(|i| {
        let n = (k * N + i) as f64;
        let w = 2.0 * std::f64::consts::PI * hz / f64::from(CLOCK_RATE);
        (AMPLITUDE * (w * n + phase).sin()).round() as i16
    })
}

/// The supervisor's tone starts each frame at its peak (a cosine of a whole number of
/// cycles per frame), so switching it on or off without a ramp would be a loud click.
const SUPERVISOR_PHASE: f64 = std::f64::consts::FRAC_PI_2;

/// A bridged call (caller and agent) plus a supervisor, each speaking its tone.
struct Call {
    mixer: Mixer,
    room: RoomId,
    caller: ParticipantId,
    agent: ParticipantId,
    supervisor: ParticipantId,
    frame: usize,
}

impl Call {
    /// `supervisor_role` gets the agent's id (a whisper target).
    fn new(supervisor_role: impl Fn(ParticipantId) -> Role) -> Self {
        let mut mixer = Mixer::new();
        let room = mixer.create_room();
        let caller = mixer.add_participant(room, Role::SpeakListen).unwrap();
        let agent = mixer.add_participant(room, Role::SpeakListen).unwrap();
        let supervisor = mixer.add_participant(room, Role::ListenOnly).unwrap();
        mixer.set_role(supervisor, supervisor_role(agent)).unwrap();
        let mut call = Call {
            mixer,
            room,
            caller,
            agent,
            supervisor,
            frame: 0,
        };
        // Get past the join fade-in.
        call.tick();
        call.tick();
        call
    }

    fn input(&self, p: ParticipantId) -> Frame {
        if p == self.caller {
            tone(CALLER_HZ, 0.0, self.frame)
        } else if p == self.agent {
            tone(AGENT_HZ, 0.0, self.frame)
        } else {
            tone(SUPERVISOR_HZ, SUPERVISOR_PHASE, self.frame)
        }
    }

    fn tick(&mut self) {
        for p in [self.caller, self.agent, self.supervisor] {
            let frame = self.input(p);
            self.mixer.put_frame(p, &frame).unwrap();
        }
        self.mixer.tick();
        self.frame += 1;
    }

    fn out(&self, p: ParticipantId) -> Frame {
        *self.mixer.frame_for(p).unwrap()
    }

    /// Whether `listener` hears each of caller, agent, supervisor in its last output.
    fn heard_by(&self, listener: ParticipantId) -> [bool; 3] {
        let out = self.out(listener);
        [CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ].map(|hz| {
            let l = level(&out, hz);
            if db(l, AMPLITUDE) < -60.0 {
                false
            } else {
                assert!(
                    (l - AMPLITUDE).abs() < AMPLITUDE * 0.01,
                    "{hz} Hz at {l}, neither full nor absent"
                );
                true
            }
        })
    }
}

#[test]
fn three_parties_each_hear_the_other_two_and_not_themselves() {
    let call = Call::new(|_| Role::SpeakListen);
    assert_eq!(
        call.mixer.participants(call.room).unwrap(),
        &[call.caller, call.agent, call.supervisor]
    );
    assert_eq!(call.heard_by(call.caller), [false, true, true]);
    assert_eq!(call.heard_by(call.agent), [true, false, true]);
    assert_eq!(call.heard_by(call.supervisor), [true, true, false]);
    // Mix-minus is exact: the own tone is not attenuated, it is absent.
    let own = level(&call.out(call.caller), CALLER_HZ);
    assert!(db(own, AMPLITUDE) < -60.0, "own tone at {own}");
    let expected: Frame = std::array::from_fn(|i| {
        let k = call.frame - 1;
        tone(AGENT_HZ, 0.0, k)[i] + tone(SUPERVISOR_HZ, SUPERVISOR_PHASE, k)[i]
    });
    assert_eq!(call.out(call.caller), expected);
}

#[test]
fn listen_only_supervisor_hears_both_and_is_heard_by_none() {
    let call = Call::new(|_| Role::ListenOnly);
    assert_eq!(call.heard_by(call.caller), [false, true, false]);
    assert_eq!(call.heard_by(call.agent), [true, false, false]);
    assert_eq!(call.heard_by(call.supervisor), [true, true, false]);
}

#[test]
fn whisper_reaches_the_agent_and_not_the_caller() {
    let call = Call::new(|agent| Role::Whisper { to: agent });
    assert_eq!(call.heard_by(call.caller), [false, true, false]);
    assert_eq!(call.heard_by(call.agent), [true, false, true]);
    assert_eq!(call.heard_by(call.supervisor), [true, true, false]);
}

#[test]
fn barge_is_heard_by_everyone() {
    let call = Call::new(|_| Role::Barge);
    assert_eq!(call.heard_by(call.caller), [false, true, true]);
    assert_eq!(call.heard_by(call.agent), [true, false, true]);
    assert_eq!(call.heard_by(call.supervisor), [true, true, false]);
}

#[test]
fn hears_follows_the_roles() {
    let mut call = Call::new(|_| Role::ListenOnly);
    let (c, a, s) = (call.caller, call.agent, call.supervisor);
    let m = &mut call.mixer;
    let matrix = |m: &Mixer| {
        [[c, a], [c, s], [a, c], [a, s], [s, c], [s, a]].map(|[l, t]| m.hears(l, t).unwrap())
    };
    // (listener, speaker): c<-a, c<-s, a<-c, a<-s, s<-c, s<-a
    assert_eq!(matrix(m), [true, false, true, false, true, true]);
    m.set_role(s, Role::Whisper { to: a }).unwrap();
    assert_eq!(matrix(m), [true, false, true, true, true, true]);
    m.set_role(s, Role::Barge).unwrap();
    assert_eq!(matrix(m), [true, true, true, true, true, true]);
    m.set_role(c, Role::Muted).unwrap();
    assert_eq!(matrix(m), [true, true, false, true, false, true]);
    assert!(!m.hears(a, a).unwrap());
    assert_eq!(Role::Whisper { to: a }.audience(), Audience::Only(a));
}

/// The supervisor's part of the caller's output: everything but the agent's tone.
fn supervisor_part(call: &Call) -> Vec<i32> {
    let agent = tone(AGENT_HZ, 0.0, call.frame - 1);
    let out = call.out(call.caller);
    (0..N)
        .map(|i| i32::from(out[i]) - i32::from(agent[i]))
        .collect()
}

#[test]
fn barge_takes_effect_at_the_next_tick_with_a_fade_in() {
    let mut call = Call::new(|_| Role::ListenOnly);
    call.tick();
    let before = call.out(call.caller);
    call.mixer.set_role(call.supervisor, Role::Barge).unwrap();
    // Nothing changes until the tick.
    assert_eq!(call.out(call.caller), before);
    assert!(supervisor_part(&call).iter().all(|&s| s == 0));

    call.tick();
    let sup_now = tone(SUPERVISOR_HZ, SUPERVISOR_PHASE, call.frame - 1);
    // Without a ramp, the first sample would jump by the tone's peak.
    assert!(f64::from(sup_now[0]) > AMPLITUDE * 0.99);
    let part = supervisor_part(&call);
    for (i, &s) in part.iter().enumerate() {
        let envelope = (AMPLITUDE * (i + 1) as f64 / N as f64).ceil() as i32 + 1;
        assert!(
            s.abs() <= envelope,
            "sample {i}: {s} above the ramp {envelope}"
        );
    }
    assert!(
        part[0].abs() <= AMPLITUDE as i32 / N as i32 + 1,
        "click: {}",
        part[0]
    );
    assert!((part[N - 1] - i32::from(sup_now[N - 1])).abs() <= 1);
    // The boundary step is no bigger than the agent's own tone makes it.
    let out = call.out(call.caller);
    let agent_step = 2.0 * std::f64::consts::PI * AGENT_HZ / f64::from(CLOCK_RATE) * AMPLITUDE;
    let step = (i32::from(out[0]) - i32::from(before[N - 1])).abs();
    assert!(
        f64::from(step) <= agent_step + AMPLITUDE / N as f64 + 2.0,
        "step {step}"
    );
    // The fade made the supervisor audible but below full level in this frame ...
    let faded = level(&out, SUPERVISOR_HZ);
    assert!(
        faded > AMPLITUDE * 0.3 && faded < AMPLITUDE * 0.9,
        "{faded}"
    );
    // ... and from the following frame on it is full.
    call.tick();
    assert_eq!(call.heard_by(call.caller), [false, true, true]);
}

#[test]
fn leaving_a_barge_fades_out_over_one_frame() {
    let mut call = Call::new(|_| Role::Barge);
    call.mixer
        .set_role(call.supervisor, Role::ListenOnly)
        .unwrap();
    call.tick();
    let sup_now = tone(SUPERVISOR_HZ, SUPERVISOR_PHASE, call.frame - 1);
    let part = supervisor_part(&call);
    assert!((part[0] - i32::from(sup_now[0])).abs() <= AMPLITUDE as i32 / N as i32 + 1);
    for (i, &s) in part.iter().enumerate() {
        let envelope = (AMPLITUDE * (N - 1 - i) as f64 / N as f64).ceil() as i32 + 1;
        assert!(
            s.abs() <= envelope,
            "sample {i}: {s} above the ramp {envelope}"
        );
    }
    assert_eq!(part[N - 1], 0);
    call.tick();
    assert!(supervisor_part(&call).iter().all(|&s| s == 0));
    assert_eq!(call.heard_by(call.caller), [false, true, false]);
}

#[test]
fn whisper_to_barge_keeps_the_agent_steady_and_fades_the_caller_in() {
    let mut call = Call::new(|_| Role::ListenOnly);
    call.mixer
        .set_role(call.supervisor, Role::Whisper { to: call.agent })
        .unwrap();
    call.tick();
    call.tick();
    assert_eq!(call.heard_by(call.caller), [false, true, false]);
    assert_eq!(call.heard_by(call.agent), [true, false, true]);

    call.mixer.set_role(call.supervisor, Role::Barge).unwrap();
    call.tick();
    // The agent heard the supervisor before and after: the fade out of the whisper edge and
    // the fade in of the room edge sum to the tone, give or take rounding.
    let k = call.frame - 1;
    let out = call.out(call.agent);
    let (caller, supervisor) = (
        tone(CALLER_HZ, 0.0, k),
        tone(SUPERVISOR_HZ, SUPERVISOR_PHASE, k),
    );
    for (i, ((&o, &c), &s)) in out.iter().zip(&caller).zip(&supervisor).enumerate() {
        let expected = i32::from(c) + i32::from(s);
        assert!((i32::from(o) - expected).abs() <= 1, "dip at {i}");
    }
    // The caller gets the fade in.
    let part = supervisor_part(&call);
    assert!(part[0].abs() <= AMPLITUDE as i32 / N as i32 + 1);
    call.tick();
    assert_eq!(call.heard_by(call.caller), [false, true, true]);
    assert_eq!(call.heard_by(call.agent), [true, false, true]);
}

#[test]
fn a_joining_participant_fades_in() {
    let mut mixer = Mixer::new();
    let room = mixer.create_room();
    let a = mixer.add_participant(room, Role::SpeakListen).unwrap();
    let b = mixer.add_participant(room, Role::SpeakListen).unwrap();
    mixer.put_frame(a, &[10_000; N]).unwrap();
    mixer.tick();
    let out = mixer.frame_for(b).unwrap();
    assert!(out[0] <= 10_000 / N as i16 + 1);
    assert_eq!(out[N - 1], 10_000);
    assert!(out.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn gain_ramps_to_its_new_value_and_rejects_nonsense() {
    let mut mixer = Mixer::new();
    let room = mixer.create_room();
    let a = mixer.add_participant(room, Role::SpeakListen).unwrap();
    let b = mixer.add_participant(room, Role::SpeakListen).unwrap();
    let run = |mixer: &mut Mixer| {
        mixer.put_frame(a, &[8000; N]).unwrap();
        mixer.tick();
        *mixer.frame_for(b).unwrap()
    };
    run(&mut mixer);
    assert_eq!(run(&mut mixer), [8000; N]);
    mixer.set_gain(a, 0.5).unwrap();
    assert_eq!(mixer.gain(a).unwrap(), 0.5);
    let ramp = run(&mut mixer);
    assert!(ramp[0] > 7900 && ramp[N - 1] == 4000);
    assert_eq!(run(&mut mixer), [4000; N]);
    for bad in [-0.1, 4.5, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            mixer.set_gain(a, bad),
            Err(MixerError::InvalidGain(_))
        ));
    }
    assert_eq!(mixer.gain(a).unwrap(), 0.5);
}

#[test]
fn no_frame_means_silence_and_inputs_are_the_recording_tap() {
    let mut call = Call::new(|_| Role::ListenOnly);
    // Recording tap: each party's own input for the tick just mixed.
    let k = call.frame - 1;
    assert_eq!(
        *call.mixer.input_of(call.caller).unwrap(),
        tone(CALLER_HZ, 0.0, k)
    );
    assert_eq!(
        *call.mixer.input_of(call.agent).unwrap(),
        tone(AGENT_HZ, 0.0, k)
    );
    // The agent's phone sends nothing this tick (loss, or not yet started).
    let caller_frame = tone(CALLER_HZ, 0.0, call.frame);
    call.mixer.put_frame(call.caller, &caller_frame).unwrap();
    call.mixer.tick();
    assert_eq!(*call.mixer.frame_for(call.caller).unwrap(), [0; N]);
    assert_eq!(*call.mixer.input_of(call.agent).unwrap(), [0; N]);
    assert_eq!(*call.mixer.frame_for(call.agent).unwrap(), caller_frame);
    // Inputs are consumed by the tick: nobody repeats.
    call.mixer.tick();
    assert_eq!(*call.mixer.frame_for(call.agent).unwrap(), [0; N]);
}

#[test]
fn ten_loud_speakers_saturate_without_overflow() {
    let mut mixer = Mixer::new();
    let room = mixer.create_room();
    let speakers: Vec<_> = (0..10)
        .map(|_| mixer.add_participant(room, Role::SpeakListen).unwrap())
        .collect();
    for &p in &speakers {
        mixer.set_gain(p, 4.0).unwrap();
    }
    for round in 0..4 {
        for (n, &p) in speakers.iter().enumerate() {
            // Full scale, half of them square waves, at +12 dB gain.
            let frame: Frame = if n % 2 == 0 {
                [i16::MAX; N]
            } else {
                std::array::from_fn(|i| if i % 2 == 0 { i16::MIN } else { i16::MAX })
            };
            mixer.put_frame(p, &frame).unwrap();
        }
        mixer.tick();
        if round == 0 {
            continue; // fade in
        }
        for &p in &speakers {
            let out = mixer.frame_for(p).unwrap();
            // Odd samples: the 9 others at +max, far over full scale: limited, not wrapped.
            assert!(out.iter().skip(1).step_by(2).all(|&s| s == i16::MAX));
            // Even samples: 4 or 5 others at +max, 4 or 5 at min: loud, of either sign.
            let even = i32::from(out[0]);
            assert!(even.abs() > 30_000, "{even}");
            assert!(
                out.iter().all(|&s| s >= -i16::MAX),
                "the limiter is symmetric"
            );
        }
    }
}

#[test]
fn a_single_loud_voice_passes_unchanged() {
    let mut mixer = Mixer::new();
    let room = mixer.create_room();
    let a = mixer.add_participant(room, Role::SpeakListen).unwrap();
    let b = mixer.add_participant(room, Role::SpeakListen).unwrap();
    let loud: Frame = std::array::from_fn(|i| if i % 2 == 0 { i16::MIN } else { i16::MAX });
    for _ in 0..2 {
        mixer.put_frame(a, &loud).unwrap();
        mixer.put_frame(b, &loud).unwrap();
        mixer.tick();
    }
    assert_eq!(*mixer.frame_for(a).unwrap(), loud);
    assert_eq!(*mixer.frame_for(b).unwrap(), loud);
}

#[test]
fn removed_participants_and_rooms_are_errors_not_panics() {
    let mut mixer = Mixer::new();
    let room = mixer.create_room();
    let other_room = mixer.create_room();
    let a = mixer.add_participant(room, Role::SpeakListen).unwrap();
    let b = mixer.add_participant(room, Role::SpeakListen).unwrap();
    let c = mixer
        .add_participant(room, Role::Whisper { to: b })
        .unwrap();
    let elsewhere = mixer
        .add_participant(other_room, Role::SpeakListen)
        .unwrap();
    assert_eq!(mixer.participant_count(), 4);

    // Whisper targets are checked.
    assert_eq!(
        mixer.set_role(c, Role::Whisper { to: c }),
        Err(MixerError::WhisperToSelf(c))
    );
    assert_eq!(
        mixer.set_role(c, Role::Whisper { to: elsewhere }),
        Err(MixerError::WhisperTargetNotInRoom {
            target: elsewhere,
            room
        })
    );
    assert_eq!(
        mixer.add_participant(other_room, Role::Whisper { to: a }),
        Err(MixerError::WhisperTargetNotInRoom {
            target: a,
            room: other_room
        })
    );
    assert_eq!(mixer.role(c), Ok(Role::Whisper { to: b }));

    // The whisper target leaves: the whisperer is heard by no one, nothing panics.
    mixer.remove_participant(b).unwrap();
    assert_eq!(mixer.participants(room).unwrap(), &[a, c]);
    let gone = Err(MixerError::UnknownParticipant(b));
    assert_eq!(mixer.remove_participant(b), gone);
    assert_eq!(mixer.put_frame(b, &[1; N]), gone);
    assert_eq!(mixer.frame_for(b).map(|_| ()), gone);
    assert_eq!(mixer.input_of(b).map(|_| ()), gone);
    assert_eq!(mixer.set_role(b, Role::Muted), gone);
    assert_eq!(mixer.set_gain(b, 1.0), gone);
    assert_eq!(mixer.role(b).map(|_| ()), gone);
    assert_eq!(mixer.hears(a, b).map(|_| ()), gone);
    assert_eq!(
        mixer.set_role(c, Role::Whisper { to: b }),
        Err(MixerError::UnknownParticipant(b))
    );
    for _ in 0..2 {
        mixer.put_frame(a, &[100; N]).unwrap();
        mixer.put_frame(c, &[7; N]).unwrap();
        mixer.tick();
    }
    assert_eq!(*mixer.frame_for(a).unwrap(), [0; N]);
    assert_eq!(*mixer.frame_for(c).unwrap(), [100; N]);

    // A reused slot gets a new handle; the old one stays dead.
    let d = mixer
        .add_participant(other_room, Role::SpeakListen)
        .unwrap();
    assert_ne!(d, b);
    assert_eq!(mixer.put_frame(b, &[1; N]), gone);
    assert_eq!(mixer.room_of(d), Ok(other_room));
    // The whisperer's stale target is not the newcomer in the other room.
    assert!(!mixer.hears(d, c).unwrap());

    // Removing a room removes its participants.
    mixer.remove_room(room).unwrap();
    assert_eq!(mixer.room_count(), 1);
    assert_eq!(mixer.participant_count(), 2);
    for p in [a, c] {
        assert_eq!(
            mixer.put_frame(p, &[1; N]),
            Err(MixerError::UnknownParticipant(p))
        );
    }
    let no_room = Err(MixerError::UnknownRoom(room));
    assert_eq!(mixer.remove_room(room), no_room);
    assert_eq!(mixer.mix_room(room), no_room);
    assert_eq!(mixer.participants(room).map(|_| ()), no_room);
    assert_eq!(
        mixer.add_participant(room, Role::SpeakListen).map(|_| ()),
        no_room
    );
    let new_room = mixer.create_room();
    assert_ne!(new_room, room);
    assert_eq!(mixer.remove_room(room), no_room);
    mixer.tick();

    let text = MixerError::UnknownParticipant(b).to_string();
    assert!(text.contains("participant#"), "{text}");
}

#[test]
fn rooms_are_independent_and_mix_room_mixes_one() {
    let mut mixer = Mixer::new();
    let rooms: Vec<_> = (0..3).map(|_| mixer.create_room()).collect();
    let pairs: Vec<_> = rooms
        .iter()
        .map(|&r| {
            let a = mixer.add_participant(r, Role::SpeakListen).unwrap();
            let b = mixer.add_participant(r, Role::SpeakListen).unwrap();
            (a, b)
        })
        .collect();
    for _ in 0..2 {
        for (n, &(a, b)) in pairs.iter().enumerate() {
            mixer.put_frame(a, &[n as i16 + 1; N]).unwrap();
            mixer.put_frame(b, &[-(n as i16) - 10; N]).unwrap();
        }
        mixer.tick();
    }
    for (n, &(a, b)) in pairs.iter().enumerate() {
        assert_eq!(mixer.frame_for(a).unwrap()[0], -(n as i16) - 10);
        assert_eq!(mixer.frame_for(b).unwrap()[0], n as i16 + 1);
    }
    let (a1, b1) = pairs[1];
    mixer.put_frame(a1, &[555; N]).unwrap();
    mixer.put_frame(pairs[0].0, &[444; N]).unwrap();
    mixer.mix_room(rooms[1]).unwrap();
    assert_eq!(mixer.frame_for(b1).unwrap()[0], 555);
    assert_eq!(mixer.frame_for(pairs[0].1).unwrap()[0], 1); // room 0 not mixed yet
}

/// A small deterministic generator for the test signals.
struct Lcg(u64);

impl Lcg {
    fn sample(&mut self, range: i16) -> i16 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = i32::from(range);
        ((self.0 >> 33) as i32 % (2 * r + 1) - r) as i16
    }
}

#[test]
fn a_hundred_participant_room_is_mix_minus_exact() {
    let mut mixer = Mixer::with_capacity(1, 100);
    let room = mixer.create_room();
    let people: Vec<_> = (0..100)
        .map(|_| mixer.add_participant(room, Role::SpeakListen).unwrap())
        .collect();
    // A supervisor monitoring and one whispering to participant 0.
    let monitor = mixer.add_participant(room, Role::ListenOnly).unwrap();
    let coach = mixer
        .add_participant(room, Role::Whisper { to: people[0] })
        .unwrap();
    // A first tick without frames: the join fade-ins pass in silence.
    mixer.tick();
    let mut rng = Lcg(42);
    for _ in 0..3 {
        let inputs: Vec<Frame> = (0..100)
            .map(|_| std::array::from_fn(|_| rng.sample(300)))
            .collect();
        for (p, frame) in people.iter().zip(&inputs) {
            mixer.put_frame(*p, frame).unwrap();
        }
        let whisper: Frame = std::array::from_fn(|_| rng.sample(300));
        mixer.put_frame(coach, &whisper).unwrap();
        mixer.put_frame(monitor, &[9999; N]).unwrap();
        mixer.tick();

        let total: [i32; N] = std::array::from_fn(|i| inputs.iter().map(|f| i32::from(f[i])).sum());
        for (n, &p) in people.iter().enumerate() {
            let out = mixer.frame_for(p).unwrap();
            for i in 0..N {
                let mut expected = total[i] - i32::from(inputs[n][i]);
                if n == 0 {
                    expected += i32::from(whisper[i]);
                }
                assert_eq!(i32::from(out[i]), expected, "participant {n} sample {i}");
            }
        }
        assert_eq!(
            mixer.frame_for(monitor).unwrap().map(i32::from),
            total,
            "the monitor hears everyone, not the whisper"
        );
    }
}

#[test]
fn a_room_has_a_size_limit() {
    let mut mixer = Mixer::new();
    let room = mixer.create_room();
    for _ in 0..MAX_ROOM_PARTICIPANTS {
        mixer.add_participant(room, Role::Muted).unwrap();
    }
    assert_eq!(
        mixer.add_participant(room, Role::SpeakListen),
        Err(MixerError::RoomFull(room))
    );
}
