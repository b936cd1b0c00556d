//! Tracks on a simulated cube with truth: per-frame detection, ±3 px linking, and the
//! classification of stars (static), the asteroid (moving, rate within errors), cosmic rays
//! and the streak (single events).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use tomoe_core::background::{BackgroundMap, BackgroundParams};
use tomoe_core::detect::{detect, DetectParams};
use tomoe_core::phot::Image;
use tomoe_core::timing::RowOrder;
use tomoe_core::tracks::{link, Detection, TrackKind, TrackParams};
use tomoe_fits::{ImageFile, TomoeHeader};
use tomoe_sim::cubes::{CubeSim, Truth};
use tomoe_sim::StackSim;

#[test]
fn tracks_classify_stars_asteroid_cosmics_and_streak() {
    let dir = tempfile::tempdir().unwrap();
    let sim = CubeSim {
        stack: StackSim {
            width: 900,
            height: 600,
            chips: 1,
            exposures: 1,
            ..Default::default()
        },
        stars: 250,
        variables: 0,
        cosmics: 4,
        seed: 11,
        ..Default::default()
    };
    let out = sim.write(dir.path()).unwrap();
    let mut cube = ImageFile::open(&out.cube).unwrap();
    let (w, h, n) = (cube.width(), cube.height(), cube.frames());
    let hdr = TomoeHeader::from_header(&cube.header, None);
    let sh = hdr.rolling_shutter(h, RowOrder::Ascending).unwrap();
    let t0 = sh.mid_time(0, 0.0);
    let mut frames: Vec<Vec<Detection>> = Vec::new();
    let mut buf = Vec::new();
    for k in 0..n {
        cube.read_frame(k, &mut buf).unwrap();
        let im = Image::new(&buf, w, h);
        let m = BackgroundMap::estimate(im, &BackgroundParams::default());
        let d = detect(
            im,
            &m.back_image(),
            &m.rms_image(),
            &DetectParams::default(),
        );
        frames.push(
            d.iter()
                .map(|s| Detection {
                    x: s.xwin,
                    y: s.ywin,
                    t: (sh.mid_time(k as u32, s.ywin).0 - t0.0) as f64 * 1e-6,
                })
                .collect(),
        );
    }
    let tracks = link(&frames, &TrackParams::default());
    // Which track holds the detection nearest to (x, y) in frame k (within r px)?
    let mut owner: HashMap<(usize, usize), usize> = HashMap::new();
    for t in &tracks {
        for &p in &t.points {
            owner.insert(p, t.id);
        }
    }
    let find = |k: usize, x: f64, y: f64, r: f64| -> Option<usize> {
        frames[k]
            .iter()
            .enumerate()
            .filter(|(_, d)| (d.x - x).hypot(d.y - y) < r)
            .min_by(|a, b| {
                (a.1.x - x)
                    .hypot(a.1.y - y)
                    .total_cmp(&(b.1.x - x).hypot(b.1.y - y))
            })
            .map(|(i, _)| owner[&(k, i)])
    };
    let truth =
        |kind: &str| -> Vec<&Truth> { out.truth.iter().filter(|t| t.kind == kind).collect() };

    // The asteroid: one moving track, its rate within errors of the truth.
    let ast = truth("asteroid");
    let ids: Vec<usize> = ast
        .iter()
        .filter_map(|a| find(a.frame as usize, a.x, a.y, 1.5))
        .collect();
    assert!(ids.len() >= 10, "asteroid detected in {} frames", ids.len());
    let id = ids[0];
    assert!(
        ids.iter().all(|&i| i == id),
        "asteroid split over tracks {ids:?}"
    );
    let t = &tracks[id];
    assert_eq!(t.kind, TrackKind::Moving, "{t:?}");
    let m = t.motion.unwrap();
    // Truth: rate per frame / TFRAME, seen at row times (the row changes with y).
    let tt = |a: &Truth| (a.time.0 - t0.0) as f64 * 1e-6;
    let (a0, a1) = (ast[0], ast[ast.len() - 1]);
    let (vx, vy) = (
        (a1.x - a0.x) / (tt(a1) - tt(a0)),
        (a1.y - a0.y) / (tt(a1) - tt(a0)),
    );
    assert!(
        (m.vx - vx).abs() < 4.0 * m.v_err && (m.vy - vy).abs() < 4.0 * m.v_err,
        "asteroid rate ({:.4}, {:.4}) ± {:.4} px/s vs truth ({vx:.4}, {vy:.4})",
        m.vx,
        m.vy,
        m.v_err
    );

    // Stars: isolated bright ones are static tracks at their mean position.
    let mut stars: HashMap<u64, Vec<&Truth>> = HashMap::new();
    for s in truth("star") {
        stars.entry(s.id).or_default().push(s);
    }
    let mean = |v: &[&Truth]| {
        (
            v.iter().map(|t| t.x).sum::<f64>() / v.len() as f64,
            v.iter().map(|t| t.y).sum::<f64>() / v.len() as f64,
        )
    };
    let noise_ap = ((sim.sky / sim.gain + (sim.read_noise / sim.gain).powi(2))
        * std::f64::consts::PI
        * 10.5f64.powi(2))
    .sqrt();
    let (mut checked, mut good) = (0, 0);
    for (sid, v) in &stars {
        let (x, y) = mean(v);
        let isolated = stars.iter().all(|(j, u)| {
            j == sid || {
                let (ux, uy) = mean(u);
                (ux - x).hypot(uy - y) > 12.0
            }
        }) && x > 10.0
            && y > 10.0
            && x < w as f64 - 10.0
            && y < h as f64 - 10.0
            && (x - w as f64 * 0.3).hypot(y - h as f64 * 0.6) > 30.0;
        if v[0].flux / noise_ap < 10.0 || !isolated {
            continue;
        }
        checked += 1;
        let Some(tid) = find(0, x, y, 1.5).or_else(|| find(1, x, y, 1.5)) else {
            continue;
        };
        let t = &tracks[tid];
        if t.kind == TrackKind::Static && t.points.len() >= 10 && (t.x - x).hypot(t.y - y) < 0.3 {
            good += 1;
        } else {
            eprintln!("star {sid} at ({x:.1}, {y:.1}): {t:?}");
        }
    }
    eprintln!(
        "{} tracks; asteroid ({:.4}, {:.4}) ± {:.4} px/s vs ({vx:.4}, {vy:.4}); {good}/{checked} stars",
        tracks.len(),
        m.vx,
        m.vy,
        m.v_err
    );
    assert!(checked >= 15, "only {checked} isolated bright stars");
    assert!(
        good as f64 >= 0.99 * checked as f64,
        "{good} of {checked} bright stars are static tracks at their position"
    );
    let movers = tracks
        .iter()
        .filter(|t| t.kind == TrackKind::Moving)
        .count();
    assert_eq!(movers, 1, "only the asteroid moves");

    // Cosmic rays and the streak: single events.
    let star_near = |x: f64, y: f64| {
        stars.values().any(|v| {
            let (sx, sy) = mean(v);
            (sx - x).hypot(sy - y) < 8.0
        })
    };
    let mut cosmics = 0;
    for c in truth("cosmic") {
        if star_near(c.x, c.y) {
            continue;
        }
        if let Some(tid) = find(c.frame as usize, c.x + 0.2, c.y, 1.5) {
            cosmics += 1;
            assert_eq!(tracks[tid].kind, TrackKind::Single, "cosmic {c:?}");
        }
    }
    eprintln!("{cosmics} cosmic rays detected, all single");
    assert!(cosmics >= 20, "only {cosmics} cosmic rays detected");
    let s = truth("streak")[0];
    let k = s.frame as usize;
    let on_streak: Vec<usize> = frames[k]
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            // Along the streak's line from (0.2 w, 0.2 h) with slope 0.8/1.5.
            let (x0, y0) = (w as f64 * 0.2, h as f64 * 0.2);
            let u = d.x - x0;
            (-2.0..62.0).contains(&u)
                && (d.y - y0 - u * 0.8 / 1.5).abs() < 1.5
                && !star_near(d.x, d.y)
        })
        .map(|(i, _)| owner[&(k, i)])
        .collect();
    assert!(!on_streak.is_empty(), "streak not detected");
    for id in on_streak {
        assert_eq!(tracks[id].kind, TrackKind::Single, "{:?}", tracks[id]);
    }
}
