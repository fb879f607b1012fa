//! The metric definitions: SQL files in `queries/`, embedded at build time and run with
//! the session's parameters bound.

pub mod check;
pub mod customer;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::engine::session::{Filters, Session};
use crate::error::{Error, Result};

/// One metric: a name (its report file is `<name>.csv`), the SQL file defining it, and
/// the columns that identify a row (what `diff` matches rows by).
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    /// Below `queries/`.
    pub file: &'static str,
    pub sql: &'static str,
    pub key: &'static [&'static str],
}

macro_rules! metric {
    ($name:literal, $key:expr) => {
        Metric {
            name: $name,
            file: concat!($name, ".sql"),
            sql: include_str!(concat!("../../queries/", $name, ".sql")),
            key: &$key,
        }
    };
}

/// Every metric, in report order.
pub const METRICS: [Metric; 11] = [
    metric!("cohort_retention", ["cohort_week", "week_offset"]),
    metric!("activation", ["cohort_week"]),
    metric!("onboarding_dropoff", ["cohort_week", "step"]),
    metric!("vanity_monthly", ["month"]),
    metric!("data_quality", ["table", "check"]),
    metric!("cohort_retention_unbounded", ["cohort_week", "week_offset"]),
    metric!("cohort_retention_monthly", ["cohort_month", "month_offset"]),
    metric!("retention_curve", ["week_offset"]),
    metric!("lifecycle_weekly", ["week"]),
    metric!("active_users_daily", ["date"]),
    metric!("stickiness_monthly", ["month", "days_active"]),
];

impl Metric {
    /// Where the key columns are in a CSV `header`, or `None` when one is missing.
    pub fn key_positions<S: AsRef<str>>(&self, header: &[S]) -> Option<Vec<usize>> {
        self.key
            .iter()
            .map(|k| header.iter().position(|h| h.as_ref() == *k))
            .collect()
    }
}

/// The metric whose report file is `file` (`cohort_retention.csv`).
pub fn by_file(file: &str) -> Option<&'static Metric> {
    let name = file.strip_suffix(".csv")?;
    METRICS.iter().find(|m| m.name == name)
}

/// The metric whose columns [`VANITY_COLUMNS`] are.
const VANITY: &str = "vanity_monthly";

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
    let find = |name: &str| METRICS.iter().find(|m| m.name == name);
    let (metric, column) = match (find(name), find(VANITY)) {
        (Some(metric), _) => (metric, None),
        (None, Some(vanity)) if VANITY_COLUMNS.contains(&name) => (vanity, Some(name)),
        _ => {
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
