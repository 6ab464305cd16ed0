//! Authentication results as the receiving servers recorded them: `Authentication-Results`
//! (RFC 8601: `spf=`, `dkim=`, `dmarc=`, Microsoft's `compauth=`) and `Received-SPF`
//! (RFC 7208 §9.1).
//!
//! The scanner does not verify signatures or look SPF up itself (no DNS in a pure crate, and a
//! journaled copy arrives after the receiving server already checked): it reads what the
//! receiving server concluded. Of several headers the topmost wins — it was added last, by the
//! server closest to the mailbox — and of several DKIM signatures one passing is enough.

use serde::Serialize;

/// One method's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
    /// `compauth=` only: Microsoft let it through on other evidence.
    Soft,
}

impl AuthResult {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "pass" | "bestguesspass" => Self::Pass,
            "fail" | "hardfail" => Self::Fail,
            "softfail" => Self::SoftFail,
            "neutral" | "policy" => Self::Neutral,
            "none" => Self::None,
            "temperror" => Self::TempError,
            "permerror" => Self::PermError,
            "softpass" => Self::Soft,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::SoftFail => "softfail",
            Self::Neutral => "neutral",
            Self::None => "none",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
            Self::Soft => "softpass",
        }
    }
}

/// The results the receiving servers recorded for a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuthResults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spf: Option<AuthResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim: Option<AuthResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dmarc: Option<AuthResult>,
    /// Microsoft 365's composite authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compauth: Option<AuthResult>,
    /// The domain DKIM signed for (`header.d=` / `header.i=`) when a signature passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim_domain: Option<String>,
    /// The envelope domain SPF checked (`smtp.mailfrom=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailfrom: Option<String>,
}

impl AuthResults {
    /// Reads `Authentication-Results` values (topmost first) and `Received-SPF` values.
    pub fn read<'a>(
        auth_results: impl IntoIterator<Item = &'a str>,
        received_spf: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut out = Self::default();
        for header in auth_results {
            out.add_auth_results(&header.to_ascii_lowercase());
        }
        if out.spf.is_none() {
            for header in received_spf {
                let lower = header.trim().to_ascii_lowercase();
                let word: String = lower
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                if let Some(r) = AuthResult::parse(&word) {
                    out.spf = Some(r);
                    break;
                }
            }
        }
        out
    }

    fn add_auth_results(&mut self, text: &str) {
        let mut dkim_seen: Option<AuthResult> = None;
        for (method, result, rest) in method_results(text) {
            match method {
                "spf" if self.spf.is_none() => {
                    self.spf = Some(result);
                    if self.mailfrom.is_none() {
                        self.mailfrom =
                            property(rest, "smtp.mailfrom=").map(|v| domain_of(v).to_string());
                    }
                }
                "dkim" => {
                    if result == AuthResult::Pass {
                        if self.dkim_domain.is_none() {
                            self.dkim_domain = property(rest, "header.d=")
                                .or_else(|| property(rest, "header.i=").map(domain_of))
                                .map(str::to_string);
                        }
                        dkim_seen = Some(AuthResult::Pass);
                    } else if dkim_seen != Some(AuthResult::Pass) {
                        dkim_seen = dkim_seen.or(Some(result));
                    }
                }
                "dmarc" if self.dmarc.is_none() => self.dmarc = Some(result),
                "compauth" if self.compauth.is_none() => self.compauth = Some(result),
                _ => {}
            }
        }
        if self.dkim.is_none() {
            self.dkim = dkim_seen;
        }
    }
}

/// `(method, result, text after it up to the next method)` for each `method=result` in an
/// `Authentication-Results` value.
fn method_results(text: &str) -> Vec<(&str, AuthResult, &str)> {
    const METHODS: [&str; 4] = ["spf", "dkim", "dmarc", "compauth"];
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for method in METHODS {
        let pat = format!("{method}=");
        let mut from = 0;
        while let Some(i) = text[from..].find(&pat) {
            let at = from + i;
            from = at + pat.len();
            // A method name stands alone: not `header.dkim=` or `x-spf=`.
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || matches!(bytes[at - 1], b'.' | b'-' | b'_'))
            {
                continue;
            }
            let word: String = text[from..]
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            if let Some(r) = AuthResult::parse(&word) {
                found.push((at, method, r));
            }
        }
    }
    found.sort_by_key(|&(at, _, _)| at);
    let mut out = Vec::with_capacity(found.len());
    for (i, &(at, method, r)) in found.iter().enumerate() {
        let end = found.get(i + 1).map(|&(a, _, _)| a).unwrap_or(text.len());
        out.push((method, r, &text[at..end]));
    }
    out
}

fn property<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let i = text.find(name)?;
    let v = &text[i + name.len()..];
    let end = v
        .find(|c: char| c.is_whitespace() || c == ';' || c == ')' || c == '(')
        .unwrap_or(v.len());
    let v = v[..end].trim_matches('"');
    (!v.is_empty()).then_some(v)
}

fn domain_of(v: &str) -> &str {
    v.rsplit_once('@').map(|(_, d)| d).unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsoft_results_with_compauth() {
        let a = AuthResults::read(
            [
                "spf=temperror (sender IP is 137.184.34.4)\n smtp.mailfrom=ubuntu-s-1; dkim=none (message not\n signed) header.d=none;dmarc=temperror action=none\n header.from=atendimento.com.br;compauth=fail reason=001",
            ],
            ["TempError (protection.outlook.com: error in processing)"],
        );
        assert_eq!(a.spf, Some(AuthResult::TempError));
        assert_eq!(a.dkim, Some(AuthResult::None));
        assert_eq!(a.dmarc, Some(AuthResult::TempError));
        assert_eq!(a.compauth, Some(AuthResult::Fail));
        assert_eq!(a.mailfrom.as_deref(), Some("ubuntu-s-1"));
    }

    #[test]
    fn one_passing_dkim_signature_is_enough_and_received_spf_fills_in() {
        let a = AuthResults::read(
            [
                "mx.example.org; dkim=fail header.d=other.org; dkim=pass header.d=bank.example; dmarc=pass header.from=bank.example",
            ],
            ["softfail (example.org: domain of x@y does not designate)"],
        );
        assert_eq!(a.dkim, Some(AuthResult::Pass));
        assert_eq!(a.dkim_domain.as_deref(), Some("bank.example"));
        assert_eq!(a.dmarc, Some(AuthResult::Pass));
        assert_eq!(a.spf, Some(AuthResult::SoftFail));
    }

    #[test]
    fn property_names_are_not_methods() {
        let a = AuthResults::read(["x; header.dkim=pass; x-spf=fail"], []);
        assert_eq!(a, AuthResults::default());
    }
}
