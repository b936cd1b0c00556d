//! Nearest-neighbour cross-match of two sky catalogues within a radius.
//!
//! The second catalogue is indexed in declination zones one search radius high, each sorted by
//! right ascension; a query visits the zones within the radius and, in each, the RA interval
//! `±radius / cos δ` (both intervals when it wraps through 0/360°; whole zones near the poles),
//! and keeps the candidate with the smallest true angular separation (Vincenty formula). Exact:
//! every pair within the radius is examined. Degrees in, arcseconds for radii and separations.

use crate::angle::separation;

const D2R: f64 = std::f64::consts::PI / 180.0;

/// An index over catalogue B.
#[derive(Debug, Clone)]
pub struct SkyIndex {
    zone_deg: f64,
    /// (zone index, [(ra, dec, original index)] sorted by ra)
    zones: std::collections::HashMap<i64, Vec<(f64, f64, usize)>>,
}

impl SkyIndex {
    /// Indexes `(ra, dec)` points in degrees for searches up to `max_radius_arcsec`.
    pub fn new(points: &[(f64, f64)], max_radius_arcsec: f64) -> SkyIndex {
        let zone_deg = (max_radius_arcsec / 3600.0).max(1.0 / 3600.0);
        let mut zones: std::collections::HashMap<i64, Vec<(f64, f64, usize)>> =
            std::collections::HashMap::new();
        for (i, &(ra, dec)) in points.iter().enumerate() {
            if !(ra.is_finite() && dec.is_finite()) {
                continue;
            }
            zones
                .entry(((dec + 90.0) / zone_deg).floor() as i64)
                .or_default()
                .push((ra.rem_euclid(360.0), dec, i));
        }
        for z in zones.values_mut() {
            z.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        SkyIndex { zone_deg, zones }
    }

    /// The nearest indexed point within `radius_arcsec` of (ra, dec): (index, separation ″).
    pub fn nearest(&self, ra: f64, dec: f64, radius_arcsec: f64) -> Option<(usize, f64)> {
        if !(ra.is_finite() && dec.is_finite()) {
            return None;
        }
        let r = radius_arcsec / 3600.0;
        let ra = ra.rem_euclid(360.0);
        let (z0, z1) = (
            ((dec - r + 90.0) / self.zone_deg).floor() as i64,
            ((dec + r + 90.0) / self.zone_deg).floor() as i64,
        );
        let cos_max = ((dec.abs() + r).min(90.0) * D2R).cos();
        let dra = if cos_max < 1e-9 {
            360.0
        } else {
            (r / cos_max).min(360.0)
        };
        let mut best: Option<(usize, f64)> = None;
        let (ra_r, dec_r) = (ra * D2R, dec * D2R);
        for z in z0..=z1 {
            let Some(zone) = self.zones.get(&z) else {
                continue;
            };
            let mut visit = |lo: f64, hi: f64| {
                let start = zone.partition_point(|p| p.0 < lo);
                for p in &zone[start..] {
                    if p.0 > hi {
                        break;
                    }
                    let s = separation(ra_r, dec_r, p.0 * D2R, p.1 * D2R) / D2R * 3600.0;
                    if s <= radius_arcsec
                        && best.is_none_or(|(bi, bs)| s < bs || (s == bs && p.2 < bi))
                    {
                        best = Some((p.2, s));
                    }
                }
            };
            if dra >= 180.0 {
                visit(0.0, 360.0);
            } else {
                let (lo, hi) = (ra - dra, ra + dra);
                if lo < 0.0 {
                    visit(lo + 360.0, 360.0);
                    visit(0.0, hi);
                } else if hi >= 360.0 {
                    visit(lo, 360.0);
                    visit(0.0, hi - 360.0);
                } else {
                    visit(lo, hi);
                }
            }
        }
        best
    }
}

/// For every point of `a`, its nearest point of `b` within `radius_arcsec` (index, separation ″).
pub fn nearest_within(
    a: &[(f64, f64)],
    b: &[(f64, f64)],
    radius_arcsec: f64,
) -> Vec<Option<(usize, f64)>> {
    let idx = SkyIndex::new(b, radius_arcsec);
    a.iter()
        .map(|&(ra, dec)| idx.nearest(ra, dec, radius_arcsec))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_poles() {
        let b = [
            (359.9999, 0.0),
            (0.0001, 10.0),
            (123.0, 89.99995),
            (45.0, -30.0),
        ];
        let a = [
            (0.0001, 0.0),
            (359.9999, 10.0),
            (300.0, 89.9999),
            (45.0, -30.0 + 2.0 / 3600.0),
            (45.0, -29.0),
        ];
        let m = nearest_within(&a, &b, 1.0);
        assert_eq!(m[0].map(|x| x.0), Some(0));
        assert!((m[0].unwrap_or((0, 0.0)).1 - 0.72).abs() < 1e-6);
        assert_eq!(m[1].map(|x| x.0), Some(1));
        assert_eq!(m[2].map(|x| x.0), Some(2), "across the pole");
        assert_eq!(m[3], None, "2 arcsec away");
        assert_eq!(m[4], None);
    }
}
