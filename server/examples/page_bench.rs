//! `GetFilteredPage` and `find` on a database of a million users, release build:
//!
//!     bash .ci/bench page   # = cargo run --release -p server --example page_bench
//!
//! For each backend (SQLite; PostgreSQL unless `TUS_BENCH_POSTGRES=sqlite-only`): a fresh
//! scratch database, the real server (`Application::build`, as `tus serve`), then
//! `TUS_BENCH_USERS` users (default 1,000,000) seeded through the store's own batch insert,
//! so the counting triggers run as in production: 4 instances, 300 first names x 1,000 last
//! names, unique e-mails, registration times spread over 365 days, 3 % deactivated. Then each
//! query below is sent over loopback HTTP `RUNS` times, one at a time; the median and the
//! slowest go to the `page` section of server/BENCHMARKS.md.

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use tus_core::store::scratch::ScratchDatabase;
use tus_core::store::{sort_value, NewUserRow};
use tus_core::types::UserSort;
use tus_core::users::search::encode_cursor;

const RUNS: usize = 25;
const SEED_TX: usize = 50_000;
const DAY_MS: i64 = 86_400_000;

/// A small deterministic generator (xorshift), so every run seeds the same people.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SYLLABLES: [&str; 20] = [
    "ma", "ri", "an", "jo", "el", "ka", "to", "li", "sa", "ne", "ro", "be", "da", "vi", "mo", "lu",
    "te", "ha", "no", "si",
];

/// `count` distinct capitalised names built from syllables.
fn names(count: usize, syllables: usize, rng: &mut Rng) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    while out.len() < count {
        let mut s: String = (0..syllables)
            .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
            .collect();
        s[..1].make_ascii_uppercase();
        out.insert(s);
    }
    out.into_iter().collect()
}

async fn seed(core: &tus_core::Core, instances: &[String], total: usize) -> Duration {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let firsts = names(300, 2, &mut rng);
    let lasts = names(1000, 3, &mut rng);
    let now = Utc::now().timestamp_millis();
    let started = Instant::now();
    let mut done = 0;
    while done < total {
        let n = SEED_TX.min(total - done);
        let rows: Vec<NewUserRow> = (done..done + n)
            .map(|i| {
                let first = &firsts[rng.below(firsts.len() as u64) as usize];
                let last = &lasts[rng.below(lasts.len() as u64) as usize];
                NewUserRow {
                    device_token: uuid::Uuid::new_v4().to_string(),
                    instance_id: instances[rng.below(instances.len() as u64) as usize].clone(),
                    first_name: Some(first.clone()),
                    last_name: Some(last.clone()),
                    nickname: None,
                    phone: Some(format!("+3712{:07}", i)),
                    email: Some(format!(
                        "{}.{}{}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase(),
                        i
                    )),
                    gender: "None".into(),
                    birthday: None,
                    marital_status: None,
                    children_count: None,
                    country: Some(["Latvia", "Estonia", "Finland", "Poland"][i % 4].into()),
                    district: None,
                    city: None,
                    address: None,
                    image_url: None,
                    status: if rng.below(100) < 3 {
                        "Deactivated"
                    } else {
                        "Active"
                    }
                    .into(),
                    // 90 % tracking, 5 % logging, 98 % SDK, 25 % real time.
                    enable_tracking: i % 10 != 0,
                    enable_logging: i % 20 == 0,
                    enabled: i % 50 != 0,
                    enable_real_time_location: i % 4 == 0,
                    client_id: None,
                    password_hash: None,
                    batch_id: None,
                    date_created: now - rng.below(365 * DAY_MS as u64) as i64,
                }
            })
            .collect();
        let mut tx = core.store().begin().await.expect("begin");
        tx.insert_users(&rows).await.expect("insert");
        tx.commit().await.expect("commit");
        done += n;
        if done % 200_000 == 0 {
            eprintln!("  seeded {done} users in {:.0?}", started.elapsed());
        }
    }
    started.elapsed()
}

/// Gives the seeded users activity and phones, in one UPDATE (the activity counters'
/// triggers follow it): 20 % never active, the rest last active over the last 60 days (so
/// about a fifth Active, the rest Lost, with the 14-day window); half Android; SDK 4.9.x for
/// a quarter, 3.8.0 for one in a thousand, 5.x for the rest.
async fn give_activity(url: &str, backend: &str) -> Duration {
    let now = Utc::now().timestamp_millis();
    let sql = format!(
        "UPDATE users SET
            last_activity_at = CASE WHEN date_created % 5 = 0 THEN NULL
                ELSE {now} - (date_created % 5184000000) END,
            os_type = CASE WHEN date_created % 2 = 0 THEN 'Android' ELSE 'iOS' END,
            sdk_version = CASE WHEN date_created % 1000 = 7 THEN '3.8.0'
                WHEN date_created % 4 = 0 THEN '4.9.' || (date_created % 7)
                ELSE '5.1.' || (date_created % 3) END"
    );
    let started = Instant::now();
    if backend == "sqlite" {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        sqlx::query(&sql).execute(&pool).await.expect("activity");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("pg");
        sqlx::query(&sql).execute(&pool).await.expect("activity");
        pool.close().await;
    }
    started.elapsed()
}

/// The scheduler's cost when idle: its two reads per tick (the next flag end; the
/// instances whose inactivity rule is due), each median ms of 200.
async fn scheduler_idle(core: &tus_core::Core) -> (f64, f64) {
    let mut ends = Vec::new();
    let mut rules = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        core.store().next_flag_end().await.expect("next end");
        ends.push(started.elapsed());
        let started = Instant::now();
        core.store()
            .inactivity_rules(Utc::now().timestamp_millis())
            .await
            .expect("rules");
        rules.push(started.elapsed());
    }
    ends.sort();
    rules.sort();
    (
        common::percentile(&ends, 0.5),
        common::percentile(&rules, 0.5),
    )
}

struct Query {
    label: String,
    path: String,
    body: Option<Value>,
}

/// The dashboard's users list: its server function, and the whole server-rendered page.
fn dashboard_queries(probe: &tus_core::store::UserRow) -> Vec<Query> {
    let list = |label: &str, query: Value| Query {
        label: format!("dashboard /api/list_users: {label}"),
        path: "/api/list_users".into(),
        body: Some(json!({ "query": query })),
    };
    let email = probe.email.clone().unwrap_or_default();
    let cursor = |sort| encode_cursor(&sort_value(sort, probe), probe.seq);
    let by_time = cursor(UserSort::DateCreatedDesc);
    let by_name = cursor(UserSort::LastName);
    let page = |label: &str, path: String| Query {
        label: format!("dashboard page GET {label} (server-rendered HTML)"),
        path,
        body: None,
    };
    vec![
        list("first 50, newest first", json!({})),
        list(
            "50 after a cursor deep in the list, newest first",
            json!({ "after": by_time }),
        ),
        list(
            "50 before that cursor (previous page)",
            json!({ "before": by_time }),
        ),
        list(
            "50 after a cursor, by last name",
            json!({ "sort": "LastName", "after": by_name }),
        ),
        list("search one e-mail", json!({ "q": email })),
        list("search \"ma\"", json!({ "q": "ma" })),
        list(
            "tracking on + SDK on, all statuses",
            json!({ "tracking": "on", "sdk": "on", "status": "all" }),
        ),
        list(
            "tracking off (one flag: totalled by the counters)",
            json!({ "tracking": "off" }),
        ),
        list("deactivated only", json!({ "status": "deactivated" })),
        list(
            "activity Active (totalled by the activity counters)",
            json!({ "activity": "active" }),
        ),
        list("activity Lost", json!({ "activity": "lost" })),
        list("activity No data", json!({ "activity": "nodata" })),
        list(
            "recently active first (sort by last activity)",
            json!({ "sort": "LastActivityDesc" }),
        ),
        list(
            "SDK version 4.x (a quarter)",
            json!({ "sdk_version": "4." }),
        ),
        list(
            "SDK version 3.x (one in a thousand)",
            json!({ "sdk_version": "3." }),
        ),
        list(
            "Android on SDK 4.x, active",
            json!({ "os": "android", "sdk_version": "4.", "activity": "active" }),
        ),
        Query {
            label: "dashboard /api/instance_choices (the page's instance filter)".into(),
            path: "/api/instance_choices".into(),
            body: Some(json!({})),
        },
        Query {
            label: "dashboard /api/list_instances (the instances page, with user counts)".into(),
            path: "/api/list_instances".into(),
            body: Some(json!({})),
        },
        Query {
            label: "dashboard /api/overview (totals, two 30-day charts, events)".into(),
            path: "/api/overview".into(),
            body: Some(json!({})),
        },
        Query {
            label: "dashboard /api/current_admin (the page's header)".into(),
            path: "/api/current_admin".into(),
            body: Some(json!({})),
        },
        page("/", "/".into()),
        page("/?q=<e-mail>", format!("/?q={email}")),
        page("/?after=<deep cursor>", format!("/?after={by_time}")),
    ]
}

/// The probe is one seeded user: its names and e-mail make the selective queries.
fn queries(instance: &str, probe: &tus_core::store::UserRow) -> Vec<Query> {
    let first = probe.first_name.clone().unwrap_or_default();
    let last = probe.last_name.clone().unwrap_or_default();
    let email = probe.email.clone().unwrap_or_default();
    let both = format!("{} {}", &first[..3], &last[..4]);
    let page = |label: &str, body: Value| Query {
        label: label.to_string(),
        path: "/v1/Management/users/GetFilteredPage".into(),
        body: Some(body),
    };
    let month_ago = (Utc::now() - chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ");
    vec![
        page("page 1 of 20, newest first (the defaults)", json!({})),
        page(
            "page 1 of 100, by last name",
            json!({"PageSize": 100, "Sort": "LastName"}),
        ),
        page(
            "page 500 of 100 (offset 49,900), newest first",
            json!({"PageNumber": 500, "PageSize": 100}),
        ),
        page(
            "page 5,000 of 100 (offset 499,900), by e-mail",
            json!({"PageNumber": 5000, "PageSize": 100, "Sort": "Email"}),
        ),
        page(
            "one instance, with inactive users, oldest first",
            json!({"InstanceIds": [instance], "ShowInactiveUsers": true, "Sort": "DateCreated"}),
        ),
        page(
            "registered in the last 30 days (cut days at both ends)",
            json!({"DateCreatedFrom": month_ago.to_string(), "DateCreatedTo": Utc::now()}),
        ),
        page(
            "search \"ma\" (a common prefix; count capped at 10,000)",
            json!({"SearchTerm": "ma"}),
        ),
        page(
            &format!("search \"{both}\" (prefixes of a first and a last name)"),
            json!({"SearchTerm": both, "Sort": "LastName"}),
        ),
        page("search one e-mail", json!({"SearchTerm": email})),
        page(
            "ActivityStatuses Lost (counted by the activity counters)",
            json!({"ActivityStatuses": ["Lost"]}),
        ),
        page(
            "ActivityStatuses NoData + Lost, by last activity",
            json!({"ActivityStatuses": ["NoData", "Lost"], "Sort": "LastActivity"}),
        ),
        page(
            "country Latvia (count capped)",
            json!({"Country": "latvia"}),
        ),
        Query {
            label: "find?LastName= (one last name: about 1 user in 1,000; at most 500 returned)"
                .into(),
            path: format!("/v1/Management/users/find?LastName={last}"),
            body: None,
        },
        Query {
            label: "find?Email= (one user)".into(),
            path: format!("/v1/Management/users/find?Email={email}"),
            body: None,
        },
    ]
}

struct Row {
    label: String,
    median_ms: f64,
    max_ms: f64,
    total: String,
}

const INTROSPECTIONS: usize = 1_000;

/// Introspection latency: `INTROSPECTIONS` live tokens, each asked once, one at a time.
/// Answers (p50 ms, p99 ms, tokens issued).
async fn introspection(server: &common::Server) -> (f64, f64, usize) {
    const ISSUED: usize = 10_000;
    let instance = server.instance.as_ref().expect("first start");
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/v1/Registration/CreateMany", server.base))
        .header("InstanceId", instance.id.to_string())
        .header("InstanceKey", instance.key.expose())
        .json(&json!({ "Quantity": ISSUED }))
        .send()
        .await
        .expect("CreateMany")
        .json()
        .await
        .expect("json");
    let results = created["Result"]["Results"].as_array().expect("results");
    let admin = tus_core::principal::Principal::unscoped_admin(
        "bench",
        "bench@localhost",
        tus_wire::views::Role::Owner,
    );
    let (_, key) = server
        .core
        .create_api_key(
            Utc::now(),
            &admin,
            &tus_wire::views::NewApiKey {
                name: "bench".into(),
                scopes: vec!["tokens:introspect".into()],
                instances: None,
                expires_in_days: None,
            },
            &Default::default(),
        )
        .await
        .expect("an API key");
    let mut samples = Vec::new();
    for pair in results.iter().step_by(ISSUED / INTROSPECTIONS) {
        let token = pair["AccessToken"]["Token"].as_str().expect("a token");
        let t = Instant::now();
        let answer: Value = client
            .post(format!("{}/v1/Auth/Introspect", server.base))
            .bearer_auth(&key)
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspect")
            .json()
            .await
            .expect("json");
        samples.push(t.elapsed());
        assert_eq!(answer["active"], true, "{answer}");
    }
    samples.sort();
    (
        common::percentile(&samples, 0.5),
        common::percentile(&samples, 0.99),
        ISSUED,
    )
}

/// An Operator limited to `instance`, signed in: their access token.
async fn scoped_admin(server: &common::Server, instance: &str) -> String {
    let owner = tus_core::principal::Principal::unscoped_admin(
        "bench",
        "bench@localhost",
        tus_wire::views::Role::Owner,
    );
    let password = "scoped bench password";
    let made = server
        .core
        .create_admin(
            Utc::now(),
            "scoped@localhost",
            &tus_core::secret::Password::new(password),
            tus_wire::views::Role::Operator,
        )
        .await
        .expect("scoped admin");
    server
        .core
        .set_admin_grant(
            Utc::now(),
            &owner,
            &made.id,
            &tus_wire::views::AdminGrant {
                role: "Operator".into(),
                applications: None,
                instances: Some(vec![instance.to_string()]),
            },
            &Default::default(),
        )
        .await
        .expect("scope");
    common::login(&server.base, "scoped@localhost", password).await
}

async fn measure(base: &str, admin: &str, q: &Query) -> Row {
    let path = &q.path;
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    let mut total = String::new();
    for _ in 0..RUNS {
        let req = match &q.body {
            Some(body) => client.post(format!("{base}{path}")).json(body),
            None => client.get(format!("{base}{path}")),
        };
        let t = Instant::now();
        let res = req.bearer_auth(admin).send().await.expect("request");
        let status = res.status();
        if !path.starts_with("/v1/") && q.body.is_none() {
            let html = res.text().await.expect("html");
            samples.push(t.elapsed());
            assert_eq!(status, 200, "{}", q.label);
            let rows = html.matches("data-testid=\"user-row\"").count();
            total = format!("{} KB of HTML, {rows} rows", html.len() / 1024);
            continue;
        }
        let body: Value = res.json().await.expect("json");
        samples.push(t.elapsed());
        assert_eq!(status, 200, "{}: {body}", q.label);
        if path.starts_with("/api/") && body.get("rows").is_none() {
            total = format!("{} bytes of JSON", body.to_string().len());
            continue;
        }
        if path.starts_with("/api/") {
            total = format!(
                "{}{} users, {} on the page",
                body["total"],
                if body["total_exact"] == true { "" } else { "+" },
                body["rows"].as_array().map_or(0, Vec::len)
            );
            continue;
        }
        let r = &body["Result"];
        total = match r.get("TotalUsers") {
            Some(n) => format!(
                "{n}{} users, {} on the page",
                if r["TotalUsersExact"] == true {
                    ""
                } else {
                    "+"
                },
                r["Users"].as_array().map_or(0, Vec::len)
            ),
            None => format!("{} users", r.as_array().map_or(0, Vec::len)),
        };
    }
    samples.sort();
    Row {
        label: q.label.clone(),
        median_ms: common::percentile(&samples, 0.5),
        max_ms: common::percentile(&samples, 1.0),
        total,
    }
}

#[tokio::main]
async fn main() {
    let users: usize = std::env::var("TUS_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut backends = vec![("SQLite", "sqlite".to_string())];
    let pg = common::postgres_url();
    if pg != "sqlite-only" {
        backends.push(("PostgreSQL", pg));
    }
    let mut section = format!(
        "Written by `bash .ci/bench page` (`cargo run --release -p server --example page_bench`). \
         {users} users seeded through the store's batch insert (triggers on), over 4 instances, \
         registered over the last 365 days, 3 % deactivated; {RUNS} requests per query, one at a \
         time, over loopback HTTP with an admin token; times in ms include HTTP and JSON.\n\n"
    );
    for (name, backend) in backends {
        eprintln!("{name}: seeding {users} users");
        let db = ScratchDatabase::create(&backend)
            .await
            .expect("scratch database");
        let server = common::start(&db).await;
        let mut instances = vec![server
            .instance
            .as_ref()
            .expect("first start")
            .id
            .to_string()];
        for n in 0..3 {
            let i = server
                .core
                .create_instance(Utc::now(), None, &format!("Fleet {n}"), "")
                .await
                .expect("instance");
            instances.push(i.id.to_string());
        }
        let took = seed(&server.core, &instances, users).await;
        let activity_took = give_activity(&db.url, &backend).await;
        eprintln!("  activity and phones given in {activity_took:.0?}");
        let mut counter_pages = String::new();
        if backend != "sqlite" {
            // What autovacuum does within a minute of such a load; done here so the
            // first measurements do not depend on when it wakes up.
            let pool = sqlx::PgPool::connect(&db.url).await.expect("pg");
            for table in ["users", "user_counts", "activity_counts"] {
                sqlx::query(&format!("VACUUM ANALYZE {table}"))
                    .execute(&pool)
                    .await
                    .expect("vacuum");
            }
            // The counter tables the overview and the activity-filtered pages sum whole:
            // how far the load left them larger than their rows.
            for table in ["user_counts", "activity_counts"] {
                let (pages, rows): (i64, i64) = sqlx::query_as(&format!(
                    "SELECT pg_relation_size('{table}') / current_setting('block_size')::bigint,
                            (SELECT COUNT(*) FROM {table})"
                ))
                .fetch_one(&pool)
                .await
                .expect("counter table size");
                counter_pages.push_str(&format!(" `{table}`: {pages} pages for {rows} rows."));
            }
        }
        let admin = server.admin_token().await;
        let probe = server
            .core
            .store()
            .find_users(&tus_core::store::UserFilter {
                include_inactive: false,
                country: Some("latvia".into()),
                limit: 1,
                ..Default::default()
            })
            .await
            .expect("a probe user");
        let (idle_ends, idle_rules) = scheduler_idle(&server.core).await;
        section.push_str(&format!(
            "**{name}**: seeded in {:.0} s ({:.0} users/s); activity and phones given to every \
             user in one UPDATE in {:.0} s (20 % never active, the rest over 60 days; a quarter \
             on SDK 4.x, one in a thousand on 3.x).{counter_pages} The scheduler idle: {idle_ends:.3} \
             ms (next flag end) + {idle_rules:.3} ms (inactivity rules due) per tick.\n\n| query | median ms | slowest ms | answer |\n|---|---|---|---|\n",
            took.as_secs_f64(),
            users as f64 / took.as_secs_f64(),
            activity_took.as_secs_f64()
        ));
        // Mid-list: a user registered about half a year ago.
        let deep = server
            .core
            .store()
            .user_page(
                &tus_core::store::PageFilter::default(),
                tus_core::types::UserSort::DateCreatedDesc,
                false,
                (users as i64) / 2,
                1,
            )
            .await
            .expect("a deep user");
        let mut all = queries(&instances[1], &probe[0]);
        all.extend(dashboard_queries(&deep[0]));
        let mut rows: Vec<(String, Query)> = all.into_iter().map(|q| (admin.clone(), q)).collect();
        // The same users list for an Operator limited to one instance (a quarter of the
        // users): the scope is an instance filter, read through the same indexes.
        let scoped = scoped_admin(&server, &instances[1]).await;
        for mut q in dashboard_queries(&deep[0])
            .into_iter()
            .filter(|q| q.path == "/api/list_users" || q.path == "/api/overview")
        {
            q.label = format!("{} — as an Operator of one instance", q.label);
            rows.push((scoped.clone(), q));
        }
        for (token, q) in rows {
            let row = measure(&server.base, &token, &q).await;
            eprintln!("  {}: {:.1} ms", row.label, row.median_ms);
            section.push_str(&format!(
                "| {} | {:.1} | {:.1} | {} |\n",
                row.label, row.median_ms, row.max_ms, row.total
            ));
        }
        // The users CSV export of every user, streamed to a client that keeps nothing.
        let (base, peak, (took, lines)) = common::peak_memory(async {
            let started = Instant::now();
            let res = reqwest::Client::new()
                .get(format!("{}/export/users.csv?status=all", server.base))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("export");
            let lines = common::count_lines(res).await;
            (started.elapsed(), lines)
        })
        .await;
        assert_eq!(lines, users + 1, "header and one line per user");
        eprintln!("  users CSV export: {took:.1?}, peak {peak:.0} MiB");
        section.push_str(&format!(
            "\nUsers CSV export of all {users} users (`GET /export/users.csv?status=all`, keyset \
             1,000 rows at a time, streamed): {:.1} s ({:.0} rows/s); peak RSS of the process \
             {peak:.0} MiB, {:.0} MiB above its RSS before the export.\n",
            took.as_secs_f64(),
            users as f64 / took.as_secs_f64(),
            peak - base
        ));
        // A bulk flag change of every user (the counters' triggers follow it), and back.
        let mut timings = Vec::new();
        for value in [true, false] {
            let started = Instant::now();
            let res = reqwest::Client::new()
                .post(format!("{}/api/bulk_apply", server.base))
                .bearer_auth(&admin)
                .json(&json!({
                    "target": { "Matching": { "status": "all" } },
                    "action": { "SetFlag": { "flag": "Logging", "value": value } },
                }))
                .send()
                .await
                .expect("bulk_apply");
            assert!(res.status().is_success(), "bulk_apply: {}", res.status());
            let (matched, changed): (i64, u64) = res.json().await.expect("bulk_apply answer");
            assert_eq!(matched, users as i64);
            timings.push((value, changed, started.elapsed()));
        }
        for (value, changed, took) in timings {
            let on = if value { "on" } else { "off" };
            eprintln!("  bulk logging {on}: {changed} changed in {took:.1?}");
            section.push_str(&format!(
                "\nBulk action \"logging {on}\" on every user (`/api/bulk_apply`, one \
                 transaction): {changed} changed in {:.1} s.",
                took.as_secs_f64()
            ));
        }
        let (p50, p99, tokens) = introspection(&server).await;
        eprintln!("  introspection: p50 {p50:.2} ms, p99 {p99:.2} ms");
        section.push_str(&format!(
            "\n\nIntrospection (`POST /v1/Auth/Introspect` with an API key, a form body): \
             {INTROSPECTIONS} different live access tokens of {tokens} issued (CreateMany), one \
             at a time: p50 {p50:.2} ms, p99 {p99:.2} ms, over loopback HTTP.\n"
        ));
        section.push('\n');
    }
    common::write_section(
        "page",
        "GetFilteredPage and find with a million users",
        &section,
    );
}
