//! Nearest-neighbour cross-match of two sky catalogues within a radius.
//!
//! The second catalogue is indexed in declination zones one search radius high, each sorted by
//! right ascension; a query visits the zones within the radius and, in each, the RA interval
//! `±radius / cos δ` (both intervals when it wraps through 0/360°; whole zones near the poles),
//! and keeps the candidate with the smallest chord distance between unit vectors (monotonic in
//! the angle; the separation reported is 2 asin(chord / 2)). Exact: every pair within the radius
//! is examined. Degrees in, arcseconds for radii and separations.
//!
//! [`nearest_within`] builds the index and answers the queries on all cores (rayon); the queries
//! run in (zone, RA) order so that consecutive ones touch the same part of the index.

use crate::angle::unit_vector;

const D2R: f64 = std::f64::consts::PI / 180.0;

/// An index over catalogue B.
#[derive(Debug, Clone)]
pub struct SkyIndex {
    zone_deg: f64,
    zone_min: i64,
    /// Start of each zone (from `zone_min` upwards) in the flat arrays; one extra end entry.
    starts: Vec<usize>,
    /// RA [deg] of every point, zone by zone, sorted within a zone (searched by bisection).
    ra: Vec<f64>,
    /// Unit vectors, same order.
    xyz: Vec<[f64; 3]>,
    /// Original indices, same order.
    index: Vec<usize>,
}

/// A search radius and what every query needs of it.
#[derive(Debug, Clone, Copy)]
struct Radius {
    arcsec: f64,
    deg: f64,
    sin: f64,
    cos: f64,
    /// Squared chord length of the radius, slightly enlarged so rounding never drops a boundary
    /// pair (the final test uses the exact angle).
    chord2: f64,
}

impl Radius {
    fn new(arcsec: f64) -> Self {
        let deg = arcsec / 3600.0;
        let (sin, cos) = (deg * D2R).sin_cos();
        let c = 2.0 * (0.5 * deg * D2R).min(std::f64::consts::FRAC_PI_2).sin() * (1.0 + 1e-9);
        Self {
            arcsec,
            deg,
            sin,
            cos,
            chord2: c * c,
        }
    }
}

/// Angle [arcsec] from the squared chord length between unit vectors (exact: 2 asin(c/2)).
fn chord2_to_arcsec(c2: f64) -> f64 {
    2.0 * (0.5 * c2.sqrt()).min(1.0).asin() / D2R * 3600.0
}

impl SkyIndex {
    /// Indexes `(ra, dec)` points in degrees for searches up to `max_radius_arcsec`.
    pub fn new(points: &[(f64, f64)], max_radius_arcsec: f64) -> SkyIndex {
        use rayon::prelude::*;
        let zone_deg = (max_radius_arcsec / 3600.0).max(1.0 / 3600.0);
        let zone_of = |dec: f64| ((dec + 90.0) / zone_deg).floor() as i64;
        // (zone, ra, unit vector, index) for every finite point, computed in parallel, then one
        // sort by (zone, ra, index).
        // Bucket by zone (counting sort), then sort each zone's points by (RA, index): zones are
        // small, so this is linear in practice and exact.
        let zone: Vec<Option<i64>> = points
            .par_iter()
            .map(|p| (p.0.is_finite() && p.1.is_finite()).then(|| zone_of(p.1)))
            .collect();
        let (lo, hi) = zone
            .par_iter()
            .flatten()
            .fold(|| (i64::MAX, i64::MIN), |(l, h), &z| (l.min(z), h.max(z)))
            .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
        if lo > hi {
            return SkyIndex {
                zone_deg,
                zone_min: 0,
                starts: vec![0],
                ra: Vec::new(),
                xyz: Vec::new(),
                index: Vec::new(),
            };
        }
        let nz = (hi - lo + 1) as usize;
        let mut starts = vec![0usize; nz + 1];
        for z in zone.iter().flatten() {
            starts[(z - lo) as usize + 1] += 1;
        }
        for k in 0..nz {
            starts[k + 1] += starts[k];
        }
        let n = starts[nz];
        let mut cursor = starts.clone();
        let mut pts: Vec<(f64, f64, u32)> = vec![(0.0, 0.0, 0); n];
        for (i, z) in zone.iter().enumerate() {
            if let Some(z) = z {
                let k = (z - lo) as usize;
                let (ra, dec) = points[i];
                pts[cursor[k]] = (ra.rem_euclid(360.0), dec, i as u32);
                cursor[k] += 1;
            }
        }
        // Disjoint per-zone slices, sorted in parallel.
        let mut slices: Vec<&mut [(f64, f64, u32)]> = Vec::with_capacity(nz);
        let mut rest: &mut [(f64, f64, u32)] = &mut pts;
        for k in 0..nz {
            let (head, tail) = rest.split_at_mut(starts[k + 1] - starts[k]);
            slices.push(head);
            rest = tail;
        }
        slices.par_iter_mut().for_each(|s| {
            s.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
        });
        let xyz: Vec<[f64; 3]> = pts.par_iter().map(|p| unit_vector(p.0, p.1)).collect();
        SkyIndex {
            zone_deg,
            zone_min: lo,
            starts,
            ra: pts.iter().map(|p| p.0).collect(),
            xyz,
            index: pts.iter().map(|p| p.2 as usize).collect(),
        }
    }

    /// The nearest indexed point within `radius_arcsec` of (ra, dec): (index, separation ″).
    pub fn nearest(&self, ra: f64, dec: f64, radius_arcsec: f64) -> Option<(usize, f64)> {
        self.nearest_r(ra, dec, &Radius::new(radius_arcsec))
    }

    fn nearest_r(&self, ra: f64, dec: f64, rad: &Radius) -> Option<(usize, f64)> {
        if !(ra.is_finite() && dec.is_finite()) || self.ra.is_empty() {
            return None;
        }
        let (r, radius_arcsec) = (rad.deg, rad.arcsec);
        let ra = ra.rem_euclid(360.0);
        let nz = self.starts.len() as i64 - 1;
        let (z0, z1) = (
            (((dec - r + 90.0) / self.zone_deg).floor() as i64).max(self.zone_min),
            (((dec + r + 90.0) / self.zone_deg).floor() as i64).min(self.zone_min + nz - 1),
        );
        if z0 > z1 {
            return None;
        }
        let q = unit_vector(ra, dec);
        // cos(|δ| + r) from cos δ and sin δ of the query's unit vector.
        let (cd, sd) = (q[0].hypot(q[1]), q[2].abs());
        let (sr, cr) = (rad.sin, rad.cos);
        let cos_max = if dec.abs() + r >= 90.0 {
            0.0
        } else {
            cd * cr - sd * sr
        };
        let dra = if cos_max < 1e-9 {
            360.0
        } else {
            (r / cos_max).min(360.0)
        };
        let c2_lim = rad.chord2;
        let mut best: Option<(usize, f64)> = None;
        for z in z0..=z1 {
            let zi = (z - self.zone_min) as usize;
            let (zs, ze) = (self.starts[zi], self.starts[zi + 1]);
            if zs == ze {
                continue;
            }
            let ras = &self.ra[zs..ze];
            let mut visit = |lo: f64, hi: f64| {
                let start = ras.partition_point(|&x| x < lo);
                for (k, &x) in ras.iter().enumerate().skip(start) {
                    if x > hi {
                        break;
                    }
                    let p = &self.xyz[zs + k];
                    let d = [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
                    let c2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                    let i = self.index[zs + k];
                    if c2 <= c2_lim && best.is_none_or(|(bi, bc)| c2 < bc || (c2 == bc && i < bi)) {
                        best = Some((i, c2));
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
    use rayon::prelude::*;
    let rad = Radius::new(radius_arcsec);
    let idx = SkyIndex::new(b, radius_arcsec);
    // Query order: (zone, RA); RA in [0, 360) so its bit pattern orders like the number.
    // The query's Dec travels with it, so answering reads no scattered input.
    let mut order: Vec<(i64, u64, u64, usize)> = a
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let z = if p.1.is_finite() {
                ((p.1 + 90.0) / idx.zone_deg).floor() as i64
            } else {
                i64::MAX
            };
            let ra = if p.0.is_finite() {
                p.0.rem_euclid(360.0)
            } else {
                f64::NAN
            };
            (z, ra.to_bits(), p.1.to_bits(), i)
        })
        .collect();
    order.par_sort_unstable();
    let found: Vec<(usize, Option<(usize, f64)>)> = order
        .par_chunks(4096)
        .flat_map_iter(|c| {
            c.iter().map(|&(_, ra, dec, i)| {
                (
                    i,
                    idx.nearest_r(f64::from_bits(ra), f64::from_bits(dec), &rad),
                )
            })
        })
        .collect();
    let mut out = vec![None; a.len()];
    for (i, m) in found {
        out[i] = m;
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
