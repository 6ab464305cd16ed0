//! Free space on the file system that holds a path, and whether the store's files can be
//! written: `wardwatch doctor` checks the space, and a journal commit that fails says how much
//! is left ("database or disk is full") or which file refuses writes and why (SQLite says
//! only "disk I/O error"), so the team sees at once what to fix.

use std::path::Path;

/// Bytes free for an unprivileged writer, and the file system's size, under `path`.
#[cfg(unix)]
// The field types of `statvfs` differ between platforms (u64 here, u32 on some).
#[allow(clippy::unnecessary_cast)]
pub fn space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path and `stat` points to writable memory the size
    // of `statvfs`, which the call fills on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialized `stat`.
    let stat = unsafe { stat.assume_init() };
    let unit = stat.f_frsize as u64;
    Some((stat.f_bavail as u64 * unit, stat.f_blocks as u64 * unit))
}

#[cfg(not(unix))]
pub fn space(_: &Path) -> Option<(u64, u64)> {
    None
}

/// Bytes free under `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    space(path).map(|(free, _)| free)
}

/// `bytes` for people: GiB with one decimal from 1 GiB, else whole MiB.
pub fn human(bytes: u64) -> String {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

/// "N free of M on the file system of `path`", or nothing when it cannot be read.
pub fn describe(path: &Path) -> Option<String> {
    let (free, total) = space(path)?;
    Some(format!(
        "{} free of {} on the file system of `{}`",
        human(free),
        human(total),
        path.display()
    ))
}

/// Which of the store's files in `dir` (the database, its WAL and shared-memory index) cannot
/// be opened for writing, and why: "`…/wardwatch.db-wal` cannot be written: Operation not
/// permitted (os error 1)". SQLite reports such a refusal as a bare "disk I/O error"; this
/// names the file and the system's reason (a read-only mount, an immutable file, permissions).
pub fn unwritable(dir: &Path) -> Option<String> {
    let db = wardwatch_store::FILE_NAME;
    [db.to_string(), format!("{db}-wal"), format!("{db}-shm")]
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| path.exists())
        .find_map(|path| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .err()
                .map(|e| format!("`{}` cannot be written: {e}", path.display()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_file_that_cannot_be_written_is_named_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(unwritable(dir.path()), None);
        std::fs::write(dir.path().join("wardwatch.db"), b"").unwrap();
        assert_eq!(unwritable(dir.path()), None);
        // Something in the WAL's place that cannot be opened for writing (as root, permission
        // bits would not stop the test; a folder does).
        std::fs::create_dir(dir.path().join("wardwatch.db-wal")).unwrap();
        let said = unwritable(dir.path()).unwrap();
        assert!(
            said.contains("wardwatch.db-wal` cannot be written: "),
            "{said}"
        );
    }

    #[test]
    fn the_space_of_a_folder_is_read_and_told_in_plain_units() {
        let dir = tempfile::tempdir().unwrap();
        let (free, total) = space(dir.path()).unwrap();
        assert!(total > 0 && free <= total, "{free} {total}");
        // A second reading of a shared disk differs by what others wrote in between.
        let again = free_bytes(dir.path()).expect("a second reading");
        assert!(again.abs_diff(free) < 1 << 30, "{free} then {again}");
        let said = describe(dir.path()).unwrap();
        assert!(said.contains(" free of ") && said.contains(&*dir.path().to_string_lossy()));
        assert_eq!(human(3 << 29), "1.5 GiB");
        assert_eq!(human(5 << 20), "5 MiB");
        assert_eq!(space(Path::new("/no/such/folder/here")), None);
    }
}
