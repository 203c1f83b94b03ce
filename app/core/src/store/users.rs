//! The `users` table: lookups, the filtered and keyset pages, selections for bulk actions,
//! inserts, updates and deletes (a user goes with every token issued to it).

use sqlx::QueryBuilder;

use super::*;
use crate::activity::DevicePatch;
use crate::secret::PasswordHash;
use crate::time::ms;
use crate::types::{DeviceToken, Flag, InstanceId};
use crate::users::patch::{Change, StatusChange, UserPatch};

impl Store {
    pub async fn find_user(&self, device_token: &str) -> CoreResult<Option<UserRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, UserRow>(&format!(
            "{USER_SELECT} WHERE u.device_token = $1"
        ))
        .bind(device_token)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }

    /// The user whose login name (`email` or `phone` column) matches, within an instance.
    pub async fn find_user_by_login(
        &self,
        instance_id: &str,
        column: LoginColumn,
        value: &str,
    ) -> CoreResult<Option<UserRow>> {
        let column = match column {
            LoginColumn::Email => "email",
            LoginColumn::Phone => "phone",
            LoginColumn::ClientId => "client_id",
        };
        on_pool!(self, |c| {
            sqlx::query_as::<_, UserRow>(
            &format!("{USER_SELECT} WHERE u.instance_id = $1 AND u.{column} = $2 ORDER BY u.date_created LIMIT 1"))
            .bind(instance_id).bind(value).fetch_optional(c).await.map_err(db_err)
        })
    }

    /// Users matching every filter given, newest first, at most `limit`. Names and countries
    /// compare ignoring ASCII case, as SQL `lower()` does on both backends.
    pub async fn find_users(&self, f: &UserFilter) -> CoreResult<Vec<UserRow>> {
        on_pool!(self, |c| {
            let mut q = QueryBuilder::new(format!("{USER_SELECT} WHERE 1 = 1"));
            if let Some(v) = &f.device_token {
                q.push(" AND u.device_token = ").push_bind(v.clone());
            }
            if let Some(ids) = &f.instances {
                push_in_list!(q, "u.instance_id", ids);
            }
            if let Some(v) = &f.email {
                q.push(format!(" AND {EMAIL_KEY} = ")).push_bind(v.clone());
            }
            if let Some(v) = &f.phone {
                q.push(" AND u.phone = ").push_bind(v.clone());
            }
            if let Some(v) = &f.client_id {
                q.push(" AND u.client_id = ").push_bind(v.clone());
            }
            if let Some(v) = &f.first_name {
                q.push(format!(" AND {FIRST_NAME_KEY} = "))
                    .push_bind(v.to_ascii_lowercase());
            }
            if let Some(v) = &f.last_name {
                q.push(format!(" AND {LAST_NAME_KEY} = "))
                    .push_bind(v.to_ascii_lowercase());
            }
            if let Some(v) = &f.country {
                q.push(" AND lower(u.country) = ")
                    .push_bind(v.to_ascii_lowercase());
            }
            if !f.full_name.is_empty() {
                q.push(" AND (");
                for (i, (first, last)) in f.full_name.iter().enumerate() {
                    q.push(if i == 0 { "(" } else { " OR (" });
                    q.push(format!("{FIRST_NAME_KEY} = "))
                        .push_bind(first.to_ascii_lowercase());
                    q.push(format!(" AND {LAST_NAME_KEY} = "))
                        .push_bind(last.to_ascii_lowercase())
                        .push(")");
                }
                q.push(")");
            }
            if !f.include_inactive {
                q.push(" AND u.status = 'Active'");
            }
            q.push(" ORDER BY u.date_created DESC, u.seq DESC LIMIT ")
                .push_bind(f.limit);
            q.build_query_as::<UserRow>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })
    }

    /// One page of users in the given order. Deferred join: the page's device tokens are
    /// picked from the sort index first, so a deep OFFSET skips index entries, not joined rows.
    ///
    /// `few_matches`: the caller knows the filter matches few users; then they are found by
    /// the filter's own indexes and sorted, instead of walking the sort index until enough
    /// match (which SQLite, without statistics, prefers even for one match in a million).
    pub async fn user_page(
        &self,
        f: &PageFilter,
        sort: UserSort,
        few_matches: bool,
        offset: i64,
        limit: i64,
    ) -> CoreResult<Vec<UserRow>> {
        self.user_keyset_page(f, sort, few_matches, None, offset, limit)
            .await
    }

    /// `user_page` from a keyset position: the rows after (or before) `at` in `sort` order.
    /// Rows before a position are returned in `sort` order too.
    pub async fn user_keyset_page(
        &self,
        f: &PageFilter,
        sort: UserSort,
        few_matches: bool,
        at: Option<&Keyset>,
        offset: i64,
        limit: i64,
    ) -> CoreResult<Vec<UserRow>> {
        let backward = at.is_some_and(|k| k.backward);
        let read = if backward { sort.reversed() } else { sort };
        let order = sort_order(read, false);
        let inner_order = sort_order(read, few_matches);
        let mut rows = on_pool!(self, |c| {
            let mut q = QueryBuilder::new(format!(
                "{USER_SELECT} WHERE u.seq IN (SELECT u.seq FROM users u WHERE 1 = 1"
            ));
            push_page_filter!(q, f, read.by_date());
            if let Some(k) = at {
                // `key >= v AND (key > v OR seq > s)` (mirrored when descending) rather than
                // the row value `(key, seq) > (v, s)`: SQLite starts an index range on an
                // expression key only from the plain comparison. `seq + 0`: PostgreSQL
                // would estimate `seq > s` from seq's histogram, a few per cent for a cursor
                // at a recent user, and then, with an instance filter it cannot estimate,
                // expect fewer matches than the page and sort them all instead of walking
                // the sort index (120 ms instead of 3 for an Operator's page of 10^6 users in
                // `bench page`); as an expression it gets the default third.
                let (key, ascending) = sort_key(read);
                let (from, past) = if ascending { (">=", ">") } else { ("<=", "<") };
                let bind = |q: &mut QueryBuilder<_>| match &k.key {
                    SortValue::Int(v) => {
                        q.push_bind(*v);
                    }
                    SortValue::Text(v) => {
                        q.push_bind(v.clone());
                    }
                };
                q.push(format!(" AND {key} {from} "));
                bind(&mut q);
                q.push(format!(" AND ({key} {past} "));
                bind(&mut q);
                q.push(format!(" OR u.seq + 0 {past} "))
                    .push_bind(k.seq)
                    .push(")");
            }
            q.push(format!(" ORDER BY {inner_order} LIMIT "))
                .push_bind(limit);
            q.push(" OFFSET ").push_bind(offset);
            q.push(format!(") ORDER BY {order}"));
            q.build_query_as::<UserRow>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })?;
        if backward {
            rows.reverse();
        }
        Ok(rows)
    }

    /// How many users match, counting at most `cap` of them.
    pub async fn count_users(&self, f: &PageFilter, cap: i64) -> CoreResult<i64> {
        on_pool!(self, |c| {
            let mut q =
                QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM users u WHERE 1 = 1");
            push_page_filter!(q, f);
            q.push(" LIMIT ").push_bind(cap).push(") AS matched");
            q.build_query_scalar::<i64>()
                .fetch_one(c)
                .await
                .map_err(db_err)
        })
    }

    /// How many users a selection holds (exact).
    pub async fn count_selection(&self, selection: &Selection) -> CoreResult<i64> {
        on_pool!(self, |c| {
            let mut q = QueryBuilder::new("SELECT COUNT(*) FROM users WHERE 1 = 1");
            push_selection!(q, selection);
            q.build_query_scalar::<i64>()
                .fetch_one(c)
                .await
                .map_err(db_err)
        })
    }

    pub async fn count_users_in_batch(&self, batch_id: &str) -> CoreResult<i64> {
        on_pool!(self, |c| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM users WHERE batch_id = $1"
        )
        .bind(batch_id)
        .fetch_one(c)
        .await
        .map_err(db_err))
    }
}

/// Appends `UPDATE users SET <column> = <value>, ... WHERE device_token = <token>`, every
/// value bound and owned.
macro_rules! push_user_columns {
    ($q:expr, $device_token:expr, $changes:expr) => {{
        $q.push("UPDATE users SET ");
        let mut set = $q.separated(", ");
        for (column, value) in $changes {
            set.push(format!("{column} = "));
            match value {
                Value::Text(v) => set.push_bind_unseparated(v),
                Value::Int(v) => set.push_bind_unseparated(v),
                Value::Bool(v) => set.push_bind_unseparated(v),
            };
        }
        $q.push(" WHERE device_token = ")
            .push_bind($device_token.to_string());
    }};
}

impl Tx {
    pub async fn insert_users(&mut self, users: &[NewUserRow]) -> CoreResult<()> {
        for chunk in users.chunks(INSERT_CHUNK) {
            defer_on_tx!(self, "users", |q| {
                q.push(
                    "INSERT INTO users (device_token, instance_id, first_name, last_name, nickname, phone,
                     email, gender, birthday, marital_status, children_count, country, district, city,
                     address, image_url, status, enable_tracking, enable_logging, enabled,
                     enable_real_time_location, client_id, password_hash, batch_id, date_created) ");
                q.push_values(chunk, |mut b, u| {
                    b.push_bind(u.device_token.clone())
                        .push_bind(u.instance_id.clone())
                        .push_bind(u.first_name.clone())
                        .push_bind(u.last_name.clone())
                        .push_bind(u.nickname.clone())
                        .push_bind(u.phone.clone())
                        .push_bind(u.email.clone())
                        .push_bind(u.gender.clone())
                        .push_bind(u.birthday)
                        .push_bind(u.marital_status.clone())
                        .push_bind(u.children_count)
                        .push_bind(u.country.clone())
                        .push_bind(u.district.clone())
                        .push_bind(u.city.clone())
                        .push_bind(u.address.clone())
                        .push_bind(u.image_url.clone())
                        .push_bind(u.status.clone())
                        .push_bind(u.enable_tracking)
                        .push_bind(u.enable_logging)
                        .push_bind(u.enabled)
                        .push_bind(u.enable_real_time_location)
                        .push_bind(u.client_id.clone())
                        .push_bind(u.password_hash.clone())
                        .push_bind(u.batch_id.clone())
                        .push_bind(u.date_created);
                });
            });
        }
        Ok(())
    }

    /// How many users a selection holds, as this transaction sees them.
    pub async fn count_selection(&mut self, selection: &Selection) -> CoreResult<i64> {
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new("SELECT COUNT(*) FROM users WHERE 1 = 1");
            push_selection!(q, selection);
            q.build_query_scalar::<i64>()
                .fetch_one(&mut *c)
                .await
                .map_err(db_err)
        })
    }

    /// The addresses of a selection's users, as this transaction sees them (who an invite
    /// reaches), at most `cap` + 1 rows so a caller can tell the cap was passed.
    pub async fn selection_contacts(
        &mut self,
        selection: &Selection,
        cap: i64,
    ) -> CoreResult<Vec<ContactRow>> {
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new(
                "SELECT device_token, instance_id, email, phone, status,
                        (SELECT i.status FROM instances i WHERE i.id = users.instance_id)
                          AS instance_status
                   FROM users WHERE 1 = 1",
            );
            push_selection!(q, selection);
            q.push(" ORDER BY device_token LIMIT ").push_bind(cap + 1);
            q.build_query_as::<ContactRow>()
                .fetch_all(&mut *c)
                .await
                .map_err(db_err)
        })
    }

    /// Sets one column of every selected user in one statement; returns how many rows.
    pub async fn bulk_set(
        &mut self,
        selection: &Selection,
        column: &'static str,
        value: &Value,
        now: i64,
    ) -> CoreResult<u64> {
        let is_flag = Flag::ALL.iter().any(|f| flag_columns(*f).0 == column);
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new(format!("UPDATE users SET {column} = "));
            match value {
                Value::Text(v) => q.push_bind(v.clone()),
                Value::Int(v) => q.push_bind(*v),
                Value::Bool(v) => q.push_bind(*v),
            };
            if is_flag {
                q.push(", flags_changed_at = ").push_bind(now);
            }
            q.push(format!(" WHERE {column} IS DISTINCT FROM "));
            match value {
                Value::Text(v) => q.push_bind(v.clone()),
                Value::Int(v) => q.push_bind(*v),
                Value::Bool(v) => q.push_bind(*v),
            };
            push_selection!(q, selection);
            q.build()
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err)
        })
    }

    /// Sets the given columns of one user; false when there is no such user.
    /// The user, read inside this transaction (locked until it ends on PostgreSQL), for a
    /// change decided on what it was.
    pub async fn user_for_update(
        &mut self,
        device_token: &DeviceToken,
    ) -> CoreResult<Option<UserRow>> {
        let sql = match &mut self.conn {
            TxConn::Sqlite(_) => format!("{USER_SELECT} WHERE u.device_token = $1"),
            TxConn::Postgres(_) => {
                format!("{USER_SELECT} WHERE u.device_token = $1 FOR UPDATE OF u")
            }
        };
        on_tx!(self, |c| sqlx::query_as::<_, UserRow>(&sql)
            .bind(device_token.to_string())
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err))
    }

    /// Writes a partial update: each field the patch names, in its column (and the new
    /// password's hash). False when there is no such user.
    pub async fn apply_user_patch(
        &mut self,
        device_token: &DeviceToken,
        patch: &UserPatch,
        password_hash: Option<&PasswordHash>,
        now: i64,
    ) -> CoreResult<bool> {
        let text = |c: &Change<String>| Value::Text(c.as_ref().cloned());
        let p = &patch.profile;
        let mut changes: Vec<(&'static str, Value)> = Vec::new();
        let mut put = |column: &'static str, value: Option<Value>| {
            if let Some(v) = value {
                changes.push((column, v));
            }
        };
        put("first_name", p.first_name.as_ref().map(text));
        put("last_name", p.last_name.as_ref().map(text));
        put("nickname", p.nickname.as_ref().map(text));
        put(
            "phone",
            p.phone
                .as_ref()
                .map(|c| Value::Text(c.as_ref().map(|v| v.as_str().into()))),
        );
        put(
            "email",
            p.email
                .as_ref()
                .map(|c| Value::Text(c.as_ref().map(|v| v.as_str().into()))),
        );
        put("country", p.country.as_ref().map(text));
        put("district", p.district.as_ref().map(text));
        put("city", p.city.as_ref().map(text));
        put("address", p.address.as_ref().map(text));
        put("image_url", p.image_url.as_ref().map(text));
        put("gender", p.gender.map(|g| Value::Text(Some(g.to_string()))));
        put(
            "birthday",
            p.birthday
                .as_ref()
                .map(|c| Value::Int(c.as_ref().map(|d| ms(*d)))),
        );
        put("marital_status", p.marital_status.as_ref().map(text));
        put(
            "children_count",
            p.children_count.map(|n| Value::Int(Some(n))),
        );
        for flag in Flag::ALL {
            put(
                flag_columns(flag).0,
                patch.flags[flag.index()].map(Value::Bool),
            );
        }
        put("client_id", patch.client_id.as_ref().map(text));
        if let Some(StatusChange::Set(s)) = patch.status {
            put("status", Some(Value::Text(Some(s.to_string()))));
        }
        put(
            "password_hash",
            password_hash.map(|h| Value::Text(Some(h.expose().to_string()))),
        );
        if let Some(device) = &patch.device {
            changes.extend(device.columns());
        }
        let flags: Vec<(&'static str, bool)> = Flag::ALL
            .into_iter()
            .filter_map(|f| patch.flags[f.index()].map(|v| (flag_columns(f).0, v)))
            .collect();
        let token = device_token.to_string();
        if !flags.is_empty() {
            // Noted only when a flag's value truly changes (compared with the row as it is).
            on_tx!(self, |c| {
                let mut q = QueryBuilder::new("UPDATE users SET flags_changed_at = ");
                q.push_bind(now)
                    .push(" WHERE device_token = ")
                    .push_bind(&token);
                q.push(" AND (1 = 0");
                for (column, v) in &flags {
                    q.push(format!(" OR {column} <> ")).push_bind(*v);
                }
                q.push(")");
                q.build().execute(&mut *c).await.map_err(db_err)?;
            });
        }
        self.set_user_columns(&token, &changes).await
    }

    /// A driver logged in or refreshed at `now` (ms), reporting `device` if it did.
    pub async fn note_activity(
        &mut self,
        device_token: &str,
        now: i64,
        device: Option<&DevicePatch>,
    ) -> CoreResult<()> {
        let mut changes = vec![("last_activity_at", Value::Int(Some(now)))];
        if let Some(d) = device {
            changes.extend(d.columns());
        }
        self.defer_user_columns(device_token, changes).await
    }

    /// Stores what a registration reported of the phone.
    pub async fn set_device(&mut self, device_token: &str, device: &DevicePatch) -> CoreResult<()> {
        self.defer_user_columns(device_token, device.columns())
            .await
    }

    /// Moves a user to another instance; false when there is no such user.
    pub async fn move_user(&mut self, device_token: &str, to: &InstanceId) -> CoreResult<bool> {
        let to = Value::Text(Some(to.to_string()));
        self.set_user_columns(device_token, &[("instance_id", to)])
            .await
    }

    async fn set_user_columns(
        &mut self,
        device_token: &str,
        changes: &[(&'static str, Value)],
    ) -> CoreResult<bool> {
        if changes.is_empty() {
            return Ok(true);
        }
        on_tx!(self, |c| {
            let mut q = QueryBuilder::new("");
            push_user_columns!(q, device_token, changes.iter().cloned());
            q.build()
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(db_err)
        })
    }

    /// `set_user_columns` when nobody reads whether the user was there (`defer_on_tx!`).
    async fn defer_user_columns(
        &mut self,
        device_token: &str,
        changes: Vec<(&'static str, Value)>,
    ) -> CoreResult<()> {
        if !changes.is_empty() {
            defer_on_tx!(self, "users", reads["users"], |q| push_user_columns!(
                q,
                device_token,
                changes
            ));
        }
        Ok(())
    }

    /// Removes a user and every token issued to it; false when there is no such user.
    pub async fn delete_user(&mut self, device_token: &str) -> CoreResult<bool> {
        let one = Selection::Tokens(vec![device_token.to_string()]);
        Ok(self.delete_selection(&one).await? == 1)
    }
}
