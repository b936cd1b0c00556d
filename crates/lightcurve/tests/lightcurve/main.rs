//! Integration tests of the light-curve crate, one module per topic.

#![allow(clippy::unwrap_used)]

mod gaia;
mod ingest;
mod input;
mod query;

use std::path::PathBuf;

/// A file under `tests/data`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A JSON reference file under `tests/data`.
pub fn reference(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(data(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Opens a HATS catalog with `hats` and LSDB (`scripts/check_hats.py`) and answers a cone there:
/// JSON with the row counts, partitions, `_healpix_29` check and the cone's ids.
pub fn check_hats(
    cat: &std::path::Path,
    ra: f64,
    dec: f64,
    r: f64,
    id: &str,
    object_keyed: bool,
) -> serde_json::Value {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check_hats.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script).arg(cat).args([
        ra.to_string(),
        dec.to_string(),
        r.to_string(),
        id.to_string(),
    ]);
    if object_keyed {
        cmd.arg("object-keyed");
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "check_hats.py: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}
