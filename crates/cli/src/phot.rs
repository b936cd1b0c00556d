//! `tomoe phot`: fixed-aperture photometry at given positions on an image or cube frames.

use anyhow::{bail, Context};
use clap::Args;
use std::path::{Path, PathBuf};
use tomoe_core::phot::{ApertureSet, CircleOptions, Image, Noise};
use tomoe_core::timing::RowOrder;
use tomoe_fits::{ImageFile, TomoeHeader};

/// Arguments of `tomoe phot`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  tomoe phot stack.fits --positions stars.csv -o phot.csv\n  tomoe phot cube.fits --positions stars.csv --all-frames --background median --gain 0.94\n\nPositions: a CSV with a header row and columns x, y (FITS convention: the first pixel's centre is 1,1; --zero-based for 0,0) and optionally id.\nOutput: id, x, y, frame, flux, flux_err, area, background, flags (1 edge, 2 NaN pixel, 4 saturated, 8 sparse annulus) and, for Tomo-e headers, the rolling-shutter mid-exposure time of the source's row (time_utc, mjd)."
)]
pub struct PhotArgs {
    /// FITS image or cube.
    pub image: PathBuf,
    /// CSV of positions.
    #[arg(long)]
    pub positions: PathBuf,
    /// Cube frame (0-based).
    #[arg(long, default_value_t = 0, conflicts_with = "all_frames")]
    pub frame: usize,
    /// Measure every frame of a cube.
    #[arg(long)]
    pub all_frames: bool,
    /// Aperture radius in pixels (default: 21 px diameter).
    #[arg(long, default_value_t = 10.5)]
    pub radius: f64,
    /// Local background annulus "RIN,ROUT" in pixels.
    #[arg(long)]
    pub annulus: Option<String>,
    /// Background to subtract: none, median (3σ-clipped median of the frame), mesh (SourceExtractor
    /// map, 64 px meshes; its rms map gives the errors), or a FITS file.
    #[arg(long, default_value = "median")]
    pub background: String,
    /// Background rms per pixel for the errors (default: 3σ-clipped standard deviation of the frame).
    #[arg(long)]
    pub rms: Option<f64>,
    /// Inverse gain in e⁻/ADU (adds the source's Poisson noise; 0 turns it off). Default: the
    /// `[photometry]` gain setting of the configuration (mid gain: 0.94).
    #[arg(long)]
    pub gain: Option<f64>,
    /// Saturation level in ADU (default: photometry.saturation of the configuration).
    #[arg(long)]
    pub saturation: Option<f64>,
    /// Positions are 0-based (pixel centres at 0, 0).
    #[arg(long)]
    pub zero_based: bool,
    /// Rolling-shutter readout starts at the last row instead of the first.
    #[arg(long)]
    pub readout_descending: bool,
    /// Output file: CSV, Parquet (.parquet) or a FITS binary table (.fits); default: CSV on standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// A position to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// Identifier (row number when the CSV has no id column).
    pub id: String,
    /// x (as given).
    pub x: f64,
    /// y (as given).
    pub y: f64,
}

/// Reads `x`, `y` (and optional `id`) columns from a CSV with a header row.
pub fn read_positions(path: &Path) -> anyhow::Result<Vec<Position>> {
    let rows = read_pairs(
        path,
        &["x", "x_image", "xcentroid", "xwin"],
        &["y", "y_image", "ycentroid", "ywin"],
        &["id", "name", "source_id"],
    )?;
    Ok(rows
        .into_iter()
        .map(|(id, x, y)| Position { id, x, y })
        .collect())
}

/// Reads two numeric columns (the first header name found of `a_names`, of `b_names`) and an
/// optional id column from a CSV with a header row; rows without an id get their row number.
/// Errors name the file and line.
pub fn read_pairs(
    path: &Path,
    a_names: &[&str],
    b_names: &[&str],
    id_names: &[&str],
) -> anyhow::Result<Vec<(String, f64, f64)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let Some((_, head)) = lines.next() else {
        bail!("{}: empty file", path.display())
    };
    let cols: Vec<String> = head
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    let find = |names: &[&str]| cols.iter().position(|c| names.contains(&c.as_str()));
    let (Some(ai), Some(bi)) = (find(a_names), find(b_names)) else {
        bail!(
            "{}: the header row needs columns {} and {} (found: {})",
            path.display(),
            a_names[0],
            b_names[0],
            cols.join(", ")
        );
    };
    let idi = find(id_names);
    let mut out = Vec::new();
    for (n, line) in lines {
        let f: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let num = |i: usize, what: &str| -> anyhow::Result<f64> {
            let s = f.get(i).copied().unwrap_or("");
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| {
                    format!(
                        "{}:{}: {what} {s:?} is not a finite number",
                        path.display(),
                        n + 1
                    )
                })
        };
        let id = idi
            .and_then(|i| f.get(i))
            .map(|s| s.to_string())
            .unwrap_or_else(|| out.len().to_string());
        out.push((id, num(ai, a_names[0])?, num(bi, b_names[0])?));
    }
    Ok(out)
}

/// Runs `tomoe phot` with the `[photometry]` section of the configuration for defaults.
pub fn run(a: PhotArgs, cfg: &crate::config::PhotometryConfig) -> anyhow::Result<()> {
    // Read noise enters through the measured noise map (rms of the frame or mesh map).
    let (cfg_gain, _) = cfg.noise().map_err(anyhow::Error::msg)?;
    let gain = a.gain.unwrap_or(cfg_gain);
    let saturation = a.saturation.unwrap_or(cfg.saturation);
    if !(gain >= 0.0 && gain.is_finite()) {
        bail!("--gain must be >= 0 e-/ADU, got {gain}");
    }
    if !(a.radius.is_finite() && a.radius > 0.0 && a.radius < 1000.0) {
        bail!("--radius must be in (0, 1000) pixels, got {}", a.radius);
    }
    let annulus = match &a.annulus {
        None => None,
        Some(s) => {
            let v: Vec<f64> = s
                .split(',')
                .map(|p| p.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .with_context(|| format!("--annulus {s:?}: expected RIN,ROUT"))?;
            if v.len() != 2 || !(v[0] >= a.radius && v[1] > v[0]) {
                bail!("--annulus {s:?}: expected RIN,ROUT with radius <= RIN < ROUT");
            }
            Some((v[0], v[1]))
        }
    };
    let positions = read_positions(&a.positions)?;
    let mut img = ImageFile::open(&a.image)?;
    let (w, h) = (img.width(), img.height());
    let ext_bkg = match a.background.as_str() {
        "none" | "median" | "mesh" => None,
        file => {
            let mut b =
                ImageFile::open(Path::new(file)).with_context(|| format!("--background {file}"))?;
            if (b.width(), b.height()) != (w, h) {
                bail!(
                    "background {file} is {}x{}, the image is {w}x{h}",
                    b.width(),
                    b.height()
                );
            }
            let mut buf = Vec::new();
            b.read_frame(0, &mut buf)?;
            Some(buf)
        }
    };
    let name = a.image.file_name().map(|n| n.to_string_lossy().to_string());
    let t = TomoeHeader::from_header(&img.header, name.as_deref());
    let order = if a.readout_descending {
        RowOrder::Descending
    } else {
        RowOrder::Ascending
    };
    let shutter = t.rolling_shutter(h, order);
    let frames: Vec<usize> = if a.all_frames {
        (0..img.frames()).collect()
    } else {
        vec![a.frame]
    };
    let off = if a.zero_based { 0.0 } else { 1.0 };
    // Columns, filled frame by frame, written at the end as CSV, Parquet or a FITS table.
    let (
        mut ids,
        mut xs,
        mut ys,
        mut fr,
        mut flux,
        mut err,
        mut area,
        mut bg,
        mut flags,
        mut times,
        mut mjds,
    ) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let opt = CircleOptions {
        radius: a.radius,
        annulus,
        saturation,
    };
    // Exact weights once for all frames.
    let set = ApertureSet::new(
        &positions
            .iter()
            .map(|p| (p.x - off, p.y - off))
            .collect::<Vec<_>>(),
        a.radius,
    );
    let mut buf = Vec::new();
    for &k in &frames {
        img.read_frame(k, &mut buf)?;
        let (level, sd) = if a.background == "median" || (a.rms.is_none() && a.background != "mesh")
        {
            let mut v: Vec<f64> = buf
                .iter()
                .step_by(if buf.len() > 4_000_000 { 4 } else { 1 })
                .filter(|p| p.is_finite())
                .map(|&p| f64::from(p))
                .collect();
            tomoe_core::stats::sigma_clipped_median(&mut v, 3.0, 10).unwrap_or((0.0, 0.0))
        } else {
            (0.0, 0.0)
        };
        // A constant level is subtracted as level × area after the sum.
        let level = if ext_bkg.is_none() && a.background == "median" {
            level
        } else {
            0.0
        };
        let mesh_maps = (a.background == "mesh").then(|| {
            let m = tomoe_core::background::BackgroundMap::estimate(
                Image::new(&buf, w, h),
                &Default::default(),
            );
            (m.back_image(), m.rms_image())
        });
        let bkg: Option<&[f32]> = ext_bkg
            .as_deref()
            .or(mesh_maps.as_ref().map(|m| m.0.as_slice()));
        let rms_map: Option<&[f32]> = if a.rms.is_none() {
            mesh_maps.as_ref().map(|m| m.1.as_slice())
        } else {
            None
        };
        let noise = Noise {
            rms: a.rms.unwrap_or(sd),
            gain,
        };
        let results = set.measure(Image::new(&buf, w, h), bkg, rms_map, &opt, noise);
        for (p, mut r) in positions.iter().zip(results) {
            if level != 0.0 {
                // Recompute the Poisson term on the background-subtracted flux.
                let var_src = if gain > 0.0 && r.flux > 0.0 {
                    r.flux / gain
                } else {
                    0.0
                };
                r.flux -= level * r.area;
                let var_src_new = if gain > 0.0 && r.flux > 0.0 {
                    r.flux / gain
                } else {
                    0.0
                };
                r.flux_err = (r.flux_err * r.flux_err - var_src + var_src_new)
                    .max(0.0)
                    .sqrt();
                r.background += level;
            }
            ids.push(p.id.clone());
            xs.push(p.x);
            ys.push(p.y);
            fr.push(k as i64);
            flux.push(r.flux);
            err.push(r.flux_err);
            area.push(r.area);
            bg.push(r.background);
            flags.push(i64::from(r.flags));
            if let Some(s) = &shutter {
                let tm = s.mid_time(k as u32, p.y - off);
                times.push(tm.to_iso());
                mjds.push(tm.mjd());
            }
        }
    }
    use crate::table::{Column, Table};
    let mut t = Table::default();
    t.add("id", Column::Str(ids));
    t.add("x", Column::F64(xs, 4));
    t.add("y", Column::F64(ys, 4));
    t.add("frame", Column::I64(fr));
    t.add("flux", Column::F64(flux, 6));
    t.add("flux_err", Column::F64(err, 6));
    t.add("area", Column::F64(area, 6));
    t.add("background", Column::F64(bg, 6));
    t.add("flags", Column::I64(flags));
    if shutter.is_some() {
        t.add("time_utc", Column::Str(times));
        t.add("mjd", Column::F64(mjds, 9));
    }
    t.write(a.output.as_deref())
}
