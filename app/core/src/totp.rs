//! A second factor for admins: TOTP (RFC 6238: HMAC-SHA1, 30-second steps, six digits), with
//! ten single-use recovery codes.
//!
//! Invariants:
//! - The secret is sealed at rest; it is shown (text and QR code, drawn here as SVG) only
//!   while enrolling, and enrolment counts only once a code from it matched.
//! - A code is accepted for the step before, the step of, or the step after `now`, and each
//!   step only once per admin (a seen code cannot be replayed).
//! - Recovery codes are stored as keyed hashes, shown once, each usable once; enrolling
//!   again (after an Owner's reset) replaces them.
//! - An admin whose role the Owner's policy requires TOTP of, and who has none, may sign in
//!   but do nothing but enrol (`Principal::may` refuses every action) until they do.
//! - Wrong codes are failed logins: counted by the same throttles before they are checked.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

use crate::audit::AuditAction;
use crate::error::{CoreError, CoreResult};
use crate::principal::Principal;
use crate::store::{AdminRecord, Tx};
use crate::time::ms;
use crate::{Core, RequestMeta};
use tus_wire::views::{Action, Role, TotpSetupView};

pub const STEP_SECS: i64 = 30;
pub const DIGITS: usize = 6;
pub const RECOVERY_CODES: usize = 10;
/// The sealing purpose of TOTP secrets.
pub(crate) const TOTP_SEALING: &[u8] = b"tus/admin-totp/v1";
/// `admin_secrets.kind` of a recovery code.
const RECOVERY_KIND: &str = "recovery";
/// The setting holding the roles TOTP is required of (`Owner,Admin`; empty: none).
const POLICY_SETTING: &str = "admins.totp_required";
const ISSUER: &str = "Telematics User Service";

/// The code of `secret` at time step `step` (RFC 4226's dynamic truncation).
pub fn code_at(secret: &[u8], step: i64) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

/// The time step of `now`.
pub fn step_of(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(STEP_SECS)
}

/// The step (one before, of, or after `now`) whose code `code` is; `None` when none is.
pub fn matching_step(secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
    use subtle::ConstantTimeEq;
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let at = step_of(now);
    [at - 1, at, at + 1]
        .into_iter()
        .find(|step| bool::from(code_at(secret, *step).as_bytes().ct_eq(code.as_bytes())))
}

/// Base32 without padding, as authenticator apps take secrets.
fn base32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

/// The `otpauth://` URI an authenticator app reads from the QR code.
pub fn otpauth_uri(email: &str, secret: &[u8]) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(ISSUER).replace('+', "%20"),
        enc(email),
        base32(secret),
        enc(ISSUER).replace('+', "%20"),
    )
}

/// The QR code of `text` as an SVG document (drawn here: no external service sees it).
pub fn qr_svg(text: &str) -> CoreResult<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(CoreError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// A recovery code as shown: ten characters from the base32 alphabet in two groups.
fn generate_recovery_code() -> String {
    let mut bytes = [0u8; 7];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text = base32(&bytes).to_lowercase();
    format!("{}-{}", &text[..5], &text[5..10])
}

/// A recovery code as typed: case, spaces and the dash do not matter.
fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// What a sign-in's second factor was.
pub(crate) enum SecondFactor {
    /// A TOTP code, its step now used.
    Code,
    /// A recovery code, now used.
    Recovery,
}

impl Core {
    fn totp_sealer(&self) -> &crate::sealing::Sealer {
        &self.inner.totp_sealer
    }

    fn open_totp(&self, row: &AdminRecord) -> CoreResult<Option<Vec<u8>>> {
        let Some(sealed) = &row.totp_sealed else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(CoreError::internal)?;
        let text = self.totp_sealer().open(&row.id, &bytes)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Some)
            .map_err(CoreError::internal)
    }

    fn recovery_hash(&self, admin_id: &str, code: &str) -> CoreResult<String> {
        self.inner.codes.hash(
            &format!("admin-recovery:{admin_id}"),
            &normalise_recovery(code),
        )
    }

    /// Owner: the roles TOTP is required of.
    pub async fn totp_policy(&self, p: &Principal) -> CoreResult<Vec<Role>> {
        p.allow(Action::ManageAdmins)?;
        self.totp_required_of().await
    }

    /// The roles the Owner requires TOTP of.
    async fn totp_required_of(&self) -> CoreResult<Vec<Role>> {
        let value = self.store().get_setting(POLICY_SETTING).await?;
        Ok(value
            .unwrap_or_default()
            .split(',')
            .filter_map(|r| Role::parse(r).ok())
            .collect())
    }

    /// Owner: requires TOTP of these roles (empty: of none). An admin of such a role
    /// without TOTP may only enrol until they have.
    pub async fn set_totp_policy(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        roles: &[String],
        meta: &RequestMeta,
    ) -> CoreResult<Vec<Role>> {
        p.allow(Action::ManageAdmins)?;
        let mut parsed = Vec::new();
        let mut e = crate::error::FieldErrors::default();
        for r in roles {
            if let Some(role) = e.take("roles", Role::parse(r)) {
                if !parsed.contains(&role) {
                    parsed.push(role);
                }
            }
        }
        e.into_result()?;
        parsed.sort_by(|a, b| b.cmp(a));
        let value = parsed
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let mut tx = self.store().begin().await?;
        tx.put_setting(POLICY_SETTING, &value).await?;
        let detail = if value.is_empty() {
            "TOTP required of no role".to_string()
        } else {
            format!("TOTP required of {value}")
        };
        tx.audit(&p.audit(now, AuditAction::AdminTotpRequired, "admins", detail, meta))
            .await?;
        tx.commit().await?;
        Ok(parsed)
    }

    /// Whether an admin of `role` without TOTP must enrol before doing anything.
    pub(crate) async fn must_enrol(&self, row: &AdminRecord, role: Role) -> CoreResult<bool> {
        if row.totp_confirmed_at.is_some() {
            return Ok(false);
        }
        Ok(self.totp_required_of().await?.contains(&role))
    }

    /// The signed-in admin starts enrolling: a new secret (replacing one not yet confirmed),
    /// as text, `otpauth://` URI and QR code. 409 when TOTP is already on.
    pub async fn begin_totp(&self, p: &Principal) -> CoreResult<TotpSetupView> {
        let me = p.signed_in_admin()?;
        let mut secret = [0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let sealed = self.totp_sealer().seal(
            &me.id,
            &base64::engine::general_purpose::STANDARD.encode(secret),
        )?;
        let sealed = base64::engine::general_purpose::STANDARD.encode(sealed);
        let mut tx = self.store().begin().await?;
        let row = tx
            .admin_for_update(&me.id)
            .await?
            .ok_or_else(|| CoreError::NotFound("no admin has this id".into()))?;
        if row.totp_confirmed_at.is_some() {
            return Err(CoreError::Conflict {
                key: "totp".into(),
                message: "TOTP is already on; an Owner can reset it".into(),
            });
        }
        tx.set_admin_totp(&me.id, Some(&sealed), None).await?;
        tx.commit().await?;
        let uri = otpauth_uri(&me.email, &secret);
        let qr = format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(qr_svg(&uri)?)
        );
        Ok(TotpSetupView {
            secret: base32(&secret),
            qr,
            uri,
        })
    }

    /// The signed-in admin confirms enrolment with a code from the new secret: TOTP is on,
    /// and the ten recovery codes are answered, this once.
    pub async fn confirm_totp(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        code: &str,
        meta: &RequestMeta,
    ) -> CoreResult<Vec<String>> {
        let me = p.signed_in_admin()?;
        let mut tx = self.store().begin().await?;
        let row = tx
            .admin_for_update(&me.id)
            .await?
            .ok_or_else(|| CoreError::NotFound("no admin has this id".into()))?;
        if row.totp_confirmed_at.is_some() {
            return Err(CoreError::Conflict {
                key: "totp".into(),
                message: "TOTP is already on".into(),
            });
        }
        let secret = self
            .open_totp(&row)?
            .ok_or_else(|| CoreError::validation("code", "start the set-up first"))?;
        let step = matching_step(&secret, code, now).ok_or_else(|| {
            CoreError::validation(
                "code",
                "does not match: type the six digits your app shows now",
            )
        })?;
        tx.use_totp_step(&me.id, step).await?;
        tx.set_admin_totp(&me.id, row.totp_sealed.as_deref(), Some(ms(now)))
            .await?;
        let codes = self.replace_recovery_codes(&mut tx, now, &me.id).await?;
        tx.audit(&p.audit(
            now,
            AuditAction::AdminTotpEnrolled,
            format!("admin:{}", me.email),
            "TOTP on; ten recovery codes made",
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    async fn replace_recovery_codes(
        &self,
        tx: &mut Tx,
        now: DateTime<Utc>,
        admin_id: &str,
    ) -> CoreResult<Vec<String>> {
        tx.drop_admin_secrets(admin_id, RECOVERY_KIND).await?;
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            let code = generate_recovery_code();
            let hash = self.recovery_hash(admin_id, &code)?;
            tx.insert_admin_secret(&hash, admin_id, RECOVERY_KIND, ms(now), None)
                .await?;
            codes.push(code);
        }
        Ok(codes)
    }

    /// Owner: turns another admin's TOTP off (a lost phone); they enrol again.
    pub async fn reset_totp(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        p.allow(Action::ManageAdmins)?;
        let mut tx = self.store().begin().await?;
        let row = tx
            .admin_for_update(id)
            .await?
            .ok_or_else(|| CoreError::NotFound("no admin has this id".into()))?;
        tx.set_admin_totp(id, None, None).await?;
        tx.drop_admin_secrets(id, RECOVERY_KIND).await?;
        tx.audit(&p.audit(
            now,
            AuditAction::AdminTotpReset,
            format!("admin:{}", row.email),
            "TOTP turned off and recovery codes dropped",
            meta,
        ))
        .await?;
        tx.commit().await
    }

    /// A sign-in's second factor for `row`, whose password was right: `None` when the admin
    /// has no TOTP; else a matching fresh code or an unused recovery code (used up by
    /// `tx`), or a 401 naming `TotpCode`.
    pub(crate) async fn second_factor(
        &self,
        tx: &mut Tx,
        now: DateTime<Utc>,
        row: &AdminRecord,
        given: Option<&str>,
    ) -> CoreResult<Option<SecondFactor>> {
        if row.totp_confirmed_at.is_none() {
            return Ok(None);
        }
        let given = given
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .ok_or_else(|| {
                CoreError::unauthorized(
                crate::error::CredentialKind::Totp,
                "this admin signs in with a code from their authenticator app: send it as TotpCode",
            )
            })?;
        let wrong = || {
            CoreError::unauthorized(
                crate::error::CredentialKind::Totp,
                "the code is wrong or was used already",
            )
        };
        if given.chars().all(|c| c.is_ascii_digit() || c == ' ') {
            let secret = self.open_totp(row)?.ok_or_else(wrong)?;
            let step = matching_step(&secret, given, now).ok_or_else(wrong)?;
            if !tx.use_totp_step(&row.id, step).await? {
                return Err(wrong());
            }
            return Ok(Some(SecondFactor::Code));
        }
        let hash = self.recovery_hash(&row.id, given)?;
        tx.use_admin_secret(&hash, RECOVERY_KIND, Some(&row.id), ms(now))
            .await?
            .ok_or_else(wrong)?;
        Ok(Some(SecondFactor::Recovery))
    }

    /// Unused recovery codes of the signed-in admin.
    pub async fn recovery_codes_left(&self, p: &Principal) -> CoreResult<i64> {
        let me = p.signed_in_admin()?;
        let mut tx = self.store().begin().await?;
        let n = tx.count_admin_secrets(&me.id, RECOVERY_KIND).await?;
        tx.commit().await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// RFC 6238, appendix B (SHA-1, the 20-byte ASCII secret), last six digits.
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (t, expected) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
            (20000000000, "353130"),
        ] {
            assert_eq!(code_at(secret, t / STEP_SECS), expected, "t={t}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_the_neighbours_only() {
        let secret = b"12345678901234567890";
        let now = Utc.timestamp_opt(1111111111, 0).unwrap();
        let step = step_of(now);
        for delta in [-1, 0, 1] {
            let code = code_at(secret, step + delta);
            assert_eq!(matching_step(secret, &code, now), Some(step + delta));
        }
        assert_eq!(matching_step(secret, &code_at(secret, step + 2), now), None);
        assert_eq!(matching_step(secret, &code_at(secret, step - 2), now), None);
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
    }

    #[test]
    fn the_uri_names_the_issuer_and_account_and_the_qr_code_is_svg() {
        let uri = otpauth_uri("ann@x.io", b"12345678901234567890");
        assert!(uri.starts_with(
            "otpauth://totp/Telematics%20User%20Service:ann%40x.io?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"
        ), "{uri}");
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }

    #[test]
    fn recovery_codes_are_typed_forgivingly() {
        let code = generate_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            normalise_recovery(&code.to_uppercase().replace('-', " ")),
            normalise_recovery(&code)
        );
    }
}
