use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::*;
use crate::error::AppError;
use crate::server_fns::instances::instance_choices;
use crate::server_fns::keys::{api_keys, create_api_key, revoke_api_key};
use tus_wire::views::{ApiKeyView, NewApiKey, Scope};

/// Credentials of back ends: create one (shown once), see when each was last used, revoke.
#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let keys = Resource::new(move || changed.current(), |_| api_keys());
    let notice = Notice::provide();
    view! {
        <Title text="API keys" />
        <NoticeLine notice />
        <PageHeader title="API keys" subtitle="Credentials of back ends (trip ingest, scoring, partner portals), used as Authorization: Bearer tus_…; each acts only within its scopes, and every change it makes is audited under its name." />
        <CreateKeyCard changed />
        <Transition fallback=|| view! { <Loading what="the API keys" /> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(list) => view! { <ApiKeysTable list changed /> }.into_any(),
                    Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CreateKeyCard(changed: RwSignal<u32>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let chosen = Scope::ALL.map(|s| (s, RwSignal::new(false)));
    let limited = RwSignal::new(false);
    let instances = Resource::new(|| (), |_| instance_choices());
    let picked = RwSignal::new(Vec::<String>::new());
    let days = RwSignal::new("90".to_string());
    let error = RwSignal::new(None::<AppError>);
    let shown = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        shown.set(None);
        let scopes: Vec<String> = chosen
            .iter()
            .filter(|(_, on)| on.get_untracked())
            .map(|(s, _)| s.as_str().to_string())
            .collect();
        let only = limited.get_untracked().then(|| picked.get_untracked());
        let days = days.get_untracked().trim().to_string();
        let expires = if days.is_empty() {
            None
        } else {
            Some(days.parse::<i64>().unwrap_or(0))
        };
        let name = name.get_untracked();
        spawn_local(async move {
            match create_api_key(NewApiKey {
                name,
                scopes,
                instances: only,
                expires_in_days: expires,
            })
            .await
            {
                Ok((_, secret)) => {
                    shown.set(Some(secret));
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="create-key-title">
            <h2 id="create-key-title" class="text-base font-semibold">"Create an API key"</h2>
            <form class="mt-3 grid gap-3 sm:grid-cols-3" on:submit=create>
                <div>
                    <label class=LABEL for="key-name">"Name"</label>
                    <input id="key-name" class=INPUT required placeholder="scoring service"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                </div>
                <fieldset class="sm:col-span-2">
                    <legend class=LABEL>"Scopes"</legend>
                    {chosen.iter().map(|(scope, on)| {
                        let on = *on;
                        let id = format!("scope-{}", scope.as_str().replace(':', "-"));
                        view! {
                            <div class="mt-1 flex items-center gap-2 text-sm">
                                <input id=id.clone() type="checkbox" class="h-4 w-4 rounded border-slate-300 text-indigo-600" bind:checked=on />
                                <label for=id><code class="rounded bg-slate-100 px-1">{scope.as_str()}</code>" "{scope.label()}</label>
                            </div>
                        }
                    }).collect_view()}
                </fieldset>
                <fieldset class="sm:col-span-3">
                    <legend class=LABEL>"Instances"</legend>
                    <div class="mt-1 flex flex-wrap gap-4 text-sm">
                        <label class="flex items-center gap-2">
                            <input type="radio" name="key-instances" class="h-4 w-4" prop:checked=move || !limited.get() on:change=move |_| limited.set(false) />
                            "Every instance"
                        </label>
                        <label class="flex items-center gap-2">
                            <input type="radio" name="key-instances" id="key-instances-chosen" class="h-4 w-4" prop:checked=move || limited.get() on:change=move |_| limited.set(true) />
                            "Only the instances chosen below (it sees nothing of the others)"
                        </label>
                    </div>
                    <Show when=move || limited.get()>
                        <Transition fallback=|| view! { <Loading what="the instances" /> }>
                            {move || Suspend::new(async move {
                                match instances.await {
                                    Ok(list) => view! {
                                        <div class="mt-2 max-h-48 overflow-y-auto rounded-md border border-slate-200 p-2" data-testid="key-instance-choices">
                                            {list.into_iter().map(|i| {
                                                let id = i.id.clone();
                                                let box_id = format!("key-instance-{}", i.id);
                                                let on_change = move |ev: leptos::ev::Event| {
                                                    let on = event_target_checked(&ev);
                                                    let id = id.clone();
                                                    picked.update(|p| {
                                                        p.retain(|x| *x != id);
                                                        if on {
                                                            p.push(id);
                                                        }
                                                    });
                                                };
                                                view! {
                                                    <div class="flex items-center gap-2 text-sm">
                                                        <input id=box_id.clone() type="checkbox" class="h-4 w-4 rounded border-slate-300 text-indigo-600" on:change=on_change />
                                                        <label for=box_id>{i.name}" "<span class="font-mono text-xs text-slate-500">{i.id}</span></label>
                                                    </div>
                                                }
                                            }).collect_view()}
                                        </div>
                                    }.into_any(),
                                    Err(e) => view! { <ErrorNotice error=e /> }.into_any(),
                                }
                            })}
                        </Transition>
                    </Show>
                </fieldset>
                <div>
                    <label class=LABEL for="key-days">"Expires after (days; empty: never)"</label>
                    <input id="key-days" class=INPUT inputmode="numeric" prop:value=move || days.get()
                        on:input=move |ev| days.set(event_target_value(&ev)) />
                </div>
                <div class="flex items-end"><button type="submit" class=PRIMARY>"Create key"</button></div>
            </form>
            {move || error.get().map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
            {move || shown.get().map(|secret| view! {
                <div class="mt-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900" role="status" data-testid="new-api-key">
                    <p class="font-medium">"Copy the key now: it is not shown again."</p>
                    <code class="mt-2 block break-all rounded bg-white p-2 font-mono text-xs" data-testid="new-api-key-value">{secret}</code>
                </div>
            })}
        </section>
    }
}

#[component]
fn ApiKeysTable(list: Vec<ApiKeyView>, changed: RwSignal<u32>) -> impl IntoView {
    if list.is_empty() {
        return view! {
            <div class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-10 text-center" data-testid="api-keys-empty">
                <p class="font-medium">"No API key yet"</p>
            </div>
        }
        .into_any();
    }
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    let revoke = move |id: String| {
        spawn_local(async move {
            match revoke_api_key(id).await {
                Ok(()) => {
                    notice("The API key is revoked: it stops working at once.");
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        {move || error.get().map(|e| view! { <div class="mt-6"><ErrorNotice error=e /></div> })}
        <DataTable caption="API keys" testid="api-keys"
            headings=vec!["Name", "Key", "Scopes", "Instances", "Created", "Expires", "Last used", "State", ""]>
            {list.into_iter().map(|k| {
                let id = k.id.clone();
                let live = k.live;
                view! {
                    <tr data-testid="api-key-row">
                        <td class="px-4 py-2 font-medium">{k.name}</td>
                        <td class="px-4 py-2 font-mono text-xs">{format!("{}…", k.prefix)}</td>
                        <td class="px-4 py-2 text-xs">{k.scopes.join(", ")}</td>
                        <td class="px-4 py-2 font-mono text-xs">{k.instances.map_or_else(|| "every instance".to_string(), |i| i.join(", "))}</td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600"><Time iso=k.created_at /></td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600">{k.expires_at.map(|t| view! { <Time iso=t /> }.into_any()).unwrap_or_else(|| view! { <span>"never"</span> }.into_any())}</td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600">{k.last_used_at.map(|t| view! { <Time iso=t /> }.into_any()).unwrap_or_else(|| view! { <span>"never"</span> }.into_any())}</td>
                        <td class="px-4 py-2" data-testid="api-key-state">{if k.revoked_at.is_some() { "revoked" } else if live { "live" } else { "expired" }}</td>
                        <td class="px-4 py-2">{live.then(|| view! {
                            <button type="button" class=BUTTON on:click=move |_| revoke(id.clone())>"Revoke"</button>
                        })}</td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
    .into_any()
}
