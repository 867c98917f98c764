//! Fuzz the conference mixer (`media/src/mixer.rs`, `mixer/kernel.rs`) against a reference
//! model.
//!
//! A script creates and removes rooms, adds and removes participants in every role
//! (whispers to live, removed, foreign and own ids), changes roles and gains (valid,
//! out of range, NaN), puts frames (DC, impulses, full-scale squares, ramps), ticks all
//! rooms or one, and queries. Handles are replayed after their room or participant is
//! gone. The mixer never panics; every call succeeds or fails exactly as the model says
//! (`UnknownRoom`, `UnknownParticipant`, `WhisperToSelf`, `WhisperTargetNotInRoom`,
//! `RoomFull`, `InvalidGain`), and queries (`role`, `gain`, `room_of`, `participants`,
//! `hears`, counts) agree with it.
//!
//! After each tick every participant's `frame_for` equals the model's mix-minus, computed
//! the direct way — the sum of what each *other* speaker it hears contributes (never its
//! own input), plus whispers to it — with the module's gain ramps (Q14, one frame, from
//! the audience and gain at the last tick to the current ones; a whisper to a participant
//! that left is heard by no one) and limiter (clamping for one source, the soft knee
//! above -2.5 dBFS for two or more); `input_of` is the frame given, or silence.
//!
//! Input: ops; the low 4 bits of an op byte pick it, and it reads its own bytes (indices
//! into the handles issued so far, roles, gains, frame shapes); see `step`. To keep runs
//! fast, at most one full room's worth of participants (plus 64) live at once, and in rooms
//! of more than 64 the outputs of the first and last 8 members are the ones compared.
//!
//! Run: `cargo +nightly fuzz run mixer -- -max_len=4096`

#![no_main]

use std::collections::{HashMap, HashSet};

use hotline_media::mixer::{
    Audience, MAX_GAIN, MAX_ROOM_PARTICIPANTS, Mixer, MixerError, ParticipantId, Role, RoomId,
};
use hotline_media::{FRAME_SAMPLES, Frame};
use libfuzzer_sys::fuzz_target;

const N: usize = FRAME_SAMPLES;
const UNITY: i32 = 1 << 14;
/// Live participants at most (one full room and a few more).
const MAX_LIVE: usize = MAX_ROOM_PARTICIPANTS + 64;
/// Participant handles issued at most.
const MAX_ISSUED: usize = 4 * MAX_ROOM_PARTICIPANTS;
const BEND: i32 = 1 << 13;
const KNEE: i32 = i16::MAX as i32 - BEND;
const CEILING: i32 = KNEE + 2 * BEND;

const GAINS: [f32; 16] = [
    0.0,
    0.25,
    0.5,
    1.0,
    2.0,
    MAX_GAIN,
    4.0001,
    -0.0,
    -1.0,
    f32::NAN,
    f32::INFINITY,
    1e-6,
    3.99999,
    1.0 / 3.0,
    0.999,
    1.5,
];

/// The kernel's ramp: sample `i` gets `g0 + (g1 - g0) * (i + 1) / N`, Q14, floored.
fn scale(input: &Frame, g0: i32, g1: i32) -> [i32; N] {
    let mut out = [0; N];
    for (i, (o, &x)) in out.iter_mut().zip(input).enumerate() {
        let g = if g0 == g1 {
            g0
        } else {
            g0 + (g1 - g0) * (i as i32 + 1) / N as i32
        };
        *o = (i32::from(x) * g) >> 14;
    }
    out
}

/// The documented soft knee, as the kernel computes it in f32.
fn soft_limit(v: i32) -> i16 {
    const K: f32 = KNEE as f32;
    const C: f32 = CEILING as f32;
    const SCALE: f32 = 1.0 / (4 * BEND) as f32;
    let x = (v as f32).clamp(-C, C);
    let a = x.abs();
    let over = (a - K).max(0.0);
    let y = (a - over * over * SCALE).copysign(x);
    const MAGIC: f32 = 12_582_912.0;
    let rounded = (y + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32;
    rounded as i16
}

fn audience(role: Role) -> Audience {
    match role {
        Role::SpeakListen | Role::Barge => Audience::Everyone,
        Role::ListenOnly | Role::Muted => Audience::Nobody,
        Role::Whisper { to } => Audience::Only(to),
        other => panic!("a role the model does not know: {other:?}"),
    }
}

struct Part {
    room: RoomId,
    role: Role,
    gain: i32,
    fed: Audience,
    fed_gain: i32,
    has_input: bool,
    input: Frame,
    output: Frame,
    /// `output` was modelled at the last tick.
    checked: bool,
}

#[derive(Default)]
struct Model {
    rooms: HashMap<RoomId, Vec<ParticipantId>>,
    parts: HashMap<ParticipantId, Part>,
}

impl Model {
    fn part(&self, p: ParticipantId) -> Result<&Part, MixerError> {
        self.parts.get(&p).ok_or(MixerError::UnknownParticipant(p))
    }

    fn check_whisper(
        &self,
        room: RoomId,
        whisperer: Option<ParticipantId>,
        to: ParticipantId,
    ) -> Result<(), MixerError> {
        if whisperer == Some(to) {
            return Err(MixerError::WhisperToSelf(to));
        }
        if self.part(to)?.room != room {
            return Err(MixerError::WhisperTargetNotInRoom { target: to, room });
        }
        Ok(())
    }

    fn resolve(&self, a: Audience, speaker: ParticipantId, room: RoomId) -> Audience {
        match a {
            Audience::Only(t) => match self.parts.get(&t) {
                Some(target) if target.room == room && t != speaker => a,
                _ => Audience::Nobody,
            },
            other => other,
        }
    }

    /// One frame time of one room, the direct way.
    fn mix(&mut self, room: RoomId) {
        let members = self.rooms[&room].clone();
        // (speaker, listener or None for everyone, contribution)
        let mut edges: Vec<(ParticipantId, Option<ParticipantId>, [i32; N])> = Vec::new();
        for &id in &members {
            let p = &self.parts[&id];
            let now = audience(p.role);
            let feeds = if p.fed == now {
                [(now, p.fed_gain, p.gain), (Audience::Nobody, 0, 0)]
            } else {
                [(p.fed, p.fed_gain, 0), (now, 0, p.gain)]
            };
            let feeds = feeds.map(|(a, g0, g1)| (self.resolve(a, id, room), g0, g1));
            let p = self.parts.get_mut(&id).unwrap();
            p.fed = now;
            p.fed_gain = p.gain;
            if !std::mem::take(&mut p.has_input) {
                p.input = [0; N];
                continue;
            }
            for (a, g0, g1) in feeds {
                if g0 == 0 && g1 == 0 {
                    continue;
                }
                match a {
                    Audience::Everyone => edges.push((id, None, scale(&p.input, g0, g1))),
                    Audience::Only(t) => edges.push((id, Some(t), scale(&p.input, g0, g1))),
                    _ => {}
                }
            }
        }
        // Small rooms: each listener's sum built from the others directly. Large ones:
        // everything heard by everyone summed once, minus the listener's own (exact in
        // i32), plus whispers to it.
        let direct = members.len() <= 32;
        let mut everyone = ([0i32; N], 0u32);
        if !direct {
            for (_, to, part) in &edges {
                if to.is_none() {
                    everyone.1 += 1;
                    for (a, &x) in everyone.0.iter_mut().zip(part) {
                        *a += x;
                    }
                }
            }
        }
        // In large rooms only the first and last few listeners are checked (the ramps
        // and inputs of all are still modelled).
        let len = members.len();
        let mut heard: HashMap<ParticipantId, ([i32; N], u32)> = members
            .iter()
            .enumerate()
            .filter(|&(k, _)| len <= 64 || k < 8 || k + 8 >= len)
            .map(|(_, &m)| (m, if direct { ([0; N], 0) } else { everyone }))
            .collect();
        for &m in &members {
            self.parts.get_mut(&m).unwrap().checked = heard.contains_key(&m);
        }
        for (speaker, to, part) in &edges {
            let mut feed = |listener: &ParticipantId, sign: i32| {
                let Some((acc, sources)) = heard.get_mut(listener) else {
                    return;
                };
                *sources = sources.wrapping_add_signed(sign);
                for (a, &x) in acc.iter_mut().zip(part) {
                    *a += sign * x;
                }
            };
            match to {
                None if direct => members
                    .iter()
                    .filter(|m| *m != speaker)
                    .for_each(|m| feed(m, 1)),
                None => feed(speaker, -1),
                Some(t) => feed(t, 1),
            }
        }
        for (id, (acc, sources)) in heard {
            let peak = acc.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
            let soft = sources >= 2 && peak > KNEE as u32;
            let p = self.parts.get_mut(&id).unwrap();
            for (o, &v) in p.output.iter_mut().zip(&acc) {
                *o = if soft {
                    soft_limit(v)
                } else {
                    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
                };
            }
        }
    }
}

struct Fuzz<'a> {
    input: &'a [u8],
    mixer: Mixer,
    model: Model,
    room_ids: Vec<RoomId>,
    part_ids: Vec<ParticipantId>,
    issued: HashSet<ParticipantId>,
}

impl Fuzz<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.input.split_first()?;
        self.input = rest;
        Some(b)
    }

    /// A room handle issued so far (live or not): `None` at the end of the input,
    /// `Some(None)` when none was issued yet.
    fn room_id(&mut self) -> Option<Option<RoomId>> {
        let i = usize::from(self.byte()?);
        Some((!self.room_ids.is_empty()).then(|| self.room_ids[i % self.room_ids.len()]))
    }

    /// A participant handle issued so far, as [`Self::room_id`].
    fn part_id(&mut self) -> Option<Option<ParticipantId>> {
        let i = usize::from(self.byte()?);
        Some((!self.part_ids.is_empty()).then(|| self.part_ids[i % self.part_ids.len()]))
    }

    /// A role; a whisper's target is read from the next byte (any handle issued).
    fn role(&mut self) -> Option<Option<Role>> {
        let r = self.byte()?;
        Some(Some(match r % 5 {
            0 => Role::SpeakListen,
            1 => Role::ListenOnly,
            2 => match self.part_id()? {
                Some(to) => Role::Whisper { to },
                None => return Some(None),
            },
            3 => Role::Barge,
            _ => Role::Muted,
        }))
    }

    fn frame(&mut self) -> Option<Frame> {
        let [kind, a, b] = [self.byte()?, self.byte()?, self.byte()?];
        let v = i16::from_le_bytes([a, b]);
        let mut f = [0i16; N];
        match kind % 6 {
            0 => f.fill(v),
            1 => f[usize::from(a) % N] = v,
            2 => {
                for (i, s) in f.iter_mut().enumerate() {
                    *s = if (i / (usize::from(b % 16) + 1)) % 2 == 0 {
                        i16::MAX
                    } else {
                        i16::MIN
                    };
                }
            }
            3 => {
                for (i, s) in f.iter_mut().enumerate() {
                    *s = v.wrapping_mul(i as i16);
                }
            }
            4 => f.fill(if a & 1 == 0 { i16::MIN } else { i16::MAX }),
            _ => {
                for (i, s) in f.iter_mut().enumerate() {
                    *s = (i as i16 * 97).wrapping_add(v) % 20_000;
                }
            }
        }
        Some(f)
    }

    fn check_counts(&self) {
        assert_eq!(self.mixer.room_count(), self.model.rooms.len());
        assert_eq!(self.mixer.participant_count(), self.model.parts.len());
    }

    /// After a tick of `rooms`: outputs and recording taps equal the model's.
    fn check_outputs(&self, rooms: &[RoomId]) {
        for room in rooms {
            for id in &self.model.rooms[room] {
                let p = &self.model.parts[id];
                let input = self.mixer.input_of(*id).unwrap();
                assert_eq!(input, &p.input, "{id}: input tap");
                if p.checked {
                    let out = self.mixer.frame_for(*id).unwrap();
                    assert_eq!(out, &p.output, "{id} in {room}: mix differs from the model");
                }
            }
        }
    }

    fn put(&mut self, p: ParticipantId, frame: Frame) {
        let got = self.mixer.put_frame(p, &frame);
        match self.model.parts.get_mut(&p) {
            Some(part) => {
                assert_eq!(got, Ok(()));
                part.input = frame;
                part.has_input = true;
            }
            None => assert_eq!(got, Err(MixerError::UnknownParticipant(p))),
        }
    }

    fn tick_all(&mut self) {
        self.mixer.tick();
        let rooms: Vec<RoomId> = self.model.rooms.keys().copied().collect();
        for &room in &rooms {
            self.model.mix(room);
        }
        self.check_outputs(&rooms);
    }

    /// One op; `None` at the end of the input.
    fn step(&mut self) -> Option<()> {
        let op = self.byte()?;
        match op & 15 {
            0 => {
                let room = self.mixer.create_room();
                assert!(!self.room_ids.contains(&room), "a room handle reused");
                assert_eq!(self.mixer.participants(room), Ok(&[][..]));
                self.room_ids.push(room);
                self.model.rooms.insert(room, Vec::new());
            }
            1 => {
                let Some(room) = self.room_id()? else {
                    return Some(());
                };
                let got = self.mixer.remove_room(room);
                match self.model.rooms.remove(&room) {
                    Some(members) => {
                        assert_eq!(got, Ok(()));
                        for p in members {
                            self.model.parts.remove(&p);
                        }
                    }
                    None => assert_eq!(got, Err(MixerError::UnknownRoom(room))),
                }
            }
            // add participants of one role: one, arg + 1, or (arg 15) enough to fill a
            // room; at most MAX_LIVE live and MAX_ISSUED issued in all, to keep runs fast
            2 | 3 => {
                let Some(room) = self.room_id()? else {
                    return Some(());
                };
                let Some(role) = self.role()? else {
                    return Some(());
                };
                let times = match (op & 15, op >> 4) {
                    (2, _) => 1,
                    (_, 15) => MAX_ROOM_PARTICIPANTS + 1,
                    (_, n) => usize::from(n) + 1,
                };
                for _ in 0..times {
                    if self.model.parts.len() >= MAX_LIVE || self.part_ids.len() >= MAX_ISSUED {
                        break;
                    }
                    let got = self.mixer.add_participant(room, role);
                    let expected = match self.model.rooms.get(&room) {
                        None => Err(MixerError::UnknownRoom(room)),
                        Some(m) if m.len() >= MAX_ROOM_PARTICIPANTS => {
                            Err(MixerError::RoomFull(room))
                        }
                        Some(_) => match role {
                            Role::Whisper { to } => self.model.check_whisper(room, None, to),
                            _ => Ok(()),
                        },
                    };
                    match (got, expected) {
                        (Ok(id), Ok(())) => {
                            assert!(self.issued.insert(id), "a participant handle reused");
                            self.part_ids.push(id);
                            self.model.rooms.get_mut(&room).unwrap().push(id);
                            self.model.parts.insert(
                                id,
                                Part {
                                    room,
                                    role,
                                    gain: UNITY,
                                    fed: Audience::Nobody,
                                    fed_gain: UNITY,
                                    has_input: false,
                                    input: [0; N],
                                    output: [0; N],
                                    checked: false,
                                },
                            );
                        }
                        (got, expected) => {
                            assert_eq!(got.map(|_| ()), expected, "add to {room} as {role:?}");
                            break;
                        }
                    }
                }
            }
            4 => {
                let Some(p) = self.part_id()? else {
                    return Some(());
                };
                let got = self.mixer.remove_participant(p);
                match self.model.parts.remove(&p) {
                    Some(part) => {
                        assert_eq!(got, Ok(()));
                        self.model
                            .rooms
                            .get_mut(&part.room)
                            .unwrap()
                            .retain(|m| *m != p);
                    }
                    None => assert_eq!(got, Err(MixerError::UnknownParticipant(p))),
                }
            }
            5 => {
                let Some(p) = self.part_id()? else {
                    return Some(());
                };
                let Some(role) = self.role()? else {
                    return Some(());
                };
                let got = self.mixer.set_role(p, role);
                let expected =
                    self.model
                        .part(p)
                        .map(|part| part.room)
                        .and_then(|room| match role {
                            Role::Whisper { to } => self.model.check_whisper(room, Some(p), to),
                            _ => Ok(()),
                        });
                assert_eq!(got, expected, "set_role({p}, {role:?})");
                if got.is_ok() {
                    self.model.parts.get_mut(&p).unwrap().role = role;
                }
            }
            6 => {
                let Some(p) = self.part_id()? else {
                    return Some(());
                };
                let g = self.byte()?;
                let gain = if g < 128 {
                    GAINS[usize::from(g % 16)]
                } else {
                    f32::from(g - 128) / 32.0
                };
                let got = self.mixer.set_gain(p, gain);
                if !(0.0..=MAX_GAIN).contains(&gain) {
                    assert!(
                        matches!(got, Err(MixerError::InvalidGain(_))),
                        "{gain}: {got:?}"
                    );
                } else {
                    match self.model.parts.get_mut(&p) {
                        Some(part) => {
                            assert_eq!(got, Ok(()));
                            part.gain = ((gain * UNITY as f32).round() as i32).min(4 * UNITY);
                            let back = self.mixer.gain(p).unwrap();
                            assert_eq!(back, part.gain as f32 / UNITY as f32);
                        }
                        None => assert_eq!(got, Err(MixerError::UnknownParticipant(p))),
                    }
                }
            }
            7 | 8 => {
                let Some(p) = self.part_id()? else {
                    return Some(());
                };
                let frame = self.frame()?;
                self.put(p, frame);
            }
            9 | 10 => self.tick_all(),
            11 => {
                let Some(room) = self.room_id()? else {
                    return Some(());
                };
                let got = self.mixer.mix_room(room);
                if self.model.rooms.contains_key(&room) {
                    assert_eq!(got, Ok(()));
                    self.model.mix(room);
                    self.check_outputs(&[room]);
                } else {
                    assert_eq!(got, Err(MixerError::UnknownRoom(room)));
                }
            }
            // every participant of a room speaks (a distinct DC offset each, or the
            // frame from the input shifted by position), then all rooms tick
            12 | 13 => {
                let Some(room) = self.room_id()? else {
                    return Some(());
                };
                let frame = self.frame()?;
                let members = self.model.rooms.get(&room).cloned().unwrap_or_default();
                for (k, p) in members.into_iter().enumerate() {
                    let mut f = frame;
                    if op & 16 != 0 {
                        f.fill(((k as i32 + 1) * 101 % 30_000) as i16);
                    } else {
                        f.rotate_left(k % N);
                    }
                    self.put(p, f);
                }
                self.tick_all();
            }
            // queries
            _ => {
                let Some(a) = self.part_id()? else {
                    return Some(());
                };
                let Some(b) = self.part_id()? else {
                    return Some(());
                };
                let expected = self.model.part(a).and_then(|l| {
                    let s = self.model.part(b)?;
                    Ok(l.room == s.room && audience(s.role).includes(b, a))
                });
                assert_eq!(self.mixer.hears(a, b), expected, "hears({a}, {b})");
                if a == b {
                    assert_ne!(self.mixer.hears(a, b), Ok(true), "hears itself");
                }
                match self.model.parts.get(&a) {
                    Some(part) => {
                        assert_eq!(self.mixer.role(a), Ok(part.role));
                        assert_eq!(self.mixer.room_of(a), Ok(part.room));
                        assert_eq!(self.mixer.gain(a), Ok(part.gain as f32 / UNITY as f32));
                        let members = self.mixer.participants(part.room).unwrap();
                        assert_eq!(members, &self.model.rooms[&part.room][..]);
                    }
                    None => {
                        assert_eq!(
                            self.mixer.role(a).err(),
                            Some(MixerError::UnknownParticipant(a))
                        );
                        assert_eq!(
                            self.mixer.frame_for(a).err(),
                            Some(MixerError::UnknownParticipant(a))
                        );
                        assert_eq!(
                            self.mixer.input_of(a).err(),
                            Some(MixerError::UnknownParticipant(a))
                        );
                        assert_eq!(
                            self.mixer.room_of(a).err(),
                            Some(MixerError::UnknownParticipant(a))
                        );
                    }
                }
                if let Some(room) = self.room_id()? {
                    match self.model.rooms.get(&room) {
                        Some(m) => assert_eq!(self.mixer.participants(room), Ok(&m[..])),
                        None => assert_eq!(
                            self.mixer.participants(room),
                            Err(MixerError::UnknownRoom(room))
                        ),
                    }
                }
            }
        }
        self.check_counts();
        Some(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut fuzz = Fuzz {
        input: data,
        mixer: Mixer::new(),
        model: Model::default(),
        room_ids: Vec::new(),
        part_ids: Vec::new(),
        issued: HashSet::new(),
    };
    while fuzz.step().is_some() {}
    // Two more ticks with no input: ramps finish, then silence everywhere.
    fuzz.tick_all();
    fuzz.tick_all();
    for id in fuzz.model.parts.keys() {
        assert_eq!(fuzz.mixer.frame_for(*id).unwrap(), &[0; N]);
    }
});
