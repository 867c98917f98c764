//! Password hashing with Argon2id (PHC strings), off the async threads.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::Error;
use crate::token;

/// Argon2id cost parameters for new hashes (verification reads them from the stored hash).
#[derive(Clone, Copy, Debug)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordCost {
    /// OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        PasswordCost {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl PasswordCost {
    /// The cheapest valid cost, for tests only.
    pub fn insecure_fast() -> PasswordCost {
        PasswordCost {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn argon2(self) -> Result<Argon2<'static>, Error> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| Error::Password(e.into()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Hash `password` into a PHC string.
pub async fn hash(cost: PasswordCost, password: String) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    token::fill_random(&mut salt)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&salt).map_err(Error::Password)?;
        let hash = cost
            .argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map_err(Error::Password)?;
        Ok(hash.to_string())
    })
    .await?
}

/// Whether `password` matches the PHC string `stored`. A malformed stored hash is an error,
/// not a mismatch.
pub async fn verify(stored: String, password: String) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored).map_err(Error::Password)?;
        match Argon2::default().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(Error::Password(e)),
        }
    })
    .await?
}
