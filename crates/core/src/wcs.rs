//! FITS world coordinate systems for celestial images: the gnomonic (TAN) projection with
//! optional SIP distortion (Shupe et al. 2005) or TPV distortion (the `PVi_j` polynomial of
//! SCAMP and the NOAO TPV convention), from `CDi_j` or `PCi_j` + `CDELTi`.
//!
//! Policy for headers with both kinds of cards: `CTYPEi` decides. `RA---TAN-SIP` uses SIP and
//! ignores any `PVi_j`; `RA---TPV` uses the `PVi_j` and ignores `A_p_q`/`B_p_q`; plain
//! `RA---TAN` with `PVi_j` cards and no `A_ORDER` is read as TPV (how older SCAMP headers were
//! written); plain `RA---TAN` with neither is pure TAN.
//!
//! Written here rather than taken from a crate: the projections are small and precisely
//! specified (Calabretta & Greisen 2002, A&A 395, 1077), and the one Rust crate tried disagreed
//! with astropy on a SIP header. Pixel coordinates follow the FITS convention: the centre of
//! the first pixel is (1, 1). Sky coordinates are degrees at this API's edge.
//!
//! SIP inverse: when `AP_p_q`/`BP_p_q` are present they give a first guess, always refined by
//! Newton iteration on the forward polynomials, so `sky_to_pix(pix_to_sky(p)) == p` to
//! better than 1e-9 px whether or not inverse coefficients exist.

use std::f64::consts::PI;

const D2R: f64 = PI / 180.0;
const R2D: f64 = 180.0 / PI;

/// Error building a WCS from header values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WcsError {
    /// A required keyword is absent.
    #[error("WCS keyword {0} is missing")]
    Missing(String),
    /// The projection is not one this module implements.
    #[error(
        "unsupported WCS projection CTYPE1={0:?} CTYPE2={1:?} (supported: RA---TAN, RA---TAN-SIP)"
    )]
    Unsupported(String, String),
    /// The linear transformation cannot be inverted.
    #[error("WCS CD matrix is singular")]
    Singular,
}

/// SIP distortion polynomials: u' = u + Σ A_p_q u^p v^q (and B for v).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sip {
    /// Order of A.
    pub a_order: usize,
    /// Order of B.
    pub b_order: usize,
    /// Coefficients `(p, q, value)` of A.
    pub a: Vec<(u32, u32, f64)>,
    /// Coefficients of B.
    pub b: Vec<(u32, u32, f64)>,
    /// Inverse coefficients of AP (may be empty).
    pub ap: Vec<(u32, u32, f64)>,
    /// Inverse coefficients of BP (may be empty).
    pub bp: Vec<(u32, u32, f64)>,
}

fn poly(c: &[(u32, u32, f64)], u: f64, v: f64) -> f64 {
    c.iter()
        .map(|&(p, q, k)| k * u.powi(p as i32) * v.powi(q as i32))
        .sum()
}

fn poly_du(c: &[(u32, u32, f64)], u: f64, v: f64) -> f64 {
    c.iter()
        .filter(|t| t.0 > 0)
        .map(|&(p, q, k)| k * f64::from(p) * u.powi(p as i32 - 1) * v.powi(q as i32))
        .sum()
}

fn poly_dv(c: &[(u32, u32, f64)], u: f64, v: f64) -> f64 {
    c.iter()
        .filter(|t| t.1 > 0)
        .map(|&(p, q, k)| k * f64::from(q) * u.powi(p as i32) * v.powi(q as i32 - 1))
        .sum()
}

/// TPV distortion: ξ = Σₖ PV1_k Tₖ(x, y), η = Σₖ PV2_k Tₖ(y, x) on intermediate world
/// coordinates x, y in degrees, with the 40 terms Tₖ of the convention (1, x, y, r, x², xy, y²,
/// x³, x²y, xy², y³, r³, … up to degree 7).
#[derive(Debug, Clone, PartialEq)]
pub struct Tpv {
    /// PV1_0 … PV1_39.
    pub pv1: [f64; 40],
    /// PV2_0 … PV2_39.
    pub pv2: [f64; 40],
}

impl Tpv {
    /// The 40 TPV terms at (x, y).
    fn terms(x: f64, y: f64) -> [f64; 40] {
        let r = x.hypot(y);
        let mut t = [0.0; 40];
        t[0] = 1.0;
        t[1] = x;
        t[2] = y;
        t[3] = r;
        let mut k = 4;
        for deg in 2..=7 {
            for j in 0..=deg {
                t[k] = x.powi(deg - j) * y.powi(j);
                k += 1;
            }
            if deg % 2 == 1 {
                t[k] = r.powi(deg);
                k += 1;
            }
        }
        t
    }

    /// (ξ, η) from (x, y), degrees.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let (tx, ty) = (Self::terms(x, y), Self::terms(y, x));
        (
            self.pv1.iter().zip(&tx).map(|(a, b)| a * b).sum(),
            self.pv2.iter().zip(&ty).map(|(a, b)| a * b).sum(),
        )
    }

    /// Solves `apply(x, y) = (xi, eta)` by Newton iteration with a numerical Jacobian.
    pub fn invert(&self, xi: f64, eta: f64) -> (f64, f64) {
        let (mut x, mut y) = (xi, eta);
        let h = 1e-7;
        for _ in 0..50 {
            let (fx, fy) = self.apply(x, y);
            let (ex, ey) = (fx - xi, fy - eta);
            if ex.abs() < 1e-15 && ey.abs() < 1e-15 {
                break;
            }
            let (ax, ay) = self.apply(x + h, y);
            let (bx, by) = self.apply(x, y + h);
            let (j11, j21, j12, j22) = ((ax - fx) / h, (ay - fy) / h, (bx - fx) / h, (by - fy) / h);
            let det = j11 * j22 - j12 * j21;
            if det == 0.0 || !det.is_finite() {
                break;
            }
            x -= (j22 * ex - j12 * ey) / det;
            y -= (-j21 * ex + j11 * ey) / det;
        }
        (x, y)
    }
}

/// A celestial TAN, TAN-SIP or TPV WCS.
#[derive(Debug, Clone, PartialEq)]
pub struct Wcs {
    /// Reference pixel (1-based FITS pixels).
    pub crpix: [f64; 2],
    /// Reference sky position (RA, Dec) in degrees.
    pub crval: [f64; 2],
    /// Linear matrix in degrees per pixel (`CDi_j`, or `PCi_j × CDELTi`).
    pub cd: [[f64; 2]; 2],
    /// SIP distortion, if any.
    pub sip: Option<Sip>,
    /// TPV distortion, if any.
    pub tpv: Option<Tpv>,
    cd_inv: [[f64; 2]; 2],
}

impl Wcs {
    /// Builds a TAN WCS with optional SIP distortion.
    pub fn new(
        crpix: [f64; 2],
        crval: [f64; 2],
        cd: [[f64; 2]; 2],
        sip: Option<Sip>,
    ) -> Result<Self, WcsError> {
        let det = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0];
        if det == 0.0 || !det.is_finite() {
            return Err(WcsError::Singular);
        }
        let cd_inv = [
            [cd[1][1] / det, -cd[0][1] / det],
            [-cd[1][0] / det, cd[0][0] / det],
        ];
        Ok(Self {
            crpix,
            crval,
            cd,
            sip,
            tpv: None,
            cd_inv,
        })
    }

    /// Builds a TPV WCS.
    pub fn new_tpv(
        crpix: [f64; 2],
        crval: [f64; 2],
        cd: [[f64; 2]; 2],
        tpv: Tpv,
    ) -> Result<Self, WcsError> {
        let mut w = Self::new(crpix, crval, cd, None)?;
        w.tpv = Some(tpv);
        Ok(w)
    }

    /// Builds a WCS from header keywords through a lookup: `num(key)` returns a numeric card,
    /// `text(key)` a string card. Returns `Ok(None)` when the header has no celestial WCS
    /// (no `CTYPE1`).
    pub fn from_keywords(
        num: impl Fn(&str) -> Option<f64>,
        text: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, WcsError> {
        let Some(ctype1) = text("CTYPE1") else {
            return Ok(None);
        };
        let ctype2 = text("CTYPE2").unwrap_or_default();
        let (c1, c2) = (
            ctype1.trim().to_ascii_uppercase(),
            ctype2.trim().to_ascii_uppercase(),
        );
        let any_pv = (0..40)
            .any(|k| num(&format!("PV1_{k}")).is_some() || num(&format!("PV2_{k}")).is_some());
        let (has_sip, has_tpv) = match (c1.as_str(), c2.as_str()) {
            ("RA---TAN", "DEC--TAN") => (false, any_pv && num("A_ORDER").is_none()),
            ("RA---TAN-SIP", "DEC--TAN-SIP") => (true, false),
            ("RA---TPV", "DEC--TPV") => (false, true),
            _ => return Err(WcsError::Unsupported(ctype1, ctype2)),
        };
        let req = |k: &str| num(k).ok_or_else(|| WcsError::Missing(k.to_string()));
        let crpix = [req("CRPIX1")?, req("CRPIX2")?];
        let crval = [req("CRVAL1")?, req("CRVAL2")?];
        let cd = if num("CD1_1").is_some() || num("CD2_2").is_some() {
            let g = |k: &str| num(k).unwrap_or(0.0);
            [[g("CD1_1"), g("CD1_2")], [g("CD2_1"), g("CD2_2")]]
        } else {
            let pc = |k: &str, d: f64| num(k).unwrap_or(d);
            let (d1, d2) = (req("CDELT1")?, req("CDELT2")?);
            [
                [pc("PC1_1", 1.0) * d1, pc("PC1_2", 0.0) * d1],
                [pc("PC2_1", 0.0) * d2, pc("PC2_2", 1.0) * d2],
            ]
        };
        let sip = if has_sip {
            let coeffs = |name: &str| -> (usize, Vec<(u32, u32, f64)>) {
                let order = num(&format!("{name}_ORDER"))
                    .map(|o| o as usize)
                    .unwrap_or(0);
                let mut c = Vec::new();
                for p in 0..=order as u32 {
                    for q in 0..=(order as u32 - p) {
                        if let Some(k) = num(&format!("{name}_{p}_{q}")) {
                            if k != 0.0 {
                                c.push((p, q, k));
                            }
                        }
                    }
                }
                (order, c)
            };
            let (a_order, a) = coeffs("A");
            let (b_order, b) = coeffs("B");
            let (_, ap) = coeffs("AP");
            let (_, bp) = coeffs("BP");
            Some(Sip {
                a_order,
                b_order,
                a,
                b,
                ap,
                bp,
            })
        } else {
            None
        };
        if has_tpv {
            let mut pv1 = [0.0; 40];
            let mut pv2 = [0.0; 40];
            pv1[1] = 1.0;
            pv2[1] = 1.0;
            for k in 0..40 {
                if let Some(v) = num(&format!("PV1_{k}")) {
                    pv1[k] = v;
                }
                if let Some(v) = num(&format!("PV2_{k}")) {
                    pv2[k] = v;
                }
            }
            return Self::new_tpv(crpix, crval, cd, Tpv { pv1, pv2 }).map(Some);
        }
        Self::new(crpix, crval, cd, sip).map(Some)
    }

    /// Pixel (1-based x, y) → sky (RA, Dec) in degrees, RA in [0, 360).
    pub fn pix_to_sky(&self, x: f64, y: f64) -> (f64, f64) {
        let (mut u, mut v) = (x - self.crpix[0], y - self.crpix[1]);
        if let Some(s) = &self.sip {
            let (du, dv) = (poly(&s.a, u, v), poly(&s.b, u, v));
            u += du;
            v += dv;
        }
        let (mut xi, mut eta) = (
            self.cd[0][0] * u + self.cd[0][1] * v,
            self.cd[1][0] * u + self.cd[1][1] * v,
        );
        if let Some(t) = &self.tpv {
            (xi, eta) = t.apply(xi, eta);
        }
        let (xi, eta) = (xi * D2R, eta * D2R);
        let (ra0, dec0) = (self.crval[0] * D2R, self.crval[1] * D2R);
        let (sd0, cd0) = dec0.sin_cos();
        let den = cd0 - eta * sd0;
        let ra = ra0 + xi.atan2(den);
        let dec = (sd0 + eta * cd0).atan2(xi.hypot(den));
        ((ra * R2D).rem_euclid(360.0), dec * R2D)
    }

    /// Sky (RA, Dec) in degrees → pixel (1-based x, y). Returns `None` for points on or behind
    /// the projection's horizon (90° or more from the reference point).
    pub fn sky_to_pix(&self, ra_deg: f64, dec_deg: f64) -> Option<(f64, f64)> {
        let (ra, dec) = (ra_deg * D2R, dec_deg * D2R);
        let (ra0, dec0) = (self.crval[0] * D2R, self.crval[1] * D2R);
        let (sd, cdec) = dec.sin_cos();
        let (sd0, cd0) = dec0.sin_cos();
        let (sda, cda) = (ra - ra0).sin_cos();
        let den = sd * sd0 + cdec * cd0 * cda;
        if den <= 0.0 {
            return None;
        }
        let mut xi = cdec * sda / den * R2D;
        let mut eta = (sd * cd0 - cdec * sd0 * cda) / den * R2D;
        if let Some(t) = &self.tpv {
            (xi, eta) = t.invert(xi, eta);
        }
        let up = self.cd_inv[0][0] * xi + self.cd_inv[0][1] * eta;
        let vp = self.cd_inv[1][0] * xi + self.cd_inv[1][1] * eta;
        let (u, v) = match &self.sip {
            None => (up, vp),
            Some(s) => invert_sip(s, up, vp),
        };
        Some((u + self.crpix[0], v + self.crpix[1]))
    }
}

/// Solves u + A(u, v) = up, v + B(u, v) = vp by Newton iteration, starting from the AP/BP
/// inverse polynomials when present.
fn invert_sip(s: &Sip, up: f64, vp: f64) -> (f64, f64) {
    let (mut u, mut v) = if s.ap.is_empty() && s.bp.is_empty() {
        (up, vp)
    } else {
        (up + poly(&s.ap, up, vp), vp + poly(&s.bp, up, vp))
    };
    for _ in 0..50 {
        let fu = u + poly(&s.a, u, v) - up;
        let fv = v + poly(&s.b, u, v) - vp;
        if fu.abs() < 1e-12 && fv.abs() < 1e-12 {
            break;
        }
        let j11 = 1.0 + poly_du(&s.a, u, v);
        let j12 = poly_dv(&s.a, u, v);
        let j21 = poly_du(&s.b, u, v);
        let j22 = 1.0 + poly_dv(&s.b, u, v);
        let det = j11 * j22 - j12 * j21;
        if det == 0.0 || !det.is_finite() {
            break;
        }
        u -= (j22 * fu - j12 * fv) / det;
        v -= (-j21 * fu + j11 * fv) / det;
    }
    (u, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tan() -> Wcs {
        let s = 1.189 / 3600.0;
        Wcs::new([1000.5, 564.5], [46.3, 22.2], [[-s, 0.0], [0.0, s]], None).unwrap()
    }

    #[test]
    fn reference_pixel_maps_to_crval() {
        let w = tan();
        let (ra, dec) = w.pix_to_sky(1000.5, 564.5);
        assert!((ra - 46.3).abs() < 1e-12 && (dec - 22.2).abs() < 1e-12);
    }

    #[test]
    fn pixel_scale_near_reference_is_cd() {
        // One pixel in +y is 1.189" north at the reference point (analytic for TAN).
        let w = tan();
        let (_, d1) = w.pix_to_sky(1000.5, 565.5);
        assert!(((d1 - 22.2) * 3600.0 - 1.189).abs() < 1e-6);
    }

    #[test]
    fn roundtrip_with_sip_without_inverse() {
        let s = 1.189 / 3600.0;
        let sip = Sip {
            a_order: 2,
            b_order: 2,
            a: vec![(2, 0, 2e-6), (0, 2, -1e-6), (1, 1, 5e-7)],
            b: vec![(2, 0, -1e-6), (1, 1, 3e-6)],
            ap: vec![],
            bp: vec![],
        };
        let w = Wcs::new(
            [1000.5, 564.5],
            [359.9, -89.5],
            [[-s, 1e-6], [2e-6, s]],
            Some(sip),
        )
        .unwrap();
        for &(x, y) in &[
            (1.0, 1.0),
            (2000.0, 1128.0),
            (1500.3, 20.7),
            (1000.5, 564.5),
        ] {
            let (ra, dec) = w.pix_to_sky(x, y);
            let (x2, y2) = w.sky_to_pix(ra, dec).unwrap();
            assert!(
                (x - x2).abs() < 1e-8 && (y - y2).abs() < 1e-8,
                "{x},{y} -> {x2},{y2}"
            );
        }
    }

    #[test]
    fn from_keywords_reads_pc_cdelt_and_rejects_unknown() {
        let num = |k: &str| match k {
            "CRPIX1" => Some(10.0),
            "CRPIX2" => Some(20.0),
            "CRVAL1" => Some(0.0),
            "CRVAL2" => Some(0.0),
            "CDELT1" => Some(-0.001),
            "CDELT2" => Some(0.001),
            _ => None,
        };
        let w = Wcs::from_keywords(num, |k| match k {
            "CTYPE1" => Some("RA---TAN".into()),
            "CTYPE2" => Some("DEC--TAN".into()),
            _ => None,
        })
        .unwrap()
        .unwrap();
        assert_eq!(w.cd, [[-0.001, 0.0], [0.0, 0.001]]);
        let bad = Wcs::from_keywords(num, |k| match k {
            "CTYPE1" => Some("RA---ZEA".into()),
            _ => None,
        });
        assert!(matches!(bad, Err(WcsError::Unsupported(..))));
        assert_eq!(Wcs::from_keywords(num, |_| None).unwrap(), None);
    }
}
