//! Messy exports: every bad file is named, nothing panics, `check` tells the truth.

use std::process::Command;

use snapmetrics::datafusion::arrow::array::RecordBatch;
use snapmetrics::datafusion::parquet::arrow::ArrowWriter;
use snapmetrics::datafusion::parquet::basic::{Compression, ZstdLevel};
use snapmetrics::datafusion::parquet::file::properties::WriterProperties;
use snapmetrics::datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

use crate::fixtures::{Fixture, csv, events, users};

fn many_events(n: i64) -> RecordBatch {
    let rows: Vec<(i64, i64, String)> =
        (0..n).map(|i| (i, 1, format!("type-{}", i % 97))).collect();
    let borrowed: Vec<(i64, i64, &str, &str)> = rows
        .iter()
        .map(|(id, user, kind)| (*id, *user, kind.as_str(), "2026-01-10T09:00:00Z"))
        .collect();
    events(&borrowed)
}

#[tokio::test]
async fn corrupt_data_pages_name_the_file() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write(
        "users.parquet",
        &users(&[(1, "2026-01-10T08:00:00Z", None)]),
    );
    let path = f.snapshot_dir().join("user_events.parquet");
    let batch = many_events(20_000);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&path).expect("create"),
        batch.schema(),
        Some(props),
    )
    .expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    // Footer and page index intact, so the file opens; every data page is garbage.
    let mut bytes = std::fs::read(&path).expect("read");
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes.clone())).expect("valid file");
    let data_end = reader.metadata().row_groups()[0]
        .columns()
        .iter()
        .map(|c| {
            let (start, len) = c.byte_range();
            (start + len) as usize
        })
        .max()
        .expect("columns");
    for byte in &mut bytes[4..data_end] {
        *byte ^= 0x5a;
    }
    std::fs::write(&path, bytes).expect("write");

    // The session's duplicate-id pass already reads every event, so the bad file is
    // usually named when the session opens; a query names it otherwise.
    let err = match f.open(Default::default()).await {
        Err(e) => e.to_string(),
        Ok(session) => {
            let df = session
                .sql("SELECT * FROM user_events")
                .await
                .expect("plans");
            session
                .collect(df, "query")
                .await
                .expect_err("corrupt pages")
                .to_string()
        }
    };
    assert!(
        err.contains("user_events.parquet") && err.contains("'user_events'"),
        "{err}"
    );
}

#[tokio::test]
async fn zero_row_files_and_huge_strings_are_fine() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    std::fs::remove_file(f.snapshot_dir().join("user_events.parquet")).expect("rm");
    f.write("user_events/empty.parquet", &events(&[]));
    let huge = "x".repeat(8 * 1024 * 1024);
    f.write(
        "user_events/big.parquet",
        &events(&[(1, 1, &huge, "2026-01-10T09:00:00Z")]),
    );
    f.write(
        "users.parquet",
        &users(&[(1, "2026-01-10T08:00:00Z", None)]),
    );
    let session = f.session().await;
    assert_eq!(
        csv(
            &session,
            "SELECT count(*) AS n, max(length(event_type)) AS len FROM user_events"
        )
        .await,
        ["n,len", "1,8388608"]
    );
}

fn check(store: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_snapmetrics"))
        .args(["check", "--store", store])
        .args(extra)
        .env_remove("SNAPMETRICS_STORE")
        .output()
        .expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn check_exit_codes() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write(
        "users.parquet",
        &users(&[(1, "2026-01-10T08:00:00Z", None)]),
    );
    let (code, out, err) = check(&f.store(), &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("reconciliation skipped"), "{out}");

    // Two orphan events: findings above --max-issues 0 exit 1, within 2 exit 0.
    f.write(
        "user_events.parquet",
        &events(&[
            (1, 7, "login", "2026-01-10T09:00:00Z"),
            (2, 8, "login", "2026-01-10T09:00:00Z"),
        ]),
    );
    let (code, out, err) = check(&f.store(), &["--format", "json"]);
    assert_eq!(code, Some(1), "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["issues"], 2);
    assert!(err.contains("2 data-quality issues"), "{err}");
    let (code, ..) = check(&f.store(), &["--max-issues", "2"]);
    assert_eq!(code, Some(0));

    std::fs::remove_file(f.snapshot_dir().join("users.parquet")).expect("rm");
    let (code, out, err) = check(&f.store(), &[]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("'users' is missing"), "{err}");
    assert!(
        out.is_empty(),
        "a failed check printed a partial result: {out}"
    );
}

#[tokio::test]
async fn reconciliation_lists_months_that_differ() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write(
        "transactions.parquet",
        &crate::fixtures::transactions(&[
            (1, 1, "2026-01-07", None, "2026-01-07T09:00:00Z", None),
            (2, 1, "2025-12-07", None, "2026-01-07T09:00:00Z", None),
        ]),
    );
    let legacy =
        crate::fixtures::transactions(&[(1, 1, "2026-01-07", None, "2026-01-07T09:00:00Z", None)]);
    f.write(
        "l1_transaction_facts.parquet",
        &crate::fixtures::l1_facts(&legacy, &["t1"]),
    );
    f.write(
        "l0_user_tokenization.parquet",
        &crate::fixtures::tokenization(&[(1, "t1")]),
    );
    let session = f.session().await;
    let report = snapmetrics::metrics::check::run(&session)
        .await
        .expect("check");
    assert_eq!(report.reconciliation_months, Some(1));
    let (schema, batches) = report.reconciliation.expect("both tables");
    let mut out = Vec::new();
    snapmetrics::output::write(
        snapmetrics::output::Format::Csv,
        &schema,
        &batches,
        &mut out,
    )
    .expect("csv");
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        "month,legacy_rows,l1_rows,legacy_amount,l1_amount\n2025-12,1,0,12.34,\n"
    );
}
