//! API errors and the one place where they become HTTP responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What can go wrong answering an API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter or the query is malformed (the client's mistake).
    #[error("{0}")]
    BadRequest(String),
    /// No or wrong token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Signed in, but the role may not do this (or the form's CSRF token is wrong).
    #[error("{0}")]
    Forbidden(String),
    /// The body is longer than the route accepts.
    #[error("{0}")]
    TooLarge(String),
    /// Too many failed sign-ins; try again later.
    #[error("{0}")]
    TooMany(String),
    /// The thing asked for does not exist (or belongs to an organization the caller does not
    /// see: the answer is the same, so ids are not confirmed).
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but not in the current state (resolving a resolved incident).
    #[error("{0}")]
    Conflict(String),
    /// Our fault; details go to the log, the client gets a short reason.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<wardwatch_store::StoreError> for ApiError {
    fn from(e: wardwatch_store::StoreError) -> Self {
        match e {
            wardwatch_store::StoreError::Query(q) => ApiError::BadRequest(format!("q: {q}")),
            wardwatch_store::StoreError::Cursor(_) => ApiError::BadRequest(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl ApiError {
    /// The HTTP status and a short kind for this error.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// What the client is told (internal details go to the log, once).
    pub fn reason(&self) -> String {
        match self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "internal error; see the server log".to_string()
            }
            e => e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status();
        let reason = self.reason();
        let mut resp = (
            status,
            Json(json!({"error": {"type": kind, "reason": reason}})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"wardwatch-api\""),
            );
        }
        resp
    }
}
