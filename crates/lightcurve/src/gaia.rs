//! The Gaia DR3 reference store: import from the Gaia archive's files, a HATS catalog on disk,
//! cone reads at ingest time.
//!
//! `tomoe gaia import` reads bulk files (`GaiaSource_*.csv.gz`, ECSV with a `#` header), archive
//! query results (VOTable, FITS, CSV), Parquet, or an existing HATS Gaia catalog (e.g. the one
//! LSDB publishes), keeps the columns in [`FLOAT_COLUMNS`] plus `source_id` and
//! `duplicated_source` (Gaia archive names; a missing optional column is null), drops repeated
//! `source_id`s (overlapping query results), and writes a HATS catalog (one partition per
//! HEALPix cell holding at most `max_rows` sources). `source_id`, `ra`, `dec` and
//! `phot_g_mean_mag` are required columns; a row without `source_id`, `ra` or `dec` is an error
//! naming the file and the row. `ref_epoch` defaults to 2016.0 (DR3) when absent.
//!
//! The import holds the catalog in memory (~200 bytes per source): import the region you
//! observe (Tomo-e's footprint), not the whole sky, on a small machine.

use crate::input::InputError;
use crate::table::load;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tomoe_store::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array};
use tomoe_store::arrow::compute::cast;
use tomoe_store::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use tomoe_store::arrow::record_batch::RecordBatch;
use tomoe_store::hats::{CatalogType, HatsCatalog, HatsError, HatsOptions, HatsSummary, Pixel};

/// The floating-point columns kept, by their Gaia archive names.
pub const FLOAT_COLUMNS: [&str; 20] = [
    "ra",
    "dec",
    "ra_error",
    "dec_error",
    "pmra",
    "pmdec",
    "parallax",
    "parallax_error",
    "ref_epoch",
    "phot_g_mean_mag",
    "phot_bp_mean_mag",
    "phot_rp_mean_mag",
    "phot_g_mean_flux",
    "phot_g_mean_flux_error",
    "phot_bp_mean_flux",
    "phot_bp_mean_flux_error",
    "phot_rp_mean_flux",
    "phot_rp_mean_flux_error",
    "ruwe",
    "phot_bp_rp_excess_factor",
];

/// Index of `ra` in [`GaiaStar::v`].
pub const RA: usize = 0;
/// `dec`.
pub const DEC: usize = 1;
/// `pmra` [mas/yr].
pub const PMRA: usize = 4;
/// `pmdec` [mas/yr].
pub const PMDEC: usize = 5;
/// `ref_epoch` [Julian year].
pub const REF_EPOCH: usize = 8;
/// `phot_g_mean_mag`.
pub const G: usize = 9;
/// `phot_bp_mean_mag`.
pub const BP: usize = 10;
/// `phot_rp_mean_mag`.
pub const RP: usize = 11;

const REQUIRED: [&str; 3] = ["ra", "dec", "phot_g_mean_mag"];

/// One Gaia source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaiaStar {
    /// `source_id`.
    pub source_id: i64,
    /// The [`FLOAT_COLUMNS`], NaN when null.
    pub v: [f64; 20],
    /// `duplicated_source`.
    pub duplicated_source: bool,
}

impl GaiaStar {
    /// RA [deg] at `ref_epoch`.
    pub fn ra(&self) -> f64 {
        self.v[RA]
    }
    /// Dec [deg] at `ref_epoch`.
    pub fn dec(&self) -> f64 {
        self.v[DEC]
    }
    /// G [mag].
    pub fn g(&self) -> f64 {
        self.v[G]
    }
    /// BP − RP [mag] (NaN when either is missing).
    pub fn bp_rp(&self) -> f64 {
        self.v[BP] - self.v[RP]
    }
    /// Position [deg] at `epoch` [Julian year] (proper motion applied; no motion if unknown).
    pub fn position_at(&self, epoch: f64) -> (f64, f64) {
        let ref_epoch = if self.v[REF_EPOCH].is_finite() {
            self.v[REF_EPOCH]
        } else {
            2016.0
        };
        tomoe_core::astrometry::propagate(
            self.ra(),
            self.dec(),
            self.v[PMRA],
            self.v[PMDEC],
            ref_epoch,
            epoch,
        )
    }
}

/// Errors of the Gaia store.
#[derive(Debug, thiserror::Error)]
pub enum GaiaError {
    /// An input file could not be read or lacks a required column.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The HATS catalog could not be read or written.
    #[error(transparent)]
    Hats(#[from] HatsError),
    /// A bad value.
    #[error("{path}: row {row}: {message}")]
    BadRow {
        /// The file.
        path: PathBuf,
        /// 1-based data row.
        row: usize,
        /// What.
        message: String,
    },
}

/// Reads the Gaia columns of one file (any format of [`crate::table`], or a HATS directory).
pub fn read_file(path: &Path) -> Result<Vec<GaiaStar>, GaiaError> {
    let t = load(path)?;
    let found = || t.names_list();
    let missing = |column: &str| InputError::MissingColumn {
        path: path.to_path_buf(),
        column: column.to_string(),
        role: "Gaia",
        found: found(),
    };
    let sid = t.find("source_id").ok_or_else(|| missing("source_id"))?;
    for r in REQUIRED {
        if t.find(r).is_none() {
            return Err(missing(r).into());
        }
    }
    let idx: Vec<Option<usize>> = FLOAT_COLUMNS.iter().map(|c| t.find(c)).collect();
    let dup = t.find("duplicated_source");
    let mut out = Vec::with_capacity(t.len());
    for r in 0..t.len() {
        let bad = |message: String| GaiaError::BadRow {
            path: path.to_path_buf(),
            row: r + 1,
            message,
        };
        let source_id: i64 = t.int(sid, r).ok_or_else(|| {
            bad(format!(
                "source_id {:?} is not an integer",
                t.text(sid, r).trim()
            ))
        })?;
        let mut v = [f64::NAN; 20];
        for (k, i) in idx.iter().enumerate() {
            if let Some(i) = *i {
                v[k] = t.values[i][r].unwrap_or(f64::NAN);
            }
        }
        if !v[RA].is_finite() || !v[DEC].is_finite() || !(-90.0..=90.0).contains(&v[DEC]) {
            return Err(bad(format!(
                "source {source_id}: position ({}, {}) missing or off the sky",
                v[RA], v[DEC]
            )));
        }
        v[RA] = v[RA].rem_euclid(360.0);
        if idx[REF_EPOCH].is_none() {
            v[REF_EPOCH] = 2016.0;
        }
        let duplicated_source = dup.is_some_and(|d| {
            let s = t.text(d, r);
            let s = s.trim();
            s.eq_ignore_ascii_case("true") || s == "1" || s.eq_ignore_ascii_case("t")
        });
        out.push(GaiaStar {
            source_id,
            v,
            duplicated_source,
        });
    }
    Ok(out)
}

/// The Arrow schema of the store.
pub fn schema() -> SchemaRef {
    let mut fields = vec![Field::new("source_id", DataType::Int64, false)];
    for (i, c) in FLOAT_COLUMNS.iter().enumerate() {
        fields.push(Field::new(*c, DataType::Float64, i > DEC));
    }
    fields.push(Field::new("duplicated_source", DataType::Boolean, false));
    Arc::new(Schema::new(fields))
}

/// Stars as one Arrow batch (NaN → null).
pub fn to_batch(stars: &[GaiaStar]) -> RecordBatch {
    let mut cols: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
        stars.iter().map(|s| s.source_id),
    ))];
    for k in 0..FLOAT_COLUMNS.len() {
        cols.push(Arc::new(Float64Array::from_iter(stars.iter().map(|s| {
            let x = s.v[k];
            x.is_finite().then_some(x)
        }))));
    }
    cols.push(Arc::new(BooleanArray::from_iter(
        stars.iter().map(|s| Some(s.duplicated_source)),
    )));
    RecordBatch::try_new(schema(), cols)
        .unwrap_or_else(|e| unreachable!("Gaia batch matches its schema: {e}"))
}

/// Stars from Arrow batches that carry the store's columns (missing optional ones are NaN).
pub fn from_batches(batches: &[RecordBatch]) -> Result<Vec<GaiaStar>, HatsError> {
    let mut out = Vec::new();
    for b in batches {
        let sid = b
            .column_by_name("source_id")
            .ok_or_else(|| HatsError::Invalid("Gaia table without source_id".into()))?;
        let sid = cast(sid, &DataType::Int64)?;
        let sid = sid.as_primitive::<Int64Type>();
        let mut cols = Vec::new();
        for c in FLOAT_COLUMNS {
            cols.push(match b.column_by_name(c) {
                Some(a) => Some(cast(a, &DataType::Float64)?),
                None => None,
            });
        }
        let dup = b
            .column_by_name("duplicated_source")
            .map(|a| a.as_boolean().clone());
        for r in 0..b.num_rows() {
            let mut v = [f64::NAN; 20];
            for (k, c) in cols.iter().enumerate() {
                if let Some(c) = c {
                    let c = c.as_primitive::<Float64Type>();
                    if c.is_valid(r) {
                        v[k] = c.value(r);
                    }
                }
            }
            out.push(GaiaStar {
                source_id: sid.value(r),
                v,
                duplicated_source: dup.as_ref().is_some_and(|d| d.is_valid(r) && d.value(r)),
            });
        }
    }
    Ok(out)
}

/// Writes stars as the HATS Gaia store at `dir` (replacing it atomically).
pub fn write_hats(
    dir: &Path,
    stars: &[GaiaStar],
    max_rows: usize,
) -> Result<HatsSummary, HatsError> {
    let mut opt = HatsOptions::new("gaia_dr3", CatalogType::Object);
    opt.max_rows = max_rows;
    opt.max_order = 12;
    opt.extra_properties = vec![(
        "obs_title".into(),
        "Gaia DR3 sources kept by the Tomo-e platform (tomoe gaia import)".into(),
    )];
    tomoe_store::hats::write_catalog(dir, schema(), &[to_batch(stars)], &opt)
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// Files read.
    pub files: usize,
    /// Sources read.
    pub read: usize,
    /// Repeated source_ids dropped.
    pub duplicates: usize,
    /// What was written.
    pub written: HatsSummary,
}

/// Imports Gaia files into a HATS store at `out`. `progress(i, path)` is called before each file.
pub fn import(
    inputs: &[PathBuf],
    out: &Path,
    max_rows: usize,
    mut progress: impl FnMut(usize, &Path),
) -> Result<ImportReport, GaiaError> {
    let mut all = Vec::new();
    for (i, p) in inputs.iter().enumerate() {
        progress(i, p);
        all.extend(read_file(p)?);
    }
    let read = all.len();
    let mut seen = HashSet::with_capacity(all.len());
    all.retain(|s| seen.insert(s.source_id));
    let duplicates = read - all.len();
    let written = write_hats(out, &all, max_rows)?;
    Ok(ImportReport {
        files: inputs.len(),
        read,
        duplicates,
        written,
    })
}

/// The store, open for cone reads. Partitions are read once and kept in memory (sorted by
/// `_healpix_29`), so the chips of a night share them.
#[derive(Debug, Clone)]
pub struct GaiaStore {
    cat: HatsCatalog,
    cache: Arc<std::sync::Mutex<HashMap<Pixel, Arc<Partition>>>>,
}

#[derive(Debug)]
struct Partition {
    h29: Vec<u64>,
    stars: Vec<GaiaStar>,
}

impl GaiaStore {
    /// Opens the store at `dir`.
    pub fn open(dir: &Path) -> Result<Self, HatsError> {
        Ok(Self {
            cat: HatsCatalog::open(dir)?,
            cache: Default::default(),
        })
    }

    /// The underlying catalog.
    pub fn catalog(&self) -> &HatsCatalog {
        &self.cat
    }

    fn partition(&self, p: Pixel) -> Result<Arc<Partition>, HatsError> {
        if let Some(part) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&p) {
            return Ok(part.clone());
        }
        let batches = self.cat.read_partition(p, None)?;
        let mut stars = from_batches(&batches)?;
        // The catalog's own `_healpix_29` (every HATS catalog carries it); computed if absent.
        let stored: Option<Vec<u64>> = batches
            .iter()
            .map(|b| {
                let c = b.column_by_name(tomoe_store::hats::HEALPIX_COLUMN)?;
                let c = cast(c, &DataType::Int64).ok()?;
                let c = c.as_primitive::<Int64Type>();
                (c.null_count() == 0)
                    .then(|| c.values().iter().map(|&h| h as u64).collect::<Vec<_>>())
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.concat());
        let mut h29: Vec<u64> = match stored {
            Some(h) if h.len() == stars.len() => h,
            _ => stars
                .iter()
                .map(|s| tomoe_core::healpix::hash29(s.ra(), s.dec()))
                .collect(),
        };
        if !h29.windows(2).all(|w| w[0] <= w[1]) {
            let mut idx: Vec<usize> = (0..h29.len()).collect();
            idx.sort_by_key(|&i| h29[i]);
            stars = idx.iter().map(|&i| stars[i]).collect();
            h29 = idx.iter().map(|&i| h29[i]).collect();
        }
        let part = Arc::new(Partition { h29, stars });
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p, part.clone());
        Ok(part)
    }

    /// Sources within `radius_deg` of (`ra`, `dec`) at their catalogue epoch.
    pub fn cone(&self, ra: f64, dec: f64, radius_deg: f64) -> Result<Vec<GaiaStar>, HatsError> {
        if !(ra.is_finite()
            && (-90.0..=90.0).contains(&dec)
            && radius_deg > 0.0
            && radius_deg <= 180.0)
        {
            return Err(HatsError::Invalid(format!(
                "cone ({ra}, {dec}, {radius_deg}°) is not on the sky"
            )));
        }
        let deepest = self.cat.pixels().iter().map(|p| p.order).max().unwrap_or(0);
        let ranges = tomoe_store::hats::cone_ranges(ra, dec, radius_deg, deepest);
        let cone = tomoe_core::angle::Cone::new(ra, dec, radius_deg);
        let mut out = Vec::new();
        for p in self.cat.pixels_in_cone(ra, dec, radius_deg) {
            let part = self.partition(p)?;
            for &(lo, hi) in &ranges {
                let a = part.h29.partition_point(|&h| h < lo);
                let b = part.h29.partition_point(|&h| h < hi);
                out.extend(
                    part.stars[a..b]
                        .iter()
                        .filter(|s| cone.contains(s.ra(), s.dec())),
                );
            }
        }
        Ok(out)
    }
}
