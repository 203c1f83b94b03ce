//! Throttles in front of every password check (logins, `OldPassword`, registrations that
//! carry a password), counted in the database so every replica sees the same numbers.
//!
//! Invariants a reader must keep:
//! - An attempt is counted *before* its password is checked, in the same transaction that
//!   reads the count (the row is locked on PostgreSQL; SQLite runs one writer), so 150
//!   concurrent attempts against a limit of 10 check at most 10 passwords.
//! - A login counts against three buckets, in order: the login name from this client
//!   address (`per_name`), this client address (`per_address`), and the login name from
//!   every address together (`lockout`, much higher). An attempt refused by an earlier
//!   bucket is not counted in a later one, so one address can never lock a name for
//!   everybody: failures from one address keep only that address out.
//! - The name bucket, once over its threshold, locks the name for the window, then twice
//!   as long each time it trips again (up to `max_lockout`); a success or `tus admin unlock`
//!   ends it.
//! - A success forgets the name's failures and gives the address its attempt back.
//! - Refused attempts are audited once per bucket and window, and again at 10, 100, 1000…
//!   refusals: a flood writes a handful of rows, not one per request.

use chrono::{DateTime, Duration, Utc};

use super::error::{CoreError, CoreResult};
use super::store::{NewAuditRow, RateRow, Tx};
use super::time::{from_ms, ms};
use super::types::format_datetime;
use super::{Core, RequestMeta};
use crate::audit::AuditAction;

#[derive(Debug, Clone)]
pub struct LoginLimits {
    /// Failed attempts per login name from one client address and window.
    pub per_name: i64,
    /// Attempts per client address and window (any login names).
    pub per_address: i64,
    /// Failed attempts per login name from all addresses together; then the name locks.
    pub lockout: i64,
    pub window: Duration,
    /// The longest a name stays locked (the back-off doubles up to this).
    pub max_lockout: Duration,
    /// Registrations carrying a password per client address and window.
    pub registrations_per_address: i64,
    /// Login codes sent per login name and window.
    pub codes_per_name: i64,
    /// Login codes asked for per client address and window.
    pub codes_per_address: i64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_name: 10,
            per_address: 50,
            lockout: 100,
            window: Duration::minutes(15),
            max_lockout: Duration::hours(24),
            registrations_per_address: 100,
            codes_per_name: 5,
            codes_per_address: 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One login name from one address.
    Pair,
    /// One address, any names.
    Address,
    /// One login name from every address: locks with a growing back-off.
    Name,
    /// Registrations with a password from one address.
    Registrations,
    /// Messages (codes) asked for one login name, from every address.
    MessagesPerName,
    /// Messages asked for from one address, any names.
    MessagesPerAddress,
}

#[derive(Debug, Clone)]
struct Bucket {
    key: String,
    /// The login name, for `unlock` (None for address buckets).
    subject: Option<String>,
    kind: Kind,
}

/// What one attempt counts against. Built by `Throttle::login` or `Throttle::registration`.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    buckets: Vec<Bucket>,
    /// For the audit trail: what was attempted (`email:ann@x.io`) and from where.
    target: String,
    address: String,
    action: AuditAction,
}

/// The address a request came from; core tests and the CLI have none.
fn address_of(meta: &RequestMeta) -> String {
    meta.client_addr.clone().unwrap_or_else(|| "unknown".into())
}

impl Throttle {
    /// A password attempt for `subject`, a canonical, scoped login name
    /// (`admin:ann@x.io`, `<instance>:phone:+15550100000`); `target` names it in the audit.
    pub fn login(subject: &str, target: &str, meta: &RequestMeta) -> Self {
        let address = address_of(meta);
        let bucket = |key: String, subject: Option<&str>, kind| Bucket {
            key,
            subject: subject.map(str::to_string),
            kind,
        };
        Throttle {
            buckets: vec![
                bucket(
                    format!("login:pair:{subject}|{address}"),
                    Some(subject),
                    Kind::Pair,
                ),
                bucket(format!("login:addr:{address}"), None, Kind::Address),
                bucket(format!("login:name:{subject}"), Some(subject), Kind::Name),
            ],
            target: target.to_string(),
            address,
            action: AuditAction::LoginRateLimited,
        }
    }

    /// A registration that carries a password (each one costs a password hash).
    pub fn registration(meta: &RequestMeta) -> Self {
        let address = address_of(meta);
        Throttle {
            buckets: vec![Bucket {
                key: format!("register:addr:{address}"),
                subject: None,
                kind: Kind::Registrations,
            }],
            target: format!("address:{address}"),
            address,
            action: AuditAction::RegistrationRateLimited,
        }
    }
}

impl Throttle {
    /// A code asked for `subject` (a scoped login name, as `login` takes it): counted per
    /// name from every address (so one driver's phone is not flooded) and per address.
    pub fn code_request(subject: &str, meta: &RequestMeta) -> Self {
        let address = address_of(meta);
        Throttle {
            buckets: vec![
                Bucket {
                    key: format!("code:name:{subject}"),
                    subject: Some(subject.to_string()),
                    kind: Kind::MessagesPerName,
                },
                Bucket {
                    key: format!("code:addr:{address}"),
                    subject: None,
                    kind: Kind::MessagesPerAddress,
                },
            ],
            target: subject.to_string(),
            address,
            action: AuditAction::LoginRateLimited,
        }
    }
}

impl Throttle {
    /// An invite link submitted: counted per address with failed logins (a link names no
    /// login, so there is no per-name bucket to lock).
    pub fn link(meta: &RequestMeta) -> Self {
        let address = address_of(meta);
        Throttle {
            buckets: vec![Bucket {
                key: format!("login:addr:{address}"),
                subject: None,
                kind: Kind::Address,
            }],
            target: "invite-link".into(),
            address,
            action: AuditAction::LoginRateLimited,
        }
    }
}

/// The subject of an admin's login name, as `Throttle::login` and `unlock` name it.
pub fn admin_subject(email: &str) -> String {
    format!("admin:{}", email.trim().to_lowercase())
}

fn seconds_until(until: i64, now: i64) -> i64 {
    ((until - now).max(0) + 999) / 1000
}

/// 1, 10, 100, …: the refusals that are written to the audit trail.
fn is_audited_refusal(n: i64) -> bool {
    let mut p = 1;
    while p < n {
        p *= 10;
    }
    p == n
}

impl LoginLimits {
    fn limit(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Pair => self.per_name,
            Kind::Address => self.per_address,
            Kind::Name => self.lockout,
            Kind::Registrations => self.registrations_per_address,
            Kind::MessagesPerName => self.codes_per_name,
            Kind::MessagesPerAddress => self.codes_per_address,
        }
    }

    /// How long the `strikes`-th lock lasts: the window, doubled per earlier strike.
    fn lock_length(&self, strikes: i64) -> i64 {
        let window = self.window.num_milliseconds().max(1);
        let cap = self.max_lockout.num_milliseconds().max(window);
        let factor = 1i64 << strikes.clamp(0, 20);
        window.saturating_mul(factor).min(cap)
    }

    /// Counts one attempt in `row` (already read under lock). `Some(until)`: refused until
    /// then, and not counted.
    fn judge(&self, kind: Kind, row: &mut RateRow, now: i64) -> Option<i64> {
        let window = self.window.num_milliseconds().max(1);
        if row.window_start + window <= now {
            row.window_start = now;
            row.count = 0;
            row.refused = 0;
        }
        let limit = self.limit(kind);
        if kind != Kind::Name {
            if row.count >= limit {
                return Some(row.window_start + window);
            }
            row.count += 1;
            return None;
        }
        if let Some(until) = row.locked_until {
            if until > now {
                return Some(until);
            }
            // A lock long past: the back-off starts again from the window.
            if until + self.max_lockout.num_milliseconds() <= now {
                row.strikes = 0;
            }
            row.locked_until = None;
        }
        if row.count >= limit {
            let until = now + self.lock_length(row.strikes);
            row.strikes += 1;
            row.locked_until = Some(until);
            row.count = 0;
            row.window_start = now;
            row.refused = 0;
            return Some(until);
        }
        row.count += 1;
        None
    }
}

impl Core {
    /// Counts an attempt against every bucket of `throttle`, or refuses it (429) when one
    /// of them is full; see the module invariants. Call it before checking a password.
    pub(crate) async fn admit(
        &self,
        now: DateTime<Utc>,
        throttle: &Throttle,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        let limits = self.login_limits();
        let now_ms = ms(now);
        let mut tx = self.store().begin().await?;
        for bucket in &throttle.buckets {
            let mut row = tx
                .rate_bucket(&bucket.key, bucket.subject.as_deref(), now_ms)
                .await?;
            let refused_until = limits.judge(bucket.kind, &mut row, now_ms);
            if refused_until.is_some() {
                row.refused += 1;
            }
            tx.save_rate_bucket(&bucket.key, &row).await?;
            if let Some(until) = refused_until {
                if is_audited_refusal(row.refused) {
                    audit_refusal(&mut tx, now, throttle, bucket, &row, until, meta).await?;
                }
                tx.commit().await?;
                self.tallies().action(throttle.action);
                return Err(CoreError::RateLimited {
                    retry_after_seconds: seconds_until(until, now_ms),
                });
            }
        }
        tx.commit().await
    }

    /// After a right password: the name's failures are forgotten (its lock too) and the
    /// address gets its attempt back.
    pub(crate) async fn settle_success(&self, throttle: &Throttle) -> CoreResult<()> {
        let mut tx = self.store().begin().await?;
        for bucket in &throttle.buckets {
            match bucket.kind {
                Kind::Pair | Kind::Name => tx.delete_rate_bucket(&bucket.key).await?,
                Kind::Address => tx.refund_rate_bucket(&bucket.key).await?,
                Kind::Registrations | Kind::MessagesPerName | Kind::MessagesPerAddress => {}
            }
        }
        tx.commit().await
    }

    /// `tus admin unlock`: clears every throttle of an admin's login name (from every
    /// address) and records it. Returns how many buckets held counts.
    pub async fn unlock_admin_login(
        &self,
        now: DateTime<Utc>,
        email: &str,
        meta: &RequestMeta,
    ) -> CoreResult<u64> {
        let subject = admin_subject(email);
        let mut tx = self.store().begin().await?;
        let cleared = tx.delete_rate_limits_of(&subject).await?;
        tx.audit(
            &NewAuditRow::new(
                now,
                "cli",
                AuditAction::LoginUnlocked,
                format!("email:{}", email.trim().to_lowercase()),
                format!("login throttles cleared ({cleared} counters)"),
            )
            .from(meta),
        )
        .await?;
        tx.commit().await?;
        Ok(cleared)
    }

    /// Housekeeping: forgets counters nobody touched for a day past their window (and
    /// whose lock is over), so rotating addresses cannot grow the table without end.
    pub async fn purge_rate_limits(&self, now: DateTime<Utc>) -> CoreResult<u64> {
        let limits = self.login_limits();
        let idle = limits.window + limits.max_lockout;
        let mut tx = self.store().begin().await?;
        let n = tx.purge_rate_limits(ms(now - idle), ms(now)).await?;
        tx.commit().await?;
        Ok(n)
    }
}

async fn audit_refusal(
    tx: &mut Tx,
    now: DateTime<Utc>,
    throttle: &Throttle,
    bucket: &Bucket,
    row: &RateRow,
    until: i64,
    meta: &RequestMeta,
) -> CoreResult<()> {
    let until_text = format_datetime(from_ms(until));
    let why = match bucket.kind {
        Kind::Pair => format!(
            "too many failed attempts for this login from {}; refused until {until_text}",
            throttle.address
        ),
        Kind::Address => format!(
            "too many failed attempts from {}; refused until {until_text}",
            throttle.address
        ),
        Kind::Name => format!(
            "too many failed attempts for this login from several addresses; locked until \
             {until_text} (lock {} in a row; `tus admin unlock` ends it)",
            row.strikes
        ),
        Kind::Registrations => format!(
            "too many registrations with a password from {}; refused until {until_text}",
            throttle.address
        ),
        Kind::MessagesPerName => {
            format!("too many codes asked for this login; refused until {until_text}")
        }
        Kind::MessagesPerAddress => format!(
            "too many codes asked for from {}; refused until {until_text}",
            throttle.address
        ),
    };
    let detail = if row.refused > 1 {
        format!("{why}; {} attempts refused in this window", row.refused)
    } else {
        why
    };
    tx.audit(
        &NewAuditRow::new(
            now,
            "anonymous",
            throttle.action,
            throttle.target.clone(),
            detail,
        )
        .from(meta),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, test_core};

    fn from(address: &str) -> RequestMeta {
        RequestMeta {
            client_addr: Some(address.into()),
        }
    }

    fn is_limited(r: &CoreResult<()>) -> Option<i64> {
        match r {
            Err(CoreError::RateLimited {
                retry_after_seconds,
            }) => Some(*retry_after_seconds),
            _ => None,
        }
    }

    #[tokio::test]
    async fn failures_from_one_address_never_lock_the_name_for_another() {
        let t = test_core(|c| {
            c.login_limits.per_name = 3;
            c.login_limits.lockout = 5;
        })
        .await;
        let (attacker, admin) = (from("10.0.0.1"), from("10.0.0.2"));
        let theirs = Throttle::login("admin:a@x.io", "email:a@x.io", &attacker);
        for _ in 0..3 {
            t.core.admit(at(0), &theirs, &attacker).await.unwrap();
        }
        for n in 0..100 {
            let refused = t.core.admit(at(n), &theirs, &attacker).await;
            assert_eq!(is_limited(&refused), Some(900 - n), "{refused:?}");
        }
        // Refused attempts were not counted against the name: the admin gets in.
        let mine = Throttle::login("admin:a@x.io", "email:a@x.io", &admin);
        assert!(t.core.admit(at(100), &mine, &admin).await.is_ok());
        // 101 refusals: audited at the 1st, 10th and 100th.
        let rows = t
            .core
            .store()
            .audit_entries("login.rate_limited")
            .await
            .unwrap();
        assert_eq!(rows.len(), 3);
    }

    #[tokio::test]
    async fn a_window_ends_on_time_and_a_success_forgets_the_names_failures() {
        let t = test_core(|c| c.login_limits.per_name = 2).await;
        let meta = from("10.0.0.3");
        let throttle = Throttle::login("i:email:ann@x.io", "email:ann@x.io", &meta);
        for _ in 0..2 {
            t.core.admit(at(0), &throttle, &meta).await.unwrap();
        }
        assert_eq!(
            is_limited(&t.core.admit(at(1), &throttle, &meta).await),
            Some(899)
        );
        assert!(t.core.admit(at(900), &throttle, &meta).await.is_ok());
        t.core.settle_success(&throttle).await.unwrap();
        for _ in 0..2 {
            t.core.admit(at(901), &throttle, &meta).await.unwrap();
        }
    }

    fn row(now: i64) -> RateRow {
        RateRow {
            window_start: now,
            count: 0,
            locked_until: None,
            strikes: 0,
            refused: 0,
        }
    }

    #[test]
    fn refusals_are_audited_at_powers_of_ten() {
        let audited: Vec<i64> = (1..=2000).filter(|n| is_audited_refusal(*n)).collect();
        assert_eq!(audited, vec![1, 10, 100, 1000]);
    }

    #[test]
    fn a_bucket_admits_its_limit_then_refuses_until_the_window_ends() {
        let limits = LoginLimits {
            per_name: 3,
            ..LoginLimits::default()
        };
        let mut r = row(0);
        for _ in 0..3 {
            assert_eq!(limits.judge(Kind::Pair, &mut r, 10), None);
        }
        let window = limits.window.num_milliseconds();
        assert_eq!(limits.judge(Kind::Pair, &mut r, 20), Some(window));
        assert_eq!(r.count, 3, "a refused attempt is not counted");
        assert_eq!(limits.judge(Kind::Pair, &mut r, window), None);
        assert_eq!(r.count, 1);
    }

    #[test]
    fn a_name_lock_doubles_each_time_up_to_the_cap() {
        let limits = LoginLimits {
            lockout: 2,
            window: Duration::minutes(15),
            max_lockout: Duration::hours(1),
            ..LoginLimits::default()
        };
        let minute = 60_000;
        let mut r = row(0);
        let mut now = 0;
        let mut locks = Vec::new();
        for _ in 0..4 {
            assert_eq!(limits.judge(Kind::Name, &mut r, now), None);
            assert_eq!(limits.judge(Kind::Name, &mut r, now), None);
            let until = limits.judge(Kind::Name, &mut r, now).expect("locked");
            // Locked: refused until then, whatever comes.
            assert_eq!(limits.judge(Kind::Name, &mut r, until - 1), Some(until));
            locks.push((until - now) / minute);
            now = until;
        }
        assert_eq!(locks, vec![15, 30, 60, 60]);
    }

    #[test]
    fn a_lock_long_past_starts_the_back_off_again() {
        let limits = LoginLimits {
            lockout: 1,
            ..LoginLimits::default()
        };
        let mut r = row(0);
        assert_eq!(limits.judge(Kind::Name, &mut r, 0), None);
        let until = limits.judge(Kind::Name, &mut r, 0).unwrap();
        let later = until + limits.max_lockout.num_milliseconds();
        assert_eq!(limits.judge(Kind::Name, &mut r, later), None);
        assert_eq!(r.strikes, 0);
    }
}
