use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::*;
use crate::server_fns::overview::get_overview;
use tus_wire::views::{DayCount, Overview};

/// The fleet at a glance.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_overview());
    view! {
        <Title text="Overview" />
        <PageHeader title="Overview" subtitle="Users, flags and token activity of every instance; the last 30 days in UTC." />
        <Transition fallback=|| view! { <Loading what="the overview" /> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => view! { <OverviewView o /> }.into_any(),
                    Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn number(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[component]
fn OverviewView(o: Overview) -> impl IntoView {
    let tiles = [
        ("Users", o.users, "users"),
        ("Active", o.active, "active"),
        ("Deactivated", o.deactivated, "deactivated"),
        ("Tracking on", o.tracking_on, "tracking"),
        ("Debug logging on", o.logging_on, "logging"),
        ("SDK enabled", o.sdk_on, "sdk"),
        ("Real-time location on", o.real_time_on, "realtime"),
    ];
    view! {
        <dl class="mt-6 grid grid-cols-2 gap-3 sm:grid-cols-4 lg:grid-cols-7">
            {tiles.into_iter().map(|(label, n, id)| view! {
                <div class="rounded-lg border border-slate-200 bg-white p-4 shadow-sm">
                    <dt class="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</dt>
                    <dd class="mt-1 text-2xl font-semibold tabular-nums" data-testid=format!("total-{id}")>{number(n)}</dd>
                </div>
            }).collect_view()}
        </dl>
        <section class=format!("{CARD} mt-6") aria-labelledby="activity-title">
            <h2 id="activity-title" class="text-base font-semibold">"Driver activity"</h2>
            <p class="text-xs text-slate-500">"Active: logged in or refreshed within their instance's active window. Lost: not within it. No data: never since registration."</p>
            <dl class="mt-3 grid grid-cols-2 gap-3 sm:grid-cols-4">
                {crate::pages::users_page::ACTIVITIES.into_iter().zip(o.activity).map(|((key, label), n)| view! {
                    <div class="rounded-md border border-slate-200 p-3">
                        <dt class="text-xs font-medium uppercase tracking-wide text-slate-500">
                            <a class="hover:underline" href=format!("/?activity={key}")>{label}</a>
                        </dt>
                        <dd class="mt-1 text-xl font-semibold tabular-nums" data-testid=format!("activity-{key}")>{number(n)}</dd>
                    </div>
                }).collect_view()}
            </dl>
            <h3 class="mt-4 text-sm font-medium text-slate-700">"Active drivers per day"</h3>
            <BarChart days=o.active_drivers label="active drivers" testid="chart-active-drivers" />
        </section>
        <div class="mt-6 grid gap-6 lg:grid-cols-2">
            <section class=CARD aria-labelledby="reg-title">
                <h2 id="reg-title" class="text-base font-semibold">"Registrations per day"</h2>
                <p class="text-xs text-slate-500">"Users registered each day who still exist."</p>
                <BarChart days=o.registrations label="registrations" testid="chart-registrations" />
            </section>
            {if o.scoped {
                view! {
                    <section class=CARD aria-labelledby="ref-title">
                        <h2 id="ref-title" class="text-base font-semibold">"Token refreshes per day"</h2>
                        <p class="mt-2 text-sm text-slate-500" data-testid="scoped-note">"Refreshes and security events span every instance: admins of everything see them here. Your totals and registrations are of your instances only."</p>
                    </section>
                }.into_any()
            } else {
                view! {
                    <section class=CARD aria-labelledby="ref-title">
                        <h2 id="ref-title" class="text-base font-semibold">"Token refreshes per day"</h2>
                        <p class="text-xs text-slate-500">"Access tokens issued by Auth/RefreshToken."</p>
                        <BarChart days=o.refreshes label="refreshes" testid="chart-refreshes" />
                    </section>
                }.into_any()
            }}
        </div>
        {(!o.scoped).then(|| view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="events-title">
            <h2 id="events-title" class="text-base font-semibold">"Latest security events"</h2>
            {if o.security_events.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-500">"None: no refresh-token reuse, failed or throttled login, key reveal, rotation or revocation yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-3 divide-y divide-slate-100 text-sm" data-testid="security-events">
                        {o.security_events.into_iter().map(|e| view! {
                            <li class="flex flex-wrap gap-x-3 py-2">
                                <span class="text-slate-500"><Time iso=e.at /></span>
                                <code class="rounded bg-slate-100 px-1 text-xs">{e.action}</code>
                                <span class="font-mono text-xs">{e.target}</span>
                                <span>{e.detail}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                    <p class="mt-2 text-sm"><a class="text-indigo-700 underline" href="/audit">"The whole audit log"</a></p>
                }.into_any()
            }}
        </section>
        })}
    }
    .into_any()
}

/// 30 bars drawn in SVG by the app (no chart library); each bar says its day and count on
/// hover, and a hidden table gives screen readers the same numbers.
#[component]
fn BarChart(days: Vec<DayCount>, label: &'static str, testid: &'static str) -> impl IntoView {
    const W: f64 = 600.0;
    const H: f64 = 160.0;
    const TOP: f64 = 12.0;
    let max = days.iter().map(|d| d.count).max().unwrap_or(0).max(1);
    let slot = W / days.len().max(1) as f64;
    let total: i64 = days.iter().map(|d| d.count).sum();
    let first = days.first().map(|d| d.day.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.day.clone()).unwrap_or_default();
    let summary = format!("{total} {label} from {first} to {last}; at most {max} in a day");
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let h = (d.count as f64 / max as f64) * (H - TOP);
            let x = i as f64 * slot + slot * 0.15;
            let title = format!("{}: {} {label}", d.day, d.count);
            view! {
                <rect x=format!("{x:.1}") y=format!("{:.1}", H - h) width=format!("{:.1}", slot * 0.7) height=format!("{h:.1}")
                    rx="2" class="fill-indigo-500 hover:fill-indigo-700" data-count=d.count>
                    <title>{title}</title>
                </rect>
            }
        })
        .collect_view();
    view! {
        <figure class="mt-3" data-testid=testid>
            <svg viewBox=format!("0 0 {W} {}", H + 18.0) class="h-auto w-full" role="img" aria-label=summary.clone()>
                <line x1="0" y1=H x2=W y2=H class="stroke-slate-300" stroke-width="1" />
                <text x="0" y="10" class="fill-slate-500 text-[10px]">{format!("max {max}")}</text>
                {bars}
                <text x="0" y=H + 14.0 class="fill-slate-500 text-[10px]">{first.clone()}</text>
                <text x=W y=H + 14.0 text-anchor="end" class="fill-slate-500 text-[10px]">{last.clone()}</text>
            </svg>
            <figcaption class="mt-1 text-xs text-slate-500">{summary}</figcaption>
            <table class="sr-only">
                <caption>{label}</caption>
                <tbody>
                    {days.into_iter().map(|d| view! { <tr><th scope="row">{d.day}</th><td>{d.count}</td></tr> }).collect_view()}
                </tbody>
            </table>
        </figure>
    }
    .into_any()
}
