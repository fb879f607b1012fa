//! The SQL surface: read-only, secrets never registered, PII only on request.

use snapmetrics::engine::session::SessionOptions;

use crate::fixtures::{Fixture, csv, users};

fn snapshot() -> Fixture {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write(
        "users.parquet",
        &users(&[(1, "2026-01-10T08:00:00Z", Some(true))]),
    );
    f.write(
        "l0_pii_users.parquet",
        &crate::fixtures::batch(
            vec![
                (
                    "internal_user_id",
                    snapmetrics::datafusion::arrow::datatypes::DataType::Int64,
                ),
                (
                    "first_name",
                    snapmetrics::datafusion::arrow::datatypes::DataType::Utf8,
                ),
                (
                    "last_name",
                    snapmetrics::datafusion::arrow::datatypes::DataType::Utf8,
                ),
            ],
            vec![
                std::sync::Arc::new(snapmetrics::datafusion::arrow::array::Int64Array::from(
                    vec![1],
                )),
                std::sync::Arc::new(snapmetrics::datafusion::arrow::array::StringArray::from(
                    vec!["Ann"],
                )),
                std::sync::Arc::new(snapmetrics::datafusion::arrow::array::StringArray::from(
                    vec!["Lee"],
                )),
            ],
        ),
    );
    f
}

#[tokio::test]
async fn writes_and_file_access_are_refused() {
    let f = snapshot();
    let session = f.session().await;
    for statement in [
        "CREATE TABLE t AS SELECT 1",
        "CREATE VIEW v AS SELECT 1",
        "DROP TABLE users",
        "INSERT INTO users SELECT * FROM users",
        "COPY users TO '/tmp/users.csv'",
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/tmp/x.parquet'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let err = session
            .sql(statement)
            .await
            .err()
            .unwrap_or_else(|| panic!("{statement} ran"));
        let text = err.to_string();
        assert!(
            text.starts_with("refused: ") && text.contains("read-only"),
            "{statement}: {text}"
        );
    }
    let err = session
        .sql("SELECT * FROM '/etc/passwd'")
        .await
        .expect_err("file table");
    assert!(!err.to_string().is_empty());
    assert_eq!(
        csv(&session, "SELECT count(*) AS n FROM users").await,
        ["n", "1"]
    );
}

#[tokio::test]
async fn secrets_are_never_registered_and_pii_only_on_request() {
    let f = snapshot();
    let session = f.session().await;
    let columns = |s| async move {
        csv(
            s,
            "SELECT table_name, column_name FROM information_schema.columns \
                WHERE table_schema = 'public' ORDER BY 1, 2",
        )
        .await
        .join("\n")
    };
    let visible = columns(&session).await;
    for hidden in ["password_hash", "email", "first_name", "l0_pii_users"] {
        assert!(
            !visible.contains(hidden),
            "{hidden} visible without --include-pii:\n{visible}"
        );
    }
    let session = f
        .open(SessionOptions {
            include_pii: true,
            ..SessionOptions::default()
        })
        .await
        .expect("opens");
    let visible = columns(&session).await;
    assert!(
        visible.contains("users,email") && visible.contains("l0_pii_users,first_name"),
        "{visible}"
    );
    assert!(!visible.contains("password_hash"), "{visible}");
    assert_eq!(
        csv(&session, "SELECT email FROM users").await,
        ["email", "u1@example.com"]
    );
}
