use std::process::ExitCode;

use clap::Args;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use std::sync::Arc;

use super::{SnapshotArgs, StoreArgs};
use crate::output::{self, Format};
use crate::source::snapshot;

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub async fn snapshots(args: SnapshotsArgs) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let (entries, unusable) = snapshot::list_with_unusable(&store).await?;
    for name in unusable {
        eprintln!(
            "snapmetrics: skipped folder '{}': its name has a control character or is not UTF-8; rename it to read it as a snapshot",
            crate::output::printable(&name)
        );
    }
    let mut ids = Vec::new();
    let mut complete = Vec::new();
    let mut as_of = Vec::new();
    let mut source = Vec::new();
    for entry in entries {
        // Only the cheap sources here; the data-derived as_of needs the snapshot opened.
        let manifest = snapshot::read_manifest(&store, &entry.id)
            .await
            .ok()
            .flatten();
        let hint = snapshot::as_of_hint(&entry.id, manifest.as_ref());
        ids.push(entry.id.clone());
        complete.push(if entry.complete { "true" } else { "false" });
        as_of.push(hint.map(|h| h.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)));
        source.push(Some(hint.map_or(
            "greatest users.created_at (when opened)".to_string(),
            |h| h.source.to_string(),
        )));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("snapshot", DataType::Utf8, false),
        Field::new("complete", DataType::Utf8, false),
        Field::new("as_of", DataType::Utf8, true),
        Field::new("as_of_source", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(complete)),
        Arc::new(StringArray::from(as_of)),
        Arc::new(StringArray::from(source)),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    output::write(
        args.format,
        &schema,
        &[batch],
        &mut std::io::stdout().lock(),
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn tables(args: TablesArgs) -> anyhow::Result<ExitCode> {
    let session = args.snapshot.open().await?;
    let mut names = Vec::new();
    let mut rows = Vec::new();
    let mut files = Vec::new();
    let mut columns = Vec::new();
    for table in session.tables() {
        names.push(table.name.clone());
        rows.push(table.rows);
        files.push(table.files.len() as u64);
        let described: Vec<String> = table
            .schema
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        columns.push(described.join(", "));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("columns", DataType::Utf8, false),
    ]));
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(names)),
        Arc::new(UInt64Array::from(rows)),
        Arc::new(UInt64Array::from(files)),
        Arc::new(StringArray::from(columns)),
    ];
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let mut out = std::io::stdout().lock();
    output::write(args.format, &schema, &[batch], &mut out)?;
    let as_of = session.as_of();
    eprintln!(
        "snapshot {} as_of {} (from {}); transactions_all reads {:?}",
        session.snapshot().id,
        as_of
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        as_of.source,
        session.transactions_source()
    );
    Ok(ExitCode::SUCCESS)
}
