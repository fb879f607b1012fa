//! `diff`: two reports compared file by file and row by key — what a nightly job runs
//! against yesterday's report to find a published number that changed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::ReportFiles;
use crate::error::{Error, Result};

/// The file `--restated` leaves out: its cells rise as users come back, complete or not.
const RISES_WHEN_COMPLETE: &str = "cohort_retention_unbounded.csv";

/// What changed, from OLD to NEW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A file only OLD has.
    FileRemoved,
    /// A file only NEW has.
    FileAdded,
    /// The files' columns differ: their rows are not compared.
    Columns,
    /// A row only OLD has.
    RowRemoved,
    /// A row only NEW has.
    RowAdded,
    /// A value of a row both have.
    Changed,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::FileRemoved => "file_only_in_old",
            Change::FileAdded => "file_only_in_new",
            Change::Columns => "columns",
            Change::RowRemoved => "only_in_old",
            Change::RowAdded => "only_in_new",
            Change::Changed => "changed",
        }
    }
}

/// One difference: a file, a row (by its key) or one value of a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub file: String,
    pub change: Change,
    /// `column=value` pairs of the row's key, comma-separated.
    pub key: String,
    pub column: String,
    pub old: String,
    pub new: String,
    /// `(new - old) / |old|` for numbers, when `old` is not zero.
    pub relative_change: Option<f64>,
}

/// How `diff` compares.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// Only rows complete (`is_complete = true`) in OLD, in files that have the column,
    /// `cohort_retention_unbounded.csv` left out: published numbers that changed.
    pub restated: bool,
}

/// The CSV files of `old` and `new`, compared by key; sorted by file, then key.
pub async fn diff(
    old: &ReportFiles,
    new: &ReportFiles,
    options: DiffOptions,
) -> Result<Vec<Difference>> {
    let old_files = csv_files(old).await?;
    let new_files = csv_files(new).await?;
    let names: BTreeSet<&String> = old_files.iter().chain(&new_files).collect();
    let mut differences = Vec::new();
    for name in names {
        if options.restated && name == RISES_WHEN_COMPLETE {
            continue;
        }
        let file = |change| Difference {
            file: name.clone(),
            change,
            key: String::new(),
            column: String::new(),
            old: String::new(),
            new: String::new(),
            relative_change: None,
        };
        match (old_files.contains(name), new_files.contains(name)) {
            (true, false) => differences.push(file(Change::FileRemoved)),
            (false, true) if !options.restated => differences.push(file(Change::FileAdded)),
            (true, true) => {
                let a = Table::read(old, name).await?;
                let b = Table::read(new, name).await?;
                differences.extend(compare(name, &a, &b, options));
            }
            _ => {}
        }
    }
    Ok(differences)
}

/// The report's CSV files: those its manifest lists, or, without one, those in it.
async fn csv_files(report: &ReportFiles) -> Result<BTreeSet<String>> {
    let names = report.list().await?;
    if names.is_empty() {
        return Err(Error::Report {
            report: report.location().to_string(),
            reason: "no files: not a report folder".to_string(),
        });
    }
    Ok(names.into_iter().filter(|n| n.ends_with(".csv")).collect())
}

/// One CSV file: its header and its rows.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    async fn read(report: &ReportFiles, name: &str) -> Result<Self> {
        let invalid = |reason: String| Error::Report {
            report: report.location().to_string(),
            reason: format!("{name}: {reason}"),
        };
        let bytes = report
            .read(name)
            .await?
            .ok_or_else(|| invalid("listed, but could not be read".to_string()))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes.as_slice());
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| invalid(format!("not CSV ({e})")))?
            .iter()
            .map(str::to_string)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
            .collect::<std::result::Result<Vec<Vec<String>>, _>>()
            .map_err(|e| invalid(format!("not CSV ({e})")))?;
        Ok(Table { header, rows })
    }

    /// The key columns of the metric the file holds, or every column for a file that
    /// is no metric (its rows then only appear or disappear).
    fn key_columns(&self, name: &str) -> Vec<usize> {
        crate::metrics::by_file(name)
            .and_then(|metric| metric.key_positions(&self.header))
            .unwrap_or_else(|| (0..self.header.len()).collect())
    }

    fn by_key(&self, key: &[usize]) -> BTreeMap<Vec<String>, &Vec<String>> {
        self.rows
            .iter()
            .map(|row| {
                (
                    key.iter()
                        .map(|&i| row.get(i).cloned().unwrap_or_default())
                        .collect(),
                    row,
                )
            })
            .collect()
    }
}

fn compare(name: &str, old: &Table, new: &Table, options: DiffOptions) -> Vec<Difference> {
    let difference = |change, key: String, column: &str, a: &str, b: &str| Difference {
        file: name.to_string(),
        change,
        key,
        column: column.to_string(),
        old: a.to_string(),
        new: b.to_string(),
        relative_change: relative_change(a, b),
    };
    if old.header != new.header {
        return vec![difference(
            Change::Columns,
            String::new(),
            "",
            &old.header.join(","),
            &new.header.join(","),
        )];
    }
    let complete = old.header.iter().position(|h| h == "is_complete");
    if options.restated && complete.is_none() {
        return Vec::new();
    }
    let key = old.key_columns(name);
    let key_text = |values: &[String]| {
        key.iter()
            .zip(values)
            .map(|(&i, v)| format!("{}={v}", old.header[i]))
            .collect::<Vec<_>>()
            .join(",")
    };
    let published =
        |row: &[String]| complete.is_none_or(|i| row.get(i).is_some_and(|v| v == "true"));
    let (a, b) = (old.by_key(&key), new.by_key(&key));
    let mut differences = Vec::new();
    for (k, row) in &a {
        if options.restated && !published(row) {
            continue;
        }
        match b.get(k) {
            None => differences.push(difference(
                Change::RowRemoved,
                key_text(k),
                "",
                &row.join(","),
                "",
            )),
            Some(other) => {
                for (i, column) in old.header.iter().enumerate() {
                    let (x, y) = (
                        row.get(i).map_or("", String::as_str),
                        other.get(i).map_or("", String::as_str),
                    );
                    if x != y {
                        differences.push(difference(Change::Changed, key_text(k), column, x, y));
                    }
                }
            }
        }
    }
    if !options.restated {
        for (k, row) in &b {
            if !a.contains_key(k) {
                differences.push(difference(
                    Change::RowAdded,
                    key_text(k),
                    "",
                    "",
                    &row.join(","),
                ));
            }
        }
    }
    differences
}

fn relative_change(old: &str, new: &str) -> Option<f64> {
    let (a, b): (f64, f64) = (old.parse().ok()?, new.parse().ok()?);
    (a != 0.0 && a.is_finite() && b.is_finite()).then(|| (b - a) / a.abs())
}

/// The differences as one batch, for any output format.
pub fn to_batch(differences: &[Difference]) -> Result<(SchemaRef, RecordBatch)> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("change", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("column", DataType::Utf8, false),
        Field::new("old", DataType::Utf8, false),
        Field::new("new", DataType::Utf8, false),
        Field::new("relative_change", DataType::Float64, true),
    ]));
    let text = |value: fn(&Difference) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(differences.iter().map(value)))
    };
    let columns: Vec<ArrayRef> = vec![
        text(|d| &d.file),
        text(|d| d.change.name()),
        text(|d| &d.key),
        text(|d| &d.column),
        text(|d| &d.old),
        text(|d| &d.new),
        Arc::new(Float64Array::from_iter(
            differences.iter().map(|d| d.relative_change),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::internal("listing the differences", e))?;
    Ok((schema, batch))
}
