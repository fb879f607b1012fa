use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::SnapshotArgs;
use crate::metrics::check;
use crate::output::{self, Format};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: CheckFormat,
    /// Exit 1 only when more than this many rows are excluded (or months do not reconcile).
    #[arg(long, default_value_t = 0)]
    max_issues: u64,
}

pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let session = args.snapshot.open().await?;
    let report = check::run(&session).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        CheckFormat::Json => {
            let mut value = serde_json::to_value(&report)?;
            if let Some((schema, batches)) = &report.reconciliation {
                let mut lines = Vec::new();
                output::write(Format::Json, schema, batches, &mut lines)?;
                let months: Vec<serde_json::Value> = String::from_utf8(lines)?
                    .lines()
                    .map(serde_json::from_str)
                    .collect::<Result<_, _>>()?;
                value["reconciliation"] = serde_json::Value::Array(months);
            }
            value["issues"] = report.issues().into();
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
        }
        CheckFormat::Table => {
            print_table(
                &mut out,
                vec![
                    (
                        Field::new("table", DataType::Utf8, false),
                        strings(report.tables.iter().map(|t| t.table.as_str())),
                    ),
                    (
                        Field::new("files", DataType::UInt64, false),
                        Arc::new(UInt64Array::from_iter_values(
                            report.tables.iter().map(|t| t.files as u64),
                        )),
                    ),
                    (
                        Field::new("rows", DataType::UInt64, false),
                        Arc::new(UInt64Array::from_iter_values(
                            report.tables.iter().map(|t| t.rows),
                        )),
                    ),
                ],
            )?;
            print_table(
                &mut out,
                vec![
                    (
                        Field::new("table", DataType::Utf8, false),
                        strings(report.checks.iter().map(|c| c.table.as_str())),
                    ),
                    (
                        Field::new("check", DataType::Utf8, false),
                        strings(report.checks.iter().map(|c| c.check.as_str())),
                    ),
                    (
                        Field::new("rows", DataType::Int64, false),
                        Arc::new(Int64Array::from_iter_values(
                            report.checks.iter().map(|c| c.rows),
                        )),
                    ),
                ],
            )?;
            match &report.reconciliation {
                Some((schema, batches)) if report.reconciliation_months.unwrap_or(0) > 0 => {
                    writeln!(
                        out,
                        "l1_transaction_facts and transactions differ in these months:"
                    )?;
                    output::write(Format::Table, schema, batches, &mut out)?;
                }
                Some(_) => writeln!(
                    out,
                    "l1_transaction_facts and transactions agree in every month."
                )?,
                None => writeln!(
                    out,
                    "reconciliation skipped: the snapshot has only one transaction table."
                )?,
            }
        }
    }
    out.flush()?;
    let issues = report.issues();
    if issues > args.max_issues {
        eprintln!(
            "snapmetrics: snapshot {} has {issues} data-quality issues (more than --max-issues {})",
            report.snapshot, args.max_issues
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// Prints named columns as one text table.
fn print_table(out: &mut dyn Write, columns: Vec<(Field, ArrayRef)>) -> anyhow::Result<()> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    output::write(Format::Table, &schema, &[batch], out)?;
    Ok(())
}
