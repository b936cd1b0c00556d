//! `tomoe extract`: detect sources on an image (or the sum of a cube's frames) and write a catalog.

use anyhow::bail;
use clap::Args;
use std::path::PathBuf;
use tomoe_core::background::{BackgroundMap, BackgroundParams};
use tomoe_core::detect::{detect, DetectParams};
use tomoe_core::phot::Image;
use tomoe_core::wcs::Wcs;
use tomoe_fits::ImageFile;

/// Arguments of `tomoe extract`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  tomoe extract stack.fits -o sources.csv\n  tomoe extract cube.fits --sum --thresh 3 -o sources.csv\n\nOutput CSV: id, x, y (isophotal barycentre), xwin, ywin (windowed centroid), npix, flux, peak, peak_snr, flags (1 blended, 4 saturated, 8 edge) and, when the header has a WCS, ra, dec [deg] of (xwin, ywin). Positions are FITS 1-based unless --zero-based."
)]
pub struct ExtractArgs {
    /// FITS image or cube.
    pub image: PathBuf,
    /// Cube frame to use (0-based).
    #[arg(long, default_value_t = 0, conflicts_with = "sum")]
    pub frame: usize,
    /// Detect on the sum of all frames of a cube.
    #[arg(long)]
    pub sum: bool,
    /// Threshold in units of the matched-filter noise.
    #[arg(long, default_value_t = 5.0)]
    pub thresh: f64,
    /// Minimum pixels above threshold.
    #[arg(long, default_value_t = 5)]
    pub minarea: usize,
    /// Background mesh size [px].
    #[arg(long, default_value_t = 64)]
    pub mesh: usize,
    /// Saturation level [ADU].
    #[arg(long, default_value_t = f64::INFINITY)]
    pub saturation: f64,
    /// Write 0-based positions.
    #[arg(long)]
    pub zero_based: bool,
    /// Output file: CSV, Parquet (.parquet) or a FITS binary table (.fits); default: CSV on standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Runs `tomoe extract`.
pub fn run(a: ExtractArgs) -> anyhow::Result<()> {
    if !(a.thresh.is_finite() && a.thresh > 0.0) || a.minarea == 0 || a.mesh < 8 {
        bail!("--thresh must be > 0, --minarea >= 1, --mesh >= 8");
    }
    let mut img = ImageFile::open(&a.image)?;
    let (w, h) = (img.width(), img.height());
    let mut data = Vec::new();
    if a.sum {
        let mut buf = Vec::new();
        data = vec![0.0f32; w * h];
        for k in 0..img.frames() {
            img.read_frame(k, &mut buf)?;
            for (d, v) in data.iter_mut().zip(&buf) {
                *d += *v;
            }
        }
    } else {
        img.read_frame(a.frame, &mut data)?;
    }
    let im = Image::new(&data, w, h);
    let bkg = BackgroundMap::estimate(
        im,
        &BackgroundParams {
            bw: a.mesh,
            bh: a.mesh,
            ..Default::default()
        },
    );
    let sources = detect(
        im,
        &bkg.back_image(),
        &bkg.rms_image(),
        &DetectParams {
            thresh: a.thresh,
            minarea: a.minarea,
            saturation: a.saturation,
            ..Default::default()
        },
    );
    let hdr = &img.header;
    let wcs = Wcs::from_keywords(|k| hdr.get_f64(k), |k| hdr.get_str(k))
        .ok()
        .flatten();
    let off = if a.zero_based { 0.0 } else { 1.0 };
    use crate::table::{Column, Table};
    let col = |f: &dyn Fn(&tomoe_core::detect::Detection) -> f64, d: usize| {
        Column::F64(sources.iter().map(f).collect(), d)
    };
    let mut t = Table::default();
    t.add("id", Column::I64((1..=sources.len() as i64).collect()));
    t.add("x", col(&|s| s.x + off, 4));
    t.add("y", col(&|s| s.y + off, 4));
    t.add("xwin", col(&|s| s.xwin + off, 4));
    t.add("ywin", col(&|s| s.ywin + off, 4));
    t.add(
        "npix",
        Column::I64(sources.iter().map(|s| s.npix as i64).collect()),
    );
    t.add("flux", col(&|s| s.flux, 4));
    t.add("peak", col(&|s| s.peak, 4));
    t.add("peak_snr", col(&|s| s.peak_snr, 2));
    t.add(
        "flags",
        Column::I64(sources.iter().map(|s| i64::from(s.flags)).collect()),
    );
    if let Some(wc) = &wcs {
        // The WCS takes FITS (1-based) pixels.
        let sky: Vec<(f64, f64)> = sources
            .iter()
            .map(|s| wc.pix_to_sky(s.xwin + 1.0, s.ywin + 1.0))
            .collect();
        t.add("ra", Column::F64(sky.iter().map(|p| p.0).collect(), 7));
        t.add("dec", Column::F64(sky.iter().map(|p| p.1).collect(), 7));
    }
    t.write(a.output.as_deref())?;
    eprintln!(
        "{} sources above {} sigma (background {:.2}, rms {:.2} ADU)",
        sources.len(),
        a.thresh,
        bkg.global,
        bkg.global_rms
    );
    Ok(())
}
