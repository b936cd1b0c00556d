//! The demo serves the archive pages; a real headless Chromium (Debian `chromium`, driven by
//! playwright-core from npm: tests/browser) searches a column, then opens a light-curve field
//! page (marks at the simulated stars' pixels), hovers and clicks a source and finds its plotted
//! light curve; the blocklist CLI hides exposures from the running server, archive and light
//! curves alike; Ctrl-C stops the demo cleanly.

use crate::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Minimal HTTP/1.0 GET over loopback: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

fn json_get(addr: &str, path: &str) -> serde_json::Value {
    let (s, b) = http_get(addr, path);
    assert_eq!(s, 200, "{path}: {b}");
    serde_json::from_str(&b).unwrap()
}

#[test]
fn demo_serves_pages_a_browser_searches_and_the_blocklist_applies() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = tomoe()
        .args([
            "demo",
            "--dir",
            "d",
            "--exposures",
            "5",
            "--chips",
            "2",
            "--width",
            "300",
            "--height",
            "200",
            "--listen",
            "127.0.0.1:0",
            "--serve-for",
            "600",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the demo printed no URL");
        if let Some(rest) = line.strip_prefix("Archive pages: http://") {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    let years = json_get(&addr, "/api/years");
    let year = years[0]["year"].as_i64().unwrap();
    assert_eq!(years[0]["exposures"].as_u64(), Some(5), "{years}");
    // Previews were made at ingest.
    let one = json_get(&addr, "/api/exposures?length=1");
    let exp = one["rows"][0]["exp_id"].as_i64().unwrap();
    let files = json_get(&addr, &format!("/api/exposures/{exp}"));
    let rel = files["files"][0]["path"].as_str().unwrap().to_string();
    assert!(dir
        .path()
        .join("d/previews")
        .join(format!("{rel}.thumb.png"))
        .is_file());

    // A real browser types into the object column's search box.
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shots).unwrap();
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/browser/archive.mjs");
    let out = std::process::Command::new("node")
        .arg(&script)
        .args([
            &format!("http://{addr}"),
            &year.to_string(),
            "dith2",
            shots.to_str().unwrap(),
        ])
        .output()
        .expect("node (installed with the test command)");
    assert!(
        out.status.success(),
        "browser test failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let before: Vec<String> = serde_json::from_value(v["before"].clone()).unwrap();
    let after: Vec<String> = serde_json::from_value(v["after"].clone()).unwrap();
    assert_eq!(before.len(), 5, "{v}");
    assert!(!after.is_empty() && after.len() < before.len(), "{v}");
    assert!(
        after.iter().all(|o| o.to_lowercase().contains("dith2")),
        "{v}"
    );
    assert_eq!(
        v["external"],
        serde_json::json!([]),
        "the page loaded something from outside"
    );
    assert!(shots.join("archive-search.png").is_file());

    // The light-curve field page in the browser.
    let dith2: Vec<i64> = json_get(&addr, "/api/exposures?q=dith2&length=100")["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["exp_id"].as_i64().unwrap())
        .collect();
    assert!(!dith2.is_empty());
    let blocked_object = check_field_page(&addr, dir.path(), &shots, &dith2);
    let curve_exps = |addr: &str| -> Vec<i64> {
        let (status, body) = http_get(
            addr,
            &format!(
                "/api/lc/objects/{}?format=csv&columns=exp_id",
                blocked_object.0
            ),
        );
        assert_eq!(status, 200, "{body}");
        body.lines()
            .skip(1)
            .map(|l| l.trim().parse().unwrap())
            .collect()
    };
    let before_block: Vec<i64> = curve_exps(&addr);
    assert!(before_block.iter().any(|e| dith2.contains(e)));

    // The blocklist CLI hides the exposure from the running server (next refresh, 1 s).
    let cfg = dir.path().join("d/tomoe.toml");
    let cfg = cfg.to_str().unwrap();
    run_ok(
        &[
            "--config",
            cfg,
            "blocklist",
            "add",
            "--object",
            "*_dith2",
            "--reason",
            "test",
            "--author",
            "ci",
        ],
        dir.path(),
    );
    let t0 = Instant::now();
    loop {
        let v = json_get(&addr, "/api/exposures?q=dith2");
        if v["filtered"].as_u64() == Some(0) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "still visible: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // … and from the light-curve surfaces: its fields are gone, light curves lose its rows.
    let (e, d) = blocked_object.1;
    let (status, body) = http_get(&addr, &format!("/api/lc/fields/{e}/{d}"));
    assert_eq!(status, 404, "{body}");
    let cal = json_get(&addr, "/api/lc/calibration?format=json");
    assert!(
        cal.as_array()
            .unwrap()
            .iter()
            .all(|r| !dith2.contains(&r["exp_id"].as_i64().unwrap())),
        "{cal}"
    );
    let kept: Vec<i64> = before_block
        .iter()
        .copied()
        .filter(|e| !dith2.contains(e))
        .collect();
    assert_eq!(curve_exps(&addr), kept);
    // `tomoe lc publish` recomputes the objects' statistics without the hidden exposures.
    let first = json_get(
        &addr,
        &format!(
            "/api/lc/objects/{}?columns=ra,dec&format=json",
            blocked_object.0
        ),
    );
    let (ra, dec) = (
        first[0]["ra"].as_f64().unwrap(),
        first[0]["dec"].as_f64().unwrap(),
    );
    let n_det_of = |addr: &str| {
        let v = json_get(
            addr,
            &format!("/api/lc/cone?ra={ra}&dec={dec}&radius=0.002&format=json"),
        );
        v.as_array()
            .unwrap()
            .iter()
            .find(|o| o["object_id"].as_i64().unwrap().to_string() == blocked_object.0)
            .map(|o| o["n_det"].as_i64().unwrap())
    };
    assert_eq!(n_det_of(&addr), Some(before_block.len() as i64));
    let published = run_ok(&["--config", cfg, "lc", "publish"], dir.path());
    assert!(String::from_utf8_lossy(&published.stdout).contains("hidden chips left out"));
    assert_eq!(n_det_of(&addr), Some(kept.len() as i64));
    let list = run_ok(&["--config", cfg, "blocklist", "list"], dir.path());
    assert!(String::from_utf8_lossy(&list.stdout).contains("object *_dith2"));
    run_ok(
        &[
            "--config",
            cfg,
            "blocklist",
            "remove",
            "1",
            "--author",
            "ci",
        ],
        dir.path(),
    );
    let audit = run_ok(&["--config", cfg, "blocklist", "audit"], dir.path());
    assert_eq!(String::from_utf8_lossy(&audit.stdout).lines().count(), 2);
    let bad = tomoe()
        .args([
            "--config",
            cfg,
            "blocklist",
            "add",
            "--cone",
            "10,95,1",
            "--reason",
            "r",
            "--author",
            "a",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("dec 95"));

    // Ctrl-C: the demo stops serving and exits cleanly.
    let status = crate::interrupt(&mut demo, "demo", Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
}

/// Mean 0-based position of each truth object of `kinds` in a simulated cube's truth CSV
/// (which holds FITS 1-based positions, per frame).
fn truth_positions(path: &std::path::Path, kinds: &[&str]) -> Vec<(String, f64, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut sums: std::collections::BTreeMap<String, (f64, f64, f64)> = Default::default();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if !kinds.contains(&f[0]) {
            continue;
        }
        let e = sums.entry(f[1].to_string()).or_default();
        e.0 += f[3].parse::<f64>().unwrap() - 1.0;
        e.1 += f[4].parse::<f64>().unwrap() - 1.0;
        e.2 += 1.0;
    }
    sums.into_iter()
        .map(|(id, (x, y, n))| (id, x / n, y / n))
        .collect()
}

/// Opens the field page of a field of an exposure in `blockable` in Chromium and checks the marks
/// against the simulation's truth and the preview's geometry; clicks a Gaia source and checks its
/// plotted light curve. Returns a Gaia object of that field and the field.
fn check_field_page(
    addr: &str,
    dir: &std::path::Path,
    shots: &std::path::Path,
    blockable: &[i64],
) -> (String, (i64, i64)) {
    let cal = json_get(addr, "/api/lc/calibration?format=json");
    let row = cal
        .as_array()
        .unwrap()
        .iter()
        .find(|r| blockable.contains(&r["exp_id"].as_i64().unwrap()))
        .unwrap_or_else(|| panic!("no field of {blockable:?} in {cal}"))
        .clone();
    let (e, d) = (
        row["exp_id"].as_i64().unwrap(),
        row["det_id"].as_i64().unwrap(),
    );
    let (w, h) = (
        row["width"].as_f64().unwrap(),
        row["height"].as_f64().unwrap(),
    );
    let frame_id = row["frame_id"].as_str().unwrap();
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/field.mjs");
    let out = std::process::Command::new("node")
        .arg(&script)
        .args([
            &format!("http://{addr}"),
            &e.to_string(),
            &d.to_string(),
            shots.to_str().unwrap(),
        ])
        .output()
        .expect("node (installed with the test command)");
    assert!(
        out.status.success(),
        "field browser test failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["external"], serde_json::json!([]), "{v}");
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
    // Where a chip pixel is on the screen: the preview bins f × f blocks (f from the preview's
    // 1000-pixel limit) and shows FITS row 1 at the bottom.
    let img = &v["image"];
    let f = (w.max(h) / 1000.0).ceil().max(1.0);
    let (vw, vh) = ((w / f).ceil() * f, (h / f).ceil() * f);
    assert_eq!(img["naturalWidth"].as_f64().unwrap(), vw / f, "{img}");
    let screen = |x: f64, y: f64| {
        (
            img["left"].as_f64().unwrap() + (x + 0.5) / vw * img["width"].as_f64().unwrap(),
            img["top"].as_f64().unwrap() + (vh - y - 0.5) / vh * img["height"].as_f64().unwrap(),
        )
    };
    let marks = v["marks"].as_array().unwrap();
    let truth = dir.join(format!("d/cubes/r{frame_id}.truth.csv"));
    let stars = truth_positions(&truth, &["star", "variable"]);
    let extras = truth_positions(&truth, &["extra"]);
    let (mut circles, mut crosses, mut on_truth) = (0, 0, 0);
    for m in marks {
        let (x, y) = (m["x"].as_f64().unwrap(), m["y"].as_f64().unwrap());
        let (sx, sy) = screen(x, y);
        let (cx, cy) = (m["cx"].as_f64().unwrap(), m["cy"].as_f64().unwrap());
        assert!(
            (cx - sx).abs() <= 1.0 && (cy - sy).abs() <= 1.0,
            "{m} drawn at ({cx}, {cy}), expected ({sx}, {sy})"
        );
        if m["kind"] == "gaia" {
            circles += 1;
            assert_eq!(
                (m["shape"].as_str(), m["stroke"].as_str()),
                (Some("circle"), Some("#1f6fff")),
                "{m}"
            );
            // A Gaia object's id is its source_id: the simulated star of that id is there.
            let id = m["object"].as_str().unwrap();
            if let Some(t) = stars.iter().find(|t| t.0 == id) {
                assert!(
                    (t.1 - x).abs() < 1.0 && (t.2 - y).abs() < 1.0,
                    "{m} vs truth {t:?}"
                );
                on_truth += 1;
            }
        } else {
            crosses += 1;
            assert_eq!(
                (m["shape"].as_str(), m["stroke"].as_str()),
                (Some("path"), Some("#1a9e3a")),
                "{m}"
            );
        }
    }
    assert!(circles >= 5, "{circles} Gaia marks: {v}");
    assert!(
        on_truth * 10 >= circles * 9,
        "{on_truth} of {circles} Gaia marks on their star"
    );
    // Stars that are not in the catalogue are crosses at their position (the bright ones at least
    // are detected).
    assert!(crosses >= 1, "no green cross: {v}");
    let near_cross = |t: &(String, f64, f64)| {
        marks.iter().any(|m| {
            m["kind"] == "nongaia"
                && (m["x"].as_f64().unwrap() - t.1).abs() < 1.5
                && (m["y"].as_f64().unwrap() - t.2).abs() < 1.5
        })
    };
    assert!(
        extras.iter().any(near_cross),
        "no cross on any of {extras:?}"
    );
    // Hover, click, plotted light curve.
    let url = v["object_url"].as_str().unwrap();
    let id = url.rsplit('/').next().unwrap().to_string();
    assert!(
        v["tip"].as_str().unwrap().contains(&format!("object {id}")),
        "{v}"
    );
    let curve = json_get(
        addr,
        &format!("/api/lc/objects/{id}?format=json&columns=mag"),
    );
    let calibrated = curve
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["mag"].is_number())
        .count();
    assert!(calibrated > 0);
    assert_eq!(v["plotted"].as_u64(), Some(calibrated as u64), "{v}");
    assert_eq!(v["plot_points"].as_u64(), Some(calibrated as u64), "{v}");
    assert!(v["inst_title"].as_str().unwrap().contains("instrumental"));
    assert!(shots.join("field.png").is_file() && shots.join("object.png").is_file());
    (id, (e, d))
}
