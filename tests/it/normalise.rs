//! Each accepted physical variant reads as the canonical type; everything else is an
//! error naming snapshot, table, file, column, found and expected type.

use std::sync::Arc;

use snapmetrics::datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int16Array, Int32Array, LargeStringArray, StringArray,
    StringViewArray, TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use snapmetrics::datafusion::arrow::datatypes::{DataType, Int8Type, TimeUnit};

use crate::fixtures::{Fixture, batch, csv, us};

/// users written the way an older exporter might: narrow ints, ms naive timestamps,
/// large strings, no is_active column.
fn old_users() -> snapmetrics::datafusion::arrow::array::RecordBatch {
    batch(
        vec![
            ("id", DataType::Int32),
            ("email", DataType::LargeUtf8),
            ("password_hash", DataType::Utf8),
            ("display_name", DataType::Utf8View),
            ("login_attempts", DataType::Int16),
            (
                "created_at",
                DataType::Timestamp(TimeUnit::Millisecond, None),
            ),
            (
                "plan",
                DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
            ),
        ],
        vec![
            Arc::new(Int32Array::from(vec![1, 2])),
            Arc::new(LargeStringArray::from(vec!["a@x", "b@x"])),
            Arc::new(StringArray::from(vec!["h1", "h2"])),
            Arc::new(StringViewArray::from(vec![Some("Ann"), None])),
            Arc::new(Int16Array::from(vec![0, 3])),
            Arc::new(TimestampMillisecondArray::from(vec![
                us("2026-01-05T10:00:00Z") / 1000,
                us("2026-01-06T11:30:00Z") / 1000,
            ])),
            Arc::new(DictionaryArray::<Int8Type>::from_iter(["free", "pro"])) as ArrayRef,
        ],
    )
}

#[tokio::test]
async fn accepted_variants_expose_canonical_types() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write("users.parquet", &old_users());
    // A second events file with a zoned, nanosecond timestamp and a float amount elsewhere.
    f.write(
        "transactions.parquet",
        &crate::fixtures::transactions(&[(
            1,
            1,
            "2026-01-07",
            Some("Monzo"),
            "2026-01-07T09:00:00Z",
            None,
        )]),
    );
    let session = f.session().await;
    assert_eq!(
        csv(
            &session,
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_name = 'users' ORDER BY ordinal_position"
        )
        .await,
        [
            "column_name,data_type",
            "id,Int64",
            "display_name,Utf8",
            "login_attempts,Int32",
            "created_at,\"Timestamp(µs, \"\"UTC\"\")\"",
            "is_active,Boolean",
            "plan,Utf8",
        ]
    );
    assert_eq!(
        csv(
            &session,
            "SELECT id, display_name, created_at, is_active, plan FROM users ORDER BY id"
        )
        .await,
        [
            "id,display_name,created_at,is_active,plan",
            "1,Ann,2026-01-05T10:00:00Z,,free",
            "2,,2026-01-06T11:30:00Z,,pro",
        ]
    );
}

#[tokio::test]
async fn timestamps_of_any_unit_and_zone_are_the_same_instant() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    let at = us("2026-01-05T23:30:00Z");
    let events = |ts: ArrayRef, ts_type: DataType, id: i64| {
        batch(
            vec![
                ("id", DataType::Int64),
                ("user_id", DataType::Int64),
                ("event_type", DataType::Utf8),
                ("event_timestamp", ts_type),
                ("metadata", DataType::Utf8),
            ],
            vec![
                Arc::new(snapmetrics::datafusion::arrow::array::Int64Array::from(
                    vec![id],
                )),
                Arc::new(snapmetrics::datafusion::arrow::array::Int64Array::from(
                    vec![1],
                )),
                Arc::new(StringArray::from(vec!["login"])),
                ts,
                Arc::new(StringArray::from(vec![None::<&str>])),
            ],
        )
    };
    let berlin = TimestampSecondArray::from(vec![at / 1_000_000]).with_timezone("Europe/Berlin");
    let nanos = TimestampNanosecondArray::from(vec![at * 1000]);
    std::fs::remove_file(f.snapshot_dir().join("user_events.parquet")).expect("rm");
    f.write(
        "user_events/a.parquet",
        &events(
            Arc::new(berlin),
            DataType::Timestamp(TimeUnit::Second, Some("Europe/Berlin".into())),
            1,
        ),
    );
    f.write(
        "user_events/b.parquet",
        &events(
            Arc::new(nanos),
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            2,
        ),
    );
    let session = f.session().await;
    assert_eq!(
        csv(
            &session,
            "SELECT id, event_timestamp FROM user_events ORDER BY id"
        )
        .await,
        [
            "id,event_timestamp",
            "1,2026-01-05T23:30:00Z",
            "2,2026-01-05T23:30:00Z"
        ]
    );
}

#[tokio::test]
async fn float_amounts_become_decimals() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    let legacy =
        crate::fixtures::transactions(&[(1, 1, "2026-01-07", None, "2026-01-07T09:00:00Z", None)]);
    let mut columns = legacy.columns().to_vec();
    columns[5] = Arc::new(Float64Array::from(vec![12.5]));
    let schema = legacy.schema();
    let mut fields: Vec<(&str, DataType)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type().clone()))
        .collect::<Vec<_>>();
    fields[5].1 = DataType::Float64;
    f.write("transactions.parquet", &batch(fields, columns));
    let session = f.session().await;
    assert_eq!(
        csv(
            &session,
            "SELECT amount, arrow_typeof(amount) AS t FROM transactions"
        )
        .await,
        ["amount,t", "12.50,\"Decimal128(18, 2)\""]
    );
}

#[tokio::test]
async fn wrong_type_names_snapshot_table_file_column_and_types() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    let bad = batch(
        vec![
            ("id", DataType::Utf8),
            ("created_at", crate::fixtures::ts_utc()),
        ],
        vec![
            Arc::new(StringArray::from(vec!["one"])),
            Arc::new(
                snapmetrics::datafusion::arrow::array::TimestampMicrosecondArray::from(vec![0])
                    .with_timezone("UTC"),
            ),
        ],
    );
    f.write("users.parquet", &bad);
    let err = f
        .open(Default::default())
        .await
        .err()
        .expect("bad type")
        .to_string();
    for part in [
        "2026-01-31",
        "'users'",
        "users.parquet",
        "'id'",
        "Utf8",
        "integer",
    ] {
        assert!(err.contains(part), "{part} missing from: {err}");
    }
}

#[tokio::test]
async fn missing_required_column_is_named() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    let users = old_users();
    let without_created = users.project(&[0, 1, 2, 3, 4]).expect("project");
    f.write("users.parquet", &without_created);
    let err = f
        .open(Default::default())
        .await
        .err()
        .expect("missing column")
        .to_string();
    assert!(
        err.contains("'created_at' is missing") && err.contains("users.parquet"),
        "{err}"
    );
}

#[tokio::test]
async fn unreadable_files_are_named() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    std::fs::remove_file(f.snapshot_dir().join("user_events.parquet")).expect("rm");
    f.write("user_events/part-0.parquet", &crate::fixtures::events(&[]));
    f.write_bytes("user_events/part-9.parquet", b"this is not parquet at all");
    let err = f
        .open(Default::default())
        .await
        .err()
        .expect("not parquet")
        .to_string();
    assert!(
        err.contains("part-9.parquet") && err.contains("user_events"),
        "{err}"
    );

    let g = Fixture::new("2026-01-31");
    g.with_empty_tables();
    let path = g.snapshot_dir().join("users.parquet");
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    let err = g
        .open(Default::default())
        .await
        .err()
        .expect("truncated")
        .to_string();
    assert!(
        err.contains("users.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
}

#[tokio::test]
async fn siblings_that_disagree_are_an_error() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    std::fs::remove_file(f.snapshot_dir().join("users.parquet")).expect("rm");
    f.write("users/a.parquet", &old_users());
    let mut fields: Vec<(&str, DataType)> = vec![];
    let mut columns: Vec<ArrayRef> = vec![];
    let users = old_users();
    let schema = users.schema();
    for (field, column) in schema.fields().iter().zip(users.columns()) {
        if field.name() == "plan" {
            fields.push(("plan", DataType::Int32));
            columns.push(Arc::new(Int32Array::from(vec![1, 2])));
        } else {
            fields.push((field.name().as_str(), field.data_type().clone()));
            columns.push(column.clone());
        }
    }
    f.write("users/b.parquet", &batch(fields, columns));
    let err = f
        .open(Default::default())
        .await
        .err()
        .expect("disagree")
        .to_string();
    assert!(
        err.contains("'plan'") && err.contains("b.parquet") && err.contains("a.parquet"),
        "{err}"
    );
}
