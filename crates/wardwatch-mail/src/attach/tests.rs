use super::*;

fn reasons_of(name: &str, data: &[u8]) -> Vec<&'static str> {
    analyze_file(name, data).1.iter().map(|r| r.code).collect()
}

#[test]
fn names_that_run_code_and_double_extensions() {
    assert_eq!(
        reasons_of("report.js", b"var x = 1;"),
        ["attachment.script"]
    );
    let c = reasons_of("invoice.pdf.lnk", b"not really");
    assert!(
        c.contains(&"attachment.double_extension") && c.contains(&"attachment.shortcut"),
        "{c:?}"
    );
    assert!(reasons_of("minutes.docx", b"plain").is_empty());
    assert!(reasons_of("rechnung\u{202E}fdp.exe", b"x").contains(&"attachment.rtlo_name"));
}

#[test]
fn eicar_in_a_gzip() {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
        .unwrap();
    let bytes = gz.finish().unwrap();
    let (fact, reasons) = analyze_file("eicar.com.gz", &bytes);
    assert_eq!(fact.members, ["eicar.com.gz ▸ eicar.com"]);
    assert!(
        reasons.iter().any(|r| r.code == "attachment.av_test_file"),
        "{reasons:?}"
    );
}

#[test]
fn html_smuggling_and_credential_pages() {
    let page = format!(
        "<html><script>var d = atob('{}'); var b = new Blob([d]); a.download = 'x.iso';</script></html>",
        "QUFB".repeat(2000)
    );
    assert!(reasons_of("doc.html", page.as_bytes()).contains(&"attachment.html_smuggling"));
    let login = b"<html><form action='https://x.example/p'><input type=\"password\"></form></html>";
    assert!(reasons_of("login.htm", login).contains(&"attachment.html_credential_form"));
}

#[test]
fn truncated_containers_do_not_panic() {
    for data in [
        &b"PK\x03\x04\x14\x00\x00\x00"[..],
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00",
        b"070707000",
        b"MSCF\0\0\0\0\xff\xff",
        b"{\\rtf1{\\object\\objdata 01050000d0cf11e0",
        b"%PDF-1.4 stream\nxx",
        b"SZDD\x88\xF0\x27\x33A\x00\xff\xff\xff\x7f\x00",
        b"\x78\x9F\x3E\x22\x00\x00\x01\x10\x80\x01\x00\xff\xff\xff\x7f",
        b"\x1F\x8B\x08\x00",
    ] {
        let _ = analyze_file("x.bin", data);
    }
}
