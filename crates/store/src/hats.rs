//! HATS catalogs: sky-partitioned Parquet that LSDB, `hats`, pyarrow and DuckDB open as is.
//!
//! Layout (IVOA HATS note, as written by `hats-import` and read by `hats` 0.11 / LSDB 0.11):
//!
//! ```text
//! <catalog>/hats.properties              obs_collection, dataproduct_type, hats_col_ra, …
//! <catalog>/partition_info.csv           Norder,Npix — one line per partition
//! <catalog>/dataset/_common_metadata     Parquet schema (no rows)
//! <catalog>/dataset/Norder=K/Dir=D/Npix=N.parquet   D = N / 10000 × 10000
//! ```
//!
//! Every row carries `_healpix_29`, the nested HEALPix index of order 29 (Int64, first column).
//! Partitions are adaptive, as in `hats-import`: starting from the 12 base cells, a cell with more
//! than `max_rows` rows is split into its 4 children, down to `max_order`. Within a partition
//! rows are sorted by `_healpix_29` and then by the caller's sort columns, so a reader prunes row
//! groups by the `_healpix_29` statistics. A caller may supply `_healpix_29` itself (the light-curve
//! detections use their *object's* position, so every detection of an object lands in the
//! object's partition); otherwise it is computed from the RA/Dec columns.
//!
//! Writing is atomic: the catalog is built in a temporary sibling directory and swapped into
//! place ([`crate::atomic::exchange_dirs`]), so a reader sees the old catalog or the new one.
//!
//! Why our own writer: the HATS writers are Python (`hats-import` on Dask); the format is small
//! (Parquet files in a fixed directory scheme and two text files) and the platform writes
//! catalogs from Rust at ingest time. Compatibility is checked by opening our output with `hats`
//! and LSDB (`scripts/check_hats.py`, run by the test suite).

use crate::atomic::{exchange_dirs, sync_dir, write_atomic};
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array};
use arrow::compute::{
    cast, concat_batches, filter_record_batch, interleave_record_batch, lexsort_to_indices,
    SortColumn,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tomoe_core::healpix;

/// Name of the spatial-index column.
pub const HEALPIX_COLUMN: &str = "_healpix_29";

/// Errors of HATS reading and writing.
#[derive(Debug, thiserror::Error)]
pub enum HatsError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Parquet error.
    #[error("{path}: {source}")]
    Parquet {
        /// Where.
        path: PathBuf,
        /// Cause.
        source: parquet::errors::ParquetError,
    },
    /// Arrow error.
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The input or the catalog is not what HATS requires.
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HatsError + '_ {
    move |source| HatsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn pq(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> HatsError + '_ {
    move |source| HatsError::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

/// One partition: a HEALPix cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pixel {
    /// HEALPix order (`Norder`).
    pub order: u8,
    /// Nested index at that order (`Npix`).
    pub npix: u64,
}

impl Pixel {
    /// `Dir` of the directory scheme.
    pub fn dir(&self) -> u64 {
        self.npix / 10_000 * 10_000
    }

    /// Path of the partition's file relative to the catalog root.
    pub fn relative_path(&self) -> PathBuf {
        PathBuf::from(format!(
            "dataset/Norder={}/Dir={}/Npix={}.parquet",
            self.order,
            self.dir(),
            self.npix
        ))
    }

    /// `[lo, hi)` of `_healpix_29` values inside the cell.
    pub fn range29(&self) -> (u64, u64) {
        healpix::range29(self.order, self.npix)
    }
}

/// What kind of table (`dataproduct_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogType {
    /// One row per astronomical object.
    Object,
    /// One row per measurement (detections).
    Source,
}

impl CatalogType {
    fn as_str(self) -> &'static str {
        match self {
            CatalogType::Object => "object",
            CatalogType::Source => "source",
        }
    }
}

/// How to write a catalog.
#[derive(Debug, Clone)]
pub struct HatsOptions {
    /// `obs_collection`: the catalog's name.
    pub name: String,
    /// `dataproduct_type`.
    pub catalog_type: CatalogType,
    /// RA column [deg] (Float64 or Float32).
    pub ra_column: String,
    /// Dec column [deg].
    pub dec_column: String,
    /// Largest number of rows in a partition (split above, unless at `max_order`).
    pub max_rows: usize,
    /// Deepest partition order.
    pub max_order: u8,
    /// Sort columns within a partition, after `_healpix_29`.
    pub sort_by: Vec<String>,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Extra `hats.properties` entries (provenance).
    pub extra_properties: Vec<(String, String)>,
    /// Page compression (zstd level 1 by default; Snappy decodes with no per-page set-up cost,
    /// which matters to the millisecond queries of small row groups).
    pub compression: Compression,
}

impl HatsOptions {
    /// Defaults for a catalog `name` of `catalog_type` with positions in `ra`/`dec`.
    pub fn new(name: &str, catalog_type: CatalogType) -> Self {
        Self {
            name: name.into(),
            catalog_type,
            ra_column: "ra".into(),
            dec_column: "dec".into(),
            max_rows: 1_000_000,
            max_order: 10,
            sort_by: Vec::new(),
            row_group_rows: 32 * 1024,
            extra_properties: Vec::new(),
            compression: Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()),
        }
    }
}

/// What [`write_catalog`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct HatsSummary {
    /// Rows written.
    pub rows: usize,
    /// Partitions, sorted, with their row counts.
    pub partitions: Vec<(Pixel, usize)>,
    /// Bytes of Parquet data.
    pub bytes: u64,
}

/// Adaptive partitioning of sorted `_healpix_29` values: cells with at most `max_rows` rows (or
/// at `max_order`), in nested order. Empty cells are left out.
pub fn plan_partitions(sorted_h29: &[u64], max_rows: usize, max_order: u8) -> Vec<(Pixel, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for base in 0..12u64 {
        let (_, hi) = healpix::range29(0, base);
        let end = start + sorted_h29[start..].partition_point(|&h| h < hi);
        split_cell(
            Pixel {
                order: 0,
                npix: base,
            },
            &sorted_h29[start..end],
            max_rows.max(1),
            max_order.min(29),
            &mut out,
        );
        start = end;
    }
    out
}

/// [`plan_partitions`] below one cell: the cell if it holds at most `max_rows` of the sorted
/// `rows` (or is at `max_order`), else its children in nested order.
fn split_cell(
    cell: Pixel,
    rows: &[u64],
    max_rows: usize,
    max_order: u8,
    out: &mut Vec<(Pixel, usize)>,
) {
    if rows.is_empty() {
        return;
    }
    if rows.len() <= max_rows || cell.order >= max_order {
        out.push((cell, rows.len()));
        return;
    }
    let mut start = 0;
    for npix in 4 * cell.npix..4 * cell.npix + 4 {
        let child = Pixel {
            order: cell.order + 1,
            npix,
        };
        let (_, hi) = child.range29();
        let end = start + rows[start..].partition_point(|&h| h < hi);
        split_cell(child, &rows[start..end], max_rows, max_order, out);
        start = end;
    }
}

/// The entries of `sorted` (disjoint partitions sorted by [`Pixel::range29`]) whose cells overlap
/// the `_healpix_29` range `[lo, hi)`: those inside it and the one holding it (disjoint cells
/// either nest or miss). Two binary searches.
pub fn partitions_in<T>(sorted: &[(Pixel, T)], lo: u64, hi: u64) -> &[(Pixel, T)] {
    let a = sorted.partition_point(|(p, _)| p.range29().1 <= lo);
    let b = sorted.partition_point(|(p, _)| p.range29().0 < hi);
    &sorted[a..b.max(a)]
}

/// The partitions of a catalog that gains rows: the existing partitions `old` (disjoint, sorted by
/// [`Pixel::range29`], which is not [`Pixel`]'s own order, with the rows each keeps) stay as they
/// are unless their rows and the new ones in them exceed
/// `max_rows` (below `max_order`); such a partition is split like [`plan_partitions`] over its
/// kept rows, which `old_rows(pixel)` returns (sorted `_healpix_29`), and the new ones. New rows
/// (`fresh`, sorted) outside every existing partition are partitioned as [`plan_partitions`]
/// would, in cells that do not overlap an existing partition. A partition left with no rows is
/// dropped. With no existing partitions this is [`plan_partitions`] of `fresh`. Partitions are
/// never merged, so a reader's cached partition list stays valid for all but the split ones.
///
/// # Errors
/// Those of `old_rows`.
pub fn plan_incremental(
    old: &[(Pixel, usize)],
    fresh: &[u64],
    max_rows: usize,
    max_order: u8,
    old_rows: &mut dyn FnMut(Pixel) -> Result<Vec<u64>, HatsError>,
) -> Result<Vec<(Pixel, usize)>, HatsError> {
    fn visit(
        cell: Pixel,
        old: &[(Pixel, usize)],
        fresh: &[u64],
        max_rows: usize,
        max_order: u8,
        old_rows: &mut dyn FnMut(Pixel) -> Result<Vec<u64>, HatsError>,
        out: &mut Vec<(Pixel, usize)>,
    ) -> Result<(), HatsError> {
        match old {
            [] => split_cell(cell, fresh, max_rows, max_order, out),
            [(q, n)] if *q == cell => {
                let total = n + fresh.len();
                if total == 0 {
                } else if total <= max_rows || cell.order >= max_order {
                    out.push((cell, total));
                } else {
                    let mut rows = old_rows(cell)?;
                    rows.extend_from_slice(fresh);
                    rows.sort_unstable();
                    split_cell(cell, &rows, max_rows, max_order, out);
                }
            }
            _ if cell.order >= 29 => {
                return Err(HatsError::Invalid(format!(
                    "existing partitions overlap at {}/{}",
                    cell.order, cell.npix
                )))
            }
            _ => {
                // The cell holds existing partitions of higher orders: go down.
                for npix in 4 * cell.npix..4 * cell.npix + 4 {
                    let child = Pixel {
                        order: cell.order + 1,
                        npix,
                    };
                    let (lo, hi) = child.range29();
                    let o = partitions_in(old, lo, hi);
                    let f = &fresh
                        [fresh.partition_point(|&h| h < lo)..fresh.partition_point(|&h| h < hi)];
                    visit(child, o, f, max_rows, max_order, old_rows, out)?;
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for base in 0..12u64 {
        let cell = Pixel {
            order: 0,
            npix: base,
        };
        let (lo, hi) = cell.range29();
        let f = &fresh[fresh.partition_point(|&h| h < lo)..fresh.partition_point(|&h| h < hi)];
        visit(
            cell,
            partitions_in(old, lo, hi),
            f,
            max_rows.max(1),
            max_order.min(29),
            old_rows,
            &mut out,
        )?;
    }
    Ok(out)
}

fn f64_column(batch: &RecordBatch, name: &str) -> Result<Float64Array, HatsError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| HatsError::Invalid(format!("no column {name:?}")))?;
    let c = cast(col, &DataType::Float64)?;
    Ok(c.as_primitive::<Float64Type>().clone())
}

/// `_healpix_29` of every row from RA/Dec [deg]; rows with a missing or invalid position are an
/// error naming the row.
pub fn healpix29_of(batch: &RecordBatch, ra: &str, dec: &str) -> Result<Int64Array, HatsError> {
    let (ra_a, dec_a) = (f64_column(batch, ra)?, f64_column(batch, dec)?);
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let (a, d) = (ra_a.value(i), dec_a.value(i));
        if ra_a.is_null(i) || dec_a.is_null(i) || !a.is_finite() || !(-90.0..=90.0).contains(&d) {
            return Err(HatsError::Invalid(format!(
                "row {i}: position ({a}, {d}) is missing or outside the sky"
            )));
        }
        out.push(healpix::hash29(a, d) as i64);
    }
    Ok(Int64Array::from(out))
}

/// Writes `batches` as a HATS catalog at `dir`, replacing any catalog there atomically.
pub fn write_catalog(
    dir: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    opt: &HatsOptions,
) -> Result<HatsSummary, HatsError> {
    let t0 = std::time::Instant::now();
    // Every input batch with `_healpix_29` (given, or computed) as its first column.
    let mut fields = vec![Arc::new(Field::new(HEALPIX_COLUMN, DataType::Int64, false))];
    fields.extend(
        schema
            .fields()
            .iter()
            .filter(|f| f.name() != HEALPIX_COLUMN)
            .cloned(),
    );
    let out_schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let mut parts = Vec::with_capacity(batches.len());
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        let h29: ArrayRef = match b.column_by_name(HEALPIX_COLUMN) {
            Some(c) => cast(c, &DataType::Int64)?,
            None => Arc::new(healpix29_of(b, &opt.ra_column, &opt.dec_column)?),
        };
        let mut cols = vec![h29];
        for (f, c) in b.schema().fields().iter().zip(b.columns()) {
            if f.name() != HEALPIX_COLUMN {
                cols.push(c.clone());
            }
        }
        parts.push(RecordBatch::try_new(out_schema.clone(), cols)?);
    }
    // Sorted (batch, row) order: by _healpix_29, then the caller's columns.
    let order = sort_order(&parts, &opt.sort_by)?;
    let sorted: Vec<u64> = order
        .iter()
        .map(|&(b, r)| parts[b].column(0).as_primitive::<Int64Type>().value(r) as u64)
        .collect();
    let plan = plan_partitions(&sorted, opt.max_rows, opt.max_order);
    let rows = order.len();
    tracing::debug!(
        seconds = t0.elapsed().as_secs_f64(),
        rows,
        partitions = plan.len(),
        "hats: sorted"
    );

    build_atomically(dir, |tmp| {
        write_into(tmp, &out_schema, &parts, &order, &plan, opt)
    })
}

/// Builds a catalog in a temporary sibling of `dir` with `build`, then swaps it in (the old
/// catalog, if any, is removed); on error the temporary directory is removed.
fn build_atomically(
    dir: &Path,
    build: impl FnOnce(&Path) -> Result<HatsSummary, HatsError>,
) -> Result<HatsSummary, HatsError> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io(parent))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .ok_or_else(|| HatsError::Invalid(format!("{}: not a directory name", dir.display())))?;
    let tmp = parent.join(format!(".{name}.building-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    let summary = match build(&tmp) {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if dir.exists() {
        exchange_dirs(dir, &tmp).map_err(io(dir))?;
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    } else {
        fs::rename(&tmp, dir).map_err(io(dir))?;
    }
    sync_dir(parent).map_err(io(parent))?;
    Ok(summary)
}

/// One partition for [`write_catalog_with`].
#[derive(Debug)]
pub enum Partition {
    /// Its rows (first column `_healpix_29`, sorted by it and then as the caller wishes).
    Rows(RecordBatch),
    /// An existing partition file with the same rows, hard-linked into the new catalog (an
    /// unchanged partition of the catalog's previous version: no bytes are copied).
    Link(PathBuf),
}

/// Writes a catalog partition by partition, for tables too large to hold in memory: `plan`
/// lists the partitions (sorted by order-29 range, disjoint) and `produce(pixel)` returns the
/// rows of one, with `schema` (whose first column is `_healpix_29`, Int64), sorted by
/// `_healpix_29` and then as the caller wishes, or an existing file to link. Partitions are
/// produced and written in parallel (rayon), so memory holds about one partition per thread.
/// Atomic like [`write_catalog`].
///
/// # Errors
/// A first column other than `_healpix_29`, a partition whose rows fall outside its pixel or
/// are not sorted, and the errors of `produce` and of writing.
pub fn write_catalog_with(
    dir: &Path,
    schema: SchemaRef,
    plan: &[Pixel],
    produce: impl Fn(Pixel) -> Result<Partition, HatsError> + Sync,
    opt: &HatsOptions,
) -> Result<HatsSummary, HatsError> {
    if schema.fields().first().map(|f| f.name().as_str()) != Some(HEALPIX_COLUMN) {
        return Err(HatsError::Invalid(format!(
            "the first column must be {HEALPIX_COLUMN}"
        )));
    }
    build_atomically(dir, |root| {
        let dataset = root.join("dataset");
        fs::create_dir_all(&dataset).map_err(io(&dataset))?;
        let done: Vec<(usize, u64)> = plan
            .par_iter()
            .map(|&pixel| match produce(pixel)? {
                Partition::Rows(b) => {
                    let h = b.column(0).as_primitive::<Int64Type>().values();
                    let (lo, hi) = pixel.range29();
                    let inside = h.iter().all(|&v| (lo..hi).contains(&(v as u64)));
                    if !inside || h.windows(2).any(|w| w[0] > w[1]) {
                        return Err(HatsError::Invalid(format!(
                            "partition {}/{}: rows outside the pixel or not sorted by {HEALPIX_COLUMN}",
                            pixel.order, pixel.npix
                        )));
                    }
                    let bytes = write_partition(root, pixel, &schema, &b, opt)?;
                    Ok((b.num_rows(), bytes))
                }
                Partition::Link(from) => {
                    let to = root.join(pixel.relative_path());
                    if let Some(p) = to.parent() {
                        fs::create_dir_all(p).map_err(io(p))?;
                    }
                    fs::hard_link(&from, &to).map_err(io(&from))?;
                    let f = fs::File::open(&to).map_err(io(&to))?;
                    let rows = ArrowReaderMetadata::load(&f, ArrowReaderOptions::new())
                        .map_err(pq(&to))?
                        .metadata()
                        .file_metadata()
                        .num_rows();
                    Ok((rows as usize, f.metadata().map_err(io(&to))?.len()))
                }
            })
            .collect::<Result<_, HatsError>>()?;
        let counted: Vec<(Pixel, usize)> =
            plan.iter().copied().zip(done.iter().map(|d| d.0)).collect();
        let rows = done.iter().map(|d| d.0).sum();
        let bytes = done.iter().map(|d| d.1).sum();
        write_metadata(root, &schema, &counted, rows, bytes, opt)
    })
}

/// The rows of `parts` (same schema, `_healpix_29` first) as one batch sorted by `_healpix_29`
/// and then by `sort_by`.
///
/// # Errors
/// A sort column missing from the table.
pub fn sort_rows(
    parts: &[RecordBatch],
    sort_by: &[String],
) -> Result<Option<RecordBatch>, HatsError> {
    let parts: Vec<RecordBatch> = parts.iter().filter(|b| b.num_rows() > 0).cloned().collect();
    if parts.is_empty() {
        return Ok(None);
    }
    let order = sort_order(&parts, sort_by)?;
    let refs: Vec<&RecordBatch> = parts.iter().collect();
    Ok(Some(interleave_record_batch(&refs, &order)?))
}

fn write_partition(
    root: &Path,
    pixel: Pixel,
    schema: &SchemaRef,
    part: &RecordBatch,
    opt: &HatsOptions,
) -> Result<u64, HatsError> {
    let path = root.join(pixel.relative_path());
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(io(p))?;
    }
    let f = fs::File::create(&path).map_err(io(&path))?;
    let mut w = ArrowWriter::try_new(f, schema.clone(), Some(writer_props(opt, schema)))
        .map_err(pq(&path))?;
    w.write(part).map_err(pq(&path))?;
    let file = w.into_inner().map_err(pq(&path))?;
    file.sync_all().map_err(io(&path))?;
    Ok(file.metadata().map_err(io(&path))?.len())
}

fn sort_order(parts: &[RecordBatch], sort_by: &[String]) -> Result<Vec<(usize, usize)>, HatsError> {
    let mut extra: Vec<Vec<ArrayRef>> = vec![Vec::new(); parts.len()];
    for name in sort_by {
        for (i, b) in parts.iter().enumerate() {
            let c = b.column_by_name(name).ok_or_else(|| {
                HatsError::Invalid(format!("sort column {name:?} not in the table"))
            })?;
            extra[i].push(c.clone());
        }
    }
    let int_like = |a: &ArrayRef| {
        let dt = a.data_type();
        (dt.is_integer() || matches!(dt, DataType::Timestamp(_, _))) && a.null_count() == 0
    };
    if sort_by.len() <= 2 && extra.iter().flatten().all(int_like) {
        let mut keys: Vec<(i64, i64, i64, u32, u32)> =
            Vec::with_capacity(parts.iter().map(|b| b.num_rows()).sum());
        for (bi, b) in parts.iter().enumerate() {
            let h = b.column(0).as_primitive::<Int64Type>().values();
            let cols: Vec<ArrayRef> = extra[bi]
                .iter()
                .map(|a| cast(a, &DataType::Int64))
                .collect::<Result<_, _>>()?;
            let cols: Vec<&[i64]> = cols
                .iter()
                .map(|c| &c.as_primitive::<Int64Type>().values()[..])
                .collect();
            let k = |r: usize, j: usize| cols.get(j).map_or(0, |c| c[r]);
            keys.extend((0..b.num_rows()).map(|r| (h[r], k(r, 0), k(r, 1), bi as u32, r as u32)));
        }
        keys.par_sort_unstable();
        return Ok(keys.iter().map(|k| (k.3 as usize, k.4 as usize)).collect());
    }
    // General case: one concatenated batch and Arrow's lexsort.
    let schema = parts.first().map(|b| b.schema());
    let Some(schema) = schema else {
        return Ok(Vec::new());
    };
    let all = concat_batches(&schema, parts)?;
    let mut offsets = Vec::with_capacity(parts.len());
    let mut o = 0;
    for b in parts {
        offsets.push(o);
        o += b.num_rows();
    }
    let mut keys = vec![SortColumn {
        values: all.column(0).clone(),
        options: None,
    }];
    for name in sort_by {
        keys.push(SortColumn {
            values: all
                .column_by_name(name)
                .cloned()
                .unwrap_or_else(|| unreachable!("checked above")),
            options: None,
        });
    }
    let idx = lexsort_to_indices(&keys, None)?;
    Ok(idx
        .values()
        .iter()
        .map(|&g| {
            let g = g as usize;
            let b = offsets.partition_point(|&o| o <= g) - 1;
            (b, g - offsets[b])
        })
        .collect())
}

/// `opt.compression` (zstd level 1 by default); dictionaries only for integer and string columns (floats rarely repeat, and
/// trying costs time); statistics per row group (what the `_healpix_29` pruning reads).
fn writer_props(opt: &HatsOptions, schema: &Schema) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(opt.compression)
        .set_max_row_group_row_count(Some(opt.row_group_rows.max(256)))
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::Chunk)
        .set_dictionary_enabled(false);
    for f in schema.fields() {
        let dt = f.data_type();
        if (dt.is_integer() && f.name() != HEALPIX_COLUMN)
            || matches!(dt, DataType::Utf8 | DataType::LargeUtf8)
        {
            b = b.set_column_dictionary_enabled(
                parquet::schema::types::ColumnPath::from(f.name().as_str()),
                true,
            );
        }
    }
    b.build()
}

fn write_into(
    root: &Path,
    schema: &SchemaRef,
    parts: &[RecordBatch],
    order: &[(usize, usize)],
    plan: &[(Pixel, usize)],
    opt: &HatsOptions,
) -> Result<HatsSummary, HatsError> {
    let refs: Vec<&RecordBatch> = parts.iter().collect();
    let dataset = root.join("dataset");
    fs::create_dir_all(&dataset).map_err(io(&dataset))?;
    // Partitions are independent: written in parallel.
    let mut jobs = Vec::with_capacity(plan.len());
    let mut offset = 0usize;
    for &(pixel, n) in plan {
        jobs.push((pixel, offset, n));
        offset += n;
    }
    let sizes: Vec<u64> = jobs
        .par_iter()
        .map(|&(pixel, offset, n)| {
            let part = interleave_record_batch(&refs, &order[offset..offset + n])?;
            write_partition(root, pixel, schema, &part, opt)
        })
        .collect::<Result<_, HatsError>>()?;
    let bytes: u64 = sizes.iter().sum();
    write_metadata(root, schema, plan, order.len(), bytes, opt)
}

/// `_common_metadata`, `partition_info.csv` and `hats.properties` of a catalog.
fn write_metadata(
    root: &Path,
    schema: &SchemaRef,
    plan: &[(Pixel, usize)],
    rows: usize,
    bytes: u64,
    opt: &HatsOptions,
) -> Result<HatsSummary, HatsError> {
    let dataset = root.join("dataset");
    // Schema-only `_common_metadata`.
    let meta = dataset.join("_common_metadata");
    let f = fs::File::create(&meta).map_err(io(&meta))?;
    let w = ArrowWriter::try_new(f, schema.clone(), Some(writer_props(opt, schema)))
        .map_err(pq(&meta))?;
    w.close().map_err(pq(&meta))?;
    // partition_info.csv
    let pinfo = root.join("partition_info.csv");
    write_atomic(&pinfo, |f| {
        writeln!(f, "Norder,Npix")?;
        for (p, _) in plan {
            writeln!(f, "{},{}", p.order, p.npix)?;
        }
        Ok(())
    })
    .map_err(io(&pinfo))?;
    // hats.properties
    let max_order = plan.iter().map(|(p, _)| p.order).max().unwrap_or(0);
    let sky_fraction: f64 = plan
        .iter()
        .map(|(p, _)| 1.0 / (12.0 * 4f64.powi(i32::from(p.order))))
        .sum();
    let mut props: Vec<(String, String)> = vec![
        ("obs_collection".into(), opt.name.clone()),
        ("dataproduct_type".into(), opt.catalog_type.as_str().into()),
        ("hats_nrows".into(), rows.to_string()),
        ("hats_col_ra".into(), opt.ra_column.clone()),
        ("hats_col_dec".into(), opt.dec_column.clone()),
        ("hats_col_healpix".into(), HEALPIX_COLUMN.into()),
        ("hats_col_healpix_order".into(), "29".into()),
        ("hats_max_rows".into(), opt.max_rows.to_string()),
        ("hats_order".into(), max_order.to_string()),
        ("moc_sky_fraction".into(), format!("{sky_fraction:.8}")),
        (
            "hats_builder".into(),
            format!("tomoe {}", env!("CARGO_PKG_VERSION")),
        ),
        (
            "hats_creation_date".into(),
            chrono::Utc::now().format("%Y-%m-%dT%H:%MUTC").to_string(),
        ),
        ("hats_estsize".into(), (bytes / 1024).to_string()),
        ("hats_version".into(), "v0.1".into()),
    ];
    props.extend(opt.extra_properties.iter().cloned());
    let ppath = root.join("hats.properties");
    write_atomic(&ppath, |f| {
        writeln!(f, "#HATS catalog")?;
        for (k, v) in &props {
            writeln!(f, "{k}={}", escape_property(v))?;
        }
        Ok(())
    })
    .map_err(io(&ppath))?;
    Ok(HatsSummary {
        rows,
        partitions: plan.to_vec(),
        bytes,
    })
}

fn escape_property(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '=' | ':' => {
                s.push('\\');
                s.push(c);
            }
            _ => s.push(c),
        }
    }
    s
}

fn unescape_property(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some(o) => s.push(o),
                None => {}
            }
        } else {
            s.push(c);
        }
    }
    s
}

/// An open HATS catalog (ours or one written by `hats-import`).
#[derive(Debug, Clone)]
pub struct HatsCatalog {
    root: PathBuf,
    properties: BTreeMap<String, String>,
    pixels: Vec<Pixel>,
}

impl HatsCatalog {
    /// Opens the catalog at `root`: `hats.properties` (or `properties`) and `partition_info.csv`
    /// (or, without it, the partition files found under `dataset/`).
    pub fn open(root: &Path) -> Result<Self, HatsError> {
        let mut ppath = root.join("hats.properties");
        if !ppath.exists() {
            ppath = root.join("properties");
        }
        let text = fs::read_to_string(&ppath).map_err(|e| {
            HatsError::Invalid(format!(
                "{}: not a HATS catalog (no hats.properties: {e})",
                root.display()
            ))
        })?;
        let mut properties = BTreeMap::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
                continue;
            }
            let Some(pos) = l.find(['=', ':']) else {
                continue;
            };
            properties.insert(
                l[..pos].trim().to_string(),
                unescape_property(l[pos + 1..].trim()),
            );
        }
        let pinfo = root.join("partition_info.csv");
        let mut pixels = Vec::new();
        match fs::read_to_string(&pinfo) {
            Ok(t) => {
                let mut lines = t.lines();
                let header: Vec<String> = lines
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect();
                let (Some(io_), Some(ip)) = (
                    header.iter().position(|h| h == "Norder"),
                    header.iter().position(|h| h == "Npix"),
                ) else {
                    return Err(HatsError::Invalid(format!(
                        "{}: no Norder/Npix columns",
                        pinfo.display()
                    )));
                };
                for (n, line) in lines.enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let f: Vec<&str> = line.split(',').collect();
                    let parse = |i: usize| f.get(i).and_then(|s| s.trim().parse::<u64>().ok());
                    match (parse(io_), parse(ip)) {
                        (Some(o), Some(p)) if o <= 29 => pixels.push(Pixel {
                            order: o as u8,
                            npix: p,
                        }),
                        _ => {
                            return Err(HatsError::Invalid(format!(
                                "{} line {}: bad partition {line:?}",
                                pinfo.display(),
                                n + 2
                            )))
                        }
                    }
                }
            }
            Err(_) => pixels = scan_partitions(&root.join("dataset"))?,
        }
        pixels.sort();
        Ok(Self {
            root: root.to_path_buf(),
            properties,
            pixels,
        })
    }

    /// The catalog's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `hats.properties` entries.
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    /// Partitions, sorted.
    pub fn pixels(&self) -> &[Pixel] {
        &self.pixels
    }

    /// `hats_nrows` (if given).
    pub fn rows(&self) -> Option<u64> {
        self.properties
            .get("hats_nrows")
            .and_then(|s| s.parse().ok())
    }

    /// RA column (`hats_col_ra`, default `ra`).
    pub fn ra_column(&self) -> &str {
        self.properties
            .get("hats_col_ra")
            .map(String::as_str)
            .unwrap_or("ra")
    }

    /// Dec column (`hats_col_dec`, default `dec`).
    pub fn dec_column(&self) -> &str {
        self.properties
            .get("hats_col_dec")
            .map(String::as_str)
            .unwrap_or("dec")
    }

    /// Path of a partition's file (or directory, for `hats_npix_suffix=/`).
    pub fn partition_path(&self, p: Pixel) -> PathBuf {
        if self.properties.get("hats_npix_suffix").map(String::as_str) == Some("/") {
            self.root.join(format!(
                "dataset/Norder={}/Dir={}/Npix={}",
                p.order,
                p.dir(),
                p.npix
            ))
        } else {
            self.root.join(p.relative_path())
        }
    }

    fn partition_files(&self, p: Pixel) -> Result<Vec<PathBuf>, HatsError> {
        let path = self.partition_path(p);
        if path.is_dir() {
            let mut files: Vec<PathBuf> = fs::read_dir(&path)
                .map_err(io(&path))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
                .collect();
            files.sort();
            Ok(files)
        } else {
            Ok(vec![path])
        }
    }

    /// The Arrow schema (from `dataset/_common_metadata`, else the first partition).
    pub fn schema(&self) -> Result<SchemaRef, HatsError> {
        let meta = self.root.join("dataset/_common_metadata");
        let path = if meta.exists() {
            meta
        } else {
            let p = self.pixels.first().ok_or_else(|| {
                HatsError::Invalid(format!("{}: no partitions", self.root.display()))
            })?;
            self.partition_files(*p)?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    HatsError::Invalid(format!("{}: empty partition", self.root.display()))
                })?
        };
        let f = fs::File::open(&path).map_err(io(&path))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(pq(&path))?;
        Ok(b.schema().clone())
    }

    /// Partitions that may hold points within `radius_deg` of (`ra`, `dec`).
    pub fn pixels_in_cone(&self, ra: f64, dec: f64, radius_deg: f64) -> Vec<Pixel> {
        let deepest = self.pixels.iter().map(|p| p.order).max().unwrap_or(0);
        let cells = healpix::cone_cells(deepest, ra, dec, radius_deg.min(180.0));
        let mut wanted: HashSet<(u8, u64)> = HashSet::new();
        let orders: HashSet<u8> = self.pixels.iter().map(|p| p.order).collect();
        for &c in &cells {
            for &o in &orders {
                wanted.insert((o, c >> (2 * u32::from(deepest - o))));
            }
        }
        self.pixels
            .iter()
            .copied()
            .filter(|p| wanted.contains(&(p.order, p.npix)))
            .collect()
    }

    /// Every row of one partition (all columns, or those named).
    pub fn read_partition(
        &self,
        p: Pixel,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>, HatsError> {
        let mut out = Vec::new();
        for path in self.partition_files(p)? {
            out.extend(read_file(&path, columns, None)?);
        }
        Ok(out)
    }

    /// Rows of one partition, reading only the row groups whose `_healpix_29` statistics overlap
    /// `[lo, hi)` (rows outside the range may still be returned: filter them).
    pub fn read_partition_range(
        &self,
        p: Pixel,
        columns: Option<&[&str]>,
        range: (u64, u64),
    ) -> Result<Vec<RecordBatch>, HatsError> {
        let mut out = Vec::new();
        for path in self.partition_files(p)? {
            out.extend(read_file(&path, columns, Some(&[range]))?);
        }
        Ok(out)
    }

    /// Rows within `radius_deg` of (`ra`, `dec`) [deg], exactly (angular distance), using the
    /// partitions and the `_healpix_29` statistics of row groups to read little. `columns`
    /// selects columns (the position columns are read in any case and kept only if asked for).
    ///
    /// # Errors
    /// A bad cone (Dec outside ±90°, radius not in (0, 180]) is [`HatsError::Invalid`].
    pub fn cone(
        &self,
        ra: f64,
        dec: f64,
        radius_deg: f64,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>, HatsError> {
        if !(ra.is_finite() && dec.is_finite() && (-90.0..=90.0).contains(&dec)) {
            return Err(HatsError::Invalid(format!(
                "cone centre ({ra}, {dec}) is not on the sky"
            )));
        }
        if !(radius_deg > 0.0 && radius_deg <= 180.0) {
            return Err(HatsError::Invalid(format!(
                "cone radius {radius_deg}° outside (0, 180]"
            )));
        }
        let deepest = self.pixels.iter().map(|p| p.order).max().unwrap_or(0);
        let ranges = cone_ranges(ra, dec, radius_deg, deepest);
        let (ra_c, dec_c) = (self.ra_column().to_string(), self.dec_column().to_string());
        let cols = with_columns(columns, &[ra_c.as_str(), dec_c.as_str()]);
        let cone = tomoe_core::angle::Cone::new(ra, dec, radius_deg);
        let mut out = Vec::new();
        for p in self.pixels_in_cone(ra, dec, radius_deg) {
            for path in self.partition_files(p)? {
                for b in read_file(&path, cols.as_deref(), Some(&ranges))? {
                    let (a, d) = (f64_column(&b, &ra_c)?, f64_column(&b, &dec_c)?);
                    let keep: BooleanArray = (0..b.num_rows())
                        .map(|i| Some(cone.contains(a.value(i), d.value(i))))
                        .collect();
                    let b = filter_record_batch(&b, &keep)?;
                    if b.num_rows() == 0 {
                        continue;
                    }
                    let b = match columns {
                        Some(c) => project_names(&b, c)?,
                        None => b,
                    };
                    out.push(b);
                }
            }
        }
        Ok(out)
    }

    /// Parses and caches the Parquet footer of every partition file (what a long-running reader
    /// ends up holding), so that first reads of a partition do not pay for it; returns the
    /// number of files.
    pub fn warm(&self) -> Result<usize, HatsError> {
        let mut n = 0;
        for &p in &self.pixels {
            for path in self.partition_files(p)? {
                let f = fs::File::open(&path).map_err(io(&path))?;
                cached_metadata(&path, &f)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every row, partition by partition.
    pub fn read_all(&self, columns: Option<&[&str]>) -> Result<Vec<RecordBatch>, HatsError> {
        let mut out = Vec::new();
        for &p in &self.pixels {
            out.extend(self.read_partition(p, columns)?);
        }
        Ok(out)
    }
}

/// Sorted `[lo, hi)` ranges of `_healpix_29` covering a cone (a superset), from cells of about a
/// quarter of the radius (at least order `min_order`, at most 20).
///
/// # Panics
/// As [`healpix::cone_cells`]: a Dec outside ±90° or a radius outside (0, 180].
pub fn cone_ranges(ra: f64, dec: f64, radius_deg: f64, min_order: u8) -> Vec<(u64, u64)> {
    let mut k = 0u8;
    while k < 20 && 58.6 / f64::from(1u32 << k) > radius_deg / 4.0 {
        k += 1;
    }
    let k = k.max(min_order).min(29);
    let mut ranges: Vec<(u64, u64)> = healpix::cone_cells(k, ra, dec, radius_deg)
        .into_iter()
        .map(|c| healpix::range29(k, c))
        .collect();
    ranges.sort_unstable();
    // Merge adjacent ranges.
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(l) if l.1 >= r.0 => l.1 = l.1.max(r.1),
            _ => out.push(r),
        }
    }
    out
}

/// `columns` (if a selection) extended by the `needed` ones it lacks: what a reader must read
/// to filter on them before projecting back to `columns`.
pub fn with_columns<'a>(columns: Option<&[&'a str]>, needed: &[&'a str]) -> Option<Vec<&'a str>> {
    columns.map(|c| {
        let mut v = c.to_vec();
        for n in needed {
            if !v.contains(n) {
                v.push(n);
            }
        }
        v
    })
}

/// The columns of `b` named in `names`, in that order (names it lacks are left out).
pub fn project_names(
    b: &RecordBatch,
    names: &[&str],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = b.schema();
    let idx: Vec<usize> = names
        .iter()
        .filter_map(|n| schema.index_of(n).ok())
        .collect();
    b.project(&idx)
}

fn scan_partitions(dataset: &Path) -> Result<Vec<Pixel>, HatsError> {
    let mut out = Vec::new();
    let mut stack = vec![dataset.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(io(&d))? {
            let e = e.map_err(io(&d))?;
            let path = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(rest) = name.strip_prefix("Npix=") {
                let n = rest.trim_end_matches(".parquet");
                let order = path
                    .ancestors()
                    .filter_map(|a| {
                        a.file_name()?
                            .to_str()?
                            .strip_prefix("Norder=")?
                            .parse::<u8>()
                            .ok()
                    })
                    .next();
                if let (Some(o), Ok(n)) = (order, n.parse::<u64>()) {
                    out.push(Pixel { order: o, npix: n });
                }
            } else if path.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(out)
}

/// Parsed footers of the Parquet files read lately, by path, size and modification time (a
/// footer of a 2 × 10⁶-row partition in 8 Ki-row groups takes milliseconds to parse: the
/// light-curve service reads the same few files again and again). Published files are never
/// rewritten in place; the size and time guard against it anyway.
type MetaKey = (PathBuf, u64, Option<std::time::SystemTime>);
static METADATA: std::sync::Mutex<Option<HashMap<MetaKey, ArrowReaderMetadata>>> =
    std::sync::Mutex::new(None);

/// Entries kept before the cache is emptied.
const METADATA_CACHE_FILES: usize = 4096;

fn cached_metadata(path: &Path, f: &fs::File) -> Result<ArrowReaderMetadata, HatsError> {
    let m = f.metadata().map_err(io(path))?;
    let key = (path.to_path_buf(), m.len(), m.modified().ok());
    if let Some(hit) = METADATA
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|c| c.get(&key))
    {
        return Ok(hit.clone());
    }
    let meta = ArrowReaderMetadata::load(f, ArrowReaderOptions::new()).map_err(pq(path))?;
    let mut g = METADATA.lock().unwrap_or_else(|e| e.into_inner());
    let c = g.get_or_insert_with(HashMap::new);
    if c.len() >= METADATA_CACHE_FILES {
        c.clear();
    }
    c.insert(key, meta.clone());
    Ok(meta)
}

/// The Arrow schema of a Parquet file (footer cached like the reads').
pub fn parquet_schema(path: &Path) -> Result<SchemaRef, HatsError> {
    let f = fs::File::open(path).map_err(io(path))?;
    Ok(cached_metadata(path, &f)?.schema().clone())
}

/// Reads a Parquet file, optionally only some columns and only the row groups whose
/// `_healpix_29` statistics overlap one of the sorted `[lo, hi)` ranges.
fn read_file(
    path: &Path,
    columns: Option<&[&str]>,
    ranges: Option<&[(u64, u64)]>,
) -> Result<Vec<RecordBatch>, HatsError> {
    read_pruned(path, columns, ranges.map(|r| (HEALPIX_COLUMN, r)))
}

/// Reads a Parquet file (all columns, or those named), only the row groups whose statistics of
/// the integer column `column` overlap `[lo, hi]` (inclusive; rows outside may still be
/// returned: filter them). Files without statistics are read whole. For flat tables sorted by
/// an id (the light-curve calibration and field tables, by exposure).
pub fn read_parquet_range(
    path: &Path,
    columns: Option<&[&str]>,
    column: &str,
    lo: i64,
    hi: i64,
) -> Result<Vec<RecordBatch>, HatsError> {
    if lo > hi {
        return Ok(Vec::new());
    }
    read_pruned(
        path,
        columns,
        Some((
            column,
            &[(signed_key(lo), signed_key(hi).saturating_add(1))],
        )),
    )
}

/// A signed value as u64 keeping the order (shifted by 2⁶³): how [`read_pruned`] compares the
/// statistics of columns other than `_healpix_29`.
fn signed_key(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

fn read_pruned(
    path: &Path,
    columns: Option<&[&str]>,
    ranges: Option<(&str, &[(u64, u64)])>,
) -> Result<Vec<RecordBatch>, HatsError> {
    // `_healpix_29` values are compared as u64 (stored as Int64 bit patterns); other columns
    // are signed and shifted by 2⁶³ to compare the same way.
    let signed = ranges.is_some_and(|(c, _)| c != HEALPIX_COLUMN);
    let conv = move |v: i64| if signed { signed_key(v) } else { v as u64 };
    let f = fs::File::open(path).map_err(io(path))?;
    let meta = cached_metadata(path, &f)?;
    let mut b = ParquetRecordBatchReaderBuilder::new_with_metadata(f, meta);
    if let Some(cols) = columns {
        let schema = b.schema().clone();
        let mut idx = Vec::new();
        for c in cols {
            idx.push(
                schema.index_of(c).map_err(|_| {
                    HatsError::Invalid(format!("{}: no column {c:?}", path.display()))
                })?,
            );
        }
        let mask = ProjectionMask::roots(b.parquet_schema(), idx);
        b = b.with_projection(mask);
    }
    if let Some((column, ranges)) = ranges {
        let meta = b.metadata().clone();
        let hcol = meta
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == column);
        if let Some(hc) = hcol {
            let mut keep = Vec::new();
            for (i, rg) in meta.row_groups().iter().enumerate() {
                let overlap = match rg.column(hc).statistics() {
                    Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                        (Some(&lo), Some(&hi)) => {
                            let (lo, hi) = (conv(lo), conv(hi));
                            // First range ending after lo; overlaps if it starts at or before hi.
                            let j = ranges.partition_point(|r| r.1 <= lo);
                            j < ranges.len() && ranges[j].0 <= hi
                        }
                        _ => true,
                    },
                    Some(Statistics::Int32(s)) => match (s.min_opt(), s.max_opt()) {
                        (Some(&lo), Some(&hi)) => {
                            let (lo, hi) = (conv(i64::from(lo)), conv(i64::from(hi)));
                            let j = ranges.partition_point(|r| r.1 <= lo);
                            j < ranges.len() && ranges[j].0 <= hi
                        }
                        _ => true,
                    },
                    _ => true,
                };
                if overlap {
                    keep.push(i);
                }
            }
            b = b.with_row_groups(keep);
        }
    }
    let reader = b.build().map_err(pq(path))?;
    let mut out = Vec::new();
    for batch in reader {
        out.push(batch?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_splits_dense_cells_until_small_enough() {
        // 10 points in base cell 4 at one spot, 3 elsewhere in cell 4, 1 in cell 11.
        let spot = healpix::hash29(45.0, 0.0);
        let mut h: Vec<u64> = (0..10).map(|i| spot + i).collect();
        h.extend([healpix::hash29(10.0, 10.0), healpix::hash29(80.0, -10.0)]);
        h.push(healpix::hash29(300.0, -60.0));
        h.sort_unstable();
        let plan = plan_partitions(&h, 4, 6);
        let total: usize = plan.iter().map(|p| p.1).sum();
        assert_eq!(total, h.len());
        // The spot's cell reached max order (it cannot be split further) with its 10 rows.
        assert!(plan.iter().any(|(p, n)| p.order == 6 && *n == 10));
        // Every partition holds its rows' cells and is at most max_rows unless at max order.
        for (p, n) in &plan {
            assert!(*n <= 4 || p.order == 6);
        }
        // Sorted in nested order, and cells do not overlap.
        let ranges: Vec<(u64, u64)> = plan.iter().map(|(p, _)| p.range29()).collect();
        assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0));
    }

    #[test]
    fn incremental_plan_grows_like_a_full_plan_and_never_merges() {
        // Pseudo-random points around two spots and scattered over the sky.
        let mut x = 12345u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut point = |k: u64| {
            let (ra, dec) = match k % 3 {
                0 => (45.0, 0.0),
                1 => (200.0, 60.0),
                _ => ((next() % 360_000) as f64 / 1000.0, 0.0),
            };
            let j = |n: u64| (n % 1000) as f64 / 1000.0;
            healpix::hash29(ra + j(next()), dec + j(next()))
        };
        let first: Vec<u64> = (0..3000).map(&mut point).collect();
        let second: Vec<u64> = (0..2000).map(&mut point).collect();
        let mut a = first.clone();
        a.sort_unstable();
        let old = plan_partitions(&a, 100, 9);
        let mut b = second.clone();
        b.sort_unstable();
        let mut reads = 0;
        let grown = plan_incremental(&old, &b, 100, 9, &mut |p| {
            reads += 1;
            let (lo, hi) = p.range29();
            Ok(a.iter().copied().filter(|h| (lo..hi).contains(h)).collect())
        })
        .unwrap();
        let mut all = [first, second].concat();
        all.sort_unstable();
        // Growth only: the same partitions as planning all rows at once; only split partitions
        // were read.
        assert_eq!(grown, plan_partitions(&all, 100, 9));
        assert!(reads > 0 && reads < old.len(), "{reads} of {}", old.len());
        // Rows removed: partitions keep their cells (those left empty are dropped), none merge.
        let kept: Vec<(Pixel, usize)> = old
            .iter()
            .enumerate()
            .map(|(i, &(p, n))| (p, if i == 0 { 0 } else { n / 2 }))
            .collect();
        let shrunk = plan_incremental(&kept, &[], 100, 9, &mut |_| unreachable!()).unwrap();
        let left: Vec<(Pixel, usize)> = kept.iter().copied().filter(|k| k.1 > 0).collect();
        assert!(left.len() < old.len());
        assert_eq!(shrunk, left);
    }

    #[test]
    fn properties_escape_round_trip() {
        for s in ["a=b", "x:y", "back\\slash", "line\nbreak", "plain"] {
            assert_eq!(unescape_property(&escape_property(s)), s);
        }
    }
}
