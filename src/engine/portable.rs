//! Small tables a session computes (the calendars, the onboarding steps, the duplicate
//! ids), in a form every plan that reads them can carry.
//!
//! Here they are in-memory tables. A Ballista cluster plans on its scheduler from the
//! plan the client serialises, and `datafusion-proto` serialises views, `VALUES` and
//! `EmptyTable` but not in-memory tables; so on a cluster they become views of `VALUES`
//! rows, inlined into each plan (a few thousand rows at most).

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::empty::EmptyTable;
use datafusion::catalog::view::ViewTable;
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, lit};

/// `batches` as a table: in memory unless `on_cluster`.
pub(crate) fn rows_table(
    on_cluster: bool,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<Arc<dyn TableProvider>> {
    if on_cluster {
        values_table(schema, &batches)
    } else {
        Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
    }
}

/// A view of `VALUES` rows with `schema`'s column names; without rows, an `EmptyTable`
/// (there is no empty `VALUES`).
fn values_table(schema: SchemaRef, batches: &[RecordBatch]) -> Result<Arc<dyn TableProvider>> {
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .map(|column| ScalarValue::try_from_array(column, row).map(lit))
                .collect::<Result<Vec<_>>>()?;
            rows.push(values);
        }
    }
    if rows.is_empty() {
        return Ok(Arc::new(EmptyTable::new(schema)));
    }
    // VALUES names its columns column1, column2, … (and so does the plan the scheduler
    // decodes); the projection gives them the table's names.
    let names: Vec<Expr> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            Expr::Column(Column::new_unqualified(format!("column{}", i + 1))).alias(field.name())
        })
        .collect();
    let plan = LogicalPlanBuilder::values(rows)?.project(names)?.build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::SessionContext;

    async fn read(table: Arc<dyn TableProvider>) -> String {
        let ctx = SessionContext::new();
        ctx.register_table("t", table).expect("register");
        let batches = ctx
            .sql("SELECT * FROM t ORDER BY id")
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        pretty_format_batches(&batches).expect("format").to_string()
    }

    #[tokio::test]
    async fn values_read_as_the_rows_they_hold() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("day", DataType::Date32, true),
            Field::new("label", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![2, 1])),
                Arc::new(Date32Array::from(vec![Some(20_000), None])),
                Arc::new(StringArray::from(vec![Some("b"), None])),
            ],
        )
        .expect("batch");
        let here =
            read(rows_table(false, schema.clone(), vec![batch.clone()]).expect("here")).await;
        let there = read(rows_table(true, schema.clone(), vec![batch]).expect("there")).await;
        assert_eq!(here, there);
        assert!(there.contains("| 2  | 2024-10-04 | b     |"), "{there}");

        let ctx = SessionContext::new();
        let empty = rows_table(true, schema.clone(), vec![]).expect("empty");
        ctx.register_table("t", empty).expect("register");
        let frame = ctx.sql("SELECT * FROM t").await.expect("plan");
        assert_eq!(frame.schema().as_arrow(), schema.as_ref());
        let batches = frame.collect().await.expect("run");
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    }
}
