//! [`PromptCache`]: each prompt file decoded once, its frames shared by every call.

use std::collections::HashMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Prompt, PromptError};

/// Loaded prompts by path, reloaded when their file changes.
///
/// [`get`](Self::get) decodes a file the first time it is asked for and afterwards hands
/// out clones of the same [`Prompt`] (the frames are shared, so a clone costs a reference
/// count). Each `get` also reads the file's metadata — one `stat`, no read — and when its
/// size, modification time or (on Unix) inode differ from those of the copy in the cache,
/// decodes the file again: an administrator can replace a prompt, in place or by renaming
/// a new file over it, and the next call hears the new one without a restart. Calls
/// already playing the old one keep it until they finish.
///
/// The stamp is taken from the opened file before its bytes are read, so a file still
/// being written when it is loaded is loaded again once the writer is done. A rewrite that
/// keeps the size and lands within the file system's timestamp resolution (nanoseconds on
/// ext4, XFS and btrfs; two seconds on FAT) goes unnoticed until
/// [`invalidate`](Self::invalidate) is called; renaming a new file over the old one is
/// always noticed on Unix.
///
/// Paths are keys as given: `prompts/a.wav` and `/etc/hotline/prompts/a.wav` are two
/// entries, so give the cache one spelling (the config's, resolved once at start-up).
///
/// A file that fails to load (missing, corrupt, too long) is not cached: the error is
/// returned, any older copy is dropped, and the next `get` tries again.
///
/// The cache reads no clock and holds no lock: its owner (the media worker or the call
/// controller that plays prompts) calls it with `&mut`. Prompts are 8 kHz
/// ([`crate::CLOCK_RATE`]); when wide-band prompts come, the target rate joins the key.
#[derive(Debug, Default)]
pub struct PromptCache {
    entries: HashMap<PathBuf, Entry>,
}

#[derive(Debug)]
struct Entry {
    stamp: Stamp,
    prompt: Prompt,
}

/// What tells one version of a file from the next without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    /// Device and inode on Unix (a rename over the file changes them); zero elsewhere.
    dev: u64,
    ino: u64,
}

impl Stamp {
    fn of(meta: &Metadata) -> Self {
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            dev,
            ino,
        }
    }
}

impl PromptCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The prompt at `path`: from the cache if the file is unchanged, else freshly decoded
    /// (see [`Prompt::open`] for the formats).
    pub fn get(&mut self, path: impl AsRef<Path>) -> Result<Prompt, PromptError> {
        let path = path.as_ref();
        let current = match std::fs::metadata(path) {
            Ok(meta) => Stamp::of(&meta),
            Err(e) => {
                self.entries.remove(path);
                return Err(PromptError::Io(e));
            }
        };
        if let Some(entry) = self.entries.get(path)
            && entry.stamp == current
        {
            return Ok(entry.prompt.clone());
        }
        match Prompt::open_with_metadata(path) {
            Ok((prompt, meta)) => {
                let stamp = Stamp::of(&meta);
                self.entries.insert(
                    path.to_path_buf(),
                    Entry {
                        stamp,
                        prompt: prompt.clone(),
                    },
                );
                Ok(prompt)
            }
            Err(e) => {
                self.entries.remove(path);
                Err(e)
            }
        }
    }

    /// Forgets `path`, so the next [`get`](Self::get) decodes it again. Returns whether it
    /// was cached.
    pub fn invalidate(&mut self, path: impl AsRef<Path>) -> bool {
        self.entries.remove(path.as_ref()).is_some()
    }

    /// Forgets every prompt.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Number of cached prompts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
