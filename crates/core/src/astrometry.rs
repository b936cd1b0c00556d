//! Proper motion: carrying catalogue positions (Gaia DR3, epoch J2016.0) to the epoch of an
//! observation before matching.
//!
//! The position is moved along the great circle its proper motion starts on: with p the unit
//! vector, ê and n̂ the local east and north unit vectors and μ = (μα*, μδ) [rad/yr],
//! p(t) = normalize(p + Δt (μα* ê + μδ n̂)) — the space motion of a distant star with no radial
//! velocity, as astropy's `SkyCoord.apply_space_motion` (ERFA `starpm`) computes it when no
//! distance is given (reference: `scripts/reference/astrometry_reference.py`).

const MAS: f64 = std::f64::consts::PI / 180.0 / 3.6e6;

/// Position [deg] at `epoch` [Julian years] of a source at (`ra`, `dec`) [deg] at
/// `ref_epoch` with proper motion `pmra` (μα* = μα cos δ) and `pmdec` [mas/yr].
/// RA is returned in [0, 360).
pub fn propagate(
    ra: f64,
    dec: f64,
    pmra: f64,
    pmdec: f64,
    ref_epoch: f64,
    epoch: f64,
) -> (f64, f64) {
    let dt = epoch - ref_epoch;
    if dt == 0.0 || (pmra == 0.0 && pmdec == 0.0) || !pmra.is_finite() || !pmdec.is_finite() {
        return (ra, dec);
    }
    let (a, d) = (ra.to_radians(), dec.to_radians());
    let (sa, ca, sd, cd) = (a.sin(), a.cos(), d.sin(), d.cos());
    let p = [cd * ca, cd * sa, sd];
    let e = [-sa, ca, 0.0];
    let n = [-sd * ca, -sd * sa, cd];
    let (ma, md) = (pmra * MAS * dt, pmdec * MAS * dt);
    let q = [
        p[0] + ma * e[0] + md * n[0],
        p[1] + ma * e[1] + md * n[1],
        p[2] + ma * e[2] + md * n[2],
    ];
    let r = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt();
    let dec2 = (q[2] / r).clamp(-1.0, 1.0).asin().to_degrees();
    let ra2 = q[1].atan2(q[0]).to_degrees().rem_euclid(360.0);
    (ra2, dec2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_motion_or_interval_is_identity_and_motion_is_reversible() {
        assert_eq!(
            propagate(10.0, 20.0, 0.0, 0.0, 2016.0, 2030.0),
            (10.0, 20.0)
        );
        assert_eq!(
            propagate(10.0, 20.0, 5.0, 5.0, 2016.0, 2016.0),
            (10.0, 20.0)
        );
        let (r, d) = propagate(359.9999, 0.0, 1000.0, 0.0, 2016.0, 2026.0);
        // 10″ east across RA = 0.
        assert!(
            r < 0.01 && (r + 360.0 - 359.9999 - 10.0 / 3600.0).abs() < 1e-9,
            "{r}"
        );
        assert!(d.abs() < 1e-12);
    }
}
