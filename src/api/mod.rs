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

mod server;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{NaiveDate, SecondsFormat};
use datafusion::arrow::array::RecordBatch;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{OnceCell, Semaphore};

use crate::engine::contain::AbortOnDrop;
use crate::engine::session::{Filters, Session};
use crate::error::{Error, ErrorKind, Result};
use crate::metrics;
use crate::metrics::customer::CustomerIndex;
use crate::source::snapshot;

/// Environment variable with the comma-separated bearer tokens that may read the API.
pub const TOKENS_ENV: &str = "SNAPMETRICS_API_TOKENS";
/// Environment variable with the tokens that may also read PII (`?include_pii=true`).
pub const PII_TOKENS_ENV: &str = "SNAPMETRICS_API_PII_TOKENS";
/// Shorter tokens are refused at start: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    Read,
    Pii,
}

/// Who may call the data endpoints.
#[derive(Clone)]
pub enum Auth {
    /// `--no-auth` on a loopback address: every caller gets `grant`.
    Open { grant: Grant },
    /// `Authorization: Bearer <token>`; tokens are kept only as SHA-256 digests.
    Bearer { tokens: Vec<([u8; 32], Grant)> },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Open { grant } => write!(f, "Auth::Open({grant:?})"),
            Auth::Bearer { tokens } => write!(f, "Auth::Bearer({} tokens)", tokens.len()),
        }
    }
}

impl Auth {
    /// The start-up rules: tokens are required, unless `no_auth` and `bind` is loopback;
    /// `read` and `pii` are the comma-separated values of [`TOKENS_ENV`] and
    /// [`PII_TOKENS_ENV`]. `open_pii` grants PII to everyone under `no_auth`.
    pub fn configure(
        read: Option<&str>,
        pii: Option<&str>,
        no_auth: bool,
        open_pii: bool,
        bind: SocketAddr,
    ) -> Result<Auth> {
        let read = split_tokens(TOKENS_ENV, read)?;
        let pii = split_tokens(PII_TOKENS_ENV, pii)?;
        if no_auth {
            if !bind.ip().is_loopback() {
                return Err(Error::invalid(
                    "--no-auth",
                    format!(
                        "allowed only on a loopback address (127.0.0.1 or ::1), not {bind}; set {TOKENS_ENV} to serve other hosts"
                    ),
                ));
            }
            if !read.is_empty() || !pii.is_empty() {
                return Err(Error::invalid(
                    "--no-auth",
                    format!(
                        "{TOKENS_ENV} or {PII_TOKENS_ENV} is set too; unset them or drop --no-auth"
                    ),
                ));
            }
            let grant = if open_pii { Grant::Pii } else { Grant::Read };
            return Ok(Auth::Open { grant });
        }
        if read.is_empty() && pii.is_empty() {
            return Err(Error::invalid(
                TOKENS_ENV,
                format!(
                    "the API needs at least one bearer token: set {TOKENS_ENV}=token1,token2 (and {PII_TOKENS_ENV} for tokens that may read PII), or pass --no-auth on a loopback address"
                ),
            ));
        }
        let tokens = read
            .iter()
            .map(|t| (digest(t), Grant::Read))
            .chain(pii.iter().map(|t| (digest(t), Grant::Pii)))
            .collect();
        Ok(Auth::Bearer { tokens })
    }

    /// Whether any caller can be granted PII: then the session must include it.
    pub fn grants_pii(&self) -> bool {
        match self {
            Auth::Open { grant } => *grant == Grant::Pii,
            Auth::Bearer { tokens } => tokens.iter().any(|(_, g)| *g == Grant::Pii),
        }
    }

    fn grant(&self, headers: &HeaderMap) -> std::result::Result<Grant, ApiError> {
        let tokens = match self {
            Auth::Open { grant } => return Ok(*grant),
            Auth::Bearer { tokens } => tokens,
        };
        let unauthorized =
            |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization: Bearer <token> header"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'"))?;
        let presented = digest(token);
        // Every digest is compared, and the best grant kept, so a token listed in both
        // variables reads PII and the time taken does not depend on which one matched.
        tokens
            .iter()
            .filter(|(known, _)| *known == presented)
            .map(|(_, grant)| *grant)
            .max()
            .ok_or_else(|| unauthorized("invalid bearer token"))
    }
}

fn split_tokens(variable: &str, value: Option<&str>) -> Result<Vec<String>> {
    let tokens: Vec<String> = value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    for (n, token) in tokens.iter().enumerate() {
        if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                variable,
                format!(
                    "token #{} must be at least {MIN_TOKEN_LEN} visible ASCII characters without spaces",
                    n + 1
                ),
            ));
        }
    }
    Ok(tokens)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MetricKey {
    name: String,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    active_only: bool,
}

impl MetricKey {
    fn filters(&self) -> Filters {
        Filters {
            from: self.from,
            to: self.to,
            active_only: self.active_only,
            ..Filters::default()
        }
    }
}

#[derive(Default)]
struct MetricCache {
    cells: HashMap<MetricKey, Arc<OnceCell<Bytes>>>,
    order: VecDeque<MetricKey>,
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
        let mut cache = self
            .metric_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cell) = cache.cells.get(key) {
            return cell.clone();
        }
        while cache.order.len() >= self.config.metric_cache_entries.max(1) {
            if let Some(oldest) = cache.order.pop_front() {
                cache.cells.remove(&oldest);
            }
        }
        let cell = Arc::new(OnceCell::new());
        cache.cells.insert(key.clone(), cell.clone());
        cache.order.push_back(key.clone());
        cell
    }

    /// The metric's JSON body, serialised once: cached bodies are sent as they are.
    async fn compute_metric(self: Arc<Self>, key: MetricKey) -> Result<Bytes> {
        let session = &self.session;
        let (schema, batches) = metrics::run(session, &key.name, &key.filters()).await?;
        // JSON objects do not keep their keys' order: the column order travels beside.
        let columns: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
        let body = json!({
            "metric": key.name,
            "snapshot": session.snapshot().id,
            "as_of": session.as_of().at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            "filters": {
                "from": key.from,
                "to": key.to,
                "active_only": key.active_only,
            },
            "columns": columns,
            "rows": rows_as_json(&batches)?,
        });
        serde_json::to_vec(&body)
            .map(Bytes::from)
            .map_err(|e| Error::internal("writing the answer", e))
    }
}

/// Rows as JSON objects, NULLs written out, in the metric's column order.
fn rows_as_json(batches: &[RecordBatch]) -> Result<Value> {
    let failed = |e: datafusion::arrow::error::ArrowError| Error::internal("writing the answer", e);
    let mut buffer = Vec::new();
    let mut writer = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut buffer);
    for batch in batches {
        writer.write(batch).map_err(failed)?;
    }
    writer.finish().map_err(failed)?;
    if buffer.is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    serde_json::from_slice(&buffer).map_err(|e| Error::internal("writing the answer", e))
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

/// An error response: `{code, error, message}` with `code` the HTTP status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
        }
    }

    fn bad_request(error: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.status.as_u16(),
            "error": self.error,
            "message": self.message,
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let kind = error.kind();
        let status =
            StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match (kind, &error) {
            (ErrorKind::NotFound, Error::CustomerNotFound { .. }) => {
                ApiError::new(status, "customer_not_found", error.to_string())
            }
            (ErrorKind::NotFound, _) => ApiError::new(status, "not_found", error.to_string()),
            (ErrorKind::BadArgument, _) => {
                ApiError::new(status, "invalid_argument", error.to_string())
            }
            (ErrorKind::ResourceLimit, _) => ApiError::new(
                status,
                "out_of_memory",
                "the server ran out of query memory; retry later",
            ),
            (ErrorKind::BadSnapshot | ErrorKind::Io | ErrorKind::Internal, _) => {
                // The detail may name files of the store: log it, do not return it.
                eprintln!("snapmetrics serve: internal error: {error}");
                ApiError::new(
                    status,
                    "internal",
                    "the server failed to compute the answer; see its log",
                )
            }
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("malformed_path", rejection.body_text())
    }
}

/// Bearer-token check for the data routes; the grant rides along in the request.
async fn authenticate(State(api): State<Arc<Api>>, mut request: Request, next: Next) -> Response {
    match api.auth.grant(request.headers()) {
        Ok(grant) => {
            request.extensions_mut().insert(grant);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

/// The concurrency limit and the request timeout, for every route.
async fn limit(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let timeout = api.config.request_timeout;
    let work = async {
        // The semaphore is never closed, so acquiring only waits.
        let _permit = api.permits.acquire().await.ok();
        next.run(request).await
    };
    let mut response = match tokio::time::timeout(timeout, work).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than {} s; retry later",
                timeout.as_secs_f64()
            ),
        )
        .into_response(),
    };
    // Records can hold PII: no shared cache may keep them.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "the API is read-only: use GET",
    )
}

async fn customer(
    State(api): State<Arc<Api>>,
    Extension(grant): Extension<Grant>,
    path: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> std::result::Result<Response, ApiError> {
    let Path(raw) = path?;
    let id = parse_id(&raw)?;
    let query = QueryParams::parse(query.as_deref(), &["include_pii"])?;
    let include_pii = query.bool("include_pii")?.unwrap_or(false);
    // Authorization is decided before the lookup, so a caller without the grant cannot
    // learn which ids exist by asking for their PII.
    if include_pii && grant != Grant::Pii {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "pii_not_granted",
            "this token may not read PII; ask for one listed in SNAPMETRICS_API_PII_TOKENS",
        ));
    }
    match api.customers.get(id, include_pii)? {
        Some(customer) => Ok(Json(customer).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "customer_not_found",
            format!(
                "snapshot '{}' has no customer with id {id} (unknown, or excluded by the data-quality checks)",
                api.customers.snapshot()
            ),
        )),
    }
}

async fn metric(
    State(api): State<Arc<Api>>,
    path: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> std::result::Result<Response, ApiError> {
    let Path(name) = path?;
    let names = metrics::names();
    if !names.contains(&name.as_str()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_metric",
            format!(
                "no metric with that name; choose one of: {}",
                names.join(", ")
            ),
        ));
    }
    let query = QueryParams::parse(query.as_deref(), &["from", "to", "active_only"])?;
    let from = query.date("from")?;
    let to = query.date("to")?;
    let key = MetricKey {
        name,
        from,
        to,
        active_only: query.bool("active_only")?.unwrap_or(false),
    };
    key.filters()
        .validate()
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let cell = api.metric_cell(&key);
    // Dropped with the request (a timeout, a client gone): the computation is aborted,
    // and the cell stays empty for the next request to fill.
    let value = cell
        .get_or_try_init(|| async {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = api.metric_permits.acquire().await.ok();
            let work = api.clone().compute_metric(key);
            let task = match &api.config.engine {
                Some(engine) => engine.spawn(work),
                None => tokio::spawn(work),
            };
            let mut task = AbortOnDrop(task);
            match (&mut task.0).await {
                Ok(result) => result.map_err(ApiError::from),
                Err(e) => {
                    eprintln!("snapmetrics serve: metric task failed: {e}");
                    Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "the server failed to compute the answer; see its log",
                    ))
                }
            }
        })
        .await?
        .clone();
    Ok(([(header::CONTENT_TYPE, "application/json")], value).into_response())
}

async fn snapshots(State(api): State<Arc<Api>>) -> std::result::Result<Response, ApiError> {
    let session = &api.session;
    let store = session.store();
    let mut listed = Vec::new();
    for entry in snapshot::list(store).await? {
        let (as_of, source) = if entry.id == session.snapshot().id {
            (
                Some(session.as_of().at),
                Some(session.as_of().source.to_string()),
            )
        } else {
            // Only the cheap sources: a data-derived as_of needs the snapshot opened.
            let manifest = snapshot::read_manifest(store, &entry.id)
                .await
                .ok()
                .flatten();
            let hint = snapshot::as_of_hint(&entry.id, manifest.as_ref());
            (hint.map(|h| h.at), hint.map(|h| h.source.to_string()))
        };
        listed.push(json!({
            "id": entry.id,
            "complete": entry.complete,
            "as_of": as_of.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            "as_of_source": source,
        }));
    }
    Ok(Json(json!({
        "serving": session.snapshot().id,
        "snapshots": listed,
    }))
    .into_response())
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// A customer id: 1 to 19 ASCII digits that fit in a BIGINT. Anything else (signs,
/// spaces, decimals, overflow) is a malformed id, 400, rather than an unknown one.
fn parse_id(raw: &str) -> std::result::Result<i64, ApiError> {
    let malformed = || {
        ApiError::bad_request(
            "malformed_id",
            "a customer id is a non-negative integer (users.id), e.g. /customers/42",
        )
    };
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    raw.parse().map_err(|_| malformed())
}

/// A query string checked against the parameters an endpoint takes: unknown and
/// repeated parameters are refused, so a typo never silently changes an answer.
struct QueryParams(HashMap<String, String>);

impl QueryParams {
    fn parse(query: Option<&str>, allowed: &[&str]) -> std::result::Result<Self, ApiError> {
        let mut values = HashMap::new();
        let mut seen = HashSet::new();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "unknown query parameter '{}'; this endpoint takes: {}",
                        truncate(&name),
                        allowed.join(", ")
                    ),
                ));
            }
            if !seen.insert(name.to_string()) {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("query parameter '{name}' is given more than once"),
                ));
            }
            values.insert(name.into_owned(), value.into_owned());
        }
        Ok(QueryParams(values))
    }

    /// An empty value (`?from=`) reads as absent, as HTML forms send it.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn bool(&self, name: &str) -> std::result::Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::bad_request(
                "invalid_query",
                format!("query parameter '{name}' must be true or false"),
            )),
        }
    }

    fn date(&self, name: &str) -> std::result::Result<Option<NaiveDate>, ApiError> {
        self.get(name)
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("query parameter '{name}' must be a date YYYY-MM-DD"),
                    )
                })
            })
            .transpose()
    }
}

/// Echoed input is cut short, so an error body stays small whatever was sent.
fn truncate(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// The OpenAPI 3 description of the API, written by hand: the API is small, and this
/// keeps the build free of code generators.
pub fn openapi_document() -> Value {
    let error = json!({ "$ref": "#/components/responses/Error" });
    let date_param = |name: &str, what: &str| {
        json!({
            "name": name, "in": "query", "required": false,
            "description": what,
            "schema": { "type": "string", "format": "date" }
        })
    };
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "snapmetrics Customer Data API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read-only customer records and product metrics computed from one Parquet snapshot. Errors are {code, error, message} with code the HTTP status."
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/customers/{id}": {
                "get": {
                    "summary": "One customer's record",
                    "parameters": [
                        { "name": "id", "in": "path", "required": true, "description": "users.id",
                          "schema": { "type": "integer", "format": "int64", "minimum": 0 } },
                        { "name": "include_pii", "in": "query", "required": false,
                          "description": "Add email, first_name, last_name, date_of_birth; needs a PII token",
                          "schema": { "type": "boolean", "default": false } }
                    ],
                    "responses": {
                        "200": { "description": "The record",
                                 "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Customer" } } } },
                        "400": error, "401": error, "403": error, "404": error, "503": error
                    }
                }
            },
            "/metrics/{name}": {
                "get": {
                    "summary": "One metric table",
                    "parameters": [
                        { "name": "name", "in": "path", "required": true,
                          "schema": { "type": "string", "enum": metrics::names() } },
                        date_param("from", "First signup date (cohorts) or month (monthly metrics), inclusive"),
                        date_param("to", "Last signup date (cohorts) or month (monthly metrics), inclusive"),
                        { "name": "active_only", "in": "query", "required": false,
                          "description": "Only users whose is_active is true or NULL",
                          "schema": { "type": "boolean", "default": false } }
                    ],
                    "responses": {
                        "200": { "description": "The metric's rows",
                                 "content": { "application/json": { "schema": { "$ref": "#/components/schemas/MetricTable" } } } },
                        "400": error, "401": error, "404": error, "503": error
                    }
                }
            },
            "/snapshots": {
                "get": {
                    "summary": "The store's snapshots and the one being served",
                    "responses": {
                        "200": { "description": "Snapshots, oldest first",
                                 "content": { "application/json": { "schema": { "type": "object" } } } },
                        "401": error
                    }
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness; no token needed",
                    "security": [],
                    "responses": { "200": { "description": "{\"status\": \"ok\"}" } }
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document; no token needed",
                    "security": [],
                    "responses": { "200": { "description": "OpenAPI 3 document" } }
                }
            }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "error", "message"],
                    "properties": {
                        "code": { "type": "integer", "description": "The HTTP status" },
                        "error": { "type": "string", "description": "Stable name, e.g. malformed_id, unauthorized, pii_not_granted, customer_not_found, unknown_metric, invalid_query, timeout" },
                        "message": { "type": "string" }
                    }
                },
                "Customer": {
                    "type": "object",
                    "properties": {
                        "snapshot": { "type": "string" },
                        "as_of": { "type": "string", "format": "date-time" },
                        "id": { "type": "integer", "format": "int64" },
                        "display_name": { "type": "string", "nullable": true },
                        "email": { "type": "string", "nullable": true, "description": "PII" },
                        "first_name": { "type": "string", "nullable": true, "description": "PII" },
                        "last_name": { "type": "string", "nullable": true, "description": "PII" },
                        "date_of_birth": { "type": "string", "format": "date", "nullable": true, "description": "PII" },
                        "created_at": { "type": "string", "format": "date-time" },
                        "cohort_week": { "type": "string", "format": "date" },
                        "is_active": { "type": "boolean" },
                        "onboarding": {
                            "type": "object", "nullable": true,
                            "properties": {
                                "started_at": { "type": "string", "format": "date-time" },
                                "last_step_completed": { "type": "integer" },
                                "total_steps": { "type": "integer" },
                                "completed_at": { "type": "string", "format": "date-time", "nullable": true },
                                "responses": { "description": "The answers as JSON", "nullable": true }
                            }
                        },
                        "activity": {
                            "type": "object",
                            "properties": {
                                "logins_total": { "type": "integer" },
                                "logins_last_30_days": { "type": "integer" },
                                "last_login_at": { "type": "string", "format": "date-time", "nullable": true },
                                "dashboard_accesses": { "type": "integer" },
                                "active_weeks": { "type": "integer" }
                            }
                        },
                        "transactions": {
                            "type": "object",
                            "properties": {
                                "count": { "type": "integer" },
                                "first_date": { "type": "string", "format": "date", "nullable": true },
                                "last_date": { "type": "string", "format": "date", "nullable": true },
                                "banks": { "type": "array", "items": { "type": "string" } },
                                "total_in": { "type": "string", "description": "Decimal, 2 places" },
                                "total_out": { "type": "string", "description": "Decimal, 2 places" },
                                "statement_uploads": { "type": "integer" }
                            }
                        }
                    }
                },
                "MetricTable": {
                    "type": "object",
                    "properties": {
                        "metric": { "type": "string" },
                        "snapshot": { "type": "string" },
                        "as_of": { "type": "string", "format": "date-time" },
                        "filters": { "type": "object" },
                        "columns": { "type": "array", "items": { "type": "string" } },
                        "rows": { "type": "array", "items": { "type": "object" },
                                  "description": "As the metric query returns them: rates and medians unrounded" }
                    }
                }
            }
        }
    })
}
