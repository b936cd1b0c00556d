//! The cross-match against astropy's match_coordinates_sky (values made by
//! scripts/reference/xmatch_reference.py), near RA = 0/360, both poles and elsewhere.

use tomoe_core::xmatch::nearest_within;

#[test]
fn nearest_within_radius_matches_astropy() {
    let r = crate::reference("xmatch_reference.json");
    let pts = |k: &str| -> Vec<(f64, f64)> {
        r[k].as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect()
    };
    let (a, b) = (pts("a"), pts("b"));
    for radius in [1.0, 0.5, 3.0] {
        let ours = nearest_within(&a, &b, radius);
        let mut matched = 0;
        for (i, m) in ours.iter().enumerate() {
            let (idx, sep) = (
                r["nearest"][i].as_u64().unwrap() as usize,
                r["sep_arcsec"][i].as_f64().unwrap(),
            );
            if sep <= radius - 1e-6 {
                let (oi, os) = m.unwrap_or_else(|| {
                    panic!("r={radius}: point {i} unmatched, astropy: {idx} at {sep}\"")
                });
                assert_eq!(oi, idx, "r={radius}: point {i}");
                assert!(
                    (os - sep).abs() < 1e-6,
                    "r={radius}: point {i}: {os} vs {sep}"
                );
                matched += 1;
            } else if sep > radius + 1e-6 {
                assert!(
                    m.is_none(),
                    "r={radius}: point {i} matched {m:?}, astropy nearest is {sep}\""
                );
            }
        }
        assert!(
            matched > 1000,
            "r={radius}: only {matched} matches exercised"
        );
    }
}
