//! `tus doctor`: checks a configuration before it is started, and says what is wrong in
//! plain words.
//!
//! Invariant: it changes nothing. It creates no database file, applies no migration, makes
//! no key and sends no message: it connects, reads, and greets the SMTP server.

use std::time::{Duration, Instant};

use tus_core::store::{PoolSettings, Store};

use crate::config::{redact_url, Config};
use crate::delivery::Channels;

/// An error in plain words (without the `internal error:` a request's log line has).
fn plain(e: tus_core::CoreError) -> String {
    match e {
        tus_core::CoreError::Internal(cause) => cause.to_string(),
        other => other.to_string(),
    }
}

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    /// Not a problem, but worth knowing (a channel that is off, migrations to apply).
    Note,
    Fail,
}

struct Report {
    fails: usize,
}

impl Report {
    fn say(&mut self, verdict: Verdict, what: &str, words: impl AsRef<str>) {
        let mark = match verdict {
            Verdict::Ok => "ok  ",
            Verdict::Note => "note",
            Verdict::Fail => {
                self.fails += 1;
                "FAIL"
            }
        };
        println!("  {mark}  {what}: {}", words.as_ref());
    }
}

/// Runs every check, printing one line each; true when nothing failed.
pub async fn run(config: &Config) -> bool {
    println!("tus doctor: checking this configuration (the TUS_* variables and flags given to it)");
    let mut r = Report { fails: 0 };
    let settings = settings(config, &mut r);
    if let Some(channels) = settings {
        delivery(config, &channels, &mut r).await;
    }
    traces(&mut r).await;
    database(config, &mut r).await;
    match r.fails {
        0 => println!("nothing wrong found"),
        1 => println!("1 problem found"),
        n => println!("{n} problems found"),
    }
    r.fails == 0
}

/// Every setting parses and fits its bounds; the channels' URLs are usable.
fn settings(config: &Config, r: &mut Report) -> Option<Channels> {
    let mut fine = true;
    if let Err(e) = config.core_config() {
        r.say(Verdict::Fail, "settings", e);
        fine = false;
    }
    if let Err(e) = config.public_origin() {
        r.say(Verdict::Fail, "settings", e);
        fine = false;
    }
    let channels = match Channels::from_config(config) {
        Ok(c) => Some(c),
        Err(e) => {
            r.say(Verdict::Fail, "settings", e);
            fine = false;
            None
        }
    };
    if fine {
        r.say(Verdict::Ok, "settings", "every setting is valid");
    }
    channels
}

async fn delivery(config: &Config, channels: &Channels, r: &mut Report) {
    let (email, sms) = channels.check().await;
    let target = |url: &Option<String>| {
        url.as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or("?"),
                    u.port_or_known_default().unwrap_or(0)
                )
            })
            .unwrap_or_default()
    };
    match email {
        None => r.say(
            Verdict::Note,
            "e-mail",
            "off (TUS_SMTP_URL is not set): asking for e-mail answers 422",
        ),
        Some(Ok(())) => r.say(
            Verdict::Ok,
            "e-mail",
            format!("the SMTP server at {} answered", target(&config.smtp_url)),
        ),
        Some(Err(e)) => r.say(
            Verdict::Fail,
            "e-mail",
            format!(
                "the SMTP server at {} does not answer as one: {e}",
                target(&config.smtp_url)
            ),
        ),
    }
    match sms {
        None => r.say(
            Verdict::Note,
            "SMS",
            "off (TUS_SMS_URL is not set): asking for SMS answers 422",
        ),
        Some(Ok(())) => r.say(
            Verdict::Ok,
            "SMS",
            format!(
                "the gateway at {} accepts connections",
                target(&config.sms_url)
            ),
        ),
        Some(Err(e)) => r.say(
            Verdict::Fail,
            "SMS",
            format!(
                "cannot reach the gateway at {}: {e}",
                target(&config.sms_url)
            ),
        ),
    }
}

/// The OpenTelemetry variables (`crate::telemetry`), and whether the collector accepts
/// connections (nothing is sent to it).
async fn traces(r: &mut Report) {
    let settings = match crate::telemetry::TraceSettings::from_env() {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            return r.say(
                Verdict::Note,
                "traces",
                "off (OTEL_EXPORTER_OTLP_ENDPOINT is not set)",
            )
        }
        Err(e) => return r.say(Verdict::Fail, "traces", e),
    };
    let Some((host, port)) = url::Url::parse(&settings.endpoint)
        .ok()
        .and_then(|u| Some((u.host_str()?.to_string(), u.port_or_known_default()?)))
    else {
        return r.say(Verdict::Fail, "traces", "the OTLP endpoint names no host");
    };
    let reached = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await;
    match reached {
        Ok(Ok(_)) => r.say(
            Verdict::Ok,
            "traces",
            format!(
                "spans go to {host}:{port} over {}; it accepts connections",
                settings.protocol
            ),
        ),
        Ok(Err(e)) => r.say(
            Verdict::Fail,
            "traces",
            format!("cannot reach the collector at {host}:{port}: {e}"),
        ),
        Err(_) => r.say(
            Verdict::Fail,
            "traces",
            format!("the collector at {host}:{port} did not answer within 5 s"),
        ),
    }
}

async fn database(config: &Config, r: &mut Report) {
    let url = &config.database_url;
    let shown = redact_url(url);
    if let Some(file) = Store::sqlite_file(url) {
        if !file.exists() {
            r.say(
                Verdict::Note,
                "database",
                format!(
                    "the SQLite file {} does not exist yet: the first `tus serve` creates it",
                    file.display()
                ),
            );
            return;
        }
    }
    let pool = PoolSettings {
        max_connections: 1,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(10),
    };
    let started = Instant::now();
    let store = match Store::connect(url, &pool).await {
        Ok(store) => store,
        Err(e) => {
            r.say(Verdict::Fail, "database", format!("{shown}: {}", plain(e)));
            return;
        }
    };
    if let Err(e) = store.ping().await {
        r.say(Verdict::Fail, "database", format!("{shown}: {}", plain(e)));
        return;
    }
    r.say(
        Verdict::Ok,
        "database",
        format!("{shown} answered in {} ms", started.elapsed().as_millis()),
    );
    let current = migrations(&store, r).await;
    if current {
        keys(config, &store, r).await;
    }
    store.close().await;
}

/// Whether the schema is this binary's (the keys can be read).
async fn migrations(store: &Store, r: &mut Report) -> bool {
    match store.migration_status().await {
        Err(e) => {
            r.say(
                Verdict::Fail,
                "migrations",
                format!("cannot read them: {e}"),
            );
            false
        }
        Ok(s) if !s.unknown.is_empty() => {
            r.say(
                Verdict::Fail,
                "migrations",
                format!(
                    "the database has migrations this binary does not know ({:?}): a newer \
                     version of tus migrated it; run that version",
                    s.unknown
                ),
            );
            false
        }
        Ok(s) if !s.pending.is_empty() => {
            r.say(
                Verdict::Note,
                "migrations",
                format!(
                    "{} to apply ({}): the next `tus serve` or `tus migrate` applies them",
                    s.pending.len(),
                    s.pending.join(", ")
                ),
            );
            false
        }
        Ok(_) => {
            r.say(Verdict::Ok, "migrations", "all applied");
            true
        }
    }
}

async fn keys(config: &Config, store: &Store, r: &mut Report) {
    let configured = match config.core_config() {
        Ok(c) => c,
        Err(_) => return, // said under settings
    };
    let (master, whose) = match configured.jwt_secret {
        Some(key) => (key, "this TUS_JWT_SECRET"),
        None => match tus_core::stored_master_secret(store).await {
            Ok(Some(key)) => (key, "the secret stored in the database"),
            Ok(None) => {
                r.say(
                    Verdict::Note,
                    "signing keys",
                    "none yet: the first start makes them",
                );
                return;
            }
            Err(e) => {
                r.say(Verdict::Fail, "signing keys", plain(e));
                return;
            }
        },
    };
    let report = match tus_core::keys::inspect_keys(store, &master).await {
        Ok(report) => report,
        Err(e) => {
            r.say(Verdict::Fail, "signing keys", plain(e));
            return;
        }
    };
    let Some((kid, algorithm)) = report.current else {
        r.say(
            Verdict::Note,
            "signing keys",
            "no current key: the next start makes one",
        );
        return;
    };
    if !report.usable {
        r.say(
            Verdict::Fail,
            "signing keys",
            format!(
                "the current key {kid} ({algorithm}) cannot be opened with {whose}: a start \
                 would replace it, and every token it signed would stop verifying. Start with \
                 the TUS_JWT_SECRET it was made with"
            ),
        );
        return;
    }
    r.say(
        Verdict::Ok,
        "signing keys",
        format!(
            "the current key {kid} ({algorithm}) opens with {whose}; {} next, {} retired",
            report.next, report.retired
        ),
    );
    let wanted = configured.tokens.algorithm.as_str();
    if wanted != algorithm {
        r.say(
            Verdict::Note,
            "signing keys",
            format!(
                "TUS_JWT_ALGORITHM is {wanted} but the current key is {algorithm}: the next start \
                 makes a {wanted} key current (tokens signed before stay valid while they live)"
            ),
        );
    }
}
