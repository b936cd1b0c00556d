//! `tomoe gaia …` and `tomoe lc …` as a user runs them: simulated Gaia store, cubes and
//! catalogues; bad inputs refused with what and where; the resident service on a real
//! redis-server ingesting what the archive logged, and stopping cleanly on SIGINT.

use crate::{run_ok, tomoe};
use std::path::Path;
use std::time::{Duration, Instant};

/// A small demo night in `d/demo` (archive with cubes in its log, light curves, tomoe.toml).
fn small_demo(d: &Path) {
    run_ok(
        &[
            "demo",
            "--dir",
            "demo",
            "--exposures",
            "1",
            "--chips",
            "3",
            "--cube-chips",
            "2",
            "--width",
            "400",
            "--height",
            "250",
            "--serve-for",
            "0",
        ],
        d,
    );
}

fn sim_night(dir: &Path) {
    run_ok(
        &[
            "sim",
            "gaia",
            "--ra",
            "50.5",
            "--dec",
            "56.4",
            "--radius",
            "4",
            "--density",
            "1500",
            "--g-max",
            "17",
            "--hats",
            "gaia",
        ],
        dir,
    );
    run_ok(
        &[
            "sim",
            "cubes",
            "--out",
            "cubes",
            "--gaia",
            "gaia",
            "--exposures",
            "1",
            "--chips",
            "3",
            "--width",
            "500",
            "--height",
            "300",
            "--start",
            "2023-01-02T12:00:00",
        ],
        dir,
    );
    std::fs::write(
        dir.join("tomoe.toml"),
        "[lightcurve]\nroot = \"lc\"\ngaia = \"gaia\"\n",
    )
    .unwrap();
}

#[test]
fn gaia_import_cone_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(
        &[
            "sim",
            "gaia",
            "--radius",
            "0.3",
            "--density",
            "2000",
            "-o",
            "g.csv",
        ],
        d,
    );
    let out = run_ok(
        &[
            "gaia",
            "import",
            "g.csv",
            "-o",
            "store",
            "--max-rows",
            "100",
        ],
        d,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("imported") && err.contains("partitions"),
        "{err}"
    );
    let out = run_ok(
        &[
            "gaia", "cone", "--ra", "50.5", "--dec", "59.42", "--radius", "0.1", "--store", "store",
        ],
        d,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("_healpix_29,source_id,ra,dec"), "{text}");
    assert!(text.lines().count() > 20, "{text}");
    // A file without a required column is refused, naming the file and the column.
    std::fs::write(d.join("bad.csv"), "source_id,ra,dec\n1,2,3\n").unwrap();
    let out = tomoe()
        .args(["gaia", "import", "bad.csv", "-o", "store"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.csv") && err.contains("phot_g_mean_mag"),
        "{err}"
    );
    // The store is untouched by the failed import.
    let out = run_ok(
        &[
            "gaia", "cone", "--ra", "50.5", "--dec", "59.42", "--radius", "0.1", "--store", "store",
        ],
        d,
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
    // Nonsense cone.
    let out = tomoe()
        .args([
            "gaia", "cone", "--ra", "1", "--dec", "95", "--radius", "1", "--store", "store",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not on the sky"));
}

#[test]
fn lc_ingest_cubes_refuses_a_corrupt_one_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_night(d);
    // A truncated copy of a cube: refused, the rest ingested.
    let cube = std::fs::read_dir(d.join("cubes"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "fits"))
        .unwrap();
    let bytes = std::fs::read(&cube).unwrap();
    std::fs::write(
        d.join("cubes/rTMQ1202301029999999911.fits"),
        &bytes[..bytes.len() / 3],
    )
    .unwrap();
    let out = tomoe()
        .args(["--config", "tomoe.toml", "lc", "ingest", "cubes"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused") && err.contains("rTMQ1202301029999999911.fits"),
        "{err}"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("night 2023-01-02: 3 inputs"), "{text}");
    assert!(text.contains("3 of 3 chips calibrated"), "{text}");
    let first = text.clone();
    // Again (without the bad file): the same night, the same numbers.
    std::fs::remove_file(d.join("cubes/rTMQ1202301029999999911.fits")).unwrap();
    let out = run_ok(
        &[
            "--config",
            "tomoe.toml",
            "lc",
            "ingest",
            "--night",
            "2023-01-02",
            "cubes",
        ],
        d,
    );
    let again = String::from_utf8(out.stdout).unwrap();
    let counts = |t: &str| {
        t.lines()
            .next()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(counts(&again), counts(&first));
    let status =
        String::from_utf8(run_ok(&["--config", "tomoe.toml", "lc", "status"], d).stdout).unwrap();
    assert!(
        status.contains("night 2023-01-02: 3 inputs") && status.contains("objects"),
        "{status}"
    );
    // Queries: a cone as CSV, the light curve of its first Gaia object, bad parameters refused.
    let cone = String::from_utf8(
        run_ok(
            &[
                "--config",
                "tomoe.toml",
                "lc",
                "query",
                "cone",
                "--ra",
                "49.77",
                "--dec",
                "56.37",
                "--radius",
                "3",
                "--gaia",
                "--format",
                "csv",
            ],
            d,
        )
        .stdout,
    )
    .unwrap();
    let id = cone
        .lines()
        .nth(1)
        .expect("a Gaia object in the cone")
        .split(',')
        .nth(1)
        .unwrap()
        .to_string();
    let curve = String::from_utf8(
        run_ok(
            &[
                "--config",
                "tomoe.toml",
                "lc",
                "query",
                "curve",
                "--object",
                &id,
                "--columns",
                "mjd,mag,mag_err",
                "--format",
                "csv",
            ],
            d,
        )
        .stdout,
    )
    .unwrap();
    assert!(curve.starts_with("mjd,mag,mag_err"), "{curve}");
    assert!(curve.lines().count() > 12, "{curve}");
    for bad in [
        vec!["cone", "--ra", "10", "--dec", "95", "--radius", "0.1"],
        vec!["cone", "--ra", "10", "--dec", "0", "--radius", "-1"],
        vec!["curve", "--object", "12345"],
    ] {
        let mut args = vec!["--config", "tomoe.toml", "lc", "query"];
        args.extend(bad.iter().copied());
        let out = tomoe().args(&args).current_dir(d).output().unwrap();
        assert!(!out.status.success(), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Dec") || err.contains("radius") || err.contains("no object 12345"),
            "{err}"
        );
    }
    // A night with nothing in it and a malformed night are clear errors.
    let out = tomoe()
        .args([
            "--config",
            "tomoe.toml",
            "lc",
            "ingest",
            "--night",
            "2023-13-40",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--night"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn lc_ingest_external_catalogues_through_the_column_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_night(d);
    // Per-frame catalogues as another pipeline would write them: `tomoe phot` on every frame at
    // the truth positions, renamed to SExtractor-like columns.
    let mut n = 0;
    for e in std::fs::read_dir(d.join("cubes")).unwrap().flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".fits") else {
            continue;
        };
        let truth = d.join(format!("cubes/{stem}.truth.csv"));
        let t = std::fs::read_to_string(&truth).unwrap();
        let pos: String = std::iter::once("x,y".to_string())
            .chain(
                t.lines()
                    .skip(1)
                    .filter(|l| l.starts_with("star,") || l.starts_with("variable,"))
                    .filter(|l| l.split(',').nth(2) == Some("0"))
                    .map(|l| {
                        let f: Vec<&str> = l.split(',').collect();
                        format!("{},{}", f[3], f[4])
                    }),
            )
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(d.join(format!("cubes/{stem}.pos.csv")), pos).unwrap();
        let cat = format!("cubes/{stem}.cat.csv");
        run_ok(
            &[
                "phot",
                &format!("cubes/{name}"),
                "--positions",
                &format!("cubes/{stem}.pos.csv"),
                "--all-frames",
                "--radius",
                "6",
                "-o",
                &cat,
            ],
            d,
        );
        let c = std::fs::read_to_string(d.join(&cat)).unwrap();
        let c = c.replacen(
            "x,y,frame,flux,flux_err",
            "X_IMAGE,Y_IMAGE,FRAME,FLUX_APER,FLUXERR_APER",
            1,
        );
        std::fs::write(d.join(&cat), c).unwrap();
        n += 1;
    }
    assert_eq!(n, 3);
    let head = std::fs::read_to_string(
        d.join("cubes")
            .read_dir()
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".cat.csv"))
            .unwrap(),
    )
    .unwrap();
    assert!(head.contains("X_IMAGE"), "{}", &head[..200.min(head.len())]);
    std::fs::write(
        d.join("tomoe.toml"),
        "[lightcurve]\nroot = \"lc\"\ngaia = \"gaia\"\n[lightcurve.columns]\nframe = \"FRAME\"\nx = \"X_IMAGE\"\ny = \"Y_IMAGE\"\nflux = \"FLUX_APER\"\nflux_err = \"FLUXERR_APER\"\nflags = \"flags\"\n",
    )
    .unwrap();
    let cats: Vec<String> = std::fs::read_dir(d.join("cubes"))
        .unwrap()
        .flatten()
        .map(|e| e.path().to_string_lossy().to_string())
        .filter(|p| p.ends_with(".cat.csv"))
        .collect();
    let mut args = vec!["--config", "tomoe.toml", "lc", "ingest", "--catalogs"];
    args.extend(cats.iter().map(String::as_str));
    let out = run_ok(&args, d);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("night 2023-01-02: 3 inputs"), "{text}");
    assert!(text.contains("3 of 3 chips calibrated"), "{text}");
    // A mapping naming a column the files lack: every input refused, naming the column.
    std::fs::write(
        d.join("tomoe.toml"),
        "[lightcurve]\nroot = \"lc2\"\ngaia = \"gaia\"\n[lightcurve.columns]\nx = \"XWIN_IMAGE\"\n",
    )
    .unwrap();
    let out = tomoe().args(&args).current_dir(d).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("XWIN_IMAGE") && err.contains(".cat.csv"),
        "{err}"
    );
}

#[test]
fn lc_run_ingests_the_archived_night_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A demo leaves an archive with cubes in its log and a matching tomoe.toml.
    small_demo(d);
    std::fs::remove_dir_all(d.join("demo/lightcurves")).unwrap();
    let redis = tomoe_testkit::RedisServer::start().unwrap();
    let mut child = tomoe()
        .args([
            "--config",
            "demo/tomoe.toml",
            "lc",
            "run",
            "--settle",
            "0.2",
            "--reconcile",
            "2",
        ])
        .env("TOMOE_ARCHIVE_REDIS_URL", redis.url())
        .env("TOMOE_LOG", "info")
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let current = d.join("demo/lightcurves/current/objects/hats.properties");
    let t0 = Instant::now();
    while !current.exists() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(current.exists(), "lc run did not ingest the archived night");
    // A notice and a malformed message on the channel do not disturb it.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_connection().unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("tomoe:files")
        .arg("{not json")
        .query(&mut c)
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "the service died");
    let status = crate::interrupt(&mut child, "lc run", Duration::from_secs(30));
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("night ingested") && err.contains("stopped"),
        "{err}"
    );
}

/// The IVOA Simple Cone Search of `tomoe serve`, used through pyvo, returns the objects the
/// platform's own query returns; its VOTable carries the standard UCDs; a bad request is an
/// error pyvo reports; the JSON/VOTable API and capabilities answer.
#[test]
fn scs_through_pyvo_matches_the_platform_and_api_formats() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    small_demo(d);
    // A position with objects around it: the first object of the platform's own cone.
    let cone = String::from_utf8(
        run_ok(
            &[
                "--config",
                "demo/tomoe.toml",
                "lc",
                "query",
                "cone",
                "--ra",
                "49.77",
                "--dec",
                "56.37",
                "--radius",
                "5",
                "--format",
                "csv",
            ],
            d,
        )
        .stdout,
    )
    .unwrap();
    let first: Vec<String> = cone
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    let (ra, dec): (f64, f64) = (first[3].parse().unwrap(), first[4].parse().unwrap());
    let sr = 0.03;
    let ours = String::from_utf8(
        run_ok(
            &[
                "--config",
                "demo/tomoe.toml",
                "lc",
                "query",
                "cone",
                "--ra",
                &ra.to_string(),
                "--dec",
                &dec.to_string(),
                "--radius",
                &sr.to_string(),
                "--format",
                "csv",
            ],
            d,
        )
        .stdout,
    )
    .unwrap();
    let mut ours: Vec<i64> = ours
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    ours.sort_unstable();
    assert!(ours.len() >= 2, "{ours:?}");
    // Serve and query through pyvo.
    let port = tomoe_testkit::free_port().unwrap();
    let mut server = tomoe()
        .args([
            "--config",
            "demo/tomoe.toml",
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check_scs.py");
    let o = std::process::Command::new("python3")
        .arg(&script)
        .args([
            base.clone(),
            ra.to_string(),
            dec.to_string(),
            sr.to_string(),
        ])
        .output()
        .unwrap();
    let get = |path: &str| -> (u16, String, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        let code = head.split(' ').nth(1).unwrap().parse().unwrap();
        let ct = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-type:"))
            .unwrap_or("")
            .to_string();
        (code, ct, body.to_string())
    };
    let json = get(&format!(
        "/api/lc/cone?ra={ra}&dec={dec}&radius={sr}&format=json"
    ));
    let vot = get(&format!(
        "/api/lc/cone?ra={ra}&dec={dec}&radius={sr}&format=votable"
    ));
    let bad = get("/api/lc/cone?ra=1&dec=95&radius=0.1");
    let caps = get("/scs/capabilities");
    let scs_err = get("/scs?RA=1&DEC=2");
    let curve = get(&format!(
        "/api/lc/objects/{}?format=csv&columns=mjd,mag,mag_err",
        ours[0]
    ));
    let unknown = get("/api/lc/objects/12345");
    // Nonsense parameters on every light-curve endpoint and page: 4xx with a message, never 500.
    let bad_requests: Vec<(&str, u16, (u16, String, String))> = [
        ("/api/lc/objects/abc", 400),
        ("/api/lc/objects/1?from=5&to=1", 400),
        ("/api/lc/objects/1?format=xls", 404),
        ("/api/lc/cone?dec=1&radius=0.1", 400),
        ("/api/lc/cone?ra=1&dec=1&radius=-1", 400),
        ("/api/lc/cone?ra=1&dec=1&radius=45", 400),
        ("/api/lc/fields/x/1", 400),
        ("/api/lc/fields/1/2", 404),
        ("/api/lc/fields/1/2?table=nope", 400),
        ("/api/lc/movers?ra=1", 400),
        ("/api/lc/movers?from=2&to=1", 400),
        ("/api/lc/movers?ra=1&dec=100&radius=1", 400),
        ("/api/lc/calibration?exp_id=x", 400),
        ("/api/lc/nearest?ra=1", 400),
        ("/api/lc/nearest?ra=1&dec=-89&radius=0.001", 404),
        ("/lc/object/notanumber", 400),
        ("/lc/object/12345", 404),
        ("/lc/field/1/2", 404),
        ("/lc/find?id=abc", 400),
        ("/lc/find?ra=1", 400),
    ]
    .into_iter()
    .map(|(p, want)| (p, want, get(p)))
    .collect();
    let pages: Vec<(u16, String, String)> = [
        "/lc",
        "/lc/movers",
        "/api/lc/calibration?format=csv",
        "/api/lc/movers?format=votable",
        "/api/lc/movers?from=1&to=2&format=csv",
    ]
    .into_iter()
    .map(get)
    .collect();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        o.status.success(),
        "check_scs.py: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let theirs: Vec<i64> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(theirs, ours, "pyvo through SCS vs tomoe lc query cone");
    assert_eq!(v["id_field"], "object_id");
    assert_eq!(v["positions_ok"], true, "{v}");
    assert_eq!(v["ra_field"], "ra");
    assert_eq!(v["dec_field"], "dec");
    assert!(v["error"].as_str().unwrap_or("").contains("SR=-1"), "{v}");
    assert_eq!(json.0, 200);
    assert!(json.1.contains("application/json"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json.2)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        ours.len()
    );
    assert!(
        vot.1.contains("votable") && vot.2.contains("pos.eq.ra;meta.main"),
        "{}",
        vot.1
    );
    assert_eq!(bad.0, 400, "{}", bad.2);
    assert!(bad.2.contains("Dec"), "{}", bad.2);
    assert!(
        caps.2.contains("ivo://ivoa.net/std/ConeSearch")
            && caps.2.contains(&format!("http://127.0.0.1:{port}/scs?")),
        "{}",
        caps.2
    );
    assert_eq!(scs_err.0, 200);
    assert!(
        scs_err.2.contains("QUERY_STATUS\" value=\"ERROR\"")
            && scs_err.2.contains("SR is required"),
        "{}",
        scs_err.2
    );
    assert_eq!(curve.0, 200);
    assert!(
        curve.2.starts_with("mjd,mag,mag_err") && curve.2.lines().count() > 12,
        "{}",
        curve.2
    );
    assert_eq!(unknown.0, 404, "{}", unknown.2);
    for (path, want, (code, _, body)) in &bad_requests {
        assert_eq!(code, want, "{path}: {body}");
        assert!(!body.is_empty(), "{path}: no message");
    }
    for (code, _, body) in &pages {
        assert_eq!(*code, 200, "{body}");
    }
    assert!(
        pages[2].2.starts_with("exp_id,det_id,frame_id,file_name"),
        "{}",
        pages[2].2
    );
    // No rows: the columns are still named.
    assert!(pages[4].2.contains("exp_id,det_id,track"), "{}", pages[4].2);
    assert_eq!(pages[4].2.lines().count(), 1, "{}", pages[4].2);
}
