//! `GetFilteredPage`: one page of users for administrators, in one of eight orders, with
//! totals that never count the users table page after page.
//!
//! Counting: triggers keep `user_counts` (users per instance, status and UTC day, and of
//! those how many have each flag on). A page filtered only by instance, application,
//! company, status, registration time and at most one flag (the dashboard's filters) totals
//! those rows, and counts directly at most the two partial days a time range cuts. A page
//! with a search term, country, city, batch or two flags counts its matches directly, up to
//! `SEARCH_COUNT_CAP`; past that `TotalUsers` is the cap and `TotalUsersExact` false.
//! `HasNextPage` is always exact: the page query asks for one row more than it shows.

use chrono::{DateTime, Duration, Utc};

use super::error::{CoreResult, FieldErrors};
use super::management::{user_view, Principal};
use super::store::{PageFilter, SearchWord};
use super::time::ms;
use super::types::{parse_datetime, ApplicationId, CompanyId, InstanceId, UserSort};
use super::Core;
use tus_wire::model::{UserPageRequest, UserPageView};

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
    if let (Some(from), Some(to)) = (from, to) {
        if to <= from {
            e.push("DateCreatedTo", "must not be before DateCreatedFrom");
        }
    }
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
    e.into_result()?;
    Ok(PageQuery {
        page,
        size,
        sort: sort.unwrap_or(UserSort::DateCreatedDesc),
        instance_ids,
        application_ids,
        company_ids,
        filter: PageFilter {
            instances: None,
            include_inactive: req.show_inactive_users.unwrap_or(false),
            from: from.map(ms),
            to: to.map(ms),
            words,
            country,
            city,
            ..PageFilter::default()
        },
    })
}

impl Core {
    /// Admin: one page of users matching every filter given.
    pub async fn user_page(
        &self,
        principal: &Principal,
        req: UserPageRequest,
    ) -> CoreResult<UserPageView> {
        principal.require_admin()?;
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
        let (counted, exact) = self.count_matches(&q.filter).await?;
        let few_matches = few_matches(&q.filter, counted, exact);
        let offset = (q.page - 1) * q.size;
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
            users: rows.into_iter().map(user_view).collect(),
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

/// Whether a filter's matches are few enough to be found by its own conditions and sorted,
/// rather than by walking the sort index until a page is full (see `Store::user_page`).
pub(crate) fn few_matches(f: &PageFilter, counted: i64, exact: bool) -> bool {
    f.narrows() && exact && counted <= SEARCH_COUNT_CAP
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instances::Instance;
    use crate::testing::{admin, at, test_core, TestCore};
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
            *[
                &mut f.enable_tracking,
                &mut f.enable_logging,
                &mut f.enabled,
                &mut f.enable_real_time_location,
            ][k] = Some(v);
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
            .update_user(at(40), &admin(), x_token, deactivate, &meta)
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
                "DateCreatedTo",
                "InstanceIds[0]",
                "SearchTerm"
            ]
        );
    }
}
