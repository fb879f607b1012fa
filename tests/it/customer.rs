//! The customer record against a handcrafted snapshot, every number computed by hand.
//!
//! Snapshot `2026-03-31` (as_of 2026-03-31T23:59:59.999999Z, so the 30 days before it
//! start after 2026-03-01T23:59:59.999999Z):
//!
//! * user 1 "Ada L", signed up Wed 2026-01-07 (cohort week 2026-01-05), is_active NULL;
//! * user 2, no display name, 2026-02-10, is_active false, nothing else that counts;
//! * user 3, created after as_of: excluded, so it has no record.

use std::sync::Arc;

use serde_json::{Value, json};
use snapmetrics::datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Date32Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use snapmetrics::engine::session::SessionOptions;
use snapmetrics::metrics::customer::{self, CustomerKey};
use snapmetrics::source::schema;

use crate::fixtures::{
    Fixture, PricedTransactionRow, day, events, priced_transactions, snapmetrics, table, us,
};

pub const SNAPSHOT: &str = "2026-03-31";

fn timestamps(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from(values.iter().map(|v| v.map(us)).collect::<Vec<_>>())
            .with_timezone("UTC"),
    )
}

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

/// The scenario of this file's header; `pii_users` adds the `l0_pii_users` table.
pub fn scenario(pii_users: bool) -> Fixture {
    let f = Fixture::new(SNAPSHOT);
    f.write(
        "users.parquet",
        &table(
            &schema::USERS,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                strings(&[
                    Some("ada@example.com"),
                    Some("alan@example.com"),
                    Some("late@example.com"),
                ]),
                strings(&[
                    Some("$argon2id$x"),
                    Some("$argon2id$y"),
                    Some("$argon2id$z"),
                ]),
                strings(&[Some("Ada L"), None, Some("Late")]),
                Arc::new(Int32Array::from(vec![0, 0, 0])),
                timestamps(&[
                    Some("2026-01-07T10:00:00Z"),
                    Some("2026-02-10T09:00:00Z"),
                    Some("2026-04-05T09:00:00Z"),
                ]),
                Arc::new(BooleanArray::from(vec![None, Some(false), Some(true)])),
            ],
        ),
    );
    f.write(
        "user_events.parquet",
        &events(&[
            (1, 1, "login", "2026-01-07T11:00:00Z"), // week 01-05
            (2, 1, "login", "2026-03-10T08:00:00Z"), // week 03-09, last 30 days
            (3, 1, "login", "2026-03-25T08:00:00Z"), // week 03-23, last 30 days
            (3, 1, "login", "2026-03-26T08:00:00Z"), // duplicate id: excluded
            (4, 1, "dashboard_access", "2026-03-10T09:00:00Z"), // week 03-09
            (5, 1, "dashboard_access", "2026-01-20T09:00:00Z"), // week 01-19
            (6, 1, "feedback", "2026-02-02T10:00:00Z"), // not engagement
            (7, 1, "login", "2026-04-02T08:00:00Z"), // after as_of: excluded
            (8, 1, "login", "2026-03-01T23:00:00Z"), // week 02-23, 31 days before as_of
            (9, 1, "login", "2026-01-04T08:00:00Z"), // before the signup week: excluded
            (10, 99, "login", "2026-03-01T08:00:00Z"), // orphan
            (11, 3, "login", "2026-04-06T08:00:00Z"), // user 3 is excluded
        ]),
    );
    f.write(
        "onboarding_responses.parquet",
        &table(
            &schema::ONBOARDING_RESPONSES,
            vec![
                Arc::new(Int64Array::from(vec![10, 11, 12])),
                Arc::new(Int64Array::from(vec![1, 1, 2])),
                timestamps(&[
                    Some("2026-01-07T10:05:00Z"),
                    Some("2026-01-09T10:00:00Z"), // a second row of user 1: excluded
                    Some("2026-02-10T09:10:00Z"),
                ]),
                Arc::new(Int32Array::from(vec![5, 5, 5])),
                Arc::new(Int32Array::from(vec![5, 1, 7])), // 7 > 5: out of range
                timestamps(&[Some("2026-01-08T12:00:00Z"), None, None]),
                strings(&[
                    Some(r#"{"goal":"save","income_band":2}"#),
                    Some("{}"),
                    Some("{}"),
                ]),
                timestamps(&[
                    Some("2026-01-08T12:00:00Z"),
                    Some("2026-01-09T10:00:00Z"),
                    Some("2026-02-10T09:10:00Z"),
                ]),
            ],
        ),
    );
    // (id, user_id, date, account, amount in cents, cashflow, created_at, upload)
    let rows: [PricedTransactionRow; 6] = [
        (
            1,
            1,
            "2026-01-02",
            Some("Monzo"),
            10000,
            "in",
            "2026-01-08T10:00:00Z",
            Some("s1"),
        ),
        (
            2,
            1,
            "2026-01-15",
            Some("Barclays"),
            2550,
            "out",
            "2026-01-08T10:00:00Z",
            Some("s1"),
        ),
        (
            3,
            1,
            "2026-02-03",
            Some("Monzo"),
            1025,
            "out",
            "2026-02-16T10:00:00Z",
            Some("s2"),
        ),
        (
            4,
            1,
            "2026-02-04",
            None,
            500,
            "in",
            "2026-02-16T10:00:00Z",
            None,
        ),
        // after as_of (by date): excluded
        (
            5,
            1,
            "2026-04-10",
            Some("Revolut"),
            999,
            "in",
            "2026-03-30T10:00:00Z",
            Some("s3"),
        ),
        // uploaded before the signup week: excluded
        (
            6,
            1,
            "2025-12-29",
            Some("HSBC"),
            100000,
            "in",
            "2025-12-30T10:00:00Z",
            Some("s0"),
        ),
    ];
    f.write("transactions.parquet", &priced_transactions(&rows));
    f.write(
        "l0_user_tokenization.parquet",
        &table(
            &schema::L0_USER_TOKENIZATION,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 2, 3])),
                // tok-one is mapped twice: the smallest user id (1) keeps it.
                strings(&[
                    Some("tok-one"),
                    Some("tok-two"),
                    Some("tok-one"),
                    Some("tok-three"),
                ]),
            ],
        ),
    );
    if pii_users {
        f.write(
            "l0_pii_users.parquet",
            &table(
                &schema::L0_PII_USERS,
                vec![
                    Arc::new(Int64Array::from(vec![1, 2])),
                    strings(&[Some("Ada"), Some("Alan")]),
                    strings(&[Some("Lovelace"), Some("Turing")]),
                    Arc::new(Date32Array::from(vec![Some(day("1990-12-10")), None])),
                ],
            ),
        );
    }
    f
}

fn pii() -> SessionOptions {
    SessionOptions {
        include_pii: true,
        ..SessionOptions::default()
    }
}

/// User 1's record without PII, as computed by hand from the scenario.
pub fn user_1() -> Value {
    json!({
        "snapshot": SNAPSHOT,
        "as_of": "2026-03-31T23:59:59.999999Z",
        "id": 1,
        "display_name": "Ada L",
        "created_at": "2026-01-07T10:00:00Z",
        "cohort_week": "2026-01-05",
        "is_active": true,
        "onboarding": {
            "started_at": "2026-01-07T10:05:00Z",
            "last_step_completed": 5,
            "total_steps": 5,
            "completed_at": "2026-01-08T12:00:00Z",
            "responses": { "goal": "save", "income_band": 2 }
        },
        "activity": {
            // events 1, 2, 3, 8 (7 is after as_of, 9 before signup, the second 3 a copy)
            "logins_total": 4,
            // events 2 and 3; event 8 is 30 days and 59 minutes before as_of
            "logins_last_30_days": 2,
            "last_login_at": "2026-03-25T08:00:00Z",
            "dashboard_accesses": 2,
            // events: weeks 01-05, 01-19, 02-23, 03-09, 03-23; uploads: 01-05, 02-16
            "active_weeks": 6
        },
        "transactions": {
            "count": 4,
            "first_date": "2026-01-02",
            "last_date": "2026-02-04",
            "banks": ["Barclays", "Monzo"],
            "total_in": "105.00",
            "total_out": "35.75",
            "statement_uploads": 2
        }
    })
}

pub fn user_2() -> Value {
    json!({
        "snapshot": SNAPSHOT,
        "as_of": "2026-03-31T23:59:59.999999Z",
        "id": 2,
        "display_name": null,
        "created_at": "2026-02-10T09:00:00Z",
        "cohort_week": "2026-02-09",
        "is_active": false,
        "onboarding": null,
        "activity": {
            "logins_total": 0,
            "logins_last_30_days": 0,
            "last_login_at": null,
            "dashboard_accesses": 0,
            "active_weeks": 0
        },
        "transactions": {
            "count": 0,
            "first_date": null,
            "last_date": null,
            "banks": [],
            "total_in": "0.00",
            "total_out": "0.00",
            "statement_uploads": 0
        }
    })
}

const PII_KEYS: [&str; 4] = ["email", "first_name", "last_name", "date_of_birth"];

fn with(mut record: Value, fields: Value) -> Value {
    let object = record.as_object_mut().expect("object");
    for (k, v) in fields.as_object().expect("object") {
        object.insert(k.clone(), v.clone());
    }
    record
}

#[tokio::test]
async fn record_matches_hand_computed_values() {
    let f = scenario(true);
    let session = f.session().await;
    let one = customer::lookup(&session, &CustomerKey::Id(1))
        .await
        .expect("user 1");
    assert_eq!(serde_json::to_value(&one).expect("json"), user_1());
    let two = customer::lookup(&session, &CustomerKey::Id(2))
        .await
        .expect("user 2");
    assert_eq!(serde_json::to_value(&two).expect("json"), user_2());
}

#[tokio::test]
async fn pii_only_with_include_pii() {
    let f = scenario(true);
    let session = f.session().await;
    let sql = customer::sql(&session);
    let code: Vec<&str> = sql
        .lines()
        .filter_map(|line| line.split("--").next())
        .collect();
    let code = code.join("\n");
    assert!(
        !code.contains("l0_pii_users") && !code.contains("email"),
        "{code}"
    );
    let text = serde_json::to_string(
        &customer::lookup(&session, &CustomerKey::Id(1))
            .await
            .expect("user 1"),
    )
    .expect("json");
    for secret in ["ada@example.com", "Lovelace", "1990-12-10", "argon2"] {
        assert!(!text.contains(secret), "{text}");
    }
    let (schema, _) = customer::all(&session).await.expect("all");
    for key in PII_KEYS.iter().chain(&["password_hash"]) {
        assert!(schema.field_with_name(key).is_err(), "{key} in {schema:?}");
    }

    let session = f.open(pii()).await.expect("opens with PII");
    let one = customer::lookup(&session, &CustomerKey::Id(1))
        .await
        .expect("user 1");
    let expected = with(
        user_1(),
        json!({
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "date_of_birth": "1990-12-10"
        }),
    );
    assert_eq!(serde_json::to_value(&one).expect("json"), expected);
    // The library strips PII on request, as the API does for callers without the grant.
    let stripped = serde_json::to_value(one.without_pii()).expect("json");
    assert_eq!(stripped, user_1());
    let two = customer::lookup(&session, &CustomerKey::Id(2))
        .await
        .expect("user 2");
    assert_eq!(
        serde_json::to_value(&two).expect("json"),
        with(
            user_2(),
            json!({
                "email": "alan@example.com",
                "first_name": "Alan",
                "last_name": "Turing",
                "date_of_birth": null
            })
        )
    );
}

#[tokio::test]
async fn pii_without_l0_pii_users_is_null() {
    let f = scenario(false);
    let session = f.open(pii()).await.expect("opens with PII");
    let one = customer::lookup(&session, &CustomerKey::Id(1))
        .await
        .expect("user 1");
    let expected = with(
        user_1(),
        json!({
            "email": "ada@example.com",
            "first_name": null,
            "last_name": null,
            "date_of_birth": null
        }),
    );
    assert_eq!(serde_json::to_value(&one).expect("json"), expected);
}

#[tokio::test]
async fn unknown_or_excluded_customers_are_typed_errors() {
    let f = scenario(true);
    let session = f.session().await;
    for key in [
        CustomerKey::Id(42),
        CustomerKey::Id(3), // created after as_of
        CustomerKey::Id(-1),
        CustomerKey::Token("tok-nobody".into()),
        CustomerKey::Token("tok-three".into()), // maps to the excluded user 3
        CustomerKey::Token("' OR 1=1 --".into()),
    ] {
        match customer::lookup(&session, &key).await {
            Err(snapmetrics::Error::CustomerNotFound {
                snapshot,
                key: named,
            }) => {
                assert_eq!(snapshot, SNAPSHOT);
                assert_eq!(named, key.to_string());
            }
            other => panic!("{key}: expected CustomerNotFound, got {other:?}"),
        }
    }
    let error = customer::lookup(&session, &CustomerKey::Id(42))
        .await
        .expect_err("unknown");
    assert!(error.to_string().contains("users_clean"), "{error}");
}

#[tokio::test]
async fn lookup_by_token_goes_through_the_clean_mapping() {
    let f = scenario(true);
    let session = f.session().await;
    let one = customer::lookup(&session, &CustomerKey::Token("tok-one".into()))
        .await
        .expect("tok-one");
    assert_eq!(serde_json::to_value(&one).expect("json"), user_1());
    let two = customer::lookup(&session, &CustomerKey::Token("tok-two".into()))
        .await
        .expect("tok-two");
    assert_eq!(two.id, 2);
}

#[tokio::test]
async fn all_customers_flat_and_sorted() {
    let f = scenario(true);
    let session = f.session().await;
    let (schema, batches) = customer::all(&session).await.expect("all");
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "display_name",
            "created_at",
            "cohort_week",
            "is_active",
            "onboarding_started_at",
            "onboarding_last_step_completed",
            "onboarding_total_steps",
            "onboarding_completed_at",
            "onboarding_responses",
            "activity_logins_total",
            "activity_logins_last_30_days",
            "activity_last_login_at",
            "activity_dashboard_accesses",
            "activity_active_weeks",
            "transactions_count",
            "transactions_first_date",
            "transactions_last_date",
            "transactions_banks",
            "transactions_total_in",
            "transactions_total_out",
            "transactions_statement_uploads",
        ]
    );
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<snapmetrics::datafusion::arrow::datatypes::Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(ids, [1, 2]);
    // Every flat row reads back to the same record as a single lookup.
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let record = customer::record(&session, batch, row).expect("record");
            let expected = if record.id == 1 { user_1() } else { user_2() };
            assert_eq!(serde_json::to_value(&record).expect("json"), expected);
        }
    }
    // CSV cannot hold a list: banks become JSON array text.
    let (csv_schema, csv_batches) = customer::for_csv(&schema, &batches).expect("csv");
    let mut out = Vec::new();
    snapmetrics::output::write(
        snapmetrics::output::Format::Csv,
        &csv_schema,
        &csv_batches,
        &mut out,
    )
    .expect("writes");
    let text = String::from_utf8(out).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].starts_with("1,Ada L,2026-01-07T10:00:00Z,2026-01-05,true,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(r#",4,2026-01-02,2026-02-04,"[""Barclays"",""Monzo""]",105.00,35.75,2"#),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with(",0,0,,0,0,0,,,,0.00,0.00,0"),
        "{}",
        lines[2]
    );
}

#[test]
fn cli_customer_and_customers() {
    let f = scenario(true);
    let store = f.store();

    let output = snapmetrics(&["customer", "1", "--store", &store]);
    assert!(output.status.success(), "{output:?}");
    let record: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(record, user_1());

    let output = snapmetrics(&["customer", "--token", "tok-two", "--store", &store]);
    assert!(output.status.success(), "{output:?}");
    let record: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(record, user_2());

    let output = snapmetrics(&[
        "customer",
        "1",
        "--store",
        &store,
        "--format",
        "table",
        "--include-pii",
    ]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("| first_name "), "{table}");
    assert!(table.contains("| Lovelace "), "{table}");
    assert!(
        table.contains("| activity_active_weeks          | 6 "),
        "{table}"
    );

    for args in [
        vec!["customer", "42", "--store", &store],
        vec!["customer", "--token", "tok-nobody", "--store", &store],
        vec![
            "customers",
            "--out",
            "/tmp/customers.txt",
            "--store",
            &store,
        ],
    ] {
        let output = snapmetrics(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    let output = snapmetrics(&["customer", "abc", "--store", &store]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = snapmetrics(&["customer", "42", "--store", &store]);
    assert!(output.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no customer with id 42"),
        "{output:?}"
    );

    let out = tempfile::tempdir().expect("temp");
    let csv = out.path().join("customers.csv");
    let parquet = out.path().join("customers.parquet");
    for file in [&csv, &parquet] {
        let path = file.display().to_string();
        let output = snapmetrics(&["customers", "--out", &path, "--store", &store]);
        assert!(output.status.success(), "{output:?}");
    }
    let text = std::fs::read_to_string(&csv).expect("csv");
    assert_eq!(text.lines().count(), 3);
    assert!(!text.contains("ada@example.com"));
    let file = std::fs::File::open(&parquet).expect("parquet");
    let reader =
        snapmetrics::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
            file, 1024,
        )
        .expect("reader");
    let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
    assert_eq!(rows, 2);
    // Only the two files: nothing staged is left behind.
    assert_eq!(std::fs::read_dir(out.path()).expect("dir").count(), 2);
}
