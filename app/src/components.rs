//! Small pieces every page uses: notices, badges, fields, the copy button.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate};

use crate::error::AppError;

pub const BUTTON: &str = "inline-flex items-center gap-1 rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm font-medium text-slate-800 shadow-sm hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 disabled:cursor-not-allowed disabled:opacity-50";
pub const PRIMARY: &str = "inline-flex items-center gap-1 rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white shadow-sm hover:bg-indigo-500 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 focus-visible:ring-offset-2 disabled:cursor-not-allowed disabled:opacity-50";
pub const DANGER: &str = "inline-flex items-center gap-1 rounded-md bg-red-600 px-3 py-1.5 text-sm font-medium text-white shadow-sm hover:bg-red-500 focus:outline-none focus-visible:ring-2 focus-visible:ring-red-500 focus-visible:ring-offset-2 disabled:cursor-not-allowed disabled:opacity-50";
pub const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40 aria-[invalid=true]:border-red-500";
pub const LABEL: &str = "block text-sm font-medium text-slate-700";
pub const CARD: &str = "rounded-lg border border-slate-200 bg-white p-5 shadow-sm";

/// Reading a signal in a view closure the server renders. Leptos' Suspense can dispose of a
/// resolved view's owner (re-running its children on another worker thread) while the server
/// is still writing that view's HTML; a plain `get` or `with` then panics the worker and the
/// page answers 500 (seen on a users page under load: the selection signal of its table).
/// These reads give the type's default instead, which is also every such signal's value in a
/// fresh server render but for a few (a switch's initial state), and never panic.
pub trait Current: With {
    /// `get`, or the default once disposed.
    fn current(&self) -> Self::Value
    where
        Self::Value: Clone + Default,
    {
        self.try_with(Clone::clone).unwrap_or_default()
    }

    /// `with`, or the default once disposed.
    fn current_with<U: Default>(&self, f: impl FnOnce(&Self::Value) -> U) -> U {
        self.try_with(f).unwrap_or_default()
    }
}

impl<S: With> Current for S {}

/// `2026-11-22T04:21:30.399Z` → `2026-11-22 04:21 UTC` (the full value goes in a title).
pub fn short_time(iso: &str) -> String {
    match (iso.get(..10), iso.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => iso.to_string(),
    }
}

/// "First Last", either alone, or empty.
/// 100000 → "100,000".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

pub fn full_name(first: Option<&str>, last: Option<&str>) -> String {
    [first, last]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `?k=v&...` from pairs, skipping empty values.
pub fn query_string(pairs: &[(&str, String)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// A full date-time cell: short text, exact value on hover.
#[component]
pub fn Time(#[prop(into)] iso: String) -> impl IntoView {
    let short = short_time(&iso);
    view! { <time datetime=iso.clone() title=iso>{short}</time> }
}

/// An error, said so that the reader knows what to do. A missing session sends the reader
/// to the sign-in page (and back here afterwards).
#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    if error == AppError::Unauthorized {
        let navigate = use_navigate();
        let location = use_location();
        Effect::new(move |_| {
            let here = format!(
                "{}{}",
                location.pathname.get_untracked(),
                location.search.get_untracked()
            );
            let next = encode_component(&here);
            navigate(&format!("/sign-in?next={next}"), Default::default());
        });
    }
    let detail = match &error {
        AppError::Validation(fields) => fields
            .iter()
            .map(|(k, m)| format!("{k} {m}"))
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    };
    view! {
        <div class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800" role="alert" data-testid="error">
            <p>{error.to_string()}</p>
            {(!detail.is_empty()).then(|| view! { <p class="mt-1">{detail}</p> })}
        </div>
    }
}

/// Under a form: "correct the highlighted fields" for field errors (each field shows its
/// own), else the error itself.
#[component]
pub fn FormError(errors: RwSignal<Option<AppError>>) -> impl IntoView {
    move || {
        errors.current().map(|e| match e {
            AppError::Validation(_) => view! {
                <p class="rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-800" role="alert" data-testid="error">
                    "Please correct the highlighted fields."
                </p>
            }
            .into_any(),
            other => view! { <ErrorNotice error=other /> }.into_any(),
        })
    }
}

/// The message of a field, if the error names it.
pub fn field_error(error: &Option<AppError>, key: &str) -> Option<String> {
    match error {
        Some(AppError::Validation(fields)) => fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, m)| m.clone()),
        _ => None,
    }
}

/// A labelled text input bound to `value`; shows the error of `key` under it.
#[component]
pub fn TextField(
    label: &'static str,
    key: &'static str,
    value: RwSignal<String>,
    errors: Signal<Option<AppError>>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "")] hint: &'static str,
    #[prop(default = "")] autocomplete: &'static str,
) -> impl IntoView {
    let id = format!("field-{}", key.to_ascii_lowercase());
    let error = move || errors.current_with(|e| field_error(e, key));
    let error_id = format!("{id}-error");
    view! {
        <div>
            <label class=LABEL for=id.clone()>{label}</label>
            <input
                id=id.clone()
                name=key
                type=kind
                class=INPUT
                autocomplete=autocomplete
                aria-invalid=move || error().is_some().to_string()
                aria-describedby=error_id.clone()
                bind:value=value
            />
            {(!hint.is_empty()).then(|| view! { <p class="mt-1 text-xs text-slate-500">{hint}</p> })}
            <p id=error_id class="mt-1 text-xs text-red-700" data-testid=format!("error-{key}")>{error}</p>
        </div>
    }
}

/// Active / Deactivated.
#[component]
pub fn StatusBadge(#[prop(into)] status: String) -> impl IntoView {
    let class = if status == "Active" {
        "rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-700 ring-1 ring-emerald-200"
    } else {
        "rounded-full bg-amber-50 px-2 py-0.5 text-xs font-medium text-amber-800 ring-1 ring-amber-200"
    };
    view! { <span class=class>{status}</span> }
}

/// Copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(text: String, #[prop(into)] label: String) -> impl IntoView {
    let (done, set_done) = signal(None::<bool>);
    let copy = move |_| {
        set_done.set(Some(copy_to_clipboard(&text)));
    };
    view! {
        <button type="button" class=BUTTON on:click=copy aria-label=format!("Copy the {label}")>
            {move || match done.current() {
                Some(true) => "Copied",
                Some(false) => "Copy failed: select and copy",
                None => "Copy",
            }}
        </button>
    }
}

/// `navigator.clipboard.writeText(text)`, looked up by reflection (no eval, no snippets).
fn copy_to_clipboard(text: &str) -> bool {
    use js_sys::{Function, Reflect};
    use wasm_bindgen::JsCast;
    let global = js_sys::global();
    let Ok(navigator) = Reflect::get(&global, &"navigator".into()) else {
        return false;
    };
    let Ok(clipboard) = Reflect::get(&navigator, &"clipboard".into()) else {
        return false;
    };
    let Ok(write) = Reflect::get(&clipboard, &"writeText".into()) else {
        return false;
    };
    match write.dyn_into::<Function>() {
        Ok(f) => f.call1(&clipboard, &text.into()).is_ok(),
        Err(_) => false,
    }
}

/// A page heading with an optional line under it.
#[component]
pub fn PageHeader(
    #[prop(into)] title: String,
    #[prop(into, optional)] subtitle: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="flex flex-wrap items-end justify-between gap-4">
            <div class="min-w-0">
                <h1 class="truncate text-2xl font-semibold tracking-tight">{title}</h1>
                {(!subtitle.is_empty()).then(|| view! { <p class="mt-1 text-sm text-slate-600">{subtitle}</p> })}
            </div>
            <div class="flex flex-wrap items-center gap-2">{children.map(|c| c())}</div>
        </div>
    }
}

/// A bordered table that scrolls sideways on narrow screens: a caption for screen readers,
/// one heading per column (`numeric` names the one aligned right), the rows as children.
#[component]
pub fn DataTable(
    caption: &'static str,
    testid: &'static str,
    headings: Vec<&'static str>,
    #[prop(optional)] numeric: Option<&'static str>,
    #[prop(default = "mt-6")] margin: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <div class=format!("{margin} overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-sm")>
            <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid=testid>
                <caption class="sr-only">{caption}</caption>
                <thead class="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-600">
                    <tr>
                        {headings.into_iter().map(|h| {
                            let class = if numeric == Some(h) { "px-4 py-3 text-right" } else { "px-4 py-3" };
                            view! { <th scope="col" class=class>{h}</th> }
                        }).collect_view()}
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">{children()}</tbody>
            </table>
        </div>
    }
}

/// A progress bar: `value` of `max`, coloured by `fill` (a Tailwind `fill-*` class). The
/// width is an SVG attribute, not a style: the pages' CSP allows no inline styles.
#[component]
pub fn ProgressBar(
    label: &'static str,
    value: i64,
    max: i64,
    fill: &'static str,
    testid: &'static str,
) -> impl IntoView {
    let percent = if max <= 0 {
        100
    } else {
        (value.saturating_mul(100) / max).clamp(0, 100)
    };
    view! {
        <div class="mt-3 h-3 w-full overflow-hidden rounded-full bg-slate-100"
            role="progressbar" aria-label=label aria-valuemin="0"
            aria-valuemax=max.to_string() aria-valuenow=value.to_string()
            data-testid=testid>
            <svg class="block h-3 w-full" aria-hidden="true">
                <rect class=format!("{fill} transition-all") height="100%" width=format!("{percent}%") />
            </svg>
        </div>
    }
}

#[component]
pub fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! {
        <p class="mt-6 flex items-center gap-2 text-sm text-slate-500" role="status">
            <span class="inline-block h-3 w-3 animate-spin rounded-full border-2 border-slate-300 border-t-indigo-600" aria-hidden="true"></span>
            {format!("Loading {what}…")}
        </p>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (100_000, "100,000"),
            (-1_234_567, "-1,234,567"),
        ] {
            assert_eq!(super::thousands(n), s);
        }
    }
}

/// A page's confirmation line ("saved", "sent"), set by the page's actions.
#[derive(Clone, Copy)]
pub struct Notice(RwSignal<Option<String>>);

impl Notice {
    /// A new notice for the page, reachable by its components through `Notice::get`.
    pub fn provide() -> Notice {
        let notice = Notice(RwSignal::new(None));
        provide_context(notice);
        notice
    }

    /// The page's notice setter (captured when a component is made: contexts are not
    /// reachable from a spawned task).
    pub fn get() -> impl Fn(&str) + Copy {
        let n = use_context::<Notice>().map(|Notice(n)| n);
        move |m: &str| {
            if let Some(n) = n {
                n.set(Some(m.to_string()));
            }
        }
    }
}

/// Where a page shows its notice.
#[component]
pub fn NoticeLine(notice: Notice) -> impl IntoView {
    view! {
        {move || notice.0.current().map(|m| view! {
            <p class="mb-4 rounded-md border border-emerald-200 bg-emerald-50 p-3 text-sm text-emerald-800" role="status" data-testid="notice">{m}</p>
        })}
    }
}

/// Paging of a newest-first list: back to the newest page (when not on it), and on to older
/// entries (shown disabled on the last page).
#[component]
pub fn OlderPager(newest: Option<String>, older: Option<String>) -> impl IntoView {
    view! {
        <nav class="mt-3 flex justify-end gap-2" aria-label="Pages">
            {newest.map(|h| view! { <leptos_router::components::A href=h attr:class=BUTTON>"Newest"</leptos_router::components::A> })}
            {match older {
                Some(h) => view! { <leptos_router::components::A href=h attr:class=BUTTON attr:rel="next">"Older →"</leptos_router::components::A> }.into_any(),
                None => view! { <span class=format!("{BUTTON} opacity-50") aria-disabled="true">"Older →"</span> }.into_any(),
            }}
        </nav>
    }
}

/// Every instance, or only those ticked: `limited` says which, `picked` holds the ids.
/// `what` says what being limited means for the thing being made.
#[component]
pub fn InstancePicker(
    limited: RwSignal<bool>,
    picked: RwSignal<Vec<String>>,
    what: &'static str,
    #[prop(default = "key-instance")] group: &'static str,
) -> impl IntoView {
    let instances = Resource::new(|| (), |_| crate::server_fns::instances::instance_choices());
    view! {
        <fieldset>
            <legend class=LABEL>"Instances"</legend>
            <div class="mt-1 flex flex-wrap gap-4 text-sm">
                <label class="flex items-center gap-2">
                    <input type="radio" name=group class="h-4 w-4" prop:checked=move || !limited.get() on:change=move |_| limited.set(false) />
                    "Every instance"
                </label>
                <label class="flex items-center gap-2">
                    <input type="radio" name=group id=format!("{group}-chosen") class="h-4 w-4" prop:checked=move || limited.get() on:change=move |_| limited.set(true) />
                    {format!("Only the instances chosen below ({what})")}
                </label>
            </div>
            <Show when=move || limited.get()>
                <Transition fallback=|| view! { <Loading what="the instances" /> }>
                    {move || Suspend::new(async move {
                        match instances.await {
                            Ok(list) => view! {
                                <div class="mt-2 max-h-48 overflow-y-auto rounded-md border border-slate-200 p-2" data-testid=format!("{group}-choices")>
                                    {list.into_iter().map(|i| {
                                        let id = i.id.clone();
                                        let box_id = format!("{group}-{}", i.id);
                                        let on_change = move |ev: leptos::ev::Event| {
                                            let on = event_target_checked(&ev);
                                            let id = id.clone();
                                            picked.update(|p| {
                                                p.retain(|x| *x != id);
                                                if on {
                                                    p.push(id);
                                                }
                                            });
                                        };
                                        view! {
                                            <div class="flex items-center gap-2 text-sm">
                                                <input id=box_id.clone() type="checkbox" class="h-4 w-4 rounded border-slate-300 text-indigo-600" on:change=on_change />
                                                <label for=box_id>{i.name}" "<span class="font-mono text-xs text-slate-500">{i.id}</span></label>
                                            </div>
                                        }
                                    }).collect_view()}
                                </div>
                            }.into_any(),
                            Err(e) => view! { <ErrorNotice error=e /> }.into_any(),
                        }
                    })}
                </Transition>
            </Show>
        </fieldset>
    }
}

/// A secret shown this once (an API key, a webhook's signing secret): `testid` names the box
/// and, with `-value`, the secret in it.
#[component]
pub fn ShownOnce(value: String, testid: &'static str, message: &'static str) -> impl IntoView {
    view! {
        <div class="mt-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900" role="status" data-testid=testid>
            <p class="font-medium">{message}</p>
            <code class="mt-2 block break-all rounded bg-white p-2 font-mono text-xs" data-testid=format!("{testid}-value")>{value}</code>
        </div>
    }
}
