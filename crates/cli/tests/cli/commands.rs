//! The one-shot commands: output, formats, and one-line errors with non-zero exit codes.

use crate::*;

#[test]
fn fits_header_on_sample_and_simulated_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        &[
            "fits",
            "header",
            fixture("flat.hdr").to_str().unwrap(),
            "--json",
        ],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exp_id"], 1020107);
    assert_eq!(v["frame_id"], "TMQ1202310020102010711");
    assert_eq!(v["n_frames"], 180);
    assert_eq!(v["pointing_valid"], false);
    assert_eq!(v["utc_start"], "2023-10-02T05:03:48.686329");

    run_ok(
        &[
            "sim",
            "stacks",
            "--out",
            "sim",
            "--exposures",
            "1",
            "--chips",
            "2",
            "--width",
            "64",
            "--height",
            "32",
            "--start",
            "2023-01-02T12:00:00",
        ],
        dir.path(),
    );
    let f = dir.path().join("sim/sTMQ1202301020086026211.fits");
    let out = run_ok(&["fits", "header", f.to_str().unwrap()], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("structure OK: 1 HDU(s)") && text.contains("checksums verified in 1"),
        "{text}"
    );
    // A damaged file is reported, not crashed on.
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&f, bytes).unwrap();
    let out = run_ok(&["fits", "header", f.to_str().unwrap()], dir.path());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("STRUCTURE PROBLEM"),
        "truncated file flagged"
    );
    let out = tomoe()
        .args(["fits", "header", "missing.fits"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.fits"));
}

#[test]
fn config_example_check_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(&["config", "example"], dir.path());
    std::fs::write(dir.path().join("tomoe.toml"), &out.stdout).unwrap();
    run_ok(&["config", "check"], dir.path());
    std::fs::write(dir.path().join("bad.toml"), "[archive]\nconcurency = 2\n").unwrap();
    let out = tomoe()
        .args(["--config", "bad.toml", "config", "check"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("concurency"),
        "{err}"
    );
    let out = tomoe()
        .args(["config", "check"])
        .env("TOMOE_ARCHIVE_CONCURRENCY", "0")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("concurrency"));
    // Bad usage is exit code 2 (clap).
    let out = tomoe()
        .args(["obslog", "sql"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn status_without_daemon_is_exit_3_or_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = tomoe()
        .args(["archive", "status"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "no status file at all");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no status"));
}

/// A Gaussian star of known flux on a flat sky, in a 3-frame cube with Tomo-e timing keys:
/// `tomoe phot` recovers the flux on every frame and the rolling-shutter time of its row.
#[test]
fn phot_recovers_flux_and_row_time() {
    use tomoe_fits::header::Card;
    use tomoe_fits::write::{image_f32_header, write_image_f32};
    let dir = tempfile::tempdir().unwrap();
    let (w, h, n) = (80usize, 60usize, 3usize);
    let (x0, y0, sky) = (40.3f64, 27.6f64, 100.0f32); // 0-based star centre
    let mut pix = Vec::with_capacity(w * h * n);
    for k in 0..n {
        let mut frame = vec![sky; w * h];
        tomoe_sim::render::add_gaussian_star(
            &mut frame,
            w,
            h,
            x0,
            y0,
            5000.0 * (k + 1) as f64,
            1.5,
        );
        pix.extend(frame);
    }
    let mut hdr = image_f32_header(&[w, h, n]);
    hdr.push(Card::string("UTC", "2022-01-04T11:51:21.738679", ""));
    hdr.push(Card::float("TFRAME", 0.5, 10, ""));
    hdr.push(Card::float("EXPTIME1", 0.499904, 10, ""));
    hdr.push(Card::float("TRLSTEP1", 0.00041475, 10, ""));
    let path = dir.path().join("cube.fits");
    let mut f = std::fs::File::create(&path).unwrap();
    write_image_f32(&mut f, &hdr, &pix).unwrap();
    drop(f);
    // 1-based (FITS) positions, as users give them.
    std::fs::write(
        dir.path().join("pos.csv"),
        format!("id,x,y\nstar,{},{}\n", x0 + 1.0, y0 + 1.0),
    )
    .unwrap();
    let out = run_ok(
        &[
            "phot",
            "cube.fits",
            "--positions",
            "pos.csv",
            "--all-frames",
            "--rms",
            "1",
        ],
        dir.path(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "id,x,y,frame,flux,flux_err,area,background,flags,time_utc,mjd"
    );
    assert_eq!(lines.len(), 4, "{text}");
    for (k, line) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let flux: f64 = f[4].parse().unwrap();
        // The 10.5 px aperture holds all but ~e^-24 of a σ = 1.5 px Gaussian; the sky is removed
        // by the clipped median (exactly 100 away from the star).
        assert!(
            (flux - 5000.0 * (k + 1) as f64).abs() < 0.05,
            "frame {k}: {flux}"
        );
        assert_eq!(f[8], "0");
        // Time: UTC + k × 0.5 + 27.6 × 0.00041475 + 0.249952 s (row of the centroid).
        let want = tomoe_core::UtcMicros::parse_iso("2022-01-04T11:51:21.738679")
            .unwrap()
            .add_seconds(k as f64 * 0.5 + 27.6 * 0.00041475 + 0.249952);
        assert_eq!(f[9], want.to_iso());
    }
    // The SourceExtractor mesh background gives the same flux on this flat sky.
    let out = run_ok(
        &[
            "phot",
            "cube.fits",
            "--positions",
            "pos.csv",
            "--background",
            "mesh",
        ],
        dir.path(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let flux: f64 = text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(4)
        .unwrap()
        .parse()
        .unwrap();
    // The star lifts the mesh mode by ~3e-4 ADU (x 346 px² of aperture): 1e-4 relative.
    assert!((flux - 5000.0).abs() < 0.5, "mesh background: {flux}");
    // Bad input is refused with the line number.
    std::fs::write(dir.path().join("bad.csv"), "x,y\n1,2\n3,abc\n").unwrap();
    let out = tomoe()
        .args(["phot", "cube.fits", "--positions", "bad.csv"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.csv:3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two Gaussian stars on a flat noisy sky with a TAN WCS: `tomoe extract` finds both at their
/// centres (1-based) with sky positions from the header WCS.
#[test]
fn extract_finds_stars_with_sky_positions() {
    use tomoe_fits::header::Card;
    use tomoe_fits::write::{image_f32_header, write_image_f32};
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (200usize, 150usize);
    let mut pix = vec![1000.0f32; w * h];
    // Deterministic "noise": a fixed pattern of ±3 ADU.
    for (k, p) in pix.iter_mut().enumerate() {
        *p += ((k * 7919) % 7) as f32 - 3.0;
    }
    tomoe_sim::render::add_gaussian_star(&mut pix, w, h, 50.25, 60.75, 20000.0, 1.6);
    tomoe_sim::render::add_gaussian_star(&mut pix, w, h, 140.5, 30.2, 15000.0, 1.6);
    let mut hdr = image_f32_header(&[w, h]);
    for c in [
        Card::string("CTYPE1", "RA---TAN", ""),
        Card::string("CTYPE2", "DEC--TAN", ""),
    ] {
        hdr.push(c);
    }
    for (k, v) in [
        ("CRPIX1", 100.5),
        ("CRPIX2", 75.5),
        ("CRVAL1", 50.0),
        ("CRVAL2", 30.0),
        ("CD1_1", -1.189 / 3600.0),
        ("CD2_2", 1.189 / 3600.0),
    ] {
        hdr.push(Card::parse(&format!("{k:<8}= {v:>20.12E}")));
    }
    let mut f = std::fs::File::create(dir.path().join("img.fits")).unwrap();
    write_image_f32(&mut f, &hdr, &pix).unwrap();
    drop(f);
    let out = run_ok(&["extract", "img.fits", "--thresh", "10"], dir.path());
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    let w_ = tomoe_core::wcs::Wcs::new(
        [100.5, 75.5],
        [50.0, 30.0],
        [[-1.189 / 3600.0, 0.0], [0.0, 1.189 / 3600.0]],
        None,
    )
    .unwrap();
    for (x0, y0) in [(51.25, 61.75), (141.5, 31.2)] {
        let r = rows
            .iter()
            .find(|r| (r[3] - x0).abs() < 0.05 && (r[4] - y0).abs() < 0.05)
            .unwrap_or_else(|| panic!("star at {x0},{y0}: {text}"));
        let (ra, dec) = w_.pix_to_sky(r[3], r[4]);
        assert!((r[10] - ra).abs() < 1e-6 && (r[11] - dec).abs() < 1e-6);
        assert_eq!(r[9], 0.0, "no flags");
    }
    // The same catalog as Parquet.
    run_ok(
        &["extract", "img.fits", "--thresh", "10", "-o", "src.parquet"],
        dir.path(),
    );
    let b =
        tomoe_store::obslog::read_parquet(&dir.path().join("src.parquet"), Some(&["xwin", "ra"]))
            .unwrap();
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    assert_eq!(b[0].schema().field(0).name(), "xwin");
    // And as a FITS binary table.
    run_ok(
        &["extract", "img.fits", "--thresh", "10", "-o", "src.fits"],
        dir.path(),
    );
    let layout = tomoe_fits::verify_file(&dir.path().join("src.fits")).unwrap();
    assert_eq!(layout.hdus[1].xtension.as_deref(), Some("BINTABLE"));
    assert_eq!(layout.hdus[1].naxes[1], 2, "two rows");
}

/// The README's first command: the demo runs end to end on this machine (private redis-server,
/// file server, announcer, daemon, observation log, photometry on a cube).
#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        &[
            "demo",
            "--dir",
            "d",
            "--exposures",
            "2",
            "--chips",
            "6",
            "--width",
            "200",
            "--height",
            "120",
            "--timeout",
            "120",
            "--serve-for",
            "0",
        ],
        dir.path(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // 2 × 6 stacks and 2 × 4 cubes.
    assert!(text.contains("Archived 20 files"), "{text}");
    assert!(
        text.contains("| 860262 |") && text.contains("| 860263 |"),
        "{text}"
    );
    assert!(
        text.contains("Light curves: the night") && text.contains(": 8 inputs"),
        "{text}"
    );
    assert!(text.contains("of 8 chips calibrated"), "{text}");
    // The database is published and the config written for follow-up commands points at it.
    let cur = dir.path().join("d/lightcurves/current");
    for t in ["detections", "objects", "movers", "singles"] {
        assert!(cur.join(t).join("hats.properties").exists(), "{t}");
    }
    let status = run_ok(&["--config", "d/tomoe.toml", "lc", "status"], dir.path());
    let status = String::from_utf8(status.stdout).unwrap();
    assert!(status.contains("objects"), "{status}");
    // A second run replaces the first (the directory is marked as a demo's).
    run_ok(
        &[
            "demo",
            "--dir",
            "d",
            "--exposures",
            "1",
            "--chips",
            "2",
            "--width",
            "200",
            "--height",
            "120",
            "--serve-for",
            "0",
        ],
        dir.path(),
    );
    // A directory that is not a demo's is refused.
    std::fs::create_dir_all(dir.path().join("mine")).unwrap();
    std::fs::write(dir.path().join("mine/data.txt"), "x").unwrap();
    let out = tomoe()
        .args(["demo", "--dir", "mine"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(dir.path().join("mine/data.txt").exists());
}

/// `tomoe wcs` on the simulated stack agrees with astropy's values in the committed reference
/// (crates/fits/tests/data/reference.json, made by scripts/reference/fits_reference.py).
#[test]
fn wcs_pix2sky_and_back_match_astropy() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fits/tests/data");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("reference.json")).unwrap()).unwrap();
    let s = &r["sim_stack"];
    let mut csv = String::from("x,y\n");
    for p in s["pixels_fits_1based"].as_array().unwrap() {
        csv.push_str(&format!("{},{}\n", p[0], p[1]));
    }
    std::fs::write(dir.path().join("pix.csv"), csv).unwrap();
    let file = data.join("sim_stack.fits");
    let out = run_ok(
        &[
            "wcs",
            "pix2sky",
            file.to_str().unwrap(),
            "--points",
            "pix.csv",
            "-o",
            "sky.csv",
        ],
        dir.path(),
    );
    assert!(out.status.success());
    let sky = std::fs::read_to_string(dir.path().join("sky.csv")).unwrap();
    for (i, line) in sky.lines().skip(1).enumerate() {
        let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        assert!(
            (f[2] - s["sky_deg"][i][0].as_f64().unwrap()).abs() < 1e-9
                && (f[3] - s["sky_deg"][i][1].as_f64().unwrap()).abs() < 1e-9,
            "{line}"
        );
    }
    let out = run_ok(
        &[
            "wcs",
            "sky2pix",
            file.to_str().unwrap(),
            "--points",
            "sky.csv",
        ],
        dir.path(),
    );
    let back = String::from_utf8(out.stdout).unwrap();
    for (i, line) in back.lines().skip(1).enumerate() {
        let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let p = &s["pixels_fits_1based"][i];
        assert!(
            (f[2] - p[0].as_f64().unwrap()).abs() < 1e-5
                && (f[3] - p[1].as_f64().unwrap()).abs() < 1e-5,
            "{line}"
        );
    }
    // A header without a WCS is a clear error.
    let out = tomoe()
        .args([
            "wcs",
            "pix2sky",
            fixture("stack.hdr").to_str().unwrap(),
            "--points",
            "pix.csv",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no celestial WCS"));
}

/// `tomoe xmatch` on CSV input, across RA = 0/360, with ids copied and bad input refused.
#[test]
fn xmatch_csv_pairs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.csv"),
        "name,ra,dec\ns1,359.99999,0.0\ns2,10.0,20.0\ns3,200.0,-89.99999\n",
    )
    .unwrap();
    // b1 is 0.072" from s1 across RA = 0; s2 has nothing within 1"; b3 is across the south pole.
    std::fs::write(
        dir.path().join("b.csv"),
        "id,ra,dec\nb1,0.00001,0.0\nb2,10.0,20.001\nb3,20.0,-89.99999\n",
    )
    .unwrap();
    let out = run_ok(
        &[
            "xmatch", "a.csv", "b.csv", "--radius", "1", "--id-a", "name", "--id-b", "id",
        ],
        dir.path(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "a_row,b_row,sep_arcsec,a_name,b_id");
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].starts_with("0,0,0.072") && lines[1].ends_with("s1,b1"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("2,2,") && lines[2].ends_with("s3,b3"),
        "{text}"
    );
    // The same B as a FITS binary table (columns found by TTYPEn, case-insensitively).
    use tomoe_fits::table::{write_table, TableColumn};
    let mut f = std::fs::File::create(dir.path().join("b.fits")).unwrap();
    write_table(
        &mut f,
        &[],
        "GAIA",
        &[
            (
                "ID",
                "",
                TableColumn::Str(vec!["b1".into(), "b2".into(), "b3".into()]),
            ),
            ("RA", "deg", TableColumn::F64(vec![0.00001, 10.0, 20.0])),
            ("DEC", "deg", TableColumn::F64(vec![0.0, 20.001, -89.99999])),
        ],
    )
    .unwrap();
    drop(f);
    let out = run_ok(
        &[
            "xmatch", "a.csv", "b.fits", "--radius", "1", "--id-a", "name", "--id-b", "id",
        ],
        dir.path(),
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
    std::fs::write(dir.path().join("bad.csv"), "ra,dec\n1,95\n").unwrap();
    let out = tomoe()
        .args(["xmatch", "bad.csv", "b.csv"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside [-90, 90]"));
}

/// `tomoe sim gaia`: a Gaia-like catalogue in the requested format, readable back.
#[test]
fn sim_gaia_writes_a_gaia_like_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        &[
            "sim",
            "gaia",
            "--ra",
            "359.8",
            "--dec",
            "-10",
            "--radius",
            "0.4",
            "--density",
            "2000",
            "-o",
            "g.csv",
        ],
        dir.path(),
    );
    let text = std::fs::read_to_string(dir.path().join("g.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..3], ["source_id", "ra", "dec"]);
    assert!(
        header.contains(&"pmra")
            && header.contains(&"phot_g_mean_mag")
            && header.contains(&"bp_rp")
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    // 2000 / deg² over 0.503 deg².
    assert!((900..1120).contains(&rows.len()), "{} rows", rows.len());
    // The cone crosses RA = 0: sources on both sides.
    assert!(rows.iter().any(|r| r[1] > 359.0) && rows.iter().any(|r| r[1] < 1.0));
    run_ok(
        &["sim", "gaia", "--radius", "0.2", "-o", "g.parquet"],
        dir.path(),
    );
    assert!(dir.path().join("g.parquet").metadata().unwrap().len() > 1000);
    let bad = tomoe()
        .args(["sim", "gaia", "--radius", "-1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--radius"));
}
