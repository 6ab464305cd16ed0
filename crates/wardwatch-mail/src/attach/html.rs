//! HTML and SVG attachments: pages that assemble a file in the browser (HTML smuggling),
//! local sign-in pages, and redirects to a site.
//!
//! An HTML attachment opens from the disk, outside the gateway's URL checks: a sign-in page
//! posting to the attacker, a page that sends the browser on, or a script that builds a
//! program from a string and "downloads" it — all common ways past a mail filter.

use super::Inspection;
use super::sniff::FileType;

pub(super) fn inspect(ins: &mut Inspection, path: &str, kind: FileType, data: &[u8]) {
    let text = String::from_utf8_lossy(&data[..data.len().min(16 << 20)]);
    let lower = text.to_ascii_lowercase();
    let builds_file = lower.contains("new blob(")
        || lower.contains("mssaveoropenblob")
        || lower.contains("createobjecturl")
        || (lower.contains(".download") && lower.contains("atob("));
    let decodes =
        lower.contains("atob(") || lower.contains("base64,") || lower.contains("fromcharcode");
    let big_blob = longest_base64_run(text.as_bytes()) >= 4096;
    if builds_file && (decodes || big_blob) {
        ins.flag(
            "attachment.html_smuggling",
            9,
            path,
            "HTML smuggling: the page assembles a file from encoded data and saves it in the browser".into(),
        );
    } else if big_blob && lower.contains("data:application/") {
        ins.flag(
            "attachment.html_smuggling",
            9,
            path,
            "HTML smuggling: the page carries a file as a data: link".into(),
        );
    }
    let password = lower.contains("type=\"password\"")
        || lower.contains("type='password'")
        || lower.contains("type=password");
    if password {
        ins.flag(
            "attachment.html_credential_form",
            7,
            path,
            "a sign-in page opened from the disk that asks for a password".into(),
        );
    }
    let redirects = lower.contains("http-equiv=\"refresh\"")
        || lower.contains("http-equiv=refresh")
        || lower.contains("window.location")
        || lower.contains("location.href")
        || lower.contains("location.replace");
    if redirects {
        ins.flag(
            "attachment.html_redirect",
            4,
            path,
            "a page that sends the browser to a web site as soon as it opens".into(),
        );
    }
    let obfuscated = lower.contains("eval(")
        && (lower.contains("unescape(")
            || lower.contains("atob(")
            || lower.contains("fromcharcode"));
    if obfuscated {
        ins.flag(
            "attachment.obfuscated_script",
            4,
            path,
            "a script that decodes and runs hidden code".into(),
        );
    }
    if kind == FileType::Svg && lower.contains("<script") {
        ins.flag(
            "attachment.svg_script",
            6,
            path,
            "an SVG image that runs a script when opened".into(),
        );
    } else if kind == FileType::Html && !password && !redirects && !builds_file {
        ins.flag(
            "attachment.html",
            2,
            path,
            "an HTML page attached to the mail (it opens outside the mail's link checks)".into(),
        );
    }
    ins.urls.html(&text, "attachment");
}

fn longest_base64_run(b: &[u8]) -> usize {
    let mut best = 0;
    let mut run = 0;
    for &c in b {
        if c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}
