//! A night's ingest: inputs → per-chip analysis (in parallel) → object ids (in a fixed order)
//! → a new published version (the night's tables and detections added, atomically).
//!
//! A bad input (unreadable cube, catalogue without a mapped column, no WCS, another night) is
//! refused with its reason in the report and the rest of the night goes on; what was stored
//! before is untouched. Re-ingesting a night replaces it and gives the same object ids.

use crate::config::LightcurveConfig;
use crate::db::{DbError, FreshNight, LcDb, NightTables, PublishReport};
use crate::gaia::{GaiaStar, GaiaStore};
use crate::pipeline::{analyse, assign, measure_cube, read_external, ChipAnalysis, ChipInput};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tomoe_core::time::CivilDate;

/// One input of a night.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A cube, measured by the photometry engine.
    Cube(PathBuf),
    /// An external per-frame catalogue and the image it was measured on (for WCS and timing).
    Catalog {
        /// The catalogue.
        catalog: PathBuf,
        /// Its image.
        image: PathBuf,
    },
}

impl Input {
    /// The file that names this input in messages.
    pub fn path(&self) -> &Path {
        match self {
            Input::Cube(p) => p,
            Input::Catalog { catalog, .. } => catalog,
        }
    }
}

/// What a night's ingest did.
#[derive(Debug, Clone)]
pub struct IngestReport {
    /// The night.
    pub night: CivilDate,
    /// Inputs ingested.
    pub inputs: usize,
    /// Inputs refused, with the reason.
    pub refused: Vec<(PathBuf, String)>,
    /// Detections of static sources written.
    pub detections: usize,
    /// Static tracks.
    pub statics: usize,
    /// Of which matched to Gaia.
    pub gaia_matched: usize,
    /// Moving-track points.
    pub movers: usize,
    /// Single events.
    pub singles: usize,
    /// Chips with a calibration.
    pub calibrated: usize,
    /// The published version.
    pub published: PublishReport,
    /// Seconds spent measuring and analysing.
    pub analyse_seconds: f64,
    /// Seconds spent writing and publishing.
    pub write_seconds: f64,
}

impl IngestReport {
    /// One line: inputs, detections, static sources and Gaia matches, movers, singles, chips
    /// calibrated.
    pub fn summary(&self) -> String {
        format!(
            "{} inputs, {} detections of {} static sources ({} matched to Gaia), {} moving-track points, {} single events; {} of {} chips calibrated",
            self.inputs,
            self.detections,
            self.statics,
            self.gaia_matched,
            self.movers,
            self.singles,
            self.calibrated,
            self.inputs
        )
    }
}

/// Why a night could not be ingested at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestRunError {
    /// The database could not be written.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The Gaia store could not be read (a retry will not help until it is fixed).
    #[error("Gaia store: {0}")]
    Gaia(String),
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
}

fn gaia_for(store: Option<&GaiaStore>, input: &ChipInput) -> Result<Vec<GaiaStar>, String> {
    match store {
        None => Ok(Vec::new()),
        Some(s) => {
            // Margin: proper motion over decades stays well below an arcminute for all but a
            // handful of stars; 2′ covers them and the match radius.
            let (ra, dec, r) = input.footprint(2.0 / 60.0);
            s.cone(ra, dec, r).map_err(|e| e.to_string())
        }
    }
}

/// Ingests one night. `progress(done, total)` is called as inputs finish.
pub fn ingest_night(
    db: &LcDb,
    night: CivilDate,
    inputs: &[Input],
    gaia: Option<&GaiaStore>,
    cfg: &LightcurveConfig,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<IngestReport, IngestRunError> {
    cfg.validate().map_err(IngestRunError::Config)?;
    let _lock = db.lock()?;
    let t0 = Instant::now();
    let done = AtomicUsize::new(0);
    let total = inputs.len();
    let results: Vec<Result<(ChipInput, ChipAnalysis), (PathBuf, String)>> = inputs
        .par_iter()
        .map(|inp| {
            let r = (|| {
                let chip = match inp {
                    Input::Cube(p) => measure_cube(p, cfg),
                    Input::Catalog { catalog, image } => read_external(catalog, image, cfg),
                }
                .map_err(|e| e.to_string())?;
                if chip.night != night {
                    return Err(format!("belongs to night {}, not {night}", chip.night));
                }
                let g = gaia_for(gaia, &chip)?;
                let a = analyse(&chip, &g, cfg).map_err(|e| e.to_string())?;
                // The measurements now live in the analysis: free the raw ones while the other
                // chips are analysed.
                let mut chip = chip;
                chip.frames = Vec::new();
                chip.forced = None;
                Ok((chip, a))
            })();
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            r.map_err(|e| (inp.path().to_path_buf(), e))
        })
        .collect();
    let analyse_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => refused.push(e),
        }
    }
    // Deterministic order for object ids.
    ok.sort_by(|a, b| {
        (a.0.exp_id, a.0.det_id, &a.0.source).cmp(&(b.0.exp_id, b.0.det_id, &b.0.source))
    });
    let mut registry = db.load_registry(cfg.object_radius_arcsec)?;
    let mut tables = NightTables::default();
    let (mut statics, mut matched, mut calibrated) = (0, 0, 0);
    for (chip, a) in &mut ok {
        assign(a, &mut registry);
        statics += a.statics.len();
        matched += a.statics.iter().filter(|s| s.gaia.is_some()).count();
        calibrated += usize::from(a.calibration.fit.is_some());
        tables.detections += a.calibration.n_detections as usize;
        tables.movers.extend(a.movers.iter().copied());
        tables.singles.extend(a.singles.iter().copied());
        tables.calibration.push(a.calibration.clone());
        tables.inputs.push(chip.source.clone());
    }
    let refs: Vec<(i64, &crate::pipeline::StaticTrack)> = ok
        .iter()
        .flat_map(|(_, a)| a.statics.iter())
        .map(|s| (s.object_id, s))
        .collect();
    tables.sources = Some(crate::db::sources_batch(&refs));
    // Registry first: an interrupted ingest leaves unused ids, never reused ones.
    db.save_registry(&registry)?;
    let n_det = tables.detections;
    tracing::debug!(
        seconds = t1.elapsed().as_secs_f64(),
        "ids assigned, registry saved"
    );
    let fresh = FreshNight {
        night,
        tables: &tables,
        tracks: ok.iter().flat_map(|(_, a)| a.statics.iter()).collect(),
    };
    let published = db.publish(cfg.partition_rows, &registry, Some(fresh))?;
    Ok(IngestReport {
        night,
        inputs: ok.len(),
        refused,
        detections: n_det,
        statics,
        gaia_matched: matched,
        movers: tables.movers.len(),
        singles: tables.singles.len(),
        calibrated,
        published,
        analyse_seconds,
        write_seconds: t1.elapsed().as_secs_f64(),
    })
}
