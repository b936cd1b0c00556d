//! Photometric calibration of one (exposure, chip) against Gaia: zero point and colour term.
//!
//! Model: `m_pred − m_inst = zp + k × (BP − RP)`, where `m_inst = −2.5 log10(flux)` is the
//! instrumental magnitude and `m_pred` the Gaia-predicted Tomo-e magnitude
//! `G + Σᵢ cᵢ (BP − RP)ⁱ` ([`predict`]; the coefficients come from the configuration).
//! The fit is weighted least squares (weights 1/(σᵢ² + σ_floor²)) with iterative clipping of
//! points beyond `clip` × the robust scatter (1.4826 × MAD of the residuals, at least the
//! floor) until nothing more is clipped (a clipped star stays out, so this ends); the errors are the covariance scaled by max(1, χ²/ν), so an underestimated
//! per-star error does not give an overconfident zero point.
//! Why our own: a two-parameter robust fit is a few lines; the clipping rule and the error
//! scaling are the platform's calibration policy and belong next to their tests.

/// One calibration star.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibStar {
    /// Instrumental magnitude −2.5 log10(flux [ADU]).
    pub inst: f64,
    /// Its 1σ error [mag].
    pub inst_err: f64,
    /// Gaia-predicted Tomo-e magnitude ([`predict`]).
    pub pred: f64,
    /// Gaia BP − RP [mag].
    pub bp_rp: f64,
}

/// Options of [`fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibOptions {
    /// Fit the colour term (otherwise k = 0).
    pub colour_term: bool,
    /// Clip beyond this many robust σ.
    pub clip: f64,
    /// Error floor added in quadrature to every star [mag].
    pub floor: f64,
    /// Fewest stars left for a fit.
    pub min_stars: usize,
}

impl Default for CalibOptions {
    fn default() -> Self {
        Self {
            colour_term: true,
            clip: 3.0,
            floor: 0.01,
            min_stars: 5,
        }
    }
}

/// A fitted calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Zero point [mag].
    pub zp: f64,
    /// 1σ error of the zero point [mag].
    pub zp_err: f64,
    /// Colour term k [mag/mag].
    pub colour: f64,
    /// 1σ error of k.
    pub colour_err: f64,
    /// Robust scatter of the residuals of the stars kept [mag].
    pub scatter: f64,
    /// Stars kept.
    pub n_used: usize,
    /// Stars clipped.
    pub n_clipped: usize,
}

impl Calibration {
    /// Calibrated magnitude and error of an instrumental magnitude of a source of colour
    /// `bp_rp` (the zero-point error is added in quadrature).
    pub fn apply(&self, inst: f64, inst_err: f64, bp_rp: f64) -> (f64, f64) {
        let c = if bp_rp.is_finite() { bp_rp } else { 0.0 };
        let m = inst + self.zp + self.colour * c;
        let e = (inst_err * inst_err + self.zp_err * self.zp_err + (c * self.colour_err).powi(2))
            .sqrt();
        (m, e)
    }
}

/// Gaia-predicted Tomo-e magnitude: `G + Σᵢ coeffs[i] × (BP − RP)ⁱ`.
pub fn predict(g: f64, bp_rp: f64, coeffs: &[f64]) -> f64 {
    let mut p = 0.0;
    for &c in coeffs.iter().rev() {
        p = p * bp_rp + c;
    }
    g + p
}

/// Instrumental magnitude of a flux [ADU] and its error; `None` for a flux ≤ 0.
pub fn inst_mag(flux: f64, flux_err: f64) -> Option<(f64, f64)> {
    (flux > 0.0 && flux.is_finite()).then(|| {
        (
            -2.5 * flux.log10(),
            2.5 / std::f64::consts::LN_10 * flux_err / flux,
        )
    })
}

/// Weighted least squares of y = a + b x (or y = a when `!slope`): (a, b, var a, var b, χ²).
fn wls(pts: &[(f64, f64, f64)], slope: bool) -> Option<(f64, f64, f64, f64, f64)> {
    let (mut s, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, y, w) in pts {
        s += w;
        sx += w * x;
        sy += w * y;
        sxx += w * x * x;
        sxy += w * x * y;
    }
    let (a, b, va, vb) = if slope {
        let det = s * sxx - sx * sx;
        if det <= 0.0 || !det.is_finite() {
            return None;
        }
        let b = (s * sxy - sx * sy) / det;
        let a = (sy - b * sx) / s;
        (a, b, sxx / det, s / det)
    } else {
        (sy / s, 0.0, 1.0 / s, 0.0)
    };
    let chi2 = pts
        .iter()
        .map(|&(x, y, w)| w * (y - a - b * x).powi(2))
        .sum();
    Some((a, b, va, vb, chi2))
}

/// Fits zero point and colour term; `None` with fewer than `min_stars` usable stars (or no
/// colour spread when the colour term is fitted).
pub fn fit(stars: &[CalibStar], opt: &CalibOptions) -> Option<Calibration> {
    let good: Vec<&CalibStar> = stars
        .iter()
        .filter(|s| {
            s.inst.is_finite() && s.pred.is_finite() && s.bp_rp.is_finite() && s.inst_err >= 0.0
        })
        .collect();
    let mut keep = vec![true; good.len()];
    loop {
        let pts: Vec<(f64, f64, f64)> = good
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(s, _)| {
                (
                    s.bp_rp,
                    s.pred - s.inst,
                    1.0 / (s.inst_err.powi(2) + opt.floor.powi(2)),
                )
            })
            .collect();
        if pts.len() < opt.min_stars.max(if opt.colour_term { 3 } else { 2 }) {
            return None;
        }
        let (a, b, va, vb, chi2) = wls(&pts, opt.colour_term)?;
        let mut res: Vec<f64> = pts.iter().map(|&(x, y, _)| (y - a - b * x).abs()).collect();
        let scatter = 1.4826 * crate::stats::median(&mut res).unwrap_or(0.0);
        let limit = opt.clip * scatter.max(opt.floor);
        // Clipping only removes (a clipped star never returns), so the loop ends.
        let new: Vec<bool> = good
            .iter()
            .zip(&keep)
            .map(|(s, &k)| k && (s.pred - s.inst - a - b * s.bp_rp).abs() <= limit)
            .collect();
        if new == keep {
            let dof = pts.len() as f64 - if opt.colour_term { 2.0 } else { 1.0 };
            let scale = (chi2 / dof.max(1.0)).max(1.0);
            return Some(Calibration {
                zp: a,
                zp_err: (va * scale).sqrt(),
                colour: b,
                colour_err: (vb * scale).sqrt(),
                scatter,
                n_used: pts.len(),
                n_clipped: stars.len() - pts.len(),
            });
        }
        keep = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, Normal};

    fn synth(seed: u64, zp: f64, k: f64, n: usize, outliers: usize) -> Vec<CalibStar> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let noise = Normal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!());
        (0..n)
            .map(|i| {
                let bp_rp: f64 = rng.random_range(0.2..2.5);
                let pred: f64 = rng.random_range(11.0..16.0);
                let err = 0.005 + 0.02 * rng.random_range(0.0..1.0);
                let blend = if i < outliers {
                    -0.4 - rng.random_range(0.0..0.5)
                } else {
                    0.0
                };
                let inst = pred - zp - k * bp_rp + err * noise.sample(&mut rng) + blend;
                CalibStar {
                    inst,
                    inst_err: err,
                    pred,
                    bp_rp,
                }
            })
            .collect()
    }

    #[test]
    fn zero_point_and_colour_term_recovered_within_errors_despite_blends() {
        let stars = synth(1, 25.31, 0.12, 200, 20);
        let opt = CalibOptions {
            floor: 0.0,
            ..Default::default()
        };
        let c = fit(&stars, &opt).unwrap();
        assert!((c.zp - 25.31).abs() < 3.0 * c.zp_err, "{c:?}");
        assert!((c.colour - 0.12).abs() < 3.0 * c.colour_err, "{c:?}");
        assert!(c.n_clipped >= 20 && c.n_clipped <= 26, "{c:?}");
        // Calibrating the stars returns their predicted magnitudes.
        let s = stars[100];
        let (m, e) = c.apply(s.inst, s.inst_err, s.bp_rp);
        assert!((m - s.pred).abs() < 5.0 * e);
    }

    #[test]
    fn errors_are_honest_over_many_trials() {
        // Pulls of the zero point over 300 independent catalogues: mean ~0, sd ~1.
        let opt = CalibOptions {
            floor: 0.0,
            ..Default::default()
        };
        let pulls: Vec<f64> = (0..300)
            .map(|t| {
                let c = fit(&synth(100 + t, 24.0, -0.05, 60, 0), &opt).unwrap();
                (c.zp - 24.0) / c.zp_err
            })
            .collect();
        let mean = pulls.iter().sum::<f64>() / 300.0;
        let sd = (pulls.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / 299.0).sqrt();
        assert!(
            mean.abs() < 0.2 && (0.8..1.25).contains(&sd),
            "mean {mean}, sd {sd}"
        );
    }

    #[test]
    fn prediction_polynomial_magnitudes_and_refusals() {
        // 15 + 0.1 − 0.2 × 2 + 0.05 × 4 = 14.9
        assert!((predict(15.0, 2.0, &[0.1, -0.2, 0.05]) - 14.9).abs() < 1e-12);
        assert_eq!(predict(15.0, 2.0, &[]), 15.0);
        let (m, e) = inst_mag(100.0, 10.0).unwrap();
        assert!((m + 5.0).abs() < 1e-12 && (e - 0.108_573_620_475_813_1).abs() < 1e-12);
        assert!(inst_mag(-1.0, 1.0).is_none());
        assert!(fit(&synth(3, 25.0, 0.0, 4, 0), &CalibOptions::default()).is_none());
        // No colour spread: the colour term cannot be fitted, the zero point alone can.
        let flat: Vec<CalibStar> = synth(4, 25.0, 0.0, 30, 0)
            .into_iter()
            .map(|s| CalibStar { bp_rp: 1.0, ..s })
            .collect();
        assert!(fit(&flat, &CalibOptions::default()).is_none());
        let zp_only = CalibOptions {
            colour_term: false,
            ..Default::default()
        };
        assert!(fit(&flat, &zp_only).is_some());
    }
}
