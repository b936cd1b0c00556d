//! One (exposure, chip): per-frame measurements → tracks → sky → Gaia → calibration → rows.
//!
//! 1. **Measurements** ([`ChipInput`]): from a cube through the photometry engine (per frame:
//!    background map, detection, windowed centroid, aperture flux), or from an external
//!    per-frame catalogue through the column mapping, with the WCS and timing of its image.
//! 2. **Tracks** ([`tomoe_core::tracks::link`], ±3 px by default): single events, movers, static.
//! 3. **Sky**: static tracks' median positions through the WCS; Gaia sources of the chip carried
//!    to the exposure's epoch by proper motion; nearest within 1″ ([`tomoe_core::xmatch`]).
//! 4. **Calibration**: matched, unflagged, isolated static tracks with a Gaia colour give
//!    (instrumental magnitude of the mean flux, Gaia-predicted magnitude); robust fit of zero
//!    point and colour term ([`tomoe_core::calib`]).
//! 5. **Rows**: every detection of a static track with its calibrated magnitude, Gaia data copied
//!    in; moving-track points with the fitted motion; single events; the calibration row.
//!
//! [`analyse`] does steps 1–4 and is independent per chip (run in parallel); object ids are then
//! handed out by [`assign`] in a fixed order, so a re-run gives the same ids.

use crate::config::LightcurveConfig;
use crate::gaia::GaiaStar;
use crate::input::{read_catalog, FrameDetection};
use std::path::{Path, PathBuf};
use tomoe_core::background::{BackgroundMap, BackgroundParams};
use tomoe_core::calib::{self, CalibStar, Calibration};
use tomoe_core::detect::{detect, DetectParams};
use tomoe_core::objects::Registry;
use tomoe_core::phot::{sum_circles, CircleOptions, Image, Noise};
use tomoe_core::time::{CivilDate, UtcMicros};
use tomoe_core::timing::{RollingShutter, RowOrder};
use tomoe_core::tracks::{link, Detection, TrackKind};
use tomoe_core::wcs::Wcs;
use tomoe_core::xmatch::SkyIndex;
use tomoe_fits::{ImageFile, TomoeHeader};

/// Flag: the chip has no calibration (too few stars); `mag` is null.
pub const FLAG_NO_CALIBRATION: i32 = 16;
/// Flag: no Gaia colour (non-Gaia object): calibrated with the calibration stars' median colour.
pub const FLAG_COLOUR_ASSUMED: i32 = 32;
/// Flag: flux ≤ 0 in this frame: no magnitude.
pub const FLAG_NO_MAGNITUDE: i32 = 64;

/// Errors of one input.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The input file is unusable; the message says why.
    #[error("{path}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// An external catalogue is unusable (the error names file, column and row).
    #[error(transparent)]
    Catalogue(#[from] crate::input::InputError),
}

fn bad(path: &Path, m: impl std::fmt::Display) -> IngestError {
    IngestError::Input {
        path: path.to_path_buf(),
        message: m.to_string(),
    }
}

/// Per-frame measurements of one (exposure, chip) with what is needed to put them on the sky.
#[derive(Debug, Clone)]
pub struct ChipInput {
    /// The file measured (cube or catalogue).
    pub source: PathBuf,
    /// Frame ID (`TMQ…`), if the header has one.
    pub frame_id: String,
    /// Exposure number.
    pub exp_id: i64,
    /// Detector (chip) id.
    pub det_id: i32,
    /// Observing night.
    pub night: CivilDate,
    /// The chip's WCS.
    pub wcs: Wcs,
    /// Rolling-shutter timing.
    pub shutter: RollingShutter,
    /// Image size.
    pub width: usize,
    /// Image size.
    pub height: usize,
    /// Measurements per frame (0-based pixel positions).
    pub frames: Vec<Vec<FrameDetection>>,
    /// For cubes: the file and per-frame background maps, so static sources are measured by
    /// forced photometry at their fixed position in every frame (unbiased by the detection of
    /// noise peaks, and complete: frames where a faint star was not detected count too).
    pub forced: Option<Forced>,
}

/// What forced photometry on a cube needs.
#[derive(Debug, Clone)]
pub struct Forced {
    /// The cube.
    pub cube: PathBuf,
    /// Background maps per frame (from the detection pass).
    pub backgrounds: Vec<BackgroundMap>,
    /// Inverse gain [e⁻/ADU].
    pub gain: f64,
}

/// Flag: forced measurement in a frame where the source was not detected.
pub const FLAG_NOT_DETECTED: i32 = 128;

struct HeaderFacts {
    frame_id: String,
    exp_id: i64,
    det_id: i32,
    night: CivilDate,
    wcs: Wcs,
    shutter: RollingShutter,
}

impl HeaderFacts {
    fn into_input(
        self,
        source: &Path,
        (width, height): (usize, usize),
        frames: Vec<Vec<FrameDetection>>,
        forced: Option<Forced>,
    ) -> ChipInput {
        ChipInput {
            source: source.to_path_buf(),
            frame_id: self.frame_id,
            exp_id: self.exp_id,
            det_id: self.det_id,
            night: self.night,
            wcs: self.wcs,
            shutter: self.shutter,
            width,
            height,
            frames,
            forced,
        }
    }
}

fn facts(path: &Path, h: &tomoe_fits::Header, height: usize) -> Result<HeaderFacts, IngestError> {
    let name = path.file_name().and_then(|n| n.to_str());
    let t = TomoeHeader::from_header(h, name);
    let wcs = Wcs::from_keywords(|k| h.get_f64(k), |k| h.get_str(k))
        .map_err(|e| bad(path, format!("bad WCS: {e}")))?
        .ok_or_else(|| bad(path, "no WCS in the header (CRVAL/CRPIX/CD cards)"))?;
    let shutter = t
        .rolling_shutter(height, RowOrder::Ascending)
        .ok_or_else(|| {
            bad(
                path,
                "no Tomo-e timing keywords (UTC, TFRAME, TRLSTEP1, EXPTIME1)",
            )
        })?;
    let night = t
        .observing_night()
        .ok_or_else(|| bad(path, "no start time (UTC)"))?;
    let fid = t.frame_id;
    Ok(HeaderFacts {
        frame_id: fid.map(|f| f.to_string()).unwrap_or_default(),
        exp_id: t.exp_id.or(fid.map(|f| f.exp_id)).map_or(-1, |e| e as i64),
        det_id: t.det_id.or(fid.map(|f| f.det_id())).map_or(-1, i32::from),
        night,
        wcs,
        shutter,
    })
}

/// Measures every frame of a cube with the photometry engine.
pub fn measure_cube(path: &Path, cfg: &LightcurveConfig) -> Result<ChipInput, IngestError> {
    let mut img = ImageFile::open(path).map_err(|e| bad(path, e))?;
    let f = facts(path, &img.header, img.height())?;
    let (w, h, n) = (img.width(), img.height(), img.frames());
    let gain = img.header.get_f64("GAIN").unwrap_or(cfg.gain);
    let dp = DetectParams {
        thresh: cfg.detect_sigma,
        minarea: cfg.detect_min_pixels,
        saturation: cfg.saturation,
        ..Default::default()
    };
    let opt = CircleOptions {
        radius: cfg.aperture_radius,
        annulus: None,
        saturation: cfg.saturation,
    };
    let mut frames = Vec::with_capacity(n);
    let mut backgrounds = Vec::with_capacity(n);
    let mut buf = Vec::new();
    for k in 0..n {
        img.read_frame(k, &mut buf)
            .map_err(|e| bad(path, format!("frame {k}: {e}")))?;
        let im = Image::new(&buf, w, h);
        let m = BackgroundMap::estimate(im, &BackgroundParams::default());
        let (b, r) = (m.back_image(), m.rms_image());
        backgrounds.push(m);
        let d = detect(im, &b, &r, &dp);
        let pos: Vec<(f64, f64)> = d.iter().map(|s| (s.xwin, s.ywin)).collect();
        let res = sum_circles(im, Some(&b), Some(&r), &pos, &opt, Noise { rms: 0.0, gain });
        frames.push(
            pos.iter()
                .zip(&res)
                .map(|(&(x, y), m)| FrameDetection {
                    frame: k as u32,
                    x,
                    y,
                    flux: m.flux,
                    flux_err: m.flux_err,
                    flags: i64::from(m.flags),
                })
                .collect(),
        );
    }
    let forced = Forced {
        cube: path.to_path_buf(),
        backgrounds,
        gain,
    };
    Ok(f.into_input(path, (w, h), frames, Some(forced)))
}

/// Fixed-aperture fluxes at `positions` (0-based) on every frame: `out[frame][i]`.
fn forced_photometry(
    f: &Forced,
    positions: &[(f64, f64)],
    cfg: &LightcurveConfig,
) -> Result<Vec<Vec<tomoe_core::phot::ApertureResult>>, IngestError> {
    let mut img = ImageFile::open(&f.cube).map_err(|e| bad(&f.cube, e))?;
    let (w, h) = (img.width(), img.height());
    let set = tomoe_core::phot::ApertureSet::new(positions, cfg.aperture_radius);
    let opt = CircleOptions {
        radius: cfg.aperture_radius,
        annulus: None,
        saturation: cfg.saturation,
    };
    let mut buf = Vec::new();
    let mut out = Vec::with_capacity(f.backgrounds.len());
    for (k, m) in f.backgrounds.iter().enumerate() {
        img.read_frame(k, &mut buf)
            .map_err(|e| bad(&f.cube, format!("frame {k}: {e}")))?;
        let (b, r) = (m.back_image(), m.rms_image());
        out.push(set.measure(
            Image::new(&buf, w, h),
            Some(&b),
            Some(&r),
            &opt,
            Noise {
                rms: 0.0,
                gain: f.gain,
            },
        ));
    }
    Ok(out)
}

/// The header of the image a catalogue was measured on, and its width, height and frames: from
/// the image itself (only the header is read) or from a text header file (`.head`/`.hdr`, 80-
/// character cards as SCAMP writes them, with the image's NAXISn).
pub fn image_header(
    image: &Path,
) -> Result<(tomoe_fits::Header, usize, usize, usize), IngestError> {
    let ext = image.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "head" || ext == "hdr" {
        let text = std::fs::read_to_string(image).map_err(|e| bad(image, e))?;
        let h = tomoe_fits::Header::from_text(&text);
        let dim = |k: &str| h.get_i64(k).filter(|v| *v > 0).map(|v| v as usize);
        let (Some(w), Some(hh)) = (dim("NAXIS1"), dim("NAXIS2")) else {
            return Err(bad(image, "header file without NAXIS1/NAXIS2"));
        };
        let n = dim("NAXIS3").unwrap_or(1);
        return Ok((h, w, hh, n));
    }
    let img = ImageFile::open(image).map_err(|e| bad(image, e))?;
    let (w, hh, n) = (img.width(), img.height(), img.frames());
    Ok((img.header, w, hh, n))
}

/// Reads an external per-frame catalogue; the WCS, timing and frame count come from the header
/// of `image` (see [`image_header`]).
pub fn read_external(
    catalog: &Path,
    image: &Path,
    cfg: &LightcurveConfig,
) -> Result<ChipInput, IngestError> {
    let (hdr, width, height, nframes) = image_header(image)?;
    let f = facts(image, &hdr, height)?;
    let rows = read_catalog(catalog, &cfg.columns)?;
    let n = nframes.max(1);
    let mut frames = vec![Vec::new(); n];
    for (i, r) in rows.into_iter().enumerate() {
        let k = r.frame as usize;
        if k >= n {
            return Err(bad(
                catalog,
                format!(
                    "row {}: frame {k} but {} has {n} frames",
                    i + 1,
                    image.display()
                ),
            ));
        }
        frames[k].push(r);
    }
    Ok(f.into_input(catalog, (width, height), frames, None))
}

impl ChipInput {
    /// Sky cone covering the chip: (ra, dec, radius [deg]), with `margin_deg` added.
    pub fn footprint(&self, margin_deg: f64) -> (f64, f64, f64) {
        let (w, h) = (self.width as f64, self.height as f64);
        let (ra, dec) = self.wcs.pix_to_sky(0.5 + w / 2.0, 0.5 + h / 2.0);
        let r = [
            (0.5, 0.5),
            (w + 0.5, 0.5),
            (0.5, h + 0.5),
            (w + 0.5, h + 0.5),
        ]
        .iter()
        .map(|&(x, y)| {
            let (a, d) = self.wcs.pix_to_sky(x, y);
            tomoe_core::angle::separation(
                ra.to_radians(),
                dec.to_radians(),
                a.to_radians(),
                d.to_radians(),
            )
            .to_degrees()
        })
        .fold(0.0, f64::max);
        (ra, dec, (r + margin_deg).min(180.0))
    }

    /// Mid-exposure time (first frame start + half the frames).
    pub fn mid_time(&self) -> UtcMicros {
        let n = self.frames.len().max(1) as f64;
        self.shutter
            .utc_start
            .add_seconds(0.5 * n * self.shutter.tframe)
    }
}

/// One measurement of a static track, compact: 72 bytes instead of a [`DetectionRow`]'s 152, as
/// a night holds ~10⁷ of them until they are published (values are kept at the precision the
/// detections catalog stores, except the instrumental magnitudes the calibration applies to).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Rolling-shutter mid-exposure time of the source's row.
    pub time: UtcMicros,
    /// Sky position of this measurement [deg].
    pub ra: f64,
    /// Sky position [deg].
    pub dec: f64,
    /// Instrumental magnitude (NaN if flux ≤ 0).
    pub mag_inst: f64,
    /// Its error.
    pub mag_inst_err: f64,
    /// 0-based pixel position.
    pub x: f32,
    /// 0-based pixel position.
    pub y: f32,
    /// Flux [ADU].
    pub flux: f32,
    /// Flux error [ADU].
    pub flux_err: f32,
    /// Calibrated magnitude (NaN without calibration).
    pub mag: f32,
    /// Its error.
    pub mag_err: f32,
    /// Frame within the exposure.
    pub frame: i32,
    /// Photometry flags | `FLAG_*` of this module.
    pub flags: i32,
}

/// One measurement of a static source, with its object's data (a detections-table row).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectionRow {
    /// Object id (Gaia source_id, or negative for non-Gaia objects).
    pub object_id: i64,
    /// Gaia source_id (matched tracks).
    pub source_id: Option<i64>,
    /// Exposure.
    pub exp_id: i64,
    /// Chip.
    pub det_id: i32,
    /// Frame within the exposure.
    pub frame: i32,
    /// Rolling-shutter mid-exposure time of the source's row.
    pub time: UtcMicros,
    /// 0-based pixel position.
    pub x: f64,
    /// 0-based pixel position.
    pub y: f64,
    /// Sky position of this measurement [deg].
    pub ra: f64,
    /// Sky position [deg].
    pub dec: f64,
    /// Flux [ADU].
    pub flux: f64,
    /// Flux error [ADU].
    pub flux_err: f64,
    /// Instrumental magnitude (NaN if flux ≤ 0).
    pub mag_inst: f64,
    /// Its error.
    pub mag_inst_err: f64,
    /// Calibrated magnitude (NaN without calibration).
    pub mag: f64,
    /// Its error.
    pub mag_err: f64,
    /// Photometry flags | `FLAG_*` of this module.
    pub flags: i32,
    /// Gaia G (NaN for non-Gaia).
    pub g: f64,
    /// Gaia BP − RP (NaN when unknown).
    pub bp_rp: f64,
}

/// One point of a moving track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MoverRow {
    /// Exposure.
    pub exp_id: i64,
    /// Chip.
    pub det_id: i32,
    /// Track number within the chip.
    pub track: i32,
    /// Frame.
    pub frame: i32,
    /// Time of the point.
    pub time: UtcMicros,
    /// 0-based pixel position.
    pub x: f64,
    /// 0-based pixel position.
    pub y: f64,
    /// Sky position [deg].
    pub ra: f64,
    /// Sky position [deg].
    pub dec: f64,
    /// Flux [ADU].
    pub flux: f64,
    /// Flux error [ADU].
    pub flux_err: f64,
    /// Calibrated magnitude (colour 0) or NaN.
    pub mag: f64,
    /// Rate [px/s].
    pub rate_px_s: f64,
    /// Its 1σ error.
    pub rate_err_px_s: f64,
    /// Rate on the sky [arcsec/s].
    pub rate_arcsec_s: f64,
    /// Direction on the image (atan2(vy, vx)) [deg].
    pub direction_deg: f64,
    /// Its error [deg].
    pub direction_err_deg: f64,
    /// Points in the track.
    pub n_points: i32,
}

/// A single-frame event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SingleRow {
    /// Exposure.
    pub exp_id: i64,
    /// Chip.
    pub det_id: i32,
    /// Frame.
    pub frame: i32,
    /// Time.
    pub time: UtcMicros,
    /// 0-based pixel position.
    pub x: f64,
    /// 0-based pixel position.
    pub y: f64,
    /// Sky position [deg].
    pub ra: f64,
    /// Sky position [deg].
    pub dec: f64,
    /// Flux [ADU].
    pub flux: f64,
    /// Flux error [ADU].
    pub flux_err: f64,
    /// Calibrated magnitude (colour 0) or NaN.
    pub mag: f64,
    /// Photometry flags.
    pub flags: i32,
}

/// The calibration of one (exposure, chip) and its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationRow {
    /// Exposure.
    pub exp_id: i64,
    /// Chip.
    pub det_id: i32,
    /// Frame ID.
    pub frame_id: String,
    /// Name of the input file (the archived cube, or the external catalogue).
    pub file_name: String,
    /// Chip width [px].
    pub width: i32,
    /// Chip height [px].
    pub height: i32,
    /// Observing night.
    pub night: CivilDate,
    /// Mid-exposure time.
    pub time: UtcMicros,
    /// The fit (None: too few stars).
    pub fit: Option<Calibration>,
    /// Median BP − RP of the stars used (the colour assumed for non-Gaia objects).
    pub median_colour: f64,
    /// Static tracks.
    pub n_static: i32,
    /// Of which matched to Gaia.
    pub n_gaia: i32,
    /// Moving tracks.
    pub n_moving: i32,
    /// Single events.
    pub n_single: i32,
    /// Detections of static tracks.
    pub n_detections: i64,
}

/// A static track ready for object assignment.
#[derive(Debug, Clone)]
pub struct StaticTrack {
    /// Exposure.
    pub exp_id: i64,
    /// Chip.
    pub det_id: i32,
    /// Robust (median) position on the chip, 0-based pixels.
    pub x: f64,
    /// Robust (median) position on the chip, 0-based pixels.
    pub y: f64,
    /// Frames in which it was detected (forced measurements of the other frames not counted).
    pub n_detected: i32,
    /// Median calibrated magnitude of its measurements (NaN when none is calibrated).
    pub mag: f64,
    /// Median position on the sky [deg].
    pub ra: f64,
    /// Median position on the sky [deg].
    pub dec: f64,
    /// Matched Gaia source.
    pub gaia: Option<GaiaStar>,
    /// Its measurements, in frame order (what they share is in the track:
    /// [`StaticTrack::detection_rows`] gives them whole).
    pub rows: Vec<Measurement>,
    /// The object id (0 until [`assign`]).
    pub object_id: i64,
}

/// Everything of one chip before object ids.
#[derive(Debug, Clone)]
pub struct ChipAnalysis {
    /// Static tracks.
    pub statics: Vec<StaticTrack>,
    /// Moving-track points.
    pub movers: Vec<MoverRow>,
    /// Single events.
    pub singles: Vec<SingleRow>,
    /// Calibration.
    pub calibration: CalibrationRow,
}

/// Static tracks closer than this to a longer one are the same source split by the detection
/// [px] (see [`tomoe_core::tracks::drop_duplicate_statics`]).
pub const DUPLICATE_PX: f64 = 1.5;

/// Steps 1–4 for one chip; `gaia` holds (at least) the catalogue sources over the chip.
pub fn analyse(
    input: &ChipInput,
    gaia: &[GaiaStar],
    cfg: &LightcurveConfig,
) -> Result<ChipAnalysis, IngestError> {
    let sh = &input.shutter;
    let t0 = sh.utc_start;
    let time_of = |k: usize, y: f64| sh.mid_time(k as u32, y);
    let frames: Vec<Vec<Detection>> = input
        .frames
        .iter()
        .enumerate()
        .map(|(k, f)| {
            f.iter()
                .map(|d| Detection {
                    x: d.x,
                    y: d.y,
                    t: (time_of(k, d.y).0 - t0.0) as f64 * 1e-6,
                })
                .collect()
        })
        .collect();
    let tracks = tomoe_core::tracks::drop_duplicate_statics(
        link(&frames, &cfg.track_params()),
        DUPLICATE_PX,
    );
    let sky = |x: f64, y: f64| input.wcs.pix_to_sky(x + 1.0, y + 1.0);
    // Gaia at the exposure's epoch.
    let epoch = input.mid_time().julian_epoch();
    let gpos: Vec<(f64, f64)> = gaia.iter().map(|s| s.position_at(epoch)).collect();
    let index = SkyIndex::new(&gpos, cfg.match_radius_arcsec);
    // Pixel grid of the positions of persistent sources (static and moving tracks; a cosmic ray
    // in one frame does not spoil a star's mean flux), for isolation.
    let cell = cfg.isolation_px.max(1.0);
    let mut grid: tomoe_core::FastMap<(i64, i64), Vec<(f64, f64)>> = Default::default();
    for t in tracks.iter().filter(|t| t.kind != TrackKind::Single) {
        grid.entry(((t.x / cell).floor() as i64, (t.y / cell).floor() as i64))
            .or_default()
            .push((t.x, t.y));
    }
    let isolated = |x: f64, y: f64| {
        let (cx, cy) = ((x / cell).floor() as i64, (y / cell).floor() as i64);
        let mut n = 0;
        for dx in -1..=1 {
            for dy in -1..=1 {
                for &(px, py) in grid
                    .get(&(cx + dx, cy + dy))
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    if (px - x).hypot(py - y) < cfg.isolation_px {
                        n += 1;
                    }
                }
            }
        }
        n <= 1
    };
    // Forced photometry of the static tracks (cubes).
    let static_pos: Vec<(f64, f64)> = tracks
        .iter()
        .filter(|t| t.kind == TrackKind::Static)
        .map(|t| (t.x, t.y))
        .collect();
    let forced = match &input.forced {
        Some(f) => Some(forced_photometry(f, &static_pos, cfg)?),
        None => None,
    };
    let mut static_no = 0usize;
    let mut statics = Vec::new();
    let mut calib_stars = Vec::new();
    let mut movers = Vec::new();
    let mut singles = Vec::new();
    let (mut n_moving, mut n_single) = (0, 0);
    for t in &tracks {
        let det = |&(k, i): &(usize, usize)| input.frames[k][i];
        match t.kind {
            TrackKind::Single => {
                n_single += 1;
                let d = det(&t.points[0]);
                let (ra, dec) = sky(d.x, d.y);
                singles.push(SingleRow {
                    exp_id: input.exp_id,
                    det_id: input.det_id,
                    frame: t.points[0].0 as i32,
                    time: time_of(t.points[0].0, d.y),
                    x: d.x,
                    y: d.y,
                    ra,
                    dec,
                    flux: d.flux,
                    flux_err: d.flux_err,
                    mag: f64::NAN,
                    flags: d.flags as i32,
                });
            }
            TrackKind::Moving => {
                n_moving += 1;
                let Some(m) = t.motion else { continue };
                // Rate on the sky from the WCS: the displacement over one second at the track.
                let (a0, d0) = sky(m.x_ref, m.y_ref);
                let (a1, d1) = sky(m.x_ref + m.vx, m.y_ref + m.vy);
                let rate_sky = tomoe_core::angle::separation(
                    a0.to_radians(),
                    d0.to_radians(),
                    a1.to_radians(),
                    d1.to_radians(),
                )
                .to_degrees()
                    * 3600.0;
                for p in &t.points {
                    let d = det(p);
                    let (ra, dec) = sky(d.x, d.y);
                    movers.push(MoverRow {
                        exp_id: input.exp_id,
                        det_id: input.det_id,
                        track: t.id as i32,
                        frame: p.0 as i32,
                        time: time_of(p.0, d.y),
                        x: d.x,
                        y: d.y,
                        ra,
                        dec,
                        flux: d.flux,
                        flux_err: d.flux_err,
                        mag: f64::NAN,
                        rate_px_s: m.rate,
                        rate_err_px_s: m.v_err,
                        rate_arcsec_s: rate_sky,
                        direction_deg: m.direction,
                        direction_err_deg: m.direction_err,
                        n_points: t.points.len() as i32,
                    });
                }
            }
            TrackKind::Static => {
                let (ra, dec) = sky(t.x, t.y);
                let g = index
                    .nearest(ra, dec, cfg.match_radius_arcsec)
                    .map(|(i, _)| gaia[i]);
                let mut rows = Vec::with_capacity(t.points.len());
                let (mut fsum, mut vsum, mut any_flag) = (0.0, 0.0, 0i64);
                // Measurements: forced in every frame (cubes), or the detections as given.
                let meas: Vec<(usize, FrameDetection)> = match &forced {
                    Some(fm) => {
                        let detected: tomoe_core::FastSet<usize> =
                            t.points.iter().map(|p| p.0).collect();
                        fm.iter()
                            .enumerate()
                            .map(|(k, res)| {
                                let r = res[static_no];
                                let nd = if detected.contains(&k) {
                                    0
                                } else {
                                    FLAG_NOT_DETECTED
                                };
                                (
                                    k,
                                    FrameDetection {
                                        frame: k as u32,
                                        x: t.x,
                                        y: t.y,
                                        flux: r.flux,
                                        flux_err: r.flux_err,
                                        flags: i64::from(r.flags) | i64::from(nd),
                                    },
                                )
                            })
                            .collect()
                    }
                    None => t.points.iter().map(|p| (p.0, det(p))).collect(),
                };
                static_no += 1;
                for (k, d) in &meas {
                    let (k, d) = (*k, *d);
                    let (dra, ddec) = sky(d.x, d.y);
                    let (mi, mie) =
                        calib::inst_mag(d.flux, d.flux_err).unwrap_or((f64::NAN, f64::NAN));
                    fsum += d.flux;
                    vsum += d.flux_err * d.flux_err;
                    any_flag |= d.flags & !i64::from(FLAG_NOT_DETECTED);
                    rows.push(Measurement {
                        time: time_of(k, d.y),
                        ra: dra,
                        dec: ddec,
                        mag_inst: mi,
                        mag_inst_err: mie,
                        x: d.x as f32,
                        y: d.y as f32,
                        flux: d.flux as f32,
                        flux_err: d.flux_err as f32,
                        mag: f32::NAN,
                        mag_err: f32::NAN,
                        frame: k as i32,
                        flags: d.flags as i32 | if mi.is_nan() { FLAG_NO_MAGNITUDE } else { 0 },
                    });
                }
                if let Some(s) = g {
                    let n = meas.len() as f64;
                    if any_flag == 0 && s.bp_rp().is_finite() && isolated(t.x, t.y) && n >= 2.0 {
                        if let Some((mi, mie)) = calib::inst_mag(fsum / n, vsum.sqrt() / n) {
                            calib_stars.push(CalibStar {
                                inst: mi,
                                inst_err: mie,
                                pred: calib::predict(s.g(), s.bp_rp(), &cfg.gaia_to_tomoe),
                                bp_rp: s.bp_rp(),
                            });
                        }
                    }
                }
                statics.push(StaticTrack {
                    exp_id: input.exp_id,
                    det_id: input.det_id,
                    x: t.x,
                    y: t.y,
                    n_detected: t.points.len() as i32,
                    mag: f64::NAN,
                    ra,
                    dec,
                    gaia: g,
                    rows,
                    object_id: 0,
                });
            }
        }
    }
    let fit = calib::fit(&calib_stars, &cfg.calib_options());
    let median_colour =
        tomoe_core::stats::median(&mut calib_stars.iter().map(|s| s.bp_rp).collect::<Vec<_>>())
            .unwrap_or(f64::NAN);
    let assumed = if median_colour.is_finite() {
        median_colour
    } else {
        0.0
    };
    let mut n_det = 0i64;
    let n_gaia = statics.iter().filter(|s| s.gaia.is_some()).count() as i32;
    let mut mags: Vec<f64> = Vec::new();
    for s in &mut statics {
        mags.clear();
        let bp_rp = s.gaia.map_or(f64::NAN, |g| g.bp_rp());
        for r in &mut s.rows {
            n_det += 1;
            match fit {
                Some(c) if r.mag_inst.is_finite() => {
                    let colour = if bp_rp.is_finite() {
                        bp_rp
                    } else {
                        r.flags |= FLAG_COLOUR_ASSUMED;
                        assumed
                    };
                    let (m, e) = c.apply(r.mag_inst, r.mag_inst_err, colour);
                    (r.mag, r.mag_err) = (m as f32, e as f32);
                    if m.is_finite() {
                        mags.push(m);
                    }
                }
                Some(_) => {}
                None => r.flags |= FLAG_NO_CALIBRATION,
            }
        }
        s.mag = tomoe_core::stats::median(&mut mags).unwrap_or(f64::NAN);
    }
    if let Some(c) = fit {
        for m in &mut movers {
            if let Some((mi, e)) = calib::inst_mag(m.flux, m.flux_err) {
                m.mag = c.apply(mi, e, assumed).0;
            }
        }
        for s in &mut singles {
            if let Some((mi, e)) = calib::inst_mag(s.flux, s.flux_err) {
                s.mag = c.apply(mi, e, assumed).0;
            }
        }
    }
    Ok(ChipAnalysis {
        calibration: CalibrationRow {
            exp_id: input.exp_id,
            det_id: input.det_id,
            frame_id: input.frame_id.clone(),
            file_name: input
                .source
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            width: input.width as i32,
            height: input.height as i32,
            night: input.night,
            time: input.mid_time(),
            fit,
            median_colour,
            n_static: statics.len() as i32,
            n_gaia,
            n_moving,
            n_single,
            n_detections: n_det,
        },
        statics,
        movers,
        singles,
    })
}

/// Hands out object ids (step 6) to the chip's static tracks.
pub fn assign(a: &mut ChipAnalysis, registry: &mut Registry) {
    for s in &mut a.statics {
        s.object_id = registry.assign(s.ra, s.dec, s.gaia.map(|g| g.source_id));
    }
}

impl StaticTrack {
    /// Its measurements as detection rows (with the track's object, chip and Gaia data).
    pub fn detection_rows(&self) -> impl Iterator<Item = DetectionRow> + '_ {
        let g = self.gaia;
        self.rows.iter().map(move |r| DetectionRow {
            object_id: self.object_id,
            source_id: g.map(|s| s.source_id),
            exp_id: self.exp_id,
            det_id: self.det_id,
            frame: r.frame,
            time: r.time,
            x: f64::from(r.x),
            y: f64::from(r.y),
            ra: r.ra,
            dec: r.dec,
            flux: f64::from(r.flux),
            flux_err: f64::from(r.flux_err),
            mag_inst: r.mag_inst,
            mag_inst_err: r.mag_inst_err,
            mag: f64::from(r.mag),
            mag_err: f64::from(r.mag_err),
            flags: r.flags,
            g: g.map_or(f64::NAN, |s| s.g()),
            bp_rp: g.map_or(f64::NAN, |s| s.bp_rp()),
        })
    }
}
