//! The `[lightcurve]` configuration section.

use crate::input::ColumnMap;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of the light-curve ingest (`[lightcurve]`; every field has a default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LightcurveConfig {
    /// The light-curve database (nights, object registry, published HATS tables).
    pub root: PathBuf,
    /// The Gaia store written by `tomoe gaia import` / `tomoe sim gaia --hats`.
    pub gaia: PathBuf,
    /// Column mapping of external per-frame catalogues (`[lightcurve.columns]`).
    pub columns: ColumnMap,
    /// Gaia match radius [arcsec].
    pub match_radius_arcsec: f64,
    /// Radius for joining an unmatched track to an existing non-Gaia object [arcsec].
    pub object_radius_arcsec: f64,
    /// Largest |Δx| between a detection and its track's last position [px].
    pub track_dx: f64,
    /// Largest |Δy| [px].
    pub track_dy: f64,
    /// Fewest frames for a moving object.
    pub moving_min_frames: usize,
    /// Significance of the motion for a moving object [σ].
    pub moving_sigma: f64,
    /// Smallest total displacement of a moving object [px].
    pub moving_min_px: f64,
    /// Detection threshold per frame [σ of the matched filter].
    pub detect_sigma: f64,
    /// Fewest connected pixels above threshold.
    pub detect_min_pixels: usize,
    /// Aperture radius for per-frame fluxes [px]. 6 px ≈ 2 × FWHM of Tomo-e's ~3 px seeing:
    /// better S/N per 0.5 s frame than the 21 px diameter used on stacks, and less blending.
    pub aperture_radius: f64,
    /// Saturation level [ADU] (flag 4 on a measurement touching it).
    pub saturation: f64,
    /// Inverse gain [e⁻/ADU] when the file has no GAIN card.
    pub gain: f64,
    /// Gaia G → Tomo-e prediction: m_pred = G + Σᵢ cᵢ (BP−RP)ⁱ. The default [0] takes the
    /// unfiltered Tomo-e band as G; the zero point and the linear colour term absorb the rest.
    pub gaia_to_tomoe: Vec<f64>,
    /// Fit a colour term (else zero point only).
    pub colour_term: bool,
    /// Sigma clipping of calibration stars [robust σ].
    pub calib_clip: f64,
    /// Error floor per calibration star [mag].
    pub calib_floor: f64,
    /// Fewest calibration stars for a fit.
    pub calib_min_stars: usize,
    /// A calibration star has no other source within this distance [px].
    pub isolation_px: f64,
    /// Rows per partition of the published HATS tables.
    pub partition_rows: usize,
}

impl Default for LightcurveConfig {
    fn default() -> Self {
        Self {
            root: "data/lightcurves".into(),
            gaia: "data/gaia".into(),
            columns: ColumnMap::default(),
            match_radius_arcsec: 1.0,
            object_radius_arcsec: 1.0,
            track_dx: 3.0,
            track_dy: 3.0,
            moving_min_frames: 3,
            moving_sigma: 5.0,
            moving_min_px: 1.0,
            detect_sigma: 5.0,
            detect_min_pixels: 5,
            aperture_radius: 6.0,
            saturation: 60_000.0,
            gain: 0.94,
            gaia_to_tomoe: vec![0.0],
            colour_term: true,
            calib_clip: 3.0,
            calib_floor: 0.01,
            calib_min_stars: 5,
            isolation_px: 15.0,
            partition_rows: 2_000_000,
        }
    }
}

impl LightcurveConfig {
    /// Checks values a typo could make nonsense; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let pos = |v: f64, k: &str| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(format!("lightcurve.{k} = {v} must be a positive number"))
            }
        };
        pos(self.match_radius_arcsec, "match_radius_arcsec")?;
        pos(self.object_radius_arcsec, "object_radius_arcsec")?;
        if self.object_radius_arcsec > 60.0 {
            return Err("lightcurve.object_radius_arcsec must be ≤ 60".into());
        }
        pos(self.track_dx, "track_dx")?;
        pos(self.track_dy, "track_dy")?;
        pos(self.detect_sigma, "detect_sigma")?;
        pos(self.aperture_radius, "aperture_radius")?;
        pos(self.saturation, "saturation")?;
        pos(self.calib_clip, "calib_clip")?;
        if self.gaia_to_tomoe.is_empty() {
            return Err("lightcurve.gaia_to_tomoe needs at least one coefficient".into());
        }
        if self.partition_rows == 0 {
            return Err("lightcurve.partition_rows must be > 0".into());
        }
        Ok(())
    }

    /// Track-linking parameters.
    pub fn track_params(&self) -> tomoe_core::tracks::TrackParams {
        tomoe_core::tracks::TrackParams {
            max_dx: self.track_dx,
            max_dy: self.track_dy,
            min_frames_moving: self.moving_min_frames,
            motion_sigma: self.moving_sigma,
            min_motion: self.moving_min_px,
            ..Default::default()
        }
    }

    /// Calibration options.
    pub fn calib_options(&self) -> tomoe_core::calib::CalibOptions {
        tomoe_core::calib::CalibOptions {
            colour_term: self.colour_term,
            clip: self.calib_clip,
            floor: self.calib_floor,
            min_stars: self.calib_min_stars,
        }
    }
}
