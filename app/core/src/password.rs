//! argon2id password hashing (admins, and users with an e-mail/phone login).
//!
//! Invariant: every hash and verification of a request goes through `Core::hash_password`
//! or `Core::check_password`, which run them on `concurrency` threads of their own (each
//! hash takes about 19 MiB for argon2id's memory) with a short queue in front. A caller
//! beyond the queue, or left waiting in it too long, gets `CoreError::Busy` (503 with
//! `Retry-After`) at once: a flood of password requests holds a bounded amount of memory
//! instead of one hash's worth per request. The threads are fixed (not the blocking pool,
//! which adds threads under load), so the allocator's per-thread caches of freed hash
//! memory are bounded by their number too.
//!
//! Each thread keeps argon2's memory between its hashes, and gives it back to the system
//! once it has had no work for `HashingSettings::keep_memory`: a service idle after a
//! sign-in does not hold 19 MiB per hashing thread.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flume::{RecvTimeoutError, Sender, TrySendError};

use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash as PhcHash, Version};

use super::error::{CoreError, CoreResult};
use super::secret::{constant_time_eq, Password, PasswordHash};
use super::Core;

/// How many password hashes may run at once, and how many may wait for one.
#[derive(Debug, Clone)]
pub struct HashingSettings {
    pub concurrency: usize,
    pub queue: usize,
    /// Longest a queued hash waits before it gives up with `Busy`.
    pub wait: Duration,
    /// How long a hashing thread without work keeps argon2's memory for the next hash.
    pub keep_memory: Duration,
}

impl Default for HashingSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            concurrency: cores,
            queue: 64 * cores,
            wait: Duration::from_secs(5),
            keep_memory: Duration::from_secs(5),
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads and their queue (see the module invariant). They end when the core
/// that owns this is dropped.
pub(crate) struct Hashing {
    jobs: Sender<Job>,
    wait: Duration,
    /// How many times a thread has given its memory back (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    released: Arc<AtomicU64>,
}

fn busy() -> CoreError {
    CoreError::Busy {
        retry_after_seconds: 1,
    }
}

impl Hashing {
    pub fn new(settings: &HashingSettings) -> CoreResult<Self> {
        let (jobs, queue) = flume::bounded::<Job>(settings.queue);
        let released = Arc::new(AtomicU64::new(0));
        for n in 0..settings.concurrency.max(1) {
            let queue = queue.clone();
            let keep = settings.keep_memory;
            let released = released.clone();
            std::thread::Builder::new()
                .name(format!("tus-hash-{n}"))
                .spawn(move || loop {
                    let next = if holds_memory() {
                        match queue.recv_timeout(keep) {
                            Err(RecvTimeoutError::Timeout) => {
                                release_memory();
                                released.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            next => next.ok(),
                        }
                    } else {
                        queue.recv().ok()
                    };
                    match next {
                        Some(job) => job(),
                        None => return,
                    }
                })
                .map_err(|e| CoreError::internal(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self {
            jobs,
            wait: settings.wait,
            released,
        })
    }

    #[cfg(test)]
    fn releases(&self) -> u64 {
        self.released.load(Ordering::Relaxed)
    }

    /// Runs `work` on a hashing thread; `Busy` when the queue is full or the wait too long.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> CoreResult<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // A caller that gave up waiting gets no hash computed for nobody.
            if !answer.is_closed() {
                let _ = answer.send(work());
            }
        });
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => busy(),
            TrySendError::Disconnected(_) => CoreError::internal("the hashing threads stopped"),
        })?;
        tokio::time::timeout(self.wait, answered)
            .await
            .map_err(|_| busy())?
            .map_err(|_| CoreError::internal("a hashing thread dropped its work"))
    }
}

impl Core {
    /// A new argon2id hash, through the gate.
    pub async fn hash_password(&self, password: &Password) -> CoreResult<PasswordHash> {
        let password = password.clone();
        self.hashing().run(move || hash_password(&password)).await?
    }

    /// Whether `password` matches `hash`, through the gate. Without a hash it spends the
    /// same time and answers false, so the clock does not tell unknown logins from wrong
    /// passwords.
    pub async fn check_password(
        &self,
        password: &Password,
        hash: Option<PasswordHash>,
    ) -> CoreResult<bool> {
        let password = password.clone();
        self.hashing()
            .run(move || match hash {
                Some(hash) => verify_password(&password, &hash),
                None => {
                    burn_verification(&password);
                    false
                }
            })
            .await
    }
}

pub const MIN_PASSWORD: usize = 8;

pub fn check_strength(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!("must be at least {MIN_PASSWORD} characters"));
    }
    if n > 256 {
        return Err("must be at most 256 characters".into());
    }
    Ok(())
}

thread_local! {
    /// argon2's working memory, kept by each thread between its hashes. Allocating it
    /// afresh for every hash (what `PasswordHasher` does) left the allocator holding about
    /// ten hashes' worth per thread: 200 MiB for one hashing thread.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn holds_memory() -> bool {
    MEMORY.with(|memory| !memory.borrow().is_empty())
}

/// Frees this thread's argon2 memory and hands the allocator's free pages back to the
/// system. Freeing alone is not enough with glibc: after the first hash it serves the next
/// one from its heap (its mmap threshold rises to the size just freed) and keeps the pages.
fn release_memory() {
    MEMORY.with(|memory| *memory.borrow_mut() = Vec::new());
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's arenas to the
    // kernel; it takes no pointer and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs argon2 for `params` with this thread's working memory.
fn argon2_into(
    argon2: &Argon2,
    password: &Password,
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        let blocks = argon2.params().block_count();
        if memory.len() != blocks {
            *memory = vec![Block::default(); blocks];
        }
        argon2.hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            out,
            &mut memory[..],
        )
    })
}

/// A new argon2id hash (default parameters: 19 MiB, 2 passes) in PHC string form.
pub fn hash_password(password: &Password) -> CoreResult<PasswordHash> {
    let argon2 = Argon2::default();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(CoreError::internal)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon2, password, raw_salt, &mut out).map_err(CoreError::internal)?;
    let phc = PhcHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(CoreError::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(CoreError::internal)?),
    };
    Ok(PasswordHash::new(phc.to_string()))
}

/// Whether `password` matches a stored PHC hash (with the parameters it names).
pub fn verify_password(password: &Password, hash: &PasswordHash) -> bool {
    let Ok(phc) = PhcHash::new(hash.expose()) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(phc.algorithm),
        Params::try_from(&phc),
        phc.salt,
        phc.hash,
    ) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    argon2_into(&argon2, password, raw_salt, &mut out).is_ok()
        && constant_time_eq(&out, expected.as_bytes())
}

/// Spends the same time as a real verification, for logins whose name does not exist, so
/// timing does not tell which logins exist.
pub fn burn_verification(password: &Password) {
    static DUMMY: std::sync::OnceLock<Option<PasswordHash>> = std::sync::OnceLock::new();
    if let Some(hash) =
        DUMMY.get_or_init(|| hash_password(&Password::new("not-a-real-password")).ok())
    {
        let _ = verify_password(password, hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes stored before (made by the argon2 crate's own `PasswordHasher`) still verify,
    /// and ours verify with it: the PHC string is the same format.
    #[test]
    fn hashes_agree_with_the_argon2_crates_own_format() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password(
            &Password::new("correct horse"),
            &PasswordHash::new(theirs.clone())
        ));
        assert!(!verify_password(
            &Password::new("wrong horse"),
            &PasswordHash::new(theirs)
        ));
        let ours = hash_password(&Password::new("correct horse")).unwrap();
        let parsed = PhcHash::new(ours.expose()).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        assert!(ours.expose().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password(&Password::new("correct horse")).unwrap();
        assert!(hash.expose().starts_with("$argon2id$"));
        assert!(verify_password(&Password::new("correct horse"), &hash));
        assert!(!verify_password(&Password::new("wrong horse"), &hash));
    }

    /// A hashing thread without work gives argon2's memory back, and hashes correctly
    /// again afterwards.
    #[tokio::test]
    async fn idle_hashing_threads_give_their_memory_back() {
        let hashing = Hashing::new(&HashingSettings {
            concurrency: 1,
            queue: 4,
            wait: Duration::from_secs(60),
            keep_memory: Duration::from_millis(100),
        })
        .unwrap();
        let hashing = &hashing;
        let until_released = |n: u64| async move {
            for _ in 0..600 {
                if hashing.releases() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the hashing thread kept its memory for 30 s idle");
        };
        let password = Password::new("correct horse");
        let p = password.clone();
        let hash = hashing
            .run(move || hash_password(&p))
            .await
            .unwrap()
            .unwrap();
        until_released(1).await;
        let (p, h) = (password.clone(), hash.clone());
        assert!(hashing.run(move || verify_password(&p, &h)).await.unwrap());
        until_released(2).await;
        // Without work since, the thread holds nothing more to give back.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(hashing.releases(), 2);
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("1234567").is_err());
        assert!(check_strength("12345678").is_ok());
    }
}
