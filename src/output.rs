//! Result formats: one function writes batches in any format to any writer, so the
//! CLI, reports and tests share it.

use std::io::Write;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::parquet::arrow::ArrowWriter;

use crate::error::{Error, Result};

/// How query results are printed or saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table, for terminals.
    Table,
    /// CSV with a header row.
    Csv,
    /// Newline-delimited JSON objects.
    Json,
    /// A Parquet file (binary; use --output).
    Parquet,
}

/// Writes `batches` (of `schema`) to `out` in `format`.
pub fn write(
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> Result<()> {
    let failed = |e: datafusion::arrow::error::ArrowError| Error::invalid("output", e.to_string());
    let io = |e: std::io::Error| Error::io("output", e);
    match format {
        Format::Table => {
            let table =
                pretty_format_batches_with_schema(schema.clone(), batches).map_err(failed)?;
            writeln!(out, "{table}").map_err(io)?;
        }
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_string())
                .build(&mut *out);
            if batches.is_empty() {
                writer
                    .write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(failed)?;
            }
            for batch in batches {
                writer.write(batch).map_err(failed)?;
            }
        }
        Format::Json => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch).map_err(failed)?;
            }
            writer.finish().map_err(failed)?;
        }
        Format::Parquet => {
            let mut buffer = Vec::new();
            let mut writer = ArrowWriter::try_new(&mut buffer, schema.clone(), None)
                .map_err(|e| Error::invalid("output", e.to_string()))?;
            for batch in batches {
                writer
                    .write(batch)
                    .map_err(|e| Error::invalid("output", e.to_string()))?;
            }
            writer
                .close()
                .map_err(|e| Error::invalid("output", e.to_string()))?;
            out.write_all(&buffer).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}
