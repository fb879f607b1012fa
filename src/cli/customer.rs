//! `snapmetrics customer ID` (one record) and `snapmetrics customers --out FILE` (all).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, ValueEnum};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::SnapshotArgs;
use crate::error::Error;
use crate::metrics::customer::{self, CustomerKey};
use crate::output::publish::FileDestination;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct CustomerArgs {
    /// The customer's id (users.id); or use --token.
    #[arg(required_unless_present = "token", conflicts_with = "token")]
    id: Option<i64>,
    /// Look the customer up by tokenized id (l0_user_tokenization.tokenized_user_id).
    #[arg(long)]
    token: Option<String>,
    #[command(flatten)]
    snapshot: SnapshotArgs,
    /// json: the record with nested groups; table: one line per (flattened) field.
    #[arg(long, value_enum, default_value = "json")]
    format: CustomerFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CustomerFormat {
    Json,
    Table,
}

#[derive(Debug, Args)]
pub struct CustomersArgs {
    /// The file to write, FILE.parquet or FILE.csv, local or s3://bucket/prefix/FILE (one
    /// row per customer, nested fields flattened into prefixed columns).
    #[arg(long)]
    out: String,
    #[command(flatten)]
    snapshot: SnapshotArgs,
}

pub async fn customer(args: CustomerArgs) -> anyhow::Result<ExitCode> {
    let key = match (args.id, args.token) {
        (Some(id), _) => CustomerKey::Id(id),
        (None, Some(token)) => CustomerKey::Token(token),
        (None, None) => return Err(Error::invalid("customer", "give an ID or --token T").into()),
    };
    let session = args.snapshot.open().await?;
    let row = customer::lookup_flat(&session, &key).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        CustomerFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &customer::record(&session, &row, 0)?)?;
            writeln!(out)?;
        }
        CustomerFormat::Table => {
            // One (field, value) line per column: the names `customers` writes.
            let (schema, rows) = fields_and_values(&row)?;
            output::write(Format::Table, &schema, &[rows], &mut out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The first row of `batch` turned sideways: a `field` and a `value` column.
fn fields_and_values(
    batch: &RecordBatch,
) -> anyhow::Result<(datafusion::arrow::datatypes::SchemaRef, RecordBatch)> {
    let options = FormatOptions::default().with_null("");
    let mut names = Vec::new();
    let mut values = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        names.push(field.name().clone());
        values.push(formatter.value(0).to_string());
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("field", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(names)),
        Arc::new(StringArray::from(values)),
    ];
    Ok((schema.clone(), RecordBatch::try_new(schema, columns)?))
}

pub async fn customers(args: CustomersArgs) -> anyhow::Result<ExitCode> {
    let out = FileDestination::parse(&args.out, &args.snapshot.store.s3.options())?;
    let extension = out
        .file_name()
        .and_then(|name| name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()));
    let format = match extension.as_deref() {
        Some("parquet") => Format::Parquet,
        Some("csv") => Format::Csv,
        _ => {
            return Err(Error::invalid(
                "--out",
                format!("'{}' must end in .parquet or .csv", out.display()),
            )
            .into());
        }
    };
    let started = Instant::now();
    let session = args.snapshot.open().await?;
    let (schema, batches) = customer::all(&session).await?;
    let (schema, batches) = match format {
        Format::Csv => customer::for_csv(&schema, &batches)?,
        _ => (schema, batches),
    };
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut bytes = Vec::new();
    output::write(format, &schema, &batches, &mut bytes)?;
    out.write(bytes).await?;
    eprintln!(
        "wrote {rows} customers to {} in {:.1} s (snapshot {}, as_of {} from {})",
        out.display(),
        started.elapsed().as_secs_f64(),
        session.snapshot().id,
        session
            .as_of()
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        session.as_of().source
    );
    Ok(ExitCode::SUCCESS)
}
