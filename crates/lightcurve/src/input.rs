//! External per-frame catalogues through a column mapping.
//!
//! A catalogue is one file per (exposure, chip): a FITS binary table (columns from `TTYPEn`,
//! units from `TUNITn`), Parquet, or CSV with a header row. [`ColumnMap`] (the
//! `[lightcurve.columns]` configuration) names the columns holding the frame index, the pixel
//! position, the flux and its error and the flags; nothing is hard-coded, and [`columns`] lists
//! what a file offers. Positions are converted to 0-based pixel centres (FITS and SExtractor
//! catalogues are 1-based: `one_based = true`, the default). Names match case-insensitively.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which columns hold what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColumnMap {
    /// Frame index within the cube (absent: every row is frame `default_frame`).
    pub frame: Option<String>,
    /// Frame of catalogues without a frame column.
    pub default_frame: u32,
    /// Column position [px].
    pub x: String,
    /// Row position [px].
    pub y: String,
    /// Flux [ADU].
    pub flux: String,
    /// Flux error [ADU] (absent: 0).
    pub flux_err: Option<String>,
    /// Flags (absent: 0).
    pub flags: Option<String>,
    /// Positions are 1-based (FITS, SExtractor).
    pub one_based: bool,
}

impl Default for ColumnMap {
    fn default() -> Self {
        // The platform's own `tomoe extract` / `tomoe phot` column names.
        Self {
            frame: Some("frame".into()),
            default_frame: 0,
            x: "x".into(),
            y: "y".into(),
            flux: "flux".into(),
            flux_err: Some("flux_err".into()),
            flags: Some("flags".into()),
            one_based: true,
        }
    }
}

/// One measurement of a source in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameDetection {
    /// Frame index.
    pub frame: u32,
    /// 0-based column position [px].
    pub x: f64,
    /// 0-based row position [px].
    pub y: f64,
    /// Flux [ADU].
    pub flux: f64,
    /// Flux error [ADU].
    pub flux_err: f64,
    /// Flags.
    pub flags: i64,
}

/// Errors reading a catalogue: what and where.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file cannot be read as a table.
    #[error("{path}: {message}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A mapped column is missing.
    #[error("{path}: no column {column:?} (for {role}); the file has: {found}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The mapped name.
        column: String,
        /// What it was for.
        role: &'static str,
        /// The columns present.
        found: String,
    },
    /// A value that is not a number (or a frame index that is not a non-negative integer).
    #[error("{path}: row {row} (1-based), column {column:?}: {value:?} is not {what}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The row.
        row: usize,
        /// The column.
        column: String,
        /// The text.
        value: String,
        /// What was expected.
        what: &'static str,
    },
}

use crate::table::load;

pub(crate) fn unreadable(path: &Path, m: impl std::fmt::Display) -> InputError {
    InputError::Unreadable {
        path: path.to_path_buf(),
        message: m.to_string(),
    }
}

/// The columns of a catalogue file: (name, unit).
pub fn columns(path: &Path) -> Result<Vec<(String, String)>, InputError> {
    Ok(load(path)?.names)
}

/// Reads a catalogue through `map`. Rows whose position or flux is missing are errors (a
/// catalogue with holes is refused, not silently thinned).
pub fn read_catalog(path: &Path, map: &ColumnMap) -> Result<Vec<FrameDetection>, InputError> {
    let t = load(path)?;
    let found = || t.names_list();
    let find = |name: &str, role: &'static str| -> Result<usize, InputError> {
        t.names
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| InputError::MissingColumn {
                path: path.to_path_buf(),
                column: name.to_string(),
                role,
                found: found(),
            })
    };
    let (xi, yi, fi) = (
        find(&map.x, "x")?,
        find(&map.y, "y")?,
        find(&map.flux, "flux")?,
    );
    let ei = map
        .flux_err
        .as_deref()
        .map(|n| find(n, "flux_err"))
        .transpose()?;
    let gi = map.flags.as_deref().map(|n| find(n, "flags")).transpose()?;
    let ki = map.frame.as_deref().map(|n| find(n, "frame")).transpose()?;
    let n = t.values.first().map_or(0, Vec::len);
    let off = if map.one_based { 1.0 } else { 0.0 };
    let num = |c: usize, r: usize, what: &'static str| -> Result<f64, InputError> {
        t.values[c][r].ok_or_else(|| InputError::BadValue {
            path: path.to_path_buf(),
            row: r + 1,
            column: t.names[c].0.clone(),
            value: t.text(c, r),
            what,
        })
    };
    (0..n)
        .map(|r| {
            let frame = match ki {
                Some(k) => {
                    let v = num(k, r, "a frame index")?;
                    if v < 0.0 || v.fract() != 0.0 || v > f64::from(u32::MAX) {
                        return Err(InputError::BadValue {
                            path: path.to_path_buf(),
                            row: r + 1,
                            column: t.names[k].0.clone(),
                            value: t.text(k, r),
                            what: "a frame index",
                        });
                    }
                    v as u32
                }
                None => map.default_frame,
            };
            Ok(FrameDetection {
                frame,
                x: num(xi, r, "a number")? - off,
                y: num(yi, r, "a number")? - off,
                flux: num(fi, r, "a number")?,
                flux_err: match ei {
                    Some(e) => num(e, r, "a number")?,
                    None => 0.0,
                },
                flags: match gi {
                    Some(g) => num(g, r, "an integer")? as i64,
                    None => 0,
                },
            })
        })
        .collect()
}
