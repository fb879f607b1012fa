//! The only place a DataFusion session is built: source tables, the shared
//! data-quality views, calendars and the filter views every metric reads.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::array::{Array, Int32Array, Int64Array, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryConsumer, MemoryReservation};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{
    DataFrame, ParquetReadOptions, SQLOptions, SessionConfig, SessionContext,
};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::engine::calendar::Calendar;
use crate::engine::catalogue::{CLEAN_VIEW, Kind, VIEWS};
pub use crate::engine::memo::ComputedBy;
use crate::engine::memo::{Kept, OnFirstUse, Operator};
use crate::engine::portable;
use crate::engine::remote::ClusterUrl;
use crate::engine::summary::EventsSummary;
use crate::engine::time::LocalTime;
use crate::error::{Error, Result};
use crate::source::schema::{self, TableSpec, Visibility};
use crate::source::snapshot::{AsOf, AsOfSource, Snapshot};
use crate::source::store::Store;
use crate::source::table::{self, SourceTable};

/// Which copy of the transaction facts `transactions_all` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum TransactionsSource {
    /// `l1_transaction_facts` mapped through `l0_user_tokenization`.
    L1,
    /// The legacy `transactions` table.
    Legacy,
}

/// The metric filters: one question's, bound as values into its query when it runs
/// (never spliced into SQL), so one opened snapshot answers any number of filter sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub active_only: bool,
    pub event_types: Vec<String>,
    pub bank: Option<String>,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            from: None,
            to: None,
            active_only: false,
            event_types: vec!["login".to_string(), "dashboard_access".to_string()],
            bank: None,
        }
    }
}

impl Filters {
    /// The earliest date a filter may name: the first `YYYY-MM-DD` can write.
    pub const FIRST_DATE: NaiveDate = NaiveDate::from_ymd_opt(1, 1, 1).expect("a date");
    /// The last date a filter may name.
    pub const LAST_DATE: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date");

    /// Refuses a filter set no metric can answer: dates outside
    /// [`Filters::FIRST_DATE`]..=[`Filters::LAST_DATE`], `from` after `to`, no event type.
    pub fn validate(&self) -> Result<()> {
        for (name, date) in [("from", self.from), ("to", self.to)] {
            if let Some(date) = date
                && !(Self::FIRST_DATE..=Self::LAST_DATE).contains(&date)
            {
                return Err(Error::invalid(
                    name,
                    format!(
                        "{date} is outside {} to {}",
                        Self::FIRST_DATE,
                        Self::LAST_DATE
                    ),
                ));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(Error::invalid(
                "from/to",
                format!("from {from} is after to {to}"),
            ));
        }
        if self.event_types.is_empty() {
            return Err(Error::invalid(
                "event types",
                "name at least one event type",
            ));
        }
        Ok(())
    }
}

/// Everything that shapes a session besides the snapshot itself.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub include_pii: bool,
    pub tz: Tz,
    pub transactions_source: Option<TransactionsSource>,
    /// Bytes the query engine may hold before spilling or failing.
    pub memory_limit: Option<usize>,
    /// Run the queries on this Ballista cluster instead of in this process.
    pub cluster: Option<ClusterUrl>,
    /// Compute every view by its SQL definition, never by a purpose-built operator: for
    /// the tests that prove the two agree, and for anyone who doubts a number.
    pub definitions_only: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            include_pii: false,
            tz: Tz::UTC,
            transactions_source: None,
            memory_limit: None,
            cluster: None,
            definitions_only: false,
        }
    }
}

/// A snapshot registered for querying.
pub struct Session {
    ctx: SessionContext,
    store: Store,
    snapshot: Snapshot,
    as_of: AsOf,
    options: SessionOptions,
    tables: Vec<SourceTable>,
    transactions_source: TransactionsSource,
}

impl Session {
    /// Registers every table of `snapshot`, checking each file's schema first.
    pub async fn open(store: &Store, snapshot: Snapshot, options: SessionOptions) -> Result<Self> {
        let ctx = context(store, &options).await?;
        // After the context is made: a cluster's context replaces the functions it had.
        for udf in LocalTime::udfs() {
            ctx.register_udf(udf);
        }

        let missing = |table: &str| Error::MissingTable {
            snapshot: snapshot.id.clone(),
            table: table.to_string(),
        };
        for required in ["users", "user_events", "onboarding_responses"] {
            if snapshot.table(required).is_none() {
                return Err(missing(required));
            }
        }
        let has_l1 = snapshot.table("l1_transaction_facts").is_some();
        let has_tokens = snapshot.table("l0_user_tokenization").is_some();
        let has_legacy = snapshot.table("transactions").is_some();
        let transactions_source = match options.transactions_source {
            Some(TransactionsSource::L1) if !has_l1 => return Err(missing("l1_transaction_facts")),
            Some(TransactionsSource::L1) if !has_tokens => {
                return Err(missing("l0_user_tokenization"));
            }
            Some(TransactionsSource::Legacy) if !has_legacy => return Err(missing("transactions")),
            Some(source) => source,
            None if has_l1 && has_tokens => TransactionsSource::L1,
            None if has_legacy => TransactionsSource::Legacy,
            None if has_l1 => return Err(missing("l0_user_tokenization")),
            None => return Err(missing("transactions")),
        };

        let mut tables = Vec::new();
        for files in snapshot.tables.values() {
            let spec = schema::spec(&files.name).unwrap_or(&UNSPECIFIED);
            if !options.include_pii && spec.extra_visibility == Visibility::Pii {
                continue;
            }
            let registered =
                table::register(&ctx, store, &snapshot, spec, files, options.include_pii).await?;
            if let (Some(cluster), Some(column)) = (&options.cluster, registered.widened.first()) {
                return Err(Error::Cluster {
                    cluster: cluster.to_string(),
                    reason: format!(
                        "snapshot '{}', table '{}': column '{column}' is stored narrower than 64 bits, \
                         and Ballista 55 loses rows of such snapshots (docs/SCALE.md); run it in-process, \
                         not on the cluster",
                        snapshot.id, registered.name
                    ),
                });
            }
            tables.push(registered);
        }
        if !has_tokens {
            let schema = schema::exposed_schema(&schema::L0_USER_TOKENIZATION, &[], false);
            let empty = portable::rows_table(options.cluster.is_some(), schema, vec![])
                .map_err(|e| Error::query("registering l0_user_tokenization", e))?;
            register(&ctx, "l0_user_tokenization", empty)?;
        }

        let hint = snapshot.as_of_hint();
        let mut session = Session {
            ctx,
            store: store.clone(),
            snapshot,
            as_of: hint.unwrap_or(AsOf {
                at: DateTime::<Utc>::MIN_UTC,
                source: AsOfSource::MaxUserCreatedAt,
            }),
            options,
            tables,
            transactions_source,
        };
        if hint.is_none() {
            session.as_of.at = session.max_created_at().await?;
        }
        session.check_as_of()?;
        session.register_views().await?;
        Ok(session)
    }

    /// The calendars run from the first signup to `as_of`, a row per week and day: an
    /// `as_of` after tomorrow is a mistake (a manifest typo, a placeholder date), and
    /// would have them grow to millions of rows.
    fn check_as_of(&self) -> Result<()> {
        let latest = Utc::now() + chrono::TimeDelta::days(1);
        if self.as_of.at <= latest {
            return Ok(());
        }
        let at = self
            .as_of
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let fix = match self.as_of.source {
            AsOfSource::Manifest => "correct exported_at in its _manifest.json",
            AsOfSource::SnapshotId => {
                "add a _manifest.json with the real exported_at, or rename the snapshot"
            }
            AsOfSource::MaxUserCreatedAt => {
                "add a _manifest.json with the real exported_at, so that later rows count as after_as_of"
            }
        };
        Err(Error::Layout {
            snapshot: self.snapshot.id.clone(),
            reason: format!(
                "as_of {at} (from {}) is in the future; {fix}",
                self.as_of.source
            ),
        })
    }

    async fn max_created_at(&self) -> Result<DateTime<Utc>> {
        self.first_timestamp("SELECT max(created_at) FROM users")
            .await?
            .ok_or_else(|| Error::Layout {
                snapshot: self.snapshot.id.clone(),
                reason: "cannot tell as_of: no _manifest.json exported_at, the id is not a date, and users is empty".to_string(),
            })
    }

    /// The one non-NULL value a single-value query returns, if any.
    async fn single_value(&self, sql: &str) -> Result<Option<Arc<dyn Array>>> {
        let df = self.ctx.sql(sql).await.map_err(|e| Error::query(sql, e))?;
        let batches = self.collect(df, sql).await?;
        Ok(batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| b.column(0).clone())
            .filter(|c| c.is_valid(0)))
    }

    async fn first_timestamp(&self, sql: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .single_value(sql)
            .await?
            .as_ref()
            .and_then(|a| a.as_any().downcast_ref::<TimestampMicrosecondArray>())
            .and_then(|a| DateTime::from_timestamp_micros(a.value(0))))
    }

    /// Whether the queries run on a Ballista cluster, whose plans carry views and `VALUES`
    /// but not tables held in this process: there nothing is kept, views are recomputed
    /// by each query that reads them, and the small computed tables travel as `VALUES`.
    fn on_cluster(&self) -> bool {
        self.options.cluster.is_some()
    }

    async fn register_views(&self) -> Result<()> {
        // The summaries count the default engagement types; the filter views bind the
        // filters of each query when it runs.
        let params = self.params(&Filters::default());
        for view in VIEWS {
            match view.kind {
                Kind::Checked {
                    table,
                    reads,
                    duplicate_ids,
                    keep_clean,
                    ..
                } => {
                    if duplicate_ids {
                        self.register_duplicate_ids(reads, table, &params).await?;
                    }
                    self.register_view(view.name, view.sql, &params).await?;
                    let clean = CLEAN_VIEW.replace("{checked}", view.name);
                    let clean_name = format!("{table}_clean");
                    self.register_view(&clean_name, &clean, &params).await?;
                    if keep_clean && !self.on_cluster() {
                        self.materialize(&clean_name).await?;
                    }
                }
                Kind::Transactions { source } if source == self.transactions_source => {
                    self.register_view("transactions_all", view.sql, &params)
                        .await?;
                }
                Kind::Transactions { .. } | Kind::OnFirstUse | Kind::Filter => {}
            }
        }
        self.register_calendars().await?;
        for view in VIEWS {
            match view.kind {
                Kind::OnFirstUse => {
                    let rows = self.view(view.name, view.sql, &params).await?;
                    match self.on_cluster() {
                        true => register(&self.ctx, view.name, rows)?,
                        false => {
                            let mut kept = OnFirstUse::new(view.name, rows);
                            if let Some(operator) = self.operator(view.name).await? {
                                kept = kept.with_operator(operator);
                            }
                            register(&self.ctx, view.name, Arc::new(kept))?;
                        }
                    }
                }
                Kind::Filter => {
                    let unbound = self
                        .ctx
                        .sql_with_options(view.sql, read_only())
                        .await
                        .map_err(|e| Error::query(format!("defining view '{}'", view.name), e))?
                        .into_view();
                    register(&self.ctx, view.name, unbound)?;
                }
                Kind::Checked { .. } | Kind::Transactions { .. } => {}
            }
        }
        Ok(())
    }

    /// The purpose-built operator that computes view `name`, if it has one and the session
    /// may use it.
    async fn operator(&self, name: &str) -> Result<Option<Arc<dyn Operator>>> {
        if name != "user_events_summary" || self.options.definitions_only {
            return Ok(None);
        }
        let table = |name: &'static str| async move {
            self.ctx
                .table_provider(name)
                .await
                .map_err(|e| Error::query(format!("reading '{name}'"), e))
        };
        Ok(Some(Arc::new(EventsSummary {
            events: table("user_events").await?,
            users: table("users_clean").await?,
            repeated: table("user_events_duplicate_ids").await?,
            tz: self.options.tz,
            as_of: self.as_of.at.timestamp_micros(),
            engagement: Filters::default().event_types,
        })))
    }

    /// How the rows of kept view `name` were computed: `None` if it is not such a view
    /// or no query has read it yet.
    pub async fn computed_by(&self, name: &str) -> Option<ComputedBy> {
        let provider = self.ctx.table_provider(name).await.ok()?;
        let provider: &dyn std::any::Any = provider.as_ref();
        provider
            .downcast_ref::<OnFirstUse>()
            .and_then(OnFirstUse::computed_by)
    }

    /// `calendar_weeks`, `calendar_months` and `calendar_days` from the first clean signup
    /// to `as_of`, and
    /// `onboarding_steps` to the greatest clean `total_steps`.
    async fn register_calendars(&self) -> Result<()> {
        let first_signup = self
            .first_timestamp("SELECT min(created_at) FROM users_clean")
            .await?;
        let calendar = Calendar {
            tz: self.options.tz,
            as_of: self.as_of.at,
            first_day: Calendar::local_date(self.options.tz, first_signup.unwrap_or(self.as_of.at)),
        };
        self.register_rows("calendar_weeks", calendar.weeks()?)?;
        self.register_rows("calendar_months", calendar.months()?)?;
        self.register_rows("calendar_days", calendar.days()?)?;

        let max_steps = self
            .single_value("SELECT max(total_steps) FROM onboarding_responses_clean")
            .await?;
        let max_steps = max_steps
            .as_ref()
            .and_then(|a| a.as_any().downcast_ref::<Int32Array>())
            .map_or(0, |a| a.value(0));
        self.register_rows("onboarding_steps", onboarding_steps(max_steps)?)
    }

    /// Registers rows the session computed, held here or carried by the plans on a
    /// cluster ([`portable`]).
    fn register_rows(&self, name: &str, batch: RecordBatch) -> Result<()> {
        let table = portable::rows_table(self.on_cluster(), batch.schema(), vec![batch])
            .map_err(|e| Error::query(format!("registering '{name}'"), e))?;
        register(&self.ctx, name, table)
    }

    /// Registers `<table>_duplicate_ids`, the ids of `source` that occur more than once:
    /// by scans of the id column when the ids are dense or nearly sorted (`duplicates`),
    /// else by the aggregate that defines it.
    async fn register_duplicate_ids(
        &self,
        source: &str,
        table: &str,
        params: &[(&str, ScalarValue)],
    ) -> Result<()> {
        let name = format!("{table}_duplicate_ids");
        // transactions_all maps each fact row to at most one user, so its ids are those of
        // the table it reads.
        let scanned = match (source, self.transactions_source) {
            ("transactions_all", TransactionsSource::L1) => "l1_transaction_facts",
            ("transactions_all", TransactionsSource::Legacy) => "transactions",
            (source, _) => source,
        };
        let context = format!("computing '{name}'");
        let definition = format!("SELECT id FROM {source} GROUP BY id HAVING count(*) > 1");
        if self.on_cluster() {
            self.register_view(&name, &definition, params).await?;
            return self.carry_if_few(&name, &context).await;
        }
        let found = crate::engine::duplicates::find(&self.ctx, scanned).await;
        let ids = match found {
            Ok(ids) => ids,
            Err(error) => return Err(self.diagnose(error, &context).await),
        };
        let Some(ids) = ids else {
            self.register_view(&name, &definition, params).await?;
            return self.materialize(&name).await;
        };
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(ids))])
            .map_err(|e| Error::query(&context, e.into()))?;
        let table = self.keep(&name, schema, vec![batch], &context).await?;
        register(&self.ctx, &name, Arc::new(table))
    }

    /// The duplicate-id view `name` on a cluster: its definition runs there once; as few
    /// ids as a table usually has then travel in every plan as `VALUES`, and more stay the
    /// view (the scans of [`crate::engine::duplicates`] would pull every id to this process).
    async fn carry_if_few(&self, name: &str, context: &str) -> Result<()> {
        /// Ids carried as `VALUES`: a literal of some 20 bytes each in every plan, far
        /// inside the scheduler's 16 MiB message limit.
        const CARRIED_IDS: usize = 10_000;
        let (schema, batches) = self.rows_of(name, context).await?;
        if batches.iter().map(RecordBatch::num_rows).sum::<usize>() > CARRIED_IDS {
            return Ok(());
        }
        let table =
            portable::rows_table(true, schema, batches).map_err(|e| Error::query(context, e))?;
        self.replace(name, table, context)
    }

    /// Computes a view once and replaces it with its rows, so the queries that read it
    /// many times (every check joins `users_clean`) do not recompute it each time.
    async fn materialize(&self, name: &str) -> Result<()> {
        let context = format!("computing '{name}'");
        let (schema, batches) = self.rows_of(name, &context).await?;
        let table = self.keep(name, schema, batches, &context).await?;
        self.replace(name, Arc::new(table), &context)
    }

    /// The rows of table or view `name`, computed now.
    async fn rows_of(&self, name: &str, context: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let df = self
            .ctx
            .table(name)
            .await
            .map_err(|e| Error::query(context, e))?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = self.collect(df, context).await?;
        Ok((schema, batches))
    }

    /// Puts `table` in the place of the view `name`.
    fn replace(
        &self,
        name: &str,
        table: Arc<dyn datafusion::datasource::TableProvider>,
        context: &str,
    ) -> Result<()> {
        self.ctx
            .deregister_table(name)
            .map_err(|e| Error::query(context, e))?;
        register(&self.ctx, name, table)
    }

    /// Holds `batches` for the session as table `name`, reserved in its memory pool.
    async fn keep(
        &self,
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        context: &str,
    ) -> Result<Kept> {
        let pool = &self.ctx.runtime_env().memory_pool;
        match Kept::new(name, schema, batches, pool) {
            Ok(table) => Ok(table),
            Err(error) => Err(self.diagnose(error, context).await),
        }
    }

    async fn register_view(
        &self,
        name: &str,
        sql: &str,
        params: &[(&str, ScalarValue)],
    ) -> Result<()> {
        let view = self.view(name, sql, params).await?;
        register(&self.ctx, name, view)
    }

    /// View `name` of read-only `sql` with `params` bound, not yet registered.
    async fn view(
        &self,
        name: &str,
        sql: &str,
        params: &[(&str, ScalarValue)],
    ) -> Result<Arc<dyn datafusion::datasource::TableProvider>> {
        let context = || format!("defining view '{name}'");
        let df = self
            .ctx
            .sql_with_options(sql, read_only())
            .await
            .map_err(|e| Error::query(context(), e))?
            .with_param_values(params.to_vec())
            .map_err(|e| Error::query(context(), e))?;
        Ok(df.into_view())
    }

    /// The values a query binds: the snapshot's `$as_of` and `$tz`, and the filters;
    /// `$default_event_types` tells the views whether the per-session summaries, which
    /// count the default engagement types, answer for `filters.event_types`.
    pub fn params(&self, filters: &Filters) -> Vec<(&'static str, ScalarValue)> {
        let mut asked: Vec<&String> = filters.event_types.iter().collect();
        let default = Filters::default();
        let mut usual: Vec<&String> = default.event_types.iter().collect();
        asked.sort();
        asked.dedup();
        usual.sort();
        let date = |d: Option<NaiveDate>| {
            ScalarValue::Date32(d.map(|d| {
                (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
            }))
        };
        vec![
            (
                "as_of",
                ScalarValue::TimestampMicrosecond(
                    Some(self.as_of.at.timestamp_micros()),
                    Some("UTC".into()),
                ),
            ),
            (
                "tz",
                ScalarValue::Utf8(Some(self.options.tz.name().to_string())),
            ),
            ("from", date(filters.from)),
            ("to", date(filters.to)),
            (
                "active_only",
                ScalarValue::Boolean(Some(filters.active_only)),
            ),
            ("bank", ScalarValue::Utf8(filters.bank.clone())),
            (
                "default_event_types",
                ScalarValue::Boolean(Some(asked == usual)),
            ),
            (
                "event_types",
                ScalarValue::List(ScalarValue::new_list_nullable(
                    &filters
                        .event_types
                        .iter()
                        .map(|t| ScalarValue::Utf8(Some(t.clone())))
                        .collect::<Vec<_>>(),
                    &DataType::Utf8,
                )),
            ),
        ]
    }

    /// Plans read-only SQL: DDL, DML, COPY and SET are refused with a clear message.
    /// The filter views (`report_users`, `cohort_users`, …) read with no filters.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        self.ctx
            .sql_with_options(sql, read_only())
            .await
            .map_err(|e| refusal(sql, e))?
            .with_param_values(self.params(&Filters::default()))
            .map_err(|e| refusal(sql, e))
    }

    /// Plans one of the session's own queries (a metric) with the snapshot's values
    /// and `filters` bound: only this query's plan depends on them.
    pub async fn query(&self, name: &str, sql: &str, filters: &Filters) -> Result<DataFrame> {
        self.query_with(name, sql, self.params(filters)).await
    }

    /// [`Session::query`] with every value given: [`Session::params`] and the query's own.
    pub async fn query_with(
        &self,
        name: &str,
        sql: &str,
        params: Vec<(&str, ScalarValue)>,
    ) -> Result<DataFrame> {
        let context = || format!("query '{name}'");
        self.ctx
            .sql_with_options(sql, read_only())
            .await
            .map_err(|e| Error::query(context(), e))?
            .with_param_values(params)
            .map_err(|e| Error::query(context(), e))
    }

    /// Runs a planned query. When a scan fails, finds and names the file that cannot be
    /// read, since the engine's decode errors do not say which one it was.
    ///
    /// Hash joins cannot spill: when one runs out of memory, the query is planned again
    /// with sort-merge joins, which can, before the failure is reported. On a cluster the
    /// rows are put back in the order the query asks for (`portable::result_order`).
    pub async fn collect(&self, df: DataFrame, context: &str) -> Result<Vec<RecordBatch>> {
        let order = self
            .on_cluster()
            .then(|| portable::result_order(df.logical_plan()))
            .flatten();
        let batches = self.collect_unordered(df, context).await?;
        match order {
            Some(order) => portable::in_order(batches, &order)
                .map_err(|e| Error::query(format!("{context}: ordering the cluster's rows"), e)),
            None => Ok(batches),
        }
    }

    async fn collect_unordered(&self, df: DataFrame, context: &str) -> Result<Vec<RecordBatch>> {
        let retry = df.clone();
        let error = match crate::engine::contain::contained(df.collect()).await {
            Ok(batches) => return Ok(batches),
            Err(error) => error,
        };
        let hash_joins = self
            .ctx
            .state()
            .config()
            .options()
            .optimizer
            .prefer_hash_join;
        if !hash_joins || !matches!(error.find_root(), DataFusionError::ResourcesExhausted(_)) {
            return Err(self.diagnose(error, context).await);
        }
        let (mut state, plan) = retry.into_parts();
        state.config_mut().options_mut().optimizer.prefer_hash_join = false;
        match crate::engine::contain::contained(DataFrame::new(state, plan).collect()).await {
            Ok(batches) => Ok(batches),
            // The query did not fit; that the re-plan failed too, in whatever way (the
            // sort-merge join has panicked in tiny pools), is not news to the user.
            Err(retried)
                if !matches!(retried.find_root(), DataFusionError::ResourcesExhausted(_)) =>
            {
                Err(self.diagnose(error, context).await)
            }
            Err(retried) => Err(self.diagnose(retried, context).await),
        }
    }

    /// Runs a planned query as a stream of batches, for results of any size; failures
    /// are explained as [`Session::collect`] explains them (without its re-planning).
    pub async fn stream(
        &self,
        df: DataFrame,
        context: &str,
    ) -> Result<impl Stream<Item = Result<RecordBatch>> + Unpin + '_> {
        let batches = match df.execute_stream().await {
            Ok(batches) => crate::engine::contain::contained_stream(batches),
            Err(error) => return Err(self.diagnose(error, context).await),
        };
        let context = context.to_string();
        Ok(Box::pin(batches.then(move |item| {
            let context = context.clone();
            async move {
                match item {
                    Ok(batch) => Ok(batch),
                    Err(error) => Err(self.diagnose(error, &context).await),
                }
            }
        })))
    }

    /// A claim on the session's memory pool, for what a caller holds outside a query.
    pub fn reservation(&self, name: &str) -> MemoryReservation {
        MemoryConsumer::new(name).register(&self.ctx.runtime_env().memory_pool)
    }

    async fn diagnose(&self, error: DataFusionError, context: &str) -> Error {
        if let DataFusionError::ResourcesExhausted(detail) = error.find_root() {
            return Error::Memory {
                context: context.to_string(),
                limit: self
                    .options
                    .memory_limit
                    .map_or("the memory available".to_string(), |b| {
                        format!("{} MB", b >> 20)
                    }),
                detail: detail.clone(),
            };
        }
        let text = error.to_string();
        if let Some(cluster) = &self.options.cluster
            && crate::engine::remote::lost_executor(&text)
        {
            return Error::ClusterLost {
                cluster: cluster.to_string(),
                context: context.to_string(),
                reason: text.replace('\n', " "),
            };
        }
        let from_files = [
            "Parquet",
            "Object Store",
            "ObjectStore",
            "No such file",
            "Join Error",
            "panic",
        ]
        .iter()
        .any(|hint| text.contains(hint));
        if !from_files {
            return Error::query(context, error);
        }
        for table in &self.tables {
            for file in &table.files {
                if let Err(reason) = self.read_whole(&file.location).await {
                    return Error::File {
                        snapshot: self.snapshot.id.clone(),
                        table: table.name.clone(),
                        file: self.store.display(&file.location),
                        reason: format!("cannot be read ({reason}); {context} stopped"),
                    };
                }
            }
        }
        Error::query(context, error)
    }

    async fn read_whole(&self, file: &object_store::path::Path) -> datafusion::error::Result<()> {
        let url = self.store.url_of(file, false);
        let ctx = self.ctx.clone();
        crate::engine::contain::contained(async move {
            let df = ctx.read_parquet(url, ParquetReadOptions::default()).await?;
            let mut stream = df.execute_stream().await?;
            while let Some(batch) = stream.next().await {
                batch?;
            }
            Ok(())
        })
        .await
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn as_of(&self) -> AsOf {
        self.as_of
    }

    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    pub fn tables(&self) -> &[SourceTable] {
        &self.tables
    }

    pub fn transactions_source(&self) -> TransactionsSource {
        self.transactions_source
    }
}

/// Tables the spec does not name: registered as found, every column visible.
const UNSPECIFIED: TableSpec = TableSpec {
    name: "",
    columns: &[],
    extra_visibility: Visibility::Public,
};

async fn context(store: &Store, session: &SessionOptions) -> Result<SessionContext> {
    let memory_limit = session.memory_limit;
    let mut options = ConfigOptions::new();
    options.execution.parquet.schema_force_view_types = false;
    options.execution.listing_table_ignore_subdirectory = false;
    options.catalog.information_schema = true;
    // Dimension tables (users_clean, the token map: a few million rows at most) are
    // broadcast to every join rather than hash-partitioned with the events they join,
    // which would shuffle every event row between threads.
    options.optimizer.hash_join_single_partition_threshold = 128 * 1024 * 1024;
    options.optimizer.hash_join_single_partition_threshold_rows = 4 * 1024 * 1024;
    if memory_limit.is_some() {
        // The default 10 MB reserved per sort for its merge makes small pools fail
        // before they can spill.
        options.execution.sort_spill_reservation_bytes = 1024 * 1024;
    }
    let config = SessionConfig::from(options);
    let mut runtime = RuntimeEnvBuilder::new().with_object_list_cache_limit(64 * 1024 * 1024);
    if let Some(bytes) = memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(bytes)));
    }
    let runtime = runtime
        .build_arc()
        .map_err(|e| Error::query("building the query runtime", e))?;
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(crate::engine::yielding::YieldingJoins))
        .build();
    let ctx = match &session.cluster {
        None => SessionContext::new_with_state(state),
        #[cfg(feature = "cluster")]
        Some(url) => crate::cluster::remote_context(url, state).await?,
        #[cfg(not(feature = "cluster"))]
        Some(url) => {
            return Err(Error::Cluster {
                cluster: url.to_string(),
                reason: "this snapmetrics was built without cluster support; build it with \
                         `cargo build --release --features cluster`"
                    .to_string(),
            });
        }
    };
    ctx.register_object_store(
        store.object_store_url().as_ref(),
        store.object_store().clone(),
    );
    Ok(ctx)
}

fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

fn refusal(sql: &str, error: datafusion::error::DataFusionError) -> Error {
    let message = error.to_string();
    if message.contains("not supported")
        && (message.contains("DDL") || message.contains("DML") || message.contains("Statement"))
    {
        let statement = sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        return Error::ReadOnly {
            statement: format!("'{statement}'"),
        };
    }
    Error::Statement {
        context: "query failed".to_string(),
        source: Box::new(error),
    }
}

fn register(
    ctx: &SessionContext,
    name: &str,
    table: Arc<dyn datafusion::datasource::TableProvider>,
) -> Result<()> {
    ctx.register_table(name, table)
        .map(|_| ())
        .map_err(|e| Error::query(format!("registering '{name}'"), e))
}

/// `onboarding_steps(step)`: 1 to the greatest `total_steps`, so every step is reported.
fn onboarding_steps(max_steps: i32) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "step",
        DataType::Int32,
        false,
    )]));
    let steps = Arc::new(Int32Array::from_iter_values(1..=max_steps.max(0)));
    let failed = |e| Error::query("building onboarding_steps", e);
    RecordBatch::try_new(schema, vec![steps]).map_err(|e| failed(e.into()))
}
