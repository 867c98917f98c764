//! Shared by the media integration tests: an allocator that counts, per thread, so a test can
//! show that a hot path allocates nothing in the steady state (tests run in parallel threads
//! and do not disturb each other's counts).
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Allocations (and reallocations) made by this thread so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Allocations made by this thread while `f` runs.
pub fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = allocations();
    f();
    allocations() - before
}

/// `text` spoken by espeak-ng (in `voice`, or its default) as 8 kHz mono 16-bit samples,
/// converted with sox. Fails the test with an install hint when either tool is missing.
pub fn speak(text: &str, voice: Option<&str>) -> Vec<i16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hotline-speak-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let raw = dir.join("speech.wav");
    let wav = dir.join("speech-8k.wav");
    let mut espeak = std::process::Command::new("espeak-ng");
    if let Some(voice) = voice {
        espeak.args(["-v", voice]);
    }
    let spoke = espeak.arg("-w").arg(&raw).arg(text).status();
    let converted = std::process::Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .status();
    assert!(
        matches!((spoke, converted), (Ok(a), Ok(b)) if a.success() && b.success()),
        "this test needs espeak-ng and sox (apt-get install espeak-ng sox)"
    );
    let mut reader = hound::WavReader::open(&wav).expect("sox wrote a WAV");
    assert_eq!(reader.spec().sample_rate, 8000);
    let pcm = reader.samples::<i16>().map(Result::unwrap).collect();
    let _ = std::fs::remove_dir_all(&dir);
    pcm
}
