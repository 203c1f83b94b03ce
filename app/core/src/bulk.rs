//! Bulk actions of the dashboard: one change applied to selected users, or to every user a
//! users-list filter matches, in one statement and one transaction, recorded as one audit
//! entry with its counts.
//!
//! Invariants: the count an admin is shown first (`bulk_count`) is exact; the action changes
//! only users of that selection whose value differs, and says how many; a move that would
//! break a login name's uniqueness in the target instance moves nobody.

use chrono::{DateTime, Utc};
use tus_wire::views::Action;

use super::error::{CoreError, CoreResult};
use super::principal::Principal;
use super::store::{BulkChange, NewAuditRow, Selection, Value};
use super::types::DeviceToken;
use super::{Core, RequestMeta};
use crate::audit::AuditAction;
use crate::store::flag_columns;
use tus_wire::views::{BulkAction, BulkTarget};

/// The longest a flag may be set for, in minutes (a year).
pub const MAX_HOLD_MINUTES: i64 = 527_040;

/// Most rows an admin selects by hand at once.
pub const MAX_SELECTED: usize = 1000;

/// The outcome of a bulk action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkOutcome {
    pub matched: i64,
    pub changed: u64,
}

impl Core {
    /// The users `target` names, within what `p` may see.
    pub(crate) fn selection(&self, p: &Principal, target: &BulkTarget) -> CoreResult<Selection> {
        match target {
            BulkTarget::Selected(tokens) => {
                if tokens.len() > MAX_SELECTED {
                    return Err(CoreError::validation(
                        "Selected",
                        format!(
                            "must list at most {MAX_SELECTED} users; act on the filter instead"
                        ),
                    ));
                }
                let mut parsed = Vec::with_capacity(tokens.len());
                for (i, t) in tokens.iter().enumerate() {
                    let dt = DeviceToken::parse(t)
                        .map_err(|m| CoreError::validation(format!("Selected[{i}]"), m))?;
                    parsed.push(dt.to_string());
                }
                Ok(Selection::Tokens(parsed))
            }
            BulkTarget::Matching(q) => {
                let mut filter = super::users::search::list_filter(q)?;
                filter.instances = p.narrow(filter.instances.take());
                Ok(Selection::Filter(Box::new(filter)))
            }
        }
    }

    /// Admin: exactly how many users a bulk action would act on.
    pub async fn bulk_count(&self, p: &Principal, target: &BulkTarget) -> CoreResult<i64> {
        p.allow(Action::ReadUsers)?;
        let selection = self.selection(p, target)?;
        self.store().count_selection(&selection).await
    }

    /// Admin: applies `action` to the target's users (see the module invariants).
    pub async fn bulk_apply(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        target: &BulkTarget,
        action: &BulkAction,
        meta: &RequestMeta,
    ) -> CoreResult<BulkOutcome> {
        p.allow(match action {
            BulkAction::SetFlag { .. } | BulkAction::SetActive(_) => Action::WriteUsers,
            BulkAction::Move(_) => Action::MoveUsers,
            BulkAction::Delete => Action::DeleteUsers,
        })?;
        let selection = self.selection(p, target)?;
        enum Change {
            Set(&'static str, Value),
            Delete,
        }
        let (change, what) = match action {
            BulkAction::SetFlag { flag, value, .. } => {
                let column = flag_columns(*flag).0;
                let on = if *value { "on" } else { "off" };
                (
                    Change::Set(column, Value::Bool(*value)),
                    format!("{} {on}", flag.label()),
                )
            }
            BulkAction::SetActive(active) => {
                let status = if *active { "Active" } else { "Deactivated" };
                (
                    Change::Set("status", Value::Text(Some(status.into()))),
                    format!("status {status}"),
                )
            }
            BulkAction::Move(instance_id) => {
                let to = self
                    .active_instance_for_field(p, instance_id, "Move")
                    .await?;
                let what = format!("moved to instance {} ({})", to.id, to.name);
                (
                    Change::Set("instance_id", Value::Text(Some(to.id.to_string()))),
                    what,
                )
            }
            BulkAction::Delete => (Change::Delete, "deleted with their tokens".to_string()),
        };
        let event_change = match (action, &change) {
            (BulkAction::SetFlag { flag, value, .. }, _) => BulkChange::Flag {
                column: flag_columns(*flag).0,
                field: flag.api_name(),
                value: *value,
            },
            (BulkAction::SetActive(true), _) => BulkChange::Status("Active"),
            (BulkAction::SetActive(false), _) => BulkChange::Status("Deactivated"),
            (_, Change::Set(_, Value::Text(Some(to)))) => BulkChange::Move(to),
            _ => BulkChange::Delete,
        };
        let mut tx = self.store().begin().await?;
        // Counted in the transaction that changes them: the entry states what happened.
        let matched = tx.count_selection(&selection).await?;
        // Each changed user's event, read before the change from the values it replaces.
        tx.insert_bulk_events(&selection, event_change, crate::time::ms(now), &p.actor())
            .await?;
        // Before the change: a filter on this very flag still selects the same users.
        let mut what = what;
        if let BulkAction::SetFlag {
            flag,
            value,
            minutes,
        } = action
        {
            let until = match minutes {
                None => None,
                Some(m) if (1..=MAX_HOLD_MINUTES).contains(m) => {
                    Some(crate::time::ms(now).saturating_add(m * 60_000))
                }
                Some(_) => {
                    return Err(CoreError::validation(
                        "minutes",
                        format!("must be between 1 and {MAX_HOLD_MINUTES} (a year)"),
                    ))
                }
            };
            let ends = tx
                .schedule_flag_ends(
                    &selection,
                    *flag,
                    *value,
                    until,
                    crate::time::ms(now),
                    &p.actor(),
                )
                .await?;
            if ends > 0 {
                what.push_str(&format!(" (for a while: {ends} switch back by themselves)"));
            }
        }
        let changed = match &change {
            Change::Set(column, value) => {
                tx.bulk_set(&selection, column, value, crate::time::ms(now))
                    .await?
            }
            Change::Delete => tx.delete_selection(&selection).await?,
        };
        let scope = match target {
            BulkTarget::Selected(t) => format!("{} selected users", t.len()),
            BulkTarget::Matching(q) => format!(
                "the users matching {}",
                super::users::search::describe_list_query(q)
            ),
        };
        tx.audit(
            &NewAuditRow::new(
                now,
                p.actor(),
                match change {
                    Change::Set(..) => AuditAction::UsersBulkUpdated,
                    Change::Delete => AuditAction::UsersBulkDeleted,
                },
                "users",
                format!("{what} for {scope}: {matched} matched, {changed} changed"),
            )
            .from(meta),
        )
        .await?;
        tx.commit().await?;
        Ok(BulkOutcome { matched, changed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{admin, at, fleet, test_core};
    use crate::types::Flag;
    use tus_wire::model::{RegisterRequest, UserFieldsInput};
    use tus_wire::views::UserListQuery;

    fn tracking(on: &str) -> UserListQuery {
        UserListQuery {
            tracking: Some(on.into()),
            status: Some("all".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_bulk_change_acts_on_exactly_the_counted_users_in_one_entry() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let meta = RequestMeta::default();
        let mut tokens = Vec::new();
        for n in 0..5 {
            let req = RegisterRequest {
                last_name: Some(format!("U{n}")),
                user_fields: Some(UserFieldsInput {
                    enable_tracking: Some(n < 3),
                    ..Default::default()
                }),
                create_access_token: Some(false),
                ..Default::default()
            };
            let c = t
                .core
                .register(at(n), &i.credentials(), req, &crate::RequestMeta::default())
                .await
                .unwrap();
            tokens.push(c.device_token.unwrap().to_string());
        }
        let on = BulkTarget::Matching(Box::new(tracking("on")));
        assert_eq!(t.core.bulk_count(&admin(), &on).await.unwrap(), 3);
        let off = BulkAction::SetFlag {
            minutes: None,
            flag: Flag::Tracking,
            value: false,
        };
        let done = t
            .core
            .bulk_apply(at(10), &admin(), &on, &off, &meta)
            .await
            .unwrap();
        assert_eq!(
            done,
            BulkOutcome {
                matched: 3,
                changed: 3
            }
        );
        assert_eq!(t.core.bulk_count(&admin(), &on).await.unwrap(), 0);
        assert_eq!(
            t.core
                .bulk_count(&admin(), &BulkTarget::Matching(Box::new(tracking("off"))))
                .await
                .unwrap(),
            5
        );
        let entries = t
            .core
            .store()
            .audit_entries("users.bulk_updated")
            .await
            .unwrap();
        assert_eq!(entries.len(), 1);
        assert!(
            entries[0].detail.contains(
                "Tracking off for the users matching status=all, tracking=on: 3 matched, 3 changed"
            ),
            "{}",
            entries[0].detail
        );

        // Two selected rows deactivated: the counters follow (the default list is active users).
        let two = BulkTarget::Selected(tokens[..2].to_vec());
        let done = t
            .core
            .bulk_apply(at(11), &admin(), &two, &BulkAction::SetActive(false), &meta)
            .await
            .unwrap();
        assert_eq!(
            done,
            BulkOutcome {
                matched: 2,
                changed: 2
            }
        );
        let page = t
            .core
            .user_list(&admin(), &UserListQuery::default())
            .await
            .unwrap();
        assert_eq!((page.total, page.rows.len()), (3, 3));
        // Applying it again matches them and changes nothing.
        let again = t
            .core
            .bulk_apply(at(12), &admin(), &two, &BulkAction::SetActive(false), &meta)
            .await
            .unwrap();
        assert_eq!(
            again,
            BulkOutcome {
                matched: 2,
                changed: 0
            }
        );
    }

    #[tokio::test]
    async fn a_bulk_move_that_would_duplicate_a_login_name_moves_nobody() {
        let t = test_core(|_| {}).await;
        let a = t.core.create_instance(at(0), None, "A", "").await.unwrap();
        let b = t.core.create_instance(at(0), None, "B", "").await.unwrap();
        let meta = RequestMeta::default();
        let mut tokens = Vec::new();
        for (i, email) in [(&a, "x@x.io"), (&b, "x@x.io"), (&a, "y@x.io")] {
            let req = RegisterRequest {
                email: Some(email.into()),
                create_access_token: Some(false),
                ..Default::default()
            };
            tokens.push(
                t.core
                    .register(at(1), &i.credentials(), req, &crate::RequestMeta::default())
                    .await
                    .unwrap()
                    .device_token
                    .unwrap()
                    .to_string(),
            );
        }
        let to_b = BulkAction::Move(b.id.to_string());
        let everyone_in_a = BulkTarget::Selected(vec![tokens[0].clone(), tokens[2].clone()]);
        let refused = t
            .core
            .bulk_apply(at(2), &admin(), &everyone_in_a, &to_b, &meta)
            .await;
        assert!(
            matches!(refused, Err(CoreError::Conflict { .. })),
            "{refused:?}"
        );
        let in_a = UserListQuery {
            instance: Some(a.id.to_string()),
            ..Default::default()
        };
        assert_eq!(
            t.core
                .bulk_count(&admin(), &BulkTarget::Matching(Box::new(in_a.clone())))
                .await
                .unwrap(),
            2
        );
        let only_y = BulkTarget::Selected(vec![tokens[2].clone()]);
        t.core
            .bulk_apply(at(3), &admin(), &only_y, &to_b, &meta)
            .await
            .unwrap();
        assert_eq!(
            t.core
                .bulk_count(&admin(), &BulkTarget::Matching(Box::new(in_a)))
                .await
                .unwrap(),
            1
        );

        let too_many = BulkTarget::Selected(vec![tokens[0].clone(); MAX_SELECTED + 1]);
        assert!(matches!(
            t.core.bulk_count(&admin(), &too_many).await,
            Err(CoreError::Validation(_))
        ));
        let bad = BulkTarget::Selected(vec!["nope".into()]);
        assert!(matches!(
            t.core.bulk_count(&admin(), &bad).await,
            Err(CoreError::Validation(_))
        ));
        let unknown = BulkAction::Move(uuid::Uuid::new_v4().to_string());
        assert!(matches!(
            t.core
                .bulk_apply(at(4), &admin(), &only_y, &unknown, &meta)
                .await,
            Err(CoreError::Validation(_))
        ));
    }
}
