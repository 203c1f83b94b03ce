//! The audit trail: every change and security event, written in the transaction of the change
//! it records, read newest first with filters (the dashboard's audit log, its CSV export, the
//! overview's security events).

use chrono::Duration;
use tus_wire::views::Action;

use super::error::{CoreResult, FieldErrors};
use super::principal::Principal;
use super::store::{AuditFilter, AuditRow};
use super::time::{iso, ms};
use super::types::parse_datetime;
use super::Core;
use tus_wire::model::{AuditEntryView, AuditPageView};
use tus_wire::views::AuditQuery;

/// Every action the audit trail records, one name each. The stored name (`as_str`) is what the
/// dashboard filters on and what later features (webhook events) will name from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A password (or InstanceKey) check failed.
    LoginFailed,
    /// Password checks were refused by a throttle (1st, 10th, 100th... per window).
    LoginRateLimited,
    /// `tus admin unlock` cleared a login name's throttles.
    LoginUnlocked,
    /// Registrations with a password were refused by their throttle.
    RegistrationRateLimited,
    /// A used refresh token came back: its session was revoked.
    RefreshReuse,
    /// A session ended by sign-out.
    SessionSignedOut,
    /// An admin registered a user from the dashboard.
    UserRegistered,
    /// A user's profile, flags, status or password changed.
    UserUpdated,
    /// A flag set for a while went back by itself at its end.
    FlagEnded,
    /// A user was deleted with every token issued to it.
    UserDeleted,
    /// A user was deleted and what the audit trail, events and messages held about it erased.
    UserErased,
    /// A user's data was exported.
    UserExported,
    /// A user moved to another instance.
    UserMoved,
    /// Sessions of a user were revoked.
    UserTokensRevoked,
    /// One change applied to many users.
    UsersBulkUpdated,
    /// Many users deleted at once.
    UsersBulkDeleted,
    /// The users list was exported as CSV.
    UsersExported,
    /// The audit log was exported as CSV.
    AuditExported,
    /// An application was created.
    ApplicationCreated,
    /// An instance was created.
    InstanceCreated,
    /// An instance was renamed, described, activated or deactivated.
    InstanceUpdated,
    /// An instance (without users) was deleted.
    InstanceDeleted,
    /// An InstanceKey was shown (dashboard reveal, or a REST answer carrying it).
    InstanceKeyRevealed,
    /// An instance got a new key; the old one stopped working.
    InstanceKeyRotated,
    /// An instance got a new invite code.
    InstanceInviteCodeRegenerated,
    /// A batch of users was started (dashboard) or written (CreateMany).
    BatchCreated,
    /// A dashboard batch finished.
    BatchCompleted,
    /// A dashboard batch stopped on an error.
    BatchFailed,
    /// An admin stopped a running batch.
    BatchStopped,
    /// An admin resumed a stopped, failed or interrupted batch.
    BatchResumed,
    /// A batch's credentials were downloaded (once).
    BatchCredentialsDownloaded,
    /// A batch's credentials were purged unread.
    BatchCredentialsExpired,
    /// The deployment took the CompanyId it had elsewhere.
    CompanyIdSet,
    /// A file of users was uploaded and its import (or dry run) started.
    ImportStarted,
    /// A dry run's rows were set to be imported for real.
    ImportRun,
    /// An import (or dry run) went through every row.
    ImportCompleted,
    /// An admin had a new password generated for a user and sent by e-mail or SMS.
    PasswordSent,
    /// A one-time login code was sent to a user.
    LoginCodeSent,
    /// A login code was accepted.
    LoginCodeUsed,
    /// An admin sent a test message.
    TestMessageSent,
    /// An admin queued a failed message again.
    DeliveryRetried,
    /// An admin cancelled a queued or failed message.
    DeliveryCancelled,
    /// An admin invited users by e-mail (a one-time link) or SMS (a one-time code).
    UsersInvited,
    /// A driver set a password through an invite link.
    InviteAccepted,
    /// A driver set a new password with a one-time code.
    PasswordReset,
    /// A new signing key was made (and when it becomes current).
    SigningKeyRotated,
    /// An admin created an API key.
    ApiKeyCreated,
    /// An admin revoked an API key.
    ApiKeyRevoked,
    /// An admin (or API key) created a webhook subscription.
    WebhookCreated,
    /// A webhook was changed, enabled or disabled.
    WebhookUpdated,
    /// A webhook was deleted.
    WebhookDeleted,
    /// A webhook got a new signing secret.
    WebhookSecretRotated,
    /// A test event was sent to a webhook.
    WebhookTested,
    /// One delivery was sent again.
    WebhookResent,
    /// The events of a time range were sent to a webhook again.
    WebhookReplayed,
    /// A webhook was disabled automatically after failing too long.
    WebhookDisabled,
    AdminCreated,
    AdminInvited,
    AdminRoleChanged,
    AdminDisabled,
    AdminEnabled,
    AdminPasswordResetSent,
    AdminPasswordSet,
    AdminPasswordChanged,
    AdminSessionEnded,
    AdminTotpEnrolled,
    AdminTotpReset,
    AdminRecoveryCodeUsed,
    AdminTotpRequired,
    AdminSignedIn,
}

impl AuditAction {
    pub const ALL: &'static [AuditAction] = &[
        AuditAction::LoginFailed,
        AuditAction::LoginRateLimited,
        AuditAction::LoginUnlocked,
        AuditAction::RegistrationRateLimited,
        AuditAction::RefreshReuse,
        AuditAction::SessionSignedOut,
        AuditAction::UserRegistered,
        AuditAction::UserUpdated,
        AuditAction::FlagEnded,
        AuditAction::UserDeleted,
        AuditAction::UserErased,
        AuditAction::UserExported,
        AuditAction::UserMoved,
        AuditAction::UserTokensRevoked,
        AuditAction::UsersBulkUpdated,
        AuditAction::UsersBulkDeleted,
        AuditAction::UsersExported,
        AuditAction::AuditExported,
        AuditAction::ApplicationCreated,
        AuditAction::InstanceCreated,
        AuditAction::InstanceUpdated,
        AuditAction::InstanceDeleted,
        AuditAction::InstanceKeyRevealed,
        AuditAction::InstanceKeyRotated,
        AuditAction::InstanceInviteCodeRegenerated,
        AuditAction::BatchCreated,
        AuditAction::BatchCompleted,
        AuditAction::BatchFailed,
        AuditAction::BatchStopped,
        AuditAction::BatchResumed,
        AuditAction::BatchCredentialsDownloaded,
        AuditAction::BatchCredentialsExpired,
        AuditAction::CompanyIdSet,
        AuditAction::ImportStarted,
        AuditAction::ImportRun,
        AuditAction::ImportCompleted,
        AuditAction::PasswordSent,
        AuditAction::LoginCodeSent,
        AuditAction::LoginCodeUsed,
        AuditAction::TestMessageSent,
        AuditAction::DeliveryRetried,
        AuditAction::DeliveryCancelled,
        AuditAction::UsersInvited,
        AuditAction::InviteAccepted,
        AuditAction::PasswordReset,
        AuditAction::SigningKeyRotated,
        AuditAction::ApiKeyCreated,
        AuditAction::ApiKeyRevoked,
        AuditAction::WebhookCreated,
        AuditAction::WebhookUpdated,
        AuditAction::WebhookDeleted,
        AuditAction::WebhookSecretRotated,
        AuditAction::WebhookTested,
        AuditAction::WebhookResent,
        AuditAction::WebhookReplayed,
        AuditAction::WebhookDisabled,
        AuditAction::AdminCreated,
        AuditAction::AdminInvited,
        AuditAction::AdminRoleChanged,
        AuditAction::AdminDisabled,
        AuditAction::AdminEnabled,
        AuditAction::AdminPasswordResetSent,
        AuditAction::AdminPasswordSet,
        AuditAction::AdminPasswordChanged,
        AuditAction::AdminSessionEnded,
        AuditAction::AdminTotpEnrolled,
        AuditAction::AdminTotpReset,
        AuditAction::AdminRecoveryCodeUsed,
        AuditAction::AdminTotpRequired,
        AuditAction::AdminSignedIn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::LoginFailed => "login.failed",
            AuditAction::LoginRateLimited => "login.rate_limited",
            AuditAction::LoginUnlocked => "login.unlocked",
            AuditAction::RegistrationRateLimited => "registration.rate_limited",
            AuditAction::RefreshReuse => "refresh.reuse",
            AuditAction::SessionSignedOut => "session.signed_out",
            AuditAction::UserRegistered => "user.registered",
            AuditAction::UserUpdated => "user.updated",
            AuditAction::FlagEnded => "user.flag_ended",
            AuditAction::UserErased => "user.erased",
            AuditAction::UserExported => "user.exported",
            AuditAction::UserDeleted => "user.deleted",
            AuditAction::UserMoved => "user.moved",
            AuditAction::UserTokensRevoked => "user.tokens_revoked",
            AuditAction::UsersBulkUpdated => "users.bulk_updated",
            AuditAction::UsersBulkDeleted => "users.bulk_deleted",
            AuditAction::UsersExported => "users.exported",
            AuditAction::AuditExported => "audit.exported",
            AuditAction::ApplicationCreated => "application.created",
            AuditAction::InstanceCreated => "instance.created",
            AuditAction::InstanceUpdated => "instance.updated",
            AuditAction::InstanceDeleted => "instance.deleted",
            AuditAction::InstanceKeyRevealed => "instance.key_revealed",
            AuditAction::InstanceKeyRotated => "instance.key_rotated",
            AuditAction::InstanceInviteCodeRegenerated => "instance.invite_code_regenerated",
            AuditAction::BatchCreated => "batch.created",
            AuditAction::BatchCompleted => "batch.completed",
            AuditAction::BatchFailed => "batch.failed",
            AuditAction::BatchStopped => "batch.stopped",
            AuditAction::BatchResumed => "batch.resumed",
            AuditAction::BatchCredentialsDownloaded => "batch.credentials_downloaded",
            AuditAction::BatchCredentialsExpired => "batch.credentials_expired",
            AuditAction::CompanyIdSet => "company.id_set",
            AuditAction::ImportStarted => "import.started",
            AuditAction::ImportRun => "import.run",
            AuditAction::ImportCompleted => "import.completed",
            AuditAction::PasswordSent => "user.password_sent",
            AuditAction::LoginCodeSent => "login.code_sent",
            AuditAction::LoginCodeUsed => "login.code_used",
            AuditAction::TestMessageSent => "delivery.test_sent",
            AuditAction::DeliveryRetried => "delivery.retried",
            AuditAction::DeliveryCancelled => "delivery.cancelled",
            AuditAction::UsersInvited => "users.invited",
            AuditAction::InviteAccepted => "invite.accepted",
            AuditAction::PasswordReset => "user.password_reset",
            AuditAction::SigningKeyRotated => "keys.rotated",
            AuditAction::ApiKeyCreated => "apikey.created",
            AuditAction::ApiKeyRevoked => "apikey.revoked",
            AuditAction::WebhookCreated => "webhook.created",
            AuditAction::WebhookUpdated => "webhook.updated",
            AuditAction::WebhookDeleted => "webhook.deleted",
            AuditAction::WebhookSecretRotated => "webhook.secret_rotated",
            AuditAction::WebhookTested => "webhook.tested",
            AuditAction::WebhookResent => "webhook.resent",
            AuditAction::WebhookReplayed => "webhook.replayed",
            AuditAction::WebhookDisabled => "webhook.disabled",
            AuditAction::AdminCreated => "admin.created",
            AuditAction::AdminInvited => "admin.invited",
            AuditAction::AdminRoleChanged => "admin.role_changed",
            AuditAction::AdminDisabled => "admin.disabled",
            AuditAction::AdminEnabled => "admin.enabled",
            AuditAction::AdminPasswordResetSent => "admin.password_reset_sent",
            AuditAction::AdminPasswordSet => "admin.password_set",
            AuditAction::AdminPasswordChanged => "admin.password_changed",
            AuditAction::AdminSessionEnded => "admin.session_ended",
            AuditAction::AdminTotpEnrolled => "admin.totp_enrolled",
            AuditAction::AdminTotpReset => "admin.totp_reset",
            AuditAction::AdminRecoveryCodeUsed => "admin.recovery_code_used",
            AuditAction::AdminTotpRequired => "admin.totp_required",
            AuditAction::AdminSignedIn => "admin.signed_in",
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const DEFAULT_AUDIT_PAGE: i64 = 50;
/// Rows per query while exporting.
pub const EXPORT_CHUNK: i64 = 500;

/// Validates the filters of an audit query into the store's filter.
pub fn parse_audit_query(q: &AuditQuery) -> CoreResult<AuditFilter> {
    let mut e = FieldErrors::default();
    let actor = e.text("actor", q.actor.as_deref());
    let action = e.text("action", q.action.as_deref());
    let target = e.text("target", q.target.as_deref());
    let mut time = |key: &str, v: &Option<String>, end: bool| {
        let v = v.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        let at = e.take(key, parse_datetime(v))?;
        // An upper bound given as a date includes that whole day.
        let date_only = v.len() == 10;
        Some(ms(if end && date_only {
            at + Duration::days(1)
        } else {
            at
        }))
    };
    let from = time("from", &q.from, false);
    let to = time("to", &q.to, true);
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            e.push("to", "must be after from");
        }
    }
    let size = q.size.unwrap_or(DEFAULT_AUDIT_PAGE);
    if !(1..=500).contains(&size) {
        e.push("size", "must be between 1 and 500");
    }
    e.into_result()?;
    Ok(AuditFilter {
        actor,
        action,
        target,
        from,
        to,
        before_id: q.before,
        limit: size,
    })
}

impl Core {
    /// Admin: one page of the audit trail, newest first.
    pub async fn audit_page_for(&self, p: &Principal, q: &AuditQuery) -> CoreResult<AuditPageView> {
        p.allow(Action::ReadAudit)?;
        let filter = parse_audit_query(q)?;
        self.audit_log(p, filter).await
    }
}

pub fn audit_entry_view(r: AuditRow) -> AuditEntryView {
    AuditEntryView {
        id: r.id,
        at: iso(r.at),
        actor: r.actor,
        action: r.action,
        target: r.target,
        detail: r.detail,
        client_address: r.client_addr,
    }
}

impl Core {
    /// Admin: a page of the audit trail, newest first. `limit` is clamped to 1..=500.
    pub async fn audit_log(
        &self,
        principal: &Principal,
        mut filter: super::store::AuditFilter,
    ) -> CoreResult<AuditPageView> {
        principal.allow(Action::ReadAudit)?;
        let limit = filter.limit.clamp(1, 500);
        filter.limit = limit + 1;
        let mut rows = self.store().audit_page(&filter).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_before = if more {
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok(AuditPageView {
            entries: rows.into_iter().map(audit_entry_view).collect(),
            next_before,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, test_core};
    use crate::types::*;
    use crate::users::User;
    use crate::{CoreError, RequestMeta};

    #[test]
    fn every_audit_action_has_one_distinct_dotted_name() {
        let names: std::collections::HashSet<&str> =
            AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), AuditAction::ALL.len());
        for name in names {
            let (noun, verb) = name.split_once('.').unwrap();
            assert!(!noun.is_empty() && !verb.is_empty(), "{name}");
        }
    }

    #[test]
    fn audit_queries_are_validated_and_a_date_bound_covers_its_day() {
        let q = AuditQuery {
            from: Some("2026-01-02".into()),
            to: Some("2026-01-02".into()),
            actor: Some(" admin:a@x.io ".into()),
            ..Default::default()
        };
        let f = parse_audit_query(&q).unwrap();
        assert_eq!(f.to.unwrap() - f.from.unwrap(), 86_400_000);
        assert_eq!(f.actor.as_deref(), Some("admin:a@x.io"));
        assert_eq!(f.limit, DEFAULT_AUDIT_PAGE);
        let bad = AuditQuery {
            from: Some("yesterday".into()),
            size: Some(0),
            ..Default::default()
        };
        let Err(crate::CoreError::Validation(fields)) = parse_audit_query(&bad) else {
            panic!("must be refused")
        };
        let keys: Vec<_> = fields.0.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["from", "size"]);
    }

    #[tokio::test]
    async fn the_audit_log_filters_and_pages_newest_first() {
        let t = test_core(|_| {}).await;
        let admin = crate::testing::admin();
        let meta = RequestMeta::default();
        for i in 0..5 {
            t.core
                .record(
                    at(i),
                    "admin:a@x.io",
                    AuditAction::UserUpdated,
                    &format!("user:{i}"),
                    "x",
                    &meta,
                )
                .await
                .unwrap();
        }
        t.core
            .record(
                at(9),
                "anonymous",
                AuditAction::LoginFailed,
                "email:b@x.io",
                "y",
                &meta,
            )
            .await
            .unwrap();
        let filter = |f: AuditFilter| AuditFilter { limit: 2, ..f };
        let first = t
            .core
            .audit_log(
                &admin,
                filter(AuditFilter {
                    action: Some("user.updated".into()),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            first
                .entries
                .iter()
                .map(|e| e.target.as_str())
                .collect::<Vec<_>>(),
            ["user:4", "user:3"]
        );
        let second = t
            .core
            .audit_log(
                &admin,
                filter(AuditFilter {
                    action: Some("user.updated".into()),
                    before_id: first.next_before,
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            second
                .entries
                .iter()
                .map(|e| e.target.as_str())
                .collect::<Vec<_>>(),
            ["user:2", "user:1"]
        );
        let window = AuditFilter {
            from: Some(ms(at(1))),
            to: Some(ms(at(3))),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            t.core
                .audit_log(&admin, window)
                .await
                .unwrap()
                .entries
                .len(),
            2
        );
        let by_actor = AuditFilter {
            actor: Some("anonymous".into()),
            limit: 10,
            ..Default::default()
        };
        let page = t.core.audit_log(&admin, by_actor).await.unwrap();
        assert_eq!((page.entries.len(), page.next_before), (1, None));
        assert!(page.entries[0].at.ends_with('Z'));
        let user = Principal::User(Box::new(User {
            device_token: DeviceToken::new_random(),
            instance_id: InstanceId::new_random(),
            application_id: ApplicationId::new_random(),
            company_id: CompanyId::new_random(),
            status: UserStatus::Active,
            instance_status: InstanceStatus::Active,
            flags: UserFlags::default(),
            client_id: None,
            date_created: at(0),
            batch_id: None,
            lifetimes: Default::default(),
        }));
        assert!(matches!(
            t.core.audit_log(&user, AuditFilter::default()).await,
            Err(CoreError::Forbidden(_))
        ));
    }
}
