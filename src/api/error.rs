//! The API's error responses, and how a library error maps onto one.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{Error, ErrorKind};

/// An error response: `{code, error, message}` with `code` the HTTP status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(error: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error, message)
    }
}

/// The body of every error response.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The HTTP status.
    code: u16,
    /// A stable name, e.g. malformed_id, unauthorized, pii_not_granted,
    /// customer_not_found, unknown_metric, invalid_query, timeout.
    error: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.status.as_u16(),
            error: self.error,
            message: self.message,
        };
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
