//! The light-curve database on disk: published versions (nights and HATS tables), the registry.
//!
//! ```text
//! <root>/registry.parquet                        non-Gaia objects (id, mean position, count)
//! <root>/catalogs/vNNNNNN/{detections,objects,movers,singles}/   HATS catalogs
//!                        /calibration.parquet one row per (exposure, chip)
//!                        /fields.parquet      the static sources of each (exposure, chip), sorted
//!                        /object_index.parquet `_healpix_29` of each non-Gaia object, by id
//!                        /hidden.json         (exp_id, det_id) the objects' statistics leave out
//!                        /partition_nights.parquet rows of each night in each detections partition
//!                        /nights/<YYYY-MM-DD>/sources.parquet     one row per static track
//!                                            /movers.parquet      points of moving tracks
//!                                            /singles.parquet     single-frame events
//!                                            /calibration.parquet one row per (exposure, chip)
//!                                            /manifest.json       inputs, counts, time of ingest
//! <root>/current -> catalogs/vNNNNNN             what readers (LSDB, the web service) open
//! ```
//!
//! **Each detection is written once**, into the detections catalog of the version that publishes
//! its night. A new version hard-links the previous version's unchanged files (other nights'
//! tables, detections partitions the night does not touch) and rewrites only the partitions that
//! gain or lose rows ([`hats::plan_incremental`] keeps the previous partitions and splits the ones
//! that grow too large); re-ingesting a night drops the rows of its exposures first.
//!
//! **Atomic and idempotent.** The registry is saved *before* the version (an interrupted ingest
//! leaves at most unused ids, which are never handed out again). A version is built beside the
//! current one and made current by replacing the `current` link in one rename, so a reader sees
//! the previous version or the new one, never a mix, and a crash leaves the previous one; the
//! version before is kept for readers still using it. Writers take an exclusive lock on
//! `<root>/.lock`.
//!
//! **Partitioning.** Objects are placed by their position (Gaia's for Gaia objects, the mean of
//! the tracks otherwise); every detection carries its *object's* `_healpix_29`, so all detections
//! of an object live in the object's partition, sorted by object and time.

use crate::pipeline::{CalibrationRow, DetectionRow, MoverRow, SingleRow, StaticTrack};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tomoe_core::objects::{Object, Registry};
use tomoe_core::time::{CivilDate, UtcMicros};
use tomoe_core::{FastMap as HashMap, FastSet as HashSet};
use tomoe_store::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};
use tomoe_store::arrow::compute::concat_batches;
use tomoe_store::arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit,
};
use tomoe_store::arrow::record_batch::RecordBatch;
use tomoe_store::atomic::{sync_dir, write_atomic};
use tomoe_store::hats::{self, project_names, CatalogType, HatsOptions, Pixel};
use tomoe_store::parquet::arrow::ArrowWriter;
use tomoe_store::parquet::basic::{Compression, ZstdLevel};
use tomoe_store::parquet::file::properties::WriterProperties;

/// Errors of the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Parquet/Arrow/HATS.
    #[error("{path}: {message}")]
    Table {
        /// Where.
        path: PathBuf,
        /// What.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn table(path: &Path) -> impl FnOnce(String) -> DbError + '_ {
    move |message| DbError::Table {
        path: path.to_path_buf(),
        message,
    }
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn f32s(v: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float32Array::from_iter(
        v.map(|x| x.is_finite().then_some(x as f32)),
    ))
}

fn f64s(v: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter(
        v.map(|x| x.is_finite().then_some(x)),
    ))
}

fn times(v: impl Iterator<Item = UtcMicros>) -> Vec<ArrayRef> {
    let t: Vec<UtcMicros> = v.collect();
    vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(t.iter().map(|t| t.0)).with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from_iter_values(t.iter().map(|t| t.mjd()))),
    ]
}

fn time_fields() -> Vec<Field> {
    vec![
        Field::new("time", ts_type(), false),
        Field::new("mjd", DataType::Float64, false),
    ]
}

fn batch(fields: Vec<Field>, cols: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .unwrap_or_else(|e| unreachable!("columns match their schema: {e}"))
}

/// Schema of the detections table (without `_healpix_29`).
pub fn detections_schema() -> SchemaRef {
    detections_batch(&[]).schema()
}

/// Detections as Arrow.
pub fn detections_batch(rows: &[DetectionRow]) -> RecordBatch {
    let mut fields = vec![
        Field::new("object_id", DataType::Int64, false),
        Field::new("source_id", DataType::Int64, true),
        Field::new("exp_id", DataType::Int64, false),
        Field::new("det_id", DataType::Int32, false),
        Field::new("frame", DataType::Int32, false),
    ];
    fields.extend(time_fields());
    fields.extend([
        Field::new("x", DataType::Float32, false),
        Field::new("y", DataType::Float32, false),
        Field::new("ra", DataType::Float64, false),
        Field::new("dec", DataType::Float64, false),
        Field::new("flux", DataType::Float32, true),
        Field::new("flux_err", DataType::Float32, true),
        Field::new("mag_inst", DataType::Float32, true),
        Field::new("mag_inst_err", DataType::Float32, true),
        Field::new("mag", DataType::Float32, true),
        Field::new("mag_err", DataType::Float32, true),
        Field::new("flags", DataType::Int32, false),
        Field::new("phot_g_mean_mag", DataType::Float32, true),
        Field::new("bp_rp", DataType::Float32, true),
    ]);
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.object_id),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.source_id))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.exp_id))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.det_id))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.frame))),
    ];
    cols.extend(times(rows.iter().map(|r| r.time)));
    cols.extend([
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.x as f32),
        )) as ArrayRef,
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.y as f32),
        )),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.ra))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.dec))),
        f32s(rows.iter().map(|r| r.flux)),
        f32s(rows.iter().map(|r| r.flux_err)),
        f32s(rows.iter().map(|r| r.mag_inst)),
        f32s(rows.iter().map(|r| r.mag_inst_err)),
        f32s(rows.iter().map(|r| r.mag)),
        f32s(rows.iter().map(|r| r.mag_err)),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.flags))),
        f32s(rows.iter().map(|r| r.g)),
        f32s(rows.iter().map(|r| r.bp_rp)),
    ]);
    batch(fields, cols)
}

/// Static tracks of a night (one row per track, i.e. per object per (exposure, chip): where it
/// is on the chip and the sky, its median magnitude, its Gaia data).
pub fn sources_batch(tracks: &[(i64, &StaticTrack)]) -> RecordBatch {
    let fields = vec![
        Field::new("exp_id", DataType::Int64, false),
        Field::new("det_id", DataType::Int32, false),
        Field::new("object_id", DataType::Int64, false),
        Field::new("x", DataType::Float32, false),
        Field::new("y", DataType::Float32, false),
        Field::new("n_detected", DataType::Int32, false),
        Field::new("mag", DataType::Float32, true),
        Field::new("source_id", DataType::Int64, true),
        Field::new("ra", DataType::Float64, false),
        Field::new("dec", DataType::Float64, false),
        Field::new("gaia_ra", DataType::Float64, true),
        Field::new("gaia_dec", DataType::Float64, true),
        Field::new("phot_g_mean_mag", DataType::Float64, true),
        Field::new("bp_rp", DataType::Float64, true),
        Field::new("parallax", DataType::Float64, true),
        Field::new("pmra", DataType::Float64, true),
        Field::new("pmdec", DataType::Float64, true),
    ];
    let g = |f: fn(&crate::gaia::GaiaStar) -> f64| {
        f64s(
            tracks
                .iter()
                .map(move |(_, t)| t.gaia.as_ref().map_or(f64::NAN, f)),
        )
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            tracks.iter().map(|(_, t)| t.exp_id),
        )),
        Arc::new(Int32Array::from_iter_values(
            tracks.iter().map(|(_, t)| t.det_id),
        )),
        Arc::new(Int64Array::from_iter_values(
            tracks.iter().map(|(id, _)| *id),
        )),
        Arc::new(Float32Array::from_iter_values(
            tracks.iter().map(|(_, t)| t.x as f32),
        )),
        Arc::new(Float32Array::from_iter_values(
            tracks.iter().map(|(_, t)| t.y as f32),
        )),
        Arc::new(Int32Array::from_iter_values(
            tracks.iter().map(|(_, t)| t.n_detected),
        )),
        f32s(tracks.iter().map(|(_, t)| t.mag)),
        Arc::new(Int64Array::from_iter(
            tracks.iter().map(|(_, t)| t.gaia.map(|g| g.source_id)),
        )),
        Arc::new(Float64Array::from_iter_values(
            tracks.iter().map(|(_, t)| t.ra),
        )),
        Arc::new(Float64Array::from_iter_values(
            tracks.iter().map(|(_, t)| t.dec),
        )),
        g(|s| s.ra()),
        g(|s| s.dec()),
        g(|s| s.g()),
        g(|s| s.bp_rp()),
        g(|s| s.v[6]),
        g(|s| s.v[crate::gaia::PMRA]),
        g(|s| s.v[crate::gaia::PMDEC]),
    ];
    batch(fields, cols)
}

/// Moving-track points as Arrow.
pub fn movers_batch(rows: &[MoverRow]) -> RecordBatch {
    let mut fields = vec![
        Field::new("exp_id", DataType::Int64, false),
        Field::new("det_id", DataType::Int32, false),
        Field::new("track", DataType::Int32, false),
        Field::new("frame", DataType::Int32, false),
    ];
    fields.extend(time_fields());
    fields.extend([
        Field::new("x", DataType::Float32, false),
        Field::new("y", DataType::Float32, false),
        Field::new("ra", DataType::Float64, false),
        Field::new("dec", DataType::Float64, false),
        Field::new("flux", DataType::Float32, true),
        Field::new("flux_err", DataType::Float32, true),
        Field::new("mag", DataType::Float32, true),
        Field::new("rate_px_s", DataType::Float64, false),
        Field::new("rate_err_px_s", DataType::Float64, false),
        Field::new("rate_arcsec_s", DataType::Float64, false),
        Field::new("direction_deg", DataType::Float64, false),
        Field::new("direction_err_deg", DataType::Float64, false),
        Field::new("n_points", DataType::Int32, false),
    ]);
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.exp_id))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.det_id))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.track))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.frame))),
    ];
    cols.extend(times(rows.iter().map(|r| r.time)));
    cols.extend([
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.x as f32),
        )) as ArrayRef,
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.y as f32),
        )),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.ra))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.dec))),
        f32s(rows.iter().map(|r| r.flux)),
        f32s(rows.iter().map(|r| r.flux_err)),
        f32s(rows.iter().map(|r| r.mag)),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.rate_px_s),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.rate_err_px_s),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.rate_arcsec_s),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.direction_deg),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.direction_err_deg),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.n_points),
        )),
    ]);
    batch(fields, cols)
}

/// Single events as Arrow.
pub fn singles_batch(rows: &[SingleRow]) -> RecordBatch {
    let mut fields = vec![
        Field::new("exp_id", DataType::Int64, false),
        Field::new("det_id", DataType::Int32, false),
        Field::new("frame", DataType::Int32, false),
    ];
    fields.extend(time_fields());
    fields.extend([
        Field::new("x", DataType::Float32, false),
        Field::new("y", DataType::Float32, false),
        Field::new("ra", DataType::Float64, false),
        Field::new("dec", DataType::Float64, false),
        Field::new("flux", DataType::Float32, true),
        Field::new("flux_err", DataType::Float32, true),
        Field::new("mag", DataType::Float32, true),
        Field::new("flags", DataType::Int32, false),
    ]);
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.exp_id))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.det_id))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.frame))),
    ];
    cols.extend(times(rows.iter().map(|r| r.time)));
    cols.extend([
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.x as f32),
        )) as ArrayRef,
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.y as f32),
        )),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.ra))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.dec))),
        f32s(rows.iter().map(|r| r.flux)),
        f32s(rows.iter().map(|r| r.flux_err)),
        f32s(rows.iter().map(|r| r.mag)),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.flags))),
    ]);
    batch(fields, cols)
}

/// The calibration table as Arrow.
pub fn calibration_batch(rows: &[CalibrationRow]) -> RecordBatch {
    let mut fields = vec![
        Field::new("exp_id", DataType::Int64, false),
        Field::new("det_id", DataType::Int32, false),
        Field::new("frame_id", DataType::Utf8, false),
        Field::new("file_name", DataType::Utf8, false),
        Field::new("width", DataType::Int32, false),
        Field::new("height", DataType::Int32, false),
        Field::new("night", DataType::Utf8, false),
    ];
    fields.extend(time_fields());
    fields.extend([
        Field::new("calibrated", DataType::Boolean, false),
        Field::new("zp", DataType::Float64, true),
        Field::new("zp_err", DataType::Float64, true),
        Field::new("colour_term", DataType::Float64, true),
        Field::new("colour_term_err", DataType::Float64, true),
        Field::new("scatter", DataType::Float64, true),
        Field::new("n_stars", DataType::Int32, false),
        Field::new("n_clipped", DataType::Int32, false),
        Field::new("median_bp_rp", DataType::Float64, true),
        Field::new("n_static", DataType::Int32, false),
        Field::new("n_gaia", DataType::Int32, false),
        Field::new("n_moving", DataType::Int32, false),
        Field::new("n_single", DataType::Int32, false),
        Field::new("n_detections", DataType::Int64, false),
    ]);
    let fit = |f: fn(&tomoe_core::calib::Calibration) -> f64| {
        f64s(rows.iter().map(move |r| r.fit.as_ref().map_or(f64::NAN, f)))
    };
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.exp_id))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.det_id))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.frame_id.clone()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.file_name.clone()),
        )),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.width))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.height))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.night.to_string()),
        )),
    ];
    cols.extend(times(rows.iter().map(|r| r.time)));
    cols.extend([
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.fit.is_some())),
        )) as ArrayRef,
        fit(|c| c.zp),
        fit(|c| c.zp_err),
        fit(|c| c.colour),
        fit(|c| c.colour_err),
        fit(|c| c.scatter),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.fit.map_or(0, |c| c.n_used as i32)),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.fit.map_or(0, |c| c.n_clipped as i32)),
        )),
        f64s(rows.iter().map(|r| r.median_colour)),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.n_static),
        )),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.n_gaia))),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.n_moving),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.n_single),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.n_detections),
        )),
    ]);
    batch(fields, cols)
}

fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_max_row_group_row_count(Some(128 * 1024))
        .build()
}

/// Rows per row group of the published detections catalog: a light curve decodes the one or two
/// row groups holding its object, so smaller groups answer faster (the footer grows with the
/// number of groups, but readers cache it: `tomoe_store::hats`).
pub const LOOKUP_ROW_GROUP_ROWS: usize = 8 * 1024;

/// Compression of the published objects and detections catalogs: Snappy, whose decoder needs
/// no per-page set-up (zstd's context creation per page cost a millisecond-scale query a third
/// of its time), at ~1.5 × the size of zstd level 1.
pub const LOOKUP_COMPRESSION: Compression = Compression::SNAPPY;

/// How the published detections catalog is written (by the ingest and by [`crate::synth`]).
pub(crate) fn detections_options(partition_rows: usize) -> HatsOptions {
    let mut opt = HatsOptions::new("tomoe_detections", CatalogType::Source);
    opt.max_rows = partition_rows;
    opt.max_order = 12;
    opt.row_group_rows = LOOKUP_ROW_GROUP_ROWS;
    opt.compression = LOOKUP_COMPRESSION;
    opt.sort_by = vec!["object_id".into(), "time".into()];
    opt
}

/// Rows per row group of the published objects catalog: a 1′ cone holds ~10 objects, and a
/// group's every column is decoded, so they are small.
pub const OBJECT_ROW_GROUP_ROWS: usize = 1024;

/// A night's small tables (sources, movers, singles, calibration; rebuilt into the published
/// catalogs): fast Snappy, no dictionaries, no statistics.
fn night_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(tomoe_store::parquet::file::properties::EnabledStatistics::None)
        .set_max_row_group_row_count(Some(256 * 1024))
        .build()
}

/// Writes one batch as a Parquet file (not atomic by itself: used inside a directory that is
/// swapped in whole, or through [`write_atomic`]).
fn write_parquet_file(path: &Path, b: &RecordBatch) -> Result<(), DbError> {
    write_parquet_with(path, b, night_props())
}

/// A published flat table: zstd, page statistics and row groups of 16 384 rows, so that readers
/// skip the row groups whose (exp_id, det_id) range does not hold what they look for.
fn write_indexed_parquet(path: &Path, b: &RecordBatch) -> Result<(), DbError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_max_row_group_row_count(Some(16 * 1024))
        .build();
    write_parquet_with(path, b, props)
}

fn write_parquet_with(
    path: &Path,
    b: &RecordBatch,
    props: WriterProperties,
) -> Result<(), DbError> {
    let f = fs::File::create(path).map_err(io(path))?;
    let mut w =
        ArrowWriter::try_new(f, b.schema(), Some(props)).map_err(|e| table(path)(e.to_string()))?;
    w.write(b).map_err(|e| table(path)(e.to_string()))?;
    let f = w.into_inner().map_err(|e| table(path)(e.to_string()))?;
    f.sync_all().map_err(io(path))
}

/// `object_index.parquet`: `_healpix_29` of every object that is not in Gaia, sorted by
/// object_id, so that a light curve finds a non-Gaia object's partition by reading one row group
/// (a Gaia id carries its HEALPix cell in its top bits and needs no index).
pub(crate) fn write_object_index(
    vdir: &Path,
    objects: impl Iterator<Item = (i64, u64)>,
) -> Result<(), DbError> {
    let mut rows: Vec<(i64, i64)> = objects
        .filter(|(id, _)| *id <= 0)
        .map(|(id, h)| (id, h as i64))
        .collect();
    rows.sort_unstable();
    let b = batch(
        vec![
            Field::new("object_id", DataType::Int64, false),
            Field::new(hats::HEALPIX_COLUMN, DataType::Int64, false),
        ],
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ],
    );
    write_indexed_parquet(&vdir.join("object_index.parquet"), &b)
}

fn read_parquet_file(path: &Path) -> Result<Vec<RecordBatch>, DbError> {
    tomoe_store::obslog::read_parquet(path, None).map_err(|e| table(path)(e.to_string()))
}

/// A night's results, ready to be written.
#[derive(Debug, Default)]
pub struct NightTables {
    /// Number of detections (they are published straight into the detections catalog).
    pub detections: usize,
    /// Static tracks with their object ids.
    pub sources: Option<RecordBatch>,
    /// Moving-track points.
    pub movers: Vec<MoverRow>,
    /// Single events.
    pub singles: Vec<SingleRow>,
    /// Calibrations.
    pub calibration: Vec<CalibrationRow>,
    /// The inputs (for the manifest).
    pub inputs: Vec<PathBuf>,
}

/// What [`LcDb::publish`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishReport {
    /// The version directory.
    pub version: PathBuf,
    /// Detections.
    pub detections: usize,
    /// Objects.
    pub objects: usize,
    /// Moving-track points.
    pub movers: usize,
    /// Single events.
    pub singles: usize,
    /// Partitions of the detections catalog.
    pub partitions: usize,
}

/// The database at a root directory.
#[derive(Debug, Clone)]
pub struct LcDb {
    root: PathBuf,
    hidden: Arc<std::collections::HashSet<(i64, i32)>>,
}

/// An exclusive writer lock on the database (released on drop).
#[derive(Debug)]
pub struct WriteLock {
    _file: fs::File,
}

impl LcDb {
    /// The database at `root` (created on first write).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            hidden: Arc::default(),
        }
    }

    /// The (exp_id, det_id) pairs the archive's blocklist hides: publishing leaves their
    /// measurements out of the objects' statistics (and objects seen only there out of the
    /// objects catalog). The measurements themselves stay in the detections catalog; readers hide
    /// them (`tomoe_store::lcquery::LcRead::with_hidden`), so lifting a rule needs no rebuild of
    /// them.
    pub fn with_hidden(mut self, hidden: Arc<std::collections::HashSet<(i64, i32)>>) -> Self {
        self.hidden = hidden;
        self
    }

    /// The hidden chips the current version's object statistics leave out (empty when nothing
    /// is published or the version predates this record).
    pub fn published_hidden(&self) -> std::collections::HashSet<(i64, i32)> {
        self.current()
            .and_then(|v| fs::read(v.join("hidden.json")).ok())
            .and_then(|b| serde_json::from_slice::<Vec<(i64, i32)>>(&b).ok())
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    /// Publishes a new version from the nights as they are (after the blocklist changed).
    pub fn republish(
        &self,
        partition_rows: usize,
        radius_arcsec: f64,
    ) -> Result<PublishReport, DbError> {
        let _lock = self.lock()?;
        let registry = self.load_registry(radius_arcsec)?;
        self.publish(partition_rows, &registry, None)
    }

    /// Its root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the writer lock (waits for another writer to finish).
    pub fn lock(&self) -> Result<WriteLock, DbError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let p = self.root.join(".lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io(&p))?;
        f.lock().map_err(io(&p))?;
        Ok(WriteLock { _file: f })
    }

    /// Nights in the published version, sorted.
    pub fn nights(&self) -> Result<Vec<CivilDate>, DbError> {
        match self.current() {
            Some(v) => Ok(night_dirs(&v.join("nights"))?
                .into_iter()
                .map(|(n, _)| n)
                .collect()),
            None => Ok(Vec::new()),
        }
    }

    /// The inputs of a night's last ingest (from its manifest in the published version).
    pub fn night_inputs(&self, night: CivilDate) -> Option<Vec<PathBuf>> {
        let dir = self.current()?.join("nights").join(night.to_string());
        let text = fs::read_to_string(dir.join("manifest.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some(
            v.get("inputs")?
                .as_array()?
                .iter()
                .filter_map(|x| x.as_str().map(PathBuf::from))
                .collect(),
        )
    }

    /// The registry of non-Gaia objects as saved.
    pub fn load_registry(&self, radius_arcsec: f64) -> Result<Registry, DbError> {
        let p = self.root.join("registry.parquet");
        if !p.exists() {
            return Ok(Registry::new(radius_arcsec));
        }
        let b = read_parquet_file(&p)?;
        let mut objs = Vec::new();
        let mut next = 1i64;
        for b in &b {
            let col = |n: &str| {
                b.column_by_name(n)
                    .cloned()
                    .ok_or_else(|| table(&p)(format!("no column {n}")))
            };
            let (id, ra, dec, n) = (col("id")?, col("ra")?, col("dec")?, col("n")?);
            let (id, ra, dec, n) = (
                id.as_primitive::<Int64Type>(),
                ra.as_primitive::<Float64Type>(),
                dec.as_primitive::<Float64Type>(),
                n.as_primitive::<Int64Type>(),
            );
            for i in 0..b.num_rows() {
                objs.push(Object {
                    id: id.value(i),
                    ra: ra.value(i),
                    dec: dec.value(i),
                    n: n.value(i) as u64,
                });
            }
            if let Some(v) = b.schema().metadata().get("next_id") {
                next = v
                    .parse()
                    .map_err(|_| table(&p)(format!("bad next_id {v:?}")))?;
            }
        }
        Ok(Registry::restore(radius_arcsec, &objs, next))
    }

    /// Saves the registry atomically.
    pub fn save_registry(&self, r: &Registry) -> Result<(), DbError> {
        let p = self.root.join("registry.parquet");
        let o = r.objects();
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("ra", DataType::Float64, false),
            Field::new("dec", DataType::Float64, false),
            Field::new("n", DataType::Int64, false),
        ])
        .with_metadata([("next_id".to_string(), r.next_id().to_string())].into());
        let b = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from_iter_values(o.iter().map(|o| o.id))),
                Arc::new(Float64Array::from_iter_values(o.iter().map(|o| o.ra))),
                Arc::new(Float64Array::from_iter_values(o.iter().map(|o| o.dec))),
                Arc::new(Int64Array::from_iter_values(o.iter().map(|o| o.n as i64))),
            ],
        )
        .map_err(|e| table(&p)(e.to_string()))?;
        write_atomic(&p, |f| {
            let mut w = ArrowWriter::try_new(f.try_clone()?, b.schema(), Some(props()))
                .map_err(std::io::Error::other)?;
            w.write(&b).map_err(std::io::Error::other)?;
            w.close().map_err(std::io::Error::other)?;
            Ok(())
        })
        .map_err(io(&p))
    }

    /// Writes a night's tables other than its detections into `dir` (of a version being built).
    fn write_night_tables(dir: &Path, night: CivilDate, t: &NightTables) -> Result<(), DbError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let src = t.sources.clone().unwrap_or_else(|| sources_batch(&[]));
        write_parquet_file(&dir.join("sources.parquet"), &src)?;
        write_parquet_file(&dir.join("movers.parquet"), &movers_batch(&t.movers))?;
        write_parquet_file(&dir.join("singles.parquet"), &singles_batch(&t.singles))?;
        write_parquet_file(
            &dir.join("calibration.parquet"),
            &calibration_batch(&t.calibration),
        )?;
        let manifest = serde_json::json!({
            "night": night.to_string(),
            "ingested_at": UtcMicros::now().to_iso(),
            "inputs": t.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "detections": t.detections,
            "movers": t.movers.len(),
            "singles": t.singles.len(),
            "calibrations": t.calibration.len(),
        });
        let mp = dir.join("manifest.json");
        fs::write(
            &mp,
            serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
        )
        .map_err(io(&mp))?;
        sync_dir(dir).map_err(io(dir))
    }

    /// The published version readers should open (`<root>/current`), if any.
    pub fn current(&self) -> Option<PathBuf> {
        let link = self.root.join("current");
        fs::canonicalize(&link).ok()
    }

    /// `file` of every night of the version `vdir`, read in parallel.
    fn read_nights(vdir: &Path, file: &str) -> Result<Vec<RecordBatch>, DbError> {
        use rayon::prelude::*;
        let paths: Vec<PathBuf> = night_dirs(&vdir.join("nights"))?
            .into_iter()
            .map(|(_, d)| d.join(file))
            .collect();
        let parts: Vec<Vec<RecordBatch>> = paths
            .par_iter()
            .map(|p| read_parquet_file(p))
            .collect::<Result<_, _>>()?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Publishes a new version and makes it current: the previous version's nights and
    /// detections with `fresh` (a night just analysed) added, or replacing the night of the same
    /// date. Nothing else is kept anywhere: every detection is written once, into the version's
    /// detections catalog, and the partitions a night does not touch are hard-linked from the
    /// previous version. With `fresh` = `None` the detections stay as they are and the objects'
    /// statistics are recomputed (after the blocklist changed).
    pub fn publish(
        &self,
        partition_rows: usize,
        registry: &Registry,
        fresh: Option<FreshNight<'_>>,
    ) -> Result<PublishReport, DbError> {
        let legacy = self.root.join("nights");
        if legacy.exists() {
            return Err(table(&legacy)(
                "a light-curve database written by tomoe before 2026-11-26, which kept each \
                 night's detections here; its published catalogs stay readable, but to add to it, \
                 move it aside and ingest its nights into a new root"
                    .into(),
            ));
        }
        let cats = self.root.join("catalogs");
        fs::create_dir_all(&cats).map_err(io(&cats))?;
        let mut versions: Vec<u64> = fs::read_dir(&cats)
            .map_err(io(&cats))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix('v')?
                    .parse()
                    .ok()
            })
            .collect();
        versions.sort_unstable();
        let next = versions.last().map_or(1, |v| v + 1);
        let vdir = cats.join(format!("v{next:06}"));
        if vdir.exists() {
            fs::remove_dir_all(&vdir).map_err(io(&vdir))?;
        }
        fs::create_dir_all(&vdir).map_err(io(&vdir))?;
        let prev = self.current();
        let res = self.build_version(&vdir, prev.as_deref(), partition_rows, registry, fresh);
        let report = match res {
            Ok(r) => r,
            Err(e) => {
                let _ = fs::remove_dir_all(&vdir);
                return Err(e);
            }
        };
        // Swap the `current` link in one rename.
        let link = self.root.join("current");
        let tmp_link = self.root.join(format!(".current.{}", std::process::id()));
        let _ = fs::remove_file(&tmp_link);
        std::os::unix::fs::symlink(Path::new("catalogs").join(format!("v{next:06}")), &tmp_link)
            .map_err(io(&tmp_link))?;
        fs::rename(&tmp_link, &link).map_err(io(&link))?;
        sync_dir(&self.root).map_err(io(&self.root))?;
        // Keep the version before (readers may still hold it); remove older ones (their files
        // live on through the hard links of the newer versions).
        let keep = prev.as_deref().and_then(|p| p.file_name());
        for v in &versions {
            let name = format!("v{v:06}");
            if Some(std::ffi::OsStr::new(&name)) != keep {
                let _ = fs::remove_dir_all(cats.join(name));
            }
        }
        Ok(report)
    }

    fn build_version(
        &self,
        vdir: &Path,
        prev: Option<&Path>,
        partition_rows: usize,
        registry: &Registry,
        fresh: Option<FreshNight<'_>>,
    ) -> Result<PublishReport, DbError> {
        let t0 = std::time::Instant::now();
        let err = |p: &Path| {
            let p = p.to_path_buf();
            move |e: tomoe_store::hats::HatsError| DbError::Table {
                path: p,
                message: e.to_string(),
            }
        };
        let arrow_err = |e: tomoe_store::arrow::error::ArrowError| table(vdir)(e.to_string());
        // The nights: the previous version's (hard-linked) and the fresh one, replacing its date.
        let replaced = fresh.as_ref().map(|f| f.night);
        let ndir = vdir.join("nights");
        fs::create_dir_all(&ndir).map_err(io(&ndir))?;
        let prev_nights = match prev {
            Some(p) => night_dirs(&p.join("nights"))?,
            None => Vec::new(),
        };
        let mut removed_exps: HashSet<i64> = HashSet::default();
        for (n, d) in &prev_nights {
            if Some(*n) != replaced {
                link_dir(d, &ndir.join(n.to_string()))?;
                continue;
            }
            for b in read_parquet_file(&d.join("calibration.parquet"))? {
                let e = b
                    .column_by_name("exp_id")
                    .ok_or_else(|| table(d)("calibration without exp_id".into()))?;
                removed_exps.extend(e.as_primitive::<Int64Type>().values().iter());
            }
        }
        // The fresh night's tables are written while its objects are placed (both take a while
        // and neither needs the other: the fresh rows are in memory).
        let (written, placed) = rayon::join(
            || -> Result<(), DbError> {
                if let Some(f) = &fresh {
                    Self::write_night_tables(&ndir.join(f.night.to_string()), f.night, f.tables)?;
                }
                sync_dir(&ndir).map_err(io(&ndir))
            },
            || -> Result<_, DbError> {
                // Objects: positions and Gaia data from the nights' source rows (Gaia position
                // for Gaia objects; the registry's mean position for the others).
                let mut src_batches = Vec::new();
                for (n, d) in &prev_nights {
                    if Some(*n) != replaced {
                        src_batches.extend(read_parquet_file(&d.join("sources.parquet"))?);
                    }
                }
                if let Some(f) = &fresh {
                    src_batches.push(
                        f.tables
                            .sources
                            .clone()
                            .unwrap_or_else(|| sources_batch(&[])),
                    );
                }
                let src = concat_batches(&sources_batch(&[]).schema(), &src_batches)
                    .map_err(arrow_err)?;
                let objects = object_infos(&src, registry);
                let fresh_tracks = match &fresh {
                    Some(f) => sorted_tracks(&f.tracks, &objects)?,
                    None => Vec::new(),
                };
                Ok((src, objects, fresh_tracks))
            },
        );
        written?;
        let (src, objects, fresh_tracks) = placed?;
        // Exposure → night, for the record of which nights each partition holds.
        let cal = Self::read_nights(vdir, "calibration.parquet")?;
        let cal = concat_batches(&calibration_batch(&[]).schema(), &cal).map_err(arrow_err)?;
        let exp_night: HashMap<i64, CivilDate> = {
            let e = cal
                .column_by_name("exp_id")
                .map(|c| c.as_primitive::<Int64Type>().values().to_vec())
                .unwrap_or_default();
            let n = cal
                .column_by_name("night")
                .map(|c| {
                    c.as_string::<i32>()
                        .iter()
                        .map(|v| v.unwrap_or("").to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            e.into_iter()
                .zip(n)
                .filter_map(|(e, n)| CivilDate::parse(&n).ok().map(|n| (e, n)))
                .collect()
        };
        tracing::debug!(
            seconds = t0.elapsed().as_secs_f64(),
            "publish: nights and objects"
        );
        // Detections.
        let old = match prev {
            Some(p) if p.join("detections").exists() => Some(OldDetections::open(p)?),
            _ => None,
        };
        let mut fresh_h29: Vec<u64> =
            Vec::with_capacity(fresh_tracks.iter().map(|t| t.track.rows.len()).sum());
        for t in &fresh_tracks {
            fresh_h29.extend(std::iter::repeat_n(t.h29, t.track.rows.len()));
        }
        let old_parts = old.as_ref().map_or_else(Vec::new, |o| o.kept(replaced));
        let det_path = vdir.join("detections");
        let plan =
            hats::plan_incremental(
                &old_parts,
                &fresh_h29,
                partition_rows,
                12,
                &mut |p| match &old {
                    Some(o) => o.kept_h29(p, &removed_exps),
                    None => Ok(Vec::new()),
                },
            )
            .map_err(err(&det_path))?;
        drop(fresh_h29);
        tracing::debug!(
            seconds = t0.elapsed().as_secs_f64(),
            partitions = plan.len(),
            "publish: detections planned"
        );
        let mut fields: Vec<Arc<Field>> = vec![Arc::new(Field::new(
            hats::HEALPIX_COLUMN,
            DataType::Int64,
            false,
        ))];
        fields.extend(detections_schema().fields().iter().cloned());
        let det_schema = Arc::new(Schema::new(fields));
        let record = std::sync::Mutex::new(Vec::<(Pixel, CivilDate, usize)>::new());
        let stats = std::sync::Mutex::new(HashMap::<i64, ObjectStats>::default());
        let pixels: Vec<Pixel> = plan.iter().map(|p| p.0).collect();
        let produce = |pixel: Pixel| -> Result<hats::Partition, tomoe_store::hats::HatsError> {
            let (lo, hi) = pixel.range29();
            let a = fresh_tracks.partition_point(|t| t.h29 < lo);
            let b = fresh_tracks.partition_point(|t| t.h29 < hi);
            let new = &fresh_tracks[a..b];
            let inv = |m: String| tomoe_store::hats::HatsError::Invalid(m);
            let (part, nights) = match &old {
                Some(o) if new.is_empty() && o.unchanged(pixel, replaced) => {
                    let path = o.cat.partition_path(pixel);
                    let cols = ["object_id", "mjd", "mag", "mag_err", "exp_id", "det_id"];
                    let b = o.cat.read_partition(pixel, Some(&cols))?;
                    self.add_stats(&stats, &b).map_err(|e| inv(e.to_string()))?;
                    let nights = o.nights_of(pixel).cloned().unwrap_or_default();
                    (hats::Partition::Link(path), nights)
                }
                _ => {
                    let mut parts = match &old {
                        Some(o) => o.kept_rows_in(pixel, &removed_exps)?,
                        None => Vec::new(),
                    };
                    let had_old = !parts.is_empty();
                    if !new.is_empty() {
                        parts.push(fresh_batch(&det_schema, new).map_err(|e| inv(e.to_string()))?);
                    }
                    let sorted = if had_old {
                        hats::sort_rows(&parts, &["object_id".into(), "time".into()])?
                    } else {
                        parts.pop()
                    };
                    let b = sorted.unwrap_or_else(|| RecordBatch::new_empty(det_schema.clone()));
                    self.add_stats(&stats, std::slice::from_ref(&b))
                        .map_err(|e| inv(e.to_string()))?;
                    let mut nights: BTreeMap<CivilDate, usize> = BTreeMap::new();
                    let exps = b
                        .column_by_name("exp_id")
                        .map(|c| c.as_primitive::<Int64Type>().values().to_vec())
                        .unwrap_or_default();
                    let mut last: Option<(i64, CivilDate)> = None;
                    for e in exps {
                        let n = match last {
                            Some((l, n)) if l == e => n,
                            _ => {
                                let n = *exp_night.get(&e).ok_or_else(|| {
                                    inv(format!("detections of exposure {e}, which no night's calibration lists"))
                                })?;
                                last = Some((e, n));
                                n
                            }
                        };
                        *nights.entry(n).or_default() += 1;
                    }
                    (hats::Partition::Rows(b), nights)
                }
            };
            record
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(nights.into_iter().map(|(n, c)| (pixel, n, c)));
            Ok(part)
        };
        let opt = detections_options(partition_rows);
        // The small catalogs and tables, written while the detections are (on a 2-core machine the
        // last detection partitions would otherwise leave a core idle).
        let tail = || -> Result<(usize, usize), DbError> {
            // Movers and singles by their own positions.
            let (mut n_mov, mut singles) = (0, 0);
            for (name, file, schema) in [
                ("movers", "movers.parquet", movers_batch(&[]).schema()),
                ("singles", "singles.parquet", singles_batch(&[]).schema()),
            ] {
                let b = Self::read_nights(vdir, file)?;
                let b = concat_batches(&schema, &b).map_err(arrow_err)?;
                if name == "movers" {
                    n_mov = b.num_rows();
                } else {
                    singles = b.num_rows();
                }
                let mut opt = HatsOptions::new(&format!("tomoe_{name}"), CatalogType::Source);
                opt.max_rows = partition_rows;
                opt.max_order = 12;
                opt.sort_by = vec!["time".into()];
                let p = vdir.join(name);
                hats::write_catalog(&p, b.schema(), &[b], &opt).map_err(err(&p))?;
            }
            // Fields: the static sources of every (exposure, chip), sorted by them, so that a field
            // page reads the few row groups of its exposure (row-group statistics).
            let fields_batch = {
                let cols = [
                    "exp_id",
                    "det_id",
                    "object_id",
                    "x",
                    "y",
                    "n_detected",
                    "mag",
                    "source_id",
                    "ra",
                    "dec",
                    "phot_g_mean_mag",
                    "bp_rp",
                ];
                let b = project_names(&src, &cols).map_err(|e| table(vdir)(e.to_string()))?;
                let (e, d, o) = (
                    b.column(0).as_primitive::<Int64Type>().values(),
                    b.column(1)
                        .as_primitive::<tomoe_store::arrow::datatypes::Int32Type>()
                        .values(),
                    b.column(2).as_primitive::<Int64Type>().values(),
                );
                let mut keys: Vec<(i64, i32, i64, u32)> = (0..b.num_rows())
                    .map(|i| (e[i], d[i], o[i], i as u32))
                    .collect();
                {
                    use rayon::prelude::*;
                    keys.par_sort_unstable();
                }
                let order = tomoe_store::arrow::array::UInt32Array::from_iter_values(
                    keys.iter().map(|k| k.3),
                );
                tomoe_store::arrow::compute::take_record_batch(&b, &order).map_err(arrow_err)?
            };
            write_indexed_parquet(&vdir.join("fields.parquet"), &fields_batch)?;
            tracing::debug!(
                seconds = t0.elapsed().as_secs_f64(),
                "publish: movers, singles and fields written"
            );
            // The hidden chips these statistics leave out (`lc run` republishes when they change).
            let mut hidden: Vec<(i64, i32)> = self.hidden.iter().copied().collect();
            hidden.sort_unstable();
            let hpath = vdir.join("hidden.json");
            fs::write(
                &hpath,
                serde_json::to_vec(&hidden).map_err(|e| table(&hpath)(e.to_string()))?,
            )
            .map_err(io(&hpath))?;
            write_indexed_parquet(&vdir.join("calibration.parquet"), &cal)?;
            Ok((n_mov, singles))
        };
        let (dsum, tail) = rayon::join(
            || hats::write_catalog_with(&det_path, det_schema.clone(), &pixels, produce, &opt),
            tail,
        );
        let dsum = dsum.map_err(err(&det_path))?;
        let (n_mov, singles) = tail?;
        drop(fresh_tracks);
        write_partition_nights(vdir, record.into_inner().unwrap_or_else(|e| e.into_inner()))?;
        tracing::debug!(
            seconds = t0.elapsed().as_secs_f64(),
            "publish: detections catalog written"
        );
        // Objects, with the statistics of the measurements the blocklist does not hide.
        let stats = stats.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<i64> = objects
            .keys()
            .copied()
            .filter(|id| self.hidden.is_empty() || stats.contains_key(id))
            .collect();
        ids.sort_unstable();
        write_object_index(
            vdir,
            ids.iter().map(|id| {
                (
                    *id,
                    tomoe_core::healpix::hash29(objects[id].ra, objects[id].dec),
                )
            }),
        )?;
        let obj_batch = objects_batch(&ids, &objects, &stats);
        let mut opt = HatsOptions::new("tomoe_objects", CatalogType::Object);
        opt.max_rows = partition_rows;
        opt.max_order = 12;
        opt.row_group_rows = OBJECT_ROW_GROUP_ROWS;
        opt.compression = LOOKUP_COMPRESSION;
        opt.sort_by = vec!["object_id".into()];
        let p = vdir.join("objects");
        hats::write_catalog(&p, obj_batch.schema(), &[obj_batch], &opt).map_err(err(&p))?;
        tracing::debug!(
            seconds = t0.elapsed().as_secs_f64(),
            "publish: objects catalog written"
        );
        sync_dir(vdir).map_err(io(vdir))?;
        tracing::debug!(
            seconds = t0.elapsed().as_secs_f64(),
            "publish: version complete"
        );
        Ok(PublishReport {
            version: vdir.to_path_buf(),
            detections: dsum.rows,
            objects: ids.len(),
            movers: n_mov,
            singles,
            partitions: dsum.partitions.len(),
        })
    }

    /// Adds the statistics of the objects in `b` (one partition: every object's rows are there)
    /// from the measurements the blocklist does not hide.
    fn add_stats(
        &self,
        into: &std::sync::Mutex<HashMap<i64, ObjectStats>>,
        b: &[RecordBatch],
    ) -> Result<(), tomoe_store::arrow::error::ArrowError> {
        let visible: Vec<RecordBatch> = b
            .iter()
            .map(|b| tomoe_store::lcquery::without_hidden(b, &self.hidden))
            .collect::<Result<_, _>>()?;
        let s = object_stats(&visible);
        into.lock().unwrap_or_else(|e| e.into_inner()).extend(s);
        Ok(())
    }
}

/// The nights of a version (`<version>/nights/<YYYY-MM-DD>`), sorted.
fn night_dirs(dir: &Path) -> Result<Vec<(CivilDate, PathBuf)>, DbError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out: Vec<(CivilDate, PathBuf)> = fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            CivilDate::parse(&e.file_name().to_string_lossy())
                .ok()
                .map(|n| (n, e.path()))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Hard-links every file of `from` into a new directory `to`.
fn link_dir(from: &Path, to: &Path) -> Result<(), DbError> {
    fs::create_dir_all(to).map_err(io(to))?;
    for e in fs::read_dir(from).map_err(io(from))? {
        let e = e.map_err(io(from))?;
        fs::hard_link(e.path(), to.join(e.file_name())).map_err(io(&e.path()))?;
    }
    Ok(())
}

/// The objects of the nights' source rows: Gaia data, and the position that places them (Gaia's
/// for Gaia objects, the registry's mean for the others).
fn object_infos(src: &RecordBatch, registry: &Registry) -> HashMap<i64, ObjectInfo> {
    let reg: HashMap<i64, (f64, f64)> = registry
        .objects()
        .iter()
        .map(|o| (o.id, (o.ra, o.dec)))
        .collect();
    let mut objects: HashMap<i64, ObjectInfo> = HashMap::default();
    let c = |n: &str| {
        src.column_by_name(n)
            .cloned()
            .unwrap_or_else(|| unreachable!("sources column {n}"))
    };
    let (oid, sid, ra, dec, gra, gdec, g, bprp, plx, pmra, pmdec) = (
        c("object_id"),
        c("source_id"),
        c("ra"),
        c("dec"),
        c("gaia_ra"),
        c("gaia_dec"),
        c("phot_g_mean_mag"),
        c("bp_rp"),
        c("parallax"),
        c("pmra"),
        c("pmdec"),
    );
    let f = |a: &ArrayRef, i: usize| {
        let a = a.as_primitive::<Float64Type>();
        if a.is_valid(i) {
            a.value(i)
        } else {
            f64::NAN
        }
    };
    let oid = oid.as_primitive::<Int64Type>();
    let sid = sid.as_primitive::<Int64Type>();
    for i in 0..src.num_rows() {
        let id = oid.value(i);
        objects.entry(id).or_insert_with(|| {
            let gaia = sid.is_valid(i).then(|| sid.value(i));
            let (ra_o, dec_o) = match gaia {
                Some(_) => (f(&gra, i), f(&gdec, i)),
                None => reg.get(&id).copied().unwrap_or((f(&ra, i), f(&dec, i))),
            };
            ObjectInfo {
                source_id: gaia,
                ra: ra_o,
                dec: dec_o,
                g: f(&g, i),
                bp_rp: f(&bprp, i),
                parallax: f(&plx, i),
                pmra: f(&pmra, i),
                pmdec: f(&pmdec, i),
            }
        });
    }
    objects
}

/// A night just analysed, for [`LcDb::publish`].
#[derive(Debug)]
pub struct FreshNight<'a> {
    /// Its date.
    pub night: CivilDate,
    /// Its tables other than the detections.
    pub tables: &'a NightTables,
    /// Its static tracks, with their object ids and measurements: the night's detections.
    pub tracks: Vec<&'a StaticTrack>,
}

/// A fresh static track placed in the catalog.
struct PlacedTrack<'a> {
    h29: u64,
    track: &'a StaticTrack,
}

/// The tracks in catalog order: by their object's `_healpix_29`, the object, and time (a track's
/// rows are in frame order, and an object's tracks come from different exposures).
fn sorted_tracks<'a>(
    tracks: &[&'a StaticTrack],
    objects: &HashMap<i64, ObjectInfo>,
) -> Result<Vec<PlacedTrack<'a>>, DbError> {
    let mut out = Vec::with_capacity(tracks.len());
    for t in tracks {
        let o = objects.get(&t.object_id).ok_or_else(|| DbError::Table {
            path: PathBuf::from("sources"),
            message: format!("track of object {} without a source row", t.object_id),
        })?;
        out.push((
            tomoe_core::healpix::hash29(o.ra, o.dec),
            t.object_id,
            t.rows.first().map_or(0, |r| r.time.0),
            *t,
        ));
    }
    {
        use rayon::prelude::*;
        out.par_sort_unstable_by_key(|t| (t.0, t.1, t.2));
    }
    Ok(out
        .into_iter()
        .map(|(h29, _, _, track)| PlacedTrack { h29, track })
        .collect())
}

/// The detections of `tracks` (sorted as [`sorted_tracks`] returns them) with their object's
/// `_healpix_29` in front; sorted by (`_healpix_29`, object, time) as the catalog needs, which
/// is checked (and restored by a sort if a track's rows were not in time order).
fn fresh_batch(
    schema: &SchemaRef,
    tracks: &[PlacedTrack<'_>],
) -> Result<RecordBatch, tomoe_store::hats::HatsError> {
    /// A nullable Float32 column (non-finite values are null, as [`f32s`] makes them).
    #[derive(Default)]
    struct F32s {
        v: Vec<f32>,
        ok: Vec<bool>,
        nulls: usize,
    }
    impl F32s {
        fn push(&mut self, x: f64) {
            let ok = x.is_finite();
            self.v.push(if ok { x as f32 } else { 0.0 });
            self.ok.push(ok);
            self.nulls += usize::from(!ok);
        }
        fn finish(self) -> ArrayRef {
            let nulls =
                (self.nulls > 0).then(|| tomoe_store::arrow::buffer::NullBuffer::from(self.ok));
            Arc::new(Float32Array::new(self.v.into(), nulls))
        }
    }
    // One pass over the rows (they are scattered over the tracks' allocations, so a pass per
    // column would fetch each row from memory once per column).
    let n: usize = tracks.iter().map(|t| t.track.rows.len()).sum();
    let mut h29 = Vec::with_capacity(n);
    let mut oid = Vec::with_capacity(n);
    let (mut sid, mut sid_ok, mut sid_nulls) = (Vec::with_capacity(n), Vec::with_capacity(n), 0);
    let mut exp = Vec::with_capacity(n);
    let mut det = Vec::with_capacity(n);
    let mut frame = Vec::with_capacity(n);
    let mut time = Vec::with_capacity(n);
    let mut mjd = Vec::with_capacity(n);
    let (mut x, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut ra, mut dec) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut fl: [F32s; 8] = Default::default();
    let mut flags = Vec::with_capacity(n);
    let mut sorted = true;
    let mut last = (i64::MIN, i64::MIN, i64::MIN);
    for t in tracks {
        let s = t.track;
        let (g, bp_rp) = s.gaia.map_or((f64::NAN, f64::NAN), |g| (g.g(), g.bp_rp()));
        for r in &s.rows {
            let key = (t.h29 as i64, s.object_id, r.time.0);
            sorted &= last <= key;
            last = key;
            h29.push(t.h29 as i64);
            oid.push(s.object_id);
            sid.push(s.gaia.map_or(0, |g| g.source_id));
            sid_ok.push(s.gaia.is_some());
            sid_nulls += usize::from(s.gaia.is_none());
            exp.push(s.exp_id);
            det.push(s.det_id);
            frame.push(r.frame);
            time.push(r.time.0);
            mjd.push(r.time.mjd());
            x.push(r.x);
            y.push(r.y);
            ra.push(r.ra);
            dec.push(r.dec);
            for (c, v) in fl.iter_mut().zip([
                f64::from(r.flux),
                f64::from(r.flux_err),
                r.mag_inst,
                r.mag_inst_err,
                f64::from(r.mag),
                f64::from(r.mag_err),
                g,
                bp_rp,
            ]) {
                c.push(v);
            }
            flags.push(r.flags);
        }
    }
    let [flux, flux_err, mag_inst, mag_inst_err, mag, mag_err, g, bp_rp] = fl;
    let sid_nulls = (sid_nulls > 0).then(|| tomoe_store::arrow::buffer::NullBuffer::from(sid_ok));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(h29)),
        Arc::new(Int64Array::from(oid)),
        Arc::new(Int64Array::new(sid.into(), sid_nulls)),
        Arc::new(Int64Array::from(exp)),
        Arc::new(Int32Array::from(det)),
        Arc::new(Int32Array::from(frame)),
        Arc::new(TimestampMicrosecondArray::from(time).with_timezone("UTC")),
        Arc::new(Float64Array::from(mjd)),
        Arc::new(Float32Array::from(x)),
        Arc::new(Float32Array::from(y)),
        Arc::new(Float64Array::from(ra)),
        Arc::new(Float64Array::from(dec)),
        flux.finish(),
        flux_err.finish(),
        mag_inst.finish(),
        mag_inst_err.finish(),
        mag.finish(),
        mag_err.finish(),
        Arc::new(Int32Array::from(flags)),
        g.finish(),
        bp_rp.finish(),
    ];
    let b = RecordBatch::try_new(schema.clone(), cols)?;
    if sorted {
        Ok(b)
    } else {
        Ok(hats::sort_rows(&[b], &["object_id".into(), "time".into()])?
            .unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
    }
}

/// The previous version's detections: its catalog and which nights each partition holds (the
/// partitions sorted by [`Pixel::range29`], for [`hats::partitions_in`]).
struct OldDetections {
    cat: hats::HatsCatalog,
    parts: Vec<(Pixel, BTreeMap<CivilDate, usize>)>,
}

/// Which nights' detections each partition holds, and how many
/// (`<version>/partition_nights.parquet`: Norder, Npix, night, rows).
const PARTITION_NIGHTS: &str = "partition_nights.parquet";

impl OldDetections {
    fn open(vdir: &Path) -> Result<Self, DbError> {
        let p = vdir.join("detections");
        let cat = hats::HatsCatalog::open(&p).map_err(|e| table(&p)(e.to_string()))?;
        let rp = vdir.join(PARTITION_NIGHTS);
        if !rp.exists() {
            return Err(table(&rp)(
                "missing: this version was not written by `tomoe lc ingest` (a synthetic or \
                 older database), so nights cannot be added to it"
                    .into(),
            ));
        }
        let mut parts: BTreeMap<Pixel, BTreeMap<CivilDate, usize>> =
            cat.pixels().iter().map(|p| (*p, BTreeMap::new())).collect();
        for b in read_parquet_file(&rp)? {
            let col = |n: &str| {
                b.column_by_name(n)
                    .cloned()
                    .ok_or_else(|| table(&rp)(format!("no column {n}")))
            };
            let (o, n, d, r) = (col("Norder")?, col("Npix")?, col("night")?, col("rows")?);
            let (o, n, d, r) = (
                o.as_primitive::<tomoe_store::arrow::datatypes::Int32Type>(),
                n.as_primitive::<Int64Type>(),
                d.as_string::<i32>(),
                r.as_primitive::<Int64Type>(),
            );
            for i in 0..b.num_rows() {
                let pixel = Pixel {
                    order: o.value(i) as u8,
                    npix: n.value(i) as u64,
                };
                let night = CivilDate::parse(d.value(i))
                    .map_err(|e| table(&rp)(format!("row {i}: {e}")))?;
                parts
                    .get_mut(&pixel)
                    .ok_or_else(|| {
                        table(&rp)(format!(
                            "partition {}/{} is not in the catalog",
                            pixel.order, pixel.npix
                        ))
                    })?
                    .insert(night, r.value(i) as usize);
            }
        }
        let mut parts: Vec<_> = parts.into_iter().collect();
        parts.sort_by_key(|(p, _)| p.range29());
        Ok(Self { cat, parts })
    }

    /// Every partition with the rows it keeps when `replaced` is re-ingested (sorted by range).
    fn kept(&self, replaced: Option<CivilDate>) -> Vec<(Pixel, usize)> {
        self.parts
            .iter()
            .map(|(p, nights)| {
                let n = nights.iter().filter(|(n, _)| Some(**n) != replaced);
                (*p, n.map(|(_, c)| c).sum())
            })
            .collect()
    }

    /// The existing partitions overlapping `pixel`.
    fn overlapping(&self, pixel: Pixel) -> &[(Pixel, BTreeMap<CivilDate, usize>)] {
        let (lo, hi) = pixel.range29();
        hats::partitions_in(&self.parts, lo, hi)
    }

    /// The nights of the existing partition `pixel`, if it is one.
    fn nights_of(&self, pixel: Pixel) -> Option<&BTreeMap<CivilDate, usize>> {
        self.overlapping(pixel)
            .iter()
            .find(|(p, _)| *p == pixel)
            .map(|(_, n)| n)
    }

    /// An existing partition that loses no rows.
    fn unchanged(&self, pixel: Pixel, replaced: Option<CivilDate>) -> bool {
        self.nights_of(pixel)
            .is_some_and(|n| replaced.is_none_or(|r| !n.contains_key(&r)))
    }

    /// The rows of the existing partitions inside `pixel`, without the exposures `removed`.
    fn kept_rows_in(
        &self,
        pixel: Pixel,
        removed: &HashSet<i64>,
    ) -> Result<Vec<RecordBatch>, tomoe_store::hats::HatsError> {
        let (lo, hi) = pixel.range29();
        let mut out = Vec::new();
        for &(q, _) in self.overlapping(pixel) {
            for b in self.cat.read_partition_range(q, None, (lo, hi))? {
                let h = b.column(0).as_primitive::<Int64Type>().values();
                let e = b
                    .column_by_name("exp_id")
                    .map(|c| c.as_primitive::<Int64Type>().values().clone());
                let keep: BooleanArray = (0..b.num_rows())
                    .map(|i| {
                        let h = h[i] as u64;
                        Some(
                            (lo..hi).contains(&h)
                                && e.as_ref().is_none_or(|e| !removed.contains(&e[i])),
                        )
                    })
                    .collect();
                let b = tomoe_store::arrow::compute::filter_record_batch(&b, &keep)?;
                if b.num_rows() > 0 {
                    out.push(b);
                }
            }
        }
        Ok(out)
    }

    /// Sorted `_healpix_29` of the rows `pixel` keeps (for splitting it).
    fn kept_h29(
        &self,
        pixel: Pixel,
        removed: &HashSet<i64>,
    ) -> Result<Vec<u64>, tomoe_store::hats::HatsError> {
        let mut out = Vec::new();
        for b in self
            .cat
            .read_partition(pixel, Some(&[hats::HEALPIX_COLUMN, "exp_id"]))?
        {
            let h = b.column(0).as_primitive::<Int64Type>().values();
            let e = b.column(1).as_primitive::<Int64Type>().values();
            out.extend(
                h.iter()
                    .zip(e.iter())
                    .filter(|(_, e)| !removed.contains(e))
                    .map(|(h, _)| *h as u64),
            );
        }
        out.sort_unstable();
        Ok(out)
    }
}

/// Writes the record of which nights each detections partition holds.
fn write_partition_nights(
    vdir: &Path,
    mut rows: Vec<(Pixel, CivilDate, usize)>,
) -> Result<(), DbError> {
    rows.sort_unstable();
    let b = batch(
        vec![
            Field::new("Norder", DataType::Int32, false),
            Field::new("Npix", DataType::Int64, false),
            Field::new("night", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
        ],
        vec![
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| i32::from(r.0.order)),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.0.npix as i64),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.1.to_string()),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.2 as i64),
            )),
        ],
    );
    write_parquet_file(&vdir.join(PARTITION_NIGHTS), &b)
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ObjectInfo {
    pub(crate) source_id: Option<i64>,
    pub(crate) ra: f64,
    pub(crate) dec: f64,
    pub(crate) g: f64,
    pub(crate) bp_rp: f64,
    pub(crate) parallax: f64,
    pub(crate) pmra: f64,
    pub(crate) pmdec: f64,
}

/// Per-object statistics of the calibrated magnitudes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ObjectStats {
    /// Detections (all).
    pub n_det: i64,
    /// Detections with a calibrated magnitude.
    pub n_mag: i64,
    /// Distinct exposures.
    pub n_exp: i64,
    /// First time [MJD].
    pub first_mjd: f64,
    /// Last time [MJD].
    pub last_mjd: f64,
    /// Mean magnitude.
    pub mean_mag: f64,
    /// Inverse-variance weighted mean magnitude.
    pub wmean_mag: f64,
    /// Median magnitude.
    pub median_mag: f64,
    /// Standard deviation.
    pub std_mag: f64,
    /// 1.4826 × MAD.
    pub mad_std_mag: f64,
    /// χ²/ν about the weighted mean.
    pub chi2_red: f64,
    /// von Neumann ratio η = δ² / σ² (time-ordered successive differences).
    pub eta: f64,
    /// Half the 5–95 percentile range.
    pub amplitude: f64,
}

/// Statistics of one object's (time-ordered) calibrated magnitudes and errors.
pub fn stats_of(mjd: &[f64], mag: &[f64], err: &[f64], exp: &[i64]) -> ObjectStats {
    let mut s = ObjectStats {
        n_det: mjd.len() as i64,
        first_mjd: mjd.iter().copied().fold(f64::INFINITY, f64::min),
        last_mjd: mjd.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ..Default::default()
    };
    let mut e: Vec<i64> = exp.to_vec();
    e.sort_unstable();
    e.dedup();
    s.n_exp = e.len() as i64;
    let good: Vec<(f64, f64)> = mag
        .iter()
        .zip(err)
        .filter(|(m, e)| m.is_finite() && e.is_finite() && **e > 0.0)
        .map(|(m, e)| (*m, *e))
        .collect();
    let n = good.len();
    s.n_mag = n as i64;
    let nan = f64::NAN;
    if n == 0 {
        (
            s.mean_mag,
            s.wmean_mag,
            s.median_mag,
            s.std_mag,
            s.mad_std_mag,
            s.chi2_red,
            s.eta,
            s.amplitude,
        ) = (nan, nan, nan, nan, nan, nan, nan, nan);
        return s;
    }
    let nf = n as f64;
    s.mean_mag = good.iter().map(|g| g.0).sum::<f64>() / nf;
    let (mut sw, mut swm) = (0.0, 0.0);
    for &(m, e) in &good {
        let w = 1.0 / (e * e);
        sw += w;
        swm += w * m;
    }
    s.wmean_mag = swm / sw;
    let var = if n > 1 {
        good.iter().map(|g| (g.0 - s.mean_mag).powi(2)).sum::<f64>() / (nf - 1.0)
    } else {
        nan
    };
    s.std_mag = var.sqrt();
    s.chi2_red = if n > 1 {
        good.iter()
            .map(|&(m, e)| ((m - s.wmean_mag) / e).powi(2))
            .sum::<f64>()
            / (nf - 1.0)
    } else {
        nan
    };
    let mut sorted: Vec<f64> = good.iter().map(|g| g.0).collect();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let x = p * (nf - 1.0);
        let (i, f) = (x.floor() as usize, x - x.floor());
        sorted[i] + f * (sorted[(i + 1).min(n - 1)] - sorted[i])
    };
    s.median_mag = q(0.5);
    let mut dev: Vec<f64> = sorted.iter().map(|m| (m - s.median_mag).abs()).collect();
    let md = tomoe_core::stats::median(&mut dev).unwrap_or(f64::NAN);
    s.mad_std_mag = 1.4826 * md;
    s.amplitude = 0.5 * (q(0.95) - q(0.05));
    s.eta = if n > 2 && var > 0.0 {
        let d2: f64 = good
            .windows(2)
            .map(|w| (w[1].0 - w[0].0).powi(2))
            .sum::<f64>()
            / (nf - 1.0);
        d2 / var
    } else {
        nan
    };
    s
}

pub(crate) fn object_stats(det: &[RecordBatch]) -> HashMap<i64, ObjectStats> {
    struct Cols<'a> {
        oid: &'a [i64],
        mjd: &'a [f64],
        mag: &'a tomoe_store::arrow::array::PrimitiveArray<Float32Type>,
        err: &'a tomoe_store::arrow::array::PrimitiveArray<Float32Type>,
        exp: &'a [i64],
    }
    let cols: Vec<Cols<'_>> = det
        .iter()
        .map(|b| {
            let col = |n: &str| {
                b.column_by_name(n)
                    .unwrap_or_else(|| unreachable!("detections column {n}"))
            };
            Cols {
                oid: col("object_id").as_primitive::<Int64Type>().values(),
                mjd: col("mjd").as_primitive::<Float64Type>().values(),
                mag: col("mag").as_primitive::<Float32Type>(),
                err: col("mag_err").as_primitive::<Float32Type>(),
                exp: col("exp_id").as_primitive::<Int64Type>().values(),
            }
        })
        .collect();
    // MJDs are positive, so their bit patterns sort as the numbers do.
    let mut keys: Vec<(i64, i64, u32, u32)> =
        Vec::with_capacity(det.iter().map(|b| b.num_rows()).sum());
    for (bi, c) in cols.iter().enumerate() {
        keys.extend(
            (0..c.oid.len()).map(|r| (c.oid[r], c.mjd[r].to_bits() as i64, bi as u32, r as u32)),
        );
    }
    // A catalog partition is in catalog order already (each object's rows together, by time):
    // then only the grouping is checked, and the sort skipped.
    let grouped = {
        let mut done: HashSet<i64> = HashSet::default();
        keys.windows(2).all(|w| {
            if w[0].0 == w[1].0 {
                w[0].1 <= w[1].1
            } else {
                done.insert(w[0].0)
            }
        }) && keys.last().is_none_or(|k| !done.contains(&k.0))
    };
    if !grouped {
        use rayon::prelude::*;
        keys.par_sort_unstable();
    }
    let v32 = |a: &tomoe_store::arrow::array::PrimitiveArray<Float32Type>, k: usize| {
        if a.is_valid(k) {
            f64::from(a.value(k))
        } else {
            f64::NAN
        }
    };
    let mut out = HashMap::default();
    let (mut m, mut g, mut e, mut x) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut i = 0;
    while i < keys.len() {
        let id = keys[i].0;
        let mut j = i;
        m.clear();
        g.clear();
        e.clear();
        x.clear();
        while j < keys.len() && keys[j].0 == id {
            let (c, r) = (&cols[keys[j].2 as usize], keys[j].3 as usize);
            m.push(c.mjd[r]);
            g.push(v32(c.mag, r));
            e.push(v32(c.err, r));
            x.push(c.exp[r]);
            j += 1;
        }
        out.insert(id, stats_of(&m, &g, &e, &x));
        i = j;
    }
    out
}

pub(crate) fn objects_batch(
    ids: &[i64],
    info: &HashMap<i64, ObjectInfo>,
    stats: &HashMap<i64, ObjectStats>,
) -> RecordBatch {
    let inf = |id: &i64| info[id];
    let st = |id: &i64| stats.get(id).copied().unwrap_or_default();
    let fields = vec![
        Field::new("object_id", DataType::Int64, false),
        Field::new("source_id", DataType::Int64, true),
        Field::new("ra", DataType::Float64, false),
        Field::new("dec", DataType::Float64, false),
        Field::new("phot_g_mean_mag", DataType::Float64, true),
        Field::new("bp_rp", DataType::Float64, true),
        Field::new("parallax", DataType::Float64, true),
        Field::new("pmra", DataType::Float64, true),
        Field::new("pmdec", DataType::Float64, true),
        Field::new("n_det", DataType::Int64, false),
        Field::new("n_mag", DataType::Int64, false),
        Field::new("n_exp", DataType::Int64, false),
        Field::new("first_mjd", DataType::Float64, true),
        Field::new("last_mjd", DataType::Float64, true),
        Field::new("mean_mag", DataType::Float64, true),
        Field::new("wmean_mag", DataType::Float64, true),
        Field::new("median_mag", DataType::Float64, true),
        Field::new("std_mag", DataType::Float64, true),
        Field::new("mad_std_mag", DataType::Float64, true),
        Field::new("chi2_red", DataType::Float64, true),
        Field::new("eta", DataType::Float64, true),
        Field::new("amplitude", DataType::Float64, true),
    ];
    let fi = |f: fn(&ObjectInfo) -> f64| f64s(ids.iter().map(move |id| f(&inf(id))));
    let fs = |f: fn(&ObjectStats) -> f64| f64s(ids.iter().map(move |id| f(&st(id))));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ids.iter().copied())),
        Arc::new(Int64Array::from_iter(
            ids.iter().map(|id| inf(id).source_id),
        )),
        Arc::new(Float64Array::from_iter_values(
            ids.iter().map(|id| inf(id).ra),
        )),
        Arc::new(Float64Array::from_iter_values(
            ids.iter().map(|id| inf(id).dec),
        )),
        fi(|o| o.g),
        fi(|o| o.bp_rp),
        fi(|o| o.parallax),
        fi(|o| o.pmra),
        fi(|o| o.pmdec),
        Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|id| st(id).n_det),
        )),
        Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|id| st(id).n_mag),
        )),
        Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|id| st(id).n_exp),
        )),
        fs(|s| s.first_mjd),
        fs(|s| s.last_mjd),
        fs(|s| s.mean_mag),
        fs(|s| s.wmean_mag),
        fs(|s| s.median_mag),
        fs(|s| s.std_mag),
        fs(|s| s.mad_std_mag),
        fs(|s| s.chi2_red),
        fs(|s| s.eta),
        fs(|s| s.amplitude),
    ];
    batch(fields, cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalog's one-pass column builder writes what [`detections_batch`] writes (nulls for
    /// non-finite values and missing Gaia ids included), in catalog order.
    #[test]
    fn fresh_rows_build_the_same_columns_as_detection_rows() {
        use crate::pipeline::Measurement;
        let row = |frame: i32, t: i64, v: f32| Measurement {
            time: UtcMicros(t),
            ra: 10.0 + f64::from(v) * 1e-9,
            dec: -5.0,
            mag_inst: -5.0,
            mag_inst_err: if frame == 2 { f64::INFINITY } else { 0.01 },
            x: 1.25 + v,
            y: 2.5,
            flux: if frame == 1 { f32::NAN } else { 100.0 * v },
            flux_err: 3.0,
            mag: 15.0 + v,
            mag_err: 0.02,
            frame,
            flags: frame,
        };
        let gaia = |id: i64| {
            (id > 0).then(|| {
                let mut v = [f64::NAN; 20];
                (v[crate::gaia::G], v[crate::gaia::BP], v[crate::gaia::RP]) = (15.5, 16.0, 15.2);
                crate::gaia::GaiaStar {
                    source_id: id,
                    v,
                    duplicated_source: false,
                }
            })
        };
        let track = |oid: i64, t0: i64| StaticTrack {
            exp_id: 7,
            det_id: 3,
            x: 1.0,
            y: 2.0,
            n_detected: 3,
            mag: 15.0,
            ra: 10.0,
            dec: -5.0,
            gaia: gaia(oid),
            rows: (0..3)
                .map(|k| row(k, t0 + i64::from(k), k as f32))
                .collect(),
            object_id: oid,
        };
        let (a, b) = (track(-4, 1000), track(99, 500));
        let placed = [
            PlacedTrack { h29: 5, track: &a },
            PlacedTrack { h29: 9, track: &b },
        ];
        let mut fields: Vec<Arc<Field>> = vec![Arc::new(Field::new(
            hats::HEALPIX_COLUMN,
            DataType::Int64,
            false,
        ))];
        fields.extend(detections_schema().fields().iter().cloned());
        let got = fresh_batch(&Arc::new(Schema::new(fields)), &placed).unwrap();
        let rows: Vec<DetectionRow> = a.detection_rows().chain(b.detection_rows()).collect();
        let want = detections_batch(&rows);
        assert_eq!(got.num_columns(), want.num_columns() + 1);
        assert_eq!(
            got.column(0).as_primitive::<Int64Type>().values().to_vec(),
            vec![5, 5, 5, 9, 9, 9]
        );
        for (i, f) in want.schema().fields().iter().enumerate() {
            assert_eq!(
                got.column(i + 1).as_ref(),
                want.column(i).as_ref(),
                "{}",
                f.name()
            );
        }
        assert!(got.column_by_name("flux").unwrap().null_count() == 2);
        // Out of order (the object's earlier track second): sorted by (_healpix_29, object, time).
        let mut early = a.clone();
        for r in &mut early.rows {
            r.time.0 -= 100;
        }
        let p2 = [
            PlacedTrack { h29: 5, track: &a },
            PlacedTrack {
                h29: 5,
                track: &early,
            },
        ];
        let b2 = fresh_batch(&got.schema(), &p2).unwrap();
        let t = b2
            .column_by_name("time")
            .unwrap()
            .as_primitive::<tomoe_store::arrow::datatypes::TimestampMicrosecondType>()
            .values()
            .to_vec();
        assert_eq!(t, vec![900, 901, 902, 1000, 1001, 1002]);
    }

    #[test]
    fn stats_of_constant_and_known_values() {
        // Magnitudes 10, 11, 12, 13 with errors 1: mean 11.5, std √(5/3), χ²/ν = 5/3,
        // η = (3 × 1²)/3 / (5/3) = 0.6, median 11.5, MAD 1 → 1.4826.
        let s = stats_of(
            &[1.0, 2.0, 3.0, 4.0],
            &[10.0, 11.0, 12.0, 13.0],
            &[1.0; 4],
            &[1, 1, 2, 2],
        );
        assert_eq!((s.n_det, s.n_mag, s.n_exp), (4, 4, 2));
        assert!((s.mean_mag - 11.5).abs() < 1e-12);
        assert!((s.wmean_mag - 11.5).abs() < 1e-12);
        assert!((s.std_mag - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((s.chi2_red - 5.0 / 3.0).abs() < 1e-12);
        assert!((s.eta - 0.6).abs() < 1e-12);
        assert!((s.median_mag - 11.5).abs() < 1e-12);
        assert!((s.mad_std_mag - 1.4826).abs() < 1e-12);
        // 5–95 %: 10.15 and 12.85 → amplitude 1.35.
        assert!((s.amplitude - 1.35).abs() < 1e-12);
        assert_eq!((s.first_mjd, s.last_mjd), (1.0, 4.0));
        // Null magnitudes are skipped.
        let s = stats_of(&[1.0, 2.0], &[f64::NAN, 5.0], &[0.1, 0.1], &[1, 1]);
        assert_eq!((s.n_det, s.n_mag), (2, 1));
        assert_eq!(s.mean_mag, 5.0);
        assert!(s.std_mag.is_nan());
    }
}
