//! `tomoe-lightcurve`: the light-curve ingest — per-frame measurements in, objects, detections
//! and calibrations out.
//!
//! So far: [`input`], reading external per-frame catalogues (FITS binary tables, Parquet, CSV)
//! through a column mapping, so that the neo pipeline's catalogues (or any other) feed the same
//! ingest as the platform's own photometry. The numeric pieces (tracks, objects, calibration,
//! cross-match, HEALPix, proper motion) live in `tomoe-core`.

pub mod colour;
pub mod config;
pub mod db;
pub mod gaia;
pub mod ingest;
pub mod input;
pub mod pipeline;
pub mod service;
pub mod synth;
mod table;
