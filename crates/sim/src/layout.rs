//! Synthetic focal-plane layout: 4 quadrants × 21 chips.
//!
//! The real list of chip numbers and their sky layout are not public (FORMAT.md §3 lists the
//! numbers seen: 11–14, 21–24, 31, 32, 43). We use the "group digit + index digit" pattern
//! seen there: groups 1–4 with 5, 5, 5 and 6 chips per quadrant. Chips are placed on a regular
//! grid, 3 columns × 7 rows per quadrant, quadrants in a 2 × 2 arrangement, with 25 % gaps.

/// Chip numbers within one quadrant (21 of them).
pub const CHIPS_PER_QUADRANT: [u8; 21] = [
    11, 12, 13, 14, 15, 21, 22, 23, 24, 25, 31, 32, 33, 34, 35, 41, 42, 43, 44, 45, 46,
];

/// Pixel scale in arcseconds per pixel (FORMAT.md §1).
pub const PIXEL_SCALE_ARCSEC: f64 = 1.189;

/// All 84 (quadrant, chip) pairs in a fixed order: quadrant-major.
pub fn all_chips() -> Vec<(u8, u8)> {
    (1..=4u8)
        .flat_map(|q| CHIPS_PER_QUADRANT.iter().map(move |&c| (q, c)))
        .collect()
}

/// Offset of a chip centre from the field centre in the tangent plane, in degrees
/// (ξ east, η north), for a full-size 2000 × 1128 chip.
pub fn chip_offset_deg(quadrant: u8, chip: u8) -> (f64, f64) {
    let idx = CHIPS_PER_QUADRANT
        .iter()
        .position(|&c| c == chip)
        .unwrap_or(0);
    let (col, row) = ((idx % 3) as f64, (idx / 3) as f64);
    let q = f64::from(quadrant.saturating_sub(1));
    let (qc, qr) = ((q % 2.0).floor(), (q / 2.0).floor());
    let w = 2000.0 * PIXEL_SCALE_ARCSEC / 3600.0 * 1.25;
    let h = 1128.0 * PIXEL_SCALE_ARCSEC / 3600.0 * 1.25;
    let x = (qc * 3.0 + col - 2.5) * w;
    let y = (qr * 7.0 + row - 6.5) * h;
    (x, y)
}
