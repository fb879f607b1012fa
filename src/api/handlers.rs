//! The route handlers and the middleware every request passes.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::Api;
use super::auth::Grant;
use super::cache::MetricKey;
use super::error::ApiError;
use super::openapi::openapi_document;
use super::query::{QueryParams, parse_id};
use crate::engine::contain::AbortOnDrop;
use crate::metrics;
use crate::source::snapshot;

/// Bearer-token check for the data routes; the grant rides along in the request.
pub(super) async fn authenticate(
    State(api): State<Arc<Api>>,
    mut request: Request,
    next: Next,
) -> Response {
    match api.auth.grant(request.headers()) {
        Ok(grant) => {
            request.extensions_mut().insert(grant);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

/// The concurrency limit and the request timeout, for every route.
pub(super) async fn limit(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
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

pub(super) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(super) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /openapi.json",
    )
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "the API is read-only: use GET",
    )
}

pub(super) async fn customer(
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

pub(super) async fn metric(
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

pub(super) async fn snapshots(
    State(api): State<Arc<Api>>,
) -> std::result::Result<Response, ApiError> {
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

pub(super) async fn openapi() -> Json<Value> {
    Json(openapi_document())
}
