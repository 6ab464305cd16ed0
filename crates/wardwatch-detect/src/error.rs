//! The detect crate's error type.

/// Errors of the detect crate. Problems with single rules are [`crate::RuleProblem`]s, not errors:
/// a pack loads everything it can.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// No rule in the pack could be loaded.
    #[error("no usable rule in the pack ({problems} problem(s); see `wardwatch rules check`)")]
    EmptyPack { problems: usize },
}
