use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::components::*;
use crate::error::AppError;
use crate::pages::profile_fields::{Profile, ProfileFields};
use crate::server_fns::instances::instance_choices;
use crate::server_fns::users::*;
use tus_wire::model::UserView;
use tus_wire::views::{span_words, Flag, TokenLineage, UserDetail};

fn display_name(u: &UserView) -> String {
    let p = &u.user_profile;
    let name = full_name(p.first_name.as_deref(), p.last_name.as_deref());
    match (name.is_empty(), &p.email) {
        (false, _) => name,
        (true, Some(e)) => e.clone(),
        (true, None) => u.device_token.clone(),
    }
}

/// One user: profile, flags, status, instance, deletion, and the lineage of its tokens.
#[component]
pub fn UserPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.current_with(|p| p.get("device_token").unwrap_or_default());
    let reloads = RwSignal::new(0u32);
    let user = Resource::new(move || (token(), reloads.current()), |(t, _)| get_user(t));
    // What the signed-in admin's role allows here (the server refuses the rest anyway).
    let me = Resource::new(|| (), |_| crate::server_fns::session::current_admin());
    // Lives above the reloaded view, so "saved" outlasts the reload it causes.
    let notice = Notice::provide();
    view! {
        <NoticeLine notice />
        <Transition fallback=|| view! { <Loading what="the user" /> }>
            {move || Suspend::new(async move {
                let me = me.await.ok();
                let may = move |a: tus_wire::views::Action| me.as_ref().is_some_and(|m| m.may(a));
                let allowed = Allowed {
                    write: may(tus_wire::views::Action::WriteUsers),
                    delete: may(tus_wire::views::Action::DeleteUsers),
                    moving: may(tus_wire::views::Action::MoveUsers),
                };
                match user.await {
                    Ok(detail) => view! { <UserView detail reloads allowed /> }.into_any(),
                    Err(e) => view! {
                        <Title text="User" />
                        <ErrorNotice error=e />
                        <p class="mt-4 text-sm"><a href="/" class="text-indigo-700 underline">"Back to the users"</a></p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What the signed-in admin may do to this user (controls they may not use are not shown).
#[derive(Clone, Copy)]
struct Allowed {
    write: bool,
    delete: bool,
    moving: bool,
}

/// What the device has seen: its activity, its phone, and whether its flags are pending.
#[component]
fn ActivityCard(detail: RwSignal<UserDetail>) -> impl IntoView {
    let line = move || {
        detail.try_with(|d| {
            let u = &d.user;
            let last = d.last_activity_ms.map(|t| span_words(d.as_of_ms - t));
            let status = u.activity_status.clone();
            let window = d.active_window_days;
            let device = u.mobile_device.clone().unwrap_or_default();
            let pending = u.flags_pending.then(|| {
                let refreshed = match &last {
                    Some(ago) => format!("last refresh {ago} ago"),
                    None => "no login or refresh since registration".into(),
                };
                let expires = match d.token_expires_ms {
                    Some(t) if t > d.as_of_ms => {
                        format!("; its token expires in {}", span_words(t - d.as_of_ms))
                    }
                    Some(_) => "; its token has expired".into(),
                    None => String::new(),
                };
                format!("Pending: the device learns the new flags at its next refresh; {refreshed}{expires}.")
            });
            let item = |label: &'static str, value: Option<String>| view! {
                <div><dt class="inline font-medium text-slate-700">{label}": "</dt>
                <dd class="inline">{value.unwrap_or_else(|| "—".into())}</dd></div>
            };
            view! {
                <div class="flex flex-wrap items-center gap-2">
                    <crate::pages::users_page::ActivityBadge status=status />
                    <span class="text-sm text-slate-600" data-testid="last-activity">{match &last {
                        Some(ago) => format!("Last login or refresh {ago} ago"),
                        None => "No login or refresh since registration".into(),
                    }}</span>
                    <span class="text-xs text-slate-500">{format!("(active window: {window} days)")}</span>
                </div>
                {pending.map(|p| view! {
                    <p class="mt-3 rounded-md border border-sky-200 bg-sky-50 p-2 text-sm text-sky-900" role="status" data-testid="flags-pending">{p}</p>
                })}
                <dl class="mt-3 grid grid-cols-1 gap-x-6 gap-y-1 text-sm text-slate-600 sm:grid-cols-3" data-testid="mobile-device">
                    {item("Device", device.device_model)}
                    {item("OS", match (device.os_type, device.os_version) {
                        (Some(t), Some(v)) => Some(format!("{t} {v}")),
                        (t, v) => t.or(v),
                    })}
                    {item("SDK", device.sdk_version)}
                    {item("App", device.app_version)}
                    {item("MobileUid", device.mobile_uid)}
                </dl>
            }
            .into_any()
        })
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="activity-title">
            <h2 id="activity-title" class="text-base font-semibold">"Activity and device"</h2>
            <div class="mt-2">{line}</div>
        </section>
    }
}

#[component]
fn UserView(detail: UserDetail, reloads: RwSignal<u32>, allowed: Allowed) -> impl IntoView {
    let live = RwSignal::new(detail.clone());
    // Time since the page was read, for the countdowns: ticks in the browser only.
    let elapsed = RwSignal::new(0i64);
    let saved = Callback::new(move |d: UserDetail| {
        elapsed.set(0);
        live.set(d);
    });
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || elapsed.update(|e| *e += 30_000),
            std::time::Duration::from_secs(30),
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    });
    let u = detail.user;
    let name = display_name(&u);
    let token = u.device_token.clone();
    let fields = u.user_fields.first().cloned();
    let active = u.status == "Active";
    let subtitle = format!("DeviceToken {}", u.device_token);
    let status = u.status.clone();
    let instance_name = u.account_info.instance_name.clone();
    let instance_id = u.account_info.instance_id.clone();
    let created = u.date_created.clone();
    let has_email = u.user_profile.email.is_some();
    let has_phone = u.user_profile.phone.is_some();
    let (t1, t2, t3, t4) = (token.clone(), token.clone(), token.clone(), token.clone());
    let export_href = format!("/export/users/{token}/data.json");
    view! {
        <Title text=name.clone() />
        <nav class="mb-2 text-sm"><a href="/" class="text-indigo-700 hover:underline">"← Users"</a></nav>
        <PageHeader title=name.clone() subtitle=subtitle>
            <StatusBadge status=status />
            {allowed.write.then(|| view! { <StatusButton token=t1 active reloads /> })}
            <a class=BUTTON href=export_href download="" data-testid="export-user-data">"Export data (JSON)"</a>
            {allowed.delete.then(|| view! { <DeleteButton token=t2 name=name.clone() /> })}
        </PageHeader>
        <dl class="mt-4 grid grid-cols-1 gap-x-6 gap-y-1 text-sm text-slate-600 sm:grid-cols-3">
            <div><dt class="inline font-medium text-slate-700">"Instance: "</dt><dd class="inline" data-testid="user-instance">{instance_name}</dd></div>
            <div><dt class="inline font-medium text-slate-700">"Created: "</dt><dd class="inline"><Time iso=created /></dd></div>
            <div><dt class="inline font-medium text-slate-700">"Last token: "</dt><dd class="inline">{detail.last_token_activity.map(|t| short_time(&t)).unwrap_or_else(|| "never".into())}</dd></div>
        </dl>
        <ActivityCard detail=live />
        <div class="mt-6 grid gap-6 lg:grid-cols-3">
            <section class=format!("{CARD} lg:col-span-1") aria-labelledby="flags-title">
                <h2 id="flags-title" class="text-base font-semibold">"Telematics flags"</h2>
                <p class="mt-1 text-xs text-slate-500">"Saved at once. Apps see a change in the user's next access token."</p>
                <ul class="mt-4 space-y-3">
                    {Flag::ALL.into_iter().map(|f| view! { <FlagSwitch token=t3.clone() flag=f initial=fields.as_ref().is_some_and(|x| f.of(x)) editable=allowed.write saved live elapsed /> }).collect_view()}
                </ul>
                {allowed.moving.then(|| view! { <MoveForm token=t4 current=instance_id reloads /> })}
            </section>
            <section class=format!("{CARD} lg:col-span-2") aria-labelledby="profile-title">
                <h2 id="profile-title" class="text-base font-semibold">"Profile"</h2>
                <ProfileForm user=u reloads />
            </section>
        </div>
        <DeliverySection token=token.clone() has_email has_phone />
        <TokensSection token=token />
    }
    .into_any()
}

/// A new password by e-mail or SMS, and the user's recent messages.
#[component]
fn DeliverySection(token: String, has_email: bool, has_phone: bool) -> impl IntoView {
    let channels = Resource::new(|| (), |_| delivery_channels());
    let sent = RwSignal::new(0u32);
    let list_token = token.clone();
    let deliveries = Resource::new(
        move || sent.current(),
        move |_| user_deliveries(list_token.clone()),
    );
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let notice = Notice::get();
    let invite_token = token.clone();
    let send = move |deliver: &'static str| {
        let token = token.clone();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match send_password(token, deliver.to_string()).await {
                Ok(_) => {
                    notice("A new password is on its way; the user's sessions have ended.");
                    sent.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let send_email = send.clone();
    let invite = move |deliver: &'static str| {
        let token = invite_token.clone();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let target = tus_wire::views::BulkTarget::Selected(vec![token]);
            match crate::server_fns::deliveries::invite_users(target, deliver.to_string(), None)
                .await
            {
                Ok(_) => {
                    notice(if deliver == "Email" {
                        "An invite is on its way: a one-time link to set a password."
                    } else {
                        "An invite is on its way: a one-time code to log in with."
                    });
                    sent.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="delivery-title" data-testid="deliveries">
            <h2 id="delivery-title" class="text-base font-semibold">"Password and messages"</h2>
            <p class="mt-1 text-xs text-slate-500">"A new password is generated, sent, and shown to nobody; the user's sessions end. An invite sends a one-time link (e-mail) or code (SMS) instead."</p>
            <Transition fallback=|| view! { <span class="text-sm text-slate-500">"…"</span> }>
                {move || Suspend::new({
                    let send_email = send_email.clone();
                    let send = send.clone();
                    let invite_email = invite.clone();
                    let invite = invite.clone();
                    async move {
                    let (email_on, sms_on) = channels.await.unwrap_or((false, false));
                    let why = |on: bool, has: bool, what: &str, setting: &str| match (on, has) {
                        (false, _) => Some(format!("{what} is not configured ({setting})")),
                        (true, false) => Some(format!("the user has no {what} address")),
                        _ => None,
                    };
                    let email_off = why(email_on, has_email, "e-mail", "TUS_SMTP_URL");
                    let sms_off = why(sms_on, has_phone, "SMS", "TUS_SMS_URL");
                    let (email_blocked, sms_blocked) = (email_off.is_some(), sms_off.is_some());
                    view! {
                        <div class="mt-3 flex flex-wrap gap-2">
                            <button type="button" class=BUTTON disabled=move || busy.get() || email_blocked
                                title=email_off.clone().unwrap_or_default()
                                on:click=move |_| send_email("Email")>"Send a new password by e-mail"</button>
                            <button type="button" class=BUTTON disabled=move || busy.get() || sms_blocked
                                title=sms_off.clone().unwrap_or_default()
                                on:click=move |_| send("Sms")>"… by SMS"</button>
                        </div>
                        <div class="mt-2 flex flex-wrap gap-2">
                            <button type="button" class=BUTTON disabled=move || busy.get() || email_blocked
                                title=email_off.clone().unwrap_or_else(|| "A one-time link to a page where the driver sets a password".into())
                                on:click=move |_| invite_email("Email")>"Invite by e-mail"</button>
                            <button type="button" class=BUTTON disabled=move || busy.get() || sms_blocked
                                title=sms_off.clone().unwrap_or_else(|| "A one-time code the driver logs in to the app with".into())
                                on:click=move |_| invite("Sms")>"Invite by SMS"</button>
                        </div>
                    }
                }})}
            </Transition>
            {move || error.get().map(|e| view! { <ErrorNotice error=e /> })}
            <Transition fallback=|| view! { <span class="text-sm text-slate-500">"Loading messages…"</span> }>
                {move || Suspend::new(async move {
                    let list = deliveries.await.unwrap_or_default();
                    if list.is_empty() {
                        return view! { <p class="mt-3 text-sm text-slate-500">"No messages yet."</p> }.into_any();
                    }
                    view! {
                        <table class="mt-3 w-full text-left text-sm">
                            <thead class="text-xs text-slate-500"><tr>
                                <th class="py-1">"Sent"</th><th>"What"</th><th>"To"</th><th>"State"</th><th>"Attempts"</th><th>"Last error"</th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|d| view! {
                                    <tr class="border-t border-slate-100" data-testid="delivery-row">
                                        <td class="py-1"><Time iso=d.created_at /></td>
                                        <td>{format!("{} by {}", d.purpose.replace('_', " "), d.kind)}</td>
                                        <td>{d.to}</td>
                                        <td data-testid="delivery-state">{d.state}</td>
                                        <td>{d.attempts}</td>
                                        <td class="text-xs text-rose-700">{d.last_error.unwrap_or_default()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                })}
            </Transition>
        </section>
    }
}

/// A switch saved at once: it moves first, and moves back with a message if saving fails.
#[component]
fn FlagSwitch(
    token: String,
    flag: Flag,
    initial: bool,
    /// Whether the signed-in admin may change it (a Viewer sees it, switched off).
    #[prop(default = true)]
    editable: bool,
    /// The user as the change left it.
    #[prop(optional)]
    saved: Option<Callback<UserDetail>>,
    /// The user as last read (for this flag's end), and how long the page has been open.
    #[prop(optional)]
    live: Option<RwSignal<UserDetail>>,
    #[prop(optional)] elapsed: Option<RwSignal<i64>>,
) -> impl IntoView {
    let on = RwSignal::new(initial);
    // For how long the next switch holds (minutes; empty: for good).
    let hold = RwSignal::new(String::new());
    let saving = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let id = format!("flag-{}", flag.key());
    let toggle = move |_| {
        if saving.get_untracked() {
            return;
        }
        let value = !on.get_untracked();
        on.set(value);
        saving.set(true);
        error.set(None);
        let token = token.clone();
        let minutes = hold.get_untracked().parse::<i64>().ok();
        spawn_local(async move {
            match set_flag(token, flag, value, minutes).await {
                Ok(d) => {
                    let stored = d
                        .user
                        .user_fields
                        .first()
                        .map(|f| flag.of(f))
                        .unwrap_or(value);
                    on.set(stored);
                    if let Some(saved) = saved {
                        saved.run(d);
                    }
                }
                Err(e) => {
                    on.set(!value);
                    error.set(Some(format!("{} was not saved: {e}", flag.label())));
                }
            }
            saving.set(false);
        });
    };
    view! {
        <li>
            <div class="flex items-center justify-between gap-3">
                <span id=id.clone() class="text-sm font-medium">{flag.label()}</span>
                <button
                    type="button"
                    role="switch"
                    aria-labelledby=id.clone()
                    aria-checked=move || on.current().to_string()
                    aria-busy=move || saving.current().to_string()
                    data-testid=format!("switch-{}", flag.key())
                    disabled=!editable
                    on:click=toggle
                    class=move || format!(
                        "relative inline-flex h-6 w-11 shrink-0 items-center rounded-full transition-colors focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:cursor-not-allowed disabled:opacity-50 {}",
                        if on.current() { "bg-indigo-600" } else { "bg-slate-300" }
                    )
                >
                    <span class="sr-only">{move || if on.current() { "On" } else { "Off" }}</span>
                    <span
                        aria-hidden="true"
                        class=move || format!(
                            "inline-block h-5 w-5 transform rounded-full bg-white shadow transition-transform {}",
                            if on.current() { "translate-x-5" } else { "translate-x-0.5" }
                        )
                    ></span>
                </button>
            </div>
            {editable.then(|| view! {
                <div class="mt-1 flex items-center gap-2 text-xs text-slate-600">
                    <label for=format!("hold-{}", flag.key())>"Next switch holds"</label>
                    <select id=format!("hold-{}", flag.key()) data-testid=format!("hold-{}", flag.key())
                        class="rounded border border-slate-300 bg-white px-1 py-0.5 text-xs"
                        on:change=move |ev| hold.set(event_target_value(&ev))>
                        <option value="">"for good"</option>
                        <option value="60">"for 1 hour"</option>
                        <option value="480">"for 8 hours"</option>
                        <option value="1440">"for 24 hours"</option>
                    </select>
                </div>
            })}
            {move || {
                let live = live?;
                let passed = elapsed.map(|e| e.current()).unwrap_or(0);
                live.current_with(|d| {
                    let (_, ends) = d.flag_ends.iter().find(|(f, _)| *f == flag)?;
                    let left = ends - (d.as_of_ms + passed);
                    let now_on = d.user.user_fields.first().is_some_and(|x| flag.of(x));
                    let to = if now_on { "off" } else { "on" };
                    let when = tus_wire::views::span_words(left);
                    let text = if left > 0 {
                        format!("Switches {to} by itself in {when}")
                    } else {
                        format!("Switches {to} by itself now")
                    };
                    Some(view! {
                        <p class="mt-1 text-xs text-sky-800" data-testid=format!("ends-{}", flag.key())
                            title=format!("at {}", clock_of(*ends))>{text}</p>
                    })
                })
            }}
            {move || error.current().map(|m| view! { <p class="mt-1 text-xs text-red-700" role="alert">{m}</p> })}
        </li>
    }
}

/// The time of day of `ms` (UTC), `18:00 UTC`.
fn clock_of(ms: i64) -> String {
    let minutes = ms.rem_euclid(86_400_000) / 60_000;
    format!("{:02}:{:02} UTC", minutes / 60, minutes % 60)
}

#[component]
fn StatusButton(token: String, active: bool, reloads: RwSignal<u32>) -> impl IntoView {
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let notify = Notice::get();
    let click = move |_| {
        let token = token.clone();
        busy.set(true);
        spawn_local(async move {
            match set_status(token, !active).await {
                Ok(_) => {
                    notify(if active {
                        "Deactivated: this user can no longer log in, refresh tokens or use the management API."
                    } else {
                        "Activated: this user can log in and refresh its tokens again."
                    });
                    reloads.update(|n| *n += 1)
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <button type="button" class=BUTTON on:click=click disabled=move || busy.current() data-testid="status-button">
            {if active { "Deactivate" } else { "Activate" }}
        </button>
        {move || error.current().map(|e| view! { <ErrorNotice error=e /> })}
    }
}

/// Deletion behind a dialog that names the user.
#[component]
fn DeleteButton(token: String, name: String) -> impl IntoView {
    let open = RwSignal::new(false);
    let erase = RwSignal::new(false);
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();
    // Focus goes to Cancel when the dialog opens: Enter or Escape never deletes by accident.
    let cancel = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(b) = cancel.current() {
            let _ = b.focus();
        }
    });
    let confirm = move |_| {
        let token = token.clone();
        let navigate = navigate.clone();
        busy.set(true);
        spawn_local(async move {
            match delete_user(token, Some(erase.get_untracked())).await {
                Ok(()) => navigate("/", Default::default()),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <button type="button" class=DANGER on:click=move |_| open.set(true)>"Delete…"</button>
        <Show when=move || open.current()>
            <div
                class="fixed inset-0 z-10 flex items-center justify-center bg-slate-900/40 p-4"
                on:keydown=move |ev| if ev.key() == "Escape" { open.set(false) }
            >
                <div role="alertdialog" aria-modal="true" aria-labelledby="delete-title" aria-describedby="delete-text" class="w-full max-w-md rounded-lg bg-white p-6 shadow-xl">
                    <h2 id="delete-title" class="text-lg font-semibold">{format!("Delete {}?", name)}</h2>
                    <p id="delete-text" class="mt-2 text-sm text-slate-600">
                        {format!("{} and every token issued to this user will be removed. Apps using its tokens stop working. This cannot be undone.", name)}
                    </p>
                    <label class="mt-3 flex items-start gap-2 text-sm text-slate-700">
                        <input type="checkbox" class="mt-0.5 h-4 w-4 rounded border-slate-300" data-testid="erase-traces"
                            prop:checked=move || erase.current() on:change=move |ev| erase.set(event_target_checked(&ev)) />
                        <span>"Also erase what the audit log, events and messages hold about this user (a right-to-erasure request): its entries stay, under a pseudonym and without details."</span>
                    </label>
                    {move || error.current().map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
                    <div class="mt-5 flex justify-end gap-2">
                        <button type="button" class=BUTTON on:click=move |_| open.set(false) node_ref=cancel>"Cancel"</button>
                        <button type="button" class=DANGER on:click=confirm.clone() disabled=move || busy.current() data-testid="confirm-delete">
                            {format!("Delete {}", name)}
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

#[component]
fn MoveForm(token: String, current: String, reloads: RwSignal<u32>) -> impl IntoView {
    let choices = Resource::new(|| (), |_| instance_choices());
    let target = RwSignal::new(current.clone());
    let error = RwSignal::new(None::<AppError>);
    let notify = Notice::get();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let token = token.clone();
        let to = target.get_untracked();
        error.set(None);
        spawn_local(async move {
            match move_user(token, to).await {
                Ok(_) => {
                    notify("Moved. The user's next access token names the new instance.");
                    reloads.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="mt-6 border-t border-slate-100 pt-4" on:submit=submit>
            <label for="move-instance" class=LABEL>"Move to instance"</label>
            <div class="mt-1 flex gap-2">
                <Transition fallback=|| view! { <span class="text-sm text-slate-500">"Loading instances…"</span> }>
                    {move || {
                    let current = current.clone();
                    Suspend::new(async move {
                        let list = choices.await.unwrap_or_default();
                        view! {
                            <select id="move-instance" class="block w-full rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm" on:change=move |ev| target.set(event_target_value(&ev))>
                                {list.into_iter().map(|i| {
                                    let selected = i.id == current;
                                    let label = if i.active { i.name.clone() } else { format!("{} (deactivated)", i.name) };
                                    view! { <option value=i.id selected=selected>{label}</option> }
                                }).collect_view()}
                            </select>
                        }
                    })}}
                </Transition>
                <button type="submit" class=BUTTON>"Move"</button>
            </div>
            {move || error.current().map(|e| view! { <div class="mt-2"><ErrorNotice error=e /></div> })}
        </form>
    }
}

#[component]
fn ProfileForm(user: UserView, reloads: RwSignal<u32>) -> impl IntoView {
    let profile = Profile::of(&user);
    let errors = RwSignal::new(None::<AppError>);
    let token = user.device_token.clone();
    let notify = Notice::get();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let changes = match profile.update() {
            Ok(c) => c,
            Err(e) => return errors.set(Some(e)),
        };
        let token = token.clone();
        errors.set(None);
        spawn_local(async move {
            match update_user(token, changes).await {
                Ok(()) => {
                    notify("Profile saved.");
                    reloads.update(|n| *n += 1);
                }
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    view! {
        <form class="mt-4" on:submit=submit novalidate>
            <div class="grid gap-4 sm:grid-cols-2">
                <ProfileFields profile errors=errors.into() />
            </div>
            <div class="mt-4 flex items-center gap-3">
                <button type="submit" class=PRIMARY>"Save profile"</button>
            </div>
            <div class="mt-3"><FormError errors /></div>
        </form>
    }
    .into_any()
}

#[component]
fn TokensSection(token: String) -> impl IntoView {
    let reloads = RwSignal::new(0u32);
    let t = token.clone();
    let lineage = Resource::new(
        move || (t.clone(), reloads.current()),
        |(t, _)| user_tokens(t),
    );
    let error = RwSignal::new(None::<AppError>);
    let notice = RwSignal::new(None::<String>);
    let revoke = Callback::new(move |family: Option<String>| {
        let token = token.clone();
        error.set(None);
        spawn_local(async move {
            match revoke_tokens(token, family.clone()).await {
                Ok(n) => {
                    notice.set(Some(match family {
                        Some(_) => {
                            "The family is revoked: its refresh and access tokens no longer work."
                                .into()
                        }
                        None => format!(
                            "Every token of this user is revoked ({n} session{}).",
                            if n == 1 { "" } else { "s" }
                        ),
                    }));
                    reloads.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="tokens-title" data-testid="tokens">
            <div class="flex flex-wrap items-center justify-between gap-2">
                <div>
                    <h2 id="tokens-title" class="text-base font-semibold">"Tokens"</h2>
                    <p class="mt-1 text-xs text-slate-500">"What was issued, when and why. Token values are never stored or shown here."</p>
                </div>
                <button type="button" class=DANGER on:click=move |_| revoke.run(None) data-testid="revoke-all">"Revoke every token"</button>
            </div>
            {move || notice.current().map(|m| view! { <p class="mt-3 rounded-md bg-emerald-50 p-2 text-sm text-emerald-800" role="status">{m}</p> })}
            {move || error.current().map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
            <Transition fallback=|| view! { <Loading what="tokens" /> }>
                {move || Suspend::new(async move {
                    match lineage.await {
                        Ok(l) => view! { <Lineage lineage=l revoke /> }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any()
}

fn state_class(state: &str) -> &'static str {
    match state {
        "active" => "rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700",
        "used" => "rounded-full bg-slate-100 px-2 py-0.5 text-xs text-slate-600",
        "revoked" => "rounded-full bg-red-50 px-2 py-0.5 text-xs font-medium text-red-700",
        _ => "rounded-full bg-amber-50 px-2 py-0.5 text-xs text-amber-800",
    }
}

#[component]
fn Lineage(lineage: TokenLineage, revoke: Callback<Option<String>>) -> impl IntoView {
    let th = "px-3 py-2 text-left text-xs font-semibold uppercase tracking-wide text-slate-600";
    let td = "px-3 py-2 align-top";
    let reuse = lineage.reuse_events.clone();
    view! {
        {(!reuse.is_empty()).then(|| view! {
            <div class="mt-4 rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800" role="alert">
                <p class="font-medium">"Refresh-token reuse detected"</p>
                <ul class="mt-1 list-disc pl-5">
                    {reuse.into_iter().map(|e| view! { <li><Time iso=e.at />" — "{e.detail}{e.client_addr.map(|a| format!(" (from {a})"))}</li> }).collect_view()}
                </ul>
            </div>
        })}
        <h3 class="mt-5 text-sm font-semibold">"Sessions (refresh-token families)"</h3>
        {if lineage.families.is_empty() {
            view! { <p class="mt-2 text-sm text-slate-500">"No session: this user has never received a refresh token."</p> }.into_any()
        } else {
            view! {
                <ul class="mt-2 space-y-3">
                    {lineage.families.into_iter().map(|f| {
                        let id = f.id.clone();
                        let revoked = f.revoked_at.is_some();
                        view! {
                            <li class="rounded-md border border-slate-200 p-3" data-testid="family">
                                <div class="flex flex-wrap items-center justify-between gap-2">
                                    <div class="text-sm">
                                        <span class="font-medium">{format!("Started by {}", f.origin)}</span>
                                        " · " <Time iso=f.created_at.clone() />
                                        " · " <span class="font-mono text-xs text-slate-500">{f.id.clone()}</span>
                                        {f.revoked_at.clone().map(|at| view! {
                                            <span class="ml-2 rounded-full bg-red-50 px-2 py-0.5 text-xs font-medium text-red-700" data-testid="family-revoked">
                                                {format!("revoked {} ({})", short_time(&at), f.revoke_reason.clone().unwrap_or_default())}
                                            </span>
                                        })}
                                    </div>
                                    {(!revoked).then(|| view! {
                                        <button type="button" class=BUTTON on:click=move |_| revoke.run(Some(id.clone())) data-testid="revoke-family">"Revoke this session"</button>
                                    })}
                                </div>
                                <div class="mt-2 overflow-x-auto">
                                    <table class="min-w-full text-sm">
                                        <caption class="sr-only">"Refresh tokens of this session"</caption>
                                        <thead><tr>
                                            <th scope="col" class=th>"Refresh token"</th>
                                            <th scope="col" class=th>"State"</th>
                                            <th scope="col" class=th>"Issued"</th>
                                            <th scope="col" class=th>"Expires"</th>
                                            <th scope="col" class=th>"Used"</th>
                                        </tr></thead>
                                        <tbody class="divide-y divide-slate-100">
                                            {f.tokens.into_iter().map(|t| view! {
                                                <tr data-testid="refresh-token">
                                                    <td class=format!("{td} font-mono text-xs")>{t.id.get(..8).unwrap_or_default().to_string()}</td>
                                                    <td class=td><span class=state_class(&t.state) data-testid="refresh-state">{t.state.clone()}</span>
                                                        {t.reason.clone().map(|r| view! { <span class="ml-1 text-xs text-slate-500">{r}</span> })}</td>
                                                    <td class=td><Time iso=t.issued_at /></td>
                                                    <td class=td><Time iso=t.expires_at /></td>
                                                    <td class=td>{t.used_at.map(|u| short_time(&u)).unwrap_or_else(|| "—".into())}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
        <h3 class="mt-5 text-sm font-semibold">{format!("Access tokens issued (newest {} at most)", lineage.access_tokens_total_shown_limit)}</h3>
        {if lineage.access_tokens.is_empty() {
            view! { <p class="mt-2 text-sm text-slate-500">"None yet."</p> }.into_any()
        } else {
            view! {
                <div class="mt-2 overflow-x-auto">
                    <table class="min-w-full text-sm" data-testid="access-tokens">
                        <caption class="sr-only">"Access tokens issued"</caption>
                        <thead><tr>
                            <th scope="col" class=th>"jti"</th>
                            <th scope="col" class=th>"Issued by"</th>
                            <th scope="col" class=th>"Issued"</th>
                            <th scope="col" class=th>"Expires"</th>
                        </tr></thead>
                        <tbody class="divide-y divide-slate-100">
                            {lineage.access_tokens.into_iter().map(|a| view! {
                                <tr data-testid="access-token">
                                    <td class=format!("{td} font-mono text-xs")>{a.jti}</td>
                                    <td class=td data-testid="access-source">{a.source}</td>
                                    <td class=td><Time iso=a.issued_at /></td>
                                    <td class=td>
                                        <Time iso=a.expires_at />
                                        {a.expired.then(|| view! { <span class="ml-1 text-xs text-slate-500">"(expired)"</span> })}
                                    </td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
    .into_any()
}
