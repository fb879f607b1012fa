//! Finding snapshots, `latest`, completeness, `as_of`, stray files and layout errors.

use snapmetrics::source::snapshot::{self, AsOfSource, Snapshot};
use snapmetrics::source::store::Store;

use crate::fixtures::{Fixture, csv, users};

#[tokio::test]
async fn latest_is_the_greatest_complete_id() {
    let f = Fixture::new("2026-01-01");
    f.with_empty_tables();
    for id in ["2026-02-01", "2026-03-01"] {
        std::fs::create_dir_all(f.dir.path().join(id).join("users")).expect("dir");
    }
    std::fs::write(f.dir.path().join("2026-02-01/_SUCCESS"), b"").expect("marker");
    // 2026-03-01 has no _SUCCESS: still being written.
    let store = Store::open(&f.store()).expect("store");
    let listed = snapshot::list(&store).await.expect("lists");
    let ids: Vec<(&str, bool)> = listed.iter().map(|e| (e.id.as_str(), e.complete)).collect();
    assert_eq!(
        ids,
        [
            ("2026-01-01", true),
            ("2026-02-01", true),
            ("2026-03-01", false)
        ]
    );
    let latest = Snapshot::open(&store, "latest", false)
        .await
        .expect("latest");
    assert_eq!(latest.id, "2026-02-01");

    let err = Snapshot::open(&store, "2026-03-01", false)
        .await
        .expect_err("incomplete");
    assert!(err.to_string().contains("--allow-incomplete"), "{err}");
    let opened = Snapshot::open(&store, "2026-03-01", true)
        .await
        .expect("allowed");
    assert!(!opened.complete);

    let err = Snapshot::open(&store, "2025-12-01", false)
        .await
        .expect_err("unknown");
    assert!(err.to_string().contains("'2025-12-01' not found"), "{err}");
}

#[tokio::test]
async fn no_complete_snapshot_is_an_error() {
    let dir = tempfile::tempdir().expect("temp");
    std::fs::create_dir_all(dir.path().join("2026-01-01/users")).expect("dir");
    let store = Store::open(&dir.path().display().to_string()).expect("store");
    let err = Snapshot::open(&store, "latest", false)
        .await
        .expect_err("none complete");
    assert!(err.to_string().contains("no complete snapshot"), "{err}");
}

#[test]
fn missing_store_names_the_location() {
    let err = Store::open("/definitely/not/here").expect_err("missing");
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}

#[tokio::test]
async fn as_of_comes_from_manifest_then_id_then_data() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write(
        "users.parquet",
        &users(&[(1, "2026-01-10T08:00:00Z", None)]),
    );
    let session = f.session().await;
    assert_eq!(session.as_of().source, AsOfSource::SnapshotId);
    assert_eq!(
        session.as_of().at.to_rfc3339(),
        "2026-01-31T23:59:59.999999+00:00"
    );

    f.write_bytes(
        "_manifest.json",
        br#"{"exported_at": "2026-01-31T06:00:00+01:00"}"#,
    );
    let session = f.session().await;
    assert_eq!(session.as_of().source, AsOfSource::Manifest);
    assert_eq!(session.as_of().at.to_rfc3339(), "2026-01-31T05:00:00+00:00");

    let g = Fixture::new("export-7");
    g.with_empty_tables();
    g.write(
        "users.parquet",
        &users(&[
            (1, "2026-01-10T08:00:00Z", None),
            (2, "2026-01-12T09:30:00Z", None),
        ]),
    );
    let session = g.session().await;
    assert_eq!(session.as_of().source, AsOfSource::MaxUserCreatedAt);
    assert_eq!(session.as_of().at.to_rfc3339(), "2026-01-12T09:30:00+00:00");
}

#[tokio::test]
async fn bad_manifest_is_an_error() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write_bytes("_manifest.json", br#"{"exported_at": "yesterday"}"#);
    let err = f
        .open(Default::default())
        .await
        .err()
        .expect("bad manifest");
    assert!(
        err.to_string().contains("_manifest.json") && err.to_string().contains("yesterday"),
        "{err}"
    );
}

#[tokio::test]
async fn stray_files_are_never_read() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write(
        "users/part-0.parquet",
        &users(&[(1, "2026-01-10T08:00:00Z", None)]),
    );
    std::fs::remove_file(f.snapshot_dir().join("users.parquet")).expect("single file");
    // Spark and macOS leftovers: none of them is table data.
    f.write(
        "users/_temporary/0/part-9.parquet",
        &users(&[(9, "2026-01-10T08:00:00Z", None)]),
    );
    f.write(
        "users/.hidden.parquet",
        &users(&[(8, "2026-01-10T08:00:00Z", None)]),
    );
    f.write_bytes("users/.part-0.parquet.crc", b"crc");
    f.write_bytes("users/.DS_Store", b"junk");
    f.write_bytes("users/_SUCCESS", b"");
    f.write_bytes("users/notes.txt", b"not parquet");
    let session = f.session().await;
    assert_eq!(csv(&session, "SELECT id FROM users").await, ["id", "1"]);
    assert!(
        session.snapshot().ignored.len() >= 6,
        "{:?}",
        session.snapshot().ignored
    );
}

#[tokio::test]
async fn nested_folders_and_hive_partitions_are_one_table() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    std::fs::remove_file(f.snapshot_dir().join("users.parquet")).expect("single file");
    f.write(
        "users/region=eu/a/part-0.parquet",
        &users(&[(1, "2026-01-10T08:00:00Z", None)]),
    );
    f.write(
        "users/region=us/b/part-0.parquet",
        &users(&[(2, "2026-01-11T08:00:00Z", None)]),
    );
    let session = f.session().await;
    assert_eq!(
        csv(&session, "SELECT id, region FROM users ORDER BY id").await,
        ["id,region", "1,eu", "2,us"]
    );
}

#[tokio::test]
async fn missing_required_table_names_it() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    std::fs::remove_file(f.snapshot_dir().join("onboarding_responses.parquet")).expect("rm");
    let err = f
        .open(Default::default())
        .await
        .err()
        .expect("missing table");
    let text = err.to_string();
    assert!(
        text.contains("2026-01-31") && text.contains("'onboarding_responses' is missing"),
        "{text}"
    );

    std::fs::remove_file(f.snapshot_dir().join("transactions.parquet")).expect("rm");
    f.write(
        "onboarding_responses.parquet",
        &crate::fixtures::onboarding(&[]),
    );
    let err = f
        .open(Default::default())
        .await
        .err()
        .expect("no transactions");
    assert!(
        err.to_string().contains("'transactions' is missing"),
        "{err}"
    );
}

#[tokio::test]
async fn table_both_file_and_folder_is_an_error() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write("users/part-0.parquet", &users(&[]));
    let err = f.open(Default::default()).await.err().expect("ambiguous");
    assert!(
        err.to_string()
            .contains("both a folder 'users/' and a file 'users.parquet'"),
        "{err}"
    );
}

#[test]
fn opening_a_session_is_send() {
    fn assert_send<T: Send>(_: T) {}
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    assert_send(f.open(Default::default()));
}

#[tokio::test]
async fn legacy_transactions_all_types_its_token_column_as_utf8() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    let session = f.session().await;
    let types = csv(
        &session,
        "SELECT data_type FROM information_schema.columns \
         WHERE table_name = 'transactions_all' AND column_name = 'tokenized_user_id'",
    )
    .await;
    assert_eq!(types, ["data_type", "Utf8"]);
}
