//! The audit trail: appended in the transaction of the change it records, read newest first.

use sqlx::QueryBuilder;

use super::*;

impl Store {
    /// Audit entries matching the filter, newest first (keyset on id).
    pub async fn audit_page(&self, f: &AuditFilter) -> CoreResult<Vec<AuditRow>> {
        on_pool!(self, |c| {
            let mut q = QueryBuilder::new("SELECT id, at, actor, action, target, detail, client_addr FROM audit_log WHERE 1 = 1");
            if let Some(v) = &f.actor {
                q.push(" AND actor = ").push_bind(v.clone());
            }
            if let Some(v) = &f.action {
                q.push(" AND action = ").push_bind(v.clone());
            }
            if let Some(v) = &f.target {
                q.push(" AND target = ").push_bind(v.clone());
            }
            if let Some(v) = f.from {
                q.push(" AND at >= ").push_bind(v);
            }
            if let Some(v) = f.to {
                q.push(" AND at < ").push_bind(v);
            }
            if let Some(v) = f.before_id {
                q.push(" AND id < ").push_bind(v);
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit);
            q.build_query_as::<AuditRow>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })
    }

    /// The newest `limit` entries with one of these actions.
    pub async fn latest_audit(&self, actions: &[&str], limit: i64) -> CoreResult<Vec<AuditRow>> {
        let actions: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
        on_pool!(self, |c| {
            let mut q = QueryBuilder::new(
                "SELECT id, at, actor, action, target, detail, client_addr FROM audit_log WHERE 1 = 1");
            push_in_list!(q, "action", &actions);
            q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
            q.build_query_as::<AuditRow>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })
    }

    pub async fn audit_entries(&self, action: &str) -> CoreResult<Vec<AuditRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, actor, action, target, detail, client_addr FROM audit_log
             WHERE action = $1 ORDER BY id"
        )
        .bind(action)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }
}

impl Tx {
    /// Deferred (`defer_on_tx!`): nothing reads an entry back in the transaction that writes it.
    pub async fn audit(&mut self, entry: &NewAuditRow) -> CoreResult<()> {
        defer_on_tx!(self, "audit_log", |q| {
            q.push("INSERT INTO audit_log (at, actor, action, target, detail, client_addr) ");
            q.push_values([entry], |mut b, e| {
                b.push_bind(e.at)
                    .push_bind(e.actor.clone())
                    .push_bind(e.action.as_str())
                    .push_bind(e.target.clone())
                    .push_bind(e.detail.clone())
                    .push_bind(e.client_addr.clone());
            });
        });
        Ok(())
    }
}
