//! Who is asking, and whether they may: roles, sessions, tokens, CSRF and the one guard that
//! every route passes.
//!
//! Why one guard: a route that checks its own access is a route that can forget to. The router
//! is built from a table ([`crate::routes::routes`]) where every route names its [`Access`];
//! [`guard`] runs in front of all of them, finds the caller (a session cookie or a Bearer
//! token), refuses what the role does not allow, checks the CSRF token of every form a session
//! sends, and hands the handler a [`Principal`]. A handler cannot run without one: the
//! extractor fails when the guard did not put it there. Which organizations a principal sees
//! is then applied by the handlers through [`Principal::orgs`] and [`Principal::sees`]
//! (another organization's object is "not found", never "forbidden", so ids are not confirmed).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use wardwatch_store::{SessionLookup, TokenKind, token_hash};

use crate::page::PageError;
use crate::{ApiError, ApiState};

/// The session cookie.
pub const SESSION_COOKIE: &str = "ww_session";
/// The cookie that pairs with the sign-in form's `csrf_token` before there is a session.
pub const LOGIN_CSRF_COOKIE: &str = "ww_login_csrf";
/// The largest form or JSON body a signed-in browser may send (an over-long one is refused
/// before anything reads it).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// What an account or token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything, including accounts, tokens and the audit log.
    Admin,
    /// Reads, searches and acts on incidents and exceptions.
    Analyst,
    /// Reads the overview, incidents, alerts, entities and rules; does not search raw events.
    Viewer,
    /// Reads what a viewer reads, searches events and reads the audit log (who looked at
    /// patient-related data); does not act on incidents.
    PrivacyOfficer,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::Analyst,
        Role::Viewer,
        Role::PrivacyOfficer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
            Role::PrivacyOfficer => "privacy-officer",
        }
    }

    /// From its name (`admin`, `analyst`, `viewer`, `privacy-officer`).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Anyone: the sign-in page, health, the style sheet.
    Public,
    /// `/metrics`: any API token or signed-in role, or anyone when the server sets
    /// `metrics_open`.
    Metrics,
    /// Anyone signed in (signing out).
    SignedIn,
    /// Every role: overview, incidents, alerts, entities, rules.
    Read,
    /// Raw events: analysts, privacy officers, admins.
    Search,
    /// Acting on incidents and exceptions: analysts and admins.
    Act,
    /// The audit log: privacy officers and admins.
    Audit,
    /// Accounts and tokens: admins.
    Admin,
}

impl Access {
    /// Whether `role` may use a route that requires this.
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Access::Public | Access::Metrics | Access::SignedIn | Access::Read => true,
            Access::Search => matches!(role, Admin | Analyst | PrivacyOfficer),
            Access::Act => matches!(role, Admin | Analyst),
            Access::Audit => matches!(role, Admin | PrivacyOfficer),
            Access::Admin => role == Admin,
        }
    }
}

/// The caller of a guarded route.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Account name, or `token:NAME` for an API token.
    pub name: String,
    pub role: Role,
    /// The organizations it sees; `None` for every one (a deployment admin).
    orgs: Option<Vec<String>>,
    /// The session's CSRF token (every form carries it); `None` for tokens.
    pub csrf: Option<String>,
    /// Where the request came from (peer address), for the audit log.
    pub addr: String,
}

impl Principal {
    /// A principal (tests and the sign-in handler build them).
    pub fn new(name: &str, role: Role, orgs: &[String], addr: &str) -> Principal {
        Principal {
            name: name.to_string(),
            role,
            orgs: if orgs.iter().any(|o| o == "*") {
                None
            } else {
                Some(orgs.to_vec())
            },
            csrf: None,
            addr: addr.to_string(),
        }
    }

    /// The organizations it sees, for store filters (`None`: all).
    pub fn orgs(&self) -> Option<Vec<String>> {
        self.orgs.clone()
    }

    /// Whether it sees objects of `org`.
    pub fn sees(&self, org: &str) -> bool {
        self.orgs
            .as_ref()
            .is_none_or(|o| o.iter().any(|x| x == org))
    }

    /// The organization its own actions are filed under in the audit log: its only one, or
    /// `*` for a principal of several or all.
    pub fn home_org(&self) -> String {
        match &self.orgs {
            Some(o) if o.len() == 1 => o[0].clone(),
            _ => "*".to_string(),
        }
    }

    /// Whether it sees patient-record privacy incidents and alerts: privacy officers and
    /// admins only (issue 14); to everyone else they do not exist.
    pub fn sees_privacy(&self) -> bool {
        matches!(self.role, Role::Admin | Role::PrivacyOfficer)
    }

    /// The privacy incidents and alerts its listings hold.
    pub fn privacy_scope(&self) -> wardwatch_store::PrivacyScope {
        if self.sees_privacy() {
            wardwatch_store::PrivacyScope::With
        } else {
            wardwatch_store::PrivacyScope::Without
        }
    }

    /// Whether it sees the incident `id` of `org`.
    pub fn sees_incident(&self, org: &str, id: &str) -> bool {
        self.sees(org)
            && (self.sees_privacy() || !id.starts_with(wardwatch_core::PRIVACY_INCIDENT_PREFIX))
    }

    /// Whether it sees an alert of rule `rule_id` in `org`.
    pub fn sees_alert(&self, org: &str, rule_id: &str) -> bool {
        self.sees(org)
            && (self.sees_privacy() || !rule_id.starts_with(wardwatch_core::PRIVACY_RULE_PREFIX))
    }

    /// Whether it may use routes that require `access`.
    pub fn may(&self, access: Access) -> bool {
        access.allows(self.role)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("a guarded route ran without a principal".into()))
    }
}

/// The peer address of a request, as text (`unknown` when the listener does not tell).
pub fn peer(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// An Argon2id hash (PHC string) of `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// 32 random bytes from the OS, URL-safe base64: session secrets, CSRF tokens, passwords.
pub fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("no randomness from the OS: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: Secure, HttpOnly, SameSite=Strict, path `/`; `max_age` 0 removes it.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    c
}

/// Failed sign-ins remembered per account and per address: after [`Limiter::PER_ACCOUNT`]
/// failures for one account, or [`Limiter::PER_ADDRESS`] from one address, within
/// [`Limiter::WINDOW`], further attempts are refused until the oldest failure ages out. A
/// guesser spread over many addresses still meets the per-account limit; one address trying
/// many accounts meets the per-address one.
#[derive(Default)]
pub struct Limiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);
    pub const PER_ACCOUNT: usize = 5;
    pub const PER_ADDRESS: usize = 20;

    fn keys(account: &str, addr: &str) -> [(String, usize); 2] {
        [
            (
                format!("account:{}", account.to_lowercase()),
                Self::PER_ACCOUNT,
            ),
            (format!("addr:{addr}"), Self::PER_ADDRESS),
        ]
    }

    /// How long until another attempt is allowed, when it is not now.
    pub fn blocked(&self, account: &str, addr: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = None;
        for (key, cap) in Self::keys(account, addr) {
            if let Some(q) = map.get_mut(&key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Self::WINDOW)
                {
                    q.pop_front();
                }
                if q.len() >= cap
                    && let Some(oldest) = q.front()
                {
                    let w = Self::WINDOW.saturating_sub(now.duration_since(*oldest));
                    wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
                }
            }
        }
        wait
    }

    /// Count a failed attempt.
    pub fn fail(&self, account: &str, addr: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a flood of made-up names cannot grow this without end.
        if map.len() > 100_000 {
            map.clear();
        }
        for (key, cap) in Self::keys(account, addr) {
            let q = map.entry(key).or_default();
            q.push_back(Instant::now());
            while q.len() > cap {
                q.pop_front();
            }
        }
    }

    /// Forget an account's failures after it signed in.
    pub fn succeeded(&self, account: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("account:{}", account.to_lowercase()));
    }
}

/// Whether a request is for the JSON API (errors as JSON, no redirects).
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

/// How the guard refuses: JSON for the API, a page (or the sign-in page) for the console.
fn refuse(api: bool, e: ApiError) -> Response {
    if api {
        e.into_response()
    } else {
        PageError(e).into_response()
    }
}

/// The guard in front of every route; see the module documentation.
pub(crate) async fn guard(
    State((state, table)): State<(ApiState, std::sync::Arc<crate::routes::AccessTable>)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(matched) = req.extensions().get::<MatchedPath>().cloned() else {
        // No route matched: the router's own 404 / 405.
        return next.run(req).await;
    };
    let path = req.uri().path().to_string();
    let api = is_api(&path);
    let Some(access) = table.get(req.method(), matched.as_str()) else {
        // A route missing from the table is refused rather than served unguarded.
        tracing::error!(
            route = matched.as_str(),
            "route without an access rule refused"
        );
        return refuse(api, ApiError::NotFound(format!("no page `{path}`")));
    };
    if access == Access::Public || (access == Access::Metrics && state.metrics_are_open()) {
        return next.run(req).await;
    }
    let addr = peer(req.extensions());
    let (mut parts, body) = req.into_parts();
    let principal = match identify(&state, &parts.headers, &addr).await {
        Ok(Some(p)) => p,
        Ok(None) if api => {
            return ApiError::Unauthorized("sign in, or send `Authorization: Bearer <API token>`")
                .into_response();
        }
        Ok(None) => {
            let expired = cookie(&parts.headers, SESSION_COOKIE).is_some();
            let target = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let next_q = if parts.method == Method::GET {
                format!("next={}", crate::page::url_encode(target))
            } else {
                String::new()
            };
            let loc = match (expired, next_q.is_empty()) {
                (true, true) => "/login?expired=1".to_string(),
                (true, false) => format!("/login?expired=1&{next_q}"),
                (false, true) => "/login".to_string(),
                (false, false) => format!("/login?{next_q}"),
            };
            let mut resp = Redirect::to(&loc).into_response();
            if expired && let Ok(v) = set_cookie(SESSION_COOKIE, "", Some(0)).parse() {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            return resp;
        }
        Err(e) => return refuse(api, e),
    };
    if !principal.may(access) {
        return refuse(
            api,
            ApiError::Forbidden(format!(
                "the {} role may not use `{} {}`",
                principal.role.as_str(),
                parts.method,
                matched.as_str()
            )),
        );
    }
    // Every state-changing request of a browser session carries the session's CSRF token, as
    // the form field `csrf_token` or the `X-CSRF-Token` header. Tokens (no cookies) need none.
    let body = if principal.csrf.is_some() && parts.method != Method::GET {
        let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return refuse(
                    api,
                    ApiError::TooLarge(format!(
                        "the form is longer than {} KiB; nothing was saved",
                        MAX_FORM_BYTES / 1024
                    )),
                );
            }
        };
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| form_field(&bytes, "csrf_token"));
        if sent.as_deref() != principal.csrf.as_deref() {
            return refuse(
                api,
                ApiError::Forbidden(
                    "the form's security token (csrf_token) is missing or wrong: it may come from \
                     another site, or from a page older than your sign-in; reload the page and try \
                     again. Nothing was saved."
                        .into(),
                ),
            );
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(principal);
    next.run(Request::from_parts(parts, body)).await
}

/// A field of an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The caller: a Bearer token (stored, or given at start), else a live session cookie.
async fn identify(
    state: &ApiState,
    headers: &HeaderMap,
    addr: &str,
) -> Result<Option<Principal>, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    if let Some(token) = bearer {
        let hash = token_hash(token);
        if state.inner.env_tokens.contains(&hash) {
            // Tokens given at start (WARDWATCH_API_TOKENS) act as a deployment admin.
            return Ok(Some(Principal::new(
                "token:environment",
                Role::Admin,
                &["*".to_string()],
                addr,
            )));
        }
        let grant = state
            .with_db(move |db| Ok(db.token_grant(TokenKind::Api, &hash)?))
            .await?;
        return match grant {
            Some(g) => {
                let role = match g.role.as_deref() {
                    None => Role::Admin,
                    Some(r) => Role::parse(r).ok_or_else(|| {
                        ApiError::Internal(format!("token `{}` has unknown role `{r}`", g.name))
                    })?,
                };
                let orgs: Vec<String> = g
                    .org
                    .as_deref()
                    .unwrap_or("*")
                    .split(',')
                    .map(str::to_string)
                    .collect();
                Ok(Some(Principal::new(
                    &format!("token:{}", g.name),
                    role,
                    &orgs,
                    addr,
                )))
            }
            None => Err(ApiError::Unauthorized("unknown API token")),
        };
    }
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let id = token_hash(secret);
    let found = state.with_db_mut(move |db| Ok(db.session(&id)?)).await?;
    match found {
        SessionLookup::Live(s) => {
            let role = Role::parse(&s.account.role).ok_or_else(|| {
                ApiError::Internal(format!(
                    "account `{}` has unknown role `{}`",
                    s.account.name, s.account.role
                ))
            })?;
            let mut p = Principal::new(&s.account.name, role, &s.account.orgs, addr);
            p.csrf = Some(s.csrf);
            Ok(Some(p))
        }
        SessionLookup::Expired | SessionLookup::Unknown => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn limiter_blocks_per_account_and_per_address() {
        let l = Limiter::default();
        for _ in 0..Limiter::PER_ACCOUNT {
            assert!(l.blocked("ana", "10.0.0.1").is_none());
            l.fail("ana", "10.0.0.1");
        }
        assert!(l.blocked("ana", "10.0.0.9").is_some(), "per account");
        assert!(l.blocked("bob", "10.0.0.9").is_none());
        for i in 0..Limiter::PER_ADDRESS {
            l.fail(&format!("u{i}"), "10.0.0.7");
        }
        assert!(l.blocked("zoe", "10.0.0.7").is_some(), "per address");
        l.succeeded("ana");
        assert!(l.blocked("ana", "10.0.0.9").is_none());
    }

    #[test]
    fn roles_reach_what_they_should() {
        assert!(Access::Act.allows(Role::Analyst));
        assert!(!Access::Act.allows(Role::Viewer));
        assert!(!Access::Act.allows(Role::PrivacyOfficer));
        assert!(Access::Audit.allows(Role::PrivacyOfficer));
        assert!(!Access::Audit.allows(Role::Analyst));
        assert!(!Access::Search.allows(Role::Viewer));
        assert!(!Access::Admin.allows(Role::Analyst));
        assert!(Access::Admin.allows(Role::Admin));
    }
}
