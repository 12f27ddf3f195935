//! Error types: [`ServerError`] for starting and running the server, and the internal
//! `AppError`, which is turned into the protocol's HTTP error body in exactly one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use samtale_protocol::{ApiError, ApiErrorCode, CodeError};

use crate::db::DbError;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unusable (the message says which setting).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The database could not be opened or read.
    #[error("database error: {0}")]
    Database(#[from] DbError),
    /// Binding or serving the socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// The message of every `code_unavailable` answer. It must not vary with the reason (unknown,
/// ended, expired), so that a look-up never reveals whether a code exists.
const CODE_UNAVAILABLE_MESSAGE: &str = "no open meeting has this code";

/// Everything an HTTP handler can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppError {
    /// Malformed request.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The code is not a valid code.
    #[error("bad code: {0}")]
    BadCode(#[from] CodeError),
    /// No open meeting has the code.
    #[error("code unavailable")]
    CodeUnavailable,
    /// Missing or wrong staff token.
    #[error("unauthorized")]
    Unauthorized,
    /// No such meeting / route.
    #[error("not found")]
    NotFound,
    /// The meeting is ended or expired.
    #[error("gone")]
    Gone,
    /// Too many look-ups from one address.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the next look-up is allowed (at least 1).
        retry_after_secs: u64,
    },
    /// Database failure.
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// A server bug (the message says what was missing; it is logged, not shown).
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message, retry_after) = match &self {
            AppError::BadRequest(why) => (
                StatusCode::BAD_REQUEST,
                ApiErrorCode::BadRequest,
                (*why).to_owned(),
                None,
            ),
            AppError::BadCode(e) => (
                StatusCode::BAD_REQUEST,
                ApiErrorCode::BadCode,
                format!("not a valid code: {e}"),
                None,
            ),
            AppError::CodeUnavailable => (
                StatusCode::NOT_FOUND,
                ApiErrorCode::CodeUnavailable,
                CODE_UNAVAILABLE_MESSAGE.to_owned(),
                None,
            ),
            AppError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                ApiErrorCode::Unauthorized,
                "missing or wrong staff token".to_owned(),
                None,
            ),
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                ApiErrorCode::NotFound,
                "no such meeting".to_owned(),
                None,
            ),
            AppError::Gone => (
                StatusCode::GONE,
                ApiErrorCode::Gone,
                "the meeting has ended or expired".to_owned(),
                None,
            ),
            AppError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                ApiErrorCode::RateLimited,
                "too many requests from this address; try again later".to_owned(),
                Some((*retry_after_secs).max(1)),
            ),
            AppError::Db(e) => {
                tracing::error!(error = %e, "request failed on a database error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ApiErrorCode::Internal,
                    "internal server error".to_owned(),
                    None,
                )
            }
            AppError::Internal(what) => {
                tracing::error!(what, "request failed on a server bug");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ApiErrorCode::Internal,
                    "internal server error".to_owned(),
                    None,
                )
            }
        };
        let body = ApiError {
            error: code,
            message,
            retry_after_secs: retry_after,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, AppError::Unauthorized) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Gives every error answer that the handlers did not write themselves (axum's 405, the body
/// limit's 413, a refused WebSocket upgrade, ...) the documented JSON error body, keeping its
/// status and headers (`Allow` on a 405). Pages (HTML) and JSON answers are left alone.
pub(crate) async fn documented_error_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(content_type.is_empty() || content_type.starts_with("text/plain")) {
        return response;
    }
    let code = match status {
        StatusCode::UNAUTHORIZED => ApiErrorCode::Unauthorized,
        StatusCode::NOT_FOUND => ApiErrorCode::NotFound,
        StatusCode::GONE => ApiErrorCode::Gone,
        StatusCode::TOO_MANY_REQUESTS => ApiErrorCode::RateLimited,
        s if s.is_server_error() => ApiErrorCode::Internal,
        _ => ApiErrorCode::BadRequest,
    };
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this path does not take this method (see Allow)".into(),
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the request body is larger than {} bytes",
            crate::http::MAX_BODY_BYTES
        ),
        _ => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
    };
    let (mut parts, _) = response.into_parts();
    let body = ApiError {
        error: code,
        message,
        retry_after_secs: None,
    };
    let rebuilt = (status, Json(body)).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Response::from_parts(parts, rebuilt.into_body())
}
