//! The numbers the page shows, read once from the metric batches the CSV files are
//! written from.

use std::collections::BTreeMap;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};

use super::FILE;
use crate::engine::values;
use crate::error::{Error, Result};

/// Every number the page shows, in the order the CSV files list them.
pub struct Data {
    pub cohorts: Vec<Cohort>,
    pub activation: Activation,
    pub steps: Vec<Step>,
    pub months: Vec<Month>,
    pub checks: Vec<Check>,
    pub monthly_cohorts: Vec<Cohort>,
    /// `retention_curve.csv`.
    pub curve: Vec<CurvePoint>,
    /// The same weighted mean over `cohort_retention_unbounded.csv`: the sums of its
    /// complete cells of non-empty cohorts, per week offset.
    pub curve_on_or_after: Vec<CurvePoint>,
    pub lifecycle: Vec<LifecycleWeek>,
    pub days: Vec<Day>,
    pub stickiness: Vec<StickyMonth>,
}

/// One row of a heatmap: a signup week or month, its size and its cells by offset.
pub struct Cohort {
    pub label: String,
    pub size: i64,
    pub cells: BTreeMap<i64, Cell>,
}

pub struct Cell {
    pub retained: i64,
    pub rate: Option<f64>,
    pub complete: bool,
}

/// Onboarding over every cohort of the report: the sums of `activation.csv` columns.
#[derive(Default)]
pub struct Activation {
    pub users: i64,
    pub started: i64,
    pub completed: i64,
}

/// One onboarding step over every cohort: the sums of `onboarding_dropoff.csv` columns.
pub struct Step {
    pub step: i64,
    pub reached: i64,
    pub dropped: i64,
}

pub struct Month {
    pub month: String,
    pub total_users: i64,
    pub new_users: i64,
    pub mau: i64,
    pub transactions: i64,
    pub unique_banks: i64,
    pub statement_uploads: i64,
    pub complete: bool,
}

pub struct Check {
    pub table: String,
    pub check: String,
    pub rows: i64,
}

/// One week offset of a retention curve.
pub struct CurvePoint {
    pub offset: i64,
    pub cohorts: i64,
    pub users: i64,
    pub retained: i64,
}

pub struct LifecycleWeek {
    pub week: String,
    pub new_users: i64,
    pub returning: i64,
    pub resurrecting: i64,
    pub dormant: i64,
    pub complete: bool,
}

pub struct Day {
    pub date: String,
    pub dau: i64,
    pub wau: i64,
    pub mau_30d: i64,
    pub complete: bool,
}

/// One month of `stickiness_monthly.csv`: users by the number of days they were active.
pub struct StickyMonth {
    pub month: String,
    /// `users[n - 1]`: users active on exactly `n` days.
    pub users: Vec<i64>,
    /// Users active on at least one day.
    pub active: i64,
    pub complete: bool,
}

impl Data {
    pub fn read(results: &[(&str, SchemaRef, Vec<RecordBatch>)]) -> Result<Self> {
        Ok(Data {
            cohorts: read_cohorts(
                metric(results, "cohort_retention")?,
                "cohort_week",
                "week_offset",
            )?,
            activation: read_activation(metric(results, "activation")?)?,
            steps: read_steps(metric(results, "onboarding_dropoff")?)?,
            months: read_months(metric(results, "vanity_monthly")?)?,
            checks: read_checks(metric(results, "data_quality")?)?,
            monthly_cohorts: read_cohorts(
                metric(results, "cohort_retention_monthly")?,
                "cohort_month",
                "month_offset",
            )?,
            curve: read_curve(metric(results, "retention_curve")?)?,
            curve_on_or_after: curve_of(&read_cohorts(
                metric(results, "cohort_retention_unbounded")?,
                "cohort_week",
                "week_offset",
            )?),
            lifecycle: read_lifecycle(metric(results, "lifecycle_weekly")?)?,
            days: read_days(metric(results, "active_users_daily")?)?,
            stickiness: read_stickiness(metric(results, "stickiness_monthly")?)?,
        })
    }
}

/// The batches of one metric; every metric is required, as the page has a part for each.
fn metric<'r>(
    results: &'r [(&str, SchemaRef, Vec<RecordBatch>)],
    name: &str,
) -> Result<Columns<'r>> {
    results
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(n, _, batches)| Columns { metric: n, batches })
        .ok_or_else(|| Error::internal(FILE, format!("the metric '{name}' was not computed")))
}

fn read_cohorts(metric: Columns<'_>, cohort: &str, offset: &str) -> Result<Vec<Cohort>> {
    let mut cohorts: BTreeMap<String, Cohort> = BTreeMap::new();
    for batch in metric.batches {
        let week = metric.texts(batch, cohort)?;
        let size = metric.ints(batch, "cohort_size")?;
        let offset = metric.ints(batch, offset)?;
        let retained = metric.ints(batch, "retained_users")?;
        let rate = metric.floats(batch, "retention_rate")?;
        let complete = metric.flags(batch, "is_complete")?;
        for i in 0..batch.num_rows() {
            let cohort = cohorts.entry(week[i].clone()).or_insert_with(|| Cohort {
                label: week[i].clone(),
                size: size[i],
                cells: BTreeMap::new(),
            });
            let cell = Cell {
                retained: retained[i],
                rate: rate[i],
                complete: complete[i],
            };
            cohort.cells.insert(offset[i], cell);
        }
    }
    Ok(cohorts.into_values().collect())
}

fn read_curve(metric: Columns<'_>) -> Result<Vec<CurvePoint>> {
    let mut points = Vec::new();
    for batch in metric.batches {
        let offset = metric.ints(batch, "week_offset")?;
        let cohorts = metric.ints(batch, "cohorts")?;
        let users = metric.ints(batch, "cohort_users")?;
        let retained = metric.ints(batch, "retained_users")?;
        for i in 0..batch.num_rows() {
            points.push(CurvePoint {
                offset: offset[i],
                cohorts: cohorts[i],
                users: users[i],
                retained: retained[i],
            });
        }
    }
    points.sort_by_key(|p| p.offset);
    Ok(points)
}

/// The weighted mean curve of `cohorts`: per offset, the sums over the complete cells of
/// the non-empty cohorts (what `retention_curve.sql` computes from `cohort_retention`).
fn curve_of(cohorts: &[Cohort]) -> Vec<CurvePoint> {
    let mut points: BTreeMap<i64, CurvePoint> = BTreeMap::new();
    for cohort in cohorts.iter().filter(|c| c.size > 0) {
        for (&offset, cell) in cohort.cells.iter().filter(|(_, c)| c.complete) {
            let point = points.entry(offset).or_insert(CurvePoint {
                offset,
                cohorts: 0,
                users: 0,
                retained: 0,
            });
            point.cohorts = point.cohorts.saturating_add(1);
            point.users = point.users.saturating_add(cohort.size);
            point.retained = point.retained.saturating_add(cell.retained);
        }
    }
    points.into_values().collect()
}

fn read_lifecycle(metric: Columns<'_>) -> Result<Vec<LifecycleWeek>> {
    let mut weeks = Vec::new();
    for batch in metric.batches {
        let week = metric.texts(batch, "week")?;
        let new_users = metric.ints(batch, "new_users")?;
        let returning = metric.ints(batch, "returning_users")?;
        let resurrecting = metric.ints(batch, "resurrecting_users")?;
        let dormant = metric.ints(batch, "dormant_users")?;
        let complete = metric.flags(batch, "is_complete")?;
        for i in 0..batch.num_rows() {
            weeks.push(LifecycleWeek {
                week: week[i].clone(),
                new_users: new_users[i],
                returning: returning[i],
                resurrecting: resurrecting[i],
                dormant: dormant[i],
                complete: complete[i],
            });
        }
    }
    weeks.sort_by(|a, b| a.week.cmp(&b.week));
    Ok(weeks)
}

fn read_days(metric: Columns<'_>) -> Result<Vec<Day>> {
    let mut days = Vec::new();
    for batch in metric.batches {
        let date = metric.texts(batch, "date")?;
        let dau = metric.ints(batch, "dau")?;
        let wau = metric.ints(batch, "wau")?;
        let mau_30d = metric.ints(batch, "mau_30d")?;
        let complete = metric.flags(batch, "is_complete")?;
        for i in 0..batch.num_rows() {
            days.push(Day {
                date: date[i].clone(),
                dau: dau[i],
                wau: wau[i],
                mau_30d: mau_30d[i],
                complete: complete[i],
            });
        }
    }
    days.sort_by(|a, b| a.date.cmp(&b.date));
    Ok(days)
}

fn read_stickiness(metric: Columns<'_>) -> Result<Vec<StickyMonth>> {
    let mut months: BTreeMap<String, StickyMonth> = BTreeMap::new();
    for batch in metric.batches {
        let month = metric.texts(batch, "month")?;
        let days = metric.ints(batch, "days_active")?;
        let users = metric.ints(batch, "users")?;
        let at_least = metric.ints(batch, "users_at_least")?;
        let complete = metric.flags(batch, "is_complete")?;
        for i in 0..batch.num_rows() {
            let entry = months
                .entry(month[i].clone())
                .or_insert_with(|| StickyMonth {
                    month: month[i].clone(),
                    users: Vec::new(),
                    active: 0,
                    complete: complete[i],
                });
            let Some(index) = usize::try_from(days[i]).ok().and_then(|n| n.checked_sub(1)) else {
                return Err(metric.error("days_active", "is not a day count from 1"));
            };
            if entry.users.len() <= index {
                entry.users.resize(index + 1, 0);
            }
            entry.users[index] = users[i];
            if index == 0 {
                entry.active = at_least[i];
            }
        }
    }
    Ok(months.into_values().collect())
}

fn read_activation(metric: Columns<'_>) -> Result<Activation> {
    let mut total = Activation::default();
    for batch in metric.batches {
        total.users = total
            .users
            .saturating_add(sum(&metric.ints(batch, "cohort_size")?));
        let started = metric.ints(batch, "started_onboarding")?;
        total.started = total.started.saturating_add(sum(&started));
        let completed = metric.ints(batch, "completed_onboarding")?;
        total.completed = total.completed.saturating_add(sum(&completed));
    }
    Ok(total)
}

fn read_steps(metric: Columns<'_>) -> Result<Vec<Step>> {
    let mut steps: BTreeMap<i64, Step> = BTreeMap::new();
    for batch in metric.batches {
        let step = metric.ints(batch, "step")?;
        let reached = metric.ints(batch, "reached_step")?;
        let dropped = metric.ints(batch, "dropped_at_step")?;
        for i in 0..batch.num_rows() {
            let total = steps.entry(step[i]).or_insert(Step {
                step: step[i],
                reached: 0,
                dropped: 0,
            });
            total.reached = total.reached.saturating_add(reached[i]);
            total.dropped = total.dropped.saturating_add(dropped[i]);
        }
    }
    Ok(steps.into_values().collect())
}

fn read_months(metric: Columns<'_>) -> Result<Vec<Month>> {
    let mut months = Vec::new();
    for batch in metric.batches {
        let month = metric.texts(batch, "month")?;
        let total_users = metric.ints(batch, "total_users")?;
        let new_users = metric.ints(batch, "new_users")?;
        let mau = metric.ints(batch, "mau")?;
        let transactions = metric.ints(batch, "transactions")?;
        let unique_banks = metric.ints(batch, "unique_banks")?;
        let statement_uploads = metric.ints(batch, "statement_uploads")?;
        let complete = metric.flags(batch, "is_complete")?;
        for i in 0..batch.num_rows() {
            months.push(Month {
                month: month[i].clone(),
                total_users: total_users[i],
                new_users: new_users[i],
                mau: mau[i],
                transactions: transactions[i],
                unique_banks: unique_banks[i],
                statement_uploads: statement_uploads[i],
                complete: complete[i],
            });
        }
    }
    // The query sorts already; sorting again keeps the page stable if it ever does not.
    months.sort_by(|a, b| a.month.cmp(&b.month));
    Ok(months)
}

fn read_checks(metric: Columns<'_>) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for batch in metric.batches {
        let table = metric.texts(batch, "table")?;
        let check = metric.texts(batch, "check")?;
        let rows = metric.ints(batch, "rows")?;
        for i in 0..batch.num_rows() {
            checks.push(Check {
                table: table[i].clone(),
                check: check[i].clone(),
                rows: rows[i],
            });
        }
    }
    checks.sort_by(|a, b| (&a.table, &a.check).cmp(&(&b.table, &b.check)));
    Ok(checks)
}

fn sum(values: &[i64]) -> i64 {
    values.iter().fold(0, |acc, v| acc.saturating_add(*v))
}

/// One metric's batches, read column by column. Columns are cast to the few types the
/// page uses, so it does not depend on the integer widths or date types a query yields.
struct Columns<'a> {
    metric: &'a str,
    batches: &'a [RecordBatch],
}

impl Columns<'_> {
    fn cast(&self, batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef> {
        let column = values::column(batch, &format!("{FILE}, metric '{}'", self.metric), name)?;
        cast(column, to).map_err(|e| self.error(name, &e.to_string()))
    }

    /// Counts and keys; a NULL is an error, as no query yields one there.
    fn ints(&self, batch: &RecordBatch, name: &str) -> Result<Vec<i64>> {
        let array = self.cast(batch, name, &DataType::Int64)?;
        let values = array
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| self.error(name, "is not an integer"))?;
        values
            .iter()
            .map(|v| v.ok_or_else(|| self.error(name, "has a NULL")))
            .collect()
    }

    /// Rates, which are NULL where there is nothing to divide by.
    fn floats(&self, batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>> {
        let array = self.cast(batch, name, &DataType::Float64)?;
        let values = array
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| self.error(name, "is not a number"))?;
        Ok(values.iter().collect())
    }

    /// Labels as the CSV writes them: dates become `YYYY-MM-DD`, as in the CSV files.
    fn texts(&self, batch: &RecordBatch, name: &str) -> Result<Vec<String>> {
        let array = self.cast(batch, name, &DataType::Utf8)?;
        let values = array
            .as_string_opt::<i32>()
            .ok_or_else(|| self.error(name, "is not text"))?;
        values
            .iter()
            .map(|v| {
                v.map(str::to_string)
                    .ok_or_else(|| self.error(name, "has a NULL"))
            })
            .collect()
    }

    fn flags(&self, batch: &RecordBatch, name: &str) -> Result<Vec<bool>> {
        let array = self.cast(batch, name, &DataType::Boolean)?;
        let values = array
            .as_boolean_opt()
            .ok_or_else(|| self.error(name, "is not a boolean"))?;
        values
            .iter()
            .map(|v| v.ok_or_else(|| self.error(name, "has a NULL")))
            .collect()
    }

    fn error(&self, column: &str, problem: &str) -> Error {
        Error::internal(
            FILE,
            format!("column '{column}' of metric '{}' {problem}", self.metric),
        )
    }
}
