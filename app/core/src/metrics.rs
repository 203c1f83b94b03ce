//! What operators watch (the server exposes it to Prometheus; see server/src/metrics.rs).
//!
//! Two kinds of figures:
//! - `Tallies`: what this process has done since it started (token pairs issued per
//!   source, security events per kind), counted in memory once the transaction that
//!   records them has committed (a throttled attempt: when it is refused). Per process: a
//!   deployment's total is the sum over its replicas, as Prometheus sums counters.
//! - `Readings`: the database's state, shared by every replica (users by status and flag
//!   from the counters the triggers keep, the outbox's backlog, running batches and
//!   imports). Each read walks small tables or index ranges only, never the users or the
//!   sent messages, so a scrape costs the same at 10^6 users.

use std::sync::atomic::{AtomicU64, Ordering};

use tus_wire::views::Flag;

use super::audit::AuditAction;
use super::error::CoreResult;
use super::issuance::{IssuedRows, Source};
use super::outbox::{Channel, MessageState, WEBHOOK_KIND};
use super::Core;

/// The audit actions that are also counted, each under its audit name.
pub const TALLIED_ACTIONS: [AuditAction; 4] = [
    AuditAction::RefreshReuse,
    AuditAction::LoginFailed,
    AuditAction::LoginRateLimited,
    AuditAction::RegistrationRateLimited,
];

/// In-memory counters of this process (see the module invariant).
#[derive(Debug, Default)]
pub struct Tallies {
    issued: [AtomicU64; Source::ALL.len()],
    actions: [AtomicU64; TALLIED_ACTIONS.len()],
}

impl Tallies {
    /// Counts the pairs of `rows`, once their transaction has committed.
    pub(crate) fn issued(&self, rows: &IssuedRows) {
        for (slot, n) in self.issued.iter().zip(rows.per_source()) {
            if n > 0 {
                slot.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Counts `action` if it is one of `TALLIED_ACTIONS`.
    pub(crate) fn action(&self, action: AuditAction) {
        if let Some(i) = TALLIED_ACTIONS.iter().position(|a| *a == action) {
            self.actions[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Token pairs issued per source (`registration`, `refresh`, `login`...), every source
    /// listed.
    pub fn issued_by_source(&self) -> Vec<(&'static str, u64)> {
        Source::ALL
            .iter()
            .zip(&self.issued)
            .map(|(s, n)| (s.as_str(), n.load(Ordering::Relaxed)))
            .collect()
    }

    /// Security events per audit action (`refresh.reuse`, `login.failed`...), every one
    /// listed.
    pub fn security_events(&self) -> Vec<(&'static str, u64)> {
        TALLIED_ACTIONS
            .iter()
            .zip(&self.actions)
            .map(|(a, n)| (a.as_str(), n.load(Ordering::Relaxed)))
            .collect()
    }
}

/// The states `Store::outbox_backlog` counts: messages that still wait for something.
pub const BACKLOG_STATES: [MessageState; 3] = [
    MessageState::Queued,
    MessageState::Sending,
    MessageState::Failed,
];

/// Messages of one kind (`email`, `sms`, `webhook`) in one state that is not final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub kind: String,
    pub state: String,
    pub messages: i64,
    /// When the oldest of them was queued (ms since the epoch); 0 when there is none.
    pub oldest_created_at: i64,
}

/// The running batches (or imports): how many, and their users (rows) done and in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Running {
    pub runs: i64,
    pub done: i64,
    pub total: i64,
}

/// The database's state, for the operators' gauges (see the module invariant).
#[derive(Debug, Clone, Default)]
pub struct Readings {
    pub active_users: i64,
    pub deactivated_users: i64,
    /// Users with each flag on, by the flag's API name.
    pub flags_on: Vec<(&'static str, i64)>,
    /// Messages queued, being sent or failed.
    pub outbox: Vec<OutboxBacklog>,
    pub batches: Running,
    pub imports: Running,
}

impl Core {
    pub fn tallies(&self) -> &Tallies {
        &self.inner.tallies
    }

    /// Reads `Readings` (a few small queries on the read pool).
    pub async fn readings(&self) -> CoreResult<Readings> {
        let store = self.store();
        let (active_users, deactivated_users) = store.users_by_status(None).await?;
        let flags = store.flag_totals(None).await?;
        // Every kind and state that can wait is listed, 0 when nothing waits.
        let mut outbox = store.outbox_backlog().await?;
        let kinds = Channel::ALL.map(Channel::as_str);
        for kind in kinds.iter().chain([&WEBHOOK_KIND]) {
            for state in BACKLOG_STATES.map(MessageState::as_str) {
                if !outbox.iter().any(|b| b.kind == *kind && b.state == state) {
                    outbox.push(OutboxBacklog {
                        kind: kind.to_string(),
                        state: state.to_string(),
                        messages: 0,
                        oldest_created_at: 0,
                    });
                }
            }
        }
        let runs = store.running_batches().await?;
        let running = |kind: &str| {
            runs.iter()
                .find(|(k, _)| k == kind)
                .map(|(_, r)| r.clone())
                .unwrap_or_default()
        };
        Ok(Readings {
            active_users,
            deactivated_users,
            flags_on: Flag::ALL
                .iter()
                .map(|f| (f.api_name(), flags[f.index()]))
                .collect(),
            outbox,
            batches: running("create"),
            imports: running("import"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{admin, at, test_core};
    use crate::time::ms;
    use crate::RequestMeta;

    fn backlog<'a>(r: &'a Readings, kind: &str, state: &str) -> &'a OutboxBacklog {
        r.outbox
            .iter()
            .find(|b| b.kind == kind && b.state == state)
            .unwrap_or_else(|| panic!("no {kind}/{state} in {:?}", r.outbox))
    }

    /// The outbox's backlog per kind and state, every kind and waiting state listed (0 when
    /// nothing waits); a sent message leaves it.
    #[tokio::test]
    async fn readings_list_the_outbox_backlog_per_kind_and_state() {
        let t = test_core(|c| c.delivery.email = true).await;
        let empty = t.core.readings().await.unwrap();
        assert_eq!(empty.outbox.len(), 3 * BACKLOG_STATES.len());
        assert!(empty.outbox.iter().all(|b| b.messages == 0));
        let meta = RequestMeta::default();
        for (s, to) in [(10, "a@x.io"), (20, "b@x.io")] {
            t.core
                .send_test_message(at(s), &admin(), Channel::Email, to, &meta)
                .await
                .unwrap();
        }
        let queued = t.core.readings().await.unwrap();
        let email = backlog(&queued, "email", "queued");
        assert_eq!((email.messages, email.oldest_created_at), (2, ms(at(10))));
        assert_eq!(backlog(&queued, "sms", "queued").messages, 0);
        assert_eq!(backlog(&queued, WEBHOOK_KIND, "failed").messages, 0);

        let claimed = t.core.claim_due_messages(at(30), 1).await.unwrap();
        t.core
            .settle_message(at(31), &claimed[0], Ok(()))
            .await
            .unwrap();
        let after = t.core.readings().await.unwrap();
        let email = backlog(&after, "email", "queued");
        assert_eq!((email.messages, email.oldest_created_at), (1, ms(at(20))));
        assert_eq!(backlog(&after, "email", "sending").messages, 0);
    }
}
