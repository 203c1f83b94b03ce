//! Applications and instances (user groups), instance credentials, and the first start.

use chrono::{DateTime, Utc};

use super::error::{CoreError, CoreResult, CredentialKind};
use super::secret::{constant_time_eq, InstanceKey};
use super::store::{ApplicationRow, InstanceRow, NewInstanceRow};
use super::time::{from_ms, ms};
use super::types::{
    format_datetime, parse_text, ApplicationId, CompanyId, InstanceId, InstanceStatus, InviteCode,
};
use super::Core;
use tus_wire::model::InstanceSummary;

/// The raw `InstanceId` / `InstanceKey` headers of a request.
#[derive(Debug, Clone, Default)]
pub struct InstanceCredentials {
    pub id: Option<String>,
    pub key: Option<InstanceKey>,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub id: InstanceId,
    pub application_id: ApplicationId,
    pub company_id: CompanyId,
    pub application_name: String,
    pub name: String,
    pub description: String,
    pub status: InstanceStatus,
    pub invite_code: String,
    pub key: InstanceKey,
    pub created_at: DateTime<Utc>,
    /// Flags of new users that name none, in `Flag::ALL` order (`None`: the API's default).
    pub default_flags: [Option<bool>; 4],
    /// Its own token lifetimes.
    pub lifetimes: crate::tokens::Lifetimes,
    /// Moves on with every change to the instance (see `Tx::confirm_instance`).
    pub revision: i64,
}

impl TryFrom<InstanceRow> for Instance {
    type Error = CoreError;
    fn try_from(r: InstanceRow) -> CoreResult<Self> {
        let bad = |e: String| CoreError::internal(format!("stored instance is invalid: {e}"));
        Ok(Instance {
            id: InstanceId::parse(&r.id).map_err(bad)?,
            application_id: ApplicationId::parse(&r.app_id).map_err(bad)?,
            company_id: CompanyId::parse(&r.company_id).map_err(bad)?,
            application_name: r.app_name,
            name: r.name,
            description: r.description,
            status: InstanceStatus::parse(&r.status).map_err(bad)?,
            invite_code: r.invite_code,
            key: InstanceKey::new(r.instance_key),
            created_at: from_ms(r.created_at),
            default_flags: [
                r.default_tracking,
                r.default_logging,
                r.default_sdk,
                r.default_realtime,
            ],
            lifetimes: crate::tokens::Lifetimes {
                access_minutes: r.access_token_minutes,
                refresh_hours: r.refresh_token_hours,
            },
            revision: r.revision,
        })
    }
}

/// What the first start created, to print once.
#[derive(Debug, Clone)]
pub struct CreatedInstance {
    pub instance: Instance,
    pub application_name: String,
}

impl Instance {
    /// The headers a client of this instance sends.
    pub fn credentials(&self) -> InstanceCredentials {
        InstanceCredentials {
            id: Some(self.id.to_string()),
            key: Some(InstanceKey::new(self.key.expose())),
        }
    }
}

const COMPANY_SETTING: &str = "company_id";

pub(crate) fn application_row(
    company: CompanyId,
    now: DateTime<Utc>,
    name: &str,
    description: &str,
) -> ApplicationRow {
    ApplicationRow {
        id: ApplicationId::new_random().to_string(),
        company_id: company.to_string(),
        name: name.to_string(),
        description: description.to_string(),
        status: InstanceStatus::Active.to_string(),
        created_at: ms(now),
    }
}

/// A new instance with a fresh key and invite code.
pub(crate) fn new_instance_row(
    id: &str,
    app_id: &str,
    name: &str,
    description: &str,
    now: DateTime<Utc>,
) -> NewInstanceRow {
    NewInstanceRow {
        id: id.to_string(),
        app_id: app_id.to_string(),
        instance_key: uuid::Uuid::new_v4().to_string(),
        name: name.to_string(),
        description: description.to_string(),
        status: InstanceStatus::Active.to_string(),
        invite_code: InviteCode::generate().as_str().to_string(),
        created_at: ms(now),
    }
}
const INVITE_ATTEMPTS: usize = 8;

/// The identity an instance already has elsewhere: kept when it is created here.
#[derive(Debug, Clone, Default)]
pub struct GivenIdentity {
    pub id: Option<InstanceId>,
    pub key: Option<uuid::Uuid>,
}

impl GivenIdentity {
    /// `Id` and `Key` as sent (empty: not given), every field error at once.
    pub fn parse(
        e: &mut crate::error::FieldErrors,
        id: Option<&str>,
        key: Option<&str>,
    ) -> GivenIdentity {
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        GivenIdentity {
            id: given(id).and_then(|v| e.take("Id", InstanceId::parse(&v))),
            key: given(key).and_then(|v| {
                e.take(
                    "Key",
                    uuid::Uuid::try_parse(&v).map_err(|_| "InstanceKey must be a UUID".to_string()),
                )
            }),
        }
    }
}

fn invalid_instance() -> CoreError {
    CoreError::unauthorized(CredentialKind::Instance, "invalid instance credentials")
}

/// What a write that confirmed its instance (`Tx::confirm_instance`) fails with when the
/// instance changed after it was read: a 409 if it reaches the client (two changes raced
/// one request), though a registration first reads the instance again and retries.
pub fn instance_changed() -> CoreError {
    CoreError::Conflict {
        key: "InstanceId".into(),
        message: INSTANCE_CHANGED.into(),
    }
}

const INSTANCE_CHANGED: &str = "the instance changed while this request was served; send it again";

pub(crate) fn is_instance_changed(e: &CoreError) -> bool {
    matches!(e, CoreError::Conflict { key, message } if key == "InstanceId" && message == INSTANCE_CHANGED)
}

/// The instances this process has read, by id, as they were read (issue 19: a registration
/// authenticates from here instead of reading its instance on every request). Never the
/// last word: a registration confirms its instance inside its own write
/// (`Tx::confirm_instance`), and every read of an instance refreshes its entry. Only
/// instances that exist are held, at most `LIMIT`.
#[derive(Default)]
pub(crate) struct InstanceCache {
    held: std::sync::RwLock<std::collections::HashMap<InstanceId, Instance>>,
}

impl InstanceCache {
    const LIMIT: usize = 1024;

    fn get(&self, id: &InstanceId) -> Option<Instance> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        held.get(id).cloned()
    }

    fn keep(&self, instance: &Instance) {
        let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
        if held.len() >= Self::LIMIT && !held.contains_key(&instance.id) {
            held.clear();
        }
        held.insert(instance.id, instance.clone());
    }

    fn forget(&self, id: &InstanceId) {
        let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
        held.remove(id);
    }
}

/// The presented id and key, or the 401 for credentials that are missing or malformed.
fn presented(creds: &InstanceCredentials) -> CoreResult<(InstanceId, &InstanceKey)> {
    let (Some(id), Some(key)) = (creds.id.as_deref(), creds.key.as_ref()) else {
        return Err(CoreError::unauthorized(
            CredentialKind::Instance,
            "the InstanceId and InstanceKey headers are required",
        ));
    };
    let id = InstanceId::parse(id).map_err(|_| invalid_instance())?;
    Ok((id, key))
}

/// Whether `key` is the instance's key. Keys are UUIDs: their canonical forms are compared,
/// so case and dashes do not matter.
fn key_matches(instance: &Instance, key: &InstanceKey) -> bool {
    let canonical = |k: &str| {
        uuid::Uuid::try_parse(k.trim())
            .map(|u| u.to_string())
            .unwrap_or_default()
    };
    let presented = canonical(key.expose());
    !presented.is_empty()
        && constant_time_eq(
            presented.as_bytes(),
            canonical(instance.key.expose()).as_bytes(),
        )
}

impl Core {
    /// Checks the `InstanceId`/`InstanceKey` pair against the stored instance: 401 when
    /// missing or wrong (one message for both, so a caller cannot probe which instance ids
    /// exist), 403 when deactivated.
    pub async fn authenticate_instance(&self, creds: &InstanceCredentials) -> CoreResult<Instance> {
        let (id, key) = presented(creds)?;
        let instance: Instance = match self.store().find_instance(&id.to_string()).await? {
            Some(row) => row.try_into()?,
            None => {
                self.inner.instances.forget(&id);
                return Err(invalid_instance());
            }
        };
        self.inner.instances.keep(&instance);
        if !key_matches(&instance, key) {
            return Err(invalid_instance());
        }
        if instance.status != InstanceStatus::Active {
            return Err(CoreError::Forbidden("the instance is deactivated".into()));
        }
        Ok(instance)
    }

    /// `authenticate_instance` from the instance as this process last read it, without a
    /// read when the key matches it and it was Active; otherwise from the stored instance.
    /// Only for a write that confirms the instance (`Tx::confirm_instance`) and, when that
    /// fails, authenticates again with `authenticate_instance`: see `Core::register`.
    pub(crate) async fn authenticate_instance_cached(
        &self,
        creds: &InstanceCredentials,
    ) -> CoreResult<Instance> {
        let (id, key) = presented(creds)?;
        match self.inner.instances.get(&id) {
            Some(held) if held.status == InstanceStatus::Active && key_matches(&held, key) => {
                Ok(held)
            }
            _ => self.authenticate_instance(creds).await,
        }
    }

    pub async fn company_id(&self) -> CoreResult<CompanyId> {
        let mut tx = self.store().begin().await?;
        let value = tx
            .setting_or_insert(COMPANY_SETTING, &CompanyId::new_random().to_string())
            .await?;
        tx.commit().await?;
        CompanyId::parse(&value).map_err(CoreError::internal)
    }

    /// Keeps the CompanyId the deployment had on the hosted service (`tus company --set-id`):
    /// every application and the tokens issued from now on carry it. Audited.
    pub async fn set_company_id(
        &self,
        now: DateTime<Utc>,
        id: CompanyId,
        actor: &str,
    ) -> CoreResult<()> {
        let before = self.company_id().await?;
        let mut tx = self.store().begin().await?;
        tx.put_setting(COMPANY_SETTING, &id.to_string()).await?;
        tx.move_applications_to_company(&id.to_string()).await?;
        tx.audit(&crate::store::NewAuditRow::new(
            now,
            actor,
            crate::audit::AuditAction::CompanyIdSet,
            format!("company:{id}"),
            format!("CompanyId: {before} → {id}"),
        ))
        .await?;
        tx.commit().await
    }

    pub async fn create_application(
        &self,
        now: DateTime<Utc>,
        name: &str,
        description: &str,
    ) -> CoreResult<ApplicationRow> {
        let row = application_row(self.company_id().await?, now, name, description);
        let mut tx = self.store().begin().await?;
        tx.insert_application(&row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Creates an instance with a fresh id, key and invite code in `app_id` (default: the
    /// first application).
    pub async fn create_instance(
        &self,
        now: DateTime<Utc>,
        app_id: Option<&str>,
        name: &str,
        description: &str,
    ) -> CoreResult<Instance> {
        self.create_instance_with(now, app_id, name, description, GivenIdentity::default())
            .await
    }

    /// `create_instance` keeping an identity it already has elsewhere (a fleet moving in):
    /// its InstanceId (409 when taken) and its InstanceKey (409 when another instance has it).
    pub async fn create_instance_with(
        &self,
        now: DateTime<Utc>,
        app_id: Option<&str>,
        name: &str,
        description: &str,
        given: GivenIdentity,
    ) -> CoreResult<Instance> {
        let name = parse_text(name)
            .map_err(|m| CoreError::validation("Name", m))?
            .ok_or_else(|| CoreError::validation("Name", "is required"))?;
        let description =
            parse_text(description).map_err(|m| CoreError::validation("Description", m))?;
        let app_id = match app_id {
            Some(id) => id.to_string(),
            None => match self.store().first_application().await? {
                Some(app) => app.id,
                None => self.create_application(now, "Default", "").await?.id,
            },
        };
        let id = given.id.unwrap_or_else(InstanceId::new_random).to_string();
        if let Some(key) = &given.key {
            if self.store().instance_key_taken(&key.to_string()).await? {
                return Err(CoreError::Conflict {
                    key: "Key".into(),
                    message: "another instance has this InstanceKey".into(),
                });
            }
        }
        for attempt in 1..=INVITE_ATTEMPTS {
            let mut row = new_instance_row(
                &id,
                &app_id,
                &name,
                &description.clone().unwrap_or_default(),
                now,
            );
            if let Some(key) = &given.key {
                row.instance_key = key.to_string();
            }
            let mut tx = self.store().begin().await?;
            match tx.insert_instance(&row).await {
                Ok(()) => {
                    tx.commit().await?;
                    let stored = self.store().find_instance(&id).await?;
                    return stored
                        .ok_or_else(|| CoreError::internal("instance vanished after insert"))?
                        .try_into();
                }
                // 31^8 codes make a collision rare; retry with a new one.
                Err(CoreError::Conflict { key, .. })
                    if key == "InviteCode" && attempt < INVITE_ATTEMPTS =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
        Err(CoreError::internal("could not find a free invite code"))
    }

    /// First start: application "Default" with instance "Common" when there are none.
    /// Replicas starting together on one database agree through a claimed settings row:
    /// exactly one creates them, in one transaction.
    pub async fn ensure_default_instance(
        &self,
        now: DateTime<Utc>,
    ) -> CoreResult<Option<CreatedInstance>> {
        if self.store().count_applications().await? > 0 {
            return Ok(None);
        }
        let company = self.company_id().await?;
        let app = application_row(company, now, "Default", "Created on first start");
        let id = InstanceId::new_random().to_string();
        let row = new_instance_row(&id, &app.id, "Common", "Default group", now);
        let mut tx = self.store().begin().await?;
        if !tx.claim_setting("bootstrap.default_instance", &id).await? {
            return Ok(None);
        }
        tx.insert_application(&app).await?;
        tx.insert_instance(&row).await?;
        tx.commit().await?;
        let instance = self
            .store()
            .find_instance(&id)
            .await?
            .ok_or_else(|| CoreError::internal("instance vanished"))?;
        Ok(Some(CreatedInstance {
            instance: instance.try_into()?,
            application_name: app.name,
        }))
    }

    /// The instances `p` sees, with their user counts (never their keys).
    pub async fn list_instances(
        &self,
        p: &crate::principal::Principal,
    ) -> CoreResult<Vec<InstanceSummary>> {
        p.allow(tus_wire::views::Action::ReadInstances)?;
        let rows = self.store().list_instances().await?;
        Ok(rows
            .into_iter()
            .filter(|r| p.sees_instance(&r.id))
            .map(|r| InstanceSummary {
                id: r.id,
                name: r.name,
                description: r.description,
                status: r.status,
                application_name: r.app_name,
                application_id: r.app_id,
                invite_code: r.invite_code,
                user_count: r.user_count,
                date_created: format_datetime(from_ms(r.created_at)),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, test_core};

    #[tokio::test]
    async fn first_start_creates_default_and_common_once() {
        let t = test_core(|_| {}).await;
        let created = t
            .core
            .ensure_default_instance(at(0))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(created.application_name, "Default");
        assert_eq!(created.instance.name, "Common");
        assert!(t
            .core
            .ensure_default_instance(at(1))
            .await
            .unwrap()
            .is_none());
        let list = t
            .core
            .list_instances(&crate::testing::admin())
            .await
            .unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].user_count, 0);
    }

    #[tokio::test]
    async fn instance_credentials_are_checked() {
        let t = test_core(|_| {}).await;
        let i = t
            .core
            .create_instance(at(0), None, "Fleet", "")
            .await
            .unwrap();
        let creds = |id: &str, key: &str| InstanceCredentials {
            id: Some(id.into()),
            key: Some(InstanceKey::new(key)),
        };
        let ok = t
            .core
            .authenticate_instance(&creds(&i.id.to_string(), i.key.expose()))
            .await
            .unwrap();
        assert_eq!(ok.id, i.id);
        // Upper case and without dashes is the same key.
        let loud = i.key.expose().replace('-', "").to_uppercase();
        assert!(t
            .core
            .authenticate_instance(&creds(&i.id.to_string(), &loud))
            .await
            .is_ok());
        let wrong = t
            .core
            .authenticate_instance(&creds(&i.id.to_string(), &uuid::Uuid::new_v4().to_string()))
            .await;
        assert!(matches!(wrong, Err(CoreError::Unauthorized { .. })));
        let missing = t
            .core
            .authenticate_instance(&InstanceCredentials::default())
            .await;
        assert!(matches!(missing, Err(CoreError::Unauthorized { .. })));
    }
}
