use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::*;
use crate::error::AppError;
use crate::server_fns::instances::{count_inactive, instance_settings, save_instance_settings};
use tus_wire::model::{CustomFieldsInput, InstanceSettingsView};
use tus_wire::views::Flag;

/// One instance's settings: the active window, the longest debug logging, the flags of new
/// users, its token lifetimes, and the inactivity rule (counted before it is saved).
#[component]
pub fn InstanceSettingsPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.current_with(|p| p.get("instance_id").unwrap_or_default());
    let settings = Resource::new(id, instance_settings);
    view! {
        <Title text="Instance settings" />
        <nav class="mb-2 text-sm"><a href="/instances" class="text-indigo-700 hover:underline">"← Instances"</a></nav>
        <PageHeader title="Instance settings" subtitle="How this instance judges activity, limits debug logging, sets up new users, how long their tokens last, and what happens to inactive ones." />
        <Transition fallback=|| view! { <Loading what="the settings" /> }>
            {move || {
                let instance = id();
                Suspend::new(async move {
                    match settings.await {
                        Ok(s) => view! { <SettingsForm instance s /> }.into_any(),
                        Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

fn number(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A number field's value: empty is none; anything else must parse.
fn parse_number(v: &str, key: &str) -> Result<Option<i64>, (String, String)> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| (key.to_string(), "must be a whole number".to_string()))
}

#[component]
fn SettingsForm(instance: String, s: InstanceSettingsView) -> impl IntoView {
    let window = RwSignal::new(number(s.active_window_days));
    let max_logging = RwSignal::new(number(s.max_logging_minutes));
    let defaults = Flag::ALL.map(|f| {
        RwSignal::new(match f.given_in_custom(&s.default_flags) {
            None => String::new(),
            Some(true) => "on".into(),
            Some(false) => "off".into(),
        })
    });
    let access_minutes = RwSignal::new(number(s.access_token_minutes));
    let refresh_hours = RwSignal::new(number(s.refresh_token_hours));
    let (service_access, service_refresh) = (
        number(s.service_access_token_minutes),
        number(s.service_refresh_token_hours),
    );
    let rule_days = RwSignal::new(number(s.inactivity_days));
    let rule_action = RwSignal::new(
        s.inactivity_action
            .clone()
            .unwrap_or_else(|| "Deactivate".into()),
    );
    let counted = RwSignal::new(None::<(i64, i64)>);
    let error = RwSignal::new(None::<AppError>);
    let saved = RwSignal::new(false);
    let form = move || -> Result<InstanceSettingsView, AppError> {
        let mut bad = Vec::new();
        let mut take = |v: &str, key: &str| match parse_number(v, key) {
            Ok(v) => v,
            Err(e) => {
                bad.push(e);
                None
            }
        };
        let flag = |i: usize| match defaults[i].get_untracked().as_str() {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        };
        let days = take(&rule_days.get_untracked(), "InactivityDays");
        let view = InstanceSettingsView {
            active_window_days: take(&window.get_untracked(), "ActiveWindowDays"),
            max_logging_minutes: take(&max_logging.get_untracked(), "MaxLoggingMinutes"),
            default_flags: CustomFieldsInput {
                enable_tracking: flag(0),
                enable_logging: flag(1),
                enabled: flag(2),
                enable_real_time_location: flag(3),
            },
            inactivity_days: days,
            inactivity_action: days.map(|_| rule_action.get_untracked()),
            access_token_minutes: take(&access_minutes.get_untracked(), "AccessTokenMinutes"),
            refresh_token_hours: take(&refresh_hours.get_untracked(), "RefreshTokenHours"),
            ..Default::default()
        };
        if bad.is_empty() {
            Ok(view)
        } else {
            Err(AppError::Validation(bad))
        }
    };
    let (i1, i2) = (instance.clone(), instance.clone());
    let count = move |_| {
        error.set(None);
        let id = i1.clone();
        let days = match parse_number(&rule_days.get_untracked(), "InactivityDays") {
            Ok(Some(d)) => d,
            Ok(None) => {
                error.set(Some(AppError::Validation(vec![(
                    "InactivityDays".into(),
                    "is required to count".into(),
                )])));
                return;
            }
            Err(e) => {
                error.set(Some(AppError::Validation(vec![e])));
                return;
            }
        };
        spawn_local(async move {
            match count_inactive(id, days).await {
                Ok(n) => counted.set(Some((days, n))),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        saved.set(false);
        let view = match form() {
            Ok(v) => v,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let id = i2.clone();
        spawn_local(async move {
            match save_instance_settings(id, view).await {
                Ok(_) => saved.set(true),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="mt-6 space-y-6" on:submit=save data-testid="instance-settings">
            <section class=CARD aria-labelledby="activity-title">
                <h2 id="activity-title" class="text-base font-semibold">"Activity and debug logging"</h2>
                <div class="mt-3 grid gap-4 sm:grid-cols-2">
                    <div>
                        <label class=LABEL for="active-window">"Active window (days)"</label>
                        <input id="active-window" class=INPUT inputmode="numeric" bind:value=window placeholder="14" />
                        <p class="mt-1 text-xs text-slate-500">"A driver is Active while its last login or refresh is at most this old; after it, Lost."</p>
                    </div>
                    <div>
                        <label class=LABEL for="max-logging">"Longest debug logging (minutes)"</label>
                        <input id="max-logging" class=INPUT inputmode="numeric" bind:value=max_logging placeholder="no limit" />
                        <p class="mt-1 text-xs text-slate-500">"Debug logging drains the battery: switched on, it goes off by itself after this long at most. Empty: no limit."</p>
                    </div>
                </div>
            </section>
            <section class=CARD aria-labelledby="defaults-title">
                <h2 id="defaults-title" class="text-base font-semibold">"Flags of new users"</h2>
                <p class="text-xs text-slate-500">"For a registration that names no value. The API's defaults: tracking on, debug logging off, SDK on, real-time location off."</p>
                <div class="mt-3 grid gap-4 sm:grid-cols-4">
                    {Flag::ALL.into_iter().map(|f| {
                        let signal = defaults[f.index()];
                        let id = format!("default-{}", f.key());
                        view! {
                            <div>
                                <label class=LABEL for=id.clone()>{f.label()}</label>
                                <select id=id class=INPUT on:change=move |ev| signal.set(event_target_value(&ev))>
                                    <option value="" selected=signal.get_untracked().is_empty()>"API default"</option>
                                    <option value="on" selected=signal.get_untracked() == "on">"On"</option>
                                    <option value="off" selected=signal.get_untracked() == "off">"Off"</option>
                                </select>
                            </div>
                        }
                    }).collect_view()}
                </div>
            </section>
            <section class=CARD aria-labelledby="lifetimes-title">
                <h2 id="lifetimes-title" class="text-base font-semibold">"Token lifetimes"</h2>
                <p class="text-xs text-slate-500">"For tokens issued from now on; tokens already out keep theirs. Empty: the service's. No instance may pass the service's (set by TUS_ACCESS_TOKEN_TTL and TUS_REFRESH_TOKEN_TTL)."</p>
                <div class="mt-3 grid gap-4 sm:grid-cols-2">
                    <div>
                        <label class=LABEL for="access-minutes">"Access token (minutes)"</label>
                        <input id="access-minutes" class=INPUT inputmode="numeric" bind:value=access_minutes placeholder=service_access.clone() />
                        <p class="mt-1 text-xs text-slate-500">{format!("1 to {service_access}. A flag change reaches a phone at its next refresh: a shorter lifetime brings it sooner, at the cost of more refreshes.")}</p>
                    </div>
                    <div>
                        <label class=LABEL for="refresh-hours">"Refresh token (hours)"</label>
                        <input id="refresh-hours" class=INPUT inputmode="numeric" bind:value=refresh_hours placeholder=service_refresh.clone() />
                        <p class="mt-1 text-xs text-slate-500">{format!("1 to {service_refresh}. A phone that does not refresh within it must log in again.")}</p>
                    </div>
                </div>
            </section>
            <section class=CARD aria-labelledby="rule-title">
                <h2 id="rule-title" class="text-base font-semibold">"Inactivity rule"</h2>
                <p class="text-xs text-slate-500">"Off while the days are empty. The scheduler runs it at most once an hour; each run is in the audit log. Count first: it says how many users a rule of that many days would act on now."</p>
                <div class="mt-3 flex flex-wrap items-end gap-4">
                    <div>
                        <label class=LABEL for="rule-action">"Action"</label>
                        <select id="rule-action" class=INPUT on:change=move |ev| rule_action.set(event_target_value(&ev))>
                            <option value="Deactivate" selected=rule_action.get_untracked() == "Deactivate">"Deactivate"</option>
                            <option value="Delete" selected=rule_action.get_untracked() == "Delete">"Delete with their tokens"</option>
                        </select>
                    </div>
                    <div>
                        <label class=LABEL for="rule-days">"users without a login or refresh for (days)"</label>
                        <input id="rule-days" class=INPUT inputmode="numeric" bind:value=rule_days placeholder="off" />
                    </div>
                    <button type="button" class=BUTTON on:click=count data-testid="count-inactive">"Count now"</button>
                </div>
                {move || counted.current().map(|(days, n)| view! {
                    <p class="mt-3 rounded-md border border-amber-200 bg-amber-50 p-2 text-sm text-amber-900" role="status" data-testid="inactive-count">
                        {format!("{n} active users have had no login or refresh for {days} days: a rule of {days} days would act on them at its next run.")}
                    </p>
                })}
            </section>
            <div class="flex items-center gap-3">
                <button type="submit" class=PRIMARY>"Save settings"</button>
                {move || saved.current().then(|| view! { <span class="text-sm text-emerald-700" role="status" data-testid="settings-saved">"Saved. The audit log records what changed."</span> })}
            </div>
            {move || error.current().map(|e| view! { <ErrorNotice error=e /> })}
        </form>
    }
}
