//! `tomoe extract`: detect sources on an image (or the sum of a cube's frames) and write a catalog.

use anyhow::{bail, Context};
use clap::Args;
use std::io::Write;
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
    /// Output CSV (default: standard output).
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
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    write!(out, "id,x,y,xwin,ywin,npix,flux,peak,peak_snr,flags")?;
    if wcs.is_some() {
        write!(out, ",ra,dec")?;
    }
    writeln!(out)?;
    for (i, s) in sources.iter().enumerate() {
        write!(
            out,
            "{},{:.4},{:.4},{:.4},{:.4},{},{:.4},{:.4},{:.2},{}",
            i + 1,
            s.x + off,
            s.y + off,
            s.xwin + off,
            s.ywin + off,
            s.npix,
            s.flux,
            s.peak,
            s.peak_snr,
            s.flags
        )?;
        if let Some(wc) = &wcs {
            // The WCS takes FITS (1-based) pixels.
            let (ra, dec) = wc.pix_to_sky(s.xwin + 1.0, s.ywin + 1.0);
            write!(out, ",{ra:.7},{dec:.7}")?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    eprintln!(
        "{} sources above {} sigma (background {:.2}, rms {:.2} ADU)",
        sources.len(),
        a.thresh,
        bkg.global,
        bkg.global_rms
    );
    Ok(())
}
