//! Signing keys as data: the keys tokens are signed with, published (their public parts) as
//! a JWKS, rotated with an overlap, shared by every replica through the database.
//!
//! Invariants:
//! - Exactly one key is `current` (a partial unique index enforces it): it signs every new
//!   token. A `next` key is published before it signs anything; a `retired` key signs
//!   nothing and is accepted (and published) until `retire_after`, when the last token it
//!   signed has expired for every use (the refresh route reads expired access tokens).
//! - Every token names its key (`kid`); verification finds the key by `kid` and pins that
//!   key's algorithm, so a header claiming another algorithm never verifies.
//! - Private parts are sealed at rest with a key derived from the master secret
//!   (`TUS_JWT_SECRET` or the stored one). The master secret's own HS256 key is a row without
//!   a private part: HS256 deployments sign exactly as before, with the same `kid`.
//! - Public keys only ever leave the service: an HS256 key is never published.

use std::collections::HashMap;
use tus_wire::views::Action;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::RngCore;
use serde_json::json;

use crate::error::{CoreError, CoreResult};
use crate::sealing::Sealer;
use crate::secret::SigningKey;
use crate::store::SigningKeyRow;

/// The sealing purpose of private signing keys, each bound to its `kid`.
pub(crate) const KEY_SEALING: &[u8] = b"tus/signing-keys/v1";

/// The algorithms tokens can be signed with (`TUS_JWT_ALGORITHM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// HMAC-SHA256: the default, as the original service; verifiers need the secret.
    Hs256,
    /// ECDSA P-256: verifiers need only the public key.
    Es256,
    /// Ed25519: verifiers need only the public key.
    EdDsa,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 3] = [
        KeyAlgorithm::Hs256,
        KeyAlgorithm::Es256,
        KeyAlgorithm::EdDsa,
    ];

    /// The JOSE name: `HS256`, `ES256`, `EdDSA`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Hs256 => "HS256",
            KeyAlgorithm::Es256 => "ES256",
            KeyAlgorithm::EdDsa => "EdDSA",
        }
    }

    pub fn parse(value: &str) -> Result<KeyAlgorithm, String> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| "must be HS256, ES256 or EdDSA".to_string())
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::Hs256 => Algorithm::HS256,
            KeyAlgorithm::Es256 => Algorithm::ES256,
            KeyAlgorithm::EdDsa => Algorithm::EdDSA,
        }
    }

    /// Whether verifiers can be given the key (it has a public part).
    pub fn is_public(self) -> bool {
        self != KeyAlgorithm::Hs256
    }
}

/// A key's place in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signing.
    Current,
    /// Not signing; accepted until `retire_after`.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Retired => "retired",
        }
    }

    pub fn parse_stored(value: &str) -> CoreResult<KeyState> {
        [KeyState::Next, KeyState::Current, KeyState::Retired]
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| CoreError::internal(format!("a signing key has the state {value:?}")))
    }
}

/// The `kid` of the master secret's HS256 key: derived from it, so it is stable across
/// replicas and restarts and reveals nothing.
pub fn master_kid(master: &SigningKey) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(master.expose());
    format!("hs256-{}", crate::tokens::hex(&digest[..8]))
}

/// A freshly generated key: its row (private part sealed) to store.
pub(crate) fn generate(
    algorithm: KeyAlgorithm,
    sealer: &Sealer,
    now: DateTime<Utc>,
    state: KeyState,
) -> CoreResult<SigningKeyRow> {
    let mut random = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let kid = format!(
        "{}-{}",
        algorithm.as_str().to_ascii_lowercase(),
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let (private, public_jwk) = match algorithm {
        KeyAlgorithm::Hs256 => {
            let mut secret = vec![0u8; 64];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            (secret, None)
        }
        KeyAlgorithm::Es256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::EncodePrivateKey;
            let secret = p256::SecretKey::from_slice(&random).map_err(CoreError::internal)?;
            let der = secret.to_pkcs8_der().map_err(CoreError::internal)?;
            let point = secret.public_key().to_encoded_point(false);
            let (x, y) = (
                point.x().ok_or_else(|| CoreError::internal("no x"))?,
                point.y().ok_or_else(|| CoreError::internal("no y"))?,
            );
            let jwk = json!({
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
            });
            (der.as_bytes().to_vec(), Some(jwk))
        }
        KeyAlgorithm::EdDsa => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let secret = ed25519_dalek::SigningKey::from_bytes(&random);
            let der = secret.to_pkcs8_der().map_err(CoreError::internal)?;
            let jwk = json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(secret.verifying_key().as_bytes()),
            });
            (der.as_bytes().to_vec(), Some(jwk))
        }
    };
    let sealed = sealer.seal(&kid, &URL_SAFE_NO_PAD.encode(&private))?;
    Ok(SigningKeyRow {
        kid,
        algorithm: algorithm.as_str().into(),
        public_jwk: public_jwk.map(|j| j.to_string()),
        sealed_private: Some(sealed),
        state: state.as_str().into(),
        created_at: now.timestamp_millis(),
        activate_at: None,
        activated_at: (state == KeyState::Current).then(|| now.timestamp_millis()),
        retire_after: None,
    })
}

/// The row of the master secret's own HS256 key (no private part: it is the master).
pub(crate) fn master_row(master: &SigningKey, now: DateTime<Utc>) -> SigningKeyRow {
    SigningKeyRow {
        kid: master_kid(master),
        algorithm: KeyAlgorithm::Hs256.as_str().into(),
        public_jwk: None,
        sealed_private: None,
        state: KeyState::Current.as_str().into(),
        created_at: now.timestamp_millis(),
        activate_at: None,
        activated_at: Some(now.timestamp_millis()),
        retire_after: None,
    }
}

/// A stored key's private part, when this master secret can use it.
fn private_part(row: &SigningKeyRow, master: &SigningKey, sealer: &Sealer) -> Option<Vec<u8>> {
    match &row.sealed_private {
        None => (row.kid == master_kid(master)).then(|| master.expose().to_vec()),
        Some(sealed) => URL_SAFE_NO_PAD
            .decode(sealer.open(&row.kid, sealed).ok()?)
            .ok(),
    }
}

/// What a start would find among the signing keys (`inspect_keys`).
#[derive(Debug, Clone)]
pub struct KeyReport {
    /// The current key's kid and algorithm, if there is one.
    pub current: Option<(String, String)>,
    /// Whether `master` opens the current key's private part. A start replaces a current
    /// key it cannot open, and every token that key signed stops verifying.
    pub usable: bool,
    /// Keys published to sign next, and retired keys still accepted.
    pub next: usize,
    pub retired: usize,
}

/// The signing keys as the master secret `master` sees them. Reads only.
pub async fn inspect_keys(
    store: &crate::store::Store,
    master: &SigningKey,
) -> CoreResult<KeyReport> {
    let sealer = Sealer::new(master, KEY_SEALING)?;
    let rows = store.signing_keys().await?;
    let current = rows.iter().find(|r| r.state == KeyState::Current.as_str());
    let count = |state: KeyState| rows.iter().filter(|r| r.state == state.as_str()).count();
    Ok(KeyReport {
        current: current.map(|r| (r.kid.clone(), r.algorithm.clone())),
        usable: current.is_some_and(|r| private_part(r, master, &sealer).is_some()),
        next: count(KeyState::Next),
        retired: count(KeyState::Retired),
    })
}

/// One key as tokens use it.
pub(crate) struct Entry {
    pub algorithm: KeyAlgorithm,
    pub decoding: DecodingKey,
    /// Present while the key may sign (`next`, `current`).
    pub encoding: Option<EncodingKey>,
    pub state: KeyState,
    /// Accepted until then (ms); `None`: while it is next or current.
    pub retire_after: Option<i64>,
    pub public_jwk: Option<serde_json::Value>,
}

/// Every key tokens may be signed or verified with, and which one signs.
pub struct Keyring {
    pub(crate) current: String,
    pub(crate) entries: HashMap<String, Entry>,
}

impl Keyring {
    /// Only the master secret's HS256 key.
    pub fn of_master(master: &SigningKey) -> Keyring {
        let kid = master_kid(master);
        let mut entries = HashMap::new();
        entries.insert(
            kid.clone(),
            Entry {
                algorithm: KeyAlgorithm::Hs256,
                decoding: DecodingKey::from_secret(master.expose()),
                encoding: Some(EncodingKey::from_secret(master.expose())),
                state: KeyState::Current,
                retire_after: None,
                public_jwk: None,
            },
        );
        Keyring {
            current: kid,
            entries,
        }
    }

    /// The keyring the stored rows describe; keys past `retire_after` at `now` are left out.
    pub(crate) fn from_rows(
        rows: &[SigningKeyRow],
        master: &SigningKey,
        sealer: &Sealer,
        now: DateTime<Utc>,
    ) -> CoreResult<Keyring> {
        let mut entries = HashMap::new();
        let mut current = None;
        for row in rows {
            let state = KeyState::parse_stored(&row.state)?;
            if row
                .retire_after
                .is_some_and(|t| t <= now.timestamp_millis())
            {
                continue;
            }
            let algorithm = KeyAlgorithm::parse(&row.algorithm).map_err(CoreError::internal)?;
            // A key another master secret made cannot be used: left out (`init` replaces a
            // current one).
            let Some(private) = private_part(row, master, sealer) else {
                continue;
            };
            let public_jwk: Option<serde_json::Value> = row
                .public_jwk
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(CoreError::internal)?;
            let (decoding, encoding) = match algorithm {
                KeyAlgorithm::Hs256 => (
                    DecodingKey::from_secret(&private),
                    EncodingKey::from_secret(&private),
                ),
                KeyAlgorithm::Es256 | KeyAlgorithm::EdDsa => {
                    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
                        public_jwk
                            .clone()
                            .ok_or_else(|| CoreError::internal("a public key has no JWK"))?,
                    )
                    .map_err(CoreError::internal)?;
                    let decoding = DecodingKey::from_jwk(&jwk).map_err(CoreError::internal)?;
                    let encoding = if algorithm == KeyAlgorithm::Es256 {
                        EncodingKey::from_ec_der(&private)
                    } else {
                        EncodingKey::from_ed_der(&private)
                    };
                    (decoding, encoding)
                }
            };
            if state == KeyState::Current {
                current = Some(row.kid.clone());
            }
            entries.insert(
                row.kid.clone(),
                Entry {
                    algorithm,
                    decoding,
                    encoding: (state != KeyState::Retired).then_some(encoding),
                    state,
                    retire_after: row.retire_after,
                    public_jwk,
                },
            );
        }
        let current = current.ok_or_else(|| CoreError::internal("no current signing key"))?;
        Ok(Keyring { current, entries })
    }

    pub fn current_kid(&self) -> &str {
        &self.current
    }

    /// The current key: its kid, algorithm and signing key.
    pub(crate) fn signer(&self) -> CoreResult<(&str, Algorithm, &EncodingKey)> {
        let entry = self
            .entries
            .get(&self.current)
            .ok_or_else(|| CoreError::internal("the current key is missing"))?;
        let encoding = entry
            .encoding
            .as_ref()
            .ok_or_else(|| CoreError::internal("the current key cannot sign"))?;
        Ok((&self.current, entry.algorithm.jwt(), encoding))
    }

    /// The key a token names, with the one algorithm it verifies (`None`: not ours, or
    /// retired past its window at `now`).
    pub(crate) fn verifier(&self, kid: &str, now_ms: i64) -> Option<(Algorithm, &DecodingKey)> {
        let entry = self.entries.get(kid)?;
        if entry.retire_after.is_some_and(|t| t <= now_ms) {
            return None;
        }
        Some((entry.algorithm.jwt(), &entry.decoding))
    }

    /// The public keys verifiers may use: next, current and retired ones still accepted
    /// (nothing in HS256, whose key is the secret).
    pub fn jwks(&self, now: DateTime<Utc>) -> serde_json::Value {
        let now_ms = now.timestamp_millis();
        let mut keys: Vec<(&String, &Entry)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.algorithm.is_public())
            .filter(|(_, e)| e.retire_after.is_none_or(|t| t > now_ms))
            .collect();
        keys.sort_by_key(|(kid, e)| (e.state != KeyState::Current, kid.to_string()));
        json!({ "keys": keys.into_iter().filter_map(|(_, e)| e.public_jwk.clone()).collect::<Vec<_>>() })
    }

    /// The algorithms of the keys in the ring.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algs: Vec<&'static str> = self
            .entries
            .values()
            .map(|e| e.algorithm.as_str())
            .collect();
        algs.sort();
        algs.dedup();
        algs
    }
}

impl crate::Core {
    /// How long a retired key stays accepted: until every token it signed has expired for
    /// every use (the refresh route reads expired access tokens until their refresh token
    /// expires), with the clock leeway.
    fn retire_window(&self) -> chrono::Duration {
        let s = self.tokens().settings();
        s.access_ttl.max(s.refresh_ttl) + chrono::Duration::seconds(crate::tokens::LEEWAY_SECONDS)
    }

    /// Reads the stored keys, promotes a next key that is due, and uses them from now on.
    /// Every replica runs it (on start, every few seconds, and when a token names a key it
    /// does not know).
    pub async fn reload_keys(&self, now: DateTime<Utc>) -> CoreResult<()> {
        let mut tx = self.store().begin().await?;
        tx.promote_due_key(
            now.timestamp_millis(),
            (now + self.retire_window()).timestamp_millis(),
        )
        .await?;
        tx.commit().await?;
        let rows = self.store().signing_keys().await?;
        let ring = Keyring::from_rows(&rows, &self.inner.master, &self.inner.key_sealer, now)?;
        self.tokens().install(ring);
        Ok(())
    }

    /// Admin: every signing key, newest first, as the dashboard lists them.
    pub async fn signing_key_views(
        &self,
        principal: &crate::principal::Principal,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<tus_wire::views::SigningKeyView>> {
        principal.allow(Action::ManageSigningKeys)?;
        let iso = crate::time::iso;
        let now_ms = now.timestamp_millis();
        // Every live access token was issued within one access-token lifetime.
        let since = now - self.tokens().settings().access_ttl;
        let sources = crate::issuance::Source::ALL.map(crate::issuance::Source::as_str);
        let live: std::collections::HashMap<String, i64> = self
            .store()
            .live_access_tokens_per_kid(&sources, since.timestamp_millis(), now_ms)
            .await?
            .into_iter()
            .collect();
        Ok(self
            .store()
            .signing_keys()
            .await?
            .into_iter()
            .map(|k| {
                let accepted = k.retire_after.is_none_or(|t| t > now_ms);
                tus_wire::views::SigningKeyView {
                    live_tokens: live.get(&k.kid).copied().unwrap_or(0),
                    published: accepted && k.public_jwk.is_some(),
                    accepted,
                    kid: k.kid,
                    algorithm: k.algorithm,
                    state: k.state,
                    created_at: iso(k.created_at),
                    activate_at: k.activate_at.map(iso),
                    activated_at: k.activated_at.map(iso),
                    retire_after: k.retire_after.map(iso),
                }
            })
            .collect())
    }

    /// Scheduled rotation: once the current key has signed for `rotate_every`, a new key is
    /// published, to sign after a lead time (a tenth of the period, at most 10 minutes) that
    /// lets verifiers fetch it first. Every replica asks; the database lets one next key in,
    /// so it happens once. Answers the new kid when this call made it.
    pub async fn rotate_if_due(&self, now: DateTime<Utc>) -> CoreResult<Option<String>> {
        let Some(every) = self.tokens().settings().rotate_every else {
            return Ok(None);
        };
        let rows = self.store().signing_keys().await?;
        if rows.iter().any(|r| r.state == KeyState::Next.as_str()) {
            return Ok(None);
        }
        let Some(current) = rows.iter().find(|r| r.state == KeyState::Current.as_str()) else {
            return Ok(None);
        };
        let since = current.activated_at.unwrap_or(current.created_at);
        if since + every.num_milliseconds() > now.timestamp_millis() {
            return Ok(None);
        }
        let lead = (every / 10).min(chrono::Duration::minutes(10));
        match self
            .rotate_signing_key(now, None, lead, "schedule", &crate::RequestMeta::default())
            .await
        {
            Ok(kid) => Ok(Some(kid)),
            Err(CoreError::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A token naming a key this replica does not know (another replica or the CLI just
    /// made it): the stored keys are read again first, at most once a second, so forged
    /// key ids cannot make every request read them.
    pub(crate) async fn learn_key_of(&self, token: &str, now: DateTime<Utc>) {
        if self.tokens().knows_key_of(token) {
            return;
        }
        let now_ms = now.timestamp_millis();
        let last = self
            .inner
            .keys_read_at
            .load(std::sync::atomic::Ordering::Relaxed);
        if now_ms - last < 1000
            || self
                .inner
                .keys_read_at
                .compare_exchange(
                    last,
                    now_ms,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        if let Err(e) = self.reload_keys(now).await {
            tracing::warn!(error = %e, "reading the signing keys failed");
        }
    }

    /// On start: a usable current key, of the configured algorithm (a new one becomes
    /// current at once when the algorithm changed; the old one stays accepted for its
    /// tokens' lifetime).
    pub(crate) async fn init_keys(&self, now: DateTime<Utc>) -> CoreResult<()> {
        let algorithm = self.tokens().settings().algorithm;
        let rows = self.store().signing_keys().await?;
        let current = rows.iter().find(|r| r.state == KeyState::Current.as_str());
        let usable = current
            .is_some_and(|r| private_part(r, &self.inner.master, &self.inner.key_sealer).is_some());
        if !usable {
            let fresh = match algorithm {
                KeyAlgorithm::Hs256 => master_row(&self.inner.master, now),
                other => generate(other, &self.inner.key_sealer, now, KeyState::Current)?,
            };
            let mut tx = self.store().begin().await?;
            if let Some(stale) = current {
                // Made under another master secret: its tokens cannot verify anyway.
                tx.retire_signing_key(&stale.kid, now.timestamp_millis())
                    .await?;
            }
            // Another replica starting at once may have stored one first: then this one
            // is not stored, and theirs is used.
            tx.insert_signing_key(&fresh).await?;
            tx.commit().await?;
        } else if current.is_some_and(|r| r.algorithm != algorithm.as_str()) {
            match self
                .rotate_signing_key(
                    now,
                    Some(algorithm),
                    chrono::Duration::zero(),
                    "system",
                    &crate::RequestMeta::default(),
                )
                .await
            {
                Ok(_) | Err(CoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.reload_keys(now).await
    }

    /// A new signing key of `algorithm` (the configured one by default), published as next
    /// now and current after `lead` (at once when zero); the current key then retires and
    /// stays accepted while its tokens live. Audited as `actor`. Answers the new kid.
    /// An Owner's "rotate now" (the dashboard): `rotate_signing_key` in their name.
    pub async fn rotate_signing_key_as(
        &self,
        now: DateTime<Utc>,
        p: &crate::principal::Principal,
        lead: chrono::Duration,
        meta: &crate::RequestMeta,
    ) -> CoreResult<String> {
        p.allow(Action::ManageSigningKeys)?;
        self.rotate_signing_key(now, None, lead, &p.actor(), meta)
            .await
    }

    pub async fn rotate_signing_key(
        &self,
        now: DateTime<Utc>,
        algorithm: Option<KeyAlgorithm>,
        lead: chrono::Duration,
        actor: &str,
        meta: &crate::RequestMeta,
    ) -> CoreResult<String> {
        let algorithm = algorithm.unwrap_or(self.tokens().settings().algorithm);
        let mut row = generate(algorithm, &self.inner.key_sealer, now, KeyState::Next)?;
        let activate_at = now + lead.max(chrono::Duration::zero());
        row.activate_at = Some(activate_at.timestamp_millis());
        let mut tx = self.store().begin().await?;
        if !tx.insert_signing_key(&row).await? {
            return Err(CoreError::Conflict {
                key: "Key".into(),
                message: "a next key is already waiting to become current".into(),
            });
        }
        if lead <= chrono::Duration::zero() {
            tx.promote_due_key(
                now.timestamp_millis(),
                (now + self.retire_window()).timestamp_millis(),
            )
            .await?;
        }
        tx.audit(
            &crate::store::NewAuditRow::new(
                now,
                actor,
                crate::audit::AuditAction::SigningKeyRotated,
                format!("key:{}", row.kid),
                format!(
                    "new {} signing key {}, current from {}",
                    algorithm.as_str(),
                    row.kid,
                    crate::time::iso(activate_at.timestamp_millis())
                ),
            )
            .from(meta),
        )
        .await?;
        tx.commit().await?;
        self.reload_keys(now).await?;
        Ok(row.kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, replica, test_core};
    use crate::tokens::UserSubject;
    use crate::types::{ApplicationId, CompanyId, DeviceToken, InstanceId, UserFlags};
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{decode, decode_header, Validation};

    fn subject() -> UserSubject {
        UserSubject {
            device_token: DeviceToken::new_random(),
            instance_id: InstanceId::new_random(),
            application_id: ApplicationId::new_random(),
            company_id: CompanyId::new_random(),
            flags: UserFlags::default(),
            client_id: None,
            lifetimes: Default::default(),
        }
    }

    /// `tus doctor`'s key check: the current key opens with the master secret it was made
    /// under, and not with another (a start would replace it then).
    #[tokio::test]
    async fn inspection_tells_whether_a_master_secret_opens_the_current_key() {
        for algorithm in [KeyAlgorithm::Hs256, KeyAlgorithm::Es256] {
            let t = test_core(with(algorithm)).await;
            let right = inspect_keys(t.core.store(), &t.core.inner.master)
                .await
                .unwrap();
            let (_, alg) = right.current.clone().expect("a current key");
            assert_eq!(alg, algorithm.as_str());
            assert!(right.usable, "{algorithm:?}");
            let other = SigningKey::new(vec![7u8; 64]);
            let wrong = inspect_keys(t.core.store(), &other).await.unwrap();
            assert_eq!(wrong.current, right.current);
            assert!(!wrong.usable, "{algorithm:?}");
        }
    }

    fn with(algorithm: KeyAlgorithm) -> impl FnOnce(&mut crate::CoreConfig) {
        move |c| c.tokens.algorithm = algorithm
    }

    /// Verifies `token` as a stranger would: the JWKS document only, a standard library.
    fn verify_with_jwks(
        jwks: &serde_json::Value,
        token: &str,
    ) -> Result<serde_json::Value, String> {
        let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
        let header = decode_header(token).map_err(|e| e.to_string())?;
        let jwk = set
            .find(header.kid.as_deref().ok_or("no kid")?)
            .ok_or("kid not in the JWKS")?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&["tus"]);
        validation.validate_exp = false;
        decode::<serde_json::Value>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn public_key_tokens_verify_with_the_jwks_alone_and_hs256_publishes_nothing() {
        for algorithm in KeyAlgorithm::ALL {
            let t = test_core(with(algorithm)).await;
            let tokens = t.core.tokens();
            let minted = tokens.mint_user(at(0), &subject(), at(86_400)).unwrap();
            let header = decode_header(&minted.token).unwrap();
            assert_eq!(header.alg, algorithm.jwt());
            assert_eq!(header.kid.as_deref(), Some(tokens.kid().as_str()));
            assert!(tokens.verify_access(&minted.token, at(1)).is_ok());
            let jwks = tokens.keyring().jwks(at(1));
            let published = jwks["keys"].as_array().unwrap();
            if algorithm.is_public() {
                assert_eq!(published.len(), 1, "{jwks}");
                let claims = verify_with_jwks(&jwks, &minted.token).unwrap();
                assert_eq!(claims["role"], "User");
                assert!(
                    !jwks.to_string().contains("\"d\""),
                    "no private part: {jwks}"
                );
            } else {
                assert!(published.is_empty(), "an HMAC key is never published");
            }
        }
    }

    #[tokio::test]
    async fn hs256_keeps_the_master_secrets_kid_and_signature() {
        let master = SigningKey::new(b"0123456789abcdef0123456789abcdef-test-key".to_vec());
        let t = test_core(|c| c.jwt_secret = Some(master.clone())).await;
        assert_eq!(t.core.tokens().kid(), master_kid(&master));
        let before = crate::tokens::Tokens::new(&master, Default::default()).unwrap();
        let s = subject();
        let ours = t.core.tokens().mint_user(at(0), &s, at(9)).unwrap();
        // Another implementation holding only the secret verifies it, as before.
        assert!(before.verify_access(&ours.token, at(1)).is_ok());
    }

    #[tokio::test]
    async fn after_a_rotation_old_tokens_verify_until_their_window_and_new_ones_name_the_new_key() {
        let t = test_core(with(KeyAlgorithm::Es256)).await;
        let tokens = t.core.tokens();
        let old_kid = tokens.kid();
        let old = tokens.mint_user(at(0), &subject(), at(9)).unwrap();
        // Published first, signing only once due.
        let new_kid = t
            .core
            .rotate_signing_key(
                at(10),
                Some(KeyAlgorithm::EdDsa),
                chrono::Duration::minutes(10),
                "test",
                &Default::default(),
            )
            .await
            .unwrap();
        assert_eq!(tokens.kid(), old_kid, "a next key signs nothing yet");
        let kids: Vec<String> = tokens.keyring().jwks(at(11))["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect();
        assert!(
            kids.contains(&new_kid) && kids.contains(&old_kid),
            "{kids:?}"
        );
        t.core.reload_keys(at(10 + 601)).await.unwrap();
        assert_eq!(tokens.kid(), new_kid);
        let new = tokens.mint_user(at(612), &subject(), at(999)).unwrap();
        assert_eq!(
            decode_header(&new.token).unwrap().alg,
            jsonwebtoken::Algorithm::EdDSA
        );
        let jwks = tokens.keyring().jwks(at(612));
        assert!(verify_with_jwks(&jwks, &old.token).is_ok());
        assert!(verify_with_jwks(&jwks, &new.token).is_ok());
        // The old key is accepted (for refresh: expired tokens name their session) until
        // its window closes, then refused and no longer published.
        let window = 7 * 86_400 + 30;
        assert!(tokens
            .verify_naming_session(&old.token, at(611 + window - 5))
            .is_ok());
        assert!(tokens
            .verify_naming_session(&old.token, at(611 + window + 5))
            .is_err());
        t.core.reload_keys(at(611 + window + 5)).await.unwrap();
        let kids = tokens.keyring().jwks(at(611 + window + 5)).to_string();
        assert!(!kids.contains(&old_kid), "{kids}");
        // A second rotation while one waits is refused.
        t.core
            .rotate_signing_key(
                at(700),
                None,
                chrono::Duration::minutes(10),
                "test",
                &Default::default(),
            )
            .await
            .unwrap();
        assert!(t
            .core
            .rotate_signing_key(
                at(701),
                None,
                chrono::Duration::minutes(10),
                "test",
                &Default::default()
            )
            .await
            .is_err());
    }

    #[tokio::test]
    async fn unknown_kids_and_switched_algorithms_are_refused() {
        let t = test_core(with(KeyAlgorithm::Es256)).await;
        let tokens = t.core.tokens();
        let minted = tokens.mint_user(at(0), &subject(), at(9)).unwrap();
        let parts: Vec<&str> = minted.token.split('.').collect();
        let swap_header = |header: serde_json::Value| {
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                parts[1],
                parts[2]
            )
        };
        let kid = tokens.kid();
        for header in [
            json!({"alg": "ES256", "typ": "JWT", "kid": "es256-0000000000000000"}),
            json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
            json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}),
            json!({"alg": "none", "typ": "JWT", "kid": kid}),
            json!({"alg": "ES256", "typ": "JWT"}),
        ] {
            assert!(
                tokens
                    .verify_access(&swap_header(header.clone()), at(1))
                    .is_err(),
                "{header}"
            );
        }
        // The classic confusion: an HS256 token whose secret is the public key.
        let jwk = tokens.keyring().jwks(at(1))["keys"][0].to_string();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid);
        let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode(&minted.token)
            .unwrap()
            .claims;
        let forged =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(jwk.as_bytes()))
                .unwrap();
        assert!(tokens.verify_access(&forged, at(1)).is_err());
    }

    #[tokio::test]
    async fn scheduled_rotation_publishes_a_new_key_once_per_period_whoever_asks() {
        let every = |c: &mut crate::CoreConfig| {
            c.tokens.algorithm = KeyAlgorithm::EdDsa;
            c.tokens.rotate_every = Some(chrono::Duration::days(1));
        };
        let t = test_core(every).await;
        let other = replica(&t, every).await;
        // The first key was made at start, on the real clock.
        let start = crate::Core::now();
        let day = chrono::Duration::days(1);
        assert_eq!(
            t.core
                .rotate_if_due(start + day - chrono::Duration::seconds(5))
                .await
                .unwrap(),
            None
        );
        let due = start + day + chrono::Duration::seconds(5);
        let (a, b) = tokio::join!(t.core.rotate_if_due(due), other.rotate_if_due(due));
        let made: Vec<String> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(made.len(), 1, "one new key, whoever asked");
        let old = t.core.tokens().kid();
        assert_ne!(old, made[0], "published first, not signing yet");
        // Signing after the lead (10 minutes), then not again until a day later.
        t.core
            .reload_keys(due + chrono::Duration::minutes(11))
            .await
            .unwrap();
        assert_eq!(t.core.tokens().kid(), made[0]);
        assert_eq!(
            t.core
                .rotate_if_due(due + chrono::Duration::hours(12))
                .await
                .unwrap(),
            None
        );
        let rows = t.core.store().signing_keys().await.unwrap();
        assert_eq!(rows.len(), 2);
        let audit = t.core.store().audit_entries("keys.rotated").await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].actor, "schedule");
    }

    #[tokio::test]
    async fn replicas_rotating_at_once_end_with_one_current_key_and_both_use_it() {
        let t = test_core(with(KeyAlgorithm::EdDsa)).await;
        let other = replica(&t, with(KeyAlgorithm::EdDsa)).await;
        assert_eq!(
            other.tokens().kid(),
            t.core.tokens().kid(),
            "one key at start"
        );
        let meta = crate::RequestMeta::default();
        let (a, b) = tokio::join!(
            t.core
                .rotate_signing_key(at(5), None, chrono::Duration::zero(), "a", &meta),
            other.rotate_signing_key(at(5), None, chrono::Duration::zero(), "b", &meta)
        );
        assert!(a.is_ok() || b.is_ok());
        t.core.reload_keys(at(6)).await.unwrap();
        other.reload_keys(at(6)).await.unwrap();
        let rows = t.core.store().signing_keys().await.unwrap();
        assert_eq!(rows.iter().filter(|r| r.state == "current").count(), 1);
        assert_eq!(other.tokens().kid(), t.core.tokens().kid());
        // A token from one replica verifies on the other.
        let minted = other.tokens().mint_user(at(7), &subject(), at(99)).unwrap();
        assert!(t.core.tokens().verify_access(&minted.token, at(8)).is_ok());
    }
}
