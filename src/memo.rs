//! A view computed the first time a query reads it, then kept for the session.
//!
//! DataFusion inlines views, so every query that reads `user_events_summary` would check
//! and aggregate 100 M events again. Computing it when the session opens would charge
//! that to every `sql` or `tables` run that never reads it. [`OnFirstUse`] does neither:
//! its first scan runs the view and keeps the batches; later scans read them.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::{ExecutionPlan, collect};
use tokio::sync::OnceCell;

/// A view whose rows are computed by its first scan and reused by every later one.
#[derive(Debug)]
pub struct OnFirstUse {
    view: Arc<dyn TableProvider>,
    rows: OnceCell<Arc<MemTable>>,
}

impl OnFirstUse {
    pub fn new(view: Arc<dyn TableProvider>) -> Self {
        OnFirstUse {
            view,
            rows: OnceCell::new(),
        }
    }

    async fn rows(&self, state: &dyn Session) -> Result<&Arc<MemTable>> {
        self.rows
            .get_or_try_init(|| async {
                let plan = self.view.scan(state, None, &[], None).await?;
                let batches = collect(plan, state.task_ctx()).await?;
                Ok(Arc::new(MemTable::try_new(self.schema(), vec![batches])?))
            })
            .await
    }
}

#[async_trait]
impl TableProvider for OnFirstUse {
    fn schema(&self) -> SchemaRef {
        self.view.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.rows(state)
            .await?
            .scan(state, projection, filters, limit)
            .await
    }
}
