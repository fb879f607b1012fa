//! Result formats: one encoder writes batches in any format to any writer, so the CLI,
//! reports and tests share it; [`write_stream`] writes a query's result batch by batch,
//! so a result never has to fit in memory (an aligned table does, and is bounded by the
//! session's memory pool).

pub mod html;
pub mod manifest;
pub mod publish;
pub mod report;

use std::io::Write;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::MemoryReservation;
use datafusion::parquet::arrow::ArrowWriter;
use futures::{Stream, StreamExt};

use crate::error::{Error, Result};

/// How query results are printed or saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table, for terminals.
    Table,
    /// CSV with a header row.
    Csv,
    /// Newline-delimited JSON objects, every column present (NULL as `null`).
    Json,
    /// A Markdown (GitHub) table, for pasting into a ticket or a pull request.
    Markdown,
    /// A Parquet file (binary; use --output).
    Parquet,
}

/// `text` with control characters (a newline, ESC) written as escapes (`\n`,
/// `\u{1b}`), so a name taken from a store never moves the cursor or recolours a
/// terminal, and an error stays on one line.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| match c {
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// Writes `batches` (of `schema`) to `out` in `format`.
pub fn write(
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> Result<()> {
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(format, schema, &mut bytes)?;
    for batch in batches {
        encoder.push(batch.clone())?;
    }
    encoder.finish()?;
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("output", e))
}

/// Rows as JSON objects, in the one JSON encoding every output uses ([`Format::Json`]).
pub fn json_rows(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<serde_json::Value>> {
    let mut lines = Vec::new();
    write(Format::Json, schema, batches, &mut lines)?;
    lines
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice(line).map_err(|e| Error::internal("reading JSON rows back", e))
        })
        .collect()
}

/// Writes a stream of batches to `out` as they arrive. Only [`Format::Table`] holds
/// the rows (its columns are aligned over all of them), under `table_memory`: a result
/// too large for it fails cleanly instead of growing past the memory limit.
pub async fn write_stream<W: Write + Send>(
    format: Format,
    schema: &SchemaRef,
    mut batches: impl Stream<Item = Result<RecordBatch>> + Unpin,
    out: W,
    table_memory: MemoryReservation,
) -> Result<u64> {
    let mut encoder = Encoder::new(format, schema, out)?;
    let mut rows = 0;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        if format == Format::Table {
            table_memory
                .try_grow(batch.get_array_memory_size())
                .map_err(|e| Error::Memory {
                    context: "printing the result as an aligned table".to_string(),
                    limit: "the memory limit".to_string(),
                    detail: format!("use --format csv or json, which stream; {e}"),
                })?;
        }
        encoder.push(batch)?;
    }
    encoder.finish()?;
    Ok(rows)
}

/// One format's writer over `out`.
struct Encoder<W: Write + Send> {
    kind: EncoderKind<W>,
    /// The first I/O error `out` returned: the format writers report I/O failures as
    /// text, which would turn a closed pipe or a full disk into a formatting error.
    io: Arc<Mutex<Option<std::io::Error>>>,
    schema: SchemaRef,
}

enum EncoderKind<W: Write + Send> {
    Table(Vec<RecordBatch>, Capture<W>),
    Csv(datafusion::arrow::csv::Writer<Capture<W>>, bool),
    Json(datafusion::arrow::json::LineDelimitedWriter<Capture<W>>),
    Markdown(Capture<W>, bool),
    Parquet(ArrowWriter<Capture<W>>),
}

impl<W: Write + Send> Encoder<W> {
    fn new(format: Format, schema: &SchemaRef, out: W) -> Result<Self> {
        let io = Arc::new(Mutex::new(None));
        let out = Capture {
            inner: out,
            error: io.clone(),
        };
        let kind = match format {
            Format::Table => EncoderKind::Table(Vec::new(), out),
            Format::Csv => EncoderKind::Csv(
                datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_string())
                    .build(out),
                false,
            ),
            Format::Json => EncoderKind::Json(
                datafusion::arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build(out),
            ),
            Format::Markdown => EncoderKind::Markdown(out, false),
            Format::Parquet => EncoderKind::Parquet(
                ArrowWriter::try_new(out, schema.clone(), None).map_err(|e| failed(&io, e))?,
            ),
        };
        Ok(Encoder {
            kind,
            io,
            schema: schema.clone(),
        })
    }

    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        match &mut self.kind {
            EncoderKind::Table(batches, _) => {
                batches.push(batch);
                Ok(())
            }
            EncoderKind::Csv(writer, wrote) => {
                *wrote = true;
                writer.write(&batch).map_err(|e| failed(&self.io, e))
            }
            EncoderKind::Json(writer) => writer.write(&batch).map_err(|e| failed(&self.io, e)),
            EncoderKind::Markdown(out, header) => {
                if !*header {
                    write_markdown_header(out, &self.schema)?;
                    *header = true;
                }
                write_markdown_rows(out, &batch).map_err(|e| failed(&self.io, e))
            }
            EncoderKind::Parquet(writer) => writer.write(&batch).map_err(|e| failed(&self.io, e)),
        }
    }

    fn finish(self) -> Result<()> {
        let io = &self.io;
        let mut out = match self.kind {
            EncoderKind::Table(batches, mut out) => {
                let table = pretty_format_batches_with_schema(self.schema.clone(), &batches)
                    .map_err(|e| failed(io, e))?;
                writeln!(out, "{table}").map_err(|e| Error::io("output", e))?;
                out
            }
            EncoderKind::Csv(mut writer, wrote) => {
                // An empty result still gets its header row.
                if !wrote {
                    writer
                        .write(&RecordBatch::new_empty(self.schema.clone()))
                        .map_err(|e| failed(io, e))?;
                }
                writer.into_inner()
            }
            EncoderKind::Json(mut writer) => {
                writer.finish().map_err(|e| failed(io, e))?;
                writer.into_inner()
            }
            EncoderKind::Markdown(mut out, header) => {
                if !header {
                    write_markdown_header(&mut out, &self.schema)?;
                }
                out
            }
            EncoderKind::Parquet(writer) => writer.into_inner().map_err(|e| failed(io, e))?,
        };
        out.flush().map_err(|e| Error::io("output", e))
    }
}

fn write_markdown_header(out: &mut impl Write, schema: &SchemaRef) -> Result<()> {
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| markdown_cell(f.name()))
        .collect();
    let rule: Vec<&str> = names.iter().map(|_| "---").collect();
    writeln!(out, "| {} |\n| {} |", names.join(" | "), rule.join(" | "))
        .map_err(|e| Error::io("output", e))
}

fn write_markdown_rows(out: &mut impl Write, batch: &RecordBatch) -> Result<(), DataFusionError> {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default().with_null("");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        let cells: Vec<String> = formatters
            .iter()
            .map(|f| markdown_cell(&f.value(row).to_string()))
            .collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

/// A value as one Markdown table cell: pipes escaped, line breaks as spaces.
fn markdown_cell(text: &str) -> String {
    printable(&text.replace('|', "\\|").replace(['\n', '\r'], " ")).into_owned()
}

/// An I/O failure the writer saw wins over the format writer's description of it.
fn failed(io: &Mutex<Option<std::io::Error>>, error: impl Into<DataFusionError>) -> Error {
    match take(io) {
        Some(e) => Error::io("output", e),
        None => Error::query("writing the output", error.into()),
    }
}

fn take(io: &Mutex<Option<std::io::Error>>) -> Option<std::io::Error> {
    io.lock().ok().and_then(|mut slot| slot.take())
}

/// A writer that remembers its first error (see [`Encoder::io`]).
struct Capture<W> {
    inner: W,
    error: Arc<Mutex<Option<std::io::Error>>>,
}

impl<W> Capture<W> {
    fn keep(&self, e: &std::io::Error) {
        if let Ok(mut slot) = self.error.lock()
            && slot.is_none()
        {
            *slot = Some(std::io::Error::new(e.kind(), e.to_string()));
        }
    }
}

impl<W: Write> Write for Capture<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| self.keep(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| self.keep(e))
    }
}
