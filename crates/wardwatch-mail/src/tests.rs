//! Whole-message checks through the public API, on messages written here.

use super::*;

fn scanner() -> Scanner {
    Scanner::new(Settings {
        own_domains: vec!["st-mary-hospital.org".into()],
        brands: vec!["medline-supplies.com".into()],
        ..Settings::default()
    })
}

fn scan(raw: &str) -> Report {
    scanner().scan(raw.as_bytes()).expect("scans")
}

fn codes(r: &Report) -> Vec<&'static str> {
    r.reasons.iter().map(|x| x.code).collect()
}

#[test]
fn look_alike_supplier_with_macro_link_is_phishing() {
    let r = scan(
        "From: Medline Accounts <accounts@rnedline-supplies.com>\r\n\
         To: nurse.jones@st-mary-hospital.org\r\n\
         Subject: Overdue invoice - payment required\r\n\
         Message-ID: <1@rnedline-supplies.com>\r\n\
         Authentication-Results: mx.st-mary-hospital.org; spf=softfail smtp.mailfrom=rnedline-supplies.com; dkim=none; dmarc=none\r\n\
         Content-Type: text/html\r\n\r\n\
         <p>Your invoice is overdue. Pay immediately: <a href=\"https://rnedline-supplies.com/inv/INV-2291.docm\">https://medline-supplies.com/invoices</a></p>",
    );
    assert_eq!(r.verdict, Verdict::Phishing, "{:#?}", r.reasons);
    let c = codes(&r);
    assert!(c.contains(&"imperson.look_alike_sender"), "{c:?}");
    assert!(c.contains(&"link.shown_other_domain"), "{c:?}");
    assert!(c.contains(&"lure.money"), "{c:?}");
    assert_eq!(r.urls[0].host, "rnedline-supplies.com");
    assert_eq!(r.to, ["nurse.jones@st-mary-hospital.org"]);
}

#[test]
fn plain_colleague_mail_is_clean() {
    let r = scan(
        "From: Dr. Ana Ruiz <ana.ruiz@st-mary-hospital.org>\r\n\
         To: ward7@st-mary-hospital.org\r\n\
         Subject: Rota for next week\r\n\
         Authentication-Results: mx.st-mary-hospital.org; spf=pass smtp.mailfrom=st-mary-hospital.org; dkim=pass header.d=st-mary-hospital.org; dmarc=pass\r\n\r\n\
         Hi all, the rota is on the intranet as usual. See https://intranet.st-mary-hospital.org/rota\r\n",
    );
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.reasons);
    assert_eq!(r.score, 0);
}

#[test]
fn spoof_of_own_domain_failing_dmarc() {
    let r = scan(
        "From: IT Service Desk <helpdesk@st-mary-hospital.org>\r\n\
         Subject: Your password expires today\r\n\
         Authentication-Results: mx.st-mary-hospital.org; spf=fail smtp.mailfrom=st-mary-hospital.org; dmarc=fail header.from=st-mary-hospital.org\r\n\r\n\
         Your password will expire. Sign in to your account at http://203.0.113.9/owa to keep it.\r\n",
    );
    assert_eq!(r.verdict, Verdict::Phishing, "{:#?}", r.reasons);
    let c = codes(&r);
    assert!(c.contains(&"imperson.own_domain_spoofed"), "{c:?}");
    assert!(c.contains(&"link.ip_host"), "{c:?}");
}

#[test]
fn executable_in_zip_in_base64_is_found_with_hashes() {
    use std::io::Write;
    let mut pe = vec![0u8; 0x200];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3C] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    let mut zip_bytes = Vec::new();
    {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut zip_bytes));
        z.start_file(
            "scan_0042.pdf.exe",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.write_all(&pe).unwrap();
        z.finish().unwrap();
    }
    let b64 = base64_encode(&zip_bytes);
    let raw = format!(
        "From: scanner@example.org\r\nSubject: scan\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b\r\nContent-Type: application/zip; name=scan.zip\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=scan.zip\r\n\r\n{b64}\r\n--b--\r\n"
    );
    let r = scan(&raw);
    let c = codes(&r);
    assert!(c.contains(&"attachment.program"), "{c:?}");
    assert!(c.contains(&"attachment.double_extension"), "{c:?}");
    assert_ne!(r.verdict, Verdict::Clean);
    let a = &r.attachments[0];
    assert_eq!(a.name.as_deref(), Some("scan.zip"));
    assert_eq!(a.members, ["scan.zip ▸ scan_0042.pdf.exe"]);
    assert_eq!(a.member_sha256.len(), 1);
    assert_eq!(a.sha256.len(), 64);
}

#[test]
fn indicators_make_phishing_on_their_own() {
    let (indicators, _) = Indicators::parse_lines("bad-cdn.example\n");
    let s = Scanner::new(Settings {
        indicators,
        ..Settings::default()
    });
    let r = s
        .scan(b"From: a@b.example\r\nSubject: hi\r\n\r\nhttps://files.bad-cdn.example/x\r\n")
        .unwrap();
    assert_eq!(r.verdict, Verdict::Phishing);
    assert!(codes(&r).contains(&"indicator.url_domain"));
}

#[test]
fn bodies_only_when_asked() {
    let raw = b"From: a@b.example\r\nSubject: hi\r\n\r\nsecret clinical text\r\n";
    assert_eq!(scanner().scan(raw).unwrap().body, None);
    let keep = Scanner::new(Settings {
        keep_body: true,
        ..Settings::default()
    });
    assert!(keep.scan(raw).unwrap().body.unwrap().contains("clinical"));
}

#[test]
fn a_lone_program_is_scanned_as_an_attachment_and_garbage_is_refused() {
    let mut pe = vec![0u8; 0x200];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3C] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    let r = scanner().scan_any("invoice.pdf", &pe).unwrap();
    assert_eq!(r.kind, Kind::File);
    assert!(codes(&r).contains(&"attachment.disguised_program"));
    assert_ne!(r.verdict, Verdict::Clean);
    assert_eq!(
        scanner().scan(b"\0\0\0").unwrap_err().to_string(),
        "not a mail message: it starts with binary data (a message starts with header lines such as `From:`)"
    );
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}
