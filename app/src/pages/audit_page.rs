use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::components::*;
use crate::server_fns::audit::audit_log;
use tus_wire::model::AuditPageView;
use tus_wire::views::AuditQuery;

const FILTERS: [(&str, &str, &str); 5] = [
    (
        "actor",
        "Actor",
        "admin:admin@localhost or user:<DeviceToken>",
    ),
    (
        "action",
        "Action",
        "user.updated, instance.key_rotated, refresh.reuse…",
    ),
    (
        "target",
        "Target",
        "user:<DeviceToken> or instance:<InstanceId>",
    ),
    ("from", "From (UTC)", "2026-11-01 or 2026-11-01T08:00:00Z"),
    ("to", "To (UTC)", "a date includes its whole day"),
];

fn query_of(map: &ParamsMap) -> AuditQuery {
    let get = |k: &str| map.get(k).filter(|v| !v.trim().is_empty());
    AuditQuery {
        actor: get("actor"),
        action: get("action"),
        target: get("target"),
        from: get("from"),
        to: get("to"),
        before: get("before").and_then(|v| v.parse().ok()),
        size: get("size").and_then(|v| v.parse().ok()),
    }
}

/// The filters as query pairs (no page position).
fn filter_pairs(map: &ParamsMap) -> Vec<(&'static str, String)> {
    FILTERS
        .iter()
        .map(|(k, _, _)| (*k, map.get(k).unwrap_or_default()))
        .collect()
}

/// Who did what to whom, newest first, filtered, paged, exportable.
#[component]
pub fn AuditPage() -> impl IntoView {
    let params = use_query_map();
    let page = Resource::new(move || query_of(&params.current()), audit_log);
    view! {
        <Title text="Audit log" />
        <PageHeader title="Audit log" subtitle="Every change, sign-in, revocation and security event, newest first.">
            <a class=BUTTON href=move || format!("/export/audit.csv{}", query_string(&filter_pairs(&params.current()))) download="audit.csv" data-testid="audit-export">
                "Export CSV"
            </a>
        </PageHeader>
        <Form method="GET" action="/audit" attr:class=format!("{CARD} mt-6") attr:role="search" attr:aria-label="Filter the audit log">
            <div class="grid gap-3 sm:grid-cols-2 lg:grid-cols-5">
                {move || {
                    let p = params.current();
                    FILTERS.iter().map(|(k, label, hint)| {
                        let id = format!("audit-{k}");
                        view! {
                            <div>
                                <label class=LABEL for=id.clone()>{*label}</label>
                                <input id=id name=*k class=INPUT value=p.get(k).unwrap_or_default() placeholder=*hint />
                            </div>
                        }
                    }).collect_view()
                }}
            </div>
            <div class="mt-3 flex gap-2">
                <button type="submit" class=PRIMARY>"Apply"</button>
                <A href="/audit" attr:class=BUTTON>"Clear"</A>
            </div>
        </Form>
        <Transition fallback=|| view! { <Loading what="the audit log" /> }>
            {move || {
                let filters = params.current();
                Suspend::new(async move {
                    match page.await {
                        Ok(p) => view! { <AuditTable page=p params=filters /> }.into_any(),
                        Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn AuditTable(page: AuditPageView, params: ParamsMap) -> impl IntoView {
    let filters = filter_pairs(&params);
    let older = page.next_before.map(|b| {
        let mut pairs = filters.clone();
        pairs.push(("before", b.to_string()));
        format!("/audit{}", query_string(&pairs))
    });
    let newest = params
        .get("before")
        .is_some()
        .then(|| format!("/audit{}", query_string(&filters)));
    if page.entries.is_empty() {
        return view! {
            <div class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-10 text-center" data-testid="audit-empty">
                <p class="font-medium">"No entry matches"</p>
                <p class="mt-1 text-sm text-slate-600">"Actor, action and target match exactly. "
                    <A href="/audit" attr:class="text-indigo-700 underline">"Clear the filters"</A></p>
            </div>
        }
        .into_any();
    }
    view! {
        <DataTable caption="Audit entries" testid="audit"
            headings=vec!["When", "Actor", "Action", "Target", "Detail", "From"]>
                    {page.entries.into_iter().map(|e| view! {
                        <tr data-testid="audit-row">
                            <td class="whitespace-nowrap px-4 py-2 text-slate-600"><Time iso=e.at /></td>
                            <td class="px-4 py-2 font-mono text-xs">{e.actor}</td>
                            <td class="px-4 py-2"><code class="rounded bg-slate-100 px-1 text-xs">{e.action}</code></td>
                            <td class="px-4 py-2 font-mono text-xs">{e.target}</td>
                            <td class="px-4 py-2">{e.detail}</td>
                            <td class="px-4 py-2 text-xs text-slate-500">{e.client_address.unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
        </DataTable>
        <OlderPager newest older />
    }
    .into_any()
}
