//! Admin accounts: e-mail + argon2id password, used by the dashboard and admin API clients.

use chrono::{DateTime, Utc};
use rand::Rng;

use super::error::{CoreError, CoreResult, FieldErrors};
use super::password::check_strength;
use super::secret::Password;
use super::store::AdminRow;
use super::time::ms;
use super::types::Email;
use super::Core;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub id: String,
    pub email: String,
    pub role: String,
}

/// The first admin, made on first start: the password is `Some` when it was generated and
/// must be shown once.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub admin: Admin,
    pub generated_password: Option<Password>,
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

impl Core {
    pub async fn create_admin(
        &self,
        now: DateTime<Utc>,
        email: &str,
        password: &Password,
    ) -> CoreResult<Admin> {
        self.insert_admin(now, email, password, None)
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
            role: "Admin".into(),
            created_at: ms(now),
        };
        let mut tx = self.store().begin().await?;
        if let Some(name) = claim {
            if !tx.claim_setting(name, &row.id).await? {
                return Ok(None);
            }
        }
        tx.insert_admin(&row).await?;
        tx.commit().await?;
        Ok(Some(Admin {
            id: row.id,
            email: row.email,
            role: row.role,
        }))
    }

    /// Creates the first admin when there is none: `email`, and `password` or a generated one.
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
            .insert_admin(now, email, &password, Some("bootstrap.first_admin"))
            .await?;
        Ok(admin.map(|admin| FirstAdmin {
            admin,
            generated_password: generated.then_some(password),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, test_core};

    #[tokio::test]
    async fn the_first_admin_is_created_once_with_a_generated_password() {
        let t = test_core(|_| {}).await;
        let first = t
            .core
            .ensure_first_admin(at(0), "admin@localhost", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.admin.email, "admin@localhost");
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
        t.core.create_admin(at(0), "a@x.io", &p).await.unwrap();
        let again = t.core.create_admin(at(0), "A@X.io", &p).await;
        assert!(
            matches!(again, Err(CoreError::Conflict { .. })),
            "{again:?}"
        );
    }
}
