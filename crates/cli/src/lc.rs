//! `tomoe gaia …` and `tomoe lc …`: the Gaia store and the light-curve database.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tomoe_core::time::CivilDate;
use tomoe_lightcurve::config::LightcurveConfig;
use tomoe_lightcurve::db::LcDb;
use tomoe_lightcurve::gaia::{self, GaiaStore};
use tomoe_lightcurve::ingest::{ingest_night, Input};

/// `tomoe gaia …`
#[derive(Debug, Subcommand)]
pub enum GaiaCmd {
    /// Import Gaia DR3 files into the platform's HATS store.
    #[command(
        after_help = "Examples:\n  tomoe gaia import GaiaSource_000000-003111.csv.gz GaiaSource_003112-005263.csv.gz\n  tomoe gaia import query_result.vot -o data/gaia\n  tomoe gaia import /data/gaia_dr3_hats   # an existing HATS catalog (e.g. LSDB's)\n\nFormats: CSV or ECSV (also .gz), VOTable (TABLEDATA/BINARY/BINARY2, also .gz), FITS binary table, Parquet, a HATS directory. Required columns: source_id, ra, dec, phot_g_mean_mag (Gaia archive names); others are kept when present. Repeated source_ids are dropped. The store is replaced atomically."
    )]
    Import {
        /// Input files or HATS directories.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output store (default: lightcurve.gaia of the configuration).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Largest number of sources per HEALPix partition.
        #[arg(long, default_value_t = 500_000)]
        max_rows: usize,
    },
    /// Sources of the store within a cone (CSV on standard output).
    Cone {
        /// RA [deg].
        #[arg(long, allow_negative_numbers = true)]
        ra: f64,
        /// Dec [deg].
        #[arg(long, allow_negative_numbers = true)]
        dec: f64,
        /// Radius [deg].
        #[arg(long, allow_negative_numbers = true)]
        radius: f64,
        /// Store (default: lightcurve.gaia).
        #[arg(long)]
        store: Option<PathBuf>,
    },
}

/// `tomoe lc …`
#[derive(Debug, Subcommand)]
pub enum LcCmd {
    /// Ingest a night: cubes (or external catalogues) → tracks → Gaia → calibration → tables.
    Ingest(IngestArgs),
    /// The resident service: ingests nights as the archive logs their cubes (Redis notices).
    Run {
        /// Quiet time after the last notice before ingesting [s].
        #[arg(long, default_value_t = 10.0)]
        settle: f64,
        /// Reconcile with the observation log at least this often [s].
        #[arg(long, default_value_t = 60.0)]
        reconcile: f64,
    },
    /// Nights ingested and the published tables.
    Status,
    /// Publish a new version from the ingested nights, with the objects' statistics leaving out
    /// what the blocklist hides now (`lc run` does this by itself when the rules change).
    Publish,
    /// Query the published database: objects in a cone, a light curve, the nearest object.
    #[command(subcommand)]
    Query(QueryCmd),
    /// Fit the Gaia → Tomo-e prediction polynomial (lightcurve.gaia_to_tomoe) from the
    /// published objects: the colour-dependent residual of constant Gaia stars.
    #[command(
        after_help = "Example:\n  tomoe lc fit-colour --degree 3\n\nPrints the corrected coefficients as a [lightcurve] line for tomoe.toml; re-ingest the nights after changing them."
    )]
    FitColour {
        /// Polynomial degree (≥ 2; the constant and linear parts are absorbed by each chip's
        /// zero point and colour term).
        #[arg(long, default_value_t = 3)]
        degree: usize,
        /// Fewest calibrated measurements per star.
        #[arg(long, default_value_t = 6)]
        min_points: i64,
        /// Largest χ²/ν about the mean (constant stars only).
        #[arg(long, default_value_t = 3.0)]
        max_chi2: f64,
    },
}

/// `tomoe lc query …`
#[derive(Debug, Subcommand)]
pub enum QueryCmd {
    /// Objects within a cone (with magnitude, Gaia and variability filters).
    #[command(
        after_help = "Example:\n  tomoe lc query cone --ra 50.5 --dec 56.4 --radius 0.05 --mag-max 16 --format csv"
    )]
    Cone {
        /// RA [deg].
        #[arg(long, allow_negative_numbers = true)]
        ra: f64,
        /// Dec [deg].
        #[arg(long, allow_negative_numbers = true)]
        dec: f64,
        /// Radius [deg] (at most 10).
        #[arg(long, allow_negative_numbers = true)]
        radius: f64,
        /// Brightest weighted-mean magnitude.
        #[arg(long, allow_negative_numbers = true)]
        mag_min: Option<f64>,
        /// Faintest weighted-mean magnitude.
        #[arg(long, allow_negative_numbers = true)]
        mag_max: Option<f64>,
        /// Only Gaia objects.
        #[arg(long, conflicts_with = "not_gaia")]
        gaia: bool,
        /// Only objects not in Gaia.
        #[arg(long)]
        not_gaia: bool,
        /// Smallest χ²/ν against a constant (variables).
        #[arg(long)]
        chi2_min: Option<f64>,
        /// Output: table, csv, json, ndjson, parquet.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// The light curve of one object (by object id = Gaia source_id for Gaia objects, or the
    /// nearest object to --ra/--dec).
    #[command(
        after_help = "Examples:\n  tomoe lc query curve --object 447945332123238403 --format csv\n  tomoe lc query curve --ra 50.51 --dec 56.40 --columns mjd,mag,mag_err"
    )]
    Curve {
        /// Object id (a Gaia source_id for Gaia objects; negative for others).
        #[arg(long, allow_negative_numbers = true, conflicts_with_all = ["ra", "dec"])]
        object: Option<i64>,
        /// RA [deg] (nearest object within --radius).
        #[arg(long, allow_negative_numbers = true, requires = "dec")]
        ra: Option<f64>,
        /// Dec [deg].
        #[arg(long, allow_negative_numbers = true, requires = "ra")]
        dec: Option<f64>,
        /// Search radius for --ra/--dec [arcsec].
        #[arg(long, default_value_t = 2.0)]
        radius: f64,
        /// From (MJD).
        #[arg(long)]
        from: Option<f64>,
        /// To (MJD).
        #[arg(long)]
        to: Option<f64>,
        /// Columns (comma-separated; default all).
        #[arg(long)]
        columns: Option<String>,
        /// Output: table, csv, json, ndjson, parquet.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// The static sources, movers or singles of one field (exposure and chip).
    #[command(
        after_help = "Example:\n  tomoe lc query field --exp-id 860262 --det-id 111 --table sources --format csv"
    )]
    Field {
        /// Exposure (EXP_ID).
        #[arg(long)]
        exp_id: i64,
        /// Chip (DET_ID).
        #[arg(long)]
        det_id: i32,
        /// sources, movers, singles or calibration.
        #[arg(long, default_value = "sources", value_parser = ["sources", "movers", "singles", "calibration"])]
        table: String,
        /// Output: table, csv, json, ndjson, parquet.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Points of moving tracks, by time range (MJD) and region.
    #[command(
        after_help = "Example:\n  tomoe lc query movers --from 61370.1 --to 61370.3 --ra 48.3 --dec 56.4 --radius 1"
    )]
    Movers {
        /// From (MJD).
        #[arg(long)]
        from: Option<f64>,
        /// To (MJD).
        #[arg(long)]
        to: Option<f64>,
        /// Region centre RA [deg].
        #[arg(long, allow_negative_numbers = true, requires_all = ["dec", "radius"])]
        ra: Option<f64>,
        /// Region centre Dec [deg].
        #[arg(long, allow_negative_numbers = true, requires_all = ["ra", "radius"])]
        dec: Option<f64>,
        /// Region radius [deg].
        #[arg(long, allow_negative_numbers = true, requires_all = ["ra", "dec"])]
        radius: Option<f64>,
        /// Output: table, csv, json, ndjson, parquet.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// The calibration (zero point, colour term, scatter, counts) per exposure and chip.
    #[command(after_help = "Example:\n  tomoe lc query calibration --exp-id 860262")]
    Calibration {
        /// Only this exposure.
        #[arg(long)]
        exp_id: Option<i64>,
        /// Output: table, csv, json, ndjson, parquet.
        #[arg(long, default_value = "table")]
        format: String,
    },
}

/// Arguments of `tomoe lc ingest`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  tomoe lc ingest --night 2023-01-02              # the night's cubes from the observation log\n  tomoe lc ingest cubes/                          # FITS cubes in a directory, grouped by night\n  tomoe lc ingest --catalogs cats/*.cat.fits     # external per-frame catalogues\n\nA catalogue rTMQ….<anything> is measured on the image rTMQ….fits in the same directory (or in --images); its columns are mapped by [lightcurve.columns]. Re-ingesting a night replaces it; object ids stay the same."
)]
pub struct IngestArgs {
    /// Cubes, catalogues, or directories of them (default: the night's cubes from the log).
    pub inputs: Vec<PathBuf>,
    /// The night (YYYY-MM-DD); with inputs, only those of this night are taken.
    #[arg(long)]
    pub night: Option<String>,
    /// Inputs are external per-frame catalogues.
    #[arg(long)]
    pub catalogs: bool,
    /// Directory of the images the catalogues were measured on (default: next to each).
    #[arg(long)]
    pub images: Option<PathBuf>,
}

/// The progress bar of long CLI jobs (ingest, import, the demo).
pub(crate) fn progress_bar(len: u64, msg: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len).with_style(
        indicatif::ProgressStyle::with_template("  {msg:12} {bar:40} {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(msg.to_string());
    bar
}

/// Runs `tomoe gaia …`.
pub fn gaia(cmd: GaiaCmd, cfg: &LightcurveConfig) -> anyhow::Result<()> {
    match cmd {
        GaiaCmd::Import {
            inputs,
            out,
            max_rows,
        } => {
            if max_rows == 0 {
                bail!("--max-rows must be > 0");
            }
            let out = out.unwrap_or_else(|| cfg.gaia.clone());
            let bar = progress_bar(inputs.len() as u64, "reading");
            let rep = gaia::import(&inputs, &out, max_rows, |i, _| bar.set_position(i as u64))?;
            bar.finish_and_clear();
            eprintln!(
                "imported {} sources from {} file(s) ({} repeated source_ids dropped) into {} partitions at {} ({:.1} MB)",
                rep.written.rows,
                rep.files,
                rep.duplicates,
                rep.written.partitions.len(),
                out.display(),
                rep.written.bytes as f64 / 1e6
            );
            Ok(())
        }
        GaiaCmd::Cone {
            ra,
            dec,
            radius,
            store,
        } => {
            let store = GaiaStore::open(&store.unwrap_or_else(|| cfg.gaia.clone()))?;
            let b = store.catalog().cone(ra, dec, radius, None)?;
            let schema = store.catalog().schema()?;
            let mut out = std::io::stdout().lock();
            tomoe_store::format::write_batches(
                &mut out,
                &schema,
                &b,
                tomoe_store::format::OutputFormat::Csv,
            )?;
            Ok(())
        }
    }
}

fn fits_files(p: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("cannot read {}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                fits_files(&e, out)?;
            } else if e.extension().is_some_and(|x| x == "fits") {
                out.push(e);
            }
        }
    } else if p.exists() {
        out.push(p.to_path_buf());
    } else {
        bail!("{}: no such file or directory", p.display());
    }
    Ok(())
}

fn image_of(catalog: &Path, images: Option<&Path>) -> PathBuf {
    let name = catalog
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = name.split('.').next().unwrap_or(&name).to_string();
    let dir = images
        .map(Path::to_path_buf)
        .or_else(|| catalog.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    dir.join(format!("{stem}.fits"))
}

fn night_of(image: &Path) -> anyhow::Result<CivilDate> {
    let h = tomoe_fits::ImageFile::open(image).with_context(|| format!("{}", image.display()))?;
    let t = tomoe_fits::TomoeHeader::from_header(&h.header, None);
    t.observing_night()
        .with_context(|| format!("{}: no start time (UTC) in the header", image.display()))
}

/// The database, with the chips the archive's blocklist hides (from the observation log) left
/// out of the objects' statistics when publishing.
fn hidden_aware_db(full: &crate::config::Config) -> anyhow::Result<LcDb> {
    let db = LcDb::new(&full.lightcurve.root);
    if !full.archive.obslog_root.exists() {
        return Ok(db);
    }
    let log = tomoe_store::ObsLog::open(&full.archive.obslog_root)?;
    let hidden = tomoe_lightcurve::service::hidden_chips(&log, Some(&full.archive.blocklist_dir))
        .map_err(|e| {
        anyhow::anyhow!("blocklist {}: {e}", full.archive.blocklist_dir.display())
    })?;
    Ok(db.with_hidden(std::sync::Arc::new(hidden)))
}

/// Runs `tomoe lc …`.
pub fn lc(cmd: LcCmd, full: &crate::config::Config) -> anyhow::Result<i32> {
    let cfg = &full.lightcurve;
    cfg.validate().map_err(|e| anyhow::anyhow!(e))?;
    match cmd {
        LcCmd::Ingest(a) => ingest(a, full),
        LcCmd::Run { settle, reconcile } => {
            let a = &full.archive;
            let svc = tomoe_lightcurve::service::ServiceConfig {
                redis_url: a.redis_url.clone(),
                channel: a.channel.clone(),
                stream_key: matches!(a.transport, tomoe_archive::config::Transport::Stream)
                    .then(|| a.stream_key.clone()),
                obslog_root: a.obslog_root.clone(),
                archive_root: a.archive_root.clone(),
                settle: crate::secs(settle, "--settle")?,
                reconcile: crate::secs(reconcile, "--reconcile")?.max(Duration::from_secs(1)),
                blocklist_dir: Some(a.blocklist_dir.clone()),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(tomoe_lightcurve::service::run(
                svc,
                cfg.clone(),
                crate::shutdown_signal(),
            ))
            .map_err(|e| anyhow::anyhow!(e))?;
            Ok(0)
        }
        LcCmd::FitColour {
            degree,
            min_points,
            max_chi2,
        } => {
            if !(2..=6).contains(&degree) {
                bail!("--degree must be 2..=6");
            }
            let cur = LcDb::new(&cfg.root).current().with_context(|| {
                format!(
                    "nothing published in {} yet (tomoe lc ingest)",
                    cfg.root.display()
                )
            })?;
            let objects = tomoe_store::hats::HatsCatalog::open(&cur.join("objects"))?;
            let stars =
                tomoe_lightcurve::colour::stars_from_objects(&objects, min_points, max_chi2)?;
            let Some(f) = tomoe_lightcurve::colour::fit(&stars, &cfg.gaia_to_tomoe, degree) else {
                bail!(
                    "too few constant Gaia stars ({}) for a degree-{degree} fit",
                    stars.len()
                );
            };
            println!(
                "{} constant Gaia stars ({} clipped), residual scatter {:.4} mag",
                f.n_used, f.n_clipped, f.scatter
            );
            for (i, (a, e)) in f.correction.iter().zip(&f.errors).enumerate() {
                println!(
                    "  correction c{i}: {a:+.5} ± {e:.5}{}",
                    if i < 2 {
                        "  (absorbed by zero point / colour term)"
                    } else {
                        ""
                    }
                );
            }
            let list: Vec<String> = f.coeffs.iter().map(|c| format!("{c:.5}")).collect();
            println!("[lightcurve]\ngaia_to_tomoe = [{}]", list.join(", "));
            Ok(0)
        }
        LcCmd::Query(q) => query(q, cfg),
        LcCmd::Publish => {
            let db = hidden_aware_db(full)?;
            let r = db.republish(cfg.partition_rows, cfg.object_radius_arcsec)?;
            println!(
                "published {}: {} objects, {} detections ({} hidden chips left out of the statistics)",
                r.version.display(),
                r.objects,
                r.detections,
                db.published_hidden().len()
            );
            Ok(0)
        }
        LcCmd::Status => {
            let db = LcDb::new(&cfg.root);
            let nights = db.nights()?;
            println!("light-curve database {}", cfg.root.display());
            for n in &nights {
                println!(
                    "  night {n}: {} inputs",
                    db.night_inputs(*n).map_or(0, |v| v.len())
                );
            }
            match db.current() {
                Some(v) => {
                    println!("  published: {}", v.display());
                    for t in ["detections", "objects", "movers", "singles"] {
                        if let Ok(c) = tomoe_store::hats::HatsCatalog::open(&v.join(t)) {
                            println!(
                                "    {t:10} {:>12} rows in {} partitions",
                                c.rows().unwrap_or(0),
                                c.pixels().len()
                            );
                        }
                    }
                }
                None => println!("  nothing published yet"),
            }
            Ok(0)
        }
    }
}

fn ingest(a: IngestArgs, full: &crate::config::Config) -> anyhow::Result<i32> {
    let cfg = &full.lightcurve;
    let night = a
        .night
        .as_deref()
        .map(|s| CivilDate::parse(s).map_err(|e| anyhow::anyhow!("--night {s:?}: {e}")))
        .transpose()?;
    // Inputs grouped by night.
    let mut by_night: BTreeMap<CivilDate, Vec<Input>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    if a.inputs.is_empty() {
        let Some(n) = night else {
            bail!("give --night YYYY-MM-DD (cubes from the observation log) or input files");
        };
        if a.catalogs {
            bail!("--catalogs needs the catalogue files as arguments");
        }
        let log = tomoe_store::ObsLog::open(&full.archive.obslog_root)?;
        let cubes = tomoe_lightcurve::service::night_cubes(&log, &full.archive.archive_root, n)
            .map_err(|e| anyhow::anyhow!(e))?;
        if cubes.is_empty() {
            bail!("the observation log has no cubes (TOMOE-IMAGE-CUBE) for night {n}");
        }
        by_night.insert(n, cubes.into_iter().map(Input::Cube).collect());
    } else {
        let mut files = Vec::new();
        for p in &a.inputs {
            if a.catalogs && p.is_file() {
                files.push(p.clone());
            } else {
                fits_files(p, &mut files)?;
            }
        }
        for f in files {
            let input = if a.catalogs {
                Input::Catalog {
                    image: image_of(&f, a.images.as_deref()),
                    catalog: f,
                }
            } else {
                Input::Cube(f)
            };
            let image = match &input {
                Input::Cube(p) => p.clone(),
                Input::Catalog { image, .. } => image.clone(),
            };
            match night_of(&image) {
                Ok(n) if night.is_none_or(|w| w == n) => by_night.entry(n).or_default().push(input),
                Ok(_) => {}
                Err(e) => unreadable.push(format!("{e:#}")),
            }
        }
    }
    for u in &unreadable {
        eprintln!("refused: {u}");
    }
    if by_night.is_empty() {
        bail!("nothing to ingest");
    }
    let gaia = match GaiaStore::open(&cfg.gaia) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!(
                "warning: no Gaia store at {} ({e}); sources will not be matched or calibrated. Import one with `tomoe gaia import`.",
                cfg.gaia.display()
            );
            None
        }
    };
    let db = hidden_aware_db(full)?;
    let mut refused = unreadable.len();
    for (n, inputs) in by_night {
        let bar = progress_bar(inputs.len() as u64, "measuring");
        let rep = ingest_night(&db, n, &inputs, gaia.as_ref(), cfg, &|d, _| {
            bar.set_position(d as u64)
        })?;
        bar.finish_and_clear();
        for (p, why) in &rep.refused {
            eprintln!("refused: {}: {why}", p.display());
        }
        refused += rep.refused.len();
        let det_rate = rep.detections as f64 / (rep.analyse_seconds + rep.write_seconds).max(1e-9);
        println!(
            "night {n}: {}; {:.1} s measuring, {:.1} s writing ({:.0} detections/s)",
            rep.summary(),
            rep.analyse_seconds,
            rep.write_seconds,
            det_rate
        );
        println!(
            "published {} ({} objects, {} detections in {} partitions)",
            rep.published.version.display(),
            rep.published.objects,
            rep.published.detections,
            rep.published.partitions
        );
    }
    Ok(if refused > 0 { 2 } else { 0 })
}

/// Gaia-like sources of a store around chip `c` of exposure `k` of `sim` (for simulations).
pub fn sim_sources(
    store: &GaiaStore,
    sim: &tomoe_sim::StackSim,
    k: usize,
    c: usize,
) -> anyhow::Result<Vec<tomoe_sim::gaia::GaiaSource>> {
    let w = sim.wcs(k, c);
    let (ra, dec) = w.pix_to_sky(
        (sim.width as f64 + 1.0) / 2.0,
        (sim.height as f64 + 1.0) / 2.0,
    );
    let r = 1.2 * (sim.width as f64).hypot(sim.height as f64) / 2.0 * 1.19 / 3600.0 + 0.02;
    let stars = store.cone(ra, dec, r)?;
    Ok(stars
        .iter()
        .map(|s| tomoe_sim::gaia::GaiaSource {
            source_id: s.source_id,
            ra: s.ra(),
            dec: s.dec(),
            ra_error: s.v[2],
            dec_error: s.v[3],
            pmra: if s.v[gaia::PMRA].is_finite() {
                s.v[gaia::PMRA]
            } else {
                0.0
            },
            pmdec: if s.v[gaia::PMDEC].is_finite() {
                s.v[gaia::PMDEC]
            } else {
                0.0
            },
            parallax: s.v[6],
            ref_epoch: if s.v[gaia::REF_EPOCH].is_finite() {
                s.v[gaia::REF_EPOCH]
            } else {
                2016.0
            },
            g: s.g(),
            bp: s.v[gaia::BP],
            rp: s.v[gaia::RP],
            g_flux: s.v[12],
            g_flux_error: s.v[13],
            bp_flux: s.v[14],
            rp_flux: s.v[16],
            ruwe: s.v[18],
        })
        .filter(|s| s.g.is_finite() && (s.bp - s.rp).is_finite())
        .collect())
}

/// Writes cubes of every (exposure, chip) of `sim.stack` with stars from the Gaia store at
/// `gaia` (zero point 24.3, colour term 0.08, 5 stars per chip not in Gaia); returns the count.
pub fn simulate_gaia_cubes(
    sim: &tomoe_sim::cubes::CubeSim,
    gaia: &Path,
    out: &Path,
    progress: impl Fn(usize, usize),
) -> anyhow::Result<usize> {
    let store = GaiaStore::open(gaia).with_context(|| format!("Gaia store {}", gaia.display()))?;
    let (ne, nc) = (sim.stack.exposures, sim.stack.chips);
    let mut n = 0;
    for k in 0..ne {
        for c in 0..nc {
            let s = tomoe_sim::cubes::CubeSim {
                gaia: Some(sim_sources(&store, &sim.stack, k, c)?),
                photometry: (24.3, 0.08, vec![0.0]),
                extra_stars: 5,
                exposure: k,
                chip: c,
                ..sim.clone()
            };
            s.write(out)
                .with_context(|| format!("cannot write to {}", out.display()))?;
            n += 1;
            progress(n, ne * nc);
        }
    }
    Ok(n)
}

fn query(q: QueryCmd, cfg: &LightcurveConfig) -> anyhow::Result<i32> {
    use tomoe_store::format::{write_batches, OutputFormat};
    use tomoe_store::lcquery::{LcRead, ObjectFilter};
    let r = LcRead::open(&cfg.root)?;
    let (batches, format) = match q {
        QueryCmd::Cone {
            ra,
            dec,
            radius,
            mag_min,
            mag_max,
            gaia,
            not_gaia,
            chi2_min,
            format,
        } => {
            let f = ObjectFilter {
                mag_min,
                mag_max,
                gaia: if gaia {
                    Some(true)
                } else if not_gaia {
                    Some(false)
                } else {
                    None
                },
                chi2_min,
                min_points: None,
            };
            (r.cone(ra, dec, radius, &f)?, format)
        }
        QueryCmd::Curve {
            object,
            ra,
            dec,
            radius,
            from,
            to,
            columns,
            format,
        } => {
            let id = match (object, ra, dec) {
                (Some(id), _, _) => id,
                (None, Some(ra), Some(dec)) => r
                    .nearest_object(ra, dec, radius / 3600.0)?
                    .with_context(|| format!("no object within {radius}″ of ({ra}, {dec})"))?,
                _ => bail!("give --object ID or --ra and --dec"),
            };
            let cols: Option<Vec<String>> =
                columns.map(|c| c.split(',').map(|s| s.trim().to_string()).collect());
            let refs: Option<Vec<&str>> = cols
                .as_ref()
                .map(|c| c.iter().map(String::as_str).collect());
            (r.light_curve(id, from, to, refs.as_deref())?, format)
        }
        QueryCmd::Field {
            exp_id,
            det_id,
            table,
            format,
        } => {
            let f = r.field(exp_id, det_id)?;
            let b = match table.as_str() {
                "movers" => f.movers,
                "singles" => f.singles,
                "calibration" => vec![f.calibration],
                _ => f.sources,
            };
            (b, format)
        }
        QueryCmd::Movers {
            from,
            to,
            ra,
            dec,
            radius,
            format,
        } => {
            let cone = match (ra, dec, radius) {
                (Some(a), Some(d), Some(r)) => Some((a, d, r)),
                _ => None,
            };
            (r.movers(from, to, cone)?, format)
        }
        QueryCmd::Calibration { exp_id, format } => (r.calibration(exp_id)?, format),
    };
    let format: OutputFormat = format.parse().map_err(anyhow::Error::msg)?;
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => {
            eprintln!("no rows");
            return Ok(0);
        }
    };
    let mut out = std::io::stdout().lock();
    write_batches(&mut out, &schema, &batches, format)?;
    Ok(0)
}
