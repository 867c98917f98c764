//! The conference mixer: rooms of participants, and who hears whom.
//!
//! A [`Mixer`] holds rooms ([`RoomId`]) of participants ([`ParticipantId`]); both are `Copy`
//! handles into slabs, with a generation so that a handle outliving its room or participant
//! is an error ([`MixerError`]), never a panic nor a different participant. A call bridge
//! is a room of two (caller and agent); a supervisor who listens, whispers or barges is a
//! third participant whose [`Role`] is all that changes.
//!
//! ## Who hears whom
//! As in pjmedia's conference bridge, the mix is a matrix of edges from speakers to
//! listeners; a role only says which edges leave a participant. Every participant hears its
//! room, and each role has an [`Audience`] — who hears it:
//!
//! | role                     | heard by                   | typical use             |
//! |--------------------------|----------------------------|-------------------------|
//! | [`Role::SpeakListen`]    | everyone else in the room  | caller, agent           |
//! | [`Role::Barge`]          | everyone else in the room  | supervisor joins in     |
//! | [`Role::Whisper`]`{ to }`| only `to`                  | supervisor coaches agent|
//! | [`Role::ListenOnly`]     | no one                     | supervisor monitors     |
//! | [`Role::Muted`]          | no one                     | mute, hold              |
//!
//! So `listener` hears `speaker` when they differ, share a room, and the speaker's audience
//! includes the listener ([`Mixer::hears`]). Nobody ever hears themselves (mix-minus). A new
//! role is one more arm in [`Role::audience`].
//!
//! The mix is O(N) per room, not O(N²): the contributions heard by everyone are summed
//! once into a 32-bit room accumulator; a whisper is added only to its target's private
//! accumulator; each listener's output is `room - own contribution + whispers to it`,
//! limited to i16: plain clamping for a single source (one voice passes bit-exact), and when
//! two or more sources are summed a soft knee — the identity up to about -2.5 dBFS, then a
//! parabola reaching full scale at about +1.9 dBFS — so that loud rooms round off before
//! they clip. The subtraction is exact: it removes the very integers that were added.
//!
//! ## Time model
//! The mixer has no clock. One [`Mixer::tick`] (or [`Mixer::mix_room`] for one room) is one
//! frame time, [`FRAME_DURATION`](crate::FRAME_DURATION), of [`FRAME_SAMPLES`] samples at
//! [`CLOCK_RATE`](crate::CLOCK_RATE); the driver (a media worker's 20 ms tick) calls it
//! once per frame. Each tick:
//!
//! 1. before it, the driver gives each participant's decoded frame with
//!    [`Mixer::put_frame`]; a participant that gave none contributes silence this tick
//!    (packet loss concealment belongs upstream, in the jitter buffer);
//! 2. the tick mixes and consumes the inputs;
//! 3. after it, the driver reads each participant's mix with [`Mixer::frame_for`] and, for
//!    recording, what each participant said with [`Mixer::input_of`] (a two-party call
//!    records in stereo as `input_of(caller)` left and `input_of(agent)` right; a
//!    [`Role::ListenOnly`] participant's `frame_for` is a mono recording of the whole room).
//!    Both stay valid until the next `put_frame` for that participant.
//!
//! Role ([`Mixer::set_role`]) and gain ([`Mixer::set_gain`]) changes take effect at the next
//! tick. Whenever an edge appears, disappears or changes gain — a role change, a join, a
//! volume change — the speaker's contribution to that listener ramps linearly over that one
//! frame, so nobody hears a click; listeners who hear the speaker before and after hear no
//! dip (the fade out and the fade in sum to the signal). A removed participant leaves at
//! once: set it [`Role::Muted`] one tick earlier to fade it out.
//!
//! Steady state allocates nothing: frames and accumulators live in the slabs, allocated when
//! a room or participant is added.
//!
//! ## A three-party room
//! ```
//! use hotline_media::FRAME_SAMPLES;
//! use hotline_media::mixer::{Mixer, Role};
//!
//! let mut mixer = Mixer::new();
//! let room = mixer.create_room();
//! let caller = mixer.add_participant(room, Role::SpeakListen)?;
//! let agent = mixer.add_participant(room, Role::SpeakListen)?;
//! // The supervisor coaches the agent; the caller must not hear it.
//! let supervisor = mixer.add_participant(room, Role::Whisper { to: agent })?;
//!
//! for _ in 0..2 {
//!     // One 20 ms tick: frames in (decoded RTP), mix, frames out (to encode and send).
//!     mixer.put_frame(caller, &[100; FRAME_SAMPLES])?;
//!     mixer.put_frame(agent, &[20; FRAME_SAMPLES])?;
//!     mixer.put_frame(supervisor, &[3; FRAME_SAMPLES])?;
//!     mixer.tick();
//! }
//! // (The first tick faded everyone in; the second is steady.)
//! assert_eq!(mixer.frame_for(caller)?[0], 20); // the agent only
//! assert_eq!(mixer.frame_for(agent)?[0], 103); // the caller and the whisper
//! assert_eq!(mixer.frame_for(supervisor)?[0], 120); // the caller and the agent
//!
//! // The supervisor barges in: the caller hears it from the next tick on.
//! mixer.set_role(supervisor, Role::Barge)?;
//! assert!(mixer.hears(caller, supervisor)?);
//! # Ok::<(), hotline_media::mixer::MixerError>(())
//! ```

use std::fmt;

use crate::{FRAME_SAMPLES, Frame};

mod kernel;

use kernel::{Accum, MAX_GAIN_Q14, UNITY, ZERO};

/// Samples per frame; every buffer here is this long.
const N: usize = FRAME_SAMPLES;

/// The most participants one room takes. It bounds the 32-bit sums: this many speakers at
/// full scale and [`MAX_GAIN`] stay far below `i32::MAX`.
pub const MAX_ROOM_PARTICIPANTS: usize = 1024;

/// The largest per-participant gain, as a linear factor (+12 dB).
pub const MAX_GAIN: f32 = 4.0;

/// A room: a set of participants mixed together. Stale handles are errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId {
    index: u32,
    generation: u32,
}

/// A participant of one room (one call leg, a supervisor, a player or a recorder tap).
/// Stale handles are errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId {
    index: u32,
    generation: u32,
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "room#{}.{}", self.index, self.generation)
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "participant#{}.{}", self.index, self.generation)
    }
}

/// What a participant does in its room. Every role hears the room; the role decides who
/// hears the participant ([`Role::audience`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// A normal party: heard by everyone else.
    SpeakListen,
    /// A silent monitor (a supervisor listening in): heard by no one.
    ListenOnly,
    /// Coaching: heard only by `to` (the agent), not by the rest of the room (the caller).
    Whisper {
        /// The one participant who hears the whisperer; in the same room, not itself.
        to: ParticipantId,
    },
    /// A supervisor who joins the conversation: heard by everyone, like
    /// [`Role::SpeakListen`], but kept distinct for auditing.
    Barge,
    /// Muted or on hold: hears the room, heard by no one.
    Muted,
}

/// Who hears a speaker: the edges leaving one participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Audience {
    /// No one.
    Nobody,
    /// Everyone else in the room.
    Everyone,
    /// This one participant.
    Only(ParticipantId),
}

impl Role {
    /// Who hears a participant in this role.
    pub fn audience(self) -> Audience {
        match self {
            Role::SpeakListen | Role::Barge => Audience::Everyone,
            Role::ListenOnly | Role::Muted => Audience::Nobody,
            Role::Whisper { to } => Audience::Only(to),
        }
    }
}

impl Audience {
    /// Whether `listener` hears `speaker` when the speaker has this audience (both in the
    /// same room). Never true for `listener == speaker`.
    pub fn includes(self, speaker: ParticipantId, listener: ParticipantId) -> bool {
        speaker != listener
            && match self {
                Audience::Nobody => false,
                Audience::Everyone => true,
                Audience::Only(target) => target == listener,
            }
    }
}

/// Why a mixer operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MixerError {
    /// The room was removed, or never existed in this mixer.
    #[error("unknown {0}")]
    UnknownRoom(RoomId),
    /// The participant was removed (perhaps with its room), or never existed.
    #[error("unknown {0}")]
    UnknownParticipant(ParticipantId),
    /// A participant cannot whisper to itself.
    #[error("{0} cannot whisper to itself")]
    WhisperToSelf(ParticipantId),
    /// The whisper target is not in the whisperer's room.
    #[error("{target} is not in {room}, so it cannot be whispered to from there")]
    WhisperTargetNotInRoom {
        /// The participant that was to hear the whisper.
        target: ParticipantId,
        /// The whisperer's room.
        room: RoomId,
    },
    /// The room already holds [`MAX_ROOM_PARTICIPANTS`].
    #[error("{0} is full")]
    RoomFull(RoomId),
    /// A gain outside `0.0..=`[`MAX_GAIN`], or not a number.
    #[error("gain {0} is outside 0..=4")]
    InvalidGain(f32),
}

/// A slab slot: the generation tells a live handle from a stale one.
#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    entry: Option<T>,
}

/// A slab of `T` with a free list; handles are (index, generation).
#[derive(Debug)]
struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    fn with_capacity(capacity: usize) -> Self {
        Slab {
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Stores `value` and returns its (index, generation).
    fn insert(&mut self, value: T) -> (u32, u32) {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.entry = Some(value);
            return (index, slot.generation);
        }
        // Four billion live slots would need terabytes of frames: memory runs out first.
        let index = u32::try_from(self.slots.len()).expect("slab index fits in u32");
        self.slots.push(Slot {
            generation: 0,
            entry: Some(value),
        });
        (index, 0)
    }

    fn get(&self, index: u32, generation: u32) -> Option<&T> {
        match self.slots.get(index as usize) {
            Some(slot) if slot.generation == generation => slot.entry.as_ref(),
            _ => None,
        }
    }

    fn get_mut(&mut self, index: u32, generation: u32) -> Option<&mut T> {
        match self.slots.get_mut(index as usize) {
            Some(slot) if slot.generation == generation => slot.entry.as_mut(),
            _ => None,
        }
    }

    /// Takes the value out; the slot's next tenant gets a new generation.
    fn remove(&mut self, index: u32, generation: u32) -> Option<T> {
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        let value = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.len -= 1;
        Some(value)
    }
}

#[derive(Debug)]
struct Room {
    members: Vec<ParticipantId>,
    /// The sum of every contribution heard by everyone, this tick.
    sum: Accum,
}

#[derive(Debug)]
struct Participant {
    room: RoomId,
    role: Role,
    /// The gain asked for, Q14.
    gain: i32,
    /// The audience at the end of the last tick (where ramps start from).
    fed: Audience,
    /// The gain at the end of the last tick, Q14.
    fed_gain: i32,
    /// `put_frame` was called since the last tick.
    has_input: bool,
    input: Frame,
    /// What this participant added to the room sum this tick (valid if `own_active`).
    own: Accum,
    own_active: bool,
    /// Whispers to this participant this tick (valid if `whispers > 0`).
    private: Accum,
    whispers: u32,
    output: Frame,
}

/// The conference mixer. See the [module documentation](self) for the model.
#[derive(Debug)]
pub struct Mixer {
    rooms: Slab<Room>,
    participants: Slab<Participant>,
    /// A whisper's scaled contribution, before it is added to its target.
    scratch: Box<Accum>,
}

impl Default for Mixer {
    fn default() -> Self {
        Mixer::new()
    }
}

impl Mixer {
    /// An empty mixer.
    pub fn new() -> Self {
        Mixer::with_capacity(0, 0)
    }

    /// An empty mixer with room for this many rooms and participants before it reallocates.
    pub fn with_capacity(rooms: usize, participants: usize) -> Self {
        Mixer {
            rooms: Slab::with_capacity(rooms),
            participants: Slab::with_capacity(participants),
            scratch: Box::new([0; N]),
        }
    }

    /// Opens an empty room.
    pub fn create_room(&mut self) -> RoomId {
        let (index, generation) = self.rooms.insert(Room {
            members: Vec::new(),
            sum: [0; N],
        });
        RoomId { index, generation }
    }

    /// Closes a room and removes its participants; their handles become unknown.
    pub fn remove_room(&mut self, room: RoomId) -> Result<(), MixerError> {
        let removed = self
            .rooms
            .remove(room.index, room.generation)
            .ok_or(MixerError::UnknownRoom(room))?;
        for p in removed.members {
            self.participants.remove(p.index, p.generation);
        }
        Ok(())
    }

    /// Adds a participant to `room`. It is faded in over its first tick.
    pub fn add_participant(
        &mut self,
        room: RoomId,
        role: Role,
    ) -> Result<ParticipantId, MixerError> {
        let members = &self
            .rooms
            .get(room.index, room.generation)
            .ok_or(MixerError::UnknownRoom(room))?
            .members;
        if members.len() >= MAX_ROOM_PARTICIPANTS {
            return Err(MixerError::RoomFull(room));
        }
        if let Role::Whisper { to } = role {
            self.check_whisper_target(room, None, to)?;
        }
        let (index, generation) = self.participants.insert(Participant {
            room,
            role,
            gain: UNITY,
            fed: Audience::Nobody,
            fed_gain: UNITY,
            has_input: false,
            input: [0; N],
            own: [0; N],
            own_active: false,
            private: [0; N],
            whispers: 0,
            output: [0; N],
        });
        let id = ParticipantId { index, generation };
        if let Some(r) = self.rooms.get_mut(room.index, room.generation) {
            r.members.push(id);
        }
        Ok(id)
    }

    /// Removes a participant at once (no fade: mute it a tick earlier for one). Whisperers
    /// that targeted it are heard by no one until their role is set again.
    pub fn remove_participant(&mut self, p: ParticipantId) -> Result<(), MixerError> {
        let removed = self
            .participants
            .remove(p.index, p.generation)
            .ok_or(MixerError::UnknownParticipant(p))?;
        if let Some(room) = self
            .rooms
            .get_mut(removed.room.index, removed.room.generation)
        {
            room.members.retain(|&m| m != p);
        }
        Ok(())
    }

    /// Changes a participant's role from the next tick on, with a one-frame ramp wherever
    /// an edge appears or disappears.
    pub fn set_role(&mut self, p: ParticipantId, role: Role) -> Result<(), MixerError> {
        let room = self.participant(p)?.room;
        if let Role::Whisper { to } = role {
            self.check_whisper_target(room, Some(p), to)?;
        }
        self.participant_mut(p)?.role = role;
        Ok(())
    }

    /// The participant's current role (as set; in effect from the next tick).
    pub fn role(&self, p: ParticipantId) -> Result<Role, MixerError> {
        Ok(self.participant(p)?.role)
    }

    /// Sets how loud the participant is to everyone who hears it, as a linear factor in
    /// `0.0..=`[`MAX_GAIN`] (1.0 unchanged). Ramps over the next tick.
    pub fn set_gain(&mut self, p: ParticipantId, gain: f32) -> Result<(), MixerError> {
        if !(0.0..=MAX_GAIN).contains(&gain) {
            return Err(MixerError::InvalidGain(gain));
        }
        // In 0..=65536 after the check above.
        let q14 = (gain * UNITY as f32).round() as i32;
        self.participant_mut(p)?.gain = q14.min(MAX_GAIN_Q14);
        Ok(())
    }

    /// The participant's gain as a linear factor.
    pub fn gain(&self, p: ParticipantId) -> Result<f32, MixerError> {
        Ok(self.participant(p)?.gain as f32 / UNITY as f32)
    }

    /// The room a participant is in.
    pub fn room_of(&self, p: ParticipantId) -> Result<RoomId, MixerError> {
        Ok(self.participant(p)?.room)
    }

    /// The participants of a room, in the order they joined.
    pub fn participants(&self, room: RoomId) -> Result<&[ParticipantId], MixerError> {
        Ok(&self
            .rooms
            .get(room.index, room.generation)
            .ok_or(MixerError::UnknownRoom(room))?
            .members)
    }

    /// Open rooms.
    pub fn room_count(&self) -> usize {
        self.rooms.len
    }

    /// Participants in all rooms.
    pub fn participant_count(&self) -> usize {
        self.participants.len
    }

    /// Whether `listener` hears `speaker` under the current roles (from the next tick).
    pub fn hears(
        &self,
        listener: ParticipantId,
        speaker: ParticipantId,
    ) -> Result<bool, MixerError> {
        let l = self.participant(listener)?;
        let s = self.participant(speaker)?;
        Ok(l.room == s.room && s.role.audience().includes(speaker, listener))
    }

    /// Gives the participant's frame for the next tick (a later call replaces it).
    pub fn put_frame(&mut self, p: ParticipantId, frame: &Frame) -> Result<(), MixerError> {
        let participant = self.participant_mut(p)?;
        participant.input = *frame;
        participant.has_input = true;
        Ok(())
    }

    /// What the participant hears, as mixed by the last tick (silence before the first).
    pub fn frame_for(&self, p: ParticipantId) -> Result<&Frame, MixerError> {
        Ok(&self.participant(p)?.output)
    }

    /// What the participant said in the last tick, before gain (silence if it gave no
    /// frame): the recorder's tap. A `put_frame` for the next tick replaces it.
    pub fn input_of(&self, p: ParticipantId) -> Result<&Frame, MixerError> {
        Ok(&self.participant(p)?.input)
    }

    /// Mixes one frame time in every room.
    pub fn tick(&mut self) {
        let Mixer {
            rooms,
            participants,
            scratch,
        } = self;
        for slot in &mut rooms.slots {
            if let Some(room) = &mut slot.entry {
                mix(room, participants, scratch);
            }
        }
    }

    /// Mixes one frame time in one room (for drivers that spread rooms over workers).
    pub fn mix_room(&mut self, room: RoomId) -> Result<(), MixerError> {
        let Mixer {
            rooms,
            participants,
            scratch,
        } = self;
        let r = rooms
            .get_mut(room.index, room.generation)
            .ok_or(MixerError::UnknownRoom(room))?;
        mix(r, participants, scratch);
        Ok(())
    }

    fn participant(&self, p: ParticipantId) -> Result<&Participant, MixerError> {
        self.participants
            .get(p.index, p.generation)
            .ok_or(MixerError::UnknownParticipant(p))
    }

    fn participant_mut(&mut self, p: ParticipantId) -> Result<&mut Participant, MixerError> {
        self.participants
            .get_mut(p.index, p.generation)
            .ok_or(MixerError::UnknownParticipant(p))
    }

    /// A whisper target must exist, be in `room` and not be the whisperer.
    fn check_whisper_target(
        &self,
        room: RoomId,
        whisperer: Option<ParticipantId>,
        target: ParticipantId,
    ) -> Result<(), MixerError> {
        if let Some(w) = whisperer
            && w == target
        {
            return Err(MixerError::WhisperToSelf(w));
        }
        let t = self.participant(target)?;
        if t.room != room {
            return Err(MixerError::WhisperTargetNotInRoom { target, room });
        }
        Ok(())
    }
}

/// Resolves an audience for this tick: a whisper to a participant that left (or is not in
/// `room`, or is the speaker) is heard by no one.
fn resolve(
    audience: Audience,
    speaker: ParticipantId,
    room: RoomId,
    participants: &Slab<Participant>,
) -> Audience {
    match audience {
        Audience::Only(t) => match participants.get(t.index, t.generation) {
            Some(target) if target.room == room && t != speaker => audience,
            _ => Audience::Nobody,
        },
        other => other,
    }
}

/// One frame time of one room.
fn mix(room: &mut Room, participants: &mut Slab<Participant>, scratch: &mut Accum) {
    let Room { members, sum } = room;
    sum.fill(0);
    for &id in members.iter() {
        if let Some(p) = participants.get_mut(id.index, id.generation) {
            p.own_active = false;
            p.whispers = 0;
        }
    }

    // Speakers: each feeds its audience, and during a change also its previous audience
    // (fading out there while fading in at the new one).
    let mut room_sources = 0u32;
    for &id in members.iter() {
        let Some(p) = participants.get(id.index, id.generation) else {
            continue; // members are live by construction; skip rather than panic
        };
        let room_id = p.room;
        let now = p.role.audience();
        let feeds = if p.fed == now {
            [(now, p.fed_gain, p.gain), (Audience::Nobody, 0, 0)]
        } else {
            [(p.fed, p.fed_gain, 0), (now, 0, p.gain)]
        };
        let feeds =
            feeds.map(|(audience, g0, g1)| (resolve(audience, id, room_id, participants), g0, g1));
        let Some(p) = participants.get_mut(id.index, id.generation) else {
            continue;
        };
        p.fed = now;
        p.fed_gain = p.gain;
        if !std::mem::take(&mut p.has_input) {
            p.input = [0; N]; // silence, also for `input_of`
            continue;
        }
        for (audience, g0, g1) in feeds {
            if g0 == 0 && g1 == 0 {
                continue;
            }
            match audience {
                Audience::Nobody => {}
                Audience::Everyone => {
                    // At most one feed goes to everyone: the two feeds differ.
                    let Some(p) = participants.get_mut(id.index, id.generation) else {
                        continue;
                    };
                    kernel::scale(&p.input, g0, g1, &mut p.own);
                    kernel::add(sum, &p.own);
                    p.own_active = true;
                    room_sources += 1;
                }
                Audience::Only(t) => {
                    let Some(p) = participants.get(id.index, id.generation) else {
                        continue;
                    };
                    kernel::scale(&p.input, g0, g1, scratch);
                    let Some(target) = participants.get_mut(t.index, t.generation) else {
                        continue;
                    };
                    if target.whispers == 0 {
                        target.private = *scratch;
                    } else {
                        kernel::add(&mut target.private, scratch);
                    }
                    target.whispers += 1;
                }
            }
        }
    }

    // Listeners: the room minus themselves, plus whispers to them.
    for &id in members.iter() {
        let Some(p) = participants.get_mut(id.index, id.generation) else {
            continue;
        };
        let own = if p.own_active { &p.own } else { &ZERO };
        let private = if p.whispers > 0 { &p.private } else { &ZERO };
        let sources = room_sources - u32::from(p.own_active) + p.whispers;
        kernel::mix_minus(sum, own, private, &mut p.output, sources >= 2);
    }
}
