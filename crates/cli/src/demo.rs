//! `tomoe demo`: the whole platform on simulated data, on this machine.
//!
//! Starts a private `redis-server`, a file server over a source directory, the announcer and
//! the archive daemon; writes simulated stacked images exposure by exposure (as the analysis
//! host would); waits until every file is archived and logged; prints a summary; and leaves
//! the data and a matching `tomoe.toml` in the demo directory for follow-up commands.
//!
//! Light curves: a Gaia-like catalogue is simulated around the first `--cube-chips` chips and
//! imported as the HATS Gaia store; those chips also get an image cube per exposure, drawn
//! from the catalogue, which go through the archive like every file; the night's cubes are
//! then ingested from the observation log into the light-curve database, as `tomoe lc run`
//! would do.

use anyhow::{bail, Context};
use clap::Args;
use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tomoe_archive::config::ArchiveConfig;
use tomoe_store::format::{write_batches, OutputFormat};
use tomoe_store::{ObsLog, ObsLogQuery};

/// Arguments of `tomoe demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory (recreated; must be empty or an earlier demo's).
    #[arg(long, default_value = "demo-data")]
    pub dir: PathBuf,
    /// Exposures to simulate.
    #[arg(long, default_value_t = 3)]
    pub exposures: usize,
    /// Chips per exposure (1–84).
    #[arg(long, default_value_t = 84)]
    pub chips: usize,
    /// Image width (full size: 2000).
    #[arg(long, default_value_t = 500)]
    pub width: usize,
    /// Image height (full size: 1128).
    #[arg(long, default_value_t = 282)]
    pub height: usize,
    /// Use this Redis server instead of starting a private one.
    #[arg(long)]
    pub redis: Option<String>,
    /// Give up waiting for the archive after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Address of the archive web pages (a free port is taken if this one is busy).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Serve the pages this many seconds, then exit (default: until Ctrl-C; 0: do not serve).
    #[arg(long)]
    pub serve_for: Option<u64>,
    /// Chips per exposure that also get an image cube (12 frames) for the light-curve database.
    #[arg(long, default_value_t = 4)]
    pub cube_chips: usize,
}

const MARKER: &str = ".tomoe-demo";

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!(
                "{} exists and is not a demo directory; choose another --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(MARKER),
        "created by tomoe demo; removed and recreated by the next run\n",
    )?;
    Ok(())
}

/// Runs the demo.
pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    if a.exposures == 0 || a.chips == 0 || a.chips > 84 {
        bail!("--exposures must be > 0 and --chips 1..=84");
    }
    prepare_dir(&a.dir)?;
    let dir = a.dir.canonicalize()?;
    let source = dir.join("source");
    std::fs::create_dir_all(&source)?;
    let redis_proc;
    let redis_url = match &a.redis {
        Some(u) => u.clone(),
        None => {
            redis_proc = tomoe_testkit::RedisServer::start().context("the demo starts a private redis-server (Debian package redis-server: apt-get install redis-server), or pass --redis URL")?;
            redis_proc.url()
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/", listener.local_addr()?);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let server = tokio::spawn(axum::serve(listener, tomoe_archive::fileserver::router(source.clone())).with_graceful_shutdown(stop(stop_rx.clone())).into_future());

        let cfg = ArchiveConfig {
            redis_url: redis_url.clone(),
            source_url: base.clone(),
            archive_root: dir.join("archive"),
            obslog_root: dir.join("obslog"),
            quarantine: dir.join("quarantine"),
            state_dir: dir.join("state"),
            blocklist_dir: dir.join("blocklist"),
            previews_dir: dir.join("previews"),
            reconcile_interval_s: 10,
            heartbeat_interval_s: 1,
            ..Default::default()
        };
        let token = {
            use rand::Rng;
            let mut r = rand::rng();
            (0..16).map(|_| format!("{:02x}", r.random::<u8>())).collect::<String>()
        };
        let web = tomoe_web::WebConfig {
            listen: a.listen.clone(),
            archive_root: cfg.archive_root.clone(),
            obslog_root: cfg.obslog_root.clone(),
            blocklist_dir: cfg.blocklist_dir.clone(),
            previews_dir: cfg.previews_dir.clone(),
            lightcurves_root: dir.join("lightcurves"),
            admin_token: token.clone(),
            refresh_interval_ms: 1000,
            ..Default::default()
        };
        std::fs::write(
            dir.join("tomoe.toml"),
            toml::to_string_pretty(&crate::config::Config {
                archive: cfg.clone(),
                web: web.clone(),
                lightcurve: tomoe_lightcurve::config::LightcurveConfig { root: dir.join("lightcurves"), gaia: dir.join("gaia"), ..Default::default() },
                ..Default::default()
            })?,
        )?;
        let daemon = tokio::spawn(tomoe_archive::run(cfg.clone(), stop(stop_rx.clone())));
        let mut ac = tomoe_archive::announce::AnnounceConfig::new(source.clone(), &redis_url);
        ac.base_url = Some(url::Url::parse(&base)?);
        ac.heartbeat_interval = Duration::from_secs(1);
        ac.settle = Duration::from_millis(100);
        ac.poll_interval = Duration::from_millis(100);
        let announcer = tokio::spawn(tomoe_archive::announce::run_announcer(ac, stop(stop_rx.clone())));

        println!("Tomo-e platform demo");
        println!("  redis       {redis_url}");
        println!("  file server {base}  (source: {})", source.display());
        println!("  archive     {}", cfg.archive_root.display());
        println!("  obslog      {}", cfg.obslog_root.display());
        let total = a.exposures * a.chips;
        let sim = tomoe_sim::StackSim {
            exposures: a.exposures,
            chips: a.chips,
            width: a.width,
            height: a.height,
            start: tomoe_core::UtcMicros::now().add_seconds(-60.0),
            ..Default::default()
        };
        let bar = crate::lc::progress_bar(total as u64, "simulating");
        // The Gaia-like catalogue around the cube chips, imported as the Gaia store.
        let cube_chips = a.cube_chips.min(a.chips);
        let lc_cfg = tomoe_lightcurve::config::LightcurveConfig {
            root: dir.join("lightcurves"),
            gaia: dir.join("gaia"),
            ..Default::default()
        };
        let mut catalogue = Vec::new();
        for c in 0..cube_chips {
            let w = sim.wcs(0, c);
            let (ra, dec) = w.pix_to_sky((a.width as f64 + 1.0) / 2.0, (a.height as f64 + 1.0) / 2.0);
            let r = (a.width as f64).hypot(a.height as f64) / 2.0 * 1.19 / 3600.0 + 0.05;
            catalogue.extend(tomoe_sim::gaia::GaiaSim { ra, dec, radius: r, density: 6000.0, g_min: 10.0, g_max: 17.5, seed: 100 + c as u64 }.generate());
        }
        catalogue.sort_by_key(|s| s.source_id);
        catalogue.dedup_by_key(|s| s.source_id);
        if cube_chips > 0 {
            let csv = dir.join("gaia-sim.csv");
            tomoe_sim::gaia::write_csv(&csv, &catalogue)?;
            tomoe_lightcurve::gaia::import(&[csv], &lc_cfg.gaia, 500_000, |_, _| {})?;
            println!("  gaia        {} ({} simulated sources)", lc_cfg.gaia.display(), catalogue.len());
        }
        let cube_sim = tomoe_sim::cubes::CubeSim {
            stack: sim.clone(),
            frames: 12,
            variables: 3,
            cosmics: 2,
            gaia: Some(catalogue),
            photometry: (24.3, 0.08, vec![0.0]),
            extra_stars: 3,
            ..Default::default()
        };
        let staging = dir.join("cubes");
        let total = total + a.exposures * cube_chips;
        bar.set_length(total as u64);
        bar.set_message("simulating");
        let t0 = Instant::now();
        // Give the daemon a moment to subscribe, then write exposure by exposure.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for k in 0..a.exposures {
            for c in 0..a.chips {
                let (s, src) = (sim.clone(), source.clone());
                tokio::task::spawn_blocking(move || tomoe_sim::stacks::write_one(&s, &src, k, c)).await??;
                bar.inc(1);
            }
            // Cubes of the first chips: rendered aside, then moved into the source directory
            // whole (the truth tables stay in cubes/).
            for c in 0..cube_chips {
                let (cs, stg, src) = (tomoe_sim::cubes::CubeSim { exposure: k, chip: c, ..cube_sim.clone() }, staging.clone(), source.clone());
                tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    let out = cs.write(&stg)?;
                    let name = out.cube.file_name().map(|n| n.to_owned()).unwrap_or_default();
                    std::fs::rename(&out.cube, src.join(name))?;
                    Ok(())
                })
                .await??;
                bar.inc(1);
            }
        }
        bar.set_position(0);
        bar.set_message("archiving");
        let deadline = Instant::now() + Duration::from_secs(a.timeout);
        loop {
            let st = tomoe_archive::daemon::read_status(&cfg.state_dir).ok();
            let done = st.as_ref().map(|s| s.counts.archived + s.counts.failed).unwrap_or(0);
            bar.set_position(done.min(total as u64));
            if done >= total as u64 {
                break;
            }
            if Instant::now() > deadline {
                bar.abandon();
                let _ = stop_tx.send(true);
                bail!("timed out after {} s with {done} of {total} files archived", a.timeout);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bar.finish_and_clear();
        let elapsed = t0.elapsed();
        let _ = stop_tx.send(true);
        let status = daemon.await??;
        let _ = announcer.await;
        let _ = server.await;

        let log = ObsLog::open(&cfg.obslog_root)?;
        let q = ObsLogQuery::new(&log).await?;
        println!();
        println!(
            "Archived {} files ({:.1} MB) in {:.1} s; {} failed, {} duplicate notices ignored.",
            status.counts.archived,
            status.counts.bytes as f64 / 1e6,
            elapsed.as_secs_f64(),
            status.counts.failed,
            status.counts.duplicates
        );
        let (schema, b) = q
            .sql("SELECT exp_id, night, utc_start, object, project, n_frames, fps, nfits FROM exposures ORDER BY exp_id")
            .await?;
        println!("\nExposures in the observation log:");
        let mut out = std::io::stdout().lock();
        write_batches(&mut out, &schema, &b, OutputFormat::Table)?;
        drop(out);
        // Light curves: the night's cubes, from the observation log, into the database.
        if cube_chips > 0 {
            let night = sim.start.observing_night();
            let cubes = tomoe_lightcurve::service::night_cubes(&log, &cfg.archive_root, night).map_err(anyhow::Error::msg)?;
            let inputs: Vec<tomoe_lightcurve::ingest::Input> = cubes.into_iter().map(tomoe_lightcurve::ingest::Input::Cube).collect();
            let lbar = crate::lc::progress_bar(inputs.len() as u64, "light curves");
            let (c2, lc2) = (inputs.clone(), lc_cfg.clone());
            let rep = tokio::task::spawn_blocking(move || {
                let db = tomoe_lightcurve::db::LcDb::new(&lc2.root);
                let gaia = tomoe_lightcurve::gaia::GaiaStore::open(&lc2.gaia).ok();
                tomoe_lightcurve::ingest::ingest_night(&db, night, &c2, gaia.as_ref(), &lc2, &|d, _| lbar.set_position(d as u64))
            })
            .await??;
            println!(
                "\nLight curves: the night {night} ingested: {}; {} objects published in {}.",
                rep.summary(),
                rep.published.objects,
                lc_cfg.root.join("current").display()
            );
        }
        let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "tomoe".into());
        println!("Try:");
        println!("  {exe} --config {}/tomoe.toml obslog sql \"SELECT frame_id, det_id, utc_start, size FROM obslog LIMIT 5\"", dir.display());
        println!("  {exe} --config {}/tomoe.toml obslog nights", dir.display());
        println!("  {exe} fits header {}/archive/<year>/<night>/<file>.fits", dir.display());
        println!("  {exe} --config {}/tomoe.toml blocklist add --exp-id <id> --reason test --author you", dir.display());
        println!("  {exe} --config {}/tomoe.toml lc status", dir.display());
        println!("  python3 -c \"import lsdb; print(lsdb.open_catalog('{}/lightcurves/current/objects').compute())\"", dir.display());
        if a.serve_for == Some(0) {
            return Ok(());
        }
        // The archive pages over the simulated night.
        let listener = match tokio::net::TcpListener::bind(&web.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{} is busy ({e}); taking a free port", web.listen);
                tokio::net::TcpListener::bind("127.0.0.1:0").await?
            }
        };
        let addr = listener.local_addr()?;
        let state = std::sync::Arc::new(tokio::task::spawn_blocking(move || tomoe_web::AppState::new(web)).await??);
        println!();
        println!("Archive pages: http://{addr}/archive   (admin token for /api/admin: {token})");
        if cube_chips > 0 {
            println!("Light curves:  http://{addr}/lc   (fields, objects, moving objects; IVOA cone search http://{addr}/scs)");
        }
        match a.serve_for {
            Some(s) => println!("Serving for {s} s."),
            None => println!("Serving until Ctrl-C."),
        }
        use std::io::Write as _;
        std::io::stdout().flush()?;
        let secs = a.serve_for;
        let until = async move {
            match secs {
                Some(s) => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(s)) => {}
                        _ = crate::shutdown_signal() => {}
                    }
                }
                None => crate::shutdown_signal().await,
            }
        };
        tomoe_web::serve(state, listener, until).await?;
        Ok(())
    })
}
