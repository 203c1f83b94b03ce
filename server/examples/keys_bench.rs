//! Signing and verifying access tokens per algorithm (HS256, ES256, EdDSA), release build:
//! the cost each adds to a login, a registration or a refresh (one sign) and to every
//! management request (one verify). In-process, no database work: a core on a scratch
//! SQLite file only to hold the keys. Then `Auth/RefreshToken` throughput per algorithm:
//! the real server on a fresh SQLite file, driven over loopback HTTP.
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
const REFRESHES: usize = 2_000;
const CONCURRENCY: usize = 16;

/// `REFRESHES` refreshes of distinct pairs with `CONCURRENCY` in flight, against a server
/// signing with `algorithm`: (requests/s, p50 ms, p99 ms).
async fn refresh_throughput(algorithm: KeyAlgorithm) -> (f64, f64, f64) {
    let db = ScratchDatabase::create("sqlite")
        .await
        .expect("a scratch database");
    let server = common::start_with(&db, |c| c.jwt_algorithm = algorithm).await;
    let instance = server.instance.as_ref().expect("first start");
    let client = reqwest::Client::new();
    let created: serde_json::Value = client
        .post(format!("{}/v1/Registration/CreateMany", server.base))
        .header("InstanceId", instance.id.to_string())
        .header("InstanceKey", instance.key.expose())
        .json(&serde_json::json!({ "Quantity": REFRESHES }))
        .send()
        .await
        .expect("CreateMany")
        .json()
        .await
        .expect("json");
    let pairs = created["Result"]["Results"].as_array().expect("results");
    common::throughput(REFRESHES, CONCURRENCY, |i| {
        let body = serde_json::json!({
            "AccessToken": pairs[i]["AccessToken"]["Token"],
            "RefreshToken": pairs[i]["RefreshToken"],
        });
        let (client, base) = (&client, &server.base);
        async move {
            let res = client
                .post(format!("{base}/v1/Auth/RefreshToken"))
                .json(&body)
                .send()
                .await
                .expect("refresh");
            assert_eq!(res.status(), 200);
        }
    })
    .await
}

#[tokio::main]
async fn main() {
    let subject = UserSubject {
        device_token: DeviceToken::new_random(),
        instance_id: InstanceId::new_random(),
        application_id: ApplicationId::new_random(),
        company_id: CompanyId::new_random(),
        flags: UserFlags::default(),
        client_id: Some("client-7".into()),
        lifetimes: Default::default(),
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
    body.push_str(&format!(
        "\n`Auth/RefreshToken` through the real server on a fresh SQLite file per algorithm, \
         {REFRESHES} distinct pairs, {CONCURRENCY} in flight, over loopback HTTP (client and \
         server share the machine's cores):\n\n| algorithm | refreshes/s | p50 ms | p99 ms |\n|---|---|---|---|\n"
    ));
    for algorithm in KeyAlgorithm::ALL {
        let (rps, p50, p99) = refresh_throughput(algorithm).await;
        eprintln!("refresh, {}: {rps:.0}/s", algorithm.as_str());
        body.push_str(&format!(
            "| {} | {rps:.0} | {p50:.1} | {p99:.1} |\n",
            algorithm.as_str()
        ));
    }
    common::write_section("keys", "Signing and verifying tokens", &body);
}
