use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::components::*;
use crate::error::AppError;
use crate::server_fns::deliveries::{list_deliveries, send_test_message, settle_delivery};
use crate::server_fns::users::delivery_channels;
use tus_wire::views::{DeliveryQuery, DeliveryView};

const KINDS: [(&str, &str); 3] = [("", "Any channel"), ("Email", "E-mail"), ("Sms", "SMS")];
const STATES: [&str; 5] = ["queued", "sending", "sent", "failed", "cancelled"];

fn query_of(map: &ParamsMap) -> DeliveryQuery {
    let get = |k: &str| map.get(k).filter(|v| !v.trim().is_empty());
    DeliveryQuery {
        device_token: get("user"),
        kind: get("kind"),
        state: get("state"),
        before: get("before"),
    }
}

fn filter_pairs(map: &ParamsMap) -> Vec<(&'static str, String)> {
    ["user", "kind", "state"]
        .into_iter()
        .map(|k| (k, map.get(k).unwrap_or_default()))
        .collect()
}

/// The outbox: every message (passwords, codes, invites, tests), its state and attempts;
/// a failed one retried or cancelled; whether e-mail and SMS are configured, and a test.
#[component]
pub fn DeliveriesPage() -> impl IntoView {
    let params = use_query_map();
    let changed = RwSignal::new(0u32);
    let page = Resource::new(
        move || (query_of(&params.current()), changed.current()),
        |(q, _)| list_deliveries(q),
    );
    let notice = Notice::provide();
    view! {
        <Title text="Deliveries" />
        <NoticeLine notice />
        <PageHeader title="Deliveries" subtitle="Every e-mail and SMS the service sends, newest first. Bodies are never shown: they hold passwords and codes, and are deleted once sent." />
        <ChannelsCard changed />
        <Form method="GET" action="/deliveries" attr:class=format!("{CARD} mt-6") attr:role="search" attr:aria-label="Filter the deliveries">
            <div class="grid gap-3 sm:grid-cols-3">
                {move || {
                    let p = params.current();
                    let kind = p.get("kind").unwrap_or_default();
                    let state = p.get("state").unwrap_or_default();
                    view! {
                        <div>
                            <label class=LABEL for="deliveries-kind">"Channel"</label>
                            <select id="deliveries-kind" name="kind" class=INPUT>
                                {KINDS.iter().map(|(v, label)| view! {
                                    <option value=*v selected=kind.eq_ignore_ascii_case(v)>{*label}</option>
                                }).collect_view()}
                            </select>
                        </div>
                        <div>
                            <label class=LABEL for="deliveries-state">"State"</label>
                            <select id="deliveries-state" name="state" class=INPUT>
                                <option value="" selected=state.is_empty()>"Any state"</option>
                                {STATES.iter().map(|s| view! {
                                    <option value=*s selected=state.eq_ignore_ascii_case(s)>{*s}</option>
                                }).collect_view()}
                            </select>
                        </div>
                        <div>
                            <label class=LABEL for="deliveries-user">"User (DeviceToken)"</label>
                            <input id="deliveries-user" name="user" class=INPUT value=p.get("user").unwrap_or_default() placeholder="e.g. 5f0c…" />
                        </div>
                    }
                }}
            </div>
            <div class="mt-3 flex gap-2">
                <button type="submit" class=PRIMARY>"Apply"</button>
                <A href="/deliveries" attr:class=BUTTON>"Clear"</A>
            </div>
        </Form>
        <Transition fallback=|| view! { <Loading what="the deliveries" /> }>
            {move || {
                let filters = params.current();
                Suspend::new(async move {
                    match page.await {
                        Ok(list) => view! { <DeliveriesTable list params=filters changed /> }.into_any(),
                        Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// Whether e-mail and SMS are configured, and a test message on either.
#[component]
fn ChannelsCard(changed: RwSignal<u32>) -> impl IntoView {
    let channels = Resource::new(|| (), |_| delivery_channels());
    let deliver = RwSignal::new("Email".to_string());
    let to = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match send_test_message(deliver.get_untracked(), to.get_untracked()).await {
                Ok(d) => {
                    notice(&format!("A test message to {} is queued.", d.to));
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let badge = |on: bool, setting: &'static str| {
        if on {
            view! { <span class="rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700 ring-1 ring-emerald-200">"configured"</span> }.into_any()
        } else {
            view! { <span class="rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-700 ring-1 ring-slate-200" title=format!("set {setting} and restart")>{format!("not configured ({setting})")}</span> }.into_any()
        }
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="channels-title" data-testid="channels">
            <h2 id="channels-title" class="text-base font-semibold">"Channels"</h2>
            <Transition fallback=|| view! { <span class="text-sm text-slate-500">"…"</span> }>
                {move || Suspend::new(async move {
                    let (email, sms) = channels.await.unwrap_or((false, false));
                    view! {
                        <ul class="mt-2 flex flex-wrap gap-x-6 gap-y-1 text-sm">
                            <li data-testid="channel-email">"E-mail " {badge(email, "TUS_SMTP_URL")}</li>
                            <li data-testid="channel-sms">"SMS " {badge(sms, "TUS_SMS_URL")}</li>
                        </ul>
                    }
                })}
            </Transition>
            <form class="mt-4 flex flex-wrap items-end gap-2" on:submit=send aria-label="Send a test message">
                <div>
                    <label class=LABEL for="test-deliver">"Send a test message by"</label>
                    <select id="test-deliver" class=INPUT on:change=move |ev| deliver.set(event_target_value(&ev))>
                        <option value="Email">"E-mail"</option>
                        <option value="Sms">"SMS"</option>
                    </select>
                </div>
                <div class="min-w-64 flex-1">
                    <label class=LABEL for="test-to">"To"</label>
                    <input id="test-to" class=INPUT required placeholder="ops@example.com or +15550100000"
                        prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev)) />
                </div>
                <button type="submit" class=BUTTON disabled=move || busy.get()>"Send test"</button>
            </form>
            {move || error.get().map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
        </section>
    }
}

fn state_class(state: &str) -> &'static str {
    match state {
        "sent" => "rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700 ring-1 ring-emerald-200",
        "failed" => "rounded-full bg-red-50 px-2 py-0.5 text-xs font-medium text-red-700 ring-1 ring-red-200",
        "cancelled" => "rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600 ring-1 ring-slate-200",
        _ => "rounded-full bg-amber-50 px-2 py-0.5 text-xs font-medium text-amber-800 ring-1 ring-amber-200",
    }
}

#[component]
fn DeliveriesTable(
    list: Vec<DeliveryView>,
    params: ParamsMap,
    changed: RwSignal<u32>,
) -> impl IntoView {
    if list.is_empty() {
        return view! {
            <div class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-10 text-center" data-testid="deliveries-empty">
                <p class="font-medium">"No message matches"</p>
                <p class="mt-1 text-sm text-slate-600">"Messages appear here when a password, a code, an invite or a test is sent."</p>
            </div>
        }
        .into_any();
    }
    let older = (list.len() >= 100).then(|| {
        let mut pairs = filter_pairs(&params);
        pairs.push((
            "before",
            list.last().map(|d| d.id.clone()).unwrap_or_default(),
        ));
        format!("/deliveries{}", query_string(&pairs))
    });
    let newest = params
        .get("before")
        .is_some()
        .then(|| format!("/deliveries{}", query_string(&filter_pairs(&params))));
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    let act = move |id: String, cancel: bool| {
        error.set(None);
        spawn_local(async move {
            match settle_delivery(id, cancel).await {
                Ok(_) => {
                    notice(if cancel {
                        "The message is cancelled."
                    } else {
                        "The message is queued again."
                    });
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        {move || error.get().map(|e| view! { <div class="mt-6"><ErrorNotice error=e /></div> })}
        <DataTable caption="Deliveries" testid="deliveries"
            headings=vec!["Created", "What", "To", "User", "State", "Attempts", "Last error", ""]>
            {list.into_iter().map(|d| {
                let (retry_id, cancel_id) = (d.id.clone(), d.id.clone());
                let can_retry = d.state == "failed";
                let can_cancel = d.state == "failed" || d.state == "queued";
                let user = d.device_token.clone().map(|t| view! {
                    <A href=format!("/users/{t}") attr:class="font-mono text-xs text-indigo-700 underline">{t.chars().take(8).collect::<String>()}"…"</A>
                });
                view! {
                    <tr data-testid="delivery-row" data-id=d.id.clone()>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600"><Time iso=d.created_at /></td>
                        <td class="px-4 py-2">{format!("{} by {}", d.purpose.replace('_', " "), d.kind)}</td>
                        <td class="px-4 py-2">{d.to}</td>
                        <td class="px-4 py-2">{user}</td>
                        <td class="px-4 py-2" data-testid="delivery-state"><span class=state_class(&d.state)>{d.state.clone()}</span>
                            {d.next_attempt_at.map(|n| view! { <span class="ml-1 text-xs text-slate-500">"next "<Time iso=n /></span> })}
                        </td>
                        <td class="px-4 py-2 tabular-nums">{d.attempts}</td>
                        <td class="px-4 py-2 text-xs text-red-700">{d.last_error.unwrap_or_default()}</td>
                        <td class="whitespace-nowrap px-4 py-2">
                            {can_retry.then(|| view! { <button type="button" class=BUTTON on:click=move |_| act(retry_id.clone(), false)>"Retry"</button> })}
                            {can_cancel.then(|| view! { <button type="button" class=format!("{BUTTON} ml-1") on:click=move |_| act(cancel_id.clone(), true)>"Cancel"</button> })}
                        </td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
        <OlderPager newest older />
    }
    .into_any()
}
