//! Publishing an incident: its sanitized STIX 2.1 bundle (`wardwatch_intel::share`) added to a
//! TAXII collection, where partners fetch it. `wardwatch intel share --collection` and
//! `POST /api/v1/incidents/{id}/share` both come here, so both withhold the same values and
//! refuse the same incidents (patient-record privacy incidents never leave the hospital).
//!
//! The bundle's objects are added in one transaction; sharing an incident again adds new
//! versions of the objects that changed (their ids are name-based), and the unchanged ones
//! (the TLP marking definition) are "already there".

use std::sync::Arc;

use serde_json::{Value, json};
use wardwatch_incidents::{Context, Incident};
use wardwatch_intel::{Share, Tlp, collection};
use wardwatch_store::{
    AddOutcome, AlertStore, IncidentStore, NewTaxiiObject, Store, StoreError, StoredIncident,
    TaxiiCollection, TaxiiStore,
};

/// What a share is made with: who we are and what stays inside.
#[derive(Clone)]
pub struct ShareSettings {
    /// The producing hospital's name as partners know it.
    pub producer: String,
    /// The hospital's own mail and web domains.
    pub own_domains: Vec<String>,
    /// Inventory and roster: whose names and addresses stay home.
    pub ctx: Arc<Context>,
    /// The TLP an unmarked object is read under (every object we publish is marked).
    pub unmarked: Tlp,
}

/// Why an incident was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No such incident.
    #[error("no incident `{0}`")]
    NoIncident(String),
    /// A patient-record privacy incident.
    #[error(
        "incident `{0}` is a patient-record privacy incident: those are never shared outside the hospital"
    )]
    Privacy(String),
    /// The collection is not configured.
    #[error(
        "no TAXII collection `{name}` (known: {known}); collections are set in [[taxii.collections]]"
    )]
    NoCollection { name: String, known: String },
    /// The stored incident cannot be read.
    #[error("incident `{0}` cannot be read: {1}")]
    Corrupt(String, String),
    /// The bundle holds an object a collection refuses (a defect of the share).
    #[error("the share of incident `{0}` holds an object a collection refuses: {1}")]
    Refused(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A share made, and where it went.
#[derive(Debug, Clone)]
pub struct Published {
    pub share: Share,
    pub tlp: Tlp,
    /// The collection it was added to; `None` for a dry run.
    pub collection: Option<TaxiiCollection>,
    /// Objects stored as new versions, and objects the collection held already.
    pub added: usize,
    pub present: usize,
}

impl Published {
    /// The answer of the API: the bundle exactly as published, and the account of it.
    pub fn to_json(&self) -> Value {
        json!({
            "dry_run": self.collection.is_none(),
            "collection": self.collection.as_ref().map(|c| json!({"id": c.id, "alias": c.alias})),
            "tlp": self.tlp.as_str(),
            "added": self.added,
            "already_present": self.present,
            "indicators": self.share.kept.len(),
            "techniques": self.share.techniques,
            "withheld": self.share.withheld.iter()
                .map(|(what, why)| json!({"value": what, "reason": why}))
                .collect::<Vec<_>>(),
            "bundle": self.share.bundle,
        })
    }
}

/// The collection `name` (alias or id) of those stored (the ones `serve` or `--config`
/// configured).
pub fn find_collection(
    db: &(impl TaxiiStore + ?Sized),
    name: &str,
) -> Result<TaxiiCollection, PublishError> {
    let all = db.taxii_collections()?;
    if let Some(c) = all.iter().find(|c| c.alias == name || c.id == name) {
        return Ok(c.clone());
    }
    let known: Vec<&str> = all.iter().map(|c| c.alias.as_str()).collect();
    Err(PublishError::NoCollection {
        name: name.to_string(),
        known: if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        },
    })
}

/// The incident of `stored`, unless it is a patient-record privacy incident: that is the
/// privacy officer's, about a colleague and a patient, and nothing of it leaves the hospital.
fn shareable(stored: &StoredIncident) -> Result<Incident, PublishError> {
    let incident: Incident = serde_json::from_str::<wardwatch_incidents::IncidentDoc>(&stored.doc)
        .map_err(|e| PublishError::Corrupt(stored.id.clone(), e.to_string()))?
        .incident;
    if incident.privacy
        || stored
            .id
            .starts_with(wardwatch_core::PRIVACY_INCIDENT_PREFIX)
    {
        return Err(PublishError::Privacy(stored.id.clone()));
    }
    Ok(incident)
}

/// The sanitized share of `incident`, with its alerts read from the store.
fn share_of(
    db: &(impl AlertStore + ?Sized),
    incident: &Incident,
    settings: &ShareSettings,
    tlp: Tlp,
) -> Result<Share, PublishError> {
    let mut alerts = Vec::new();
    for id in &incident.alert_ids {
        if let Some((alert, _)) = db.alert(&id.0)? {
            alerts.push(alert);
        }
    }
    let mut inside = wardwatch_intel::Inside::new(&settings.ctx, &settings.own_domains);
    inside.add_incident(incident, &alerts);
    Ok(wardwatch_intel::share(
        &wardwatch_intel::ShareRequest {
            incident,
            alerts: &alerts,
            producer: &settings.producer,
            tlp,
            now: jiff::Timestamp::now(),
        },
        &inside,
    ))
}

/// Share incident `id` and, unless `collection` is `None` (a dry run), add the bundle's
/// objects to that collection.
pub fn publish(
    db: &mut (impl IncidentStore + AlertStore + TaxiiStore + ?Sized),
    id: &str,
    collection: Option<&str>,
    tlp: Tlp,
    settings: &ShareSettings,
) -> Result<Published, PublishError> {
    let stored = db
        .incident(id)?
        .ok_or_else(|| PublishError::NoIncident(id.to_string()))?;
    publish_stored(db, &stored, collection, tlp, settings)
}

/// [`publish`] for an incident already read (the API checked the caller may see it).
pub fn publish_stored(
    db: &mut (impl AlertStore + TaxiiStore + ?Sized),
    stored: &StoredIncident,
    collection: Option<&str>,
    tlp: Tlp,
    settings: &ShareSettings,
) -> Result<Published, PublishError> {
    let incident = shareable(stored)?;
    let target = collection.map(|c| find_collection(db, c)).transpose()?;
    let share = share_of(db, &incident, settings, tlp)?;
    let mut published = Published {
        share,
        tlp,
        collection: None,
        added: 0,
        present: 0,
    };
    let Some(target) = target else {
        return Ok(published);
    };
    let mut objects = Vec::new();
    for obj in published.share.bundle["objects"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let f = collection::facts(obj).map_err(|e| PublishError::Refused(stored.id.clone(), e))?;
        objects.push(NewTaxiiObject {
            tlp: f.tlp_or(settings.unmarked) as u8,
            version: f
                .version
                .map(|(text, t)| (text, i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX))),
            id: f.id,
            ty: f.ty,
            spec_version: f.spec_version,
            creator: f.creator,
            private: false,
            doc: obj.to_string(),
        });
    }
    let outcomes = db.taxii_publish(&target.id, &objects)?;
    for o in &outcomes {
        match o {
            AddOutcome::Added { .. } => published.added += 1,
            AddOutcome::Present { .. } => published.present += 1,
            AddOutcome::Refused(why) => {
                tracing::warn!(incident = %stored.id, reason = %why, "shared object not added");
            }
        }
    }
    tracing::info!(
        incident = %stored.id,
        collection = %target.alias,
        added = published.added,
        "incident shared"
    );
    published.collection = Some(target);
    Ok(published)
}

/// The console's door to [`publish_stored`].
pub struct ServerSharing(pub ShareSettings);

impl wardwatch_console::Sharing for ServerSharing {
    fn share(
        &self,
        db: &mut dyn Store,
        incident: &StoredIncident,
        collection: Option<&str>,
        tlp: &str,
    ) -> Result<Value, wardwatch_console::ApiError> {
        use wardwatch_console::ApiError;
        let tlp = Tlp::parse(tlp).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "tlp: `{tlp}` is not one of clear, green, amber, amber+strict, red"
            ))
        })?;
        match publish_stored(db, incident, collection, tlp, &self.0) {
            Ok(p) => Ok(p.to_json()),
            Err(e @ PublishError::NoIncident(_)) => Err(ApiError::NotFound(e.to_string())),
            Err(e @ PublishError::Privacy(_)) => Err(ApiError::Forbidden(e.to_string())),
            Err(e @ PublishError::NoCollection { .. }) => Err(ApiError::BadRequest(e.to_string())),
            Err(e) => Err(ApiError::Internal(e.to_string())),
        }
    }
}
