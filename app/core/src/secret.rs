//! Secret values. None of these types implements `Serialize`, and their `Debug` prints
//! `[redacted]`, so a secret cannot reach a log line, a response or a JWT by accident:
//! reading one takes an explicit `expose()`.

use std::fmt;

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The secret itself: only for hashing, comparing, or the one response that hands it out.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_string!(
    /// An instance's key: the password of its registration and device login.
    InstanceKey
);
secret_string!(
    /// A refresh token as handed to a client (base64 of 32 random bytes). Stored only hashed.
    RefreshTokenSecret
);
secret_string!(
    /// An argon2id PHC string.
    PasswordHash
);
secret_string!(
    /// A clear-text password on its way to be hashed or verified.
    Password
);

/// The JWT signing key (raw bytes).
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = InstanceKey::new("5f0c-very-secret");
        let printed = format!("{key:?} {:?}", SigningKey::new(b"abc".to_vec()));
        assert!(!printed.contains("very-secret"));
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
