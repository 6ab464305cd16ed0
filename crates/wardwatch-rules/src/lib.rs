//! The built-in Wardwatch rule pack: Sigma rules written for what hurts hospitals most, each with a
//! `wardwatch:` block (recommendation, user-awareness note, asset classes). The YAML lives in
//! `rules/` at the workspace root and is embedded at build time, so `wardwatch hunt` works with no
//! rule folder at hand.

include!(concat!(env!("OUT_DIR"), "/rules.rs"));

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
