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

/// The object ids of a cone query, sorted.
fn cone_ids(q: &LcRead, ra: f64, dec: f64, r: f64, f: &ObjectFilter) -> Vec<i64> {
    let mut v: Vec<i64> = q
        .cone(ra, dec, r, f)
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
    v.sort_unstable();
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
        let got = cone_ids(&q, ra, dec, r, &ObjectFilter::default());
        assert_eq!(got, want, "cone around {id}");
        assert!(got.contains(&id));
        // Non-Gaia only.
        let ng = cone_ids(
            &q,
            ra,
            dec,
            r,
            &ObjectFilter {
                gaia: Some(false),
                ..Default::default()
            },
        );
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

/// The chip next to the field centre (north-east of it, 0.47° away).
const CHIP: usize = 63;

/// A chip whose centre sits at (`ra`, `dec`): the stack's field is moved until chip [`CHIP`] is
/// there.
fn stack_at(ra: f64, dec: f64) -> tomoe_sim::StackSim {
    let mut st = tomoe_sim::StackSim {
        width: 600,
        height: 400,
        chips: CHIP + 1,
        exposures: 1,
        frames: 12,
        field: (ra, dec),
        ..Default::default()
    };
    // Move the field by the chip's error, measured in the tangent plane of the target.
    let t =
        tomoe_core::wcs::Wcs::new([0.0, 0.0], [ra, dec], [[1.0, 0.0], [0.0, 1.0]], None).unwrap();
    for _ in 0..50 {
        let (cr, cd) = st.wcs(0, CHIP).pix_to_sky(300.5, 200.5);
        let (ex, ey) = t.sky_to_pix(cr, cd).unwrap();
        let (fx, fy) = t.sky_to_pix(st.field.0, st.field.1).unwrap();
        st.field = t.pix_to_sky(fx - ex, fy - ey);
        if ex.hypot(ey) < 1e-7 {
            break;
        }
    }
    let (cr, cd) = st.wcs(0, CHIP).pix_to_sky(300.5, 200.5);
    assert!(
        sep_deg((cr, cd), (ra, dec)) < 1e-4,
        "chip centre {cr}, {cd} not at {ra}, {dec}"
    );
    st
}

/// The whole chain at RA = 0/360 and next to the north pole: cubes drawn from a Gaia-like
/// catalogue there are ingested; stars match their Gaia ids, and cones centred on the seam and
/// on the pole return exactly the brute-force set.
#[test]
fn ra_zero_and_the_pole_end_to_end() {
    for (ra, dec) in [(0.0, 10.0), (45.0, 90.0)] {
        let dir = tempfile::tempdir().unwrap();
        let st = if dec < 80.0 {
            stack_at(ra, dec)
        } else {
            // The chips' centres stay ≥ 0.41° from the field centre (the layout's half column):
            // a 3200-pixel-tall chip reaches the pole.
            tomoe_sim::StackSim {
                width: 400,
                height: 3200,
                chips: CHIP + 1,
                exposures: 1,
                frames: 12,
                field: (ra, 89.77),
                ..Default::default()
            }
        };
        let w = st.wcs(0, CHIP);
        let (cr, cd) = w.pix_to_sky(
            (st.width as f64 + 1.0) / 2.0,
            (st.height as f64 + 1.0) / 2.0,
        );
        if dec > 80.0 {
            let (px, py) = w.sky_to_pix(0.0, 90.0).unwrap();
            let inside = px > 50.0
                && px < st.width as f64 - 50.0
                && py > 50.0
                && py < st.height as f64 - 50.0;
            assert!(inside, "pole at pixel ({px}, {py})");
        }
        let cat = tomoe_sim::gaia::GaiaSim {
            ra: cr,
            dec: cd,
            radius: if dec > 80.0 { 0.75 } else { 0.25 },
            density: 8000.0,
            g_min: 10.0,
            g_max: 17.0,
            seed: 3,
        }
        .generate();
        let csv = dir.path().join("gaia.csv");
        tomoe_sim::gaia::write_csv(&csv, &cat).unwrap();
        let gaia = dir.path().join("gaia");
        tomoe_lightcurve::gaia::import(&[csv], &gaia, 500, |_, _| {}).unwrap();
        let sim = tomoe_sim::cubes::CubeSim {
            stack: st.clone(),
            frames: 12,
            variables: 0,
            gaia: Some(cat.clone()),
            photometry: (24.3, 0.08, vec![0.0]),
            chip: CHIP,
            ..Default::default()
        };
        let out = sim.write(&dir.path().join("cubes")).unwrap();
        let cfg = tomoe_lightcurve::config::LightcurveConfig {
            root: dir.path().join("lc"),
            gaia: gaia.clone(),
            partition_rows: 300,
            ..Default::default()
        };
        let db = tomoe_lightcurve::db::LcDb::new(&cfg.root);
        let store = tomoe_lightcurve::gaia::GaiaStore::open(&gaia).unwrap();
        let night = sim.shutter().utc_start.observing_night();
        let rep = tomoe_lightcurve::ingest::ingest_night(
            &db,
            night,
            &[tomoe_lightcurve::ingest::Input::Cube(out.cube.clone())],
            Some(&store),
            &cfg,
            &|_, _| {},
        )
        .unwrap();
        assert_eq!(rep.calibrated, 1, "at ({ra}, {dec})");
        // Bright isolated stars carry their Gaia ids.
        let ids: std::collections::HashSet<i64> = {
            let q = LcRead::open(&cfg.root).unwrap();
            all_objects(q.version()).iter().map(|o| o.0).collect()
        };
        let bright: Vec<&tomoe_sim::cubes::Truth> = out
            .truth
            .iter()
            .filter(|t| t.frame == 0 && t.kind == "star" && t.mag < 15.5)
            .filter(|t| {
                !out.truth
                    .iter()
                    .any(|o| o.frame == 0 && o.id != t.id && (o.x - t.x).hypot(o.y - t.y) < 6.0)
            })
            .collect();
        assert!(
            bright.len() > 20,
            "{} bright stars at ({ra}, {dec})",
            bright.len()
        );
        let found = bright
            .iter()
            .filter(|t| ids.contains(&(t.id as i64)))
            .count();
        assert!(
            found as f64 >= 0.99 * bright.len() as f64,
            "{found} of {} at ({ra}, {dec})",
            bright.len()
        );
        // Cones on the seam / the pole: exactly the brute-force set.
        let q = LcRead::open(&cfg.root).unwrap();
        let objs = all_objects(q.version());
        let centre = if dec > 80.0 { (0.0, 90.0) } else { (0.0, cd) };
        for r in [0.02, 0.1] {
            let mut want: Vec<i64> = objs
                .iter()
                .filter(|o| sep_deg(centre, (o.1, o.2)) <= r)
                .map(|o| o.0)
                .collect();
            want.sort_unstable();
            let got = cone_ids(&q, centre.0, centre.1, r, &ObjectFilter::default());
            assert_eq!(got, want, "cone r={r} at {centre:?}");
            if r == 0.1 {
                assert!(!got.is_empty(), "no objects within {r}° of {centre:?}");
            }
        }
        // Objects on both sides of RA = 0 (the seam case).
        if dec < 80.0 {
            assert!(
                objs.iter().any(|o| o.1 < 1.0) && objs.iter().any(|o| o.1 > 359.0),
                "chip does not straddle RA = 0"
            );
        }
    }
}

/// `(exp_id, det_id)` of every row of a batch list.
fn chips_of(batches: &[tomoe_store::arrow::record_batch::RecordBatch]) -> Vec<(i64, i32)> {
    batches
        .iter()
        .flat_map(|b| {
            let e = b
                .column_by_name("exp_id")
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone();
            let d = b
                .column_by_name("det_id")
                .unwrap()
                .as_primitive::<tomoe_store::arrow::datatypes::Int32Type>()
                .clone();
            (0..b.num_rows()).map(move |i| (e.value(i), d.value(i)))
        })
        .collect()
}

fn rows(batches: &[tomoe_store::arrow::record_batch::RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

#[test]
fn fields_movers_calibration_and_the_blocklist_agree_with_brute_force() {
    let Ingested { root, _night: _n } = ingest_simulated();
    let q = LcRead::open(&root).unwrap();
    let cur = q.version().to_path_buf();
    // Calibration: all rows, or one exposure's.
    let all_cal = q.calibration(None).unwrap();
    let chips = chips_of(&all_cal);
    assert!(chips.len() >= 2, "{chips:?}");
    let (e0, d0) = chips[0];
    let one = chips_of(&q.calibration(Some(e0)).unwrap());
    assert_eq!(
        one,
        chips
            .iter()
            .copied()
            .filter(|c| c.0 == e0)
            .collect::<Vec<_>>()
    );
    assert!(q.calibration(Some(-5)).unwrap().is_empty());
    // A field: its sources are the static tracks the calibration row counts, on the chip.
    let f = q.field(e0, d0).unwrap();
    let cal = &f.calibration;
    let n_static = cal
        .column_by_name("n_static")
        .unwrap()
        .as_primitive::<tomoe_store::arrow::datatypes::Int32Type>()
        .value(0);
    assert_eq!(rows(&f.sources), n_static as usize);
    let (w, h) = (
        cal.column_by_name("width")
            .unwrap()
            .as_primitive::<tomoe_store::arrow::datatypes::Int32Type>()
            .value(0) as f32,
        cal.column_by_name("height")
            .unwrap()
            .as_primitive::<tomoe_store::arrow::datatypes::Int32Type>()
            .value(0) as f32,
    );
    for b in &f.sources {
        let x = b
            .column_by_name("x")
            .unwrap()
            .as_primitive::<tomoe_store::arrow::datatypes::Float32Type>();
        let y = b
            .column_by_name("y")
            .unwrap()
            .as_primitive::<tomoe_store::arrow::datatypes::Float32Type>();
        assert!((0..b.num_rows())
            .all(|i| (0.0..w).contains(&x.value(i)) && (0.0..h).contains(&y.value(i))));
    }
    assert!(chips_of(&f.sources).iter().all(|&c| c == (e0, d0)));
    // Its movers and singles: those of the whole catalogs with its exposure and chip.
    for (name, got) in [("movers", &f.movers), ("singles", &f.singles)] {
        let all = HatsCatalog::open(&cur.join(name))
            .unwrap()
            .read_all(None)
            .unwrap();
        let want = chips_of(&all).iter().filter(|&&c| c == (e0, d0)).count();
        assert_eq!(rows(got), want, "{name}");
    }
    assert!(matches!(
        q.field(e0, 999),
        Err(QueryError::UnknownField(_, 999))
    ));
    // Movers by time and region = brute force over every point.
    let all = HatsCatalog::open(&cur.join("movers"))
        .unwrap()
        .read_all(None)
        .unwrap();
    let pts: Vec<(f64, f64, f64)> = all
        .iter()
        .flat_map(|b| {
            let m = b
                .column_by_name("mjd")
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone();
            let r = b
                .column_by_name("ra")
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone();
            let d = b
                .column_by_name("dec")
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone();
            (0..b.num_rows()).map(move |i| (m.value(i), r.value(i), d.value(i)))
        })
        .collect();
    assert!(!pts.is_empty());
    let mut ts: Vec<f64> = pts.iter().map(|p| p.0).collect();
    ts.sort_by(f64::total_cmp);
    let (t0, t1) = (ts[ts.len() / 4], ts[3 * ts.len() / 4]);
    let p = pts[0];
    let want = pts
        .iter()
        .filter(|x| x.0 >= t0 && x.0 <= t1 && sep_deg((p.1, p.2), (x.1, x.2)) <= 0.2)
        .count();
    assert_eq!(
        rows(&q.movers(Some(t0), Some(t1), Some((p.1, p.2, 0.2))).unwrap()),
        want
    );
    assert_eq!(rows(&q.movers(None, None, None).unwrap()), pts.len());
    assert!(matches!(
        q.movers(Some(2.0), Some(1.0), None),
        Err(QueryError::BadParameter(_))
    ));
    assert!(matches!(
        q.movers(None, None, Some((1.0, 91.0, 0.1))),
        Err(QueryError::BadParameter(_))
    ));
    // The blocklist: a hidden chip disappears from every row-level answer.
    let id = {
        let b = &f.sources[0];
        b.column_by_name("object_id")
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(0)
    };
    let before = chips_of(&q.light_curve(id, None, None, None).unwrap());
    assert!(before.contains(&(e0, d0)));
    let hidden = std::sync::Arc::new(std::collections::HashSet::from([(e0, d0)]));
    let qh = LcRead::open(&root).unwrap().with_hidden(hidden);
    let after = chips_of(&qh.light_curve(id, None, None, None).unwrap());
    assert_eq!(
        after,
        before
            .iter()
            .copied()
            .filter(|&c| c != (e0, d0))
            .collect::<Vec<_>>()
    );
    assert!(matches!(
        qh.field(e0, d0),
        Err(QueryError::UnknownField(..))
    ));
    assert!(!chips_of(&qh.calibration(None).unwrap()).contains(&(e0, d0)));
    assert!(!chips_of(&qh.movers(None, None, None).unwrap()).contains(&(e0, d0)));

    // Publishing with the chip hidden: each object's count loses exactly its measurements there;
    // objects seen only there are gone.
    let n_det = |q: &LcRead| -> std::collections::HashMap<i64, i64> {
        HatsCatalog::open(&q.version().join("objects"))
            .unwrap()
            .read_all(Some(&["object_id", "n_det"]))
            .unwrap()
            .iter()
            .flat_map(|b| {
                let o = b
                    .column_by_name("object_id")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .clone();
                let n = b
                    .column_by_name("n_det")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .clone();
                (0..b.num_rows()).map(move |i| (o.value(i), n.value(i)))
            })
            .collect()
    };
    let before = n_det(&q);
    let mut there: std::collections::HashMap<i64, i64> = Default::default();
    for b in HatsCatalog::open(&cur.join("detections"))
        .unwrap()
        .read_all(Some(&["object_id", "exp_id", "det_id"]))
        .unwrap()
    {
        let o = b
            .column_by_name("object_id")
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone();
        for (i, c) in chips_of(std::slice::from_ref(&b)).into_iter().enumerate() {
            if c == (e0, d0) {
                *there.entry(o.value(i)).or_default() += 1;
            }
        }
    }
    assert!(!there.is_empty());
    let hidden = std::sync::Arc::new(std::collections::HashSet::from([(e0, d0)]));
    let cfg = tomoe_lightcurve::config::LightcurveConfig::default();
    let db = tomoe_lightcurve::db::LcDb::new(&root).with_hidden(hidden.clone());
    db.republish(cfg.partition_rows, cfg.object_radius_arcsec)
        .unwrap();
    assert_eq!(db.published_hidden(), *hidden);
    let after = n_det(&LcRead::open(&root).unwrap());
    for (id, n) in &before {
        let lost = there.get(id).copied().unwrap_or(0);
        if lost == *n {
            assert!(
                !after.contains_key(id),
                "object {id} only seen on the hidden chip"
            );
        } else {
            assert_eq!(after.get(id), Some(&(n - lost)), "object {id}");
        }
    }
}

#[test]
fn the_synthetic_benchmark_database_holds_the_same_rows_in_both_layouts() {
    use tomoe_lightcurve::synth::{self, SynthOptions};
    let dir = tempfile::tempdir().unwrap();
    let opt = SynthOptions {
        objects: 3000,
        per_object: 12,
        exposures: 3,
        radius_deg: 0.5,
        partition_rows: 1000,
        ..Default::default()
    };
    let r = synth::write(dir.path(), &opt, &|_, _| {}).unwrap();
    assert_eq!(r.detections, 36_000);
    assert!(r.partitions > 1, "{r:?}");
    let q = LcRead::open(&dir.path().join("db")).unwrap();
    let objs = synth::objects(&opt);
    // The seed's files: every detection once, Gaia columns left out.
    let mut seed: Vec<(i64, f64)> = Vec::new();
    for e in 0..3 {
        let p = dir
            .path()
            .join(format!("seed/detections/exposure-{e:04}.parquet"));
        for b in tomoe_store::obslog::read_parquet(&p, Some(&["object_id", "mjd"])).unwrap() {
            let o = b
                .column_by_name("object_id")
                .unwrap()
                .as_primitive::<Int64Type>();
            let m = b
                .column_by_name("mjd")
                .unwrap()
                .as_primitive::<Float64Type>();
            seed.extend((0..b.num_rows()).map(|i| (o.value(i), m.value(i))));
        }
    }
    assert_eq!(seed.len(), 36_000);
    for o in objs.iter().step_by(487) {
        let lc = q.light_curve(o.id, None, None, Some(&["mjd"])).unwrap();
        let got: Vec<f64> = lc
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Float64Type>().values().to_vec())
            .collect();
        let mut want: Vec<f64> = seed.iter().filter(|s| s.0 == o.id).map(|s| s.1).collect();
        want.sort_by(f64::total_cmp);
        assert_eq!(got, want, "object {}", o.id);
        // Cones: brute force over the objects.
        let mut want: Vec<i64> = objs
            .iter()
            .filter(|x| sep_deg((o.ra, o.dec), (x.ra, x.dec)) <= 0.02)
            .map(|x| x.id)
            .collect();
        want.sort_unstable();
        assert_eq!(
            cone_ids(&q, o.ra, o.dec, 0.02, &ObjectFilter::default()),
            want
        );
    }
    // Cones on partition edges: centred between the last object of one objects partition and
    // the first of the next (in `_healpix_29` order), so they reach into both.
    let cat = HatsCatalog::open(&dir.path().join("db/current/objects")).unwrap();
    let pixels = cat.pixels().to_vec();
    assert!(pixels.len() > 1, "{pixels:?}");
    let part = |h: u64| {
        pixels
            .iter()
            .position(|p| (p.range29().0..p.range29().1).contains(&h))
            .unwrap()
    };
    let mut edges = 0;
    for w in objs.windows(2) {
        if part(w[0].h29) == part(w[1].h29) {
            continue;
        }
        let (ra, dec) = tomoe_core::angle::direction_of({
            let (a, b) = (
                tomoe_core::angle::unit_vector(w[0].ra, w[0].dec),
                tomoe_core::angle::unit_vector(w[1].ra, w[1].dec),
            );
            [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
        })
        .unwrap();
        let r = sep_deg((w[0].ra, w[0].dec), (w[1].ra, w[1].dec)) / 2.0 + 0.01;
        let mut want: Vec<i64> = objs
            .iter()
            .filter(|x| sep_deg((ra, dec), (x.ra, x.dec)) <= r)
            .map(|x| x.id)
            .collect();
        want.sort_unstable();
        let got = cone_ids(&q, ra, dec, r, &ObjectFilter::default());
        assert!(got.contains(&w[0].id) && got.contains(&w[1].id));
        assert_eq!(got, want, "cone on the edge after object {}", w[0].id);
        edges += 1;
    }
    assert!(edges >= 1);
    // Gaia ids carry their HEALPix cell, so a light curve finds its partition directly.
    let g = objs.iter().find(|o| o.source_id.is_some()).unwrap();
    assert_eq!(
        g.id >> 35,
        tomoe_core::healpix::hash(12, g.ra, g.dec) as i64
    );
}
