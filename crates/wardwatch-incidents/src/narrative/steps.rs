//! Merging the steps the rules contribute into a short list per role.
//!
//! Why: every rule of an incident brings its own advice, written to stand alone. Eleven rules
//! on one attack gave the IT team eleven paragraphs, several opening with the same sentence
//! ("Treat this as a possible ransomware attack in progress.") and repeating "isolate the
//! host". A person acting at 3 a.m. needs the most urgent thing first, each thing once, and a
//! list short enough to read: advice that opens the same way becomes one step with the other
//! advice's new sentences added; a sentence said before is not said again; steps are ordered
//! by urgency (the rule's level, then how far the attack had got: impact before credential
//! theft before a first foothold); at most [`MAX_STEPS`] per role, the rest folded into the
//! last step by their opening sentences.

/// At most this many steps per role.
pub const MAX_STEPS: usize = 6;

/// One piece of advice and how urgent it is.
#[derive(Debug, Clone)]
pub(super) struct Advice {
    pub text: String,
    /// Higher is more urgent (the rule's level, 0 informational .. 4 critical).
    pub level: u8,
    /// Lower is more urgent ([`tactic_rank`] of the rule's most advanced tactic).
    pub stage: u8,
}

/// How urgent a tactic is: what destroys or leaks data first, then what spreads or steals
/// the keys, then footholds; unknown last.
pub(super) fn tactic_rank(tactic: &str) -> u8 {
    const ORDER: &[&str] = &[
        "impact",
        "exfiltration",
        "credential-access",
        "lateral-movement",
        "command-and-control",
        "privilege-escalation",
        "persistence",
        "defense-evasion",
        "execution",
        "collection",
        "discovery",
        "initial-access",
        "reconnaissance",
        "resource-development",
    ];
    ORDER
        .iter()
        .position(|t| *t == tactic)
        .map_or(ORDER.len() as u8, |p| p as u8)
}

/// A step being built: its sentences and urgency, and where it first came.
struct Draft {
    sentences: Vec<String>,
    level: u8,
    stage: u8,
    order: usize,
}

/// Merge `advice` (in the order the rules fired) into at most [`MAX_STEPS`] steps, most urgent
/// first, none repeating another.
pub(super) fn merge(advice: Vec<Advice>) -> Vec<String> {
    let mut drafts: Vec<Draft> = Vec::new();
    let mut said: Vec<Words> = Vec::new();
    for (order, a) in advice.into_iter().enumerate() {
        let sentences = sentences(&a.text);
        let Some(first) = sentences.first() else {
            continue;
        };
        let opening = Words::of(first);
        // Advice that opens like an earlier step continues that step.
        let into = drafts.iter().position(|d| {
            d.sentences
                .first()
                .is_some_and(|s| Words::of(s).same(&opening))
        });
        let fresh: Vec<String> = sentences
            .into_iter()
            .filter(|s| {
                let w = Words::of(s);
                if said.iter().any(|x| x.same(&w)) {
                    false
                } else {
                    said.push(w);
                    true
                }
            })
            .collect();
        match into {
            Some(i) => {
                let d = &mut drafts[i];
                d.sentences.extend(fresh);
                d.level = d.level.max(a.level);
                d.stage = d.stage.min(a.stage);
            }
            None if !fresh.is_empty() => drafts.push(Draft {
                sentences: fresh,
                level: a.level,
                stage: a.stage,
                order,
            }),
            None => {}
        }
    }
    drafts.sort_by_key(|d| (std::cmp::Reverse(d.level), d.stage, d.order));
    fold(drafts.into_iter().map(|d| d.sentences).collect())
}

/// Steps already one per person or decision (helpdesk, manager): each once, in order, at
/// most [`MAX_STEPS`].
pub(super) fn cap(steps: Vec<String>) -> Vec<String> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for s in steps {
        let s = sentences(&s);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    fold(out)
}

/// At most [`MAX_STEPS`] steps: beyond, the last step lists the opening sentences of the rest.
fn fold(steps: Vec<Vec<String>>) -> Vec<String> {
    if steps.len() <= MAX_STEPS {
        return steps.into_iter().map(|s| s.join(" ")).collect();
    }
    let rest: Vec<String> = steps[MAX_STEPS - 1..]
        .iter()
        .filter_map(|s| s.iter().find(|s| !s.starts_with("No action")).cloned())
        .collect();
    let mut out: Vec<String> = steps[..MAX_STEPS - 1].iter().map(|s| s.join(" ")).collect();
    if !rest.is_empty() {
        out.push(format!("Once that is done: {}", rest.join(" ")));
    }
    out
}

/// Split advice into sentences: after `.`, `!` or `?` followed by a space and a capital
/// letter, outside parentheses.
pub(super) fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '.' | '!' | '?' if depth <= 0 => {
                let next = chars.get(i + 1).map(|x| x.1);
                let after = chars.get(i + 2).map(|x| x.1);
                if next.is_some_and(char::is_whitespace)
                    && after.is_some_and(|a| a.is_uppercase() || a == '"')
                {
                    let s = text[start..at + c.len_utf8()].trim();
                    if !s.is_empty() {
                        out.push(s.to_string());
                    }
                    start = at + c.len_utf8();
                }
            }
            _ => {}
        }
    }
    let tail = text[start..].trim();
    if !tail.is_empty() {
        out.push(tail.to_string());
    }
    out
}

/// A sentence as the set of its meaningful words, for "says the same thing".
struct Words(Vec<String>);

impl Words {
    fn of(s: &str) -> Words {
        const SMALL: &[&str] = &[
            "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "it", "is", "be",
            "if", "this", "that", "its", "their", "then", "from", "with", "by", "as", "are",
        ];
        let mut w: Vec<String> = s
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .filter(|w| !SMALL.contains(&w.as_str()))
            .collect();
        w.sort();
        w.dedup();
        Words(w)
    }

    /// The same words, or nearly (four in five shared).
    fn same(&self, other: &Words) -> bool {
        if self.0.is_empty() || other.0.is_empty() {
            return self.0 == other.0;
        }
        let shared = self.0.iter().filter(|w| other.0.contains(w)).count();
        let all = self.0.len() + other.0.len() - shared;
        shared * 5 >= all * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(text: &str, level: u8, stage: &str) -> Advice {
        Advice {
            text: text.into(),
            level,
            stage: tactic_rank(stage),
        }
    }

    #[test]
    fn sentences_split_outside_parentheses() {
        assert_eq!(
            sentences("Isolate it (unplug it. Or not). Then call. done"),
            vec!["Isolate it (unplug it. Or not).", "Then call. done"]
        );
    }

    #[test]
    fn same_opening_merges_repeats_go_and_urgent_comes_first() {
        let steps = merge(vec![
            a("Remove the mail from every mailbox.", 2, "initial-access"),
            a(
                "Treat this as ransomware. Isolate the host now. Check the backups.",
                4,
                "impact",
            ),
            a(
                "Treat this as ransomware. Isolate the host now. Disable the account.",
                4,
                "impact",
            ),
            a(
                "Reset passwords. Isolate the host now.",
                4,
                "credential-access",
            ),
        ]);
        assert_eq!(
            steps,
            vec![
                "Treat this as ransomware. Isolate the host now. Check the backups. Disable the account.",
                "Reset passwords.",
                "Remove the mail from every mailbox.",
            ]
        );
    }

    #[test]
    fn at_most_six_with_the_rest_folded_in() {
        let advice: Vec<Advice> = (0..9)
            .map(|i| a(&format!("Do thing {i}. Explain {i} at length."), 2, ""))
            .collect();
        let steps = merge(advice);
        assert_eq!(steps.len(), MAX_STEPS);
        assert_eq!(steps[0], "Do thing 0. Explain 0 at length.");
        assert_eq!(
            steps[5],
            "Once that is done: Do thing 5. Do thing 6. Do thing 7. Do thing 8."
        );
    }
}
