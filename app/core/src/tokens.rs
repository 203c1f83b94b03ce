//! Mints and verifies every token of the service, for the API and the dashboard alike.
//!
//! Invariants a reader must keep:
//! - Access tokens are JWTs signed by the keyring's current key (HS256 by default, ES256 or
//!   EdDSA), whose header names its `kid`; verification finds the key by `kid` and pins that
//!   key's algorithm, so `alg: none` or an algorithm switch can never verify.
//! - `exp` and `nbf` are checked here against the `now` passed in (not the system clock), so
//!   tests are exact; the library's own time checks are switched off.
//! - No secret goes into a claim: not the instance key, not the refresh token. A JWT payload
//!   is readable by whoever holds it.
//! - Refresh tokens are 32 random bytes, standard base64; only their SHA-256 is stored.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::{CoreError, CoreResult, CredentialKind};
use super::keys::{KeyAlgorithm, Keyring};
use super::secret::{RefreshTokenSecret, SigningKey};
use super::types::{ApplicationId, CompanyId, DeviceToken, InstanceId, UserFlags};

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 30;
/// Shortest accepted HMAC key: a shorter one would be guessable offline from any token.
pub const MIN_KEY_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// A used refresh token presented again within this window gets a new pair instead of
    /// revoking its family. Zero disables the grace.
    pub reuse_grace: Duration,
    /// How long an admin's session (a token family) lasts from its sign-in, however often
    /// it is refreshed: then the admin signs in again.
    pub admin_session_max: Duration,
    /// An admin's session ends after this long without a request (`None`: never).
    pub admin_idle: Option<Duration>,
    /// The same for users; `None`: a user's session lasts while it is refreshed.
    pub user_session_max: Option<Duration>,
    /// What new keys are (`TUS_JWT_ALGORITHM`); HS256 signs with the master secret.
    pub algorithm: KeyAlgorithm,
    /// Scheduled rotation (`TUS_JWT_ROTATE_EVERY`): a new key once the current one has
    /// signed this long; `None`: only when asked.
    pub rotate_every: Option<Duration>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "webApi".into(),
            audience: "tus".into(),
            access_ttl: Duration::seconds(7200),
            refresh_ttl: Duration::days(7),
            reuse_grace: Duration::seconds(10),
            admin_session_max: Duration::hours(12),
            admin_idle: Some(Duration::minutes(30)),
            user_session_max: None,
            algorithm: KeyAlgorithm::Hs256,
            rotate_every: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::User => "User",
            Role::Admin => "Admin",
        }
    }
}

/// Whose session a token family is: stored with the family when it opens, and the only
/// source of truth for the kind of a subject (a token's own `role` claim must agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    User,
    Admin,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::Admin => "admin",
        }
    }

    /// A stored `subject_kind`; anything else is a damaged row.
    pub fn parse_stored(value: &str) -> CoreResult<Self> {
        match value {
            "user" => Ok(SubjectKind::User),
            "admin" => Ok(SubjectKind::Admin),
            other => Err(CoreError::internal(format!(
                "a token family has an unknown subject kind {other:?}"
            ))),
        }
    }

    pub fn role(self) -> Role {
        match self {
            SubjectKind::User => Role::User,
            SubjectKind::Admin => Role::Admin,
        }
    }
}

fn true_false(value: bool) -> String {
    if value { "True" } else { "False" }.to_string()
}

/// The claims of an access token. User tokens carry the platform's claim names (apps read
/// `SdkEnableTracking` and friends from them); admin tokens carry `AdminEmail`/`IsAdmin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub role: String,
    #[serde(
        rename = "DeviceToken",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub device_token: Option<String>,
    #[serde(
        rename = "InstanceId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub instance_id: Option<String>,
    #[serde(
        rename = "ApplicationId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub application_id: Option<String>,
    #[serde(rename = "CompanyId", skip_serializing_if = "Option::is_none", default)]
    pub company_id: Option<String>,
    #[serde(
        rename = "SdkEnableTracking",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub sdk_enable_tracking: Option<String>,
    #[serde(
        rename = "SdkEnableLogging",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub sdk_enable_logging: Option<String>,
    #[serde(
        rename = "SdkEnableRealTimeLocation",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub sdk_enable_real_time_location: Option<String>,
    #[serde(
        rename = "SdkClientId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub sdk_client_id: Option<String>,
    #[serde(
        rename = "RefreshTokenExpiredDate",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub refresh_token_expired_date: Option<String>,
    #[serde(
        rename = "AdminEmail",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub admin_email: Option<String>,
    #[serde(rename = "IsAdmin", skip_serializing_if = "Option::is_none", default)]
    pub is_admin: Option<String>,
}

impl AccessClaims {
    pub fn role(&self) -> Option<Role> {
        match self.role.as_str() {
            "User" => Some(Role::User),
            "Admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// What a user access token says about its user: everything comes from the current record,
/// so a flag or status change shows in the next token.
#[derive(Debug, Clone)]
pub struct UserSubject {
    pub device_token: DeviceToken,
    pub instance_id: InstanceId,
    pub application_id: ApplicationId,
    pub company_id: CompanyId,
    pub flags: UserFlags,
    pub client_id: Option<String>,
    /// Its instance's token lifetimes.
    pub lifetimes: Lifetimes,
}

/// An instance's own token lifetimes; `None`: the service's. The service's are also the
/// longest any instance gets (a stored value above them is cut to them), so a retired
/// signing key, kept for the service's lifetimes, outlives every token it signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetimes {
    pub access_minutes: Option<i64>,
    pub refresh_hours: Option<i64>,
}

/// A freshly minted access token.
#[derive(Debug, Clone)]
pub struct MintedAccess {
    pub token: String,
    /// The signing key's id.
    pub kid: String,
    pub jti: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub expires_in: i64,
}

/// A freshly generated refresh token: the secret for the client, the hash for the store.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub secret: RefreshTokenSecret,
    pub hash: String,
}

/// Keys and settings; cheap to clone behind an `Arc` in the core. The keyring is swapped
/// whole when the stored keys change.
pub struct Tokens {
    settings: TokenSettings,
    keyring: RwLock<Arc<Keyring>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("settings", &self.settings)
            .field("kid", &self.kid())
            .finish()
    }
}

impl Tokens {
    pub fn new(key: &SigningKey, settings: TokenSettings) -> CoreResult<Self> {
        if key.expose().len() < MIN_KEY_BYTES {
            return Err(CoreError::internal(format!(
                "the JWT signing key must be at least {MIN_KEY_BYTES} bytes"
            )));
        }
        Ok(Self {
            keyring: RwLock::new(Arc::new(Keyring::of_master(key))),
            settings,
        })
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// The keys in use now.
    pub fn keyring(&self) -> Arc<Keyring> {
        match self.keyring.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Uses `ring` from now on (the stored keys changed).
    pub fn install(&self, ring: Keyring) {
        let ring = Arc::new(ring);
        match self.keyring.write() {
            Ok(mut slot) => *slot = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }

    /// The current key's id.
    pub fn kid(&self) -> String {
        self.keyring().current_kid().to_string()
    }

    /// Whether `token` names a key this keyring has (a token of a key another replica just
    /// made does not, until the keys are read again).
    pub fn knows_key_of(&self, token: &str) -> bool {
        jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|h| h.kid)
            .is_some_and(|kid| self.keyring().entries.contains_key(&kid))
    }

    /// Whether a session of `kind` opened at `opened_at` (ms) may still be used at `now`.
    pub fn session_open(&self, kind: SubjectKind, opened_at: i64, now: DateTime<Utc>) -> bool {
        let max = match kind {
            SubjectKind::Admin => Some(self.settings.admin_session_max),
            SubjectKind::User => self.settings.user_session_max,
        };
        max.is_none_or(|max| opened_at + max.num_milliseconds() > now.timestamp_millis())
    }

    /// How long access tokens of an instance with `lifetimes` last.
    pub fn access_ttl(&self, lifetimes: &Lifetimes) -> Duration {
        let service = self.settings.access_ttl;
        lifetimes
            .access_minutes
            .map_or(service, |m| Duration::minutes(m).min(service))
    }

    /// How long refresh tokens of an instance with `lifetimes` last.
    pub fn refresh_ttl(&self, lifetimes: &Lifetimes) -> Duration {
        let service = self.settings.refresh_ttl;
        lifetimes
            .refresh_hours
            .map_or(service, |h| Duration::hours(h).min(service))
    }

    /// When a refresh token issued at `now` for an instance with `lifetimes` expires.
    pub fn refresh_expiry(&self, now: DateTime<Utc>, lifetimes: &Lifetimes) -> DateTime<Utc> {
        now + self.refresh_ttl(lifetimes)
    }

    pub fn mint_user(
        &self,
        now: DateTime<Utc>,
        subject: &UserSubject,
        refresh_expires_at: DateTime<Utc>,
    ) -> CoreResult<MintedAccess> {
        let device_token = subject.device_token.to_string();
        let claims = |base: AccessClaims| AccessClaims {
            device_token: Some(device_token.clone()),
            instance_id: Some(subject.instance_id.to_string()),
            application_id: Some(subject.application_id.to_string()),
            company_id: Some(subject.company_id.to_string()),
            sdk_enable_tracking: Some(true_false(subject.flags.enable_tracking)),
            sdk_enable_logging: Some(true_false(subject.flags.enable_logging)),
            sdk_enable_real_time_location: Some(true_false(
                subject.flags.enable_real_time_location,
            )),
            sdk_client_id: Some(subject.client_id.clone().unwrap_or_default()),
            refresh_token_expired_date: Some(
                refresh_expires_at.format("%d.%m.%Y %-H:%M:%S").to_string(),
            ),
            ..base
        };
        let ttl = self.access_ttl(&subject.lifetimes);
        self.mint(now, ttl, Role::User, &device_token, claims)
    }

    pub fn mint_admin(
        &self,
        now: DateTime<Utc>,
        admin_id: &str,
        email: &str,
    ) -> CoreResult<MintedAccess> {
        let ttl = self.settings.access_ttl;
        self.mint(now, ttl, Role::Admin, admin_id, |base| AccessClaims {
            admin_email: Some(email.to_string()),
            is_admin: Some("True".into()),
            ..base
        })
    }

    fn mint(
        &self,
        now: DateTime<Utc>,
        ttl: Duration,
        role: Role,
        sub: &str,
        fill: impl FnOnce(AccessClaims) -> AccessClaims,
    ) -> CoreResult<MintedAccess> {
        let jti = crate::types::new_row_id();
        let expires_at = now + ttl;
        let base = AccessClaims {
            sub: sub.to_string(),
            jti: jti.to_string(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            role: role.as_str().to_string(),
            device_token: None,
            instance_id: None,
            application_id: None,
            company_id: None,
            sdk_enable_tracking: None,
            sdk_enable_logging: None,
            sdk_enable_real_time_location: None,
            sdk_client_id: None,
            refresh_token_expired_date: None,
            admin_email: None,
            is_admin: None,
        };
        let ring = self.keyring();
        let (kid, algorithm, encoding) = ring.signer()?;
        let mut header = Header::new(algorithm);
        header.kid = Some(kid.to_string());
        let token =
            jsonwebtoken::encode(&header, &fill(base), encoding).map_err(CoreError::internal)?;
        Ok(MintedAccess {
            token,
            kid: kid.to_string(),
            jti,
            issued_at: now,
            expires_at,
            expires_in: ttl.num_seconds(),
        })
    }

    /// A live access token: ours (signature, algorithm, `kid`, issuer, audience), valid now.
    /// Whose it is and whether its session still holds is the caller's next question
    /// (`Core::authenticate_bearer` asks the store).
    pub fn verify_access(&self, token: &str, now: DateTime<Utc>) -> CoreResult<AccessClaims> {
        self.decode(token, now, Expiry::Enforced)
    }

    /// An access token that names its session, expired or not (the refresh route and
    /// sign-out): everything `verify_access` checks but the expiry.
    pub fn verify_naming_session(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<AccessClaims> {
        self.decode(token, now, Expiry::Ignored)
    }

    /// The one strict decoder behind both.
    fn decode(&self, token: &str, now: DateTime<Utc>, expiry: Expiry) -> CoreResult<AccessClaims> {
        let invalid = |message: &str| CoreError::unauthorized(CredentialKind::AccessToken, message);
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("the access token is malformed"))?;
        let ring = self.keyring();
        let not_ours = || invalid("the access token was not issued by this service");
        let kid = header.kid.as_deref().ok_or_else(not_ours)?;
        let (algorithm, decoding) = ring
            .verifier(kid, now.timestamp_millis())
            .ok_or_else(not_ours)?;
        if header.alg != algorithm {
            return Err(not_ours());
        }
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.required_spec_claims = ["exp", "nbf", "iat", "iss", "aud", "sub"]
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>();
        let data = jsonwebtoken::decode::<AccessClaims>(token, decoding, &validation)
            .map_err(|_| invalid("the access token is invalid"))?;
        let claims = data.claims;
        let now = now.timestamp();
        if claims.nbf > now + LEEWAY_SECONDS {
            return Err(invalid("the access token is not valid yet"));
        }
        if expiry == Expiry::Enforced && claims.exp + LEEWAY_SECONDS < now {
            return Err(invalid("the access token has expired"));
        }
        if claims.role().is_none() {
            return Err(invalid("the access token has an unknown role"));
        }
        Ok(claims)
    }
}

/// Whether `decode` refuses an expired token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Enforced,
    Ignored,
}

/// Lower-case hex of `bytes` (digests and MACs), without a formatter call per byte.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// A new random signing key (64 bytes) for deployments that configure none.
pub fn generate_signing_key() -> SigningKey {
    let mut bytes = vec![0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SigningKey::new(bytes)
}

pub fn new_refresh_token() -> NewRefreshToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = RefreshTokenSecret::new(base64::engine::general_purpose::STANDARD.encode(bytes));
    let hash = hash_refresh_token(&secret);
    NewRefreshToken { secret, hash }
}

/// SHA-256, hex: refresh tokens have 256 bits of entropy, so a fast hash is enough.
pub fn hash_refresh_token(secret: &RefreshTokenSecret) -> String {
    hex(&Sha256::digest(secret.expose().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::TimeZone;
    use jsonwebtoken::{Algorithm, EncodingKey};

    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        // What stored refresh-token hashes are: SHA-256 of the secret, as before.
        let secret = RefreshTokenSecret::new("abc".to_string());
        assert_eq!(
            hash_refresh_token(&secret),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn key() -> SigningKey {
        SigningKey::new(b"0123456789abcdef0123456789abcdef-test-key".to_vec())
    }

    fn tokens() -> Tokens {
        Tokens::new(&key(), TokenSettings::default()).unwrap()
    }

    fn subject() -> UserSubject {
        UserSubject {
            device_token: DeviceToken::new_random(),
            instance_id: InstanceId::new_random(),
            application_id: ApplicationId::new_random(),
            company_id: CompanyId::new_random(),
            flags: UserFlags::default(),
            client_id: Some("client-7".into()),
            lifetimes: Lifetimes::default(),
        }
    }

    fn user_token(t: &Tokens) -> (String, UserSubject) {
        let s = subject();
        let minted = t.mint_user(at(0), &s, at(7 * 86400)).unwrap();
        (minted.token, s)
    }

    fn payload(token: &str) -> serde_json::Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn replace_part(token: &str, index: usize, json: &serde_json::Value) -> String {
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        parts[index] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap());
        parts.join(".")
    }

    #[test]
    fn a_user_token_carries_the_platform_claims_and_verifies() {
        let t = tokens();
        let (token, s) = user_token(&t);
        let claims = t.verify_access(&token, at(60)).unwrap();
        assert_eq!(claims.sub, s.device_token.to_string());
        assert_eq!(claims.device_token.as_deref(), Some(claims.sub.as_str()));
        assert_eq!(claims.sdk_enable_tracking.as_deref(), Some("True"));
        assert_eq!(claims.sdk_enable_logging.as_deref(), Some("False"));
        assert_eq!(
            claims.sdk_enable_real_time_location.as_deref(),
            Some("False")
        );
        assert_eq!(claims.sdk_client_id.as_deref(), Some("client-7"));
        assert_eq!(claims.exp - claims.iat, 7200);
        assert_eq!(claims.iss, "webApi");
        assert_eq!(
            claims.refresh_token_expired_date.as_deref(),
            Some("21.11.2023 22:13:20")
        );
    }

    #[test]
    fn the_token_payload_holds_no_secret() {
        let t = tokens();
        let (token, _) = user_token(&t);
        let p = payload(&token);
        for forbidden in ["InstanceKey", "RefreshToken", "Password"] {
            assert!(
                p.get(forbidden).is_none(),
                "{forbidden} must not be a claim"
            );
        }
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["kid"], t.kid());
    }

    #[test]
    fn an_expired_token_is_rejected_after_the_leeway_but_accepted_for_refresh() {
        let t = tokens();
        let (token, _) = user_token(&t);
        assert!(t.verify_access(&token, at(7200 + LEEWAY_SECONDS)).is_ok());
        assert!(t
            .verify_access(&token, at(7200 + LEEWAY_SECONDS + 1))
            .is_err());
        assert!(t.verify_naming_session(&token, at(7200 * 100)).is_ok());
    }

    #[test]
    fn a_token_not_valid_yet_is_rejected() {
        let t = tokens();
        let (token, _) = user_token(&t);
        assert!(t.verify_access(&token, at(-LEEWAY_SECONDS)).is_ok());
        assert!(t.verify_access(&token, at(-LEEWAY_SECONDS - 1)).is_err());
    }

    #[test]
    fn wrong_issuer_or_audience_is_rejected() {
        let (token, _) = user_token(&tokens());
        let other_iss = Tokens::new(
            &key(),
            TokenSettings {
                issuer: "other".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let other_aud = Tokens::new(
            &key(),
            TokenSettings {
                audience: "other".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(other_iss.verify_access(&token, at(1)).is_err());
        assert!(other_aud.verify_access(&token, at(1)).is_err());
    }

    #[test]
    fn alg_none_is_rejected() {
        let t = tokens();
        let (token, _) = user_token(&t);
        let header = serde_json::json!({"alg": "none", "typ": "JWT", "kid": t.kid()});
        let unsigned = replace_part(&token, 0, &header);
        let unsigned = format!("{}.", unsigned.rsplit_once('.').unwrap().0);
        assert!(t.verify_access(&unsigned, at(1)).is_err());
    }

    #[test]
    fn a_switched_algorithm_is_rejected() {
        let t = tokens();
        let claims = payload(&user_token(&t).0);
        let mut header = Header::new(Algorithm::HS512);
        header.kid = Some(t.kid().to_string());
        let hs512 =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key().expose()))
                .unwrap();
        assert!(t.verify_access(&hs512, at(1)).is_err());
    }

    #[test]
    fn a_tampered_payload_is_rejected() {
        let t = tokens();
        let (token, _) = user_token(&t);
        let mut p = payload(&token);
        p["SdkEnableLogging"] = "True".into();
        assert!(t
            .verify_access(&replace_part(&token, 1, &p), at(1))
            .is_err());
    }

    #[test]
    fn a_token_signed_with_another_key_is_rejected() {
        let other = Tokens::new(&SigningKey::new(vec![7u8; 32]), TokenSettings::default()).unwrap();
        let (token, _) = user_token(&other);
        assert!(tokens().verify_access(&token, at(1)).is_err());
    }

    #[test]
    fn a_user_token_does_not_pass_as_admin_and_back() {
        let t = tokens();
        let (token, _) = user_token(&t);
        let user = t.verify_access(&token, at(1)).unwrap();
        assert_eq!(user.role(), Some(Role::User));
        let admin = t.mint_admin(at(0), "admin-1", "a@b.c").unwrap();
        let claims = t.verify_access(&admin.token, at(1)).unwrap();
        assert_eq!(claims.role(), Some(Role::Admin));
        assert_eq!(claims.admin_email.as_deref(), Some("a@b.c"));
        assert_eq!(claims.is_admin.as_deref(), Some("True"));
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(Tokens::new(&SigningKey::new(vec![1u8; 31]), TokenSettings::default()).is_err());
    }

    #[test]
    fn refresh_tokens_are_44_base64_characters_and_hashed() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_eq!(a.secret.expose().len(), 44);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash_refresh_token(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(a.secret.expose()));
    }
}
