//! Small tables a session computes (the calendars, the onboarding steps, the duplicate
//! ids), in a form every plan that reads them can carry.
//!
//! Here they are in-memory tables. A Ballista cluster plans on its scheduler from the
//! plan the client serialises, and `datafusion-proto` serialises views, `VALUES` and
//! `EmptyTable` but not in-memory tables; so on a cluster they become views of `VALUES`
//! rows, inlined into each plan (a few thousand rows at most).
//!
//! And a cluster's result comes back in the order its `ORDER BY` asks for only as long as
//! Ballista keeps it: see [`result_order`].

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::empty::EmptyTable;
use datafusion::catalog::view::ViewTable;
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, lit};

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

/// The order a result must come in, as (column, direction) pairs: the plan's outermost
/// `ORDER BY` when it sorts by columns of the result and keeps every row.
///
/// Ballista 55 can hand back a sorted result out of order: its planner turns a broadcast
/// join back into a shuffled one after DataFusion has dropped the final sort because the
/// broadcast join kept its input's order (docs/SCALE.md). The client puts the rows back.
pub(crate) fn result_order(plan: &LogicalPlan) -> Option<Vec<(usize, SortOptions)>> {
    let LogicalPlan::Sort(sort) = plan else {
        return None;
    };
    if sort.fetch.is_some() {
        return None;
    }
    sort.expr
        .iter()
        .map(|key| match &key.expr {
            Expr::Column(column) => plan.schema().index_of_column(column).ok().map(|i| {
                (
                    i,
                    SortOptions {
                        descending: !key.asc,
                        nulls_first: key.nulls_first,
                    },
                )
            }),
            _ => None,
        })
        .collect()
}

/// `batches` sorted by `order`, rows that tie keeping the order they came in: a result
/// that already was in order comes back unchanged.
pub(crate) fn in_order(
    batches: Vec<RecordBatch>,
    order: &[(usize, SortOptions)],
) -> Result<Vec<RecordBatch>> {
    let Some(first) = batches.first() else {
        return Ok(batches);
    };
    let all = concat_batches(&first.schema(), &batches)?;
    let arrival =
        UInt32Array::from_iter_values(0..u32::try_from(all.num_rows()).unwrap_or(u32::MAX));
    let mut keys: Vec<SortColumn> = order
        .iter()
        .map(|(column, options)| SortColumn {
            values: all.column(*column).clone(),
            options: Some(*options),
        })
        .collect();
    keys.push(SortColumn {
        values: Arc::new(arrival),
        options: None,
    });
    let indices = lexsort_to_indices(&keys, None)?;
    Ok(vec![take_record_batch(&all, &indices)?])
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

    #[tokio::test]
    async fn a_result_out_of_order_is_put_back_in_the_order_its_plan_asks() {
        let ctx = SessionContext::new();
        let frame = ctx
            .sql(
                "SELECT * FROM (VALUES (2, 'b'), (1, 'x'), (2, 'a'), (NULL, 'n')) AS t(k, v) \
                 ORDER BY k DESC NULLS LAST",
            )
            .await
            .expect("plan");
        let order = result_order(frame.logical_plan()).expect("an order by a column");
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let rows = |keys: Vec<Option<i64>>, values: Vec<&str>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(keys)),
                    Arc::new(StringArray::from(values)),
                ],
            )
            .expect("batch")
        };
        // Two partitions as a cluster may hand them back: the second's rows first.
        let shuffled = vec![
            rows(vec![Some(1), None], vec!["x", "n"]),
            rows(vec![Some(2), Some(2)], vec!["b", "a"]),
        ];
        let sorted = in_order(shuffled, &order).expect("sorted");
        let text = pretty_format_batches(&sorted).expect("format").to_string();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("| ")).collect();
        // Ties (k = 2) keep the order they came in.
        assert_eq!(
            lines,
            [
                "| k | v |",
                "| 2 | b |",
                "| 2 | a |",
                "| 1 | x |",
                "|   | n |"
            ]
        );

        let computed = ctx
            .sql("SELECT 1 AS one ORDER BY one + 1")
            .await
            .expect("plan");
        assert!(result_order(computed.logical_plan()).is_none());
        let limited = ctx
            .sql("SELECT 1 AS one ORDER BY one LIMIT 1")
            .await
            .expect("plan");
        assert!(result_order(limited.logical_plan()).is_none());
    }
}
