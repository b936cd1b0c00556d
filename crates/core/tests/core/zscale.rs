//! zscale limits against astropy's `ZScaleInterval` (scripts/reference/zscale_reference.py).

use tomoe_core::stats::zscale;

/// The same deterministic hash as the reference script.
fn noise(i: u64) -> f64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn image(kind: &str, w: usize, h: usize) -> Vec<f32> {
    (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            let mut v = 1000.0 + 0.05 * x + 0.02 * y + 40.0 * (noise(i as u64) - 0.5);
            if kind == "stars" && (x as usize * 7 + y as usize * 13).is_multiple_of(97) {
                v += 20000.0 * noise(i as u64 + 7);
            }
            if kind == "stars" && i % 1013 == 5 {
                v = f64::NAN;
            }
            if kind == "flat" {
                v = 5.0;
            }
            v as f32
        })
        .collect()
}

#[test]
fn zscale_matches_astropy() {
    let v = crate::reference("zscale_reference.json");
    for c in v["cases"].as_array().unwrap() {
        let (w, h) = (
            c["width"].as_u64().unwrap() as usize,
            c["height"].as_u64().unwrap() as usize,
        );
        let kind = c["kind"].as_str().unwrap();
        let (lo, hi) = zscale(&image(kind, w, h)).unwrap();
        let (elo, ehi) = (c["vmin"].as_f64().unwrap(), c["vmax"].as_f64().unwrap());
        assert!(
            (lo - elo).abs() <= 1e-9 * elo.abs().max(1.0)
                && (hi - ehi).abs() <= 1e-9 * ehi.abs().max(1.0),
            "{kind} {w}x{h}: ({lo}, {hi}) vs astropy ({elo}, {ehi})"
        );
    }
    assert_eq!(zscale(&[f32::NAN, f32::INFINITY]), None);
}
