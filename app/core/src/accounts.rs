//! The Accounts-service part of the API (admin only): applications and their instances,
//! instance key rotation and invite-code regeneration. One deployment is one company.

use chrono::{DateTime, Utc};
use tus_wire::views::Action;

use super::error::{CoreError, CoreResult, FieldErrors};
use super::instances::{application_row, GivenIdentity, Instance};
use super::principal::Principal;
use super::store::{ApplicationRow, NewAuditRow};
use super::types::{parse_text, ApplicationId, InstanceId, InstanceStatus, InviteCode};
use super::{Core, RequestMeta};
use crate::audit::AuditAction;
use tus_wire::model::{ApplicationInput, ApplicationView, InstanceInput, InstanceView};
use tus_wire::views::InstanceChoice;

/// An instance as the Accounts API answers it, key included for an admin: built only by
/// `Core::disclose_instances`, which records every key it shows.
fn instance_view(i: &Instance, with_key: bool) -> InstanceView {
    InstanceView {
        id: i.id.to_string(),
        key: with_key.then(|| i.key.expose().to_string()),
        name: i.name.clone(),
        description: i.description.clone(),
        status: i.status.to_string(),
        invite_code: i.invite_code.clone(),
        app_id: i.application_id.to_string(),
        app_name: i.application_name.clone(),
        company_id: i.company_id.to_string(),
    }
}

fn application_view(a: ApplicationRow, instances: Option<Vec<InstanceView>>) -> ApplicationView {
    ApplicationView {
        id: a.id,
        name: a.name,
        description: a.description,
        status: a.status,
        company_id: a.company_id,
        instances,
    }
}

/// `Status` as the Accounts API sends it: a name, or 1 (Active) / 2 (Deactivated).
fn parse_instance_status(value: &serde_json::Value) -> Result<InstanceStatus, String> {
    match value {
        serde_json::Value::Number(n) if n.as_i64() == Some(1) => Ok(InstanceStatus::Active),
        serde_json::Value::Number(n) if n.as_i64() == Some(2) => Ok(InstanceStatus::Deactivated),
        serde_json::Value::String(s) if s.trim() == "1" => Ok(InstanceStatus::Active),
        serde_json::Value::String(s) if s.trim() == "2" => Ok(InstanceStatus::Deactivated),
        serde_json::Value::String(s) => InstanceStatus::parse(s),
        _ => Err("Status must be Active or Deactivated (or 1 or 2)".into()),
    }
}

fn not_found(what: &str) -> CoreError {
    CoreError::NotFound(format!("no {what} has this id"))
}

impl Core {
    async fn ensure_company(&self, company_id: &str) -> CoreResult<()> {
        let ours = self.company_id().await?;
        match super::types::CompanyId::parse(company_id) {
            Ok(id) if id == ours => Ok(()),
            _ => Err(not_found("company")),
        }
    }

    pub async fn applications(
        &self,
        p: &Principal,
        company_id: &str,
    ) -> CoreResult<Vec<ApplicationView>> {
        p.allow(Action::ReadInstances)?;
        self.ensure_company(company_id).await?;
        let mut out = Vec::new();
        for a in self.store().list_applications().await? {
            if self.sees_application(p, &a.id).await? {
                out.push(application_view(a, None));
            }
        }
        Ok(out)
    }

    pub async fn application(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        app_id: &str,
        include_instances: bool,
        meta: &RequestMeta,
    ) -> CoreResult<ApplicationView> {
        p.allow(Action::ReadInstances)?;
        let id = ApplicationId::parse(app_id)
            .map_err(|_| not_found("application"))?
            .to_string();
        let app = self
            .store()
            .find_application(&id)
            .await?
            .ok_or_else(|| not_found("application"))?;
        if !self.sees_application(p, &id).await? {
            return Err(not_found("application"));
        }
        let instances = if include_instances {
            let list = self.instances(p, &id, true).await?;
            Some(self.disclose_instances(now, p, list, meta).await?)
        } else {
            None
        };
        Ok(application_view(app, instances))
    }

    pub async fn create_application_as(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        company_id: &str,
        input: ApplicationInput,
        meta: &RequestMeta,
    ) -> CoreResult<ApplicationView> {
        p.allow(Action::ManageApplications)?;
        self.ensure_company(company_id).await?;
        let mut e = FieldErrors::default();
        let name = input
            .name
            .as_deref()
            .and_then(|n| e.take("Name", parse_text(n)).flatten());
        if name.is_none() && e.is_empty() {
            e.push("Name", "is required");
        }
        let description = input
            .description
            .as_deref()
            .and_then(|d| e.take("Description", parse_text(d)).flatten());
        let given_id = input
            .id
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .and_then(|v| e.take("Id", ApplicationId::parse(v)));
        e.into_result()?;
        let name = name.unwrap_or_default();
        let mut app = application_row(
            self.company_id().await?,
            now,
            &name,
            &description.unwrap_or_default(),
        );
        if let Some(id) = given_id {
            app.id = id.to_string();
        }
        let mut tx = self.store().begin().await?;
        tx.insert_application(&app).await?;
        tx.audit(&p.audit(
            now,
            AuditAction::ApplicationCreated,
            format!("application:{}", app.id),
            name,
            meta,
        ))
        .await?;
        tx.commit().await?;
        if input.create_default_group.unwrap_or(false) {
            self.create_instance(now, Some(&app.id), "Common", "Default group")
                .await?;
        }
        self.application(now, p, &app.id, true, meta).await
    }

    pub async fn instances(
        &self,
        p: &Principal,
        app_id: &str,
        include_deactivated: bool,
    ) -> CoreResult<Vec<Instance>> {
        p.allow(Action::ReadInstances)?;
        let id = ApplicationId::parse(app_id)
            .map_err(|_| not_found("application"))?
            .to_string();
        self.store()
            .find_application(&id)
            .await?
            .ok_or_else(|| not_found("application"))?;
        if !self.sees_application(p, &id).await? {
            return Err(not_found("application"));
        }
        let rows = self.store().instances_of_application(&id).await?;
        let mut out = Vec::new();
        for row in rows {
            let i: Instance = row.try_into()?;
            let shown = include_deactivated || i.status == InstanceStatus::Active;
            if shown && p.sees_instance(&i.id.to_string()) {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// Instances as an Accounts API answer shows them, InstanceKeys included. Each key shown
    /// is recorded (`instance.key_revealed`, one entry per instance, in one transaction),
    /// as the dashboard's reveal is: who read which fleet's key, when, from where.
    pub async fn disclose_instances(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        instances: impl IntoIterator<Item = Instance>,
        meta: &RequestMeta,
    ) -> CoreResult<Vec<InstanceView>> {
        p.allow(Action::ReadInstances)?;
        // An API key reads instances, never their keys.
        let with_key = p.may(Action::RevealInstanceKeys);
        let views: Vec<InstanceView> = instances
            .into_iter()
            .filter(|i| p.sees_instance_in(&i.id.to_string(), &i.application_id.to_string()))
            .map(|i| instance_view(&i, with_key))
            .collect();
        if views.is_empty() || !with_key {
            return Ok(views);
        }
        let mut tx = self.store().begin().await?;
        for v in &views {
            tx.audit(&p.audit(
                now,
                AuditAction::InstanceKeyRevealed,
                format!("instance:{}", v.id),
                "InstanceKey returned by the REST API",
                meta,
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(views)
    }

    /// `disclose_instances` of one instance.
    pub async fn disclose_instance(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        instance: Instance,
        meta: &RequestMeta,
    ) -> CoreResult<InstanceView> {
        let mut views = self.disclose_instances(now, p, [instance], meta).await?;
        views
            .pop()
            .ok_or_else(|| CoreError::internal("an instance was not shown"))
    }

    /// An instance, for a caller who may read instances.
    pub async fn instance(&self, p: &Principal, id: InstanceId) -> CoreResult<Instance> {
        p.allow(Action::ReadInstances)?;
        self.visible_instance(p, id).await
    }

    /// An instance `p` sees, or 404 (none, or outside its instances). The caller checks
    /// what `p` may do with it.
    async fn visible_instance(&self, p: &Principal, id: InstanceId) -> CoreResult<Instance> {
        let id = id.to_string();
        let row = self
            .store()
            .find_instance(&id)
            .await?
            .filter(|i| p.sees_instance_in(&i.id, &i.app_id))
            .ok_or_else(|| not_found("instance"))?;
        row.try_into()
    }

    /// Whether `p` sees an application: all of them, or one holding an instance it sees.
    async fn sees_application(&self, p: &Principal, app_id: &str) -> CoreResult<bool> {
        if p.instance_limit().is_none() || p.sees_instance_in("", app_id) {
            return Ok(true);
        }
        let rows = self.store().instances_of_application(app_id).await?;
        Ok(rows.iter().any(|r| p.sees_instance(&r.id)))
    }

    /// An instance named in a form's `field`: an unknown id is that field's error (422),
    /// not a missing route (404).
    pub async fn instance_for_field(
        &self,
        p: &Principal,
        instance_id: &str,
        field: &str,
    ) -> CoreResult<Instance> {
        let unknown = || CoreError::validation(field, "names no instance");
        let id = InstanceId::parse(instance_id).map_err(|_| unknown())?;
        self.visible_instance(p, id).await.map_err(|e| match e {
            CoreError::NotFound(_) => unknown(),
            other => other,
        })
    }

    /// `instance_for_field`, which must also be active.
    pub async fn active_instance_for_field(
        &self,
        p: &Principal,
        instance_id: &str,
        field: &str,
    ) -> CoreResult<Instance> {
        let instance = self.instance_for_field(p, instance_id, field).await?;
        if instance.status != InstanceStatus::Active {
            return Err(CoreError::validation(field, "the instance is deactivated"));
        }
        Ok(instance)
    }

    pub async fn instance_by_invite(
        &self,
        p: &Principal,
        app_id: &str,
        code: &str,
    ) -> CoreResult<Instance> {
        p.allow(Action::ReadInstances)?;
        let code = InviteCode::parse(code)
            .map_err(|_| CoreError::NotFound("no instance has this invite code".into()))?;
        let row = self.store().find_instance_by_invite(code.as_str()).await?;
        let instance: Instance = row
            .ok_or_else(|| CoreError::NotFound("no instance has this invite code".into()))?
            .try_into()?;
        match ApplicationId::parse(app_id) {
            Ok(app)
                if app == instance.application_id && p.sees_instance(&instance.id.to_string()) =>
            {
                Ok(instance)
            }
            _ => Err(CoreError::NotFound(
                "no instance of this application has this invite code".into(),
            )),
        }
    }

    pub async fn create_instance_as(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        app_id: &str,
        input: InstanceInput,
        meta: &RequestMeta,
    ) -> CoreResult<Instance> {
        p.allow(Action::ManageInstances)?;
        let app = ApplicationId::parse(app_id)
            .map_err(|_| not_found("application"))?
            .to_string();
        self.store()
            .find_application(&app)
            .await?
            .ok_or_else(|| not_found("application"))?;
        if !p.may_add_instance_to(&app) {
            return Err(match p.admin().and_then(|a| a.applications.as_ref()) {
                Some(_) => not_found("application"),
                None => CoreError::Forbidden(
                    "an admin limited to instances may not create instances".into(),
                ),
            });
        }
        let mut e = FieldErrors::default();
        let status = input
            .status
            .as_ref()
            .and_then(|s| e.take("Status", parse_instance_status(s)));
        if input.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            e.push("Name", "is required");
        }
        let given = GivenIdentity::parse(&mut e, input.id.as_deref(), input.key.as_deref());
        e.into_result()?;
        let name = input.name.unwrap_or_default();
        let kept = match (&given.id, &given.key) {
            (None, None) => String::new(),
            (Some(_), None) => " (its InstanceId kept)".into(),
            (None, Some(_)) => " (its InstanceKey kept)".into(),
            (Some(_), Some(_)) => " (its InstanceId and InstanceKey kept)".into(),
        };
        let created = self
            .create_instance_with(
                now,
                Some(&app),
                &name,
                input.description.as_deref().unwrap_or(""),
                given,
            )
            .await?;
        // create_instance commits on its own (it retries invite codes in fresh
        // transactions); the initial status and the audit entry follow in one more.
        let mut tx = self.store().begin().await?;
        if status == Some(InstanceStatus::Deactivated) {
            tx.update_instance(
                &created.id.to_string(),
                &[("status", InstanceStatus::Deactivated.to_string())],
            )
            .await?;
        }
        tx.audit(&p.audit(
            now,
            AuditAction::InstanceCreated,
            format!("instance:{}", created.id),
            format!("{name}{kept}"),
            meta,
        ))
        .await?;
        tx.commit().await?;
        self.instance(p, created.id).await
    }

    /// Renames, re-describes, activates or deactivates an instance (fields given only).
    pub async fn update_instance_as(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        instance_id: InstanceId,
        input: InstanceInput,
        meta: &RequestMeta,
    ) -> CoreResult<Instance> {
        p.allow(Action::ManageInstances)?;
        let before = self.instance(p, instance_id).await?;
        let mut e = FieldErrors::default();
        let given = GivenIdentity::parse(&mut e, input.id.as_deref(), input.key.as_deref());
        if given.id.is_some_and(|id| id != before.id) {
            e.push("Id", "an instance's id never changes");
        }
        if given
            .key
            .is_some_and(|k| k.to_string() != before.key.expose().to_ascii_lowercase())
        {
            e.push(
                "Key",
                "is changed by rotating it (POST /v1/Instances/{id}/RotateKey)",
            );
        }
        let mut changes: Vec<(&'static str, String)> = Vec::new();
        let mut described = Vec::new();
        if let Some(name) = input.name.as_deref() {
            match e.take("Name", parse_text(name)) {
                Some(Some(n)) => {
                    described.push(format!("Name: {} → {n}", before.name));
                    changes.push(("name", n));
                }
                Some(None) => e.push("Name", "cannot be empty"),
                None => {}
            }
        }
        if let Some(d) = input.description.as_deref() {
            if let Some(d) = e.take("Description", parse_text(d)) {
                described.push("Description".into());
                changes.push(("description", d.unwrap_or_default()));
            }
        }
        if let Some(s) = input.status.as_ref() {
            if let Some(s) = e.take("Status", parse_instance_status(s)) {
                described.push(format!("Status: {} → {s}", before.status));
                changes.push(("status", s.to_string()));
            }
        }
        e.into_result()?;
        let id = before.id.to_string();
        let mut tx = self.store().begin().await?;
        tx.update_instance(&id, &changes).await?;
        if !described.is_empty() {
            let detail = described.join("; ");
            tx.audit(&p.audit(
                now,
                AuditAction::InstanceUpdated,
                format!("instance:{id}"),
                detail,
                meta,
            ))
            .await?;
        }
        tx.commit().await?;
        self.instance(p, instance_id).await
    }

    /// Deletes an instance; one that still has users is refused (422, Key `InstanceId`).
    pub async fn delete_instance_as(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        instance_id: InstanceId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        p.allow(Action::ManageInstances)?;
        let instance = self.instance(p, instance_id).await?;
        let id = instance.id.to_string();
        let mut tx = self.store().begin().await?;
        match tx.delete_empty_instance(&id).await? {
            None => return Err(not_found("instance")),
            Some(users) if users > 0 => {
                return Err(CoreError::conflict(
                    "InstanceId",
                    format!("the instance has {users} users: move or delete them first"),
                ))
            }
            Some(_) => {}
        }
        tx.audit(&p.audit(
            now,
            AuditAction::InstanceDeleted,
            format!("instance:{id}"),
            instance.name,
            meta,
        ))
        .await?;
        tx.commit().await
    }

    /// An instance's key, for an admin who asked to see it; the trail records who did.
    pub async fn reveal_instance_key(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        instance_id: InstanceId,
        meta: &RequestMeta,
    ) -> CoreResult<String> {
        p.allow(Action::RevealInstanceKeys)?;
        let instance = self.instance(p, instance_id).await?;
        let mut tx = self.store().begin().await?;
        tx.audit(&p.audit(
            now,
            AuditAction::InstanceKeyRevealed,
            format!("instance:{}", instance.id),
            "InstanceKey shown in the dashboard",
            meta,
        ))
        .await?;
        tx.commit().await?;
        Ok(instance.key.expose().to_string())
    }

    /// The applications to create instances in (id, name).
    pub async fn application_choices(&self, p: &Principal) -> CoreResult<Vec<(String, String)>> {
        p.allow(Action::ReadInstances)?;
        let mut out = Vec::new();
        for a in self.store().list_applications().await? {
            if self.sees_application(p, &a.id).await? {
                out.push((a.id, a.name));
            }
        }
        Ok(out)
    }

    /// A new InstanceKey: the old one stops working for registration and login at once.
    pub async fn rotate_instance_key(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        instance_id: InstanceId,
        meta: &RequestMeta,
    ) -> CoreResult<Instance> {
        p.allow(Action::ManageInstances)?;
        let instance = self.instance(p, instance_id).await?;
        let id = instance.id.to_string();
        let mut tx = self.store().begin().await?;
        tx.update_instance(&id, &[("instance_key", uuid::Uuid::new_v4().to_string())])
            .await?;
        let detail = "InstanceKey rotated".to_string();
        tx.audit(&p.audit(
            now,
            AuditAction::InstanceKeyRotated,
            format!("instance:{id}"),
            detail,
            meta,
        ))
        .await?;
        tx.insert_events(&[crate::events::NewEvent::new(
            crate::events::EventType::InstanceKeyRotated,
            now,
            None,
            Some(&id),
            serde_json::json!({ "InstanceId": id, "Actor": p.actor() }),
        )])
        .await?;
        tx.commit().await?;
        self.instance(p, instance_id).await
    }

    pub async fn regenerate_invite_code(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        instance_id: InstanceId,
        meta: &RequestMeta,
    ) -> CoreResult<Instance> {
        p.allow(Action::ManageInstances)?;
        let instance = self.instance(p, instance_id).await?;
        let id = instance.id.to_string();
        for attempt in 1..=8 {
            let code = InviteCode::generate();
            let mut tx = self.store().begin().await?;
            match tx
                .update_instance(&id, &[("invite_code", code.as_str().to_string())])
                .await
            {
                Ok(_) => {
                    let detail =
                        format!("InviteCode: {} → {}", instance.invite_code, code.as_str());
                    let action = AuditAction::InstanceInviteCodeRegenerated;
                    tx.audit(
                        &NewAuditRow::new(now, p.actor(), action, format!("instance:{id}"), detail)
                            .from(meta),
                    )
                    .await?;
                    tx.commit().await?;
                    return self.instance(p, instance_id).await;
                }
                Err(CoreError::Conflict { .. }) if attempt < 8 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CoreError::internal("could not find a free invite code"))
    }
}

impl Core {
    /// Admin: the instances to choose from in forms.
    pub async fn instance_choices(&self, p: &Principal) -> CoreResult<Vec<InstanceChoice>> {
        p.allow(Action::ReadInstances)?;
        Ok(self
            .store()
            .instance_names()
            .await?
            .into_iter()
            .filter(|(id, _, _)| p.sees_instance(id))
            .map(|(id, name, status)| InstanceChoice {
                active: status == "Active",
                id,
                name,
            })
            .collect())
    }
}
