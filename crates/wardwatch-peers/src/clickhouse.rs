//! ClickHouse from Debian (`clickhouse-server` 18.16): a configuration of our own in the
//! temporary folder (data, logs, ports, one passwordless `default` user on loopback), so
//! nothing of the system's `/etc/clickhouse-server` or `/var/lib/clickhouse` is touched.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Process, on_path, wait_for};

pub(crate) fn binary() -> Result<PathBuf, String> {
    on_path("clickhouse-server")
        .or_else(|| on_path("clickhouse").filter(|p| p.is_file()))
        .ok_or_else(|| "no clickhouse-server on the PATH or in /usr/sbin".to_string())
}

pub(crate) fn configure(dir: &Path, http: u16, tcp: u16) {
    let d = dir.display();
    let config = format!(
        r#"<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{d}/server.log</log>
        <errorlog>{d}/server.err.log</errorlog>
    </logger>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <user_files_path>{d}/user_files/</user_files_path>
    <format_schema_path>{d}/format_schemas/</format_schema_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
</yandex>
"#
    );
    let users = r#"<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default></default></quotas>
</yandex>
"#;
    std::fs::write(dir.join("config.xml"), config).expect("write config.xml");
    std::fs::write(dir.join("users.xml"), users).expect("write users.xml");
}

pub(crate) fn start(bin: &Path, dir: &Path) -> Process {
    let mut cmd = Command::new(bin);
    if bin.file_name().is_some_and(|n| n == "clickhouse") {
        cmd.arg("server");
    }
    cmd.arg(format!(
        "--config-file={}",
        dir.join("config.xml").display()
    ))
    .current_dir(dir);
    Process::spawn(cmd, &dir.join("server.out"), None)
}

pub(crate) fn ready(http: u16) -> bool {
    wait_for(|| {
        crate::http_get(http, "/?query=SELECT%201")
            .is_some_and(|(code, body)| code == 200 && body.trim() == "1")
    })
}
