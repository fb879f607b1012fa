//! A snapshot's own names never break the session (issue #12, defect 4): every name the
//! session derives, and every column name of every source table, as an extra column and
//! as a Hive partition key of every table, at once.

use std::collections::BTreeSet;
use std::sync::Arc;

use snapmetrics::datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use snapmetrics::datafusion::arrow::datatypes::{DataType, Field, Schema};
use snapmetrics::engine::session::SessionOptions;

use crate::fixtures::{
    Fixture, batch, csv, events, l1_facts, onboarding, tokenization, transactions, users,
};

/// The base rows of every table: one user with an event, an onboarding row, a
/// transaction in both copies, and a PII row.
fn tables() -> Vec<(&'static str, RecordBatch)> {
    let legacy = transactions(&[(
        1,
        1,
        "2026-01-07",
        Some("Monzo"),
        "2026-01-07T10:00:00Z",
        Some("s1"),
    )]);
    vec![
        ("users", users(&[(1, "2026-01-05T08:00:00Z", None)])),
        (
            "user_events",
            events(&[(1, 1, "login", "2026-01-06T09:00:00Z")]),
        ),
        (
            "onboarding_responses",
            onboarding(&[(
                1,
                1,
                "2026-01-05T09:00:00Z",
                5,
                5,
                Some("2026-01-05T10:00:00Z"),
            )]),
        ),
        ("l1_transaction_facts", l1_facts(&legacy, &["tok_1"])),
        ("transactions", legacy),
        ("l0_user_tokenization", tokenization(&[(1, "tok_1")])),
        (
            "l0_pii_users",
            batch(
                vec![
                    ("internal_user_id", DataType::Int64),
                    ("first_name", DataType::Utf8),
                    ("last_name", DataType::Utf8),
                ],
                vec![
                    Arc::new(snapmetrics::datafusion::arrow::array::Int64Array::from(
                        vec![1],
                    )),
                    Arc::new(StringArray::from(vec!["Ada"])),
                    Arc::new(StringArray::from(vec!["Lovelace"])),
                ],
            ),
        ),
    ]
}

/// Every column name of every table and view of a session over the plain snapshot,
/// and the helper names the view SQL uses next to a source table's `*`.
async fn every_name() -> BTreeSet<String> {
    let f = Fixture::new("2026-01-31");
    for (table, rows) in tables() {
        f.write(&format!("{table}.parquet"), &rows);
    }
    let session = f
        .open(SessionOptions {
            include_pii: true,
            ..SessionOptions::default()
        })
        .await
        .expect("plain snapshot opens");
    let mut names: BTreeSet<String> = csv(
        &session,
        "SELECT DISTINCT column_name FROM information_schema.columns WHERE table_schema = 'public'",
    )
    .await
    .into_iter()
    .skip(1)
    .collect();
    names.extend(["dq_copy", "dq_first"].map(String::from));
    names
}

/// The names `table` itself defines (its spec's columns, whether the rows have them).
fn own_names(table: &str, rows: &RecordBatch) -> BTreeSet<String> {
    let spec = snapmetrics::source::schema::spec(table).expect("a specified table");
    spec.columns
        .iter()
        .map(|c| c.name.to_string())
        .chain(rows.schema().fields().iter().map(|f| f.name().clone()))
        .collect()
}

fn with_extra_columns(table: &str, rows: &RecordBatch, names: &BTreeSet<String>) -> RecordBatch {
    let own = own_names(table, rows);
    let mut fields: Vec<Field> = rows
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
    for name in names.difference(&own) {
        fields.push(Field::new(name, DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from(vec![
            Some("source value");
            rows.num_rows()
        ])));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
}

/// Everything a user can ask of the snapshot: every table and view in full, every
/// report file, a customer record.
async fn ask_everything(f: &Fixture) {
    let session = f
        .open(SessionOptions {
            include_pii: true,
            ..SessionOptions::default()
        })
        .await
        .unwrap_or_else(|e| panic!("the session opens: {e}"));
    let tables = csv(
        &session,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await;
    for table in tables.iter().skip(1) {
        let df = session
            .sql(&format!("SELECT * FROM \"{table}\""))
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        session
            .collect(df, table)
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    let out = tempfile::tempdir().expect("temp");
    snapmetrics::output::report::write(
        &session,
        &Default::default(),
        &out.path().join("report"),
        &[],
    )
    .await
    .unwrap_or_else(|e| panic!("report: {e}"));
    let retention = std::fs::read_to_string(out.path().join("report/cohort_retention.csv"))
        .expect("cohort_retention.csv");
    assert!(
        retention.contains("2026-01-05,1,0,1,1.000000"),
        "{retention}"
    );
    snapmetrics::metrics::customer::lookup(
        &session,
        &snapmetrics::metrics::customer::CustomerKey::Id(1),
    )
    .await
    .unwrap_or_else(|e| panic!("customer: {e}"));
}

#[tokio::test]
async fn every_derived_name_as_an_extra_column_of_every_table() {
    let names = every_name().await;
    let f = Fixture::new("2026-01-31");
    for (table, rows) in tables() {
        f.write(
            &format!("{table}.parquet"),
            &with_extra_columns(table, &rows, &names),
        );
    }
    ask_everything(&f).await;

    // The session's name means the session's value; the source's is kept, renamed.
    let session = f.session().await;
    let lines = csv(
        &session,
        "SELECT event_month, source_event_month, source_dq_check, month \
         FROM user_events_clean",
    )
    .await;
    assert_eq!(
        lines,
        [
            "event_month,source_event_month,source_dq_check,month",
            "2026-01-01,source value,source value,source value"
        ]
    );
    let lines = csv(&session, "SELECT source_cohort_week FROM users").await;
    assert_eq!(lines, ["source_cohort_week", "source value"]);
}

#[tokio::test]
async fn every_derived_name_as_a_partition_key_of_every_table() {
    let names = every_name().await;
    let f = Fixture::new("2026-01-31");
    for (table, rows) in tables() {
        let own = own_names(table, &rows);
        let folders: Vec<String> = names
            .difference(&own)
            .map(|name| format!("{name}=p"))
            .collect();
        f.write(
            &format!("{table}/{}/part-0.parquet", folders.join("/")),
            &rows,
        );
    }
    ask_everything(&f).await;
}
