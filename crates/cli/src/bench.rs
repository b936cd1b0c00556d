//! `tomoe bench …`: benchmarks that run a named baseline in the same run and report ratios.
//!
//! `tomoe bench archive`: notice-to-logged latency of the archive daemon for bursts of
//! full-size stacks, and fetch throughput against `curl` downloading the same files from the
//! same file server with the same parallelism. Build in release mode for meaningful numbers:
//! `cargo run --release -p tomoe-cli --bin tomoe -- bench archive`.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::collections::HashMap;
use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tomoe_archive::config::ArchiveConfig;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Photometry: exact apertures per second, single core, against sep in the same run.
    #[command(after_help = "Example:\n  tomoe bench phot --apertures 20000")]
    Phot(PhotBenchArgs),
    /// Cross-match: rows/s of the 1″ nearest-neighbour match against astropy match_coordinates_sky.
    #[command(after_help = "Example:\n  tomoe bench xmatch --rows 1000000")]
    Xmatch(XmatchBenchArgs),
    /// Archive: notice-to-logged latency (p50/p99) and fetch throughput vs curl.
    #[command(after_help = "Example:\n  tomoe bench archive --bursts 3 --chips 84")]
    Archive(ArchiveBenchArgs),
    /// Archive page: column-search latency (p50/p99) on 1.7×10⁷ chip-file rows vs DuckDB.
    #[command(after_help = "Example:\n  tomoe bench web --exposures 200000 --chips 84")]
    Web(crate::bench_web::WebBenchArgs),
    /// Light-curve ingest: detections/s end to end (catalogues → tables) on ≥ 10⁷ detections.
    #[command(
        after_help = "Example:\n  tomoe bench ingest --exposures 10 --chips 84 --sources 1000"
    )]
    Ingest(crate::bench_lc::IngestBenchArgs),
    /// Light-curve service: light-curve and 1′ cone latency (p50/p99) on ≥ 10⁸ detections vs
    /// DuckDB joining flat Parquet to Gaia.
    #[command(
        name = "lc-query",
        after_help = "Example:\n  tomoe bench lc-query --objects 1000000 --per-object 100"
    )]
    LcQuery(crate::bench_lcq::LcQueryBenchArgs),
}

/// Arguments of `tomoe bench archive`.
#[derive(Debug, Args)]
pub struct ArchiveBenchArgs {
    /// Working directory (recreated).
    #[arg(long, default_value = "/var/tmp/tomoe-bench")]
    pub dir: PathBuf,
    /// Bursts (exposures).
    #[arg(long, default_value_t = 3)]
    pub bursts: usize,
    /// Files per burst (chips).
    #[arg(long, default_value_t = 84)]
    pub chips: usize,
    /// Image width (2000 gives the real 9 MB stacks).
    #[arg(long, default_value_t = 2000)]
    pub width: usize,
    /// Image height.
    #[arg(long, default_value_t = 1128)]
    pub height: usize,
    /// Seconds between bursts (an 18-frame exposure takes 9.5 s).
    #[arg(long, default_value_t = 9.5)]
    pub cadence: f64,
    /// Parallel downloads, for the daemon and for curl.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Repetitions of the throughput comparison (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
}

/// Runs a benchmark.
pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Archive(a) => archive(a),
        BenchCmd::Web(a) => crate::bench_web::run(a),
        BenchCmd::Ingest(a) => crate::bench_lc::run(a),
        BenchCmd::LcQuery(a) => crate::bench_lcq::run(a),
        BenchCmd::Phot(a) => phot(a),
        BenchCmd::Xmatch(a) => xmatch(a),
    }
}

/// Arguments of `tomoe bench phot`.
#[derive(Debug, Args)]
pub struct PhotBenchArgs {
    /// Apertures per repetition.
    #[arg(long, default_value_t = 20_000)]
    pub apertures: usize,
    /// Aperture radius [px].
    #[arg(long, default_value_t = 10.5)]
    pub radius: f64,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Python interpreter with sep and numpy.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

fn phot(a: PhotBenchArgs) -> anyhow::Result<()> {
    use rand::{Rng, SeedableRng};
    use tomoe_core::phot::{sum_circle, sum_circles, ApertureSet, CircleOptions, Image, Noise};
    let sim = tomoe_sim::StackSim::default();
    let (w, h) = (sim.width, sim.height);
    let img = sim.pixels(0, 0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let random: Vec<(f64, f64)> = (0..a.apertures)
        .map(|_| {
            (
                rng.random_range(0.0..w as f64 - 1.0),
                rng.random_range(0.0..h as f64 - 1.0),
            )
        })
        .collect();
    // The visiting order of `sum_circles`: row bands of 2r, then x.
    let band = (2.0 * a.radius).max(8.0);
    let mut sorted = random.clone();
    sorted.sort_by(|p, q| {
        (p.1 / band)
            .floor()
            .total_cmp(&(q.1 / band).floor())
            .then(p.0.total_cmp(&q.0))
    });
    let dir = tempfile_dir()?;
    let img_path = dir.join("image.f32le");
    std::fs::write(
        &img_path,
        img.iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )?;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench/sep_apertures.py");
    // 12 frames (the stack scaled plus independent noise): a cube for the fixed-aperture and
    // whole-cube measurements.
    let frames: Vec<Vec<f32>> = (0..12)
        .map(|k| {
            let mut f: Vec<f32> = img.iter().map(|v| v / 17.0).collect();
            let mut r = rand::rngs::StdRng::seed_from_u64(100 + k);
            for v in f.iter_mut() {
                *v += r.random_range(-20.0f32..20.0);
            }
            f
        })
        .collect();
    let cube_path = dir.join("cube.f32le");
    std::fs::write(
        &cube_path,
        frames
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )?;
    let sep_run =
        |image: &Path, pos: &[(f64, f64)], tag: &str| -> anyhow::Result<(Vec<f64>, f64, String)> {
            let pos_path = dir.join(format!("pos-{tag}.f64le"));
            std::fs::write(
                &pos_path,
                pos.iter()
                    .flat_map(|(x, y)| [x.to_le_bytes(), y.to_le_bytes()])
                    .flatten()
                    .collect::<Vec<u8>>(),
            )?;
            let out = std::process::Command::new(&a.python)
                .arg(&script)
                .args([
                    image.to_str().unwrap_or_default(),
                    &w.to_string(),
                    &h.to_string(),
                    pos_path.to_str().unwrap_or_default(),
                    &a.radius.to_string(),
                    &a.repeat.to_string(),
                ])
                .output()
                .with_context(|| {
                    format!(
                        "cannot run {} (needs numpy and sep: pip install sep)",
                        a.python
                    )
                })?;
            if !out.status.success() {
                bail!(
                    "sep baseline failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            let t = v["seconds"]
                .as_array()
                .map(|x| x.iter().filter_map(|s| s.as_f64()).collect())
                .unwrap_or_default();
            Ok((
                t,
                v["flux_sum"].as_f64().unwrap_or(f64::NAN),
                v["sep"].as_str().unwrap_or("?").to_string(),
            ))
        };
    let opt = CircleOptions {
        radius: a.radius,
        ..Default::default()
    };
    let noise = Noise {
        rms: 10.0,
        gain: 0.0,
    };
    let im = Image::new(&img, w, h);
    let ours_run = |pos: &[(f64, f64)]| -> (Vec<f64>, f64) {
        let mut times = Vec::new();
        let mut total = 0.0;
        for _ in 0..a.repeat {
            let t = Instant::now();
            total = pos
                .iter()
                .map(|&(x, y)| sum_circle(im, None, None, x, y, &opt, noise).flux)
                .sum();
            times.push(t.elapsed().as_secs_f64());
        }
        (times, total)
    };
    let (sep_rand, sep_sum, sep_version) = sep_run(&img_path, &random, "random")?;
    let (sep_sorted, _, _) = sep_run(&img_path, &sorted, "sorted")?;
    let (sep_cube, sep_cube_sum, _) = sep_run(&cube_path, &random, "cube")?;
    let (ours_rand, our_sum) = ours_run(&random);
    let (ours_sorted, _) = ours_run(&sorted);
    let mut batch = Vec::new();
    for _ in 0..a.repeat {
        let t = Instant::now();
        let r = sum_circles(im, None, None, &random, &opt, noise);
        batch.push(t.elapsed().as_secs_f64());
        std::hint::black_box(r);
    }
    // Fixed apertures on every frame of the cube: weights once (timed), then sums per frame.
    let mut set_t = Vec::new();
    let mut our_cube_sum = 0.0;
    for _ in 0..a.repeat {
        let t = Instant::now();
        let set = ApertureSet::new(&random, a.radius);
        our_cube_sum = frames
            .iter()
            .map(|f| {
                set.measure(Image::new(f, w, h), None, None, &opt, noise)
                    .iter()
                    .map(|r| r.flux)
                    .sum::<f64>()
            })
            .sum();
        set_t.push(t.elapsed().as_secs_f64());
    }
    // Background + detection on the same image, both tools, same thresholds.
    let sepd = run_baseline(
        &a.python,
        "sep_detect.py",
        &[
            img_path.to_str().unwrap_or_default(),
            &w.to_string(),
            &h.to_string(),
            "5.0",
            &a.repeat.to_string(),
        ],
        "numpy and sep",
    )?;
    let sep_det: Vec<f64> = sepd["seconds"]
        .as_array()
        .map(|x| x.iter().filter_map(|s| s.as_f64()).collect())
        .unwrap_or_default();
    let mut our_det = Vec::new();
    let mut nobj = 0;
    for _ in 0..a.repeat {
        let t = Instant::now();
        let m = tomoe_core::background::BackgroundMap::estimate(im, &Default::default());
        let d = tomoe_core::detect::detect(
            im,
            &m.back_image(),
            &m.rms_image(),
            &tomoe_core::detect::DetectParams::default(),
        );
        our_det.push(t.elapsed().as_secs_f64());
        nobj = d.len();
    }
    // A whole cube: detection on the sum of the 12 frames, apertures on every frame at the
    // detected positions.
    let mut cube_t = Vec::new();
    let mut cube_meas = 0;
    for _ in 0..a.repeat {
        let t = Instant::now();
        let mut sum = vec![0.0f32; w * h];
        for f in &frames {
            for (s, v) in sum.iter_mut().zip(f) {
                *s += *v;
            }
        }
        let si = Image::new(&sum, w, h);
        let m = tomoe_core::background::BackgroundMap::estimate(si, &Default::default());
        let srcs = tomoe_core::detect::detect(
            si,
            &m.back_image(),
            &m.rms_image(),
            &tomoe_core::detect::DetectParams::default(),
        );
        let pos: Vec<(f64, f64)> = srcs.iter().map(|s| (s.xwin, s.ywin)).collect();
        let set = ApertureSet::new(&pos, a.radius);
        cube_meas = 0;
        for f in &frames {
            cube_meas += set
                .measure(Image::new(f, w, h), None, None, &opt, noise)
                .len();
        }
        cube_t.push(t.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&dir);
    let rate = |t: &[f64]| a.apertures as f64 / median(t.to_vec());
    println!("## tomoe bench phot ({} apertures, r = {} px, 2000×1128 float32 simulated stack, one core, median of {})", a.apertures, a.radius, a.repeat);
    println!();
    println!("| order of positions | tomoe apertures/s | sep {sep_version} apertures/s | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| random | {:.0} | {:.0} | {:.2} |",
        rate(&ours_rand),
        rate(&sep_rand),
        rate(&ours_rand) / rate(&sep_rand)
    );
    println!(
        "| sorted by row band (both) | {:.0} | {:.0} | {:.2} |",
        rate(&ours_sorted),
        rate(&sep_sorted),
        rate(&ours_sorted) / rate(&sep_sorted)
    );
    println!("| tomoe `sum_circles` on random input (sorts itself) vs sep on random | {:.0} | {:.0} | {:.2} |", rate(&batch), rate(&sep_rand), rate(&batch) / rate(&sep_rand));
    let cube_rate = |t: &[f64]| (a.apertures * frames.len()) as f64 / median(t.to_vec());
    println!(
        "| fixed apertures on all {} frames of a cube, random input (tomoe `ApertureSet`: weights once, incl.) | {:.0} | {:.0} | {:.2} |",
        frames.len(),
        cube_rate(&set_t),
        cube_rate(&sep_cube),
        cube_rate(&set_t) / cube_rate(&sep_cube)
    );
    println!();
    let mpx = (w * h) as f64 / 1e6;
    println!();
    println!("| background + detection (64 px meshes, 3×3 filter, 5σ, minarea 5) | tomoe | sep {sep_version} | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| Mpx/s | {:.1} | {:.1} | {:.2} |",
        mpx / median(our_det.clone()),
        mpx / median(sep_det.clone()),
        median(sep_det.clone()) / median(our_det.clone())
    );
    println!("| sources found | {nobj} | {} | |", sepd["nobj"]);
    println!();
    println!("Full 2000×1128×12 cube (sum, background, detection on the sum, {} apertures on every frame = {cube_meas} measurements): median {:.3} s on one core.", cube_meas / 12, median(cube_t.clone()));
    println!();
    println!("flux sums agree to {:.1e} (relative; cube {:.1e}); runs (s): tomoe random {ours_rand:.4?}, sep random {sep_rand:.4?}", ((our_sum - sep_sum) / sep_sum).abs(), ((our_cube_sum - sep_cube_sum) / sep_cube_sum).abs());
    Ok(())
}

/// Arguments of `tomoe bench xmatch`.
#[derive(Debug, Args)]
pub struct XmatchBenchArgs {
    /// Rows in each catalogue.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Match radius [arcsec].
    #[arg(long, default_value_t = 1.0)]
    pub radius: f64,
    /// Repetitions (median reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Python interpreter with astropy and scipy.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

fn xmatch(a: XmatchBenchArgs) -> anyhow::Result<()> {
    use rand::{Rng, SeedableRng};
    // A Gaia-like field: A uniform over a 10° × 10° patch (incl. RA = 0/360), B = A moved by up
    // to 1.5″ for 80 % of rows plus 20 % unrelated rows.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let n = a.rows;
    let pa: Vec<(f64, f64)> = (0..n)
        .map(|_| {
            (
                (rng.random_range(-5.0..5.0f64)).rem_euclid(360.0),
                rng.random_range(-5.0..5.0),
            )
        })
        .collect();
    let pb: Vec<(f64, f64)> = pa
        .iter()
        .map(|&(ra, dec)| {
            if rng.random_range(0.0..1.0) < 0.8 {
                let (d, t) = (
                    rng.random_range(0.0..1.5) / 3600.0,
                    rng.random_range(0.0..std::f64::consts::TAU),
                );
                (
                    (ra + d * t.cos() / (dec.to_radians().cos())).rem_euclid(360.0),
                    dec + d * t.sin(),
                )
            } else {
                (
                    (rng.random_range(-5.0..5.0f64)).rem_euclid(360.0),
                    rng.random_range(-5.0..5.0),
                )
            }
        })
        .collect();
    let dir = tempfile_dir()?;
    let write = |p: &Path, v: &[(f64, f64)]| {
        std::fs::write(
            p,
            v.iter()
                .flat_map(|(x, y)| [x.to_le_bytes(), y.to_le_bytes()])
                .flatten()
                .collect::<Vec<u8>>(),
        )
    };
    write(&dir.join("a.f64le"), &pa)?;
    write(&dir.join("b.f64le"), &pb)?;
    let v = run_baseline(
        &a.python,
        "astropy_xmatch.py",
        &[
            dir.join("a.f64le").into_os_string(),
            dir.join("b.f64le").into_os_string(),
            a.radius.to_string().into(),
            a.repeat.to_string().into(),
        ],
        "astropy and scipy",
    );
    let _ = std::fs::remove_dir_all(&dir);
    let v = v?;
    let theirs: Vec<f64> = v["seconds"]
        .as_array()
        .map(|x| x.iter().filter_map(|s| s.as_f64()).collect())
        .unwrap_or_default();
    let mut ours = Vec::new();
    let mut matched = 0;
    for _ in 0..a.repeat {
        let t = Instant::now();
        let m = tomoe_core::xmatch::nearest_within(&pa, &pb, a.radius);
        ours.push(t.elapsed().as_secs_f64());
        matched = m.iter().filter(|x| x.is_some()).count();
    }
    let (o, t) = (median(ours.clone()), median(theirs.clone()));
    println!(
        "## tomoe bench xmatch ({n} × {n} rows, radius {}″, {} threads, median of {})",
        a.radius,
        rayon::current_num_threads(),
        a.repeat
    );
    println!();
    println!(
        "| measure | tomoe | astropy {} match_coordinates_sky | ratio |",
        v["astropy"].as_str().unwrap_or("?")
    );
    println!("|---|---|---|---|");
    println!(
        "| rows/s | {:.0} | {:.0} | {:.1} |",
        n as f64 / o,
        n as f64 / t,
        t / o
    );
    println!("| matched within radius | {matched} | {} | |", v["matched"]);
    println!();
    println!("runs (s): tomoe {ours:.3?}, astropy {theirs:.3?}");
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("tomoe-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// Runs a baseline script of `scripts/bench/` with `python` and parses the one JSON line it
/// prints; `needs` names the Python packages it imports (for the error message).
pub(crate) fn run_baseline<S: AsRef<std::ffi::OsStr>>(
    python: &str,
    script: &str,
    args: &[S],
    needs: &str,
) -> anyhow::Result<serde_json::Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/bench")
        .join(script);
    let out = std::process::Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {python} (needs {needs})"))?;
    if !out.status.success() {
        bail!(
            "baseline {script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// One GET through a router in process: (milliseconds, status, body). What the web benchmarks
/// time: request parsing, the handler and the response body, without TCP.
pub(crate) fn timed_get(
    rt: &tokio::runtime::Runtime,
    app: &axum::Router,
    uri: &str,
) -> anyhow::Result<(f64, axum::http::StatusCode, axum::body::Bytes)> {
    use tower::ServiceExt;
    let req = axum::http::Request::get(uri).body(axum::body::Body::empty())?;
    let t = std::time::Instant::now();
    let (status, body) = rt.block_on(async {
        let r = app.clone().oneshot(req).await?;
        let s = r.status();
        let b = axum::body::to_bytes(r.into_body(), usize::MAX).await?;
        Ok::<_, anyhow::Error>((s, b))
    })?;
    Ok((t.elapsed().as_secs_f64() * 1e3, status, body))
}

/// The `p`-th percentile (nearest rank) of sorted values; NaN when empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 50.0)
}

fn generate(
    a: &ArchiveBenchArgs,
    source: &Path,
) -> anyhow::Result<Vec<(usize, String, u64, String)>> {
    let sim = tomoe_sim::StackSim {
        exposures: a.bursts,
        chips: a.chips,
        width: a.width,
        height: a.height,
        start: tomoe_core::UtcMicros::now().add_seconds(-3600.0),
        ..Default::default()
    };
    std::fs::create_dir_all(source)?;
    let mut out = Vec::new();
    let bar = indicatif::ProgressBar::new((a.bursts * a.chips) as u64);
    for k in 0..a.bursts {
        for c in 0..a.chips {
            let f = tomoe_sim::stacks::write_one(&sim, source, k, c)?;
            let sha = tomoe_archive::announce::sha256_hex(&std::fs::read(&f.path)?);
            out.push((
                k,
                f.path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
                f.size,
                sha,
            ));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(out)
}

fn curl_fetch(base: &str, names: &[String], out: &Path, parallel: usize) -> anyhow::Result<f64> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-s",
        "-f",
        "--parallel",
        "--parallel-max",
        &parallel.to_string(),
        "--output-dir",
    ])
    .arg(out);
    for n in names {
        cmd.arg("-O").arg(format!("{base}{n}"));
    }
    let t = Instant::now();
    let st = cmd
        .status()
        .context("cannot run curl (Debian package curl)")?;
    let dt = t.elapsed().as_secs_f64();
    if !st.success() {
        bail!("curl failed: {st}");
    }
    Ok(dt)
}

async fn our_fetch(
    base: &str,
    names: &[String],
    out: &Path,
    parallel: usize,
    hash: bool,
) -> anyhow::Result<f64> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(parallel)
        .build()?;
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for n in names {
        let (client, sem, url, part) = (
            client.clone(),
            sem.clone(),
            url::Url::parse(&format!("{base}{n}"))?,
            out.join(n),
        );
        set.spawn(async move {
            let _p = sem.acquire_owned().await;
            tomoe_archive::fetch::fetch_with(
                &client,
                &url,
                &part,
                Duration::from_secs(10),
                Duration::from_secs(300),
                hash,
            )
            .await
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(t.elapsed().as_secs_f64())
}

fn archive(a: ArchiveBenchArgs) -> anyhow::Result<()> {
    if a.bursts == 0 || a.chips == 0 || a.chips > 84 {
        bail!("--bursts must be > 0 and --chips 1..=84");
    }
    let source = a.dir.join("source");
    let _ = std::fs::remove_dir_all(&source);
    eprintln!(
        "generating {} stacks of {}x{} in {} …",
        a.bursts * a.chips,
        a.width,
        a.height,
        source.display()
    );
    let files = generate(&a, &source)?;
    let total_bytes: u64 = files.iter().map(|f| f.2).sum();
    let names: Vec<String> = files.iter().map(|f| f.1.clone()).collect();
    let redis = tomoe_testkit::RedisServer::start()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/", listener.local_addr()?);
        tokio::spawn(axum::serve(listener, tomoe_archive::fileserver::router(source.clone())).into_future());

        // 1. Throughput: curl vs our fetcher, same files, same server, same parallelism.
        let (mut curl_t, mut ours_t, mut hashed_t) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..a.repeat {
            let (n2, b2, o2, p) = (names.clone(), base.clone(), a.dir.join("curl"), a.concurrency);
            curl_t.push(tokio::task::spawn_blocking(move || curl_fetch(&b2, &n2, &o2, p)).await??);
            ours_t.push(our_fetch(&base, &names, &a.dir.join("ours"), a.concurrency, false).await?);
            hashed_t.push(our_fetch(&base, &names, &a.dir.join("ours"), a.concurrency, true).await?);
        }
        let _ = std::fs::remove_dir_all(a.dir.join("curl"));
        let _ = std::fs::remove_dir_all(a.dir.join("ours"));
        let mb = total_bytes as f64 / 1e6;
        let (ct, ot, ht) = (median(curl_t.clone()), median(ours_t.clone()), median(hashed_t.clone()));

        // 2. Latency: bursts of notices at the exposure cadence, into a fresh archive.
        let work = a.dir.join("run");
        let _ = std::fs::remove_dir_all(&work);
        let cfg = ArchiveConfig {
            redis_url: redis.url(),
            // No reconciliation: the files are already on the server and would be fetched at
            // start, before their notices. Notices carry full URLs instead.
            source_url: String::new(),
            archive_root: work.join("archive"),
            obslog_root: work.join("obslog"),
            quarantine: work.join("quarantine"),
            state_dir: work.join("state"),
            blocklist_dir: work.join("blocklist"),
            previews_dir: PathBuf::new(),
            concurrency: a.concurrency,
            reconcile_interval_s: 0,
            seal_after_hours: -1.0,
            ..Default::default()
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let daemon = tokio::spawn(tomoe_archive::run(cfg.clone(), async move {
            let _ = stop_rx.await;
        }));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !tomoe_archive::daemon::read_status(&cfg.state_dir).map(|s| s.redis_connected).unwrap_or(false) {
            if Instant::now() > deadline {
                bail!("daemon did not connect to Redis");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Poll the log for the first appearance of each name. Only new part files are read
        // (one column each), so the poller costs little CPU next to the daemon.
        let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let (seen2, root, n_total) = (seen.clone(), cfg.obslog_root.clone(), names.len());
        let poller = std::thread::spawn(move || {
            let mut read: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
            let t_end = Instant::now() + Duration::from_secs(600);
            while Instant::now() < t_end {
                let now = Instant::now();
                let mut new_parts = Vec::new();
                for y in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                    for n in std::fs::read_dir(y.path()).into_iter().flatten().flatten() {
                        for f in std::fs::read_dir(n.path()).into_iter().flatten().flatten() {
                            let p = f.path();
                            if p.extension().is_some_and(|e| e == "parquet") && !read.contains(&p) {
                                new_parts.push(p);
                            }
                        }
                    }
                }
                for p in new_parts {
                    if let Ok(batches) = tomoe_store::obslog::read_parquet(&p, Some(&["file_name"])) {
                        let mut s = seen2.lock().unwrap_or_else(|e| e.into_inner());
                        for b in batches {
                            if let Some(col) = b.column(0).as_any().downcast_ref::<tomoe_store::arrow::array::StringArray>() {
                                for name in col.iter().flatten() {
                                    s.entry(name.to_string()).or_insert(now);
                                }
                            }
                        }
                        read.insert(p);
                    }
                }
                if seen2.lock().map(|s| s.len() >= n_total).unwrap_or(false) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let client = redis::Client::open(redis.url())?;
        let mut con = client.get_multiplexed_async_connection().await?;
        let mut published: HashMap<String, Instant> = HashMap::new();
        let mut burst_spans = Vec::new();
        for k in 0..a.bursts {
            let t_burst = Instant::now();
            for (_, n, size, sha) in files.iter().filter(|f| f.0 == k) {
                let msg = serde_json::json!({"type": "file", "url": format!("{base}{n}"), "size": size, "sha256": sha}).to_string();
                published.insert(n.clone(), Instant::now());
                redis::cmd("PUBLISH").arg(&cfg.channel).arg(msg).query_async::<i64>(&mut con).await?;
            }
            burst_spans.push(t_burst);
            if k + 1 < a.bursts {
                tokio::time::sleep(Duration::from_secs_f64(a.cadence)).await;
            }
        }
        let _ = tokio::task::spawn_blocking(move || poller.join()).await;
        let _ = stop_tx.send(());
        let status = daemon.await??;
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let mut lat: Vec<f64> = published.iter().filter_map(|(n, t0)| seen.get(n).map(|t1| t1.saturating_duration_since(*t0).as_secs_f64())).collect();
        lat.sort_by(f64::total_cmp);
        // Burst throughput: bytes of a burst over the time from its first notice to its last row.
        let mut burst_mbps = Vec::new();
        for (k, t0) in burst_spans.iter().enumerate() {
            let last = files.iter().filter(|f| f.0 == k).filter_map(|f| seen.get(&f.1)).max();
            let bytes: u64 = files.iter().filter(|f| f.0 == k).map(|f| f.2).sum();
            if let Some(t1) = last {
                burst_mbps.push(bytes as f64 / 1e6 / t1.saturating_duration_since(*t0).as_secs_f64());
            }
        }
        println!("## tomoe bench archive ({} bursts × {} files of {}×{} float32, {:.1} MB each; concurrency {})", a.bursts, a.chips, a.width, a.height, files[0].2 as f64 / 1e6, a.concurrency);
        println!();
        println!("| measure | value |");
        println!("|---|---|");
        println!("| files logged | {} of {} ({} failed) |", lat.len(), names.len(), status.counts.failed);
        println!("| notice→logged p50 | {:.3} s |", percentile(&lat, 50.0));
        println!("| notice→logged p99 | {:.3} s |", percentile(&lat, 99.0));
        println!("| notice→logged max | {:.3} s |", lat.last().copied().unwrap_or(f64::NAN));
        println!("| daemon burst throughput (fetch + verify + sha256 + place + log), median | {:.0} MB/s |", median(burst_mbps));
        println!("| fetcher throughput (transfer only), median of {} | {:.0} MB/s ({:.2} s for {:.0} MB) |", a.repeat, mb / ot, ot, mb);
        println!("| fetcher with inline SHA-256 (as the daemon runs it), median of {} | {:.0} MB/s ({:.2} s) |", a.repeat, mb / ht, ht);
        println!("| curl --parallel-max {} throughput, median of {} | {:.0} MB/s ({:.2} s) |", a.concurrency, a.repeat, mb / ct, ct);
        println!("| fetcher / curl throughput ratio (transfer only) | {:.2} |", ct / ot);
        println!("| fetcher with SHA-256 / curl throughput ratio | {:.2} |", ct / ht);
        println!();
        println!("runs (s): curl {curl_t:.3?}, fetcher {ours_t:.3?}, fetcher+sha256 {hashed_t:.3?}");
        Ok(())
    })
}
