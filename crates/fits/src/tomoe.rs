//! The typed record of a Tomo-e Gozen product header (header version 0.730; FORMAT.md §4).
//!
//! [`TomoeHeader::from_header`] never fails on an odd card: values that cannot be read are left
//! `None` and explained in [`TomoeHeader::warnings`] (for example the impossible pointing
//! declination `+119:07:53.0` of calibration frames), so a header always yields a record and
//! the verbatim cards are always kept.

use crate::header::Header;
use tomoe_core::angle::{dec_is_physical, parse_dec_dms_deg, parse_ra_hms_deg};
use tomoe_core::time::{CivilDate, UtcMicros};
use tomoe_core::timing::{RollingShutter, RowOrder};
use tomoe_core::wcs::Wcs;

/// A 22-character Frame ID, e.g. `TMQ1202301020086026211`:
/// `TMQ` + quadrant (1 digit) + date `YYYYMMDD` + EXP_ID (8 digits) + chip (2 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameId {
    /// Camera module (quadrant) 1–4.
    pub quadrant: u8,
    /// The date field (UTC date in every known example).
    pub date: CivilDate,
    /// Exposure serial number.
    pub exp_id: u64,
    /// Chip number within the quadrant (two digits).
    pub chip: u8,
}

impl FrameId {
    /// Parses a Frame ID. Returns `None` unless the text is exactly `TMQ` + 19 digits with a
    /// valid date and a quadrant of 1–4.
    pub fn parse(text: &str) -> Option<FrameId> {
        let t = text.trim();
        let digits = t.strip_prefix("TMQ")?;
        if digits.len() != 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let quadrant: u8 = digits[0..1].parse().ok()?;
        if !(1..=4).contains(&quadrant) {
            return None;
        }
        Some(FrameId {
            quadrant,
            date: CivilDate::parse(&digits[1..9]).ok()?,
            exp_id: digits[9..17].parse().ok()?,
            chip: digits[17..19].parse().ok()?,
        })
    }

    /// Finds a Frame ID inside a file name such as `sTMQ1202303140093482012.fits`.
    pub fn find_in(name: &str) -> Option<FrameId> {
        let i = name.find("TMQ")?;
        name.get(i..i + 22).and_then(FrameId::parse)
    }

    /// `DET_ID` = 100 × quadrant + chip (fits every known example; FORMAT.md §3).
    pub fn det_id(&self) -> u16 {
        u16::from(self.quadrant) * 100 + u16::from(self.chip)
    }
}

impl std::fmt::Display for FrameId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TMQ{}{}{:08}{:02}",
            self.quadrant,
            self.date.compact(),
            self.exp_id,
            self.chip
        )
    }
}

/// Where the Frame ID of a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameIdSource {
    /// The `FRAME_ID` card.
    Card,
    /// The file name.
    FileName,
    /// Built from `QUAD_ID`/`DET_ID`, `EXP_ID` and the UTC date.
    Derived,
}

/// Typed view of a Tomo-e primary header. Times are UTC; angles in degrees.
#[derive(Debug, Clone, PartialEq)]
pub struct TomoeHeader {
    /// Frame ID, when it could be found or derived.
    pub frame_id: Option<FrameId>,
    /// Where [`Self::frame_id`] came from.
    pub frame_id_source: Option<FrameIdSource>,
    /// Product type (`FMTTYPE`), e.g. `TOMOE-IMAGE-STACK`.
    pub fmttype: Option<String>,
    /// `EXP_ID` (from the card, else the Frame ID).
    pub exp_id: Option<u64>,
    /// `DET_ID` (from the card, else 100 × quadrant + chip).
    pub det_id: Option<u16>,
    /// `OBJECT`.
    pub object: Option<String>,
    /// `PROJECT`.
    pub project: Option<String>,
    /// `OBSERVER`.
    pub observer: Option<String>,
    /// `PIPELINE`.
    pub pipeline: Option<String>,
    /// `DATA-TYP` (`OBJECT`, `FLAT`, `DARK`).
    pub data_typ: Option<String>,
    /// `OBS-MOD`.
    pub obs_mod: Option<String>,
    /// `FILTER`.
    pub filter: Option<String>,
    /// Start of integration of the first photosensitive pixel (`UTC`, else `GPS-UP`, else
    /// `DATE-OBS` + `TIME-OBS`).
    pub utc_start: Option<UtcMicros>,
    /// `TELAPSE` [s].
    pub telapse: Option<f64>,
    /// `EXPTIME` [s].
    pub exptime: Option<f64>,
    /// `EXPTIME1` [s], one frame.
    pub exptime1: Option<f64>,
    /// `TFRAME` [s], frame interval.
    pub tframe: Option<f64>,
    /// `TRLSTEP1` [s], rolling-shutter step per row.
    pub trlstep1: Option<f64>,
    /// `DATA-FPS` [Hz].
    pub data_fps: Option<f64>,
    /// `BITPIX`.
    pub bitpix: Option<i64>,
    /// `NAXISn` values (NAXIS3 is the frame count of cubes).
    pub naxes: Vec<i64>,
    /// Frames in the exposure: NAXIS3 for cubes, else estimated from TELAPSE ≈ N × TFRAME +
    /// 0.5 s (FORMAT.md §2, an inference from samples).
    pub n_frames: Option<i64>,
    /// Telescope pointing RA [deg] from the sexagesimal `RA` card.
    pub ra_tel: Option<f64>,
    /// Telescope pointing Dec [deg]; `None` when the card is unreadable or beyond ±90°.
    pub dec_tel: Option<f64>,
    /// False when the pointing is missing, unreadable or impossible (e.g. `+119:07:53.0`).
    pub pointing_valid: bool,
    /// Sky position of the image centre [deg] when the header has a usable celestial WCS.
    pub wcs_center: Option<(f64, f64)>,
    /// Human-readable notes on values that could not be used.
    pub warnings: Vec<String>,
}

impl TomoeHeader {
    /// Builds the typed record from a parsed header and, optionally, the file name (used for
    /// the Frame ID when no `FRAME_ID` card is present).
    pub fn from_header(h: &Header, file_name: Option<&str>) -> TomoeHeader {
        let mut warnings = Vec::new();
        let s = |k: &str| {
            h.get_str(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let f = |k: &str, warnings: &mut Vec<String>| -> Option<f64> {
            let v = h.get_f64(k);
            if v.is_none() && h.value(k).is_some() {
                warnings.push(format!("{k}: not a number"));
            }
            v.filter(|x| x.is_finite())
        };

        let utc_start = ["UTC", "GPS-UP"]
            .iter()
            .find_map(|k| {
                let v = s(k)?;
                match UtcMicros::parse_iso(&v) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        warnings.push(format!("{k}: {e}"));
                        None
                    }
                }
            })
            .or_else(|| match (s("DATE-OBS"), s("TIME-OBS")) {
                (Some(d), Some(t)) => UtcMicros::from_date_and_time(&d, &t).ok(),
                (Some(d), None) => UtcMicros::parse_iso(&d).ok(),
                _ => None,
            });

        let card_exp = h.get_i64("EXP_ID").filter(|v| *v >= 0).map(|v| v as u64);
        let card_det = h
            .get_i64("DET_ID")
            .filter(|v| (0..=u16::MAX as i64).contains(v))
            .map(|v| v as u16);
        let quad = h
            .get_i64("QUAD_ID")
            .filter(|v| (1..=4).contains(v))
            .map(|v| v as u8);
        let (mut frame_id, mut frame_id_source) = (None, None);
        if let Some(v) = s("FRAME_ID") {
            match FrameId::parse(&v) {
                Some(id) => (frame_id, frame_id_source) = (Some(id), Some(FrameIdSource::Card)),
                None => warnings.push(format!("FRAME_ID: {v:?} is not TMQ + 19 digits")),
            }
        }
        if frame_id.is_none() {
            if let Some(id) = file_name.and_then(FrameId::find_in) {
                (frame_id, frame_id_source) = (Some(id), Some(FrameIdSource::FileName));
            }
        }
        if frame_id.is_none() {
            if let (Some(exp_id), Some(det), Some(t)) = (card_exp, card_det, utc_start) {
                let quadrant = quad.unwrap_or((det / 100) as u8);
                if (1..=4).contains(&quadrant) && det % 100 < 100 {
                    frame_id = Some(FrameId {
                        quadrant,
                        date: t.date(),
                        exp_id,
                        chip: (det % 100) as u8,
                    });
                    frame_id_source = Some(FrameIdSource::Derived);
                }
            }
        }
        if let (Some(id), Some(e)) = (frame_id, card_exp) {
            if id.exp_id != e {
                warnings.push(format!("EXP_ID {e} disagrees with Frame ID {id}"));
            }
        }

        let naxis = h.get_i64("NAXIS").unwrap_or(0).clamp(0, 999);
        let naxes: Vec<i64> = (1..=naxis)
            .filter_map(|i| h.get_i64(&format!("NAXIS{i}")))
            .collect();
        let telapse = f("TELAPSE", &mut warnings);
        let tframe = f("TFRAME", &mut warnings);
        let n_frames = if naxes.len() >= 3 {
            Some(naxes[2])
        } else {
            match (telapse, tframe) {
                (Some(te), Some(tf)) if tf > 0.0 => {
                    Some(((te - 0.5) / tf).round() as i64).filter(|n| *n > 0)
                }
                _ => None,
            }
        };

        let ra_tel = s("RA").and_then(|v| match parse_ra_hms_deg(&v) {
            Ok(x) => Some(x),
            Err(e) => {
                warnings.push(format!("RA: {e}"));
                None
            }
        });
        let dec_raw = s("DEC").and_then(|v| match parse_dec_dms_deg(&v) {
            Ok(x) => Some(x),
            Err(e) => {
                warnings.push(format!("DEC: {e}"));
                None
            }
        });
        let dec_tel = match dec_raw {
            Some(d) if !dec_is_physical(d) => {
                warnings.push(format!("DEC: pointing declination {d:.4} deg is beyond ±90 (flagged, typical of calibration frames)"));
                None
            }
            d => d,
        };
        let pointing_valid = ra_tel.is_some() && dec_tel.is_some();

        let wcs_center = match Wcs::from_keywords(|k| h.get_f64(k), |k| h.get_str(k)) {
            Ok(Some(w)) if naxes.len() >= 2 => {
                Some(w.pix_to_sky((naxes[0] as f64 + 1.0) / 2.0, (naxes[1] as f64 + 1.0) / 2.0))
            }
            Ok(_) => None,
            Err(e) => {
                warnings.push(format!("WCS: {e}"));
                None
            }
        };

        TomoeHeader {
            exp_id: card_exp.or(frame_id.map(|i| i.exp_id)),
            det_id: card_det.or(frame_id.map(|i| i.det_id())),
            frame_id,
            frame_id_source,
            fmttype: s("FMTTYPE"),
            object: s("OBJECT"),
            project: s("PROJECT"),
            observer: s("OBSERVER"),
            pipeline: s("PIPELINE"),
            data_typ: s("DATA-TYP"),
            obs_mod: s("OBS-MOD"),
            filter: s("FILTER"),
            utc_start,
            telapse,
            exptime: f("EXPTIME", &mut warnings),
            exptime1: f("EXPTIME1", &mut warnings),
            tframe,
            trlstep1: f("TRLSTEP1", &mut warnings),
            data_fps: f("DATA-FPS", &mut warnings),
            bitpix: h.get_i64("BITPIX"),
            naxes,
            n_frames,
            ra_tel,
            dec_tel,
            pointing_valid,
            wcs_center,
            warnings,
        }
    }

    /// The rolling-shutter timing of the exposure (`UTC`, `TFRAME`, `TRLSTEP1`, `EXPTIME1`), or
    /// `None` when one of them is missing. `height` is NAXIS2; see [`tomoe_core::timing`].
    pub fn rolling_shutter(&self, height: usize, order: RowOrder) -> Option<RollingShutter> {
        Some(RollingShutter {
            utc_start: self.utc_start?,
            tframe: self.tframe?,
            trlstep1: self.trlstep1?,
            exptime1: self.exptime1?,
            height,
            order,
            row_offset: 0.0,
        })
    }

    /// The observing night (see [`tomoe_core::time`]) from the start time.
    pub fn observing_night(&self) -> Option<CivilDate> {
        self.utc_start.map(UtcMicros::observing_night)
    }
}
