//! `snapmetrics serve`: a small read-only HTTP JSON API over one snapshot.
//!
//! Endpoints: `GET /customers/{id}`, `GET /metrics/{name}`, `GET /snapshots` (bearer
//! token required), `GET /health` and `GET /openapi.json` (open: they carry no data).
//! There is no SQL endpoint: callers get the product's definitions, nothing else.
//!
//! * **Snapshot.** The snapshot is resolved once, at start (`latest` stays the id it was
//!   then); restart to serve a newer one. A snapshot never changes, so results are cached.
//! * **Customers.** Every record is computed once at start ([`CustomerIndex`]) by the same
//!   query as `snapmetrics customer`, so a lookup is a hash probe, not a pass over the
//!   event tables.
//! * **Metrics.** Every filter set is asked of the one opened snapshot: the filters are
//!   bound into the metric's query, and the kept tables (clean users, summaries) serve
//!   them all. The result is cached (a bounded number of filter sets, oldest evicted
//!   first). Requests for the same uncached answer wait for one computation.
//! * **Limits.** Every request holds one of `max_concurrent_requests` permits and must
//!   finish (waiting for a permit included) within `request_timeout`, else 503. A metric
//!   computation also holds one of `max_concurrent_metrics` permits, so that metrics
//!   cannot take every request slot from the cheap lookups, and runs on the engine's
//!   runtime (`ApiConfig::engine`): the server's timers stay on time while queries keep
//!   the engine's threads busy. A request that times out or whose client goes away drops
//!   its computation, which stops at once (its task is aborted) unless another request
//!   waits for the same answer and takes it over.
//! * **Connections**: at most `max_connections` open; one that sends no request head for
//!   `idle_timeout` is closed (see `server.rs`).
//! * **Errors** are JSON `{code, error, message}`: `code` is the HTTP status, `error` a
//!   stable machine-readable name. Bad input is always 4xx, never 500.

mod auth;
mod cache;
mod error;
mod handlers;
mod openapi;
mod query;
mod server;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::middleware;
use axum::routing::get;
use chrono::SecondsFormat;
use tokio::sync::{OnceCell, Semaphore};

pub use auth::{Auth, Grant, MIN_TOKEN_LEN, PII_TOKENS_ENV, TOKENS_ENV};
pub use error::ApiError;
pub use openapi::openapi_document;

use crate::engine::session::Session;
use crate::error::{Error, Result};
use crate::metrics;
use crate::metrics::customer::CustomerIndex;
use crate::output;
use cache::{MetricCache, MetricKey};
use handlers::{
    authenticate, customer, health, limit, method_not_allowed, metric, not_found, openapi,
    snapshots,
};

/// Limits and cache sizes.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The longest a request may take, waiting for a permit included.
    pub request_timeout: Duration,
    /// Requests handled at once; the rest wait (within their timeout).
    pub max_concurrent_requests: usize,
    /// Distinct (metric, filters) results kept.
    pub metric_cache_entries: usize,
    /// Metric computations at once; the rest wait (within their request's timeout).
    pub max_concurrent_metrics: usize,
    /// Open connections at most; more wait to be accepted.
    pub max_connections: usize,
    /// How long a connection may take to send a request head, or stay idle between
    /// requests, before it is closed.
    pub idle_timeout: Duration,
    /// Where metric queries run; the server's own runtime when `None`.
    pub engine: Option<tokio::runtime::Handle>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 64,
            metric_cache_entries: 256,
            max_concurrent_metrics: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_connections: 4096,
            idle_timeout: Duration::from_secs(10),
            engine: None,
        }
    }
}

/// The served snapshot and everything computed from it.
pub struct Api {
    session: Session,
    customers: CustomerIndex,
    auth: Auth,
    config: ApiConfig,
    permits: Semaphore,
    metric_permits: Semaphore,
    metric_cache: Mutex<MetricCache>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("snapshot", &self.session.snapshot().id)
            .field("customers", &self.customers.len())
            .field("auth", &self.auth)
            .field("config", &self.config)
            .finish()
    }
}

impl Api {
    /// Computes every customer record of `session`'s snapshot and readies the API.
    /// `session` must include PII when `auth` can grant it.
    pub async fn new(session: Session, auth: Auth, config: ApiConfig) -> Result<Api> {
        if auth.grants_pii() && !session.options().include_pii {
            return Err(Error::invalid(
                "serve",
                "a token may read PII but the session was opened without --include-pii",
            ));
        }
        for (limit, what) in [
            (config.max_concurrent_requests, "concurrent requests"),
            (config.max_concurrent_metrics, "concurrent metrics"),
            (config.max_connections, "connections"),
        ] {
            if limit == 0 {
                return Err(Error::invalid(what, "must be at least 1"));
            }
        }
        let customers = CustomerIndex::build(&session).await?;
        Ok(Api {
            permits: Semaphore::new(config.max_concurrent_requests),
            metric_permits: Semaphore::new(config.max_concurrent_metrics),
            session,
            customers,
            auth,
            config,
            metric_cache: Mutex::new(MetricCache::default()),
        })
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn customers(&self) -> &CustomerIndex {
        &self.customers
    }

    /// The cache cell of one (metric, filters); a full cache forgets its oldest entry.
    fn metric_cell(&self, key: &MetricKey) -> Arc<OnceCell<Bytes>> {
        self.metric_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .cell(key, self.config.metric_cache_entries)
    }

    /// The metric's JSON body, serialised once: cached bodies are sent as they are.
    async fn compute_metric(self: Arc<Self>, key: MetricKey) -> Result<Bytes> {
        let session = &self.session;
        let (schema, batches) = metrics::run(session, &key.name, &key.filters()).await?;
        let body = MetricTable {
            as_of: session.as_of().at,
            // JSON objects do not keep their keys' order: the column order travels beside.
            columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
            filters: MetricFilters {
                active_only: key.active_only,
                from: key.from,
                to: key.to,
            },
            metric: key.name.clone(),
            rows: output::json_rows(&schema, &batches)?,
            snapshot: session.snapshot().id.clone(),
        };
        serde_json::to_vec(&body)
            .map(Bytes::from)
            .map_err(|e| Error::internal("writing the answer", e))
    }
}

/// The answer of `GET /metrics/{name}`. Its fields are in the order the answer has
/// always had (alphabetical, as a JSON object sorts them).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MetricTable {
    #[serde(serialize_with = "rfc3339")]
    as_of: chrono::DateTime<chrono::Utc>,
    /// The rows' columns, in the metric's order.
    columns: Vec<String>,
    filters: MetricFilters,
    metric: String,
    /// As the metric query returns them: rates and medians unrounded, NULL as null.
    #[schema(value_type = Vec<Object>)]
    rows: Vec<serde_json::Value>,
    snapshot: String,
}

/// The filters a metric answer was computed with.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MetricFilters {
    active_only: bool,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
}

/// An instant as the API writes every one: RFC 3339, UTC, `Z`.
fn rfc3339<S: serde::Serializer>(
    at: &chrono::DateTime<chrono::Utc>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// The API's routes and layers.
pub fn router(api: Arc<Api>) -> Router {
    let data = Router::new()
        .route("/customers/{id}", get(customer))
        .route("/metrics/{name}", get(metric))
        .route("/snapshots", get(snapshots))
        .route_layer(middleware::from_fn_with_state(api.clone(), authenticate));
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .merge(data)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(api.clone(), limit))
        .with_state(api)
}

/// Serves `api` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: Arc<Api>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let limits = server::ConnectionLimits {
        max_connections: api.config.max_connections,
        idle_timeout: api.config.idle_timeout,
    };
    server::serve(listener, router(api), limits, shutdown).await
}
