//! Tiny handcrafted snapshots written as real Parquet files in a temporary store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use snapmetrics::datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use snapmetrics::datafusion::arrow::datatypes::{DataType, Field, Schema};
use snapmetrics::datafusion::parquet::arrow::ArrowWriter;
use snapmetrics::engine::session::{Filters, Session, SessionOptions};
use snapmetrics::source::schema::{self, TableSpec};
use snapmetrics::source::snapshot::Snapshot;
use snapmetrics::source::store::Store;
use tempfile::TempDir;

pub struct Fixture {
    pub dir: TempDir,
    pub id: String,
}

impl Fixture {
    /// A complete (with `_SUCCESS`) but still empty snapshot `id`.
    pub fn new(id: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join(id)).expect("snapshot dir");
        std::fs::write(dir.path().join(id).join("_SUCCESS"), b"").expect("_SUCCESS");
        Fixture {
            dir,
            id: id.to_string(),
        }
    }

    pub fn store(&self) -> String {
        self.dir.path().display().to_string()
    }

    pub fn snapshot_dir(&self) -> PathBuf {
        self.dir.path().join(&self.id)
    }

    /// Writes `batch` as a Parquet file at `rel` inside the snapshot.
    pub fn write(&self, rel: &str, batch: &RecordBatch) -> &Self {
        write_parquet(&self.snapshot_dir().join(rel), batch);
        self
    }

    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) -> &Self {
        let path = self.snapshot_dir().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, bytes).expect("write");
        self
    }

    /// The required tables, empty, so a test only writes what it is about.
    pub fn with_empty_tables(&self) -> &Self {
        self.write("users.parquet", &users(&[]));
        self.write("user_events.parquet", &events(&[]));
        self.write("onboarding_responses.parquet", &onboarding(&[]));
        self.write("transactions.parquet", &transactions(&[]));
        self
    }

    pub async fn open(&self, options: SessionOptions) -> snapmetrics::Result<Session> {
        let store = Store::open(&self.store())?;
        let snapshot = Snapshot::open(&store, &self.id, false).await?;
        Session::open(&store, snapshot, options).await
    }

    pub async fn session(&self) -> Session {
        self.open(SessionOptions::default())
            .await
            .expect("session opens")
    }
}

pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    let file = std::fs::File::create(path).expect("create");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(batch).expect("write");
    writer.close().expect("close");
}

/// Microseconds since the epoch of an RFC 3339 time.
pub fn us(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .timestamp_micros()
}

pub fn day(text: &str) -> i32 {
    let d: NaiveDate = text.parse().expect("date");
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

pub fn ts_utc() -> DataType {
    snapmetrics::source::schema::timestamp_utc()
}

/// A batch of one of the spec's tables, in its canonical schema (taken from the library,
/// never restated here).
pub fn table(spec: &TableSpec, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(spec.arrow_schema(&[]), columns).expect("batch of the table's schema")
}

/// A batch of any columns, all nullable: for files that are not canonical on purpose.
pub fn batch(fields: Vec<(&str, DataType)>, columns: Vec<ArrayRef>) -> RecordBatch {
    let fields: Vec<Field> = fields
        .into_iter()
        .map(|(n, t)| Field::new(n, t, true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
}

fn timestamps(values: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from(values.into_iter().collect::<Vec<_>>())
            .with_timezone("UTC"),
    )
}

/// users: (id, created_at, is_active)
pub fn users(rows: &[(i64, &str, Option<bool>)]) -> RecordBatch {
    table(
        &schema::USERS,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| format!("u{}@example.com", r.0)),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|_| "$argon2id$secret"),
            )),
            Arc::new(StringArray::from_iter(rows.iter().map(|_| None::<&str>))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| 0))),
            timestamps(rows.iter().map(|r| Some(us(r.1)))),
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ],
    )
}

/// user_events: (id, user_id, event_type, event_timestamp)
pub fn events(rows: &[(i64, i64, &str, &str)]) -> RecordBatch {
    table(
        &schema::USER_EVENTS,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            timestamps(rows.iter().map(|r| Some(us(r.3)))),
            Arc::new(StringArray::from_iter(rows.iter().map(|_| None::<&str>))),
        ],
    )
}

/// onboarding_responses: (id, user_id, started_at, total_steps, last_step_completed, completed_at)
pub type OnboardingRow<'a> = (i64, i64, &'a str, i32, i32, Option<&'a str>);

pub fn onboarding(rows: &[OnboardingRow]) -> RecordBatch {
    table(
        &schema::ONBOARDING_RESPONSES,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            timestamps(rows.iter().map(|r| Some(us(r.2)))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.4))),
            timestamps(rows.iter().map(|r| r.5.map(us))),
            Arc::new(StringArray::from_iter(rows.iter().map(|_| Some("{}")))),
            timestamps(rows.iter().map(|r| Some(us(r.2)))),
        ],
    )
}

/// Legacy transactions: (id, user_id, date, account, created_at, upload_session_id), each
/// an outgoing 12.34.
pub type TransactionRow<'a> = (i64, i64, &'a str, Option<&'a str>, &'a str, Option<&'a str>);

pub fn transactions(rows: &[TransactionRow]) -> RecordBatch {
    let priced: Vec<PricedTransactionRow> = rows
        .iter()
        .map(|r| (r.0, r.1, r.2, r.3, 1234, "out", r.4, r.5))
        .collect();
    priced_transactions(&priced)
}

/// Legacy transactions with their amount and cashflow: (id, user_id, date, account,
/// amount in cents, cashflow, created_at, upload_session_id).
pub type PricedTransactionRow<'a> = (
    i64,
    i64,
    &'a str,
    Option<&'a str>,
    i128,
    &'a str,
    &'a str,
    Option<&'a str>,
);

pub fn priced_transactions(rows: &[PricedTransactionRow]) -> RecordBatch {
    table(
        &schema::TRANSACTIONS,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| day(r.2)))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|_| "CARD PAYMENT"),
            )),
            Arc::new(StringArray::from_iter(rows.iter().map(|_| None::<&str>))),
            Arc::new(
                Decimal128Array::from_iter_values(rows.iter().map(|r| r.4))
                    .with_precision_and_scale(18, 2)
                    .expect("decimal"),
            ),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.5))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.3))),
            Arc::new(StringArray::from_iter(rows.iter().map(|_| None::<&str>))),
            Arc::new(StringArray::from_iter(rows.iter().map(|_| None::<&str>))),
            timestamps(rows.iter().map(|r| Some(us(r.6)))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.7))),
        ],
    )
}

/// The analytics-layer copy of legacy `transactions` rows: `user_id` replaced by the
/// given tokens (one per row), `date` renamed `transaction_date`.
pub fn l1_facts(legacy: &RecordBatch, tokens: &[&str]) -> RecordBatch {
    let schema = legacy.schema();
    let columns = schema
        .fields()
        .iter()
        .zip(legacy.columns())
        .map(|(field, column)| match field.name().as_str() {
            "user_id" => Arc::new(StringArray::from(tokens.to_vec())) as ArrayRef,
            _ => column.clone(),
        })
        .collect();
    table(&schema::L1_TRANSACTION_FACTS, columns)
}

/// l0_user_tokenization: (internal_user_id, tokenized_user_id)
pub fn tokenization(pairs: &[(i64, &str)]) -> RecordBatch {
    table(
        &schema::L0_USER_TOKENIZATION,
        vec![
            Arc::new(Int64Array::from_iter_values(pairs.iter().map(|p| p.0))),
            Arc::new(StringArray::from_iter_values(pairs.iter().map(|p| p.1))),
        ],
    )
}

/// Runs SQL and returns the rows as CSV lines (header first).
pub async fn csv(session: &Session, sql: &str) -> Vec<String> {
    let df = session.sql(sql).await.expect("plans");
    let schema = df.schema().inner().clone();
    let batches = df.collect().await.expect("runs");
    let mut out = Vec::new();
    snapmetrics::output::write(
        snapmetrics::output::Format::Csv,
        &schema,
        &batches,
        &mut out,
    )
    .expect("csv");
    String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Writes the report into a temp folder and returns one file's lines.
pub async fn report_file(session: &Session, file: &str) -> Vec<String> {
    filtered_report_file(session, &Filters::default(), file).await
}

/// [`report_file`] of a report with `filters`.
pub async fn filtered_report_file(session: &Session, filters: &Filters, file: &str) -> Vec<String> {
    let out = tempfile::tempdir().expect("temp");
    let target = out.path().join("report");
    snapmetrics::output::report::write(session, filters, &target, &[])
        .await
        .expect("report");
    std::fs::read_to_string(target.join(file))
        .expect("report file")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `snapmetrics` binary with `args`, in an environment that names no store or S3
/// endpoint, reading nothing from stdin.
pub fn command(args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_snapmetrics"));
    command
        .args(args)
        .env_remove("SNAPMETRICS_STORE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(std::process::Stdio::null());
    command
}

/// Runs the binary ([`command`]) to completion.
pub fn snapmetrics(args: &[&str]) -> std::process::Output {
    command(args).output().expect("runs")
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// Copies the folder `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Whether the tests run as root (who writes through permission bits, and whom
/// PostgreSQL refuses to run as).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Every file below `dir` with its bytes, relative names sorted.
pub fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path
                    .strip_prefix(root)
                    .expect("below")
                    .display()
                    .to_string();
                out.push((name, std::fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
