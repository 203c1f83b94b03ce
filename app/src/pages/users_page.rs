use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::components::*;
use crate::error::AppError;
use crate::server_fns::deliveries::{invite_count, invite_users};
use crate::server_fns::instances::instance_choices;
use crate::server_fns::users::{bulk_apply, bulk_count, list_users};
use tus_wire::views::{
    BulkAction, BulkTarget, Flag, InstanceChoice, UserListPage, UserListQuery, UserListRow,
};

/// The URL's query names, in the order links write them: the filters, the sort, the page
/// size, the cursors.
const KEYS: [&str; 15] = [
    "q",
    "instance",
    "status",
    "tracking",
    "logging",
    "sdk",
    "realtime",
    "batch",
    "activity",
    "os",
    "sdk_version",
    "sort",
    "size",
    "after",
    "before",
];
/// How many of `KEYS` are filters.
const FILTERS: usize = 11;

fn query_of(map: &ParamsMap) -> UserListQuery {
    let get = |k: &str| map.get(k).filter(|v| !v.trim().is_empty());
    UserListQuery {
        q: get("q"),
        instance: get("instance"),
        status: get("status"),
        tracking: get("tracking"),
        logging: get("logging"),
        sdk: get("sdk"),
        realtime: get("realtime"),
        sort: get("sort"),
        after: get("after"),
        before: get("before"),
        size: get("size").and_then(|s| s.parse().ok()),
        batch: get("batch"),
        activity: get("activity"),
        os: get("os"),
        sdk_version: get("sdk_version"),
    }
}

/// The users page's URL with this query but another cursor.
fn href_with_cursor(map: &ParamsMap, cursor: Option<(&str, String)>) -> String {
    let mut pairs: Vec<(&str, String)> = KEYS[..FILTERS + 2]
        .iter()
        .map(|k| (*k, map.get(k).unwrap_or_default()))
        .collect();
    if let Some(c) = cursor {
        pairs.push(c);
    }
    format!("/{}", query_string(&pairs))
}

const SORTS: [(&str, &str); 10] = [
    ("DateCreatedDesc", "Newest first"),
    ("DateCreated", "Oldest first"),
    ("LastName", "Last name A–Z"),
    ("LastNameDesc", "Last name Z–A"),
    ("FirstName", "First name A–Z"),
    ("FirstNameDesc", "First name Z–A"),
    ("Email", "E-mail A–Z"),
    ("EmailDesc", "E-mail Z–A"),
    ("LastActivityDesc", "Recently active first"),
    ("LastActivity", "Longest inactive first"),
];

/// The activity statuses: the URL's value, and what the page calls it.
pub const ACTIVITIES: [(&str, &str); 4] = [
    ("active", "Active"),
    ("lost", "Lost"),
    ("nodata", "No data"),
    ("deactivated", "Deactivated"),
];

/// A user's activity status (`Active`, `Lost`, `NoData`, `Deactivated`) as a badge.
#[component]
pub fn ActivityBadge(#[prop(into)] status: String) -> impl IntoView {
    let (class, text, title) = match status.as_str() {
        "Active" => (
            "bg-emerald-50 text-emerald-700 ring-emerald-200",
            "Active",
            "Logged in or refreshed within the instance's active window",
        ),
        "Lost" => (
            "bg-rose-50 text-rose-700 ring-rose-200",
            "Lost",
            "Used its tokens before, but not within the instance's active window",
        ),
        "NoData" => (
            "bg-slate-100 text-slate-600 ring-slate-200",
            "No data",
            "Never logged in or refreshed since it was registered",
        ),
        _ => (
            "bg-amber-50 text-amber-800 ring-amber-200",
            "Deactivated",
            "Deactivated by an admin",
        ),
    };
    view! {
        <span class=format!("rounded-full px-2 py-0.5 text-xs font-medium ring-1 {class}") title=title data-testid="activity-status">{text}</span>
    }
}

/// Says that the device has not learnt its flags yet.
#[component]
pub fn PendingBadge() -> impl IntoView {
    view! {
        <span class="rounded-full bg-sky-50 px-2 py-0.5 text-xs font-medium text-sky-800 ring-1 ring-sky-200"
            title="A flag changed after the device's newest token: it learns the change at its next refresh"
            data-testid="flags-pending">"pending"</span>
    }
}

/// Every user, searched, filtered, sorted and paged by keyset; the whole view lives in the URL.
#[component]
pub fn UsersPage() -> impl IntoView {
    let params = use_query_map();
    let page = Resource::new(move || query_of(&params.current()), list_users);
    let instances = Resource::new(|| (), |_| instance_choices());
    // True while another page or filter loads: the old rows stay, dimmed.
    let updating = RwSignal::new(false);
    // Set only in the browser. On the server the Transition sets it from whichever worker
    // thread resolves the page, while another may be writing this page's HTML: a read that
    // finds the signal's lock taken at that instant panics (reactive_graph reads with
    // try_read, and calls the miss "disposed"); it failed one render in ~30 under load.
    let set_updating: SignalSetter<bool> = if cfg!(feature = "ssr") {
        SignalSetter::map(|_| ())
    } else {
        updating.write_only().into()
    };
    // try_get: a server render streams this late, after the pending signal may be gone
    // (seen once in 25 renders under load as a disposed-signal panic).
    let busy = move || updating.try_get().unwrap_or(false);
    // A bulk action's outcome lives here: the table it came from may re-render empty.
    let bulk_notice = RwSignal::new(None::<String>);
    view! {
        <Title text="Users" />
        <PageHeader title="Users" subtitle="Drivers registered in every instance. Search by name, e-mail, phone, DeviceToken or ClientId.">
            <a
                class=BUTTON
                href=move || {
                    let p = params.try_get().unwrap_or_default();
                    let pairs: Vec<(&str, String)> = KEYS[..FILTERS + 1].iter().map(|k| (*k, p.get(k).unwrap_or_default())).collect();
                    format!("/export/users.csv{}", query_string(&pairs))
                }
                download="users.csv"
                data-testid="users-export"
            >
                "Export CSV"
            </a>
            <A href="/register" attr:class=PRIMARY>"Register a user"</A>
        </PageHeader>
        <Transition fallback=|| ()>
            // The URL is read here, not in the future: a future may outlive its owner.
            {move || {
                let p = params.current();
                Suspend::new(async move {
                    let list = instances.await.unwrap_or_default();
                    view! { <Filters params=p instances=list /> }
                })
            }}
        </Transition>
        {move || bulk_notice.try_get().flatten().map(|m| view! {
            <p class="mt-4 rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm text-emerald-800" role="status" data-testid="bulk-notice">{m}</p>
        })}
        <p class="sr-only" role="status">{move || if busy() { "Loading users…" } else { "" }}</p>
        <div class="transition-opacity" class:opacity-60=busy aria-busy=move || busy().to_string()>
        <Transition fallback=|| view! { <Loading what="users" /> } set_pending=set_updating>
            {move || {
                let url = params.current();
                Suspend::new(async move {
                match page.await {
                    Ok(p) => view! { <UserTable page=p params=url reload=Callback::new(move |_| page.refetch()) notice=bulk_notice /> }.into_any(),
                    Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                }
            })}}
        </Transition>
        </div>
    }
}

#[component]
fn Filters(params: ParamsMap, instances: Vec<InstanceChoice>) -> impl IntoView {
    let value = move |k: &str| params.get(k).unwrap_or_default();
    const SELECT: &str = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40";
    let instance = value("instance");
    let status = value("status");
    let sort = value("sort");
    let batch = value("batch");
    let activity = value("activity");
    let os = value("os");
    let flag_select = |flag: Flag, current: String| {
        let id = format!("filter-{}", flag.key());
        view! {
            <div>
                <label class=LABEL for=id.clone()>{flag.label()}</label>
                <select id=id name=flag.key() class=SELECT>
                    <option value="" selected=current.is_empty()>"Any"</option>
                    <option value="on" selected=current == "on">"On"</option>
                    <option value="off" selected=current == "off">"Off"</option>
                </select>
            </div>
        }
    };
    view! {
        <Form method="GET" action="/" attr:class="mt-6 rounded-lg border border-slate-200 bg-white p-4 shadow-sm" attr:role="search" attr:aria-label="Filter users">
            <div class="grid grid-cols-2 gap-3 md:grid-cols-4 xl:grid-cols-8">
                <div class="col-span-2 md:col-span-4 xl:col-span-2">
                    <label class=LABEL for="filter-q">"Search"</label>
                    <input id="filter-q" name="q" type="search" class=INPUT value=value("q") placeholder="Name, e-mail, phone, DeviceToken, ClientId" />
                </div>
                <div>
                    <label class=LABEL for="filter-instance">"Instance"</label>
                    <select id="filter-instance" name="instance" class=SELECT>
                        <option value="" selected=instance.is_empty()>"All instances"</option>
                        {instances.into_iter().map(|i| {
                            let selected = i.id == instance;
                            view! { <option value=i.id selected=selected>{i.name}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div>
                    <label class=LABEL for="filter-status">"Status"</label>
                    <select id="filter-status" name="status" class=SELECT>
                        <option value="" selected=status.is_empty() || status == "active">"Active"</option>
                        <option value="deactivated" selected=status == "deactivated">"Deactivated"</option>
                        <option value="all" selected=status == "all">"All"</option>
                    </select>
                </div>
                {Flag::ALL.into_iter().map(|f| flag_select(f, value(f.key()))).collect_view()}
                <div>
                    <label class=LABEL for="filter-activity">"Activity"</label>
                    <select id="filter-activity" name="activity" class=SELECT>
                        <option value="" selected=activity.is_empty()>"Any"</option>
                        {ACTIVITIES.into_iter().map(|(v, label)| {
                            view! { <option value=v selected=activity == v>{label}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div>
                    <label class=LABEL for="filter-os">"OS"</label>
                    <select id="filter-os" name="os" class=SELECT>
                        <option value="" selected=os.is_empty()>"Any"</option>
                        <option value="android" selected=os.eq_ignore_ascii_case("android")>"Android"</option>
                        <option value="ios" selected=os.eq_ignore_ascii_case("ios")>"iOS"</option>
                    </select>
                </div>
                <div>
                    <label class=LABEL for="filter-sdk-version">"SDK version"</label>
                    <input id="filter-sdk-version" name="sdk_version" type="text" class=INPUT value=value("sdk_version") placeholder="e.g. 4." title="Versions starting with this" />
                </div>
            </div>
            <div class="mt-3 flex flex-wrap items-end gap-3">
                <div>
                    <label class=LABEL for="filter-sort">"Sort"</label>
                    <select id="filter-sort" name="sort" class=SELECT>
                        {SORTS.into_iter().map(|(v, label)| {
                            let selected = v == sort || (sort.is_empty() && v == "DateCreatedDesc");
                            view! { <option value=v selected=selected>{label}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <button type="submit" class=PRIMARY>"Apply"</button>
                <A href="/" attr:class=BUTTON>"Clear"</A>
                {(!batch.is_empty()).then(|| view! {
                    <input type="hidden" name="batch" value=batch.clone() />
                    <p class="text-sm text-slate-600" data-testid="batch-filter">
                        "Only the users of batch "
                        <A href=format!("/batches/{batch}") attr:class="font-mono text-indigo-700 underline">{batch.chars().take(8).collect::<String>()}</A>
                        "."
                    </p>
                })}
            </div>
        </Form>
    }
    .into_any()
}

pub fn flag_cell(on: bool, label: &'static str) -> impl IntoView {
    let (class, text) = if on {
        ("inline-block rounded-full bg-indigo-50 px-2 py-0.5 text-xs font-medium text-indigo-700", "On")
    } else {
        (
            "inline-block rounded-full bg-slate-100 px-2 py-0.5 text-xs text-slate-500",
            "Off",
        )
    };
    view! { <span class=class title=format!("{label}: {text}")>{text}</span> }
}

fn name_of(r: &UserListRow) -> String {
    let name = full_name(r.first_name.as_deref(), r.last_name.as_deref());
    if name.is_empty() {
        "—".into()
    } else {
        name
    }
}

#[component]
fn UserTable(
    page: UserListPage,
    params: ParamsMap,
    reload: Callback<()>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let selected = RwSignal::new(std::collections::BTreeSet::<String>::new());
    let on_page: Vec<String> = page.rows.iter().map(|r| r.device_token.clone()).collect();
    let query = query_of(&params);
    let page_tokens = on_page.clone();
    let filtered = KEYS[..FILTERS]
        .iter()
        .any(|k| params.get(k).is_some_and(|v| !v.is_empty()));
    let total = if page.total_exact {
        format!(
            "{} user{}",
            page.total,
            if page.total == 1 { "" } else { "s" }
        )
    } else {
        format!("More than {} users", page.total)
    };
    let previous = page
        .previous
        .clone()
        .map(|c| href_with_cursor(&params, Some(("before", c))));
    let next = page
        .next
        .clone()
        .map(|c| href_with_cursor(&params, Some(("after", c))));
    let first = (params.get("after").is_some() || params.get("before").is_some())
        .then(|| href_with_cursor(&params, None));
    if page.rows.is_empty() {
        return view! {
            <div class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-10 text-center" data-testid="users-empty">
                {if filtered {
                    view! {
                        <p class="font-medium">"No user matches these filters"</p>
                        <p class="mt-1 text-sm text-slate-600">"Search by the beginning of a name, e-mail or phone, or by a whole DeviceToken or ClientId. "
                            <A href="/" attr:class="text-indigo-700 underline">"Clear the filters"</A></p>
                    }.into_any()
                } else {
                    view! {
                        <p class="font-medium">"No users yet"</p>
                        <p class="mt-1 text-sm text-slate-600">"Apps register drivers through the API, or "
                            <A href="/register" attr:class="text-indigo-700 underline">"register one by hand"</A>"."</p>
                    }.into_any()
                }}
                {first.map(|href| view! { <p class="mt-2 text-sm"><A href=href attr:class="text-indigo-700 underline">"Back to the first page"</A></p> })}
            </div>
        }
        .into_any();
    }
    view! {
        <BulkBar selected query reload notice />
        <div class="mt-4 flex flex-wrap items-center justify-between gap-2 text-sm text-slate-600">
            <p data-testid="users-total">{total}</p>
            <Pager previous=previous.clone() next=next.clone() first=first.clone() />
        </div>
        <div class="mt-2 overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-sm">
            <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid="users">
                <caption class="sr-only">"Users"</caption>
                <thead class="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-600">
                    <tr>
                        <th scope="col" class="px-3 py-2">
                            <input type="checkbox" class="h-4 w-4 rounded border-slate-300" aria-label="Select every user on this page"
                                prop:checked=move || { let all = on_page.clone(); selected.current_with(|s| !all.is_empty() && all.iter().all(|t| s.contains(t))) }
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    let tokens: Vec<String> = page_tokens.clone();
                                    selected.update(|s| for t in tokens { if on { s.insert(t); } else { s.remove(&t); } });
                                } />
                        </th>
                        <th scope="col" class="px-3 py-2">"Name"</th>
                        <th scope="col" class="px-3 py-2">"E-mail / phone"</th>
                        <th scope="col" class="px-3 py-2">"DeviceToken / ClientId"</th>
                        <th scope="col" class="px-3 py-2">"Instance"</th>
                        <th scope="col" class="px-3 py-2">"Status"</th>
                        {Flag::ALL.into_iter().map(|f| view! { <th scope="col" class="px-2 py-2">{f.label()}</th> }).collect_view()}
                        <th scope="col" class="px-3 py-2">"Device"</th>
                        <th scope="col" class="px-3 py-2">"Created"</th>
                        <th scope="col" class="px-3 py-2">"Activity"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {page.rows.into_iter().map(|r| {
                        let name = name_of(&r);
                        let token = r.device_token.clone();
                        let flags = Flag::ALL.map(|f| (f, f.of_row(&r)));
                        view! {
                            <tr class="hover:bg-slate-50" data-testid="user-row">
                                <td class="px-3 py-2">
                                    <input type="checkbox" class="h-4 w-4 rounded border-slate-300" aria-label=format!("Select {name}")
                                        data-testid="select-user"
                                        prop:checked={ let t = token.clone(); move || selected.current_with(|s| s.contains(&t)) }
                                        on:change={ let t = token.clone(); move |ev| { let on = event_target_checked(&ev); let t = t.clone(); selected.update(|s| { if on { s.insert(t); } else { s.remove(&t); } }) } } />
                                </td>
                                <td class="whitespace-nowrap px-3 py-2">
                                    <A href=format!("/users/{}", r.device_token) attr:class="font-medium text-indigo-700 hover:underline">{name}</A>
                                </td>
                                <td class="px-3 py-2">
                                    <div>{r.email.unwrap_or_default()}</div>
                                    <div class="text-xs text-slate-500">{r.phone.unwrap_or_default()}</div>
                                </td>
                                <td class="px-3 py-2">
                                    <div class="font-mono text-xs">{r.device_token}</div>
                                    <div class="text-xs text-slate-500">{r.client_id.unwrap_or_default()}</div>
                                </td>
                                <td class="px-3 py-2">{r.instance_name}</td>
                                <td class="px-3 py-2"><StatusBadge status=r.status /></td>
                                {flags.into_iter().map(|(f, on)| view! { <td class="px-2 py-2">{flag_cell(on, f.label())}</td> }).collect_view()}
                                <td class="whitespace-nowrap px-3 py-2 text-xs text-slate-600" data-testid="user-device">
                                    <div>{r.os_type.unwrap_or_default()}</div>
                                    <div class="text-slate-500">{r.sdk_version.map(|v| format!("SDK {v}")).unwrap_or_default()}</div>
                                </td>
                                <td class="whitespace-nowrap px-3 py-2 text-slate-600"><Time iso=r.date_created /></td>
                                <td class="whitespace-nowrap px-3 py-2 text-slate-600">
                                    <div class="flex items-center gap-1">
                                        <ActivityBadge status=r.activity_status />
                                        {r.flags_pending.then(|| view! { <PendingBadge /> })}
                                    </div>
                                    <div class="mt-0.5 text-xs">
                                        {match r.last_activity {
                                            Some(t) => view! { <Time iso=t /> }.into_any(),
                                            None => view! { <span class="text-slate-400">"never since registration"</span> }.into_any(),
                                        }}
                                    </div>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <div class="mt-3 flex justify-end">
            <Pager previous next first />
        </div>
    }
    .into_any()
}

#[component]
fn Pager(previous: Option<String>, next: Option<String>, first: Option<String>) -> impl IntoView {
    let link = |href: Option<String>, label: &'static str, rel: &'static str| match href {
        Some(h) => view! { <A href=h attr:class=BUTTON attr:rel=rel>{label}</A> }.into_any(),
        None => {
            view! { <span class=format!("{BUTTON} opacity-50") aria-disabled="true">{label}</span> }
                .into_any()
        }
    };
    view! {
        <nav class="flex gap-2" aria-label="Pages">
            {first.map(|h| view! { <A href=h attr:class=BUTTON>"First page"</A> })}
            {link(previous, "← Previous", "prev")}
            {link(next, "Next →", "next")}
        </nav>
    }
}

/// What the bulk bar does: a change, or an invite on a channel (`Email`, `Sms`).
#[derive(Debug, Clone, PartialEq)]
enum Chosen {
    Change(BulkAction),
    Invite(&'static str),
}

/// The actions of the bulk bar, by value: `flag:<key>:on|off`, `active:on|off`, `move:<id>`,
/// `delete`, `invite:Email|Sms`.
fn bulk_action_of(value: &str) -> Option<Chosen> {
    match value {
        "invite:Email" => return Some(Chosen::Invite("Email")),
        "invite:Sms" => return Some(Chosen::Invite("Sms")),
        _ => {}
    }
    let parts: Vec<&str> = value.splitn(3, ':').collect();
    let change = match parts.as_slice() {
        ["flag", key, v] => {
            Flag::ALL
                .into_iter()
                .find(|f| f.key() == *key)
                .map(|flag| BulkAction::SetFlag {
                    flag,
                    value: *v == "on",
                    minutes: None,
                })
        }
        ["active", v] => Some(BulkAction::SetActive(*v == "on")),
        ["move", id] => Some(BulkAction::Move(id.to_string())),
        ["delete"] => Some(BulkAction::Delete),
        _ => None,
    };
    change.map(Chosen::Change)
}

/// One change for the selected rows, or for every user the filter matches: the exact count
/// is fetched and shown before anything runs.
/// With `whole`, the bar acts on everything the query matches and says so with that text
/// (the batch page: "every user of this batch"), with no row selection.
#[component]
pub fn BulkBar(
    selected: RwSignal<std::collections::BTreeSet<String>>,
    query: UserListQuery,
    reload: Callback<()>,
    notice: RwSignal<Option<String>>,
    #[prop(optional)] whole: Option<&'static str>,
) -> impl IntoView {
    let instances = Resource::new(|| (), |_| instance_choices());
    let everything = RwSignal::new(whole.is_some());
    let action = RwSignal::new(String::new());
    // For how long a flag action holds (minutes; empty: for good).
    let hold = RwSignal::new(String::new());
    // The target, the action, and the exact count shown: (users matched, users acted on).
    let pending = RwSignal::new(None::<(BulkTarget, Chosen, i64, i64)>);
    let error = RwSignal::new(None::<AppError>);
    let target = move || {
        if everything.get_untracked() {
            BulkTarget::Matching(Box::new(query.clone()))
        } else {
            BulkTarget::Selected(selected.get_untracked().into_iter().collect())
        }
    };
    let prepare = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        notice.set(None);
        let chosen = bulk_action_of(&action.get_untracked()).map(|c| match c {
            Chosen::Change(BulkAction::SetFlag { flag, value, .. }) => {
                Chosen::Change(BulkAction::SetFlag {
                    flag,
                    value,
                    minutes: hold.get_untracked().parse().ok(),
                })
            }
            other => other,
        });
        let Some(chosen) = chosen else {
            error.set(Some(AppError::Validation(vec![(
                "action".into(),
                "choose an action".into(),
            )])));
            return;
        };
        let t = target();
        spawn_local(async move {
            let counted = match &chosen {
                Chosen::Change(_) => bulk_count(t.clone()).await.map(|n| (n, n)),
                Chosen::Invite(deliver) => invite_count(t.clone(), deliver.to_string()).await,
            };
            match counted {
                Ok((matched, n)) => pending.set(Some((t, chosen, matched, n))),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let run = move |_| {
        let Some((t, chosen, _, n)) = pending.get_untracked() else {
            return;
        };
        spawn_local(async move {
            let done = match chosen {
                Chosen::Change(a) => bulk_apply(t, a).await.map(|(matched, changed)| {
                    format!("Done: {matched} users matched, {changed} changed. The audit log records it.")
                }),
                Chosen::Invite(deliver) => invite_users(t, deliver.to_string(), Some(n))
                    .await
                    .map(|(_, invited)| {
                        format!("Invited {invited} users. The Deliveries page follows each message.")
                    }),
            };
            match done {
                Ok(message) => {
                    notice.set(Some(message));
                    pending.set(None);
                    selected.set(Default::default());
                    reload.run(());
                }
                Err(e) => {
                    pending.set(None);
                    error.set(Some(e));
                }
            }
        });
    };
    let select_class = "rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm";
    view! {
        <form class="mt-6 flex flex-wrap items-center gap-3 rounded-lg border border-slate-200 bg-white p-3 text-sm shadow-sm" on:submit=prepare aria-label="Bulk actions">
            <span class="font-medium">{if whole.is_some() { "Batch action" } else { "Bulk action" }}</span>
            {match whole {
                Some(text) => view! { <span>{text}</span> }.into_any(),
                None => view! {
            <label class="flex items-center gap-1">
                <input type="radio" name="bulk-scope" prop:checked=move || !everything.current() on:change=move |_| everything.set(false) />
                {move || format!("{} selected", selected.current_with(|s| s.len()))}
            </label>
            <label class="flex items-center gap-1">
                <input type="radio" name="bulk-scope" data-testid="bulk-everything" prop:checked=move || everything.current() on:change=move |_| everything.set(true) />
                "everything matching the filter"
            </label>
                }.into_any(),
            }}
            <label class="sr-only" for="bulk-action">"Action"</label>
            <select id="bulk-action" class=select_class on:change=move |ev| action.set(event_target_value(&ev))>
                <option value="">"Choose…"</option>
                {Flag::ALL.into_iter().flat_map(|f| [(f, true), (f, false)]).map(|(f, on)| {
                    let value = format!("flag:{}:{}", f.key(), if on { "on" } else { "off" });
                    view! { <option value=value>{format!("{} {}", f.label(), if on { "on" } else { "off" })}</option> }
                }).collect_view()}
                <option value="active:on">"Activate"</option>
                <option value="active:off">"Deactivate"</option>
                <option value="delete">"Delete users and their tokens"</option>
                <option value="invite:Email">"Invite by e-mail (a link to set a password)"</option>
                <option value="invite:Sms">"Invite by SMS (a code to log in with)"</option>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        instances.await.unwrap_or_default().into_iter().filter(|i| i.active).map(|i| {
                            view! { <option value=format!("move:{}", i.id)>{format!("Move to {}", i.name)}</option> }
                        }).collect_view()
                    })}
                </Transition>
            </select>
            <label class="sr-only" for="bulk-hold">"For how long"</label>
            <select id="bulk-hold" class=select_class title="How long a flag switched here holds before it switches back by itself"
                on:change=move |ev| hold.set(event_target_value(&ev))>
                <option value="">"for good"</option>
                <option value="60">"for 1 hour"</option>
                <option value="480">"for 8 hours"</option>
                <option value="1440">"for 24 hours"</option>
            </select>
            <button type="submit" class=BUTTON>"Apply…"</button>
            {move || pending.current().map(|(_, chosen, matched, n)| {
                let question = match &chosen {
                    Chosen::Change(a) => {
                        let what = match a {
                            BulkAction::SetFlag { flag, value, minutes } => format!(
                                "Switch {} {}{}",
                                flag.label(),
                                if *value { "on" } else { "off" },
                                minutes.map(|m| format!(" for {}", tus_wire::views::span_words(m * 60_000))).unwrap_or_default()
                            ),
                            BulkAction::SetActive(true) => "Activate".to_string(),
                            BulkAction::SetActive(false) => "Deactivate".to_string(),
                            BulkAction::Move(_) => "Move".to_string(),
                            BulkAction::Delete => "Delete, with every token issued to them,".to_string(),
                        };
                        format!("{what} for {n} users?")
                    }
                    Chosen::Invite(deliver) => {
                        let (by, address) = if *deliver == "Email" { ("e-mail", "e-mail address") } else { ("SMS", "international phone number") };
                        let others = matched - n;
                        if others > 0 {
                            format!("Invite {n} users by {by}? {others} of the {matched} selected have no {address} or are deactivated, and get nothing.")
                        } else {
                            format!("Invite {n} users by {by}?")
                        }
                    }
                };
                let confirm_class = if chosen == Chosen::Change(BulkAction::Delete) { DANGER } else { PRIMARY };
                view! {
                    <div class="flex w-full flex-wrap items-center gap-2 rounded-md border border-amber-300 bg-amber-50 p-2 text-amber-900" role="alertdialog" aria-label="Confirm the bulk action">
                        <span data-testid="bulk-confirm">{question}</span>
                        <button type="button" class=confirm_class on:click=run>"Confirm"</button>
                        <button type="button" class=BUTTON on:click=move |_| pending.set(None)>"Cancel"</button>
                    </div>
                }
            })}
            {move || error.current().map(|e| view! { <div class="w-full"><ErrorNotice error=e /></div> })}
        </form>
    }
    .into_any()
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::pages::disposed::render_after_disposal;
    use leptos_router::params::ParamsMap;

    fn row(n: usize) -> UserListRow {
        UserListRow {
            device_token: format!("00000000-0000-4000-8000-{n:012}"),
            first_name: Some("Ann".into()),
            last_name: Some(format!("Row{n}")),
            email: None,
            phone: None,
            client_id: None,
            instance_id: "i".into(),
            instance_name: "Fleet".into(),
            status: "Active".into(),
            enable_tracking: true,
            enable_logging: false,
            enabled: true,
            enable_real_time_location: false,
            date_created: "2026-11-22T04:21:30.399Z".into(),
            last_token_activity: None,
            activity_status: "NoData".into(),
            last_activity: None,
            os_type: None,
            sdk_version: None,
            flags_pending: false,
        }
    }

    /// The server may still be writing a table's HTML when leptos' Suspense has disposed of
    /// the table's owner (it re-ran its children on another thread): the render must not
    /// panic. It did, on the selection signal, before the reads went through `Current`.
    #[tokio::test]
    async fn a_users_table_renders_after_its_owner_is_disposed() {
        let html = render_after_disposal(|| {
            let page = UserListPage {
                rows: (0..3).map(row).collect(),
                next: None,
                previous: None,
                total: 3,
                total_exact: true,
            };
            let notice = RwSignal::new(None::<String>);
            view! { <UserTable page params=ParamsMap::new() reload=Callback::new(|_| ()) notice /> }
        });
        assert_eq!(html.matches("data-testid=\"user-row\"").count(), 3);
        assert!(html.contains("0 selected"), "{html}");
    }
}
