//! One component with what the users page's bulk bar needs in the browser: a selection held
//! in a signal, a list read through a server function into a `Transition`, an action
//! calling another server function, and its answer or error shown. `measure.sh` builds it
//! hydrated whole (behind the router) and as an island.

use leptos::prelude::*;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub token: String,
    pub name: String,
}

#[server]
pub async fn apply(tokens: Vec<String>, action: String) -> Result<usize, ServerFnError> {
    Ok(tokens.len() + action.len())
}

#[server]
pub async fn choices() -> Result<Vec<(String, String)>, ServerFnError> {
    Ok(vec![("id".into(), "name".into())])
}

#[cfg_attr(feature = "islands", island)]
#[cfg_attr(not(feature = "islands"), component)]
pub fn Bar(rows: Vec<Row>) -> impl IntoView {
    let list = Resource::new(|| (), |_| choices());
    let options = move || {
        Suspend::new(async move {
            match list.await {
                Ok(l) => l
                    .into_iter()
                    .map(|(id, name)| view! { <option value=id>{name}</option> })
                    .collect_view()
                    .into_any(),
                Err(e) => view! { <p>{e.to_string()}</p> }.into_any(),
            }
        })
    };
    let selected = RwSignal::new(std::collections::BTreeSet::<String>::new());
    let act = Action::new(move |action: &String| {
        let tokens: Vec<String> = selected.get_untracked().into_iter().collect();
        let action = action.clone();
        async move { apply(tokens, action).await }
    });
    view! {
        <p>{move || format!("{} selected", selected.with(|s| s.len()))}</p>
        <select on:change=move |ev| {
            act.dispatch(event_target_value(&ev));
        }>
            <option value="flag">"flag"</option>
            <Transition fallback=|| ()>{options}</Transition>
        </select>
        {move || act.value().get().map(|r| match r {
            Ok(n) => view! { <p>{format!("{n} changed")}</p> }.into_any(),
            Err(e) => view! { <p>{e.to_string()}</p> }.into_any(),
        })}
        <table>
            {rows
                .into_iter()
                .map(|r| {
                    let token = r.token.clone();
                    view! {
                        <tr>
                            <td>
                                <input type="checkbox" on:change=move |_| selected.update(|s| {
                                    if !s.remove(&token) {
                                        s.insert(token.clone());
                                    }
                                }) />
                            </td>
                            <td>{r.name}</td>
                        </tr>
                    }
                })
                .collect_view()}
        </table>
    }
}

#[cfg(feature = "full")]
#[component]
pub fn App() -> impl IntoView {
    use leptos_router::{components::*, path};
    view! {
        <Router>
            <Routes fallback=|| "not found">
                <Route path=path!("/") view=|| view! { <Bar rows=vec![] /> } />
            </Routes>
        </Router>
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    #[cfg(feature = "islands")]
    leptos::mount::hydrate_islands();
    #[cfg(feature = "full")]
    leptos::mount::hydrate_body(App);
}
