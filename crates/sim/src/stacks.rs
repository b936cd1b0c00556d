//! Synthetic stacked images (TOMOE-IMAGE-STACK) with realistic Tomo-e headers.
//!
//! For each of `exposures` exposures and each of the first `chips` (quadrant, chip) pairs of
//! [`crate::layout::all_chips`], one float32 image `sTMQ<frame id>.fits` is written (atomically:
//! to a temporary name, then renamed). Times follow the real relations: TELAPSE = N × TFRAME +
//! 0.50002 s, EXPTIME = (N − 1) × EXPTIME1 for stacks (FORMAT.md §2), UTC-EXP ≈ 5 s before UTC,
//! consecutive exposures one TELAPSE + 1.5 s apart. Each chip has a TAN-SIP WCS centred on its
//! place in the synthetic focal plane.

use crate::layout::{all_chips, chip_offset_deg, PIXEL_SCALE_ARCSEC};
use crate::render::{add_gaussian_star, add_noise};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use tomoe_core::time::UtcMicros;
use tomoe_core::wcs::{Sip, Wcs};
use tomoe_fits::header::{Card, Header};
use tomoe_fits::write::{image_f32_header, write_image_f32};
use tomoe_fits::FrameId;

/// Error from the stack simulator.
#[derive(Debug, thiserror::Error)]
pub enum StackSimError {
    /// A parameter is out of range.
    #[error("invalid simulation parameter: {0}")]
    Invalid(String),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Parameters of a simulated run of exposures.
#[derive(Debug, Clone)]
pub struct StackSim {
    /// Number of exposures.
    pub exposures: usize,
    /// Chips per exposure, 1–84.
    pub chips: usize,
    /// Image width (NAXIS1), default 2000.
    pub width: usize,
    /// Image height (NAXIS2), default 1128.
    pub height: usize,
    /// Frame rate, 1 or 2 Hz.
    pub fps: u32,
    /// Frames per exposure (12 or 18 in surveys).
    pub frames: u32,
    /// Start of the first exposure.
    pub start: UtcMicros,
    /// First EXP_ID.
    pub first_exp_id: u64,
    /// Field centre RA, Dec [deg].
    pub field: (f64, f64),
    /// Stars per full-size chip (scaled by area for smaller images).
    pub stars_per_chip: usize,
    /// Random seed.
    pub seed: u64,
    /// PROJECT value.
    pub project: String,
    /// OBSERVER value.
    pub observer: String,
}

impl Default for StackSim {
    fn default() -> Self {
        Self {
            exposures: 1,
            chips: 84,
            width: 2000,
            height: 1128,
            fps: 2,
            frames: 18,
            start: UtcMicros::parse_iso("2023-01-02T09:48:14.665023").unwrap_or(UtcMicros(0)),
            first_exp_id: 860_262,
            field: (50.5, 59.42),
            stars_per_chip: 400,
            seed: 1,
            project: "All-Sky Survey".into(),
            observer: "Simulator".into(),
        }
    }
}

/// One file the simulator wrote.
#[derive(Debug, Clone)]
pub struct SimFile {
    /// Path written.
    pub path: PathBuf,
    /// Frame ID.
    pub frame_id: FrameId,
    /// Size in bytes.
    pub size: u64,
}

impl StackSim {
    fn check(&self) -> Result<(), StackSimError> {
        let bad = |m: &str| Err(StackSimError::Invalid(m.to_string()));
        if self.chips == 0 || self.chips > 84 {
            return bad("chips must be 1..=84");
        }
        if !(1..=2).contains(&self.fps) {
            return bad("fps must be 1 or 2");
        }
        if self.frames < 2 {
            return bad("frames must be at least 2");
        }
        if self.width < 8 || self.height < 8 || self.width > 10_000 || self.height > 10_000 {
            return bad("width and height must be 8..=10000");
        }
        if self.first_exp_id + self.exposures as u64 > 99_999_999 {
            return bad("EXP_ID must stay below 10^8");
        }
        Ok(())
    }

    /// Seconds between the starts of consecutive exposures.
    pub fn cadence(&self) -> f64 {
        self.telapse() + 1.5
    }

    fn tframe(&self) -> f64 {
        1.0 / f64::from(self.fps)
    }

    fn exptime1(&self) -> f64 {
        self.tframe() - 0.000_096
    }

    fn telapse(&self) -> f64 {
        f64::from(self.frames) * self.tframe() + 0.500_02
    }

    /// Frame ID of exposure `k`, chip index `c`.
    pub fn frame_id(&self, k: usize, c: usize) -> FrameId {
        let (quadrant, chip) = all_chips()[c];
        let t = self.start.add_seconds(k as f64 * self.cadence());
        FrameId {
            quadrant,
            date: t.date(),
            exp_id: self.first_exp_id + k as u64,
            chip,
        }
    }

    /// The full header (without DATASUM/CHECKSUM) of exposure `k`, chip index `c`.
    pub fn header(&self, k: usize, c: usize) -> Header {
        let id = self.frame_id(k, c);
        let utc = self.start.add_seconds(k as f64 * self.cadence());
        let dith = k % 4 + 1;
        let (ra0, dec0) = self.field;
        let object = {
            let ra_h = ra0 / 15.0;
            let (hh, mm) = (ra_h.floor(), ((ra_h - ra_h.floor()) * 60.0).floor());
            let s = if dec0 < 0.0 { '-' } else { '+' };
            let d = dec0.abs();
            format!(
                "J{:02}{:02}{s}{:02}{:02}_dith{dith}",
                hh as i64,
                mm as i64,
                d.floor() as i64,
                ((d - d.floor()) * 60.0).floor() as i64
            )
        };
        let n = f64::from(self.frames);
        let (tframe, exptime1) = (self.tframe(), self.exptime1());
        let iso = utc.to_iso();
        let mut h = image_f32_header(&[self.width, self.height]);
        h.push(Card::parse("COMMENT = '---------- OBSERVATION SECTION'"));
        h.push(Card::string("OBJECT", &object, "object name"));
        h.push(Card::float(
            "EXPTIME",
            (n - 1.0) * exptime1,
            10,
            "[s] net integration time",
        ));
        h.push(Card::float(
            "TELAPSE",
            self.telapse(),
            10,
            "[s] elapsed time",
        ));
        h.push(Card::float(
            "EXPTIME1",
            exptime1,
            10,
            "[s] exposure time per frame",
        ));
        h.push(Card::float(
            "TFRAME",
            tframe,
            10,
            "[s] frame interval in seconds",
        ));
        h.push(Card::float(
            "TRLSTEP",
            0.001659,
            10,
            "[s] interval per reset line feeding (4 lines)",
        ));
        h.push(Card::float(
            "TRLSTEP1",
            0.00041475,
            10,
            "[s] reset line feeding time per line",
        ));
        h.push(Card::float(
            "DATA-FPS",
            f64::from(self.fps),
            10,
            "[Hz] frame per second",
        ));
        h.push(Card::string(
            "DATA-TYP",
            "OBJECT",
            "data type (OBJECT,FLAT,DARK)",
        ));
        h.push(Card::string("OBS-MOD", "Imaging", "observation mode"));
        h.push(Card::string("FILTER", "BLANK", "filter name"));
        h.push(Card::string("PROJECT", &self.project, "project name"));
        h.push(Card::string("OBSERVER", &self.observer, "observer name"));
        h.push(Card::string(
            "PIPELINE",
            "wcs,stack,neo",
            "reduction pipeline templete",
        ));
        h.push(Card::string(
            "DATE",
            &utc.add_seconds(self.telapse() + 0.8).to_iso()[..19],
            "date when FITS file was generated",
        ));
        h.push(Card::string("DATE-OBS", &iso[..10], "observation date"));
        h.push(Card::string(
            "TIME-OBS",
            &iso[11..],
            "exposure starting time",
        ));
        h.push(Card::string("UTC", &iso, "exposure starting date and time"));
        h.push(Card::string(
            "UTC-EXP",
            &utc.add_seconds(-4.81).to_iso(),
            "onset time of exposure sequence",
        ));
        h.push(Card::string(
            "GPS-UP",
            &iso,
            "GPS trigger time::rising edge",
        ));
        h.push(Card::string(
            "GPS-DOWN",
            &utc.add_seconds(-38.9).to_iso(),
            "GPS trigger time::falling edge",
        ));
        h.push(Card::string(
            "TIMESYS",
            "UTC",
            "time system used in the header.",
        ));
        h.push(Card::string(
            "RA",
            &sexagesimal(ra0 / 15.0, false),
            "right ascension of telescope pointing",
        ));
        h.push(Card::string(
            "DEC",
            &sexagesimal(dec0, true),
            "declination of telescope pointing",
        ));
        h.push(Card::string(
            "RADESYS",
            "ICRS",
            "equatorial coordinate system",
        ));
        h.push(Card::float(
            "EQUINOX",
            2000.0,
            10,
            "equinox of celestial coordinate system",
        ));
        h.push(Card::parse("COMMENT = '---------- DATA SECTION'"));
        h.push(Card::int(
            "EXP_ID",
            id.exp_id as i64,
            "exposure serial number",
        ));
        h.push(Card::int(
            "QUAD_ID",
            i64::from(id.quadrant),
            "Tomo-e Gozen Module ID number",
        ));
        h.push(Card::int(
            "DET_ID",
            i64::from(id.det_id()),
            "CMOS detector ID number",
        ));
        h.push(Card::string(
            "CMOS_ID",
            &format!("SIM{:06}", id.det_id()),
            "CMOS serial ID number",
        ));
        h.push(Card::string("FRAME_ID", &id.to_string(), "frame ID"));
        h.push(Card::string("FMTTYPE", "TOMOE-IMAGE-STACK", "format type"));
        h.push(Card::parse("COMMENT = '---------- WCS SECTION'"));
        let w = self.wcs(k, c);
        h.push(Card::string(
            "CTYPE1",
            "RA---TAN-SIP",
            "TAN projection with SIP distortion",
        ));
        h.push(Card::string(
            "CTYPE2",
            "DEC--TAN-SIP",
            "TAN projection with SIP distortion",
        ));
        h.push(Card::float("CRPIX1", w.crpix[0], 4, "reference pixel"));
        h.push(Card::float("CRPIX2", w.crpix[1], 4, "reference pixel"));
        h.push(Card::float(
            "CRVAL1",
            w.crval[0],
            10,
            "[deg] RA at reference pixel",
        ));
        h.push(Card::float(
            "CRVAL2",
            w.crval[1],
            10,
            "[deg] Dec at reference pixel",
        ));
        for (key, v) in [
            ("CD1_1", w.cd[0][0]),
            ("CD1_2", w.cd[0][1]),
            ("CD2_1", w.cd[1][0]),
            ("CD2_2", w.cd[1][1]),
        ] {
            h.push(Card::parse(&format!(
                "{key:<8}= {v:>20.13E} / [deg/px] linear transformation"
            )));
        }
        if let Some(sip) = &w.sip {
            for (name, order, coeffs) in [("A", sip.a_order, &sip.a), ("B", sip.b_order, &sip.b)] {
                h.push(Card::int(
                    &format!("{name}_ORDER"),
                    order as i64,
                    "SIP polynomial order",
                ));
                for &(p, q, v) in coeffs {
                    h.push(Card::parse(&format!(
                        "{:<8}= {v:>20.13E}",
                        format!("{name}_{p}_{q}")
                    )));
                }
            }
        }
        h
    }

    /// The WCS of exposure `k`, chip index `c` (dithered by up to 2′ per exposure).
    pub fn wcs(&self, k: usize, c: usize) -> Wcs {
        let (q, chip) = all_chips()[c];
        let (dx, dy) = chip_offset_deg(q, chip);
        let dither = [
            (0.0, 0.0),
            (1.0 / 30.0, 0.0),
            (0.0, 1.0 / 30.0),
            (1.0 / 30.0, 1.0 / 30.0),
        ][k % 4];
        let field = Wcs::new(
            [0.0, 0.0],
            [self.field.0, self.field.1],
            [[-1.0, 0.0], [0.0, 1.0]],
            None,
        )
        .unwrap_or_else(|_| unreachable!("fixed matrix is regular"));
        let (ra, dec) = field.pix_to_sky(-(dx + dither.0), dy + dither.1);
        let s = PIXEL_SCALE_ARCSEC / 3600.0;
        let sip = Sip {
            a_order: 2,
            b_order: 2,
            a: vec![(2, 0, 3.0e-7), (1, 1, -2.0e-7), (0, 2, 1.0e-7)],
            b: vec![(2, 0, -1.0e-7), (1, 1, 2.5e-7), (0, 2, 2.0e-7)],
            ap: vec![],
            bp: vec![],
        };
        let crpix = [
            (self.width as f64 + 1.0) / 2.0,
            (self.height as f64 + 1.0) / 2.0,
        ];
        Wcs::new(crpix, [ra, dec], [[-s, 0.0], [0.0, s]], Some(sip))
            .unwrap_or_else(|_| unreachable!("scale is non-zero"))
    }

    /// Renders the pixels of exposure `k`, chip index `c`.
    pub fn pixels(&self, k: usize, c: usize) -> Vec<f32> {
        let (w, h) = (self.width, self.height);
        let sky = 120.0 * f64::from(self.frames - 1);
        let mut img = vec![sky as f32; w * h];
        // Stars are fixed per chip (same seed for every exposure), plus small dithers.
        let mut star_rng =
            StdRng::seed_from_u64(self.seed.wrapping_mul(1_000_003).wrapping_add(c as u64));
        let n = (self.stars_per_chip as f64 * (w * h) as f64 / (2000.0 * 1128.0)).round() as usize;
        let (ddx, ddy) = [(0.0, 0.0), (3.0, -2.0), (-2.0, 3.0), (2.0, 2.0)][k % 4];
        for _ in 0..n {
            let x: f64 = star_rng.random_range(0.0..w as f64);
            let y: f64 = star_rng.random_range(0.0..h as f64);
            // Cumulative counts rise by 10^0.3 per magnitude between 10 and 18.
            let u: f64 = star_rng.random_range(0.0..1.0);
            let m =
                18.0 + (u * (1.0 - 10f64.powf(-0.3 * 8.0)) + 10f64.powf(-0.3 * 8.0)).log10() / 0.3;
            let flux = 10f64.powf(-0.4 * (m - 24.0));
            add_gaussian_star(&mut img, w, h, x + ddx, y + ddy, flux, 1.3);
        }
        let mut rng = StdRng::seed_from_u64(self.seed ^ ((k as u64) << 32) ^ (c as u64 + 17));
        add_noise(
            &mut img,
            (sky / 0.94 + 16.8 * f64::from(self.frames)).sqrt(),
            &mut rng,
        );
        img
    }
}

fn sexagesimal(v: f64, signed: bool) -> String {
    let sign = if v < 0.0 { "-" } else { "+" };
    let a = v.abs();
    let tenths = (a * 36000.0).round() as i64;
    let (d, m, s) = (
        tenths / 36000,
        (tenths / 600) % 60,
        (tenths % 600) as f64 / 10.0,
    );
    if signed {
        format!("{sign}{d:02}:{m:02}:{s:04.1}")
    } else {
        format!("{d:02}:{m:02}:{s:04.1}")
    }
}

/// Writes every stack of the simulation into `dir` (created if needed), calling `progress`
/// after each file. Files are written to `.<name>.tmp` and renamed, so a watcher never sees a
/// partial file under its final name.
pub fn simulate_stacks(
    sim: &StackSim,
    dir: &Path,
    mut progress: impl FnMut(&SimFile),
) -> Result<Vec<SimFile>, StackSimError> {
    sim.check()?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StackSimError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut out = Vec::new();
    for k in 0..sim.exposures {
        for c in 0..sim.chips {
            out.push(write_one(sim, dir, k, c)?);
            if let Some(f) = out.last() {
                progress(f);
            }
        }
    }
    Ok(out)
}

/// Writes one stack (exposure `k`, chip index `c`) into `dir`.
pub fn write_one(sim: &StackSim, dir: &Path, k: usize, c: usize) -> Result<SimFile, StackSimError> {
    sim.check()?;
    let id = sim.frame_id(k, c);
    let name = format!("s{id}.fits");
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |p: &Path| {
        let path = p.to_path_buf();
        move |source| StackSimError::Io { path, source }
    };
    let header = sim.header(k, c);
    let pixels = sim.pixels(k, c);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io(&tmp))?);
    let size = write_image_f32(&mut f, &header, &pixels).map_err(io(&tmp))?;
    f.into_inner().map_err(|e| StackSimError::Io {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(SimFile {
        path,
        frame_id: id,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tomoe_fits::structure::verify_file;
    use tomoe_fits::TomoeHeader;

    #[test]
    fn writes_valid_tomoe_stacks() {
        let dir = tempfile::tempdir().unwrap();
        let sim = StackSim {
            exposures: 2,
            chips: 3,
            width: 200,
            height: 100,
            ..Default::default()
        };
        let files = simulate_stacks(&sim, dir.path(), |_| {}).unwrap();
        assert_eq!(files.len(), 6);
        let mut ids = std::collections::BTreeSet::new();
        for f in &files {
            let layout = verify_file(&f.path).unwrap();
            assert_eq!(layout.hdus[0].checksum_verified, Some(true));
            let name = f.path.file_name().unwrap().to_str().unwrap();
            let t = TomoeHeader::from_header(&layout.primary, Some(name));
            assert!(t.warnings.is_empty(), "{:?}", t.warnings);
            assert_eq!(t.frame_id, Some(f.frame_id));
            assert_eq!(t.n_frames, Some(18));
            assert!(t.pointing_valid);
            let (ra, dec) = t.wcs_center.unwrap();
            assert!((ra - 50.5).abs() < 10.0 && (dec - 59.42).abs() < 6.0);
            ids.insert(t.frame_id.unwrap().to_string());
        }
        assert_eq!(ids.len(), 6);
        // Exposure 1 starts one cadence after exposure 0.
        let t0 = TomoeHeader::from_header(&verify_file(&files[0].path).unwrap().primary, None)
            .utc_start
            .unwrap();
        let t1 = TomoeHeader::from_header(&verify_file(&files[3].path).unwrap().primary, None)
            .utc_start
            .unwrap();
        assert_eq!(t1.0 - t0.0, (sim.cadence() * 1e6).round() as i64);
    }

    #[test]
    fn rejects_bad_parameters() {
        let dir = tempfile::tempdir().unwrap();
        for sim in [
            StackSim {
                chips: 85,
                ..Default::default()
            },
            StackSim {
                fps: 3,
                ..Default::default()
            },
        ] {
            assert!(simulate_stacks(&sim, dir.path(), |_| {}).is_err());
        }
    }

    #[test]
    fn sexagesimal_format() {
        assert_eq!(
            sexagesimal(3.0 + 5.0 / 60.0 + 16.1 / 3600.0, false),
            "03:05:16.1"
        );
        assert_eq!(
            sexagesimal(-(22.0 + 12.0 / 60.0 + 50.0 / 3600.0), true),
            "-22:12:50.0"
        );
    }
}
