use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::*;
use crate::error::AppError;
use crate::server_fns::admins::{
    admins, end_admin_session, invite_admin, reset_totp, send_admin_reset, set_admin_enabled,
    set_admin_grant, set_totp_policy, totp_policy,
};
use crate::server_fns::instances::{instance_choices, list_applications};
use tus_wire::views::{AdminGrant, AdminSessionView, AdminView, Role};

/// The team (Owners only): invite admins, set their role and scope, disable them, send a
/// password link, end their sessions.
#[component]
pub fn AdminsPage() -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let list = Resource::new(move || changed.current(), |_| admins());
    let notice = Notice::provide();
    view! {
        <Title text="Admins" />
        <NoticeLine notice />
        <PageHeader title="Admins" subtitle="Who works in this dashboard, with which role, over which applications or instances. Changes apply to open sessions at once; disabling ends every session." />
        <RolesTable />
        <Transition fallback=|| view! { <Loading what="the admins" /> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(list) => view! {
                        <InviteCard changed />
                        <TotpPolicyCard />
                        <AdminsTable list changed />
                    }.into_any(),
                    Err(e) => view! { <div class="mt-6"><ErrorNotice error=e /></div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RolesTable() -> impl IntoView {
    view! {
        <details class="mt-4 text-sm">
            <summary class="cursor-pointer text-slate-600">"What each role may do"</summary>
            <ul class="mt-2 space-y-1">
                {Role::ALL.into_iter().map(|r| view! {
                    <li><strong>{r.as_str()}</strong>": "{r.label()}</li>
                }).collect_view()}
            </ul>
        </details>
    }
}

/// A role and a scope (everything, applications, or instances), as a form edits them.
#[derive(Clone, Copy)]
struct GrantForm {
    role: RwSignal<String>,
    /// `all`, `apps` or `instances`.
    kind: RwSignal<String>,
    apps: RwSignal<Vec<String>>,
    instances: RwSignal<Vec<String>>,
}

impl GrantForm {
    fn new(role: Role, apps: Option<Vec<String>>, instances: Option<Vec<String>>) -> Self {
        let kind = match (&apps, &instances) {
            (Some(_), _) => "apps",
            (_, Some(_)) => "instances",
            _ => "all",
        };
        GrantForm {
            role: RwSignal::new(role.as_str().to_string()),
            kind: RwSignal::new(kind.to_string()),
            apps: RwSignal::new(apps.unwrap_or_default()),
            instances: RwSignal::new(instances.unwrap_or_default()),
        }
    }

    fn grant(&self) -> AdminGrant {
        let kind = self.kind.get_untracked();
        AdminGrant {
            role: self.role.get_untracked(),
            applications: (kind == "apps").then(|| self.apps.get_untracked()),
            instances: (kind == "instances").then(|| self.instances.get_untracked()),
        }
    }
}

#[component]
fn GrantFields(form: GrantForm, group: String) -> impl IntoView {
    let applications = Resource::new(|| (), |_| list_applications());
    let instances = Resource::new(
        || (),
        |_| async {
            instance_choices()
                .await
                .map(|l| l.into_iter().map(|c| (c.id, c.name)).collect::<Vec<_>>())
        },
    );
    let role_id = format!("{group}-role");
    let radio = {
        let group = group.clone();
        move |value: &'static str, label: &'static str| {
            let id = format!("{group}-scope-{value}");
            let label_for = id.clone();
            view! {
                <label class="flex items-center gap-2" for=label_for>
                    <input type="radio" id=id name=format!("{group}-scope") class="h-4 w-4"
                        prop:checked=move || form.kind.get() == value
                        on:change=move |_| form.kind.set(value.into()) />
                    {label}
                </label>
            }
        }
    };
    let (apps_group, instances_group) = (format!("{group}-app"), format!("{group}-instance"));
    view! {
        <div>
            <label class=LABEL for=role_id.clone()>"Role"</label>
            <select id=role_id class=INPUT prop:value=move || form.role.get()
                on:change=move |ev| form.role.set(event_target_value(&ev))>
                {Role::ALL.into_iter().map(|r| view! {
                    <option value=r.as_str() selected=move || form.role.get() == r.as_str()>{r.as_str()}</option>
                }).collect_view()}
            </select>
        </div>
        <fieldset class="sm:col-span-2">
            <legend class=LABEL>"Scope"</legend>
            <div class="mt-1 flex flex-wrap gap-4 text-sm">
                {radio("all", "Everything")}
                {radio("apps", "Some applications")}
                {radio("instances", "Some instances")}
            </div>
            <Show when=move || form.kind.get() == "apps">
                <ChoiceList choices=applications picked=form.apps group=apps_group.clone() what="the applications" />
            </Show>
            <Show when=move || form.kind.get() == "instances">
                <ChoiceList choices=instances picked=form.instances group=instances_group.clone() what="the instances" />
            </Show>
        </fieldset>
    }
}

/// Checkboxes of `(id, name)` choices, ticked as `picked` holds them.
#[component]
fn ChoiceList(
    choices: Resource<Result<Vec<(String, String)>, AppError>>,
    picked: RwSignal<Vec<String>>,
    group: String,
    what: &'static str,
) -> impl IntoView {
    let group = StoredValue::new(group);
    view! {
        <Transition fallback=move || view! { <Loading what=what /> }>
            {move || {
                let group = group.get_value();
                Suspend::new(async move {
                    match choices.await {
                        Ok(list) => view! {
                            <div class="mt-2 max-h-48 overflow-y-auto rounded-md border border-slate-200 p-2" data-testid=format!("{group}-choices")>
                                {list.into_iter().map(|(id, name)| {
                                    let box_id = format!("{group}-{id}");
                                    let on = picked.get_untracked().contains(&id);
                                    view! {
                                        <div class="flex items-center gap-2 text-sm">
                                            <input type="checkbox" id=box_id.clone() class="h-4 w-4" prop:checked=on
                                                on:change=move |ev| {
                                                    let on = event_target_checked(&ev);
                                                    let id = id.clone();
                                                    picked.update(|p| {
                                                        p.retain(|x| *x != id);
                                                        if on { p.push(id); }
                                                    });
                                                } />
                                            <label for=box_id>{name}</label>
                                        </div>
                                    }
                                }).collect_view()}
                            </div>
                        }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e /> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn InviteCard(changed: RwSignal<u32>) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let form = GrantForm::new(Role::Operator, None, None);
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    let invite = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let to = email.get_untracked();
        let grant = form.grant();
        spawn_local(async move {
            match invite_admin(to.clone(), grant).await {
                Ok(_) => {
                    notice(&format!(
                        "Invited {to}: the e-mail with their link is on its way."
                    ));
                    email.set(String::new());
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="invite-admin-title">
            <h2 id="invite-admin-title" class="text-base font-semibold">"Invite an admin"</h2>
            <form class="mt-3 grid gap-3 sm:grid-cols-3" on:submit=invite>
                <div>
                    <label class=LABEL for="admin-email">"E-mail"</label>
                    <input id="admin-email" type="email" class=INPUT required placeholder="ops@example.com"
                        prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev)) />
                </div>
                <GrantFields form group="invite".to_string() />
                <div class="flex items-end"><button type="submit" class=PRIMARY>"Send invite"</button></div>
            </form>
            {move || error.get().map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
        </section>
    }
}

fn scope_words(a: &AdminView) -> String {
    let names = |l: &Vec<tus_wire::views::InstanceChoice>| {
        l.iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&a.applications, &a.instances) {
        (Some(apps), _) => format!("applications: {}", names(apps)),
        (_, Some(i)) => format!("instances: {}", names(i)),
        _ => "everything".into(),
    }
}

#[component]
fn AdminsTable(list: Vec<AdminView>, changed: RwSignal<u32>) -> impl IntoView {
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    let run = move |what: &'static str,
                    fut: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), AppError>>>,
    >| {
        spawn_local(async move {
            match fut.await {
                Ok(()) => {
                    notice(what);
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        {move || error.get().map(|e| view! { <div class="mt-6"><ErrorNotice error=e /></div> })}
        <DataTable caption="Admins" testid="admins"
            headings=vec!["E-mail", "Role", "Scope", "State", "TOTP", "Last sign-in", "Sessions", ""]>
            {list.into_iter().map(|a| {
                let scope = scope_words(&a);
                let id = a.id.clone();
                let (id2, id3) = (a.id.clone(), a.id.clone());
                let disabled = a.state == "disabled";
                let form = GrantForm::new(
                    a.role,
                    a.applications.as_ref().map(|l| l.iter().map(|c| c.id.clone()).collect()),
                    a.instances.as_ref().map(|l| l.iter().map(|c| c.id.clone()).collect()),
                );
                let save = move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    let id = id.clone();
                    let grant = form.grant();
                    run("Role and scope saved: they apply at once.", Box::pin(async move {
                        set_admin_grant(id, grant).await.map(|_| ())
                    }));
                };
                let toggle = move |_| {
                    let id = id2.clone();
                    let what = if disabled { "Enabled." } else { "Disabled: every session of theirs has ended." };
                    run(what, Box::pin(async move { set_admin_enabled(id, disabled).await.map(|_| ()) }));
                };
                let id4 = a.id.clone();
                let reset = move |_| {
                    let id = id3.clone();
                    run("A password link is on its way by e-mail.", Box::pin(async move { send_admin_reset(id).await }));
                };
                let totp_off = move |_| {
                    let id = id4.clone();
                    run("TOTP is off for them: they set it up again.", Box::pin(async move { reset_totp(id).await }));
                };
                let has_totp = a.totp;
                let sessions = a.sessions.clone();
                let owner_id = a.id.clone();
                view! {
                    <tr data-testid="admin-row" data-email=a.email.clone()>
                        <td class="px-4 py-2 font-medium">{a.email.clone()}</td>
                        <td class="px-4 py-2" data-testid="admin-role">{a.role.as_str()}</td>
                        <td class="px-4 py-2 text-xs" data-testid="admin-scope">{scope}</td>
                        <td class="px-4 py-2" data-testid="admin-state">{a.state.clone()}</td>
                        <td class="px-4 py-2">{if a.totp { "on" } else { "off" }}</td>
                        <td class="whitespace-nowrap px-4 py-2 text-slate-600">{a.last_sign_in_at.clone().map(|t| view! { <Time iso=t /> }.into_any()).unwrap_or_else(|| view! { <span>"never"</span> }.into_any())}</td>
                        <td class="px-4 py-2" data-testid="admin-sessions">{sessions.len()}</td>
                        <td class="px-4 py-2">
                            <details>
                                <summary class="cursor-pointer text-sm text-indigo-700">"Manage"</summary>
                                <form class="mt-2 grid w-[36rem] gap-3 sm:grid-cols-3" on:submit=save>
                                    <GrantFields form group=format!("admin-{}", a.id) />
                                    <div class="flex items-end"><button type="submit" class=PRIMARY>"Save role and scope"</button></div>
                                </form>
                                <div class="mt-3 flex flex-wrap gap-2">
                                    <button type="button" class=if disabled { BUTTON } else { DANGER } on:click=toggle>
                                        {if disabled { "Enable" } else { "Disable" }}
                                    </button>
                                    {(!disabled).then(|| view! {
                                        <button type="button" class=BUTTON on:click=reset>"E-mail a password link"</button>
                                    })}
                                    {has_totp.then(|| view! {
                                        <button type="button" class=BUTTON on:click=totp_off>"Reset TOTP"</button>
                                    })}
                                </div>
                                <SessionList sessions owner=owner_id changed />
                            </details>
                        </td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
}

/// Open sessions of admin `owner`, each with an End button.
#[component]
pub fn SessionList(
    sessions: Vec<AdminSessionView>,
    owner: String,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let error = RwSignal::new(None::<AppError>);
    if sessions.is_empty() {
        return view! { <p class="mt-3 text-sm text-slate-500">"No open session."</p> }.into_any();
    }
    view! {
        <ul class="mt-3 space-y-1 text-sm" data-testid="session-list">
            {sessions.into_iter().map(|s| {
                let (owner, id) = (owner.clone(), s.id.clone());
                let end = move |_| {
                    let (owner, id) = (owner.clone(), id.clone());
                    spawn_local(async move {
                        match end_admin_session(owner, id).await {
                            Ok(()) => changed.update(|n| *n += 1),
                            Err(e) => error.set(Some(e)),
                        }
                    });
                };
                view! {
                    <li class="flex items-center gap-3" data-testid="session">
                        <span>"Since "<Time iso=s.created_at /></span>
                        <span class="text-slate-500">{s.last_seen_at.map(|t| view! { "last seen " <Time iso=t /> }.into_any()).unwrap_or_else(|| view! { <span></span> }.into_any())}</span>
                        {s.current.then(|| view! { <span class="rounded bg-emerald-50 px-1 text-xs text-emerald-800">"this session"</span> })}
                        <button type="button" class=BUTTON on:click=end>"End"</button>
                    </li>
                }
            }).collect_view()}
        </ul>
        {move || error.get().map(|e| view! { <div class="mt-2"><ErrorNotice error=e /></div> })}
    }
    .into_any()
}

/// Which roles must sign in with TOTP.
#[component]
fn TotpPolicyCard() -> impl IntoView {
    let current = Resource::new(|| (), |_| totp_policy());
    let error = RwSignal::new(None::<AppError>);
    let notice = Notice::get();
    view! {
        <section class=format!("{CARD} mt-6") aria-labelledby="totp-policy-title">
            <h2 id="totp-policy-title" class="text-base font-semibold">"Require TOTP"</h2>
            <p class="mt-1 text-sm text-slate-600">"Admins of the roles ticked must sign in with a code; until they set it up they can do nothing else."</p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let required = current.await.unwrap_or_default();
                    let ticks: Vec<(Role, RwSignal<bool>)> = Role::ALL
                        .into_iter()
                        .map(|r| (r, RwSignal::new(required.contains(&r))))
                        .collect();
                    let save_ticks = ticks.clone();
                    let save = move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        let roles: Vec<String> = save_ticks
                            .iter()
                            .filter(|(_, on)| on.get_untracked())
                            .map(|(r, _)| r.as_str().to_string())
                            .collect();
                        spawn_local(async move {
                            match set_totp_policy(roles).await {
                                Ok(_) => notice("Saved: the roles ticked sign in with a code."),
                                Err(e) => error.set(Some(e)),
                            }
                        });
                    };
                    view! {
                        <form class="mt-3 flex flex-wrap items-center gap-4 text-sm" on:submit=save>
                            {ticks.into_iter().map(|(r, on)| {
                                let id = format!("totp-role-{}", r.as_str());
                                let label_for = id.clone();
                                view! {
                                    <label class="flex items-center gap-2" for=label_for>
                                        <input id=id type="checkbox" class="h-4 w-4" bind:checked=on />
                                        {r.as_str()}
                                    </label>
                                }
                            }).collect_view()}
                            <button type="submit" class=BUTTON>"Save"</button>
                        </form>
                    }
                })}
            </Transition>
            {move || error.get().map(|e| view! { <div class="mt-3"><ErrorNotice error=e /></div> })}
        </section>
    }
}
