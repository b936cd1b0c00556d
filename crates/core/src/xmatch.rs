//! Nearest-neighbour cross-match of two sky catalogues within a radius.
//!
//! The second catalogue is indexed in declination zones one search radius high, each sorted by
//! right ascension; a query visits the zones within the radius and, in each, the RA interval
//! `±radius / cos δ` (both intervals when it wraps through 0/360°; whole zones near the poles),
//! and keeps the candidate with the smallest chord distance between unit vectors (monotonic in
//! the angle; the separation reported is 2 asin(chord / 2)). Exact: every pair within the radius
//! is examined. Degrees in, arcseconds for radii and separations.

use crate::angle::unit_vector;

const D2R: f64 = std::f64::consts::PI / 180.0;

/// An index over catalogue B.
#[derive(Debug, Clone)]
pub struct SkyIndex {
    zone_deg: f64,
    zone_min: i64,
    /// Zones from `zone_min` upwards, each sorted by RA: (ra [deg], unit vector, original index).
    zones: Vec<Vec<(f64, [f64; 3], usize)>>,
}

/// Angle [arcsec] from the squared chord length between unit vectors (exact: 2 asin(c/2)).
fn chord2_to_arcsec(c2: f64) -> f64 {
    2.0 * (0.5 * c2.sqrt()).min(1.0).asin() / D2R * 3600.0
}

impl SkyIndex {
    /// Indexes `(ra, dec)` points in degrees for searches up to `max_radius_arcsec`.
    pub fn new(points: &[(f64, f64)], max_radius_arcsec: f64) -> SkyIndex {
        let zone_deg = (max_radius_arcsec / 3600.0).max(1.0 / 3600.0);
        let zone_of = |dec: f64| ((dec + 90.0) / zone_deg).floor() as i64;
        let finite = points.iter().filter(|p| p.0.is_finite() && p.1.is_finite());
        let (lo, hi) = finite.fold((i64::MAX, i64::MIN), |(lo, hi), p| {
            (lo.min(zone_of(p.1)), hi.max(zone_of(p.1)))
        });
        if lo > hi {
            return SkyIndex {
                zone_deg,
                zone_min: 0,
                zones: Vec::new(),
            };
        }
        let mut zones: Vec<Vec<(f64, [f64; 3], usize)>> = vec![Vec::new(); (hi - lo + 1) as usize];
        for (i, &(ra, dec)) in points.iter().enumerate() {
            if ra.is_finite() && dec.is_finite() {
                let ra = ra.rem_euclid(360.0);
                zones[(zone_of(dec) - lo) as usize].push((ra, unit_vector(ra, dec), i));
            }
        }
        for z in zones.iter_mut() {
            z.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        SkyIndex {
            zone_deg,
            zone_min: lo,
            zones,
        }
    }

    /// The nearest indexed point within `radius_arcsec` of (ra, dec): (index, separation ″).
    pub fn nearest(&self, ra: f64, dec: f64, radius_arcsec: f64) -> Option<(usize, f64)> {
        if !(ra.is_finite() && dec.is_finite()) || self.zones.is_empty() {
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
        // Chord length of the radius, slightly enlarged so rounding never drops a boundary pair;
        // the final test uses the exact angle.
        let c_lim = 2.0 * (0.5 * r * D2R).min(std::f64::consts::FRAC_PI_2).sin() * (1.0 + 1e-9);
        let c2_lim = c_lim * c_lim;
        let q = unit_vector(ra, dec);
        let mut best: Option<(usize, f64)> = None;
        for z in z0.max(self.zone_min)..=z1.min(self.zone_min + self.zones.len() as i64 - 1) {
            let zone = &self.zones[(z - self.zone_min) as usize];
            let mut visit = |lo: f64, hi: f64| {
                let start = zone.partition_point(|p| p.0 < lo);
                for p in &zone[start..] {
                    if p.0 > hi {
                        break;
                    }
                    let d = [p.1[0] - q[0], p.1[1] - q[1], p.1[2] - q[2]];
                    let c2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                    if c2 <= c2_lim && best.is_none_or(|(bi, bc)| c2 < bc || (c2 == bc && p.2 < bi))
                    {
                        best = Some((p.2, c2));
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
        best.map(|(i, c2)| (i, chord2_to_arcsec(c2)))
            .filter(|(_, s)| *s <= radius_arcsec)
    }
}

/// For every point of `a`, its nearest point of `b` within `radius_arcsec` (index, separation ″).
/// Queries run in (zone, RA) order so that consecutive ones touch the same part of the index.
pub fn nearest_within(
    a: &[(f64, f64)],
    b: &[(f64, f64)],
    radius_arcsec: f64,
) -> Vec<Option<(usize, f64)>> {
    let idx = SkyIndex::new(b, radius_arcsec);
    let key = |p: &(f64, f64)| (((p.1 + 90.0) / idx.zone_deg).floor(), p.0.rem_euclid(360.0));
    let mut order: Vec<usize> = (0..a.len()).collect();
    order.sort_by(|&i, &j| {
        let (ki, kj) = (key(&a[i]), key(&a[j]));
        ki.0.total_cmp(&kj.0).then(ki.1.total_cmp(&kj.1))
    });
    let mut out = vec![None; a.len()];
    for i in order {
        out[i] = idx.nearest(a[i].0, a[i].1, radius_arcsec);
    }
    out
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
