//! Proper-motion propagation against astropy (scripts/reference/astrometry_reference.py).

use tomoe_core::angle::separation;
use tomoe_core::astrometry::propagate;

#[test]
fn propagation_matches_astropy_apply_space_motion() {
    let v = crate::reference("astrometry_reference.json");
    for c in v["cases"].as_array().unwrap() {
        let g = |k: &str| c[k].as_f64().unwrap();
        let (ra, dec) = propagate(g("ra"), g("dec"), g("pmra"), g("pmdec"), 2016.0, g("epoch"));
        let r = f64::to_radians;
        let sep_uas =
            separation(r(ra), r(dec), r(g("ra_out")), r(g("dec_out"))).to_degrees() * 3.6e9;
        assert!(
            sep_uas < 1.0,
            "{c}: ({ra}, {dec}) is {sep_uas:.3} µas from astropy"
        );
    }
}
