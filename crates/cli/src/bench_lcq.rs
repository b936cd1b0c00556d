//! `tomoe bench lc-query`: light-curve service latency on ≥ 10⁸ detections against the seed's
//! layout in DuckDB.
//!
//! Generates (once; `--reuse` keeps it) a synthetic database with
//! [`tomoe_lightcurve::synth`]: the published HATS layout the service reads and, with the same
//! rows, the seed's layout (flat Parquet detections per exposure plus a flat Gaia table). Then,
//! in the same run:
//!
//! * **ours**: the service's two endpoints through its router in process (request parsing, the
//!   query, JSON encoding; no TCP): `/api/lc/objects/{id}` (one object's light curve) and
//!   `/api/lc/cone` (objects within 1′), with the partitions' Parquet footers cached first, as
//!   the running service caches them when it opens a version;
//! * **baseline**: DuckDB (Python) running the seed's searches on the flat layout, Gaia joined
//!   at read time (`scripts/bench/lc_query_duckdb.py`).
//!
//! Both answer the same objects: the number of light-curve rows and of cone objects are
//! compared query by query, and a mismatch fails the benchmark.

use anyhow::bail;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tomoe_lightcurve::synth::{self, SynthOptions};

/// Arguments of `tomoe bench lc-query`.
#[derive(Debug, Args)]
pub struct LcQueryBenchArgs {
    /// Working directory (the synthetic database; ~10 GB at the defaults).
    #[arg(long, default_value = "/var/tmp/tomoe-bench-lcq")]
    pub dir: PathBuf,
    /// Objects.
    #[arg(long, default_value_t = 1_000_000)]
    pub objects: usize,
    /// Measurements per object (detections = objects × this).
    #[arg(long, default_value_t = 100)]
    pub per_object: usize,
    /// Exposures (seed files); measurements per object must be a multiple.
    #[arg(long, default_value_t = 20)]
    pub exposures: usize,
    /// Radius of the sky cap the objects cover [deg].
    #[arg(long, default_value_t = 5.0)]
    pub cap_radius: f64,
    /// Queries of each kind for the service.
    #[arg(long, default_value_t = 400)]
    pub queries: usize,
    /// Queries of each kind for DuckDB (a subset of the service's).
    #[arg(long, default_value_t = 60)]
    pub duckdb_queries: usize,
    /// Cone radius [arcmin].
    #[arg(long, default_value_t = 1.0)]
    pub radius_arcmin: f64,
    /// Reuse the database of an earlier run with the same sizes.
    #[arg(long)]
    pub reuse: bool,
    /// Python with duckdb.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (
        crate::bench::percentile(&v, 50.0),
        crate::bench::percentile(&v, 99.0),
    )
}

/// Runs the benchmark.
pub fn run(a: LcQueryBenchArgs) -> anyhow::Result<()> {
    let opt = SynthOptions {
        objects: a.objects,
        per_object: a.per_object,
        exposures: a.exposures,
        radius_deg: a.cap_radius,
        ..Default::default()
    };
    let stamp = a.dir.join("synth.json");
    let want = format!(
        "{{\"objects\":{},\"per_object\":{},\"exposures\":{},\"cap_radius\":{}}}",
        a.objects, a.per_object, a.exposures, a.cap_radius
    );
    let have = std::fs::read_to_string(&stamp).unwrap_or_default();
    if !(a.reuse && have == want) {
        if a.reuse {
            eprintln!(
                "no database of these sizes in {}: generating",
                a.dir.display()
            );
        }
        let _ = std::fs::remove_file(&stamp);
        std::fs::create_dir_all(&a.dir)?;
        let n = a.objects * a.per_object;
        eprintln!(
            "generating {n} detections of {} objects in {} (both layouts)…",
            a.objects,
            a.dir.display()
        );
        let bar = crate::lc::progress_bar(2 * n as u64, "generating");
        let t = Instant::now();
        let r = synth::write(&a.dir, &opt, &|d, _| bar.set_position(d as u64))?;
        bar.finish_and_clear();
        eprintln!(
            "generated in {:.0} s: {} detections, {} partitions, {:.2} GB published, {:.2} GB seed layout",
            t.elapsed().as_secs_f64(),
            r.detections,
            r.partitions,
            r.db_bytes as f64 / 1e9,
            r.seed_bytes as f64 / 1e9
        );
        std::fs::write(&stamp, &want)?;
    }
    // Queries: objects spread over the list; cones centred 10″ off other objects.
    let objs = synth::objects(&opt);
    let step = (objs.len() / a.queries.max(1)).max(1);
    let ids: Vec<i64> = objs
        .iter()
        .step_by(step)
        .take(a.queries)
        .map(|o| o.id)
        .collect();
    let r = a.radius_arcmin / 60.0;
    let cones: Vec<(f64, f64, f64)> = objs
        .iter()
        .skip(step / 2)
        .step_by(step)
        .take(a.queries)
        .map(|o| (o.ra, o.dec + 10.0 / 3600.0, r))
        .collect();
    drop(objs);

    // Ours: the router in process.
    let empty = a.dir.join("web");
    let cfg = tomoe_web::WebConfig {
        obslog_root: empty.join("obslog"),
        archive_root: empty.join("archive"),
        blocklist_dir: empty.join("blocklist"),
        previews_dir: empty.join("previews"),
        lightcurves_root: a.dir.join("db"),
        rate_per_s: 1e9,
        rate_burst: 1e9,
        ..Default::default()
    };
    let state = Arc::new(tomoe_web::AppState::new(cfg)?);
    // As a running service holds them (it caches a version's footers when it first opens it).
    let t = Instant::now();
    let files = state.warm_lightcurves();
    eprintln!(
        "Parquet footers of {files} partition files cached in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let app = tomoe_web::router(state);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let get = |uri: String| -> anyhow::Result<(f64, serde_json::Value)> {
        let (ms, status, body) = crate::bench::timed_get(&rt, &app, &uri)?;
        if !status.is_success() {
            bail!("{uri}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok((ms, serde_json::from_slice(&body)?))
    };
    let curve_uri = |id: i64| format!("/api/lc/objects/{id}?format=json");
    let cone_uri = |c: &(f64, f64, f64)| {
        format!(
            "/api/lc/cone?ra={}&dec={}&radius={}&format=json",
            c.0, c.1, c.2
        )
    };
    // Warm-up (first touches of files and caches), then timed.
    for _ in 0..2 {
        get(curve_uri(ids[0]))?;
        get(cone_uri(&cones[0]))?;
    }
    let (mut curve_ms, mut curve_rows) = (Vec::new(), Vec::new());
    for &id in &ids {
        let (ms, v) = get(curve_uri(id))?;
        curve_ms.push(ms);
        curve_rows.push(v.as_array().map_or(0, Vec::len));
    }
    let (mut cone_ms, mut cone_rows) = (Vec::new(), Vec::new());
    for c in &cones {
        let (ms, v) = get(cone_uri(c))?;
        cone_ms.push(ms);
        cone_rows.push(v.as_array().map_or(0, Vec::len));
    }

    // Baseline: DuckDB on the seed's layout, a subset of the same queries.
    let nd = a.duckdb_queries.min(ids.len());
    let qfile = a.dir.join("queries.json");
    std::fs::write(
        &qfile,
        serde_json::to_vec(&serde_json::json!({
            "ids": &ids[..nd],
            "cones": cones[..nd].iter().map(|c| [c.0, c.1, c.2]).collect::<Vec<_>>(),
        }))?,
    )?;
    eprintln!("DuckDB: {nd} light curves and {nd} cones on the flat layout…");
    let d = crate::bench::run_baseline(
        &a.python,
        "lc_query_duckdb.py",
        &[a.dir.join("seed").into_os_string(), qfile.into_os_string()],
        "duckdb",
    )?;
    let nums = |k: &str| -> Vec<f64> {
        d[k].as_array()
            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default()
    };
    for (k, ours) in [("curve_rows", &curve_rows), ("cone_rows", &cone_rows)] {
        let theirs: Vec<usize> = nums(k).iter().map(|&x| x as usize).collect();
        if theirs[..] != ours[..nd] {
            bail!("{k}: DuckDB {theirs:?} vs ours {:?}", &ours[..nd]);
        }
    }
    let (c50, c99) = stats(curve_ms);
    let (k50, k99) = stats(cone_ms);
    let (dc50, dc99) = stats(nums("curve_ms"));
    let (dk50, dk99) = stats(nums("cone_ms"));
    let n = a.objects * a.per_object;
    println!(
        "light-curve service on {n} detections ({} objects; cones of {}′ hold {:.1} objects on average)",
        a.objects,
        a.radius_arcmin,
        cone_rows.iter().sum::<usize>() as f64 / cone_rows.len().max(1) as f64
    );
    println!(
        "| query | ours p50 | ours p99 | DuckDB {} p50 | DuckDB p99 | ratio p50 | ratio p99 |",
        d["duckdb"].as_str().unwrap_or("?")
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, (o50, o99), (t50, t99), q) in [
        (
            "light curve (one object)",
            (c50, c99),
            (dc50, dc99),
            ids.len(),
        ),
        ("cone", (k50, k99), (dk50, dk99), cones.len()),
    ] {
        println!(
            "| {name} ({q} / {nd} queries) | {o50:.2} ms | {o99:.2} ms | {t50:.1} ms | {t99:.1} ms | {:.0} × | {:.0} × |",
            t50 / o50,
            t99 / o99
        );
    }
    println!(
        "goal: p99 ≤ 10 ms for both (light curve {}, cone {}); ≥ 100 × the DuckDB join (light curve {:.0} ×, cone {:.0} × at p50)",
        if c99 <= 10.0 { "met" } else { "NOT met" },
        if k99 <= 10.0 { "met" } else { "NOT met" },
        dc50 / c50,
        dk50 / k50
    );
    Ok(())
}
