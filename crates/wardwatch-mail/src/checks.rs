//! The checks on who sent a message and where its links lead: authentication results,
//! impersonation in addresses and display names, reply and bounce addresses, and every URL.

use crate::score::{Reason, ReasonKind};
use crate::urls::registrable;
use crate::{AuthResult, Report, Scanner};

/// URL shorteners: the real target is hidden until clicked.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "rb.gy",
    "t.ly",
    "tiny.cc",
    "bit.do",
    "s.id",
    "v.gd",
    "x.co",
    "lnkd.in",
    "qrco.de",
    "surl.li",
    "urlz.fr",
    "u.to",
    "clck.ru",
    "shorte.st",
    "adf.ly",
    "bl.ink",
    "short.io",
    "tiny.one",
    "urlshortener.at",
    "shrtco.de",
    "1url.com",
    "gg.gg",
    "kutt.it",
    "linktr.ee",
    "is.gd",
    "soo.gd",
    "n9.cl",
    "encurtador.com.br",
    "encr.pw",
    "l1nk.dev",
];

/// Platforms where anyone can publish a page under the platform's name in minutes; phishing
/// pages live there because the domain is trusted and free.
const FREE_HOSTING: &[&str] = &[
    "web.app",
    "firebaseapp.com",
    "appspot.com",
    "glitch.me",
    "herokuapp.com",
    "netlify.app",
    "vercel.app",
    "pages.dev",
    "workers.dev",
    "r2.dev",
    "ipfs.io",
    "dweb.link",
    "storage.googleapis.com",
    "blob.core.windows.net",
    "web.core.windows.net",
    "azurewebsites.net",
    "sites.google.com",
    "weebly.com",
    "wixsite.com",
    "000webhostapp.com",
    "ngrok.io",
    "ngrok-free.app",
    "trycloudflare.com",
    "duckdns.org",
    "s3.amazonaws.com",
    "github.io",
    "gitbook.io",
    "webflow.io",
    "repl.co",
    "onrender.com",
    "square.site",
    "godaddysites.com",
    "mystrikingly.com",
    "jimdosite.com",
    "yolasite.com",
    "carrd.co",
    "framer.app",
    "surge.sh",
    "myportfolio.com",
    "editorx.io",
    "wordpress.com",
    "blogspot.com",
    "forms.gle",
    "docs.google.com",
    "typeform.com",
    "jotform.com",
    "formstack.com",
    "dynamic-dns.net",
    "no-ip.com",
    "ddns.net",
    "hopto.org",
    "servehttp.com",
    "zapto.org",
];

/// Top-level domains where registrations are cheapest and abuse is highest.
const CHEAP_TLDS: &[&str] = &[
    "top", "xyz", "click", "link", "work", "live", "buzz", "rest", "cfd", "sbs", "quest", "icu",
    "cyou", "monster", "bond", "zip", "mov", "tk", "ml", "ga", "cf", "gq", "shop", "online",
    "site", "store", "fun", "space", "website", "club", "info", "pw", "cc", "su", "ru.com", "uno",
    "lol", "beauty", "hair", "skin", "makeup", "autos", "boats", "yachts", "mom", "pics",
    "support", "digital", "email", "best",
];

/// Free mailbox providers: a reply address there means the sender does not need their domain.
const FREEMAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "yahoo.com",
    "ymail.com",
    "aol.com",
    "mail.ru",
    "yandex.ru",
    "yandex.com",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "proton.me",
    "protonmail.com",
    "zoho.com",
    "icloud.com",
    "mail.com",
    "qq.com",
    "163.com",
    "126.com",
    "mail.ee",
    "bol.com.br",
    "uol.com.br",
    "terra.com.br",
    "libero.it",
    "orange.fr",
    "free.fr",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "inbox.lv",
    "rambler.ru",
    "tutanota.com",
    "cock.li",
];

/// The entry of `list` that `host` is, or is under.
fn in_list(host: &str, list: &[&'static str]) -> Option<&'static str> {
    let host = host.trim_end_matches('.');
    list.iter()
        .find(|d| host == **d || host.ends_with(&format!(".{d}")))
        .copied()
}

fn add(out: &mut Vec<Reason>, kind: ReasonKind, code: &'static str, points: i32, text: String) {
    if !out.iter().any(|r| r.code == code) {
        out.push(Reason {
            kind,
            code,
            points,
            text,
        });
    }
}

/// SPF, DKIM, DMARC and Microsoft's composite authentication as the receiving server recorded
/// them; mail claiming the hospital's own domain that fails them is a spoof.
pub(crate) fn authentication(out: &mut Vec<Reason>, r: &Report, scanner: &Scanner) {
    let a = &r.auth;
    let from_domain = r
        .from
        .as_ref()
        .map(|f| f.domain().to_string())
        .unwrap_or_default();
    let mut points = 0;
    let mut said = Vec::new();
    match a.spf {
        Some(AuthResult::Fail) => {
            points += 3;
            said.push("SPF failed: the sending server is not allowed to send for the domain");
        }
        Some(AuthResult::SoftFail) => {
            points += 2;
            said.push("SPF soft-failed: the domain does not vouch for the sending server");
        }
        Some(AuthResult::None | AuthResult::TempError | AuthResult::PermError) => {
            points += 1;
            said.push("SPF gave no answer for the sending domain");
        }
        _ => {}
    }
    if a.dkim == Some(AuthResult::Fail) {
        points += 2;
        said.push("the DKIM signature does not verify (altered or forged)");
    }
    match a.dmarc {
        Some(AuthResult::Fail) => {
            points += 4;
            said.push("DMARC failed: the From domain's owner rejects this sender");
        }
        Some(AuthResult::None | AuthResult::TempError | AuthResult::PermError)
            if a.spf != Some(AuthResult::Pass) && a.dkim != Some(AuthResult::Pass) =>
        {
            points += 1;
            said.push("no DMARC verdict and neither SPF nor DKIM passed");
        }
        _ => {}
    }
    if a.compauth == Some(AuthResult::Fail) {
        points += 3;
        said.push("Microsoft's composite authentication failed");
    }
    if points > 0 {
        add(
            out,
            ReasonKind::Authentication,
            "auth.failed",
            points.min(7),
            format!("sender authentication: {}", said.join("; ")),
        );
    }
    let authenticated = a.dmarc == Some(AuthResult::Pass)
        || (a.spf == Some(AuthResult::Pass) && a.compauth != Some(AuthResult::Fail))
        || a.dkim_domain
            .as_deref()
            .is_some_and(|d| registrable(d) == registrable(&from_domain));
    if !from_domain.is_empty()
        && scanner.imperson().is_own(&from_domain)
        && !authenticated
        && points > 0
    {
        add(
            out,
            ReasonKind::Impersonation,
            "imperson.own_domain_spoofed",
            7,
            format!(
                "it claims to come from our own domain `{from_domain}` but did not pass authentication"
            ),
        );
    }
}

/// Who the message claims to be from, and where replies and bounces go.
pub(crate) fn senders(
    out: &mut Vec<Reason>,
    r: &Report,
    display: Option<&str>,
    mailing_list: bool,
    scanner: &Scanner,
) {
    let imp = scanner.imperson();
    let Some(from) = &r.from else { return };
    let from_domain = from.domain();
    let from_reg = registrable(from_domain);
    if let Some(name) = display {
        if let Some((brand, own)) = imp.display_name(name, from_domain) {
            add(
                out,
                ReasonKind::Impersonation,
                "imperson.display_name",
                if own { 7 } else { 5 },
                format!(
                    "the sender's name `{name}` claims {} but the mail comes from `{from_domain}`",
                    if own {
                        "our own organization".to_string()
                    } else {
                        format!("`{brand}`")
                    }
                ),
            );
        }
        if let Some(shown) = address_in(name)
            && registrable(shown.rsplit_once('@').map(|(_, d)| d).unwrap_or("")) != from_reg
        {
            add(
                out,
                ReasonKind::Impersonation,
                "imperson.display_address",
                4,
                format!(
                    "the sender's name shows the address `{shown}` but the mail comes from `{}`",
                    from.address
                ),
            );
        }
    }
    if let Some(name) = display
        && in_list(&from_reg, FREEMAIL).is_some()
        && let Some(word) = organization_word(name)
    {
        add(
            out,
            ReasonKind::Impersonation,
            "imperson.service_name_from_freemail",
            3,
            format!(
                "the sender's name `{name}` presents a service or organization (\"{word}\"), but it was sent from a free mailbox `{}`",
                from.address
            ),
        );
    }
    if let Some(name) = display
        && let Some(word) = authority_word(name)
        && !is_government(&from_reg)
    {
        add(
            out,
            ReasonKind::Impersonation,
            "imperson.authority",
            4,
            format!(
                "the sender's name `{name}` claims an authority (\"{word}\"), but the mail comes from `{from_domain}`, not a government domain"
            ),
        );
    }
    if r.to.len() == 1 && r.to[0] == from.address && r.reply_to.is_none() && !mailing_list {
        add(
            out,
            ReasonKind::Impersonation,
            "imperson.sender_is_recipient",
            3,
            format!(
                "it claims to come from the recipient's own address `{}`",
                from.address
            ),
        );
    }
    let undisclosed = r.to.is_empty() && r.cc.is_empty();
    if undisclosed && !mailing_list {
        add(
            out,
            ReasonKind::Headers,
            "headers.undisclosed_recipients",
            1,
            "it names no recipient (sent blind to a list)".into(),
        );
    }
    if let Some(f) = imp.domain(from_domain) {
        let (code, points) = match (f.how, f.own) {
            ("look_alike", true) => ("imperson.own_look_alike", 8),
            ("look_alike", false) => ("imperson.look_alike_sender", 7),
            _ => ("imperson.brand_in_sender_domain", 4),
        };
        add(
            out,
            ReasonKind::Impersonation,
            code,
            points,
            format!(
                "the sender's domain `{from_domain}` imitates `{}`",
                f.imitates
            ),
        );
    }
    if let Some(reply) = &r.reply_to {
        let reply_domain = reply.domain();
        if !reply_domain.is_empty() && registrable(reply_domain) != from_reg && !mailing_list {
            let free = in_list(&registrable(reply_domain), FREEMAIL).is_some()
                && in_list(&from_reg, FREEMAIL).is_none();
            add(
                out,
                ReasonKind::Headers,
                "headers.reply_to_elsewhere",
                if free { 3 } else { 2 },
                format!(
                    "replies go to `{}`, {} than the sender `{}`",
                    reply.address,
                    if free {
                        "a free mailbox, another domain"
                    } else {
                        "another domain"
                    },
                    from.address
                ),
            );
        }
        if let Some(f) = imp.domain(reply_domain) {
            add(
                out,
                ReasonKind::Impersonation,
                "imperson.look_alike_reply_to",
                6,
                format!(
                    "the reply address's domain `{reply_domain}` imitates `{}`",
                    f.imitates
                ),
            );
        }
    }
    if let Some(rp) = &r.return_path {
        let rp_domain = rp.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        let dkim_aligned = r
            .auth
            .dkim_domain
            .as_deref()
            .is_some_and(|d| registrable(d) == from_reg);
        if !rp_domain.is_empty()
            && registrable(rp_domain) != from_reg
            && !mailing_list
            && !dkim_aligned
            && r.auth.dmarc != Some(AuthResult::Pass)
        {
            add(
                out,
                ReasonKind::Headers,
                "headers.return_path_elsewhere",
                1,
                format!("bounces go to `{rp}`, another domain than the sender's"),
            );
        }
    }
    if let Some(ind) = scanner.settings().indicators.domain(from_domain) {
        add(
            out,
            ReasonKind::Indicator,
            "indicator.sender_domain",
            12,
            format!("the sender's domain `{from_domain}` is a known-bad indicator (`{ind}`)"),
        );
    }
}

/// Words by which a sender's name presents itself as a service, team or institution.
const ORGANIZATION_WORDS: &[&str] = &[
    "support",
    "security",
    "service",
    "services",
    "team",
    "bank",
    "account",
    "accounts",
    "admin",
    "administrator",
    "helpdesk",
    "help desk",
    "billing",
    "notification",
    "notifications",
    "no-reply",
    "noreply",
    "customer",
    "department",
    "office",
    "verification",
    "webmail",
    "mailbox",
    "it desk",
    "payroll",
    "hr",
    "official",
    "suporte",
    "atendimento",
    "segurança",
    "seguranca",
    "setor",
    "central",
    "banco",
    "cliente",
    "soporte",
    "servicio",
    "kundenservice",
    "sicherheit",
    "assistance",
    "sécurité",
    "klantenservice",
    "dienst",
];

/// Words by which a sender's name claims to be a court, police, tax or other authority.
const AUTHORITY_WORDS: &[&str] = &[
    "court",
    "federal",
    "police",
    "government",
    "ministry",
    "tax office",
    "irs",
    "fbi",
    "interpol",
    "customs",
    "department of justice",
    "supreme",
    "tribunal",
    "prefeitura",
    "receita federal",
    "polícia",
    "policia",
    "justiça",
    "justica",
    "gobierno",
    "hacienda",
    "finanzamt",
    "polizei",
    "bundes",
    "gendarmerie",
    "impots",
    "belastingdienst",
    "politie",
    "europol",
    "united nations",
    "world bank",
    "imf",
];

fn authority_word(name: &str) -> Option<&'static str> {
    let lower = format!(
        " {} ",
        name.to_lowercase()
            .replace(['-', '_', ',', ':', '|', '"', '.'], " ")
    );
    AUTHORITY_WORDS
        .iter()
        .copied()
        .find(|w| lower.contains(&format!(" {w} ")))
}

/// Whether a registrable domain is a government's (`.gov`, `gov.uk`, `gouv.fr`, `.mil`,
/// `europa.eu`, `.int`).
fn is_government(reg: &str) -> bool {
    let labels: Vec<&str> = reg.split('.').collect();
    labels.iter().any(|l| {
        matches!(
            *l,
            "gov" | "gouv" | "gob" | "mil" | "int" | "bund" | "police" | "justice"
        )
    }) || reg.ends_with("europa.eu")
        || reg.ends_with("admin.ch")
}

fn organization_word(name: &str) -> Option<&'static str> {
    let lower = format!(
        " {} ",
        name.to_lowercase()
            .replace(['-', '_', '.', ',', ':', '|', '"'], " ")
    );
    ORGANIZATION_WORDS
        .iter()
        .copied()
        .find(|w| lower.contains(&format!(" {} ", w.replace('-', " "))))
}

/// An address written inside a display name (`"service@paypal.com" <x@evil.example>`).
fn address_in(name: &str) -> Option<&str> {
    name.split(|c: char| {
        c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | '"' | '\'' | ',' | ';')
    })
    .find(|w| {
        w.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.ends_with('.'))
    })
}

/// Every URL: indicators, deception (shown text, IP hosts, credentials in the URL, look-alike
/// hosts, forms), hiding (shorteners, redirectors) and cheap or free hosting.
pub(crate) fn links(out: &mut Vec<Reason>, r: &Report, scanner: &Scanner) {
    let ind = &scanner.settings().indicators;
    let imp = scanner.imperson();
    for u in &r.urls {
        if ind.url(&u.url) {
            add(
                out,
                ReasonKind::Indicator,
                "indicator.url",
                12,
                format!("the link `{}` is a known-bad indicator", u.url),
            );
        } else if let Some(d) = ind.domain(&u.host) {
            add(
                out,
                ReasonKind::Indicator,
                "indicator.url_domain",
                12,
                format!("the link `{}` goes to `{d}`, a known-bad indicator", u.url),
            );
        }
        if let Some(shown) = &u.shown {
            add(
                out,
                ReasonKind::Link,
                "link.shown_other_domain",
                5,
                format!("a link shows `{shown}` but leads to `{}`", u.host),
            );
        }
        if u.is_ip_host() {
            add(
                out,
                ReasonKind::Link,
                "link.ip_host",
                4,
                format!(
                    "a link goes to a bare address `{}` instead of a name",
                    u.host
                ),
            );
        }
        if let Ok(p) = url::Url::parse(&u.url)
            && !p.username().is_empty()
        {
            add(
                out,
                ReasonKind::Link,
                "link.userinfo",
                4,
                format!(
                    "a link hides its real host `{}` behind `{}@`",
                    u.host,
                    p.username()
                ),
            );
        }
        if u.host.split('.').any(|l| l.starts_with("xn--")) {
            add(
                out,
                ReasonKind::Link,
                "link.punycode",
                3,
                format!(
                    "a link's host `{}` is written in another alphabet (punycode)",
                    u.host
                ),
            );
        }
        if let Some(brand) = imp.brand_in_subdomain(&u.host) {
            add(
                out,
                ReasonKind::Impersonation,
                "imperson.brand_in_link_subdomain",
                4,
                format!(
                    "a link's host `{}` starts with `{brand}` but belongs to `{}`",
                    u.host, u.domain
                ),
            );
        }
        if let Some(f) = imp.domain(&u.host) {
            let (code, points) = if f.how == "look_alike" {
                ("imperson.look_alike_link", 6)
            } else {
                ("imperson.brand_in_link", 3)
            };
            add(
                out,
                ReasonKind::Impersonation,
                code,
                points,
                format!(
                    "a link goes to `{}`, which imitates `{}`",
                    u.host, f.imitates
                ),
            );
        }
        if r.to
            .iter()
            .any(|t| t.len() > 3 && u.url.to_ascii_lowercase().contains(t.as_str()))
            || r.to
                .iter()
                .any(|t| t.len() > 3 && u.url.to_ascii_lowercase().contains(&t.replace('@', "%40")))
        {
            add(
                out,
                ReasonKind::Link,
                "link.carries_recipient",
                3,
                format!(
                    "a link carries the recipient's own address to `{}` (to fill in a sign-in page or confirm a live mailbox)",
                    u.host
                ),
            );
        }
        if u.source == "form" {
            add(
                out,
                ReasonKind::Link,
                "link.form",
                5,
                format!(
                    "the message holds a form that sends what is typed to `{}`",
                    u.host
                ),
            );
        }
        if let Some(s) = in_list(&u.host, SHORTENERS) {
            add(
                out,
                ReasonKind::Link,
                "link.shortener",
                3,
                format!("a link is shortened with `{s}`, hiding where it leads"),
            );
        }
        if let Some(h) = in_list(&u.host, FREE_HOSTING) {
            add(
                out,
                ReasonKind::Link,
                "link.free_hosting",
                3,
                format!(
                    "a link goes to a page on `{h}`, where anyone can publish under a trusted name (`{}`)",
                    u.host
                ),
            );
        }
        let tld = u.host.rsplit('.').next().unwrap_or("");
        if !u.is_ip_host() && CHEAP_TLDS.contains(&tld) {
            add(
                out,
                ReasonKind::Link,
                "link.cheap_tld",
                2,
                format!(
                    "a link goes to `{}` under `.{tld}`, a top-level domain favoured for throw-away sites",
                    u.host
                ),
            );
        }
        if let Some(orig) = &u.original
            && !orig.contains("safelinks.protection.outlook.com")
            && !orig.contains("urldefense")
        {
            let via = url::Url::parse(orig)
                .ok()
                .and_then(|p| p.host_str().map(str::to_string))
                .unwrap_or_default();
            add(
                out,
                ReasonKind::Link,
                "link.redirector",
                3,
                format!(
                    "a link passes through a redirect at `{via}` to `{}`",
                    u.host
                ),
            );
        }
    }
}
