//! The nightly report: every metric as CSV (plus optional Parquet/JSON copies) and a
//! manifest that pins inputs, queries and outputs, published all together or not at all.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::session::{Filters, Session, TransactionsSource};
use crate::error::{Error, Result};
use crate::metrics::METRICS;
use crate::output::publish::{Destination, publish};
use crate::output::{self, Format};
use crate::source::snapshot::relative_parts;

/// Extra copies a report can carry besides its CSV files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Csv,
    Parquet,
    Json,
    /// `report.html`: the metrics as one self-contained page for people.
    Html,
}

/// What a report run wrote: file name and SHA-256, in write order.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub files: Vec<OutputFile>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputFile {
    pub file: String,
    pub rows: usize,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
struct Manifest<'a> {
    tool: Tool,
    snapshot: SnapshotFacts<'a>,
    settings: Settings<'a>,
    filters: &'a Filters,
    inputs: Vec<InputFile>,
    queries: Vec<QueryHash>,
    outputs: &'a [OutputFile],
}

#[derive(Debug, Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
struct SnapshotFacts<'a> {
    id: &'a str,
    as_of: String,
    as_of_source: crate::source::snapshot::AsOfSource,
}

#[derive(Debug, Serialize)]
struct Settings<'a> {
    tz: &'a str,
    transactions_source: TransactionsSource,
}

#[derive(Debug, Serialize)]
struct InputFile {
    table: String,
    path: String,
    size: u64,
    /// Local files: their SHA-256 (an mtime or inode would not survive a copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// Object stores: the ETag, which costs no download.
    #[serde(skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
}

#[derive(Debug, Serialize)]
struct QueryHash {
    name: String,
    sha256: String,
}

/// Runs every metric with `filters` and publishes the files in `out`, replacing a
/// previous report only when everything was written.
pub async fn write(
    session: &Session,
    filters: &Filters,
    out: impl Into<Destination>,
    formats: &[ReportFormat],
) -> Result<Written> {
    let destination = out.into();
    destination.check(session.store()).await?;
    let mut results = Vec::new();
    for metric in METRICS {
        let (schema, batches) = crate::metrics::run(session, metric.name, filters).await?;
        results.push((metric.name, schema, batches));
    }
    let inputs = input_checksums(session).await?;

    let mut staging = Outputs::default();
    let mut files = Vec::new();
    for (name, schema, batches) in &results {
        let (csv_schema, csv_batches) = for_csv(schema, batches)?;
        files.push(staging.put(
            &format!("{name}.csv"),
            Format::Csv,
            &csv_schema,
            &csv_batches,
        )?);
        if formats.contains(&ReportFormat::Parquet) {
            files.push(staging.put(
                &format!("{name}.parquet"),
                Format::Parquet,
                schema,
                batches,
            )?);
        }
        if formats.contains(&ReportFormat::Json) {
            files.push(staging.put(&format!("{name}.json"), Format::Json, schema, batches)?);
        }
    }

    if formats.contains(&ReportFormat::Html) {
        let page = crate::output::html::render(
            &crate::output::html::Header::of(session, filters),
            &results,
        )?;
        staging.put_bytes(crate::output::html::FILE, page.as_bytes())?;
        files.push(OutputFile {
            file: crate::output::html::FILE.to_string(),
            // The page shows every row of every metric.
            rows: results
                .iter()
                .flat_map(|(_, _, b)| b)
                .map(|b| b.num_rows())
                .sum(),
            sha256: hex(&Sha256::digest(page.as_bytes())),
        });
    }

    let as_of = session.as_of();
    let manifest = Manifest {
        tool: Tool {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        },
        snapshot: SnapshotFacts {
            id: &session.snapshot().id,
            as_of: as_of
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            as_of_source: as_of.source,
        },
        settings: Settings {
            tz: session.options().tz.name(),
            transactions_source: session.transactions_source(),
        },
        filters,
        inputs,
        queries: query_hashes(),
        outputs: &files,
    };
    let mut json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::internal("writing manifest.json", e))?;
    json.push(b'\n');
    staging.put_bytes("manifest.json", &json)?;
    staging.publish(&destination).await?;
    Ok(Written { files })
}

/// Rates and medians as decimals with 6 places, as the report format requires.
fn for_csv(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let target = |t: &DataType| match t {
        DataType::Float32 | DataType::Float64 => DataType::Decimal128(38, 6),
        other => other.clone(),
    };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), target(f.data_type()), true))
        .collect();
    let csv_schema = Arc::new(Schema::new(fields));
    let converted = batches
        .iter()
        .map(|batch| {
            let columns = batch
                .columns()
                .iter()
                .zip(csv_schema.fields())
                .map(|(column, field)| cast(column, field.data_type()))
                .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
            RecordBatch::try_new(csv_schema.clone(), columns)
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal("formatting the report", e))?;
    Ok((csv_schema, converted))
}

/// The SHA-256 of every view and metric query, so a number can be tied to its SQL.
fn query_hashes() -> Vec<QueryHash> {
    let mut hashes: Vec<QueryHash> = crate::engine::catalogue::sql_by_name()
        .chain(METRICS.iter().map(|m| (m.name, m.sql)))
        .map(|(name, sql)| QueryHash {
            name: name.to_string(),
            sha256: hex(&Sha256::digest(sql.as_bytes())),
        })
        .collect();
    hashes.sort_by(|a, b| a.name.cmp(&b.name));
    hashes
}

/// Every input file's size and SHA-256, relative to the snapshot folder.
async fn input_checksums(session: &Session) -> Result<Vec<InputFile>> {
    let store = session.store();
    let snapshot = session.snapshot();
    let prefix = store.snapshot_prefix(&snapshot.id);
    let files: Vec<(String, object_store::ObjectMeta)> = session
        .tables()
        .iter()
        .flat_map(|t| t.files.iter().map(move |f| (t.name.clone(), f.clone())))
        .collect();
    let mut inputs: Vec<InputFile> = futures::stream::iter(files)
        .map(|(table, meta)| {
            let prefix = prefix.clone();
            async move {
                let sha256 = if store.is_local() {
                    let bytes = store
                        .object_store()
                        .get(&meta.location)
                        .await
                        .map_err(|e| store.error(e))?
                        .bytes()
                        .await
                        .map_err(|e| store.error(e))?;
                    let digest = tokio::task::spawn_blocking(move || hex(&Sha256::digest(&bytes)))
                        .await
                        .map_err(|e| Error::internal("checksumming an input", e))?;
                    Some(digest)
                } else {
                    None
                };
                let path = relative_parts(&prefix, &meta.location)
                    .map_or_else(|| meta.location.to_string(), |parts| parts.join("/"));
                Ok::<_, Error>(InputFile {
                    table,
                    path,
                    size: meta.size,
                    etag: if sha256.is_none() {
                        meta.e_tag.clone()
                    } else {
                        None
                    },
                    sha256,
                })
            }
        })
        .buffered(4)
        .try_collect()
        .await?;
    inputs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(inputs)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The report's files, built in memory and published together.
#[derive(Default)]
struct Outputs {
    files: Vec<(String, Vec<u8>)>,
}

impl Outputs {
    fn put(
        &mut self,
        file: &str,
        format: Format,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<OutputFile> {
        let mut bytes = Vec::new();
        output::write(format, schema, batches, &mut bytes)?;
        let sha256 = hex(&Sha256::digest(&bytes));
        self.put_bytes(file, &bytes)?;
        Ok(OutputFile {
            file: file.to_string(),
            rows: batches.iter().map(|b| b.num_rows()).sum(),
            sha256,
        })
    }

    fn put_bytes(&mut self, file: &str, bytes: &[u8]) -> Result<()> {
        self.files.push((file.to_string(), bytes.to_vec()));
        Ok(())
    }

    async fn publish(self, destination: &Destination) -> Result<()> {
        publish(destination, &self.files).await
    }
}
