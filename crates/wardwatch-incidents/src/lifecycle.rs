//! What analysts do with an incident: acknowledge, assign, comment, resolve, reopen.
//!
//! Why: an incident is work. The workflow is deliberately small — new → acknowledged →
//! resolved, with new → resolved for the obvious false positive and resolved → (reopen) →
//! acknowledged when it comes back — and every step is written to the history with who and
//! when, because a hospital must be able to show what it did about an attack (NIS2, audits).
//! An incident closed by quiet can still be acknowledged and resolved: closing only means no
//! alert joins it any more.

use jiff::Timestamp;

use crate::model::{Comment, Incident, Resolution, Status};

/// A change the incident's state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The action is not allowed from the incident's current status.
    #[error("cannot {action} incident `{id}`: it is {from} ({hint})")]
    InvalidTransition {
        id: String,
        action: &'static str,
        from: Status,
        hint: &'static str,
    },
    /// A comment with no text.
    #[error("empty comment on incident `{id}` (write what you found)")]
    EmptyComment { id: String },
}

impl Incident {
    fn refuse(&self, action: &'static str, hint: &'static str) -> LifecycleError {
        LifecycleError::InvalidTransition {
            id: self.id.clone(),
            action,
            from: self.status,
            hint,
        }
    }

    /// new → acknowledged: someone is looking at it.
    pub fn acknowledge(&mut self, actor: &str, now: Timestamp) -> Result<(), LifecycleError> {
        match self.status {
            Status::New => {
                self.status = Status::Acknowledged;
                self.log(now, actor, "acknowledged", String::new());
                Ok(())
            }
            Status::Acknowledged => Err(self.refuse("acknowledge", "it already is")),
            Status::Resolved => Err(self.refuse("acknowledge", "reopen it first")),
        }
    }

    /// new or acknowledged → resolved, with the conclusion and an optional note.
    pub fn resolve(
        &mut self,
        resolution: Resolution,
        actor: &str,
        note: Option<String>,
        now: Timestamp,
    ) -> Result<(), LifecycleError> {
        if self.status == Status::Resolved {
            return Err(self.refuse("resolve", "reopen it first to change the resolution"));
        }
        self.status = Status::Resolved;
        self.resolution = Some(resolution);
        let detail = match note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => format!("{}: {n}", resolution.as_str()),
            None => resolution.as_str().to_string(),
        };
        self.log(now, actor, "resolved", detail);
        Ok(())
    }

    /// resolved → acknowledged: it was not over after all. The resolution is cleared; say why
    /// in a [`comment`](Incident::comment).
    pub fn reopen(&mut self, actor: &str, now: Timestamp) -> Result<(), LifecycleError> {
        if self.status != Status::Resolved {
            return Err(self.refuse("reopen", "only a resolved incident can be reopened"));
        }
        let was = self.resolution.map_or("", |r| r.as_str());
        let detail = format!("was {was}");
        self.status = Status::Acknowledged;
        self.resolution = None;
        self.log(now, actor, "reopened", detail);
        Ok(())
    }

    /// Give the incident to `assignee`; an empty name gives it to nobody. Allowed in every
    /// status.
    pub fn assign(&mut self, assignee: &str, actor: &str, now: Timestamp) {
        let assignee = assignee.trim();
        let detail = if assignee.is_empty() {
            self.assignee = None;
            "to nobody".to_string()
        } else {
            self.assignee = Some(assignee.to_string());
            format!("to {assignee}")
        };
        self.log(now, actor, "assigned", detail);
    }

    /// Add a note. Allowed in every status.
    pub fn comment(
        &mut self,
        author: &str,
        text: &str,
        now: Timestamp,
    ) -> Result<(), LifecycleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(LifecycleError::EmptyComment {
                id: self.id.clone(),
            });
        }
        self.comments.push(Comment {
            author: author.to_string(),
            at: now,
            text: text.to_string(),
        });
        let preview: String = text.chars().take(80).collect();
        self.log(now, author, "commented", preview);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use wardwatch_core::Severity;

    fn incident() -> Incident {
        let t = at("2026-03-02T10:00:00Z");
        let mut g = grouper();
        g.add(
            &alert("r", "x", Severity::High, t).host("ws-1").build(),
            &hospital(),
            t,
        )
        .remove(0)
    }

    #[test]
    fn the_happy_path_is_recorded() {
        let mut i = incident();
        let t = at("2026-03-02T11:00:00Z");
        i.acknowledge("anna", t).unwrap();
        i.assign("ben", "anna", t);
        assert_eq!(i.assignee.as_deref(), Some("ben"));
        i.comment("ben", "  looked at the host  ", t).unwrap();
        i.resolve(Resolution::TruePositive, "ben", Some("reimaged".into()), t)
            .unwrap();
        assert_eq!(i.status, Status::Resolved);
        let actions: Vec<&str> = i.history.iter().map(|h| h.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "created",
                "acknowledged",
                "assigned",
                "commented",
                "resolved"
            ]
        );
        assert_eq!(i.history.last().unwrap().detail, "true-positive: reimaged");
        assert_eq!(i.comments[0].text, "looked at the host");
        i.reopen("anna", t).unwrap();
        assert_eq!(i.history.last().unwrap().detail, "was true-positive");
        assert_eq!(i.status, Status::Acknowledged);
        assert_eq!(i.resolution, None);
        i.resolve(Resolution::Benign, "anna", None, t).unwrap();
    }

    #[test]
    fn invalid_transitions_name_the_states() {
        let mut i = incident();
        let t = at("2026-03-02T11:00:00Z");
        let e = i.reopen("anna", t).unwrap_err();
        assert!(
            e.to_string().contains("cannot reopen") && e.to_string().contains("it is new"),
            "{e}"
        );
        i.resolve(Resolution::FalsePositive, "anna", None, t)
            .unwrap();
        let e = i.acknowledge("anna", t).unwrap_err();
        assert!(
            e.to_string().contains("it is resolved (reopen it first)"),
            "{e}"
        );
        let e = i.resolve(Resolution::Benign, "anna", None, t).unwrap_err();
        assert!(matches!(
            e,
            LifecycleError::InvalidTransition {
                from: Status::Resolved,
                ..
            }
        ));
        assert!(i.comment("anna", " ", t).is_err());
        i.reopen("anna", t).unwrap();
        let e = i.acknowledge("anna", t).unwrap_err();
        assert!(e.to_string().contains("it is acknowledged"), "{e}");
        assert_eq!(i.history.len(), 3);
    }
}
