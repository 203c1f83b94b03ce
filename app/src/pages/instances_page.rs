use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::*;
use crate::error::AppError;
use crate::server_fns::instances::*;
use tus_wire::model::InstanceSummary;
use tus_wire::views::Action;

/// The instances of this deployment: user counts, invite codes, and their management
/// (create, rename, deactivate, reveal or rotate the key, a new invite code).
#[component]
pub fn InstancesPage() -> impl IntoView {
    let reloads = RwSignal::new(0u32);
    let instances = Resource::new(move || reloads.current(), |_| list_instances());
    // What the signed-in admin's role allows here (the server refuses the rest anyway).
    let me = Resource::new(|| (), |_| crate::server_fns::session::current_admin());

    view! {
        <Title text="Instances" />
        <PageHeader title="Instances" subtitle="User groups of this deployment. Apps register drivers into an instance with its InstanceId and InstanceKey.">
            <button type="button" class=BUTTON on:click=move |_| reloads.update(|n| *n += 1)>"Reload"</button>
        </PageHeader>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let manage = me.await.is_ok_and(|m| m.may(Action::ManageInstances));
                manage.then(|| view! { <CreateInstance reloads /> })
            })}
        </Transition>
        <Transition fallback=|| view! { <Loading what="instances" /> }>
            {move || Suspend::new(async move {
                let manage = me.await.is_ok_and(|m| m.may(Action::ManageInstances));
                match instances.await {
                    Ok(list) if list.is_empty() => view! { <EmptyState /> }.into_any(),
                    Ok(list) => view! { <InstanceTable list reloads manage /> }.into_any(),
                    Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
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
            <p class="mt-1 text-sm text-slate-600">"Create one above, or with "
                <code class="rounded bg-slate-100 px-1">"tus instance create --name NAME"</code> "."</p>
        </div>
    }
}

#[component]
fn CreateInstance(reloads: RwSignal<u32>) -> impl IntoView {
    let apps = Resource::new(|| (), |_| list_applications());
    let app = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let given_id = RwSignal::new(String::new());
    let given_key = RwSignal::new(String::new());
    let errors = RwSignal::new(None::<AppError>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (a, n, d) = (
            app.get_untracked(),
            name.get_untracked(),
            description.get_untracked(),
        );
        let given = |v: RwSignal<String>| Some(v.get_untracked()).filter(|v| !v.trim().is_empty());
        let (id, key) = (given(given_id), given(given_key));
        errors.set(None);
        spawn_local(async move {
            match create_instance(a, n, d, id, key).await {
                Ok(_) => {
                    name.set(String::new());
                    description.set(String::new());
                    given_id.set(String::new());
                    given_key.set(String::new());
                    reloads.update(|n| *n += 1);
                }
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    let errs: Signal<Option<AppError>> = errors.into();
    view! {
        <form class=format!("{CARD} mt-6") on:submit=submit novalidate aria-labelledby="new-instance-title">
            <h2 id="new-instance-title" class="text-base font-semibold">"New instance"</h2>
            <div class="mt-3 grid items-start gap-3 sm:grid-cols-4">
                <div>
                    <label class=LABEL for="new-instance-app">"Application"</label>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let list = apps.await.unwrap_or_default();
                            // try_: this future may outlive the form (a server render ending).
                            if app.try_get_untracked().is_some_and(|a| a.is_empty()) {
                                if let Some((id, _)) = list.first() {
                                    app.try_set(id.clone());
                                }
                            }
                            view! {
                                <select id="new-instance-app" class=INPUT on:change=move |ev| app.set(event_target_value(&ev))>
                                    {list.into_iter().map(|(id, n)| view! { <option value=id>{n}</option> }).collect_view()}
                                </select>
                            }
                        })}
                    </Transition>
                </div>
                <TextField label="Name" key="Name" value=name errors=errs />
                <TextField label="Description" key="Description" value=description errors=errs />
                <div class="sm:pt-6"><button type="submit" class=PRIMARY>"Create instance"</button></div>
            </div>
            <details class="mt-3" data-testid="keep-identity">
                <summary class="cursor-pointer text-sm text-slate-700">
                    "Moving a fleet in? Keep the InstanceId and InstanceKey it has on the hosted service"
                </summary>
                <p class="mt-2 text-xs text-slate-600">
                    "Installed apps log in with these two values: kept, they work here unchanged. Leave empty to generate new ones."
                </p>
                <div class="mt-2 grid items-start gap-3 sm:grid-cols-2">
                    <TextField label="InstanceId" key="Id" value=given_id errors=errs />
                    <TextField label="InstanceKey" key="Key" value=given_key errors=errs />
                </div>
            </details>
            <div class="mt-2"><FormError errors /></div>
        </form>
    }
}

#[component]
fn InstanceTable(
    list: Vec<InstanceSummary>,
    reloads: RwSignal<u32>,
    manage: bool,
) -> impl IntoView {
    let count = list.len();
    view! {
        <DataTable caption="Instances" testid="instances" numeric="Users"
            headings=vec!["Name", "Application", "InstanceId / invite code", "Status", "Users", "Created", "Key"]>
            {list.into_iter().map(|i| view! { <InstanceRow i reloads manage /> }).collect_view()}
        </DataTable>
        <p class="mt-2 text-xs text-slate-500" data-testid="instances-footer">
            {format!("{count} instance{}", if count == 1 { "" } else { "s" })}
            {move || (reloads.current() > 0).then(|| format!(" · reloaded {}×", reloads.current()))}
        </p>
    }
    .into_any()
}

/// What a key action is waiting for: a confirmation, or showing its answer.
#[derive(Clone, Default, PartialEq)]
enum KeyStep {
    #[default]
    Idle,
    ConfirmReveal,
    ConfirmRotate,
    Shown {
        key: String,
        rotated: bool,
    },
}

#[component]
fn InstanceRow(i: InstanceSummary, reloads: RwSignal<u32>, manage: bool) -> impl IntoView {
    let active = i.status == "Active";
    let id = i.id.clone();
    let name = i.name.clone();
    let editing = RwSignal::new(false);
    let new_name = RwSignal::new(i.name.clone());
    let new_description = RwSignal::new(i.description.clone());
    let step = RwSignal::new(KeyStep::Idle);
    let error = RwSignal::new(None::<AppError>);
    let invite = RwSignal::new(i.invite_code.clone());

    let run =
        move |f: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), AppError>>>>| {
            error.set(None);
            spawn_local(async move {
                if let Err(e) = f.await {
                    error.set(Some(e));
                }
            });
        };
    let (id1, id2, id3, id4) = (id.clone(), id.clone(), id.clone(), id.clone());
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (id, n, d) = (
            id1.clone(),
            new_name.get_untracked(),
            new_description.get_untracked(),
        );
        run(Box::pin(async move {
            update_instance(id, Some(n), Some(d), None).await?;
            editing.set(false);
            reloads.update(|n| *n += 1);
            Ok(())
        }));
    };
    let toggle = move |_| {
        let id = id2.clone();
        run(Box::pin(async move {
            update_instance(id, None, None, Some(!active)).await?;
            reloads.update(|n| *n += 1);
            Ok(())
        }));
    };
    let new_invite = move |_| {
        let id = id3.clone();
        run(Box::pin(async move {
            invite.set(regenerate_invite_code(id).await?);
            Ok(())
        }));
    };
    let confirm_key = move |_| {
        let id = id4.clone();
        let rotate = step.get_untracked() == KeyStep::ConfirmRotate;
        run(Box::pin(async move {
            let key = if rotate {
                rotate_instance_key(id).await?
            } else {
                reveal_instance_key(id).await?
            };
            step.set(KeyStep::Shown {
                key,
                rotated: rotate,
            });
            Ok(())
        }));
    };
    let row_id = id.clone();
    let settings_id = id.clone();
    view! {
        <tr class="align-top hover:bg-slate-50" data-testid="instance-row" data-instance-id=id.clone()>
            <td class="px-4 py-3">
                <Show
                    when=move || editing.current()
                    fallback=move || view! {
                        <div class="font-medium" data-testid="instance-name">{new_name.current()}</div>
                        <div class="text-xs text-slate-500">{new_description.current()}</div>
                        <div class="mt-1 flex gap-3 text-xs">
                            <button type="button" class="text-indigo-700 underline" on:click=move |_| editing.set(true)>"Rename"</button>
                            <a class="text-indigo-700 underline" href=format!("/instances/{}/settings", settings_id) data-testid="instance-settings-link">"Settings"</a>
                        </div>
                    }
                >
                    <form class="space-y-1" on:submit=save.clone()>
                        <label class="sr-only" for=format!("rename-{}", row_id)>"Name"</label>
                        <input id=format!("rename-{}", row_id) class=INPUT bind:value=new_name />
                        <label class="sr-only" for=format!("describe-{}", row_id)>"Description"</label>
                        <input id=format!("describe-{}", row_id) class=INPUT bind:value=new_description />
                        <div class="flex gap-2">
                            <button type="submit" class=PRIMARY>"Save"</button>
                            <button type="button" class=BUTTON on:click=move |_| editing.set(false)>"Cancel"</button>
                        </div>
                    </form>
                </Show>
            </td>
            <td class="px-4 py-3">{i.application_name.clone()}</td>
            <td class="px-4 py-3">
                <div class="font-mono text-xs" data-testid="instance-id">{i.id.clone()}</div>
                <div class="mt-1 flex items-center gap-2">
                    <code class="rounded bg-slate-100 px-1 text-xs" data-testid="invite-code">{move || invite.current()}</code>
                    {manage.then(|| view! {
                        <button type="button" class="text-xs text-indigo-700 underline" on:click=new_invite>"New code"</button>
                    })}
                </div>
            </td>
            <td class="px-4 py-3">
                <StatusBadge status=i.status.clone() />
                {manage.then(|| view! {
                    <button type="button" class="ml-2 text-xs text-indigo-700 underline" on:click=toggle data-testid="instance-status-button">
                        {if active { "Deactivate" } else { "Activate" }}
                    </button>
                })}
            </td>
            <td class="px-4 py-3 text-right tabular-nums" data-testid="instance-users">{i.user_count}</td>
            <td class="whitespace-nowrap px-4 py-3 text-slate-600"><Time iso=i.date_created.clone() /></td>
            <td class="px-4 py-3">
                {move || match step.current() {
                    KeyStep::Idle if !manage => view! {
                        <span class="text-xs text-slate-500" data-testid="key-not-for-role">"Not for your role"</span>
                    }.into_any(),
                    KeyStep::Idle => view! {
                        <div class="flex flex-wrap gap-2">
                            <button type="button" class=BUTTON on:click=move |_| step.set(KeyStep::ConfirmReveal)>"Reveal key"</button>
                            <button type="button" class=BUTTON on:click=move |_| step.set(KeyStep::ConfirmRotate)>"Rotate key"</button>
                        </div>
                    }.into_any(),
                    KeyStep::ConfirmReveal | KeyStep::ConfirmRotate => {
                        let rotate = step.get_untracked() == KeyStep::ConfirmRotate;
                        let text = if rotate {
                            format!("Rotate the key of {name}? Apps using the current key can no longer register or log in users until they get the new one.")
                        } else {
                            format!("Show the InstanceKey of {name}? Anyone holding it can register users into this instance. Showing it is recorded in the audit log.")
                        };
                        view! {
                            <div class="max-w-xs rounded-md border border-amber-300 bg-amber-50 p-2 text-xs text-amber-900" role="alertdialog" aria-label="Confirm">
                                <p>{text}</p>
                                <div class="mt-2 flex gap-2">
                                    <button type="button" class=if rotate { DANGER } else { PRIMARY } on:click=confirm_key.clone()>
                                        {if rotate { "Rotate key" } else { "Show key" }}
                                    </button>
                                    <button type="button" class=BUTTON on:click=move |_| step.set(KeyStep::Idle)>"Cancel"</button>
                                </div>
                            </div>
                        }.into_any()
                    }
                    KeyStep::Shown { key, rotated } => view! {
                        <div class="max-w-xs">
                            {rotated.then(|| view! { <p class="text-xs font-medium text-emerald-800" role="status">"New key. The old one no longer works."</p> })}
                            <div class="mt-1 flex items-center gap-2">
                                <code class="break-all rounded bg-slate-100 p-1 font-mono text-xs" data-testid="instance-key">{key.clone()}</code>
                                <CopyButton text=key label="InstanceKey" />
                            </div>
                            <button type="button" class="mt-1 text-xs text-indigo-700 underline" on:click=move |_| step.set(KeyStep::Idle)>"Hide"</button>
                        </div>
                    }.into_any(),
                }}
                {move || error.current().map(|e| view! { <div class="mt-2"><ErrorNotice error=e /></div> })}
            </td>
        </tr>
    }
    .into_any()
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::pages::disposed::render_after_disposal;

    /// An instance row's key, rename and invite-code state: rendered after disposal without
    /// a panic (see `components::Current`).
    #[tokio::test]
    async fn an_instance_row_renders_after_its_owner_is_disposed() {
        let html = render_after_disposal(|| {
            let i = InstanceSummary {
                id: "i".into(),
                name: "Fleet".into(),
                description: String::new(),
                status: "Active".into(),
                application_name: "Default".into(),
                application_id: "a".into(),
                invite_code: "ABCDEFGH".into(),
                user_count: 7,
                date_created: "2026-11-22T04:21:30.399Z".into(),
            };
            view! { <table><tbody><InstanceRow i reloads=RwSignal::new(0) manage=true /></tbody></table> }
        });
        assert!(html.contains("Reveal key"), "{html}");
        assert!(html.contains(">7<"), "{html}");
    }
}
