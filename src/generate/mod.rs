//! Deterministic synthetic snapshots: the bundled sample, test fixtures and bench data.
//!
//! Users are cut into fixed-size chunks, each with its own seeded RNG, so the output
//! depends only on `--users` and `--seed`, never on thread count or timing. Workers build
//! Arrow batches per chunk; one writer assigns ids and writes them in chunk order.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Int32Builder, Int64Array,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::source::schema::timestamp_utc;

/// Users per chunk: the unit of parallel work and of RNG seeding.
const CHUNK_USERS: u64 = 20_000;

const EVENT_TYPES: [(&str, u32); 6] = [
    ("login", 44),
    ("dashboard_access", 34),
    ("notification_open", 9),
    ("feedback", 4),
    ("settings_change", 5),
    ("export_csv", 4),
];
const BANKS: [(&str, u32); 15] = [
    ("Monzo", 18),
    ("Barclays", 14),
    ("HSBC", 12),
    ("Lloyds", 11),
    ("NatWest", 9),
    ("Santander", 8),
    ("Starling", 7),
    ("Revolut", 6),
    ("Nationwide", 5),
    ("Halifax", 3),
    ("TSB", 2),
    ("Metro Bank", 2),
    ("Virgin Money", 1),
    ("Co-operative Bank", 1),
    ("First Direct", 1),
];
const MERCHANTS: [(&str, &str); 12] = [
    ("Tesco", "groceries"),
    ("Sainsbury's", "groceries"),
    ("Amazon", "shopping"),
    ("TfL", "transport"),
    ("Uber", "transport"),
    ("Netflix", "subscriptions"),
    ("Spotify", "subscriptions"),
    ("Pret A Manger", "eating_out"),
    ("Deliveroo", "eating_out"),
    ("British Gas", "bills"),
    ("Thames Water", "bills"),
    ("Boots", "health"),
];
const FIRST_NAMES: [&str; 10] = [
    "Olivia", "Noah", "Amelia", "George", "Isla", "Arthur", "Ava", "Leo", "Mia", "Oscar",
];
const LAST_NAMES: [&str; 10] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Wright",
];
const DEVICES: [&str; 3] = [
    r#"{"device":"ios"}"#,
    r#"{"device":"android"}"#,
    r#"{"device":"web"}"#,
];
const GOALS: [&str; 4] = ["save", "budget", "debt", "invest"];

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub users: u64,
    pub seed: u64,
    /// The snapshot's `exported_at` (and `as_of`); nothing is dated after it.
    pub exported_at: DateTime<Utc>,
    /// Signups spread over this many days before `exported_at`.
    pub signup_days: i64,
    /// Worker threads; the output does not depend on it.
    pub threads: usize,
}

impl GenerateOptions {
    pub fn new(users: u64, seed: u64) -> Self {
        GenerateOptions {
            users,
            seed,
            exported_at: DateTime::parse_from_rfc3339("2026-06-30T18:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            signup_days: 540,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Rows written per table, for the closing summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerateSummary {
    pub rows: BTreeMap<String, u64>,
    pub files: usize,
    pub bytes: u64,
    pub seconds: f64,
}

impl GenerateSummary {
    pub fn total_rows(&self) -> u64 {
        self.rows.values().sum()
    }
}

/// Writes a complete snapshot to the local folder `dir` (`STORE/ID`): every table,
/// `_manifest.json`, and `_SUCCESS` last. `progress` is told the users done so far.
pub fn generate(
    dir: &Path,
    options: &GenerateOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<GenerateSummary> {
    if options.users == 0 {
        return Err(Error::invalid("--users", "must be at least 1"));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir.display(), e))?
            .next()
            .is_some()
    {
        return Err(Error::invalid(
            "--out",
            format!(
                "'{}' already exists and is not empty; choose a new snapshot folder",
                dir.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    let started = Instant::now();
    let chunks = options.users.div_ceil(CHUNK_USERS) as usize;
    let next = AtomicUsize::new(0);
    let mut writer = SnapshotWriter::new(dir)?;

    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = mpsc::sync_channel::<(usize, Chunk)>(2);
        for _ in 0..options.threads.max(1) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= chunks {
                        break;
                    }
                    if tx.send((index, Chunk::build(options, index))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut expected = 0;
        let mut users_done = 0;
        for (index, chunk) in rx {
            pending.insert(index, chunk);
            while let Some(chunk) = pending.remove(&expected) {
                users_done += chunk.users;
                writer.write(chunk)?;
                progress(users_done);
                expected += 1;
            }
        }
        Ok(())
    })?;

    let mut summary = writer.finish()?;
    let manifest = serde_json::json!({
        "exported_at": options.exported_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "generator": {"tool": "snapmetrics generate", "version": env!("CARGO_PKG_VERSION"), "users": options.users, "seed": options.seed},
        "rows": summary.rows,
    });
    let manifest = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::invalid("manifest", e.to_string()))?;
    write_file(&dir.join(crate::source::snapshot::MANIFEST_FILE), &manifest)?;
    write_file(&dir.join(crate::source::snapshot::SUCCESS_MARKER), b"")?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path.display(), e))
}

/// One chunk of users and everything they did, ids not yet assigned.
struct Chunk {
    users: u64,
    users_batch: RecordBatch,
    pii: RecordBatch,
    tokens: RecordBatch,
    onboarding: RecordBatch,
    /// Legacy and l1 columns share everything but the user key and date name.
    transactions: RecordBatch,
    transaction_tokens: ArrayRef,
    /// `YYYY-MM` -> events of that month (without `id`).
    events: BTreeMap<String, RecordBatch>,
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

fn pick<'a, T>(rng: &mut Pcg64Mcg, weighted: &'a [(T, u32)]) -> &'a T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (value, weight) in weighted {
        if roll < *weight {
            return value;
        }
        roll -= weight;
    }
    &weighted[0].0
}

/// An exponential draw with the given mean.
fn exp(rng: &mut Pcg64Mcg, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// The stable token of a user (splitmix64 of seed and id).
pub fn token(seed: u64, user_id: i64) -> String {
    let mut z = seed ^ (user_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("tok_{:016x}", z ^ (z >> 31))
}

#[derive(Default)]
struct EventColumns {
    user_id: Int64Builder,
    event_type: StringBuilder,
    timestamp: TimestampMicrosecondBuilder,
    metadata: StringBuilder,
}

impl Chunk {
    fn build(options: &GenerateOptions, index: usize) -> Chunk {
        let mut rng = Pcg64Mcg::seed_from_u64(
            options.seed ^ (index as u64).wrapping_mul(0xA076_1D64_78BD_642F),
        );
        let first = index as u64 * CHUNK_USERS;
        let count = CHUNK_USERS.min(options.users - first);
        let end = options.exported_at;
        let span = TimeDelta::days(options.signup_days);
        let start = end - span;
        let utc = Some(Arc::<str>::from("UTC"));

        let mut user_id = Int64Builder::new();
        let mut email = StringBuilder::new();
        let mut password = StringBuilder::new();
        let mut display = StringBuilder::new();
        let mut attempts = Int32Builder::new();
        let mut created = TimestampMicrosecondBuilder::new().with_timezone_opt(utc.clone());
        let mut active = BooleanBuilder::new();

        let mut pii_id = Int64Builder::new();
        let mut first_name = StringBuilder::new();
        let mut last_name = StringBuilder::new();
        let mut birth = Date32Builder::new();

        let mut token_user = Int64Builder::new();
        let mut token_value = StringBuilder::new();

        let mut ob_user = Int64Builder::new();
        let mut ob_started = TimestampMicrosecondBuilder::new().with_timezone_opt(utc.clone());
        let mut ob_total = Int32Builder::new();
        let mut ob_last = Int32Builder::new();
        let mut ob_completed = TimestampMicrosecondBuilder::new().with_timezone_opt(utc.clone());
        let mut ob_responses = StringBuilder::new();
        let mut ob_updated = TimestampMicrosecondBuilder::new().with_timezone_opt(utc.clone());

        let mut tx_user = Int64Builder::new();
        let mut tx_token = StringBuilder::new();
        let mut tx_date = Date32Builder::new();
        let mut tx_description = StringBuilder::new();
        let mut tx_merchant = StringBuilder::new();
        let mut tx_amount = Decimal128Builder::new();
        let mut tx_cashflow = StringBuilder::new();
        let mut tx_account = StringBuilder::new();
        let mut tx_category = StringBuilder::new();
        let mut tx_label = StringBuilder::new();
        let mut tx_created = TimestampMicrosecondBuilder::new().with_timezone_opt(utc.clone());
        let mut tx_session = StringBuilder::new();

        let mut events: BTreeMap<String, EventColumns> = BTreeMap::new();
        let mut times: Vec<DateTime<Utc>> = Vec::new();

        for offset in 0..count {
            let global = first + offset;
            let id = global as i64 + 1;
            // Signups grow over time: density rises linearly towards the export.
            let position = ((global as f64 + rng.random::<f64>()) / options.users as f64).sqrt();
            let signup = start + TimeDelta::seconds((span.num_seconds() as f64 * position) as i64);
            let signup = signup.min(end - TimeDelta::minutes(1));

            user_id.append_value(id);
            email.append_value(format!("user{id}@example.com"));
            password.append_value(format!(
                "$argon2id$v=19$m=65536,t=3,p=4${:016x}",
                rng.random::<u64>()
            ));
            if rng.random_bool(0.7) {
                display.append_value(format!(
                    "{} {}",
                    FIRST_NAMES[rng.random_range(0..10)],
                    &LAST_NAMES[rng.random_range(0..10)][..1]
                ));
            } else {
                display.append_null();
            }
            attempts.append_value(rng.random_range(0..4));
            created.append_value(micros(signup));
            match rng.random_range(0..100) {
                0..88 => active.append_value(true),
                88..95 => active.append_value(false),
                _ => active.append_null(),
            }

            pii_id.append_value(id);
            first_name.append_value(FIRST_NAMES[rng.random_range(0..10)]);
            last_name.append_value(LAST_NAMES[rng.random_range(0..10)]);
            birth.append_value(
                days_since_epoch(NaiveDate::from_ymd_opt(1960, 1, 1).unwrap_or_default())
                    + rng.random_range(0..16_000),
            );

            let user_token = token(options.seed, id);
            token_user.append_value(id);
            token_value.append_value(&user_token);

            // Onboarding: most start; each step loses some; newer signups have 8 steps.
            if rng.random_bool(0.85) {
                let started = signup + TimeDelta::seconds(exp(&mut rng, 1800.0) as i64 + 5);
                let total: i32 = if position > 0.5 { 8 } else { 6 };
                let mut last = 0;
                while last < total && rng.random_bool(0.9 - 0.03 * f64::from(last)) {
                    last += 1;
                }
                let completed = (last == total).then(|| {
                    started + TimeDelta::seconds(exp(&mut rng, 20.0 * 3600.0) as i64 + 60)
                });
                let completed = completed.filter(|c| *c <= end);
                let last = if completed.is_none() && last == total {
                    total - 1
                } else {
                    last
                };
                ob_user.append_value(id);
                ob_started.append_value(micros(started.min(end)));
                ob_total.append_value(total);
                ob_last.append_value(last);
                ob_completed.append_option(completed.map(micros));
                ob_responses.append_value(format!(
                    r#"{{"goal":"{}","income_band":{}}}"#,
                    GOALS[rng.random_range(0..4)],
                    rng.random_range(1..6)
                ));
                ob_updated.append_value(micros(completed.unwrap_or(started).min(end)));
            }

            // Activity: a churn horizon per user; events cluster early in it.
            let loyal = rng.random_bool(0.2);
            let horizon = TimeDelta::seconds(
                (exp(&mut rng, if loyal { 300.0 } else { 40.0 }) * 86_400.0) as i64 + 3600,
            );
            let window = horizon.min(end - signup);
            let n_events = 1 + exp(&mut rng, 99.0) as usize;
            times.clear();
            times.push(signup + TimeDelta::seconds(rng.random_range(10..600)));
            for _ in 1..n_events {
                let u: f64 = rng.random();
                times.push(
                    signup + TimeDelta::seconds((window.num_seconds() as f64 * u.powf(1.6)) as i64),
                );
            }
            times.sort();
            for (k, at) in times.iter().enumerate() {
                let month = format!("{:04}-{:02}", at.year(), at.month());
                let columns = events.entry(month).or_default();
                columns.user_id.append_value(id);
                columns.event_type.append_value(if k == 0 {
                    "login"
                } else {
                    pick(&mut rng, &EVENT_TYPES)
                });
                columns.timestamp.append_value(micros(*at));
                if rng.random_bool(0.3) {
                    columns
                        .metadata
                        .append_value(DEVICES[rng.random_range(0..3)]);
                } else {
                    columns.metadata.append_null();
                }
            }

            // Statements: 0-3 uploads, each ~13 transactions from the 60 days before it.
            let uploads = *pick(&mut rng, &[(0u32, 20), (1, 30), (2, 30), (3, 20)]);
            let bank = *pick(&mut rng, &BANKS);
            for k in 0..uploads {
                let uploaded = signup
                    + TimeDelta::seconds(
                        (window.num_seconds() as f64 * rng.random::<f64>()) as i64 + 60,
                    );
                let uploaded = uploaded.min(end);
                let account = if rng.random_bool(0.8) {
                    bank
                } else {
                    *pick(&mut rng, &BANKS)
                };
                let session = format!("ups-{id:08}-{k}");
                let rows = rng.random_range(6..=20);
                for _ in 0..rows {
                    let (merchant, category) = MERCHANTS[rng.random_range(0..MERCHANTS.len())];
                    let inflow = rng.random_bool(0.25);
                    let date = (uploaded - TimeDelta::days(rng.random_range(0..60))).date_naive();
                    tx_user.append_value(id);
                    tx_token.append_value(&user_token);
                    tx_date.append_value(days_since_epoch(date));
                    tx_description.append_value(if inflow {
                        format!(
                            "TRANSFER FROM {}",
                            LAST_NAMES[rng.random_range(0..10)].to_uppercase()
                        )
                    } else {
                        format!("CARD PAYMENT TO {}", merchant.to_uppercase())
                    });
                    if inflow {
                        tx_merchant.append_null()
                    } else {
                        tx_merchant.append_value(merchant)
                    }
                    tx_amount.append_value((exp(&mut rng, 35.0) * 100.0) as i128 + 1);
                    tx_cashflow.append_value(if inflow { "in" } else { "out" });
                    tx_account.append_value(account);
                    if inflow {
                        tx_category.append_value("income")
                    } else {
                        tx_category.append_value(category)
                    }
                    if rng.random_bool(0.1) {
                        tx_label.append_value("reviewed")
                    } else {
                        tx_label.append_null()
                    }
                    tx_created.append_value(micros(uploaded));
                    tx_session.append_value(&session);
                }
            }
        }

        let batch = |fields: Vec<Field>, columns: Vec<ArrayRef>| {
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
                .expect("generator builds consistent batches")
        };
        let ts = timestamp_utc;
        let users_batch = batch(
            vec![
                Field::new("id", DataType::Int64, false),
                Field::new("email", DataType::Utf8, false),
                Field::new("password_hash", DataType::Utf8, false),
                Field::new("display_name", DataType::Utf8, true),
                Field::new("login_attempts", DataType::Int32, false),
                Field::new("created_at", ts(), false),
                Field::new("is_active", DataType::Boolean, true),
            ],
            vec![
                Arc::new(user_id.finish()),
                Arc::new(email.finish()),
                Arc::new(password.finish()),
                Arc::new(display.finish()),
                Arc::new(attempts.finish()),
                Arc::new(created.finish()),
                Arc::new(active.finish()),
            ],
        );
        let pii = batch(
            vec![
                Field::new("internal_user_id", DataType::Int64, false),
                Field::new("first_name", DataType::Utf8, false),
                Field::new("last_name", DataType::Utf8, false),
                Field::new("date_of_birth", DataType::Date32, true),
            ],
            vec![
                Arc::new(pii_id.finish()),
                Arc::new(first_name.finish()),
                Arc::new(last_name.finish()),
                Arc::new(birth.finish()),
            ],
        );
        let tokens = batch(
            vec![
                Field::new("internal_user_id", DataType::Int64, false),
                Field::new("tokenized_user_id", DataType::Utf8, false),
            ],
            vec![
                Arc::new(token_user.finish()),
                Arc::new(token_value.finish()),
            ],
        );
        let onboarding = batch(
            vec![
                Field::new("user_id", DataType::Int64, false),
                Field::new("started_at", ts(), false),
                Field::new("total_steps", DataType::Int32, false),
                Field::new("last_step_completed", DataType::Int32, false),
                Field::new("completed_at", ts(), true),
                Field::new("responses", DataType::Utf8, true),
                Field::new("updated_at", ts(), false),
            ],
            vec![
                Arc::new(ob_user.finish()),
                Arc::new(ob_started.finish()),
                Arc::new(ob_total.finish()),
                Arc::new(ob_last.finish()),
                Arc::new(ob_completed.finish()),
                Arc::new(ob_responses.finish()),
                Arc::new(ob_updated.finish()),
            ],
        );
        let transactions = batch(
            vec![
                Field::new("user_id", DataType::Int64, false),
                Field::new("date", DataType::Date32, false),
                Field::new("description", DataType::Utf8, false),
                Field::new("merchant", DataType::Utf8, true),
                Field::new("amount", DataType::Decimal128(18, 2), false),
                Field::new("cashflow", DataType::Utf8, false),
                Field::new("account", DataType::Utf8, true),
                Field::new("category", DataType::Utf8, true),
                Field::new("label", DataType::Utf8, true),
                Field::new("created_at", ts(), false),
                Field::new("upload_session_id", DataType::Utf8, true),
            ],
            vec![
                Arc::new(tx_user.finish()),
                Arc::new(tx_date.finish()),
                Arc::new(tx_description.finish()),
                Arc::new(tx_merchant.finish()),
                Arc::new(
                    tx_amount
                        .finish()
                        .with_precision_and_scale(18, 2)
                        .expect("valid decimal type"),
                ),
                Arc::new(tx_cashflow.finish()),
                Arc::new(tx_account.finish()),
                Arc::new(tx_category.finish()),
                Arc::new(tx_label.finish()),
                Arc::new(tx_created.finish()),
                Arc::new(tx_session.finish()),
            ],
        );
        let events = events
            .into_iter()
            .map(|(month, mut c)| {
                let b = batch(
                    vec![
                        Field::new("user_id", DataType::Int64, false),
                        Field::new("event_type", DataType::Utf8, false),
                        Field::new("event_timestamp", ts(), false),
                        Field::new("metadata", DataType::Utf8, true),
                    ],
                    vec![
                        Arc::new(c.user_id.finish()),
                        Arc::new(c.event_type.finish()),
                        Arc::new(c.timestamp.with_timezone_opt(utc.clone()).finish()),
                        Arc::new(c.metadata.finish()),
                    ],
                );
                (month, b)
            })
            .collect();
        Chunk {
            users: count,
            users_batch,
            pii,
            tokens,
            onboarding,
            transactions,
            transaction_tokens: Arc::new(tx_token.finish()),
            events,
        }
    }
}

/// Parquet writers for every table, open for the whole run.
struct SnapshotWriter {
    dir: PathBuf,
    writers: BTreeMap<String, (PathBuf, ArrowWriter<File>)>,
    next_id: BTreeMap<&'static str, i64>,
    rows: BTreeMap<String, u64>,
}

impl SnapshotWriter {
    fn new(dir: &Path) -> Result<Self> {
        Ok(SnapshotWriter {
            dir: dir.to_path_buf(),
            writers: BTreeMap::new(),
            next_id: BTreeMap::new(),
            rows: BTreeMap::new(),
        })
    }

    /// Prepends a sequential `id` column (per id space) to `batch`.
    fn with_ids(&mut self, space: &'static str, batch: &RecordBatch) -> RecordBatch {
        let next = self.next_id.entry(space).or_insert(1);
        let ids = Int64Array::from_iter_values(*next..*next + batch.num_rows() as i64);
        *next += batch.num_rows() as i64;
        let mut fields = vec![Arc::new(Field::new("id", DataType::Int64, false))];
        fields.extend(batch.schema().fields().iter().cloned());
        let mut columns: Vec<ArrayRef> = vec![Arc::new(ids)];
        columns.extend(batch.columns().iter().cloned());
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .expect("id column matches batch length")
    }

    fn append(&mut self, table: &str, file: &str, batch: &RecordBatch) -> Result<()> {
        let key = format!("{table}/{file}");
        if !self.writers.contains_key(&key) {
            let path = self.dir.join(table).join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
            }
            let out = File::create(&path).map_err(|e| Error::io(path.display(), e))?;
            let writer = ArrowWriter::try_new(out, batch.schema(), Some(properties()))
                .map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?;
            self.writers.insert(key.clone(), (path, writer));
        }
        let (path, writer) = self.writers.get_mut(&key).expect("inserted above");
        writer
            .write(batch)
            .map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?;
        *self.rows.entry(table.to_string()).or_default() += batch.num_rows() as u64;
        Ok(())
    }

    fn write(&mut self, chunk: Chunk) -> Result<()> {
        self.append("users", "part-00000.parquet", &chunk.users_batch)?;
        self.append("l0_pii_users", "part-00000.parquet", &chunk.pii)?;
        self.append("l0_user_tokenization", "part-00000.parquet", &chunk.tokens)?;
        let onboarding = self.with_ids("onboarding", &chunk.onboarding);
        self.append("onboarding_responses", "part-00000.parquet", &onboarding)?;

        let legacy = self.with_ids("transactions", &chunk.transactions);
        self.append("transactions", "part-00000.parquet", &legacy)?;
        let l1 = l1_facts(&legacy, chunk.transaction_tokens.clone());
        self.append("l1_transaction_facts", "part-00000.parquet", &l1)?;

        for (month, events) in &chunk.events {
            let events = self.with_ids("user_events", events);
            self.append(
                "user_events",
                &format!("month={month}/part-00000.parquet"),
                &events,
            )?;
        }
        Ok(())
    }

    fn finish(self) -> Result<GenerateSummary> {
        let mut bytes = 0;
        let files = self.writers.len();
        for (_, (path, writer)) in self.writers {
            writer
                .close()
                .map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?;
            bytes += std::fs::metadata(&path)
                .map_err(|e| Error::io(path.display(), e))?
                .len();
        }
        Ok(GenerateSummary {
            rows: self.rows,
            files,
            bytes,
            seconds: 0.0,
        })
    }
}

/// The analytics-layer copy of legacy rows: token instead of user id, renamed date.
fn l1_facts(legacy: &RecordBatch, tokens: ArrayRef) -> RecordBatch {
    let schema: SchemaRef = legacy.schema();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in schema.fields().iter().zip(legacy.columns()) {
        match field.name().as_str() {
            "user_id" => {
                fields.push(Field::new("tokenized_user_id", DataType::Utf8, false));
                columns.push(tokens.clone());
            }
            "date" => {
                fields.push(Field::new("transaction_date", DataType::Date32, false));
                columns.push(column.clone());
            }
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("same length as legacy")
}

fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(256 * 1024))
        .build()
}
