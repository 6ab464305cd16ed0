//! Signing in and out.
//!
//! Before there is a session, the sign-in form is protected by a double-submit token: the page
//! sets a random `ww_login_csrf` cookie (SameSite=Strict, so another site's form cannot send
//! it) and carries the same value as the hidden `csrf_token` field; `POST /login` accepts only
//! when both are there and equal. A successful sign-in opens a new session (a fresh random
//! secret; only its SHA-256 is stored) with its own CSRF token for every later form. Failures
//! are counted per account and per address and audited; past the limit, attempts are refused
//! without checking the password. Every attempt is also handed to the server
//! ([`crate::Telemetry::sign_in`]), which records it as an authentication event: the console is
//! one more place where a clinician's or an administrator's identity is used.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use wardwatch_store::{AuditRecord, token_hash};

use crate::auth::{
    self, LOGIN_CSRF_COOKIE, MAX_FORM_BYTES, Principal, Role, SESSION_COOKIE, cookie, set_cookie,
};
use crate::page::{attr, bare, esc};
use crate::{ApiError, ApiState, SignIn, SignInOutcome};

#[derive(Debug, Deserialize, Default)]
pub(crate) struct LoginParams {
    next: Option<String>,
    expired: Option<String>,
}

/// Only a path on this site (`/...`, not `//host`) may be where sign-in leads.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

fn login_page(token: &str, next: &str, notice: Option<&str>, error: Option<&str>) -> Response {
    let mut body = String::from("<div class=\"login\"><h1>Sign in</h1>");
    if let Some(n) = notice {
        body.push_str(&format!("<div class=\"notice\">{}</div>", esc(n)));
    }
    if let Some(e) = error {
        body.push_str(&format!("<div class=\"err\">{}</div>", esc(e)));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{t}\">\
         <input type=\"hidden\" name=\"next\" value=\"{n}\">\
         <label for=\"username\">Account</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <p><button type=\"submit\">Sign in</button></p></form></div>",
        t = attr(token),
        n = attr(next)
    ));
    let mut resp = bare("Sign in", &body).into_response();
    if let Ok(v) = set_cookie(LOGIN_CSRF_COOKIE, token, Some(3600)).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}

/// `GET /login`.
pub(crate) async fn page(Query(p): Query<LoginParams>) -> Result<Response, crate::page::PageError> {
    let token = auth::random_token()?;
    let notice = p
        .expired
        .is_some()
        .then_some("Your session has ended. Please sign in again.");
    Ok(login_page(
        &token,
        &safe_next(p.next.as_deref()),
        notice,
        None,
    ))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    next: Option<String>,
}

/// `POST /login`.
pub(crate) async fn submit(
    State(s): State<ApiState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, crate::page::PageError> {
    let addr = auth::peer(&ext);
    if body.len() > MAX_FORM_BYTES {
        return Err(ApiError::TooLarge("the sign-in form is too long".into()).into());
    }
    let form: LoginForm = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::BadRequest(format!("sign-in form: {e}")))?;
    let next = safe_next(form.next.as_deref());
    let cookie_token = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if form.csrf_token.is_empty() || cookie_token != form.csrf_token {
        return Err(ApiError::Forbidden(
            "the sign-in form's security token is missing or does not match: open the sign-in \
             page again and retry"
                .into(),
        )
        .into());
    }
    let name = form.username.trim().to_string();
    let fresh = auth::random_token()?;
    if name.is_empty() || form.password.is_empty() {
        return Ok(login_page(
            &fresh,
            &next,
            None,
            Some("Enter your account name and password."),
        ));
    }
    if let Some(wait) = s.inner.limiter.blocked(&name, &addr) {
        report(&s, &name, &addr, SignInOutcome::Refused);
        audit_plain(&s, &name, "sign-in.refused", &addr, "rate limited").await?;
        let mut resp = login_page(
            &fresh,
            &next,
            None,
            Some(&format!(
                "Too many failed sign-ins. Try again in {} minute(s).",
                wait.as_secs().div_ceil(60).max(1)
            )),
        );
        *resp.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        return Ok(resp);
    }
    let lookup = name.clone();
    let account = s.with_db(move |db| Ok(db.account(&lookup)?)).await?;
    let password = form.password;
    // Verify on the blocking pool (Argon2id takes tens of milliseconds on purpose); an unknown
    // account still costs one hash, so timing does not tell which names exist.
    let verified = {
        let account = account.clone();
        tokio::task::spawn_blocking(move || match &account {
            Some(a) if !a.disabled => auth::verify_password(&password, &a.hash),
            _ => {
                let _ = auth::hash_password(&password);
                false
            }
        })
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
    };
    let Some(account) = account.filter(|_| verified) else {
        s.inner.limiter.fail(&name, &addr);
        report(&s, &name, &addr, SignInOutcome::Failed);
        audit_plain(&s, &name, "sign-in.failed", &addr, "").await?;
        let mut resp = login_page(
            &fresh,
            &next,
            None,
            Some("The account name or password is wrong."),
        );
        *resp.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        return Ok(resp);
    };
    s.inner.limiter.succeeded(&name);
    report(&s, &account.name, &addr, SignInOutcome::Succeeded);
    let secret = auth::random_token()?;
    let csrf = auth::random_token()?;
    let ttl = s.inner.session_ttl;
    let expires = jiff::Timestamp::now()
        .as_nanosecond()
        .saturating_add(ttl.as_nanos() as i128);
    let (id, who, at) = (token_hash(&secret), account.name.clone(), addr.clone());
    s.with_db_mut(move |db| {
        Ok(db.open_session(
            &id,
            &who,
            &csrf,
            i64::try_from(expires).unwrap_or(i64::MAX),
            &at,
        )?)
    })
    .await?;
    let role = Role::parse(&account.role).unwrap_or(Role::Viewer);
    let p = Principal::new(&account.name, role, &account.orgs, &addr);
    s.audit(
        &p,
        "sign-in",
        &format!("account:{}", account.name),
        &p.home_org(),
        "",
    )
    .await?;
    let mut resp = Redirect::to(&next).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = set_cookie(SESSION_COOKIE, &secret, Some(ttl.as_secs())).parse() {
        h.append(header::SET_COOKIE, v);
    }
    if let Ok(v) = set_cookie(LOGIN_CSRF_COOKIE, "", Some(0)).parse() {
        h.append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Tell the server about the attempt (it becomes an identity event; see [`Telemetry::sign_in`]).
fn report(s: &ApiState, account: &str, addr: &str, outcome: SignInOutcome) {
    s.inner.telemetry.sign_in(SignIn {
        account: account.chars().take(200).collect(),
        address: addr.to_string(),
        outcome,
        at: jiff::Timestamp::now(),
    });
}

async fn audit_plain(
    s: &ApiState,
    actor: &str,
    action: &str,
    addr: &str,
    detail: &str,
) -> Result<(), ApiError> {
    let rec = AuditRecord {
        actor: actor.chars().take(200).collect(),
        action: action.to_string(),
        target: format!("account:{}", actor.chars().take(200).collect::<String>()),
        org: "*".to_string(),
        addr: addr.to_string(),
        detail: detail.to_string(),
    };
    s.with_db_mut(move |db| Ok(db.audit(&rec)?)).await?;
    Ok(())
}

/// `POST /logout` (the guard has checked the session and its CSRF token).
pub(crate) async fn logout(
    State(s): State<ApiState>,
    who: Principal,
    headers: HeaderMap,
) -> Result<Response, crate::page::PageError> {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        let id = token_hash(secret);
        s.with_db_mut(move |db| Ok(db.close_session(&id)?)).await?;
    }
    s.audit(
        &who,
        "sign-out",
        &format!("account:{}", who.name),
        &who.home_org(),
        "",
    )
    .await?;
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = set_cookie(SESSION_COOKIE, "", Some(0)).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}
