//! Synthesis for the Sigma self-test: from a rule's condition and items, the `EventData` (and
//! `System` fields) of one record that satisfies it, written as Sigma defines each modifier —
//! not as any engine implements it — so a rule that does not fire on its own record points at
//! our mapping or our engine, never at the test.
//!
//! One way through the condition is taken: every selection an `and` needs, the first branch of
//! an `or`, the first (sorted) names of `1 of x*`, and nothing of a `not` (a filter is left
//! unsatisfied). In a selection, the first alternative of a list of maps, each item's first
//! value (every value under `|all`).

use std::collections::BTreeMap;

use base64::Engine as _;
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaRule,
    SigmaString, SigmaValue, SpecialChar, StringPart,
};
use serde_json::{Map, Value, json};

/// What one field must hold.
#[derive(Debug, Clone)]
enum Need {
    Exact(Value),
    Prefix(String),
    Infix(String),
    Suffix(String),
}

/// How a need may be written differently and still match, per Sigma: in another case (unless
/// `|cased` or `|re`), with `/` for `-` (under `|windash`).
#[derive(Debug, Clone, Copy, Default)]
struct Freedom {
    fold: bool,
    dash: bool,
}

/// Which of the equivalent records to build.
#[derive(Debug, Clone, Copy, Default)]
pub struct Variant {
    /// Every foldable text in upper case.
    pub upper: bool,
    /// `/` for `-` in `|windash` values.
    pub slash: bool,
}

/// A record that satisfies a rule, before it is shaped as EVTX.
#[derive(Debug, Default)]
pub struct Plan {
    fields: BTreeMap<String, Vec<(Need, Freedom)>>,
    keywords: Vec<String>,
    /// The selections the condition was satisfied through.
    pub names: Vec<String>,
    /// The `Channel` to pick when an item lists several (the logsource's).
    prefer_channel: Option<String>,
    /// Whether two items ask one field for things no one value gives.
    pub conflict: bool,
    /// Use value `.1` of the `.0`-th item met instead of its first (to try every value).
    pick: Option<(usize, usize)>,
    /// How many items were met, and how many values each offers (1 under `|all`).
    pub choices: Vec<usize>,
    /// Use alternative `.1` of the `.0`-th list of maps met instead of its first.
    alternative: Option<(usize, usize)>,
    /// How many lists of maps were met, and how many alternatives each offers.
    pub alternatives: Vec<usize>,
}

/// Why a record could not be built.
pub type Limit = String;

/// Names of `named` that `pattern` (`selection_*`, `them`) selects, sorted.
fn selected<'a>(named: &'a BTreeMap<&'a str, &'a Detection>, p: &SelectorPattern) -> Vec<&'a str> {
    named
        .keys()
        .copied()
        .filter(|n| match p {
            SelectorPattern::Them => !n.starts_with('_'),
            SelectorPattern::Pattern(pat) => glob(pat, n),
        })
        .collect()
}

fn glob(pat: &str, name: &str) -> bool {
    match pat.split_once('*') {
        None => pat == name,
        Some((head, tail)) => {
            name.starts_with(head) && name.len() >= head.len() + tail.len() && {
                let rest = &name[head.len()..];
                (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
            }
        }
    }
}

/// The selections one way through `expr` needs.
fn positive(
    expr: &ConditionExpr,
    named: &BTreeMap<&str, &Detection>,
    out: &mut Vec<String>,
) -> Result<(), Limit> {
    match expr {
        ConditionExpr::Identifier(n) => out.push(n.clone()),
        ConditionExpr::And(parts) => {
            for p in parts {
                positive(p, named, out)?;
            }
        }
        ConditionExpr::Or(parts) => {
            let first = parts
                .iter()
                .find(|p| !matches!(p, ConditionExpr::Not(_)))
                .ok_or("condition: an `or` of negations only")?;
            positive(first, named, out)?;
        }
        ConditionExpr::Not(_) => {}
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let names = selected(named, pattern);
            let take = match quantifier {
                Quantifier::Any => 1,
                Quantifier::All => names.len(),
                Quantifier::Count(n) => *n as usize,
            };
            if names.len() < take || names.is_empty() {
                return Err(format!("condition: `{pattern}` selects too few selections"));
            }
            out.extend(names.into_iter().take(take).map(str::to_string));
        }
    }
    Ok(())
}

/// A plan for `rule`, or why none could be made.
pub fn plan(rule: &SigmaRule, channel: &str) -> Result<Plan, Limit> {
    plan_picking(rule, channel, None)
}

/// [`plan`], with alternative `pick.1` of the `pick.0`-th list of maps met (see
/// [`Plan::alternatives`]).
pub fn plan_alternative(
    rule: &SigmaRule,
    channel: &str,
    pick: (usize, usize),
) -> Result<Plan, Limit> {
    build(rule, channel, None, Some(pick))
}

/// [`plan`], with value `pick.1` of the `pick.0`-th item met (see [`Plan::choices`]).
pub fn plan_picking(
    rule: &SigmaRule,
    channel: &str,
    pick: Option<(usize, usize)>,
) -> Result<Plan, Limit> {
    build(rule, channel, pick, None)
}

fn build(
    rule: &SigmaRule,
    channel: &str,
    pick: Option<(usize, usize)>,
    alternative: Option<(usize, usize)>,
) -> Result<Plan, Limit> {
    let expr = rule
        .detection
        .conditions
        .first()
        .ok_or("the rule has no condition")?;
    let named: BTreeMap<&str, &Detection> = rule
        .detection
        .named
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let mut plan = Plan {
        prefer_channel: Some(channel.to_string()),
        pick,
        alternative,
        ..Plan::default()
    };
    positive(expr, &named, &mut plan.names)?;
    plan.names.dedup();
    for name in plan.names.clone() {
        let det = named
            .get(name.as_str())
            .ok_or_else(|| format!("condition names `{name}`, which is not defined"))?;
        plan.detection(det)?;
    }
    Ok(plan)
}

impl Plan {
    fn detection(&mut self, det: &Detection) -> Result<(), Limit> {
        match det {
            Detection::AllOf(items) => items.iter().try_for_each(|i| self.item(i)),
            Detection::AnyOf(alts) => {
                let index = self.alternatives.len();
                self.alternatives.push(alts.len());
                let k = match self.alternative {
                    Some((i, k)) if i == index => k,
                    _ => 0,
                };
                self.detection(alts.get(k).ok_or("an empty list")?)
            }
            Detection::Keywords(values) => {
                let v = values.first().ok_or("an empty keyword list")?;
                self.keywords
                    .push(plain(v).ok_or("a keyword that is not text")?);
                Ok(())
            }
            _ => Err("array-scope blocks (not Sigma 2)".into()),
        }
    }

    fn item(&mut self, item: &DetectionItem) -> Result<(), Limit> {
        let f = &item.field;
        let has = |m| f.has_modifier(m);
        let preferred = item.values.iter().find(|v| {
            f.name.as_deref() == Some("Channel")
                && matches!(v, SigmaValue::String(s) if Some(&s.original) == self.prefer_channel.as_ref())
        });
        let index = self.choices.len();
        self.choices.push(if has(Modifier::All) {
            1
        } else {
            item.values.len()
        });
        let picked = match self.pick {
            Some((i, k)) if i == index => item.values.get(k),
            _ => None,
        };
        let values: Vec<&SigmaValue> = if has(Modifier::All) {
            item.values.iter().collect()
        } else {
            picked
                .or(preferred)
                .or(item.values.first())
                .into_iter()
                .collect()
        };
        let freedom = Freedom {
            fold: !has(Modifier::Cased)
                && !has(Modifier::Re)
                && !has(Modifier::Base64)
                && !has(Modifier::Base64Offset),
            dash: has(Modifier::WindAsh),
        };
        let Some(name) = &f.name else {
            for v in values {
                self.keywords
                    .push(plain(v).ok_or("a keyword that is not text")?);
            }
            return Ok(());
        };
        for unsupported in [Modifier::Expand, Modifier::Utf16be, Modifier::Utf16] {
            if has(unsupported) {
                return Err(format!("modifier `{unsupported:?}`"));
            }
        }
        if has(Modifier::Exists) {
            if matches!(values.first(), Some(SigmaValue::Bool(true))) {
                self.need(name, Need::Exact(json!("present")));
            }
            return Ok(());
        }
        if has(Modifier::FieldRef) {
            let other = values
                .first()
                .and_then(|v| plain(v))
                .ok_or("a fieldref without a field")?;
            self.need(name, Need::Exact(json!("same-value")));
            self.need(&other, Need::Exact(json!("same-value")));
            return Ok(());
        }
        for v in values {
            let need = if let SigmaValue::Integer(n) = v {
                let n = if has(Modifier::Gt) {
                    n + 1
                } else if has(Modifier::Lt) {
                    n - 1
                } else {
                    *n
                };
                Need::Exact(json!(n))
            } else if let SigmaValue::Float(x) = v {
                Need::Exact(json!(x))
            } else if let SigmaValue::Bool(b) = v {
                Need::Exact(json!(b))
            } else if let SigmaValue::Null = v {
                // `field: null` is satisfied by the field's absence.
                continue;
            } else if has(Modifier::Re) {
                let SigmaValue::String(s) = v else {
                    unreachable!()
                };
                let text = from_regex(&s.original).ok_or("a regular expression beyond literals")?;
                // Anchors inside groups (`(^ab$)|(^cd$)`) anchor the whole text we build.
                let re = s
                    .original
                    .replace("\\\\", "")
                    .replace("\\$", "")
                    .replace("\\^", "");
                let inner_anchor = re.trim_start_matches('^').contains('^')
                    || re.trim_end_matches('$').contains('$');
                let end = re.ends_with('$') || inner_anchor;
                match (
                    re.trim_start_matches("(?i)").starts_with('^') || inner_anchor,
                    end,
                ) {
                    (true, true) => Need::Exact(json!(text)),
                    (true, false) => Need::Prefix(text),
                    (false, true) => Need::Suffix(text),
                    (false, false) => Need::Infix(text),
                }
            } else if has(Modifier::Cidr) {
                let SigmaValue::String(s) = v else {
                    unreachable!()
                };
                Need::Exact(json!(in_cidr(&s.original).ok_or("a CIDR that is not one")?))
            } else {
                let SigmaValue::String(s) = v else {
                    unreachable!()
                };
                let text = encoded(concrete(s), f)?;
                if has(Modifier::Contains) || has(Modifier::Base64Offset) {
                    Need::Infix(text)
                } else if has(Modifier::StartsWith) {
                    Need::Prefix(text)
                } else if has(Modifier::EndsWith) {
                    Need::Suffix(text)
                } else {
                    Need::Exact(json!(text))
                }
            };
            self.need_as(name, need, freedom);
        }
        Ok(())
    }

    fn need(&mut self, field: &str, need: Need) {
        self.need_as(field, need, Freedom::default());
    }

    fn need_as(&mut self, field: &str, need: Need, freedom: Freedom) {
        let needs = self.fields.entry(field.to_string()).or_default();
        let exact = |n: &Need| matches!(n, Need::Exact(_));
        if needs.iter().any(|(n, _)| exact(n)) || (exact(&need) && !needs.is_empty()) {
            self.conflict = true;
        }
        needs.push((need, freedom));
    }

    /// Give every field a filter names and no selection sets a value no filter expects
    /// (`zzfiller0`, `zzfiller1`...: no punctuation a filter looks for), as a real record has them: `Image: null` filters a record without an
    /// image, which a record built from the selections alone would be.
    pub fn fill(&mut self, rule: &SigmaRule) {
        let mut names = Vec::new();
        for (name, det) in &rule.detection.named {
            if !self.names.contains(name) {
                fields_of(det, &mut names);
            }
        }
        let names = names.into_iter().filter(|n| !SYSTEM.contains(&n.as_str()));
        for (i, n) in names.enumerate() {
            // One filler per field, so a `|fieldref` filter does not find two fields equal.
            let filler = Need::Exact(json!(format!("zzfiller{i}")));
            self.fields
                .entry(n)
                .or_insert_with(|| vec![(filler, Freedom::default())]);
        }
    }

    /// The record's fields: `System` ones (by their rule names) and `EventData`.
    pub fn values(&self, variant: Variant) -> (Map<String, Value>, Map<String, Value>) {
        let mut system = Map::new();
        let mut data = Map::new();
        let write = |text: &str, f: Freedom| {
            let mut t = text.to_string();
            if variant.slash && f.dash {
                t = t.replace('-', "/");
            }
            if variant.upper && f.fold {
                t = t.to_uppercase();
            }
            t
        };
        for (field, needs) in &self.fields {
            let needs: Vec<Need> = needs
                .iter()
                .map(|(n, f)| match n {
                    Need::Exact(Value::String(s)) => Need::Exact(Value::String(write(s, *f))),
                    Need::Exact(v) => Need::Exact(v.clone()),
                    Need::Prefix(s) => Need::Prefix(write(s, *f)),
                    Need::Infix(s) => Need::Infix(write(s, *f)),
                    Need::Suffix(s) => Need::Suffix(write(s, *f)),
                })
                .collect();
            let exact = needs.iter().find_map(|n| match n {
                Need::Exact(v) => Some(v.clone()),
                _ => None,
            });
            let value = exact.unwrap_or_else(|| {
                let mut parts: Vec<&str> = Vec::new();
                let pick = |f: fn(&Need) -> Option<&String>| {
                    needs
                        .iter()
                        .filter_map(f)
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                };
                parts.extend(pick(|n| match n {
                    Need::Prefix(s) => Some(s),
                    _ => None,
                }));
                parts.extend(pick(|n| match n {
                    Need::Infix(s) => Some(s),
                    _ => None,
                }));
                parts.extend(pick(|n| match n {
                    Need::Suffix(s) => Some(s),
                    _ => None,
                }));
                // Text around what an item anchors at one end only, so a value matched at the
                // wrong end fails.
                let head = needs.iter().any(|n| matches!(n, Need::Prefix(_)));
                let tail = needs.iter().any(|n| matches!(n, Need::Suffix(_)));
                let mut text = parts.join(" ");
                if !head {
                    text.insert_str(0, "head ");
                }
                if !tail {
                    text.push_str(" tail");
                }
                Value::String(text)
            });
            if SYSTEM.contains(&field.as_str()) {
                system.insert(field.clone(), value);
            } else {
                data.insert(field.clone(), value);
            }
        }
        if !self.keywords.is_empty() {
            data.insert("Payload".into(), json!(self.keywords.join(" ")));
        }
        (system, data)
    }
}

/// The field names a detection's items name.
fn fields_of(det: &Detection, out: &mut Vec<String>) {
    match det {
        Detection::AllOf(items) => out.extend(items.iter().filter_map(|i| i.field.name.clone())),
        Detection::AnyOf(dets) | Detection::And(dets) => {
            dets.iter().for_each(|d| fields_of(d, out))
        }
        _ => {}
    }
}

/// Fields a rule names that EVTX keeps in `Event.System`.
const SYSTEM: &[&str] = &[
    "EventID",
    "Channel",
    "Computer",
    "Provider_Name",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "Version",
    "EventRecordID",
];

fn plain(v: &SigmaValue) -> Option<String> {
    match v {
        SigmaValue::String(s) => Some(concrete(s)),
        SigmaValue::Integer(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A text the wildcards of `s` accept: `*` as nothing, `?` as one letter.
fn concrete(s: &SigmaString) -> String {
    s.parts
        .iter()
        .map(|p| match p {
            StringPart::Plain(t) => t.as_str(),
            StringPart::Special(SpecialChar::WildcardMulti) => "",
            StringPart::Special(SpecialChar::WildcardSingle) => "x",
        })
        .collect()
}

/// `text` as the item's encoding modifiers turn it into the value a record holds.
fn encoded(text: String, f: &rsigma_parser::FieldSpec) -> Result<String, Limit> {
    let b64 = f.has_modifier(Modifier::Base64) || f.has_modifier(Modifier::Base64Offset);
    if !b64 {
        return Ok(text);
    }
    let bytes: Vec<u8> = if f.has_modifier(Modifier::Wide) {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    } else {
        text.into_bytes()
    };
    let b = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(b.trim_end_matches('=').to_string())
}

/// An address inside `cidr` (its network address).
fn in_cidr(cidr: &str) -> Option<String> {
    let (addr, _) = cidr.split_once('/')?;
    addr.parse::<std::net::IpAddr>().ok().map(|a| a.to_string())
}

/// A text that `re` finds, when `re` is literals, simple classes, groups (their first
/// alternative) and quantifiers; `None` beyond that (look-arounds, back-references).
pub fn from_regex(re: &str) -> Option<String> {
    let re = re.strip_prefix("(?i)").unwrap_or(re);
    let chars: Vec<char> = re.chars().collect();
    let mut i = 0;
    let out = sequence(&chars, &mut i)?;
    (i == chars.len()).then_some(out)
}

/// The first alternative of the sequence at `i`, consuming the rest of its alternation.
fn sequence(c: &[char], i: &mut usize) -> Option<String> {
    let mut out = String::new();
    let mut first = true;
    while *i < c.len() {
        let ch = c[*i];
        if ch == ')' {
            break;
        }
        if ch == '|' {
            first = false;
            *i += 1;
            continue;
        }
        *i += 1;
        let piece: String = match ch {
            '^' | '$' => continue,
            '\\' => {
                let e = *c.get(*i)?;
                *i += 1;
                match e {
                    'd' => "1".into(),
                    's' => " ".into(),
                    'w' => "a".into(),
                    'b' | 'B' => continue,
                    'x' => {
                        let hex: String = c.get(*i..*i + 2)?.iter().collect();
                        *i += 2;
                        char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?.to_string()
                    }
                    e if e.is_ascii_alphanumeric() => return None,
                    e => e.to_string(),
                }
            }
            '.' => "a".into(),
            '[' => {
                let negated = c.get(*i) == Some(&'^');
                if negated {
                    *i += 1;
                }
                let mut pick = None;
                let mut at_start = true;
                while *i < c.len() && (c[*i] != ']' || at_start) {
                    let x = c[*i];
                    *i += 1;
                    at_start = false;
                    let chosen = if x == '\\' {
                        let e = *c.get(*i)?;
                        *i += 1;
                        match e {
                            'd' => '1',
                            's' => ' ',
                            'w' => 'a',
                            e => e,
                        }
                    } else {
                        x
                    };
                    pick.get_or_insert(chosen);
                }
                *i += 1;
                if negated {
                    // A character no class of a rule's excludes.
                    "\u{1}".into()
                } else {
                    pick?.to_string()
                }
            }
            '(' => {
                if c.get(*i) == Some(&'?') {
                    // (?: ... ), (?i: ... ); look-arounds are beyond us.
                    let close = c[*i..].iter().position(|x| *x == ':')?;
                    if c[*i..*i + close]
                        .iter()
                        .any(|x| matches!(x, '=' | '!' | '<'))
                    {
                        return None;
                    }
                    *i += close + 1;
                }
                let inner = sequence(c, i)?;
                if c.get(*i) != Some(&')') {
                    return None;
                }
                *i += 1;
                inner
            }
            '{' | '}' | '*' | '+' | '?' => return None,
            ch => ch.to_string(),
        };
        let times = match c.get(*i) {
            Some('*') | Some('?') => {
                *i += 1;
                0
            }
            Some('+') => {
                *i += 1;
                1
            }
            Some('{') => {
                let close = c[*i..].iter().position(|x| *x == '}')?;
                let body: String = c[*i + 1..*i + close].iter().collect();
                *i += close + 1;
                body.split(',').next()?.trim().parse().ok()?
            }
            _ => 1,
        };
        if c.get(*i).is_some_and(|x| *x == '?' || *x == '+') {
            *i += 1;
        }
        if first {
            for _ in 0..times {
                out.push_str(&piece);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_of_literals_give_a_text_they_find() {
        assert_eq!(from_regex(r"\\evil\.exe$").as_deref(), Some(r"\evil.exe"));
        assert_eq!(from_regex(r"a\s+b.*c[0-9]").as_deref(), Some("a bc0"));
        assert_eq!(from_regex(r"(a|b)c{2}").as_deref(), Some("acc"));
        assert_eq!(from_regex(r"(?=x)"), None);
    }
}
