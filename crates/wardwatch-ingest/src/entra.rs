//! Microsoft Entra ID (Azure AD) sign-in and audit logs, as Azure Monitor diagnostic
//! settings export them (Event Hub, storage account, Log Analytics: `category`, `time`,
//! `properties.*`) and as Microsoft Graph returns them (`userPrincipalName`, `status`,
//! `createdDateTime` at the top level).
//!
//! # What it does
//! [`shape`] recognizes a record; [`normalize`] fills, for a **sign-in** (a category ending in
//! `SignInLogs`: interactive, non-interactive, service principal, managed identity, AD FS; or a
//! Graph signIn): `event.category` `authentication`, `event.action` `sign-in` (or
//! `sign-in-interrupted` for the codes that only ask for another step: MFA, "keep me signed
//! in", consent — they are not failed passwords; `mfa-push-denied` for 500121, a declined
//! strong authentication), `event.outcome` from `resultType` /
//! `status.errorCode` (`0` success), `event.code` that code, `user.name` the user principal
//! name, `source.ip`, `host.name` the application signed in to; for an **audit** record
//! (`AuditLogs`, or a Graph directoryAudit): `event.category` `iam`, `event.action` the
//! activity, `event.outcome` from `result`, `user.name` the initiating user (or app).
//! `event.provider` is `entra-id` for both; the record stays unchanged as `raw`.
//!
//! # Why it matters
//! A clinician's cloud identity opens mail, Teams and increasingly the EHR; password spraying
//! and MFA fatigue against it show only in these logs.
//!
//! # References
//! Microsoft Learn: "Azure Monitor sign-in log schema", "Azure AD audit log schema", Graph
//! `signIn` and `directoryAudit` resources, "Azure AD authentication and authorization error
//! codes" (AADSTS).

use serde_json::Value;
use wardwatch_core::Ecs;

use crate::doc::{first_text, lookup, text_at};

/// Which Entra record a JSON object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    SignIn,
    Audit,
}

/// The Entra shape of `v`, if it has one.
pub(crate) fn shape(v: &Value) -> Option<Shape> {
    let o = v.as_object()?;
    if let Some(cat) = o.get("category").and_then(Value::as_str)
        && o.contains_key("properties")
    {
        // SignInLogs, NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs,
        // MicrosoftServicePrincipalSignInLogs, ManagedIdentitySignInLogs, ADFSSignInLogs...
        if cat.ends_with("SignInLogs") {
            return Some(Shape::SignIn);
        }
        if cat == "AuditLogs" {
            return Some(Shape::Audit);
        }
    }
    // Graph: a signIn has userPrincipalName + status + createdDateTime; a directoryAudit has
    // activityDisplayName + initiatedBy + activityDateTime.
    if o.contains_key("userPrincipalName")
        && o.contains_key("status")
        && o.contains_key("createdDateTime")
    {
        return Some(Shape::SignIn);
    }
    if o.contains_key("activityDisplayName")
        && o.contains_key("initiatedBy")
        && o.contains_key("activityDateTime")
    {
        return Some(Shape::Audit);
    }
    None
}

/// Codes that interrupt a sign-in to ask for something more (MFA, "stay signed in?",
/// consent, a device check) rather than refuse a credential.
const INTERRUPTS: &[&str] = &[
    "50055", "50058", "50072", "50074", "50076", "50079", "50097", "50125", "50129", "50140",
    "50158", "50199", "53003", "65001", "81010", "81012", "81014", "16000", "16001", "16003",
];

/// Where an Entra record keeps its time, in order of preference.
pub(crate) const TIME: &[&str] = &[
    "time",
    "properties.createdDateTime",
    "createdDateTime",
    "properties.activityDateTime",
    "activityDateTime",
];

/// The normalized fields of an Entra record of `shape`.
pub(crate) fn normalize(v: &Value, shape: Shape) -> Ecs {
    // Diagnostic exports nest the Graph record under `properties`.
    let p = lookup(v, "properties")
        .filter(|p| p.is_object())
        .unwrap_or(v);
    let mut ecs = Ecs {
        event_kind: Some("event".into()),
        event_provider: Some("entra-id".into()),
        ..Ecs::default()
    };
    match shape {
        Shape::SignIn => {
            let code = first_text(v, &["resultType"])
                .or_else(|| text_at(p, "status.errorCode"))
                .unwrap_or_else(|| "0".into());
            let interrupted = INTERRUPTS.contains(&code.as_str());
            ecs.event_category = Some("authentication".into());
            // 500121: the strong authentication failed — the user declined the push (or did
            // not answer): what MFA fatigue is made of.
            let action = match code.as_str() {
                "500121" => "mfa-push-denied",
                _ if interrupted => "sign-in-interrupted",
                _ => "sign-in",
            };
            ecs.event_action = Some(action.into());
            ecs.event_outcome = Some(if code == "0" { "success" } else { "failure" }.into());
            ecs.event_code = Some(code);
            ecs.user_name = first_text(p, &["userPrincipalName", "servicePrincipalName"])
                .or_else(|| text_at(v, "identity"));
            ecs.source_ip = first_text(p, &["ipAddress"]).or_else(|| text_at(v, "callerIpAddress"));
            ecs.host_name = first_text(p, &["appDisplayName", "resourceDisplayName"]);
            ecs.message = first_text(p, &["status.failureReason"])
                .or_else(|| text_at(v, "resultDescription"));
        }
        Shape::Audit => {
            ecs.event_category = Some("iam".into());
            ecs.event_action = first_text(p, &["activityDisplayName", "operationName"])
                .or_else(|| text_at(v, "operationName"));
            ecs.event_outcome = first_text(p, &["result"])
                .or_else(|| text_at(v, "resultSignature"))
                .map(|r| {
                    match r.to_ascii_lowercase().as_str() {
                        "success" => "success",
                        "failure" | "timeout" => "failure",
                        _ => "unknown",
                    }
                    .to_string()
                });
            ecs.event_code = first_text(p, &["operationType", "category"]);
            ecs.user_name = first_text(
                p,
                &[
                    "initiatedBy.user.userPrincipalName",
                    "initiatedBy.app.displayName",
                    "initiatedBy.app.servicePrincipalName",
                ],
            );
            ecs.source_ip = first_text(p, &["initiatedBy.user.ipAddress"])
                .or_else(|| text_at(v, "callerIpAddress"));
            ecs.host_name = first_text(p, &["loggedByService"]);
        }
    }
    ecs
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn diagnostic_sign_in_failure_and_interrupt() {
        let bad = json!({"category": "SignInLogs", "time": "2026-11-02T08:00:00Z", "resultType": "50126",
            "callerIpAddress": "198.51.100.7",
            "properties": {"userPrincipalName": "n.jansen@hosp.example", "ipAddress": "198.51.100.7",
                "appDisplayName": "Office 365", "status": {"errorCode": 50126}}});
        assert_eq!(shape(&bad), Some(Shape::SignIn));
        let ecs = normalize(&bad, Shape::SignIn);
        assert_eq!(ecs.event_action.as_deref(), Some("sign-in"));
        assert_eq!(ecs.event_outcome.as_deref(), Some("failure"));
        assert_eq!(ecs.user_name.as_deref(), Some("n.jansen@hosp.example"));
        assert_eq!(ecs.source_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(ecs.event_code.as_deref(), Some("50126"));
        let mfa = json!({"userPrincipalName": "a@b", "status": {"errorCode": 50074}, "createdDateTime": "2026-11-02T08:00:00Z", "ipAddress": "10.0.0.1"});
        let ecs = normalize(&mfa, shape(&mfa).unwrap());
        assert_eq!(ecs.event_action.as_deref(), Some("sign-in-interrupted"));
        let declined = json!({"userPrincipalName": "a@b", "status": {"errorCode": 500121}, "createdDateTime": "2026-11-02T08:00:00Z"});
        let ecs = normalize(&declined, Shape::SignIn);
        assert_eq!(ecs.event_action.as_deref(), Some("mfa-push-denied"));
    }

    #[test]
    fn audit_record_names_the_initiator() {
        let a = json!({"category": "AuditLogs", "time": "2026-11-02T08:00:00Z", "operationName": "Add member to role",
            "properties": {"activityDisplayName": "Add member to role", "result": "success",
                "initiatedBy": {"user": {"userPrincipalName": "admin@hosp.example", "ipAddress": "10.1.1.1"}},
                "loggedByService": "Core Directory", "category": "RoleManagement"}});
        assert_eq!(shape(&a), Some(Shape::Audit));
        let ecs = normalize(&a, Shape::Audit);
        assert_eq!(ecs.event_category.as_deref(), Some("iam"));
        assert_eq!(ecs.event_action.as_deref(), Some("Add member to role"));
        assert_eq!(ecs.event_outcome.as_deref(), Some("success"));
        assert_eq!(ecs.user_name.as_deref(), Some("admin@hosp.example"));
        assert_eq!(ecs.source_ip.as_deref(), Some("10.1.1.1"));
        assert_eq!(shape(&json!({"category": "SignInLogs"})), None);
    }
}
