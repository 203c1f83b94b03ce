//! THE domain: registration, tokens, users, instances, admins, audit and the store.
//!
//! No leptos, axum or http here (the crate does not depend on them): the REST API and the
//! dashboard's server functions are thin adapters over `Core`. Every function that depends on
//! time takes `now`, so tests pass a fixed clock. Secrets travel in the types of `secret` and
//! leave only through `expose()`. Outside tests nothing here may unwrap, expect or panic: a
//! request's failure is a `CoreError`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod accounts;
pub mod activity;
pub mod admins;
pub mod apikeys;
pub mod audit;
pub mod auth;
pub mod batches;
pub mod bulk;
pub mod error;
pub mod events;
pub mod imports;
pub mod instance_settings;
pub mod instances;
pub mod invites;
mod issuance;
pub mod keys;
pub mod lineage;
pub mod metrics;
pub mod outbox;
pub mod password;
pub mod personal_data;
pub mod principal;
pub mod ratelimit;
pub mod registration;
pub mod sealing;
pub mod secret;
pub mod stats;
pub mod store;
pub mod time;
pub mod tokens;
pub mod totp;
pub mod trace;
pub mod types;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};

pub use error::{CoreError, CoreResult, CredentialKind, FieldError, FieldErrors};
pub use issuance::{Credentials, IssuedAccess};
use secret::SigningKey;
use store::{PoolSettings, Store};
use tokens::{TokenSettings, Tokens};

/// Everything the core needs to start.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub database_url: String,
    pub pool: PoolSettings,
    /// The HMAC key; `None` means: the one stored in the database, generated on first start.
    pub jwt_secret: Option<SigningKey>,
    pub tokens: TokenSettings,
    /// Largest `Quantity` of one CreateMany.
    pub max_batch: i64,
    /// How the dashboard's chunked batches run.
    pub batch_runs: batches::BatchRunSettings,
    pub login_limits: ratelimit::LoginLimits,
    pub hashing: password::HashingSettings,
    /// Which channels can send, and how the outbox retries.
    pub delivery: outbox::DeliverySettings,
    /// How long the audit trail and ended messages are kept.
    pub retention: personal_data::Retention,
}

impl CoreConfig {
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            pool: PoolSettings::default(),
            jwt_secret: None,
            tokens: TokenSettings::default(),
            max_batch: 10_000,
            batch_runs: batches::BatchRunSettings::default(),
            login_limits: ratelimit::LoginLimits::default(),
            hashing: password::HashingSettings::default(),
            delivery: outbox::DeliverySettings::default(),
            retention: personal_data::Retention::default(),
        }
    }
}

/// Who acts, and from where: written into the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub client_addr: Option<String>,
}

#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    tokens: Tokens,
    max_batch: i64,
    batch_runs: batches::BatchRunSettings,
    credentials_sealer: sealing::Sealer,
    outbox_sealer: sealing::Sealer,
    webhook_sealer: sealing::Sealer,
    totp_sealer: sealing::Sealer,
    codes: outbox::CodeKey,
    /// The master secret: the HS256 key of `TUS_JWT_SECRET` and the root of every sealing key.
    master: secret::SigningKey,
    key_sealer: sealing::Sealer,
    /// When a token's unknown key last made this replica read the keys (ms).
    keys_read_at: std::sync::atomic::AtomicI64,
    delivery: outbox::DeliverySettings,
    login_limits: ratelimit::LoginLimits,
    hashing: password::Hashing,
    retention: personal_data::Retention,
    tallies: metrics::Tallies,
    /// The instances this process has read, to authenticate registrations without a read.
    instances: instances::InstanceCache,
}

const SIGNING_KEY_SETTING: &str = "jwt_signing_key";

impl Core {
    /// Connects, migrates, and loads (or creates, once for all replicas) the signing key.
    pub async fn open(config: CoreConfig) -> CoreResult<Core> {
        let store = Store::connect(&config.database_url, &config.pool).await?;
        store.migrate().await?;
        let key = match config.jwt_secret {
            Some(key) => key,
            None => load_or_create_signing_key(&store).await?,
        };
        let tokens = Tokens::new(&key, config.tokens)?;
        let credentials_sealer = sealing::Sealer::new(&key, batches::CREDENTIALS_SEALING)?;
        let outbox_sealer = sealing::Sealer::new(&key, outbox::OUTBOX_SEALING)?;
        let webhook_sealer = sealing::Sealer::new(&key, webhooks::WEBHOOK_SEALING)?;
        let totp_sealer = sealing::Sealer::new(&key, totp::TOTP_SEALING)?;
        let codes = outbox::CodeKey::new(&key)?;
        let key_sealer = sealing::Sealer::new(&key, keys::KEY_SEALING)?;
        let hashing = password::Hashing::new(&config.hashing)?;
        let core = Core {
            inner: Arc::new(Inner {
                store,
                tokens,
                credentials_sealer,
                outbox_sealer,
                webhook_sealer,
                totp_sealer,
                codes,
                master: key,
                key_sealer,
                keys_read_at: std::sync::atomic::AtomicI64::new(0),
                delivery: config.delivery,
                batch_runs: config.batch_runs,
                max_batch: config.max_batch,
                login_limits: config.login_limits,
                hashing,
                retention: config.retention,
                tallies: metrics::Tallies::default(),
                instances: instances::InstanceCache::default(),
            }),
        };
        core.init_keys(Core::now()).await?;
        Ok(core)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    pub fn max_batch(&self) -> i64 {
        self.inner.max_batch
    }

    pub fn batch_runs(&self) -> &batches::BatchRunSettings {
        &self.inner.batch_runs
    }

    pub fn retention(&self) -> personal_data::Retention {
        self.inner.retention
    }

    pub fn login_limits(&self) -> &ratelimit::LoginLimits {
        &self.inner.login_limits
    }

    pub(crate) fn hashing(&self) -> &password::Hashing {
        &self.inner.hashing
    }

    /// Readiness: the database answers.
    pub async fn ready(&self) -> CoreResult<()> {
        self.inner.store.ping().await
    }

    pub fn now() -> DateTime<Utc> {
        Utc::now()
    }
}

/// The master secret stored in the database by a first start without `TUS_JWT_SECRET`, if
/// any. Reads only.
pub async fn stored_master_secret(store: &Store) -> CoreResult<Option<SigningKey>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    match store.get_setting(SIGNING_KEY_SETTING).await? {
        Some(stored) => b64
            .decode(stored)
            .map(|k| Some(SigningKey::new(k)))
            .map_err(|e| CoreError::internal(format!("stored signing key is not base64: {e}"))),
        None => Ok(None),
    }
}

async fn load_or_create_signing_key(store: &Store) -> CoreResult<SigningKey> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let stored = match store.get_setting(SIGNING_KEY_SETTING).await? {
        Some(value) => value,
        None => {
            let fresh = b64.encode(tokens::generate_signing_key().expose());
            let mut tx = store.begin().await?;
            let value = tx.setting_or_insert(SIGNING_KEY_SETTING, &fresh).await?;
            tx.commit().await?;
            value
        }
    };
    b64.decode(stored)
        .map(SigningKey::new)
        .map_err(|e| CoreError::internal(format!("stored signing key is not base64: {e}")))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A core on a fresh scratch database (SQLite, or PostgreSQL with `TUS_TEST_DATABASE`),
    //! and a fixed clock.
    use super::*;
    use chrono::TimeZone;
    use store::scratch::ScratchDatabase;

    pub struct TestCore {
        pub core: Core,
        _db: ScratchDatabase,
    }

    pub fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    /// An event of no user, told apart by `n` (its time, `at(n)`, and its payload).
    pub fn event(n: i64) -> events::NewEvent {
        events::NewEvent::new(
            events::EventType::UserDeleted,
            at(n),
            Some("d"),
            Some("i"),
            serde_json::json!({ "n": n }),
        )
    }

    /// The ids of the stored events, oldest first, as `tx` sees them.
    pub async fn event_ids(tx: &mut store::Tx) -> Vec<String> {
        tx.events_between(0, i64::MAX, 20_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    }

    /// An instance "Fleet" in the default application, made at `at(0)`.
    pub async fn fleet(t: &TestCore) -> instances::Instance {
        t.core
            .create_instance(at(0), None, "Fleet", "")
            .await
            .unwrap()
    }

    /// An admin principal, as a valid admin token yields.
    pub fn admin() -> principal::Principal {
        principal::Principal::unscoped_admin("a", "a@x.io", tus_wire::views::Role::Owner)
    }

    /// Another core (a replica) on the same database.
    pub async fn replica(t: &TestCore, configure: impl FnOnce(&mut CoreConfig)) -> Core {
        let mut config = CoreConfig::new(t._db.url.clone());
        configure(&mut config);
        Core::open(config).await.unwrap()
    }

    pub async fn test_core(configure: impl FnOnce(&mut CoreConfig)) -> TestCore {
        let db = ScratchDatabase::from_env().await.unwrap();
        let mut config = CoreConfig::new(db.url.clone());
        configure(&mut config);
        let core = Core::open(config).await.unwrap();
        TestCore { core, _db: db }
    }
}
