//! End to end on a simulated cube with truth: background, detection on the frame sum, exact
//! apertures on every frame, rolling-shutter times.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use tomoe_core::background::{BackgroundMap, BackgroundParams};
use tomoe_core::detect::{detect, DetectParams};
use tomoe_core::phot::{sum_circle, CircleOptions, Image, Noise};
use tomoe_core::timing::RowOrder;
use tomoe_fits::{ImageFile, TomoeHeader};
use tomoe_sim::cubes::CubeSim;
use tomoe_sim::StackSim;

#[test]
fn cube_pipeline_recovers_truth() {
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
        variables: 6,
        seed: 5,
        ..Default::default()
    };
    let out = sim.write(dir.path()).unwrap();
    let mut cube = ImageFile::open(&out.cube).unwrap();
    let (w, h, n) = (cube.width(), cube.height(), cube.frames());
    assert_eq!((w, h, n), (900, 600, 12));
    let mut frames = Vec::new();
    let mut sum = vec![0.0f32; w * h];
    for k in 0..n {
        let mut buf = Vec::new();
        cube.read_frame(k, &mut buf).unwrap();
        for (s, v) in sum.iter_mut().zip(&buf) {
            *s += *v;
        }
        frames.push(buf);
    }
    let bkg = BackgroundMap::estimate(Image::new(&sum, w, h), &BackgroundParams::default());
    let frame_maps: Vec<(Vec<f32>, Vec<f32>)> = frames
        .iter()
        .map(|f| {
            let m = BackgroundMap::estimate(Image::new(f, w, h), &BackgroundParams::default());
            (m.back_image(), m.rms_image())
        })
        .collect();
    let det = detect(
        Image::new(&sum, w, h),
        &bkg.back_image(),
        &bkg.rms_image(),
        &DetectParams::default(),
    );

    // Truth per star: mean position over frames (what the sum shows), flux per frame, times.
    let mut stars: HashMap<u64, Vec<&tomoe_sim::cubes::Truth>> = HashMap::new();
    for t in out
        .truth
        .iter()
        .filter(|t| t.kind == "star" || t.kind == "variable")
    {
        stars.entry(t.id).or_default().push(t);
    }
    let mean_pos = |v: &[&tomoe_sim::cubes::Truth]| {
        (
            v.iter().map(|t| t.x).sum::<f64>() / v.len() as f64,
            v.iter().map(|t| t.y).sum::<f64>() / v.len() as f64,
        )
    };
    let others: Vec<(f64, f64)> = out
        .truth
        .iter()
        .filter(|t| t.kind == "asteroid" || t.kind == "streak")
        .map(|t| (t.x, t.y))
        .collect();
    // Stars with S/N > 10 per frame (flux over the aperture noise), isolated from other objects.
    let noise_ap = ((sim.sky / sim.gain + (sim.read_noise / sim.gain).powi(2))
        * std::f64::consts::PI
        * 10.5f64.powi(2))
    .sqrt();
    let mut checked = 0;
    let (mut found, mut pos_err) = (0, Vec::new());
    let mut pulls = Vec::new();
    for (id, v) in &stars {
        let (x, y) = mean_pos(v);
        let snr = v[0].flux / noise_ap;
        let isolated = stars.iter().all(|(j, u)| {
            j == id || {
                let (ux, uy) = mean_pos(u);
                (ux - x).hypot(uy - y) > 22.0
            }
        }) && others.iter().all(|(ox, oy)| (ox - x).hypot(oy - y) > 25.0)
            && x > 12.0
            && y > 12.0
            && x < w as f64 - 13.0
            && y < h as f64 - 13.0;
        if snr < 10.0 || !isolated {
            continue;
        }
        checked += 1;
        let Some(d) = det.iter().find(|d| (d.xwin - x).hypot(d.ywin - y) < 1.0) else {
            continue;
        };
        found += 1;
        pos_err.push((d.xwin - x).hypot(d.ywin - y));
        // Photometry on every frame at the detected position, mesh background per frame.
        for (k, f) in frames.iter().enumerate() {
            let t = v.iter().find(|t| t.frame as usize == k).unwrap();
            let hit = out.truth.iter().any(|c| {
                c.kind == "cosmic"
                    && c.frame as usize == k
                    && (c.x - d.xwin).hypot(c.y - d.ywin) < 12.0
            });
            if hit {
                continue;
            }
            let (b, r) = &frame_maps[k];
            let m = sum_circle(
                Image::new(f, w, h),
                Some(b),
                Some(r),
                d.xwin,
                d.ywin,
                &CircleOptions::default(),
                Noise {
                    rms: 0.0,
                    gain: sim.gain,
                },
            );
            pulls.push((m.flux - t.flux) / m.flux_err);
        }
    }
    eprintln!(
        "{checked} isolated stars with S/N > 10, {} frame measurements",
        pulls.len()
    );
    assert!(checked >= 15, "only {checked} isolated bright stars");
    let recall = found as f64 / checked as f64;
    assert!(recall >= 0.99, "recovered {found} of {checked}");
    pos_err.sort_by(f64::total_cmp);
    let med = pos_err[pos_err.len() / 2];
    assert!(med < 0.1, "median position error {med:.3} px");
    let within = pulls.iter().filter(|p| p.abs() < 3.0).count() as f64 / pulls.len() as f64;
    let mean = pulls.iter().sum::<f64>() / pulls.len() as f64;
    let sd =
        (pulls.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (pulls.len() - 1) as f64).sqrt();
    assert!(within >= 0.97, "fluxes within 3σ of the truth: {within:.3}");
    assert!(
        mean.abs() < 0.3 && (0.7..1.3).contains(&sd),
        "flux pulls: mean {mean:.3}, sd {sd:.3} (should be ~0, ~1)"
    );

    // Times: the model built from the cube's own header reproduces the truth exactly.
    let t = TomoeHeader::from_header(&cube.header, None);
    let sh = t.rolling_shutter(h, RowOrder::Ascending).unwrap();
    for tr in &out.truth {
        assert_eq!(sh.mid_time(tr.frame, tr.y), tr.time, "{tr:?}");
    }
    assert_eq!(t.n_frames, Some(12));
    assert_eq!(t.fmttype.as_deref(), Some("TOMOE-IMAGE-CUBE"));
}
