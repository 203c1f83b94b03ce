use super::*;
use crate::batches::ChunkStep;
use crate::testing::{admin, at, fleet, test_core, TestCore};
use tus_wire::model::LoginRequest;

const A: &str = "0a000000-0000-4000-8000-000000000001";
const B: &str = "0a000000-0000-4000-8000-000000000002";
const C: &str = "0a000000-0000-4000-8000-000000000003";
const D: &str = "0a000000-0000-4000-8000-000000000004";
const E: &str = "0a000000-0000-4000-8000-000000000005";

fn request(instance: &Instance, dry_run: bool, on_existing: OnExisting) -> ImportRequest {
    ImportRequest {
        instance: Some(instance.id.to_string()),
        dry_run,
        on_existing,
        file_name: "fleet.csv".into(),
    }
}

async fn start(t: &TestCore, r: ImportRequest, file: &str) -> CoreResult<ImportView> {
    t.core
        .start_import(
            at(1),
            &admin(),
            r,
            std::io::Cursor::new(file.as_bytes().to_vec()),
            &RequestMeta::default(),
        )
        .await
}

async fn run(t: &TestCore, id: &str) -> ImportView {
    for s in 10.. {
        if t.core.run_batch_chunk(at(s), id).await.unwrap() == ChunkStep::Idle {
            break;
        }
    }
    t.core.import_view(at(100), &admin(), id).await.unwrap()
}

async fn report(t: &TestCore, id: &str) -> Vec<String> {
    let mut d = t.core.take_import_report(&admin(), id).await.unwrap();
    let mut lines = Vec::new();
    while let Some(text) = t.core.next_report_chunk(&mut d).await.unwrap() {
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

fn file(instance: &Instance) -> String {
    let other = uuid::Uuid::new_v4();
    let i = instance.id;
    format!(
        "DeviceToken,FirstName,Email,Phone,EnableLogging,DateCreated,InstanceId,Shoe\n\
         {A},Ann,ann@x.io,+4915100001,true,2020-01-02T03:04:05Z,{i},42\n\
         {B},Bob,,,,,,\n\
         not-a-uuid,Cy,cy@x.io,,,,,\n\
         {C},Cy,ann@x.io,,,,,\n\
         {D},Dee,dee@x.io,,maybe,2999-01-01,,\n\
         {B},Bob again,,,,,,\n\
         {E},Dee,,,,,{other},\n\
         {C},\"Cy, \"\"the\"\" third\",cy@x.io,,0,,,\n\
         {A},too,many,fields,,,,,,\n"
    )
}

#[tokio::test]
async fn a_dry_run_reports_every_row_and_writes_no_user_then_runs_for_real() {
    let t = test_core(|_| {}).await;
    let i = fleet(&t).await;
    let dry = start(&t, request(&i, true, OnExisting::Skip), &file(&i))
        .await
        .unwrap();
    assert_eq!((dry.rows, dry.done, dry.dry_run), (9, 0, true));
    assert_eq!(
        dry.notes,
        vec!["column \"Shoe\" is not ours and was not imported"]
    );
    let v = run(&t, &dry.id).await;
    assert_eq!(v.state, "Completed");
    assert_eq!(
        (v.created, v.updated, v.skipped, v.failed),
        (2, 0, 0, 7),
        "{:#?}",
        report(&t, &dry.id).await
    );
    let lines = report(&t, &dry.id).await;
    assert_eq!(lines.len(), 9);
    assert_eq!(lines[0], format!("2,{A},would create,,"));
    assert!(
        lines[2].starts_with("4,,error,DeviceToken,"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains("error,Email,repeats row 2"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].contains("EnableLogging; DateCreated"),
        "{}",
        lines[4]
    );
    assert!(
        lines[5].contains("DeviceToken,repeats row 3"),
        "{}",
        lines[5]
    );
    assert!(lines[6].contains("error,InstanceId"), "{}", lines[6]);
    // A DeviceToken repeated: only its first row counts, whatever became of it.
    assert!(
        lines[7].contains("DeviceToken,repeats row 5"),
        "{}",
        lines[7]
    );
    assert!(
        lines[8].contains("10 fields where the header has 8"),
        "{}",
        lines[8]
    );
    // Nothing written.
    assert!(t.core.store().find_user(A).await.unwrap().is_none());
    // The page's first errors, read back from the report (quoted reasons included).
    let errors = t.core.import_errors(&admin(), &dry.id, 3).await.unwrap();
    assert_eq!(errors.len(), 3);
    assert_eq!(
        (errors[0].row, errors[0].field.as_str()),
        (4, "DeviceToken")
    );
    assert_eq!(
        (errors[2].field.as_str(), errors[2].reason.as_str()),
        (
            "EnableLogging; DateCreated",
            "EnableLogging: must be true or false; DateCreated: is in the future"
        )
    );
    assert_eq!(errors[2].device_token, D);

    // For real: the same decisions, now written, and the staged file is gone.
    let real = t
        .core
        .run_dry_import(at(200), &admin(), &dry.id, &RequestMeta::default())
        .await
        .unwrap();
    assert!(!real.dry_run && real.done == 0);
    let v = run(&t, &dry.id).await;
    assert_eq!((v.created, v.failed), (2, 7));
    assert!(report(&t, &dry.id).await[0].ends_with(",created,,"));
    let ann = t.core.store().find_user(A).await.unwrap().unwrap();
    assert_eq!(ann.email.as_deref(), Some("ann@x.io"));
    assert!(ann.enable_logging);
    assert_eq!(iso(ann.date_created), "2020-01-02T03:04:05.000Z");
    assert_eq!(ann.batch_id.as_deref(), Some(dry.id.as_str()));
    assert!(t.core.store().find_user(C).await.unwrap().is_none());
    // A dry run is run once.
    assert!(t
        .core
        .run_dry_import(at(300), &admin(), &dry.id, &RequestMeta::default())
        .await
        .is_err());

    // The app logs in with its DeviceToken and the InstanceKey: the lineage says import.
    let login = LoginRequest {
        mobile_device: None,
        login_fields: Some(serde_json::json!({ "DeviceToken": A })),
        password: Some(i.key.expose().to_string()),
        code: None,
        totp_code: None,
    };
    let id = i.id.to_string();
    let meta = RequestMeta::default();
    t.core
        .login(at(400), Some(&id), login.clone().try_into().unwrap(), &meta)
        .await
        .unwrap();
    t.core
        .login(at(401), Some(&id), login.try_into().unwrap(), &meta)
        .await
        .unwrap();
    let mut origins: Vec<String> = t
        .core
        .store()
        .families_of(A)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.origin)
        .collect();
    origins.sort();
    assert_eq!(origins, vec!["import", "login"]);
}

#[tokio::test]
async fn existing_tokens_are_skipped_failed_or_updated_where_they_differ() {
    let t = test_core(|_| {}).await;
    let i = fleet(&t).await;
    let first = format!("DeviceToken,FirstName,Email\n{A},Ann,ann@x.io\n{B},Bob,bob@x.io\n");
    let v = start(&t, request(&i, false, OnExisting::Skip), &first)
        .await
        .unwrap();
    assert_eq!(run(&t, &v.id).await.created, 2);

    let v = start(&t, request(&i, false, OnExisting::Skip), &first)
        .await
        .unwrap();
    let v = run(&t, &v.id).await;
    assert_eq!((v.created, v.skipped), (0, 2));
    assert_eq!(
        report(&t, &v.id).await[0],
        format!("2,{A},skipped: exists,,")
    );

    let v = start(&t, request(&i, false, OnExisting::Fail), &first)
        .await
        .unwrap();
    assert_eq!(run(&t, &v.id).await.failed, 2);

    // Update: only Bob differs (a new name); Ann is unchanged. Cy takes Ann's e-mail.
    let second = format!(
        "DeviceToken,FirstName,Email,EnableTracking\n{A},Ann,,\n{B},Robert,,false\n{C},Cy,ann@x.io,\n"
    );
    let v = start(&t, request(&i, false, OnExisting::Update), &second)
        .await
        .unwrap();
    let v = run(&t, &v.id).await;
    assert_eq!((v.created, v.updated, v.skipped, v.failed), (0, 1, 1, 1));
    let lines = report(&t, &v.id).await;
    assert_eq!(lines[0], format!("2,{A},skipped: unchanged,,"));
    assert!(
        lines[1].contains(",updated,,\"FirstName; EnableTracking: True → False\""),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("Email,is used by another user"),
        "{}",
        lines[2]
    );
    let bob = t.core.store().find_user(B).await.unwrap().unwrap();
    assert_eq!(
        (
            bob.first_name.as_deref(),
            bob.email.as_deref(),
            bob.enable_tracking
        ),
        (Some("Robert"), Some("bob@x.io"), false)
    );
    let audit = t.core.store().audit_entries("user.updated").await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target, format!("user:{B}"));
}

#[tokio::test]
async fn a_file_that_is_not_csv_is_one_error_and_leaves_nothing() {
    let t = test_core(|_| {}).await;
    let i = fleet(&t).await;
    for (text, says) in [
        ("\u{0}\u{1}PK", "binary"),
        ("Name,Mail\nAnn,a@x.io\n", "header"),
        ("DeviceToken\n", "no rows"),
    ] {
        let e = start(&t, request(&i, true, OnExisting::Skip), text)
            .await
            .unwrap_err();
        match e {
            CoreError::Validation(v) => {
                assert_eq!(v.0[0].key, "file");
                assert!(v.0[0].message.contains(says), "{}", v.0[0].message);
            }
            other => panic!("{other:?}"),
        }
    }
    let list = t.core.import_list(at(5), &admin(), None).await.unwrap();
    assert!(list.imports.is_empty());
    let mut tx = t.core.store().begin().await.unwrap();
    assert!(tx.staged_rows("", -1, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn rows_go_to_the_instance_the_first_row_names_and_an_import_resumes_exactly() {
    let t = test_core(|_| {}).await;
    let i = fleet(&t).await;
    let mut text = String::from("DeviceToken,InstanceId\n");
    let tokens: Vec<String> = (0..2500)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    for token in &tokens {
        text.push_str(&format!("{token},{}\n", i.id));
    }
    let r = ImportRequest {
        instance: None,
        ..request(&i, false, OnExisting::Skip)
    };
    let v = start(&t, r, &text).await.unwrap();
    assert_eq!(
        (v.instance_id.as_str(), v.rows),
        (i.id.to_string().as_str(), 2500)
    );
    // One chunk, then the server "dies": the import shows interrupted and resumes.
    assert_eq!(
        t.core.run_batch_chunk(at(10), &v.id).await.unwrap(),
        ChunkStep::Wrote {
            done: 1000,
            finished: false
        }
    );
    let seen = t.core.import_view(at(200), &admin(), &v.id).await.unwrap();
    assert_eq!(seen.state, "Interrupted");
    t.core
        .resume_batch(
            at(201),
            &admin(),
            BatchId::parse(&v.id).unwrap(),
            &RequestMeta::default(),
        )
        .await
        .unwrap();
    // Two runners racing over the rest still write each row once.
    let (a, b) = tokio::join!(
        t.core.run_batch_chunk(at(202), &v.id),
        t.core.run_batch_chunk(at(202), &v.id)
    );
    a.unwrap();
    b.unwrap();
    let v = run(&t, &v.id).await;
    assert_eq!((v.done, v.created, v.failed), (2500, 2500, 0));
    assert_eq!(report(&t, &v.id).await.len(), 2500);
    assert_eq!(
        t.core.store().count_users_in_batch(&v.id).await.unwrap(),
        2500
    );
}
