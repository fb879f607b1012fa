//! The same plans on an Apache DataFusion Ballista cluster (`--features cluster`): the
//! scheduler and executor roles of the snapmetrics binary, and the client side of a
//! session whose queries run there.
//!
//! Ballista sends the logical plan to the scheduler and runs its stages on the executors,
//! so every process must know snapmetrics' scalar functions by name (the stock Ballista
//! binaries cannot run `local_week` and friends), and every process must reach the
//! store by the same path or URL: a local store is read by path, an S3 store through each
//! process's own `AWS_*` settings, so credentials never travel in a plan.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::{BallistaCluster, ClusterStateEvent};
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{FunctionRegistry, SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use futures::StreamExt;
use object_store::ObjectStore;
use url::Url;

use crate::engine::remote::ClusterUrl;
use crate::engine::time::LocalTime;
use crate::error::{Error, Result};
use crate::source::store::Store;

/// How often an executor tells the scheduler it is alive, and how long the scheduler
/// waits without word before it takes an executor for dead. Ballista's defaults (60 s and
/// 180 s) leave a query waiting three minutes on an executor that was killed.
const HEARTBEAT_SECONDS: u64 = 5;
const EXECUTOR_TIMEOUT_SECONDS: u64 = 20;

/// A session context whose queries run on the cluster at `url`, with `state`'s settings
/// and Ballista's planner. Ballista replaces the state's function lists, so functions
/// are registered on the context this returns, not on `state`.
///
/// The scheduler is reached first, so that a cluster that is not there is a one-line
/// error within seconds rather than a transport error at the first query.
pub async fn remote_context(url: &ClusterUrl, state: SessionState) -> Result<SessionContext> {
    let unreachable = |reason: String| Error::Cluster {
        cluster: url.to_string(),
        reason: format!(
            "cannot reach the scheduler ({reason}); start one with `snapmetrics scheduler`"
        ),
    };
    match tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(url.address()),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Err(_) => return Err(unreachable("no answer within 5 s".to_string())),
    }
    // Ballista 55's adaptive planner never finished the report's plans (the scheduler
    // spun in AdaptiveExecutionGraph::get_running_stage_id for minutes); the static
    // distributed planner runs them.
    let mut config = state
        .config()
        .clone()
        .with_ballista_adaptive_query_planner(false);
    // A ScalarSubqueryExec's subquery cannot be decoded apart from it, and Ballista's
    // stages split them ("ScalarSubqueryExpr can only be deserialized as part of a
    // surrounding ScalarSubqueryExec"). DataFusion keeps this setting for distributed
    // engines: scalar subqueries become joins, which is exact for the single-row
    // subqueries our queries have; the report comparison on a cluster guards it.
    // Ballista's stage planner swaps hash-join inputs after DataFusion has built dynamic
    // filters into them, which the scheduler refuses ("Cannot swap HashJoinExec inputs
    // after dynamic filters have been constructed") and the job then never ends.
    let optimizer = &mut config.options_mut().optimizer;
    optimizer.enable_physical_uncorrelated_scalar_subquery = false;
    optimizer.enable_dynamic_filter_pushdown = false;
    optimizer.enable_join_dynamic_filter_pushdown = false;
    optimizer.enable_topk_dynamic_filter_pushdown = false;
    optimizer.enable_aggregate_dynamic_filter_pushdown = false;
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    SessionContext::remote_with_state(&url.to_string(), state)
        .await
        .map_err(|e| Error::Cluster {
            cluster: url.to_string(),
            reason: e.to_string(),
        })
}

/// Where a scheduler listens.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub bind: SocketAddr,
}

/// Runs a scheduler until the process ends.
pub async fn run_scheduler(options: &SchedulerOptions) -> Result<()> {
    start_logging();
    let fail = |e: ballista_core::error::BallistaError| Error::Cluster {
        cluster: format!("scheduler on {}", options.bind),
        reason: e.to_string(),
    };
    let stores = Arc::new(StoresFromEnv::default());
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: reachable_host(options.bind).unwrap_or_else(|| "localhost".to_string()),
        bind_port: options.bind.port(),
        override_session_builder: Some(Arc::new(move |config| {
            scheduler_state(config, stores.clone())
        })),
        executor_timeout_seconds: EXECUTOR_TIMEOUT_SECONDS,
        expire_dead_executor_interval_seconds: HEARTBEAT_SECONDS,
        // Ballista 55 recovers from a lost executor by re-running the stages whose
        // shuffle files it held; the report that came out of that recovery had rows
        // twice, or the query never ended (docs/SCALE.md). A stage whose input is lost
        // fails the query, and so does every query running when an executor is lost.
        stage_max_failures: 1,
        ..SchedulerConfig::default()
    };
    config.validate().map_err(fail)?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(fail)?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
            .await
            .map_err(fail)?;
    let losses = scheduler.cluster_state_events().await.map_err(fail)?;
    tokio::spawn(stop_queries_on_loss(scheduler.clone(), losses));
    start_grpc_service(options.bind, scheduler)
        .await
        .map_err(fail)
}

/// Cancels every running query when an executor leaves the cluster, before Ballista's
/// own recovery re-runs the lost work (which gave wrong numbers or never ended). The
/// client reports the cancelled query as the loss of an executor.
async fn stop_queries_on_loss(
    scheduler: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    mut events: ballista_scheduler::cluster::ClusterStateEventStream,
) {
    while let Some(event) = events.next().await {
        let ClusterStateEvent::RemovedExecutor { executor_id } = event else {
            continue;
        };
        let running = scheduler.state.task_manager.get_running_job_cache();
        for job_id in running.keys() {
            log::warn!("executor {executor_id} was lost: cancelling job {job_id}");
            if let Err(e) = scheduler.cancel_job(job_id.clone()).await {
                log::error!("could not cancel job {job_id}: {e}");
            }
        }
    }
}

/// The scheduler decodes and plans every query: it needs our functions by name, and the
/// stores, to list the files of each table.
fn scheduler_state(
    config: SessionConfig,
    stores: Arc<StoresFromEnv>,
) -> datafusion::common::Result<SessionState> {
    let state = default_session_builder(config)?;
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(Arc::new(
            RuntimeEnvBuilder::new()
                .with_object_store_registry(stores)
                .build()?,
        ))
        .build();
    register_functions(&mut state)?;
    Ok(state)
}

/// Adds snapmetrics' functions to a scheduler's or an executor's state, beside the
/// built-ins it already has.
fn register_functions(state: &mut SessionState) -> datafusion::common::Result<()> {
    for udf in LocalTime::udfs() {
        state.register_udf(Arc::new(udf))?;
    }
    Ok(())
}

/// Where an executor listens, which scheduler it serves, and how much it may do at once.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler: SocketAddr,
    /// The Arrow Flight port (results and shuffles) is this one's.
    pub bind: SocketAddr,
    /// The port the scheduler pushes tasks to.
    pub grpc_port: u16,
    pub concurrent_tasks: usize,
    /// Shuffle files; must outlive the executor's tasks.
    pub work_dir: PathBuf,
    /// Bytes the executor's tasks may hold before they spill (default: Ballista's, 70%
    /// of the machine's memory).
    pub memory_limit: Option<u64>,
}

/// Runs an executor until it is stopped (Ctrl-C, SIGTERM, or the scheduler).
pub async fn run_executor(options: &ExecutorOptions) -> Result<()> {
    start_logging();
    let fail = |reason: String| Error::Cluster {
        cluster: format!("executor on {}", options.bind),
        reason,
    };
    std::fs::create_dir_all(&options.work_dir)
        .map_err(|e| Error::io(options.work_dir.display(), e))?;
    let work_dir = options
        .work_dir
        .to_str()
        .ok_or_else(|| fail("the work directory is not UTF-8".to_string()))?
        .to_string();
    let mut state = SessionStateBuilder::new().with_default_features().build();
    register_functions(&mut state).map_err(|e| fail(e.to_string()))?;
    // One registry for every session the executor runs, so that S3 clients are reused.
    let stores = Arc::new(StoresFromEnv::default());
    let temp_dir = work_dir.clone();
    let runtime = move |_: &SessionConfig| -> datafusion::common::Result<Arc<RuntimeEnv>> {
        Ok(Arc::new(
            RuntimeEnvBuilder::new()
                .with_object_store_registry(stores.clone())
                .with_temp_file_path(temp_dir.clone())
                .build()?,
        ))
    };
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        // Unset for 0.0.0.0: the scheduler then uses the address it was called from.
        external_host: reachable_host(options.bind),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler.ip().to_string(),
        scheduler_port: options.scheduler.port(),
        // Waits for a scheduler that is still starting.
        scheduler_connect_timeout_seconds: 30,
        vcores: options.concurrent_tasks,
        work_dir: Some(work_dir),
        memory_pool_size: options.memory_limit,
        executor_heartbeat_interval_seconds: HEARTBEAT_SECONDS,
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&state))),
        override_runtime_producer: Some(Arc::new(runtime)),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| fail(e.to_string()))
}

/// The object stores of a scheduler or an executor: local files as DataFusion has them,
/// and an S3 bucket opened on first use from this process's `AWS_*` settings, as
/// `--store s3://…` opens it on the client.
#[derive(Debug, Default)]
struct StoresFromEnv {
    opened: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for StoresFromEnv {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.opened.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::common::Result<Arc<dyn ObjectStore>> {
        self.opened.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::common::Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.opened.get_store(url) {
            return Ok(store);
        }
        if !matches!(url.scheme(), "s3" | "s3a") {
            return datafusion::common::exec_err!(
                "no object store for {url}: a cluster reads local paths and s3:// buckets"
            );
        }
        let bucket = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        let store = Store::open(&bucket)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?
            .object_store()
            .clone();
        self.opened.register_store(url, store.clone());
        Ok(store)
    }
}

/// Ballista's log records at `level` and above, a line each on stderr, so that an
/// operator sees why a task failed.
struct StderrLog {
    level: log::LevelFilter,
}

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Logs at the level `SNAPMETRICS_LOG` names (error, warn, info, debug, trace; default
/// warn).
fn start_logging() {
    let level = std::env::var("SNAPMETRICS_LOG")
        .ok()
        .and_then(|name| name.parse().ok())
        .unwrap_or(log::LevelFilter::Warn);
    if log::set_logger(Box::leak(Box::new(StderrLog { level }))).is_ok() {
        log::set_max_level(level);
    }
}

/// The host others reach a process bound to `bind` by, unless it listens on every
/// address (then only the caller's view of it will do).
fn reachable_host(bind: SocketAddr) -> Option<String> {
    (!bind.ip().is_unspecified()).then(|| bind.ip().to_string())
}
