//! What the admin dashboard needs beyond the REST API: its session (sign-in, sign-out), the
//! keyset-paged users list, a user's token lineage, and revoking a user's tokens.
//!
//! Invariants: every function here but sign-in requires an admin principal; the lineage
//! holds ids, times and states only (a refresh token or hash never leaves the store); a
//! revoked family also stops its access tokens (`authenticate_bearer` checks the family).

use base64::Engine;
use chrono::{DateTime, Utc};

use super::error::{CoreError, CoreResult, FieldErrors};
use super::management::Principal;
use super::store::{sort_value, Keyset, NewAuditRow, PageFilter, SortValue};
use super::time::{from_ms, ms};
use super::types::{format_datetime, BatchId, DeviceToken, InstanceId, UserSort, MAX_STRING};
use super::user_page::few_matches;
use super::{Core, Credentials, RequestMeta};
use tus_wire::model::LoginRequest;
use tus_wire::views::*;

pub const DEFAULT_LIST_SIZE: i64 = 50;
pub const MAX_LIST_SIZE: i64 = 200;
/// The lineage shows this many of the newest access tokens.
pub const ACCESS_TOKENS_SHOWN: i64 = 200;

fn time(at: i64) -> String {
    format_datetime(from_ms(at))
}

/// `on` / `off` (also true/false, yes/no, 1/0); empty or `any` means no filter.
fn flag_value(e: &mut FieldErrors, key: &str, v: &Option<String>) -> Option<bool> {
    match v
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "any" => None,
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => {
            e.push(key, "must be on, off or any");
            None
        }
    }
}

/// A cursor is `<DeviceToken>.<sort key>`: the key of the row it points at, as the sort
/// index holds it (milliseconds for the creation time, lower-cased text for names).
pub fn encode_cursor(key: &SortValue, device_token: &str) -> String {
    match key {
        SortValue::Int(v) => format!("{device_token}.{v}"),
        SortValue::Text(v) => format!("{device_token}.{v}"),
    }
}

fn decode_cursor(sort: UserSort, cursor: &str, backward: bool) -> Result<Keyset, String> {
    const HELP: &str = "is not a cursor of this list (start again from the first page)";
    let (token, key) = cursor.split_once('.').ok_or(HELP)?;
    let token = DeviceToken::parse(token).map_err(|_| HELP)?.to_string();
    let key = match sort {
        UserSort::DateCreated | UserSort::DateCreatedDesc => {
            SortValue::Int(key.parse().map_err(|_| HELP)?)
        }
        _ if key.chars().count() > MAX_STRING || key.chars().any(char::is_control) => {
            return Err(HELP.into())
        }
        _ => SortValue::Text(key.to_string()),
    };
    Ok(Keyset {
        key,
        device_token: token,
        backward,
    })
}

/// An export in progress: the filter and how far it got (a keyset position).
pub struct UserExport {
    filter: PageFilter,
    sort: UserSort,
    few_matches: bool,
    at: Option<Keyset>,
    done: bool,
}

/// A users-list filter as an audit entry names it (bulk actions, exports): never the search
/// text, which can be an e-mail or a phone number.
pub fn describe_list_query(q: &UserListQuery) -> String {
    let pairs: Vec<String> = [
        ("q", q.q.as_ref().map(|_| "(a search)".to_string())),
        ("instance", q.instance.clone()),
        ("status", q.status.clone()),
        ("tracking", q.tracking.clone()),
        ("logging", q.logging.clone()),
        ("sdk", q.sdk.clone()),
        ("realtime", q.realtime.clone()),
        ("batch", q.batch.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| format!("{k}={v}")))
    .collect();
    if pairs.is_empty() {
        "no filter (every active user)".into()
    } else {
        pairs.join(", ")
    }
}

/// The filter of a users-list query alone (its cursors and page size ignored).
pub fn list_filter(q: &UserListQuery) -> CoreResult<PageFilter> {
    Ok(parse_whole_list(q)?.filter)
}

/// A users-list query for the whole list: its cursors and page size ignored.
fn parse_whole_list(q: &UserListQuery) -> CoreResult<ListQuery> {
    parse_list_query(&UserListQuery {
        after: None,
        before: None,
        size: None,
        ..q.clone()
    })
}

struct ListQuery {
    filter: PageFilter,
    sort: UserSort,
    size: i64,
    at: Option<Keyset>,
}

fn parse_list_query(q: &UserListQuery) -> CoreResult<ListQuery> {
    let mut e = FieldErrors::default();
    let mut filter = PageFilter {
        words: super::user_page::search_words(&mut e, "q", q.q.as_deref()),
        ..PageFilter::default()
    };
    if let Some(id) = q.instance.as_deref().filter(|v| !v.trim().is_empty()) {
        if let Some(id) = e.take("instance", InstanceId::parse(id)) {
            filter.instances = Some(vec![id.to_string()]);
        }
    }
    match q
        .status
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "active" => {}
        "all" | "any" => filter.include_inactive = true,
        "deactivated" => {
            filter.include_inactive = true;
            filter.status = Some("Deactivated".into());
        }
        _ => e.push("status", "must be active, deactivated or all"),
    }
    if let Some(id) = q.batch.as_deref().filter(|v| !v.trim().is_empty()) {
        if let Some(id) = e.take("batch", BatchId::parse(id.trim())) {
            filter.batch = Some(id.to_string());
        }
    }
    filter.flags.enable_tracking = flag_value(&mut e, "tracking", &q.tracking);
    filter.flags.enable_logging = flag_value(&mut e, "logging", &q.logging);
    filter.flags.enabled = flag_value(&mut e, "sdk", &q.sdk);
    filter.flags.enable_real_time_location = flag_value(&mut e, "realtime", &q.realtime);
    let sort = match q.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => e.take("sort", UserSort::parse(s)),
        None => Some(UserSort::DateCreatedDesc),
    }
    .unwrap_or(UserSort::DateCreatedDesc);
    let size = q.size.unwrap_or(DEFAULT_LIST_SIZE);
    if !(1..=MAX_LIST_SIZE).contains(&size) {
        e.push("size", format!("must be between 1 and {MAX_LIST_SIZE}"));
    }
    let at = match (&q.after, &q.before) {
        (Some(_), Some(_)) => {
            e.push("before", "cannot be combined with after");
            None
        }
        (Some(c), None) => e.take("after", decode_cursor(sort, c, false)),
        (None, Some(c)) => e.take("before", decode_cursor(sort, c, true)),
        (None, None) => None,
    };
    e.into_result()?;
    Ok(ListQuery {
        filter,
        sort,
        size,
        at,
    })
}

/// The payload of a JWT, pretty-printed (the token was just minted and verified by us).
fn decoded_claims(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    serde_json::to_string_pretty(&value).ok()
}

impl Core {
    /// Dashboard sign-in: an admin's e-mail and password, throttled like `Auth/Login`.
    pub async fn admin_sign_in(
        &self,
        now: DateTime<Utc>,
        email: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> CoreResult<Credentials> {
        let mut e = FieldErrors::default();
        if email.trim().is_empty() {
            e.push("email", "is required");
        }
        if password.is_empty() {
            e.push("password", "is required");
        }
        e.into_result()?;
        let request = LoginRequest {
            login_fields: Some(serde_json::json!({ "Email": email.trim() })),
            password: Some(password.to_string()),
        };
        let credentials = self.login(now, None, request, meta).await?;
        // An e-mail and password without an instance is an admin login; never a user's.
        if credentials.device_token.is_some() {
            return Err(CoreError::unauthorized(
                super::error::CredentialKind::Login,
                "invalid credentials",
            ));
        }
        Ok(credentials)
    }

    /// Ends the session an access token belongs to: its family is revoked, so neither its
    /// refresh token nor any access token of that family works any more.
    pub async fn sign_out(
        &self,
        now: DateTime<Utc>,
        access_token: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let claims = self.tokens().verify_any_role(access_token, now, true)?;
        let Some(family) = self
            .store()
            .access_session(&claims.jti)
            .await?
            .map(|s| s.family_id)
        else {
            return Ok(());
        };
        let mut tx = self.store().begin().await?;
        tx.revoke_family(&family, ms(now), "sign-out").await?;
        tx.audit(&NewAuditRow {
            at: ms(now),
            actor: match &claims.admin_email {
                Some(email) => format!("admin:{email}"),
                None => format!("user:{}", claims.sub),
            },
            action: "session.signed_out".into(),
            target: format!("family:{family}"),
            detail: "session ended; its tokens are revoked".into(),
            client_addr: meta.client_addr.clone(),
        })
        .await?;
        tx.commit().await
    }

    /// Admin: one page of the users list, by keyset (see `UserListQuery`).
    pub async fn user_list(&self, p: &Principal, q: &UserListQuery) -> CoreResult<UserListPage> {
        p.require_admin()?;
        let q = parse_list_query(q)?;
        let (total, total_exact) = self.count_matches(&q.filter).await?;
        let few_matches = few_matches(&q.filter, total, total_exact);
        let mut rows = self
            .store()
            .user_keyset_page(&q.filter, q.sort, few_matches, q.at.as_ref(), 0, q.size + 1)
            .await?;
        let more = rows.len() as i64 > q.size;
        let backward = q.at.as_ref().is_some_and(|k| k.backward);
        if more {
            // The extra row lies beyond the page in reading direction.
            if backward {
                rows.remove(0);
            } else {
                rows.pop();
            }
        }
        let cursor = |row: &super::store::UserRow| {
            encode_cursor(&sort_value(q.sort, row), &row.device_token)
        };
        let (previous, next) = match (&q.at, more) {
            (None, _) => (None, rows.last().filter(|_| more).map(cursor)),
            (Some(k), _) if k.backward => (
                rows.first().filter(|_| more).map(cursor),
                rows.last().map(cursor),
            ),
            (Some(_), _) => (
                rows.first().map(cursor),
                rows.last().filter(|_| more).map(cursor),
            ),
        };
        let rows = self.list_rows(rows).await?;
        Ok(UserListPage {
            rows,
            next,
            previous,
            total,
            total_exact,
        })
    }

    /// Rows as the list shows them, with each user's last token activity (one query).
    async fn list_rows(&self, rows: Vec<super::store::UserRow>) -> CoreResult<Vec<UserListRow>> {
        let tokens: Vec<String> = rows.iter().map(|r| r.device_token.clone()).collect();
        let activity: std::collections::HashMap<String, i64> = self
            .store()
            .last_token_activity(&tokens)
            .await?
            .into_iter()
            .collect();
        Ok(rows
            .into_iter()
            .map(|r| UserListRow {
                last_token_activity: activity.get(&r.device_token).copied().map(time),
                date_created: time(r.date_created),
                device_token: r.device_token,
                first_name: r.first_name,
                last_name: r.last_name,
                email: r.email,
                phone: r.phone,
                client_id: r.client_id,
                instance_id: r.instance_id,
                instance_name: r.instance_name,
                status: r.status,
                enable_tracking: r.enable_tracking,
                enable_logging: r.enable_logging,
                enabled: r.enabled,
                enable_real_time_location: r.enable_real_time_location,
            })
            .collect())
    }

    /// Admin: starts an export of every user the list's filter matches (its cursors and
    /// page size are ignored); `next_export_rows` then reads it chunk by chunk.
    pub async fn start_user_export(
        &self,
        p: &Principal,
        q: &UserListQuery,
    ) -> CoreResult<UserExport> {
        p.require_admin()?;
        let q = parse_whole_list(q)?;
        let (total, exact) = self.count_matches(&q.filter).await?;
        Ok(UserExport {
            few_matches: few_matches(&q.filter, total, exact),
            filter: q.filter,
            sort: q.sort,
            at: None,
            done: false,
        })
    }

    /// The next `n` users of an export, in the list's order; empty when it is over.
    pub async fn next_export_rows(
        &self,
        ex: &mut UserExport,
        n: i64,
    ) -> CoreResult<Vec<UserListRow>> {
        if ex.done {
            return Ok(Vec::new());
        }
        let rows = self
            .store()
            .user_keyset_page(&ex.filter, ex.sort, ex.few_matches, ex.at.as_ref(), 0, n)
            .await?;
        ex.done = (rows.len() as i64) < n;
        ex.at = rows.last().map(|r| Keyset {
            key: sort_value(ex.sort, r),
            device_token: r.device_token.clone(),
            backward: false,
        });
        self.list_rows(rows).await
    }

    /// Admin: a user and its last token activity.
    pub async fn user_detail(&self, p: &Principal, device_token: &str) -> CoreResult<UserDetail> {
        p.require_admin()?;
        let token = parse_target(device_token)?;
        let user = self.user_view(token).await?;
        let last = self
            .store()
            .last_token_activity(std::slice::from_ref(&user.device_token))
            .await?;
        Ok(UserDetail {
            user,
            last_token_activity: last.first().map(|(_, at)| time(*at)),
        })
    }

    /// Admin: the lineage of a user's tokens: access tokens issued, refresh-token families
    /// with every token's state, and reuse events.
    pub async fn token_lineage(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        device_token: &str,
    ) -> CoreResult<TokenLineage> {
        p.require_admin()?;
        let subject = parse_target(device_token)?.to_string();
        let store = self.store();
        if store.find_user(&subject).await?.is_none() {
            return Err(CoreError::NotFound("no user has this DeviceToken".into()));
        }
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
                issued_at: time(a.issued_at),
                expires_at: time(a.expires_at),
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
                            state: if r.state == "active" && r.expires_at <= now {
                                "expired".into()
                            } else {
                                r.state
                            },
                            id: r.id,
                            parent_id: r.parent_id,
                            issued_at: time(r.issued_at),
                            expires_at: time(r.expires_at),
                            used_at: r.used_at.map(time),
                            reason: r.reason,
                        })
                        .collect(),
                    id: f.id,
                    origin: f.origin,
                    created_at: time(f.created_at),
                    revoked_at: f.revoked_at.map(time),
                    revoke_reason: f.revoke_reason,
                }
            })
            .collect();
        let reuse_events = store
            .audit_page(&super::store::AuditFilter {
                action: Some("refresh.reuse".into()),
                target: Some(subject.clone()),
                limit: 100,
                ..Default::default()
            })
            .await?
            .into_iter()
            .map(|a| SecurityEventView {
                at: time(a.at),
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
        device_token: &str,
        family_id: Option<&str>,
        meta: &RequestMeta,
    ) -> CoreResult<u64> {
        p.require_admin()?;
        let subject = parse_target(device_token)?.to_string();
        if self.store().find_user(&subject).await?.is_none() {
            return Err(CoreError::NotFound("no user has this DeviceToken".into()));
        }
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
        tx.audit(&NewAuditRow {
            at: ms(now),
            actor: p.actor(),
            action: "user.tokens_revoked".into(),
            target: format!("user:{subject}"),
            detail,
            client_addr: meta.client_addr.clone(),
        })
        .await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Admin: registers a user from the dashboard's form and returns the one-time answer
    /// with the access token's claims decoded.
    pub async fn register_from_dashboard(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        instance_id: &str,
        request: tus_wire::model::RegisterRequest,
        meta: &RequestMeta,
    ) -> CoreResult<RegisteredUser> {
        let c = self.register_as_admin(now, p, instance_id, request).await?;
        let device_token = c
            .device_token
            .ok_or_else(|| CoreError::internal("registration without a DeviceToken"))?
            .to_string();
        self.record(
            now,
            &p.actor(),
            "user.registered",
            &format!("user:{device_token}"),
            "registered from the dashboard",
            meta,
        )
        .await?;
        Ok(RegisteredUser {
            claims: c
                .access_token
                .as_ref()
                .and_then(|a| decoded_claims(&a.token)),
            expires_in: c.access_token.as_ref().map(|a| a.expires_in),
            access_token: c.access_token.map(|a| a.token),
            refresh_token: c.refresh_token.map(|r| r.expose().to_string()),
            device_token,
        })
    }

    /// Admin: the instances to choose from in forms.
    pub async fn instance_choices(&self, p: &Principal) -> CoreResult<Vec<InstanceChoice>> {
        p.require_admin()?;
        Ok(self
            .store()
            .instance_names()
            .await?
            .into_iter()
            .map(|(id, name, status)| InstanceChoice {
                active: status == "Active",
                id,
                name,
            })
            .collect())
    }
}

fn parse_target(device_token: &str) -> CoreResult<DeviceToken> {
    DeviceToken::parse(device_token.trim())
        .map_err(|_| CoreError::NotFound("no user has this DeviceToken".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Password;
    use crate::testing::{admin, at, fleet, test_core, TestCore};
    use tus_wire::model::{RefreshRequest, RegisterRequest};

    async fn list(t: &TestCore, q: UserListQuery) -> UserListPage {
        t.core.user_list(&admin(), &q).await.unwrap()
    }

    fn last_names(p: &UserListPage) -> Vec<String> {
        p.rows
            .iter()
            .map(|r| r.last_name.clone().unwrap_or_default())
            .collect()
    }

    #[tokio::test]
    async fn keyset_pages_walk_every_sort_forward_and_back() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        // Mixed case, a missing name and e-mail, and equal keys: ties go by DeviceToken.
        let people = [
            ("ann", Some("a@x.io")),
            ("Bob", None),
            ("bob", Some("b@x.io")),
            ("", Some("c@x.io")),
            ("Émile", Some("e@x.io")),
            ("Zed", Some("z@x.io")),
            ("carl", Some("D@x.io")),
        ];
        for (n, (last, email)) in people.iter().enumerate() {
            let req = RegisterRequest {
                last_name: (!last.is_empty()).then(|| last.to_string()),
                email: email.map(String::from),
                create_access_token: Some(false),
                ..Default::default()
            };
            // Two users per second: equal creation times too.
            t.core
                .register(
                    at(n as i64 / 2),
                    &i.credentials(),
                    req,
                    &crate::RequestMeta::default(),
                )
                .await
                .unwrap();
        }
        for sort in [
            "DateCreatedDesc",
            "DateCreated",
            "LastName",
            "LastNameDesc",
            "Email",
            "EmailDesc",
            "FirstName",
        ] {
            let base = UserListQuery {
                sort: Some(sort.into()),
                ..Default::default()
            };
            let all = list(
                &t,
                UserListQuery {
                    size: Some(200),
                    ..base.clone()
                },
            )
            .await;
            assert_eq!(all.rows.len(), 7);
            let mut walked = Vec::new();
            let mut page = list(
                &t,
                UserListQuery {
                    size: Some(3),
                    ..base.clone()
                },
            )
            .await;
            assert!(page.previous.is_none(), "{sort}");
            let mut pages = vec![page.clone()];
            while let Some(next) = page.next.clone() {
                walked.extend(page.rows.clone());
                page = list(
                    &t,
                    UserListQuery {
                        size: Some(3),
                        after: Some(next),
                        ..base.clone()
                    },
                )
                .await;
                pages.push(page.clone());
            }
            walked.extend(page.rows.clone());
            assert_eq!(walked, all.rows, "{sort} forward");
            assert_eq!(pages.len(), 3, "{sort}");
            // And back from the last page, page by page, to the first.
            let mut back = pages.last().unwrap().clone();
            for expected in pages.iter().rev().skip(1) {
                let before = back.previous.clone().expect("a previous page");
                back = list(
                    &t,
                    UserListQuery {
                        size: Some(3),
                        before: Some(before),
                        ..base.clone()
                    },
                )
                .await;
                assert_eq!(back.rows, expected.rows, "{sort} backward");
            }
            assert!(
                back.previous.is_none(),
                "{sort}: the first page has no previous"
            );
        }
        let by_name = list(
            &t,
            UserListQuery {
                sort: Some("LastName".into()),
                ..Default::default()
            },
        )
        .await;
        // Case is folded (ASCII), equal keys tie on the DeviceToken; a missing name sorts first.
        let folded: Vec<String> = last_names(&by_name)
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect();
        assert_eq!(folded[..4], ["", "ann", "bob", "bob"]);
    }

    #[tokio::test]
    async fn the_list_filters_by_status_and_flags_and_counts_them() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        for (n, (tracking, status)) in [(true, "Active"), (false, "Active"), (true, "Deactivated")]
            .iter()
            .enumerate()
        {
            let req = RegisterRequest {
                last_name: Some(format!("U{n}")),
                status: Some(status.to_string()),
                user_fields: Some(tus_wire::model::UserFieldsInput {
                    enable_tracking: Some(*tracking),
                    ..Default::default()
                }),
                ..Default::default()
            };
            t.core
                .register(
                    at(n as i64),
                    &i.credentials(),
                    req,
                    &crate::RequestMeta::default(),
                )
                .await
                .unwrap();
        }
        let q = |status: &str, tracking: &str| UserListQuery {
            status: Some(status.into()),
            tracking: Some(tracking.into()),
            sort: Some("LastName".into()),
            ..Default::default()
        };
        let cases = [
            (q("", ""), vec!["U0", "U1"]),
            (q("all", ""), vec!["U0", "U1", "U2"]),
            (q("deactivated", ""), vec!["U2"]),
            (q("all", "on"), vec!["U0", "U2"]),
            (q("active", "off"), vec!["U1"]),
        ];
        for (query, expected) in cases {
            let p = list(&t, query.clone()).await;
            assert_eq!(last_names(&p), expected, "{query:?}");
            assert_eq!(p.total, expected.len() as i64, "{query:?}");
            assert!(p.total_exact);
        }
        let bad = t
            .core
            .user_list(
                &admin(),
                &UserListQuery {
                    size: Some(0),
                    status: Some("gone".into()),
                    ..Default::default()
                },
            )
            .await;
        let Err(CoreError::Validation(fields)) = bad else {
            panic!("{bad:?}")
        };
        let keys: Vec<_> = fields.0.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["status", "size"]);
        let user = Principal::User(Box::new(
            t.core
                .store()
                .find_user(&p_first(&t).await)
                .await
                .unwrap()
                .unwrap()
                .try_into()
                .unwrap(),
        ));
        assert!(matches!(
            t.core.user_list(&user, &UserListQuery::default()).await,
            Err(CoreError::Forbidden(_))
        ));
    }

    #[tokio::test]
    async fn a_large_unfiltered_total_comes_exact_from_the_counters() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        let many = tus_wire::model::CreateManyRequest {
            quantity: Some(10_000),
            create_access_token: Some(false),
            ..Default::default()
        };
        let meta = RequestMeta::default();
        t.core
            .register_many(at(0), &i.credentials(), many, &meta)
            .await
            .unwrap();
        t.core
            .register(
                at(1),
                &i.credentials(),
                RegisterRequest::default(),
                &crate::RequestMeta::default(),
            )
            .await
            .unwrap();
        let deactivated_tracking_off = RegisterRequest {
            status: Some("Deactivated".into()),
            user_fields: Some(tus_wire::model::UserFieldsInput {
                enable_tracking: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        t.core
            .register(
                at(2),
                &i.credentials(),
                deactivated_tracking_off,
                &crate::RequestMeta::default(),
            )
            .await
            .unwrap();
        let all = list(&t, UserListQuery::default()).await;
        assert_eq!((all.total, all.total_exact), (10_001, true));
        // One flag, or a status, the counters total as well.
        let tracking = UserListQuery {
            tracking: Some("on".into()),
            ..Default::default()
        };
        let on = list(&t, tracking.clone()).await;
        assert_eq!((on.total, on.total_exact), (10_001, true));
        let off = UserListQuery {
            tracking: Some("off".into()),
            ..Default::default()
        };
        assert_eq!(list(&t, off.clone()).await.total, 0, "active ones only");
        let off_any_status = UserListQuery {
            status: Some("all".into()),
            ..off
        };
        let off = list(&t, off_any_status).await;
        assert_eq!((off.total, off.total_exact, off.rows.len()), (1, true, 1));
        let deactivated = UserListQuery {
            status: Some("deactivated".into()),
            ..Default::default()
        };
        let one = list(&t, deactivated).await;
        assert_eq!((one.total, one.total_exact, one.rows.len()), (1, true, 1));
        // Two flags at once the counters cannot total: counted up to the cap, and says so.
        let two = list(
            &t,
            UserListQuery {
                sdk: Some("on".into()),
                ..tracking
            },
        )
        .await;
        assert_eq!((two.total, two.total_exact), (10_000, false));
    }

    async fn p_first(t: &TestCore) -> String {
        list(t, UserListQuery::default()).await.rows[0]
            .device_token
            .clone()
    }

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
                RefreshRequest {
                    access_token: Some(c.access_token.unwrap().token),
                    refresh_token: Some(c.refresh_token.unwrap().expose().to_string()),
                },
                &meta,
            )
            .await
            .unwrap();
        let lineage = t.core.token_lineage(at(120), &admin(), &dt).await.unwrap();
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
            .revoke_user_tokens(at(140), &admin(), &dt, Some(&family), &meta)
            .await
            .unwrap();
        assert_eq!(n, 1);
        let after = t.core.token_lineage(at(150), &admin(), &dt).await.unwrap();
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
            .revoke_user_tokens(at(170), &admin(), &other_dt, Some(&family), &meta)
            .await;
        assert!(matches!(wrong, Err(CoreError::NotFound(_))), "{wrong:?}");
        assert_eq!(
            t.core
                .revoke_user_tokens(at(180), &admin(), &other_dt, None, &meta)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            t.core
                .revoke_user_tokens(at(190), &admin(), &other_dt, None, &meta)
                .await
                .unwrap(),
            0
        );
        // Expired tokens say so.
        let later = t
            .core
            .token_lineage(at(60 * 60 * 24 * 30), &admin(), &other_dt)
            .await
            .unwrap();
        assert!(later.access_tokens.iter().all(|a| a.expired));
    }

    #[tokio::test]
    async fn sign_out_ends_only_its_own_session() {
        let t = test_core(|_| {}).await;
        let p = Password::new("long enough password");
        t.core.create_admin(at(0), "boss@x.io", &p).await.unwrap();
        let meta = RequestMeta::default();
        let a = t
            .core
            .admin_sign_in(at(1), "boss@x.io", p.expose(), &meta)
            .await
            .unwrap();
        let b = t
            .core
            .admin_sign_in(at(2), "boss@x.io", p.expose(), &meta)
            .await
            .unwrap();
        let (a, b) = (a.access_token.unwrap().token, b.access_token.unwrap().token);
        t.core.sign_out(at(3), &a, &meta).await.unwrap();
        assert!(t.core.authenticate_bearer(at(4), Some(&a)).await.is_err());
        assert!(t
            .core
            .authenticate_bearer(at(4), Some(&b))
            .await
            .unwrap()
            .is_admin());
        let wrong = t
            .core
            .admin_sign_in(at(5), "boss@x.io", "nope", &meta)
            .await;
        assert!(
            matches!(wrong, Err(CoreError::Unauthorized { .. })),
            "{wrong:?}"
        );
    }
}
