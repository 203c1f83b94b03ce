//! A user's personal data: its export (everything we hold about it, as JSON), its erasure
//! (deleted, and what the audit trail, events and messages hold about it pseudonymised),
//! and the retention of the audit trail and of sent messages (off unless configured).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tus_wire::views::Action;

use crate::audit::{audit_entry_view, AuditAction};
use crate::error::CoreResult;
use crate::principal::Principal;
use crate::time::{iso, ms};
use crate::types::DeviceToken;
use crate::{Core, RequestMeta};

/// Audit entries an export carries at most (the newest).
pub const EXPORTED_AUDIT_ENTRIES: i64 = 10_000;

/// How long audit entries and ended messages are kept (ms; `None`: for good).
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    pub audit_ms: Option<i64>,
    pub messages_ms: Option<i64>,
}

impl Core {
    /// Admin: everything we hold about a user, as one JSON document: its profile, flags and
    /// their ends, device, activity, token lineage (never a token), the audit entries about
    /// it or by it, and the messages sent to it (never a body). Audited.
    pub async fn export_user(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        target: DeviceToken,
        meta: &RequestMeta,
    ) -> CoreResult<Value> {
        p.allow(Action::ReadUsers)?;
        let user = self.user_view(p, target).await?;
        let lineage = self.token_lineage(now, p, target).await?;
        let key = target.to_string();
        let audit: Vec<_> = self
            .store()
            .audit_about(&key, EXPORTED_AUDIT_ENTRIES)
            .await?
            .into_iter()
            .map(audit_entry_view)
            .collect();
        let messages = self.user_deliveries(p, target, 200).await?;
        let mut tx = self.store().begin().await?;
        tx.audit(&p.audit(
            now,
            AuditAction::UserExported,
            format!("user:{key}"),
            "personal data exported",
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(json!({
            "ExportedAt": iso(ms(now)),
            "User": user,
            "Tokens": lineage,
            "AuditEntries": audit,
            "Messages": messages,
        }))
    }

    /// Admin: deletes a user with every token, and erases what the rest of the store holds
    /// about it (see `Tx::erase_traces`): its DeviceToken becomes an unlinkable pseudonym in
    /// the audit trail (what happened and when stays, not to whom or with what details), its
    /// events keep only their type, its messages lose address and body. The erasure's own
    /// `user.deleted` event still names the DeviceToken, so other systems can erase too; it
    /// is purged with the events. Answers the pseudonym.
    pub async fn erase_user(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        target: DeviceToken,
        meta: &RequestMeta,
    ) -> CoreResult<String> {
        let pseudonym = format!("erased-{}", uuid::Uuid::new_v4().simple());
        self.remove_user(now, p, target, Some(&pseudonym), meta)
            .await?;
        Ok(pseudonym)
    }

    /// Housekeeping: audit entries and ended messages past their retention are deleted.
    /// Returns (entries, messages).
    pub async fn purge_retained(&self, now: DateTime<Utc>) -> CoreResult<(u64, u64)> {
        let r = self.retention();
        let at = ms(now);
        let audit = match r.audit_ms {
            Some(keep) => self.store().purge_audit(at - keep).await?,
            None => 0,
        };
        let messages = match r.messages_ms {
            Some(keep) => self.store().purge_messages(at - keep).await?,
            None => 0,
        };
        Ok((audit, messages))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{admin, at, fleet, test_core};
    use crate::types::Flag;
    use tus_wire::model::RegisterRequest;

    #[tokio::test]
    async fn an_export_holds_everything_and_an_erasure_leaves_no_trace_but_what_happened() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let p = admin();
        let meta = RequestMeta::default();
        let req = RegisterRequest {
            email: Some("erin@x.io".into()),
            user_fields: Some(tus_wire::model::UserFieldsInput {
                client_id: Some("crm-77".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = t
            .core
            .register(at(0), &i.credentials(), req, &meta)
            .await
            .unwrap();
        let token = c.device_token.unwrap();
        let key = token.to_string();
        let other = t
            .core
            .register(at(0), &i.credentials(), RegisterRequest::default(), &meta)
            .await
            .unwrap()
            .device_token
            .unwrap();
        for n in 0..2 {
            t.core
                .set_flag(at(10 + n), &p, token, Flag::Logging, n == 0, None, &meta)
                .await
                .unwrap();
        }
        t.core
            .set_flag(at(12), &p, other, Flag::Logging, true, None, &meta)
            .await
            .unwrap();

        let data = t.core.export_user(at(20), &p, token, &meta).await.unwrap();
        assert_eq!(data["User"]["DeviceToken"], key);
        assert_eq!(data["User"]["UserProfile"]["Email"], "erin@x.io");
        assert_eq!(data["User"]["UserFields"][0]["ClientId"], "crm-77");
        assert_eq!(data["Tokens"]["families"].as_array().unwrap().len(), 1);
        let entries = data["AuditEntries"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        let text = data.to_string();
        assert!(!text.contains(c.refresh_token.as_ref().unwrap().expose()));
        assert!(!text.contains(&c.access_token.as_ref().unwrap().token));

        let mut tx = t.core.store().begin().await.unwrap();
        tx.insert_message(&message("to-erin", "queued", ms(at(15)), Some(&key)))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let pseudonym = t.core.erase_user(at(30), &p, token, &meta).await.unwrap();
        let m = t.core.store().message("to-erin").await.unwrap().unwrap();
        assert_eq!(
            (m.recipient.as_str(), m.state.as_str()),
            ("(erased)", "cancelled")
        );
        assert!(m.sealed.is_none() && m.device_token.is_none());
        assert!(t.core.store().find_user(&key).await.unwrap().is_none());
        // No entry names the user any more; what happened stays, under the pseudonym.
        let about = t.core.store().audit_about(&key, 100).await.unwrap();
        assert!(about.is_empty(), "{about:?}");
        let page = t
            .core
            .store()
            .audit_page(&crate::store::AuditFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page
            .iter()
            .all(|e| !e.detail.contains(&key) && !e.detail.contains("crm-77")));
        let erased: Vec<_> = page
            .iter()
            .filter(|e| e.target == format!("user:{pseudonym}"))
            .collect();
        assert_eq!(erased.len(), 4, "two flag changes, the export, the erasure");
        // The other user's entries are untouched.
        assert!(page
            .iter()
            .any(|e| e.target == format!("user:{other}") && e.detail.contains("EnableLogging")));
        // Events: only the erasure's user.deleted still names the DeviceToken.
        let mut tx = t.core.store().begin().await.unwrap();
        let events = tx.events_between(0, ms(at(100)), 100).await.unwrap();
        let naming: Vec<_> = events
            .iter()
            .filter(|e| e.device_token.as_deref() == Some(key.as_str()))
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(naming, ["user.deleted"]);
        drop(tx);
        // Erasing again: nobody.
        assert!(t.core.erase_user(at(31), &p, token, &meta).await.is_err());
    }

    fn message(id: &str, state: &str, at: i64, to: Option<&str>) -> crate::store::MessageRow {
        crate::store::MessageRow {
            id: id.into(),
            kind: "email".into(),
            purpose: "test".into(),
            recipient: "erin@x.io".into(),
            device_token: to.map(str::to_string),
            instance_id: None,
            subject: "Hello Erin".into(),
            sealed: Some(vec![1, 2, 3]),
            state: state.into(),
            attempts: 0,
            due_at: at,
            created_at: at,
            updated_at: at,
            sent_at: None,
            last_error: None,
            requested_by: "test".into(),
        }
    }

    #[tokio::test]
    async fn retention_deletes_old_audit_entries_and_ended_messages_only_when_configured() {
        let t = test_core(|c| {
            c.retention.audit_ms = Some(86_400_000);
            c.retention.messages_ms = Some(86_400_000);
        })
        .await;
        let i = fleet(&t).await;
        let p = admin();
        let meta = RequestMeta::default();
        let c = t
            .core
            .register(at(0), &i.credentials(), RegisterRequest::default(), &meta)
            .await
            .unwrap();
        let token = c.device_token.unwrap();
        t.core
            .set_flag(at(10), &p, token, Flag::Logging, true, None, &meta)
            .await
            .unwrap();
        t.core
            .set_flag(at(2 * 86_400), &p, token, Flag::Logging, false, None, &meta)
            .await
            .unwrap();
        let mut tx = t.core.store().begin().await.unwrap();
        for (id, state, when) in [
            ("old-sent", "sent", at(0)),
            ("old-queued", "queued", at(0)),
            ("new-sent", "sent", at(2 * 86_400)),
        ] {
            tx.insert_message(&message(id, state, ms(when), None))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let (entries, messages) = t.core.purge_retained(at(2 * 86_400 + 10)).await.unwrap();
        assert_eq!((entries, messages), (1, 1));
        assert!(t.core.store().message("old-sent").await.unwrap().is_none());
        assert!(t
            .core
            .store()
            .message("old-queued")
            .await
            .unwrap()
            .is_some());
        let left = t
            .core
            .store()
            .audit_about(&token.to_string(), 10)
            .await
            .unwrap();
        assert_eq!(left.len(), 1);
        let off = test_core(|_| {}).await;
        assert_eq!(
            off.core.purge_retained(at(10_000_000)).await.unwrap(),
            (0, 0)
        );
    }
}
