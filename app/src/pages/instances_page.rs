use leptos::prelude::*;
use leptos_meta::Title;

use crate::model::InstanceSummary;
use crate::server_fns::instances::list_instances;

/// The instances of this deployment, with their user counts.
#[component]
pub fn InstancesPage() -> impl IntoView {
    let reloads = RwSignal::new(0u32);
    let instances = Resource::new(move || reloads.get(), |_| list_instances());

    view! {
        <Title text="Instances" />
        <div class="flex flex-wrap items-end justify-between gap-4">
            <div>
                <h1 class="text-2xl font-semibold tracking-tight">"Instances"</h1>
                <p class="mt-1 text-sm text-slate-600">
                    "User groups of this deployment. Apps register drivers into an instance with its InstanceId and InstanceKey."
                </p>
            </div>
            <button
                type="button"
                class="rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm font-medium shadow-sm hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
                on:click=move |_| reloads.update(|n| *n += 1)
            >
                "Reload"
            </button>
        </div>
        <Transition fallback=|| view! { <p class="mt-8 text-sm text-slate-500" role="status">"Loading instances…"</p> }>
            {move || Suspend::new(async move {
                match instances.await {
                    Ok(list) if list.is_empty() => view! { <EmptyState /> }.into_any(),
                    Ok(list) => view! { <InstanceTable list reloads=reloads.get() /> }.into_any(),
                    Err(e) => view! {
                        <p class="mt-8 rounded-md border border-red-200 bg-red-50 p-4 text-sm text-red-800" role="alert">
                            {e.to_string()}
                        </p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn EmptyState() -> impl IntoView {
    view! {
        <div class="mt-8 rounded-lg border border-dashed border-slate-300 p-10 text-center">
            <p class="font-medium">"No instances yet"</p>
            <p class="mt-1 text-sm text-slate-600">
                "Create one with " <code class="rounded bg-slate-100 px-1">"tus instance create --name NAME"</code> "."
            </p>
        </div>
    }
}

#[component]
fn InstanceTable(list: Vec<InstanceSummary>, reloads: u32) -> impl IntoView {
    let count = list.len();
    view! {
        <div class="mt-6 overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-sm">
            <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid="instances">
                <caption class="sr-only">"Instances"</caption>
                <thead class="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-600">
                    <tr>
                        <th scope="col" class="px-4 py-3">"Name"</th>
                        <th scope="col" class="px-4 py-3">"Application"</th>
                        <th scope="col" class="px-4 py-3">"InstanceId"</th>
                        <th scope="col" class="px-4 py-3">"Status"</th>
                        <th scope="col" class="px-4 py-3 text-right">"Users"</th>
                        <th scope="col" class="px-4 py-3">"Created"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {list.into_iter().map(|i| {
                        let active = i.status == "Active";
                        view! {
                            <tr class="hover:bg-slate-50">
                                <td class="px-4 py-3">
                                    <div class="font-medium">{i.name}</div>
                                    <div class="text-xs text-slate-500">{i.description}</div>
                                </td>
                                <td class="px-4 py-3">{i.application_name}</td>
                                <td class="px-4 py-3 font-mono text-xs">{i.id}</td>
                                <td class="px-4 py-3">
                                    <span class=if active {
                                        "rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700"
                                    } else {
                                        "rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600"
                                    }>{i.status}</span>
                                </td>
                                <td class="px-4 py-3 text-right tabular-nums">{i.user_count}</td>
                                <td class="px-4 py-3 text-slate-600" title=i.date_created.clone()>{short_date(&i.date_created)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <p class="mt-2 text-xs text-slate-500" data-testid="instances-footer">
            {format!("{count} instance{}", if count == 1 { "" } else { "s" })}
            {(reloads > 0).then(|| format!(" · reloaded {reloads}×"))}
        </p>
    }
}

/// `2026-11-22T04:21:30.399Z` → `2026-11-22 04:21 UTC` (the full value is the cell's title).
fn short_date(iso: &str) -> String {
    match (iso.get(..10), iso.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => iso.to_string(),
    }
}
