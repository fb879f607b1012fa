//! `snapmetrics check`: what is wrong with a snapshot, as counts, without a report.

use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::SchemaRef;
use serde::Serialize;

use crate::engine::session::{Filters, Session};
use crate::error::{Error, Result};
use crate::metrics::METRICS;

const RECONCILIATION: &str = include_str!("../../queries/reconciliation.sql");

/// One data-quality count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub table: String,
    pub check: String,
    pub rows: i64,
}

/// Rows per source table, per the Parquet footers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRows {
    pub table: String,
    pub files: usize,
    pub rows: u64,
}

/// Everything `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub snapshot: String,
    pub tables: Vec<TableRows>,
    pub checks: Vec<Finding>,
    /// Months where l1_transaction_facts and transactions disagree; `None` when the
    /// snapshot lacks one of them.
    #[serde(skip)]
    pub reconciliation: Option<(SchemaRef, Vec<RecordBatch>)>,
    pub reconciliation_months: Option<usize>,
}

impl CheckReport {
    /// Rows excluded from metrics plus months that do not reconcile.
    pub fn issues(&self) -> u64 {
        let excluded: i64 = self.checks.iter().map(|c| c.rows).sum();
        excluded.max(0) as u64 + self.reconciliation_months.unwrap_or(0) as u64
    }
}

/// Runs every data-quality check and, where both copies exist, the reconciliation.
pub async fn run(session: &Session) -> Result<CheckReport> {
    let quality = METRICS
        .iter()
        .find(|m| m.name == "data_quality")
        .ok_or_else(|| Error::invalid("metric", "data_quality is not defined"))?;
    let (_, batches) = crate::metrics::run(session, quality.name, &Filters::default()).await?;
    let mut checks = Vec::new();
    for batch in &batches {
        let table = strings(batch, 0)?;
        let check = strings(batch, 1)?;
        let rows = batch
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| Error::invalid("data_quality", "rows is not Int64"))?;
        for i in 0..batch.num_rows() {
            checks.push(Finding {
                table: table.value(i).to_string(),
                check: check.value(i).to_string(),
                rows: rows.value(i),
            });
        }
    }
    let tables = session
        .tables()
        .iter()
        .map(|t| TableRows {
            table: t.name.clone(),
            files: t.files.len(),
            rows: t.rows,
        })
        .collect();

    let both = ["l1_transaction_facts", "transactions"]
        .iter()
        .all(|t| session.snapshot().table(t).is_some());
    let reconciliation = if both {
        let df = session
            .query("reconciliation", RECONCILIATION, &Filters::default())
            .await?;
        let schema = df.schema().inner().clone();
        let batches = session.collect(df, "query 'reconciliation'").await?;
        Some((schema, batches))
    } else {
        None
    };
    let reconciliation_months = reconciliation
        .as_ref()
        .map(|(_, batches)| batches.iter().map(RecordBatch::num_rows).sum());
    Ok(CheckReport {
        snapshot: session.snapshot().id.clone(),
        tables,
        checks,
        reconciliation,
        reconciliation_months,
    })
}

fn strings(batch: &RecordBatch, column: usize) -> Result<&StringArray> {
    batch
        .column(column)
        .as_any()
        .downcast_ref::<StringArray>()
        .filter(|a| a.null_count() == 0)
        .ok_or_else(|| Error::invalid("data_quality", "unexpected column type"))
}
