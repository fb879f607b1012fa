//! Rows a session keeps in memory: views computed once ([`Kept`]), or the first time a
//! query reads them ([`OnFirstUse`]). Both count their rows against the session's memory
//! pool, so `--memory-limit` bounds what is kept as well as what the operators hold.
//!
//! DataFusion inlines views, so every query that reads `user_events_summary` would check
//! and aggregate 100 M events again. Computing it when the session opens would charge
//! that to every `sql` or `tables` run that never reads it. [`OnFirstUse`] does neither:
//! its first scan runs the view and keeps the batches; later scans read them.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::{ExecutionPlan, collect};
use tokio::sync::OnceCell;

/// Rows held in memory for the session and reserved in its memory pool until dropped.
#[derive(Debug)]
pub struct Kept {
    rows: MemTable,
    count: u64,
    _reservation: MemoryReservation,
}

impl Kept {
    /// Keeps `batches` as table `name`; fails (out of memory) when the pool cannot hold
    /// them.
    pub fn new(
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        pool: &Arc<dyn MemoryPool>,
    ) -> Result<Self> {
        // Slices, not capacities: collected batches are often slices of one allocation.
        let bytes = batches
            .iter()
            .flat_map(|batch| batch.columns())
            .map(|column| column.to_data().get_slice_memory_size())
            .sum::<std::result::Result<usize, _>>()?;
        let reservation = MemoryConsumer::new(format!("kept table {name}")).register(pool);
        reservation.try_grow(bytes)?;
        // The plan's schema is the table's: a physical batch may call nullable a column
        // the plan knows is never NULL (coalesce), which MemTable would refuse.
        let batches = batches
            .into_iter()
            .map(|batch| RecordBatch::try_new(schema.clone(), batch.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let count = batches.iter().map(|b| b.num_rows() as u64).sum();
        Ok(Kept {
            rows: MemTable::try_new(schema, vec![batches])?,
            count,
            _reservation: reservation,
        })
    }

    /// How many rows are held.
    pub fn rows(&self) -> u64 {
        self.count
    }
}

#[async_trait]
impl TableProvider for Kept {
    fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.rows.scan(state, projection, filters, limit).await
    }
}

/// A faster way to a view's rows than its plan: a purpose-built operator. The view's
/// SQL stays the definition, and a test proves the two agree.
#[async_trait]
pub trait Operator: std::fmt::Debug + Send + Sync {
    /// The view's rows, in its `schema`; `None` when the operator does not apply to this
    /// snapshot, and the view's plan runs instead.
    async fn rows(
        &self,
        state: &dyn Session,
        schema: &SchemaRef,
    ) -> Result<Option<Vec<RecordBatch>>>;
}

/// How a kept view's rows were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputedBy {
    /// The view's SQL.
    Definition,
    /// Its purpose-built [`Operator`].
    Operator,
}

/// A view whose rows are computed by its first scan and reused by every later one.
#[derive(Debug)]
pub struct OnFirstUse {
    name: String,
    view: Arc<dyn TableProvider>,
    operator: Option<Arc<dyn Operator>>,
    rows: OnceCell<(Kept, ComputedBy)>,
}

impl OnFirstUse {
    pub fn new(name: &str, view: Arc<dyn TableProvider>) -> Self {
        OnFirstUse {
            name: name.to_string(),
            view,
            operator: None,
            rows: OnceCell::new(),
        }
    }

    /// Computes the rows by `operator` where it applies.
    pub fn with_operator(self, operator: Arc<dyn Operator>) -> Self {
        OnFirstUse {
            operator: Some(operator),
            ..self
        }
    }

    /// How the rows were computed; `None` before the first scan.
    pub fn computed_by(&self) -> Option<ComputedBy> {
        self.rows.get().map(|(_, by)| *by)
    }

    async fn rows(&self, state: &dyn Session) -> Result<&Kept> {
        let (kept, _) = self
            .rows
            .get_or_try_init(|| async {
                let schema = self.schema();
                let operated = match &self.operator {
                    Some(operator) => operator.rows(state, &schema).await?,
                    None => None,
                };
                let (batches, by) = match operated {
                    Some(batches) => (batches, ComputedBy::Operator),
                    None => {
                        let plan = self.view.scan(state, None, &[], None).await?;
                        (
                            collect(plan, state.task_ctx()).await?,
                            ComputedBy::Definition,
                        )
                    }
                };
                let pool = &state.runtime_env().memory_pool;
                Ok::<_, datafusion::error::DataFusionError>((
                    Kept::new(&self.name, schema, batches, pool)?,
                    by,
                ))
            })
            .await?;
        Ok(kept)
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
