//! The built-in Wardwatch rule pack: Sigma rules written for what hurts hospitals most, each with a
//! `wardwatch:` block (recommendation, user-awareness note, asset classes). The YAML lives in
//! `rules/` at the workspace root and is embedded at build time, so `wardwatch hunt` works with no
//! rule folder at hand.
//!
//! It also carries the level policies of the optional community packs (`packs/NAME.yml` at the
//! workspace root): the packs themselves are read in place from the operator's disk, but the
//! review of their rules is ours and ships with the binary.

include!(concat!(env!("OUT_DIR"), "/rules.rs"));

/// (pack name, file, YAML) of every shipped pack policy.
pub static PACK_POLICIES: &[(&str, &str, &str)] = &[(
    "hayabusa",
    "packs/hayabusa.yml",
    include_str!("../../../packs/hayabusa.yml"),
)];

/// The shipped policy of the optional pack `name`, as (file, YAML).
pub fn pack_policy(name: &str) -> Option<(&'static str, &'static str)> {
    PACK_POLICIES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, file, text)| (*file, *text))
}

#[cfg(test)]
mod tests {
    use super::RULES;

    #[test]
    fn pack_is_embedded_sorted_and_every_rule_has_a_wardwatch_block() {
        assert!(RULES.len() >= 25, "only {} built-in rules", RULES.len());
        assert!(RULES.windows(2).all(|w| w[0].0 < w[1].0));
        for (name, text) in RULES {
            assert!(
                text.contains("\nwardwatch:"),
                "{name} has no wardwatch: block"
            );
            assert!(
                text.contains("recommendation:"),
                "{name} has no recommendation"
            );
            assert!(text.contains("assets:"), "{name} has no assets");
        }
    }
}
