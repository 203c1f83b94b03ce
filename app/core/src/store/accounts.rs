//! Applications and instances.

use sqlx::QueryBuilder;

use super::*;

impl Store {
    pub async fn count_applications(&self) -> CoreResult<i64> {
        on_pool!(self, |c| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM applications"
        )
        .fetch_one(c)
        .await
        .map_err(db_err))
    }

    pub async fn first_application(&self) -> CoreResult<Option<ApplicationRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, ApplicationRow>(
            "SELECT id, company_id, name, description, status, created_at FROM applications
             ORDER BY created_at, id LIMIT 1"
        )
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }

    pub async fn find_instance(&self, id: &str) -> CoreResult<Option<InstanceRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, InstanceRow>(&format!(
            "{INSTANCE_SELECT} WHERE i.id = $1"
        ))
        .bind(id)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }

    /// Whether some instance has this InstanceKey (stored canonical: lower-case, hyphenated).
    pub async fn instance_key_taken(&self, key: &str) -> CoreResult<bool> {
        on_pool!(self, |c| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM instances WHERE instance_key = $1"
        )
        .bind(key)
        .fetch_one(c)
        .await
        .map(|n| n > 0)
        .map_err(db_err))
    }

    pub async fn find_instance_by_invite(&self, code: &str) -> CoreResult<Option<InstanceRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, InstanceRow>(&format!(
            "{INSTANCE_SELECT} WHERE i.invite_code = $1"
        ))
        .bind(code)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }

    pub async fn list_instances(&self) -> CoreResult<Vec<InstanceWithCount>> {
        on_pool!(self, |c| sqlx::query_as::<_, InstanceWithCount>(
            "SELECT i.id, i.name, i.description, i.status, i.invite_code, i.created_at,
                    a.name AS app_name, a.id AS app_id,
                    (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM user_counts c
                     WHERE c.instance_id = i.id) AS user_count
             FROM instances i JOIN applications a ON a.id = i.app_id
             ORDER BY a.created_at, i.created_at, i.id"
        )
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// Every instance's id, name and status, in the order of `list_instances` (no counting).
    pub async fn instance_names(&self) -> CoreResult<Vec<(String, String, String)>> {
        on_pool!(self, |c| sqlx::query_as::<_, (String, String, String)>(
            "SELECT i.id, i.name, i.status FROM instances i JOIN applications a ON a.id = i.app_id
             ORDER BY a.created_at, i.created_at, i.id"
        )
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    pub async fn list_applications(&self) -> CoreResult<Vec<ApplicationRow>> {
        on_pool!(self, |c| {
            sqlx::query_as::<_, ApplicationRow>(
            "SELECT id, company_id, name, description, status, created_at FROM applications ORDER BY created_at, id")
            .fetch_all(c).await.map_err(db_err)
        })
    }

    pub async fn find_application(&self, id: &str) -> CoreResult<Option<ApplicationRow>> {
        on_pool!(self, |c| {
            sqlx::query_as::<_, ApplicationRow>(
            "SELECT id, company_id, name, description, status, created_at FROM applications WHERE id = $1")
            .bind(id).fetch_optional(c).await.map_err(db_err)
        })
    }

    pub async fn instances_of_application(&self, app_id: &str) -> CoreResult<Vec<InstanceRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, InstanceRow>(&format!(
            "{INSTANCE_SELECT} WHERE i.app_id = $1 ORDER BY i.created_at, i.id"
        ))
        .bind(app_id)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// The ids of the instances in every scope given (ids, applications, companies).
    pub async fn instance_scope(
        &self,
        instance_ids: &[String],
        application_ids: &[String],
        company_ids: &[String],
    ) -> CoreResult<Vec<String>> {
        on_pool!(self, |c| {
            let mut q = QueryBuilder::new(
                "SELECT i.id FROM instances i JOIN applications a ON a.id = i.app_id WHERE 1 = 1",
            );
            for (column, ids) in [
                ("i.id", instance_ids),
                ("i.app_id", application_ids),
                ("a.company_id", company_ids),
            ] {
                if ids.is_empty() {
                    continue;
                }
                push_in_list!(q, column, ids);
            }
            q.push(" ORDER BY i.id");
            q.build_query_scalar::<String>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })
    }
}

const BUMP_EVERY_REVISION: &str = concat!("UPDATE instances SET ", next_revision!());

/// The message of migration 0028's `expect_instance` (SQLite).
pub(super) const INSTANCE_CHANGED: &str = "the instance changed";

impl Tx {
    /// Confirms, inside this transaction, that `instance` is still as it was read: the same
    /// revision and key, still Active. A registration authenticates its instance from memory
    /// (`Core::authenticate_instance_cached`) and makes this check with its writes, so a key
    /// rotated or an instance deactivated on any replica a moment ago holds at once. Fails
    /// with `instances::instance_changed()`, at commit in a write-only transaction, where
    /// the check is deferred with the other writes (on SQLite migration 0028's
    /// `expect_instance` aborts the transaction's statements, on PostgreSQL migration
    /// 0029's `tus_expect` its one statement), otherwise at once.
    pub async fn confirm_instance(
        &mut self,
        instance: &crate::instances::Instance,
    ) -> CoreResult<()> {
        let (id, key) = (instance.id.to_string(), instance.key.expose().to_string());
        if let TxConn::Sqlite(tx) = &mut self.conn {
            let q = tx.next_statement();
            q.push("INSERT INTO expect_instance (id, instance_key, revision) VALUES (")
                .push_bind(id)
                .push(", ")
                .push_bind(key)
                .push(", ")
                .push_bind(instance.revision)
                .push(")");
            return Ok(());
        }
        if let TxConn::Postgres(tx) = &mut self.conn {
            if tx.holds() {
                tx.expect(
                    |q| {
                        q.push("EXISTS (SELECT 1 FROM instances WHERE id = ")
                            .push_bind(id)
                            .push(" AND instance_key = ")
                            .push_bind(key)
                            .push(" AND revision = ")
                            .push_bind(instance.revision)
                            .push(" AND status = 'Active')");
                    },
                    INSTANCE_CHANGED,
                )?;
                return Ok(());
            }
        }
        let unchanged = on_tx!(self, |c| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM instances
             WHERE id = $1 AND instance_key = $2 AND revision = $3 AND status = 'Active'"
        )
        .bind(id)
        .bind(key)
        .bind(instance.revision)
        .fetch_one(&mut *c)
        .await
        .map_err(db_err))?;
        if unchanged == 1 {
            Ok(())
        } else {
            Err(crate::instances::instance_changed())
        }
    }

    /// Puts every application into the company `id` (a deployment is one company).
    pub async fn move_applications_to_company(&mut self, id: &str) -> CoreResult<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE applications SET company_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db_err)?;
            // Every instance's tokens carry the company: each has changed.
            sqlx::query(BUMP_EVERY_REVISION)
                .execute(&mut *c)
                .await
                .map(|_| ())
                .map_err(db_err)
        })
    }

    pub async fn insert_application(&mut self, app: &ApplicationRow) -> CoreResult<()> {
        on_tx!(self, |c| sqlx::query(
            "INSERT INTO applications (id, company_id, name, description, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&app.id)
        .bind(&app.company_id)
        .bind(&app.name)
        .bind(&app.description)
        .bind(&app.status)
        .bind(app.created_at)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(db_err))
    }

    pub async fn insert_instance(&mut self, i: &NewInstanceRow) -> CoreResult<()> {
        on_tx!(self, |c| {
            sqlx::query(
            "INSERT INTO instances (id, app_id, instance_key, name, description, status, invite_code, created_at, revision)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)")
            .bind(&i.id).bind(&i.app_id).bind(&i.instance_key).bind(&i.name).bind(&i.description)
            .bind(&i.status).bind(&i.invite_code).bind(i.created_at)
            .execute(&mut *c).await.map(|_| ()).map_err(db_err)
        })
    }

    /// Sets the given columns of one instance; false when there is no such instance.
    pub async fn update_instance(
        &mut self,
        id: &str,
        changes: &[(&'static str, String)],
    ) -> CoreResult<bool> {
        if changes.is_empty() {
            return Ok(true);
        }
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new(concat!("UPDATE instances SET ", next_revision!()));
            for (column, value) in changes {
                q.push(format!(", {column} = "));
                q.push_bind(value.clone());
            }
            q.push(" WHERE id = ").push_bind(id);
            q.build()
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(db_err)
        })
    }

    /// Deletes an instance that has no users. `Ok(None)`: no such instance;
    /// `Ok(Some(n))` with n > 0: it has n users and was kept.
    pub async fn delete_empty_instance(&mut self, id: &str) -> CoreResult<Option<i64>> {
        on_tx!(self, |c| {
            let users =
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE instance_id = $1")
                    .bind(id)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(db_err)?;
            if users > 0 {
                return Ok(Some(users));
            }
            for table in ["batch_credentials", "import_rows", "import_reports"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE batch_id IN (SELECT id FROM batches WHERE instance_id = $1)"))
                    .bind(id).execute(&mut *c).await.map_err(db_err)?;
            }
            sqlx::query("DELETE FROM batches WHERE instance_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db_err)?;
            let deleted = sqlx::query("DELETE FROM instances WHERE id = $1")
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db_err)?;
            Ok((deleted.rows_affected() == 1).then_some(0))
        })
    }
}
