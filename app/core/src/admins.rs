//! Admins as a team: accounts with a role and a scope, invited by an Owner, disabled and
//! enabled, with their passwords and sessions.
//!
//! Invariants:
//! - There is always an enabled Owner with a password: the last one cannot be demoted,
//!   limited, disabled (checked under lock, so two Owners cannot demote each other at once).
//! - A disabled admin cannot sign in, and every session they had is revoked when disabled.
//! - An invited admin has no password (`password_hash` empty) until the one-time link sent
//!   by e-mail sets one; a link is single use, expires after `invite_ttl_secs`, is stored only
//!   as a keyed hash, and a new link (invite or reset) replaces the admin's previous one.
//!   Setting a password by a link, or changing it, ends every other session of the admin.
//! - Role and scope are read afresh on every request (`authenticate_bearer`): a change
//!   applies to open sessions at once.

use chrono::{DateTime, Utc};
use rand::Rng;

use super::audit::AuditAction;
use super::error::{CoreError, CoreResult, FieldErrors};
use super::invites::{generate_link_token, well_formed_link};
use super::outbox::{mask_recipient, wrap, Channel, Draft, Purpose};
use super::password::check_strength;
use super::principal::{AdminCaller, Principal};
use super::ratelimit::Throttle;
use super::secret::Password;
use super::store::{AccessSession, AdminRecord, AdminRow, NewAuditRow, Tx};
use super::time::{from_ms, ms};
use super::types::{format_datetime, Email};
use super::{Core, RequestMeta};
use tus_wire::views::{
    Action, AdminGrant, AdminSessionView, AdminView, InstanceChoice, Role, SessionView,
};

/// The hash "user" of admin links (invites and resets).
const LINK_SCOPE: &str = "admin-link";
/// `admin_secrets.kind` of a password link.
pub(crate) const LINK_KIND: &str = "link";
/// A session's latest request is noted at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub id: String,
    pub email: String,
    pub role: Role,
}

/// The first admin, made on first start: the password is `Some` when it was generated and
/// must be shown once.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub admin: Admin,
    pub generated_password: Option<Password>,
}

/// An admin link as the public `/join` page shows it, before a password is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminLink {
    /// The admin's e-mail, masked.
    pub to: String,
    /// Whether it is a first password (an invite) or a new one (a reset).
    pub invite: bool,
}

/// 20 characters from 62: about 119 bits.
pub fn generate_password() -> Password {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    Password::new(
        (0..20)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect::<String>(),
    )
}

/// The page an admin link opens.
pub fn join_url(public_url: &str, token: &str) -> String {
    format!("{}/join?t={token}", public_url.trim_end_matches('/'))
}

fn split_ids(ids: &Option<String>) -> Option<Vec<String>> {
    ids.as_ref()
        .map(|s| s.split_whitespace().map(str::to_string).collect())
}

fn role_of(row: &AdminRecord) -> CoreResult<Role> {
    Role::parse(&row.role).map_err(CoreError::internal)
}

fn state_of(row: &AdminRecord) -> &'static str {
    if row.disabled_at.is_some() {
        "disabled"
    } else if row.password_hash.is_empty() {
        "invited"
    } else {
        "active"
    }
}

fn not_found() -> CoreError {
    CoreError::NotFound("no admin has this id".into())
}

/// Role and scope as stored: (role, applications, instances), or 422s on their fields.
struct Grant {
    role: Role,
    applications: Option<String>,
    instances: Option<String>,
}

impl Core {
    /// The caller a valid admin session names: role, and the instances their scope reaches
    /// now (an application's new instances included).
    pub(crate) async fn admin_caller(
        &self,
        row: &AdminRecord,
        session: Option<&str>,
    ) -> CoreResult<AdminCaller> {
        let applications = split_ids(&row.applications);
        let instances = match (&applications, split_ids(&row.instances)) {
            (Some(apps), _) if apps.is_empty() => Some(Vec::new()),
            (Some(apps), _) => Some(self.store().instance_scope(&[], apps, &[]).await?),
            (None, Some(ids)) => Some(ids),
            (None, None) => None,
        };
        let role = role_of(row)?;
        Ok(AdminCaller {
            id: row.id.clone(),
            email: row.email.clone(),
            role,
            applications,
            instances,
            session: session.map(str::to_string),
            totp: row.totp_confirmed_at.is_some(),
            must_enrol: self.must_enrol(row, role).await?,
        })
    }

    /// An admin session's request: refused once idle past `admin_idle`; its latest request
    /// noted (at most once a minute).
    pub(crate) async fn keep_admin_session(
        &self,
        session: &AccessSession,
        now: DateTime<Utc>,
    ) -> CoreResult<()> {
        let last = session
            .family_last_seen_at
            .unwrap_or(session.family_created_at);
        if self.admin_idle_past(session.family_last_seen_at, session.family_created_at, now) {
            return Err(CoreError::unauthorized(
                crate::error::CredentialKind::AccessToken,
                "this session ended after a time without use; sign in again",
            ));
        }
        if ms(now) - last >= TOUCH_EVERY_MS {
            let mut tx = self.store().begin().await?;
            tx.touch_session(&session.family_id, ms(now)).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Whether an admin session last used at `last_seen` (or, never since, opened at
    /// `opened`) has been idle longer than `admin_idle`.
    pub(crate) fn admin_idle_past(
        &self,
        last_seen: Option<i64>,
        opened: i64,
        now: DateTime<Utc>,
    ) -> bool {
        self.tokens()
            .settings()
            .admin_idle
            .is_some_and(|idle| ms(now) - last_seen.unwrap_or(opened) > idle.num_milliseconds())
    }

    /// The signed-in admin, as the dashboard shows them.
    pub fn session_view(&self, p: &Principal) -> CoreResult<SessionView> {
        let a = p.signed_in_admin()?;
        Ok(SessionView {
            id: a.id.clone(),
            email: a.email.clone(),
            role: a.role,
            scoped: a.instances.is_some(),
            totp: a.totp,
            totp_required: a.must_enrol,
        })
    }

    /// The command line's `tus admin create`: an active admin of everything with `role`.
    pub async fn create_admin(
        &self,
        now: DateTime<Utc>,
        email: &str,
        password: &Password,
        role: Role,
    ) -> CoreResult<Admin> {
        self.insert_admin(now, email, password, role, None)
            .await?
            .ok_or_else(|| CoreError::internal("admin not created"))
    }

    /// Creates an admin; with `claim`, only if this call claims that settings row first
    /// (replicas starting together create one first admin, not one each).
    async fn insert_admin(
        &self,
        now: DateTime<Utc>,
        email: &str,
        password: &Password,
        role: Role,
        claim: Option<&str>,
    ) -> CoreResult<Option<Admin>> {
        let mut errors = FieldErrors::default();
        let email = errors.take("Email", Email::parse(email));
        errors.take("Password", check_strength(password.expose()));
        errors.into_result()?;
        let email = email.ok_or_else(|| CoreError::internal("email parsed without value"))?;
        let hash = self.hash_password(password).await?;
        let row = AdminRow {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.as_str().to_string(),
            password_hash: hash.expose().to_string(),
            role: role.as_str().into(),
            applications: None,
            instances: None,
            created_at: ms(now),
        };
        let mut tx = self.store().begin().await?;
        if let Some(name) = claim {
            if !tx.claim_setting(name, &row.id).await? {
                return Ok(None);
            }
        }
        tx.insert_admin(&row).await?;
        tx.audit(&NewAuditRow::new(
            now,
            "system",
            AuditAction::AdminCreated,
            format!("admin:{}", row.email),
            format!("created from the command line as {}", role.as_str()),
        ))
        .await?;
        tx.commit().await?;
        Ok(Some(Admin {
            id: row.id,
            email: row.email,
            role,
        }))
    }

    /// Creates the first admin, an Owner, when there is none: `email`, and `password` or a
    /// generated one.
    pub async fn ensure_first_admin(
        &self,
        now: DateTime<Utc>,
        email: &str,
        password: Option<Password>,
    ) -> CoreResult<Option<FirstAdmin>> {
        if self.store().count_admins().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p, false),
            None => (generate_password(), true),
        };
        let admin = self
            .insert_admin(
                now,
                email,
                &password,
                Role::Owner,
                Some("bootstrap.first_admin"),
            )
            .await?;
        Ok(admin.map(|admin| FirstAdmin {
            admin,
            generated_password: generated.then_some(password),
        }))
    }

    /// Checks a role and scope: the applications or instances must exist (not both).
    async fn grant(&self, g: &AdminGrant) -> CoreResult<Grant> {
        let mut e = FieldErrors::default();
        let role = e.take("Role", Role::parse(&g.role));
        let check = |ids: &Vec<String>, known: &[String]| -> Result<String, String> {
            if ids.is_empty() {
                return Err("choose at least one, or leave the scope at everything".into());
            }
            if let Some(bad) = ids.iter().find(|id| !known.contains(id)) {
                return Err(format!("{bad:?} does not exist"));
            }
            Ok(ids.join(" "))
        };
        let (mut applications, mut instances) = (None, None);
        match (&g.applications, &g.instances) {
            (Some(_), Some(_)) => e.push(
                "Scope",
                "is applications or instances, not both (leave both out for everything)",
            ),
            (Some(apps), None) => {
                let known: Vec<String> = self
                    .store()
                    .list_applications()
                    .await?
                    .into_iter()
                    .map(|a| a.id)
                    .collect();
                applications = e.take("Applications", check(apps, &known));
            }
            (None, Some(ids)) => {
                let known = self.store().instance_scope(ids, &[], &[]).await?;
                instances = e.take("Instances", check(ids, &known));
            }
            (None, None) => {}
        }
        e.into_result()?;
        Ok(Grant {
            role: role.ok_or_else(|| CoreError::internal("role parsed without value"))?,
            applications,
            instances,
        })
    }

    /// Refuses to leave no enabled Owner: `id` stops being one.
    async fn keep_an_owner(tx: &mut Tx, id: &str, what: &str) -> CoreResult<()> {
        let owners = tx.enabled_owners().await?;
        if owners.iter().all(|o| o == id) {
            return Err(CoreError::Conflict {
                key: "Role".into(),
                message: format!("the last Owner cannot be {what}: make another Owner first"),
            });
        }
        Ok(())
    }

    /// Owner: every admin, with their sessions.
    pub async fn admins(&self, p: &Principal, now: DateTime<Utc>) -> CoreResult<Vec<AdminView>> {
        p.allow(Action::ManageAdmins)?;
        let rows = self.store().admins().await?;
        let apps = self.store().list_applications().await?;
        let instances = self.store().list_instances().await?;
        let names = |ids: &Option<String>, all: &[(String, String, bool)]| {
            split_ids(ids).map(|ids| {
                ids.iter()
                    .map(|id| {
                        let found = all.iter().find(|(i, _, _)| i == id);
                        InstanceChoice {
                            id: id.clone(),
                            name: found.map_or_else(|| "(deleted)".into(), |f| f.1.clone()),
                            active: found.is_some_and(|f| f.2),
                        }
                    })
                    .collect()
            })
        };
        let apps: Vec<(String, String, bool)> = apps
            .into_iter()
            .map(|a| {
                let active = a.status == "Active";
                (a.id, a.name, active)
            })
            .collect();
        let instances: Vec<(String, String, bool)> = instances
            .into_iter()
            .map(|i| {
                let active = i.status == "Active";
                (i.id, i.name, active)
            })
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(AdminView {
                id: row.id.clone(),
                email: row.email.clone(),
                role: role_of(&row)?,
                applications: names(&row.applications, &apps),
                instances: names(&row.instances, &instances),
                state: state_of(&row).into(),
                created_at: format_datetime(from_ms(row.created_at)),
                last_sign_in_at: row.last_sign_in_at.map(|t| format_datetime(from_ms(t))),
                totp: row.totp_confirmed_at.is_some(),
                sessions: self.session_views(p, &row.id, now).await?,
            });
        }
        Ok(out)
    }

    /// The open sessions of admin `id` (the caller's own, or any for an Owner).
    pub async fn admin_sessions(
        &self,
        p: &Principal,
        id: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<AdminSessionView>> {
        self.own_or_owner(p, id)?;
        self.session_views(p, id, now).await
    }

    fn own_or_owner(&self, p: &Principal, id: &str) -> CoreResult<()> {
        match p.admin() {
            Some(a) if a.id == id => Ok(()),
            Some(_) => p.allow(Action::ManageAdmins),
            None => p.allow(Action::ManageAdmins),
        }
    }

    async fn session_views(
        &self,
        p: &Principal,
        id: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<AdminSessionView>> {
        let settings = self.tokens().settings();
        let since = ms(now) - settings.admin_session_max.num_milliseconds();
        let idle = settings.admin_idle.map(|d| d.num_milliseconds());
        let current = p.admin().and_then(|a| a.session.as_deref());
        Ok(self
            .store()
            .open_sessions(id, since)
            .await?
            .into_iter()
            .filter(|s| idle.is_none_or(|i| ms(now) - s.last_seen_at.unwrap_or(s.created_at) <= i))
            .map(|s| AdminSessionView {
                current: current == Some(s.id.as_str()),
                origin: s.origin,
                created_at: format_datetime(from_ms(s.created_at)),
                last_seen_at: s.last_seen_at.map(|t| format_datetime(from_ms(t))),
                id: s.id,
            })
            .collect())
    }

    /// Ends one session of admin `id` (the caller's own, or any for an Owner).
    pub async fn end_admin_session(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        session: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        self.own_or_owner(p, id)?;
        // Read before the transaction: it must not wait for a second pool connection.
        let open = self
            .store()
            .open_sessions(id, 0)
            .await?
            .into_iter()
            .any(|s| s.id == session);
        let mut tx = self.store().begin().await?;
        let admin = tx.admin_for_update(id).await?.ok_or_else(not_found)?;
        if !open {
            return Err(CoreError::NotFound("no open session has this id".into()));
        }
        tx.revoke_family(session, ms(now), "ended by an admin")
            .await?;
        tx.audit(&p.audit(
            now,
            AuditAction::AdminSessionEnded,
            format!("admin:{}", admin.email),
            format!("ended session {session}"),
            meta,
        ))
        .await?;
        tx.commit().await
    }

    /// Owner: invites an admin by e-mail with a role and scope; the e-mail's link sets their
    /// password.
    pub async fn invite_admin(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        email: &str,
        grant: &AdminGrant,
        meta: &RequestMeta,
    ) -> CoreResult<AdminView> {
        p.allow(Action::ManageAdmins)?;
        let mut e = FieldErrors::default();
        let email = e.take("Email", Email::parse(email));
        let base = self.admin_link_base();
        if let Err(err) = &base {
            e.push("Email", err);
        }
        let granted = match self.grant(grant).await {
            Ok(g) => Some(g),
            Err(CoreError::Validation(fields)) => {
                e.0.extend(fields.0);
                None
            }
            Err(other) => return Err(other),
        };
        e.into_result()?;
        let (email, granted) = match (email, granted) {
            (Some(e), Some(g)) => (e, g),
            _ => return Err(CoreError::internal("admin invite parsed without value")),
        };
        let row = AdminRow {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.as_str().to_string(),
            password_hash: String::new(),
            role: granted.role.as_str().into(),
            applications: granted.applications,
            instances: granted.instances,
            created_at: ms(now),
        };
        let mut tx = self.store().begin().await?;
        tx.insert_admin(&row).await?;
        self.send_admin_link(&mut tx, now, p, &row.id, &row.email, true)
            .await?;
        tx.audit(&p.audit(
            now,
            AuditAction::AdminInvited,
            format!("admin:{}", row.email),
            format!("invited as {}", granted.role.as_str()),
            meta,
        ))
        .await?;
        tx.commit().await?;
        self.admin_view(p, &row.id, now).await
    }

    fn admin_link_base(&self) -> Result<String, String> {
        self.delivery_settings().public_url.clone().ok_or_else(|| {
            "the e-mail links to the dashboard: set TUS_PUBLIC_URL on this server".into()
        })
    }

    /// Queues an e-mail with a new one-time password link for admin `id`, replacing their
    /// previous link.
    async fn send_admin_link(
        &self,
        tx: &mut Tx,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        email: &str,
        invite: bool,
    ) -> CoreResult<()> {
        let base = self
            .admin_link_base()
            .map_err(|m| CoreError::validation("Email", m))?;
        self.ensure_channel(Channel::Email)?;
        let ttl = self.delivery_settings().invite_ttl_secs;
        let token = generate_link_token();
        let hash = self.inner.codes.hash(LINK_SCOPE, &token)?;
        tx.drop_admin_secrets(id, LINK_KIND).await?;
        tx.insert_admin_secret(&hash, id, LINK_KIND, ms(now), Some(ms(now) + ttl * 1000))
            .await?;
        let words = crate::outbox::duration_words(ttl);
        let (subject, line) = if invite {
            (
                "You are invited to the Telematics User Service dashboard".to_string(),
                format!(
                    "{} invited you to the dashboard. Set your password with the link below, then \
                     sign in with this e-mail address. The link works once, for {words}.",
                    p.actor().trim_start_matches("admin:")
                ),
            )
        } else {
            (
                "Set a new password for the Telematics User Service dashboard".to_string(),
                format!(
                    "An Owner asked for a new password for your dashboard account. Set it with \
                     the link below; until then your current password keeps working. The link \
                     works once, for {words}."
                ),
            )
        };
        let url = join_url(&base, &token);
        let row = self.message_row(
            now,
            Draft {
                channel: Channel::Email,
                purpose: Purpose::AdminLink,
                to: email.to_string(),
                device_token: None,
                instance_id: None,
                subject,
                body: wrap(&line, Some(("Set your password", &url))),
                requested_by: p.actor(),
            },
        )?;
        tx.insert_message(&row).await
    }

    /// One admin, as the Admins page shows them.
    async fn admin_view(
        &self,
        p: &Principal,
        id: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<AdminView> {
        self.admins(p, now)
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(not_found)
    }

    /// Owner: sets an admin's role and scope (the last Owner stays an Owner of everything).
    pub async fn set_admin_grant(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        grant: &AdminGrant,
        meta: &RequestMeta,
    ) -> CoreResult<AdminView> {
        p.allow(Action::ManageAdmins)?;
        let g = self.grant(grant).await?;
        let mut tx = self.store().begin().await?;
        let admin = tx.admin_for_update(id).await?.ok_or_else(not_found)?;
        let before = role_of(&admin)?;
        let limited = g.applications.is_some() || g.instances.is_some();
        if before == Role::Owner && (g.role != Role::Owner || limited) {
            Self::keep_an_owner(&mut tx, id, "demoted or limited").await?;
        }
        tx.set_admin_role(
            id,
            g.role.as_str(),
            g.applications.as_deref(),
            g.instances.as_deref(),
        )
        .await?;
        let scope = match (&g.applications, &g.instances) {
            (Some(a), _) => format!("applications {a}"),
            (_, Some(i)) => format!("instances {i}"),
            _ => "everything".into(),
        };
        tx.audit(&p.audit(
            now,
            AuditAction::AdminRoleChanged,
            format!("admin:{}", admin.email),
            format!("{} → {} of {scope}", before.as_str(), g.role.as_str()),
            meta,
        ))
        .await?;
        tx.commit().await?;
        self.admin_view(p, id, now).await
    }

    /// Owner: disables (every session revoked at once) or enables an admin.
    pub async fn set_admin_enabled(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        enabled: bool,
        meta: &RequestMeta,
    ) -> CoreResult<AdminView> {
        p.allow(Action::ManageAdmins)?;
        let mut tx = self.store().begin().await?;
        let admin = tx.admin_for_update(id).await?.ok_or_else(not_found)?;
        if !enabled {
            if role_of(&admin)? == Role::Owner {
                Self::keep_an_owner(&mut tx, id, "disabled").await?;
            }
            tx.set_admin_disabled(id, Some(ms(now))).await?;
            tx.revoke_families_of(id, ms(now), "admin disabled").await?;
        } else {
            tx.set_admin_disabled(id, None).await?;
        }
        let (action, detail) = match enabled {
            true => (AuditAction::AdminEnabled, "enabled"),
            false => (
                AuditAction::AdminDisabled,
                "disabled; every session revoked",
            ),
        };
        tx.audit(&p.audit(now, action, format!("admin:{}", admin.email), detail, meta))
            .await?;
        tx.commit().await?;
        self.admin_view(p, id, now).await
    }

    /// Owner: e-mails an admin a link to set a new password (an invited admin: a new invite).
    pub async fn send_admin_reset(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        id: &str,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        p.allow(Action::ManageAdmins)?;
        let mut tx = self.store().begin().await?;
        let admin = tx.admin_for_update(id).await?.ok_or_else(not_found)?;
        if admin.disabled_at.is_some() {
            return Err(CoreError::Conflict {
                key: "State".into(),
                message: "this admin is disabled: enable them first".into(),
            });
        }
        let invite = admin.password_hash.is_empty();
        self.send_admin_link(&mut tx, now, p, id, &admin.email, invite)
            .await?;
        tx.audit(&p.audit(
            now,
            AuditAction::AdminPasswordResetSent,
            format!("admin:{}", admin.email),
            format!("sent a password link to {}", mask_recipient(&admin.email)),
            meta,
        ))
        .await?;
        tx.commit().await
    }

    /// The public `/join` page: what a live admin link is for, or 404 for one that is not
    /// (used, expired, mistyped: all the same).
    pub async fn admin_link(&self, now: DateTime<Utc>, token: &str) -> CoreResult<AdminLink> {
        let missing = || CoreError::NotFound("this link is not valid".into());
        let token = token.trim();
        if !well_formed_link(token) {
            return Err(missing());
        }
        let hash = self.inner.codes.hash(LINK_SCOPE, token)?;
        let id = self
            .store()
            .live_admin_secret(&hash, LINK_KIND, ms(now))
            .await?
            .ok_or_else(missing)?;
        let admin = self.store().find_admin(&id).await?.ok_or_else(missing)?;
        if admin.disabled_at.is_some() {
            return Err(missing());
        }
        Ok(AdminLink {
            to: mask_recipient(&admin.email),
            invite: admin.password_hash.is_empty(),
        })
    }

    /// The `/join` page's form: sets the admin's password once and ends their sessions.
    /// Wrong links count against the caller's address like failed logins.
    pub async fn accept_admin_link(
        &self,
        now: DateTime<Utc>,
        token: &str,
        password: &Password,
        confirm: &Password,
        meta: &RequestMeta,
    ) -> CoreResult<String> {
        let mut errors = FieldErrors::default();
        errors.take("password", check_strength(password.expose()));
        if password.expose() != confirm.expose() {
            errors.push("confirm", "does not match the password");
        }
        errors.into_result()?;
        let throttle = Throttle::link(meta);
        self.admit(now, &throttle, meta).await?;
        let token = token.trim();
        let hash = self.inner.codes.hash(LINK_SCOPE, token)?;
        let live = well_formed_link(token)
            && self
                .store()
                .live_admin_secret(&hash, LINK_KIND, ms(now))
                .await?
                .is_some();
        let password_hash = match live {
            true => Some(self.hash_password(password).await?),
            false => None,
        };
        let mut tx = self.store().begin().await?;
        let used = match password_hash {
            Some(_) => tx.use_admin_secret(&hash, LINK_KIND, None, ms(now)).await?,
            None => None,
        };
        let admin = match used {
            Some(id) => tx.admin_for_update(&id).await?,
            None => None,
        };
        let (admin, password_hash) = match (admin, password_hash) {
            (Some(a), Some(h)) if a.disabled_at.is_none() => (a, h),
            _ => {
                drop(tx);
                self.record(
                    now,
                    "anonymous",
                    AuditAction::LoginFailed,
                    "admin-link",
                    "an admin link that is not valid",
                    meta,
                )
                .await?;
                return Err(CoreError::NotFound("this link is not valid".into()));
            }
        };
        tx.set_admin_password(&admin.id, password_hash.expose())
            .await?;
        tx.revoke_families_of(&admin.id, ms(now), "password set by a link")
            .await?;
        tx.audit(
            &NewAuditRow::new(
                now,
                format!("admin:{}", admin.email),
                AuditAction::AdminPasswordSet,
                format!("admin:{}", admin.email),
                "set a password through a link",
            )
            .from(meta),
        )
        .await?;
        tx.commit().await?;
        self.settle_success(&throttle).await?;
        Ok(admin.email)
    }

    /// An admin changes their own password (the current one required); their other
    /// sessions end.
    pub async fn change_own_password(
        &self,
        now: DateTime<Utc>,
        p: &Principal,
        current: &Password,
        new: &Password,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let me = p.signed_in_admin()?;
        let mut errors = FieldErrors::default();
        errors.take("new_password", check_strength(new.expose()));
        if new.expose() == current.expose() {
            errors.push("new_password", "must differ from the current password");
        }
        errors.into_result()?;
        let throttle =
            Throttle::login(&crate::ratelimit::admin_subject(&me.email), &me.email, meta);
        self.admit(now, &throttle, meta).await?;
        let row = self
            .store()
            .find_admin(&me.id)
            .await?
            .ok_or_else(not_found)?;
        let hash = (!row.password_hash.is_empty())
            .then(|| crate::secret::PasswordHash::new(row.password_hash.clone()));
        if !self.check_password(current, hash).await? {
            return Err(CoreError::validation(
                "current_password",
                "is not your current password",
            ));
        }
        let new_hash = self.hash_password(new).await?;
        let sessions = self.store().open_sessions(&me.id, 0).await?;
        let mut tx = self.store().begin().await?;
        tx.set_admin_password(&me.id, new_hash.expose()).await?;
        for s in sessions
            .iter()
            .filter(|s| Some(&s.id) != me.session.as_ref())
        {
            tx.revoke_family(&s.id, ms(now), "password changed").await?;
        }
        tx.audit(&p.audit(
            now,
            AuditAction::AdminPasswordChanged,
            format!("admin:{}", me.email),
            "changed their password; their other sessions ended",
            meta,
        ))
        .await?;
        tx.commit().await?;
        self.settle_success(&throttle).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, test_core};

    #[tokio::test]
    async fn the_first_admin_is_an_owner_created_once_with_a_generated_password() {
        let t = test_core(|_| {}).await;
        let first = t
            .core
            .ensure_first_admin(at(0), "admin@localhost", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.admin.email, "admin@localhost");
        assert_eq!(first.admin.role, Role::Owner);
        assert_eq!(first.generated_password.unwrap().expose().len(), 20);
        assert!(t
            .core
            .ensure_first_admin(at(1), "admin@localhost", None)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn an_admin_email_is_unique() {
        let t = test_core(|_| {}).await;
        let p = Password::new("long enough password");
        t.core
            .create_admin(at(0), "a@x.io", &p, Role::Admin)
            .await
            .unwrap();
        let again = t.core.create_admin(at(0), "A@X.io", &p, Role::Viewer).await;
        assert!(
            matches!(again, Err(CoreError::Conflict { .. })),
            "{again:?}"
        );
    }
}
