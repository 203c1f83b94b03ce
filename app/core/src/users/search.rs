//! Finding users: `GetFilteredPage` (pages by number, the original API), the dashboard's list
//! (pages by keyset cursor), its CSV export (keyset chunks, never the whole list in memory)
//! and `find` (exact filters, ANDed). One filter type (`PageFilter`) serves them all, and one
//! counting rule:
//!
//! Counting: triggers keep `user_counts` (users per instance, status and UTC day, and of
//! those how many have each flag on). A page filtered only by instance, application,
//! company, status, registration time and at most one flag (the dashboard's filters) totals
//! those rows, and counts directly at most the two partial days a time range cuts. A page
//! with a search term, country, city, batch or two flags counts its matches directly, up to
//! `SEARCH_COUNT_CAP`; past that `TotalUsers` is the cap and `TotalUsersExact` false.
//! `HasNextPage` is always exact: the page query asks for one row more than it shows.

use chrono::{DateTime, Duration, Utc};
use tus_wire::views::Action;

use crate::error::{CoreResult, FieldErrors};
use crate::principal::Principal;
use crate::store::{sort_value, Keyset, PageFilter, SearchWord, SortValue};
use crate::time::{iso, ms};
use crate::types::ActivityStatus;
use crate::types::{
    parse_datetime, ApplicationId, BatchId, CompanyId, DeviceToken, Email, Flag, InstanceId, Phone,
    UserSort, MAX_STRING,
};
use crate::users::user_view;
use crate::Core;
use tus_wire::model::{UserPageRequest, UserPageView, UserView};
use tus_wire::views::{UserListPage, UserListQuery, UserListRow};

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 500;
/// A search counts at most this many matches.
pub const SEARCH_COUNT_CAP: i64 = 10_000;
/// Pages past this one are refused (the offset would be absurd, and overflow `i64`).
pub const MAX_PAGE_NUMBER: i64 = 1_000_000;
const DAY_MS: i64 = 86_400_000;

/// A date alone (`2026-01-31`): as an upper bound it includes that whole day.
fn is_date_only(input: &str) -> bool {
    let s = input.trim();
    s.len() == 10 && !s.contains(['T', ' '])
}

/// The ids of one scope list, each parsed as a UUID and kept lower case.
fn parse_ids(
    e: &mut FieldErrors,
    key: &str,
    ids: &Option<Vec<String>>,
    parse: fn(&str) -> Result<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, id) in ids.iter().flatten().enumerate() {
        if let Some(id) = e.take(&format!("{key}[{i}]"), parse(id)) {
            out.push(id);
        }
    }
    if out.len() > 1000 {
        e.push(key, "must list at most 1000 ids");
    }
    out
}

/// Search words: split on white space, ASCII lower-cased (as SQL `lower()` folds); errors
/// go to `key` (`SearchTerm` in the API, `q` in the dashboard).
pub(crate) fn search_words(e: &mut FieldErrors, key: &str, term: Option<&str>) -> Vec<SearchWord> {
    let Some(term) = e.text(key, term) else {
        return Vec::new();
    };
    let words: Vec<SearchWord> = term
        .split_whitespace()
        .map(|w| SearchWord {
            folded: w.to_ascii_lowercase(),
            as_sent: w.to_string(),
        })
        .collect();
    if words.len() > 8 {
        e.push(key, "must have at most 8 words");
    }
    words
}

/// Activity statuses to filter by (`None`: no filter; an empty list matches nobody).
fn activity_filter<'a>(
    e: &mut FieldErrors,
    key: &str,
    values: impl Iterator<Item = &'a str>,
) -> Option<Vec<ActivityStatus>> {
    let values: Vec<&str> = values.filter(|v| !v.trim().is_empty()).collect();
    if values.is_empty() {
        return None;
    }
    if values.len() > 8 {
        e.push(key, "must list at most 8 statuses");
    }
    let mut out = Vec::new();
    for (i, v) in values.iter().take(8).enumerate() {
        let k = if key.ends_with("es") {
            format!("{key}[{i}]")
        } else {
            key.to_string()
        };
        if let Some(Some(s)) = e.take(&k, ActivityStatus::parse_filter(v)) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    Some(out)
}

/// Narrows a filter to activity statuses: asking for deactivated users includes them.
fn set_activity(filter: &mut PageFilter, statuses: Option<Vec<ActivityStatus>>) {
    if statuses
        .as_ref()
        .is_some_and(|s| s.contains(&ActivityStatus::Deactivated))
    {
        filter.include_inactive = true;
    }
    filter.activity = statuses;
    filter.now = ms(Core::now());
}

/// A filter compared ignoring ASCII case.
fn optional_text(e: &mut FieldErrors, key: &str, v: &Option<String>) -> Option<String> {
    e.text(key, v.as_deref()).map(|v| v.to_ascii_lowercase())
}

/// A validated page request.
struct PageQuery {
    page: i64,
    size: i64,
    sort: UserSort,
    instance_ids: Vec<String>,
    application_ids: Vec<String>,
    company_ids: Vec<String>,
    filter: PageFilter,
}

fn parse_request(req: &UserPageRequest) -> CoreResult<PageQuery> {
    let mut e = FieldErrors::default();
    let page = req.page_number.unwrap_or(1);
    if !(1..=MAX_PAGE_NUMBER).contains(&page) {
        e.push(
            "PageNumber",
            format!("must be between 1 and {MAX_PAGE_NUMBER}"),
        );
    }
    let size = req.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        e.push("PageSize", format!("must be between 1 and {MAX_PAGE_SIZE}"));
    }
    let sort = match req.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => e.take("Sort", UserSort::parse(s)),
        None => Some(UserSort::DateCreatedDesc),
    };
    let time = |e: &mut FieldErrors, key: &str, v: &Option<String>| -> Option<DateTime<Utc>> {
        let v = v.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        e.take(key, parse_datetime(v))
    };
    let from = time(&mut e, "DateCreatedFrom", &req.date_created_from);
    // Inclusive: a date means through its end, a datetime through that millisecond.
    let to = time(&mut e, "DateCreatedTo", &req.date_created_to).map(|t| {
        let date_only = req.date_created_to.as_deref().is_some_and(is_date_only);
        t + if date_only {
            Duration::days(1)
        } else {
            Duration::milliseconds(1)
        }
    });
    // A window that ends before it starts is valid and matches no one (as in SQL): the API
    // document cannot say "not before DateCreatedFrom", so the server does not demand it.
    let instance_ids = parse_ids(&mut e, "InstanceIds", &req.instance_ids, |s| {
        InstanceId::parse(s).map(|v| v.to_string())
    });
    let application_ids = parse_ids(&mut e, "ApplicationIds", &req.application_ids, |s| {
        ApplicationId::parse(s).map(|v| v.to_string())
    });
    let company_ids = parse_ids(&mut e, "CompanyIds", &req.company_ids, |s| {
        CompanyId::parse(s).map(|v| v.to_string())
    });
    let words = search_words(&mut e, "SearchTerm", req.search_term.as_deref());
    let country = optional_text(&mut e, "Country", &req.country);
    let city = optional_text(&mut e, "City", &req.city);
    let activity = activity_filter(
        &mut e,
        "ActivityStatuses",
        req.activity_statuses.iter().flatten().map(String::as_str),
    );
    e.into_result()?;
    let mut filter = PageFilter {
        instances: None,
        include_inactive: req.show_inactive_users.unwrap_or(false),
        from: from.map(ms),
        to: to.map(ms),
        words,
        country,
        city,
        ..PageFilter::default()
    };
    set_activity(&mut filter, activity);
    Ok(PageQuery {
        page,
        size,
        sort: sort.unwrap_or(UserSort::DateCreatedDesc),
        instance_ids,
        application_ids,
        company_ids,
        filter,
    })
}

impl Core {
    /// Admin: one page of users matching every filter given.
    pub async fn user_page(
        &self,
        principal: &Principal,
        req: UserPageRequest,
    ) -> CoreResult<UserPageView> {
        principal.allow(Action::ReadUsers)?;
        let mut q = parse_request(&req)?;
        let empty_page = |q: &PageQuery| UserPageView {
            users: Vec::new(),
            has_previous_page: q.page > 1,
            has_next_page: false,
            total_users: 0,
            total_pages: 0,
            current_page: q.page,
            total_users_exact: true,
        };
        if !(q.instance_ids.is_empty() && q.application_ids.is_empty() && q.company_ids.is_empty())
        {
            let scope = self
                .store()
                .instance_scope(&q.instance_ids, &q.application_ids, &q.company_ids)
                .await?;
            if scope.is_empty() {
                return Ok(empty_page(&q));
            }
            q.filter.instances = Some(scope);
        }
        q.filter.instances = principal.narrow(q.filter.instances.take());
        let (counted, exact) = self.count_matches(&q.filter).await?;
        let offset = (q.page - 1) * q.size;
        let few_matches = self
            .few_matches(&q.filter, counted, exact, offset + q.size)
            .await?;
        let mut rows = self
            .store()
            .user_page(&q.filter, q.sort, few_matches, offset, q.size + 1)
            .await?;
        let has_next_page = rows.len() as i64 > q.size;
        rows.truncate(q.size as usize);
        // Users registered between the two queries must not make the page contradict itself.
        let seen = offset + rows.len() as i64 + i64::from(has_next_page);
        let total_users = if rows.is_empty() && !has_next_page {
            counted
        } else {
            counted.max(seen)
        };
        Ok(UserPageView {
            users: rows
                .into_iter()
                .map(|r| user_view(r, q.filter.now))
                .collect(),
            has_previous_page: q.page > 1,
            has_next_page,
            total_users,
            total_pages: (total_users + q.size - 1) / q.size,
            current_page: q.page,
            total_users_exact: exact,
        })
    }

    /// The number of users a page filter matches, and whether it is exact (it is whenever the
    /// counters can total the filter, else up to `SEARCH_COUNT_CAP`).
    pub(crate) async fn count_matches(&self, f: &PageFilter) -> CoreResult<(i64, bool)> {
        let store = self.store();
        if f.countable_by_activity() {
            let totals = store.activity_totals(f.instances.as_deref(), f.now).await?;
            let wanted = f.activity.iter().flatten();
            let n = wanted
                .map(|s| {
                    let i = ActivityStatus::ALL.iter().position(|a| a == s).unwrap_or(0);
                    totals[i]
                })
                .sum();
            return Ok((n, true));
        }
        if !f.countable_by_counters() {
            let n = store.count_users(f, SEARCH_COUNT_CAP + 1).await?;
            return Ok((n.min(SEARCH_COUNT_CAP), n <= SEARCH_COUNT_CAP));
        }
        // Whole days from the counters; the cut days at either end counted directly.
        let first_full_day = f
            .from
            .map(|t| t.div_euclid(DAY_MS) + i64::from(t.rem_euclid(DAY_MS) != 0));
        let end_full_day = f.to.map(|t| t.div_euclid(DAY_MS));
        if let (Some(a), Some(b)) = (first_full_day, end_full_day) {
            if a >= b {
                // The range lies within two cut days: bounded, count it directly.
                return Ok((store.count_users(f, i64::MAX).await?, true));
            }
        }
        let mut total = store
            .sum_user_counts(f, first_full_day, end_full_day)
            .await?;
        if let (Some(from), Some(day)) = (f.from, first_full_day) {
            if from != day * DAY_MS {
                let head = PageFilter {
                    to: Some(day * DAY_MS),
                    ..f.clone()
                };
                total += store.count_users(&head, i64::MAX).await?;
            }
        }
        if let (Some(to), Some(day)) = (f.to, end_full_day) {
            if to != day * DAY_MS {
                let tail = PageFilter {
                    from: Some(day * DAY_MS),
                    ..f.clone()
                };
                total += store.count_users(&tail, i64::MAX).await?;
            }
        }
        Ok((total, true))
    }
}

/// Finding a match through the filter's own indexes and sorting it costs about as much as
/// this many rows walked along a sort index (measured by the page bench at 10^6 users).
const FETCH_COST: i64 = 10;

impl Core {
    /// Whether a filter's matches are few enough to be found by its own conditions and
    /// sorted, rather than by walking the sort index until `needed` rows are found (see
    /// `Store::user_page`). Walking reads about `needed × users / counted` rows, fetching
    /// `counted` at `FETCH_COST` each: 7,500 deactivated users of one instance are walked
    /// past faster than fetched, one e-mail is fetched.
    pub(crate) async fn few_matches(
        &self,
        f: &PageFilter,
        counted: i64,
        exact: bool,
        needed: i64,
    ) -> CoreResult<bool> {
        if !(f.narrows() && exact && counted <= SEARCH_COUNT_CAP) {
            return Ok(false);
        }
        let (active, deactivated) = self.store().users_by_status(None).await?;
        Ok(counted.saturating_mul(counted).saturating_mul(FETCH_COST)
            <= needed.max(1).saturating_mul(active + deactivated))
    }
}

pub const DEFAULT_LIST_SIZE: i64 = 50;

pub const MAX_LIST_SIZE: i64 = 200;

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

/// A cursor is `<seq>.<sort key>`: the row it points at, as the sort index holds it (its
/// place in creation order, then milliseconds for times, lower-cased text for names).
pub fn encode_cursor(key: &SortValue, seq: i64) -> String {
    match key {
        SortValue::Int(v) => format!("{seq}.{v}"),
        SortValue::Text(v) => format!("{seq}.{v}"),
    }
}

fn decode_cursor(sort: UserSort, cursor: &str, backward: bool) -> Result<Keyset, String> {
    const HELP: &str = "is not a cursor of this list (start again from the first page)";
    let (seq, key) = cursor.split_once('.').ok_or(HELP)?;
    if !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HELP.into());
    }
    let seq = seq.parse::<i64>().map_err(|_| HELP)?;
    let key = match sort {
        UserSort::DateCreated | UserSort::DateCreatedDesc => {
            SortValue::Int(key.parse().map_err(|_| HELP)?)
        }
        _ if key.chars().count() > MAX_STRING || key.chars().any(char::is_control) => {
            return Err(HELP.into())
        }
        _ => SortValue::Text(key.to_string()),
    };
    Ok(Keyset { key, seq, backward })
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
        words: crate::users::search::search_words(&mut e, "q", q.q.as_deref()),
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
    for flag in Flag::ALL {
        let value = flag_value(&mut e, flag.key(), flag.filter_in(q));
        filter.flags.set(flag, value);
    }
    let activity = activity_filter(
        &mut e,
        "activity",
        q.activity.as_deref().unwrap_or("").split(','),
    );
    if activity.is_some() && filter.status.is_some() {
        e.push("activity", "cannot be combined with a status");
    }
    set_activity(&mut filter, activity);
    filter.os = optional_text(&mut e, "os", &q.os);
    filter.sdk_prefix = e.text("sdk_version", q.sdk_version.as_deref());
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

/// The query of `GET /v1/Management/users/find` (values as sent).
#[derive(Debug, Clone, Default)]
pub struct FindQuery {
    pub device_token: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub client_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    pub country: Option<String>,
    pub show_inactive_users: bool,
}

/// Most users one `find` answers (the newest first).
pub const FIND_LIMIT: i64 = 500;

/// Every way to split a full name into a first and a last name.
fn name_splits(full: &str) -> Vec<(String, String)> {
    let words: Vec<&str> = full.split_whitespace().collect();
    (1..words.len())
        .map(|i| (words[..i].join(" "), words[i..].join(" ")))
        .collect()
}

impl Core {
    /// Admin: one page of the users list, by keyset (see `UserListQuery`).
    pub async fn user_list(&self, p: &Principal, q: &UserListQuery) -> CoreResult<UserListPage> {
        p.allow(Action::ReadUsers)?;
        let mut q = parse_list_query(q)?;
        q.filter.instances = p.narrow(q.filter.instances.take());
        let (total, total_exact) = self.count_matches(&q.filter).await?;
        let few_matches = self
            .few_matches(&q.filter, total, total_exact, q.size)
            .await?;
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
        let cursor = |row: &crate::store::UserRow| encode_cursor(&sort_value(q.sort, row), row.seq);
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
        let rows = self.list_rows(rows, q.filter.now).await?;
        Ok(UserListPage {
            rows,
            next,
            previous,
            total,
            total_exact,
        })
    }

    /// Rows as the list shows them, with each user's last token activity (one query).
    async fn list_rows(
        &self,
        rows: Vec<crate::store::UserRow>,
        now: i64,
    ) -> CoreResult<Vec<UserListRow>> {
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
                last_token_activity: activity.get(&r.device_token).copied().map(iso),
                activity_status: ActivityStatus::of_row(&r, now).as_str().to_string(),
                last_activity: r.last_activity_at.map(iso),
                flags_pending: crate::activity::flags_pending(&r),
                os_type: r.os_type.clone(),
                sdk_version: r.sdk_version.clone(),
                date_created: iso(r.date_created),
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
        p.allow(Action::ReadUsers)?;
        let mut q = parse_whole_list(q)?;
        q.filter.instances = p.narrow(q.filter.instances.take());
        let (total, exact) = self.count_matches(&q.filter).await?;
        Ok(UserExport {
            few_matches: self.few_matches(&q.filter, total, exact, total).await?,
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
            seq: r.seq,
            backward: false,
        });
        self.list_rows(rows, ex.filter.now).await
    }

    /// Admin: users matching every filter given (at least one), newest first.
    pub async fn find_users(
        &self,
        principal: &Principal,
        q: FindQuery,
    ) -> CoreResult<Vec<UserView>> {
        principal.allow(Action::ReadUsers)?;
        let mut e = FieldErrors::default();
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let mut filter = crate::store::UserFilter {
            device_token: given(&q.device_token)
                .and_then(|v| e.take("DeviceToken", DeviceToken::parse(&v)))
                .map(|d| d.to_string()),
            email: given(&q.email)
                .and_then(|v| e.take("Email", Email::parse(&v)))
                .map(|v| v.as_str().to_string()),
            phone: given(&q.phone)
                .and_then(|v| e.take("Phone", Phone::parse(&v)))
                .map(|v| v.as_str().to_string()),
            client_id: e.text("ClientId", q.client_id.as_deref()),
            first_name: e.text("FirstName", q.first_name.as_deref()),
            last_name: e.text("LastName", q.last_name.as_deref()),
            full_name: Vec::new(),
            country: e.text("Country", q.country.as_deref()),
            include_inactive: q.show_inactive_users,
            instances: principal.narrow(None),
            limit: FIND_LIMIT,
        };
        if let Some(full) = e.text("FullName", q.full_name.as_deref()) {
            filter.full_name = name_splits(&full);
            if filter.full_name.is_empty() {
                e.push("FullName", "must have a first and a last name");
            }
        }
        let any = filter.device_token.is_some()
            || filter.email.is_some()
            || filter.phone.is_some()
            || filter.client_id.is_some()
            || filter.first_name.is_some()
            || filter.last_name.is_some()
            || !filter.full_name.is_empty()
            || filter.country.is_some();
        if !any && e.is_empty() {
            e.push("", "give at least one filter: DeviceToken, Email, Phone, ClientId, FirstName, LastName, FullName or Country");
        }
        e.into_result()?;
        let now = ms(Core::now());
        Ok(self
            .store()
            .find_users(&filter)
            .await?
            .into_iter()
            .map(|r| user_view(r, now))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instances::Instance;
    use crate::testing::{admin, at, fleet, test_core, TestCore};
    use crate::CoreError;
    use crate::RequestMeta;
    use tus_wire::model::{RegisterRequest, UpdateUserRequest};

    /// Registers `first last` at `when`; returns the DeviceToken.
    async fn user(
        t: &TestCore,
        i: &Instance,
        when: DateTime<Utc>,
        first: &str,
        last: &str,
    ) -> String {
        let req = RegisterRequest {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            email: Some(format!(
                "{}.{}@x.io",
                first.to_lowercase(),
                last.to_lowercase()
            )),
            create_access_token: Some(false),
            ..Default::default()
        };
        let c = t
            .core
            .register(when, &i.credentials(), req, &crate::RequestMeta::default())
            .await
            .unwrap();
        c.device_token.unwrap().to_string()
    }

    fn names(p: &UserPageView) -> Vec<String> {
        p.users
            .iter()
            .map(|u| u.user_profile.last_name.clone().unwrap_or_default())
            .collect()
    }

    async fn page(t: &TestCore, req: UserPageRequest) -> UserPageView {
        t.core.user_page(&admin(), req).await.unwrap()
    }

    /// Every filter the counters total (instances, status, one flag, a time range cutting
    /// days) gives the same number as counting the users themselves.
    #[tokio::test]
    async fn counter_totals_equal_direct_counts_for_every_countable_filter() {
        use crate::store::FlagFilter;
        use tus_wire::model::UserFieldsInput;

        let t = test_core(|_| {}).await;
        let a = t.core.create_instance(at(0), None, "A", "").await.unwrap();
        let b = t.core.create_instance(at(0), None, "B", "").await.unwrap();
        // 24 users over four days (and hours within them), mixed flags and statuses.
        for n in 0..24i64 {
            let req = RegisterRequest {
                status: Some(if n % 5 == 0 { "Deactivated" } else { "Active" }.into()),
                user_fields: Some(UserFieldsInput {
                    enable_tracking: Some(n % 2 == 0),
                    enable_logging: Some(n % 3 == 0),
                    enabled: Some(n % 4 != 0),
                    enable_real_time_location: Some(n % 7 == 0),
                    ..Default::default()
                }),
                create_access_token: Some(false),
                ..Default::default()
            };
            let i = if n % 3 == 1 { &b } else { &a };
            let when = at(86_400 * (n % 4) + 3_600 * n);
            t.core
                .register(when, &i.credentials(), req, &crate::RequestMeta::default())
                .await
                .unwrap();
        }
        let one_flag = |k: usize, v: bool| {
            let mut f = FlagFilter::default();
            f.set(Flag::ALL[k], Some(v));
            f
        };
        let mut flags = vec![FlagFilter::default()];
        for k in 0..4 {
            flags.extend([one_flag(k, true), one_flag(k, false)]);
        }
        let day = |d: i64| ms(at(86_400 * d));
        let ranges = [
            (None, None),
            (Some(day(1)), None),
            (Some(day(1) + 5_000_000), Some(day(3) + 1_000)),
            (None, Some(day(2))),
            (Some(day(2) + 1), Some(day(2) + 80_000_000)),
        ];
        let statuses = [
            (false, None),
            (true, None),
            (true, Some("Deactivated")),
            (true, Some("Active")),
        ];
        let scopes = [
            None,
            Some(vec![a.id.to_string()]),
            Some(vec![b.id.to_string()]),
        ];
        let mut checked = 0;
        for instances in &scopes {
            for (include_inactive, status) in statuses {
                for flags in &flags {
                    for (from, to) in ranges {
                        let f = PageFilter {
                            instances: instances.clone(),
                            include_inactive,
                            status: status.map(String::from),
                            flags: *flags,
                            from,
                            to,
                            ..Default::default()
                        };
                        assert!(f.countable_by_counters());
                        let direct = t.core.store().count_users(&f, i64::MAX).await.unwrap();
                        let counted = t.core.count_matches(&f).await.unwrap();
                        assert_eq!(counted, (direct, true), "{f:?}");
                        checked += i64::from(direct > 0);
                    }
                }
            }
        }
        assert!(checked > 300, "most combinations match someone: {checked}");
    }

    #[tokio::test]
    async fn pages_sort_and_total_without_counting_rows() {
        let t = test_core(|_| {}).await;
        let fleet = t
            .core
            .create_instance(at(0), None, "Fleet", "")
            .await
            .unwrap();
        for (n, last) in ["Baker", "adams", "Clark", "Davis", "Evans"]
            .iter()
            .enumerate()
        {
            user(&t, &fleet, at(n as i64 * 60), "Ann", last).await;
        }
        let first = page(
            &t,
            UserPageRequest {
                page_size: Some(2),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(names(&first), ["Evans", "Davis"], "newest first by default");
        assert_eq!(
            (first.total_users, first.total_pages, first.current_page),
            (5, 3, 1)
        );
        assert!(first.has_next_page && !first.has_previous_page && first.total_users_exact);

        let last = page(
            &t,
            UserPageRequest {
                page_size: Some(2),
                page_number: Some(3),
                sort: Some("lastname".into()),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(names(&last), ["Evans"]);
        assert!(!last.has_next_page && last.has_previous_page);

        let sorted = |sort: &'static str| {
            let t = &t;
            async move {
                let req = UserPageRequest {
                    sort: Some(sort.into()),
                    ..Default::default()
                };
                names(&page(t, req).await)
            }
        };
        assert_eq!(
            sorted("LastName").await,
            ["adams", "Baker", "Clark", "Davis", "Evans"],
            "case ignored"
        );
        assert_eq!(
            sorted("LastNameDesc").await,
            ["Evans", "Davis", "Clark", "Baker", "adams"]
        );
        assert_eq!(sorted("DateCreated").await[0], "Baker");
        assert_eq!(sorted("EmailDesc").await[0], "Evans");
        assert_eq!(sorted("firstname").await.len(), 5);

        let past = page(
            &t,
            UserPageRequest {
                page_number: Some(9),
                ..Default::default()
            },
        )
        .await;
        assert!(past.users.is_empty() && past.has_previous_page && !past.has_next_page);
        assert_eq!(past.total_users, 5);
    }

    #[tokio::test]
    async fn counters_follow_status_moves_and_deletes() {
        let t = test_core(|_| {}).await;
        let a = t.core.create_instance(at(0), None, "A", "").await.unwrap();
        let b = t.core.create_instance(at(0), None, "B", "").await.unwrap();
        let x = user(&t, &a, at(10), "Xena", "One").await;
        let y = user(&t, &a, at(20), "Yann", "Two").await;
        user(&t, &b, at(30), "Zoe", "Three").await;
        let in_a = || UserPageRequest {
            instance_ids: Some(vec![a.id.to_string().to_uppercase()]),
            ..Default::default()
        };
        assert_eq!(page(&t, in_a()).await.total_users, 2);

        let meta = RequestMeta::default();
        let deactivate = UpdateUserRequest {
            status: Some("Deactivated".into()),
            ..Default::default()
        };
        let x_token = crate::types::DeviceToken::parse(&x).unwrap();
        t.core
            .update_user(
                at(40),
                &admin(),
                x_token,
                deactivate.try_into().unwrap(),
                &meta,
            )
            .await
            .unwrap();
        assert_eq!(
            page(&t, in_a()).await.total_users,
            1,
            "deactivated users are hidden"
        );
        let with_inactive = page(
            &t,
            UserPageRequest {
                show_inactive_users: Some(true),
                ..in_a()
            },
        )
        .await;
        assert_eq!(with_inactive.total_users, 2);
        assert_eq!(with_inactive.users[1].status, "Deactivated");

        let moved = tus_wire::model::ChangeInstanceRequest {
            device_token: Some(y.clone()),
            to_instance_id: Some(b.id.to_string()),
            to_instance_key: Some(b.key.expose().to_string()),
        };
        t.core
            .change_instance(at(45), &admin(), moved, &meta)
            .await
            .unwrap();
        assert_eq!(page(&t, in_a()).await.total_users, 0, "moved out of A");
        let in_b = UserPageRequest {
            instance_ids: Some(vec![b.id.to_string()]),
            ..Default::default()
        };
        assert_eq!(page(&t, in_b).await.total_users, 2, "moved into B");

        let y_token = crate::types::DeviceToken::parse(&y).unwrap();
        t.core
            .delete_user(at(50), &admin(), y_token, &meta)
            .await
            .unwrap();
        let everyone = page(
            &t,
            UserPageRequest {
                show_inactive_users: Some(true),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(everyone.total_users, 2);

        let by_app = page(
            &t,
            UserPageRequest {
                application_ids: Some(vec![a.application_id.to_string()]),
                company_ids: Some(vec![a.company_id.to_string()]),
                instance_ids: Some(vec![b.id.to_string()]),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(names(&by_app), ["Three"]);
        let nowhere = page(
            &t,
            UserPageRequest {
                application_ids: Some(vec![uuid::Uuid::new_v4().to_string()]),
                ..Default::default()
            },
        )
        .await;
        assert_eq!((nowhere.total_users, nowhere.users.len()), (0, 0));
    }

    #[tokio::test]
    async fn date_ranges_add_whole_days_and_count_the_cut_ones() {
        let t = test_core(|_| {}).await;
        let i = t
            .core
            .create_instance(at(0), None, "Fleet", "")
            .await
            .unwrap();
        let day = |d: i64, h: i64| {
            DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc)
                + Duration::days(d)
                + Duration::hours(h)
        };
        // Two users a day, at 06:00 and 18:00, on March 1..=10.
        for d in 0..10 {
            user(&t, &i, day(d, 6), "A", &format!("D{d}m")).await;
            user(&t, &i, day(d, 18), "A", &format!("D{d}e")).await;
        }
        let range = |from: &str, to: &str| UserPageRequest {
            date_created_from: Some(from.into()),
            date_created_to: Some(to.into()),
            page_size: Some(100),
            ..Default::default()
        };
        for (from, to, expected) in [
            ("2026-03-02", "2026-03-04", 6), // whole days, `to` inclusive
            ("2026-03-02T12:00:00Z", "2026-03-04T12:00:00Z", 4), // cut at both ends
            ("2026-03-02T18:00:00Z", "2026-03-02T18:00:00Z", 1), // one instant, inclusive
            ("2026-03-03T12:00:00", "2026-03-04T00:00:00Z", 1), // within one cut day
            ("2026-02-01", "2026-03-01", 2),
            ("2026-03-10T18:00:00.001Z", "2027-01-01", 0),
            // A window that ends before it starts matches no one (it is no error).
            ("2026-03-04", "2026-03-02", 0),
            ("2026-03-02T18:00:00.001Z", "2026-03-02T18:00:00Z", 0),
            ("2027-01-01", "2026-01-01", 0),
        ] {
            let p = page(&t, range(from, to)).await;
            assert_eq!(p.total_users, expected, "{from} .. {to}");
            assert_eq!(p.users.len() as i64, expected, "{from} .. {to}");
        }
        let open_start = page(
            &t,
            UserPageRequest {
                date_created_to: Some("2026-03-03".into()),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(open_start.total_users, 6);
        let open_end = page(
            &t,
            UserPageRequest {
                date_created_from: Some("2026-03-09T06:00:01Z".into()),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(open_end.total_users, 3);
    }

    #[tokio::test]
    async fn search_words_match_name_email_or_token_prefixes() {
        let t = test_core(|_| {}).await;
        let i = t
            .core
            .create_instance(at(0), None, "Fleet", "")
            .await
            .unwrap();
        let mary = user(&t, &i, at(1), "Mary", "Lee").await;
        user(&t, &i, at(2), "Marion", "Leeds").await;
        user(&t, &i, at(3), "John", "Smith").await;
        let search = |term: &str| UserPageRequest {
            search_term: Some(term.into()),
            sort: Some("LastName".into()),
            ..Default::default()
        };
        assert_eq!(names(&page(&t, search("MAR")).await), ["Lee", "Leeds"]);
        assert_eq!(names(&page(&t, search("mary lee")).await), ["Lee"]);
        assert_eq!(names(&page(&t, search("lee")).await), ["Lee", "Leeds"]);
        assert_eq!(names(&page(&t, search("john.smith@")).await), ["Smith"]);
        assert_eq!(names(&page(&t, search(&mary)).await), ["Lee"]);
        assert!(
            page(&t, search("ary")).await.users.is_empty(),
            "prefixes, not infixes"
        );
        let p = page(&t, search("ma")).await;
        assert_eq!((p.total_users, p.total_users_exact), (2, true));
    }

    #[test]
    fn bad_requests_name_every_field() {
        let req = UserPageRequest {
            page_number: Some(0),
            page_size: Some(501),
            sort: Some("Age".into()),
            instance_ids: Some(vec!["x".into()]),
            date_created_from: Some("2026-02-02".into()),
            date_created_to: Some("2026-01-01".into()),
            search_term: Some("a".repeat(300)),
            ..Default::default()
        };
        let Err(crate::CoreError::Validation(e)) = parse_request(&req) else {
            panic!("expected a validation error");
        };
        let keys: Vec<&str> = e.0.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "PageNumber",
                "PageSize",
                "Sort",
                "InstanceIds[0]",
                "SearchTerm"
            ]
        );
    }

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
        // Mixed case, a missing name and e-mail, and equal keys: ties go by creation order.
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
        // Case is folded (ASCII), equal keys tie in creation order ("Bob" came before "bob",
        // whatever their random DeviceTokens); a missing name sorts first.
        assert_eq!(last_names(&by_name)[..4], ["", "ann", "Bob", "bob"]);
        // Equal creation times (two users a second) too, both ways.
        let in_order = |sort: &str| UserListQuery {
            sort: Some(sort.into()),
            size: Some(200),
            ..Default::default()
        };
        let oldest_first = last_names(&list(&t, in_order("DateCreated")).await);
        let registered: Vec<&str> = people.iter().map(|(last, _)| *last).collect();
        assert_eq!(oldest_first, registered);
        let mut newest_first = last_names(&list(&t, in_order("DateCreatedDesc")).await);
        newest_first.reverse();
        assert_eq!(newest_first, registered);
    }

    #[tokio::test]
    async fn hostile_cursors_are_refused_or_stay_values() {
        let t = test_core(|_| {}).await;
        let i = fleet(&t).await;
        for n in 0..3 {
            let req = RegisterRequest {
                last_name: Some(format!("L{n}")),
                create_access_token: Some(false),
                ..Default::default()
            };
            let meta = crate::RequestMeta::default();
            t.core
                .register(at(n), &i.credentials(), req, &meta)
                .await
                .unwrap();
        }
        let query = |sort: &str, after: &str| UserListQuery {
            sort: Some(sort.into()),
            after: Some(after.into()),
            ..Default::default()
        };
        let old_style = format!("{}.{}", uuid::Uuid::new_v4(), at(0).timestamp_millis());
        let long = format!("1.{}", "x".repeat(MAX_STRING + 1));
        for (sort, cursor) in [
            ("DateCreated", ""),
            ("DateCreated", "."),
            ("DateCreated", "1"),
            ("DateCreated", "-1.5"),
            ("DateCreated", "+1.5"),
            ("DateCreated", " 1.5"),
            ("DateCreated", "1.5.5"),
            ("DateCreated", "1.1e3"),
            ("DateCreated", "99999999999999999999.5"),
            ("DateCreated", old_style.as_str()),
            ("LastName", "x.l1"),
            ("LastName", "1.l\u{0}1"),
            ("LastName", long.as_str()),
        ] {
            let Err(crate::CoreError::Validation(e)) =
                t.core.user_list(&admin(), &query(sort, cursor)).await
            else {
                panic!("{sort} {cursor:?} was taken");
            };
            assert_eq!(e.0[0].key, "after", "{cursor:?}");
        }
        // A well-formed cursor to nowhere is a position like any other: its text stays a value.
        let far = list(&t, query("LastName", "9223372036854775807.l1' OR 1=1 --")).await;
        assert_eq!(last_names(&far), ["L2"]);
        let none = list(
            &t,
            query("DateCreated", "9223372036854775807.9223372036854775807"),
        )
        .await;
        assert!(none.rows.is_empty());
        assert_eq!(
            t.core
                .store()
                .count_users(&PageFilter::default(), 10)
                .await
                .unwrap(),
            3
        );
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

    #[test]
    fn full_names_split_every_way() {
        assert_eq!(
            name_splits(" Mary  Ann Lee "),
            [
                ("Mary".to_string(), "Ann Lee".to_string()),
                ("Mary Ann".to_string(), "Lee".to_string())
            ]
        );
        assert!(name_splits("Cher").is_empty());
    }

    async fn p_first(t: &TestCore) -> String {
        list(t, UserListQuery::default()).await.rows[0]
            .device_token
            .clone()
    }
}
