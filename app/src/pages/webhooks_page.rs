use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::*;
use crate::error::AppError;
use crate::server_fns::webhooks::{
    create_webhook, delete_webhook, replay_webhook, resend_webhook_delivery, rotate_webhook_secret,
    test_webhook, update_webhook, webhook_detail, webhooks,
};
use tus_wire::model::{WebhookDeliveryView, WebhookInput, WebhookReplay, WebhookView};
use tus_wire::views::EventType;

/// Subscriptions of other systems to events: subscribe a URL (its secret shown once), see
/// which are failing or were disabled automatically, enable, disable, test, delete.
#[component]
pub fn WebhooksPage() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let list = Resource::new(move || changed.current(), |_| webhooks());
    let notice = Notice::provide();
    view! {
        <Title text="Webhooks" />
        <NoticeLine notice />
        <PageHeader title="Webhooks" subtitle="Other systems (CRM, policy, billing) learn of every change at once: each event is POSTed to the URLs subscribed to it, signed the Standard Webhooks way, retried for hours, in order per driver." />
        <Transition fallback=|| view! { <Loading what="the webhooks" /> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(list) => view! { <DisabledNotice list=list.clone() /><WebhooksTable list changed /> }.into_any(),
                    Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                }
            })}
        </Transition>
        <CreateWebhookCard changed />
    }
}

/// The dashboard's notice of webhooks disabled automatically.
#[component]
fn DisabledNotice(list: Vec<WebhookView>) -> impl IntoView {
    let off: Vec<WebhookView> = list
        .into_iter()
        .filter(|w| {
            !w.enabled
                && w.disabled_reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("disabled automatically"))
        })
        .collect();
    (!off.is_empty()).then(|| view! {
        <div class="mt-6 rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900" role="alert" data-testid="webhooks-disabled-notice">
            <p class="font-medium">{format!("{} webhook(s) were disabled after failing too long; their events are kept and can be replayed once the receiver is back.", off.len())}</p>
            <ul class="mt-1 list-disc pl-5">
                {off.into_iter().map(|w| view! {
                    <li><a class="underline" href=format!("/webhooks/{}", w.id)>{w.url}</a>": "{w.disabled_reason.unwrap_or_default()}</li>
                }).collect_view()}
            </ul>
        </div>
    })
}

fn state_of(w: &WebhookView) -> (&'static str, String) {
    match (w.enabled, &w.failing_since) {
        (false, _) => ("rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600 ring-1 ring-slate-200", "disabled".into()),
        (true, Some(since)) => ("rounded-full bg-amber-50 px-2 py-0.5 text-xs font-medium text-amber-800 ring-1 ring-amber-200", format!("failing since {}", short_time(since))),
        (true, None) => ("rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700 ring-1 ring-emerald-200", "enabled".into()),
    }
}

fn scope_words(w: &WebhookView) -> String {
    match (&w.instances, &w.applications) {
        (Some(i), _) => format!("instances {}", i.join(", ")),
        (None, Some(a)) => format!("applications {}", a.join(", ")),
        (None, None) => "every instance".into(),
    }
}

#[component]
fn WebhooksTable(list: Vec<WebhookView>, changed: RwSignal<u32>) -> impl IntoView {
    if list.is_empty() {
        return view! {
            <div class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-10 text-center" data-testid="webhooks-empty">
                <p class="font-medium">"No webhook yet"</p>
                <p class="mt-1 text-sm text-slate-600">"Subscribe a URL below; a test event checks the receiver."</p>
            </div>
        }
        .into_any();
    }
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    let toggle = move |id: String, enable: bool| {
        spawn_local(async move {
            let input = WebhookInput {
                enabled: Some(enable),
                ..Default::default()
            };
            match update_webhook(id, input).await {
                Ok(_) => {
                    notice(if enable {
                        "The webhook is enabled."
                    } else {
                        "The webhook is disabled: it gets no events until enabled."
                    });
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let test = move |id: String| {
        spawn_local(async move {
            match test_webhook(id).await {
                Ok(d) => notice(&format!("A webhook.test event ({}) is on its way: its delivery shows in the webhook's log.", d.event_id)),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        {move || error.get().map(|e| view! { <div class="mt-6"><ErrorNotice error=e /></div> })}
        <DataTable caption="Webhooks" testid="webhooks"
            headings=vec!["URL", "Events", "Scope", "State", "Created", ""]>
            {list.into_iter().map(|w| {
                let (class, state) = state_of(&w);
                let (id1, id2, id3) = (w.id.clone(), w.id.clone(), w.id.clone());
                let enabled = w.enabled;
                view! {
                    <tr data-testid="webhook-row">
                        <td class="px-4 py-2">
                            <a class="font-medium text-indigo-700 underline" href=format!("/webhooks/{id1}")>{w.url.clone()}</a>
                            <div class="text-xs text-slate-500">{w.description.clone()}</div>
                        </td>
                        <td class="px-4 py-2 text-xs">{w.event_types.clone().map_or_else(|| "every event".to_string(), |t| t.join(", "))}</td>
                        <td class="px-4 py-2 text-xs">{scope_words(&w)}</td>
                        <td class="px-4 py-2"><span class=class data-testid="webhook-state">{state}</span></td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600"><Time iso=w.created_at.clone() /></td>
                        <td class="whitespace-nowrap px-4 py-2">
                            <button type="button" class=BUTTON on:click=move |_| test(id2.clone())>"Send test"</button>
                            " "
                            <button type="button" class=BUTTON on:click=move |_| toggle(id3.clone(), !enabled)>{if enabled { "Disable" } else { "Enable" }}</button>
                        </td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
    .into_any()
}

#[component]
fn CreateWebhookCard(changed: RwSignal<u32>) -> impl IntoView {
    let url = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let allow_private = RwSignal::new(false);
    let chosen = EventType::ALL
        .into_iter()
        .filter(|t| *t != EventType::WebhookTest)
        .map(|t| (t, RwSignal::new(false)))
        .collect::<Vec<_>>();
    let limited = RwSignal::new(false);
    let picked = RwSignal::new(Vec::<String>::new());
    let error = RwSignal::new(None::<AppError>);
    let shown = RwSignal::new(None::<String>);
    let chosen_for_submit = chosen.clone();
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        shown.set(None);
        let types: Vec<String> = chosen_for_submit
            .iter()
            .filter(|(_, on)| on.get_untracked())
            .map(|(t, _)| t.as_str().to_string())
            .collect();
        let input = WebhookInput {
            url: Some(url.get_untracked()),
            description: Some(description.get_untracked()),
            event_types: (!types.is_empty()).then_some(types),
            instances: limited.get_untracked().then(|| picked.get_untracked()),
            allow_private: Some(allow_private.get_untracked()),
            ..Default::default()
        };
        spawn_local(async move {
            match create_webhook(input).await {
                Ok(made) => {
                    shown.set(Some(made.secret));
                    url.set(String::new());
                    description.set(String::new());
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="create-webhook-title">
            <h2 id="create-webhook-title" class="text-base font-semibold">"Subscribe a URL"</h2>
            <form class="mt-3 grid gap-3 sm:grid-cols-2" on:submit=create>
                <div>
                    <label class=LABEL for="webhook-url">"URL"</label>
                    <input id="webhook-url" class=INPUT required placeholder="https://crm.example.com/tus-events"
                        prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev)) />
                    {move || field_error(&error.get(), "Url").map(|m| view! { <p class="mt-1 text-sm text-red-700">{m}</p> })}
                </div>
                <div>
                    <label class=LABEL for="webhook-description">"Description"</label>
                    <input id="webhook-description" class=INPUT placeholder="CRM sync"
                        prop:value=move || description.get() on:input=move |ev| description.set(event_target_value(&ev)) />
                </div>
                <fieldset class="sm:col-span-2">
                    <legend class=LABEL>"Events (none ticked: every event)"</legend>
                    <div class="mt-1 grid gap-1 sm:grid-cols-2">
                        {chosen.iter().map(|(t, on)| {
                            let on = *on;
                            let id = format!("event-{}", t.as_str().replace('.', "-"));
                            view! {
                                <div class="flex items-center gap-2 text-sm">
                                    <input id=id.clone() type="checkbox" class="h-4 w-4 rounded border-slate-300 text-indigo-600" bind:checked=on />
                                    <label for=id><code class="rounded bg-slate-100 px-1">{t.as_str()}</code>" "{t.label()}</label>
                                </div>
                            }
                        }).collect_view()}
                    </div>
                </fieldset>
                <div class="sm:col-span-2">
                    <InstancePicker limited picked what="events of the others are not sent" group="webhook-instance" />
                </div>
                <div class="flex items-center gap-2 text-sm sm:col-span-2">
                    <input id="webhook-private" type="checkbox" class="h-4 w-4 rounded border-slate-300 text-indigo-600" bind:checked=allow_private />
                    <label for="webhook-private">"Allow a loopback or private-network URL (and plain http to it); link-local and metadata addresses are never called"</label>
                </div>
                <div><button type="submit" class=PRIMARY>"Subscribe"</button></div>
            </form>
            {move || error.get().filter(|e| field_error(&Some(e.clone()), "Url").is_none()).map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
            {move || shown.get().map(|secret| view! { <ShownOnce value=secret testid="webhook-secret" message="Copy the signing secret now: it is not shown again. The receiver verifies every request with it." /> })}
        </section>
    }
}

/// One webhook: its settings, its delivery log (resend any), rotate the secret, replay a
/// time range, delete.
#[component]
pub fn WebhookPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.current_with(|p| p.get("webhook_id").unwrap_or_default());
    let reloads = RwSignal::new(0u32);
    let detail = Resource::new(
        move || (id(), reloads.current()),
        |(id, _)| webhook_detail(id),
    );
    let notice = Notice::provide();
    view! {
        <NoticeLine notice />
        <Transition fallback=|| view! { <Loading what="the webhook" /> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok((hook, deliveries)) => view! { <WebhookView hook deliveries reloads /> }.into_any(),
                    Err(e) => view! {
                        <Title text="Webhook" />
                        <ErrorNotice error=e />
                        <p class="mt-4 text-sm"><a href="/webhooks" class="text-indigo-700 underline">"Back to the webhooks"</a></p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn WebhookView(
    hook: WebhookView,
    deliveries: Vec<WebhookDeliveryView>,
    reloads: RwSignal<u32>,
) -> impl IntoView {
    let id = hook.id.clone();
    let (class, state) = state_of(&hook);
    let subtitle = format!("{} · {}", hook.description, hook.id);
    view! {
        <Title text="Webhook" />
        <PageHeader title=hook.url.clone() subtitle />
        <p class="mt-2 text-sm"><a href="/webhooks" class="text-indigo-700 underline">"All webhooks"</a></p>
        <section class=format!("{CARD} mt-4 grid gap-2 text-sm sm:grid-cols-2")>
            <div><span class="text-slate-500">"State: "</span><span class=class data-testid="webhook-state">{state}</span></div>
            <div><span class="text-slate-500">"Events: "</span>{hook.event_types.clone().map_or_else(|| "every event".to_string(), |t| t.join(", "))}</div>
            <div><span class="text-slate-500">"Scope: "</span>{scope_words(&hook)}</div>
            <div><span class="text-slate-500">"Created: "</span><Time iso=hook.created_at.clone() />" by "{hook.created_by.clone()}</div>
            {hook.disabled_reason.clone().map(|r| view! { <div class="sm:col-span-2 text-red-800">{r}</div> })}
            {hook.previous_secret_until.clone().map(|t| view! { <div class="sm:col-span-2">"The previous secret signs too until "<Time iso=t /></div> })}
        </section>
        <div class="mt-4 grid gap-4 lg:grid-cols-3">
            <RotateSecretCard id=id.clone() reloads />
            <ReplayCard id=id.clone() reloads />
            <DeleteWebhookCard id=id.clone() />
        </div>
        <DeliveryLog id deliveries reloads />
    }
}

#[component]
fn RotateSecretCard(id: String, reloads: RwSignal<u32>) -> impl IntoView {
    let hours = RwSignal::new("24".to_string());
    let error = RwSignal::new(None::<AppError>);
    let shown = RwSignal::new(None::<String>);
    let id = StoredValue::new(id);
    let rotate = move |_| {
        let id = id.get_value();
        let overlap = hours
            .get_untracked()
            .trim()
            .parse::<f64>()
            .map_or(-1, |h| (h * 3600.0) as i64);
        error.set(None);
        spawn_local(async move {
            match rotate_webhook_secret(id, overlap).await {
                Ok(made) => {
                    shown.set(Some(made.secret));
                    reloads.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class=CARD aria-labelledby="rotate-secret-title">
            <h2 id="rotate-secret-title" class="text-base font-semibold">"Rotate the secret"</h2>
            <p class="mt-1 text-sm text-slate-600">"During the overlap both secrets sign every request, so the receiver can switch without missing an event."</p>
            <label class=LABEL for="overlap-hours">"Overlap (hours)"</label>
            <input id="overlap-hours" class=INPUT inputmode="decimal" prop:value=move || hours.get() on:input=move |ev| hours.set(event_target_value(&ev)) />
            <button type="button" class=format!("{BUTTON} mt-2") on:click=rotate>"Rotate secret"</button>
            {move || error.get().map(|e| view! { <div class="mt-2"><ErrorNotice error=e /></div> })}
            {move || shown.get().map(|secret| view! { <ShownOnce value=secret testid="webhook-secret" message="Copy the signing secret now: it is not shown again. The receiver verifies every request with it." /> })}
        </section>
    }
}

#[component]
fn ReplayCard(id: String, reloads: RwSignal<u32>) -> impl IntoView {
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    let id = StoredValue::new(id);
    let replay = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let id = id.get_value();
        let range = WebhookReplay {
            from: Some(from.get_untracked()),
            to: Some(to.get_untracked()),
        };
        error.set(None);
        spawn_local(async move {
            match replay_webhook(id, range).await {
                Ok(n) => {
                    notice(&format!("{n} events queued to this webhook again."));
                    reloads.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class=CARD aria-labelledby="replay-title">
            <h2 id="replay-title" class="text-base font-semibold">"Replay"</h2>
            <p class="mt-1 text-sm text-slate-600">"Every event of a time range this webhook subscribes to, sent again (after an outage on the receiver's side)."</p>
            <form on:submit=replay>
                <label class=LABEL for="replay-from">"From (UTC)"</label>
                <input id="replay-from" type="datetime-local" class=INPUT required prop:value=move || from.get() on:input=move |ev| from.set(event_target_value(&ev)) />
                <label class=format!("{LABEL} mt-2") for="replay-to">"To (UTC)"</label>
                <input id="replay-to" type="datetime-local" class=INPUT required prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev)) />
                <button type="submit" class=format!("{BUTTON} mt-2")>"Replay"</button>
            </form>
            {move || error.get().map(|e| view! { <div class="mt-2"><ErrorNotice error=e /></div> })}
        </section>
    }
}

#[component]
fn DeleteWebhookCard(id: String) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None::<AppError>);
    let navigate = leptos_router::hooks::use_navigate();
    let id = StoredValue::new(id);
    let delete = move |_| {
        let id = id.get_value();
        let navigate = navigate.clone();
        spawn_local(async move {
            match delete_webhook(id).await {
                Ok(()) => navigate("/webhooks", Default::default()),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class=CARD aria-labelledby="delete-webhook-title">
            <h2 id="delete-webhook-title" class="text-base font-semibold">"Delete"</h2>
            <p class="mt-1 text-sm text-slate-600">"Its pending deliveries are cancelled; its events stay in the trail."</p>
            <button type="button" class=format!("{BUTTON} mt-2") on:click=move |_| confirming.set(true)>"Delete…"</button>
            {move || confirming.get().then(|| view! {
                <div class="mt-2 flex flex-wrap items-center gap-2 rounded-md border border-red-300 bg-red-50 p-2 text-sm text-red-900" role="alertdialog" aria-label="Confirm the deletion">
                    <span>"Delete this webhook?"</span>
                    <button type="button" class=DANGER on:click=delete.clone()>"Delete"</button>
                    <button type="button" class=BUTTON on:click=move |_| confirming.set(false)>"Cancel"</button>
                </div>
            })}
            {move || error.get().map(|e| view! { <div class="mt-2"><ErrorNotice error=e /></div> })}
        </section>
    }
}

#[component]
fn DeliveryLog(
    id: String,
    deliveries: Vec<WebhookDeliveryView>,
    reloads: RwSignal<u32>,
) -> impl IntoView {
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    let id = StoredValue::new(id);
    let resend = move |delivery: String| {
        let id = id.get_value();
        spawn_local(async move {
            match resend_webhook_delivery(id, delivery).await {
                Ok(_) => {
                    notice("Sent again: the new delivery is at the top.");
                    reloads.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <h2 class="mt-8 text-base font-semibold">"Deliveries"</h2>
        <p class="text-sm text-slate-600">
            "Newest first. "
            <button type="button" class="text-indigo-700 underline" on:click=move |_| reloads.update(|n| *n += 1)>"Refresh"</button>
        </p>
        {move || error.get().map(|e| view! { <div class="mt-2"><ErrorNotice error=e /></div> })}
        {if deliveries.is_empty() {
            view! { <p class="mt-3 text-sm text-slate-600" data-testid="webhook-deliveries-empty">"No delivery yet: send a test event."</p> }.into_any()
        } else {
            view! {
                <DataTable caption="Deliveries" testid="webhook-deliveries"
                    headings=vec!["Event", "User", "State", "Attempts", "Last answer", "Updated", ""]>
                    {deliveries.into_iter().map(|d| {
                        let did = d.id.clone();
                        let answer = match (d.last_status, d.last_took_ms, &d.last_error) {
                            (Some(s), Some(t), _) => format!("{s} in {t} ms"),
                            (None, _, Some(e)) => e.clone(),
                            _ => "—".into(),
                        };
                        view! {
                            <tr data-testid="webhook-delivery-row" data-state=d.state.clone()>
                                <td class="px-4 py-2"><code class="text-xs">{d.event_type.clone()}</code><div class="font-mono text-xs text-slate-500">{d.event_id.clone()}</div></td>
                                <td class="px-4 py-2 font-mono text-xs">{d.device_token.clone().map(|t| view! { <a class="underline" href=format!("/users/{t}")>{t.clone()}</a> })}</td>
                                <td class="px-4 py-2" data-testid="webhook-delivery-state">{d.state.clone()}</td>
                                <td class="px-4 py-2 tabular-nums">{d.attempts}</td>
                                <td class="px-4 py-2 text-xs" title=d.last_error.clone().unwrap_or_default()>{answer}</td>
                                <td class="whitespace-nowrap px-4 py-2 text-slate-600"><Time iso=d.updated_at.clone() /></td>
                                <td class="px-4 py-2"><button type="button" class=BUTTON on:click=move |_| resend(did.clone())>"Resend"</button></td>
                            </tr>
                        }
                    }).collect_view()}
                </DataTable>
            }.into_any()
        }}
    }
}
