//! The SQLite file holds the signing key and every InstanceKey (finding 13).

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_and_its_folder_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("tus-modes-{}", uuid::Uuid::new_v4()));
    let db = dir.join("data").join("tus.db");
    let core = tus_core::Core::open(tus_core::CoreConfig::new(format!(
        "sqlite://{}",
        db.display()
    )))
    .await
    .unwrap();
    // A write, so the write-ahead log and its index exist.
    core.create_instance(chrono::Utc::now(), None, "Fleet", "")
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    core.store().close().await;

    // A file that others could read is narrowed on the next start.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = tus_core::Core::open(tus_core::CoreConfig::new(format!(
        "sqlite://{}",
        db.display()
    )))
    .await
    .unwrap();
    assert_eq!(mode(&db), 0o600);
    again.store().close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
