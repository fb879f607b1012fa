//! `export`: one snapshot (SPEC §1 layout, §2 canonical types) written from the
//! application's PostgreSQL database with binary `COPY (SELECT <listed columns>) TO
//! STDOUT`. One `REPEATABLE READ READ ONLY` transaction fixes the snapshot and exports it
//! (`pg_export_snapshot()`); `jobs` reader connections import it, as `pg_dump --jobs`
//! does, and take the tables largest first, so every table is read as of one instant.
//!
//! The files go through the store's `object_store` (local folder or S3 alike) as they
//! are encoded, so memory holds one batch and one row group per reader, whatever the
//! table's size. `_SUCCESS` is written last; a failed export removes what it wrote.

pub mod connect;
mod decode;
mod plan;
mod tls;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::binary_copy::BinaryCopyOutStream;
use tokio_postgres::{IsolationLevel, Transaction};

pub use connect::Database;
use decode::{Batch, Raw, key_of};
use plan::{SourceColumn, TablePlan};

use crate::error::{Error, Result};
use crate::source::schema::{self, TableSpec};
use crate::source::snapshot::MANIFEST_FILE;
use crate::source::store::Store;

/// Rows decoded before they are handed to the Parquet writer.
const BATCH_ROWS: usize = 64 * 1024;

/// What an export does beyond reading every table.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The snapshot id; default: the transaction's start as `YYYY-MM-DDTHHMMSSZ`.
    pub id: Option<String>,
    /// Export `users.email` and `l0_pii_users`.
    pub include_pii: bool,
    /// Rows per Parquet file before the next file is started.
    pub rows_per_file: usize,
    /// Rows per row group (statistics and pruning are per row group).
    pub row_group_rows: usize,
    /// Connections reading tables at once, each one more backend on the server.
    pub jobs: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            id: None,
            include_pii: false,
            rows_per_file: 8 * 1024 * 1024,
            row_group_rows: 1024 * 1024,
            jobs: 2,
        }
    }
}

/// Where an export is: told when a table is started (no rows yet), after every batch,
/// and when it is done; tables being read at once interleave.
#[derive(Debug, Clone)]
pub struct Progress {
    pub table: &'static str,
    pub rows: u64,
    pub done: bool,
}

/// One exported table.
#[derive(Debug, Clone)]
pub struct TableSummary {
    pub table: &'static str,
    pub rows: u64,
    pub files: usize,
    pub seconds: f64,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub id: String,
    pub exported_at: String,
    pub include_pii: bool,
    pub tables: Vec<TableSummary>,
}

/// Exports `database` as a new snapshot of `store`; `progress` is told how far each
/// table has got.
pub async fn export(
    database: &Database,
    store: &Store,
    options: &ExportOptions,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<ExportSummary> {
    let mut client = database.connect().await?;
    let failed = |e: tokio_postgres::Error| database_error(database, None, &e);
    let transaction = read_only(&mut client).await.map_err(failed)?;
    // The first statement fixes the transaction's snapshot; now() is its start. The
    // snapshot stays importable while this transaction is open.
    let row = transaction
        .query_one("SELECT now(), pg_catalog.pg_export_snapshot()", &[])
        .await
        .map_err(failed)?;
    let started = row.try_get::<_, Raw>(0).map_err(failed).and_then(|raw| {
        decode::timestamp(raw.0).map_err(|reason| Error::Database {
            database: database.name().to_string(),
            reason,
        })
    })?;
    let snapshot: String = row.try_get(1).map_err(failed)?;
    let exported_at = chrono::DateTime::from_timestamp_micros(started).unwrap_or_default();
    let id = match &options.id {
        Some(id) => id.clone(),
        None => exported_at.format("%Y-%m-%dT%H%M%SZ").to_string(),
    };
    check_new(store, &id).await?;
    let plans = plan_tables(database, &transaction, options.include_pii).await?;

    let written = async {
        let tables = read_tables(database, &snapshot, plans, store, &id, options, progress).await?;
        let summary = ExportSummary {
            id: id.clone(),
            exported_at: exported_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            include_pii: options.include_pii,
            tables,
        };
        let manifest = manifest(&summary, database);
        put(store, &id, MANIFEST_FILE, manifest.into_bytes()).await?;
        put(store, &id, "_SUCCESS", Vec::new()).await?;
        Ok::<_, Error>(summary)
    }
    .await;
    match written {
        Ok(summary) => {
            // A read-only transaction has nothing to commit; ending it is courtesy.
            let _ = transaction.commit().await;
            Ok(summary)
        }
        Err(e) => Err(remove_written(store, &id, e).await),
    }
}

/// Reads every planned table on `options.jobs` connections that import `snapshot`, each
/// taking the largest table left; the summaries come back in plan order. The first
/// failure stops the other readers before it is returned, so nothing is written after.
async fn read_tables(
    database: &Database,
    snapshot: &str,
    plans: Vec<Planned>,
    store: &Store,
    id: &str,
    options: &ExportOptions,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Vec<TableSummary>> {
    // Only a server-made id is ever spliced into SET TRANSACTION SNAPSHOT, which takes
    // no parameters.
    if snapshot.is_empty() || !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::Database {
            database: database.name().to_string(),
            reason: format!("pg_export_snapshot() gave '{snapshot}', not a snapshot id"),
        });
    }
    let count = plans.len();
    let mut queue: Vec<(usize, TablePlan, i64)> = plans
        .into_iter()
        .enumerate()
        .map(|(i, planned)| (i, planned.plan, planned.bytes))
        .collect();
    queue.sort_by_key(|&(i, _, bytes)| (std::cmp::Reverse(bytes), i));
    let queue: Arc<Mutex<VecDeque<(usize, TablePlan)>>> = Arc::new(Mutex::new(
        queue.into_iter().map(|(i, plan, _)| (i, plan)).collect(),
    ));
    let (told, mut tell) = mpsc::unbounded_channel();
    let mut readers = JoinSet::new();
    for _ in 0..options.jobs.clamp(1, count.max(1)) {
        readers.spawn(reader(
            database.clone(),
            snapshot.to_string(),
            queue.clone(),
            store.clone(),
            id.to_string(),
            options.clone(),
            told.clone(),
        ));
    }
    drop(told);
    let mut tables: Vec<Option<TableSummary>> = vec![None; count];
    let mut failure = None;
    loop {
        tokio::select! {
            Some(p) = tell.recv() => progress(&p),
            joined = readers.join_next() => match joined {
                None => break,
                Some(Ok(Ok(read))) => {
                    for (i, summary) in read {
                        tables[i] = Some(summary);
                    }
                }
                Some(Ok(Err(e))) => {
                    failure = Some(e);
                    break;
                }
                Some(Err(e)) => {
                    failure = Some(Error::Internal {
                        context: format!("database '{}'", database.name()),
                        reason: format!("a reader stopped: {e}"),
                    });
                    break;
                }
            },
        }
    }
    if let Some(e) = failure {
        readers.shutdown().await;
        return Err(e);
    }
    while let Ok(p) = tell.try_recv() {
        progress(&p);
    }
    tables
        .into_iter()
        .map(|t| {
            t.ok_or_else(|| Error::Internal {
                context: format!("database '{}'", database.name()),
                reason: "a planned table was not read".to_string(),
            })
        })
        .collect()
}

/// One reader connection: imports the exporting transaction's snapshot, then exports
/// tables from the shared queue until it is empty.
async fn reader(
    database: Database,
    snapshot: String,
    queue: Arc<Mutex<VecDeque<(usize, TablePlan)>>>,
    store: Store,
    id: String,
    options: ExportOptions,
    told: mpsc::UnboundedSender<Progress>,
) -> Result<Vec<(usize, TableSummary)>> {
    let mut client = database.connect().await?;
    let failed = |e: tokio_postgres::Error| database_error(&database, None, &e);
    let transaction = read_only(&mut client).await.map_err(failed)?;
    transaction
        .batch_execute(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
        .await
        .map_err(failed)?;
    let tell = |p: &Progress| {
        let _ = told.send(p.clone());
    };
    let mut read = Vec::new();
    loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let Some((i, plan)) = next else { break };
        let summary =
            export_table(&database, &transaction, &plan, &store, &id, &options, &tell).await?;
        read.push((i, summary));
    }
    let _ = transaction.commit().await;
    Ok(read)
}

/// Refuses an id the store already has anything under.
/// A `REPEATABLE READ READ ONLY` transaction: every statement in it sees one snapshot.
async fn read_only(
    client: &mut tokio_postgres::Client,
) -> std::result::Result<Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}

async fn check_new(store: &Store, id: &str) -> Result<()> {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Err(Error::invalid(
            "snapshot id",
            format!("'{id}' is not a snapshot id (a folder name, e.g. 2026-06-30)"),
        ));
    }
    let prefix = store.child([id]);
    let mut listing = store.object_store().list(Some(&prefix));
    match listing.next().await {
        None => Ok(()),
        Some(Err(e)) => Err(store.error(e)),
        Some(Ok(_)) => Err(Error::invalid(
            "snapshot id",
            format!(
                "store '{}' already has a snapshot '{id}'; choose another id, or remove it first",
                store.location()
            ),
        )),
    }
}

/// A table to export, with its size on disk, which decides the order readers take it in.
struct Planned {
    plan: TablePlan,
    bytes: i64,
}

/// The tables of SPEC §2 the database has, planned; a missing required one is an error.
async fn plan_tables(
    database: &Database,
    transaction: &Transaction<'_>,
    include_pii: bool,
) -> Result<Vec<Planned>> {
    // pg_catalog, not information_schema: the latter hides tables the user may not read,
    // which would turn "permission denied" into a misleading "missing table".
    let rows = transaction
        .query(
            "SELECT c.relname::text, a.attname::text, t.typname::text,
                    CASE WHEN c.relkind IN ('r', 'm')
                         THEN pg_catalog.pg_relation_size(c.oid) ELSE 0 END::int8
             FROM pg_catalog.pg_attribute a
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
             WHERE n.nspname = current_schema()
               AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY c.relname, a.attnum",
            &[],
        )
        .await
        .map_err(|e| database_error(database, None, &e))?;
    let mut found: BTreeMap<String, Vec<SourceColumn>> = BTreeMap::new();
    let mut sizes: BTreeMap<String, i64> = BTreeMap::new();
    for row in rows {
        let text = |i| {
            row.try_get::<_, String>(i)
                .map_err(|e| database_error(database, None, &e))
        };
        let table = text(0)?;
        let bytes = row
            .try_get::<_, i64>(3)
            .map_err(|e| database_error(database, None, &e))?;
        sizes.insert(table.clone(), bytes);
        found.entry(table).or_default().push(SourceColumn {
            name: text(1)?,
            udt: text(2)?,
        });
    }
    let has = |spec: &TableSpec| found.contains_key(spec.name);
    let missing = |table: &str| Error::Database {
        database: database.name().to_string(),
        reason: format!(
            "has no table '{table}' in schema current_schema() (a table every snapshot needs); set search_path, or export from the database that has it"
        ),
    };
    for required in [
        &schema::USERS,
        &schema::USER_EVENTS,
        &schema::ONBOARDING_RESPONSES,
    ] {
        if !has(required) {
            return Err(missing(required.name));
        }
    }
    let analytics = has(&schema::L1_TRANSACTION_FACTS) && has(&schema::L0_USER_TOKENIZATION);
    if !analytics && !has(&schema::TRANSACTIONS) {
        return Err(missing("transactions"));
    }
    schema::ALL
        .into_iter()
        .filter(|spec| has(spec))
        .filter(|spec| include_pii || !schema::is_pii_table(spec.name))
        .map(|spec| {
            let plan = TablePlan::new(spec, &found[spec.name], include_pii).map_err(|problem| {
                Error::Database {
                    database: database.name().to_string(),
                    reason: format!("table '{}' {problem}", spec.name),
                }
            })?;
            Ok(Planned {
                plan,
                bytes: sizes.get(spec.name).copied().unwrap_or(0),
            })
        })
        .collect()
}

fn properties(options: &ExportOptions) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(options.row_group_rows))
        .build()
}

async fn export_table(
    database: &Database,
    transaction: &Transaction<'_>,
    plan: &TablePlan,
    store: &Store,
    id: &str,
    options: &ExportOptions,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<TableSummary> {
    let started = Instant::now();
    let table = plan.table;
    let failed = |e: tokio_postgres::Error| database_error(database, Some(table), &e);
    progress(&Progress {
        table,
        rows: 0,
        done: false,
    });
    let copy = transaction
        .copy_out(&plan.copy_statement())
        .await
        .map_err(failed)?;
    let rows = BinaryCopyOutStream::new(copy, &plan.wire_types());
    futures::pin_mut!(rows);
    let mut batch = Batch::new(plan, BATCH_ROWS);
    let mut file = FileRoller::new(store, id, plan, properties(options), options.rows_per_file);
    let key = plan.row_key();
    let mut total = 0u64;
    while let Some(row) = rows.next().await {
        let row = row.map_err(failed)?;
        let values = (0..plan.columns.len())
            .map(|i| row.try_get::<Option<Raw>>(i))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(failed)?;
        batch.push(&values).map_err(|(column, problem)| {
            let row = key_of(&values, key).map_or(String::new(), |k| format!(", row id {k}"));
            Error::Database {
                database: database.name().to_string(),
                reason: format!(
                    "table '{table}', column '{}'{row}: {problem}",
                    plan.columns[column].name
                ),
            }
        })?;
        total += 1;
        if batch.rows() == BATCH_ROWS {
            file.write(batch.finish()).await?;
            progress(&Progress {
                table,
                rows: total,
                done: false,
            });
        }
    }
    if batch.rows() > 0 || file.files == 0 {
        file.write(batch.finish()).await?;
    }
    let files = file.close().await?;
    progress(&Progress {
        table,
        rows: total,
        done: true,
    });
    Ok(TableSummary {
        table,
        rows: total,
        files,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes a table's batches into `part-NNNNN.parquet` files of at most `rows_per_file`
/// rows, each streamed to the store as it is encoded.
struct FileRoller<'a> {
    store: &'a Store,
    id: &'a str,
    plan: &'a TablePlan,
    properties: WriterProperties,
    rows_per_file: usize,
    current: Option<(AsyncArrowWriter<BufWriter>, usize)>,
    files: usize,
}

impl<'a> FileRoller<'a> {
    fn new(
        store: &'a Store,
        id: &'a str,
        plan: &'a TablePlan,
        properties: WriterProperties,
        rows_per_file: usize,
    ) -> Self {
        FileRoller {
            store,
            id,
            plan,
            properties,
            rows_per_file: rows_per_file.max(1),
            current: None,
            files: 0,
        }
    }

    fn file_name(&self, n: usize) -> String {
        format!("part-{n:05}.parquet")
    }

    fn error(&self, e: impl std::fmt::Display) -> Error {
        Error::Internal {
            context: format!(
                "writing {}/{}/{}",
                self.id,
                self.plan.table,
                self.file_name(self.files.saturating_sub(1))
            ),
            reason: e.to_string(),
        }
    }

    /// Starts the next file.
    fn open_file(&mut self) -> Result<AsyncArrowWriter<BufWriter>> {
        let path = self
            .store
            .child([self.id, self.plan.table, &self.file_name(self.files)]);
        self.files += 1;
        let sink = BufWriter::new(self.store.object_store().clone(), path);
        AsyncArrowWriter::try_new(sink, self.plan.schema(), Some(self.properties.clone()))
            .map_err(|e| self.error(e))
    }

    async fn write(&mut self, mut batch: datafusion::arrow::array::RecordBatch) -> Result<()> {
        loop {
            let (mut writer, mut rows) = match self.current.take() {
                Some(current) => current,
                None => (self.open_file()?, 0),
            };
            let now = batch.slice(0, (self.rows_per_file - rows).min(batch.num_rows()));
            rows += now.num_rows();
            writer.write(&now).await.map_err(|e| self.error(e))?;
            if rows == self.rows_per_file {
                writer.close().await.map_err(|e| self.error(e))?;
            } else {
                self.current = Some((writer, rows));
            }
            if now.num_rows() == batch.num_rows() {
                return Ok(());
            }
            batch = batch.slice(now.num_rows(), batch.num_rows() - now.num_rows());
        }
    }

    async fn finish_file(&mut self) -> Result<()> {
        if let Some((writer, _)) = self.current.take() {
            writer.close().await.map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    async fn close(mut self) -> Result<usize> {
        self.finish_file().await?;
        Ok(self.files)
    }
}

fn manifest(summary: &ExportSummary, database: &Database) -> String {
    let tables: BTreeMap<&str, serde_json::Value> = summary
        .tables
        .iter()
        .map(|t| {
            (
                t.table,
                serde_json::json!({ "rows": t.rows, "files": t.files }),
            )
        })
        .collect();
    let value = serde_json::json!({
        "exported_at": summary.exported_at,
        "exporter": { "name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION") },
        "source": database.name(),
        "include_pii": summary.include_pii,
        "tables": tables,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

async fn put(store: &Store, id: &str, name: &str, bytes: Vec<u8>) -> Result<()> {
    store
        .object_store()
        .put(&store.child([id, name]), PutPayload::from(bytes))
        .await
        .map(|_| ())
        .map_err(|e| store.error(e))
}

/// Removes what a failed export wrote, and says in the error whether it could.
async fn remove_written(store: &Store, id: &str, error: Error) -> Error {
    let left = store.remove_prefix(&store.child([id])).await;
    if let Some(dir) = store.local_dir() {
        let _ = remove_empty_dirs(&dir.join(id));
    }
    match left {
        0 => error,
        n => Error::Internal {
            context: error.to_string(),
            reason: format!(
                "and {n} files it wrote under '{id}' could not be removed; that snapshot has no _SUCCESS, so no reader takes it for complete"
            ),
        },
    }
}

/// Removes the empty folders a local store keeps after its files are deleted.
fn remove_empty_dirs(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            remove_empty_dirs(&entry?.path())?;
        }
        std::fs::remove_dir(dir)?;
    }
    Ok(())
}

/// A driver error as a one-line error of the right kind: a connection that was lost or
/// ended by the server is a fault (exit 1); anything else, the database's content or the
/// connection settings (exit 2).
fn database_error(database: &Database, table: Option<&str>, e: &tokio_postgres::Error) -> Error {
    let mut reason = connect::describe(e);
    if let Some(table) = table {
        reason = format!("table '{table}': {reason}");
    }
    let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
    let lost = e.is_closed() || code.starts_with("57") || code.starts_with("08");
    if lost {
        Error::DatabaseLost {
            database: database.name().to_string(),
            reason,
        }
    } else {
        Error::Database {
            database: database.name().to_string(),
            reason,
        }
    }
}
