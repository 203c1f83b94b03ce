//! Imports of users from a file, for the Import page. The upload itself is not a server
//! function: the page sends the file as the body of `POST /export/imports` (streamed, with
//! upload progress), and the report is `GET /export/imports/{id}/report.csv`.
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use tus_wire::model::{ImportPage, ImportRowError, ImportView};

/// `POST /api/list_imports`: 50 imports, newest first: `{Imports, Next}`.
///
/// ```sh
/// api list_imports '{"before": null}'
/// ```
#[server(prefix = "/api", endpoint = "list_imports", input = Json)]
pub async fn list_imports(before: Option<String>) -> Result<ImportPage, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .import_list(Core::now(), a.principal(), before.as_deref())
        .await
        .map_err(fail)
}

/// `POST /api/get_import`: one import's progress and counts (never a row's data).
///
/// ```sh
/// api get_import '{"import_id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "get_import", input = Json)]
pub async fn get_import(import_id: String) -> Result<ImportView, AppError> {
    use super::guard::{admin, fail};
    use tus_core::Core;
    let a = admin()?;
    a.core
        .import_view(Core::now(), a.principal(), &import_id)
        .await
        .map_err(fail)
}

/// `POST /api/import_errors`: the first 20 rows of an import's report that are errors
/// (`Row`, `DeviceToken`, `Field`, `Reason`); the report has all of them.
///
/// ```sh
/// api import_errors '{"import_id": "…"}'
/// ```
#[server(prefix = "/api", endpoint = "import_errors", input = Json)]
pub async fn import_errors(import_id: String) -> Result<Vec<ImportRowError>, AppError> {
    use super::guard::{admin, fail};
    let a = admin()?;
    a.core
        .import_errors(a.principal(), &import_id, 20)
        .await
        .map_err(fail)
}

/// What the Import page does to an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ImportCommand {
    /// A completed dry run's rows, imported for real.
    Run,
    Stop,
    Resume,
}

/// `POST /api/import_step`: `step` is `Run` (a completed dry run, for real), `Stop` or
/// `Resume`; answers the import.
///
/// ```sh
/// api import_step '{"import_id": "…", "step": "Run"}'
/// ```
#[server(prefix = "/api", endpoint = "import_step", input = Json)]
pub async fn import_step(import_id: String, step: ImportCommand) -> Result<ImportView, AppError> {
    use super::guard::{admin, fail};
    use tus_core::types::BatchId;
    use tus_core::Core;
    let a = admin()?;
    let (core, p) = (&a.core, a.principal());
    let view = core
        .import_view(Core::now(), p, &import_id)
        .await
        .map_err(fail)?;
    let id = BatchId::named(&view.id).map_err(fail)?;
    match step {
        ImportCommand::Run => {
            core.run_dry_import(Core::now(), p, &view.id, &a.meta)
                .await
                .map_err(fail)?;
            core.spawn_batch(view.id.clone());
        }
        ImportCommand::Stop => {
            core.stop_batch(Core::now(), p, id, &a.meta)
                .await
                .map_err(fail)?;
        }
        ImportCommand::Resume => {
            core.resume_batch(Core::now(), p, id, &a.meta)
                .await
                .map_err(fail)?;
            core.spawn_batch(view.id.clone());
        }
    }
    core.import_view(Core::now(), p, &view.id)
        .await
        .map_err(fail)
}
