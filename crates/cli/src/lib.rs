//! `tomoe-cli`: the command line of the Tomo-e data platform.
//!
//! Noun-verb subcommands (`tomoe archive run`, `tomoe obslog sql`, …) parse their arguments
//! with clap, load the configuration ([`config`]), and call into the library crates. Errors
//! bubble up as `anyhow` errors and become exit codes in one place ([`run`] and `main`):
//! 0 success, 1 failure (one line on stderr), 2 bad usage (clap), 3 unhealthy (`archive
//! status`).

pub mod bench;
pub mod bench_lc;
pub mod bench_lcq;
pub mod bench_web;
pub mod config;
pub mod demo;
pub mod extract;
pub mod lc;
pub mod phot;
pub mod table;
pub mod wcs;
pub mod xmatch;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tomoe_store::format::{write_batches, OutputFormat};
use tomoe_store::{ObsLog, ObsLogQuery};

/// Tomo-e Gozen data platform: real-time archive, observation log and light curves.
#[derive(Debug, Parser)]
#[command(name = "tomoe", version, about, long_about = None, after_help = "Start with `tomoe demo`: a simulated night announced, fetched, archived and logged on this machine.")]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). TOMOE_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Configuration file (default: $TOMOE_CONFIG, else ./tomoe.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform on simulated data on this machine and print a summary.
    #[command(after_help = "Example:\n  tomoe demo --exposures 3 --chips 12")]
    Demo(demo::DemoArgs),
    /// The sending side: a file server and an announcer.
    #[command(subcommand)]
    Files(FilesCmd),
    /// The archive daemon.
    #[command(subcommand)]
    Archive(ArchiveCmd),
    /// The observation log.
    #[command(subcommand)]
    Obslog(ObslogCmd),
    /// Synthetic data.
    #[command(subcommand)]
    Sim(SimCmd),
    /// FITS tools.
    #[command(subcommand)]
    Fits(FitsCmd),
    /// World coordinates: convert points with a file's WCS (TAN, TAN-SIP).
    #[command(subcommand)]
    Wcs(wcs::WcsCmd),
    /// Cross-match two catalogues (nearest neighbour within a radius).
    Xmatch(xmatch::XmatchArgs),
    /// Detect sources (SourceExtractor background, matched filter, deblending) and write a catalog.
    Extract(extract::ExtractArgs),
    /// Fixed-aperture photometry (exact pixel overlap, 21 px diameter by default) at given positions.
    Phot(phot::PhotArgs),
    /// Configuration.
    #[command(subcommand, name = "config")]
    Cfg(ConfigCmd),
    /// Benchmarks against named baselines.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// The archive web pages and API (exposure table, downloads, previews, blocklist admin).
    #[command(
        after_help = "Example:\n  TOMOE_WEB_ADMIN_TOKEN=$(openssl rand -hex 16) tomoe serve --listen 0.0.0.0:8080"
    )]
    Serve {
        /// Address to listen on (default: [web] listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Rules that hide archived data from every public surface.
    #[command(subcommand)]
    Blocklist(BlocklistCmd),
    /// The Gaia DR3 reference store (HATS).
    #[command(subcommand)]
    Gaia(lc::GaiaCmd),
    /// The light-curve database: ingest nights, the resident service, status.
    #[command(subcommand)]
    Lc(lc::LcCmd),
}

/// `tomoe blocklist …`
#[derive(Debug, Subcommand)]
pub enum BlocklistCmd {
    /// Add a rule (exactly one of --frame-id, --exp-id, --object, --project, --from/--to, --cone).
    #[command(
        after_help = "Examples:\n  tomoe blocklist add --exp-id 86026 --reason \"embargoed target\" --author ops\n  tomoe blocklist add --object 'SN2023*' --reason \"ToO under embargo\" --author pi --no-fetch\n  tomoe blocklist add --cone 83.63,22.01,0.5 --reason \"satellite test\" --author ops\n  tomoe blocklist add --from 2023-01-02T12:00:00 --to 2023-01-02T13:00:00 --reason \"dome light\" --author ops"
    )]
    Add(BlocklistAddArgs),
    /// List the rules.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a rule by id.
    Remove {
        /// Rule id (see `tomoe blocklist list`).
        id: u64,
        /// Who removes it (recorded in the audit log).
        #[arg(long)]
        author: String,
    },
    /// Print the audit log (every add and remove, oldest first).
    Audit,
}

/// Arguments of `tomoe blocklist add`.
#[derive(Debug, Args)]
pub struct BlocklistAddArgs {
    /// One chip file by Frame ID.
    #[arg(long)]
    pub frame_id: Option<String>,
    /// Every chip file of an exposure.
    #[arg(long)]
    pub exp_id: Option<i64>,
    /// Object names matching a pattern (`*`, `?`; case-insensitive).
    #[arg(long)]
    pub object: Option<String>,
    /// A project (case-insensitive).
    #[arg(long)]
    pub project: Option<String>,
    /// Start of a UTC time range (ISO 8601, inclusive); needs --to.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// End of the time range (exclusive); needs --from.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// A sky cone RA,DEC,RADIUS in degrees.
    #[arg(long, value_name = "RA,DEC,RADIUS")]
    pub cone: Option<String>,
    /// Why (required).
    #[arg(long)]
    pub reason: String,
    /// Who (required).
    #[arg(long)]
    pub author: String,
    /// Also refuse to fetch matching files.
    #[arg(long)]
    pub no_fetch: bool,
}

/// `tomoe files …`
#[derive(Debug, Subcommand)]
pub enum FilesCmd {
    /// Serve a directory over HTTP (listing in HTML/JSON, GET with Range, HEAD).
    #[command(
        after_help = "Example:\n  tomoe files serve --dir /data/stacks --listen 0.0.0.0:8081"
    )]
    Serve {
        /// Directory to serve.
        #[arg(long)]
        dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
    },
    /// Watch a directory and publish one Redis message per completed file, plus heartbeats.
    #[command(
        after_help = "Example:\n  tomoe files announce --dir /data/stacks --redis redis://127.0.0.1:6379/ --base-url http://host:8081/"
    )]
    Announce(AnnounceArgs),
}

/// Arguments of `tomoe files announce`.
#[derive(Debug, Args)]
pub struct AnnounceArgs {
    /// Directory to watch.
    #[arg(long)]
    pub dir: PathBuf,
    /// Redis server (default: archive.redis_url of the configuration).
    #[arg(long)]
    pub redis: Option<String>,
    /// Channel (default: archive.channel).
    #[arg(long)]
    pub channel: Option<String>,
    /// Also XADD each message to this Redis stream.
    #[arg(long)]
    pub stream: Option<String>,
    /// File server root URL to put in messages.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Heartbeat period in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub heartbeat: f64,
    /// Seconds a file must stay unchanged before it is announced.
    #[arg(long, default_value_t = 0.5)]
    pub settle: f64,
    /// Also announce files already present at start.
    #[arg(long)]
    pub existing: bool,
    /// Announce every complete file present now, then exit.
    #[arg(long)]
    pub once: bool,
}

/// `tomoe archive …`
#[derive(Debug, Subcommand)]
pub enum ArchiveCmd {
    /// Run the archive daemon until SIGINT/SIGTERM.
    #[command(
        after_help = "Example:\n  TOMOE_ARCHIVE_SOURCE_URL=http://host:8081/ tomoe archive run --config tomoe.toml"
    )]
    Run {
        /// Serve /healthz, /metrics and /status on this address.
        #[arg(long)]
        status_listen: Option<String>,
    },
    /// Show the daemon's status (exit code 3 when unhealthy or not running).
    #[command(after_help = "Example:\n  tomoe archive status --json")]
    Status {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `tomoe obslog …`
#[derive(Debug, Subcommand)]
pub enum ObslogCmd {
    /// Run SQL over the log (tables: obslog, exposures).
    #[command(
        after_help = "Examples:\n  tomoe obslog sql \"SELECT exp_id, object, fps, nfits FROM exposures ORDER BY utc_start\"\n  tomoe obslog sql --format csv \"SELECT frame_id, object FROM obslog WHERE night = '2023-01-02'\" -o night.csv"
    )]
    Sql {
        /// The SQL statement.
        sql: String,
        /// Output format: table, csv, json, ndjson, parquet.
        #[arg(long, short, default_value = "table")]
        format: OutputFormat,
        /// Write to a file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Compact nights into their final sealed Parquet file.
    #[command(
        after_help = "Examples:\n  tomoe obslog seal --night 2023-01-02\n  tomoe obslog seal --finished"
    )]
    Seal {
        /// The night (YYYY-MM-DD).
        #[arg(long)]
        night: Option<String>,
        /// Every night that has ended (local noon at Kiso has passed).
        #[arg(long, conflicts_with = "night")]
        finished: bool,
    },
    /// List nights with their file counts and state.
    Nights,
}

/// `tomoe sim …`
#[derive(Debug, Subcommand)]
pub enum SimCmd {
    /// Write simulated stacked images with Tomo-e headers.
    #[command(
        after_help = "Example:\n  tomoe sim stacks --out sim/ --exposures 2 --chips 84 --width 500 --height 282"
    )]
    Stacks(SimStacksArgs),
    /// Write a simulated image cube (stars through the WCS, seeing dance, noise, cosmic rays, an
    /// asteroid, a streak, variables) and its truth table.
    #[command(
        after_help = "Example:\n  tomoe sim cubes --out sim/ --width 2000 --height 1128 --frames 12 --stars 1500"
    )]
    Cubes(SimCubesArgs),
    /// Write a Gaia-DR3-like catalogue of a sky cone (Gaia column names; CSV, Parquet or FITS).
    #[command(
        after_help = "Example:\n  tomoe sim gaia --ra 50.5 --dec 59.42 --radius 2 --density 3000 -o gaia.parquet\n\nColumns: source_id, ra, dec, ra_error, dec_error, pmra, pmdec, parallax, ref_epoch, phot_g_mean_mag, phot_bp_mean_mag, phot_rp_mean_mag, phot_g_mean_flux, phot_g_mean_flux_error, phot_bp_mean_flux, phot_rp_mean_flux, ruwe, bp_rp."
    )]
    Gaia(SimGaiaArgs),
}

/// Arguments of `tomoe sim gaia`.
#[derive(Debug, Args)]
pub struct SimGaiaArgs {
    /// Cone centre RA [deg].
    #[arg(long, default_value_t = 50.5, allow_negative_numbers = true)]
    pub ra: f64,
    /// Cone centre Dec [deg].
    #[arg(long, default_value_t = 59.42, allow_negative_numbers = true)]
    pub dec: f64,
    /// Cone radius [deg].
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub radius: f64,
    /// Sources per deg² brighter than --g-max.
    #[arg(long, default_value_t = 3000.0)]
    pub density: f64,
    /// Faintest G magnitude.
    #[arg(long, default_value_t = 19.0)]
    pub g_max: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file (.csv, .parquet, .fits); standard output (CSV) when absent.
    #[arg(short, long, conflicts_with = "hats")]
    pub out: Option<PathBuf>,
    /// Write a HATS Gaia store here instead (what `tomoe gaia import` writes).
    #[arg(long)]
    pub hats: Option<PathBuf>,
}

/// Arguments of `tomoe sim cubes`.
#[derive(Debug, Args)]
pub struct SimCubesArgs {
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Image width.
    #[arg(long, default_value_t = 2000)]
    pub width: usize,
    /// Image height.
    #[arg(long, default_value_t = 1128)]
    pub height: usize,
    /// Frames (12 or 18 in surveys).
    #[arg(long, default_value_t = 12)]
    pub frames: u32,
    /// Frame rate (1 or 2).
    #[arg(long, default_value_t = 2)]
    pub fps: u32,
    /// Stars on the chip.
    #[arg(long, default_value_t = 1500)]
    pub stars: usize,
    /// Variable stars among them.
    #[arg(long, default_value_t = 20)]
    pub variables: usize,
    /// Start time (ISO UTC); default now.
    #[arg(long)]
    pub start: Option<String>,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Draw the stars from this Gaia store (HATS, `tomoe sim gaia --hats` / `tomoe gaia import`)
    /// around each chip, with proper motion, a zero point of 24.3 and a colour term of 0.08.
    #[arg(long)]
    pub gaia: Option<PathBuf>,
    /// Exposures (with --gaia).
    #[arg(long, default_value_t = 1)]
    pub exposures: usize,
    /// Chips per exposure (with --gaia).
    #[arg(long, default_value_t = 1)]
    pub chips: usize,
}

/// Arguments of `tomoe sim stacks`.
#[derive(Debug, Args)]
pub struct SimStacksArgs {
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of exposures.
    #[arg(long, default_value_t = 1)]
    pub exposures: usize,
    /// Chips per exposure (1–84).
    #[arg(long, default_value_t = 84)]
    pub chips: usize,
    /// Image width.
    #[arg(long, default_value_t = 2000)]
    pub width: usize,
    /// Image height.
    #[arg(long, default_value_t = 1128)]
    pub height: usize,
    /// Frame rate (1 or 2).
    #[arg(long, default_value_t = 2)]
    pub fps: u32,
    /// Frames per exposure.
    #[arg(long, default_value_t = 18)]
    pub frames: u32,
    /// Start time (ISO UTC); default now.
    #[arg(long)]
    pub start: Option<String>,
    /// First EXP_ID.
    #[arg(long, default_value_t = 860_262)]
    pub exp_id: u64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `tomoe fits …`
#[derive(Debug, Subcommand)]
pub enum FitsCmd {
    /// Print a file's primary header, its typed Tomo-e record, and verify its structure.
    #[command(after_help = "Example:\n  tomoe fits header sTMQ1202301020086026211.fits --json")]
    Header {
        /// FITS file (or a `.hdr` text file of cards).
        file: PathBuf,
        /// Print the typed record as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `tomoe config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate the configuration and print it with overrides applied.
    Check,
    /// Print an example configuration with every key and its default.
    Example,
}

/// Sets up `tracing` to stderr; `TOMOE_LOG` (an EnvFilter spec) wins over the flags.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOMOE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{default},hyper=warn,reqwest=warn,h2=warn,datafusion=warn"
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// A future that completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("signal received: shutting down");
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `tomoe serve`: the web server until SIGINT/SIGTERM.
pub fn serve(c: tomoe_web::WebConfig) -> anyhow::Result<i32> {
    let listen = c.listen.clone();
    let state =
        std::sync::Arc::new(tomoe_web::AppState::new(c).context("cannot start the web server")?);
    runtime()?.block_on(async move {
        let l = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = l.local_addr()?;
        tracing::info!(%addr, "web server listening");
        eprintln!("archive pages at http://{addr}/archive");
        tomoe_web::serve(state, l, shutdown_signal()).await?;
        Ok(0)
    })
}

fn blocklist(cmd: BlocklistCmd, dir: &Path) -> anyhow::Result<i32> {
    use tomoe_store::blocklist::{Blocklist, NewRule, RuleKind};
    let b = Blocklist::open(dir)?;
    match cmd {
        BlocklistCmd::Add(a) => {
            let mut kinds = Vec::new();
            if let Some(f) = a.frame_id {
                kinds.push(RuleKind::FrameId { frame_id: f });
            }
            if let Some(e) = a.exp_id {
                kinds.push(RuleKind::ExpId { exp_id: e });
            }
            if let Some(p) = a.object {
                kinds.push(RuleKind::Object { pattern: p });
            }
            if let Some(p) = a.project {
                kinds.push(RuleKind::Project { project: p });
            }
            if let (Some(from), Some(to)) = (a.from, a.to) {
                kinds.push(RuleKind::Time { from, to });
            }
            if let Some(c) = a.cone {
                let v: Vec<f64> = c
                    .split(',')
                    .map(|x| x.trim().parse::<f64>())
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("--cone {c:?}: expected RA,DEC,RADIUS in degrees"))?;
                let [ra, dec, radius] = v[..] else {
                    bail!("--cone {c:?}: expected three numbers RA,DEC,RADIUS");
                };
                kinds.push(RuleKind::Cone { ra, dec, radius });
            }
            if kinds.len() != 1 {
                bail!("give exactly one of --frame-id, --exp-id, --object, --project, --from/--to, --cone (got {})", kinds.len());
            }
            let rule = b.add(NewRule {
                kind: kinds.remove(0),
                reason: a.reason,
                author: a.author,
                no_fetch: a.no_fetch,
            })?;
            println!("added rule {}", rule.id);
            eprintln!("a running `tomoe serve` applies it within its refresh interval");
        }
        BlocklistCmd::List { json } => {
            let rules = b.rules()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rules)?);
            } else if rules.is_empty() {
                println!("no rules");
            } else {
                println!(
                    "{:>4}  {:<44}  {:<8}  {:<12}  {:<20}  reason",
                    "id", "rule", "no-fetch", "author", "added"
                );
                for r in rules {
                    let what = match &r.kind {
                        RuleKind::FrameId { frame_id } => format!("frame_id {frame_id}"),
                        RuleKind::ExpId { exp_id } => format!("exp_id {exp_id}"),
                        RuleKind::Object { pattern } => format!("object {pattern}"),
                        RuleKind::Project { project } => format!("project {project}"),
                        RuleKind::Time { from, to } => format!("time {from} .. {to}"),
                        RuleKind::Cone { ra, dec, radius } => {
                            format!("cone {ra},{dec} r={radius}°")
                        }
                    };
                    println!(
                        "{:>4}  {:<44}  {:<8}  {:<12}  {:<20}  {}",
                        r.id,
                        what,
                        if r.no_fetch { "yes" } else { "" },
                        r.author,
                        &r.created[..r.created.len().min(19)],
                        r.reason
                    );
                }
            }
        }
        BlocklistCmd::Remove { id, author } => {
            let r = b.remove(id, &author)?;
            println!("removed rule {} ({})", r.id, r.reason);
        }
        BlocklistCmd::Audit => {
            for e in b.audit()? {
                println!("{}", serde_json::to_string(&e)?);
            }
        }
    }
    Ok(0)
}

fn sim_gaia(a: SimGaiaArgs) -> anyhow::Result<()> {
    use table::{Column, Table};
    if !(a.radius > 0.0 && a.radius <= 180.0) {
        bail!("--radius {} is outside (0, 180] degrees", a.radius);
    }
    if !(-90.0..=90.0).contains(&a.dec) {
        bail!("--dec {} is outside [-90, 90]", a.dec);
    }
    if !(a.density > 0.0 && a.density.is_finite()) || a.g_max <= 8.0 {
        bail!("--density must be > 0 and --g-max > 8");
    }
    let sim = tomoe_sim::gaia::GaiaSim {
        ra: a.ra,
        dec: a.dec,
        radius: a.radius,
        density: a.density,
        g_max: a.g_max,
        seed: a.seed,
        ..Default::default()
    };
    let cat = sim.generate();
    if let Some(dir) = &a.hats {
        let tmp = tempfile_in(dir)?;
        tomoe_sim::gaia::write_csv(&tmp, &cat)?;
        let rep =
            tomoe_lightcurve::gaia::import(std::slice::from_ref(&tmp), dir, 500_000, |_, _| {});
        let _ = std::fs::remove_file(&tmp);
        let rep = rep?;
        eprintln!(
            "wrote {} sources ({:.1} deg², expected {:.0}) as a HATS store in {} partitions at {}",
            rep.written.rows,
            sim.area(),
            sim.expected(),
            rep.written.partitions.len(),
            dir.display()
        );
        return Ok(());
    }
    let f = |get: fn(&tomoe_sim::gaia::GaiaSource) -> f64, d: usize| {
        Column::F64(cat.iter().map(get).collect(), d)
    };
    let mut t = Table::default();
    t.add(
        "source_id",
        Column::I64(cat.iter().map(|s| s.source_id).collect()),
    );
    t.add("ra", f(|s| s.ra, 10));
    t.add("dec", f(|s| s.dec, 10));
    t.add("ra_error", f(|s| s.ra_error, 4));
    t.add("dec_error", f(|s| s.dec_error, 4));
    t.add("pmra", f(|s| s.pmra, 4));
    t.add("pmdec", f(|s| s.pmdec, 4));
    t.add("parallax", f(|s| s.parallax, 4));
    t.add("ref_epoch", f(|s| s.ref_epoch, 1));
    t.add("phot_g_mean_mag", f(|s| s.g, 5));
    t.add("phot_bp_mean_mag", f(|s| s.bp, 5));
    t.add("phot_rp_mean_mag", f(|s| s.rp, 5));
    t.add("phot_g_mean_flux", f(|s| s.g_flux, 3));
    t.add("phot_g_mean_flux_error", f(|s| s.g_flux_error, 3));
    t.add("phot_bp_mean_flux", f(|s| s.bp_flux, 3));
    t.add("phot_rp_mean_flux", f(|s| s.rp_flux, 3));
    t.add("ruwe", f(|s| s.ruwe, 3));
    t.add("bp_rp", f(|s| s.bp - s.rp, 5));
    t.write(a.out.as_deref())?;
    if let Some(p) = &a.out {
        eprintln!(
            "wrote {} sources ({:.1} deg², expected {:.0}) to {}",
            cat.len(),
            sim.area(),
            sim.expected(),
            p.display()
        );
    }
    Ok(())
}

fn tempfile_in(dir: &Path) -> anyhow::Result<PathBuf> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    Ok(parent.join(format!(".gaia-sim-{}.csv", std::process::id())))
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let cfg_path = cli.config.clone();
    let load = || config::load(cfg_path.as_deref());
    match cli.command {
        Command::Demo(args) => demo::run(args).map(|_| 0),
        Command::Files(FilesCmd::Serve { dir, listen }) => {
            if !dir.is_dir() {
                bail!("{} is not a directory", dir.display());
            }
            runtime()?.block_on(async move {
                let l = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
                tracing::info!(addr = %l.local_addr()?, dir = %dir.display(), "file server listening");
                axum::serve(l, tomoe_archive::fileserver::router(dir)).with_graceful_shutdown(shutdown_signal()).await?;
                Ok(0)
            })
        }
        Command::Files(FilesCmd::Announce(a)) => {
            let c = load()?.config.archive;
            let mut ac = tomoe_archive::announce::AnnounceConfig::new(
                a.dir.clone(),
                a.redis.as_deref().unwrap_or(&c.redis_url),
            );
            ac.channel = a.channel.clone().unwrap_or(c.channel.clone());
            ac.heartbeat_channel = a.channel.unwrap_or(c.heartbeat_channel);
            ac.stream_key = a.stream;
            ac.base_url = a
                .base_url
                .as_deref()
                .map(url::Url::parse)
                .transpose()
                .context("--base-url")?;
            ac.heartbeat_interval = secs(a.heartbeat, "--heartbeat")?;
            ac.settle = secs(a.settle, "--settle")?;
            ac.announce_existing = a.existing;
            ac.once = a.once;
            if !a.dir.is_dir() {
                bail!("{} is not a directory", a.dir.display());
            }
            let s = runtime()?.block_on(tomoe_archive::announce::run_announcer(
                ac,
                shutdown_signal(),
            ))?;
            eprintln!(
                "announced {} files, sent {} heartbeats",
                s.files, s.heartbeats
            );
            Ok(0)
        }
        Command::Archive(ArchiveCmd::Run { status_listen }) => {
            let mut c = load()?.config.archive;
            if let Some(s) = status_listen {
                c.status_listen = s;
            }
            let st = runtime()?.block_on(tomoe_archive::run(c, shutdown_signal()))?;
            eprintln!(
                "archived {} files ({} failed, {} duplicates ignored)",
                st.counts.archived, st.counts.failed, st.counts.duplicates
            );
            Ok(0)
        }
        Command::Archive(ArchiveCmd::Status { json }) => {
            let c = load()?.config.archive;
            let s = tomoe_archive::daemon::read_status(&c.state_dir).with_context(|| format!("no status in {} (has `tomoe archive run` been started with this configuration?)", c.state_dir.display()))?;
            let age = tomoe_core::UtcMicros::now().unix_seconds() - s.updated_unix;
            let running = age < 10.0 && !s.problems.iter().any(|p| p == "stopped");
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "daemon: {}",
                    if running {
                        format!("running (pid {})", s.pid)
                    } else {
                        format!("not running (last status {age:.0} s ago)")
                    }
                );
                println!(
                    "health: {}",
                    if s.healthy && running {
                        "healthy".to_string()
                    } else {
                        format!("UNHEALTHY: {}", s.problems.join("; "))
                    }
                );
                println!(
                    "heartbeat: {}",
                    s.seconds_since_heartbeat
                        .map(|x| format!("{x:.1} s ago"))
                        .unwrap_or_else(|| "none received".into())
                );
                let k = &s.counts;
                println!("files: {} archived, {} failed ({} quarantined), {} duplicate notices, {} reconciled, {} recovered", k.archived, k.failed, k.quarantined, k.duplicates, k.reconciled, k.recovered);
                println!(
                    "messages: {} notices, {} heartbeats, {} malformed; in flight {}, queued {}",
                    k.notices, k.heartbeats, k.malformed, s.in_flight, s.queued
                );
                for f in &s.recent_failures {
                    println!("  failed {} at {}: {}", f.name, f.at, f.reason);
                }
            }
            Ok(if s.healthy && running { 0 } else { 3 })
        }
        Command::Obslog(cmd) => {
            let c = load()?.config.archive;
            obslog(cmd, &c.obslog_root)
        }
        Command::Sim(SimCmd::Stacks(a)) => sim_stacks(a).map(|_| 0),
        Command::Sim(SimCmd::Gaia(a)) => sim_gaia(a).map(|_| 0),
        Command::Sim(SimCmd::Cubes(a)) => {
            if a.frames < 1
                || !(1..=2).contains(&a.fps)
                || a.width < 32
                || a.height < 32
                || a.variables > a.stars
            {
                bail!(
                    "--frames >= 1, --fps 1 or 2, --width/--height >= 32, --variables <= --stars"
                );
            }
            let start = match &a.start {
                Some(s) => tomoe_core::UtcMicros::parse_iso(s).map_err(anyhow::Error::msg)?,
                None => tomoe_core::UtcMicros::now(),
            };
            let sim = tomoe_sim::cubes::CubeSim {
                stack: tomoe_sim::StackSim {
                    width: a.width,
                    height: a.height,
                    fps: a.fps,
                    frames: a.frames,
                    start,
                    seed: a.seed,
                    chips: a.chips.clamp(1, 84),
                    exposures: a.exposures.max(1),
                    ..Default::default()
                },
                frames: a.frames,
                stars: a.stars,
                variables: a.variables,
                seed: a.seed,
                ..Default::default()
            };
            if let Some(g) = &a.gaia {
                let n = lc::simulate_gaia_cubes(&sim, g, &a.out, |_, _| {})?;
                eprintln!(
                    "wrote {n} cubes with their truth tables to {}",
                    a.out.display()
                );
                return Ok(0);
            }
            let out = sim
                .write(&a.out)
                .with_context(|| format!("cannot write to {}", a.out.display()))?;
            eprintln!(
                "wrote {} and {} ({} truth rows)",
                out.cube.display(),
                out.truth_csv.display(),
                out.truth.len()
            );
            Ok(0)
        }
        Command::Fits(FitsCmd::Header { file, json }) => fits_header(&file, json).map(|_| 0),
        Command::Cfg(ConfigCmd::Example) => {
            print!("{}", config::example());
            Ok(0)
        }
        Command::Cfg(ConfigCmd::Check) => {
            let l = load()?;
            for w in l.config.shared_path_warnings() {
                eprintln!("{w}");
            }
            eprintln!(
                "configuration OK ({}; {} environment overrides{})",
                l.file
                    .map(|f| f.display().to_string())
                    .unwrap_or_else(|| "defaults".into()),
                l.env_overrides.len(),
                if l.env_overrides.is_empty() {
                    String::new()
                } else {
                    format!(": {}", l.env_overrides.join(", "))
                }
            );
            print!("{}", toml::to_string_pretty(&l.config)?);
            Ok(0)
        }
        Command::Bench(b) => bench::run(b).map(|_| 0),
        Command::Serve { listen } => {
            let cfg = load()?.config;
            for w in cfg.shared_path_warnings() {
                tracing::warn!("{w}");
            }
            let mut c = cfg.web;
            if let Some(l) = listen {
                c.listen = l;
            }
            serve(c)
        }
        Command::Blocklist(cmd) => blocklist(cmd, &load()?.config.web.blocklist_dir),
        Command::Phot(a) => phot::run(a, &load()?.config.photometry).map(|_| 0),
        Command::Extract(a) => extract::run(a).map(|_| 0),
        Command::Wcs(c) => wcs::run(c).map(|_| 0),
        Command::Xmatch(a) => xmatch::run(a).map(|_| 0),
        Command::Gaia(c) => lc::gaia(c, &load()?.config.lightcurve).map(|_| 0),
        Command::Lc(c) => lc::lc(c, &load()?.config),
    }
}

pub(crate) fn secs(v: f64, what: &str) -> anyhow::Result<Duration> {
    if !(v.is_finite() && v > 0.0) {
        bail!("{what} must be a positive number of seconds, got {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

fn obslog(cmd: ObslogCmd, root: &Path) -> anyhow::Result<i32> {
    let log = ObsLog::open(root)?;
    match cmd {
        ObslogCmd::Sql {
            sql,
            format,
            output,
        } => {
            let (schema, batches) = runtime()?.block_on(async {
                let q = ObsLogQuery::new(&log).await?;
                q.sql(&sql).await
            })?;
            match output {
                Some(p) => {
                    let mut f = std::io::BufWriter::new(
                        std::fs::File::create(&p)
                            .with_context(|| format!("cannot create {}", p.display()))?,
                    );
                    write_batches(&mut f, &schema, &batches, format)?;
                    f.flush()?;
                }
                None => {
                    if format == OutputFormat::Parquet {
                        bail!("Parquet output needs --output FILE");
                    }
                    let mut out = std::io::stdout().lock();
                    write_batches(&mut out, &schema, &batches, format)?;
                }
            }
            Ok(0)
        }
        ObslogCmd::Seal { night, finished } => {
            let nights: Vec<tomoe_core::CivilDate> = match (night, finished) {
                (Some(n), _) => vec![tomoe_core::CivilDate::parse(&n).map_err(anyhow::Error::msg)?],
                (None, true) => {
                    let tonight = tomoe_core::UtcMicros::now().observing_night();
                    log.nights()?
                        .into_iter()
                        .filter(|n| n.night < tonight && !n.sealed)
                        .map(|n| n.night)
                        .collect()
                }
                (None, false) => bail!("say which night: --night YYYY-MM-DD, or --finished"),
            };
            for n in nights {
                let r = log.seal(n)?;
                if r.already_sealed {
                    println!("{n}: already sealed");
                } else {
                    println!(
                        "{n}: sealed {} rows from {} files ({} duplicates dropped)",
                        r.rows, r.parts_in, r.duplicates_dropped
                    );
                }
            }
            Ok(0)
        }
        ObslogCmd::Nights => {
            println!(
                "{:<12} {:>6} {:>8} {:>12}",
                "night", "files", "state", "bytes"
            );
            for n in log.nights()? {
                println!(
                    "{:<12} {:>6} {:>8} {:>12}",
                    n.night.to_string(),
                    n.files,
                    if n.sealed { "sealed" } else { "open" },
                    n.bytes
                );
            }
            Ok(0)
        }
    }
}

fn sim_stacks(a: SimStacksArgs) -> anyhow::Result<()> {
    let start = match &a.start {
        Some(s) => tomoe_core::UtcMicros::parse_iso(s).map_err(anyhow::Error::msg)?,
        None => tomoe_core::UtcMicros::now(),
    };
    let sim = tomoe_sim::StackSim {
        exposures: a.exposures,
        chips: a.chips,
        width: a.width,
        height: a.height,
        fps: a.fps,
        frames: a.frames,
        start,
        first_exp_id: a.exp_id,
        seed: a.seed,
        ..Default::default()
    };
    let total = (a.exposures * a.chips) as u64;
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} stacks {elapsed_precise} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let files = tomoe_sim::simulate_stacks(&sim, &a.out, |_| bar.inc(1))?;
    bar.finish_and_clear();
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    eprintln!(
        "wrote {} stacks ({:.1} MB) to {}",
        files.len(),
        bytes as f64 / 1e6,
        a.out.display()
    );
    Ok(())
}

fn fits_header(file: &Path, json: bool) -> anyhow::Result<()> {
    let name = file.file_name().map(|n| n.to_string_lossy().to_string());
    let (header, verified) = if file.extension().is_some_and(|e| e == "hdr") {
        (
            tomoe_fits::Header::from_text(
                &std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
            ),
            None,
        )
    } else {
        match tomoe_fits::verify_file(file) {
            Ok(l) => {
                let hdus = l.hdus.len();
                let sums = l
                    .hdus
                    .iter()
                    .filter(|h| {
                        h.datasum_verified == Some(true) || h.checksum_verified == Some(true)
                    })
                    .count();
                (
                    l.primary,
                    Some(format!(
                        "structure OK: {hdus} HDU(s), {} bytes, checksums verified in {sums}",
                        l.size
                    )),
                )
            }
            Err(e) => {
                let h = tomoe_fits::structure::read_primary_header(file)?;
                (h, Some(format!("STRUCTURE PROBLEM: {e}")))
            }
        }
    };
    let t = tomoe_fits::TomoeHeader::from_header(&header, name.as_deref());
    if json {
        let v = serde_json::json!({
            "frame_id": t.frame_id.map(|f| f.to_string()),
            "quadrant": t.frame_id.map(|f| f.quadrant), "chip": t.frame_id.map(|f| f.chip),
            "exp_id": t.exp_id, "det_id": t.det_id, "fmttype": t.fmttype, "object": t.object, "project": t.project,
            "observer": t.observer, "pipeline": t.pipeline, "data_typ": t.data_typ,
            "utc_start": t.utc_start.map(|u| u.to_iso()), "night": t.observing_night().map(|n| n.to_string()),
            "exptime": t.exptime, "exptime1": t.exptime1, "telapse": t.telapse, "tframe": t.tframe, "trlstep1": t.trlstep1,
            "data_fps": t.data_fps, "naxes": t.naxes, "n_frames": t.n_frames, "ra_tel": t.ra_tel, "dec_tel": t.dec_tel,
            "pointing_valid": t.pointing_valid, "wcs_center": t.wcs_center, "warnings": t.warnings, "verification": verified,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", header.to_text());
        println!("END");
        println!();
        println!(
            "frame id   {}",
            t.frame_id
                .map(|f| f.to_string())
                .unwrap_or_else(|| "-".into())
        );
        println!(
            "exposure   {} det {}  night {}",
            t.exp_id.map(|e| e.to_string()).unwrap_or_default(),
            t.det_id.map(|e| e.to_string()).unwrap_or_default(),
            t.observing_night()
                .map(|n| n.to_string())
                .unwrap_or_default()
        );
        println!(
            "start      {}",
            t.utc_start.map(|u| u.to_iso()).unwrap_or_default()
        );
        println!("frames     {:?} at {:?} Hz", t.n_frames, t.data_fps);
        for w in &t.warnings {
            println!("warning    {w}");
        }
        if let Some(v) = verified {
            println!("{v}");
        }
    }
    Ok(())
}
