//! Synthetic light-curve databases for the query benchmark (`tomoe bench lc-query`).
//!
//! `objects` objects spread uniformly over a cap of the sky, each measured `per_object` times
//! (`exposures` exposures of `per_object / exposures` frames), written twice with the same rows:
//!
//! * `<dir>/db`: the published layout the service reads (`catalogs/v000001/{objects,detections}`
//!   as HATS catalogs, `current` link): objects with their statistics, detections keyed by their
//!   object's `_healpix_29` and sorted by object and time, the Gaia columns copied in.
//! * `<dir>/seed`: the layout the seed's searches ran on: one flat Parquet file of detections
//!   per exposure (rows in sky order within the exposure, as an ingest writes them chip by
//!   chip; 128 Ki-row row groups with statistics) without Gaia columns, and a flat Gaia table,
//!   joined at read time.
//!
//! Gaia objects (a fraction `gaia_fraction`) get a `source_id` that carries their order-12
//! HEALPix cell in the top bits, as Gaia's do; the others negative ids. Magnitudes follow a
//! per-object mean with Gaussian noise of the error a Tomo-e-like noise model gives. Every value
//! is a function of (object, measurement index) through a counter-based generator, so the two
//! layouts hold the same rows however they are produced (partition by partition, exposure by
//! exposure), in parallel and in bounded memory.

use crate::db::{detections_batch, object_stats, objects_batch, ObjectInfo};
use crate::pipeline::DetectionRow;
use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tomoe_core::healpix;
use tomoe_core::time::UtcMicros;
use tomoe_core::FastMap as HashMap;
use tomoe_store::arrow::array::{ArrayRef, Float64Array, Int64Array};
use tomoe_store::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use tomoe_store::arrow::record_batch::RecordBatch;
use tomoe_store::hats::{self, CatalogType, HatsError, HatsOptions, Pixel};
use tomoe_store::parquet::arrow::ArrowWriter;
use tomoe_store::parquet::basic::Compression;
use tomoe_store::parquet::file::properties::WriterProperties;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Objects.
    pub objects: usize,
    /// Measurements per object (a multiple of `exposures`).
    pub per_object: usize,
    /// Exposures (one seed file each).
    pub exposures: usize,
    /// Centre of the cap [deg].
    pub centre: (f64, f64),
    /// Radius of the cap [deg].
    pub radius_deg: f64,
    /// Fraction of objects in Gaia.
    pub gaia_fraction: f64,
    /// Largest partition of the detections catalog [rows].
    pub partition_rows: usize,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            objects: 1_000_000,
            per_object: 100,
            exposures: 20,
            centre: (150.0, 30.0),
            radius_deg: 5.0,
            gaia_fraction: 0.7,
            partition_rows: 2_000_000,
            seed: 1,
        }
    }
}

/// One synthetic object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthObject {
    /// Object id (the Gaia source_id, or negative).
    pub id: i64,
    /// Gaia source_id.
    pub source_id: Option<i64>,
    /// Position [deg].
    pub ra: f64,
    /// Position [deg].
    pub dec: f64,
    /// Gaia G (NaN without Gaia).
    pub g: f64,
    /// Gaia BP − RP (NaN without Gaia).
    pub bp_rp: f64,
    /// Mean Tomo-e magnitude.
    pub mag: f64,
    /// `_healpix_29`.
    pub h29: u64,
}

/// Counter-based generator (SplitMix64 finaliser): uniform in [0, 1) for (seed, a, b).
fn uniform(seed: u64, a: u64, b: u64) -> f64 {
    let mut z = seed
        .wrapping_add(a.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(b.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Standard normal for (seed, a, b) (Box–Muller).
fn normal(seed: u64, a: u64, b: u64) -> f64 {
    let u1 = uniform(seed, a, 2 * b).max(1e-300);
    let u2 = uniform(seed, a, 2 * b + 1);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The objects, sorted by `_healpix_29` (then id).
pub fn objects(opt: &SynthOptions) -> Vec<SynthObject> {
    let (ra0, dec0) = opt.centre;
    let cos_r = opt.radius_deg.to_radians().cos();
    let mut out: Vec<SynthObject> = (0..opt.objects as u64)
        .into_par_iter()
        .map(|i| {
            // Uniform on the cap: cos θ uniform in [cos r, 1], azimuth uniform.
            let ct = 1.0 - uniform(opt.seed, i, 0) * (1.0 - cos_r);
            let st = (1.0 - ct * ct).max(0.0).sqrt();
            let az = std::f64::consts::TAU * uniform(opt.seed, i, 1);
            // Rotate (θ, az) about the centre.
            let (sd0, cd0) = dec0.to_radians().sin_cos();
            let sd = sd0 * ct + cd0 * st * az.cos();
            let dec = sd.clamp(-1.0, 1.0).asin();
            let y = az.sin() * st * cd0;
            let x = ct - sd0 * sd;
            let ra = (ra0.to_radians() + y.atan2(x))
                .to_degrees()
                .rem_euclid(360.0);
            let dec = dec.to_degrees();
            let gaia = uniform(opt.seed, i, 2) < opt.gaia_fraction;
            // Magnitudes: roughly the rising counts of a magnitude-limited sample.
            let mag = 18.0 - 6.0 * uniform(opt.seed, i, 3).powf(2.5);
            let bp_rp = 0.5 + 1.5 * uniform(opt.seed, i, 4);
            let source_id = gaia.then(|| {
                let cell = healpix::hash(12, ra, dec) as i64;
                (cell << 35) | (i as i64 & ((1 << 35) - 1))
            });
            SynthObject {
                id: source_id.unwrap_or(-(i as i64) - 1),
                source_id,
                ra,
                dec,
                g: if gaia { mag + 0.1 } else { f64::NAN },
                bp_rp: if gaia { bp_rp } else { f64::NAN },
                mag,
                h29: healpix::hash29(ra, dec),
            }
        })
        .collect();
    out.par_sort_unstable_by_key(|o| (o.h29, o.id));
    out
}

const T0_MICROS: i64 = 1_700_000_000_000_000;

/// Measurement `k` of object `o` (`index`: its position in [`objects`]).
fn detection(opt: &SynthOptions, o: &SynthObject, index: usize, k: usize) -> DetectionRow {
    let frames = opt.per_object / opt.exposures;
    let (e, f) = (k / frames, k % frames);
    // Exposures on successive nights, 0.5 s frames.
    let time = UtcMicros(T0_MICROS + e as i64 * 86_400_000_000 + f as i64 * 500_000);
    let err = 0.005 + 0.02 * 10f64.powf(0.4 * (o.mag - 15.0));
    let mag = o.mag + err * normal(opt.seed, index as u64, k as u64 + 16);
    let zp = 24.3;
    let flux = 10f64.powf(-0.4 * (mag - zp));
    DetectionRow {
        object_id: o.id,
        source_id: o.source_id,
        exp_id: 1_000_000 + e as i64,
        det_id: (o.h29 >> 40) as i32 % 84 + 1,
        frame: f as i32,
        time,
        x: 1000.0 + 800.0 * uniform(opt.seed, index as u64, 5),
        y: 560.0 + 500.0 * uniform(opt.seed, index as u64, 6),
        ra: o.ra,
        dec: o.dec,
        flux,
        flux_err: flux * err / 1.0857,
        mag_inst: mag - zp,
        mag_inst_err: err,
        mag,
        mag_err: err,
        flags: 0,
        g: o.g,
        bp_rp: o.bp_rp,
    }
}

/// Errors writing.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What.
        source: std::io::Error,
    },
    /// Parquet or HATS.
    #[error("{0}")]
    Table(String),
}

impl From<HatsError> for SynthError {
    fn from(e: HatsError) -> Self {
        SynthError::Table(e.to_string())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
    move |source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthReport {
    /// Objects.
    pub objects: usize,
    /// Detections (in each layout).
    pub detections: usize,
    /// Partitions of the detections catalog.
    pub partitions: usize,
    /// Bytes of the published detections catalog.
    pub db_bytes: u64,
    /// Bytes of the seed's detection files.
    pub seed_bytes: u64,
}

/// Writes `<dir>/db` and `<dir>/seed` (replacing them); `progress(done, total)` counts
/// detections written (both layouts: total = 2 × detections).
pub fn write(
    dir: &Path,
    opt: &SynthOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SynthReport, SynthError> {
    if opt.exposures == 0 || !opt.per_object.is_multiple_of(opt.exposures) {
        return Err(SynthError::Table(format!(
            "measurements per object ({}) must be a multiple of the exposures ({})",
            opt.per_object, opt.exposures
        )));
    }
    let objs = objects(opt);
    let total = 2 * objs.len() * opt.per_object;
    let done = AtomicUsize::new(0);
    // --- the published layout ---
    let vdir = dir.join("db/catalogs/v000001");
    fs::create_dir_all(&vdir).map_err(io(&vdir))?;
    let h: Vec<u64> = objs.iter().map(|o| o.h29).collect();
    let per_partition = (opt.partition_rows / opt.per_object).max(1);
    let plan = hats::plan_partitions(&h, per_partition, 12);
    let mut starts = Vec::with_capacity(plan.len());
    let mut at = 0;
    for (p, n) in &plan {
        starts.push((*p, at, *n));
        at += n;
    }
    let mut fields = vec![Arc::new(Field::new(
        hats::HEALPIX_COLUMN,
        DataType::Int64,
        false,
    ))];
    fields.extend(crate::db::detections_schema().fields().iter().cloned());
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let stats = Mutex::new(HashMap::with_capacity_and_hasher(
        objs.len(),
        Default::default(),
    ));
    let pixels: Vec<Pixel> = plan.iter().map(|p| p.0).collect();
    let opt_h = crate::db::detections_options(opt.partition_rows);
    let produce = |pixel: Pixel| -> Result<hats::Partition, HatsError> {
        let &(_, first, n) = starts
            .iter()
            .find(|s| s.0 == pixel)
            .ok_or_else(|| HatsError::Invalid("unplanned pixel".into()))?;
        let mut rows = Vec::with_capacity(n * opt.per_object);
        let mut keys = Vec::with_capacity(n * opt.per_object);
        for (i, o) in objs.iter().enumerate().skip(first).take(n) {
            for k in 0..opt.per_object {
                rows.push(detection(opt, o, i, k));
                keys.push(o.h29 as i64);
            }
        }
        let b = detections_batch(&rows);
        drop(rows);
        stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(object_stats(std::slice::from_ref(&b)));
        let mut cols: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(keys))];
        cols.extend(b.columns().iter().cloned());
        let out = RecordBatch::try_new(schema.clone(), cols)?;
        progress(
            done.fetch_add(out.num_rows(), Ordering::Relaxed) + out.num_rows(),
            total,
        );
        Ok(hats::Partition::Rows(out))
    };
    let dsum = hats::write_catalog_with(
        &vdir.join("detections"),
        schema.clone(),
        &pixels,
        produce,
        &opt_h,
    )?;
    let stats = stats.into_inner().unwrap_or_else(|e| e.into_inner());
    let ids: Vec<i64> = objs.iter().map(|o| o.id).collect();
    let info: HashMap<i64, ObjectInfo> = objs
        .iter()
        .map(|o| {
            (
                o.id,
                ObjectInfo {
                    source_id: o.source_id,
                    ra: o.ra,
                    dec: o.dec,
                    g: o.g,
                    bp_rp: o.bp_rp,
                    parallax: f64::NAN,
                    pmra: f64::NAN,
                    pmdec: f64::NAN,
                },
            )
        })
        .collect();
    crate::db::write_object_index(&vdir, objs.iter().map(|o| (o.id, o.h29)))
        .map_err(|e| SynthError::Table(e.to_string()))?;
    let ob = objects_batch(&ids, &info, &stats);
    let mut opt_o = HatsOptions::new("tomoe_objects", CatalogType::Object);
    opt_o.max_rows = opt.partition_rows;
    opt_o.max_order = 12;
    opt_o.row_group_rows = crate::db::OBJECT_ROW_GROUP_ROWS;
    opt_o.compression = crate::db::LOOKUP_COMPRESSION;
    opt_o.sort_by = vec!["object_id".into()];
    hats::write_catalog(&vdir.join("objects"), ob.schema(), &[ob], &opt_o)?;
    let link = dir.join("db/current");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink("catalogs/v000001", &link).map_err(io(&link))?;

    // --- the seed's layout ---
    let seed = dir.join("seed/detections");
    if seed.exists() {
        fs::remove_dir_all(&seed).map_err(io(&seed))?;
    }
    fs::create_dir_all(&seed).map_err(io(&seed))?;
    let flat_schema = {
        let s = crate::db::detections_schema();
        Arc::new(Schema::new(
            s.fields()
                .iter()
                .filter(|f| f.name() != "phot_g_mean_mag" && f.name() != "bp_rp")
                .cloned()
                .collect::<Vec<_>>(),
        ))
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    let frames = opt.per_object / opt.exposures;
    let chunk = 200_000usize;
    let sizes: Vec<u64> = (0..opt.exposures)
        .into_par_iter()
        .map(|e| -> Result<u64, SynthError> {
            let path = seed.join(format!("exposure-{e:04}.parquet"));
            let f = fs::File::create(&path).map_err(io(&path))?;
            let mut w = ArrowWriter::try_new(f, flat_schema.clone(), Some(props.clone()))
                .map_err(|x| SynthError::Table(x.to_string()))?;
            for start in (0..objs.len()).step_by(chunk) {
                let end = (start + chunk).min(objs.len());
                let mut rows = Vec::with_capacity((end - start) * frames);
                for (i, o) in objs.iter().enumerate().take(end).skip(start) {
                    for fr in 0..frames {
                        rows.push(detection(opt, o, i, e * frames + fr));
                    }
                }
                let b = detections_batch(&rows);
                let b = tomoe_store::hats::project_names(
                    &b,
                    &flat_schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>(),
                )
                .map_err(|x| SynthError::Table(x.to_string()))?;
                w.write(&b).map_err(|x| SynthError::Table(x.to_string()))?;
                progress(
                    done.fetch_add(b.num_rows(), Ordering::Relaxed) + b.num_rows(),
                    total,
                );
            }
            let f = w
                .into_inner()
                .map_err(|x| SynthError::Table(x.to_string()))?;
            Ok(f.metadata().map_err(io(&path))?.len())
        })
        .collect::<Result<_, _>>()?;
    // The flat Gaia table, by source_id.
    let mut gaia: Vec<&SynthObject> = objs.iter().filter(|o| o.source_id.is_some()).collect();
    gaia.sort_by_key(|o| o.source_id);
    let gb = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("source_id", DataType::Int64, false),
            Field::new("ra", DataType::Float64, false),
            Field::new("dec", DataType::Float64, false),
            Field::new("phot_g_mean_mag", DataType::Float64, true),
            Field::new("bp_rp", DataType::Float64, true),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(
                gaia.iter().map(|o| o.source_id.unwrap_or_default()),
            )),
            Arc::new(Float64Array::from_iter_values(gaia.iter().map(|o| o.ra))),
            Arc::new(Float64Array::from_iter_values(gaia.iter().map(|o| o.dec))),
            Arc::new(Float64Array::from_iter_values(gaia.iter().map(|o| o.g))),
            Arc::new(Float64Array::from_iter_values(gaia.iter().map(|o| o.bp_rp))),
        ],
    )
    .map_err(|x| SynthError::Table(x.to_string()))?;
    let gpath = dir.join("seed/gaia.parquet");
    let f = fs::File::create(&gpath).map_err(io(&gpath))?;
    let mut w = ArrowWriter::try_new(f, gb.schema(), Some(props))
        .map_err(|x| SynthError::Table(x.to_string()))?;
    w.write(&gb).map_err(|x| SynthError::Table(x.to_string()))?;
    w.close().map_err(|x| SynthError::Table(x.to_string()))?;
    Ok(SynthReport {
        objects: objs.len(),
        detections: dsum.rows,
        partitions: dsum.partitions.len(),
        db_bytes: dsum.bytes,
        seed_bytes: sizes.iter().sum(),
    })
}
