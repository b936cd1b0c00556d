//! Queries of the published database (`tomoe_store::lcquery`) against brute force over the
//! whole published tables of a simulated night.

use crate::ingest::{ingest_simulated, Ingested};
use tomoe_store::arrow::array::{Array, AsArray};
use tomoe_store::arrow::datatypes::{Float64Type, Int64Type};
use tomoe_store::hats::HatsCatalog;
use tomoe_store::lcquery::{LcRead, ObjectFilter, QueryError};

fn all_objects(cur: &std::path::Path) -> Vec<(i64, f64, f64, bool)> {
    let cat = HatsCatalog::open(&cur.join("objects")).unwrap();
    let mut v = Vec::new();
    for b in cat
        .read_all(Some(&["object_id", "ra", "dec", "source_id"]))
        .unwrap()
    {
        let c = |n: &str| b.column_by_name(n).unwrap().clone();
        let (o, r, d, s) = (c("object_id"), c("ra"), c("dec"), c("source_id"));
        let (o, r, d, s) = (
            o.as_primitive::<Int64Type>(),
            r.as_primitive::<Float64Type>(),
            d.as_primitive::<Float64Type>(),
            s.as_primitive::<Int64Type>(),
        );
        for i in 0..b.num_rows() {
            v.push((o.value(i), r.value(i), d.value(i), s.is_valid(i)));
        }
    }
    v
}

fn sep_deg(a: (f64, f64), b: (f64, f64)) -> f64 {
    tomoe_core::angle::separation(
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    )
    .to_degrees()
}

#[test]
fn cone_light_curve_and_nearest_agree_with_brute_force() {
    let Ingested { root, _night: _n } = ingest_simulated();
    let q = LcRead::open(&root).unwrap();
    let cur = q.version().to_path_buf();
    let objs = all_objects(&cur);
    assert!(objs.len() > 300);
    // Cones around a few objects: the same ids as brute force.
    for &(id, ra, dec, _) in objs.iter().step_by(97).take(6) {
        let r = 0.05;
        let mut want: Vec<i64> = objs
            .iter()
            .filter(|o| sep_deg((ra, dec), (o.1, o.2)) <= r)
            .map(|o| o.0)
            .collect();
        want.sort_unstable();
        let mut got: Vec<i64> = q
            .cone(ra, dec, r, &ObjectFilter::default())
            .unwrap()
            .iter()
            .flat_map(|b| {
                b.column_by_name("object_id")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, want, "cone around {id}");
        assert!(got.contains(&id));
        // Non-Gaia only.
        let ng: Vec<i64> = q
            .cone(
                ra,
                dec,
                r,
                &ObjectFilter {
                    gaia: Some(false),
                    ..Default::default()
                },
            )
            .unwrap()
            .iter()
            .flat_map(|b| {
                b.column_by_name("object_id")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert!(ng.iter().all(|&o| o < 0));
        assert_eq!(ng.len(), want.iter().filter(|&&o| o < 0).count());
        // The nearest object to an object's position is itself.
        assert_eq!(q.nearest_object(ra, dec, 1.0 / 3600.0).unwrap(), Some(id));
    }
    // Light curves: a Gaia object and a non-Gaia one equal the filter over all detections.
    let det = HatsCatalog::open(&cur.join("detections")).unwrap();
    let all = det.read_all(Some(&["object_id", "mjd"])).unwrap();
    for id in [
        objs.iter().find(|o| o.3).unwrap().0,
        objs.iter().find(|o| !o.3).unwrap().0,
    ] {
        let mut want: Vec<f64> = all
            .iter()
            .flat_map(|b| {
                let (o, m) = (
                    b.column(0).as_primitive::<Int64Type>(),
                    b.column(1).as_primitive::<Float64Type>(),
                );
                (0..b.num_rows())
                    .filter(|&i| o.value(i) == id)
                    .map(|i| m.value(i))
                    .collect::<Vec<_>>()
            })
            .collect();
        want.sort_by(f64::total_cmp);
        let lc = q
            .light_curve(id, None, None, Some(&["mjd", "mag", "mag_err"]))
            .unwrap();
        let got: Vec<f64> = lc
            .iter()
            .flat_map(|b| {
                b.column_by_name("mjd")
                    .unwrap()
                    .as_primitive::<Float64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert!(!got.is_empty());
        assert_eq!(got, want, "light curve of {id} (time-sorted)");
        assert_eq!(lc[0].schema().fields().len(), 3, "only the asked columns");
        // A time range keeps the inside.
        let mid = want[want.len() / 2];
        let half: usize = q
            .light_curve(id, Some(mid), None, None)
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(half, want.iter().filter(|&&t| t >= mid).count());
    }
    // Bad parameters and unknown objects: clear errors.
    assert!(matches!(
        q.light_curve(123, None, None, None),
        Err(QueryError::UnknownObject(123))
    ));
    assert!(matches!(
        q.light_curve(-999_999, None, None, None),
        Err(QueryError::UnknownObject(_))
    ));
    for (ra, dec, r) in [
        (10.0, 95.0, 0.1),
        (10.0, 0.0, -1.0),
        (f64::NAN, 0.0, 0.1),
        (10.0, 0.0, 20.0),
    ] {
        let e = q.cone(ra, dec, r, &ObjectFilter::default()).unwrap_err();
        assert!(matches!(e, QueryError::BadParameter(_)), "{e}");
    }
    assert!(matches!(
        q.light_curve(objs[0].0, Some(2.0), Some(1.0), None),
        Err(QueryError::BadParameter(_))
    ));
    assert!(matches!(
        LcRead::open(std::path::Path::new("/nonexistent")),
        Err(QueryError::Empty(_))
    ));
}
