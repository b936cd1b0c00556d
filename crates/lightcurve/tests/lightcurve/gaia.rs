//! The Gaia store: every import format against values written by astropy/pyarrow
//! (`scripts/reference/gaia_formats_reference.py`), HATS round trip and cone reads.

use crate::{data, reference};
use tomoe_lightcurve::gaia::{self, GaiaError, GaiaStore};

fn close(a: f64, b: Option<f64>) -> bool {
    match b {
        Some(b) => (a - b).abs() <= 1e-12 * b.abs().max(1.0),
        None => a.is_nan(),
    }
}

#[test]
fn every_format_reads_the_same_values() {
    let truth = reference("gaia_sample.json");
    let rows = truth["rows"].as_array().unwrap();
    for file in [
        "gaia_sample.csv.gz",
        "gaia_sample.ecsv",
        "gaia_sample.vot",
        "gaia_sample.binary2.vot",
        "gaia_sample.fits",
        "gaia_sample.parquet",
    ] {
        let stars = gaia::read_file(&data(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(stars.len(), rows.len(), "{file}");
        for (s, r) in stars.iter().zip(rows) {
            assert_eq!(s.source_id, r["source_id"].as_i64().unwrap(), "{file}");
            assert!(
                close(s.ra(), r["ra"].as_f64()),
                "{file}: ra {} vs {}",
                s.ra(),
                r["ra"]
            );
            assert!(close(s.dec(), r["dec"].as_f64()), "{file}");
            assert!(close(s.g(), r["phot_g_mean_mag"].as_f64()), "{file}");
            assert!(
                close(s.v[gaia::PMRA], r["pmra"].as_f64()),
                "{file}: pmra {} vs {}",
                s.v[gaia::PMRA],
                r["pmra"]
            );
            assert!(
                close(s.v[gaia::BP], r["phot_bp_mean_mag"].as_f64()),
                "{file}: bp"
            );
            assert_eq!(
                s.duplicated_source,
                r["duplicated_source"].as_bool().unwrap(),
                "{file}"
            );
            assert_eq!(s.v[gaia::REF_EPOCH], 2016.0);
        }
    }
}

#[test]
fn missing_required_column_and_bad_rows_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("no_g.csv");
    std::fs::write(&p, "source_id,ra,dec\n1,10,20\n").unwrap();
    let e = gaia::read_file(&p).unwrap_err().to_string();
    assert!(
        e.contains("phot_g_mean_mag") && e.contains("no_g.csv"),
        "{e}"
    );
    let p = dir.path().join("bad.csv");
    std::fs::write(
        &p,
        "source_id,ra,dec,phot_g_mean_mag\n1,10,20,15\nx2,10,20,15\n",
    )
    .unwrap();
    let e = gaia::read_file(&p).unwrap_err();
    assert!(matches!(e, GaiaError::BadRow { row: 2, .. }), "{e}");
    let p = dir.path().join("offsky.csv");
    std::fs::write(&p, "source_id,ra,dec,phot_g_mean_mag\n1,10,95,15\n").unwrap();
    assert!(gaia::read_file(&p)
        .unwrap_err()
        .to_string()
        .contains("off the sky"));
    // A truncated gzip is refused, not read short.
    let bytes = std::fs::read(data("gaia_sample.csv.gz")).unwrap();
    let p = dir.path().join("cut.csv.gz");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = gaia::read_file(&p).unwrap_err().to_string();
    assert!(e.contains("cut.csv.gz"), "{e}");
}

#[test]
fn import_dedupes_writes_hats_and_cones_across_ra_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gaia");
    // The same sources from two formats: duplicates dropped.
    let rep = gaia::import(
        &[data("gaia_sample.parquet"), data("gaia_sample.vot")],
        &out,
        7,
        |_, _| {},
    )
    .unwrap();
    assert_eq!((rep.files, rep.read, rep.duplicates), (2, 80, 40));
    assert_eq!(rep.written.rows, 40);
    assert!(
        rep.written.partitions.len() > 1,
        "{:?}",
        rep.written.partitions
    );
    let store = GaiaStore::open(&out).unwrap();
    // Re-read through the store (HATS) and through the generic reader (HATS directory input).
    let all = gaia::read_file(&out).unwrap();
    assert_eq!(all.len(), 40);
    let truth = gaia::read_file(&data("gaia_sample.parquet")).unwrap();
    // Cone at RA = 0 with radius 0.3°: brute force over the truth.
    let (ra0, dec0, r) = (0.0f64, 0.0f64, 0.3);
    let mut want: Vec<i64> = truth
        .iter()
        .filter(|s| {
            tomoe_core::angle::separation(
                ra0.to_radians(),
                dec0.to_radians(),
                s.ra().to_radians(),
                s.dec().to_radians(),
            )
            .to_degrees()
                <= r
        })
        .map(|s| s.source_id)
        .collect();
    want.sort();
    let mut got: Vec<i64> = store
        .cone(ra0, dec0, r)
        .unwrap()
        .iter()
        .map(|s| s.source_id)
        .collect();
    got.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    // Re-import replaces the store (atomically), it does not append.
    gaia::import(&[data("gaia_sample.fits")], &out, 1000, |_, _| {}).unwrap();
    assert_eq!(gaia::read_file(&out).unwrap().len(), 40);
}

/// A simulated Gaia field written as the archive's CSV and imported.
pub fn simulated_store(
    dir: &std::path::Path,
    sim: &tomoe_sim::gaia::GaiaSim,
    max_rows: usize,
) -> std::path::PathBuf {
    let csv = dir.join("gaia_sim.csv");
    tomoe_sim::gaia::write_csv(&csv, &sim.generate()).unwrap();
    let out = dir.join("gaia");
    gaia::import(&[csv], &out, max_rows, |_, _| {}).unwrap();
    out
}

#[test]
fn hats_and_lsdb_open_the_store_and_agree_on_a_cone() {
    let dir = tempfile::tempdir().unwrap();
    // A field straddling RA = 0 so the cone crosses it and several partitions.
    let sim = tomoe_sim::gaia::GaiaSim {
        ra: 0.2,
        dec: 30.0,
        radius: 1.0,
        density: 1500.0,
        ..Default::default()
    };
    let out = simulated_store(dir.path(), &sim, 800);
    let store = GaiaStore::open(&out).unwrap();
    assert!(
        store.catalog().pixels().len() >= 4,
        "{:?}",
        store.catalog().pixels()
    );
    let (ra, dec, r) = (359.9, 30.1, 0.4);
    let mut mine: Vec<i64> = store
        .cone(ra, dec, r)
        .unwrap()
        .iter()
        .map(|s| s.source_id)
        .collect();
    mine.sort();
    let v = crate::check_hats(&out, ra, dec, r, "source_id", false);
    let n = gaia::read_file(&out).unwrap().len() as u64;
    assert_eq!(v["hats_rows"].as_u64().unwrap(), n);
    assert_eq!(v["lsdb_rows"].as_u64().unwrap(), n);
    assert_eq!(
        v["partitions"].as_u64().unwrap() as usize,
        store.catalog().pixels().len()
    );
    assert!(v["healpix_ok"].as_bool().unwrap(), "{v}");
    let lsdb: Vec<i64> = v["cone_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert!(mine.len() > 50, "{}", mine.len());
    assert_eq!(lsdb, mine);
}
