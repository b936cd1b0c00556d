//! Reading the published light-curve database: objects in a cone, the light curve of one
//! object, the nearest object to a position, the sources of one field (exposure and chip), moving
//! tracks by time and region, the calibration table.
//!
//! **Blocklist.** [`LcRead::with_hidden`] takes the (exposure, chip) pairs the archive's
//! blocklist hides; every row-level answer (light curves, fields, movers, calibration) then
//! leaves them out. Object statistics are computed when the database is published, from the
//! exposures not hidden at that time (the light-curve service republishes when the rules change).
//!
//! Everything goes through the HATS layout, never a join: a cone reads only the partitions
//! its HEALPix coverage touches and, in them, only the row groups whose `_healpix_29` range
//! overlaps it, then applies the exact angular test. A light curve finds the object's
//! `_healpix_29` (for a Gaia object from its `source_id`, whose top bits are the order-12 HEALPix
//! cell, then the objects partition; for other objects from the objects catalog), then reads the
//! one detections partition holding it, pruning row groups to that `_healpix_29`; the detections
//! carry the Gaia columns. The database root's `current` link is resolved once, at open, so a
//! reader keeps a consistent version while the ingest publishes the next one.

use crate::hats::{project_names, with_columns, HatsCatalog, HatsError, Pixel};
use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors of the queries.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is out of range (the message says which and why).
    #[error("{0}")]
    BadParameter(String),
    /// The object does not exist in the published version.
    #[error("no object {0} in the light-curve database")]
    UnknownObject(i64),
    /// No such field (exposure, chip) in the published version, or it is hidden.
    #[error("no field exposure {0} chip {1} in the light-curve database")]
    UnknownField(i64, i32),
    /// Nothing is published yet.
    #[error("{0}: nothing published yet (tomoe lc ingest)")]
    Empty(PathBuf),
    /// Reading failed.
    #[error(transparent)]
    Hats(#[from] HatsError),
}

/// Filters of a cone search over objects.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ObjectFilter {
    /// Brightest weighted-mean magnitude.
    pub mag_min: Option<f64>,
    /// Faintest weighted-mean magnitude.
    pub mag_max: Option<f64>,
    /// Only Gaia objects (true) or only non-Gaia ones (false).
    pub gaia: Option<bool>,
    /// Smallest χ²/ν (variability).
    pub chi2_min: Option<f64>,
    /// Fewest calibrated measurements.
    pub min_points: Option<i64>,
}

/// The published database, one version.
#[derive(Debug, Clone)]
pub struct LcRead {
    version: PathBuf,
    objects: HatsCatalog,
    detections: HatsCatalog,
    hidden: Arc<HashSet<(i64, i32)>>,
}

/// Everything the field page of one (exposure, chip) shows.
#[derive(Debug, Clone)]
pub struct FieldView {
    /// Its calibration row (exposure, chip, Frame ID, night, time, zero point, counts).
    pub calibration: RecordBatch,
    /// Its static sources (object, x, y, magnitude, Gaia columns), by object id.
    pub sources: Vec<RecordBatch>,
    /// Points of its moving tracks.
    pub movers: Vec<RecordBatch>,
    /// Its single-frame events.
    pub singles: Vec<RecordBatch>,
}

/// Rows whose (`exp_id`, `det_id`) is not in `hidden` (batches without those columns pass):
/// what the readers show and what publishing counts in the objects' statistics.
pub fn without_hidden(
    b: &RecordBatch,
    hidden: &HashSet<(i64, i32)>,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    if hidden.is_empty() {
        return Ok(b.clone());
    }
    let (Some(e), Some(d)) = (b.column_by_name("exp_id"), b.column_by_name("det_id")) else {
        return Ok(b.clone());
    };
    let (e, d) = (
        e.as_primitive::<Int64Type>(),
        d.as_primitive::<arrow::datatypes::Int32Type>(),
    );
    let keep: BooleanArray = (0..b.num_rows())
        .map(|i| Some(!hidden.contains(&(e.value(i), d.value(i)))))
        .collect();
    filter_record_batch(b, &keep)
}

/// Keeps the rows where `pred(i)`, drops hidden ones, projects to `columns`; `None` if empty.
fn keep_rows(
    b: &RecordBatch,
    pred: impl Fn(usize) -> bool,
    hidden: &HashSet<(i64, i32)>,
    columns: Option<&[&str]>,
) -> Result<Option<RecordBatch>, QueryError> {
    let keep: BooleanArray = (0..b.num_rows()).map(|i| Some(pred(i))).collect();
    let b = filter_record_batch(b, &keep).map_err(HatsError::from)?;
    let b = without_hidden(&b, hidden).map_err(HatsError::from)?;
    if b.num_rows() == 0 {
        return Ok(None);
    }
    Ok(Some(match columns {
        Some(c) => project_names(&b, c).map_err(HatsError::from)?,
        None => b,
    }))
}

fn check_times(t0: Option<f64>, t1: Option<f64>) -> Result<(), QueryError> {
    for t in [t0, t1].into_iter().flatten() {
        if !t.is_finite() {
            return Err(QueryError::BadParameter(format!(
                "time {t} is not a number"
            )));
        }
    }
    if let (Some(a), Some(b)) = (t0, t1) {
        if a > b {
            return Err(QueryError::BadParameter(format!(
                "time range {a}..{b} is empty"
            )));
        }
    }
    Ok(())
}

fn check_cone(ra: f64, dec: f64, radius_deg: f64) -> Result<(), QueryError> {
    if !ra.is_finite() {
        return Err(QueryError::BadParameter(format!("RA {ra} is not a number")));
    }
    if !(dec.is_finite() && (-90.0..=90.0).contains(&dec)) {
        return Err(QueryError::BadParameter(format!(
            "Dec {dec} is outside [-90, 90]"
        )));
    }
    if !(radius_deg.is_finite() && radius_deg > 0.0) {
        return Err(QueryError::BadParameter(format!(
            "radius {radius_deg} must be > 0"
        )));
    }
    if radius_deg > 10.0 {
        return Err(QueryError::BadParameter(format!(
            "radius {radius_deg}° is larger than the 10° a query may cover"
        )));
    }
    Ok(())
}

impl LcRead {
    /// Opens the version `root/current` points at.
    pub fn open(root: &Path) -> Result<Self, QueryError> {
        Self::open_version(Self::current_version(root)?)
    }

    /// The version directory `root/current` points at now.
    pub fn current_version(root: &Path) -> Result<PathBuf, QueryError> {
        std::fs::canonicalize(root.join("current"))
            .map_err(|_| QueryError::Empty(root.to_path_buf()))
    }

    /// Opens one version directory (`catalogs/vNNNNNN`).
    pub fn open_version(version: PathBuf) -> Result<Self, QueryError> {
        Ok(Self {
            objects: HatsCatalog::open(&version.join("objects"))?,
            detections: HatsCatalog::open(&version.join("detections"))?,
            version,
            hidden: Arc::default(),
        })
    }

    /// Caches the Parquet footers of every objects and detections partition (see
    /// [`HatsCatalog::warm`]); returns the number of files.
    pub fn warm(&self) -> Result<usize, QueryError> {
        Ok(self.objects.warm()? + self.detections.warm()?)
    }

    /// Leaves out the rows of these (exposure, chip) pairs from every row-level answer.
    pub fn with_hidden(mut self, hidden: Arc<HashSet<(i64, i32)>>) -> Self {
        self.hidden = hidden;
        self
    }

    /// Schema of the objects table.
    pub fn objects_schema(&self) -> Result<arrow::datatypes::SchemaRef, QueryError> {
        Ok(self.objects.schema()?)
    }

    /// Schema of the detections table.
    pub fn detections_schema(&self) -> Result<arrow::datatypes::SchemaRef, QueryError> {
        Ok(self.detections.schema()?)
    }

    /// Schema of a published table: `objects`, `detections`, `movers`, `singles` (HATS
    /// catalogs), `calibration` or `fields` (flat files); what an empty answer is described with.
    pub fn table_schema(&self, table: &str) -> Result<arrow::datatypes::SchemaRef, QueryError> {
        match table {
            "objects" => self.objects_schema(),
            "detections" => self.detections_schema(),
            "movers" | "singles" => Ok(HatsCatalog::open(&self.version.join(table))?.schema()?),
            "calibration" | "fields" => Ok(crate::hats::parquet_schema(
                &self.version.join(format!("{table}.parquet")),
            )?),
            _ => Err(QueryError::BadParameter(format!("no table {table:?}"))),
        }
    }

    /// The version directory read.
    pub fn version(&self) -> &Path {
        &self.version
    }

    /// Objects within `radius_deg` of (`ra`, `dec`) [deg] passing `filter`.
    pub fn cone(
        &self,
        ra: f64,
        dec: f64,
        radius_deg: f64,
        filter: &ObjectFilter,
    ) -> Result<Vec<RecordBatch>, QueryError> {
        check_cone(ra, dec, radius_deg)?;
        let mut out = Vec::new();
        for b in self
            .objects
            .cone(ra.rem_euclid(360.0), dec, radius_deg, None)?
        {
            let m = b
                .column_by_name("wmean_mag")
                .map(|c| c.as_primitive::<Float64Type>().clone());
            let sid = b
                .column_by_name("source_id")
                .map(|c| c.as_primitive::<Int64Type>().clone());
            let chi = b
                .column_by_name("chi2_red")
                .map(|c| c.as_primitive::<Float64Type>().clone());
            let n = b
                .column_by_name("n_mag")
                .map(|c| c.as_primitive::<Int64Type>().clone());
            let keep: BooleanArray = (0..b.num_rows())
                .map(|i| {
                    let mag = m.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i));
                    let ok_mag = filter.mag_min.is_none_or(|lo| mag.is_some_and(|v| v >= lo))
                        && filter.mag_max.is_none_or(|hi| mag.is_some_and(|v| v <= hi));
                    let is_gaia = sid.as_ref().is_some_and(|a| a.is_valid(i));
                    let ok_gaia = filter.gaia.is_none_or(|g| g == is_gaia);
                    let c = chi.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i));
                    let ok_chi = filter.chi2_min.is_none_or(|lo| c.is_some_and(|v| v >= lo));
                    let ok_n = filter
                        .min_points
                        .is_none_or(|lo| n.as_ref().is_some_and(|a| a.value(i) >= lo));
                    Some(ok_mag && ok_gaia && ok_chi && ok_n)
                })
                .collect();
            let b = filter_record_batch(&b, &keep).map_err(HatsError::from)?;
            if b.num_rows() > 0 {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// The objects row of `id` (all columns, or those named; `object_id` is always read), if
    /// it exists.
    fn find_object(
        &self,
        id: i64,
        columns: Option<&[&str]>,
    ) -> Result<Option<RecordBatch>, QueryError> {
        let cols = with_columns(columns, &["object_id"]);
        // A Gaia id's order-12 cell bounds its `_healpix_29`; another object's comes from the
        // object index. Then only the row groups of that range are read.
        let range = if id > 0 {
            tomoe_core::healpix::range29(12, (id >> 35) as u64)
        } else {
            match self.indexed_h29(id)? {
                Some(Some(h)) => (h, h + 1),
                Some(None) => return Ok(None),
                None => (0, u64::MAX),
            }
        };
        // The partitions overlapping that range.
        let pixels: Vec<Pixel> = self
            .objects
            .pixels()
            .iter()
            .copied()
            .filter(|p| {
                let (lo, hi) = p.range29();
                lo < range.1 && range.0 < hi
            })
            .collect();
        for p in pixels {
            for b in self
                .objects
                .read_partition_range(p, cols.as_deref(), range)?
            {
                let Some(o) = b.column_by_name("object_id") else {
                    continue;
                };
                let o = o.as_primitive::<Int64Type>();
                if let Some(i) = (0..o.len()).find(|&i| o.value(i) == id) {
                    let row = b.slice(i, 1);
                    return Ok(Some(match columns {
                        Some(c) => project_names(&row, c).map_err(HatsError::from)?,
                        None => row,
                    }));
                }
            }
        }
        Ok(None)
    }

    /// `_healpix_29` of a non-Gaia object from `object_index.parquet`: `None` when the version
    /// has no index (then the objects catalog is scanned), `Some(None)` when the id is not there.
    fn indexed_h29(&self, id: i64) -> Result<Option<Option<u64>>, QueryError> {
        let path = self.version.join("object_index.parquet");
        if !path.exists() {
            return Ok(None);
        }
        for b in crate::hats::read_parquet_range(&path, None, "object_id", id, id)? {
            let (Some(o), Some(h)) = (
                b.column_by_name("object_id"),
                b.column_by_name(crate::hats::HEALPIX_COLUMN),
            ) else {
                continue;
            };
            let (o, h) = (o.as_primitive::<Int64Type>(), h.as_primitive::<Int64Type>());
            if let Some(i) = (0..o.len()).find(|&i| o.value(i) == id) {
                return Ok(Some(Some(h.value(i) as u64)));
            }
        }
        Ok(Some(None))
    }

    /// The objects row of `id`: position, Gaia data, statistics.
    pub fn object(&self, id: i64) -> Result<RecordBatch, QueryError> {
        self.find_object(id, None)?
            .ok_or(QueryError::UnknownObject(id))
    }

    /// `_healpix_29` of an object, if it exists.
    fn object_h29(&self, id: i64) -> Result<Option<u64>, QueryError> {
        Ok(self.find_object(id, Some(&["_healpix_29"]))?.and_then(|b| {
            let h = b.column(0).as_primitive::<Int64Type>();
            h.is_valid(0).then(|| h.value(0) as u64)
        }))
    }

    /// The measurements of object `id` (all columns, or those named), between `t0` and `t1`
    /// (MJD, inclusive) when given, sorted by time.
    pub fn light_curve(
        &self,
        id: i64,
        t0: Option<f64>,
        t1: Option<f64>,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>, QueryError> {
        check_times(t0, t1)?;
        let h = self.object_h29(id)?.ok_or(QueryError::UnknownObject(id))?;
        let pixel = self
            .detections
            .pixels()
            .iter()
            .copied()
            .find(|p| {
                let (lo, hi) = p.range29();
                (lo..hi).contains(&h)
            })
            .ok_or(QueryError::UnknownObject(id))?;
        let cols = with_columns(columns, &["object_id", "mjd", "time", "exp_id", "det_id"]);
        let mut out = Vec::new();
        for b in self
            .detections
            .read_partition_range(pixel, cols.as_deref(), (h, h + 1))?
        {
            let o = b
                .column_by_name("object_id")
                .map(|c| c.as_primitive::<Int64Type>().clone());
            let m = b
                .column_by_name("mjd")
                .map(|c| c.as_primitive::<Float64Type>().clone());
            let pred = |i: usize| {
                let mjd = m.as_ref().map_or(f64::NAN, |a| a.value(i));
                o.as_ref().is_some_and(|a| a.value(i) == id)
                    && t0.is_none_or(|t| mjd >= t)
                    && t1.is_none_or(|t| mjd <= t)
            };
            out.extend(keep_rows(&b, pred, &self.hidden, columns)?);
        }
        // Rows are stored sorted by (object, time) within the partition: already in time order.
        Ok(out)
    }

    /// The object nearest to (`ra`, `dec`) within `radius_deg`, if any.
    pub fn nearest_object(
        &self,
        ra: f64,
        dec: f64,
        radius_deg: f64,
    ) -> Result<Option<i64>, QueryError> {
        check_cone(ra, dec, radius_deg)?;
        let c = tomoe_core::angle::Cone::new(ra, dec, radius_deg);
        let mut best: Option<(f64, i64)> = None;
        for b in self.objects.cone(
            ra.rem_euclid(360.0),
            dec,
            radius_deg,
            Some(&["object_id", "ra", "dec"]),
        )? {
            let (Some(o), Some(r), Some(d)) = (
                b.column_by_name("object_id"),
                b.column_by_name("ra"),
                b.column_by_name("dec"),
            ) else {
                continue;
            };
            let (o, r, d) = (
                o.as_primitive::<Int64Type>(),
                r.as_primitive::<Float64Type>(),
                d.as_primitive::<Float64Type>(),
            );
            for i in 0..b.num_rows() {
                let dot = c.cos_to(r.value(i), d.value(i));
                if best.is_none_or(|(bd, bo)| dot > bd || (dot == bd && o.value(i) < bo)) {
                    best = Some((dot, o.value(i)));
                }
            }
        }
        Ok(best.map(|b| b.1))
    }

    /// The calibration table: every (exposure, chip), or those of one exposure.
    pub fn calibration(&self, exp_id: Option<i64>) -> Result<Vec<RecordBatch>, QueryError> {
        let path = self.version.join("calibration.parquet");
        let (lo, hi) = exp_id.map_or((i64::MIN, i64::MAX), |e| (e, e));
        let mut out = Vec::new();
        for b in crate::hats::read_parquet_range(&path, None, "exp_id", lo, hi)? {
            let e = b
                .column_by_name("exp_id")
                .map(|c| c.as_primitive::<Int64Type>().clone());
            let pred =
                |i: usize| exp_id.is_none_or(|x| e.as_ref().is_some_and(|a| a.value(i) == x));
            out.extend(keep_rows(&b, pred, &self.hidden, None)?);
        }
        Ok(out)
    }

    /// Everything of one field: its calibration row, static sources, movers and singles.
    ///
    /// # Errors
    /// [`QueryError::UnknownField`] when the version has no such (exposure, chip) or it is hidden.
    pub fn field(&self, exp_id: i64, det_id: i32) -> Result<FieldView, QueryError> {
        let is_field = |b: &RecordBatch| {
            let e = b
                .column_by_name("exp_id")
                .map(|c| c.as_primitive::<Int64Type>().clone());
            let d = b
                .column_by_name("det_id")
                .map(|c| c.as_primitive::<arrow::datatypes::Int32Type>().clone());
            move |i: usize| {
                e.as_ref().is_some_and(|a| a.value(i) == exp_id)
                    && d.as_ref().is_some_and(|a| a.value(i) == det_id)
            }
        };
        // The field's rows of a flat table sorted by exposure.
        let flat = |file: &str| -> Result<Vec<RecordBatch>, QueryError> {
            let path = self.version.join(file);
            let mut out = Vec::new();
            for b in crate::hats::read_parquet_range(&path, None, "exp_id", exp_id, exp_id)? {
                out.extend(keep_rows(&b, is_field(&b), &self.hidden, None)?);
            }
            Ok(out)
        };
        let calibration = flat("calibration.parquet")?
            .into_iter()
            .next()
            .ok_or(QueryError::UnknownField(exp_id, det_id))?;
        let sources = flat("fields.parquet")?;
        // Movers and singles: a cone around the field's sources (all partitions if it has none).
        let mut region = None;
        let pos: Vec<(f64, f64)> = sources
            .iter()
            .filter_map(|b| {
                let r = b
                    .column_by_name("ra")?
                    .as_primitive::<Float64Type>()
                    .clone();
                let d = b
                    .column_by_name("dec")?
                    .as_primitive::<Float64Type>()
                    .clone();
                Some((0..b.num_rows()).map(move |i| (r.value(i), d.value(i))))
            })
            .flatten()
            .collect();
        let sum = pos.iter().fold([0.0; 3], |acc, &(r, d)| {
            let u = tomoe_core::angle::unit_vector(r, d);
            [acc[0] + u[0], acc[1] + u[1], acc[2] + u[2]]
        });
        if let Some((ra_c, dec_c)) = tomoe_core::angle::direction_of(sum) {
            // The sources' mean direction and their largest distance from it, plus a margin.
            let c = tomoe_core::angle::Cone::new(ra_c, dec_c, 0.0);
            let far = pos
                .iter()
                .map(|&(r, d)| c.cos_to(r, d).clamp(-1.0, 1.0).acos().to_degrees())
                .fold(0.0, f64::max);
            region = Some((ra_c, dec_c, (far + 0.2).min(10.0)));
        }
        let mut tables = [Vec::new(), Vec::new()];
        for (name, out) in ["movers", "singles"].iter().zip(tables.iter_mut()) {
            let cat = HatsCatalog::open(&self.version.join(name))?;
            let batches = match region {
                Some((r, d, rad)) => cat.cone(r, d, rad, None)?,
                None => cat.read_all(None)?,
            };
            for b in batches {
                out.extend(keep_rows(&b, is_field(&b), &self.hidden, None)?);
            }
        }
        let [movers, singles] = tables;
        Ok(FieldView {
            calibration,
            sources,
            movers,
            singles,
        })
    }

    /// Points of moving tracks between `t0` and `t1` (MJD, inclusive) when given, within a cone
    /// (`ra`, `dec`, radius [deg]) when given.
    pub fn movers(
        &self,
        t0: Option<f64>,
        t1: Option<f64>,
        cone: Option<(f64, f64, f64)>,
    ) -> Result<Vec<RecordBatch>, QueryError> {
        check_times(t0, t1)?;
        let cat = HatsCatalog::open(&self.version.join("movers"))?;
        let batches = match cone {
            Some((ra, dec, r)) => {
                check_cone(ra, dec, r)?;
                cat.cone(ra.rem_euclid(360.0), dec, r, None)?
            }
            None => cat.read_all(None)?,
        };
        let mut out = Vec::new();
        for b in batches {
            let m = b
                .column_by_name("mjd")
                .map(|c| c.as_primitive::<Float64Type>().clone());
            let pred = |i: usize| {
                let mjd = m.as_ref().map_or(f64::NAN, |a| a.value(i));
                t0.is_none_or(|t| mjd >= t) && t1.is_none_or(|t| mjd <= t)
            };
            out.extend(keep_rows(&b, pred, &self.hidden, None)?);
        }
        Ok(out)
    }
}
