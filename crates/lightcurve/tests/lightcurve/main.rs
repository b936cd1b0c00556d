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
