//! Fitting the Gaia → Tomo-e prediction polynomial from ingested data
//! (`tomoe lc fit-colour`).
//!
//! Each (exposure, chip) calibration fits a zero point and a linear colour term, so a
//! prediction polynomial m_pred = G + Σ cᵢ (BP−RP)ⁱ that is wrong in its constant or linear part
//! is absorbed there; what is left shows as a colour-dependent residual of the calibrated
//! magnitudes of Gaia stars, r = mag − m_pred. This fits r = Σ aᵢ (BP−RP)ⁱ (degree 2 or more,
//! least squares with iterative 3σ clipping on the robust scatter) over well-measured constant
//! Gaia objects (weighted-mean magnitudes) and returns the corrected coefficients cᵢ + aᵢ. The
//! constant and linear corrections are reported too but make no difference (they are absorbed).

/// The result of [`fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct ColourFit {
    /// Corrected coefficients c₀…c_d.
    pub coeffs: Vec<f64>,
    /// The corrections a₀…a_d.
    pub correction: Vec<f64>,
    /// 1σ errors of the corrections.
    pub errors: Vec<f64>,
    /// Stars used.
    pub n_used: usize,
    /// Stars clipped.
    pub n_clipped: usize,
    /// Robust scatter of the residuals after the fit [mag].
    pub scatter: f64,
}

/// Solves the normal equations of a weighted polynomial fit; `None` if singular.
fn polyfit(x: &[f64], y: &[f64], degree: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let m = degree + 1;
    let mut a = vec![vec![0.0; m]; m];
    let mut b = vec![0.0; m];
    for (&xi, &yi) in x.iter().zip(y) {
        let mut p = vec![1.0; m];
        for j in 1..m {
            p[j] = p[j - 1] * xi;
        }
        for r in 0..m {
            b[r] += p[r] * yi;
            for c in 0..m {
                a[r][c] += p[r] * p[c];
            }
        }
    }
    // Invert A (Gauss-Jordan) for the solution and the covariance.
    let mut inv = vec![vec![0.0; m]; m];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..m {
        let piv = (col..m).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        inv.swap(col, piv);
        let d = a[col][col];
        for c in 0..m {
            a[col][c] /= d;
            inv[col][c] /= d;
        }
        for r in 0..m {
            if r != col {
                let f = a[r][col];
                if f != 0.0 {
                    for c in 0..m {
                        a[r][c] -= f * a[col][c];
                        inv[r][c] -= f * inv[col][c];
                    }
                }
            }
        }
    }
    let coef: Vec<f64> = (0..m)
        .map(|r| (0..m).map(|c| inv[r][c] * b[c]).sum())
        .collect();
    let diag: Vec<f64> = (0..m).map(|r| inv[r][r]).collect();
    Some((coef, diag))
}

fn eval(c: &[f64], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |a, ci| a * x + ci)
}

/// Fits the correction of degree `degree` (≥ 2) to the prediction `current` from stars given as
/// (calibrated magnitude, G, BP−RP).
pub fn fit(stars: &[(f64, f64, f64)], current: &[f64], degree: usize) -> Option<ColourFit> {
    let degree = degree.max(2);
    let pts: Vec<(f64, f64)> = stars
        .iter()
        .filter(|(m, g, c)| m.is_finite() && g.is_finite() && c.is_finite())
        .map(|&(m, g, c)| (c, m - tomoe_core::calib::predict(g, c, current)))
        .collect();
    let mut keep = vec![true; pts.len()];
    let mut result = None;
    for _ in 0..20 {
        let (x, y): (Vec<f64>, Vec<f64>) = pts
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(p, _)| *p)
            .unzip();
        if x.len() < 3 * (degree + 1) {
            return None;
        }
        let (a, diag) = polyfit(&x, &y, degree)?;
        let mut res: Vec<f64> = x
            .iter()
            .zip(&y)
            .map(|(&xi, &yi)| (yi - eval(&a, xi)).abs())
            .collect();
        res.sort_by(f64::total_cmp);
        let sigma = (1.4826 * res[res.len() / 2]).max(1e-4);
        let mut changed = false;
        for (i, p) in pts.iter().enumerate() {
            let k = (p.1 - eval(&a, p.0)).abs() <= 3.0 * sigma;
            if keep[i] && !k {
                keep[i] = false;
                changed = true;
            }
        }
        let n_used = keep.iter().filter(|k| **k).count();
        let var = sigma * sigma;
        let mut coeffs = current.to_vec();
        coeffs.resize(coeffs.len().max(degree + 1), 0.0);
        for (i, ai) in a.iter().enumerate() {
            coeffs[i] += ai;
        }
        result = Some(ColourFit {
            coeffs,
            errors: diag.iter().map(|d| (d * var).sqrt()).collect(),
            correction: a,
            n_used,
            n_clipped: pts.len() - n_used,
            scatter: sigma,
        });
        if !changed {
            break;
        }
    }
    result
}

/// (weighted-mean magnitude, G, BP−RP) of the Gaia objects of a published `objects` catalog with
/// at least `min_points` calibrated measurements and χ²/ν ≤ `max_chi2` (constant stars).
pub fn stars_from_objects(
    objects: &tomoe_store::hats::HatsCatalog,
    min_points: i64,
    max_chi2: f64,
) -> Result<Vec<(f64, f64, f64)>, tomoe_store::hats::HatsError> {
    use tomoe_store::arrow::array::{Array, AsArray};
    use tomoe_store::arrow::datatypes::{Float64Type, Int64Type};
    let cols = [
        "source_id",
        "wmean_mag",
        "phot_g_mean_mag",
        "bp_rp",
        "n_mag",
        "chi2_red",
    ];
    let mut out = Vec::new();
    for b in objects.read_all(Some(&cols))? {
        let c = |n: &str| b.column_by_name(n).cloned();
        let (Some(sid), Some(m), Some(g), Some(col), Some(n), Some(chi)) = (
            c("source_id"),
            c("wmean_mag"),
            c("phot_g_mean_mag"),
            c("bp_rp"),
            c("n_mag"),
            c("chi2_red"),
        ) else {
            continue;
        };
        let (m, g, col, n, chi) = (
            m.as_primitive::<Float64Type>(),
            g.as_primitive::<Float64Type>(),
            col.as_primitive::<Float64Type>(),
            n.as_primitive::<Int64Type>(),
            chi.as_primitive::<Float64Type>(),
        );
        for i in 0..b.num_rows() {
            let ok = sid.is_valid(i)
                && m.is_valid(i)
                && g.is_valid(i)
                && col.is_valid(i)
                && chi.is_valid(i)
                && n.value(i) >= min_points
                && chi.value(i) <= max_chi2;
            if ok {
                out.push((m.value(i), g.value(i), col.value(i)));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_quadratic_and_cubic_correction() {
        // Residuals 0.05 + 0.02 c − 0.04 c² + 0.01 c³ (+ a few outliers) on colours −0.2…3.
        let mut stars = Vec::new();
        for i in 0..400 {
            let c = -0.2 + 3.2 * (i as f64) / 399.0;
            let noise = 0.003 * ((i * 7919 % 13) as f64 - 6.0) / 6.0;
            let r = 0.05 + 0.02 * c - 0.04 * c * c + 0.01 * c * c * c + noise;
            let out = if i % 50 == 0 { 0.5 } else { 0.0 };
            stars.push((15.0 + r + out, 15.0, c));
        }
        let f = fit(&stars, &[0.0], 3).unwrap();
        let want = [0.05, 0.02, -0.04, 0.01];
        for (i, w) in want.iter().enumerate() {
            assert!(
                (f.coeffs[i] - w).abs() < 0.003,
                "c{i} {} vs {w}",
                f.coeffs[i]
            );
        }
        assert_eq!(f.n_clipped, 8);
        // Starting from the right coefficients the correction is ~0.
        let g = fit(&stars, &want, 3).unwrap();
        assert!(
            g.correction.iter().all(|a| a.abs() < 0.003),
            "{:?}",
            g.correction
        );
        // Too few stars: no fit.
        assert!(fit(&stars[..5], &[0.0], 3).is_none());
    }
}
