//! HEALPix (nested scheme) helpers for the sky-partitioned tables, on CDS's `cdshealpix` crate
//! (the implementation HATS itself uses through its Python binding).
//!
//! Angles are degrees at this interface: RA in [0, 360) (any value is wrapped), Dec in
//! [−90, 90]. `_healpix_29` is the nested index at order 29, the HATS spatial key; the index of
//! the same point at a lower order k is `h29 >> (2 × (29 − k))`.
//! Reference values: `scripts/reference/healpix_reference.py` (Python cdshealpix).

/// The HATS spatial-index order.
pub const ORDER_29: u8 = 29;

/// Nested HEALPix index of (ra, dec) [deg] at `order` (0–29).
///
/// # Panics
/// If `order` > 29 or `dec` is outside [−90, 90] or not finite.
pub fn hash(order: u8, ra_deg: f64, dec_deg: f64) -> u64 {
    assert!(order <= 29, "HEALPix order {order} > 29");
    assert!(
        dec_deg.is_finite() && (-90.0..=90.0).contains(&dec_deg),
        "declination {dec_deg} outside [-90, 90]"
    );
    let ra = ra_deg.rem_euclid(360.0).to_radians();
    cdshealpix::nested::hash(order, ra, dec_deg.to_radians())
}

/// `_healpix_29` of (ra, dec) [deg].
pub fn hash29(ra_deg: f64, dec_deg: f64) -> u64 {
    hash(ORDER_29, ra_deg, dec_deg)
}

/// The index at `order` of the cell containing the order-29 cell `h29`.
pub fn parent(h29: u64, order: u8) -> u64 {
    h29 >> (2 * u32::from(ORDER_29 - order.min(ORDER_29)))
}

/// Range `[lo, hi)` of order-29 indices inside cell `h` of `order`.
pub fn range29(order: u8, h: u64) -> (u64, u64) {
    let s = 2 * u32::from(ORDER_29 - order.min(ORDER_29));
    (h << s, (h + 1) << s)
}

/// Cells of `order` that may overlap the cone (a superset: every point within `radius_deg` of
/// the centre lies in one of them), sorted.
///
/// # Panics
/// If `order` > 29, the centre's Dec is outside [−90, 90], or the radius is not in (0, 180].
pub fn cone_cells(order: u8, ra_deg: f64, dec_deg: f64, radius_deg: f64) -> Vec<u64> {
    assert!(order <= 29, "HEALPix order {order} > 29");
    assert!(
        radius_deg > 0.0 && radius_deg <= 180.0,
        "cone radius {radius_deg} outside (0, 180]"
    );
    assert!(
        dec_deg.is_finite() && (-90.0..=90.0).contains(&dec_deg),
        "declination {dec_deg} outside [-90, 90]"
    );
    let bmoc = cdshealpix::nested::cone_coverage_approx(
        order,
        ra_deg.rem_euclid(360.0).to_radians(),
        dec_deg.to_radians(),
        radius_deg.to_radians(),
    );
    let mut out: Vec<u64> = bmoc.flat_iter().collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_and_ranges_nest() {
        let h = hash29(123.4, -45.6);
        for k in 0..=29u8 {
            assert_eq!(parent(h, k), hash(k, 123.4, -45.6), "order {k}");
            let (lo, hi) = range29(k, parent(h, k));
            assert!(lo <= h && h < hi);
        }
        // The north pole is the corner of the four northern base cells 0–3.
        assert!((0..4).contains(&hash(0, 123.0, 90.0)));
        assert!((8..12).contains(&hash(0, 10.0, -90.0)));
        assert_eq!(hash29(-10.0, 5.0), hash29(350.0, 5.0));
    }

    #[test]
    fn cone_cells_cover_every_point_of_the_cone() {
        for &(ra, dec, r) in &[
            (0.1, 0.0, 1.0),
            (359.9, 10.0, 0.5),
            (45.0, 89.8, 0.5),
            (200.0, -89.9, 2.0),
        ] {
            let cells = cone_cells(6, ra, dec, r);
            for i in 0..200 {
                // Points on circles of radius r × (i/200) around the centre.
                let (rho, az) = (r * f64::from(i) / 200.0, f64::from(i) * 0.7);
                let (d0, a0) = (dec.to_radians(), ra.to_radians());
                let (rho, az) = (rho.to_radians(), az);
                let d = (d0.sin() * rho.cos() + d0.cos() * rho.sin() * az.cos()).asin();
                let a =
                    a0 + (az.sin() * rho.sin() * d0.cos()).atan2(rho.cos() - d0.sin() * d.sin());
                let h = hash(6, a.to_degrees(), d.to_degrees().clamp(-90.0, 90.0));
                assert!(
                    cells.binary_search(&h).is_ok(),
                    "({ra}, {dec}, {r}) misses cell {h}"
                );
            }
        }
    }
}
