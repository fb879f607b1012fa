//! Source tables: every file's footer is checked against the canonical schema, then the
//! table is registered as one DataFusion listing table over exactly the files found.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::common::Column;
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::{CachedFileList, TableScopedPath};
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::parquet::file::statistics::Statistics;
use datafusion::prelude::{Expr, SessionContext};
use datafusion_datasource_parquet::metadata::DFParquetMetadata;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;

use crate::error::{Error, Result};
use crate::source::schema::{Kind, Presence, TableSpec, Visibility, normalise_extra};
use crate::source::snapshot::{Snapshot, TableFiles, relative_parts};
use crate::source::store::Store;

/// How many footers are fetched at once (matters on S3, harmless locally).
const FOOTER_CONCURRENCY: usize = 16;

/// A registered source table and what was learnt while checking it.
#[derive(Debug, Clone)]
pub struct SourceTable {
    pub name: String,
    pub schema: SchemaRef,
    pub files: Vec<ObjectMeta>,
    /// Rows per the Parquet footers.
    pub rows: u64,
    /// Columns read as 64-bit integers that some file stores narrower (an `INTEGER` id,
    /// say): the session widens them as it reads.
    pub widened: Vec<String>,
}

struct FileFacts {
    schema: SchemaRef,
    rows: u64,
    metadata: Arc<ParquetMetaData>,
}

/// Checks every file of `files` against `spec` and registers the table in `ctx`.
pub async fn register(
    ctx: &SessionContext,
    store: &Store,
    snapshot: &Snapshot,
    spec: &TableSpec,
    files: &TableFiles,
    include_pii: bool,
) -> Result<SourceTable> {
    // Owned metas keep the stream's future `Send` (a borrowing closure is not general
    // enough for rustc), so a session can be opened on a spawned task.
    let facts: Vec<FileFacts> = futures::stream::iter(files.files.iter().cloned())
        .map(|meta| async move { read_footer(ctx, store, snapshot, &files.name, &meta).await })
        .buffered(FOOTER_CONCURRENCY)
        .try_collect()
        .await?;

    let visible = |v: Visibility| match v {
        Visibility::Public => true,
        Visibility::Pii => include_pii,
        Visibility::Secret => false,
    };
    let column_error = |file: &ObjectMeta, column: &str, problem: String| Error::Column {
        snapshot: snapshot.id.clone(),
        table: files.name.clone(),
        file: store.display(&file.location),
        column: column.to_string(),
        problem,
    };

    let mut extras: BTreeMap<String, (usize, Field, &ObjectMeta)> = BTreeMap::new();
    let mut widened = Vec::new();
    for (meta, fact) in files.files.iter().zip(&facts) {
        for column in spec.columns.iter().filter(|c| visible(c.visibility)) {
            match fact.schema.field_with_name(column.name) {
                Ok(field) if !column.kind.accepts(field.data_type()) => {
                    return Err(column_error(
                        meta,
                        column.name,
                        format!(
                            "has type {}, expected {}",
                            field.data_type(),
                            column.kind.expected()
                        ),
                    ));
                }
                Ok(field)
                    if column.kind == Kind::Int32 && field.data_type() == &DataType::Int64 =>
                {
                    if let Some((least, greatest)) = int64_range(&fact.metadata, column.name)
                        && (least < i64::from(i32::MIN) || greatest > i64::from(i32::MAX))
                    {
                        return Err(column_error(
                            meta,
                            column.name,
                            format!(
                                "has values from {least} to {greatest} (per the file's statistics), beyond the Int32 range it is read as"
                            ),
                        ));
                    }
                }
                Ok(field)
                    if column.kind == Kind::Int64
                        && field.data_type() != &DataType::Int64
                        && !widened.iter().any(|w| w == column.name) =>
                {
                    widened.push(column.name.to_string());
                }
                Ok(_) => {}
                Err(_) if column.presence == Presence::Required => {
                    return Err(column_error(
                        meta,
                        column.name,
                        format!("is missing, expected {}", column.kind.expected()),
                    ));
                }
                Err(_) => {}
            }
        }
        if !visible(spec.extra_visibility) {
            continue;
        }
        for (position, field) in fact.schema.fields().iter().enumerate() {
            if spec.column(field.name()).is_some() {
                continue;
            }
            let normalised = Field::new(field.name(), normalise_extra(field.data_type()), true);
            match extras.get(field.name()) {
                Some((_, seen, first)) if seen.data_type() != normalised.data_type() => {
                    return Err(column_error(
                        meta,
                        field.name(),
                        format!(
                            "has type {}, but '{}' has {}; all files of a table must agree",
                            field.data_type(),
                            store.display(&first.location),
                            seen.data_type()
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    extras.insert(field.name().clone(), (position, normalised, meta));
                }
            }
        }
    }
    let mut extras: Vec<(usize, Field)> = extras.into_values().map(|(p, f, _)| (p, f)).collect();
    extras.sort_by_key(|(position, _)| *position);
    let extras: Vec<Field> = extras.into_iter().map(|(_, f)| f).collect();

    let partitions = partition_columns(store, snapshot, files, &extras, spec)?;
    let file_schema = crate::source::schema::exposed_schema(spec, &extras, include_pii);

    let url = ListingTableUrl::parse(store.url_of(&files.location, files.is_dir))
        .map_err(|e| Error::query(format!("table '{}'", files.name), e))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partitions);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(file_schema);
    let table = ListingTable::try_new(config)
        .map_err(|e| Error::query(format!("table '{}'", files.name), e))?;
    seed_listing(ctx, files);
    let table = rename_derived(ctx, &files.name, Arc::new(table))?;
    let schema = table.schema();
    ctx.register_table(files.name.as_str(), table)
        .map_err(|e| Error::query(format!("registering table '{}'", files.name), e))?;

    Ok(SourceTable {
        name: files.name.clone(),
        schema,
        files: files.files.clone(),
        rows: facts.iter().map(|f| f.rows).sum(),
        widened,
    })
}

/// The table as the session sees it: a column (extra or Hive key) named like one the
/// session derives from this table ([`crate::engine::catalogue::derived_names`]) is renamed
/// `source_<name>` by a projection over the scan, which costs nothing at run time.
fn rename_derived(
    ctx: &SessionContext,
    name: &str,
    table: Arc<dyn TableProvider>,
) -> Result<Arc<dyn TableProvider>> {
    let derived: Vec<&str> = crate::engine::catalogue::derived_names(name).collect();
    let schema = table.schema();
    let taken: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if !taken.iter().any(|n| derived.contains(n)) {
        return Ok(table);
    }
    let failed = |e| Error::query(format!("registering table '{name}'"), e);
    let columns: Vec<Expr> = taken
        .iter()
        .map(|column| {
            let expr = Expr::Column(Column::from_name(*column));
            if !derived.contains(column) {
                return expr;
            }
            let mut renamed = format!("source_{column}");
            while taken.contains(&renamed.as_str()) || derived.contains(&renamed.as_str()) {
                renamed = format!("source_{renamed}");
            }
            expr.alias(renamed)
        })
        .collect();
    let view = ctx
        .read_table(table)
        .and_then(|df| df.select(columns))
        .map_err(failed)?
        .into_view();
    Ok(view)
}

/// Hands DataFusion the file list found by the snapshot listing, so it never lists the
/// table again and reads exactly the files that were checked (no stray files).
fn seed_listing(ctx: &SessionContext, files: &TableFiles) {
    if let Some(cache) = ctx.runtime_env().cache_manager.get_list_files_cache() {
        let key = TableScopedPath {
            table: None,
            path: files.location.clone(),
        };
        cache.put(&key, CachedFileList::new(files.files.clone()));
    }
}

async fn read_footer(
    ctx: &SessionContext,
    store: &Store,
    snapshot: &Snapshot,
    table: &str,
    meta: &ObjectMeta,
) -> Result<FileFacts> {
    let unreadable = |e: datafusion::error::DataFusionError| Error::File {
        snapshot: snapshot.id.clone(),
        table: table.to_string(),
        file: store.display(&meta.location),
        reason: format!("not a readable Parquet file: {e}"),
    };
    let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
    let object_store = store.object_store().clone();
    let owned = meta.clone();
    let (schema, rows, metadata) = crate::engine::contain::contained(async move {
        let footer = DFParquetMetadata::new(object_store.as_ref(), &owned)
            .with_file_metadata_cache(Some(cache));
        let metadata = footer.fetch_metadata().await?;
        let schema = footer.fetch_schema().await?;
        let rows = metadata
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows().max(0) as u64)
            .sum::<u64>();
        Ok((schema, rows, metadata))
    })
    .await
    .map_err(unreadable)?;
    Ok(FileFacts {
        schema: Arc::new(schema),
        rows,
        metadata,
    })
}

/// The least and greatest value of top-level INT64 column `name`, per the statistics of
/// every row group; `None` when any row group lacks them.
fn int64_range(metadata: &ParquetMetaData, name: &str) -> Option<(i64, i64)> {
    let index = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().parts() == [name])?;
    metadata
        .row_groups()
        .iter()
        .try_fold(None, |range: Option<(i64, i64)>, group| {
            let Some(Statistics::Int64(stats)) = group.column(index).statistics() else {
                return None;
            };
            let (least, greatest) = (*stats.min_opt()?, *stats.max_opt()?);
            Some(Some(range.map_or((least, greatest), |(l, g)| {
                (l.min(least), g.max(greatest))
            })))
        })
        .flatten()
}

/// Hive `key=value` folders become string columns, unless the files carry the column.
fn partition_columns(
    store: &Store,
    snapshot: &Snapshot,
    files: &TableFiles,
    extras: &[Field],
    spec: &TableSpec,
) -> Result<Vec<(String, DataType)>> {
    if !files.is_dir {
        return Ok(Vec::new());
    }
    let keys_of = |meta: &ObjectMeta| -> Vec<String> {
        let parts = relative_parts(&files.location, &meta.location).unwrap_or_default();
        let folders = &parts[..parts.len().saturating_sub(1)];
        folders
            .iter()
            .filter_map(|p| p.split_once('=').map(|(k, _)| k.to_string()))
            .collect()
    };
    let mut files_iter = files.files.iter();
    let Some(first) = files_iter.next() else {
        return Ok(Vec::new());
    };
    let keys = keys_of(first);
    for meta in files_iter {
        if keys_of(meta) != keys {
            return Err(Error::File {
                snapshot: snapshot.id.clone(),
                table: files.name.clone(),
                file: store.display(&meta.location),
                reason: format!(
                    "Hive partition folders ({}) differ from '{}' ({}); all files of a table must be partitioned alike",
                    keys_of(meta).join("/"),
                    store.display(&first.location),
                    keys.join("/")
                ),
            });
        }
    }
    let in_files = |k: &str| spec.column(k).is_some() || extras.iter().any(|f| f.name() == k);
    Ok(keys
        .into_iter()
        .filter(|k| !in_files(k))
        .map(|k| (k, DataType::Utf8))
        .collect())
}
