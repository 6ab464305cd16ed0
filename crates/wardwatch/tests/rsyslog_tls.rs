//! Interop: a real rsyslog (Debian `rsyslog` + `rsyslog-gnutls`) forwards syslog to
//! `wardwatch serve` over TLS (RFC 5425, octet-counted framing), verifying our certificate
//! against a CA made here. `.ci/run` installs rsyslog; elsewhere the test says why it skips.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Server, free_port};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

#[test]
fn rsyslog_forwards_over_tls_and_messages_are_stored() {
    let Ok(rsyslogd) = which("rsyslogd") else {
        eprintln!(
            "skipped rsyslog_forwards_over_tls_and_messages_are_stored: rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls)"
        );
        return;
    };
    if !std::path::Path::new("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so").exists()
        && !std::path::Path::new("/usr/lib/rsyslog/lmnsd_gtls.so").exists()
    {
        eprintln!("skipped: rsyslog-gnutls is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();

    // A CA and a server certificate for localhost signed by it.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    std::fs::write(p("ca.pem"), ca.pem()).unwrap();
    std::fs::write(p("cert.pem"), server_cert.pem()).unwrap();
    std::fs::write(p("key.pem"), server_key.serialize_pem()).unwrap();

    let tls_port = free_port();
    let config = format!(
        "[syslog]\nlisten = \"\"\ntls_listen = \"127.0.0.1:{tls_port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        p("cert.pem"),
        p("key.pem")
    );
    std::fs::write(p("wardwatch.toml"), config).unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(
        &data,
        "127.0.0.1:0",
        "",
        &["--config", &p("wardwatch.toml")],
    );

    // rsyslog: UDP in on a local port, TLS out to us.
    let udp_port = free_port();
    std::fs::create_dir_all(p("work")).unwrap();
    let conf = format!(
        r#"global(workDirectory="{work}" defaultNetstreamDriverCAFile="{ca}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp_port}")
action(type="omfwd" target="127.0.0.1" port="{tls_port}" protocol="tcp"
       StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
       StreamDriverPermittedPeers="localhost" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format")
"#,
        work = p("work"),
        ca = p("ca.pem"),
    );
    std::fs::write(p("rsyslog.conf"), conf).unwrap();
    let mut rsyslog = Command::new(rsyslogd)
        .args(["-n", "-f", &p("rsyslog.conf"), "-i", &p("rsyslog.pid")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rsyslogd");
    std::thread::sleep(Duration::from_millis(800));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20 {
        let msg = format!(
            "<134>Nov 29 01:00:00 pacs01 dicomd[42]: wwtls-{i} association from modality CT1"
        );
        sock.send_to(msg.as_bytes(), ("127.0.0.1", udp_port))
            .unwrap();
    }
    let v = server.wait_events("wwtls", 20);
    let _ = rsyslog.kill();
    let out = rsyslog.wait_with_output().unwrap();
    assert_eq!(
        v["total"],
        20,
        "rsyslog did not deliver over TLS: {v}\nrsyslog said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = &v["events"][0];
    assert_eq!(e["origin"]["source"], "syslog-tls");
    assert_eq!(e["raw"]["protocol"], "rfc5424", "{e}");
    assert_eq!(e["ecs"]["host.name"], "pacs01");
    assert_eq!(e["raw"]["appname"], "dicomd");
}

fn which(bin: &str) -> Result<String, ()> {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ] {
        let p = format!("{dir}/{bin}");
        if std::path::Path::new(&p).exists() {
            return Ok(p);
        }
    }
    Err(())
}
