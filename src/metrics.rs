//! The metric definitions: SQL files in `queries/`, embedded at build time and run with
//! the session's parameters bound.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::session::{Filters, Session};

/// One metric: a name, its SQL and the report file it becomes.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every metric, in report order.
pub const METRICS: [Metric; 5] = [
    Metric {
        name: "cohort_retention",
        sql: include_str!("../queries/cohort_retention.sql"),
    },
    Metric {
        name: "activation",
        sql: include_str!("../queries/activation.sql"),
    },
    Metric {
        name: "onboarding_dropoff",
        sql: include_str!("../queries/onboarding_dropoff.sql"),
    },
    Metric {
        name: "vanity_monthly",
        sql: include_str!("../queries/vanity_monthly.sql"),
    },
    Metric {
        name: "data_quality",
        sql: include_str!("../queries/data_quality.sql"),
    },
];

/// Single vanity columns, printable on their own (`snapmetrics metric mau`).
pub const VANITY_COLUMNS: [&str; 6] = [
    "total_users",
    "new_users",
    "mau",
    "transactions",
    "unique_banks",
    "statement_uploads",
];

/// What `snapmetrics metric NAME` accepts.
pub fn names() -> Vec<&'static str> {
    METRICS
        .iter()
        .map(|m| m.name)
        .chain(VANITY_COLUMNS)
        .collect()
}

/// Runs a metric, or one vanity column of `vanity_monthly`, with `filters`, and
/// collects its rows.
pub async fn run(
    session: &Session,
    name: &str,
    filters: &Filters,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let (metric, column) = match METRICS.iter().find(|m| m.name == name) {
        Some(metric) => (metric, None),
        None if VANITY_COLUMNS.contains(&name) => (&METRICS[3], Some(name)),
        None => {
            return Err(Error::invalid(
                "metric",
                format!(
                    "unknown metric '{name}'; choose one of: {}",
                    names().join(", ")
                ),
            ));
        }
    };
    let mut df = session.query(metric.name, metric.sql, filters).await?;
    if let Some(column) = column {
        df = df
            .select_columns(&["month", column, "is_complete"])
            .map_err(|e| Error::query(format!("metric '{name}'"), e))?;
    }
    let schema = df.schema().inner().clone();
    let batches = session.collect(df, &format!("metric '{name}'")).await?;
    Ok((schema, batches))
}
