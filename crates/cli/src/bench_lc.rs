//! `tomoe bench ingest`: light-curve ingest throughput, end to end, in detections per second.
//!
//! Generates a night of per-frame catalogues as the neo pipeline would deliver them (one
//! Parquet file per chip per exposure, with a `.head` text header carrying the chip's WCS and
//! timing) from a Gaia-like catalogue (stars with jitter and photon noise in every frame, cosmic
//! rays, a moving object per chip), then runs `tomoe lc ingest`'s code on them: reading, tracks,
//! WCS, Gaia match, calibration, object ids, the night's tables and the published HATS
//! catalogs. Generation is not timed. The baseline is Tomo-e's need, ~10⁵ detections/s
//! (84 chips × 2 frames/s × ~600 sources).

use anyhow::Context;
use clap::Args;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tomoe_lightcurve::config::LightcurveConfig;
use tomoe_lightcurve::db::LcDb;
use tomoe_lightcurve::gaia::GaiaStore;
use tomoe_lightcurve::ingest::{ingest_night, Input};
use tomoe_store::arrow::array::{ArrayRef, Float64Array, Int32Array};
use tomoe_store::arrow::datatypes::{DataType, Field, Schema};
use tomoe_store::arrow::record_batch::RecordBatch;

/// Arguments of `tomoe bench ingest`.
#[derive(Debug, Args)]
pub struct IngestBenchArgs {
    /// Working directory (recreated).
    #[arg(long, default_value = "/var/tmp/tomoe-bench-ingest")]
    pub dir: PathBuf,
    /// Exposures.
    #[arg(long, default_value_t = 10)]
    pub exposures: usize,
    /// Chips per exposure (1–84).
    #[arg(long, default_value_t = 84)]
    pub chips: usize,
    /// Frames per exposure.
    #[arg(long, default_value_t = 12)]
    pub frames: u32,
    /// Gaia sources per chip (density of the simulated catalogue).
    #[arg(long, default_value_t = 1000)]
    pub sources: usize,
    /// Reuse the catalogues of an earlier run in --dir (skip generation).
    #[arg(long)]
    pub reuse: bool,
}

/// Runs the benchmark.
pub fn run(a: IngestBenchArgs) -> anyhow::Result<()> {
    let sim = tomoe_sim::StackSim {
        exposures: a.exposures.max(1),
        chips: a.chips.clamp(1, 84),
        frames: a.frames.max(2),
        ..Default::default()
    };
    let cats = a.dir.join("catalogs");
    let gaia_dir = a.dir.join("gaia");
    let t_gen = Instant::now();
    if !a.reuse {
        if a.dir.exists() {
            std::fs::remove_dir_all(&a.dir)
                .with_context(|| format!("cannot clear {}", a.dir.display()))?;
        }
        std::fs::create_dir_all(&cats)?;
        generate(&sim, a.sources, &cats, &gaia_dir)?;
    }
    let gen_s = t_gen.elapsed().as_secs_f64();
    let mut inputs = Vec::new();
    for e in std::fs::read_dir(&cats)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "parquet") {
            inputs.push(Input::Catalog {
                image: p.with_extension("head"),
                catalog: p,
            });
        }
    }
    inputs.sort_by(|x, y| x.path().cmp(y.path()));
    let cfg = LightcurveConfig {
        root: a.dir.join("lc"),
        gaia: gaia_dir.clone(),
        columns: tomoe_lightcurve::input::ColumnMap {
            flags: None,
            ..Default::default()
        },
        ..Default::default()
    };
    let _ = std::fs::remove_dir_all(&cfg.root);
    let store = GaiaStore::open(&gaia_dir)?;
    let db = LcDb::new(&cfg.root);
    let night = sim.start.observing_night();
    let bar = indicatif::ProgressBar::new(inputs.len() as u64);
    let t0 = Instant::now();
    let rep = ingest_night(&db, night, &inputs, Some(&store), &cfg, &|d, _| {
        bar.set_position(d as u64)
    })?;
    let wall = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let input_rows: usize = rep.detections + rep.movers + rep.singles;
    let rate = rep.detections as f64 / wall;
    println!(
        "light-curve ingest, end to end ({} catalogues, {} frames each; generated in {gen_s:.1} s)",
        inputs.len(),
        sim.frames
    );
    println!(
        "  detections written   {:>12}  (+ {} moving-track points, {} single events)",
        rep.detections, rep.movers, rep.singles
    );
    println!(
        "  static sources       {:>12}  ({} matched to Gaia; {} of {} chips calibrated)",
        rep.statics, rep.gaia_matched, rep.calibrated, rep.inputs
    );
    println!("  read + analyse       {:>10.2} s", rep.analyse_seconds);
    println!("  write + publish      {:>10.2} s", rep.write_seconds);
    println!("  wall                 {:>10.2} s", wall);
    println!(
        "  throughput           {:>12.0} detections/s ({:.0} input rows/s)",
        rate,
        input_rows as f64 / wall
    );
    println!(
        "  baseline (Tomo-e needs ~1e5/s): {:.1}×   goal ≥ 1e6/s: {}",
        rate / 1e5,
        if rate >= 1e6 { "met" } else { "not met" }
    );
    if !rep.refused.is_empty() {
        anyhow::bail!(
            "{} inputs refused, e.g. {:?}",
            rep.refused.len(),
            rep.refused[0]
        );
    }
    Ok(())
}

fn generate(
    sim: &tomoe_sim::StackSim,
    per_chip: usize,
    cats: &std::path::Path,
    gaia_dir: &std::path::Path,
) -> anyhow::Result<()> {
    // One Gaia-like catalogue per chip (a cone around it), merged.
    let chip_area = (sim.width as f64 * 1.19 / 3600.0) * (sim.height as f64 * 1.19 / 3600.0);
    let mut cat = Vec::new();
    for c in 0..sim.chips {
        let w = sim.wcs(0, c);
        let (ra, dec) = w.pix_to_sky(
            (sim.width as f64 + 1.0) / 2.0,
            (sim.height as f64 + 1.0) / 2.0,
        );
        let r = (sim.width as f64).hypot(sim.height as f64) / 2.0 * 1.19 / 3600.0 + 0.05;
        cat.extend(
            tomoe_sim::gaia::GaiaSim {
                ra,
                dec,
                radius: r,
                density: per_chip as f64 / chip_area,
                g_min: 10.0,
                g_max: 17.5,
                seed: 1000 + c as u64,
            }
            .generate(),
        );
    }
    cat.sort_by_key(|s| s.source_id);
    cat.dedup_by_key(|s| s.source_id);
    let csv = cats.join("../gaia.csv");
    tomoe_sim::gaia::write_csv(&csv, &cat)?;
    tomoe_lightcurve::gaia::import(&[csv], gaia_dir, 200_000, |_, _| {})?;
    let cat = Arc::new(cat);
    let jobs: Vec<(usize, usize)> = (0..sim.exposures)
        .flat_map(|k| (0..sim.chips).map(move |c| (k, c)))
        .collect();
    use rayon::prelude::*;
    jobs.par_iter()
        .try_for_each(|&(k, c)| write_chip(sim, &cat, k, c, cats))?;
    Ok(())
}

fn write_chip(
    sim: &tomoe_sim::StackSim,
    cat: &[tomoe_sim::gaia::GaiaSource],
    k: usize,
    c: usize,
    cats: &std::path::Path,
) -> anyhow::Result<()> {
    let w = sim.wcs(k, c);
    let mut hdr = sim.header(k, c);
    hdr.cards
        .retain(|x| !matches!(x.keyword.as_str(), "NAXIS" | "NAXIS1" | "NAXIS2" | "NAXIS3"));
    hdr.push(tomoe_fits::Card::int("NAXIS", 3, "image cube"));
    hdr.push(tomoe_fits::Card::int("NAXIS1", sim.width as i64, ""));
    hdr.push(tomoe_fits::Card::int("NAXIS2", sim.height as i64, ""));
    hdr.push(tomoe_fits::Card::int("NAXIS3", i64::from(sim.frames), ""));
    let t = tomoe_fits::TomoeHeader::from_header(&hdr, None);
    let epoch = t.utc_start.map_or(2023.0, |u| u.julian_epoch());
    let mut rng = rand::rngs::StdRng::seed_from_u64((k * 1000 + c) as u64);
    let normal = rand_distr::Normal::new(0.0f64, 1.0).unwrap_or_else(|_| unreachable!());
    use rand_distr::Distribution;
    let (mut fr, mut xs, mut ys, mut fl, mut fe) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let on_chip: Vec<(f64, f64, f64)> = cat
        .iter()
        .filter_map(|s| {
            let (ra, dec) =
                tomoe_core::astrometry::propagate(s.ra, s.dec, s.pmra, s.pmdec, s.ref_epoch, epoch);
            let (x, y) = w.sky_to_pix(ra, dec)?;
            let inside =
                x > 8.0 && y > 8.0 && x < sim.width as f64 - 8.0 && y < sim.height as f64 - 8.0;
            // m_inst = G − zp − k (BP−RP) with zp 24.3, k 0.08.
            let flux = 10f64.powf(-0.4 * (s.g - 0.08 * (s.bp - s.rp) - 24.3));
            inside.then_some((x, y, flux))
        })
        .collect();
    let bkg_var = std::f64::consts::PI * 36.0 * 150.0;
    for f in 0..sim.frames {
        let (jx, jy) = (
            0.15 * normal.sample(&mut rng),
            0.15 * normal.sample(&mut rng),
        );
        for &(x, y, flux) in &on_chip {
            let err = (flux / 0.94 + bkg_var).sqrt();
            let m = flux + err * normal.sample(&mut rng);
            if m < 5.0 * err {
                continue; // not detected in this frame
            }
            fr.push(f as i32);
            xs.push(x + jx + 0.05 * normal.sample(&mut rng));
            ys.push(y + jy + 0.05 * normal.sample(&mut rng));
            fl.push(m);
            fe.push(err);
        }
        for _ in 0..2 {
            fr.push(f as i32);
            xs.push(rng.random_range(10.0..sim.width as f64 - 10.0));
            ys.push(rng.random_range(10.0..sim.height as f64 - 10.0));
            fl.push(3000.0);
            fe.push(200.0);
        }
        fr.push(f as i32);
        xs.push(300.0 + 1.6 * f64::from(f));
        ys.push(500.0 + 0.6 * f64::from(f));
        fl.push(20000.0);
        fe.push(300.0);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("frame", DataType::Int32, false),
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
        Field::new("flux", DataType::Float64, false),
        Field::new("flux_err", DataType::Float64, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(fr)),
        Arc::new(Float64Array::from(xs)),
        Arc::new(Float64Array::from(ys)),
        Arc::new(Float64Array::from(fl)),
        Arc::new(Float64Array::from(fe)),
    ];
    let b = RecordBatch::try_new(schema.clone(), cols)?;
    let id = sim.frame_id(k, c);
    let path = cats.join(format!("r{id}.parquet"));
    let f = std::fs::File::create(&path)?;
    let mut wr = tomoe_store::parquet::arrow::ArrowWriter::try_new(f, schema, None)?;
    wr.write(&b)?;
    wr.close()?;
    std::fs::write(cats.join(format!("r{id}.head")), hdr.to_text())?;
    Ok(())
}
