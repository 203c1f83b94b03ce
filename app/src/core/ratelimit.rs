//! Login throttling: failed logins are counted per login name and per client address in
//! fixed windows stored in the database (so every replica sees the same counts). Once a
//! bucket reaches its limit, logins for it answer 429 until its window ends, whatever the
//! password: guessing stops, and a real user waits minutes, not forever.

use chrono::{DateTime, Duration, Utc};

use super::error::{CoreError, CoreResult};
use super::time::ms;
use super::Core;

#[derive(Debug, Clone)]
pub struct LoginLimits {
    /// Failed logins allowed per login name and window.
    pub per_name: i64,
    /// Failed logins allowed per client address and window.
    pub per_address: i64,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_name: 10,
            per_address: 50,
            window: Duration::minutes(15),
        }
    }
}

/// The buckets one login attempt counts against.
pub(crate) fn buckets(name: &str, address: Option<&str>) -> Vec<(String, bool)> {
    let mut b = vec![(format!("login:name:{}", name.trim().to_lowercase()), true)];
    if let Some(a) = address {
        b.push((format!("login:addr:{a}"), false));
    }
    b
}

impl Core {
    /// 429 when any bucket is over its limit in its current window.
    pub(crate) async fn check_login_limits(
        &self,
        now: DateTime<Utc>,
        buckets: &[(String, bool)],
    ) -> CoreResult<()> {
        let limits = self.login_limits();
        let window = limits.window.num_milliseconds();
        for (bucket, is_name) in buckets {
            let limit = if *is_name {
                limits.per_name
            } else {
                limits.per_address
            };
            if let Some((start, count)) = self.store().rate_window(bucket).await? {
                let ends = start + window;
                if count >= limit && ends > ms(now) {
                    let retry_after_seconds = ((ends - ms(now)) + 999) / 1000;
                    return Err(CoreError::RateLimited {
                        retry_after_seconds,
                    });
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn count_login_failure(
        &self,
        now: DateTime<Utc>,
        buckets: &[(String, bool)],
    ) -> CoreResult<()> {
        let expired_before = ms(now) - self.login_limits().window.num_milliseconds();
        let mut tx = self.store().begin().await?;
        for (bucket, _) in buckets {
            tx.count_event(bucket, ms(now), expired_before).await?;
        }
        tx.commit().await
    }

    /// A successful login forgets the name's earlier failures (not the address's).
    pub(crate) async fn clear_login_failures(&self, buckets: &[(String, bool)]) -> CoreResult<()> {
        let mut tx = self.store().begin().await?;
        for (bucket, is_name) in buckets {
            if *is_name {
                tx.clear_events(bucket).await?;
            }
        }
        tx.commit().await
    }
}
