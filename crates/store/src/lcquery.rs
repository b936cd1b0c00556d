//! Reading the published light-curve database: objects in a cone, the light curve of one
//! object, the nearest object to a position.
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
use std::path::{Path, PathBuf};

/// Errors of the queries.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is out of range (the message says which and why).
    #[error("{0}")]
    BadParameter(String),
    /// The object does not exist in the published version.
    #[error("no object {0} in the light-curve database")]
    UnknownObject(i64),
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
        let version = std::fs::canonicalize(root.join("current"))
            .map_err(|_| QueryError::Empty(root.to_path_buf()))?;
        Ok(Self {
            objects: HatsCatalog::open(&version.join("objects"))?,
            detections: HatsCatalog::open(&version.join("detections"))?,
            version,
        })
    }

    /// Schema of the objects table.
    pub fn objects_schema(&self) -> Result<arrow::datatypes::SchemaRef, QueryError> {
        Ok(self.objects.schema()?)
    }

    /// Schema of the detections table.
    pub fn detections_schema(&self) -> Result<arrow::datatypes::SchemaRef, QueryError> {
        Ok(self.detections.schema()?)
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

    /// `_healpix_29` of an object, if it exists.
    fn object_h29(&self, id: i64) -> Result<Option<u64>, QueryError> {
        // Gaia source_ids carry their order-12 HEALPix cell in the top bits: look only at the
        // partitions covering that cell.
        let pixels: Vec<Pixel> = if id > 0 {
            let cell12 = (id >> 35) as u64;
            self.objects
                .pixels()
                .iter()
                .copied()
                .filter(|p| {
                    if p.order <= 12 {
                        cell12 >> (2 * (12 - u32::from(p.order))) == p.npix
                    } else {
                        p.npix >> (2 * (u32::from(p.order) - 12)) == cell12
                    }
                })
                .collect()
        } else {
            self.objects.pixels().to_vec()
        };
        for p in pixels {
            for b in self
                .objects
                .read_partition(p, Some(&["_healpix_29", "object_id"]))?
            {
                let (Some(h), Some(o)) = (
                    b.column_by_name("_healpix_29"),
                    b.column_by_name("object_id"),
                ) else {
                    continue;
                };
                let (h, o) = (h.as_primitive::<Int64Type>(), o.as_primitive::<Int64Type>());
                if let Some(i) = (0..b.num_rows()).find(|&i| o.value(i) == id) {
                    return Ok(Some(h.value(i) as u64));
                }
            }
        }
        Ok(None)
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
        if let (Some(a), Some(b)) = (t0, t1) {
            if a > b || a.is_nan() || b.is_nan() {
                return Err(QueryError::BadParameter(format!(
                    "time range {a}..{b} is empty"
                )));
            }
        }
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
        let cols = with_columns(columns, &["object_id", "mjd", "time"]);
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
            let keep: BooleanArray = (0..b.num_rows())
                .map(|i| {
                    let mjd = m.as_ref().map_or(f64::NAN, |a| a.value(i));
                    Some(
                        o.as_ref().is_some_and(|a| a.value(i) == id)
                            && t0.is_none_or(|t| mjd >= t)
                            && t1.is_none_or(|t| mjd <= t),
                    )
                })
                .collect();
            let b = filter_record_batch(&b, &keep).map_err(HatsError::from)?;
            if b.num_rows() == 0 {
                continue;
            }
            let b = match columns {
                Some(c) => project_names(&b, c).map_err(HatsError::from)?,
                None => b,
            };
            out.push(b);
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
}
