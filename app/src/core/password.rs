//! argon2id password hashing (admins, and users with an e-mail/phone login).

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash as PhcHash};

use super::error::{CoreError, CoreResult};
use super::secret::{Password, PasswordHash};

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

pub fn hash_password(password: &Password) -> CoreResult<PasswordHash> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| PasswordHash::new(h.to_string()))
        .map_err(CoreError::internal)
}

pub fn verify_password(password: &Password, hash: &PasswordHash) -> bool {
    PhcHash::new(hash.expose())
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
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

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password(&Password::new("correct horse")).unwrap();
        assert!(hash.expose().starts_with("$argon2id$"));
        assert!(verify_password(&Password::new("correct horse"), &hash));
        assert!(!verify_password(&Password::new("wrong horse"), &hash));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("1234567").is_err());
        assert!(check_strength("12345678").is_ok());
    }
}
