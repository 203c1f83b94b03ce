//! Login and refresh-token rotation.
//!
//! Invariants a reader must keep:
//! - Every password check is counted by the throttles first (`ratelimit`), and its answer
//!   never tells a right password from a wrong one on an account that may not log in: a
//!   deactivated account answers 403 whatever the password.
//! - A refresh token renews only the session (token family) it belongs to, and the access
//!   token presented with it must have been issued in that same family. Whether the session
//!   is an admin's or a user's comes from the stored family, never from the token.
//! - A refresh token is single use. Presenting a used one again revokes its whole family
//!   and is recorded as a security event, except within the reuse grace window after its
//!   rotation, where a flaky client's retry gets a new pair that *replaces* the successor
//!   it got before: a token has at most one live successor, so the family never forks.
//! - Every decision on a refresh token is made inside one transaction that locks its row,
//!   so two concurrent refreshes of one token cannot both rotate it.
//! - A session has an absolute end (`admin_session_max`, `user_session_max`) however often
//!   it is refreshed.

use chrono::{DateTime, Utc};

use super::activity::DevicePatch;
use super::error::{CoreError, CoreResult, CredentialKind, FieldErrors};
use super::issuance::{Credentials, FamilyRef, IssuedRows, Source};
use super::ratelimit::{admin_subject, Throttle};
use super::secret::{constant_time_eq, Password, PasswordHash, RefreshTokenSecret};
use super::store::{LoginColumn, NewAuditRow, RefreshRow, RefreshState, Tx, UserRow};
use super::time::ms;
use super::tokens::{hash_refresh_token, SubjectKind};
use super::types::{DeviceToken, Email, InstanceId, Phone, MAX_STRING};
use super::users::User;
use super::{Core, RequestMeta};
use crate::audit::AuditAction;
use tus_wire::model::{LoginRequest, RefreshRequest};

/// The login name inside `LoginFields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    DeviceToken(String),
    Email(String),
    Phone(String),
}

impl LoginName {
    /// The name as the store matches it and the throttles count it: a DeviceToken in its
    /// canonical form, an e-mail in lower case, a phone number without its formatting
    /// (`+1 (555) 010-0000` is `+15550100000`). Invalid input is kept as typed (it matches
    /// nobody, and still counts).
    pub(crate) fn canonical(&self) -> String {
        match self {
            LoginName::DeviceToken(v) => DeviceToken::parse(v)
                .map(|d| d.to_string())
                .unwrap_or_else(|_| v.to_lowercase()),
            LoginName::Email(v) => Email::parse(v)
                .map(|e| e.as_str().to_string())
                .unwrap_or_else(|_| v.to_lowercase()),
            LoginName::Phone(v) => Phone::parse(v)
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|_| v.clone()),
        }
    }

    pub(crate) fn describe(&self) -> String {
        let kind = match self {
            LoginName::DeviceToken(_) => "device",
            LoginName::Email(_) => "email",
            LoginName::Phone(_) => "phone",
        };
        format!("{kind}:{}", self.canonical())
    }
}

const LOGIN_FIELDS_HELP: &str =
    "must be an object (or a string holding one) with exactly one of DeviceToken, Email or Phone";

/// `LoginFields` is an object or a string holding JSON; its one key is matched in any case.
pub fn parse_login_fields(value: &serde_json::Value) -> Result<LoginName, String> {
    let parsed;
    let object = match value {
        serde_json::Value::Object(map) => map,
        serde_json::Value::String(text) => {
            parsed = serde_json::from_str::<serde_json::Value>(text)
                .map_err(|_| LOGIN_FIELDS_HELP.to_string())?;
            parsed
                .as_object()
                .ok_or_else(|| LOGIN_FIELDS_HELP.to_string())?
        }
        _ => return Err(LOGIN_FIELDS_HELP.into()),
    };
    let mut found = Vec::new();
    for (key, value) in object {
        let make: fn(String) -> LoginName = match key.to_ascii_lowercase().as_str() {
            "devicetoken" => LoginName::DeviceToken,
            "email" => LoginName::Email,
            "phone" => LoginName::Phone,
            _ => continue,
        };
        match value.as_str() {
            Some(s) if s.chars().count() > MAX_STRING => {
                return Err(format!("{key} must be at most {MAX_STRING} characters"))
            }
            Some(s) if s.chars().any(char::is_control) => {
                return Err(format!("{key} must not contain control characters"))
            }
            Some(s) if !s.trim().is_empty() => found.push(make(s.trim().to_string())),
            _ => return Err(format!("{key} must be a non-empty string")),
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        _ => Err(LOGIN_FIELDS_HELP.into()),
    }
}

/// A login, parsed: a login name and a password (or an InstanceKey, for a DeviceToken).
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    pub name: LoginName,
    pub proof: Proof,
    /// An admin's second factor (`TotpCode`), when they have one.
    pub totp: Option<Password>,
    /// A driver's phone as it reports itself (`MobileDevice`), stored with the login.
    pub device: Option<DevicePatch>,
}

/// What proves a login: a password (or InstanceKey), or a one-time code sent by
/// `POST /v1/Auth/Code` (Email or Phone logins only).
#[derive(Debug, Clone)]
pub enum Proof {
    Password(Password),
    Code(Password),
}

impl LoginAttempt {
    pub fn with_password(name: LoginName, password: Password) -> Self {
        LoginAttempt {
            name,
            proof: Proof::Password(password),
            totp: None,
            device: None,
        }
    }
}

/// A code as a login takes it: the six digits sent.
pub fn parse_code(code: &str) -> Result<Password, String> {
    let code = code.trim();
    if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        Ok(Password::new(code))
    } else {
        Err("must be the 6-digit code that was sent".into())
    }
}

impl TryFrom<LoginRequest> for LoginAttempt {
    type Error = CoreError;

    /// Every field error at once (a 422 lists them all).
    fn try_from(request: LoginRequest) -> CoreResult<Self> {
        let mut errors = FieldErrors::default();
        let name = match &request.login_fields {
            Some(v) => errors.take("LoginFields", parse_login_fields(v)),
            None => {
                errors.push("LoginFields", "is required");
                None
            }
        };
        let proof = match (request.password.as_deref(), request.code.as_deref()) {
            (Some(_), Some(_)) => {
                errors.push("Code", "give a Password or a Code, not both");
                None
            }
            (None, Some(code)) => errors.take("Code", parse_code(code)).map(Proof::Code),
            (password, None) => errors
                .take("Password", parse_password(password))
                .map(Proof::Password),
        };
        if let (Some(LoginName::DeviceToken(_)), Some(Proof::Code(_))) = (&name, &proof) {
            errors.push(
                "Code",
                "a code logs in an Email or a Phone, not a DeviceToken",
            );
        }
        let totp = match request.totp_code.as_deref() {
            Some(t) if t.chars().count() > 64 => {
                errors.push("TotpCode", "must be at most 64 characters");
                None
            }
            t => t.map(Password::new),
        };
        let device = DevicePatch::parse(&mut errors, &request.mobile_device);
        match (name, proof) {
            (Some(name), Some(proof)) if errors.is_empty() => Ok(LoginAttempt {
                name,
                proof,
                totp,
                device,
            }),
            _ => Err(CoreError::Validation(errors)),
        }
    }
}

/// A password as a login takes it: present, and not longer than any field.
fn parse_password(password: Option<&str>) -> Result<Password, String> {
    match password {
        Some(p) if p.chars().count() > MAX_STRING => {
            Err(format!("must be at most {MAX_STRING} characters"))
        }
        Some(p) if !p.is_empty() => Ok(Password::new(p)),
        _ => Err("is required".into()),
    }
}

/// A refresh, parsed: the access token that names the session (expired or not) and the
/// refresh token that renews it.
#[derive(Debug, Clone)]
pub struct RefreshPair {
    pub access: String,
    pub refresh: RefreshTokenSecret,
    /// A driver's phone as it reports itself, if the client sends it.
    pub device: Option<DevicePatch>,
}

impl TryFrom<RefreshRequest> for RefreshPair {
    type Error = CoreError;

    fn try_from(request: RefreshRequest) -> CoreResult<Self> {
        let mut errors = FieldErrors::default();
        let mut required = |key: &str, v: Option<String>| match v {
            Some(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
            _ => {
                errors.push(key, "is required");
                None
            }
        };
        let access = required("AccessToken", request.access_token);
        let refresh = required("RefreshToken", request.refresh_token);
        let device = DevicePatch::parse(&mut errors, &request.mobile_device);
        match (access, refresh) {
            (Some(access), Some(refresh)) if errors.is_empty() => Ok(RefreshPair {
                access,
                refresh: RefreshTokenSecret::new(refresh),
                device,
            }),
            _ => Err(CoreError::Validation(errors)),
        }
    }
}

/// Whom a refresh issues for, read before its transaction.
enum RefreshSubject {
    User(User),
    Admin { id: String, email: String },
}

/// The `reason` of a successor that a grace-window retry replaced.
pub(crate) const SUPERSEDED: &str = "superseded";

pub(crate) fn invalid_credentials() -> CoreError {
    CoreError::unauthorized(CredentialKind::Login, "invalid credentials")
}

fn refresh_error(message: &str) -> CoreError {
    CoreError::unauthorized(CredentialKind::RefreshToken, message)
}

/// The instance a login names, canonical when it parses (the throttles' scope).
pub(crate) fn instance_scope(instance: &str) -> String {
    InstanceId::parse(instance)
        .map(|i| i.to_string())
        .unwrap_or_else(|_| instance.trim().to_lowercase())
}

impl Core {
    /// `POST /v1/Auth/Login`: DeviceToken + InstanceKey, or Email/Phone + the user's password
    /// (both with the `InstanceId` header); Email + password without the header is an admin.
    pub async fn login(
        &self,
        now: DateTime<Utc>,
        instance_header: Option<&str>,
        attempt: LoginAttempt,
        meta: &RequestMeta,
    ) -> CoreResult<Credentials> {
        let LoginAttempt {
            name,
            proof,
            totp,
            device,
        } = attempt;
        let device = device.as_ref();

        let subject = match (&name, instance_header) {
            (LoginName::Email(_), None) => admin_subject(&name.canonical()),
            (_, Some(instance)) => format!("{}:{}", instance_scope(instance), name.describe()),
            (LoginName::DeviceToken(_) | LoginName::Phone(_), None) => {
                return Err(CoreError::unauthorized(
                    CredentialKind::Instance,
                    "the InstanceId header is required to log in with a DeviceToken or a Phone",
                ))
            }
        };
        let throttle = Throttle::login(&subject, &name.describe(), meta);
        self.admit(now, &throttle, meta).await?;
        let result = match (&name, instance_header, &proof) {
            (LoginName::DeviceToken(token), Some(instance), Proof::Password(password)) => {
                self.device_login(now, instance, token, password, device)
                    .await
            }
            (LoginName::Email(_) | LoginName::Phone(_), Some(instance), proof) => {
                self.password_login(now, instance, &name, proof, device, meta)
                    .await
            }
            (_, None, Proof::Password(password)) => {
                let totp = totp.as_ref().map(|t| t.expose());
                self.admin_login(now, &name.canonical(), password, totp, meta)
                    .await
            }
            (_, _, Proof::Code(_)) => Err(invalid_credentials()),
        };
        match &result {
            Err(CoreError::Unauthorized {
                kind: CredentialKind::Login,
                ..
            }) => {
                self.record(
                    now,
                    "anonymous",
                    AuditAction::LoginFailed,
                    &name.describe(),
                    "invalid credentials",
                    meta,
                )
                .await?;
            }
            Ok(_) => self.settle_success(&throttle).await?,
            Err(_) => {}
        }
        result
    }

    async fn device_login(
        &self,
        now: DateTime<Utc>,
        instance: &str,
        token: &str,
        password: &Password,
        reported: Option<&DevicePatch>,
    ) -> CoreResult<Credentials> {
        let (Ok(instance_id), Ok(device)) =
            (InstanceId::parse(instance), DeviceToken::parse(token))
        else {
            return Err(invalid_credentials());
        };
        let Some(row) = self.store().find_user(&device.to_string()).await? else {
            return Err(invalid_credentials());
        };
        let Some(instance) = self.store().find_instance(&row.instance_id).await? else {
            return Err(invalid_credentials());
        };
        if row.instance_id != instance_id.to_string() {
            return Err(invalid_credentials());
        }
        let canonical = |k: &str| {
            uuid::Uuid::try_parse(k.trim())
                .map(|u| u.to_string())
                .unwrap_or_default()
        };
        let key_ok = constant_time_eq(
            canonical(password.expose()).as_bytes(),
            canonical(&instance.instance_key).as_bytes(),
        );
        let user = User::try_from(row)?;
        // The status first: a deactivated account answers the same whatever the key.
        user.ensure_active()?;
        if !key_ok {
            return Err(invalid_credentials());
        }
        self.login_user(now, user, reported).await
    }

    async fn password_login(
        &self,
        now: DateTime<Utc>,
        instance: &str,
        name: &LoginName,
        proof: &Proof,
        device: Option<&DevicePatch>,
        meta: &RequestMeta,
    ) -> CoreResult<Credentials> {
        let instance_id = InstanceId::parse(instance)
            .map_err(|_| invalid_credentials())?
            .to_string();
        let column = match name {
            LoginName::Email(_) => LoginColumn::Email,
            LoginName::Phone(_) => LoginColumn::Phone,
            LoginName::DeviceToken(_) => return Err(invalid_credentials()),
        };
        let row = self
            .store()
            .find_user_by_login(&instance_id, column, &name.canonical())
            .await?;
        let right = match proof {
            Proof::Password(password) => {
                let hash = row
                    .as_ref()
                    .and_then(|r| r.password_hash.clone())
                    .map(PasswordHash::new);
                // Verified (or its time spent) before anything else is told.
                self.check_password(password, hash).await?
            }
            Proof::Code(code) => match &row {
                Some(r) => {
                    self.redeem_login_code(now, &r.device_token, code.expose())
                        .await?
                }
                None => false,
            },
        };
        if let (true, Proof::Code(_), Some(r)) = (right, proof, &row) {
            self.record(
                now,
                "anonymous",
                AuditAction::LoginCodeUsed,
                &format!("user:{}", r.device_token),
                "logged in with a one-time code",
                meta,
            )
            .await?;
        }
        let user = row.map(User::try_from).transpose()?;
        if let Some(user) = &user {
            // Deactivated: 403 whether the password was right or not.
            user.ensure_active()?;
        }
        match (right, user) {
            (true, Some(user)) => self.login_user(now, user, device).await,
            _ => Err(invalid_credentials()),
        }
    }

    async fn login_user(
        &self,
        now: DateTime<Utc>,
        user: User,
        device: Option<&DevicePatch>,
    ) -> CoreResult<Credentials> {
        user.ensure_active()?;
        let token = user.device_token.to_string();
        // Only a user that came in by a batch may be an import's (one query, not on every login).
        let imported = match user.batch_id {
            Some(_) => self.store().first_token_since_import(&token).await?,
            None => false,
        };
        let source = if imported {
            Source::Import
        } else {
            Source::Login
        };
        let mut issued = IssuedRows::default();
        let family = issued.new_family(now, &token, SubjectKind::User, source);
        let credentials = issued.user_pair(now, self.tokens(), &user.subject(), &family, source)?;
        let mut tx = self.store().begin().await?;
        issued.write(&mut tx).await?;
        tx.note_activity(&token, ms(now), device).await?;
        tx.commit().await?;
        self.tallies().issued(&issued);
        Ok(credentials)
    }

    async fn admin_login(
        &self,
        now: DateTime<Utc>,
        email: &str,
        password: &Password,
        totp: Option<&str>,
        meta: &RequestMeta,
    ) -> CoreResult<Credentials> {
        let admin = match Email::parse(email) {
            Ok(e) => self.store().find_admin_by_email(e.as_str()).await?,
            Err(_) => None,
        };
        // An invited admin has no password yet: nothing matches it.
        let hash = admin
            .as_ref()
            .filter(|a| !a.password_hash.is_empty())
            .map(|a| PasswordHash::new(a.password_hash.clone()));
        if !self.check_password(password, hash).await? {
            return Err(invalid_credentials());
        }
        let admin = admin.ok_or_else(invalid_credentials)?;
        // Said only to whoever knows the password.
        if admin.disabled_at.is_some() {
            return Err(CoreError::Forbidden(
                "this admin account is disabled; ask an Owner".into(),
            ));
        }
        let mut issued = IssuedRows::default();
        let family = issued.new_family(now, &admin.id, SubjectKind::Admin, Source::Login);
        let credentials = self.admin_pair(
            now,
            &mut issued,
            &admin.id,
            &admin.email,
            &family,
            Source::Login,
        )?;
        let mut tx = self.store().begin().await?;
        // With TOTP on, the code (or a recovery code) is checked and used in the
        // transaction that opens the session: a wrong one opens nothing.
        let factor = self.second_factor(&mut tx, now, &admin, totp).await?;
        if let Some(crate::totp::SecondFactor::Recovery) = factor {
            let left = tx.count_admin_secrets(&admin.id, "recovery").await?;
            tx.audit(
                &NewAuditRow::new(
                    now,
                    format!("admin:{}", admin.email),
                    AuditAction::AdminRecoveryCodeUsed,
                    format!("admin:{}", admin.email),
                    format!("signed in with a recovery code; {left} left"),
                )
                .from(meta),
            )
            .await?;
        }
        issued.write(&mut tx).await?;
        tx.set_admin_signed_in(&admin.id, ms(now)).await?;
        tx.commit().await?;
        self.tallies().issued(&issued);
        Ok(credentials)
    }

    fn admin_pair(
        &self,
        now: DateTime<Utc>,
        issued: &mut IssuedRows,
        id: &str,
        email: &str,
        family: &FamilyRef,
        source: Source,
    ) -> CoreResult<Credentials> {
        let tokens = self.tokens();
        let service = &crate::tokens::Lifetimes::default();
        let (access, refresh) = issued.pair(now, tokens, id, family, source, service, |_| {
            tokens.mint_admin(now, id, email)
        })?;
        Ok(Credentials {
            device_token: None,
            access_token: Some(access),
            refresh_token: Some(refresh),
        })
    }

    /// `POST /v1/Auth/RefreshToken`: rotates the refresh token, see the module invariants.
    pub async fn refresh(
        &self,
        now: DateTime<Utc>,
        pair: RefreshPair,
        meta: &RequestMeta,
    ) -> CoreResult<Credentials> {
        let RefreshPair {
            access,
            refresh,
            device,
        } = pair;
        // The access token may be expired, but it must be ours.
        self.learn_key_of(&access, now).await;
        let claims = self.tokens().verify_naming_session(&access, now)?;
        let hash = hash_refresh_token(&refresh);

        // Which session each token belongs to never changes, so it is read before the
        // transaction: a refresh must never hold its transaction's connection while waiting
        // for a second one from the same pool, or concurrent refreshes starve the pool.
        let lineage = self
            .store()
            .refresh_lineage(&hash, &claims.jti)
            .await?
            .ok_or_else(|| refresh_error("the refresh token is invalid"))?;
        let kind = SubjectKind::parse_stored(&lineage.subject_kind)?;
        let same_session = lineage.access_family_id.as_ref() == Some(&lineage.token.family_id)
            && lineage.access_subject.as_ref() == Some(&lineage.token.subject)
            && claims.sub == lineage.token.subject
            && claims.role() == Some(kind.role());
        if !same_session {
            return Err(refresh_error(
                "the refresh token does not belong to this access token",
            ));
        }
        if !self
            .tokens()
            .session_open(kind, lineage.family_created_at, now)
        {
            return Err(refresh_error(
                "this session has reached its longest lifetime; sign in again",
            ));
        }
        if kind == SubjectKind::Admin
            && self.admin_idle_past(lineage.family_last_seen_at, lineage.family_created_at, now)
        {
            return Err(refresh_error(
                "this session ended after a time without use; sign in again",
            ));
        }
        let subject = self
            .refresh_subject(kind, &lineage.token.subject, lineage.user)
            .await?;
        if let RefreshSubject::User(user) = &subject {
            if let Some(credentials) = self
                .rotate_write_only(now, &lineage.token, user, device.as_ref())
                .await?
            {
                return Ok(credentials);
            }
        }

        let mut tx = self.store().begin().await?;
        let row = tx
            .find_refresh(&hash)
            .await?
            .ok_or_else(|| refresh_error("the refresh token is invalid"))?;
        // A successor replaced by a grace-window retry went to a client that is not the
        // one holding the replacement: presenting it is reuse.
        if row.family_revoked_at.is_none() && row.reason.as_deref() == Some(SUPERSEDED) {
            return self.revoke_for_reuse(tx, now, &row, meta).await;
        }
        if row.family_revoked_at.is_some() || row.state == RefreshState::Revoked {
            return Err(refresh_error("the refresh token has been revoked"));
        }
        if row.expires_at <= ms(now) {
            return Err(refresh_error("the refresh token has expired"));
        }
        let rotated =
            row.state == RefreshState::Active && tx.mark_refresh_used(&row.id, ms(now)).await?;
        if !rotated {
            // A retry within the grace window replaces the successor the first attempt
            // got, unless that successor was used already: then somebody else holds this
            // token, which is reuse.
            let retry = self.within_grace(&row, now) && tx.supersede_successors(&row.id).await?;
            if !retry {
                return self.revoke_for_reuse(tx, now, &row, meta).await;
            }
        }

        let family = FamilyRef {
            id: row.family_id.clone(),
            parent: Some(row.id.clone()),
        };
        let mut issued = IssuedRows::default();
        let credentials = match subject {
            RefreshSubject::Admin { id, email } => {
                self.admin_pair(now, &mut issued, &id, &email, &family, Source::Refresh)?
            }
            RefreshSubject::User(user) => {
                // Dropping the transaction rolls the rotation back: the token stays usable
                // if the user is activated again.
                user.ensure_active()?;
                let pair = issued.user_pair(
                    now,
                    self.tokens(),
                    &user.subject(),
                    &family,
                    Source::Refresh,
                )?;
                tx.note_activity(&row.subject, ms(now), device.as_ref())
                    .await?;
                pair
            }
        };
        issued.write(&mut tx).await?;
        tx.commit().await?;
        self.tallies().issued(&issued);
        Ok(credentials)
    }

    /// The usual rotation, as a write-only transaction (a group commit on SQLite, one
    /// statement on PostgreSQL): decided on the token as a reader sees it, and confirmed in
    /// the write by `claim_refresh` (still active, family not revoked, not expired). `None`
    /// when that does not hold, or stopped holding before the write ran: then the full path decides
    /// in its own transaction, with every reuse and grace rule, as if this had not been
    /// tried (nothing of it was written).
    async fn rotate_write_only(
        &self,
        now: DateTime<Utc>,
        row: &RefreshRow,
        user: &User,
        device: Option<&DevicePatch>,
    ) -> CoreResult<Option<Credentials>> {
        let usable = row.state == RefreshState::Active
            && row.family_revoked_at.is_none()
            && row.expires_at > ms(now);
        if !usable || user.ensure_active().is_err() {
            return Ok(None);
        }
        let family = FamilyRef {
            id: row.family_id.clone(),
            parent: Some(row.id.clone()),
        };
        let mut issued = IssuedRows::default();
        let credentials = issued.user_pair(
            now,
            self.tokens(),
            &user.subject(),
            &family,
            Source::Refresh,
        )?;
        let mut tx = self.store().begin_writes().await?;
        tx.claim_refresh(&row.id, ms(now)).await?;
        tx.note_activity(&row.subject, ms(now), device).await?;
        issued.write(&mut tx).await?;
        match tx.commit().await {
            Ok(()) => {
                self.tallies().issued(&issued);
                Ok(Some(credentials))
            }
            Err(CoreError::Conflict { key, .. }) if key == "RefreshToken" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The subject of a session, by the kind its family was opened for; a user's comes with
    /// the session's read (`Store::refresh_lineage`).
    async fn refresh_subject(
        &self,
        kind: SubjectKind,
        id: &str,
        user: Option<UserRow>,
    ) -> CoreResult<RefreshSubject> {
        match kind {
            SubjectKind::Admin => {
                let admin = self.store().find_admin(id).await?;
                let admin = admin.ok_or_else(|| refresh_error("the admin no longer exists"))?;
                if admin.disabled_at.is_some() {
                    return Err(refresh_error("this admin has been disabled"));
                }
                Ok(RefreshSubject::Admin {
                    id: admin.id,
                    email: admin.email,
                })
            }
            SubjectKind::User => {
                let user = user.ok_or_else(|| refresh_error("the user no longer exists"))?;
                Ok(RefreshSubject::User(User::try_from(user)?))
            }
        }
    }

    fn within_grace(&self, row: &RefreshRow, now: DateTime<Utc>) -> bool {
        let grace = self.tokens().settings().reuse_grace.num_milliseconds();
        let used_at = row.used_at.unwrap_or_else(|| ms(now));
        grace > 0 && ms(now) - used_at <= grace
    }

    async fn revoke_for_reuse(
        &self,
        mut tx: Tx,
        now: DateTime<Utc>,
        row: &RefreshRow,
        meta: &RequestMeta,
    ) -> CoreResult<Credentials> {
        tx.revoke_family(&row.family_id, ms(now), "reuse").await?;
        tx.audit(
            &NewAuditRow::new(
                now,
                row.subject.clone(),
                AuditAction::RefreshReuse,
                row.subject.clone(),
                format!("refresh token reused; family {} revoked", row.family_id),
            )
            .from(meta),
        )
        .await?;
        // Read in the transaction: a second connection per racing refresh would exhaust
        // the pool while each holds its transaction's.
        let instance = tx.instance_of_user(&row.subject).await?;
        tx.insert_events(&[crate::events::NewEvent::new(
            crate::events::EventType::SecurityRefreshReuse,
            now,
            Some(&row.subject),
            instance.as_deref(),
            serde_json::json!({
                "DeviceToken": row.subject,
                "InstanceId": instance,
                "FamilyId": row.family_id,
                "ClientAddress": meta.client_addr,
            }),
        )])
        .await?;
        tx.commit().await?;
        self.tallies().action(AuditAction::RefreshReuse);
        tracing::warn!(family = %row.family_id, "refresh token reuse: family revoked");
        Err(refresh_error(
            "the refresh token was already used; every token of this session has been revoked",
        ))
    }

    /// Appends one audit entry in its own transaction.
    pub async fn record(
        &self,
        now: DateTime<Utc>,
        actor: &str,
        action: AuditAction,
        target: &str,
        detail: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let mut tx = self.store().begin().await?;
        tx.audit(&NewAuditRow::new(now, actor, action, target, detail).from(meta))
            .await?;
        tx.commit().await?;
        self.tallies().action(action);
        Ok(())
    }
}

impl Core {
    /// Dashboard sign-in: an admin's e-mail and password, throttled like `Auth/Login`.
    pub async fn admin_sign_in(
        &self,
        now: DateTime<Utc>,
        email: &str,
        password: &str,
        totp: Option<&str>,
        meta: &RequestMeta,
    ) -> CoreResult<Credentials> {
        let mut e = FieldErrors::default();
        if email.trim().is_empty() {
            e.push("email", "is required");
        }
        if password.is_empty() {
            e.push("password", "is required");
        }
        e.into_result()?;
        let password = CoreError::validation_of("Password", parse_password(Some(password)))?;
        let mut attempt =
            LoginAttempt::with_password(LoginName::Email(email.trim().to_string()), password);
        attempt.totp = totp
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Password::new);
        let credentials = self.login(now, None, attempt, meta).await?;
        // An e-mail and password without an instance is an admin login; never a user's.
        if credentials.device_token.is_some() {
            return Err(CoreError::unauthorized(
                super::error::CredentialKind::Login,
                "invalid credentials",
            ));
        }
        Ok(credentials)
    }

    /// Ends the session an access token belongs to: its family is revoked, so neither its
    /// refresh token nor any access token of that family works any more.
    pub async fn sign_out(
        &self,
        now: DateTime<Utc>,
        access_token: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        self.learn_key_of(access_token, now).await;
        let claims = self.tokens().verify_naming_session(access_token, now)?;
        let Some(family) = self
            .store()
            .access_session(&claims.jti)
            .await?
            .map(|s| s.family_id)
        else {
            return Ok(());
        };
        let mut tx = self.store().begin().await?;
        tx.revoke_family(&family, ms(now), "sign-out").await?;
        tx.audit(
            &NewAuditRow::new(
                now,
                match &claims.admin_email {
                    Some(email) => format!("admin:{email}"),
                    None => format!("user:{}", claims.sub),
                },
                AuditAction::SessionSignedOut,
                format!("family:{family}"),
                "session ended; its tokens are revoked",
            )
            .from(meta),
        )
        .await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instances::InstanceCredentials;
    use crate::testing::{at, test_core, TestCore};
    use chrono::Duration;
    use tus_wire::model::RegisterRequest;

    struct Fixture {
        t: TestCore,
        creds: InstanceCredentials,
        instance_id: String,
        key: String,
    }

    async fn fixture(grace_seconds: i64) -> Fixture {
        let t = test_core(|c| c.tokens.reuse_grace = Duration::seconds(grace_seconds)).await;
        let i = t
            .core
            .create_instance(at(0), None, "Fleet", "")
            .await
            .unwrap();
        let creds = i.credentials();
        Fixture {
            t,
            creds,
            instance_id: i.id.to_string(),
            key: i.key.expose().to_string(),
        }
    }

    fn pair(c: &Credentials) -> RefreshPair {
        RefreshPair {
            device: None,
            access: c.access_token.as_ref().unwrap().token.clone(),
            refresh: c.refresh_token.clone().unwrap(),
        }
    }

    /// The stored hash of `c`'s refresh token.
    fn hash_of(c: &Credentials) -> String {
        crate::tokens::hash_refresh_token(c.refresh_token.as_ref().unwrap())
    }

    async fn registered(f: &Fixture) -> Credentials {
        f.t.core
            .register(
                at(0),
                &f.creds,
                RegisterRequest::default(),
                &crate::RequestMeta::default(),
            )
            .await
            .unwrap()
    }

    fn is_refresh_401(r: &CoreResult<Credentials>) -> bool {
        matches!(
            r,
            Err(CoreError::Unauthorized {
                kind: CredentialKind::RefreshToken,
                ..
            })
        )
    }

    #[test]
    fn login_fields_come_as_object_or_string_in_any_case() {
        let t = "52e83e6e-4bd1-4353-a8c1-6df6c2a32a3d";
        let want = LoginName::DeviceToken(t.into());
        assert_eq!(
            parse_login_fields(&serde_json::json!({"DeviceToken": t})),
            Ok(want.clone())
        );
        assert_eq!(
            parse_login_fields(&serde_json::json!({"Devicetoken": t})),
            Ok(want.clone())
        );
        assert_eq!(
            parse_login_fields(&serde_json::json!(format!("{{\"deviceToken\":\"{t}\"}}"))),
            Ok(want)
        );
        assert_eq!(
            parse_login_fields(&serde_json::json!("{\"email\":\"a@b.c\"}")),
            Ok(LoginName::Email("a@b.c".into()))
        );
        assert!(parse_login_fields(&serde_json::json!({})).is_err());
        assert!(
            parse_login_fields(&serde_json::json!({"Email": "a@b.c", "Phone": "+123456"})).is_err()
        );
        assert!(parse_login_fields(&serde_json::json!("not json")).is_err());
        assert!(parse_login_fields(&serde_json::json!(5)).is_err());
    }

    #[tokio::test]
    async fn a_refresh_rotates_the_pair_and_the_old_token_dies() {
        let f = fixture(0).await;
        let first = registered(&f).await;
        let meta = RequestMeta::default();
        let second = f.t.core.refresh(at(60), pair(&first), &meta).await.unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        assert_eq!(second.device_token, first.device_token);
        let third =
            f.t.core
                .refresh(at(120), pair(&second), &meta)
                .await
                .unwrap();
        assert!(third.access_token.is_some());
    }

    #[tokio::test]
    async fn refresh_token_reuse_after_the_grace_window_revokes_the_family() {
        let f = fixture(10).await;
        let first = registered(&f).await;
        let meta = RequestMeta::default();
        let second = f.t.core.refresh(at(60), pair(&first), &meta).await.unwrap();
        // 11 s after the rotation: outside the 10 s grace.
        let reuse = f.t.core.refresh(at(71), pair(&first), &meta).await;
        assert!(is_refresh_401(&reuse), "{reuse:?}");
        // The descendant dies with the family.
        assert!(is_refresh_401(
            &f.t.core.refresh(at(72), pair(&second), &meta).await
        ));
        let events =
            f.t.core
                .store()
                .audit_entries("refresh.reuse")
                .await
                .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].target, first.device_token.unwrap().to_string());
    }

    #[tokio::test]
    async fn a_retry_within_the_grace_window_gets_a_new_pair() {
        let f = fixture(10).await;
        let first = registered(&f).await;
        let meta = RequestMeta::default();
        let second = f.t.core.refresh(at(60), pair(&first), &meta).await.unwrap();
        let retry = f.t.core.refresh(at(70), pair(&first), &meta).await.unwrap();
        assert_ne!(retry.refresh_token, second.refresh_token);
        // The retry's pair replaced the first one: it works, nothing was revoked...
        assert!(f.t.core.refresh(at(80), pair(&retry), &meta).await.is_ok());
        let reuse = || async {
            f.t.core
                .store()
                .audit_entries("refresh.reuse")
                .await
                .unwrap()
        };
        assert!(reuse().await.is_empty());
        // ...and the replaced pair, presented again, is reuse: the session ends.
        assert!(is_refresh_401(
            &f.t.core.refresh(at(81), pair(&second), &meta).await
        ));
        assert_eq!(reuse().await.len(), 1);
    }

    #[tokio::test]
    async fn an_access_token_renews_only_with_a_refresh_token_of_its_own_session() {
        let f = fixture(0).await;
        let first = registered(&f).await;
        let device = first.device_token.unwrap().to_string();
        let meta = RequestMeta::default();
        let login = LoginRequest {
            mobile_device: None,
            login_fields: Some(serde_json::json!({ "DeviceToken": device })),
            password: Some(f.key.clone()),
            code: None,
            totp_code: None,
        };
        let other =
            f.t.core
                .login(
                    at(5),
                    Some(&f.instance_id),
                    login.try_into().unwrap(),
                    &meta,
                )
                .await
                .unwrap();
        let crossed = RefreshPair {
            device: None,
            access: pair(&other).access,
            refresh: pair(&first).refresh,
        };
        assert!(is_refresh_401(
            &f.t.core.refresh(at(6), crossed, &meta).await
        ));
        assert!(f.t.core.refresh(at(7), pair(&first), &meta).await.is_ok());
    }

    #[tokio::test]
    async fn a_session_past_its_longest_lifetime_renews_no_more() {
        let t = test_core(|c| c.tokens.user_session_max = Some(Duration::hours(1))).await;
        let i = crate::testing::fleet(&t).await;
        let meta = RequestMeta::default();
        let first = t
            .core
            .register(at(0), &i.credentials(), RegisterRequest::default(), &meta)
            .await
            .unwrap();
        let second = t.core.refresh(at(3599), pair(&first), &meta).await.unwrap();
        assert!(is_refresh_401(
            &t.core.refresh(at(3600), pair(&second), &meta).await
        ));
        let token = second.access_token.unwrap().token;
        assert!(t
            .core
            .authenticate_bearer(at(3599), Some(&token))
            .await
            .is_ok());
        assert!(t
            .core
            .authenticate_bearer(at(3600), Some(&token))
            .await
            .is_err());
    }

    /// Refreshes arriving together (on SQLite each tries the group rotation first, decided
    /// on the token as read outside any transaction): of 8 presentations of one pair at
    /// one instant, one rotates and the others are reuse, which revokes the family, the
    /// winner's new pair included. Meanwhile 8 other drivers' refreshes all rotate.
    #[tokio::test]
    async fn refreshes_racing_rotate_once_and_the_rest_is_reuse() {
        let f = fixture(0).await;
        let meta = RequestMeta::default();
        let raced = registered(&f).await;
        let mut others = Vec::new();
        for _ in 0..8 {
            others.push(registered(&f).await);
        }
        let core = &f.t.core;
        let (racing, bystanders) = tokio::join!(
            futures::future::join_all((0..8).map(|_| core.refresh(at(60), pair(&raced), &meta))),
            futures::future::join_all(others.iter().map(|c| core.refresh(at(60), pair(c), &meta))),
        );
        let winners: Vec<&Credentials> = racing.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "{racing:?}");
        assert!(racing.iter().filter(|r| r.is_err()).all(is_refresh_401));
        assert!(is_refresh_401(
            &core.refresh(at(61), pair(winners[0]), &meta).await
        ));
        for rotated in &bystanders {
            let next = rotated.as_ref().unwrap();
            core.refresh(at(62), pair(next), &meta).await.unwrap();
        }
    }

    /// The claim behind the group rotation, raced deterministically: two write-only
    /// transactions claim one token and commit together; one commits, the other fails with
    /// the conflict the rotation falls back on, and leaves nothing. A claim on a token whose
    /// family was revoked, or past its expiry, fails the same way.
    #[tokio::test]
    async fn a_refresh_token_is_claimed_once_and_never_when_revoked_or_expired() {
        let f = fixture(0).await;
        let store = f.t.core.store();
        let row = |c: &Credentials| {
            let hash = hash_of(c);
            async move { store.peek_refresh(&hash).await.unwrap().unwrap() }
        };
        let lost = |r: &CoreResult<()>| matches!(r, Err(CoreError::Conflict { key, .. }) if key == "RefreshToken");
        let claim = |id: String, now: i64| async move {
            let mut tx = store.begin_writes().await?;
            tx.claim_refresh(&id, now).await?;
            tx.commit().await
        };
        let registration = registered(&f).await;
        let first = row(&registration).await;
        let (a, b) = tokio::join!(
            claim(first.id.clone(), 1_000),
            claim(first.id.clone(), 1_000)
        );
        assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
        assert!(lost(if a.is_ok() { &b } else { &a }));
        let claimed = row(&registration).await;
        assert_eq!(claimed.state, RefreshState::Used);
        assert_eq!(claimed.used_at, Some(1_000));

        let revoked = row(&registered(&f).await).await;
        let mut tx = store.begin().await.unwrap();
        tx.revoke_family(&revoked.family_id, 2_000, "sign-out")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(lost(&claim(revoked.id.clone(), 3_000).await));

        let expiring = row(&registered(&f).await).await;
        assert!(lost(&claim(expiring.id.clone(), expiring.expires_at).await));
        claim(expiring.id.clone(), expiring.expires_at - 1)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn with_zero_grace_any_reuse_revokes() {
        let f = fixture(0).await;
        let first = registered(&f).await;
        let meta = RequestMeta::default();
        f.t.core.refresh(at(60), pair(&first), &meta).await.unwrap();
        assert!(is_refresh_401(
            &f.t.core.refresh(at(60), pair(&first), &meta).await
        ));
    }

    /// The rotation decides on the token as the session's one read saw it, so a family
    /// revoked after sign-in (a sign-out everywhere) must still stop it: refused, and nothing
    /// issued or rotated.
    #[tokio::test]
    async fn a_refresh_token_of_a_revoked_session_is_refused_and_rotates_nothing() {
        let f = fixture(0).await;
        let first = registered(&f).await;
        let store = f.t.core.store();
        let hash = hash_of(&first);
        let before = store.peek_refresh(&hash).await.unwrap().unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.revoke_family(&before.family_id, 30_000, "sign-out")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let revoked = store.peek_refresh(&hash).await.unwrap().unwrap();
        assert_eq!(revoked.family_revoked_at, Some(30_000));

        let meta = RequestMeta::default();
        let refused = f.t.core.refresh(at(60), pair(&first), &meta).await;
        assert!(is_refresh_401(&refused), "{refused:?}");
        let after = store.peek_refresh(&hash).await.unwrap().unwrap();
        assert_eq!(
            (after.state, after.used_at, after.reason),
            (revoked.state, None, revoked.reason)
        );
        let issued = store.access_tokens_of(&before.subject, 10).await.unwrap();
        assert_eq!(issued.len(), 1, "{issued:?}");
    }

    /// A sign-out racing a refresh of the same session, on both backends. The usual
    /// rotation is a write-only transaction that claims its token in SQL (a group commit on
    /// SQLite, one statement on PostgreSQL, without the full path's `FOR UPDATE`): whichever
    /// wins, the session ends revoked, and neither the presented refresh token nor anything
    /// the refresh returned works afterwards.
    #[tokio::test]
    async fn a_sign_out_racing_a_refresh_leaves_nothing_usable() {
        let f = fixture(0).await;
        let meta = RequestMeta::default();
        let store = f.t.core.store();
        let mut rotated = 0;
        for round in 0..20 {
            let first = registered(&f).await;
            let access = first.access_token.clone().unwrap().token;
            let (refreshed, signed_out) = tokio::join!(
                f.t.core.refresh(at(60), pair(&first), &meta),
                f.t.core.sign_out(at(60), &access, &meta)
            );
            signed_out.unwrap();
            if let Ok(next) = &refreshed {
                rotated += 1;
                let again = f.t.core.refresh(at(120), pair(next), &meta).await;
                assert!(is_refresh_401(&again), "round {round}: {again:?}");
                let token = &next.access_token.as_ref().unwrap().token;
                let jti = f.t.core.tokens().verify_access(token, at(120)).unwrap().jti;
                let session = store.access_session(&jti).await.unwrap().unwrap();
                assert!(session.family_revoked_at.is_some(), "round {round}");
            }
            let reused = f.t.core.refresh(at(120), pair(&first), &meta).await;
            assert!(is_refresh_401(&reused), "round {round}: {reused:?}");
        }
        eprintln!("{rotated} of 20 refreshes rotated before the sign-out");
    }

    #[tokio::test]
    async fn an_expired_refresh_token_is_refused() {
        let f = fixture(0).await;
        let first = registered(&f).await;
        let meta = RequestMeta::default();
        let week = 7 * 24 * 3600;
        assert!(is_refresh_401(
            &f.t.core.refresh(at(week), pair(&first), &meta).await
        ));
        assert!(f
            .t
            .core
            .refresh(at(week - 1), pair(&first), &meta)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_foreign_access_token_cannot_refresh_another_users_token() {
        let f = fixture(0).await;
        let a = registered(&f).await;
        let b = registered(&f).await;
        let mixed = RefreshPair {
            device: None,
            access: pair(&b).access,
            refresh: pair(&a).refresh,
        };
        assert!(is_refresh_401(
            &f.t.core
                .refresh(at(1), mixed, &RequestMeta::default())
                .await
        ));
        // Nothing was consumed: the rightful pair still works.
        assert!(f
            .t
            .core
            .refresh(at(2), pair(&a), &RequestMeta::default())
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn device_login_needs_the_instance_key_and_opens_a_new_family() {
        let f = fixture(0).await;
        let user = registered(&f).await;
        let device = user.device_token.unwrap().to_string();
        let meta = RequestMeta::default();
        let login = |password: &str| LoginRequest {
            mobile_device: None,
            login_fields: Some(serde_json::json!({ "DeviceToken": device })),
            password: Some(password.into()),
            code: None,
            totp_code: None,
        };
        let ok =
            f.t.core
                .login(
                    at(5),
                    Some(&f.instance_id),
                    login(&f.key).try_into().unwrap(),
                    &meta,
                )
                .await
                .unwrap();
        assert_eq!(ok.device_token, user.device_token);
        let wrong =
            f.t.core
                .login(
                    at(5),
                    Some(&f.instance_id),
                    login(&uuid::Uuid::new_v4().to_string()).try_into().unwrap(),
                    &meta,
                )
                .await;
        assert!(matches!(
            wrong,
            Err(CoreError::Unauthorized {
                kind: CredentialKind::Login,
                ..
            })
        ));
        assert_eq!(
            f.t.core
                .store()
                .audit_entries("login.failed")
                .await
                .unwrap()
                .len(),
            1
        );
    }

    /// A refresh reads its session and subject in one query: a user's session carries its
    /// user as stored now, an admin's session never carries a user.
    #[tokio::test]
    async fn the_session_read_carries_the_user_of_a_users_session_only() {
        let f = fixture(0).await;
        let store = f.t.core.store();
        let lineage = |c: Credentials| async move {
            let read = store.refresh_lineage(&hash_of(&c), "").await.unwrap();
            read.expect("the session of a refresh token just issued")
        };
        let user = registered(&f).await;
        let read = lineage(user.clone()).await;
        assert_eq!(read.subject_kind, "user");
        let row = read.user.expect("a user's session carries its user");
        assert_eq!(row.device_token, user.device_token.unwrap().to_string());
        assert_eq!(row.instance_id, f.instance_id);

        let p = Password::new("long enough password");
        f.t.core
            .create_admin(at(0), "boss@x.io", &p, tus_wire::views::Role::Owner)
            .await
            .unwrap();
        let admin =
            f.t.core
                .admin_sign_in(
                    at(1),
                    "boss@x.io",
                    p.expose(),
                    None,
                    &RequestMeta::default(),
                )
                .await
                .unwrap();
        let read = lineage(admin).await;
        assert_eq!(read.subject_kind, "admin");
        assert!(read.user.is_none());
    }

    /// Refreshes that read at the same moment are read together on SQLite (one call for
    /// the group): each still gets its own token, session and user, a token asked for twice
    /// comes twice, and what matches nothing, hostile text included, reads as nothing
    /// without touching the others' answers.
    #[tokio::test]
    async fn refreshes_reading_at_once_each_get_their_own_session() {
        let f = fixture(0).await;
        let store = f.t.core.store();
        let mut users = Vec::new();
        for _ in 0..6 {
            users.push(registered(&f).await);
        }
        let jti = |c: &Credentials| {
            let token = &c.access_token.as_ref().unwrap().token;
            f.t.core.tokens().verify_access(token, at(0)).unwrap().jti
        };
        let hostile = r#"x"],["' OR 1=1 --"#.to_string();
        // (hash, jti, the user expected, whether the access token is expected to match)
        let mut asked: Vec<(String, String, Option<String>, bool)> = users
            .iter()
            .map(|c| {
                let user = c.device_token.as_ref().unwrap().to_string();
                (hash_of(c), jti(c), Some(user), true)
            })
            .collect();
        asked.push(asked[0].clone());
        asked.push(("0".repeat(64), jti(&users[1]), None, false));
        asked.push((hostile.clone(), hostile.clone(), None, false));
        let mut wrong_access = asked[2].clone();
        (wrong_access.1, wrong_access.3) = (hostile, false);
        asked.push(wrong_access);

        for _ in 0..3 {
            let reads = asked
                .iter()
                .map(|(hash, jti, ..)| store.refresh_lineage(hash, jti));
            let reads = futures::future::join_all(reads).await;
            for ((hash, _, user, access), read) in asked.iter().zip(reads) {
                let read = read.unwrap();
                let Some(want) = user else {
                    assert!(read.is_none(), "{hash}: {read:?}");
                    continue;
                };
                let read = read.expect("a refresh token just issued");
                assert_eq!(read.user.unwrap().device_token, *want);
                assert_eq!(read.token.subject, *want);
                let family = Some(read.token.family_id.clone());
                assert_eq!(read.access_family_id == family, *access, "{hash}");
            }
        }
    }

    #[tokio::test]
    async fn sign_out_ends_only_its_own_session() {
        let t = test_core(|_| {}).await;
        let p = Password::new("long enough password");
        t.core
            .create_admin(at(0), "boss@x.io", &p, tus_wire::views::Role::Owner)
            .await
            .unwrap();
        let meta = RequestMeta::default();
        let a = t
            .core
            .admin_sign_in(at(1), "boss@x.io", p.expose(), None, &meta)
            .await
            .unwrap();
        let b = t
            .core
            .admin_sign_in(at(2), "boss@x.io", p.expose(), None, &meta)
            .await
            .unwrap();
        let (a, b) = (a.access_token.unwrap().token, b.access_token.unwrap().token);
        t.core.sign_out(at(3), &a, &meta).await.unwrap();
        assert!(t.core.authenticate_bearer(at(4), Some(&a)).await.is_err());
        assert!(t
            .core
            .authenticate_bearer(at(4), Some(&b))
            .await
            .unwrap()
            .is_admin());
        let wrong = t
            .core
            .admin_sign_in(at(5), "boss@x.io", "nope", None, &meta)
            .await;
        assert!(
            matches!(wrong, Err(CoreError::Unauthorized { .. })),
            "{wrong:?}"
        );
    }
}
