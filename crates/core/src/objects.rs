//! Objects across exposures: which object a static track belongs to.
//!
//! * A track matched to Gaia belongs to the object of its Gaia `source_id` (the object id *is*
//!   the source_id, a positive number).
//! * An unmatched track joins the nearest existing non-Gaia object within the radius (1″ by
//!   default), or creates one with a new id. Non-Gaia ids are negative (−1, −2, …) so they can
//!   never collide with a Gaia source_id, are handed out in order and never reused; an object's
//!   position is the running mean of its members, but its id never changes.
//!
//! The registry is persisted by the caller ([`Registry::objects`], [`Registry::next_id`]) and
//! restored with [`Registry::restore`]. Positions are means of unit vectors (exact across RA = 0
//! and at the poles). Neighbours are found through HEALPix cells of order 14
//! (~13″) covering the search cone, so RA = 0/360 and the poles need no special case.

use crate::angle::{separation, unit_vector as unit};
use crate::healpix::{cone_cells, hash};

const ORDER: u8 = 14;

/// A non-Gaia object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Object {
    /// Its id (negative).
    pub id: i64,
    /// Mean position [deg].
    pub ra: f64,
    /// Mean position [deg].
    pub dec: f64,
    /// Tracks assigned so far.
    pub n: u64,
}

/// The registry of non-Gaia objects.
#[derive(Debug, Clone)]
pub struct Registry {
    radius_deg: f64,
    next: i64,
    objs: Vec<Object>,
    /// Sum of the members' unit vectors, per object (the mean position is its direction).
    sums: Vec<[f64; 3]>,
    cells: crate::FastMap<u64, Vec<usize>>,
}

impl Registry {
    /// An empty registry matching within `radius_arcsec`.
    ///
    /// # Panics
    /// If the radius is not in (0, 60]″.
    pub fn new(radius_arcsec: f64) -> Self {
        assert!(
            radius_arcsec > 0.0 && radius_arcsec <= 60.0,
            "object radius {radius_arcsec}″ outside (0, 60]"
        );
        Self {
            radius_deg: radius_arcsec / 3600.0,
            next: 1,
            objs: Vec::new(),
            sums: Vec::new(),
            cells: crate::FastMap::default(),
        }
    }

    /// A registry holding `objects`, handing out ids after `next_id` (the value of
    /// [`Registry::next_id`] when they were saved).
    pub fn restore(radius_arcsec: f64, objects: &[Object], next_id: i64) -> Self {
        let mut r = Self::new(radius_arcsec);
        r.next = next_id.max(1 + objects.iter().map(|o| -o.id).max().unwrap_or(0));
        for o in objects {
            r.cells
                .entry(hash(ORDER, o.ra, o.dec))
                .or_default()
                .push(r.objs.len());
            let u = unit(o.ra, o.dec);
            let n = o.n.max(1) as f64;
            r.sums.push([u[0] * n, u[1] * n, u[2] * n]);
            r.objs.push(*o);
        }
        r
    }

    /// The magnitude of the next id to hand out (ids are −next, −next−1, …).
    pub fn next_id(&self) -> i64 {
        self.next
    }

    /// The non-Gaia objects, in order of creation.
    pub fn objects(&self) -> &[Object] {
        &self.objs
    }

    /// The object id of a static track at (`ra`, `dec`) [deg] with Gaia match `gaia` (its
    /// source_id, if any).
    pub fn assign(&mut self, ra: f64, dec: f64, gaia: Option<i64>) -> i64 {
        if let Some(g) = gaia {
            return g;
        }
        let (r1, d1) = (ra.to_radians(), dec.to_radians());
        let mut best: Option<(f64, usize)> = None;
        for c in cone_cells(ORDER, ra, dec, self.radius_deg) {
            for &i in self.cells.get(&c).map(Vec::as_slice).unwrap_or(&[]) {
                let o = &self.objs[i];
                let s = separation(r1, d1, o.ra.to_radians(), o.dec.to_radians()).to_degrees();
                // Ties: the older object (lower index) wins.
                if s <= self.radius_deg && best.is_none_or(|(bs, bi)| s < bs || (s == bs && i < bi))
                {
                    best = Some((s, i));
                }
            }
        }
        match best {
            Some((_, i)) => {
                let old = hash(ORDER, self.objs[i].ra, self.objs[i].dec);
                // Mean position: the direction of the sum of unit vectors (exact at the poles
                // and across RA = 0).
                let u = unit(ra, dec);
                let s = &mut self.sums[i];
                for k in 0..3 {
                    s[k] += u[k];
                }
                let o = &mut self.objs[i];
                if let Some((ra, dec)) = crate::angle::direction_of(*s) {
                    (o.ra, o.dec) = (ra, dec);
                }
                o.n += 1;
                let (id, new) = (o.id, hash(ORDER, o.ra, o.dec));
                if new != old {
                    if let Some(v) = self.cells.get_mut(&old) {
                        v.retain(|&k| k != i);
                    }
                    self.cells.entry(new).or_default().push(i);
                }
                id
            }
            None => {
                let id = -self.next;
                self.next += 1;
                self.cells
                    .entry(hash(ORDER, ra, dec))
                    .or_default()
                    .push(self.objs.len());
                self.objs.push(Object { id, ra, dec, n: 1 });
                self.sums.push(unit(ra, dec));
                id
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaia_ids_pass_through_and_new_objects_get_stable_negative_ids() {
        let mut r = Registry::new(1.0);
        assert_eq!(r.assign(10.0, 20.0, Some(123_456_789)), 123_456_789);
        let a = r.assign(10.0, 20.0, None);
        let b = r.assign(10.0 + 2.0 / 3600.0, 20.0, None);
        assert_eq!((a, b), (-1, -2));
        // 0.5″ from a: joins a; its id does not change when its position moves.
        assert_eq!(r.assign(10.0, 20.0 + 0.5 / 3600.0, None), -1);
        assert_eq!(r.objects()[0].n, 2);
        assert!((r.objects()[0].dec - (20.0 + 0.25 / 3600.0)).abs() < 1e-9);
        // Nearest wins: 1.2″ from a's mean, 0.8″ from b.
        assert_eq!(r.assign(10.0 + 1.2 / 3600.0, 20.0, None), -2);
    }

    #[test]
    fn wrap_poles_and_restore() {
        let mut r = Registry::new(1.0);
        let a = r.assign(359.99999, 0.0, None);
        assert_eq!(r.assign(0.00002, 0.0, None), a, "0.108″ across RA = 0");
        let p = r.assign(0.0, 89.99995, None);
        assert_eq!(r.assign(180.0, 89.99995, None), p, "0.36″ across the pole");
        // The mean of two points on opposite sides of the pole is the pole.
        assert!(
            (r.objects()[1].dec - 90.0).abs() < 1e-9,
            "{:?}",
            r.objects()[1]
        );
        let saved = r.objects().to_vec();
        let mut r2 = Registry::restore(1.0, &saved, r.next_id());
        assert_eq!(r2.assign(0.00001, 0.0, None), a);
        assert_eq!(
            r2.assign(50.0, 50.0, None),
            -3,
            "ids continue, never reused"
        );
    }
}
