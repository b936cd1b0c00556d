//! `tomoe wcs pix2sky|sky2pix FILE`: convert a CSV of points with a file's WCS.

use crate::phot::read_pairs;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use tomoe_core::wcs::Wcs;

/// `tomoe wcs …`
#[derive(Debug, Subcommand)]
pub enum WcsCmd {
    /// Pixel → sky: reads CSV columns x, y (FITS 1-based), writes x, y, ra, dec [deg].
    #[command(after_help = "Example:\n  tomoe wcs pix2sky stack.fits --points pix.csv -o sky.csv")]
    Pix2sky(WcsArgs),
    /// Sky → pixel: reads CSV columns ra, dec [deg], writes ra, dec, x, y (FITS 1-based).
    #[command(
        after_help = "Example:\n  tomoe wcs sky2pix stack.fits --points gaia.csv -o pix.csv"
    )]
    Sky2pix(WcsArgs),
}

/// Arguments of both directions.
#[derive(Debug, Args)]
pub struct WcsArgs {
    /// FITS file (or `.hdr` card text) whose primary header has the WCS.
    pub file: PathBuf,
    /// CSV with a header row.
    #[arg(long)]
    pub points: PathBuf,
    /// Output CSV (default: standard output).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

fn load(file: &std::path::Path) -> anyhow::Result<Wcs> {
    let h = if file.extension().is_some_and(|e| e == "hdr") {
        tomoe_fits::Header::from_text(
            &std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?,
        )
    } else {
        tomoe_fits::structure::read_primary_header(file)?
    };
    Wcs::from_keywords(|k| h.get_f64(k), |k| h.get_str(k))?
        .with_context(|| format!("{}: no celestial WCS (CTYPE1 missing)", file.display()))
}

/// Runs `tomoe wcs …`.
pub fn run(cmd: WcsCmd) -> anyhow::Result<()> {
    let (a, forward) = match cmd {
        WcsCmd::Pix2sky(a) => (a, true),
        WcsCmd::Sky2pix(a) => (a, false),
    };
    let wcs = load(&a.file)?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if forward {
        writeln!(out, "x,y,ra,dec")?;
        for (_, x, y) in read_pairs(
            &a.points,
            &["x", "x_image", "xwin"],
            &["y", "y_image", "ywin"],
            &[],
        )? {
            let (ra, dec) = wcs.pix_to_sky(x, y);
            writeln!(out, "{x},{y},{ra:.10},{dec:.10}")?;
        }
    } else {
        writeln!(out, "ra,dec,x,y")?;
        for (_, ra, dec) in read_pairs(
            &a.points,
            &["ra", "alpha_j2000"],
            &["dec", "delta_j2000"],
            &[],
        )? {
            match wcs.sky_to_pix(ra, dec) {
                Some((x, y)) => writeln!(out, "{ra},{dec},{x:.6},{y:.6}")?,
                None => writeln!(out, "{ra},{dec},,")?,
            }
        }
    }
    out.flush()?;
    Ok(())
}
