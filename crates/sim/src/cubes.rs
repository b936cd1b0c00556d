//! Simulated image cubes (TOMOE-IMAGE-CUBE) with a truth table.
//!
//! Frames of one exposure and chip are rendered from a star list through the chip's TAN-SIP
//! WCS: stars are drawn at random sky positions inside the chip (a Gaia-like list: RA, Dec, G),
//! mapped to pixels by the WCS, and rendered with a pixel-integrated Gaussian PSF whose centre
//! and width jitter from frame to frame ("seeing dance", common to all stars of a frame). Each
//! frame gets sky, photon noise (gain in e⁻/ADU) and read noise, a few cosmic-ray hits, a slowly
//! moving asteroid, and, in one frame, a fast streak. Some stars are variables (sinusoids): their
//! flux in each frame is taken at the rolling-shutter mid-exposure time of their own row, so the
//! truth exercises the timing model. The truth table lists every rendered object per frame.

use crate::render::add_gaussian_star;
use crate::stacks::StackSim;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::io::Write;
use std::path::{Path, PathBuf};
use tomoe_core::time::UtcMicros;
use tomoe_core::timing::{RollingShutter, RowOrder};
use tomoe_fits::header::Card;
use tomoe_fits::write::write_image_f32;

/// Parameters of a simulated cube.
#[derive(Debug, Clone)]
pub struct CubeSim {
    /// Geometry, times and header values are those of this stack simulation (exposure 0, chip 0).
    pub stack: StackSim,
    /// Frames (NAXIS3).
    pub frames: u32,
    /// Stars on the chip.
    pub stars: usize,
    /// Of which variable.
    pub variables: usize,
    /// Sky per frame [ADU].
    pub sky: f64,
    /// Inverse gain [e⁻/ADU] (Tomo-e mid gain: 0.94).
    pub gain: f64,
    /// Read noise [e⁻] (mid gain: 4.1).
    pub read_noise: f64,
    /// PSF σ [px] (mean).
    pub psf_sigma: f64,
    /// Frame-to-frame jitter of the PSF centre [px, 1σ].
    pub jitter: f64,
    /// Cosmic-ray hits per frame.
    pub cosmics: usize,
    /// Asteroid rate [px per frame] (x, y).
    pub asteroid_rate: (f64, f64),
    /// Random seed.
    pub seed: u64,
    /// Draw the stars from this Gaia-like catalogue instead of at random: every source that
    /// falls on the chip at the exposure's epoch (proper motion applied) is rendered with the
    /// magnitude the photometric model gives it, and its truth id is its `source_id`.
    pub gaia: Option<Vec<crate::gaia::GaiaSource>>,
    /// Photometric model with a catalogue: m_inst = G + Σ cᵢ (BP−RP)ⁱ − zp − k (BP−RP), with
    /// m_inst = −2.5 log10(flux per frame [ADU]). (zp, k, [cᵢ]).
    pub photometry: (f64, f64, Vec<f64>),
    /// Stars that are not in the catalogue (truth kind `extra`, ids 9 000 000 + i), uniform over
    /// the chip with magnitudes 13–17 (with a catalogue only).
    pub extra_stars: usize,
    /// Exposure and chip of the stack simulation to render (0, 0 by default).
    pub exposure: usize,
    /// Chip.
    pub chip: usize,
}

impl Default for CubeSim {
    fn default() -> Self {
        Self {
            stack: StackSim {
                chips: 1,
                exposures: 1,
                frames: 12,
                ..Default::default()
            },
            frames: 12,
            stars: 300,
            variables: 10,
            sky: 120.0,
            gain: 0.94,
            read_noise: 4.1,
            psf_sigma: 1.3,
            jitter: 0.15,
            cosmics: 3,
            asteroid_rate: (0.8, 0.3),
            seed: 1,
            gaia: None,
            photometry: (24.0, 0.0, vec![0.0]),
            extra_stars: 0,
            exposure: 0,
            chip: 0,
        }
    }
}

/// One row of the truth table.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// `star`, `variable`, `asteroid`, `streak`, `cosmic`.
    pub kind: &'static str,
    /// Object id (stars: Gaia-like source id; others: a small number).
    pub id: u64,
    /// Frame (0-based).
    pub frame: u32,
    /// True centre, 0-based pixels, including the frame's jitter.
    pub x: f64,
    /// True centre y.
    pub y: f64,
    /// Sky position [deg] (stars).
    pub ra: f64,
    /// Dec [deg].
    pub dec: f64,
    /// G-like magnitude (stars).
    pub mag: f64,
    /// Total flux in this frame [ADU].
    pub flux: f64,
    /// Rolling-shutter mid-exposure time of the object's row in this frame.
    pub time: UtcMicros,
}

/// The result of a simulation.
#[derive(Debug, Clone)]
pub struct CubeOutput {
    /// The cube file.
    pub cube: PathBuf,
    /// The truth table (CSV).
    pub truth_csv: PathBuf,
    /// The truth rows.
    pub truth: Vec<Truth>,
}

impl CubeSim {
    /// The rolling-shutter timing of the cube.
    pub fn shutter(&self) -> RollingShutter {
        let tframe = 1.0 / f64::from(self.stack.fps);
        RollingShutter {
            utc_start: self
                .stack
                .start
                .add_seconds(self.exposure as f64 * self.stack.cadence()),
            tframe,
            trlstep1: 0.000_414_75,
            exptime1: tframe - 0.000_096,
            height: self.stack.height,
            order: RowOrder::Ascending,
            row_offset: 0.0,
        }
    }

    /// Renders the cube and its truth into `dir` as `rTMQ<frame id>.fits` and `….truth.csv`.
    pub fn write(&self, dir: &Path) -> std::io::Result<CubeOutput> {
        let (w, h) = (self.stack.width, self.stack.height);
        let (ek, ec) = (self.exposure, self.chip);
        let wcs = self.stack.wcs(ek, ec);
        let sh = self.shutter();
        let mut rng = StdRng::seed_from_u64(
            self.seed
                ^ (ek as u64).wrapping_mul(0x9E37_79B9)
                ^ (ec as u64).wrapping_mul(0x85EB_CA6B),
        );
        // Star list on the sky (uniform over the chip), magnitudes 11–18 with counts rising
        // ×10^0.3 per magnitude; flux per frame from a zero point of 24 mag per 0.5 s frame.
        // With a catalogue: its sources on the chip, plus `extra_stars` not in it.
        let mut stars = Vec::new();
        let (zp, kcol, coeffs) = &self.photometry;
        if let Some(cat) = &self.gaia {
            let epoch = sh.utc_start.julian_epoch();
            let mut nvar = 0;
            for s in cat {
                let (ra, dec) = tomoe_core::astrometry::propagate(
                    s.ra,
                    s.dec,
                    s.pmra,
                    s.pmdec,
                    s.ref_epoch,
                    epoch,
                );
                let Some((fx, fy)) = wcs.sky_to_pix(ra, dec) else {
                    continue;
                };
                if !(fx - 1.0 >= 5.0
                    && fx - 1.0 < w as f64 - 5.0
                    && fy - 1.0 >= 5.0
                    && fy - 1.0 < h as f64 - 5.0)
                {
                    continue;
                }
                let c = s.bp - s.rp;
                let pred = s.g + coeffs.iter().rev().fold(0.0, |a, ci| a * c + ci);
                // Instrument magnitude expressed on the "zp" scale of the random-star branch.
                let mag = pred - kcol * c;
                let var = nvar < self.variables;
                nvar += usize::from(var);
                let (amp, period, phase) = (
                    rng.random_range(0.1..0.5),
                    rng.random_range(1.0..5.0),
                    rng.random_range(0.0..std::f64::consts::TAU),
                );
                stars.push((
                    s.source_id as u64,
                    ra,
                    dec,
                    mag - (zp - 24.0),
                    if var { "variable" } else { "star" },
                    amp,
                    period,
                    phase,
                ));
            }
            for i in 0..self.extra_stars {
                let (px, py) = (
                    rng.random_range(5.0..w as f64 - 5.0),
                    rng.random_range(5.0..h as f64 - 5.0),
                );
                let (ra, dec) = wcs.pix_to_sky(px + 1.0, py + 1.0);
                let mag = rng.random_range(13.0..17.0);
                stars.push((9_000_000 + i as u64, ra, dec, mag, "extra", 0.0, 1.0, 0.0));
            }
        }
        for i in 0..if self.gaia.is_some() { 0 } else { self.stars } {
            let (px, py) = (
                rng.random_range(5.0..w as f64 - 5.0),
                rng.random_range(5.0..h as f64 - 5.0),
            );
            let (ra, dec) = wcs.pix_to_sky(px + 1.0, py + 1.0);
            let u: f64 = rng.random_range(0.0..1.0);
            let lo = 10f64.powf(-0.3 * 7.0);
            let mag = 18.0 + (u * (1.0 - lo) + lo).log10() / 0.3;
            let var = i < self.variables;
            let (amp, period, phase) = (
                rng.random_range(0.1..0.5),
                rng.random_range(1.0..5.0),
                rng.random_range(0.0..std::f64::consts::TAU),
            );
            stars.push((
                4_000_000_000_000 + i as u64,
                ra,
                dec,
                mag,
                if var { "variable" } else { "star" },
                amp,
                period,
                phase,
            ));
        }
        let zp = 24.0;
        let mut truth = Vec::new();
        let mut cube = Vec::with_capacity(w * h * self.frames as usize);
        let normal = Normal::new(0.0f64, 1.0).unwrap_or_else(|_| unreachable!("unit normal"));
        let streak_frame = self.frames / 2;
        for k in 0..self.frames {
            let (jx, jy) = (
                self.jitter * normal.sample(&mut rng),
                self.jitter * normal.sample(&mut rng),
            );
            let sigma = (self.psf_sigma * (1.0 + 0.05 * normal.sample(&mut rng))).max(0.5);
            let mut img = vec![0.0f32; w * h];
            for &(id, ra, dec, mag, kind, amp, period, phase) in &stars {
                let var = kind == "variable";
                let Some((fx, fy)) = wcs.sky_to_pix(ra, dec) else {
                    continue;
                };
                let (x, y) = (fx - 1.0 + jx, fy - 1.0 + jy);
                let t = sh.mid_time(k, y);
                let mut flux = 10f64.powf(-0.4 * (mag - zp));
                if var {
                    let dt = (t.0 - sh.utc_start.0) as f64 / 1e6;
                    flux *= 1.0 + amp * (std::f64::consts::TAU * dt / period + phase).sin();
                }
                add_gaussian_star(&mut img, w, h, x, y, flux, sigma);
                truth.push(Truth {
                    kind,
                    id,
                    frame: k,
                    x,
                    y,
                    ra,
                    dec,
                    mag,
                    flux,
                    time: t,
                });
            }
            // Asteroid: linear motion across the frames.
            let (ax, ay) = (
                w as f64 * 0.3 + self.asteroid_rate.0 * f64::from(k),
                h as f64 * 0.6 + self.asteroid_rate.1 * f64::from(k),
            );
            let aflux = 10f64.powf(-0.4 * (15.5 - zp));
            add_gaussian_star(&mut img, w, h, ax, ay, aflux, sigma);
            truth.push(Truth {
                kind: "asteroid",
                id: 1,
                frame: k,
                x: ax,
                y: ay,
                ra: f64::NAN,
                dec: f64::NAN,
                mag: 15.5,
                flux: aflux,
                time: sh.mid_time(k, ay),
            });
            // A fast streak in one frame: a line of PSFs.
            if k == streak_frame {
                let (sx, sy) = (w as f64 * 0.2, h as f64 * 0.2);
                for s in 0..40 {
                    add_gaussian_star(
                        &mut img,
                        w,
                        h,
                        sx + 1.5 * f64::from(s),
                        sy + 0.8 * f64::from(s),
                        400.0,
                        sigma,
                    );
                }
                truth.push(Truth {
                    kind: "streak",
                    id: 2,
                    frame: k,
                    x: sx + 29.25,
                    y: sy + 15.6,
                    ra: f64::NAN,
                    dec: f64::NAN,
                    mag: f64::NAN,
                    flux: 16_000.0,
                    time: sh.mid_time(k, sy + 15.6),
                });
            }
            // Sky, photon and read noise (Gaussian approximation), then cosmic rays.
            let rn_adu = self.read_noise / self.gain;
            for p in img.iter_mut() {
                let signal = f64::from(*p) + self.sky;
                let sd = (signal.max(0.0) / self.gain + rn_adu * rn_adu).sqrt();
                *p = (signal + sd * normal.sample(&mut rng)) as f32;
            }
            for c in 0..self.cosmics {
                let (cx, cy) = (rng.random_range(0..w), rng.random_range(0..h));
                let e = rng.random_range(500.0..5000.0f32);
                img[cy * w + cx] += e;
                if cx + 1 < w {
                    img[cy * w + cx + 1] += e * 0.3;
                }
                truth.push(Truth {
                    kind: "cosmic",
                    id: 100 + c as u64,
                    frame: k,
                    x: cx as f64,
                    y: cy as f64,
                    ra: f64::NAN,
                    dec: f64::NAN,
                    mag: f64::NAN,
                    flux: f64::from(e * 1.3),
                    time: sh.mid_time(k, cy as f64),
                });
            }
            cube.extend(img);
        }
        // Header: the stack's, turned into a cube.
        let mut hdr = self.stack.header(ek, ec);
        hdr.cards.retain(|c| {
            !matches!(
                c.keyword.as_str(),
                "NAXIS" | "NAXIS1" | "NAXIS2" | "FMTTYPE" | "EXPTIME" | "TELAPSE" | "PIPELINE"
            )
        });
        let n = f64::from(self.frames);
        let tframe = sh.tframe;
        let mut cards = vec![
            Card::int("NAXIS", 3, "number of array dimensions"),
            Card::parse(&format!("NAXIS1  = {:>20}", w)),
            Card::parse(&format!("NAXIS2  = {:>20}", h)),
            Card::parse(&format!("NAXIS3  = {:>20}", self.frames)),
        ];
        let bitpix_at = hdr
            .cards
            .iter()
            .position(|c| c.keyword == "BITPIX")
            .map(|i| i + 1)
            .unwrap_or(2);
        for (i, c) in cards.drain(..).enumerate() {
            hdr.cards.insert(bitpix_at + i, c);
        }
        hdr.push(Card::float(
            "EXPTIME",
            n * sh.exptime1,
            10,
            "[s] total exposure time",
        ));
        hdr.push(Card::float(
            "TELAPSE",
            n * tframe + 0.50002,
            10,
            "[s] elapsed time",
        ));
        hdr.push(Card::string(
            "PIPELINE",
            "wcs,stack,neo,cube",
            "reduction pipeline templete",
        ));
        hdr.push(Card::string("FMTTYPE", "TOMOE-IMAGE-CUBE", "format type"));
        hdr.push(Card::float(
            "GAIN",
            self.gain,
            4,
            "[e-/ADU] simulated inverse gain",
        ));
        hdr.push(Card::float(
            "RDNOISE",
            self.read_noise,
            4,
            "[e-] simulated read noise",
        ));
        std::fs::create_dir_all(dir)?;
        let id = self.stack.frame_id(ek, ec);
        let cube_path = dir.join(format!("r{id}.fits"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&cube_path)?);
        write_image_f32(&mut f, &hdr, &cube)?;
        f.into_inner().map_err(|e| e.into_error())?;
        let truth_csv = dir.join(format!("r{id}.truth.csv"));
        let mut t = std::io::BufWriter::new(std::fs::File::create(&truth_csv)?);
        writeln!(t, "kind,id,frame,x,y,ra,dec,mag,flux,time_utc,mjd")?;
        for r in &truth {
            // Positions in the CSV are FITS 1-based, like the tools' defaults.
            writeln!(
                t,
                "{},{},{},{:.5},{:.5},{:.8},{:.8},{:.4},{:.4},{},{:.9}",
                r.kind,
                r.id,
                r.frame,
                r.x + 1.0,
                r.y + 1.0,
                r.ra,
                r.dec,
                r.mag,
                r.flux,
                r.time.to_iso(),
                r.time.mjd()
            )?;
        }
        t.flush()?;
        Ok(CubeOutput {
            cube: cube_path,
            truth_csv,
            truth,
        })
    }
}
