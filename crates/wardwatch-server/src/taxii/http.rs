//! TAXII's HTTP rules in one place: the media types (`Accept` → 406, `Content-Type` → 415),
//! error message resources, and who is asking (a partner's token → 401, no partnership → 403).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

/// The TAXII 2.1 media type of every request and response body.
pub const MEDIA_TAXII: &str = "application/taxii+json;version=2.1";
/// The media type of STIX 2.1 objects in a collection.
pub const MEDIA_STIX: &str = "application/stix+json;version=2.1";

/// A TAXII error message resource (TAXII 2.1 §3.6.1) with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiError {
    pub status: StatusCode,
    pub title: &'static str,
    pub description: String,
}

impl TaxiiError {
    pub fn new(status: StatusCode, title: &'static str, description: impl Into<String>) -> Self {
        TaxiiError {
            status,
            title,
            description: description.into(),
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", description)
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", description)
    }

    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", description)
    }

    pub fn internal(description: impl std::fmt::Display) -> Self {
        // The partner learns that it failed; the log learns why.
        tracing::error!(error = %description, "taxii request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "the server could not complete the request; it has been logged",
        )
    }
}

impl From<wardwatch_store::StoreError> for TaxiiError {
    fn from(e: wardwatch_store::StoreError) -> Self {
        TaxiiError::internal(e)
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        });
        let mut resp = taxii_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"TAXII\", Bearer realm=\"TAXII\""),
            );
        }
        resp
    }
}

/// A TAXII JSON response.
pub fn taxii_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TAXII))],
        body.to_string(),
    )
        .into_response()
}

/// One media range of `Accept` or a `Content-Type`: whether it names TAXII 2.1. A missing
/// version means the newest, which is 2.1 here.
fn is_taxii_21(range: &str, wildcards: bool) -> bool {
    let mut parts = range.split(';').map(|p| p.trim().to_ascii_lowercase());
    let ty = parts.next().unwrap_or_default();
    let mut version = None;
    for p in parts {
        if let Some((k, v)) = p.split_once('=')
            && k.trim() == "version"
        {
            version = Some(v.trim().trim_matches('"').to_string());
        }
    }
    match ty.as_str() {
        "application/taxii+json" => version.is_none_or(|v| v == "2.1"),
        "*/*" | "application/*" => wildcards,
        _ => false,
    }
}

/// 406 unless the client accepts TAXII 2.1 (or anything).
pub fn check_accept(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let text = accept.to_str().unwrap_or_default();
    if text.split(',').any(|r| is_taxii_21(r, true)) {
        return Ok(());
    }
    Err(TaxiiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "Not acceptable",
        format!("this server answers `{MEDIA_TAXII}`; the request accepts `{text}`"),
    ))
}

/// 415 unless the body is TAXII 2.1.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let text = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if is_taxii_21(text, false) {
        return Ok(());
    }
    Err(TaxiiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported media type",
        format!("send the envelope as `{MEDIA_TAXII}`, not `{text}`"),
    ))
}

/// The credentials of a request: the secret, and the user name Basic authentication gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: Option<String>,
    pub secret: String,
}

fn unauthorized(description: &str) -> TaxiiError {
    TaxiiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        description.to_string(),
    )
}

/// `Authorization: Bearer <token>`, `Token <token>` (taxii2-client's `TokenAuth`) or `Basic`
/// with the partner's name and token.
pub fn credentials(headers: &HeaderMap) -> Result<Credentials, TaxiiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "a partner token is needed (Authorization: Bearer, or Basic with the partner's name and token)",
        ));
    };
    let text = value.to_str().unwrap_or_default().trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "token" if !rest.is_empty() => Ok(Credentials {
            user: None,
            secret: rest.to_string(),
        }),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    unauthorized("the Basic credentials are not base64 of name:token")
                })?;
            let (user, secret) = decoded
                .split_once(':')
                .ok_or_else(|| unauthorized("the Basic credentials are not name:token"))?;
            Ok(Credentials {
                user: (!user.is_empty()).then(|| user.to_string()),
                secret: secret.to_string(),
            })
        }
        _ => Err(unauthorized(
            "unsupported authorization scheme; use Bearer, Token or Basic",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn media_types_as_taxii_says() {
        for ok in [
            MEDIA_TAXII,
            "application/taxii+json",
            "application/taxii+json; version=2.1",
            "text/html, */*;q=0.8",
            "application/json, application/taxii+json;version=2.1",
        ] {
            assert!(check_accept(&headers(&[("accept", ok)])).is_ok(), "{ok}");
        }
        assert!(check_accept(&HeaderMap::new()).is_ok());
        for bad in [
            "application/json",
            "application/taxii+json;version=2.0",
            "application/vnd.oasis.taxii+json",
        ] {
            let e = check_accept(&headers(&[("accept", bad)])).unwrap_err();
            assert_eq!(e.status, StatusCode::NOT_ACCEPTABLE, "{bad}");
        }
        assert!(check_content_type(&headers(&[("content-type", MEDIA_TAXII)])).is_ok());
        for bad in [
            "application/json",
            "*/*",
            "application/taxii+json;version=2.0",
        ] {
            let e = check_content_type(&headers(&[("content-type", bad)])).unwrap_err();
            assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{bad}");
        }
        let e = check_content_type(&HeaderMap::new()).unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn credentials_from_bearer_token_and_basic() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            credentials(&headers(&[("authorization", "Bearer abc")])).unwrap(),
            Credentials {
                user: None,
                secret: "abc".into()
            }
        );
        assert_eq!(
            credentials(&headers(&[("authorization", "Token abc")]))
                .unwrap()
                .secret,
            "abc"
        );
        let c = credentials(&headers(&[(
            "authorization",
            &format!("Basic {}", b64("north:s3:cret")),
        )]))
        .unwrap();
        assert_eq!(
            (c.user.as_deref(), c.secret.as_str()),
            (Some("north"), "s3:cret")
        );
        for bad in ["", "Bearer", "Basic !!!", "Digest x"] {
            let e = credentials(&headers(&[("authorization", bad)])).unwrap_err();
            assert_eq!(e.status, StatusCode::UNAUTHORIZED, "{bad}");
        }
        assert_eq!(
            credentials(&HeaderMap::new()).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        // An error is a TAXII error message with a challenge.
        let resp = credentials(&HeaderMap::new()).unwrap_err().into_response();
        assert!(resp.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(resp.headers()[header::CONTENT_TYPE], MEDIA_TAXII);
    }
}
