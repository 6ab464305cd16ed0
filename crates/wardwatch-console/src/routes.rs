//! Every route of the console and the API, with the access each requires, in one table. The
//! router is built from this table and the guard reads it, so a route cannot exist without an
//! access rule; the route test walks the same table.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post};

use crate::auth::{self, Access};
use crate::{ApiState, identities, incidents, intel, login, network, notifications, page, pages};

/// One route: method, path (axum syntax), what it requires, its handler.
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub handler: MethodRouter<ApiState>,
}

fn r(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<ApiState>,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        handler,
    }
}

/// Every route.
pub fn routes() -> Vec<RouteSpec> {
    use Access::*;
    let (g, p, d) = (Method::GET, Method::POST, Method::DELETE);
    vec![
        // Open to all: health, sign-in. Metrics: a token or a sign-in, unless opened.
        r(g.clone(), "/healthz", Public, get(crate::healthz)),
        r(g.clone(), "/metrics", Metrics, get(crate::metrics)),
        r(
            g.clone(),
            "/static/console.css",
            Public,
            get(page::stylesheet),
        ),
        r(g.clone(), "/favicon.ico", Public, get(page::favicon)),
        r(g.clone(), "/login", Public, get(login::page)),
        r(p.clone(), "/login", Public, post(login::submit)),
        r(p.clone(), "/logout", SignedIn, post(login::logout)),
        // Pages.
        r(g.clone(), "/", Read, get(pages::overview::page)),
        r(g.clone(), "/incidents", Read, get(pages::incidents::list)),
        r(
            g.clone(),
            "/incidents/{id}",
            Read,
            get(pages::incidents::detail),
        ),
        r(
            p.clone(),
            "/incidents/{id}/action",
            Act,
            post(pages::incidents::action),
        ),
        r(
            p.clone(),
            "/alerts/{id}/exception",
            Act,
            post(pages::incidents::exception),
        ),
        r(g.clone(), "/alerts", Read, get(pages::alerts::list)),
        r(
            g.clone(),
            "/noteworthy",
            Read,
            get(pages::overview::noteworthy),
        ),
        r(g.clone(), "/search", Search, get(pages::search::page)),
        r(
            g.clone(),
            "/events/{seq}",
            Search,
            get(pages::search::event),
        ),
        r(g.clone(), "/hosts/{name}", Read, get(pages::entities::host)),
        r(g.clone(), "/users/{name}", Read, get(pages::entities::user)),
        r(g.clone(), "/rules", Read, get(pages::rules::page)),
        r(g.clone(), "/audit", Audit, get(pages::admin::audit)),
        r(g.clone(), "/admin", Admin, get(pages::admin::accounts)),
        // The JSON API.
        r(g.clone(), "/api/v1/events", Search, get(crate::events)),
        r(g.clone(), "/api/v1/alerts", Read, get(crate::alerts)),
        r(g.clone(), "/api/v1/alerts/{id}", Read, get(crate::alert)),
        r(g.clone(), "/api/v1/stats", Read, get(crate::stats)),
        r(
            g.clone(),
            "/api/v1/identities/{user}/usage",
            Search,
            get(identities::usage),
        ),
        r(
            g.clone(),
            "/api/v1/network/summary",
            Search,
            get(network::summary),
        ),
        r(g.clone(), "/api/v1/incidents", Read, get(incidents::list)),
        r(
            g.clone(),
            "/api/v1/incidents/{id}",
            Read,
            get(incidents::detail),
        ),
        r(
            p.clone(),
            "/api/v1/incidents/{id}/actions",
            Act,
            post(incidents::act),
        ),
        r(
            p.clone(),
            "/api/v1/incidents/{id}/share",
            Act,
            post(incidents::share),
        ),
        r(
            g.clone(),
            "/api/v1/intel/sightings",
            Read,
            get(intel::sightings),
        ),
        r(
            g.clone(),
            "/api/v1/exceptions",
            Read,
            get(incidents::exceptions),
        ),
        r(
            p.clone(),
            "/api/v1/exceptions",
            Act,
            post(incidents::add_exception),
        ),
        r(
            d,
            "/api/v1/exceptions/{id}",
            Act,
            delete(incidents::delete_exception),
        ),
        r(
            g.clone(),
            "/api/v1/notifications",
            Act,
            get(notifications::list),
        ),
        r(g, "/api/v1/audit", Audit, get(pages::admin::audit_api)),
    ]
}

/// (method, path) → access, for the guard.
pub struct AccessTable(HashMap<(Method, &'static str), Access>);

impl AccessTable {
    pub fn get(&self, method: &Method, path: &str) -> Option<Access> {
        // HEAD is answered by GET routes.
        let m = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.0
            .iter()
            .find(|((rm, rp), _)| rm == m && *rp == path)
            .map(|(_, a)| *a)
    }
}

/// The console and API router: every route of [`routes`] behind the guard.
pub fn router(state: ApiState) -> Router {
    let specs = routes();
    let table = Arc::new(AccessTable(
        specs
            .iter()
            .map(|s| ((s.method.clone(), s.path), s.access))
            .collect(),
    ));
    let mut router = Router::new();
    for s in specs {
        router = router.route(s.path, s.handler);
    }
    router
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), table),
            auth::guard,
        ))
        .with_state(state)
}
