//! What an analyst asks of a session before querying it: which tables and views there
//! are and what each is, a relation's columns, and a per-column profile
//! ([`summarize`], what DuckDB's `SUMMARIZE` gives).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::{MemTable, TableProvider};

use crate::engine::catalogue::{Kind, VIEWS};
use crate::engine::memo::Kept;
use crate::engine::session::Session;
use crate::error::{Error, Result};

/// What a relation of the session is, as `\d` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// A table of the snapshot, as exported.
    Source,
    /// Every row of a source table, tagged with the first data-quality check it fails.
    Checked,
    /// The rows of a checked view that pass every check.
    Clean,
    /// A view the session computed once and holds in memory.
    Kept,
    /// A view computed by the first query that reads it, then held.
    OnFirstUse,
    /// A view that reads the filters of the metric being asked (unfiltered in SQL).
    Filter,
    /// A table the session derives from the snapshot (calendars, duplicate ids).
    Derived,
    /// A plain view over the tables above.
    View,
}

impl RelationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RelationKind::Source => "source table",
            RelationKind::Checked => "checked view",
            RelationKind::Clean => "clean view",
            RelationKind::Kept => "kept view",
            RelationKind::OnFirstUse => "computed on first use",
            RelationKind::Filter => "filter view",
            RelationKind::Derived => "derived table",
            RelationKind::View => "view",
        }
    }
}

/// One table or view a query can name.
#[derive(Debug, Clone)]
pub struct Relation {
    pub name: String,
    pub kind: RelationKind,
    /// Known without running a query: from the Parquet footers, or held in memory.
    pub rows: Option<u64>,
    pub schema: SchemaRef,
}

/// Every relation a query can name, by name.
pub async fn relations(session: &Session) -> Result<Vec<Relation>> {
    let Some(schema) = default_schema(session) else {
        return Ok(Vec::new());
    };
    let mut names = schema.table_names();
    names.sort();
    let mut relations = Vec::with_capacity(names.len());
    for name in names {
        let provider = schema
            .table(&name)
            .await
            .map_err(|e| Error::query(format!("describing '{name}'"), e))?;
        let Some(provider) = provider else {
            continue;
        };
        let source = session.tables().iter().find(|t| t.name == name);
        let held = held_rows(provider.as_ref());
        let kind = match (source, kind_in_catalogue(&name)) {
            (Some(_), _) => RelationKind::Source,
            (None, Some(kind)) => kind,
            (None, None) if name.ends_with("_clean") => match held {
                Some(_) => RelationKind::Kept,
                None => RelationKind::Clean,
            },
            (None, None) if held.is_some() => RelationKind::Derived,
            (None, None) => RelationKind::View,
        };
        relations.push(Relation {
            rows: source.map(|t| t.rows).or(held),
            schema: provider.schema(),
            name,
            kind,
        });
    }
    Ok(relations)
}

/// The relation `name`, or a not-found error that says where to look.
pub async fn relation(session: &Session, name: &str) -> Result<Relation> {
    let found = relations(session)
        .await?
        .into_iter()
        .find(|r| r.name == name);
    found.ok_or_else(|| {
        let pii = if session.options().include_pii {
            ""
        } else {
            " (PII tables and columns need --include-pii)"
        };
        Error::invalid(
            "table",
            format!(
                "no table or view '{}' in snapshot '{}'{pii}",
                crate::output::printable(name),
                session.snapshot().id
            ),
        )
    })
}

/// The schema unqualified names resolve in.
fn default_schema(session: &Session) -> Option<Arc<dyn SchemaProvider>> {
    let ctx = session.context();
    let state = ctx.state();
    let options = state.config().options();
    ctx.catalog(&options.catalog.default_catalog)
        .and_then(|catalog| catalog.schema(&options.catalog.default_schema))
}

fn kind_in_catalogue(name: &str) -> Option<RelationKind> {
    if name == "transactions_all" {
        return Some(RelationKind::View);
    }
    let view = VIEWS.iter().find(|v| v.name == name)?;
    Some(match view.kind {
        Kind::Checked { .. } => RelationKind::Checked,
        Kind::Transactions { .. } => RelationKind::View,
        Kind::OnFirstUse => RelationKind::OnFirstUse,
        Kind::Filter => RelationKind::Filter,
    })
}

fn held_rows(provider: &dyn TableProvider) -> Option<u64> {
    let any: &dyn std::any::Any = provider;
    if let Some(kept) = any.downcast_ref::<Kept>() {
        return Some(kept.rows());
    }
    any.downcast_ref::<MemTable>().map(memtable_rows)
}

fn memtable_rows(table: &MemTable) -> u64 {
    table
        .batches
        .iter()
        .filter_map(|partition| partition.try_read().ok())
        .flat_map(|batches| {
            batches
                .iter()
                .map(|b| b.num_rows() as u64)
                .collect::<Vec<_>>()
        })
        .sum()
}

/// A column's type as SQL names it (`BIGINT`, `TIMESTAMP WITH TIME ZONE`), which is
/// what an analyst writes in a `CAST`; other types as Arrow names them.
pub fn sql_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT UNSIGNED".into(),
        DataType::UInt16 => "SMALLINT UNSIGNED".into(),
        DataType::UInt32 => "INTEGER UNSIGNED".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BYTEA".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, Some(tz)) => format!("TIMESTAMP WITH TIME ZONE ({tz})"),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        DataType::List(field) | DataType::LargeList(field) | DataType::ListView(field) => {
            format!("{}[]", sql_type(field.data_type()))
        }
        DataType::Dictionary(_, value) => sql_type(value),
        other => other.to_string(),
    }
}

/// A relation's columns: name, SQL type and whether it may hold NULL.
pub fn columns(relation: &Relation) -> Result<RecordBatch> {
    let fields = relation.schema.fields();
    let schema = Arc::new(Schema::new(vec![
        Field::new("column", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("nullable", DataType::Utf8, false),
    ]));
    let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    let types: Vec<String> = fields.iter().map(|f| sql_type(f.data_type())).collect();
    let nullable: Vec<&str> = fields
        .iter()
        .map(|f| if f.is_nullable() { "yes" } else { "no" })
        .collect();
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(names)),
        Arc::new(StringArray::from(types)),
        Arc::new(StringArray::from(nullable)),
    ];
    RecordBatch::try_new(schema, arrays).map_err(|e| Error::internal("describing columns", e))
}

/// The relations as a table: name, kind and rows where known.
pub fn listing(relations: &[Relation]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, true),
    ]));
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            relations.iter().map(|r| r.name.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            relations.iter().map(|r| r.kind.as_str()),
        )),
        Arc::new(UInt64Array::from_iter(relations.iter().map(|r| r.rows))),
    ];
    RecordBatch::try_new(schema, arrays).map_err(|e| Error::internal("listing relations", e))
}

/// One row per column of `relation`: its type, non-NULL count, share of NULLs, an
/// approximate distinct count, min, max and, for numbers, the mean; computed in one
/// scan. Min and max are shown as text, so one table holds every column's.
pub async fn summarize(session: &Session, relation: &Relation) -> Result<RecordBatch> {
    let fields = relation.schema.fields();
    let mut select = vec!["count(*)".to_string()];
    for field in fields {
        let column = quote(field.name());
        let data_type = field.data_type();
        select.push(format!("count({column})"));
        select.push(if distinct_countable(data_type) {
            format!("approx_distinct({column})")
        } else {
            "CAST(NULL AS BIGINT UNSIGNED)".to_string()
        });
        for aggregate in ["min", "max"] {
            select.push(if orderable(data_type) {
                format!("CAST({aggregate}({column}) AS VARCHAR)")
            } else {
                "CAST(NULL AS VARCHAR)".to_string()
            });
        }
        select.push(if data_type.is_numeric() {
            format!("avg(CAST({column} AS DOUBLE))")
        } else {
            "CAST(NULL AS DOUBLE)".to_string()
        });
    }
    let select: Vec<String> = select
        .iter()
        .enumerate()
        .map(|(i, expression)| format!("{expression} AS v{i}"))
        .collect();
    let sql = format!(
        "SELECT {} FROM {}",
        select.join(", "),
        quote(&relation.name)
    );
    let context = format!("summarizing '{}'", relation.name);
    let df = session
        .query_with(&context, &sql, session.params(&Default::default()))
        .await?;
    let batches = session.collect(df, &context).await?;
    let Some(row) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Err(Error::internal(&context, "the aggregate returned no row"));
    };
    let text = |i: usize| -> Result<Option<String>> {
        let column = row.column(i);
        if column.is_null(0) {
            return Ok(None);
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
            .map_err(|e| Error::internal(&context, e))?;
        Ok(Some(formatter.value(0).to_string()))
    };
    let number = |i: usize| text(i).map(|t| t.and_then(|t| t.parse::<f64>().ok()));
    let total = number(0)?.unwrap_or(0.0);

    let (mut names, mut types, mut counts, mut nulls) = (vec![], vec![], vec![], vec![]);
    let (mut distinct, mut min, mut max, mut mean) = (vec![], vec![], vec![], vec![]);
    for (i, field) in fields.iter().enumerate() {
        let at = 1 + 5 * i;
        let count = number(at)?.unwrap_or(0.0);
        names.push(field.name().clone());
        types.push(sql_type(field.data_type()));
        counts.push(count as u64);
        nulls.push((total > 0.0).then(|| 100.0 * (total - count) / total));
        // The estimate can exceed the count it estimates; it never means more.
        distinct.push(number(at + 1)?.map(|d| (d as u64).min(count as u64)));
        min.push(text(at + 2)?);
        max.push(text(at + 3)?);
        mean.push(number(at + 4)?);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("column", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("count", DataType::UInt64, false),
        Field::new("null_percent", DataType::Float64, true),
        Field::new("approx_distinct", DataType::UInt64, true),
        Field::new("min", DataType::Utf8, true),
        Field::new("max", DataType::Utf8, true),
        Field::new("mean", DataType::Float64, true),
    ]));
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(names)),
        Arc::new(StringArray::from(types)),
        Arc::new(UInt64Array::from(counts)),
        Arc::new(Float64Array::from(nulls)),
        Arc::new(UInt64Array::from(distinct)),
        Arc::new(StringArray::from(min)),
        Arc::new(StringArray::from(max)),
        Arc::new(Float64Array::from(mean)),
    ];
    RecordBatch::try_new(schema, arrays).map_err(|e| Error::internal(&context, e))
}

/// `name` as a SQL identifier: a snapshot's column may be called anything.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn orderable(data_type: &DataType) -> bool {
    data_type.is_primitive()
        || matches!(
            data_type,
            DataType::Boolean
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Date32
                | DataType::Date64
        )
}

fn distinct_countable(data_type: &DataType) -> bool {
    orderable(data_type) && !data_type.is_floating()
        || matches!(data_type, DataType::Binary | DataType::LargeBinary)
}
