//! Crash-safe file and directory replacement.
//!
//! Files are written to a temporary name in the same directory, flushed to disk, renamed into
//! place, and the directory is synced, so a reader sees the old state or the new one and a
//! crash leaves at most a stray temporary file (which [`remove_stale_temps`] clears).
//! Directories are swapped with `renameat2(RENAME_EXCHANGE)` where the filesystem supports it
//! (a single atomic step); elsewhere with two renames.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Suffix of temporary files; readers ignore it because it is not `.parquet`.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Syncs a directory so that renames inside it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `path` atomically with the bytes produced by `write`.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent"))?;
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other("bad file name"))?;
    let tmp = dir.join(format!(".{name}.{}{TEMP_SUFFIX}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        write(&mut f)?;
        f.flush()?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Atomically exchanges two existing directories (Linux `RENAME_EXCHANGE`). Falls back to
/// `a → a.old`, `b → a`, `a.old → b` when the filesystem cannot exchange; in that case a
/// reader may briefly see `a` missing, never half-written.
pub fn exchange_dirs(a: &Path, b: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(()),
            Err(e)
                if e == rustix::io::Errno::INVAL
                    || e == rustix::io::Errno::NOSYS
                    || e == rustix::io::Errno::NOTSUP => {}
            Err(e) => return Err(e.into()),
        }
    }
    let old = a.with_extension("exchange-old");
    fs::rename(a, &old)?;
    fs::rename(b, a)?;
    fs::rename(&old, b)
}

/// Removes leftover temporary files (from a crash) directly inside `dir`.
pub fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
            fs::remove_file(e.path())?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_and_exchange() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.txt");
        write_atomic(&p, |f| f.write_all(b"one")).unwrap();
        write_atomic(&p, |f| f.write_all(b"two")).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        // A failing writer leaves the old content and no temp file.
        let err = write_atomic(&p, |f| {
            f.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);

        let (a, b) = (d.path().join("a"), d.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        fs::write(a.join("1"), "a").unwrap();
        fs::write(b.join("2"), "b").unwrap();
        exchange_dirs(&a, &b).unwrap();
        assert!(a.join("2").exists() && b.join("1").exists());
    }
}
