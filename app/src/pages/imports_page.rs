//! Import: move a fleet in from a file. The upload form (with the upload's own progress),
//! the imports so far, and one import's page: its progress while it runs (kept by the
//! server, so a reload finds it), its counts, the report to download, and the next step
//! (import a dry run for real, stop, resume).

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::components::*;
use crate::error::AppError;
use crate::server_fns::imports::*;
use crate::server_fns::instances::instance_choices;
use tus_wire::model::{ImportView, OnExisting};

/// How often a running import's page asks for its progress.
const POLL: Duration = Duration::from_millis(500);

fn state_badge(v: &ImportView) -> impl IntoView {
    let class = match v.state.as_str() {
        "Completed" => "bg-emerald-50 text-emerald-700 ring-emerald-200",
        "Running" => "bg-indigo-50 text-indigo-700 ring-indigo-200",
        _ => "bg-red-50 text-red-700 ring-red-200",
    };
    let label = match (v.dry_run, v.state.as_str()) {
        (true, "Completed") => "Checked".to_string(),
        (true, "Running") => "Checking".to_string(),
        (_, state) => state.to_string(),
    };
    view! {
        <span class=format!("rounded-full px-2 py-0.5 text-xs font-medium ring-1 {class}") data-testid="import-state">
            {label}
        </span>
    }
}

/// Every import, newest first, and the form that starts one.
#[component]
pub fn ImportsPage() -> impl IntoView {
    let params = use_query_map();
    let page = Resource::new(move || params.current().get("before"), list_imports);
    view! {
        <Title text="Import" />
        <PageHeader title="Import" subtitle="Move drivers in from a file with their DeviceTokens, profiles and flags: their installed apps log in again with the InstanceKey, no re-registration. Check the file first; nothing is written until you import it." />
        <UploadForm />
        <Transition fallback=|| view! { <Loading what="imports" /> }>
            {move || {
                let before = params.current().get("before");
                Suspend::new(async move {
                    match page.await {
                        Ok(p) if p.imports.is_empty() && before.is_none() => view! {
                            <p class="mt-8 rounded-lg border border-dashed border-slate-300 p-10 text-center text-sm text-slate-600" data-testid="imports-empty">
                                "No imports yet. Upload a file above, or run " <code>"tus import FILE --instance ID"</code> "."
                            </p>
                        }.into_any(),
                        Ok(p) => view! {
                            <ImportTable rows=p.imports />
                            <nav class="mt-3 flex gap-2" aria-label="Pages">
                                {before.is_some().then(|| view! { <A href="/import" attr:class=BUTTON>"Newest"</A> })}
                                {p.next.map(|n| view! { <A href=format!("/import?before={}", encode_component(&n)) attr:class=BUTTON attr:rel="next">"Older →"</A> })}
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
fn ImportTable(rows: Vec<ImportView>) -> impl IntoView {
    view! {
        <DataTable caption="Imports" testid="imports"
            headings=vec!["File", "Instance", "Rows", "Created", "Updated", "Skipped", "Errors", "State", "Started"]>
            {rows.into_iter().map(|v| {
                let badge = state_badge(&v);
                view! {
                <tr data-testid="import-row">
                    <td class="px-4 py-2">
                        <A href=format!("/import/{}", v.id) attr:class="font-medium text-indigo-700 hover:underline">{v.file_name.clone()}</A>
                        {v.dry_run.then(|| view! { <span class="ml-2 text-xs text-slate-500">"dry run"</span> })}
                    </td>
                    <td class="px-4 py-2">{v.instance_name.clone()}</td>
                    <td class="px-4 py-2 tabular-nums">{format!("{} / {}", thousands(v.done), thousands(v.rows))}</td>
                    <td class="px-4 py-2 tabular-nums">{thousands(v.created)}</td>
                    <td class="px-4 py-2 tabular-nums">{thousands(v.updated)}</td>
                    <td class="px-4 py-2 tabular-nums">{thousands(v.skipped)}</td>
                    <td class="px-4 py-2 tabular-nums">{thousands(v.failed)}</td>
                    <td class="px-4 py-2">{badge}</td>
                    <td class="px-4 py-2"><Time iso=v.created_at.clone() /></td>
                </tr>
            }}).collect_view()}
        </DataTable>
    }
}

/// Sends `file` as the body of `POST url`, reporting upload progress (bytes sent, total);
/// `done` gets the import, or the server's error.
#[cfg(feature = "hydrate")]
fn send_file(
    url: &str,
    file: web_sys::File,
    sent: RwSignal<(f64, f64)>,
    done: impl FnOnce(Result<ImportView, AppError>) + 'static,
) -> Result<(), AppError> {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let failed = |_| AppError::Transport("the browser could not send the file".into());
    let xhr = web_sys::XmlHttpRequest::new().map_err(failed)?;
    xhr.open("POST", url).map_err(failed)?;
    xhr.set_request_header("Content-Type", "text/csv")
        .map_err(failed)?;
    let progress =
        Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |e: web_sys::ProgressEvent| {
            sent.set((e.loaded(), e.total()));
        });
    xhr.upload()
        .map_err(failed)?
        .set_onprogress(Some(progress.as_ref().unchecked_ref()));
    progress.forget();
    let answered = xhr.clone();
    let end = Closure::once(move || {
        let status = answered.status().unwrap_or(0);
        let text = answered.response_text().ok().flatten().unwrap_or_default();
        done(if status == 200 {
            serde_json::from_str::<ImportView>(&text)
                .map_err(|_| AppError::Transport("the server's answer was not understood".into()))
        } else {
            Err(serde_json::from_str::<AppError>(&text).unwrap_or_else(|_| {
                AppError::Transport(if status == 0 {
                    "the upload broke off (is the server reachable?)".into()
                } else {
                    format!("the server answered {status}")
                })
            }))
        });
    });
    xhr.set_onloadend(Some(end.as_ref().unchecked_ref()));
    end.forget();
    xhr.send_with_opt_blob(Some(&file)).map_err(failed)
}

#[component]
fn UploadForm() -> impl IntoView {
    let instances = Resource::new(|| (), |_| instance_choices());
    let instance = RwSignal::new(String::new());
    let on_existing = RwSignal::new(OnExisting::Skip);
    let dry_run = RwSignal::new(true);
    let chosen = RwSignal::new(None::<(String, f64)>);
    let sent = RwSignal::new((0.0f64, 0.0f64));
    let busy = RwSignal::new(false);
    let errors = RwSignal::new(None::<AppError>);
    let input: NodeRef<leptos::html::Input> = NodeRef::new();
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        errors.set(None);
        #[cfg(feature = "hydrate")]
        {
            let Some(file) = input.get().and_then(|i| i.files()).and_then(|f| f.get(0)) else {
                errors.set(Some(AppError::Validation(vec![(
                    "file".into(),
                    "choose a CSV or NDJSON file".into(),
                )])));
                return;
            };
            let url = format!(
                "/export/imports{}",
                query_string(&[
                    ("instance", instance.get_untracked()),
                    ("dryRun", dry_run.get_untracked().to_string()),
                    (
                        "onExisting",
                        on_existing.get_untracked().as_str().to_string()
                    ),
                    ("fileName", file.name()),
                ])
            );
            busy.set(true);
            sent.set((0.0, file.size()));
            let navigate = navigate.clone();
            let started = send_file(&url, file, sent, move |answer| match answer {
                Ok(v) => navigate(&format!("/import/{}", v.id), Default::default()),
                Err(e) => {
                    busy.set(false);
                    errors.set(Some(e));
                }
            });
            if let Err(e) = started {
                busy.set(false);
                errors.set(Some(e));
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&navigate, input);
    };
    let on_file = move |_| {
        #[cfg(feature = "hydrate")]
        chosen.set(
            input
                .get()
                .and_then(|i| i.files())
                .and_then(|f| f.get(0))
                .map(|f| (f.name(), f.size())),
        );
    };
    let errs: Signal<Option<AppError>> = errors.into();
    let file_error = move || errs.current_with(|e| field_error(e, "file"));
    let instance_error = move || errs.current_with(|e| field_error(e, "instance"));
    view! {
        <form class=format!("{CARD} mt-6") on:submit=submit novalidate aria-labelledby="upload-title">
            <h2 id="upload-title" class="text-base font-semibold">"Upload a file"</h2>
            <p class="mt-1 text-sm text-slate-600">
                "CSV with a header (the users export's columns: DeviceToken, FirstName, LastName, Email, Phone, ClientId, Status, the flags, DateCreated…) or NDJSON, one object per line. Passwords are not moved: invite the drivers afterwards."
            </p>
            <div class="mt-3 grid items-start gap-3 sm:grid-cols-3">
                <div>
                    <label class=LABEL for="import-file">"File"</label>
                    <input id="import-file" type="file" node_ref=input class=INPUT accept=".csv,.ndjson,.jsonl,.json,.txt,text/csv"
                        aria-invalid=move || file_error().is_some().to_string() on:change=on_file />
                    <p class="mt-1 text-xs text-slate-500">{move || chosen.current().map(|(n, size)| format!("{n}, {} KB", thousands((size / 1024.0).ceil() as i64)))}</p>
                    <p class="mt-1 text-xs text-red-700" data-testid="error-file">{file_error}</p>
                </div>
                <div>
                    <label class=LABEL for="import-instance">"Into instance"</label>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let list: Vec<_> = instances.await.unwrap_or_default().into_iter().filter(|i| i.active).collect();
                            if instance.try_with_untracked(String::is_empty).unwrap_or(false) {
                                if let Some(first) = list.first() {
                                    instance.try_set(first.id.clone());
                                }
                            }
                            let current = instance.try_get_untracked().unwrap_or_default();
                            view! {
                                <select id="import-instance" class=INPUT aria-invalid=move || instance_error().is_some().to_string()
                                    on:change=move |ev| instance.set(event_target_value(&ev))>
                                    {list.into_iter().map(|i| {
                                        let selected = i.id == current;
                                        view! { <option value=i.id selected=selected>{i.name}</option> }
                                    }).collect_view()}
                                </select>
                            }
                        })}
                    </Transition>
                    <p class="mt-1 text-xs text-red-700" data-testid="error-instance">{instance_error}</p>
                    <p class="mt-1 text-xs text-slate-500">"Create it first with its InstanceId and InstanceKey on the Instances page."</p>
                </div>
                <div>
                    <label class=LABEL for="import-existing">"A DeviceToken that exists"</label>
                    <select id="import-existing" class=INPUT on:change=move |ev| {
                        if let Ok(o) = OnExisting::parse(&event_target_value(&ev)) { on_existing.set(o) }
                    }>
                        <option value="skip">"Skip the row"</option>
                        <option value="update">"Update what differs (audited)"</option>
                        <option value="fail">"Report the row as an error"</option>
                    </select>
                </div>
            </div>
            <label class="mt-4 flex items-center gap-2 text-sm" for="import-dry-run">
                <input id="import-dry-run" type="checkbox" class="h-4 w-4 rounded border-slate-300"
                    prop:checked=move || dry_run.current() on:change=move |ev| dry_run.set(event_target_checked(&ev)) />
                "Check every row first and write nothing (a dry run; import it afterwards with one click)"
            </label>
            {move || busy.current().then(|| {
                let (done, total) = sent.current();
                view! {
                    <ProgressBar label="File uploaded" value=done as i64 max=total as i64 fill="fill-indigo-600" testid="upload-progress" />
                    <p class="mt-1 text-xs text-slate-600" role="status">
                        {if total > 0.0 && done >= total { "Uploaded; reading the rows…".to_string() } else {
                            format!("Uploading: {} of {} KB", thousands((done / 1024.0) as i64), thousands((total / 1024.0) as i64))
                        }}
                    </p>
                }
            })}
            <div class="mt-4 flex flex-wrap items-center gap-3">
                <button type="submit" class=PRIMARY disabled=move || busy.current()>
                    {move || if dry_run.current() { "Upload and check" } else { "Upload and import" }}
                </button>
                <FormError errors />
            </div>
        </form>
    }
}

/// One import: its progress, polled while it runs.
#[component]
pub fn ImportPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.current_with(|p| p.get("import_id").unwrap_or_default());
    let import = Resource::new(id, get_import);
    Effect::new(move |_| {
        if let Some(Ok(v)) = import.current() {
            if v.is_running() {
                set_timeout(move || import.refetch(), POLL);
            }
        }
    });
    view! {
        <Transition fallback=|| view! { <Loading what="the import" /> }>
            {move || Suspend::new(async move {
                match import.await {
                    Ok(v) => view! { <ImportDetail v import /> }.into_any(),
                    Err(e) => view! { <Title text="Import" /><div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ImportDetail(v: ImportView, import: Resource<Result<ImportView, AppError>>) -> impl IntoView {
    let error = RwSignal::new(None::<AppError>);
    let id = v.id.clone();
    let act = move |step: ImportCommand| {
        let id = id.clone();
        move |_| {
            let id = id.clone();
            error.set(None);
            spawn_local_step(id, step, import, error);
        }
    };
    let title = if v.dry_run {
        format!("Check of {}", v.file_name)
    } else {
        format!("Import of {}", v.file_name)
    };
    let subtitle = format!(
        "{} rows into instance {}, started by {}; existing DeviceTokens: {}.",
        thousands(v.rows),
        v.instance_name,
        v.created_by,
        v.on_existing.as_str()
    );
    let running = v.is_running();
    let resumable = matches!(v.state.as_str(), "Failed" | "Interrupted") && v.done < v.rows;
    let checked = v.dry_run && v.state == "Completed";
    let would = if v.dry_run { "would be " } else { "" };
    let status_line = match v.state.as_str() {
        "Running" => format!(
            "Handling rows: {} of {} ({}%).",
            thousands(v.done),
            thousands(v.rows),
            v.percent()
        ),
        "Completed" if v.dry_run => format!(
            "Checked every row. Nothing was written. {} users would be created.",
            thousands(v.created)
        ),
        "Completed" => format!("Imported: {} rows handled.", thousands(v.done)),
        "Interrupted" => format!(
            "Interrupted after {} of {} rows: its server stopped. Resume to go on.",
            thousands(v.done),
            thousands(v.rows)
        ),
        _ => format!(
            "Stopped after {} of {} rows: {}.",
            thousands(v.done),
            thousands(v.rows),
            v.error.clone().unwrap_or_default()
        ),
    };
    let fill = match v.state.as_str() {
        "Completed" => "fill-emerald-500",
        "Running" => "fill-indigo-600",
        _ => "fill-red-500",
    };
    let counts = [
        ("created", v.created),
        ("updated", v.updated),
        ("skipped", v.skipped),
    ];
    view! {
        <Title text=title.clone() />
        <PageHeader title=title subtitle=subtitle>
            <A href="/import" attr:class=BUTTON>"All imports"</A>
        </PageHeader>
        <section class=format!("{CARD} mt-6") aria-labelledby="import-progress-title">
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h2 id="import-progress-title" class="text-base font-semibold">"Progress"</h2>
                {state_badge(&v)}
            </div>
            <ProgressBar label="Rows handled" value=v.done max=v.rows fill testid="import-progress" />
            <p class="mt-2 text-sm text-slate-700" role="status" data-testid="import-status">{status_line}</p>
            <dl class="mt-3 flex flex-wrap gap-x-8 gap-y-2 text-sm" data-testid="import-counts">
                {counts.into_iter().map(|(what, n)| view! {
                    <div><dt class="inline text-slate-500">{format!("{would}{what} ")}</dt>
                    <dd class="inline font-semibold tabular-nums" data-testid=format!("count-{what}")>{thousands(n)}</dd></div>
                }).collect_view()}
                <div><dt class="inline text-slate-500">"errors "</dt>
                <dd class=format!("inline font-semibold tabular-nums {}", if v.failed > 0 { "text-red-700" } else { "" }) data-testid="count-errors">{thousands(v.failed)}</dd></div>
            </dl>
            {(!v.notes.is_empty()).then(|| view! {
                <ul class="mt-3 list-disc pl-5 text-xs text-slate-600" data-testid="import-notes">
                    {v.notes.iter().map(|n| view! { <li>{n.clone()}</li> }).collect_view()}
                </ul>
            })}
            <div class="mt-4 flex flex-wrap gap-2">
                <a href=format!("/export/imports/{}/report.csv", v.id) class=BUTTON download="" data-testid="download-report">
                    {if running { "Download the report so far (CSV)" } else { "Download the report (CSV)" }}
                </a>
                {checked.then(|| view! { <button type="button" class=PRIMARY on:click=act(ImportCommand::Run) data-testid="import-for-real">"Import these rows"</button> })}
                {running.then(|| view! { <button type="button" class=BUTTON on:click=act(ImportCommand::Stop)>"Stop"</button> })}
                {resumable.then(|| view! { <button type="button" class=PRIMARY on:click=act(ImportCommand::Resume)>"Resume"</button> })}
                {(!v.dry_run && v.created > 0).then(|| view! {
                    <A href=format!("/?batch={}&status=all", v.id) attr:class=BUTTON>"Its users in the users list"</A>
                })}
            </div>
            {move || error.current().map(|e| view! { <div class="mt-2"><ErrorNotice error=e /></div> })}
        </section>
        {(v.failed > 0 && !running).then(|| view! { <FirstErrors id=v.id.clone() failed=v.failed /> })}
    }
}

/// The first rows the import could not take, with their field and reason.
#[component]
fn FirstErrors(id: String, failed: i64) -> impl IntoView {
    let errors = Resource::new(move || id.clone(), import_errors);
    view! {
        <section class="mt-8" aria-labelledby="import-errors-title">
            <h2 id="import-errors-title" class="text-base font-semibold">
                "Rows not taken " <span class="font-normal text-slate-500">{format!("({})", thousands(failed))}</span>
            </h2>
            <Transition fallback=|| view! { <Loading what="the errors" /> }>
                {move || Suspend::new(async move {
                    match errors.await {
                        Ok(list) => {
                            let shown = list.len() as i64;
                            view! {
                                <DataTable caption="Rows not taken" testid="import-errors" margin="mt-3"
                                    headings=vec!["Row", "DeviceToken", "Field", "Reason"]>
                                    {list.into_iter().map(|e| view! {
                                        <tr data-testid="import-error">
                                            <td class="px-4 py-2 tabular-nums">{e.row}</td>
                                            <td class="px-4 py-2 font-mono text-xs">{e.device_token}</td>
                                            <td class="px-4 py-2">{e.field}</td>
                                            <td class="px-4 py-2">{e.reason}</td>
                                        </tr>
                                    }).collect_view()}
                                </DataTable>
                                {(failed > shown).then(|| view! {
                                    <p class="mt-2 text-xs text-slate-500">{format!("The first {shown} are shown; the report lists all {}.", thousands(failed))}</p>
                                })}
                            }.into_any()
                        }
                        Err(e) => view! { <div class="mt-3"><ErrorNotice error=e /></div> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn spawn_local_step(
    id: String,
    step: ImportCommand,
    import: Resource<Result<ImportView, AppError>>,
    error: RwSignal<Option<AppError>>,
) {
    leptos::task::spawn_local(async move {
        match import_step(id, step).await {
            Ok(_) => import.refetch(),
            Err(e) => error.set(Some(e)),
        }
    });
}
