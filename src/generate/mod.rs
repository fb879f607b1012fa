//! Deterministic synthetic snapshots: the bundled sample, test fixtures and bench data.
//!
//! Users are cut into fixed-size chunks, each with its own seeded RNG, so the output
//! depends only on `--users` and `--seed`, never on thread count or timing. Workers build
//! Arrow batches per chunk; one writer assigns ids and writes them in chunk order.
//!
//! The [`Layout`] decides only how the rows are laid out in files (order, compression,
//! row groups), never which rows there are: both layouts of one seed give the same report.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use datafusion::arrow::array::{
    ArrayRef, AsArray, Int64Array, RecordBatch, RecordBatchReader, UInt32Array,
};
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimestampMicrosecondType};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;

use crate::error::{Error, Result};

mod rows;
use crate::source::schema::L1_TRANSACTION_FACTS;

/// Users per chunk: the unit of parallel work and of RNG seeding.
const CHUNK_USERS: u64 = 20_000;

/// Where the rows a snapshot holds sit in its files. Exports differ here, and a reader
/// must be fast on each, so benches generate both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// Rows grouped by user (in chunks of users) within each file, ZSTD, row groups of
    /// 256k rows: what the generator has always written.
    #[default]
    Generator,
    /// As an append-only table is exported: `user_events` in time order (by
    /// `event_timestamp`, then `user_id`) in each `month=YYYY-MM/` file, its ids
    /// increasing with time; Snappy and the Parquet writer's default row groups
    /// everywhere. The other tables keep the generator's row order (users are in signup
    /// order already; transactions stay grouped by user).
    AppendOnly,
}

impl Layout {
    fn properties(self) -> WriterProperties {
        match self {
            Layout::Generator => WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_max_row_group_row_count(Some(256 * 1024))
                .build(),
            Layout::AppendOnly => WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build(),
        }
    }
}

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
    pub layout: Layout,
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
            layout: Layout::default(),
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
    let mut writer = SnapshotWriter::new(dir, options.layout);

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
    let mut generator = serde_json::json!({"tool": "snapmetrics generate", "version": env!("CARGO_PKG_VERSION"), "users": options.users, "seed": options.seed});
    // Only a non-default layout is named, so the generator's own snapshots stay as they were.
    if options.layout == Layout::AppendOnly {
        generator["layout"] = "append-only".into();
    }
    let manifest = serde_json::json!({
        "exported_at": options.exported_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "generator": generator,
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

/// The stable token of a user (splitmix64 of seed and id).
pub fn token(seed: u64, user_id: i64) -> String {
    let mut z = seed ^ (user_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("tok_{:016x}", z ^ (z >> 31))
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

        let mut users = rows::Users::new();
        let mut pii = rows::PiiUsers::new();
        let mut tokens = rows::Tokens::new();
        let mut onboarding = rows::Onboarding::new();
        let mut events = rows::Events::new();
        let mut transactions = rows::Transactions::new();
        for offset in 0..count {
            let global = first + offset;
            let id = global as i64 + 1;
            // Signups grow over time: density rises linearly towards the export.
            let position = ((global as f64 + rng.random::<f64>()) / options.users as f64).sqrt();
            let signup = start + TimeDelta::seconds((span.num_seconds() as f64 * position) as i64);
            let signup = signup.min(end - TimeDelta::minutes(1));

            users.push(&mut rng, id, signup);
            pii.push(&mut rng, id);
            let token = token(options.seed, id);
            tokens.push(id, &token);
            onboarding.push(&mut rng, id, signup, position, end);
            // A churn horizon per user bounds both their events and their uploads.
            let loyal = rng.random_bool(0.2);
            let horizon = TimeDelta::seconds(
                (rows::exp(&mut rng, if loyal { 300.0 } else { 40.0 }) * 86_400.0) as i64 + 3600,
            );
            let window = horizon.min(end - signup);
            events.push(&mut rng, id, signup, window);
            transactions.push(&mut rng, id, &token, signup, window, end);
        }
        let (transactions, transaction_tokens) = transactions.finish();
        Chunk {
            users: count,
            users_batch: users.finish(),
            pii: pii.finish(),
            tokens: tokens.finish(),
            onboarding: onboarding.finish(),
            transactions,
            transaction_tokens,
            events: events.finish(),
        }
    }
}

/// Where [`Layout::AppendOnly`] keeps each month's events, in chunk order and without
/// ids, until they are sorted into the snapshot.
const RUNS_DIR: &str = ".generate-runs";

/// Parquet writers for every table, open for the whole run.
struct SnapshotWriter {
    dir: PathBuf,
    layout: Layout,
    writers: BTreeMap<String, FileWriter>,
    /// `YYYY-MM` -> the unsorted events of that month ([`Layout::AppendOnly`] only).
    runs: BTreeMap<String, FileWriter>,
    next_id: BTreeMap<&'static str, i64>,
    rows: BTreeMap<String, u64>,
}

/// A Parquet file being written, with its path for messages.
type FileWriter = (PathBuf, ArrowWriter<File>);

fn parquet_error(path: &Path, error: impl std::fmt::Display) -> Error {
    Error::invalid(path.display().to_string(), error.to_string())
}

fn open_writer(
    path: PathBuf,
    schema: Arc<Schema>,
    properties: WriterProperties,
) -> Result<FileWriter> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
    }
    let out = File::create(&path).map_err(|e| Error::io(path.display(), e))?;
    let writer =
        ArrowWriter::try_new(out, schema, Some(properties)).map_err(|e| parquet_error(&path, e))?;
    Ok((path, writer))
}

/// The writer of `key`, opened by `open` the first time it is asked for.
fn writer_for(
    writers: &mut BTreeMap<String, FileWriter>,
    key: String,
    open: impl FnOnce() -> Result<FileWriter>,
) -> Result<&mut FileWriter> {
    Ok(match writers.entry(key) {
        Entry::Occupied(entry) => entry.into_mut(),
        Entry::Vacant(entry) => entry.insert(open()?),
    })
}

fn write_batch((path, writer): &mut FileWriter, batch: &RecordBatch) -> Result<()> {
    writer.write(batch).map_err(|e| parquet_error(path, e))
}

/// Closes `writer` and returns the size of the file it wrote.
fn close((path, writer): FileWriter) -> Result<u64> {
    writer.close().map_err(|e| parquet_error(&path, e))?;
    Ok(std::fs::metadata(&path)
        .map_err(|e| Error::io(path.display(), e))?
        .len())
}

impl SnapshotWriter {
    fn new(dir: &Path, layout: Layout) -> Self {
        SnapshotWriter {
            dir: dir.to_path_buf(),
            layout,
            writers: BTreeMap::new(),
            runs: BTreeMap::new(),
            next_id: BTreeMap::new(),
            rows: BTreeMap::new(),
        }
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
        let writer = writer_for(&mut self.writers, key, || {
            open_writer(
                self.dir.join(table).join(file),
                batch.schema(),
                self.layout.properties(),
            )
        })?;
        write_batch(writer, batch)?;
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
            match self.layout {
                Layout::Generator => self.append_events(month, events)?,
                Layout::AppendOnly => {
                    let run = writer_for(&mut self.runs, month.clone(), || {
                        open_writer(
                            self.dir.join(RUNS_DIR).join(format!("{month}.parquet")),
                            events.schema(),
                            WriterProperties::builder()
                                .set_compression(Compression::UNCOMPRESSED)
                                .build(),
                        )
                    })?;
                    write_batch(run, events)?;
                }
            }
        }
        Ok(())
    }

    /// Appends `events` of `month`, numbering them on from the last event id.
    fn append_events(&mut self, month: &str, events: &RecordBatch) -> Result<()> {
        let events = self.with_ids("user_events", events);
        self.append(
            "user_events",
            &format!("month={month}/part-00000.parquet"),
            &events,
        )
    }

    /// Sorts each month's run by time (ties in chunk order) into `user_events`, months in
    /// order, so ids increase with time. A month is held in memory at a time.
    fn sort_runs(&mut self) -> Result<()> {
        const SLICE: usize = 64 * 1024;
        for (month, run) in std::mem::take(&mut self.runs) {
            let path = run.0.clone();
            close(run)?;
            let fail = |e: &dyn std::fmt::Display| parquet_error(&path, e);
            let file = File::open(&path).map_err(|e| Error::io(path.display(), e))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|builder| builder.with_batch_size(SLICE).build())
                .map_err(|e| fail(&e))?;
            let schema = reader.schema();
            let batches = reader
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| fail(&e))?;
            let events = concat_batches(&schema, &batches).map_err(|e| fail(&e))?;
            drop(batches);
            let (Some(users), Some(times)) = (
                events
                    .column_by_name("user_id")
                    .and_then(|c| c.as_primitive_opt::<Int64Type>()),
                events
                    .column_by_name("event_timestamp")
                    .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>()),
            ) else {
                return Err(fail(
                    &"the generator's events lack user_id or event_timestamp",
                ));
            };
            let mut order: Vec<u32> = (0..events.num_rows() as u32).collect();
            order.sort_by_key(|&i| (times.value(i as usize), users.value(i as usize)));
            let sorted =
                take_record_batch(&events, &UInt32Array::from(order)).map_err(|e| fail(&e))?;
            drop(events);
            for offset in (0..sorted.num_rows()).step_by(SLICE) {
                let slice = sorted.slice(offset, SLICE.min(sorted.num_rows() - offset));
                self.append_events(&month, &slice)?;
            }
            std::fs::remove_file(&path).map_err(|e| Error::io(path.display(), e))?;
        }
        let runs = self.dir.join(RUNS_DIR);
        if runs.exists() {
            std::fs::remove_dir(&runs).map_err(|e| Error::io(runs.display(), e))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<GenerateSummary> {
        self.sort_runs()?;
        let files = self.writers.len();
        let mut bytes = 0;
        for (_, writer) in self.writers {
            bytes += close(writer)?;
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
    let schema = legacy.schema();
    let columns = schema
        .fields()
        .iter()
        .zip(legacy.columns())
        .map(|(field, column)| match field.name().as_str() {
            "user_id" => tokens.clone(),
            _ => column.clone(),
        })
        .collect();
    RecordBatch::try_new(L1_TRANSACTION_FACTS.arrow_schema(&[]), columns)
        .expect("the analytics copy has the legacy table's columns")
}
