//! The nightly report: every metric as CSV (plus optional Parquet/JSON copies) and a
//! manifest that pins inputs, queries and outputs, published all together or not at all.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::engine::session::{Filters, Session};
use crate::error::{Error, Result};
use crate::metrics::METRICS;
use crate::output::manifest::{
    self, InputFile, Manifest, OutputFile, Settings, SnapshotFacts, Tool, input_path,
    object_sha256, query_hashes, sha256_hex,
};
use crate::output::publish::{Destination, publish};
use crate::output::{self, Format};

/// Extra copies a report can carry besides its CSV files, which it always has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Parquet copies of the metric files.
    Parquet,
    /// Newline-delimited JSON copies.
    Json,
    /// `report.html`: the metrics as one self-contained page for people.
    Html,
}

/// What a report run wrote: file name and SHA-256, in write order.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub files: Vec<OutputFile>,
}

/// A report computed in memory: every file's name and bytes, `manifest.json` last, and
/// the outputs the manifest lists.
#[derive(Debug)]
pub struct Built {
    pub files: Vec<(String, Vec<u8>)>,
    pub outputs: Vec<OutputFile>,
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
    let built = build(session, filters, formats).await?;
    publish(&destination, &built.files).await?;
    Ok(Written {
        files: built.outputs,
    })
}

/// Computes every file of the report in memory, the manifest included, without
/// publishing: what `write` publishes and what `verify` compares a published report with.
pub async fn build(
    session: &Session,
    filters: &Filters,
    formats: &[ReportFormat],
) -> Result<Built> {
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
        staging.put_bytes(crate::output::html::FILE, page.as_bytes());
        files.push(OutputFile {
            file: crate::output::html::FILE.to_string(),
            // The page shows every row of every metric.
            rows: results
                .iter()
                .flat_map(|(_, _, b)| b)
                .map(|b| b.num_rows())
                .sum(),
            sha256: sha256_hex(page.as_bytes()),
        });
    }

    let as_of = session.as_of();
    let manifest = Manifest {
        tool: Tool::this(),
        snapshot: SnapshotFacts {
            id: session.snapshot().id.clone(),
            as_of: as_of
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            as_of_source: as_of.source,
        },
        settings: Settings {
            tz: session.options().tz.name().to_string(),
            transactions_source: session.transactions_source(),
        },
        filters: filters.clone(),
        inputs,
        queries: query_hashes(),
        outputs: files,
    };
    let mut json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::internal("writing manifest.json", e))?;
    json.push(b'\n');
    staging.put_bytes(manifest::FILE, &json);
    Ok(Built {
        files: staging.files,
        outputs: manifest.outputs,
    })
}

/// The formats a published report was written with, read from its outputs, so that a
/// recomputation writes the same files.
pub fn formats_of(outputs: &[OutputFile]) -> Vec<ReportFormat> {
    let has = |suffix: &str| outputs.iter().any(|o| o.file.ends_with(suffix));
    [
        (".parquet", ReportFormat::Parquet),
        (".json", ReportFormat::Json),
        (crate::output::html::FILE, ReportFormat::Html),
    ]
    .into_iter()
    .filter(|(suffix, _)| has(suffix))
    .map(|(_, format)| format)
    .collect()
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
                    Some(object_sha256(store, &meta.location).await?)
                } else {
                    None
                };
                let path = input_path(&prefix, &meta.location);
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
        let sha256 = sha256_hex(&bytes);
        self.put_bytes(file, &bytes);
        Ok(OutputFile {
            file: file.to_string(),
            rows: batches.iter().map(|b| b.num_rows()).sum(),
            sha256,
        })
    }

    fn put_bytes(&mut self, file: &str, bytes: &[u8]) {
        self.files.push((file.to_string(), bytes.to_vec()));
    }
}
