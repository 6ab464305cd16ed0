//! Ingest tokens in the three forms Elasticsearch clients send them.
//!
//! - `Authorization: Bearer <token>` — the token as is.
//! - `Authorization: ApiKey <base64(id:key)>` — what Beats (`api_key: "id:key"`), Logstash
//!   (`api_key`) and Vector send; the decoded `id:key` is tried as the token, then the `key` part
//!   alone, then the header value as sent (for a token pasted already encoded).
//! - `Authorization: Basic <base64(user:password)>` — the password is the token and the user name
//!   is ignored, so shippers that only know user and password (Fluent Bit `HTTP_User`/`HTTP_Passwd`)
//!   work too.
//!
//! Whether a token is valid is decided by the caller's [`TokenCheck`]; an empty token never is.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::BulkError;

/// Decides whether a token is a valid ingest token, and names the organization its events go
/// to (`None`: not valid). Provided by the server, which knows the configured tokens (it should
/// compare in constant time).
pub type TokenCheck = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Check the request's credentials: the organization of the token, or an error that says
/// what is wrong without echoing a secret.
pub(crate) fn authorize(
    headers: &HeaderMap,
    tokens: &TokenCheck,
    path: &str,
) -> Result<String, BulkError> {
    let valid = |t: &str| if t.is_empty() { None } else { tokens(t) };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(BulkError::Unauthorized(format!(
            "missing authentication credentials for REST request [{path}]; send an ingest token as `Authorization: Bearer <token>`, `ApiKey` or basic auth (the password is the token)"
        )));
    };
    let text = value.to_str().unwrap_or("").trim();
    let (scheme, credentials) = text.split_once(' ').unwrap_or((text, ""));
    let credentials = credentials.trim();
    let decoded = || {
        STANDARD
            .decode(credentials)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
    };
    let ok = match scheme.to_ascii_lowercase().as_str() {
        "bearer" => valid(credentials),
        "apikey" => match decoded() {
            Some(id_key) => valid(&id_key)
                .or_else(|| id_key.split_once(':').and_then(|(_, key)| valid(key)))
                .or_else(|| valid(credentials)),
            None => valid(credentials),
        },
        "basic" => decoded()
            .and_then(|user_pass| user_pass.split_once(':').map(|(_, p)| p.to_string()))
            .and_then(|password| valid(&password)),
        _ => {
            return Err(BulkError::Unauthorized(format!(
                "unsupported authentication scheme `{scheme}` for REST request [{path}]; use Bearer, ApiKey or Basic"
            )));
        }
    };
    if let Some(org) = ok {
        Ok(org)
    } else {
        Err(BulkError::Unauthorized(format!(
            "unable to authenticate with the provided credentials for REST request [{path}]: not a valid ingest token"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn check(authorization: Option<&str>) -> Result<(), String> {
        let tokens: TokenCheck =
            Arc::new(|t| (t == "s3cret" || t == "keyid:keyval").then(|| "default".to_string()));
        let mut headers = HeaderMap::new();
        if let Some(a) = authorization {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        authorize(&headers, &tokens, "/_bulk")
            .map(drop)
            .map_err(|e| match e {
                BulkError::Unauthorized(reason) => reason,
                other => format!("{other:?}"),
            })
    }

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn each_scheme() {
        assert_eq!(check(Some("Bearer s3cret")), Ok(()));
        assert_eq!(check(Some("bearer   s3cret ")), Ok(()));
        assert_eq!(
            check(Some(&format!("ApiKey {}", b64("keyid:keyval")))),
            Ok(())
        );
        assert_eq!(
            check(Some(&format!("ApiKey {}", b64("anyid:s3cret")))),
            Ok(())
        );
        assert_eq!(
            check(Some(&format!("Basic {}", b64("elastic:s3cret")))),
            Ok(())
        );
        assert_eq!(check(Some(&format!("Basic {}", b64(":s3cret")))), Ok(()));
    }

    #[test]
    fn refusals_say_why() {
        assert!(
            check(None)
                .unwrap_err()
                .starts_with("missing authentication credentials")
        );
        assert!(
            check(Some("Bearer nope"))
                .unwrap_err()
                .starts_with("unable to authenticate")
        );
        assert!(
            check(Some("Bearer"))
                .unwrap_err()
                .starts_with("unable to authenticate")
        );
        assert!(check(Some(&format!("Basic {}", b64("s3cret")))).is_err());
        assert!(check(Some("Basic !!!")).is_err());
        assert!(
            check(Some("Negotiate abc"))
                .unwrap_err()
                .starts_with("unsupported authentication scheme `Negotiate`")
        );
    }
}
