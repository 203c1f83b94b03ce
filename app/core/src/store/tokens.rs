//! Token families, refresh tokens and the access-token lineage. A decision on a refresh
//! token is made on its row read inside the transaction that changes it (`FOR UPDATE` on
//! PostgreSQL; SQLite runs one writer).

use sqlx::{FromRow, QueryBuilder, Row};

use super::*;

/// The columns of a `RefreshRow`, from `refresh_tokens r` and its `token_families f`.
macro_rules! refresh_columns {
    () => {
        "r.id, r.family_id, r.subject, r.state, r.issued_at, r.expires_at, r.used_at, r.reason,
        f.revoked_at AS family_revoked_at"
    };
}

const REFRESH_SELECT: &str = concat!(
    "SELECT ",
    refresh_columns!(),
    " FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id
     WHERE r.token_hash = $1"
);

/// `Store::refresh_lineage`: one read for a refresh, of the refresh tokens named by
/// `$source`, a relation `w` of `(hash, jti)` pairs (`$hash` and `$jti` its columns),
/// each with what `$member` says (which pair it answers).
macro_rules! refresh_lineage {
    ($member:literal, $source:literal, $hash:literal, $jti:literal) => {
        concat!(
            "SELECT ",
            $member,
            " AS member, ",
            refresh_columns!(),
            ", f.subject_kind, f.created_at AS family_created_at,
            f.last_seen_at AS family_last_seen_at,
            acc.family_id AS access_family_id, acc.subject AS access_subject, ",
            user_columns!(),
            // Left joins one after the other, each on a key: a parenthesised join of the
            // three was planned as a scan of every user (12 ms a refresh at 6,000 users).
            " FROM ",
            $source,
            " JOIN refresh_tokens r ON r.token_hash = ",
            $hash,
            " JOIN token_families f ON f.id = r.family_id
             LEFT JOIN access_tokens acc ON acc.jti = ",
            $jti,
            " LEFT JOIN users u ON f.subject_kind = 'user' AND u.device_token = r.subject
             LEFT JOIN instances i ON i.id = u.instance_id
             LEFT JOIN applications a ON a.id = i.app_id"
        )
    };
}

/// The reads of a group of refreshes (`LineageReads`) on SQLite: `$1` is a JSON array of
/// `[hash, jti]` pairs, and `member` each row's place in it. `CROSS JOIN` keeps the pairs
/// the outer loop, so each is looked up by its keys.
pub(super) const SQLITE_REFRESH_LINEAGES: &str = refresh_lineage!(
    "w.key",
    "json_each($1) w CROSS",
    "w.value ->> 0",
    "w.value ->> 1"
);

/// The same on PostgreSQL: `$1` the hashes, `$2` the access tokens' ids, in pairs.
pub(super) const POSTGRES_REFRESH_LINEAGES: &str = refresh_lineage!(
    "w.member - 1",
    "unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[])) WITH ORDINALITY AS w(hash, jti, member)",
    "w.hash",
    "w.jti"
);

/// Refresh reads, taken in groups (`groups`): a group is one statement on one connection.
/// On SQLite, every read on a reader that follows a commit finds the WAL changed and starts
/// from an empty page cache, and each is a hand-off to the connection's thread and back;
/// on PostgreSQL each is a round trip, and the executor's start on six tables and their
/// indexes. Under load the refreshes waiting at one moment now share that, and the index
/// pages above their leaves. Alone, a read runs at once. What each refresh reads, and what
/// it decides on it, is as before.
#[derive(Default)]
pub struct LineageReads {
    groups: std::sync::Arc<groups::Groups<LineageRead>>,
}

struct LineageRead {
    hash: String,
    jti: String,
    done: tokio::sync::oneshot::Sender<CoreResult<Option<RefreshLineage>>>,
}

/// Refresh reads in one statement at most.
const LINEAGE_READS_LIMIT: usize = 64;

impl LineageReads {
    async fn read(
        &self,
        store: &Store,
        hash: &str,
        jti: &str,
    ) -> CoreResult<Option<RefreshLineage>> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let member = LineageRead {
            hash: hash.to_string(),
            jti: jti.to_string(),
            done,
        };
        let store = store.clone();
        self.groups
            .submit(member, LINEAGE_READS_LIMIT, move |members| {
                read_lineages(store.clone(), members)
            });
        answer
            .await
            .unwrap_or_else(|_| Err(CoreError::internal("the refresh reads stopped")))
    }
}

async fn read_lineages(store: Store, members: Vec<LineageRead>) {
    let read = async {
        match &store {
            Store::Sqlite { read, .. } => {
                let pairs: Vec<[&str; 2]> = members.iter().map(|m| [&*m.hash, &*m.jti]).collect();
                let pairs = serde_json::to_string(&pairs).map_err(CoreError::internal)?;
                let rows = sqlx::query(SQLITE_REFRESH_LINEAGES)
                    .bind(pairs)
                    .fetch_all(&mut *read.acquire().await?)
                    .await
                    .map_err(db_err)?;
                Ok(rows.iter().map(member_lineage).collect::<Vec<_>>())
            }
            Store::Postgres(pool, _) => {
                let (hashes, jtis): (Vec<&str>, Vec<&str>) =
                    members.iter().map(|m| (&*m.hash, &*m.jti)).unzip();
                let rows = sqlx::query(POSTGRES_REFRESH_LINEAGES)
                    .bind(hashes)
                    .bind(jtis)
                    .fetch_all(&mut *pool.acquire().await?)
                    .await
                    .map_err(db_err)?;
                Ok(rows.iter().map(member_lineage).collect())
            }
        }
    };
    let read: CoreResult<Vec<Result<(i64, RefreshLineage), sqlx::Error>>> = read.await;
    let mut found: Vec<Option<CoreResult<RefreshLineage>>> = members.iter().map(|_| None).collect();
    match read {
        Ok(rows) => {
            for row in rows {
                let (member, lineage) = match row {
                    Ok((member, lineage)) => (member, Ok(lineage)),
                    // Undecodable: nobody's answer can be trusted.
                    Err(e) => {
                        tracing::error!(error = %e, "a refresh read could not be decoded");
                        found = members
                            .iter()
                            .map(|_| Some(Err(CoreError::internal("a refresh read failed"))))
                            .collect();
                        break;
                    }
                };
                match usize::try_from(member).ok().and_then(|m| found.get_mut(m)) {
                    Some(slot) => *slot = Some(lineage),
                    None => tracing::error!(member, "a refresh read answered no member"),
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            for slot in &mut found {
                *slot = Some(Err(CoreError::internal(message.clone())));
            }
        }
    }
    for (member, lineage) in members.into_iter().zip(found) {
        let _ = member.done.send(lineage.transpose());
    }
}

/// A row of a group's refresh reads: whose it is, and the token, its sessions, and the
/// user of a user's.
fn member_lineage<'r, R>(row: &'r R) -> Result<(i64, RefreshLineage), sqlx::Error>
where
    R: Row,
    RefreshLineage: FromRow<'r, R>,
    UserRow: FromRow<'r, R>,
    &'static str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut lineage = RefreshLineage::from_row(row)?;
    if row.try_get::<Option<String>, _>("device_token")?.is_some() {
        lineage.user = Some(UserRow::from_row(row)?);
    }
    Ok((row.try_get("member")?, lineage))
}

/// What `Tx::claim_refresh` fails with when the token was no longer active.
pub(crate) fn refresh_claim_lost() -> CoreError {
    CoreError::Conflict {
        key: "RefreshToken".into(),
        message: "the refresh token changed since it was read".into(),
    }
}

impl Store {
    /// The refresh token with this hash as a reader sees it now (no lock): what the tests
    /// check a token's state with. A refresh reads it with its session (`refresh_lineage`).
    #[cfg(test)]
    pub async fn peek_refresh(&self, token_hash: &str) -> CoreResult<Option<RefreshRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, RefreshRow>(REFRESH_SELECT)
            .bind(token_hash)
            .fetch_optional(c)
            .await
            .map_err(db_err))
    }

    pub async fn family_state(&self, family_id: &str) -> CoreResult<Option<FamilyRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, FamilyRow>(
            "SELECT id, subject, subject_kind, origin, created_at, revoked_at, revoke_reason
             FROM token_families WHERE id = $1"
        )
        .bind(family_id)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }

    /// The latest access-token issue time of each of these users (those that have one).
    pub async fn last_token_activity(&self, subjects: &[String]) -> CoreResult<Vec<(String, i64)>> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        on_pool!(self, |c| {
            let mut q =
                QueryBuilder::new("SELECT subject, MAX(issued_at) FROM access_tokens WHERE 1 = 1");
            push_in_list!(q, "subject", subjects);
            q.push(" GROUP BY subject");
            q.build_query_as::<(String, i64)>()
                .fetch_all(c)
                .await
                .map_err(db_err)
        })
    }

    /// The session an access token was issued in. `None` for a jti we never issued, or
    /// whose subject was deleted since (its rows went with it): such a token is refused
    /// whatever its signature says.
    pub async fn access_session(&self, jti: &str) -> CoreResult<Option<AccessSession>> {
        on_pool!(self, |c| sqlx::query_as::<_, AccessSession>(
            "SELECT a.subject, a.family_id, f.subject_kind, f.created_at AS family_created_at,
                    f.revoked_at AS family_revoked_at, f.last_seen_at AS family_last_seen_at
             FROM access_tokens a JOIN token_families f ON f.id = a.family_id
             WHERE a.jti = $1"
        )
        .bind(jti)
        .fetch_optional(c)
        .await
        .map_err(db_err))
    }

    /// The refresh token with this hash as a reader sees it now, the session it belongs to
    /// (what never changes about it), the one the access token `jti` presented with it was
    /// issued in, and the user of a user's session: one read for all four, in a group with
    /// the refreshes reading at the same moment (`LineageReads`).
    pub async fn refresh_lineage(
        &self,
        token_hash: &str,
        jti: &str,
    ) -> CoreResult<Option<RefreshLineage>> {
        let (Store::Sqlite { lineages, .. } | Store::Postgres(_, lineages)) = self;
        lineages.read(self, token_hash, jti).await
    }

    /// The newest `limit` access tokens issued to `subject`.
    pub async fn access_tokens_of(
        &self,
        subject: &str,
        limit: i64,
    ) -> CoreResult<Vec<AccessTokenRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, AccessTokenRow>(
            "SELECT jti, family_id, source, issued_at, expires_at FROM access_tokens
             WHERE subject = $1 ORDER BY issued_at DESC, jti LIMIT $2"
        )
        .bind(subject)
        .bind(limit)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// The token families of `subject`, newest first.
    pub async fn families_of(&self, subject: &str) -> CoreResult<Vec<FamilyRow>> {
        on_pool!(self, |c| sqlx::query_as::<_, FamilyRow>(
            "SELECT id, subject, subject_kind, origin, created_at, revoked_at, revoke_reason
             FROM token_families WHERE subject = $1 ORDER BY created_at DESC, id"
        )
        .bind(subject)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }

    /// Every refresh token of `subject` (states and times, never the hash), oldest first.
    pub async fn refresh_tokens_of(&self, subject: &str) -> CoreResult<Vec<RefreshTokenState>> {
        on_pool!(self, |c| sqlx::query_as::<_, RefreshTokenState>(
            "SELECT id, family_id, parent_id, state, issued_at, expires_at, used_at, reason
             FROM refresh_tokens WHERE subject = $1 ORDER BY issued_at, id"
        )
        .bind(subject)
        .fetch_all(c)
        .await
        .map_err(db_err))
    }
}

impl Tx {
    pub async fn insert_families(&mut self, families: &[NewFamilyRow]) -> CoreResult<()> {
        for chunk in families.chunks(INSERT_CHUNK) {
            defer_on_tx!(self, "token_families", |q| {
                q.push(
                    "INSERT INTO token_families (id, subject, subject_kind, origin, created_at) ",
                );
                q.push_values(chunk, |mut b, f| {
                    b.push_bind(f.id.clone())
                        .push_bind(f.subject.clone())
                        .push_bind(f.subject_kind.clone())
                        .push_bind(f.origin.clone())
                        .push_bind(f.created_at);
                });
            });
        }
        Ok(())
    }

    pub async fn insert_refresh_tokens(&mut self, tokens: &[NewRefreshRow]) -> CoreResult<()> {
        for chunk in tokens.chunks(INSERT_CHUNK) {
            defer_on_tx!(self, "refresh_tokens", |q| {
                q.push(
                    "INSERT INTO refresh_tokens (id, family_id, subject, token_hash, parent_id, issued_at, expires_at) ");
                q.push_values(chunk, |mut b, t| {
                    b.push_bind(t.id.clone())
                        .push_bind(t.family_id.clone())
                        .push_bind(t.subject.clone())
                        .push_bind(t.token_hash.clone())
                        .push_bind(t.parent_id.clone())
                        .push_bind(t.issued_at)
                        .push_bind(t.expires_at);
                });
            });
        }
        Ok(())
    }

    pub async fn insert_access_tokens(&mut self, tokens: &[NewAccessRow]) -> CoreResult<()> {
        for chunk in tokens.chunks(INSERT_CHUNK) {
            defer_on_tx!(self, "access_tokens", |q| {
                q.push(
                    "INSERT INTO access_tokens (jti, subject, family_id, source, issued_at, expires_at, kid) ");
                q.push_values(chunk, |mut b, t| {
                    b.push_bind(t.jti.clone())
                        .push_bind(t.subject.clone())
                        .push_bind(t.family_id.clone())
                        .push_bind(t.source.clone())
                        .push_bind(t.issued_at)
                        .push_bind(t.expires_at)
                        .push_bind(t.kid.clone());
                });
            });
        }
        Ok(())
    }

    /// Marks the active refresh token `id` used at `now` (ms), if its family is not revoked
    /// and it has not expired: the happy path of a rotation decided on a row read outside
    /// the transaction. If it was no longer so (somebody rotated or revoked it meanwhile),
    /// the transaction fails with `CoreError::Conflict` on `RefreshToken`: at commit in a
    /// write-only transaction, where the check is deferred with the other writes (on SQLite
    /// migration 0025's `expect_one_change` aborts the transaction's statements, on
    /// PostgreSQL migration 0029's `tus_expect` its one statement), otherwise at once.
    pub async fn claim_refresh(&mut self, id: &str, now: i64) -> CoreResult<()> {
        const CLAIM: &str = "UPDATE refresh_tokens SET state = 'used', used_at = ";
        const WHERE: &str = ", reason = 'rotated'
             WHERE state = 'active' AND NOT EXISTS (SELECT 1 FROM token_families f
                 WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NOT NULL)
               AND expires_at > ";
        if let TxConn::Sqlite(tx) = &mut self.conn {
            let q = tx.next_statement();
            q.push(CLAIM).push_bind(now).push(WHERE).push_bind(now);
            q.push(" AND id = ").push_bind(id.to_string());
            q.push("; INSERT INTO expect_one_change (changed) VALUES (changes())");
            return Ok(());
        }
        if let TxConn::Postgres(tx) = &mut self.conn {
            if tx.holds() {
                let id = id.to_string();
                let claim = tx
                    .hold(
                        "refresh_tokens",
                        &["refresh_tokens", "token_families"],
                        |q| {
                            q.push(CLAIM).push_bind(now).push(WHERE).push_bind(now);
                            q.push(" AND id = ").push_bind(id).push(" RETURNING 1");
                        },
                    )
                    .await?;
                return tx.expect(
                    |q| {
                        q.push(format!("(SELECT COUNT(*) FROM {claim}) = 1"));
                    },
                    super::EXPECTED_ONE_CHANGE,
                );
            }
        }
        let claimed = on_tx!(self, |c| {
            let mut q = QueryBuilder::new(CLAIM);
            q.push_bind(now).push(WHERE).push_bind(now);
            q.push(" AND id = ").push_bind(id);
            q.build()
                .execute(&mut *c)
                .await
                .map_err(db_err)?
                .rows_affected()
        });
        if claimed == 1 {
            Ok(())
        } else {
            Err(refresh_claim_lost())
        }
    }

    /// The refresh token with this hash and its family's revocation, read inside the
    /// transaction that will rotate it.
    pub async fn find_refresh(&mut self, token_hash: &str) -> CoreResult<Option<RefreshRow>> {
        // PostgreSQL: lock both rows until commit; a concurrent refresh of the same token
        // waits here and then reads the state this one leaves. SQLite has no FOR UPDATE and
        // needs none: its transactions run one at a time on the writer connection.
        let sql = match &mut self.conn {
            TxConn::Sqlite(_) => REFRESH_SELECT.to_string(),
            TxConn::Postgres(_) => format!("{REFRESH_SELECT} FOR UPDATE"),
        };
        on_tx!(self, |c| sqlx::query_as::<_, RefreshRow>(&sql)
            .bind(token_hash)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err))
    }

    /// Marks an active token used. False when it was not active any more: somebody else
    /// rotated it first, and this presentation counts as reuse.
    pub async fn mark_refresh_used(&mut self, id: &str, now: i64) -> CoreResult<bool> {
        on_tx!(self, |c| sqlx::query(
            "UPDATE refresh_tokens SET state = 'used', used_at = $2, reason = 'rotated'
             WHERE id = $1 AND state = 'active'"
        )
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(db_err))
    }

    /// A grace-window retry of `parent`: its active successors are revoked (the retry's
    /// new token replaces them). False, and nothing changed, when a successor was already
    /// used: the family has moved on, and the retry is reuse.
    pub async fn supersede_successors(&mut self, parent: &str) -> CoreResult<bool> {
        on_tx!(self, |c| {
            let used = sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM refresh_tokens WHERE parent_id = $1 AND state = 'used'",
            )
            .bind(parent)
            .fetch_one(&mut *c)
            .await
            .map_err(db_err)?;
            if used > 0 {
                return Ok(false);
            }
            sqlx::query(
                "UPDATE refresh_tokens SET state = 'revoked', reason = $2
                         WHERE parent_id = $1 AND state = 'active'",
            )
            .bind(parent)
            .bind(crate::auth::SUPERSEDED)
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
            Ok(true)
        })
    }

    /// Revokes a family and every token in it that is still active.
    pub async fn revoke_family(
        &mut self,
        family_id: &str,
        now: i64,
        reason: &str,
    ) -> CoreResult<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE token_families SET revoked_at = $2, revoke_reason = $3
                         WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(family_id)
            .bind(now)
            .bind(reason)
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
            sqlx::query(
                "UPDATE refresh_tokens SET state = 'revoked', reason = $2
                         WHERE family_id = $1 AND state = 'active'",
            )
            .bind(family_id)
            .bind(reason)
            .execute(&mut *c)
            .await
            .map(|_| ())
            .map_err(db_err)
        })
    }

    /// Revokes every family of `subject` not yet revoked; returns how many it revoked.
    pub async fn revoke_families_of(
        &mut self,
        subject: &str,
        now: i64,
        reason: &str,
    ) -> CoreResult<u64> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE refresh_tokens SET state = 'revoked', reason = $2
                         WHERE subject = $1 AND state = 'active'",
            )
            .bind(subject)
            .bind(reason)
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
            sqlx::query(
                "UPDATE token_families SET revoked_at = $2, revoke_reason = $3
                         WHERE subject = $1 AND revoked_at IS NULL",
            )
            .bind(subject)
            .bind(now)
            .bind(reason)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
        })
    }
}
