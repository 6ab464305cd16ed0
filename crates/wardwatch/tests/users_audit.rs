//! `wardwatch users` makes accounts (password from standard input or generated once) and
//! `wardwatch audit verify` finds an edited, a deleted and a reordered audit entry.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn wardwatch(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A store with accounts (and so audit entries) made through the command line.
fn store(dir: &Path) -> String {
    let data = dir.to_str().unwrap().to_string();
    let o = wardwatch(
        &["users", "add", "ana", "--role", "analyst", "--data", &data],
        "correct-horse-battery\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(o.stdout.is_empty(), "a given password is not printed");
    let o = wardwatch(
        &["users", "add", "root", "--role", "admin", "--data", &data],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
    let generated = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        generated.len() >= 32,
        "a generated password is printed once: {generated}"
    );
    let o = wardwatch(
        &["users", "add", "ana", "--role", "viewer", "--data", &data],
        "another-password\n",
    );
    assert!(!o.status.success(), "names are unique");
    let o = wardwatch(
        &["users", "add", "bob", "--role", "boss", "--data", &data],
        "another-password\n",
    );
    assert!(
        !o.status.success() && text(&o).contains("--role `boss`"),
        "{}",
        text(&o)
    );
    let o = wardwatch(
        &[
            "users", "add", "vic", "--role", "viewer", "--org", "north", "--data", &data,
        ],
        "viewer-password\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let list = text(&wardwatch(&["users", "list", "--data", &data], ""));
    assert!(list.contains("ana\tanalyst\tdefault"), "{list}");
    assert!(list.contains("root\tadmin\t*"), "{list}");
    assert!(list.contains("vic\tviewer\tnorth"), "{list}");
    let o = wardwatch(&["audit", "verify", "--data", &data], "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("intact: 3 entries"), "{}", text(&o));
    data
}

fn tamper(data: &str, sql: &str) -> String {
    let conn =
        rusqlite::Connection::open(Path::new(data).join(wardwatch_store::FILE_NAME)).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    let o = wardwatch(&["audit", "verify", "--data", data], "");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    text(&o)
}

#[test]
fn users_add_reads_or_generates_the_password() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
}

#[test]
fn audit_verify_names_an_edited_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = store(dir.path());
    let out = tamper(
        &data,
        "UPDATE audit SET detail = 'role admin' WHERE seq = 1;",
    );
    assert!(
        out.contains("BROKEN at entry 1") && out.contains("changed"),
        "{out}"
    );
}

#[test]
fn audit_verify_names_a_deleted_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = store(dir.path());
    let out = tamper(&data, "DELETE FROM audit WHERE seq = 2;");
    assert!(
        out.contains("BROKEN at entry 3") && out.contains("deleted"),
        "{out}"
    );
}

#[test]
fn audit_verify_names_reordered_entries() {
    let dir = tempfile::tempdir().unwrap();
    let data = store(dir.path());
    let out = tamper(
        &data,
        "UPDATE audit SET seq = 100 WHERE seq = 1; UPDATE audit SET seq = 1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 100;",
    );
    assert!(out.contains("BROKEN at entry 1"), "{out}");
}
