//! `snapmetrics check`: what is wrong with a snapshot, as counts, without a report.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::datatypes::SchemaRef;
use serde::Serialize;

use crate::engine::session::{Filters, Session};
use crate::engine::values::typed;
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

/// What errors reading the data-quality result name.
const QUALITY: &str = "data_quality";

/// Runs every data-quality check and, where both copies exist, the reconciliation.
pub async fn run(session: &Session) -> Result<CheckReport> {
    let quality = METRICS
        .iter()
        .find(|m| m.name == "data_quality")
        .ok_or_else(|| Error::invalid("metric", "data_quality is not defined"))?;
    let (_, batches) = crate::metrics::run(session, quality.name, &Filters::default()).await?;
    let mut checks = Vec::new();
    for batch in &batches {
        let strings = |name| {
            typed(batch, QUALITY, name, |a| a.as_string_opt::<i32>()).and_then(|a| {
                match a.null_count() {
                    0 => Ok(a),
                    _ => Err(Error::internal(
                        QUALITY,
                        format!("column '{name}' has a NULL"),
                    )),
                }
            })
        };
        let (table, check) = (strings("table")?, strings("check")?);
        let rows = typed(batch, QUALITY, "rows", |a| {
            a.as_primitive_opt::<Int64Type>()
        })?;
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
