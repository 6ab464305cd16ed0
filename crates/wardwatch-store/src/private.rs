//! The store's folder and files are readable by their owner only: they hold every event of the
//! hospital (names, addresses, command lines) and the hashes of the tokens. Created `0700`
//! (folder) and `0600` (database files; SQLite gives its `-wal` and `-shm` files the database
//! file's mode) whatever the umask. A folder or file that already exists is left as it is
//! (`wardwatch doctor` reports its permissions).

use std::path::Path;

/// Create `dir` (and missing parents) with mode 0700.
pub(crate) fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Create the empty file `path` with mode 0600 unless it exists, so SQLite opens it rather
/// than creating it with the umask's mode.
pub(crate) fn create_file(path: &Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::{Db, DbOptions, IndexDb};

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_store_is_private_to_its_owner() {
        // Failed before: the folder and files took the umask's mode (0755 / 0644).
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data").join("store");
        let mut db = Db::open(&dir, &DbOptions::default()).unwrap();
        db.append(&[vec![wardwatch_core::Event::new(
            wardwatch_core::SourceKind::Json,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({}),
        )]])
        .unwrap();
        IndexDb::open(&dir, &DbOptions::default()).unwrap();
        db.stats().unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&parent.path().join("data")), 0o700);
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            files += 1;
        }
        assert!(files >= 4, "database, index and their WAL files");
    }
}
