//! `wardwatch doctor`: a setup with problems gets plain words and exit code 1; a sound one
//! passes.

mod common;

use std::process::Command;

use rcgen::{CertificateParams, KeyPair, date_time_ymd};

fn doctor(config: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["doctor", "--config", config.to_str().unwrap()])
        .env("WARDWATCH_INGEST_TOKEN", "t")
        .env("WARDWATCH_API_TOKEN", "a")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn port() -> u16 {
    common::free_port()
}

#[test]
fn a_broken_setup_is_explained_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    // An expired certificate, a data folder others can read, plain HTTP on the network, a
    // client-certificate setting without its CA, a bad network.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(p("old.pem"), cert.pem()).unwrap();
    std::fs::write(p("old.key"), key.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let config = dir.path().join("w.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = \"{}\"\n[http]\nlisten = \"0.0.0.0:{}\"\n[syslog]\nlisten = \"127.0.0.1:{}\"\ntls_listen = \"127.0.0.1:{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\ntls_client_auth = \"required\"\nallowed_networks = [\"10.0.0.0/40\"]\n",
            data.display(),
            port(),
            port(),
            port(),
            p("old.pem"),
            p("old.key")
        ),
    )
    .unwrap();
    let (code, out) = doctor(&config);
    assert_eq!(code, 1, "{out}");
    for want in [
        "expired on 2021-01-01",
        "chmod 700",
        "clear text",
        "tls_client_ca is empty",
        "10.0.0.0/40",
        "thing(s) to fix",
    ] {
        assert!(out.contains(want), "`{want}` missing from:\n{out}");
    }
}

#[test]
fn a_sound_setup_passes() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(p("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(p("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let config = dir.path().join("w.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = \"{}\"\n[http]\nlisten = \"127.0.0.1:{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n[syslog]\nlisten = \"127.0.0.1:{}\"\n",
            p("data"),
            port(),
            p("cert.pem"),
            p("key.pem"),
            port()
        ),
    )
    .unwrap();
    let (code, out) = doctor(&config);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("belongs to the certificate"), "{out}");
    assert!(out.contains("free to bind"), "{out}");
    assert!(!out.contains("FIX"), "{out}");
    // A configuration with an unknown key is named.
    std::fs::write(&config, "[http]\nlisten_port = 1\n").unwrap();
    let (code, out) = doctor(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("listen_port"), "{out}");
}
