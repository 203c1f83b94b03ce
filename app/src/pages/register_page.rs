use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::*;
use crate::error::AppError;
use crate::pages::profile_fields::{Profile, ProfileFields};
use crate::server_fns::instances::instance_choices;
use crate::server_fns::users::register_user;
use tus_wire::model::{RegisterRequest, UserFieldsInput};
use tus_wire::views::{Flag, RegisteredUser};

/// Registers one user by hand, validated as `Registration/Create` validates; the new
/// tokens are shown once.
#[component]
pub fn RegisterPage() -> impl IntoView {
    let result = RwSignal::new(None::<RegisteredUser>);
    view! {
        <Title text="Register a user" />
        <PageHeader title="Register a user" subtitle="The same registration as POST /v1/Registration/Create, into the instance you pick." />
        {move || match result.current() {
            Some(r) => view! { <Registered user=r again=result /> }.into_any(),
            None => view! { <RegisterForm result /> }.into_any(),
        }}
    }
}

#[component]
fn RegisterForm(result: RwSignal<Option<RegisteredUser>>) -> impl IntoView {
    let choices = Resource::new(|| (), |_| instance_choices());
    let profile = Profile::empty();
    let custom_token = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let deliver = RwSignal::new(String::new());
    let instance = RwSignal::new(String::new());
    let status = RwSignal::new("Active".to_string());
    let create_tokens = RwSignal::new(true);
    // The API's defaults: tracking and the SDK on, logging and real time off.
    let flags = Flag::ALL.map(|f| (f, RwSignal::new(matches!(f, Flag::Tracking | Flag::Sdk))));
    let errors = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let opt = |s: RwSignal<String>| {
            Some(s.get_untracked().trim().to_string()).filter(|v| !v.is_empty())
        };
        let flag = |f: Flag| {
            flags
                .iter()
                .find(|(g, _)| *g == f)
                .map(|(_, s)| s.get_untracked())
        };
        let request = RegisterRequest {
            create_access_token: Some(create_tokens.get_untracked()),
            custom_token: opt(custom_token),
            status: opt(status),
            password: opt(password),
            deliver: opt(deliver),
            user_fields: Some(UserFieldsInput {
                enable_tracking: flag(Flag::Tracking),
                enable_logging: flag(Flag::Logging),
                enabled: flag(Flag::Sdk),
                enable_real_time_location: flag(Flag::RealTime),
                client_id: None,
            }),
            ..Default::default()
        };
        let request = match profile.registration(request) {
            Ok(r) => r,
            Err(e) => return errors.set(Some(e)),
        };
        let instance_id = instance.get_untracked();
        errors.set(None);
        busy.set(true);
        spawn_local(async move {
            match register_user(instance_id, request).await {
                Ok(r) => result.set(Some(r)),
                Err(e) => errors.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let errs: Signal<Option<AppError>> = errors.into();
    let select = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40";
    view! {
        <form class="mt-6 space-y-6" on:submit=submit novalidate data-testid="register-form">
            <section class=CARD aria-labelledby="where-title">
                <h2 id="where-title" class="text-base font-semibold">"Instance and access"</h2>
                <div class="mt-4 grid gap-4 sm:grid-cols-2">
                    <div>
                        <label class=LABEL for="field-instanceid">"Instance"</label>
                        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading instances…"</p> }>
                            {move || Suspend::new(async move {
                                let list = choices.await.unwrap_or_default();
                                let list: Vec<_> = list.into_iter().filter(|i| i.active).collect();
                                // try_: this future may outlive the form (a server render ending).
                                if instance.try_get_untracked().is_some_and(|i| i.is_empty()) {
                                    if let Some(first) = list.first() {
                                        instance.try_set(first.id.clone());
                                    }
                                }
                                view! {
                                    <select id="field-instanceid" class=select on:change=move |ev| instance.set(event_target_value(&ev))>
                                        {list.into_iter().map(|i| {
                                            let id = i.id.clone();
                                            view! { <option value=i.id selected=move || instance.current() == id>{i.name}</option> }
                                        }).collect_view()}
                                    </select>
                                }
                            })}
                        </Transition>
                        <p class="mt-1 text-xs text-red-700">{move || errs.current_with(|e| field_error(e, "InstanceId"))}</p>
                    </div>
                    <div>
                        <label class=LABEL for="field-status">"Status"</label>
                        <select id="field-status" class=select on:change=move |ev| status.set(event_target_value(&ev))>
                            <option value="Active" selected=true>"Active"</option>
                            <option value="Deactivated">"Deactivated (no tokens)"</option>
                        </select>
                    </div>
                    <TextField label="CustomToken (optional)" key="CustomToken" value=custom_token errors=errs hint="A DeviceToken (UUID) of your choosing; a random one otherwise" />
                    <TextField label="Password (optional)" key="Password" value=password errors=errs kind="password" autocomplete="new-password" hint="Lets the user log in by e-mail or phone" />
                    <div>
                        <label class=LABEL for="field-deliver">"Or send a generated password"</label>
                        <select id="field-deliver" class=select on:change=move |ev| deliver.set(event_target_value(&ev))
                            aria-invalid=move || errs.current_with(|e| field_error(e, "Deliver").is_some()).to_string()>
                            <option value="" selected=true>"No"</option>
                            <option value="Email">"By e-mail, to the E-mail above"</option>
                            <option value="Sms">"By SMS, to the Phone above"</option>
                        </select>
                        <p class="mt-1 text-xs text-red-700">{move || errs.current_with(|e| field_error(e, "Deliver"))}</p>
                    </div>
                    <div class="flex items-center gap-2 sm:col-span-2">
                        <input id="field-createaccesstoken" type="checkbox" class="h-4 w-4 rounded border-slate-300 text-indigo-600" bind:checked=create_tokens />
                        <label for="field-createaccesstoken" class="text-sm">"Create an access token and a refresh token (CreateAccessToken)"</label>
                    </div>
                </div>
            </section>
            <section class=CARD aria-labelledby="flags-title">
                <h2 id="flags-title" class="text-base font-semibold">"Telematics flags"</h2>
                <div class="mt-3 grid gap-3 sm:grid-cols-4">
                    {flags.into_iter().map(|(f, on)| {
                        let id = format!("field-flag-{}", f.key());
                        view! {
                            <div class="flex items-center gap-2">
                                <input id=id.clone() type="checkbox" class="h-4 w-4 rounded border-slate-300 text-indigo-600" bind:checked=on />
                                <label for=id class="text-sm">{f.label()}</label>
                            </div>
                        }
                    }).collect_view()}
                </div>
            </section>
            <section class=CARD aria-labelledby="profile-title">
                <h2 id="profile-title" class="text-base font-semibold">"Profile"</h2>
                <div class="mt-4 grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
                    <ProfileFields profile errors=errs />
                </div>
            </section>
            <FormError errors />
            <div class="flex gap-3">
                <button type="submit" class=PRIMARY disabled=move || busy.current()>
                    {move || if busy.current() { "Registering…" } else { "Register" }}
                </button>
                <A href="/" attr:class=BUTTON>"Cancel"</A>
            </div>
        </form>
    }
    .into_any()
}

/// The one-time answer: DeviceToken and tokens with copy buttons, and the claims.
#[component]
fn Registered(user: RegisteredUser, again: RwSignal<Option<RegisteredUser>>) -> impl IntoView {
    let secret_row = |label: &'static str, testid: &'static str, value: String| {
        view! {
            <div>
                <dt class="text-sm font-medium text-slate-700">{label}</dt>
                <dd class="mt-1 flex items-start gap-2">
                    <code class="block min-w-0 flex-1 break-all rounded bg-slate-100 p-2 font-mono text-xs" data-testid=testid>{value.clone()}</code>
                    <CopyButton text=value label=label />
                </dd>
            </div>
        }
    };
    let href = format!("/users/{}", user.device_token);
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="done-title" data-testid="registered">
            <h2 id="done-title" class="text-base font-semibold text-emerald-800">"User registered"</h2>
            {user.refresh_token.is_some().then(|| view! {
                <p class="mt-2 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900" role="alert">
                    <strong>"Copy the tokens now. "</strong>
                    "They are shown this once and cannot be shown again: the service keeps only a hash of the refresh token."
                </p>
            })}
            <dl class="mt-4 space-y-4">
                {secret_row("DeviceToken", "new-device-token", user.device_token.clone())}
                {user.access_token.clone().map(|t| secret_row("Access token", "new-access-token", t))}
                {user.refresh_token.clone().map(|t| secret_row("Refresh token", "new-refresh-token", t))}
            </dl>
            {user.expires_in.map(|s| view! { <p class="mt-2 text-xs text-slate-500">{format!("The access token expires in {s} seconds.")}</p> })}
            {user.claims.clone().map(|c| view! {
                <h3 class="mt-5 text-sm font-semibold">"Access token claims"</h3>
                <pre class="mt-1 overflow-x-auto rounded bg-slate-900 p-3 text-xs text-slate-100" data-testid="claims">{c}</pre>
            })}
            {user.access_token.is_none().then(|| view! {
                <p class="mt-3 text-sm text-slate-600">"No tokens were created (CreateAccessToken was off, or the user is deactivated)."</p>
            })}
            <div class="mt-5 flex gap-3">
                <A href=href attr:class=PRIMARY>"Open the user"</A>
                <button type="button" class=BUTTON on:click=move |_| again.set(None)>"Register another"</button>
            </div>
        </section>
    }
    .into_any()
}
