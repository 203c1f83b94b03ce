//! Signing and verifying access tokens per algorithm (HS256, ES256, EdDSA), release build:
//! the cost each adds to a login, a registration or a refresh (one sign) and to every
//! management request (one verify). In-process, no database work: a core on a scratch
//! SQLite file only to hold the keys.
//!
//! `bash .ci/bench keys`; figures into server/BENCHMARKS.md.

mod common;

use std::time::Instant;

use tus_core::keys::KeyAlgorithm;
use tus_core::store::scratch::ScratchDatabase;
use tus_core::tokens::UserSubject;
use tus_core::types::{ApplicationId, CompanyId, DeviceToken, InstanceId, UserFlags};
use tus_core::{Core, CoreConfig};

const ROUNDS: u32 = 20_000;

#[tokio::main]
async fn main() {
    let subject = UserSubject {
        device_token: DeviceToken::new_random(),
        instance_id: InstanceId::new_random(),
        application_id: ApplicationId::new_random(),
        company_id: CompanyId::new_random(),
        flags: UserFlags::default(),
        client_id: Some("client-7".into()),
    };
    let mut body = format!(
        "Written by `bash .ci/bench keys` (`cargo run --release -p server --example keys_bench`). \
         {ROUNDS} user access tokens signed, then each verified (signature, kid, algorithm, \
         issuer, audience, times), one at a time on one core; the mean per token.\n\n\
         | algorithm | sign (µs) | verify (µs) | token length |\n|---|---|---|---|\n"
    );
    for algorithm in KeyAlgorithm::ALL {
        let db = ScratchDatabase::create("sqlite")
            .await
            .expect("a scratch database");
        let mut config = CoreConfig::new(db.url.clone());
        config.tokens.algorithm = algorithm;
        let core = Core::open(config).await.expect("a core");
        let tokens = core.tokens();
        let now = Core::now();
        let expires = now + chrono::Duration::days(7);
        let started = Instant::now();
        let minted: Vec<String> = (0..ROUNDS)
            .map(|_| {
                tokens
                    .mint_user(now, &subject, expires)
                    .expect("signed")
                    .token
            })
            .collect();
        let sign = started.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64;
        let started = Instant::now();
        for token in &minted {
            tokens.verify_access(token, now).expect("verified");
        }
        let verify = started.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64;
        body.push_str(&format!(
            "| {} | {sign:.1} | {verify:.1} | {} |\n",
            algorithm.as_str(),
            minted[0].len()
        ));
    }
    common::write_section("keys", "Signing and verifying tokens", &body);
}
