//! Batches: the form that registers drivers by quantity, the list of batches, and one
//! batch's page (progress while it runs, its credentials once, its users, batch-wide actions).

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use super::users_page::{flag_cell, BulkBar};
use crate::components::*;
use crate::error::AppError;
use crate::server_fns::batches::*;
use crate::server_fns::instances::instance_choices;
use crate::server_fns::users::list_users;
use tus_wire::views::{BatchCredentials, BatchRequest, BatchState, BatchView, Flag, UserListQuery};

/// How often a running batch's page asks for its progress.
const POLL: Duration = Duration::from_millis(500);

fn state_badge(state: BatchState) -> impl IntoView {
    let class = match state {
        BatchState::Completed => "bg-emerald-50 text-emerald-700 ring-emerald-200",
        BatchState::Running => "bg-indigo-50 text-indigo-700 ring-indigo-200",
        BatchState::Failed | BatchState::Interrupted => "bg-red-50 text-red-700 ring-red-200",
    };
    view! {
        <span class=format!("rounded-full px-2 py-0.5 text-xs font-medium ring-1 {class}") data-testid="batch-state">
            {state.label()}
        </span>
    }
}

fn title_of(b: &BatchView) -> String {
    if b.label.is_empty() {
        format!("Batch {}", &b.id[..8])
    } else {
        b.label.clone()
    }
}

fn credentials_summary(c: &BatchCredentials) -> &'static str {
    match c {
        BatchCredentials::Api => "In the CreateMany response",
        BatchCredentials::NoTokens => "No tokens",
        BatchCredentials::Held { .. } => "Waiting for download",
        BatchCredentials::Taken { .. } => "Downloaded",
        BatchCredentials::Expired => "Expired unread",
    }
}

/// Every batch, newest first, and the form that starts one.
#[component]
pub fn BatchesPage() -> impl IntoView {
    let params = use_query_map();
    let page = Resource::new(move || params.current().get("before"), list_batches);
    view! {
        <Title text="Batches" />
        <PageHeader title="Batches" subtitle="Register drivers by quantity. A batch runs in chunks on the server; its credentials are offered once, as a CSV file." />
        <NewBatch />
        <Transition fallback=|| view! { <Loading what="batches" /> }>
            {move || {
                let before = params.current().get("before");
                Suspend::new(async move {
                    match page.await {
                        Ok(p) if p.rows.is_empty() && before.is_none() => view! {
                            <p class="mt-8 rounded-lg border border-dashed border-slate-300 p-10 text-center text-sm text-slate-600" data-testid="batches-empty">
                                "No batches yet. Start one above, or with " <code>"POST /v1/Registration/CreateMany"</code> "."
                            </p>
                        }.into_any(),
                        Ok(p) => view! {
                            <BatchTable rows=p.rows />
                            <nav class="mt-3 flex gap-2" aria-label="Pages">
                                {before.is_some().then(|| view! { <A href="/batches" attr:class=BUTTON>"Newest"</A> })}
                                {p.next.map(|n| view! { <A href=format!("/batches?before={}", encode_component(&n)) attr:class=BUTTON attr:rel="next">"Older →"</A> })}
                            </nav>
                        }.into_any(),
                        Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn BatchTable(rows: Vec<BatchView>) -> impl IntoView {
    view! {
        <DataTable caption="Batches" testid="batches"
            headings=vec!["Batch", "Instance", "Progress", "State", "Credentials", "Created by", "Created"]>
                    {rows.into_iter().map(|b| {
                        let (href, title) = (format!("/batches/{}", b.id), title_of(&b));
                        view! {
                        <tr data-testid="batch-row">
                            <td class="px-4 py-2"><A href=href attr:class="font-medium text-indigo-700 hover:underline">{title}</A></td>
                            <td class="px-4 py-2">{b.instance_name.clone()}</td>
                            <td class="px-4 py-2 tabular-nums">{format!("{} / {}", thousands(b.done), thousands(b.quantity))}</td>
                            <td class="px-4 py-2">{state_badge(b.state)}</td>
                            <td class="px-4 py-2">{credentials_summary(&b.credentials)}</td>
                            <td class="px-4 py-2">{b.created_by.clone()}</td>
                            <td class="px-4 py-2"><Time iso=b.created_at.clone() /></td>
                        </tr>
                    }}).collect_view()}
        </DataTable>
    }
}

#[component]
fn NewBatch() -> impl IntoView {
    let instances = Resource::new(|| (), |_| instance_choices());
    let form = RwSignal::new(BatchRequest::with_defaults());
    let quantity = RwSignal::new(String::new());
    let label = RwSignal::new(String::new());
    let errors = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut request = form.get_untracked();
        request.quantity = quantity.get_untracked();
        request.label = label.get_untracked();
        errors.set(None);
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match start_batch(request).await {
                Ok(id) => navigate(&format!("/batches/{id}"), Default::default()),
                Err(e) => {
                    busy.set(false);
                    errors.set(Some(e));
                }
            }
        });
    };
    let errs: Signal<Option<AppError>> = errors.into();
    let check = move |key: &'static str, text: &'static str| {
        let id = format!("new-batch-{key}");
        let get = move |r: &BatchRequest| match key {
            "tracking" => r.tracking,
            "logging" => r.logging,
            "sdk" => r.sdk,
            "realtime" => r.realtime,
            _ => r.create_access_token,
        };
        let for_id = id.clone();
        view! {
            <label class="flex items-center gap-2 text-sm" for=for_id>
                <input id=id type="checkbox" class="h-4 w-4 rounded border-slate-300"
                    prop:checked=move || form.current_with(get)
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        form.update(|r| match key {
                            "tracking" => r.tracking = on,
                            "logging" => r.logging = on,
                            "sdk" => r.sdk = on,
                            "realtime" => r.realtime = on,
                            _ => r.create_access_token = on,
                        });
                    } />
                {text}
            </label>
        }
    };
    let instance_error = move || errs.current_with(|e| field_error(e, "instance_id"));
    view! {
        <form class=format!("{CARD} mt-6") on:submit=submit novalidate aria-labelledby="new-batch-title">
            <h2 id="new-batch-title" class="text-base font-semibold">"New batch"</h2>
            <div class="mt-3 grid items-start gap-3 sm:grid-cols-3">
                <div>
                    <label class=LABEL for="new-batch-instance">"Instance"</label>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let list: Vec<_> = instances.await.unwrap_or_default().into_iter().filter(|i| i.active).collect();
                            if form.try_with_untracked(|r| r.instance_id.is_empty()).unwrap_or(false) {
                                if let Some(first) = list.first() {
                                    let id = first.id.clone();
                                    form.try_update(|r| r.instance_id = id);
                                }
                            }
                            let current = form.try_with_untracked(|r| r.instance_id.clone()).unwrap_or_default();
                            view! {
                                <select id="new-batch-instance" class=INPUT aria-invalid=move || instance_error().is_some().to_string()
                                    on:change=move |ev| form.update(|r| r.instance_id = event_target_value(&ev))>
                                    {list.into_iter().map(|i| {
                                        let selected = i.id == current;
                                        view! { <option value=i.id selected=selected>{i.name}</option> }
                                    }).collect_view()}
                                </select>
                            }
                        })}
                    </Transition>
                    <p class="mt-1 text-xs text-red-700" data-testid="error-instance_id">{instance_error}</p>
                </div>
                <TextField label="Quantity" key="quantity" value=quantity errors=errs kind="number" hint="How many users" />
                <TextField label="Label" key="label" value=label errors=errs hint="Optional, e.g. the depot or the order" />
            </div>
            <fieldset class="mt-4">
                <legend class=LABEL>"Every user starts with"</legend>
                <div class="mt-2 flex flex-wrap gap-x-6 gap-y-2">
                    {check("tracking", Flag::Tracking.label())}
                    {check("logging", Flag::Logging.label())}
                    {check("sdk", Flag::Sdk.label())}
                    {check("realtime", Flag::RealTime.label())}
                    {check("tokens", "Issue access and refresh tokens")}
                </div>
            </fieldset>
            <div class="mt-4 flex flex-wrap items-center gap-3">
                <button type="submit" class=PRIMARY disabled=move || busy.current()>"Start batch"</button>
                <FormError errors />
            </div>
        </form>
    }
}

/// One batch: its progress, refreshed while it runs (and after a reload: the server keeps
/// it), its credentials once, its users and batch-wide actions.
#[component]
pub fn BatchPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.current_with(|p| p.get("batch_id").unwrap_or_default());
    let batch = Resource::new(id, get_batch);
    // Polls while the batch runs: each answer schedules the next question.
    Effect::new(move |_| {
        if let Some(Ok(b)) = batch.current() {
            if b.state == BatchState::Running {
                set_timeout(move || batch.refetch(), POLL);
            }
        }
    });
    let notice = RwSignal::new(None::<String>);
    view! {
        <Transition fallback=|| view! { <Loading what="the batch" /> }>
            {move || Suspend::new(async move {
                match batch.await {
                    Ok(b) => view! { <BatchDetail b batch notice /> }.into_any(),
                    Err(e) => view! { <Title text="Batch" /><div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn BatchDetail(
    b: BatchView,
    batch: Resource<Result<BatchView, AppError>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let title = title_of(&b);
    let subtitle = format!(
        "{} users for instance {}, started by {}.",
        thousands(b.quantity),
        b.instance_name,
        b.created_by
    );
    view! {
        <Title text=title.clone() />
        <PageHeader title=title subtitle=subtitle>
            <A href="/batches" attr:class=BUTTON>"All batches"</A>
        </PageHeader>
        {b.is_import.then(|| view! {
            <p class="mt-6 rounded-md border border-indigo-200 bg-indigo-50 p-3 text-sm text-indigo-900" data-testid="batch-is-import">
                "These users came in by an import of a file: its counts, its report and its next steps are on "
                <A href=format!("/import/{}", b.id) attr:class="font-medium underline">"the import's page"</A> "."
            </p>
        })}
        <Progress b=b.clone() batch />
        {(!b.is_import).then(|| view! { <Credentials b=b.clone() batch /> })}
        <BatchUsers b batch notice />
    }
}

#[component]
fn Progress(b: BatchView, batch: Resource<Result<BatchView, AppError>>) -> impl IntoView {
    let error = RwSignal::new(None::<AppError>);
    let batch_id = b.id.clone();
    let act = move |resume: bool| {
        let id = batch_id.clone();
        move |_| {
            let id = id.clone();
            error.set(None);
            spawn_local(async move {
                let answer = if resume {
                    resume_batch(id).await
                } else {
                    stop_batch(id).await
                };
                match answer {
                    Ok(_) => batch.refetch(),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let percent = b.percent();
    let resumable = matches!(b.state, BatchState::Failed | BatchState::Interrupted)
        && b.done < b.quantity
        && matches!(
            b.credentials,
            BatchCredentials::Held { .. } | BatchCredentials::NoTokens
        );
    let status_line = match b.state {
        BatchState::Running => format!(
            "Creating users: {} of {} ({percent}%).",
            thousands(b.done),
            thousands(b.quantity)
        ),
        BatchState::Completed => format!("Completed: {} users.", thousands(b.done)),
        BatchState::Failed => format!(
            "Failed after {} of {} users: {}.",
            thousands(b.done),
            thousands(b.quantity),
            b.error.clone().unwrap_or_default()
        ),
        BatchState::Interrupted => format!(
            "Interrupted after {} of {} users: its server stopped writing it. Resume to go on.",
            thousands(b.done),
            thousands(b.quantity)
        ),
    };
    let bar = match b.state {
        BatchState::Completed => "fill-emerald-500",
        BatchState::Running => "fill-indigo-600",
        _ => "fill-red-500",
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="progress-title">
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h2 id="progress-title" class="text-base font-semibold">"Progress"</h2>
                {state_badge(b.state)}
            </div>
            <ProgressBar label="Users created" value=b.done max=b.quantity fill=bar testid="batch-progress" />
            <p class="mt-2 text-sm text-slate-700" role="status" data-testid="batch-status">{status_line}</p>
            <dl class="mt-3 grid gap-x-6 gap-y-1 text-sm sm:grid-cols-2">
                <div><dt class="inline text-slate-500">"Started "</dt><dd class="inline"><Time iso=b.created_at.clone() /></dd></div>
                {b.finished_at.clone().map(|t| view! { <div><dt class="inline text-slate-500">"Ended "</dt><dd class="inline"><Time iso=t /></dd></div> })}
                <div><dt class="inline text-slate-500">"Flags "</dt><dd class="inline">{
                    Flag::ALL.into_iter().zip(b.flags).map(|(f, on)| format!("{} {}", f.label(), if on { "on" } else { "off" })).collect::<Vec<_>>().join(" · ")
                }</dd></div>
                <div><dt class="inline text-slate-500">"Batch id "</dt><dd class="inline font-mono text-xs">{b.id.clone()}</dd></div>
            </dl>
            <div class="mt-3 flex gap-2">
                {(b.state == BatchState::Running).then(|| view! { <button type="button" class=BUTTON on:click=act(false)>"Stop"</button> })}
                {resumable.then(|| view! { <button type="button" class=PRIMARY on:click=act(true)>"Resume"</button> })}
            </div>
            {move || error.current().map(|e| view! { <div class="mt-2"><ErrorNotice error=e /></div> })}
        </section>
    }
}

#[component]
fn Credentials(b: BatchView, batch: Resource<Result<BatchView, AppError>>) -> impl IntoView {
    let taken_now = RwSignal::new(false);
    let finished = matches!(b.state, BatchState::Completed | BatchState::Failed);
    let body = match b.credentials.clone() {
        BatchCredentials::Held { expires_at } if finished => view! {
            <p class="text-sm text-amber-900">
                "The DeviceToken, access token and refresh token of every user, as a CSV file. "
                <strong>"They can be downloaded once"</strong>
                ": they are deleted from the server as they are sent. Keep the file safe. Until "
                <Time iso=expires_at /> "."
            </p>
            {move || if taken_now.current() {
                view! { <p class="mt-3 text-sm font-medium text-emerald-800" role="status" data-testid="credentials-taken-now">"Downloading. The server no longer holds them."</p> }.into_any()
            } else {
                let action = format!("/export/batches/{}/credentials.csv", b.id);
                view! {
                    <form method="post" action=action class="mt-3"
                        on:submit=move |_| {
                            // Later, not now: a form removed while it submits sends nothing.
                            set_timeout(move || taken_now.set(true), Duration::from_millis(100));
                            set_timeout(move || batch.refetch(), Duration::from_millis(1500));
                        }>
                        <button type="submit" class=PRIMARY data-testid="download-credentials">"Download credentials (once)"</button>
                    </form>
                }.into_any()
            }}
        }.into_any(),
        BatchCredentials::Held { .. } => view! {
            <p class="text-sm text-slate-600">"When the batch ends, the credentials are offered here once, as a CSV file."</p>
        }.into_any(),
        BatchCredentials::Taken { by, at } => view! {
            <p class="text-sm text-slate-700" data-testid="credentials-taken">
                {format!("Downloaded by {by} ")} <Time iso=at />
                ". The server does not keep them: to give a user new tokens, revoke theirs and log them in again."
            </p>
        }.into_any(),
        BatchCredentials::Expired => view! {
            <p class="text-sm text-slate-700">"Nobody downloaded the credentials in time, so they were deleted unread."</p>
        }.into_any(),
        BatchCredentials::NoTokens => view! {
            <p class="text-sm text-slate-700">"This batch was created without tokens: its users log in or are given tokens later."</p>
        }.into_any(),
        BatchCredentials::Api => view! {
            <p class="text-sm text-slate-700">"This batch came from " <code>"Registration/CreateMany"</code> ": its credentials were in that response."</p>
        }.into_any(),
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="credentials-title" data-testid="credentials">
            <h2 id="credentials-title" class="text-base font-semibold">"Credentials"</h2>
            <div class="mt-2">{body}</div>
        </section>
    }
}

#[component]
fn BatchUsers(
    b: BatchView,
    batch: Resource<Result<BatchView, AppError>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let query = UserListQuery::of_batch(&b.id);
    // While the batch runs the page re-renders on every poll: no list until it ends.
    let running = b.state == BatchState::Running;
    let q = query.clone();
    let users = Resource::new(
        move || (q.clone(), running),
        |(q, running)| async move {
            if running {
                Ok(None)
            } else {
                list_users(q).await.map(Some)
            }
        },
    );
    let reload = Callback::new(move |_| {
        users.refetch();
        batch.refetch();
    });
    let all_href = format!("/?batch={}&status=all", b.id);
    let now = b.users_now.unwrap_or(0);
    view! {
        <section class="mt-8" aria-labelledby="batch-users-title">
            <div class="flex flex-wrap items-end justify-between gap-2">
                <h2 id="batch-users-title" class="text-base font-semibold">
                    "Users " <span class="font-normal text-slate-500" data-testid="batch-users-now">{format!("({} of {} remain)", thousands(now), thousands(b.done))}</span>
                </h2>
                <A href=all_href attr:class=BUTTON>"Open in the users list"</A>
            </div>
            {(now > 0 && b.state != BatchState::Running).then(|| view! {
                <BulkBar selected=RwSignal::new(Default::default()) query=query.clone() reload notice whole="every user of this batch" />
            })}
            {move || notice.current().map(|m| view! {
                <p class="mt-4 rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm text-emerald-800" role="status" data-testid="bulk-notice">{m}</p>
            })}
            <Transition fallback=|| view! { <Loading what="users" /> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(None) => view! { <p class="mt-4 text-sm text-slate-600">"The users are listed here when the batch ends."</p> }.into_any(),
                        Ok(Some(p)) if p.rows.is_empty() => view! { <p class="mt-4 text-sm text-slate-600">"No users of this batch remain."</p> }.into_any(),
                        Ok(Some(p)) => view! {
                            <DataTable caption="Users of this batch" testid="batch-users" margin="mt-4"
                                headings=["DeviceToken", "Status"].into_iter().chain(Flag::ALL.map(Flag::label)).chain(["Created"]).collect()>
                                        {p.rows.into_iter().map(|r| {
                                            let flags = Flag::ALL.into_iter().zip([r.enable_tracking, r.enable_logging, r.enabled, r.enable_real_time_location]);
                                            view! {
                                                <tr data-testid="batch-user">
                                                    <td class="px-4 py-2 font-mono text-xs"><A href=format!("/users/{}", r.device_token) attr:class="text-indigo-700 hover:underline">{r.device_token.clone()}</A></td>
                                                    <td class="px-4 py-2"><StatusBadge status=r.status.clone() /></td>
                                                    {flags.map(|(f, on)| view! { <td class="px-4 py-2">{flag_cell(on, f.label())}</td> }).collect_view()}
                                                    <td class="px-4 py-2"><Time iso=r.date_created.clone() /></td>
                                                </tr>
                                            }
                                        }).collect_view()}
                            </DataTable>
                            {p.next.is_some().then(|| view! {
                                <p class="mt-2 text-xs text-slate-500">"The first 50 are shown; the users list pages through all of them."</p>
                            })}
                        }.into_any(),
                        Err(e) => view! { <div class="mt-4"><ErrorNotice error=e /></div> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
