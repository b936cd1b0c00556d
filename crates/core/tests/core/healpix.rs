//! HEALPix indices against the Python cdshealpix package (scripts/reference/healpix_reference.py).

use tomoe_core::healpix::{hash, hash29, parent};

#[test]
fn nested_indices_match_python_cdshealpix() {
    let v = crate::reference("healpix_reference.json");
    let pts = v["points"].as_array().unwrap();
    assert!(pts.len() >= 50);
    for p in pts {
        let (ra, dec) = (p["ra"].as_f64().unwrap(), p["dec"].as_f64().unwrap());
        let h = hash29(ra, dec);
        assert_eq!(h, p["h29"].as_u64().unwrap(), "({ra}, {dec}) order 29");
        for k in [0u8, 5, 10] {
            let want = p[format!("h{k}")].as_u64().unwrap();
            assert_eq!(hash(k, ra, dec), want, "({ra}, {dec}) order {k}");
            assert_eq!(parent(h, k), want, "({ra}, {dec}) parent at {k}");
        }
    }
}
