//! Integration tests of `tomoe-core` against reference values from independent tools (sep,
//! astropy, cdshealpix), one module per topic. The values live in `tests/data/` and the scripts
//! that made them in `scripts/reference/`.

#![allow(clippy::unwrap_used)]

mod astrometry;
mod healpix;
mod sep;
mod xmatch;
mod zscale;

/// A committed reference file `tests/data/<name>`, parsed.
pub fn reference(name: &str) -> serde_json::Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
