//! A user's token lineage (every access token issued, every session and its refresh tokens,
//! with states and times) and revoking its sessions.
//!
//! Invariants: the lineage holds ids, times and states only (a token or its hash never
//! leaves the store); a revoked family also stops its access tokens (every bearer check
//! looks the family up).
use crate::audit::AuditAction;
use crate::error::{CoreError, CoreResult};
use crate::principal::Principal;
use crate::store::RefreshState;
use crate::time::{iso, ms};
use crate::types::DeviceToken;
use crate::{Core, RequestMeta};
use chrono::{DateTime, Utc};
use tus_wire::views::Action;
use tus_wire::views::{
    AccessTokenView, FamilyView, RefreshTokenView, SecurityEventView, TokenLineage,
};

/// The lineage shows this many of the newest access tokens.
pub const ACCESS_TOKENS_SHOWN: i64 = 200;

impl Core {
    /// Admin: the lineage of a user's tokens: access tokens issued, refresh-token families
    /// with every token's state, and reuse events.
    pub async fn token_lineage(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        device_token: DeviceToken,
    ) -> CoreResult<TokenLineage> {
        p.allow(Action::ReadUsers)?;
        let subject = device_token.to_string();
        let store = self.store();
        p.visible_user(store.find_user(&subject).await?)?;
        let now = ms(now);
        let access_tokens = store
            .access_tokens_of(&subject, ACCESS_TOKENS_SHOWN)
            .await?
            .into_iter()
            .map(|a| AccessTokenView {
                expired: a.expires_at <= now,
                jti: a.jti,
                family_id: a.family_id,
                source: a.source,
                issued_at: iso(a.issued_at),
                expires_at: iso(a.expires_at),
            })
            .collect();
        let mut refresh = store.refresh_tokens_of(&subject).await?;
        let families = store
            .families_of(&subject)
            .await?
            .into_iter()
            .map(|f| {
                let (mine, rest): (Vec<_>, Vec<_>) =
                    refresh.drain(..).partition(|r| r.family_id == f.id);
                refresh = rest;
                FamilyView {
                    tokens: mine
                        .into_iter()
                        .map(|r| RefreshTokenView {
                            state: if r.state == RefreshState::Active && r.expires_at <= now {
                                "expired".into()
                            } else {
                                r.state.as_str().into()
                            },
                            id: r.id,
                            parent_id: r.parent_id,
                            issued_at: iso(r.issued_at),
                            expires_at: iso(r.expires_at),
                            used_at: r.used_at.map(iso),
                            reason: r.reason,
                        })
                        .collect(),
                    id: f.id,
                    origin: f.origin,
                    created_at: iso(f.created_at),
                    revoked_at: f.revoked_at.map(iso),
                    revoke_reason: f.revoke_reason,
                }
            })
            .collect();
        let reuse_events = store
            .audit_page(&super::store::AuditFilter {
                action: Some(AuditAction::RefreshReuse.as_str().into()),
                target: Some(subject.clone()),
                limit: 100,
                ..Default::default()
            })
            .await?
            .into_iter()
            .map(|a| SecurityEventView {
                at: iso(a.at),
                action: a.action,
                detail: a.detail,
                client_addr: a.client_addr,
            })
            .collect();
        Ok(TokenLineage {
            access_tokens,
            access_tokens_total_shown_limit: ACCESS_TOKENS_SHOWN,
            families,
            reuse_events,
        })
    }

    /// Admin: revokes one family of a user's tokens (`None`: every family of the user).
    /// Returns how many families were revoked now.
    pub async fn revoke_user_tokens(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        device_token: DeviceToken,
        family_id: Option<&str>,
        meta: &RequestMeta,
    ) -> CoreResult<u64> {
        p.allow(Action::WriteUsers)?;
        let subject = device_token.to_string();
        let user = p.visible_user(self.store().find_user(&subject).await?)?;
        let mut tx = self.store().begin().await?;
        let (revoked, detail) = match family_id {
            Some(id) => {
                let family = self
                    .store()
                    .family_state(id)
                    .await?
                    .filter(|f| f.subject == subject)
                    .ok_or_else(|| {
                        CoreError::NotFound("this user has no such token family".into())
                    })?;
                let n = u64::from(family.revoked_at.is_none());
                tx.revoke_family(id, ms(now), "revoked by an admin").await?;
                (n, format!("family {id} revoked"))
            }
            None => {
                let n = tx
                    .revoke_families_of(&subject, ms(now), "revoked by an admin")
                    .await?;
                (n, format!("every token revoked ({n} families)"))
            }
        };
        tx.audit(&p.audit(
            now,
            AuditAction::UserTokensRevoked,
            format!("user:{subject}"),
            detail.clone(),
            meta,
        ))
        .await?;
        tx.insert_events(&[crate::events::NewEvent::of_user(
            crate::events::EventType::UserSessionsRevoked,
            now,
            &user,
            &p.actor(),
            serde_json::json!({ "Detail": detail }),
        )])
        .await?;
        tx.commit().await?;
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::RefreshPair;
    use crate::testing::{admin, at, fleet, test_core};
    use tus_wire::model::{RefreshRequest, RegisterRequest};

    #[tokio::test]
    async fn the_lineage_records_every_token_and_a_revoked_family_stops_its_access_tokens() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let c = t
            .core
            .register(
                at(0),
                &i.credentials(),
                RegisterRequest::default(),
                &crate::RequestMeta::default(),
            )
            .await
            .unwrap();
        let dt = c.device_token.unwrap().to_string();
        let meta = RequestMeta::default();
        let renewed = t
            .core
            .refresh(
                at(60),
                RefreshPair::try_from(RefreshRequest {
                    mobile_device: None,
                    access_token: Some(c.access_token.unwrap().token),
                    refresh_token: Some(c.refresh_token.unwrap().expose().to_string()),
                })
                .unwrap(),
                &meta,
            )
            .await
            .unwrap();
        let lineage = t
            .core
            .token_lineage(at(120), &admin(), DeviceToken::parse(&dt).unwrap())
            .await
            .unwrap();
        let sources: Vec<_> = lineage
            .access_tokens
            .iter()
            .map(|a| a.source.as_str())
            .collect();
        assert_eq!(sources, ["refresh", "registration"]);
        assert_eq!(lineage.families.len(), 1);
        let states: Vec<_> = lineage.families[0]
            .tokens
            .iter()
            .map(|r| r.state.as_str())
            .collect();
        assert_eq!(states, ["used", "active"]);
        assert_eq!(
            lineage.families[0].tokens[1].parent_id.as_ref(),
            Some(&lineage.families[0].tokens[0].id)
        );
        // Nothing secret: the answer holds ids, times and states only.
        let text = serde_json::to_string(&lineage).unwrap();
        assert!(!text.contains(renewed.refresh_token.as_ref().unwrap().expose()));
        assert!(!text.contains(&renewed.access_token.as_ref().unwrap().token));

        let access = renewed.access_token.unwrap().token;
        assert!(t
            .core
            .authenticate_bearer(at(130), Some(&access))
            .await
            .is_ok());
        let family = lineage.families[0].id.clone();
        let n = t
            .core
            .revoke_user_tokens(
                at(140),
                &admin(),
                DeviceToken::parse(&dt).unwrap(),
                Some(&family),
                &meta,
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
        let after = t
            .core
            .token_lineage(at(150), &admin(), DeviceToken::parse(&dt).unwrap())
            .await
            .unwrap();
        assert!(after.families[0].revoked_at.is_some());
        assert_eq!(after.families[0].tokens[1].state, "revoked");
        assert!(matches!(
            t.core.authenticate_bearer(at(160), Some(&access)).await,
            Err(CoreError::Unauthorized { .. })
        ));
        // Another user's family cannot be named through this user.
        let other = t
            .core
            .register(
                at(0),
                &i.credentials(),
                RegisterRequest::default(),
                &crate::RequestMeta::default(),
            )
            .await
            .unwrap();
        let other_dt = other.device_token.unwrap().to_string();
        let wrong = t
            .core
            .revoke_user_tokens(
                at(170),
                &admin(),
                DeviceToken::parse(&other_dt).unwrap(),
                Some(&family),
                &meta,
            )
            .await;
        assert!(matches!(wrong, Err(CoreError::NotFound(_))), "{wrong:?}");
        assert_eq!(
            t.core
                .revoke_user_tokens(
                    at(180),
                    &admin(),
                    DeviceToken::parse(&other_dt).unwrap(),
                    None,
                    &meta
                )
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            t.core
                .revoke_user_tokens(
                    at(190),
                    &admin(),
                    DeviceToken::parse(&other_dt).unwrap(),
                    None,
                    &meta
                )
                .await
                .unwrap(),
            0
        );
        // Expired tokens say so.
        let later = t
            .core
            .token_lineage(
                at(60 * 60 * 24 * 30),
                &admin(),
                DeviceToken::parse(&other_dt).unwrap(),
            )
            .await
            .unwrap();
        assert!(later.access_tokens.iter().all(|a| a.expired));
    }
}
