//! Secrets at rest: ChaCha20-Poly1305 with a key derived from the signing key (so every
//! replica opens what another sealed) for one purpose, each sealed value bound to what it
//! belongs to (its associated data), so it cannot be moved to another row and opened there.
//! Batch credentials and outbox messages that carry a password or a code use it.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::error::{CoreError, CoreResult};
use super::secret::SigningKey;

/// A key for sealing, derived from the signing key for one `purpose` (a fixed label).
pub(crate) struct Sealer(ChaCha20Poly1305);

impl Sealer {
    pub fn new(signing_key: &SigningKey, purpose: &[u8]) -> CoreResult<Self> {
        let key = derive_key(signing_key, purpose)?;
        Ok(Self(ChaCha20Poly1305::new(&key.into())))
    }

    /// A random nonce, then the ciphertext of `text` bound to `bound_to`.
    pub fn seal(&self, bound_to: &str, text: &str) -> CoreResult<Vec<u8>> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: text.as_bytes(),
            aad: bound_to.as_bytes(),
        };
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| CoreError::internal("sealing failed"))?;
        let mut out = Vec::with_capacity(12 + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, bound_to: &str, sealed: &[u8]) -> CoreResult<String> {
        if sealed.len() < 12 {
            return Err(CoreError::internal("a sealed value is truncated"));
        }
        let (nonce, body) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(CoreError::internal)?;
        let payload = Payload {
            msg: body,
            aad: bound_to.as_bytes(),
        };
        let plain = self.0.decrypt(&Nonce::from(nonce), payload).map_err(|_| {
            CoreError::internal("a sealed value does not open (signing key changed?)")
        })?;
        String::from_utf8(plain).map_err(CoreError::internal)
    }
}

/// HMAC-SHA256 of `purpose` under the signing key: one independent key per purpose.
pub(crate) fn derive_key(signing_key: &SigningKey, purpose: &[u8]) -> CoreResult<[u8; 32]> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(signing_key.expose()).map_err(CoreError::internal)?;
    mac.update(purpose);
    Ok(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_where_it_belongs_and_under_its_key() {
        let sealer = Sealer::new(&SigningKey::new(vec![7; 32]), b"p").unwrap();
        let sealed = sealer.seal("b1/0", "secret line\n").unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("secret"));
        assert_eq!(sealer.open("b1/0", &sealed).unwrap(), "secret line\n");
        assert!(sealer.open("b1/250", &sealed).is_err());
        let other_key = Sealer::new(&SigningKey::new(vec![8; 32]), b"p").unwrap();
        assert!(other_key.open("b1/0", &sealed).is_err());
        let other_purpose = Sealer::new(&SigningKey::new(vec![7; 32]), b"q").unwrap();
        assert!(other_purpose.open("b1/0", &sealed).is_err());
    }
}
